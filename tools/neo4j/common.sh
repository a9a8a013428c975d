# Shared by build.sh / start.sh / stop.sh (sourced, not executed).
NEO4J_TOOL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Pick a JDK that can run the Neo4j version pinned in pom.xml (2025.10+ needs Java 25).
# Override with KGQA_NEO4J_JAVA_HOME.
kgqa_neo4j_java_home() {
    local c
    for c in "${KGQA_NEO4J_JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/java-25-openjdk-amd64 \
             /usr/lib/jvm/temurin-25* /usr/lib/jvm/java-25* "${JAVA_HOME:-}"; do
        [ -n "$c" ] && [ -x "$c/bin/java" ] || continue
        local major
        major=$("$c/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
        if [ "${major:-0}" -ge 25 ] 2>/dev/null; then echo "$c"; return 0; fi
    done
    echo "no Java 25+ JDK found (set KGQA_NEO4J_JAVA_HOME)" >&2
    return 1
}

# Hash of everything that affects the build; build.sh skips when it is unchanged.
kgqa_neo4j_build_hash() {
    (cd "$NEO4J_TOOL_DIR" && cat pom.xml $(find src -type f | sort) | sha256sum | cut -d' ' -f1)
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
