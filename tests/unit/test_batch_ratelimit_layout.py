"""Layout of batch/ and ratelimit/: imports flow downward, the old paths warn, one atomic write."""

from __future__ import annotations

import ast
import importlib
import os
import sys
import warnings
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "llm_client_sync"


def internal_imports(path: Path) -> set[str]:
    """Modules of the package that ``path`` imports (absolute dotted names)."""
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    package = parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            mod = ".".join(base + ([node.module] if node.module else []))
            found.add(mod)
            if not node.module:
                found.update(f"{mod}.{a.name}" for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("llm_client_sync"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("llm_client_sync"))
    return found


def test_batch_and_ratelimit_import_nothing_above_them():
    for path in sorted((PKG / "ratelimit").glob("*.py")):
        bad = {m for m in internal_imports(path) if m.startswith(("llm_client_sync.batch", "llm_client_sync.providers",
                                                                  "llm_client_sync.agent", "llm_client_sync.cli"))}
        assert not bad, (path.name, bad)
    for path in sorted((PKG / "batch").glob("*.py")):
        bad = {m for m in internal_imports(path) if m.startswith(("llm_client_sync.agent", "llm_client_sync.cli",
                                                                  "llm_client_sync.testing"))}
        assert not bad, (path.name, bad)
    # the CLI imports the runner, never the reverse (the old batch.py -> batch_cli.py -> batch.py cycle)
    for name in ("runner", "checkpoint", "api"):
        assert not {m for m in internal_imports(PKG / "batch" / f"{name}.py") if m.endswith(".cli")}, name
    assert "llm_client_sync.batch.runner" in internal_imports(PKG / "batch" / "cli.py")


@pytest.mark.parametrize("old, name", [
    ("llm_client_sync.rate_limit", "RateLimiter"), ("llm_client_sync.rate_limit_redis", "RedisRateLimiter"),
    ("llm_client_sync.batch_api", "BatchAPIRunner"), ("llm_client_sync.batch_checkpoint", "Checkpoint"),
    ("llm_client_sync.batch_cli", "run_batch_cli"),
])
def test_old_module_paths_still_work_with_a_deprecation_warning(old, name):
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        __import__(old)
    module = sys.modules[old]
    ours = [w for w in caught if issubclass(w.category, DeprecationWarning) and old in str(w.message)]
    assert ours and ours[0].filename == __file__  # points at the user's import line
    new = importlib.import_module("llm_client_sync.ratelimit" if "rate_limit" in old else "llm_client_sync.batch")
    assert getattr(module, name) is getattr(new, name)


def test_one_atomic_write_helper_in_the_package():
    """Every write-then-rename goes through _atomic.py (there were six copies, one without fsync)."""
    users = []
    for path in PKG.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if "os.replace(" in text or "os.rename(" in text or ".rename(" in text:
            users.append(path.relative_to(PKG).as_posix())
    assert users == ["_atomic.py"]


def test_atomic_write_syncs_and_leaves_the_target_alone_on_failure(tmp_path, monkeypatch):
    from llm_client_sync._atomic import atomic_write, atomic_writer

    target = tmp_path / "f.json"
    target.write_text("old")
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    atomic_write(target, "new")
    assert target.read_text() == "new" and len(synced) == 2  # the data, then the folder
    with pytest.raises(RuntimeError):
        with atomic_writer(target, "w", encoding="utf-8") as fh:
            fh.write("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json"]  # no temp file left
    atomic_write(tmp_path / "deep" / "er" / "x.bin", b"1", make_dirs=True)
    assert (tmp_path / "deep" / "er" / "x.bin").read_bytes() == b"1"
