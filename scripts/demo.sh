#!/usr/bin/env bash
# The main job end to end on the embedded store (no Neo4j, no GPU): set up, then `kgqa demo`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh dev,ml,api
export KGQA_STORE_PATH="${KGQA_STORE_PATH:-.kgqa/demo}"
exec .venv/bin/kgqa --store embedded demo "$@"
