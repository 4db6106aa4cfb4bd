"""The package surface: sorted, importable __all__; a light import; .env loading rules."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import llm_client_sync


def test_all_is_sorted_and_importable():
    assert llm_client_sync.__all__ == sorted(llm_client_sync.__all__)
    for name in llm_client_sync.__all__:
        assert getattr(llm_client_sync, name) is not None, name


def _run(code: str, cwd, env=None) -> str:
    import os

    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_CLIENT_SYNC_"))}
    full_env.update(env or {})
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=full_env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_loads_no_optional_or_heavy_dependency(tmp_path):
    out = _run("""
        import sys, llm_client_sync
        heavy = ['psycopg', 'redis', 'qdrant_client', 'pusher', 'websocket', 'websockets', 'tqdm', 'flask',
                 'django', 'tiktoken', 'numpy', 'openai', 'dask', 'httpx', 'pydantic']
        print(','.join(m for m in heavy if m in sys.modules))
    """, tmp_path)
    assert out == ""


def test_dotenv_loaded_without_overriding_set_variables(tmp_path):
    (tmp_path / ".env").write_text("OPENAI_BASE_URL=http://127.0.0.1:1/v1\nOPENAI_API_KEY=from-dotenv\n")
    code = "import os, llm_client_sync; print(os.environ.get('OPENAI_API_KEY'), os.environ.get('OPENAI_BASE_URL'))"
    assert _run(code, tmp_path) == "from-dotenv http://127.0.0.1:1/v1"
    assert _run(code, tmp_path, {"OPENAI_API_KEY": "already-set"}) == "already-set http://127.0.0.1:1/v1"
    assert _run(code, tmp_path, {"LLM_CLIENT_SYNC_NO_DOTENV": "1"}) == "None None"


def test_type_checkers_see_every_lazy_name_as_if_imported_eagerly():
    import ast
    from pathlib import Path

    tree = ast.parse(Path(llm_client_sync.__file__).read_text())
    guarded = {}
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom)
                for alias in imp.names:
                    assert alias.asname == alias.name, "re-export with `X as X` so type checkers export it"
                    guarded[alias.name] = "." * imp.level + (imp.module or "")
    assert guarded == llm_client_sync._LAZY
