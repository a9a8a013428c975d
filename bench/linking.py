"""Entity-linking benchmark: MetaQA dev questions with the [brackets] removed.

The MetaQA KB is loaded into an embedded store in a temporary folder; a linker is
built over it. The dev questions of every hop are shuffled (``--seed``) and split
into ``--folds`` folds; for each fold a linker prior is trained on the other folds
and links the questions of this one, so every question is answered by a model
that never saw it. Gold is the bracketed entity: strictly, the entity whose id is
the bracketed text (MetaQA ids are names); leniently, any entity with the same
folded name (``lookup_key``), as names that differ only in case are one key.

Prints a table and writes JSON: top-1 accuracy and recall@5 per hop (strict and by
key), the untrained linker for comparison, accuracy with a one-letter typo in the
entity (fuzzy candidates), throughput (questions/s, batched, one process) and the
latency of one question, the MetaQA names that collide, and the linking errors by
type with examples.

    python bench/linking.py [--folds 5] [--seed 0] [--typos 2000] [--latency 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
METAQA = ROOT.parent / "shared" / "data" / "metaqa"

from kg.ingest import ingest  # noqa: E402
from kg.linking import LabeledQuestion, Linker, LinkerConfig, LinkResult, read_questions  # noqa: E402
from kg.linking.questions import misspell  # noqa: E402
from kg.names import lookup_key  # noqa: E402
from kg.store.embedded import EmbeddedStore  # noqa: E402

HOPS = (1, 2, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kb", default=str(METAQA / "kb.txt"))
    ap.add_argument("--questions", default=str(METAQA / "{hop}-hop" / "qa_dev.txt"),
                    help="question file pattern with {hop}")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--typos", type=int, default=2000, help="questions re-linked with a typo in the entity")
    ap.add_argument("--latency", type=int, default=1000, help="questions timed one at a time")
    ap.add_argument("--ner", choices=["auto", "always", "never"], default="auto")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N questions per hop (quick runs)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "linking.json"))
    args = ap.parse_args()

    questions: list[tuple[int, LabeledQuestion]] = []
    for hop in HOPS:
        found = read_questions(args.questions.format(hop=hop))
        questions += [(hop, q) for q in (found[:args.limit] if args.limit else found)]
    order = list(range(len(questions)))
    random.Random(args.seed).shuffle(order)
    fold_of = {q: k % args.folds for k, q in enumerate(order)}

    with tempfile.TemporaryDirectory() as tmp:
        store = EmbeddedStore(Path(tmp) / "graph")
        start = time.perf_counter()
        ingest(store, args.kb, progress=False)
        load_s = time.perf_counter() - start
        config = LinkerConfig(ner=args.ner, seed=args.seed)
        cache = Path(tmp) / "linker"
        linker = Linker.from_store(store, cache_dir=cache, config=config)
        build_s = linker.index.seconds
        cached = Linker.from_store(store, cache_dir=cache, config=config)
        assert cached.index.from_cache
        cached_s = cached.index.seconds
        duplicates = duplicate_names(store, linker, questions)
        stats = store.stats()
        store.close()

    print(f"graph: {stats.entities:,} entities, {stats.relations:,} relations (load {load_s:.1f} s); "
          f"linker index built in {build_s:.1f} s, loaded from cache in {cached_s:.2f} s", file=sys.stderr)

    untrained = linker.link_batch([q.text for _, q in questions])
    results: list[LinkResult | None] = [None] * len(questions)
    fit_s: list[float] = []
    link_s = 0.0
    weights: dict[str, dict[str, float]] = {}
    typo_rows: list[tuple[int, LabeledQuestion, LinkResult]] = []
    typo_budget = args.typos // args.folds
    rng = random.Random(args.seed)
    for fold in range(args.folds):
        train = [q for k, (_, q) in enumerate(questions) if fold_of[k] != fold]
        test = [k for k in range(len(questions)) if fold_of[k] == fold]
        report = linker.fit(train)
        fit_s.append(report.seconds)
        weights = report.weights
        start = time.perf_counter()
        linked = linker.link_batch([questions[k][1].text for k in test])
        link_s += time.perf_counter() - start
        for k, result in zip(test, linked, strict=True):
            results[k] = result
        print(f"  fold {fold + 1}/{args.folds}: trained in {report.seconds:.1f} s, linked {len(test):,} questions "
              f"at {len(test) / (time.perf_counter() - start):,.0f}/s", file=sys.stderr)
        for k in rng.sample(test, min(typo_budget, len(test))):
            hop, q = questions[k]
            typo = misspell(q.text[q.start:q.end], rng)
            if typo is not None:
                text = q.text[:q.start] + typo + q.text[q.end:]
                typo_q = LabeledQuestion(text, q.gold, q.start, q.start + len(typo), q.answers, q.source)
                typo_rows.append((hop, typo_q, linker.link(text)))
    latencies = []
    for k in random.Random(args.seed + 1).sample(range(len(questions)), min(args.latency, len(questions))):
        start = time.perf_counter()
        linker.link(questions[k][1].text)
        latencies.append((time.perf_counter() - start) * 1000)

    final = [r for r in results if r is not None]
    assert len(final) == len(questions)
    per_hop = {hop: score([(q, r) for (h, q), r in zip(questions, final, strict=True) if h == hop]) for hop in HOPS}
    per_hop_untrained = {hop: score([(q, r) for (h, q), r in zip(questions, untrained, strict=True) if h == hop])
                         for hop in HOPS}
    typo_score = {hop: score([(q, r) for h, q, r in typo_rows if h == hop]) for hop in HOPS}
    errors = {
        "cross_validated": categorise([(h, q, r) for (h, q), r in zip(questions, final, strict=True)]),
        "untrained": categorise([(h, q, r) for (h, q), r in zip(questions, untrained, strict=True)]),
        "typo": categorise(typo_rows),
    }
    payload: dict[str, Any] = {
        "meta": {"kb": args.kb, "questions": args.questions, "folds": args.folds, "seed": args.seed,
                 "ner": args.ner, "python": platform.python_version(), "cpus": os.cpu_count(),
                 "machine": platform.machine(), "date": time.strftime("%Y-%m-%d %H:%M")},
        "graph": {"entities": stats.entities, "relations": stats.relations, "load_seconds": load_s,
                  "index_build_seconds": build_s, "index_cached_load_seconds": cached_s},
        "duplicates": duplicates,
        "per_hop": per_hop,
        "per_hop_untrained": per_hop_untrained,
        "typo": {"questions": len(typo_rows), "per_hop": typo_score,
                 "examples": [{"text": q.text, "gold": q.gold, "predicted": r.topic.entity_id if r.topic else None}
                              for _, q, r in typo_rows[:10]]},
        "throughput_questions_per_s": len(questions) / link_s,
        "ner_share": sum(r.ner for r in final) / len(final),
        "fuzzy_share": sum(r.fuzzy for r in final) / len(final),
        "latency_ms": {"p50": statistics.median(latencies), "p95": percentile(latencies, 95),
                       "max": max(latencies), "n": len(latencies)},
        "fit_seconds": fit_s,
        "weights_last_fold": weights,
        "errors": errors,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    print_table(payload)
    print(f"\nwrote {args.out}")


def score(pairs: list[tuple[LabeledQuestion, LinkResult]]) -> dict[str, Any]:
    """Top-1 and recall@5, strict (id) and by key; NIL share."""
    n = len(pairs)
    if not n:
        return {"questions": 0}
    top1 = top1_key = r5 = r5_key = nil = 0
    for q, r in pairs:
        gold_key = lookup_key(q.gold or "")
        topic = r.topic
        if topic is None:
            nil += 1
        else:
            top1 += topic.entity_id == q.gold
            top1_key += lookup_key(topic.candidates[0].name) == gold_key
        top5 = r.ranked[:5]
        r5 += any(c.entity_id == q.gold for c in top5)
        r5_key += any(lookup_key(c.name) == gold_key for c in top5)
    return {"questions": n, "top1": top1 / n, "top1_by_key": top1_key / n, "recall_at_5": r5 / n,
            "recall_at_5_by_key": r5_key / n, "nil": nil / n}


def categorise(rows: list[tuple[int, LabeledQuestion, LinkResult]]) -> dict[str, Any]:
    """Strict top-1 errors by type, with counts per hop and examples."""
    counts: dict[str, Counter[int]] = defaultdict(Counter)
    examples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for hop, q, r in rows:
        topic = r.topic
        if topic is not None and topic.entity_id == q.gold:
            continue
        gold_key = lookup_key(q.gold or "")
        in_candidates = any(c.entity_id == q.gold for c in r.ranked)
        if topic is None:
            kind = "NIL: the marked entity scored below the threshold" if in_candidates else \
                "NIL: the marked entity was no candidate"
        elif not in_candidates:
            kind = "the marked entity was no candidate; another won"
        elif (topic.start, topic.end) == (q.start, q.end):
            if lookup_key(topic.candidates[0].name) == gold_key:
                kind = "right span, another entity with the same folded name (case variant)"
            elif topic.candidates[0].source == "fuzzy":
                kind = "right span, a fuzzy candidate beat the exact one"
            else:
                kind = "right span, another entity (alias)"
        elif topic.start < q.end and q.start < topic.end:
            kind = ("span too long (overlaps the marked one)" if topic.end - topic.start > q.end - q.start
                    else "span too short (inside the marked one)")
        else:
            kind = "another span of the question won"
        counts[kind][hop] += 1
        if len(examples[kind]) < 6:
            examples[kind].append({
                "hop": hop, "question": q.text, "gold": q.gold,
                "predicted": topic.entity_id if topic else None,
                "predicted_span": topic.text if topic else None,
                "mentions": [(m.text, m.entity_id, m.score) for m in r.mentions],
            })
    return {kind: {"count": sum(c.values()), "per_hop": dict(c), "examples": examples[kind]}
            for kind, c in sorted(counts.items(), key=lambda kv: -sum(kv[1].values()))}


def duplicate_names(store: EmbeddedStore, linker: Linker, questions: list[tuple[int, LabeledQuestion]]
                    ) -> dict[str, Any]:
    """How MetaQA's names collide: ids that fold to one key, films merged under one name, and questions affected."""
    table = linker.index.table
    by_key = linker.index.gazetteer.entities
    colliding = {k: v for k, v in by_key.items() if len(v) > 1}
    years = store.cypher("MATCH (m:Entity)-[:RELEASE_YEAR]->(y:Entity) WITH m, count(y) AS n WHERE n > 1 "
                         "RETURN count(m)", limit=1)
    mixed = sum(1 for i in range(len(table)) if {r[1:] for r in table.roles(i) if r[0] == ">"}
                & {r[1:] for r in table.roles(i) if r[0] == "<"})
    ambiguous = sum(1 for _, q in questions if len(by_key.get(lookup_key(q.gold or ""), ())) > 1)
    return {
        "keys_with_several_entities": len(colliding),
        "entities_in_such_keys": sum(len(v) for v in colliding.values()),
        "examples": [[table.ids[i] for i in v] for v in list(colliding.values())[:5]],
        "films_with_several_release_years": int(years.rows[0][0]),
        "entities_both_head_and_tail_of_one_relation": mixed,
        "questions_whose_gold_name_is_ambiguous_by_key": ambiguous,
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def print_table(payload: dict[str, Any]) -> None:
    print(f"\n{'hop':<5} {'questions':>9} {'top-1':>7} {'by key':>7} {'R@5':>7} {'R@5 key':>8} {'NIL':>6} "
          f"{'untrained':>10} {'typo top-1':>11}")
    for hop in HOPS:
        r = payload["per_hop"][hop]
        if not r.get("questions"):
            continue
        u = payload["per_hop_untrained"][hop]
        t = payload["typo"]["per_hop"][hop]
        typo = f"{t['top1']:.2%}" if t.get("questions") else "-"
        print(f"{hop:<5} {r['questions']:>9,} {r['top1']:>7.2%} {r['top1_by_key']:>7.2%} {r['recall_at_5']:>7.2%} "
              f"{r['recall_at_5_by_key']:>8.2%} {r['nil']:>6.2%} {u['top1']:>10.2%} {typo:>11}")
    lat = payload["latency_ms"]
    print(f"\nthroughput {payload['throughput_questions_per_s']:,.0f} questions/s (batched, one process, "
          f"{payload['meta']['cpus']} cores); one question: p50 {lat['p50']:.2f} ms, p95 {lat['p95']:.2f} ms; "
          f"NER ran on {payload['ner_share']:.2%}, fuzzy search on {payload['fuzzy_share']:.2%}")
    d = payload["duplicates"]
    print(f"names: {d['keys_with_several_entities']:,} folded names shared by {d['entities_in_such_keys']:,} entities; "
          f"{d['films_with_several_release_years']:,} films with several release years (merged namesakes); "
          f"{d['questions_whose_gold_name_is_ambiguous_by_key']:,} questions' gold name is ambiguous by key")
    for run, errors in payload["errors"].items():
        print(f"errors ({run.replace('_', '-')}, strict): {sum(e['count'] for e in errors.values()) or 'none'}")
        for kind, e in errors.items():
            print(f"  {e['count']:>5}  {kind}  {e['per_hop']}")


if __name__ == "__main__":
    main()
