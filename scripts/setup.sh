#!/usr/bin/env bash
# Create .venv (if missing) and install kgqa with its test tools. Idempotent; quiet unless it fails.
#   scripts/setup.sh [EXTRAS]      (default extras: dev,ml)
# torch goes in first, on its own, so that no later dependency drags in a second build of it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
extras="${1:-dev,ml}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
stamp=".venv/.kgqa-installed-$(cat pyproject.toml | sha256sum | cut -c1-16)-$extras"
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    case ",$extras," in
        *,ml,*) .venv/bin/python -m pip install -q "torch>=2.4" ;;
    esac
    .venv/bin/python -m pip install -q -e ".[$extras]"
    rm -f .venv/.kgqa-installed-*
    touch "$stamp"
fi
