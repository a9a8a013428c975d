#!/usr/bin/env bash
# Start the in-process Neo4j (Bolt only, 127.0.0.1) in the background and wait until it is ready.
#   tools/neo4j/start.sh [--home DIR] [--port N]     (defaults /tmp/kgqa-neo4j, 7687)
# Env: NEO4J_PASSWORD (kgqa-test-password), NEO4J_AUTH_ENABLED (true), NEO4J_HEAP (2g),
#      NEO4J_JAVA_OPTS (extra JVM flags), NEO4J_PAGECACHE (512m),
#      NEO4J_TX_TOTAL_MAX (1g), NEO4J_TX_MAX (512m per transaction), NEO4J_TX_TIMEOUT (600s: server-side
#      ceiling for transactions that set none), NEO4J_PROCEDURE_ALLOWLIST, NEO4J_START_TIMEOUT (120).
# Always: LOAD CSV may not read file:// URLs; only allow-listed procedures load (Neo4jServer.java).
# Safe to call repeatedly: if the server for this home is already up, it just says so.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
kgqa_neo4j_parse_args "$@"

if pid="$(kgqa_neo4j_running_pid)"; then
    if kgqa_neo4j_port_open "$NEO4J_BOLT_PORT"; then
        echo "already running (pid $pid): $(grep -m1 '^NEO4J READY' "$LOG_FILE" || echo "see $LOG_FILE")"
        exit 0
    fi
    echo "server pid $pid for $NEO4J_HOME_DIR is running but port $NEO4J_BOLT_PORT is closed;" \
         "other port, or still starting? Run stop.sh first." >&2
    exit 1
fi
if kgqa_neo4j_port_open "$NEO4J_BOLT_PORT"; then
    echo "port 127.0.0.1:$NEO4J_BOLT_PORT is already in use by another process" >&2
    exit 1
fi

"$NEO4J_TOOL_DIR/build.sh" >&2
JAVA_HOME="$(kgqa_neo4j_java_home)"
heap="${NEO4J_HEAP:-2g}"
jvm_opts=(-Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:-OmitStackTraceInFastThrow -XX:+DisableExplicitGC
    -Djdk.nio.maxCachedBufferSize=1024 -Dio.netty.tryReflectionSetAccessible=true -Dlog4j2.disable.jmx=true
    --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED
    --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --enable-native-access=ALL-UNNAMED
    --add-modules=jdk.incubator.vector $(kgqa_neo4j_new_jdk_flags "$JAVA_HOME"))
# shellcheck disable=SC2206  # word-splitting of extra options is intended
jvm_opts+=(${NEO4J_JAVA_OPTS:-})

[ -f "$LOG_FILE" ] && mv -f "$LOG_FILE" "$LOG_FILE.prev"
t0=$(date +%s.%N)
cd "$NEO4J_TOOL_DIR"
# setsid: own session, so Ctrl-C / end of the calling shell does not kill it; bash writes its own
# pid and then execs java, so the pid file holds the JVM's pid.
setsid bash -c 'echo $$ > "$0"; exec "$@"' "$PID_FILE" \
    "$JAVA_HOME/bin/java" "${jvm_opts[@]}" -cp 'target/classes:target/dependency/*' \
    kgqa.neo4j.Neo4jServer --home "$NEO4J_HOME_DIR" --port "$NEO4J_BOLT_PORT" \
    < /dev/null > "$LOG_FILE" 2>&1 &

deadline=$(( $(date +%s) + ${NEO4J_START_TIMEOUT:-120} ))
sleep 0.5
while :; do
    if ! pid="$(kgqa_neo4j_running_pid)"; then
        echo "neo4j exited during start-up; last lines of $LOG_FILE:" >&2
        tail -n 40 "$LOG_FILE" >&2
        rm -f "$PID_FILE"
        exit 1
    fi
    if grep -q '^NEO4J READY' "$LOG_FILE" && kgqa_neo4j_port_open "$NEO4J_BOLT_PORT"; then
        break
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "neo4j not ready after ${NEO4J_START_TIMEOUT:-120}s; stopping it. Last lines of $LOG_FILE:" >&2
        tail -n 40 "$LOG_FILE" >&2
        "$NEO4J_TOOL_DIR/stop.sh" --home "$NEO4J_HOME_DIR" >&2 || true
        exit 1
    fi
    sleep 0.2
done
printf '%s (pid %s, started in %.1fs, home %s)\n' "$(grep -m1 '^NEO4J READY' "$LOG_FILE")" "$pid" \
    "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')" "$NEO4J_HOME_DIR"
