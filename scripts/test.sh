#!/usr/bin/env bash
# The whole test suite: set up, start the tests' own Neo4j (tools/neo4j) when Java 17+ is here, run pytest.
#   scripts/test.sh [PYTEST ARGS...]
# The tests' Neo4j has its own home and port (NEO4J_TEST_HOME, default $TMPDIR/kgqa-neo4j-test;
# NEO4J_TEST_PORT, default 7688) and the tests connect only to it: a server someone else started,
# on that port or on Neo4j's usual 7687, is never reused (and the tests refuse to clear a database
# they did not create, see tests/conftest.py). Without Java 17+ the Neo4j tests skip with one line
# saying how to enable them; with CI=true they must run, so a Neo4j that cannot start fails the run.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh dev,ml,api || exit 1

NEO4J_TEST_PORT="${NEO4J_TEST_PORT:-7688}"
NEO4J_TEST_HOME="${NEO4J_TEST_HOME:-${TMPDIR:-/tmp}/kgqa-neo4j-test}"
export NEO4J_URI="bolt://127.0.0.1:${NEO4J_TEST_PORT}"
started=""
source tools/neo4j/common.sh
if kgqa_neo4j_java_home >/dev/null 2>&1 && command -v mvn >/dev/null; then
    # start.sh reuses only the server of this home (checked by pid and command line) and refuses a
    # port that another process holds.
    if ! out="$(tools/neo4j/start.sh --home "$NEO4J_TEST_HOME" --port "$NEO4J_TEST_PORT")"; then
        echo "the tests' Neo4j failed to start (see above); free port $NEO4J_TEST_PORT or set NEO4J_TEST_PORT" >&2
        exit 1
    fi
    echo "$out"
    case "$out" in already\ running*) ;; *) started=1 ;; esac
elif [ "${CI:-}" = "true" ]; then
    echo "CI needs Java (17+, or 25 for the current Neo4j) and Maven to run the Neo4j tests; none found" >&2
    exit 1
fi

export NEO4J_PASSWORD="${NEO4J_PASSWORD:-kgqa-test-password}"
.venv/bin/python -m pytest "$@"
rc=$?
[ -n "$started" ] && tools/neo4j/stop.sh --home "$NEO4J_TEST_HOME" >/dev/null
exit $rc
