"""The embedded store's ingest rate, an older commit against this tree, side by side.

Checks the older commit out into a temporary git worktree and runs ``bench/ingest.py`` (one fresh load
and one re-load of the KB, embedded store, each in its own process) from each tree in turn, ``--runs``
times, alternating, so that both see the same machine. Prints medians and their ratio, writes JSON.

    python bench/ingest_ab.py --base ed84847 [--runs 5] [--kb ../shared/data/metaqa/kb.txt]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from trees import side_by_side

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_KB = ROOT.parent / "shared" / "data" / "metaqa" / "kb.txt"


def one_load(tree: Path, kb: str, out: Path) -> dict[str, Any]:
    subprocess.run([sys.executable, str(tree / "bench" / "ingest.py"), "--runs", "1", "--warmup", "0", "--skip-neo4j",
                    "--kb", kb, "--out", str(out)], check=True, capture_output=True, text=True)
    return json.loads(out.read_text())["results"]["embedded"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the older commit")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--kb", default=str(DEFAULT_KB))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "ingest_ab.json"))
    args = ap.parse_args()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="kgqa-ab-") as tmp, side_by_side(args.base) as trees:
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        for i in range(args.runs):
            for name, tree in trees.items():
                runs[name].append(one_load(tree, args.kb, Path(tmp) / f"{i}.json"))
    summary = {name: {"fresh_triples_per_s": statistics.median(r["fresh_triples_per_s_median"] for r in rs),
                      "reingest_s": statistics.median(r["reingest_seconds_median"] for r in rs),
                      "peak_rss_mb": statistics.median(r["peak_rss_mb_median"] for r in rs)}
               for name, rs in runs.items()}
    ratio = summary["this tree"]["fresh_triples_per_s"] / summary["base"]["fresh_triples_per_s"]
    print(f"{'tree':24s} {'fresh triples/s':>16s} {'re-ingest s':>12s} {'peak RSS MB':>12s}   (median of {args.runs})")
    for name, s in summary.items():
        label = f"{name} ({args.base if name == 'base' else head + ' + changes'})"
        print(f"{label:24s} {s['fresh_triples_per_s']:16,.0f} {s['reingest_s']:12.2f} {s['peak_rss_mb']:12.0f}")
    print(f"fresh rate, this tree / base: {ratio:.3f}")
    Path(args.out).write_text(json.dumps({"command": " ".join(sys.argv), "base": args.base, "head": head,
                                          "machine": platform.platform(), "summary": summary, "ratio": ratio,
                                          "runs": runs}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
