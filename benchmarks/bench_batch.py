"""Benchmark of the batch runner against the local server (run: python benchmarks/bench_batch.py).

1. Overhead per item: the runner over a raw ThreadPoolExecutor doing the same work, with a
   zero-latency server in its own process. Measured three ways: wall time with an instant fake
   provider (pure runner cost), client CPU time per item over raw ``requests`` calls, and wall
   time per item against the server.
2. Wall time vs the ideal for 400 items at 50 ms server latency with 16 workers
   (ideal = ceil(400 / 16) * 50 ms).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from llm_client_sync.batch import BatchRunner
from llm_client_sync.types import CompletionResult, Usage


def _serve(conn, latency: float) -> None:
    from llm_client_sync.testing import MockOpenAIServer, _server

    _server._RequestHandler.disable_nagle_algorithm = True  # headers and body go out without waiting for ACKs
    with MockOpenAIServer(latency=latency) as server:
        server.record_requests = False
        conn.send(server.base_url)
        conn.recv()


class Server:
    def __init__(self, latency: float = 0.0) -> None:
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, latency), daemon=True)

    def __enter__(self) -> str:
        self.proc.start()
        return self.conn.recv()

    def __exit__(self, *exc) -> None:
        self.conn.send("stop")
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()


class InstantProvider:
    RESULT = CompletionResult(content="ok", usage=Usage(1, 1, 2), cost=0.0)

    def complete(self, prompt, **params):
        return self.RESULT


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def provider_for(base_url: str, workers: int):
    from llm_client_sync.providers.openai import OpenAIProvider

    provider = OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=base_url)
    transport = getattr(provider, "transport", None) or getattr(provider, "_transport", None)
    if transport is not None:
        transport.ensure_pool_size(workers)
    return provider


def raw_requests(base_url: str, n: int, workers: int) -> None:
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=workers))
    headers = {"Authorization": "Bearer test"}

    def one(i: int):
        body = {"model": "gpt-5-nano", "messages": [{"role": "user", "content": f"q{i}"}]}
        return session.post(f"{base_url}/chat/completions", json=body, headers=headers, timeout=30).json()

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(n)))
    session.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=3000)
    ap.add_argument("--workers", type=int, default=16)
    args = ap.parse_args(argv)
    n, w = args.items, args.workers
    rows = []

    # 1a. pure runner cost: instant provider, runner vs raw executor map
    fake = InstantProvider()
    nf = n * 10
    with ThreadPoolExecutor(w) as pool:
        raw_fake, _ = timed(lambda: list(pool.map(lambda i: fake.complete(f"q{i}"), range(nf))))
    run_fake, _ = timed(lambda: BatchRunner(fake, max_workers=w).run([f"q{i}" for i in range(nf)]))
    with tempfile.TemporaryDirectory() as tmp:
        ck = os.path.join(tmp, "ck.jsonl")
        run_fake_ck, _ = timed(lambda: BatchRunner(fake, max_workers=w, checkpoint=ck, fsync="interval").run(
            [f"q{i}" for i in range(nf)]))
    rows.append(("instant provider, raw executor.map", nf, raw_fake, None))
    rows.append(("instant provider, BatchRunner", nf, run_fake, None))
    rows.append(("instant provider, BatchRunner + checkpoint", nf, run_fake_ck, None))

    # 1b. against the server (zero latency, separate process)
    with Server(0.0) as base_url:
        raw_requests(base_url, 200, w)  # warm up connections and code paths
        raw_wall, raw_cpu = timed(lambda: raw_requests(base_url, n, w))
        provider = provider_for(base_url, w)
        with ThreadPoolExecutor(w) as pool:
            prov_wall, prov_cpu = timed(lambda: list(pool.map(lambda i: provider.complete(f"q{i}"), range(n))))
        run_wall, run_cpu = timed(lambda: BatchRunner(provider, max_workers=w).run([f"q{i}" for i in range(n)]))
        with tempfile.TemporaryDirectory() as tmp:
            ck = os.path.join(tmp, "ck.jsonl")
            ck_wall, ck_cpu = timed(lambda: BatchRunner(provider, max_workers=w, checkpoint=ck).run(
                [f"q{i}" for i in range(n)]))
        provider.close()
    rows.append(("server, raw requests in ThreadPoolExecutor", n, raw_wall, raw_cpu))
    rows.append(("server, provider.complete in ThreadPoolExecutor", n, prov_wall, prov_cpu))
    rows.append(("server, BatchRunner(provider)", n, run_wall, run_cpu))
    rows.append(("server, BatchRunner(provider) + checkpoint", n, ck_wall, ck_cpu))

    # 2. wall time vs ideal at 50 ms latency
    items = 400
    with Server(0.05) as base_url:
        provider = provider_for(base_url, w)
        BatchRunner(provider, max_workers=w).run([f"warm{i}" for i in range(w)])
        lat_wall, lat_cpu = timed(lambda: BatchRunner(provider, max_workers=w).run([f"q{i}" for i in range(items)]))
        provider.close()
    ideal = math.ceil(items / w) * 0.05
    rows.append((f"server 50 ms, BatchRunner, {w} workers", items, lat_wall, lat_cpu))

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, {w} workers\n")
    print("| case | items | wall s | wall ms/item | client CPU ms/item |")
    print("|---|---:|---:|---:|---:|")
    for name, count, wall, cpu in rows:
        cpu_txt = f"{cpu / count * 1000:.3f}" if cpu is not None else "-"
        print(f"| {name} | {count} | {wall:.2f} | {wall / count * 1000:.3f} | {cpu_txt} |")
    print()
    print(f"runner overhead, instant provider: {(run_fake - raw_fake) / nf * 1000:.4f} ms/item "
          f"(+checkpoint {(run_fake_ck - raw_fake) / nf * 1000:.4f}); target < 0.2")
    print(f"runner overhead over provider.complete, client CPU: {(run_cpu - prov_cpu) / n * 1000:.4f} ms/item; "
          f"wall {(run_wall - prov_wall) / n * 1000:.4f} ms/item")
    print(f"runner + provider over raw requests, client CPU: {(run_cpu - raw_cpu) / n * 1000:.4f} ms/item")
    print(f"400 items at 50 ms, {w} workers: {lat_wall:.3f} s vs ideal {ideal:.3f} s ({lat_wall / ideal:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
