"""The answerer's topic fallback side by side: each trained checkpoint scored as typed with the fallback
off (``topic_floor`` 1: a question whose mentions all fall below the linker's NIL threshold gets no
topic) and on (the default: the best exact-name candidate above the floor is its topic).

    python bench/topic_floor.py [--floors 1,0.1] [--runs metaqa:supervised,metaqa:templates,...]

Checkpoints are those of ``bench/any_graph.py`` (``--work`` there; the unseen-template model lives
under ``.kgqa/bench/any_graph_t``). Prints a table, writes ``bench/results/topic_floor.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))

import any_graph as ag  # noqa: E402
import torch  # noqa: E402

from qa.answer.answerer import load_answerer  # noqa: E402
from qa.eval.evaluate import evaluate  # noqa: E402

CHECKPOINTS = {
    "supervised": (".kgqa/bench/any_graph", lambda ds: ag.questions_of(ds)[1]),
    "zero_shot": (".kgqa/bench/any_graph", lambda ds: ag.questions_of(ds)[1]),
    "templates": (".kgqa/bench/any_graph_t", ag.unseen_templates),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--floors", default="1,0.1")
    ap.add_argument("--runs", default="pq2:supervised,pq3:supervised,metaqa:supervised,metaqa:templates,"
                                      "pq2:zero_shot,pq3:zero_shot,metaqa:zero_shot")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "topic_floor.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    floors = [float(f) for f in args.floors.split(",")]
    rows = []
    for run in args.runs.split(","):
        key, model = run.split(":")
        work, questions = CHECKPOINTS[model]
        folder = ROOT / work / key / model
        if not (folder / "model.safetensors").is_file():
            print(f"{run}: no checkpoint at {folder} (run bench/any_graph.py first); skipped")
            continue
        answerer = load_answerer(folder)
        qs = questions(ag.DATASETS[key])
        for floor in floors:
            answerer.head = replace(answerer.head, topic_floor=floor)
            rep = evaluate(answerer, qs, strip_brackets=True, entities=answerer.graph.snapshot.index_of,
                           name=f"{run} floor {floor}")
            by_hop = {k: round(100 * v.hits[1], 2) for k, v in sorted(rep.by_hop.items())}
            row = {"run": run, "floor": floor, "questions": rep.overall.questions,
                   "hits1": round(100 * rep.overall.hits[1], 2), "by_hop": by_hop,
                   "topic_misses": ag.errors_by_kind(rep)["wrong or no topic"]["count"]}
            rows.append(row)
            print(json.dumps(row), flush=True)
    Path(args.out).write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=1) + "\n")
    print(f"{'run':22s} {'floor':>5s} {'questions':>9s} {'Hits@1':>7s} {'topic misses':>12s}  by hop")
    for r in rows:
        print(f"{r['run']:22s} {r['floor']:5g} {r['questions']:9,d} {r['hits1']:7.2f} {r['topic_misses']:12,d}  "
              f"{' / '.join(f'{v:.2f}' for v in r['by_hop'].values())}")


if __name__ == "__main__":
    main()
