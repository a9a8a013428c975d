"""Template-lookup baseline on MetaQA: Hits@1 per hop, brackets given and stripped, seen and unseen wording.

The MetaQA KB is loaded into an embedded store in a temporary folder; a graph snapshot and an
entity linker are built over it. Two protocols, on the dev questions of every hop:

* **validation**: the baseline (and the linker's prior) is fitted on the training part of each
  hop's file (``split_validation``: 90%) and evaluated on the held-out 10%;
* **unseen templates**: fitted on the questions of the seen templates (``split_templates``: 80%
  of the templates) and evaluated on the questions of the other 20%, whose wording it never saw.

Each is evaluated with the topic in ``[brackets]`` and with the brackets stripped (the linker
finds the topic). Prints a markdown table and writes JSON with every report (per hop and per
question type, the relation path of the template), fit times, batched throughput (all the
questions of a protocol in one call) and the latency of questions asked one at a time.

    python bench/baseline.py [--latency 300] [--limit N] [--out bench/results/baseline.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
METAQA = ROOT.parent / "shared" / "data" / "metaqa"

from kg.ingest import ingest  # noqa: E402
from kg.linking import Linker  # noqa: E402
from kg.store.embedded import EmbeddedStore  # noqa: E402
from qa.answer.baseline import BaselineConfig, TemplateBaseline  # noqa: E402
from qa.data.questions import Question, load_questions, split_templates, split_validation  # noqa: E402
from qa.eval.evaluate import EvalReport, evaluate, markdown  # noqa: E402
from retrieval.snapshot import GraphSnapshot  # noqa: E402

HOPS = (1, 2, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kb", default=str(METAQA / "kb.txt"))
    ap.add_argument("--questions", default=str(METAQA / "{hop}-hop" / "qa_dev.txt"),
                    help="question file pattern with {hop}")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N questions per hop (quick runs)")
    ap.add_argument("--latency", type=int, default=300, help="questions timed one at a time per evaluation")
    ap.add_argument("--per-template", type=int, default=BaselineConfig.questions_per_template,
                    help="training questions searched per template")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "baseline.json"))
    args = ap.parse_args()

    by_hop = {hop: load_questions(args.questions.format(hop=hop), hop=hop, limit=args.limit or None) for hop in HOPS}
    splits = {"validation": {h: split_validation(qs) for h, qs in by_hop.items()},
              "unseen templates": {h: split_templates(qs) for h, qs in by_hop.items()}}
    config = BaselineConfig(questions_per_template=args.per_template)
    reports: dict[str, dict[str, EvalReport]] = {}
    fits: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = EmbeddedStore(Path(tmp) / "graph")
        start = time.perf_counter()
        ingest(store, args.kb, progress=False)
        load_s = time.perf_counter() - start
        start = time.perf_counter()
        snapshot = GraphSnapshot.from_store(store)
        snapshot_s = time.perf_counter() - start
        linker = Linker.from_store(store, cache_dir=Path(tmp) / "linker")
        store.close()
        log(f"graph: {snapshot!r} (load {load_s:.1f} s, snapshot {snapshot_s:.1f} s, "
            f"linker index {linker.index.seconds:.1f} s)")
        entities = set(snapshot.node_ids)
        typer: TemplateBaseline | None = None
        for protocol, parts in splits.items():
            train = [q for h in HOPS for q in parts[h][0]]
            test = [q for h in HOPS for q in parts[h][1]]
            baseline = TemplateBaseline(snapshot, linker, config)
            fit = baseline.fit(train)
            log(f"{protocol}: {fit.summary()}")
            fits[protocol] = {"train_questions": len(train), "test_questions": len(test), "templates": fit.templates,
                              "questions_searched": fit.searched, "templates_without_path": len(fit.no_path),
                              "path_search_seconds": round(fit.seconds, 2),
                              "linker_prior_seconds": round(fit.linker_seconds, 2),
                              "test_templates_seen_in_training": _seen_share(baseline, test)}
            typer = typer or baseline     # the validation fit has seen (nearly) every template: it names the types
            reports[protocol] = {}
            for strip in (False, True):
                key = "stripped" if strip else "brackets"
                report = evaluate(baseline, test, strip_brackets=strip, question_type=_types(typer),
                                  entities=entities, latency_sample=args.latency, name=f"{protocol}, {key}")
                reports[protocol][key] = report
                log(f"  {key}: Hits@1 {100 * report.overall.hits[1]:.1f}, {report.questions_per_second:,.0f} q/s")
            if protocol == "validation":
                baseline.config.evidence_paths = 0
                report = evaluate(baseline, test, question_type=_types(typer), entities=entities,
                                  latency_sample=args.latency, name=f"{protocol}, brackets, no evidence")
                reports[protocol]["brackets, no evidence"] = report

    payload = {
        "meta": {"kb": args.kb, "questions": args.questions, "limit": args.limit, "latency_sample": args.latency,
                 "questions_per_template": args.per_template, "python": platform.python_version(),
                 "cpus": os.cpu_count(), "machine": platform.machine(), "date": time.strftime("%Y-%m-%d %H:%M"),
                 "note": "2 shared CPU cores, busy with other jobs: timings are noisy"},
        "graph": {"nodes": snapshot.num_nodes, "edges": snapshot.num_edges, "load_seconds": round(load_s, 2),
                  "snapshot_seconds": round(snapshot_s, 2)},
        "fit": fits,
        "results": {p: {k: r.to_json() for k, r in rs.items()} for p, rs in reports.items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    print(table(reports))
    print(f"\nwrote {args.out}")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _types(typer: TemplateBaseline) -> Any:
    return lambda q: typer.question_type(q)


def _seen_share(baseline: TemplateBaseline, questions: list[Question]) -> float:
    return round(sum(baseline.question_type(q) is not None for q in questions) / max(1, len(questions)), 4)


def table(reports: dict[str, dict[str, EvalReport]]) -> str:
    head = ["protocol", "topic given", "questions", *(f"Hits@1 {h}-hop" for h in HOPS), "Hits@1", "Hits@5", "MRR",
            "F1", "topic found", "q/s (batched)", "p50 ms (one at a time)"]
    rows = []
    for protocol, rs in reports.items():
        for key, r in rs.items():
            m = r.overall
            rows.append([protocol, key, f"{m.questions:,}",
                         *(f"{100 * r.by_hop[f'{h}-hop'].hits[1]:.1f}" if f"{h}-hop" in r.by_hop else "" for h in HOPS),
                         f"{100 * m.hits[1]:.1f}", f"{100 * m.hits[5]:.1f}", f"{m.mrr:.3f}", f"{100 * m.f1:.1f}",
                         "" if m.topic is None else f"{100 * m.topic:.1f}", f"{r.questions_per_second:,.0f}",
                         f"{r.latency_ms['p50']:.2f}" if r.latency_ms else ""])
    return markdown(head, rows)


if __name__ == "__main__":
    main()
