"""A second source for facts already stored: does every edge stay readable from both ends?

The scenario that showed LadybugDB 0.22.0 corrupting a relationship table (see
:func:`kg.store.columns.set_rows`): the KB is ingested into a fresh embedded store, then the same triples
again from a second file (each edge's ``sources`` grows), then the first file once more. Per run: the
second ingest's time, the edges missing from forward scans (``(a)-[:T]->(b)``) that backward scans
(``(b)<-[:T]-(a)``) see, the pairs listed twice, and the relations the third ingest created (0 when
nothing was lost). With ``--base COMMIT`` the older commit runs the same scenario from a git worktree,
alternating with this tree, in separate processes. Prints a table, writes JSON.

    python bench/second_source.py [--base COMMIT] [--runs 3] [--kb ../shared/data/metaqa/kb.txt]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from trees import side_by_side

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_KB = ROOT.parent / "shared" / "data" / "metaqa" / "kb.txt"


def scenario(kb: Path, work: Path) -> dict[str, Any]:
    """One run, in this process (the tree on ``sys.path`` is the one measured)."""
    from kg.ingest import ingest
    from kg.store.embedded import EmbeddedStore

    second = work / f"second_{kb.name}"
    shutil.copyfile(kb, second)
    with EmbeddedStore(work / "graph") as store:
        ingest(store, kb, progress=False)
        start = time.perf_counter()
        ingest(store, second, progress=False)
        seconds = time.perf_counter() - start
        missing = doubled = 0
        for rel in sorted(store.stats().relation_types):
            out = Counter(map(tuple, store.read(f"MATCH (a)-[:`{rel}`]->(b) RETURN a.id, b.id", limit=10**8).rows))
            back = Counter(map(tuple, store.read(f"MATCH (b)<-[:`{rel}`]-(a) RETURN a.id, b.id", limit=10**8).rows))
            missing += sum((back - out).values())
            doubled += sum(n - 1 for n in out.values() if n > 1)
        again = ingest(store, kb, progress=False).written.relationships_created
    return {"second_ingest_s": round(seconds, 2), "missing_from_forward_scans": missing,
            "listed_twice_forward": doubled, "created_by_third_ingest": again}


def run_tree(tree: Path, kb: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kgqa-second-") as tmp:
        code = (f"import sys, json; sys.path.insert(0, {str(tree)!r}); sys.path.insert(1, {str(ROOT / 'bench')!r});"
                f"from second_source import scenario; from pathlib import Path;"
                f"print(json.dumps(scenario(Path({str(kb)!r}), Path({tmp!r}))))")
        out = subprocess.run([sys.executable, "-c", code], cwd=tmp, capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default=None, help="an older commit to run beside this tree")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kb", default=str(DEFAULT_KB))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "second_source.json"))
    args = ap.parse_args()
    kb = Path(args.kb).resolve()
    with side_by_side(args.base, f"base {args.base}") as trees:
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        for _ in range(args.runs):
            for name, tree in trees.items():
                runs[name].append(run_tree(tree, kb))
    print(f"{'tree':22s} {'2nd ingest s':>12s} {'missing fwd':>12s} {'listed twice':>12s} {'3rd created':>12s}"
          f"   (median of {args.runs}; each run: min-max)")
    summary = {}
    for name, rs in runs.items():
        summary[name] = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        cells = [f"{summary[name]['second_ingest_s']:12.1f}"]
        for k in ("missing_from_forward_scans", "listed_twice_forward", "created_by_third_ingest"):
            cells.append(f"{summary[name][k]:6.0f} ({min(r[k] for r in rs)}-{max(r[k] for r in rs)})".rjust(12))
        print(f"{name:22s} " + " ".join(cells))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"command": " ".join(sys.argv), "machine": platform.platform(),
                                          "kb": kb.name, "runs": runs, "median": summary}, indent=1))


if __name__ == "__main__":
    main()
