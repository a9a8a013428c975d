"""Ingestion benchmark: the full MetaQA KB into the embedded store and into Neo4j.

For each backend, ``--runs`` times: a fresh load into an empty store (file to
committed), then a re-load of the same file (must create nothing). Each load
runs in its own process, so its peak memory (max RSS) is its own. Beside them,
in the same run, a reference writer loads a prefix of the same file into the
same Neo4j with one MERGE query per triple (what a plain ingestion script does;
neo4j-graphrag's Neo4jWriter needs the APOC plugin for relationships, which the
Maven-built Neo4j here does not carry). Prints a table, writes JSON.

    python bench/ingest.py [--runs 5] [--kb ../shared/data/metaqa/kb.txt] [--skip-neo4j] [--warmup 1]

Neo4j: the server at $NEO4J_URI (tools/neo4j/start.sh); one discarded warm-up load comes first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_KB = ROOT.parent / "shared" / "data" / "metaqa" / "kb.txt"


def neo4j_args() -> tuple[str, str, str]:
    return (os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687"), os.environ.get("NEO4J_USER", "neo4j"),
            os.environ.get("NEO4J_PASSWORD", "kgqa-test-password"))


def open_store(backend: str, path: str) -> Any:
    if backend == "embedded":
        from kg.store.embedded import EmbeddedStore

        return EmbeddedStore(path)
    from kg.store.neo4j import Neo4jStore

    return Neo4jStore(*neo4j_args())


def child(args: argparse.Namespace) -> None:
    """One measured load, in its own process; prints one JSON line."""
    from kg.ingest import ingest

    store = open_store(args.backend, args.path)
    if args.mode == "fresh" and args.backend == "neo4j":
        store.clear()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    report = ingest(store, args.kb, progress=False)
    seconds = time.perf_counter() - start
    stats = store.stats()
    t_close = time.perf_counter()
    store.close()  # the embedded store checkpoints its log here
    close_s = time.perf_counter() - t_close
    print(json.dumps({
        "seconds": seconds, "close_seconds": close_s, "records": report.records,
        "nodes_created": report.written.nodes_created, "relationships_created": report.written.relationships_created,
        "entities": stats.entities, "relations": stats.relations,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mb": rss_before / 1024,
    }))


def reference_child(args: argparse.Namespace) -> None:
    """The reference writer: one MERGE per triple, 1,000 per transaction."""
    import neo4j

    uri, user, password = neo4j_args()
    driver = neo4j.GraphDatabase.driver(uri, auth=(user, password))
    wipe(driver)
    driver.execute_query("CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (n:Entity) REQUIRE n.id IS UNIQUE")
    triples = []
    with open(args.kb, encoding="utf-8") as fh:
        for line in fh:
            h, r, t = line.rstrip("\n").split("|")
            triples.append((h, r.upper(), t))
            if len(triples) == args.limit:
                break
    start = time.perf_counter()
    with driver.session() as session:
        for i in range(0, len(triples), 1000):
            def work(tx: Any, chunk: list[tuple[str, str, str]] = triples[i:i + 1000]) -> None:
                for h, r, t in chunk:
                    tx.run(f"MERGE (a:Entity {{id: $h}}) MERGE (b:Entity {{id: $t}}) MERGE (a)-[:`{r}`]->(b)",
                           h=h, t=t).consume()
            session.execute_write(work)
    seconds = time.perf_counter() - start
    wipe(driver)
    driver.close()
    print(json.dumps({"seconds": seconds, "records": len(triples),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def wipe(driver: Any) -> None:
    with driver.session() as session:
        session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()


def run_child(*extra: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *extra], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"child {extra} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kb", default=str(DEFAULT_KB))
    ap.add_argument("--skip-neo4j", action="store_true")
    ap.add_argument("--warmup", type=int, default=1, help="discarded Neo4j loads before the measured ones (0 or 1)")
    ap.add_argument("--reference-triples", type=int, default=10_000,
                    help="prefix of the KB loaded by the per-triple MERGE reference writer")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "ingest.json"))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--backend", help=argparse.SUPPRESS)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    if args.reference:
        return reference_child(args)

    backends = ["embedded"] + ([] if args.skip_neo4j else ["neo4j"])
    results: dict[str, Any] = {}
    for backend in backends:
        runs = []
        warmup: dict[str, Any] | None = None
        if backend == "neo4j" and args.warmup:
            # One discarded load first: a Neo4j server started just before runs its first
            # load at about half speed while the JIT warms up.
            with tempfile.TemporaryDirectory() as tmp:
                warmup = run_child("--child", "--backend", backend, "--mode", "fresh", "--path", tmp, "--kb", args.kb)
            print(f"  {backend}: warm-up {warmup['records'] / warmup['seconds']:,.0f} triples/s (not counted)",
                  file=sys.stderr)
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                path = str(Path(tmp) / "graph")
                fresh = run_child("--child", "--backend", backend, "--mode", "fresh", "--path", path, "--kb", args.kb)
                again = run_child("--child", "--backend", backend, "--mode", "again", "--path", path, "--kb", args.kb)
            runs.append({"fresh": fresh, "reingest": again})
            print(f"  {backend}: fresh {fresh['records'] / fresh['seconds']:,.0f} triples/s, "
                  f"re-ingest {again['seconds']:.2f} s", file=sys.stderr)
        results[backend] = summarise(runs)
        if warmup is not None:
            results[backend]["warmup_triples_per_s"] = warmup["records"] / warmup["seconds"]
    if "neo4j" in backends:
        refs = [run_child("--reference", "--kb", args.kb, "--limit", str(args.reference_triples))
                for _ in range(args.runs)]
        rate = statistics.median(r["records"] / r["seconds"] for r in refs)
        results["neo4j_reference_per_triple_merge"] = {
            "triples": refs[0]["records"], "triples_per_s_median": rate,
            "seconds": [r["seconds"] for r in refs],
            "kgqa_speedup": results["neo4j"]["fresh_triples_per_s_median"] / rate,
        }
    meta = {"kb": args.kb, "runs": args.runs, "python": platform.python_version(), "cpus": os.cpu_count(),
            "machine": platform.machine(), "date": time.strftime("%Y-%m-%d %H:%M")}
    if "neo4j" in backends:
        meta["neo4j_version"] = neo4j_version()
    payload = {"meta": meta, "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(payload, indent=2))
    print_table(results)
    print(f"\nwrote {args.out}")


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    fresh = [r["fresh"] for r in runs]
    again = [r["reingest"] for r in runs]
    return {
        "triples": fresh[0]["records"],
        "entities": fresh[0]["entities"],
        "relations": fresh[0]["relations"],
        "fresh_seconds": [f["seconds"] for f in fresh],
        "fresh_triples_per_s_median": statistics.median(f["records"] / f["seconds"] for f in fresh),
        "close_seconds_median": statistics.median(f["close_seconds"] for f in fresh),
        "peak_rss_mb_median": statistics.median(f["peak_rss_mb"] for f in fresh),
        "rss_before_ingest_mb_median": statistics.median(f["rss_before_mb"] for f in fresh),
        "reingest_seconds": [a["seconds"] for a in again],
        "reingest_seconds_median": statistics.median(a["seconds"] for a in again),
        "reingest_created": [a["nodes_created"] + a["relationships_created"] for a in again],
        "reingest_peak_rss_mb_median": statistics.median(a["peak_rss_mb"] for a in again),
    }


def neo4j_version() -> str:
    import neo4j

    uri, user, password = neo4j_args()
    with neo4j.GraphDatabase.driver(uri, auth=(user, password)) as driver:
        records, _, _ = driver.execute_query("CALL dbms.components() YIELD versions RETURN versions[0] AS v")
        return str(records[0]["v"])


def print_table(results: dict[str, Any]) -> None:
    print(f"\n{'store':<10} {'triples':>8} {'fresh triples/s':>16} {'fresh s':>8} {'re-ingest s':>12} "
          f"{'re-ingest new':>13} {'peak RSS MB':>12}")
    for name in ("embedded", "neo4j"):
        if name not in results:
            continue
        r = results[name]
        print(f"{name:<10} {r['triples']:>8,} {r['fresh_triples_per_s_median']:>16,.0f} "
              f"{statistics.median(r['fresh_seconds']):>8.2f} {r['reingest_seconds_median']:>12.2f} "
              f"{max(r['reingest_created']):>13} {r['peak_rss_mb_median']:>12.0f}")
    ref = results.get("neo4j_reference_per_triple_merge")
    if ref:
        print(f"\nreference (Neo4j, one MERGE per triple, first {ref['triples']:,} triples): "
              f"{ref['triples_per_s_median']:,.0f} triples/s; kgqa's batched writer is "
              f"{ref['kgqa_speedup']:.1f}x faster")


if __name__ == "__main__":
    main()
