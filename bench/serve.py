"""Serving benchmark: ``kgqa serve`` under 32 concurrent clients asking MetaQA dev questions on loopback.

For each store (the embedded store, then Neo4j), the server runs in its own process with the trained
model (``runs/qa/metaqa`` unless ``--model``); ``--clients`` clients (one keep-alive connection each)
POST ``/ask`` back to back for ``--seconds`` after a ``--warmup-s`` warm-up, with the dev questions of
all hop counts, brackets removed (the linker finds the topic), shuffled. Counts every non-200 answer and
every client-side failure as an error; reports p50/p95/p99 latency, throughput, the mean batch the
server's micro-batching formed, Hits@1 of the served answers against MetaQA's, and the server's peak RSS.
Prints a table and writes JSON.

    python bench/serve.py [--model runs/qa/metaqa] [--clients 32] [--seconds 60] [--stores embedded,neo4j]

Neo4j: the server at $NEO4J_URI (tools/neo4j/start.sh). The bench clears it and loads the model's KB
into it first (idempotent ingest; a minute on 2 cores). The client and the server share the machine:
on 2 cores the clients take part of the CPU the server would have.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
METAQA = ROOT.parent / "shared" / "data" / "metaqa"


def neo4j_env() -> dict[str, str]:
    return {"NEO4J_URI": os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687"),
            "NEO4J_USER": os.environ.get("NEO4J_USER", "neo4j"),
            "NEO4J_PASSWORD": os.environ.get("NEO4J_PASSWORD", "kgqa-test-password")}


def dev_questions(seed: int = 0) -> list[tuple[str, set[str]]]:
    """MetaQA dev questions of every hop count, brackets removed, with their answers; shuffled."""
    out = []
    for hop in (1, 2, 3):
        for line in (METAQA / f"{hop}-hop" / "qa_dev.txt").read_text().splitlines():
            q, _, answers = line.partition("\t")
            out.append((re.sub(r"[\[\]]", "", q), set(answers.split("|"))))
    random.Random(seed).shuffle(out)
    return out


def prepare_neo4j(model: Path) -> None:
    """Neo4j holding exactly the model's KB (what the model was trained on)."""
    from kg.ingest import ingest
    from kg.store.neo4j import Neo4jStore

    kb = json.loads((model / "config.json").read_text())["train"]["kb"]
    env = neo4j_env()
    with Neo4jStore(env["NEO4J_URI"], env["NEO4J_USER"], env["NEO4J_PASSWORD"]) as store:
        store.clear()
        report = ingest(store, kb, progress=False)
        print(f"neo4j: {report.summary().splitlines()[0]}", flush=True)


def start_server(store: str, model: Path, port: int, folder: Path, extra: list[str]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-c", "from qa.cli import main; main()"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if store == "neo4j":
        env.update(neo4j_env())
        cmd += ["--store", "neo4j", "--path", str(folder / "graph")]
    cmd += ["serve", "--model", str(model), "--port", str(port), "--log-level", "warning", *extra]
    log = (folder / f"server-{store}.log").open("wb")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


async def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 900) -> float:
    import httpx

    start = time.perf_counter()
    async with httpx.AsyncClient(timeout=5) as c:
        while time.perf_counter() - start < timeout_s:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}; see its log")
            try:
                if (await c.get(url + "/health")).status_code == 200:
                    return time.perf_counter() - start
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError(f"the server was not ready after {timeout_s:g} s")


async def load(url: str, questions: list[tuple[str, set[str]]], clients: int, seconds: float,
               warmup_s: float) -> dict[str, Any]:
    """``clients`` clients asking back to back: ``warmup_s`` not counted, then ``seconds`` measured."""
    import httpx

    latencies: list[float] = []
    errors: dict[str, int] = {}
    hits: list[int] = []
    cursor = 0
    t0 = time.perf_counter()
    measure_from, stop_at = t0 + warmup_s, t0 + warmup_s + seconds

    async def client(c: httpx.AsyncClient) -> None:
        nonlocal cursor
        while True:
            now = time.perf_counter()
            if now >= stop_at:
                return
            q, gold = questions[cursor % len(questions)]
            cursor += 1
            start = time.perf_counter()
            try:
                r = await c.post("/ask", json={"question": q, "answers": 3})
                ok = r.status_code == 200
                kind = f"HTTP {r.status_code}" if not ok else ""
            except httpx.HTTPError as exc:
                ok, kind = False, type(exc).__name__
            end = time.perf_counter()
            if start < measure_from or end > stop_at:
                continue                       # warm-up, or finished after the measured window
            if not ok:
                errors[kind] = errors.get(kind, 0) + 1
                continue
            latencies.append(end - start)
            answers = r.json()["answers"]
            hits.append(int(bool(answers) and answers[0]["name"] in gold))

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as c:
        before = (await c.get("/stats")).json()["model"]
        await asyncio.gather(*[client(c) for _ in range(clients)])
        after = (await c.get("/stats")).json()["model"]
    lat = sorted(latencies)

    def pct(p: float) -> float:
        return 1000 * lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")

    batches = after["batches"] - before["batches"]
    return {"requests": len(lat) + sum(errors.values()), "ok": len(lat), "errors": sum(errors.values()),
            "error_kinds": errors, "seconds": seconds, "throughput_qps": round(len(lat) / seconds, 1),
            "p50_ms": round(pct(0.50), 1), "p95_ms": round(pct(0.95), 1), "p99_ms": round(pct(0.99), 1),
            "mean_ms": round(1000 * statistics.fmean(lat), 1) if lat else None,
            "mean_batch": round((after["questions_answered"] - before["questions_answered"]) / batches, 1)
            if batches else None,
            "hits_at_1": round(statistics.fmean(hits), 4) if hits else None}


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "runs" / "qa" / "metaqa")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--warmup-s", type=float, default=5.0)
    ap.add_argument("--stores", default="embedded,neo4j")
    ap.add_argument("--port", type=int, default=0, help="default: a free port")
    ap.add_argument("--batch-wait-ms", type=float, default=None, help="kgqa serve --batch-wait-ms (default: its own)")
    ap.add_argument("--threads", type=int, default=None, help="kgqa serve --threads (default: its own)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "serve.json")
    args = ap.parse_args()

    from qa.api.server import free_port

    questions = dev_questions()
    results: dict[str, Any] = {}
    for store in [s.strip() for s in args.stores.split(",") if s.strip()]:
        if store == "neo4j":
            prepare_neo4j(args.model)
        port = args.port or free_port()
        with tempfile.TemporaryDirectory(prefix="kgqa-bench-serve-") as tmp:
            extra = ["--batch-wait-ms", str(args.batch_wait_ms)] if args.batch_wait_ms is not None else []
            extra += ["--threads", str(args.threads)] if args.threads else []
            proc = start_server(store, args.model, port, Path(tmp), extra)
            try:
                url = f"http://127.0.0.1:{port}"
                ready = asyncio.run(wait_ready(url, proc))
                print(f"{store}: server ready in {ready:.0f} s; {args.clients} clients for {args.seconds:g} s "
                      f"(+{args.warmup_s:g} s warm-up)", flush=True)
                res = asyncio.run(load(url, questions, args.clients, args.seconds, args.warmup_s))
                res["server_start_s"] = round(ready, 1)
                res["server_peak_rss_mb"] = peak_rss_mb(proc.pid)
                results[store] = res
                print(json.dumps(res), flush=True)
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                if store not in results or results[store]["errors"]:
                    print((Path(tmp) / f"server-{store}.log").read_text()[-3000:], file=sys.stderr)

    print(f"\n{'store':<10} {'requests':>9} {'errors':>7} {'q/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'batch':>6} {'Hits@1':>7}")
    for store, r in results.items():
        hits = 100 * (r["hits_at_1"] or 0)
        print(f"{store:<10} {r['requests']:>9,} {r['errors']:>7} {r['throughput_qps']:>7.1f} {r['p50_ms']:>8.1f} "
              f"{r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['mean_batch'] or 0:>6.1f} {hits:>6.2f}%")
    out = {"clients": args.clients, "seconds": args.seconds, "batch_wait_ms": args.batch_wait_ms,
           "threads": args.threads,
           "warmup_s": args.warmup_s, "model": str(args.model),
           "questions": "MetaQA dev 1/2/3-hop, brackets removed, shuffled (seed 0)", "endpoint": "POST /ask",
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "load_avg_at_end": os.getloadavg()}, "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
