#!/usr/bin/env bash
# Stop the server started by start.sh for this home (SIGTERM -> clean shutdown via the JVM
# shutdown hook; SIGKILL only if it has not exited after NEO4J_STOP_TIMEOUT, default 60 s).
#   tools/neo4j/stop.sh [--home DIR]        Safe to call repeatedly.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
kgqa_neo4j_parse_args "$@"

if ! pid="$(kgqa_neo4j_running_pid)"; then
    rm -f "$PID_FILE"
    echo "not running ($NEO4J_HOME_DIR)"
    exit 0
fi
kill -TERM "$pid"
for _ in $(seq $(( ${NEO4J_STOP_TIMEOUT:-60} * 5 ))); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$PID_FILE"; echo "stopped (pid $pid)"; exit 0; }
    sleep 0.2
done
echo "pid $pid did not stop within ${NEO4J_STOP_TIMEOUT:-60}s; sending SIGKILL" >&2
kill -KILL "$pid" 2>/dev/null || true
rm -f "$PID_FILE"
exit 1
