"""Any graph: the QA model trained on each dataset's questions, trained zero-shot on questions
synthesised from the graph alone, and the template-lookup baseline, all asked as a user types.

"As typed": the questions' [brackets] are removed (the entity linker finds the topic, with the prior
``kgqa train`` fitted on the training questions; the zero-shot model fits it on the synthesised ones)
and no hop count is given anywhere: the model reads none and learns which step answers. A folder name
such as ``2-hop`` only groups the rows of the tables. The "brackets" column (topic given) is an
ablation that uses gold information.

Datasets (development copies beside the repository, never copied into it):

- ``pq2``, ``pq3``: PathQuestion PQ-2H / PQ-3H: train on ``qa_train.txt``, score ``qa_dev.txt``;
- ``metaqa``: MetaQA dev questions of every hop count: train on all but the fixed validation part
  (:func:`qa.data.questions.split_validation`), score that part.

Models: ``supervised`` (the dataset's training questions), ``zero_shot`` (questions synthesised from
the graph alone), ``mixed`` (the training questions and ``--synthesise`` synthesised ones together: what
:mod:`qa.kinds` reads best, since its held-out kind questions name sets in the graph's own words),
``baseline`` (template lookup), and ``templates``: the unseen-template split, trained
on the questions of 80% of the templates (:func:`qa.data.questions.split_templates`) and scored, as
typed, on every question of the other 20% (MetaQA; on PathQuestion nearly every question is its own
template, so the split says little there).

    .venv/bin/python bench/any_graph.py [--datasets pq2,pq3,metaqa] [--budget-minutes M]
                                        [--models supervised,zero_shot,baseline]

Prints a markdown table, the wrong answers by kind, and writes ``bench/results/any_graph.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from kg.config import StoreConfig  # noqa: E402
from kg.ingest import ingest  # noqa: E402
from kg.store import open_store  # noqa: E402
from qa.answer.answerer import load_answerer  # noqa: E402
from qa.data.questions import Question, load_questions, split_templates, split_validation  # noqa: E402
from qa.eval.evaluate import EvalReport, evaluate, latency  # noqa: E402
from qa.train.qa import TrainConfig, train  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


@dataclass
class Dataset:
    kb: Path
    train: list[Path]
    eval: list[Path] | None            # None: the fixed validation part of the training files


DATASETS = {
    "pq2": Dataset(DATA / "pathquestion/PQ-2H/kb.txt", [DATA / "pathquestion/PQ-2H/qa_train.txt"],
                   [DATA / "pathquestion/PQ-2H/qa_dev.txt"]),
    "pq3": Dataset(DATA / "pathquestion/PQ-3H/kb.txt", [DATA / "pathquestion/PQ-3H/qa_train.txt"],
                   [DATA / "pathquestion/PQ-3H/qa_dev.txt"]),
    "metaqa": Dataset(DATA / "metaqa/kb.txt", [DATA / f"metaqa/{h}-hop/qa_dev.txt" for h in (1, 2, 3)], None),
}
MODELS = ("supervised", "mixed", "zero_shot", "baseline", "templates")


def questions_of(ds: Dataset) -> tuple[list[Question], list[Question]]:
    """(train, eval): training questions carry no hop count; eval questions keep the folder's for grouping."""
    if ds.eval is None:
        train_qs, eval_qs = [], []
        for p in ds.train:
            tr, va = split_validation(load_questions(p))
            train_qs += tr
            eval_qs += va
    else:
        train_qs = [q for p in ds.train for q in load_questions(p)]
        eval_qs = [q for p in ds.eval for q in load_questions(p)]
    return [replace(q, hop=None) for q in train_qs], eval_qs


def unseen_templates(ds: Dataset) -> list[Question]:
    """The questions of the held-out 20% of the templates, of every training file (hop kept for grouping)."""
    return [q for p in ds.train for q in split_templates(load_questions(p))[1]]


def errors_by_kind(report: EvalReport, examples: int = 4) -> dict[str, Any]:
    """Wrong answers (Hits@1 misses) by kind: the linker missed the topic, nothing was ranked, or the
    topic was right and another entity ranked first."""
    kinds: dict[str, list[str]] = {"wrong or no topic": [], "nothing ranked": [], "right topic, wrong answer": []}
    for r in report.results:
        if r.hits(1):
            continue
        if r.topic_ok is False:
            kinds["wrong or no topic"].append(r.question)
        elif r.empty:
            kinds["nothing ranked"].append(r.question)
        else:
            kinds["right topic, wrong answer"].append(f"{r.question} -> {', '.join(r.predicted[:2]) or '-'}")
    return {k: {"count": len(v), "examples": v[:examples]} for k, v in kinds.items()}


def score(name: str, answerer: Any, eval_qs: list[Question], entities: Any, lat_n: int) -> dict[str, Any]:
    typed = evaluate(answerer, eval_qs, strip_brackets=True, entities=entities, name=f"{name}, as typed")
    brackets = evaluate(answerer, eval_qs, strip_brackets=False, entities=entities, name=f"{name}, brackets")
    out = {"typed": _lean(typed.to_json()), "brackets": _lean(brackets.to_json()), "errors": errors_by_kind(typed),
           "questions_per_second": round(typed.questions_per_second, 1)}
    if lat_n:
        out["latency_ms"] = latency(answerer, eval_qs, lat_n, True)
    return out


def _lean(report: dict[str, Any]) -> dict[str, Any]:
    """A report without its per-template rows (thousands on PathQuestion, whose wording varies per question)."""
    return {k: v for k, v in report.items() if k != "by_type"}


def run_dataset(key: str, ds: Dataset, args: argparse.Namespace, previous: dict[str, Any]) -> dict[str, Any]:
    work = Path(args.work) / key
    store = StoreConfig(backend="embedded", path=str(work / "graph"))
    with open_store(store) as s:
        log(f"[{key}] {ingest(s, ds.kb, progress=False).summary()}")
    train_qs, eval_qs = questions_of(ds)
    log(f"[{key}] {len(train_qs):,} training questions, {len(eval_qs):,} scored")
    out: dict[str, Any] = {"train_questions": len(train_qs), "eval_questions": len(eval_qs)}
    answerer = None
    for model in args.models:
        if model == "baseline":
            continue
        folder = work / model
        cfg = TrainConfig(store=store.public_dict(), output_dir=str(folder), cache_dir=str(work / "cache"),
                          budget_minutes=args.budget_minutes, seed=args.seed, progress=False,
                          questions=[])                 # no question files: zero-shot, synthesised questions
        scored = eval_qs
        if model in ("supervised", "mixed", "templates"):
            # the dataset's own files: training splits off the same fixed validation part that is scored
            # for MetaQA (its folder names only group the validation figures; the model reads no hop count)
            cfg.questions = [str(p) for p in ds.train]
        if model == "mixed":
            cfg.synthesise = args.synthesise
        if model == "templates":    # trained on the seen templates, scored on all questions of the others
            cfg.split = "templates"
            scored = unseen_templates(ds)
        before = previous.get(model, {}).get("train")
        if args.reuse and before and (folder / "model.safetensors").exists():
            trained = before                  # score the checkpoint of an earlier run again (answerer changes)
            log(f"[{key}] {model}: reusing the checkpoint in {folder}")
        else:
            start = time.perf_counter()
            report = train(cfg)
            wall = time.perf_counter() - start
            log(f"[{key}] {model}: {report.steps} steps, {report.train_seconds / 60:.1f} min training, "
                f"{wall / 60:.1f} min in all; validation Hits@1 {report.validation['hits@1']:.4f}")
            trained = {"steps": report.steps, "best_step": report.best_step,
                       "train_seconds": round(report.train_seconds, 1),
                       "prepare_seconds": round(report.prepare_seconds, 1), "wall_seconds": round(wall, 1),
                       "train_questions": report.train_questions, "validation": report.validation}
        answerer = load_answerer(folder)
        answerer.predict(scored[:4], strip_brackets=True)       # warm up (linker index, NER)
        out[model] = {"train": trained,
                      "scored_questions": len(scored),
                      **score(model, answerer, scored, answerer.graph.snapshot.index_of, args.latency)}
        log(f"[{key}] {model}: as typed Hits@1 {out[model]['typed']['overall']['hits@1']:.4f}")
    if "baseline" in args.models:
        from qa.answer.baseline import BaselineConfig, TemplateBaseline

        ref = answerer or load_answerer(work / "supervised")
        base = TemplateBaseline(ref.graph.snapshot, ref.linker, BaselineConfig(fit_linker=False))
        start = time.perf_counter()
        base.fit(train_qs)
        out["baseline"] = {"train": {"fit_seconds": round(time.perf_counter() - start, 1)},
                           **score("baseline", base, eval_qs, ref.graph.snapshot.index_of, args.latency)}
    return out


def table(results: dict[str, Any]) -> str:
    head = ["dataset", "model", "as typed Hits@1 by hop", "as typed Hits@1", "brackets Hits@1 (ablation)",
            "training", "steps", "p50 ms"]
    rows = []
    for key, res in results.items():
        for model in MODELS:
            if model not in res:
                continue
            r = res[model]
            hops = ", ".join(f"{h}: {100 * m['hits@1']:.1f}" for h, m in sorted(r["typed"]["by_hop"].items())
                             if h != "?")
            tr = r["train"]
            when = (f"{tr['train_seconds'] / 60:.1f} min (+{tr['prepare_seconds'] / 60:.1f} prep)"
                    if "train_seconds" in tr else f"fit {tr['fit_seconds']:.0f} s")
            rows.append([key, model, hops or "-", f"{100 * r['typed']['overall']['hits@1']:.2f}",
                         f"{100 * r['brackets']['overall']['hits@1']:.2f}", when, str(tr.get("steps", "-")),
                         f"{r['latency_ms']['p50']:.1f}" if "latency_ms" in r else "-"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="pq2,pq3,metaqa")
    ap.add_argument("--models", default="supervised,zero_shot,baseline", help=f"some of {','.join(MODELS)}")
    ap.add_argument("--budget-minutes", type=float, default=40.0, help="training budget per model")
    ap.add_argument("--synthesise", type=int, default=6000,
                    help="synthesised questions added to the training questions for the mixed model")
    ap.add_argument("--latency", type=int, default=50, help="questions timed one at a time (0: none)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--work", default=".kgqa/bench/any_graph", help="stores, caches and checkpoints")
    ap.add_argument("--out", default="bench/results/any_graph.json")
    ap.add_argument("--reuse", action="store_true",
                    help="score the checkpoints of an earlier run again, no training (after an answerer change)")
    ap.add_argument("--speed-only", action="store_true",
                    help="time the trained supervised checkpoints only (no training): p50 alone, q/s batched")
    args = ap.parse_args()
    args.models = [m for m in args.models.split(",") if m]
    if args.speed_only:
        return speed(args)
    torch.set_num_threads(args.threads)
    out_path = Path(args.out)
    previous = json.loads(out_path.read_text()) if out_path.exists() else {}
    results: dict[str, Any] = previous.get("results", {})     # a run of some datasets updates theirs
    for key in [d for d in args.datasets.split(",") if d]:
        if key not in DATASETS:
            raise SystemExit(f"unknown dataset {key!r}; choose from {', '.join(DATASETS)}")
        results[key] = {**results.get(key, {}), **run_dataset(key, DATASETS[key], args, results.get(key, {}))}
    if out_path.exists():      # another run (other datasets) may have written since this one started
        results = {**json.loads(out_path.read_text()).get("results", {}),
                   **{k: v for k, v in results.items() if k in args.datasets.split(",")}}
    print(table(results))
    for key, res in results.items():
        for model in MODELS:
            if model in res:
                kinds = ", ".join(f"{k} {v['count']}" for k, v in res[model]["errors"].items())
                print(f"{key} {model} misses: {kinds}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps({"command": " ".join(sys.argv), "machine": platform.platform(),
                                    "cores": torch.get_num_threads(), "results": results,
                                    "table": table(results)}, indent=1))


def speed(args: argparse.Namespace) -> None:
    """One question at a time (one torch thread) and all scored questions in one call (``--threads``),
    as typed, for each dataset's trained supervised model; median of 3 batched runs."""
    out: dict[str, Any] = {}
    for key in [d for d in args.datasets.split(",") if d]:
        answerer = load_answerer(Path(args.work) / key / "supervised")
        _, eval_qs = questions_of(DATASETS[key])
        answerer.predict(eval_qs[:8], strip_brackets=True)
        torch.set_num_threads(1)
        alone = latency(answerer, eval_qs, args.latency, True)
        torch.set_num_threads(args.threads)
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            answerer.predict(eval_qs, strip_brackets=True)
            runs.append(len(eval_qs) / (time.perf_counter() - start))
        out[key] = {"alone_ms": alone, "batched_qps": sorted(runs)[1], "batched_runs": runs,
                    "questions": len(eval_qs), "threads": args.threads}
        print(f"{key}: p50 {alone['p50']:.1f} ms alone (p90 {alone['p90']:.1f}), "
              f"{sorted(runs)[1]:.0f} q/s batched on {args.threads} threads (median of 3)")
    Path(args.out).with_name("any_graph_speed.json").write_text(json.dumps(
        {"command": " ".join(sys.argv), "machine": platform.platform(), "results": out}, indent=1))


def log(x: Any) -> None:
    print(x, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
