# An OpenAI-compatible server written by others, for tests/integration/test_external_server.py:
# LLMock (PyPI `llmock`, MIT, github.com/JulienRabault/LLMock), a FastAPI/uvicorn mock of the
# OpenAI chat and Responses APIs (and 9 other providers) with scripted replies, tool calls and
# fault injection (HTTP errors with Retry-After, dropped/truncated/corrupted streams) driven over
# HTTP at /_llmock/*.
#
# It lives in its own venv ($EXTERNAL_VENV, default .venv-external in the repo, gitignored), at the
# pinned versions of .ci/external_server.txt, reused while that file is unchanged.
#
# Source it from bash (as .ci/run does):
#   source .ci/external_server.sh; trap external_server_stop EXIT
#   external_server_install && external_server_start   # exports EXTERNAL_OPENAI_BASE_URL
# or run a command with the server up:
#   bash .ci/external_server.sh python -m pytest -q tests/integration/test_external_server.py
_EXTERNAL_CI="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
EXTERNAL_VENV="${EXTERNAL_VENV:-$(dirname "$_EXTERNAL_CI")/.venv-external}"
_EXTERNAL_PID=""

_external_now() { date +%s.%N; }
_external_secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

external_server_install() {
  local t0 stamp want
  t0=$(_external_now)
  stamp="$EXTERNAL_VENV/.installed-requirements"
  want="$_EXTERNAL_CI/external_server.txt"
  if [ -x "$EXTERNAL_VENV/bin/llmock" ] && cmp -s "$want" "$stamp"; then
    echo "external server: llmock already installed in $EXTERNAL_VENV"
    return 0
  fi
  python3 -m venv "$EXTERNAL_VENV" || return 1
  "$EXTERNAL_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$want" || return 1
  cp "$want" "$stamp"
  echo "external server: llmock installed in $(_external_secs "$t0" "$(_external_now)")s"
}

external_server_start() {
  local t0 port url i
  t0=$(_external_now)
  port=$("$EXTERNAL_VENV/bin/python" -c \
    'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()') || return 1
  url="http://127.0.0.1:$port"
  # --tool-mode auto: a request that offers tools gets a call to the best-matching one.
  "$EXTERNAL_VENV/bin/llmock" serve --host 127.0.0.1 --port "$port" --log-level warning \
    >"$EXTERNAL_VENV/llmock.log" 2>&1 &
  _EXTERNAL_PID=$!
  for i in $(seq 1 300); do  # at most 30 s
    if curl -sf -o /dev/null "$url/health"; then
      export EXTERNAL_OPENAI_BASE_URL="$url/v1"
      echo "external server: llmock ready at $EXTERNAL_OPENAI_BASE_URL in $(_external_secs "$t0" "$(_external_now)")s"
      return 0
    fi
    kill -0 "$_EXTERNAL_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "external server: llmock did not come up" >&2
  tail -20 "$EXTERNAL_VENV/llmock.log" >&2
  external_server_stop
  return 1
}

external_server_stop() {
  if [ -n "$_EXTERNAL_PID" ]; then
    kill -TERM "$_EXTERNAL_PID" 2>/dev/null || true
    wait "$_EXTERNAL_PID" 2>/dev/null || true  # 143: it ended on our SIGTERM
  fi
  _EXTERNAL_PID=""
  unset EXTERNAL_OPENAI_BASE_URL
  return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then  # executed, not sourced: run "$@" with the server up
  set -euo pipefail
  trap external_server_stop EXIT
  external_server_install
  external_server_start
  if [ "$#" -gt 0 ]; then "$@"; fi
fi
