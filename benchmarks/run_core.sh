#!/usr/bin/env bash
# Core benchmark in its own venv: the official openai SDK is installed only there, never in the
# project's environment. Usage: benchmarks/run_core.sh [--quick]   (env BENCH_VENV to relocate)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BENCH_VENV:-/tmp/bench-venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check openai -e "$ROOT"
export TIKTOKEN_CACHE_DIR="${TIKTOKEN_CACHE_DIR:-$ROOT/../shared/tiktoken}"
cd "$ROOT"
exec "$VENV/bin/python" benchmarks/bench_core.py "$@"
