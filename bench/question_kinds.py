"""Questions beyond paths, per kind: the composed answerer (:mod:`qa.kinds`) beside the path-only model.

    python bench/question_kinds.py [--per-kind 60] [--checkpoint .kgqa/bench/any_graph/metaqa/supervised]
                                   [--validation 0]

Questions of each kind (count, yes/no, filter, intersection, comparison, superlative) are made from the
checkpoint's graph by :func:`qa.kinds.synth.synthesise_kinds` in two groups of phrasings, ``dev`` (seen
while building) and ``held_out`` (written once, only run here), and asked as typed (no brackets): the
topic and the other entities are found by the linker and the name scan. Per kind: Hits@1 (count: the
exact number; yes/no: the right answer) and answer-set F1. The path-only row is the same model answering
every question as a relation path; the template-lookup row is :class:`qa.answer.baseline.TemplateBaseline`
fitted on the checkpoint's own training questions (its config's question files, less their validation
part; none for a zero-shot checkpoint). With ``--validation N`` (0: all), MetaQA's validation questions as
typed are also scored both ways (the composed answerer must not lose path questions). Each composed
answer's Cypher is replayed on the embedded store for ``--replay`` questions, and must return the same answer.
Prints a table, writes ``bench/results/question_kinds.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))

import numpy as np  # noqa: E402

from kg.store import open_store  # noqa: E402
from qa.answer.answerer import load_answerer  # noqa: E402
from qa.data.questions import Question  # noqa: E402
from qa.kinds.answer import KindAnswerer  # noqa: E402
from qa.kinds.synth import KINDS, score, synthesise_kinds  # noqa: E402


def run(answerer, qs, strip=True):
    t = time.perf_counter()
    preds = answerer.predict([Question(q.text, q.answers) for q in qs], strip_brackets=strip)
    return preds, (time.perf_counter() - t) / max(1, len(qs))


def replay(store, preds, limit: int) -> tuple[int, int]:
    """(agreeing, replayed): a composed answer's Cypher returns the same number, yes/no or entity set."""
    ok = n = 0
    for p in preds:
        if p.cypher is None or n >= limit:
            continue
        n += 1
        rows = store.cypher(p.cypher, p.params).rows
        if p.kind == "count":
            ok += rows == [[p.value]]
        elif p.kind == "yes/no":
            ok += rows == [[bool(p.value)]]
        else:
            ok += sorted(r[0] for r in rows) == sorted(a.entity_id for a in p.answers)
    return ok, n


def template_lookup(base, checkpoint: str):
    """The template-lookup baseline fitted on the checkpoint's training questions, or ``None`` (zero-shot, or
    its question files are not on this machine)."""
    from qa.answer.baseline import BaselineConfig, TemplateBaseline
    from qa.data.questions import load_questions, split_validation

    files = json.loads((Path(checkpoint) / "config.json").read_text())["train"].get("questions") or []
    if not files or not all(Path(f).exists() for f in files):
        return None
    train = [q for f in files for q in split_validation(load_questions(f))[0]]
    lookup = TemplateBaseline(base.graph.snapshot, base.linker, BaselineConfig(fit_linker=False))
    lookup.fit(train)
    return lookup


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=".kgqa/bench/any_graph/metaqa/supervised")
    ap.add_argument("--per-kind", type=int, default=60)
    ap.add_argument("--validation", type=int, default=-1, help="MetaQA validation questions (0: all, -1: skip)")
    ap.add_argument("--replay", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "question_kinds.json"))
    args = ap.parse_args()
    base = load_answerer(args.checkpoint)
    kinds = KindAnswerer(base)
    answerers = [("composed", kinds), ("path only", base)]
    lookup = template_lookup(base, args.checkpoint)
    if lookup is not None:
        answerers.append(("template lookup", lookup))
    result: dict = {"checkpoint": args.checkpoint, "per_kind": args.per_kind, "seed": args.seed, "groups": {}}
    rows = []
    for group in ("dev", "held_out"):
        qs = synthesise_kinds(base.graph.snapshot, per_kind=args.per_kind, phrasing=group, seed=args.seed)
        res_group = {}
        for name, ans in answerers:
            preds, per_q = run(ans, qs)
            by: dict[str, list[tuple[float, float]]] = defaultdict(list)
            right_kind: dict[str, list[bool]] = defaultdict(list)
            for q, p in zip(qs, preds, strict=True):
                by[q.kind].append(score(p.value, [a.entity_id for a in p.answers] or [e for e, _ in p.ranked[:1]], q))
                right_kind[q.kind].append(p.kind == ("filter" if q.kind == "intersection" else q.kind))
            table = {k: {"n": len(by[k]), "hits@1": 100 * float(np.mean([h for h, _ in by[k]])),
                         "f1": 100 * float(np.mean([f for _, f in by[k]])),
                         "kind read right": 100 * float(np.mean(right_kind[k]))} for k in KINDS if by[k]}
            res_group[name] = {"kinds": table, "ms_per_question": 1000 * per_q}
            if name == "composed":
                with open_store(base.graph.store, read_only=True) as store:
                    ok, n = replay(store, preds, args.replay)
                res_group[name]["cypher_replay"] = {"agree": ok, "replayed": n}
                res_group[name]["examples"] = [
                    {"q": q.text, "kind": p.kind, "value": p.value, "gold": q.value if q.value is not None else
                     list(q.answers)[:5], "got": [a.name for a in p.answers[:5]], "reading": p.reading, "note": p.note}
                    for q, p in zip(qs, preds, strict=True)
                    if score(p.value, [a.entity_id for a in p.answers], q)[0] < 1
                ][:40]
            for k, v in table.items():
                rows.append((group, name, k, v["n"], v["hits@1"], v["f1"], v["kind read right"]))
        result["groups"][group] = res_group
    if args.validation >= 0:
        sys.path.append(str(ROOT / "bench"))
        import any_graph as ag

        from qa.eval.evaluate import evaluate

        _, val = ag.questions_of(ag.DATASETS["metaqa"])
        if args.validation:
            val = [val[i] for i in np.random.default_rng(0).permutation(len(val))[: args.validation]]
        result["metaqa_validation"] = {}
        for name, ans in (("composed", kinds), ("path only", base)):
            rep = evaluate(ans, val, strip_brackets=True)
            result["metaqa_validation"][name] = {
                "hits@1": round(100 * rep.overall.hits[1], 2), "n": rep.overall.questions,
                "by_hop": {k: round(100 * v.hits[1], 2) for k, v in sorted(rep.by_hop.items())}}
    print(f"{'phrasing':9} {'answerer':15} {'kind':13} {'n':>4} {'Hits@1':>7} {'F1':>6} {'kind ok':>7}")
    for g, n, k, c, h, f, r in rows:
        print(f"{g:9} {n:15} {k:13} {c:4d} {h:7.1f} {f:6.1f} {r:7.1f}")
    for g, v in result["groups"].items():
        print(f"{g}: cypher replay {v['composed']['cypher_replay']}; ms/question composed "
              f"{v['composed']['ms_per_question']:.1f}, path only {v['path only']['ms_per_question']:.1f}")
    if "metaqa_validation" in result:
        print("MetaQA validation as typed:", json.dumps(result["metaqa_validation"]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
