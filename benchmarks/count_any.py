"""Count ``Any`` in the public signatures: every name in ``llm_client_sync.__all__``; for classes,
``__init__`` and every public method and property. Prints the total and the worst offenders.

    python benchmarks/count_any.py [--list]
"""

from __future__ import annotations

import inspect
import re
import sys

import llm_client_sync

ANY = re.compile(r"\bAny\b")


def _annotations(fn):
    ann = getattr(fn, "__annotations__", None) or {}
    return {k: v if isinstance(v, str) else getattr(v, "__name__", repr(v)) if isinstance(v, type) else repr(v)
            for k, v in ann.items()}


def count() -> tuple[int, list[tuple[str, int]]]:
    rows = []
    for name in llm_client_sync.__all__:
        obj = getattr(llm_client_sync, name)
        targets = []
        if inspect.isclass(obj):
            if issubclass(obj, BaseException) or obj.__module__.startswith("enum"):
                continue
            for attr, member in vars(obj).items():
                if attr.startswith("_") and attr != "__init__":
                    continue
                if isinstance(member, property):
                    member = member.fget
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if inspect.isfunction(member):
                    targets.append((f"{name}.{attr}", member))
        elif inspect.isfunction(obj):
            targets.append((name, obj))
        for label, fn in targets:
            n = sum(len(ANY.findall(a)) for a in _annotations(fn).values())
            if n:
                rows.append((label, n))
    return sum(n for _, n in rows), sorted(rows, key=lambda r: -r[1])


if __name__ == "__main__":
    total, rows = count()
    print(f"Any in public signatures: {total} (in {len(rows)} callables)")
    for label, n in rows if "--list" in sys.argv else rows[:15]:
        print(f"  {n:3d}  {label}")
