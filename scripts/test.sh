#!/usr/bin/env bash
# The whole test suite: set up, start the real Neo4j (tools/neo4j) when Java 25 is here, run pytest.
#   scripts/test.sh [PYTEST ARGS...]
# Without Java 25 the Neo4j tests skip with one line saying how to enable them; with CI=true
# they must run, so a Neo4j that cannot start fails the run.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh dev,ml,api || exit 1

started=""
source tools/neo4j/common.sh
if kgqa_neo4j_java_home >/dev/null 2>&1 && command -v mvn >/dev/null; then
    if ! kgqa_neo4j_port_open "${NEO4J_BOLT_PORT}"; then
        tools/neo4j/start.sh || { echo "Neo4j failed to start (see above)" >&2; [ "${CI:-}" = "true" ] && exit 1; }
        started=1
    fi
elif [ "${CI:-}" = "true" ]; then
    echo "CI needs Java 25 and Maven to run the Neo4j tests; none found" >&2
    exit 1
fi

export NEO4J_PASSWORD="${NEO4J_PASSWORD:-kgqa-test-password}"
.venv/bin/python -m pytest "$@"
rc=$?
[ -n "$started" ] && tools/neo4j/stop.sh >/dev/null
exit $rc
