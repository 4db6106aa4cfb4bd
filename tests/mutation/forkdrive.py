"""Mutation testing driver (local only, never in CI): mutmut 2's own mutants, run by a fork server.

mutmut 2.5's result cache kept crashing here ("Attribute Mutant.line is required"), so this drives
mutmut's mutation generator (``list_mutations``/``mutate``) directly. The parent imports pytest and
the third-party libraries once; each mutant's stages run in a forked child that imports
llm_client_sync afresh from the mutated file (bytecode off, stale ``.pyc`` removed).

A mutant's ``rc`` is the 1-based index of the first stage whose tests fail (killed), 0 if every
stage passes (survived), 9 if a stage ran past 60 s (a hang). Results are JSON lines; a run resumes
from its output file.

Run it through ``run.sh`` (it makes the scratch copy this mutates in place):
    forkdrive.py ROOT MODULE OUT [--sample N] [--only RESULTS.jsonl] [--stages JSON]

``--only`` re-runs an earlier run's survivors and hangs; an after-run may list the ``new`` stage
first (``--stages``) so that a mutant which makes an old test wait is killed by a new one first.
"""

import glob
import json
import os
import random
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _mutmut():
    extra = os.environ.get("MUTMUT_SITE")  # site-packages of a venv with "mutmut<3"
    if extra:
        sys.path.append(extra)
    try:
        from mutmut import Context, list_mutations, mutate
    except ImportError:
        raise SystemExit('mutmut 2 is needed: python -m venv /tmp/mutvenv && /tmp/mutvenv/bin/pip install "mutmut<3", '
                         "then MUTMUT_SITE=$(echo /tmp/mutvenv/lib/python3*/site-packages)") from None
    return Context, list_mutations, mutate


def main():  # guarded: a test that spawns processes re-imports __main__
    root, module, out = sys.argv[1], sys.argv[2], os.path.abspath(sys.argv[3])
    opts = dict(zip(sys.argv[4::2], sys.argv[5::2]))
    if "--only" in opts:
        opts["--only"] = os.path.abspath(opts["--only"])
    with open(os.path.join(HERE, "plan.json")) as fh:
        entry = json.load(fh)[module]
    fn = entry["file"]
    stages = json.loads(opts["--stages"]) if "--stages" in opts else entry["stages"]
    sample = int(opts.get("--sample", entry["sample"]))
    os.chdir(root)
    sys.path.insert(0, root)
    sys.dont_write_bytecode = True
    os.environ.update(PYTHONPATH=root, PYTHONDONTWRITEBYTECODE="1")
    import pytest  # noqa: the warm imports every child shares
    import requests, urllib3, tiktoken, dotenv, http.server, socketserver  # noqa: F401
    try:
        import redis  # noqa: F401
    except ImportError:
        pass
    Context, list_mutations, mutate = _mutmut()
    for pyc in glob.glob(os.path.join(root, "**", "*.pyc"), recursive=True):
        os.unlink(pyc)

    with open(fn) as fh:
        src = fh.read()
    mids = list_mutations(Context(source=src, filename=fn))
    print(f"{fn}: {len(mids)} mutants", flush=True)
    random.Random(16).shuffle(mids)
    if "--only" not in opts:  # (a later edit of the module changes the count, so not with --only)
        mids = mids[:sample]
    else:  # re-run the survivors (and the hangs) of an earlier run
        with open(opts["--only"]) as fh:
            keep = {(d["line_number"], d["index"]) for d in map(json.loads, fh) if d["rc"] in (0, 9)}
        mids = [m for m in mids if (m.line_number, m.index) in keep]
    done = set()
    if os.path.exists(out):
        with open(out) as fh:
            done = {(d["line_number"], d["index"]) for d in map(json.loads, fh)}
    print(f"{len(mids)} to run, {len(done)} done", flush=True)

    def run_stage(args, timeout):
        pid = os.fork()
        if pid == 0:
            try:
                os.setpgid(0, 0)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                os._exit(int(pytest.main(["-x", "-q", "-p", "no:cacheprovider", *args])))
            except BaseException:
                os._exit(3)
        deadline = time.monotonic() + timeout
        while True:  # bounded by the deadline
            p, status = os.waitpid(pid, os.WNOHANG)
            if p:
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() > deadline:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                os.waitpid(pid, 0)
                return "timeout"
            time.sleep(0.01)

    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))  # so `finally` restores the source
    for name, args in stages:  # the unmutated code must pass every stage
        rc = run_stage(args, 300)
        if rc != 0:
            raise SystemExit(f"stage {name} fails on the unmutated code (rc {rc})")
    try:
        for m in mids:
            if (m.line_number, m.index) in done:
                continue
            new, n = mutate(Context(source=src, mutation_id=m, filename=fn))
            if n == 0 or new == src:
                continue
            with open(fn, "w") as fh:
                fh.write(new)
            t = time.monotonic()
            rc, stage = 0, ""
            for k, (name, args) in enumerate(stages, 1):
                r = run_stage(args, 60)
                if r != 0:
                    rc, stage = (9 if r == "timeout" else k), name
                    break
            with open(out, "a") as fh:
                fh.write(json.dumps({"line_number": m.line_number, "index": m.index, "line": m.line, "rc": rc,
                                     "stage": stage, "secs": round(time.monotonic() - t, 2)}) + "\n")
    finally:
        with open(fn, "w") as fh:
            fh.write(src)


if __name__ == "__main__":
    main()
