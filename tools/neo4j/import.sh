#!/usr/bin/env bash
# Bulk-load triple/RDF files into an EMPTY Neo4j database with Neo4j's own importer
# (neo4j-admin database import full), then serve it again; later loads go through the Bolt writer
# (kgqa --store neo4j ingest FILE). Both end with the same graph (kg/store/neo4j_bulk.py).
#   tools/neo4j/import.sh [--home DIR] [--port N] [--overwrite] [--csv-dir DIR] [--report FILE]
#                         [--format F] [--strict] [--delimiter D] [--encoding E] [--column ROLE=NAME] FILE...
# Steps: refuse a database that holds data (unless --overwrite: the import replaces it); write the
# importer's CSV with kgqa's readers; stop the server of --home; import; start it (on --port, or the
# port it had); set what CSV cannot carry, create kgqa's schema and wait for its indexes.
# Env: NEO4J_PASSWORD / NEO4J_USER / NEO4J_AUTH_ENABLED as for start.sh; KGQA_PYTHON (the Python with
#      kgqa installed; default .venv/bin/python, else python3); NEO4J_IMPORT_HEAP (1g) and
#      NEO4J_IMPORT_OFF_HEAP (1g): the importer's memory; NEO4J_HEAP etc. for the restarted server.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ROOT="$(cd "$NEO4J_TOOL_DIR/../.." && pwd)"

usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
home="$NEO4J_HOME_DIR"; port=""; overwrite=""; csv_dir=""; report=""; csv_opts=(); files=()
while [ $# -gt 0 ]; do
    case "$1" in
        --home) home="$2"; shift 2 ;;
        --port) port="$2"; shift 2 ;;
        --overwrite) overwrite=1; shift ;;
        --csv-dir) csv_dir="$2"; shift 2 ;;
        --report) report="$2"; shift 2 ;;
        --strict) csv_opts+=("$1"); shift ;;
        --format|--delimiter|--encoding|--column) csv_opts+=("$1" "$2"); shift 2 ;;
        -h|--help) usage ;;
        -*) echo "unknown option $1" >&2; usage ;;
        *) if [ -d "$(dirname "$1")" ]; then files+=("$(cd "$(dirname "$1")" && pwd)/$(basename "$1")")
           else files+=("$1"); fi; shift ;;
    esac
done
[ ${#files[@]} -gt 0 ] || { echo "no files to import" >&2; usage; }
kgqa_neo4j_parse_args --home "$home" --port "${port:-$NEO4J_BOLT_PORT}"
db_dir="$NEO4J_HOME_DIR/data/databases/neo4j"

PY="${KGQA_PYTHON:-}"
if [ -z "$PY" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"; else PY=python3; fi
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export NEO4J_USER="${NEO4J_USER:-neo4j}"
if [ "${NEO4J_AUTH_ENABLED:-true}" = "false" ]; then unset NEO4J_PASSWORD
else export NEO4J_PASSWORD="${NEO4J_PASSWORD:-kgqa-test-password}"; fi
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
t_start=$(now)

# 1. Refuse a database that holds data. The server must be up to tell: start it if only its files are there.
running_port() { sed -n 's|^NEO4J READY bolt://127.0.0.1:\([0-9]*\).*|\1|p' "$LOG_FILE" 2>/dev/null | head -n1; }
if pid="$(kgqa_neo4j_running_pid)"; then
    [ -n "$port" ] || port="$(running_port)"
    [ -n "$port" ] || { echo "the server of $NEO4J_HOME_DIR (pid $pid) runs on an unknown port; pass --port" >&2; exit 1; }
    check_port="$(running_port)"
elif [ -d "$db_dir" ] && [ -z "$overwrite" ]; then
    echo "starting the server of $NEO4J_HOME_DIR to see whether its database is empty" >&2
    "$NEO4J_TOOL_DIR/start.sh" --home "$NEO4J_HOME_DIR" --port "$NEO4J_BOLT_PORT" >&2 || {
        echo "cannot start the server of $NEO4J_HOME_DIR to check its database (see above); if an earlier" \
             "import failed, replace the database with --overwrite" >&2; exit 1; }
    check_port="$NEO4J_BOLT_PORT"
    started_for_check=1
else
    check_port=""
fi
port="${port:-$NEO4J_BOLT_PORT}"
if [ -n "$check_port" ] && [ -z "$overwrite" ]; then
    rc=0
    out="$("$PY" -m kg.store.neo4j_bulk check --uri "bolt://127.0.0.1:$check_port" 2>&1)" || rc=$?
    if [ $rc -ne 0 ] && [ -n "${started_for_check:-}" ]; then
        "$NEO4J_TOOL_DIR/stop.sh" --home "$NEO4J_HOME_DIR" >/dev/null  # as it was
    fi
    if [ $rc -eq 3 ]; then
        echo "refused: $out in $NEO4J_HOME_DIR. A bulk import replaces the whole database: pass --overwrite to" \
             "replace it, or add these files to it with the Bolt writer:" \
             "kgqa --store neo4j --uri bolt://127.0.0.1:$check_port ingest FILE..." >&2
        exit 3
    elif [ $rc -ne 0 ]; then
        echo "$out" >&2; exit 1
    fi
fi

# 2. CSV from kgqa's readers (the server still serves meanwhile).
keep_csv=1
if [ -z "$csv_dir" ]; then
    # neo4j-admin reads --nodes/--relationships as comma-separated regular expressions: a plain folder.
    case "$NEO4J_HOME_DIR" in *[!A-Za-z0-9/._-]*) parent="${TMPDIR:-/tmp}" ;; *) parent="$NEO4J_HOME_DIR" ;; esac
    csv_dir="$(mktemp -d "$parent/kgqa-import-csv.XXXXXX")"; keep_csv=""
fi
cleanup() { [ -n "$keep_csv" ] || rm -rf "$csv_dir"; }
trap cleanup EXIT
t0=$(now)
summary="$("$PY" -m kg.store.neo4j_bulk csv --out "$csv_dir" "${csv_opts[@]}" "${files[@]}")" || {
    rc=$?; [ $rc -eq 1 ] && [ -f "$csv_dir/import.args" ] || { echo "nothing was imported" >&2; exit $rc; }
    echo "(malformed records were skipped, see above)" >&2; }
t_csv=$(secs "$t0" "$(now)")
echo "csv: $summary (${t_csv}s)"

# 3. Stop the server, import, start it again.
t0=$(now)
"$NEO4J_TOOL_DIR/stop.sh" --home "$NEO4J_HOME_DIR" >/dev/null
t_stop=$(secs "$t0" "$(now)")
"$NEO4J_TOOL_DIR/build.sh" >&2
JAVA_HOME="$(kgqa_neo4j_java_home)"
mapfile -t import_args < "$csv_dir/import.args"
[ -d "$db_dir" ] && import_args+=(--overwrite-destination=true)  # checked empty above, or --overwrite
import_log="$NEO4J_HOME_DIR/kgqa-import.log"
t0=$(now)
if ! (cd "$NEO4J_TOOL_DIR" && NEO4J_HOME="$NEO4J_HOME_DIR" \
        "$JAVA_HOME/bin/java" -Xmx"${NEO4J_IMPORT_HEAP:-1g}" -XX:+UseG1GC \
        --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED \
        --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --enable-native-access=ALL-UNNAMED \
        --add-modules=jdk.incubator.vector $(kgqa_neo4j_new_jdk_flags "$JAVA_HOME") \
        -cp 'target/classes:target/dependency/*' org.neo4j.cli.AdminTool database import full neo4j \
        --max-off-heap-memory="${NEO4J_IMPORT_OFF_HEAP:-1g}" "${import_args[@]}") > "$import_log" 2>&1; then
    grep -v '^[-.][. ]' "$import_log" | tail -n 30 >&2
    echo "the import failed (log: $import_log); the database in $db_dir is incomplete and the server is" \
         "stopped: fix the input, then re-run with --overwrite" >&2
    exit 1
fi
t_import=$(secs "$t0" "$(now)")
grep -E '^IMPORT DONE|^  [0-9]+ (nodes|relationships|properties)$' "$import_log" | tr -s ' ' | paste -sd' ' |
    sed 's/^/neo4j-admin: /'
t0=$(now)
"$NEO4J_TOOL_DIR/start.sh" --home "$NEO4J_HOME_DIR" --port "$port"
t_start_server=$(secs "$t0" "$(now)")

# 4. What CSV cannot carry, kgqa's schema, and the indexes online.
t0=$(now)
finish="$("$PY" -m kg.store.neo4j_bulk finish --uri "bolt://127.0.0.1:$port" --csv "$csv_dir")"
t_finish=$(secs "$t0" "$(now)")
echo "finish: $finish (${t_finish}s)"
total=$(secs "$t_start" "$(now)")
echo "bulk import done in ${total}s (csv ${t_csv}s, stop ${t_stop}s, neo4j-admin ${t_import}s," \
     "start ${t_start_server}s, finish ${t_finish}s); later loads: kgqa --store neo4j --uri bolt://127.0.0.1:$port ingest FILE"
if [ -n "$report" ]; then
    printf '{"csv": %s, "finish": %s, "seconds": {"csv": %s, "stop": %s, "import": %s, "start": %s, "finish": %s, "total": %s}}\n' \
        "$summary" "$finish" "$t_csv" "$t_stop" "$t_import" "$t_start_server" "$t_finish" "$total" > "$report"
fi
