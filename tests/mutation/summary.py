"""The mutation table from results/: python tests/mutation/summary.py [--survivors]

results/<module>.before.jsonl is the sampled run (every stage of plan.json that existed then);
results/<module>.after.jsonl, when present, re-ran that run's survivors and hangs with the new tests.
before = killed by the old* stages; after = killed by any stage of either run. Hangs (rc 9) are
shown apart and not counted as killed."""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def _rows(path):
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def main():
    with open(os.path.join(HERE, "plan.json")) as fh:
        plan = {k: v for k, v in json.load(fh).items() if k != "_"}
    print("| module | sampled | killed before | killed after | hangs | survivors |")
    print("|---|---|---|---|---|---|")
    for module, entry in plan.items():
        before = _rows(os.path.join(HERE, "results", f"{module}.before.jsonl"))
        if not before:
            continue
        after = {(r["line_number"], r["index"]): r for r in _rows(os.path.join(HERE, "results", f"{module}.after.jsonl"))}
        n = len(before)
        old = sum(r["rc"] not in (0, 9) and r["stage"].startswith("old") for r in before)
        final = [after.get((r["line_number"], r["index"]), r) if r["rc"] in (0, 9) else r for r in before]
        killed = sum(r["rc"] not in (0, 9) for r in final)
        hangs = sum(r["rc"] == 9 for r in final)
        left = [r for r in final if r["rc"] == 0]
        print(f"| `{entry['file']}` | {n} | {old} ({100 * old / n:.1f} %) | {killed} ({100 * killed / n:.1f} %) "
              f"| {hangs} | {len(left)} |")
        if "--survivors" in sys.argv:
            for r in sorted(left, key=lambda r: (r["line_number"], r["index"])):
                print(f"|   L{r['line_number'] + 1} #{r['index']} | `{r['line'].strip()[:90]}` | | | | |")


if __name__ == "__main__":
    main()
