"""Questions synthesised from a graph file: how many, how fast, and a sample to read.

Reads the triples of ``--kb`` (any format ``kgqa ingest`` reads; relation names normalised as a store
does, ``directed_by`` → ``DIRECTED_BY``), builds a graph snapshot in memory, runs
:func:`qa.data.synthesis.synthesise` and prints: the graph, the time, the questions and relation paths
by hop count and by template, and ``--n`` questions drawn at random with their answers. ``--out``
writes the same as JSON.

    python bench/synth_sample.py --kb ../shared/data/metaqa/kb.txt [--per-path 10 | 200,20,5] [--n 15] [--out FILE]
                                 [--synonyms 3]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kg.ingest import guess_format, make_reader  # noqa: E402
from kg.models import Relation  # noqa: E402
from kg.names import default_name, relation_type  # noqa: E402
from qa.data.synthesis import TEMPLATES, SynthesisConfig, synthesise  # noqa: E402
from retrieval.snapshot import GraphSnapshot  # noqa: E402


def load_snapshot(path: Path) -> GraphSnapshot:
    """The graph of a triples file as a snapshot (ids as the file gives them, names as a store shows them)."""
    ids: dict[str, int] = {}
    rels: dict[str, int] = {}
    src: list[int] = []
    dst: list[int] = []
    typ: list[int] = []
    seen: set[tuple[int, int, int]] = set()
    for rec in make_reader(guess_format(path)).read(path):
        if not isinstance(rec, Relation):
            continue
        edge = (ids.setdefault(rec.head, len(ids)), rels.setdefault(relation_type(rec.type), len(rels)),
                ids.setdefault(rec.tail, len(ids)))
        if edge not in seen:
            seen.add(edge)
            src.append(edge[0])
            typ.append(edge[1])
            dst.append(edge[2])
    node_ids = list(ids)
    return GraphSnapshot.from_arrays(node_ids, [default_name(i) for i in node_ids], list(rels), src, dst, typ)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kb", required=True, help="triples file (kb.txt, TSV, CSV, RDF)")
    ap.add_argument("--max-hops", type=int, default=SynthesisConfig.max_hops)
    ap.add_argument("--per-path", default=str(SynthesisConfig.per_path),
                    help="topics per relation path, or one number per hop count: 200,20,5")
    ap.add_argument("--paths", type=int, default=None, help="most relation paths per hop count")
    ap.add_argument("--phrasings", type=int, default=SynthesisConfig.phrasings)
    ap.add_argument("--max-answers", type=int, default=SynthesisConfig.max_answers)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--synonyms", type=int, default=0,
                    help="other words per relation noun, found by the sentence encoder (kgqa train uses 3)")
    ap.add_argument("--n", type=int, default=15, help="questions to print")
    ap.add_argument("--out", default="", help="write the numbers and the sample as JSON here")
    args = ap.parse_args()

    start = time.perf_counter()
    snapshot = load_snapshot(Path(args.kb))
    load_s = time.perf_counter() - start
    per_path = tuple(int(x) for x in args.per_path.split(","))
    config = SynthesisConfig(max_hops=args.max_hops, per_path=per_path[0] if len(per_path) == 1 else per_path,
                             paths=args.paths,
                             phrasings=args.phrasings, max_answers=args.max_answers, seed=args.seed)
    words: dict[str, tuple[str, ...]] = {}
    if args.synonyms:
        from encoders.text import TextEncoder, TextEncoderConfig
        from qa.data.synonyms import role_synonyms
        from qa.data.synthesis import role_nouns

        words = role_synonyms(role_nouns(snapshot), TextEncoder(TextEncoderConfig()), snapshot.names,
                              per_noun=args.synonyms)
    start = time.perf_counter()
    questions = synthesise(snapshot, config, synonyms=words)
    synth_s = time.perf_counter() - start

    hops = Counter(q.extra["path"].count("/") + 1 for q in questions)
    paths = Counter(q.extra["path"].count("/") + 1 for q in {q.source: q for q in questions}.values())
    templates = Counter(q.extra["template"] for q in questions)
    print(f"{args.kb}: {snapshot!r}, loaded in {load_s:.2f} s")
    if words:
        print("other words: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in words.items()))
    print(f"synthesised {len(questions):,} questions over {sum(paths.values()):,} relation paths in {synth_s:.2f} s\n")
    print("| hops | paths | questions |\n|---:|---:|---:|")
    for k in sorted(hops):
        print(f"| {k} | {paths[k]:,} | {hops[k]:,} |")
    print("\n| template | questions |\n|---|---:|")
    for t in TEMPLATES:
        print(f"| {t} | {templates[t]:,} |")
    sample = random.Random(args.seed).sample(questions, min(args.n, len(questions)))
    print()
    for q in sample:
        more = f" (+{len(q.answers) - 3})" if len(q.answers) > 3 else ""
        print(f"{q.text}\t{'|'.join(q.answers[:3])}{more}\t{q.extra['path']}\t{q.extra['template']}")
    if args.out:
        Path(args.out).write_text(json.dumps({
            "kb": args.kb, "nodes": snapshot.num_nodes, "edges": snapshot.num_edges,
            "relations": snapshot.num_relations, "config": {k: v for k, v in vars(config).items()},
            "load_s": round(load_s, 3), "synthesise_s": round(synth_s, 3), "questions": len(questions),
            "paths_by_hops": dict(sorted(paths.items())), "questions_by_hops": dict(sorted(hops.items())),
            "questions_by_template": dict(templates), "synonyms": words,
            "sample": [{"text": q.text, "answers": list(q.answers), "path": q.extra["path"],
                        "template": q.extra["template"]} for q in sample]}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
