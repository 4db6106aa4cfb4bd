#!/usr/bin/env bash
# The README program (tests/typing/readme_program.py) under mypy --strict and pyright: no error,
# and reveal_type of its results/events/agents/tools/conversations/batch results/aio shows no Any.
set -euo pipefail
VENV="${1:-.venv}"
cd "$(dirname "$0")/.."
PROGRAM=tests/typing/readme_program.py
"$VENV/bin/python" -m mypy --strict --follow-imports=silent --no-incremental "$PROGRAM"
revealed=$("$VENV/bin/python" -m mypy --strict --follow-imports=silent --no-incremental tests/typing/reveal.py 2>&1)
echo "$revealed"
if echo "$revealed" | grep "Revealed type" | grep -qw "Any"; then
  echo "typecheck: a revealed type contains Any" >&2
  exit 1
fi
echo "$revealed" | grep -q "Success: no issues" || { echo "typecheck: mypy found errors in tests/typing/reveal.py" >&2; exit 1; }
PYRIGHT_PYTHON_FORCE_VERSION=latest "$VENV/bin/pyright" --pythonpath "$VENV/bin/python" "$PROGRAM" tests/typing/reveal.py
# and the mistakes it must catch: exactly the four marked in tests/typing/misspelled.py
found=$("$VENV/bin/python" -m mypy --strict --follow-imports=silent --no-incremental tests/typing/misspelled.py 2>&1 \
  | grep -cE "misspelled.py:(5|8|9|11): error" || true)
[ "$found" -ge 4 ] || { echo "typecheck: mypy caught $found of the 4 mistakes in tests/typing/misspelled.py" >&2; exit 1; }
echo "typecheck: OK"
