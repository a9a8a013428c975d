"""Bulk import benchmark: ``tools/neo4j/import.sh`` (kgqa's CSV, then ``neo4j-admin database import full``).

Each run loads the file into the database of one bench home with ``--overwrite``, after stopping its
server: file → kgqa's readers → CSV → neo4j-admin → server started → what CSV cannot carry, kgqa's
schema, indexes online. The stages' seconds come from import.sh's ``--report``. "Triples" are the
file's non-blank, non-comment lines (one triple each in a triples or N-Triples file). The first run
on a new home also creates Neo4j's system database at start-up. Prints a table, adds the file's row
to the JSON (one entry per file label, so the MetaQA and the 10M rows live side by side).

    python bench/neo4j_bulk.py [--kb ../shared/data/metaqa/kb.txt] [--runs 3]
    python bench/neo4j_bulk.py --replicate 75 --runs 1    # 10M triples: 75 renamed copies of the KB, in /tmp
    python bench/neo4j_bulk.py --kb /tmp/kg_10M.nt        # any file import.sh reads (bench/kggen.py writes one)

The server gets $NEO4J_HEAP (default here 2g); the importer NEO4J_IMPORT_HEAP/NEO4J_IMPORT_OFF_HEAP (1g each).
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
DEFAULT_KB = ROOT.parent / "shared" / "data" / "metaqa" / "kb.txt"
TOOLS = ROOT / "tools" / "neo4j"
STAGES = ("csv", "stop", "import", "start", "finish")


def count_triples(path: Path) -> int:
    n = 0
    with path.open("rb") as fh:
        for line in fh:
            s = line.strip()
            n += bool(s) and not s.startswith(b"#")
    return n


def replicate(kb: Path, copies: int, out: Path) -> None:
    """``copies`` copies of a ``head|relation|tail`` file, every entity renamed per copy (``name #k``)."""
    lines = kb.read_text(encoding="utf-8").splitlines()
    with out.open("w", encoding="utf-8") as fh:
        for k in range(copies):
            suffix = f" #{k}" if k else ""
            fh.write("".join(f"{h}{suffix}|{r}|{t}{suffix}\n" for h, r, t in
                             (line.split("|") for line in lines if line.count("|") == 2)))


def one_run(path: Path, home: Path, port: int, work: Path) -> dict[str, Any]:
    subprocess.run(["bash", str(TOOLS / "stop.sh"), "--home", str(home)], capture_output=True, check=True)
    report = work / "report.json"
    env = {**os.environ, "KGQA_PYTHON": sys.executable, "NEO4J_HEAP": os.environ.get("NEO4J_HEAP", "2g")}
    start = time.perf_counter()
    done = subprocess.run(["bash", str(TOOLS / "import.sh"), "--home", str(home), "--port", str(port),
                           "--overwrite", "--report", str(report), str(path)], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"import.sh failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    result = json.loads(report.read_text())
    result["wall_s"] = wall
    result["peak_rss_mb_largest_step"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


def neo4j_version() -> str:
    jars = sorted((TOOLS / "target" / "dependency").glob("neo4j-kernel-*.jar"))
    return jars[0].stem.removeprefix("neo4j-kernel-") if jars else "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kb", type=Path, default=DEFAULT_KB)
    ap.add_argument("--replicate", type=int, default=0, help="load this many renamed copies of --kb instead")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "kgqa-neo4j-bulk-bench")
    ap.add_argument("--port", type=int, default=7697)
    ap.add_argument("--keep", action="store_true", help="leave the server of --home running at the end")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "neo4j_bulk.json")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="kgqa-bulk-bench-") as tmp:
        work = Path(tmp)
        path = args.kb
        label = args.kb.name
        if args.replicate:
            path = work / f"{args.kb.stem}_x{args.replicate}.txt"
            replicate(args.kb, args.replicate, path)
            label = f"{args.kb.name} x{args.replicate}"
        triples = count_triples(path)
        print(f"{label}: {triples:,} triples, {path.stat().st_size / 2**20:,.0f} MiB", file=sys.stderr)
        runs = []
        try:
            for i in range(args.runs):
                r = one_run(path, args.home, args.port, work)
                runs.append(r)
                s = r["seconds"]
                print(f"  run {i + 1}: {s['total']:.1f} s end to end ({triples / s['total']:,.0f} triples/s); "
                      + ", ".join(f"{k} {s[k]:.1f}" for k in STAGES), file=sys.stderr)
        finally:
            if not args.keep:
                subprocess.run(["bash", str(TOOLS / "stop.sh"), "--home", str(args.home)], capture_output=True)

    med = {k: statistics.median(r["seconds"][k] for r in runs) for k in (*STAGES, "total")}
    row = {
        "file": str(args.kb), "replicate": args.replicate, "triples": triples, "runs": len(runs),
        "nodes": runs[0]["csv"]["nodes"], "relationships": runs[0]["csv"]["relationships"],
        "end_to_end_s": [r["seconds"]["total"] for r in runs], "median_s": med,
        "end_to_end_triples_per_s_median": triples / med["total"],
        "csv_triples_per_s_median": triples / med["csv"],
        "neo4j_admin_triples_per_s_median": triples / med["import"],
        "finish": [r["finish"] for r in runs],
        "peak_rss_mb_largest_step": max(r["peak_rss_mb_largest_step"] for r in runs),
    }
    payload: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {"results": {}}
    payload["results"][label] = row
    payload["meta"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine(),
                       "neo4j_version": neo4j_version(), "date": time.strftime("%Y-%m-%d %H:%M"),
                       "server_heap": os.environ.get("NEO4J_HEAP", "2g"),
                       "importer_heap_off_heap": [os.environ.get("NEO4J_IMPORT_HEAP", "1g"),
                                                  os.environ.get("NEO4J_IMPORT_OFF_HEAP", "1g")]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2))
    print_table(payload["results"])
    print(f"\nwrote {args.out}")


def print_table(results: dict[str, Any]) -> None:
    print(f"\n{'file':<16} {'triples':>11} {'runs':>4} {'end to end s':>12} {'triples/s':>10} {'csv s':>7} "
          f"{'admin s':>8} {'admin triples/s':>15} {'start s':>8} {'finish s':>8}")
    for label, r in results.items():
        m = r["median_s"]
        print(f"{label:<16} {r['triples']:>11,} {r['runs']:>4} {m['total']:>12.1f} "
              f"{r['end_to_end_triples_per_s_median']:>10,.0f} {m['csv']:>7.1f} {m['import']:>8.1f} "
              f"{r['neo4j_admin_triples_per_s_median']:>15,.0f} {m['start']:>8.1f} {m['finish']:>8.1f}")


if __name__ == "__main__":
    main()
