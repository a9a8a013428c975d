"""How much of MetaQA's validation Hits@1 is decidable from the graph at all.

MetaQA's knowledge base merges films that share a title (remakes: three films called "Frozen"
become one node), while each question's gold answers come from one of those films. When the
template's relation path reaches more entities than the gold set, the graph gives no way to tell
which of them the question meant. For each validation question this walks the path the template
baseline learned for its template and computes the Hits@1 expected from a ranker that knows the
right relation path and picks uniformly among what it reaches (``|gold ∩ reached| / |reached|``),
per hop — an upper bound for any answerer that reads only the graph (not the dataset's quirks).

    .venv/bin/python bench/qa_ceiling.py [--config configs/metaqa.json]

Prints a table and writes ``bench/results/qa_ceiling.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from qa.answer.baseline import BaselineConfig, TemplateBaseline, normalize_template
from qa.answer.paths import walk
from qa.train.qa import TrainConfig, split_questions
from retrieval.snapshot import GraphSnapshot


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/metaqa.json")
    ap.add_argument("--out", default="bench/results/qa_ceiling.json")
    args = ap.parse_args()
    cfg = TrainConfig.load(args.config)
    from qa.data.examples import load_graph

    graph = load_graph(cfg.kb, cfg.store_config(), cfg.cache_dir, cfg.text_cache_dir)
    snap: GraphSnapshot = graph.snapshot
    train_qs, val, _ = split_questions(cfg)
    base = TemplateBaseline(snap, None, BaselineConfig(fit_linker=False, evidence_paths=0))
    base.fit(train_qs)
    per: dict[str, list[float]] = defaultdict(list)
    ambiguous: dict[str, int] = defaultdict(int)
    examples: list[dict[str, object]] = []
    for q in val:
        key = f"{q.hop}-hop"
        entry = base.table.get(normalize_template(q.template))
        t = snap.index_of.get(q.topic or "")
        if entry is None or t is None:
            per[key].append(0.0)
            continue
        nodes, _ = walk(snap, t, entry.relation_path)
        reached = {snap.node_ids[i] for i in nodes.tolist()}
        gold = set(q.answers)
        per[key].append(len(gold & reached) / len(reached) if reached else 0.0)
        if reached - gold and len(gold & reached) < len(reached):
            ambiguous[key] += 1
            if len(examples) < 12 and q.hop == 1:
                examples.append({"question": q.text, "gold": sorted(gold), "reached": sorted(reached)[:8]})
    rows = {k: {"questions": len(v), "expected_hits@1_ceiling": float(np.mean(v)),
                "questions_with_answers_outside_gold": ambiguous[k]} for k, v in sorted(per.items())}
    allv = [x for v in per.values() for x in v]
    rows["all"] = {"questions": len(allv), "expected_hits@1_ceiling": float(np.mean(allv)),
                   "questions_with_answers_outside_gold": sum(ambiguous.values())}
    print("| hops | questions | path reaches non-gold entities | Hits@1 ceiling (uniform pick) |\n|---|---|---|---|")
    for k, r in rows.items():
        print(f"| {k} | {r['questions']:,} | {r['questions_with_answers_outside_gold']:,} | "
              f"{100 * r['expected_hits@1_ceiling']:.2f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"config": args.config, "rows": rows, "examples_1hop": examples}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
