"""FileCache shared by several processes: atomic replace means readers never see half an entry."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from llm_client_sync.cache import FileCache, ResponseCache

WRITER = textwrap.dedent("""
    import sys, warnings
    warnings.simplefilter("error")
    from llm_client_sync.cache import FileCache, ResponseCache
    root, me = sys.argv[1], int(sys.argv[2])
    cache = ResponseCache(FileCache(root))
    big = "x" * 20000  # large enough that a torn write would be visible
    bad = 0
    for i in range(60):
        cache.put("shared" * 8, {"content": f"{me}:{i}", "pad": big}, "col")
        cache.put(f"own-{me}-{i}", {"content": f"{me}:{i}"}, "col")
        got = cache.get("shared" * 8, "col")
        if got is None or got["pad"] != big:
            bad += 1
    s = cache.stats
    print(bad, s["errors"], s["rejected"])
""")


def test_four_processes_writing_the_same_and_different_keys(tmp_path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(n)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env={"LLM_CLIENT_SYNC_NO_DOTENV": "1"})
             for n in range(4)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err for _, err in outputs]
    assert [out.split() for out, _ in outputs] == [["0", "0", "0"]] * 4
    cache = ResponseCache(FileCache(tmp_path))
    assert cache.get("shared" * 8, "col")["content"].split(":")[1] == "59"
    assert all(cache.get(f"own-{n}-{i}", "col") == {"content": f"{n}:{i}"} for n in range(4) for i in range(60))
    assert not list(tmp_path.rglob(".tmp-*"))  # no temp file left behind
