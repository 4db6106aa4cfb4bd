"""The arrows of ../shared/ARCHITECTURE.md, checked over the package's import graph (ast, no imports run).

Layers, lowest first; a module may import its own layer or lower ones, never a higher one. The
test server (``testing``) is not a library layer: nothing imports it but the CLI's demo/--local.
Module-level imports must also form no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import llm_client_sync

PKG = Path(llm_client_sync.__file__).resolve().parent

# first dotted component below llm_client_sync -> layer
LAYERS = {
    "_version": 0, "errors": 0, "_warn": 0, "_redact": 0, "_extras": 1, "_checks": 1, "_atomic": 1, "_sse": 1, "_env": 1,
    "types": 1, "models": 1,
    "transport": 2, "tokens": 2,
    "observe": 3, "cache": 3, "ratelimit": 3, "rate_limit": 3, "rate_limit_redis": 3,
    "providers": 4, "tools": 4, "conversation": 4,
    "streaming": 5, "agent": 5,
    "batch": 6, "batch_api": 6, "batch_checkpoint": 6, "batch_cli": 7,
    "client": 7, "aio": 7,
    "cli": 8, "__main__": 9, "__init__": 9,
    "testing": 10,
}


def _modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(name: str, path: Path, *, module_level_only: bool = False):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    nodes = tree.body if module_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.If) and module_level_only:
            continue  # `if TYPE_CHECKING:` blocks are not run
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1] if node.level > 1 else package
            if node.module:
                yield ".".join([*base, node.module]).lstrip("."), node.lineno
            else:  # `from . import x`: the submodule x
                for alias in node.names:
                    yield ".".join([*base, alias.name]).lstrip("."), node.lineno
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("llm_client_sync"):
            yield node.module.removeprefix("llm_client_sync").lstrip("."), node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("llm_client_sync."):
                    yield alias.name.removeprefix("llm_client_sync."), node.lineno


def _top(dotted: str) -> str:
    return dotted.split(".")[0] if dotted else "__init__"


def test_every_module_has_a_layer():
    missing = sorted({_top(name) for name, _ in _modules()} - set(LAYERS))
    assert missing == [], f"add these to LAYERS in this test: {missing}"


def test_no_module_imports_a_higher_layer():
    bad = []
    for name, path in _modules():
        src = _top(name)
        for target, line in _imports(name, path):
            dst = _top(target)
            if dst == src or dst not in LAYERS or src not in LAYERS:
                continue
            if LAYERS[dst] > LAYERS[src] and not (src == "cli" and dst == "testing"):
                bad.append(f"{path.relative_to(PKG)}:{line} imports {target} (layer {LAYERS[dst]} > {LAYERS[src]})")
    assert bad == [], "\n".join(bad)


def test_nothing_but_the_cli_imports_the_test_server():
    users = sorted({str(path.relative_to(PKG)) for name, path in _modules() if _top(name) not in ("testing", "cli")
                    for target, _ in _imports(name, path) if _top(target) == "testing"})
    assert users == []


def test_the_cli_imports_the_test_server_only_inside_functions():
    name, path = next((n, p) for n, p in _modules() if n == "cli")
    assert not [t for t, _ in _imports(name, path, module_level_only=True) if _top(t) == "testing"]


def test_module_level_imports_have_no_cycle():
    graph: dict[str, set[str]] = {}
    names = {name for name, _ in _modules()}
    for name, path in _modules():
        deps = set()
        for target, _ in _imports(name, path, module_level_only=True):
            while target and target not in names:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                deps.add(target)
        graph[name] = deps
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in graph.get(node, ()):
            if state.get(dep) == 1:
                cycles.append(" -> ".join(stack[stack.index(dep):] + [dep]) if dep in stack else f"{node} -> {dep}")
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == [], "\n".join(cycles)
