"""Subgraph-retrieval benchmark: answer recall, size and latency on MetaQA dev questions.

The MetaQA KB is loaded into an embedded store in a temporary folder and snapshotted
(:class:`retrieval.snapshot.GraphSnapshot`; build, save and load times are reported). For
every question the seed is the bracketed topic entity (the gold one: linking is measured in
``bench/linking.py``) and the question text is the line with the brackets removed. The
questions are embedded once with the TextEncoder (cached under ``--cache``); their encoding
is timed apart, batched and one at a time, without the cache. Then each retriever —
relevance-pruned at each ``--caps`` value, and the unpruned breadth-first search at the same
caps as a baseline — retrieves one question at a time:

* answer recall: share of questions whose gold answers are ALL in the subgraph (and share
  with at least one), and the ceiling: answers that are in the graph at all;
* subgraph size: median and p95 of nodes and edges;
* latency per question after the question embedding (p50 / p95), and throughput.

    python bench/subgraph.py [--hops 1,2,3] [--caps 500,1000,2000] [--limit N] [--stride K]
    python bench/subgraph.py --questions path/to/qa_file.txt --hops 2   # any file of this format
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
METAQA = ROOT.parent / "shared" / "data" / "metaqa"

from encoders.text import TextEncoder, TextEncoderConfig  # noqa: E402
from kg.ingest import ingest  # noqa: E402
from kg.linking import LabeledQuestion, read_questions  # noqa: E402
from kg.store.embedded import EmbeddedStore  # noqa: E402
from retrieval.snapshot import GraphSnapshot  # noqa: E402
from retrieval.subgraph import CosineRelationScorer, SubgraphConfig, SubgraphRetriever  # noqa: E402


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else float("nan")


def load_questions(pattern: str, hops: list[int], limit: int, stride: int) -> dict[int, list[LabeledQuestion]]:
    out: dict[int, list[LabeledQuestion]] = {}
    for hop in hops:
        found = [q for q in read_questions(pattern.format(hop=hop)) if q.gold]
        found = found[::stride]
        out[hop] = found[:limit] if limit else found
    return out


def time_encoding(texts: list[str], single: int) -> dict[str, float]:
    """Question-encoding cost without the cache: batched throughput and one-at-a-time latency."""
    enc = TextEncoder(TextEncoderConfig(cache_dir=None))
    enc.encode(texts[:8])  # warm-up
    start = time.perf_counter()
    enc.encode(texts)
    batch_s = time.perf_counter() - start
    lat = []
    for t in texts[:single]:
        start = time.perf_counter()
        enc.encode([t])
        lat.append((time.perf_counter() - start) * 1000)
    return {"questions": len(texts), "batched_questions_per_s": len(texts) / batch_s,
            "single_ms_p50": statistics.median(lat), "single_ms_p95": percentile(lat, 95), "single_n": len(lat)}


def run(retriever: SubgraphRetriever, questions: list[LabeledQuestion], scores: np.ndarray | None,
        hop: int, in_graph: set[str]) -> dict[str, Any]:
    lat, nodes, edges, all_in, any_in, reachable = [], [], [], 0, 0, 0
    misses: list[dict[str, Any]] = []
    start = time.perf_counter()
    for i, q in enumerate(questions):
        t0 = time.perf_counter()
        sub = retriever.retrieve([str(q.gold)], None, hop, relation_scores=None if scores is None else scores[i])
        lat.append((time.perf_counter() - t0) * 1000)
        got = set(sub.node_ids)
        answers = set(q.answers)
        hit = len(answers & got)
        all_in += hit == len(answers)
        any_in += hit > 0
        reachable += answers <= in_graph
        nodes.append(sub.num_nodes)
        edges.append(sub.num_edges)
        if hit < len(answers) and len(misses) < 5:
            misses.append({"question": q.text, "seed": q.gold, "answers": len(answers), "found": hit})
    total = time.perf_counter() - start
    n = max(len(questions), 1)
    return {
        "questions": len(questions),
        "recall_all": all_in / n, "recall_any": any_in / n, "answers_in_graph": reachable / n,
        "nodes_p50": statistics.median(nodes), "nodes_p95": percentile(nodes, 95),
        "edges_p50": statistics.median(edges), "edges_p95": percentile(edges, 95),
        "latency_ms_p50": statistics.median(lat), "latency_ms_p95": percentile(lat, 95),
        "questions_per_s": len(questions) / total, "misses": misses,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kb", default=str(METAQA / "kb.txt"))
    ap.add_argument("--questions", default=str(METAQA / "{hop}-hop" / "qa_dev.txt"),
                    help="question file; {hop} is replaced by each of --hops")
    ap.add_argument("--hops", default="1,2,3")
    ap.add_argument("--caps", default="500,1000,2000", help="max_nodes values")
    ap.add_argument("--edge-factor", type=float, default=4.0, help="max_edges = edge_factor * max_nodes")
    ap.add_argument("--temperature", type=float, default=SubgraphConfig.temperature)
    ap.add_argument("--hub-damping", type=float, default=SubgraphConfig.hub_damping)
    ap.add_argument("--no-mask", action="store_true", help="score relations against the question as is")
    ap.add_argument("--no-bfs", action="store_true", help="skip the unpruned baseline")
    ap.add_argument("--limit", type=int, default=0, help="first N questions per hop (after --stride)")
    ap.add_argument("--stride", type=int, default=1, help="every K-th question (quick runs)")
    ap.add_argument("--encode-sample", type=int, default=2000, help="questions encoded uncached for timing")
    ap.add_argument("--single", type=int, default=200, help="questions encoded one at a time for timing")
    ap.add_argument("--cache", default=str(ROOT / ".kgqa" / "cache" / "text"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "subgraph.json"))
    args = ap.parse_args()
    hops = [int(h) for h in args.hops.split(",")]
    caps = [int(c) for c in args.caps.split(",")]
    questions = load_questions(args.questions, hops, args.limit, args.stride)

    with tempfile.TemporaryDirectory() as tmp:
        store = EmbeddedStore(Path(tmp) / "graph")
        ingest(store, args.kb, progress=False)
        start = time.perf_counter()
        snap = GraphSnapshot.from_store(store)
        build_s = time.perf_counter() - start
        store.close()
        snap.save(Path(tmp) / "snapshot")
        start = time.perf_counter()
        snap = GraphSnapshot.load(Path(tmp) / "snapshot")
        load_s = time.perf_counter() - start
    print(f"{snap!r}: built from the store in {build_s:.2f} s, loaded from disk in {load_s:.3f} s")
    in_graph = set(snap.node_ids)

    encoder = TextEncoder(TextEncoderConfig(cache_dir=args.cache))
    scorer = CosineRelationScorer(snap.relations, encoder)
    base = SubgraphConfig(temperature=args.temperature, hub_damping=args.hub_damping, mask_seeds=not args.no_mask)
    # What the scorer embeds: the question without the seed's name (config.mask_seeds).
    masker = SubgraphRetriever(snap, base, scorer)
    texts = [masker.scoring_text(q.text, [str(q.gold)]) for hop in hops for q in questions[hop]]
    start = time.perf_counter()
    vectors = encoder.encode(texts)  # (Q, 384)
    cached_encode_s = time.perf_counter() - start
    all_scores = scorer.from_vectors(vectors)  # (Q, R)
    sample = texts[:: max(1, len(texts) // max(args.encode_sample, 1))][: args.encode_sample]
    encoding = time_encoding(sample, args.single) if args.encode_sample else {}
    print(f"question encoding: {encoding}")

    scores: dict[int, np.ndarray] = {}
    offset = 0
    for hop in hops:
        scores[hop] = all_scores[offset: offset + len(questions[hop])]
        offset += len(questions[hop])

    results: list[dict[str, Any]] = []
    methods = ["pruned"] + ([] if args.no_bfs else ["bfs"])
    for method in methods:
        for cap in caps:
            config = replace(base, max_nodes=cap, max_edges=int(args.edge_factor * cap))
            retriever = SubgraphRetriever(snap, config, relation_scorer=scorer)
            for hop in hops:
                row = run(retriever, questions[hop], scores[hop] if method == "pruned" else None, hop, in_graph)
                row.update(method=method, max_nodes=cap, max_edges=config.max_edges, hops=hop)
                results.append(row)
                print(f"  {method:<6} cap {cap:>5} hop {hop}: all {row['recall_all']:.2%} any {row['recall_any']:.2%} "
                      f"nodes {row['nodes_p50']:.0f}/{row['nodes_p95']:.0f} {row['latency_ms_p50']:.2f} ms",
                      flush=True)

    payload: dict[str, Any] = {
        "meta": {"kb": args.kb, "questions": args.questions, "hops": hops, "limit": args.limit,
                 "stride": args.stride, "temperature": args.temperature, "hub_damping": args.hub_damping,
                 "mask_seeds": not args.no_mask,
                 "edge_factor": args.edge_factor, "seeds": "gold bracketed entity",
                 "python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine(),
                 "date": time.strftime("%Y-%m-%d %H:%M")},
        "snapshot": {"nodes": snap.num_nodes, "edges": snap.num_edges, "relations": snap.num_relations,
                     "build_from_store_s": build_s, "load_s": load_s},
        "question_encoding": {**encoding, "cached_all_s": cached_encode_s, "cached_questions": len(texts)},
        "relation_descriptions": dict(zip(snap.relations, scorer.descriptions, strict=True)),
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    print_table(payload)
    print(f"\nwrote {args.out}")


def print_table(payload: dict[str, Any]) -> None:
    print("\n| method | max nodes | hops | questions | recall (all answers) | recall (any) | nodes p50 / p95 "
          "| edges p50 / p95 | latency ms p50 / p95 | questions/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in payload["results"]:
        print(f"| {r['method']} | {r['max_nodes']} | {r['hops']} | {r['questions']:,} | {r['recall_all']:.2%} "
              f"| {r['recall_any']:.2%} | {r['nodes_p50']:.0f} / {r['nodes_p95']:.0f} "
              f"| {r['edges_p50']:.0f} / {r['edges_p95']:.0f} | {r['latency_ms_p50']:.2f} / {r['latency_ms_p95']:.2f} "
              f"| {r['questions_per_s']:,.0f} |")
    enc = payload["question_encoding"]
    if "batched_questions_per_s" in enc:
        print(f"\nquestion encoding (uncached): {enc['batched_questions_per_s']:,.0f} questions/s batched; "
              f"one at a time p50 {enc['single_ms_p50']:.1f} ms, p95 {enc['single_ms_p95']:.1f} ms")
    s = payload["snapshot"]
    print(f"snapshot: {s['nodes']:,} nodes, {s['edges']:,} edges; from store {s['build_from_store_s']:.2f} s, "
          f"load {s['load_s']:.3f} s")


if __name__ == "__main__":
    main()
