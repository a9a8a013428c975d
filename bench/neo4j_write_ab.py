"""Bolt writer A/B: this tree's ``kg/store/neo4j.py`` against an older commit's, on the same Neo4j.

Each load runs in its own process: the database at ``--uri`` is CLEARED, the KB ingested into it
(fresh: file to committed), then ingested again (must create nothing). The older writer is the file
``git show BASE:kg/store/neo4j.py`` loaded as a module beside this tree's ``kg`` (the rest of kgqa,
readers included, is this tree's), so only the writer differs. One discarded warm-up load of each
first (a server started just before runs its first loads slower while the JIT warms up), then the two
alternate. Prints a table, writes JSON.

    tools/neo4j/start.sh --home /tmp/kgqa-neo4j-bench --port 7698
    python bench/neo4j_write_ab.py [--base HEAD] [--runs 5] [--uri bolt://127.0.0.1:7698]
"""

from __future__ import annotations

import argparse
import importlib.util
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


def child(args: argparse.Namespace) -> None:
    """One fresh load and one re-load with the writer in ``args.module`` (a file path, or "tree")."""
    from kg.ingest import ingest

    if args.module == "tree":
        import kg.store.neo4j as module
    else:
        spec = importlib.util.spec_from_file_location("kgqa_writer_before", args.module)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    store = module.Neo4jStore(args.uri, os.environ.get("NEO4J_USER", "neo4j"),
                              os.environ.get("NEO4J_PASSWORD", "kgqa-test-password"))
    store.clear()
    start = time.perf_counter()
    fresh = ingest(store, args.kb, progress=False)
    fresh_s = time.perf_counter() - start
    start = time.perf_counter()
    again = ingest(store, args.kb, progress=False)
    again_s = time.perf_counter() - start
    stats = store.stats()
    store.clear()
    store.close()
    print(json.dumps({"records": fresh.records, "fresh_s": fresh_s, "again_s": again_s,
                      "created": [fresh.written.nodes_created, fresh.written.relationships_created],
                      "created_again": again.written.nodes_created + again.written.relationships_created,
                      "entities": stats.entities, "relations": stats.relations,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_child(module: str, args: argparse.Namespace) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", "--module", module, "--uri", args.uri,
                          "--kb", str(args.kb)], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"child {module} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="HEAD", help="the commit whose kg/store/neo4j.py is the 'before' writer")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--kb", type=Path, default=DEFAULT_KB)
    ap.add_argument("--uri", default=os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7698"),
                    help="a Neo4j whose database this benchmark may clear")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "neo4j_write_ab.json")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--module", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)

    source = subprocess.run(["git", "show", f"{args.base}:kg/store/neo4j.py"], capture_output=True, text=True,
                            cwd=ROOT, check=True).stdout
    with tempfile.TemporaryDirectory(prefix="kgqa-writer-ab-") as tmp:
        before = Path(tmp) / "neo4j_before.py"
        before.write_text(source)
        sides = {"before": str(before), "after": "tree"}
        for name, module in sides.items():
            warm = run_child(module, args)
            rate = warm["records"] / warm["fresh_s"]
            print(f"  warm-up {name}: {rate:,.0f} triples/s (not counted)", file=sys.stderr)
        runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        for i in range(args.runs):
            order = ["before", "after"] if i % 2 == 0 else ["after", "before"]
            for name in order:
                r = run_child(sides[name], args)
                runs[name].append(r)
                print(f"  run {i + 1} {name}: fresh {r['records'] / r['fresh_s']:,.0f} triples/s, "
                      f"re-ingest {r['again_s']:.2f} s", file=sys.stderr)

    results = {}
    for name, rs in runs.items():
        if any(r["created_again"] for r in rs) or len({(r["entities"], r["relations"]) for r in rs}) != 1:
            raise SystemExit(f"{name}: a re-ingest created something, or the counts differ between runs: {rs}")
        results[name] = {
            "triples": rs[0]["records"], "entities": rs[0]["entities"], "relations": rs[0]["relations"],
            "fresh_s": [r["fresh_s"] for r in rs],
            "fresh_triples_per_s_median": statistics.median(r["records"] / r["fresh_s"] for r in rs),
            "reingest_s": [r["again_s"] for r in rs], "reingest_s_median": statistics.median(r["again_s"] for r in rs),
            "peak_rss_mb_median": statistics.median(r["peak_rss_mb"] for r in rs),
        }
    if results["before"]["relations"] != results["after"]["relations"]:
        raise SystemExit("the two writers stored different graphs")
    meta = {"base": subprocess.run(["git", "rev-parse", "--short", args.base], capture_output=True, text=True,
                                   cwd=ROOT).stdout.strip(),
            "kb": str(args.kb), "runs": args.runs, "uri": args.uri, "python": platform.python_version(),
            "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M"), "load_average": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(f"\n{'writer':<8} {'triples':>8} {'fresh triples/s':>16} {'fresh s':>8} {'re-ingest s':>12} "
          f"{'peak RSS MB':>12}")
    for name, r in results.items():
        print(f"{name:<8} {r['triples']:>8,} {r['fresh_triples_per_s_median']:>16,.0f} "
              f"{statistics.median(r['fresh_s']):>8.2f} {r['reingest_s_median']:>12.2f} "
              f"{r['peak_rss_mb_median']:>12.0f}")
    speedup = results["after"]["fresh_triples_per_s_median"] / results["before"]["fresh_triples_per_s_median"]
    print(f"\nafter / before, fresh: {speedup:.2f}x; re-ingest: "
          f"{results['before']['reingest_s_median'] / results['after']['reingest_s_median']:.2f}x; "
          f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
