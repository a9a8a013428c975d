# Shared by build.sh / start.sh / stop.sh (sourced, not executed).
NEO4J_TOOL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Pick a JDK for Neo4j: Java 25+ runs the current release pinned in pom.xml; Java 17-24 runs the 5.26 LTS
# line (pom.xml's lts profile, which Maven activates from the JDK that builds). Java 25 is preferred when
# both are there. Override with KGQA_NEO4J_JAVA_HOME (e.g. a Java 21 home to test against 5.26).
kgqa_neo4j_java_major() {
    "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'
}
kgqa_neo4j_java_home() {
    local c major path_java lts=""
    path_java="$(command -v java 2>/dev/null || true)"
    [ -n "$path_java" ] && path_java="$(dirname "$(dirname "$(readlink -f "$path_java")")")"
    if [ -n "${KGQA_NEO4J_JAVA_HOME:-}" ]; then
        major="$(kgqa_neo4j_java_major "$KGQA_NEO4J_JAVA_HOME" 2>/dev/null || true)"
        if [ "${major:-0}" -ge 17 ] 2>/dev/null; then echo "$KGQA_NEO4J_JAVA_HOME"; return 0; fi
        echo "KGQA_NEO4J_JAVA_HOME=$KGQA_NEO4J_JAVA_HOME is not a Java 17+ home" >&2
        return 1
    fi
    for c in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/java-25-openjdk-amd64 /usr/lib/jvm/temurin-2[5-9]* \
             /usr/lib/jvm/java-2[5-9]* "${JAVA_HOME:-}" "$path_java" /usr/lib/jvm/*21* /usr/lib/jvm/*17*; do
        [ -n "$c" ] && [ -x "$c/bin/java" ] || continue
        major="$(kgqa_neo4j_java_major "$c")"
        if [ "${major:-0}" -ge 25 ] 2>/dev/null; then echo "$c"; return 0; fi
        if [ -z "$lts" ] && [ "${major:-0}" -ge 17 ] 2>/dev/null; then lts="$c"; fi
    done
    if [ -n "$lts" ]; then echo "$lts"; return 0; fi
    echo "no Java 17+ JDK found: install Java 17, 21 (Neo4j 5.26 LTS) or 25 (current Neo4j), or set KGQA_NEO4J_JAVA_HOME" >&2
    return 1
}

# JVM flags that only newer JDKs know (Java 17 refuses unknown options).
kgqa_neo4j_new_jdk_flags() {
    if [ "$(kgqa_neo4j_java_major "$1")" -ge 23 ] 2>/dev/null; then echo "--sun-misc-unsafe-memory-access=allow"; fi
}

# Hash of everything that affects the build; build.sh skips when it is unchanged.
kgqa_neo4j_build_hash() {
    # The JDK's major version picks the Neo4j line (pom.xml's lts profile), so it is part of the build.
    (cd "$NEO4J_TOOL_DIR" && { cat pom.xml $(find src -type f | sort); kgqa_neo4j_java_major "$1"; } \
        | sha256sum | cut -d' ' -f1)
}

# Home dir (data, Neo4j's own logs/, pid + console log) and Bolt port; start.sh/stop.sh flags override.
NEO4J_HOME_DIR="${NEO4J_HOME_DIR:-/tmp/kgqa-neo4j}"
NEO4J_BOLT_PORT="${NEO4J_BOLT_PORT:-7687}"
kgqa_neo4j_parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --home) NEO4J_HOME_DIR="$2"; shift 2 ;;
            --port) NEO4J_BOLT_PORT="$2"; shift 2 ;;
            *) echo "usage: $0 [--home DIR] [--port N]" >&2; exit 2 ;;
        esac
    done
    NEO4J_HOME_DIR="$(mkdir -p "$NEO4J_HOME_DIR" && cd "$NEO4J_HOME_DIR" && pwd)"
    PID_FILE="$NEO4J_HOME_DIR/kgqa-neo4j.pid"
    LOG_FILE="$NEO4J_HOME_DIR/kgqa-neo4j.log"
}

# Prints the pid from PID_FILE if that process is alive and really is our server.
kgqa_neo4j_running_pid() {
    local pid
    pid="$(cat "$PID_FILE" 2>/dev/null)" || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q 'kgqa.neo4j.Neo4jServer' || return 1
    echo "$pid"
}

kgqa_neo4j_port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
