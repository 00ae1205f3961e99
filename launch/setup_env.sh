#!/usr/bin/env bash
# Creates .venv (Python 3.11) and installs recovery-jax with the PyTorch reference.
# Idempotent: a second call only re-checks the install.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
# torch first and pinned: any other spelling resolves to a multi-GB CUDA build.
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e '.[test]'
# The launchers run under tcmalloc where the machine has it (recovery_jax/allocator.py: ~15 % faster training on
# CPU). Best effort, root with apt only; RECOVERY_JAX_MALLOC=system skips it (the results are the same).
if [ "${RECOVERY_JAX_MALLOC:-}" != system ] && [ -z "$(ldconfig -p 2>/dev/null | grep libtcmalloc)" ] \
    && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  { apt-get install -y -qq libtcmalloc-minimal4 >/dev/null 2>&1 \
    || { timeout 300 apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq libtcmalloc-minimal4 >/dev/null 2>&1; }; } \
    || echo "setup_env: libtcmalloc-minimal4 not installed; the launchers use glibc's malloc (slower, same results)"
fi
