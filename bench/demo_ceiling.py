"""What the demo's sample lets any answerer reach, per hop, on its validation questions.

- 1-hop: the relation of the topic whose reach covers the most gold answers (then the fewest others);
  when it reaches more than MetaQA lists, picking uniformly among its reach expects ``|gold| / |reach|``.
- 2- and 3-hop: questions with no gold answer within 3 hops of the topic in the sample graph at all
  (their paths run through triples the 5k-triple sample left out).

    python bench/demo_ceiling.py

Prints a table, writes ``bench/results/demo_ceiling.json``.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.cli.demo import validation_questions  # noqa: E402
from qa.resources import SAMPLE_GRAPH  # noqa: E402


def main() -> None:
    reach: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for line in SAMPLE_GRAPH.read_text(encoding="utf-8").splitlines():
        parts = line.split("|")
        if len(parts) == 3:
            reach[parts[0]][parts[1]].add(parts[2])
            reach[parts[2]]["~" + parts[1]].add(parts[0])
    rows = []
    for key, qs in validation_questions().items():
        unreachable, wider, expected = 0, 0, 0.0
        for q in qs:
            gold = set(q.answers)
            seen, frontier = {q.topic}, {q.topic}
            for _ in range(3):
                frontier = {n for f in frontier for ends in reach[f].values() for n in ends} - seen
                seen |= frontier
            found = bool((gold - {q.topic}) & seen)
            unreachable += not found
            best = max(reach[q.topic].values(), key=lambda ends: (len(ends & gold), -len(ends)))
            wider += bool(best - gold)
            expected += len(best & gold) / len(best) if key == "1-hop" else float(found)
        rows.append({"hops": key, "questions": len(qs), "no gold answer within 3 hops": unreachable,
                     "1-hop relation reaches more than gold": wider if key == "1-hop" else None,
                     "ceiling": round(100 * expected / len(qs), 1)})
    print(f"{'hops':6s} {'questions':>9s} {'unreachable':>11s} {'wider reach':>11s} {'ceiling %':>9s}")
    for r in rows:
        wider = r["1-hop relation reaches more than gold"]
        wider_s = "-" if wider is None else wider
        print(f"{r['hops']:6s} {r['questions']:9d} {r['no gold answer within 3 hops']:11d} {wider_s!s:>11s} "
              f"{r['ceiling']:9.1f}")
    out = ROOT / "bench" / "results" / "demo_ceiling.json"
    out.write_text(json.dumps({"command": "python bench/demo_ceiling.py", "rows": rows}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
