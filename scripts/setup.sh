#!/usr/bin/env bash
# Create .venv (if missing) and install kgqa with its test tools. Idempotent; quiet unless it fails.
#   scripts/setup.sh [EXTRAS]      (default extras: dev)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
extras="${1:-dev}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
stamp=".venv/.kgqa-installed-$(cat pyproject.toml | sha256sum | cut -c1-16)-$extras"
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -e ".[$extras]"
    rm -f .venv/.kgqa-installed-*
    touch "$stamp"
fi
