"""Attacks on the embedded store's exploration queries (issue 14), and what the sandbox costs.

Builds a synthetic store (``--entities`` entities, two relations each), then:

* **attacks**: every hostile query of the issue and a few more, each run through
  ``EmbeddedStore.cypher`` twice: as shipped (``full``), and with the up-front checks switched off
  (``db+worker``: only the database's plan check and the worker process are left). For each: how it
  ended (refused / stopped / crashed in the worker / answered), the seconds it took, whether the
  stored graph is unchanged and the process still answers;
* **overhead**: p50 / p90 latency of reading queries run in process (the old path, no isolation)
  and in the forked worker, and how many workers had to be replaced (a fork that caught the
  database's scheduler lock taken);
* **memory**: the calling process's peak RSS before and after the attacks.

    python bench/security_embedded.py [--entities 20000] [--repeat 100] [--out bench/results/security_embedded.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import kg.store.embedded as embedded  # noqa: E402
import kg.store.sandbox as sandbox  # noqa: E402
from kg.errors import KGQAError  # noqa: E402
from kg.models import Batch, Entity, Relation  # noqa: E402

ATTACKS = {
    "read_csv_serial": "CALL read_csv_serial('/etc/hostname') RETURN *",
    "read_csv_parallel": "CALL read_csv_parallel('/etc/hostname') RETURN *",
    "read_npy": "CALL read_npy('/etc/hostname') RETURN *",
    "read_parquet": "CALL read_parquet('/etc/hostname') RETURN *",
    "load_from": "LOAD FROM '/etc/hostname' (file_format='csv') RETURN *",
    "nested_4000": "RETURN " + "(" * 4000 + "1" + ")" * 4000,
    "nested_2000": "RETURN " + "(" * 2000 + "1" + ")" * 2000,
    "nested_lists_200": "RETURN " + "[" * 200 + "1" + "]" * 200,
    "unwind_1e9": "UNWIND range(1, 1000000000) AS x RETURN count(x)",
    "long_running_1e10": ("UNWIND range(1, 100000) AS x UNWIND range(1, 100000) AS y "
                          "WITH x, y WHERE (x + y) % 7 = 0 RETURN count(*)"),
    "threads": "CALL threads=1",
    "checkpoint_threshold": "CALL checkpoint_threshold=0",
    "project_graph": "CALL project_graph('g', ['Entity'], ['R0'])",
    "current_setting": "CALL current_setting('threads') RETURN *",
    "two_statements": "MATCH (n) RETURN n.id LIMIT 1; MATCH (n) DETACH DELETE n",
    "create": "CREATE (:Entity {id: 'x'})",
    "merge": "MERGE (n:Entity {id: 'x'}) RETURN n.id",
    "set": "MATCH (n:Entity {id: 'e0'}) SET n.name = 'changed'",
    "detach_delete": "MATCH (n:Entity) DETACH DELETE n",
    "copy_to": "COPY (MATCH (n:Entity) RETURN n.id) TO '{tmp}/leak.csv'",
    "export_database": "EXPORT DATABASE '{tmp}/export'",
    "drop_table": "DROP TABLE R0",
    "begin": "BEGIN TRANSACTION",
    "checkpoint": "CHECKPOINT",
    "install": "INSTALL httpfs",
    "attach": "ATTACH '{tmp}/other.lbug' AS other",
    "create_macro": "CREATE MACRO f(x) AS x + 1",
    "comment_cr_hides": "// x\rCALL read_csv_serial('/etc/hostname') RETURN *",
    "backticked_reader": "CALL `read_csv_serial`('/etc/hostname') RETURN *",
    "unicode_escape": "CALL read\\u005fcsv_serial('/etc/hostname') RETURN *",
}
READS = {
    "return_1": "RETURN 1",
    "point_lookup": "MATCH (n:Entity {id: 'e7'}) RETURN n.name",
    "one_hop": "MATCH (a:Entity {id: 'e7'})-[r]->(b) RETURN label(r), b.id",
    "count": "MATCH (n:Entity) RETURN count(n)",
    "scan_all_ids": "MATCH (n:Entity) RETURN n.id, n.name",
}


def build(path: Path, n: int) -> embedded.EmbeddedStore:
    store = embedded.EmbeddedStore(path)
    entities = [Entity(f"e{i}", f"Entity {i}") for i in range(n)]
    relations = [Relation(f"e{i}", f"R{i % 2}", f"e{(i * 7 + 1) % n}") for i in range(n)]
    relations += [Relation(f"e{i}", "R2", f"e{(i + 1) % n}") for i in range(n)]
    store.upsert(Batch(entities=entities, relations=relations))
    return store


def state(store: embedded.EmbeddedStore) -> tuple[Any, ...]:
    e = store.get_entity("e0")
    return store.stats().as_dict(), e.name if e else None, store.get_entity("x")


def attack(store: embedded.EmbeddedStore, query: str, timeout_s: float) -> dict[str, Any]:
    before = state(store)
    start = time.perf_counter()
    try:
        store.cypher(query, timeout_s=timeout_s)
        outcome, message = "ANSWERED", ""
    except KGQAError as exc:
        message = str(exc)
        outcome = ("crashed in worker" if "crashed" in message else
                   "stopped (time)" if "timeout" in message else
                   "stopped (memory)" if "MB of memory" in message else "refused")
    seconds = time.perf_counter() - start
    alive = store.cypher("RETURN 1").rows == [[1]]
    return {"outcome": outcome, "seconds": round(seconds, 3), "graph_unchanged": state(store) == before,
            "still_answers": alive, "message": message}


def latency(fn: Any, repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 2), "p90_ms": round(times[int(0.9 * len(times))], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entities", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=5.0, help="timeout_s of each attack")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "security_embedded.json"))
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="kgqa-sec-"))
    store = build(tmp / "graph", args.entities)
    restarts = {"n": 0}
    started = sandbox._started

    def counting(fd: int, wait_s: float) -> bool:
        ok = started(fd, wait_s)
        restarts["n"] += not ok
        return ok

    sandbox._started = counting
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10

    results: dict[str, dict[str, Any]] = {}
    guards = embedded.check_read_only, sandbox.precheck
    for mode in ("full", "db+worker"):
        if mode == "db+worker":
            embedded.check_read_only = lambda q: None  # type: ignore[assignment]
            sandbox.precheck = lambda q, limits=sandbox.DEFAULT_LIMITS: None  # type: ignore[assignment]
        for name, query in ATTACKS.items():
            results.setdefault(name, {})[mode] = attack(store, query.replace("{tmp}", str(tmp)), args.timeout)
    embedded.check_read_only, sandbox.precheck = guards
    files_written = sorted(p.name for p in tmp.iterdir() if p.name != "graph")
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10

    overhead = {}
    for name, query in READS.items():
        limit = 10**9 if name == "scan_all_ids" else 1000
        overhead[name] = {
            "in_process": latency(lambda q=query, lim=limit: store._cypher_in_process(q, None, limit=lim, timeout_s=30),
                                  args.repeat),
            "worker": latency(lambda q=query, lim=limit: store.cypher(q, limit=lim, timeout_s=30), args.repeat),
        }
    store.close()

    print(f"{'attack':22} {'full':>18} {'s':>6}  {'db+worker':>18} {'s':>6}  unchanged  answers")
    for name, r in results.items():
        f, d = r["full"], r["db+worker"]
        print(f"{name:22} {f['outcome']:>18} {f['seconds']:6.2f}  {d['outcome']:>18} {d['seconds']:6.2f}  "
              f"{f['graph_unchanged'] and d['graph_unchanged']!s:9}  {f['still_answers'] and d['still_answers']}")
    summary = {mode: {"tried": len(ATTACKS),
                      "refused_or_stopped": sum(r[mode]["outcome"] != "ANSWERED" for r in results.values()),
                      "graph_changed": sum(not r[mode]["graph_unchanged"] for r in results.values()),
                      "process_died": 0}
               for mode in ("full", "db+worker")}
    for mode, s in summary.items():
        print(f"{mode}: {s['tried']} attacks tried, {s['refused_or_stopped']} refused or stopped, "
              f"{s['graph_changed']} changed the graph, the process survived all")
    print(f"files written by the attacks: {files_written or 'none'}")
    print(f"peak RSS of the calling process: {rss_before} MB before the attacks, {rss_after} MB after")
    print(f"\n{'read query':16} {'in-process p50':>15} {'worker p50':>11} {'p90':>8}   ({args.entities:,} entities)")
    for name, r in overhead.items():
        print(f"{name:16} {r['in_process']['p50_ms']:13.2f}ms {r['worker']['p50_ms']:9.2f}ms "
              f"{r['worker']['p90_ms']:6.2f}ms")
    print(f"workers replaced (fork caught the scheduler lock): {restarts['n']}")
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} on {os.cpu_count()} cores (latencies on a busy machine are noisy)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "entities": args.entities, "repeat": args.repeat, "timeout_s": args.timeout,
        "limits": sandbox.DEFAULT_LIMITS.__dict__, "landlock_abi": sandbox.landlock_abi(),
        "summary": summary, "attacks": results, "files_written": files_written,
        "peak_rss_mb": {"before": rss_before, "after": rss_after}, "overhead": overhead,
        "workers_replaced": restarts["n"], "load_average": load, "cpu_count": os.cpu_count()}, indent=2) + "\n")


if __name__ == "__main__":
    main()
