"""QA benchmark: the KG-fused model, its ablations and the template baseline on MetaQA validation.

Variants (one config, ``fusion.mode`` changed): ``full`` (GNN + token↔node cross-attention +
question-conditioned message passing), ``no_gnn`` (static name features, same cross-attention and
message passing), ``no_graph`` (no GNN, no cross-attention, no message passing: each candidate's
name embedding scored against the question). A variant is trained (``--train``, or when its
checkpoint is missing) under ``--budget-minutes`` and then evaluated with the shared harness
(:func:`qa.eval.evaluate.evaluate`) on the fixed validation questions, with the topic in brackets and,
for the full model and the baseline, with the brackets stripped (the linker finds the topic) on a
sample. ``--templates`` also trains the full model on the seen templates only and scores the
held-out 20% of templates. Latency: questions asked one at a time, end to end (link, retrieve,
encode, score), with ``torch.set_num_threads(1)``; throughput: all questions in one call.

    .venv/bin/python bench/qa.py --config configs/metaqa.json [--train] [--templates]

Prints a markdown table and writes ``bench/results/qa.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from qa.answer.answerer import load_answerer
from qa.data.questions import Question
from qa.eval.evaluate import evaluate, latency
from qa.train.qa import TrainConfig, split_questions, train

VARIANTS = ("full", "no_gnn", "no_graph")


def checkpoint_dir(base: str, variant: str) -> str:
    return base if variant == "full" else f"{base}-{variant}"


def ensure_trained(cfg: TrainConfig, variant: str, force: bool, budget: float | None, split: str = "validation",
                   suffix: str = "") -> dict[str, Any]:
    """Train ``variant`` unless its checkpoint exists (or ``force``); returns its saved report."""
    out = checkpoint_dir(cfg.output_dir, variant) + suffix
    if force or not (Path(out) / "config.json").exists():
        c = TrainConfig(**{**cfg.__dict__, "output_dir": out, "split": split, "progress": False})
        c.fusion = type(cfg.fusion).from_dict({**cfg.fusion.to_dict(), "mode": variant})
        if budget is not None:
            c.budget_minutes = budget
        log(f"training {variant} ({split}) -> {out}")
        train(c)
    return json.loads((Path(out) / "config.json").read_text())["report"]


def sample(qs: list[Question], n: int) -> list[Question]:
    if n <= 0 or n >= len(qs):
        return qs
    step = len(qs) / n
    return [qs[int(i * step)] for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/metaqa.json")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--train", action="store_true", help="retrain every variant even if its checkpoint exists")
    ap.add_argument("--budget-minutes", type=float, default=None, help="training budget per variant")
    ap.add_argument("--templates", action="store_true", help="also the unseen-template protocol (one more training)")
    ap.add_argument("--strip-sample", type=int, default=600, help="questions asked without brackets (0: all)")
    ap.add_argument("--latency", type=int, default=100, help="questions timed one at a time")
    ap.add_argument("--eval-sample", type=int, default=0, help="validation questions evaluated (0: all)")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--throughput-runs", type=int, default=3,
                    help="batched timings of the full model on all validation questions (median reported)")
    ap.add_argument("--batch-threads", type=int, default=os.cpu_count() or 1,
                    help="torch threads for the batched runs (latency always uses 1)")
    ap.add_argument("--out", default="bench/results/qa.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = TrainConfig.load(args.config)
    _, val, _ = split_questions(cfg)
    val = sample(val, args.eval_sample)
    stripped = sample(val, args.strip_sample)
    previous = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    results: dict[str, Any] = previous.get("results", {})       # a run of some variants updates theirs
    table_rows: dict[str, list[list[str]]] = previous.get("table", {})
    rows: list[list[str]] = []
    trained: dict[str, Any] = {}
    linker_source = None
    for variant in [v for v in args.variants.split(",") if v]:
        trained[variant] = ensure_trained(cfg, variant, args.train, args.budget_minutes)
        answerer = load_answerer(checkpoint_dir(cfg.output_dir, variant))
        answerer.predict(val[:8], strip_brackets=True)                  # warm up (models, linker, NER)
        reports = {"brackets": timed(answerer, val, False, f"{variant}, brackets",
                                     args.latency if variant == "full" else 0, args.batch_threads,
                                     args.throughput_runs if variant == "full" else 1)}
        if variant == "full":
            reports["stripped"] = timed(answerer, stripped, True, f"{variant}, stripped", args.latency,
                                        args.batch_threads)
            # as a user types it: no brackets and no hop count (hops are latent in the model)
            typed = [Question(q.text, q.answers, q.topic, None, q.source) for q in stripped]
            rep = timed(answerer, typed, True, f"{variant}, as typed", 0, args.batch_threads)
            rep.by_hop = _by_true_hop(rep, stripped)
            reports["typed"] = rep
        results[variant] = {"train": trained[variant], **{k: r.to_json() for k, r in reports.items()}}
        table_rows[variant] = []
        for key, r in reports.items():
            table_rows[variant].append(_row(f"fusion {variant}", key, r, trained[variant]))
            log(table_rows[variant][-1])
        linker_source = answerer
    if not args.no_baseline:
        results["template_baseline"] = _baseline(cfg, val, stripped, args.latency, rows, linker_source,
                                                  args.batch_threads)
        table_rows["template_baseline"] = rows[:]
    if args.templates:
        rep = ensure_trained(cfg, "full", args.train, args.budget_minutes, split="templates", suffix="-templates")
        results["unseen_templates"] = rep
        t = rep.get("test") or {}
        table_rows["unseen_templates"] = [["fusion full, unseen templates", "brackets", str(t.get("questions", "")),
                     *(_pct(t.get(f"hits@1/{h}-hop")) for h in (1, 2, 3)), _pct(t.get("hits@1")), "", "", "",
                     f"{rep['train_seconds'] / 60:.1f}", ""]]
    payload = {
        "meta": {"config": args.config, "train_config": cfg.to_dict(), "validation_questions": len(val),
                 "stripped_questions": len(stripped), "latency_sample": args.latency,
                 "threads": {"batched": args.batch_threads, "latency": 1},
                 "python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
                 "date": time.strftime("%Y-%m-%d %H:%M"),
                 "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                 "peak_rss_mb_by_variant": {**previous.get("meta", {}).get("peak_rss_mb_by_variant", {}),
                                            **{v: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                                               for v in trained}},
                 "load_average_at_end": os.getloadavg(),
                 "note": "2 CPU cores; see load_average_at_end for how busy the machine was"},
        "results": results,
        "table": table_rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(payload, indent=1, ensure_ascii=False, default=str))
    head = ["answerer", "topic", "questions", "Hits@1 1-hop", "Hits@1 2-hop", "Hits@1 3-hop", "Hits@1", "F1",
            "q/s batched", "p50 ms alone", "train min", "Hits@1 all validation (trainer)"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for key in ("full", "no_gnn", "no_graph", "template_baseline", "unseen_templates"):
        for row in table_rows.get(key, []):
            print("| " + " | ".join(row) + " |")
    print(f"\npeak RSS {payload['meta']['peak_rss_mb']:.0f} MB; wrote {args.out}")


def timed(answerer: Any, qs: list[Question], strip: bool, name: str, latency_sample: int, threads: int,
          runs: int = 1) -> Any:
    """Evaluate batched with ``threads`` torch threads (all cores), re-time the batched predictions
    ``runs - 1`` more times (the report keeps the median time: this machine is noisy), then time
    ``latency_sample`` questions one at a time with one thread."""
    torch.set_num_threads(threads)
    rep = evaluate(answerer, qs, strip_brackets=strip, name=name)
    seconds = [rep.seconds]
    for _ in range(runs - 1):
        start = time.perf_counter()
        answerer.predict(qs, strip_brackets=strip)
        seconds.append(time.perf_counter() - start)
    rep.seconds = statistics.median(seconds)
    rep.name += f" (batched time: median of {len(seconds)})" if len(seconds) > 1 else ""
    torch.set_num_threads(1)
    if latency_sample:
        rep.latency_ms = latency(answerer, qs, latency_sample, strip)
    return rep


def _by_true_hop(rep: Any, questions: list[Question]) -> dict[str, Any]:
    """Per-hop metrics of a report on hop-less copies of ``questions``, grouped by their true hop count."""
    from qa.eval.evaluate import Metrics

    groups: dict[str, list[Any]] = {}
    for r, q in zip(rep.results, questions, strict=True):
        groups.setdefault(f"{q.hop}-hop", []).append(r)
    return {k: Metrics.of(v, rep.ks) for k, v in groups.items()}


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.2f}"


def _row(name: str, key: str, r: Any, train_rep: dict[str, Any] | None) -> list[str]:
    hop = {h: r.by_hop[f"{h}-hop"].hits[1] if f"{h}-hop" in r.by_hop else None for h in (1, 2, 3)}
    return [name, key, f"{r.overall.questions:,}", *(_pct(hop[h]) for h in (1, 2, 3)), _pct(r.overall.hits[1]),
            _pct(r.overall.f1), f"{r.questions_per_second:,.0f}",
            f"{r.latency_ms['p50']:.1f}" if r.latency_ms else "",
            f"{train_rep['train_seconds'] / 60:.1f}" if train_rep else "",
            _pct(train_rep["validation"]["hits@1"]) if train_rep and key == "brackets" else ""]


def _baseline(cfg: TrainConfig, val: list[Question], stripped: list[Question], latency_sample: int,
              rows: list[list[str]], answerer: Any = None, threads: int = 1) -> dict[str, Any]:
    from qa.answer.baseline import BaselineConfig, TemplateBaseline

    answerer = answerer or load_answerer(cfg.output_dir)     # the same graph, snapshot and linker
    train_qs, _, _ = split_questions(cfg)
    # The linker's prior is not fitted (fit_linker=False): both answerers link with the same untrained-prior
    # linker (bench/baseline.py measures the baseline with a fitted prior).
    base = TemplateBaseline(answerer.graph.snapshot, answerer.linker, BaselineConfig(fit_linker=False))
    start = time.perf_counter()
    base.fit(train_qs)
    fit_s = time.perf_counter() - start
    out: dict[str, Any] = {"fit_seconds": fit_s}
    for key, qs, strip in (("brackets", val, False), ("stripped", stripped, True)):
        r = timed(base, qs, strip, f"baseline, {key}", latency_sample, threads)
        out[key] = r.to_json()
        rows.append(_row("template baseline", key, r, None))
        log(rows[-1])
    return out


def log(x: Any) -> None:
    print(x, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
