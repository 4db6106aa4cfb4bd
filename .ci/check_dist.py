"""Check the built sdist and wheel: LICENSE in both, tests in the sdist, py.typed in the wheel, and
classifiers that name exactly the Python versions CI tests (passed as arguments, e.g. 3.10 3.13)."""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path


def main(dist: str, *tested: str) -> int:
    d = Path(dist)
    sdist = next(d.glob("*.tar.gz"))
    wheel = next(d.glob("*.whl"))
    names = tarfile.open(sdist).getnames()
    wnames = zipfile.ZipFile(wheel).namelist()
    problems = []
    if not any(n.endswith("/LICENSE") for n in names):
        problems.append("sdist has no LICENSE")
    if not any("/tests/unit/" in n for n in names) or not any(n.endswith("tests/conftest.py") for n in names):
        problems.append("sdist has no tests")
    if not any(n.endswith("LICENSE") for n in wnames):
        problems.append("wheel has no LICENSE")
    if "llm_client_sync/py.typed" not in wnames:
        problems.append("wheel has no py.typed")
    meta = zipfile.ZipFile(wheel).read(next(n for n in wnames if n.endswith("METADATA"))).decode()
    declared = {line.rsplit(":: ", 1)[1] for line in meta.splitlines()
                if line.startswith("Classifier: Programming Language :: Python :: 3.")}
    for v in tested:
        if v not in declared:
            problems.append(f"Python {v} is tested but not in the classifiers ({sorted(declared)})")
    for p in problems:
        print(f"dist: {p}", file=sys.stderr)
    print(f"dist: {sdist.name} ({len(names)} files), {wheel.name} ({len(wnames)} files): "
          f"{'OK' if not problems else 'FAILED'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
