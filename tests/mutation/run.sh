#!/usr/bin/env bash
# Mutation testing of one module (local only, never in CI; see README.md):
#   tests/mutation/run.sh MODULE OUT.jsonl [--sample N] [--only RESULTS.jsonl] [--stages JSON]
# MODULE is a key of plan.json. Mutates a scratch copy of the committed tree (git archive HEAD).
set -euo pipefail
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
module=$1; out=$(realpath -m "$2"); shift 2
shared=${LLM_CLIENT_SYNC_SHARED:-$repo/../shared}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git -C "$repo" archive HEAD | tar -x -C "$scratch"
export LLM_CLIENT_SYNC_SHARED=$(realpath "$shared") TIKTOKEN_CACHE_DIR=${TIKTOKEN_CACHE_DIR:-$(realpath "$shared")/tiktoken}
export LLM_CLIENT_SYNC_TIKTOKEN_FETCH_TIMEOUT=0
"${PYTHON:-$repo/.venv/bin/python}" "$repo/tests/mutation/forkdrive.py" "$scratch" "$module" "$out" "$@"
