"""``kgqa demo``, the main job end to end: ingest the sample graph, query it, train the QA model on it, ask.

:func:`run_demo` is its QA part: train the fusion model on the sample graph in a few minutes on the CPU, then ask.

The sample graph (``qa/resources/sample/metaqa_sample.txt``, package data, 5k MetaQA triples) comes with
the MetaQA dev questions whose topic and answers all lie in it (``sample/questions/N-hop/qa_dev.txt`` beside
it, 1,082 questions, CC BY 3.0 like the graph; :func:`sample_questions` rebuilt them). Training reads the
graph from the store the demo ingested it into and uses the bundled config ``sample``
(``qa/resources/configs/sample.json``, a small model)::

    report, asked, predictions, answerer, typed = run_demo(StoreConfig(path=".kgqa/demo"), "runs/qa/demo", seed=7)
    for q, p in zip(asked, predictions): print(q.text, [a.name for a in p.answers], q.answers)
    typed["2-hop"]      # (right, asked): every validation question of that hop count, asked as typed
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kg.config import StoreConfig
from kg.errors import ConfigError
from qa.cli.base import Context, _fail_cleanly, _model_dir, render_prediction, table
from qa.data.questions import Question, load_questions, question_from_text, split_validation
from qa.resources import SAMPLE_GRAPH, SAMPLE_QUESTIONS, config_path
from qa.types import Prediction

if TYPE_CHECKING:
    from qa.train.qa import TrainReport

SAMPLE = SAMPLE_GRAPH
CONFIG = config_path("sample")


def sample_questions(graph_file: str | Path, metaqa_dir: str | Path, out_dir: str | Path) -> list[str]:
    """Question files (one per hop) of the dev questions whose topic and answers are in ``graph_file``."""
    ents: set[str] = set()
    with Path(graph_file).open(encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("|")
            if len(parts) == 3:
                ents.update((parts[0], parts[2]))
    paths = []
    for hop in (1, 2, 3):
        src = Path(metaqa_dir) / f"{hop}-hop" / "qa_dev.txt"
        if not src.is_file():
            raise ConfigError(f"{src} not found: point metaqa_dir at the MetaQA folder with N-hop/qa_dev.txt files")
        keep = [q for q in load_questions(src) if q.topic in ents and all(a in ents for a in q.answers)]
        dst = Path(out_dir) / f"{hop}-hop" / "qa_dev.txt"
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text("".join(f"{q.text}\t{'|'.join(q.answers)}\n" for q in keep), encoding="utf-8")
        paths.append(str(dst))
    return paths


def validation_questions() -> dict[str, list[Question]]:
    """The sample's validation questions (never trained on) by hop count (``"2-hop"``), with their
    brackets: ask them with ``strip_brackets=True`` to type them as a user would (the linker finds the
    topic; the hop count only groups them)."""
    out: dict[str, list[Question]] = {}
    for path in SAMPLE_QUESTIONS:
        for q in split_validation(load_questions(path))[1]:
            out.setdefault(f"{q.hop}-hop", []).append(q)
    return out


def demo_questions(per_hop: int = 1, seed: int = 0) -> list[Question]:
    """``per_hop`` validation questions of each hop count, picked at random with ``seed``, as a user would
    type them: brackets removed and no hop count."""
    rng = random.Random(seed)
    return [Question(question_from_text(q.plain).text, q.answers)
            for qs in validation_questions().values() for q in rng.sample(qs, min(per_hop, len(qs)))]


def typed_hits(answerer: Any) -> dict[str, tuple[int, int]]:
    """Every validation question asked as typed: (right, asked) per hop count, Hits@1 as
    :mod:`qa.eval.evaluate` defines it (the top answer is one of the question's answers)."""
    from qa.eval.evaluate import evaluate

    questions = [q for qs in validation_questions().values() for q in qs]
    report = evaluate(answerer, questions, strip_brackets=True, entities=answerer.graph.snapshot.index_of)
    return {k: (round(m.hits[1] * m.questions), m.questions) for k, m in sorted(report.by_hop.items())}


def run_demo(store: StoreConfig, output_dir: str | Path, per_hop: int = 1, budget_minutes: float | None = None,
             progress: bool = True, seed: int = 0
             ) -> tuple[TrainReport, list[Question], list[Prediction], Any, dict[str, tuple[int, int]]]:
    """Train on the sample graph already ingested into ``store``, then answer every validation question
    from its plain text, as typed; returns the report, ``per_hop`` of those questions of each hop count
    picked at random with ``seed`` (with MetaQA's answers), their predictions (with evidence), the
    answerer and the Hits@1 as typed, (right, asked) per hop count."""
    from qa.answer.answerer import load_answerer
    from qa.train.qa import TrainConfig, train  # torch: only when the demo trains

    cfg = TrainConfig.load(CONFIG)
    cfg.kb, cfg.output_dir, cfg.progress = None, str(output_dir), progress
    cfg.store = store.public_dict()
    cfg.questions = [str(p) for p in SAMPLE_QUESTIONS]
    if budget_minutes is not None:
        cfg.budget_minutes = budget_minutes
    report = train(cfg)
    answerer = load_answerer(output_dir)
    asked = demo_questions(per_hop, seed)
    return report, asked, answerer.predict(asked), answerer, typed_hits(answerer)


@click.command()
@click.option("--source", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=SAMPLE,
              show_default="the bundled MetaQA sample")
@click.option("--qa/--no-qa", "with_qa", default=True, show_default=True,
              help="Also train the QA model on the sample (a few minutes on the CPU) and ask it questions.")
@click.option("--budget-minutes", type=click.FloatRange(min=0.1), default=None,
              help="Training budget (default: the bundled sample config's).")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Seed of the random pick of the validation questions shown (default: a new one, printed; "
                   "give it again to see the same questions).")
@click.option("--per-hop", type=click.IntRange(min=1), default=1, show_default=True,
              help="Validation questions shown per hop count.")
@click.pass_obj
@_fail_cleanly
def demo(obj: Context, source: Path, with_qa: bool, budget_minutes: float | None, seed: int | None,
         per_hop: int) -> None:
    """The main job end to end: ingest the sample graph, query it with Cypher, train the KG-fused QA
    model on it and answer questions with their evidence."""
    from kg.ingest import ingest as run_ingest

    where = obj.config.path if obj.config.backend == "embedded" else obj.config.uri
    click.echo(f"store: {obj.config.backend} ({where})")
    start = time.perf_counter()
    with obj.open() as store:
        report = run_ingest(store, source, progress=False)
        click.echo(report.summary())
        s = store.stats()
        click.echo(f"graph: {s.entities:,} entities, {s.relations:,} relations, "
                   f"{len(s.relation_types)} relation types")
        query = ("MATCH (m:Entity)-[:STARRED_ACTORS]->(a:Entity {name: $actor}) "
                 "MATCH (m)-[:DIRECTED_BY]->(d:Entity) RETURN d.name AS director, count(m) AS films "
                 "ORDER BY films DESC, director LIMIT 5")
        click.echo(f"\nWho directed Tom Hanks most often?\n  {query}")
        result = store.cypher(query, {"actor": "Tom Hanks"})
        click.echo(table(result.columns, result.rows))
    if with_qa:
        out = _model_dir(obj.config, "qa")
        click.echo(f"\nTraining the KG-fused QA model on the sample's questions (bundled config 'sample') -> {out}")
        seed = random.SystemRandom().randrange(1_000_000) if seed is None else seed
        rep, asked, preds, answerer, typed = run_demo(obj.config, out, per_hop=per_hop, budget_minutes=budget_minutes,
                                                      progress=sys.stderr.isatty(), seed=seed)
        v = rep.validation
        click.echo(f"trained {rep.steps:,} steps in {rep.train_seconds:.0f} s; validation Hits@1 "
                   + ", ".join(f"{k} {100 * r / max(1, n):.1f}%" for k, (r, n) in sorted(typed.items()))
                   + " (with the topic given, as training scores it: "
                   + " / ".join(f"{100 * v[k]:.1f}" for k in sorted(v) if k.startswith("hits@1/")) + ")")
        trained_on = sum(len(load_questions(p)) for p in SAMPLE_QUESTIONS) - sum(n for _, n in typed.values())
        click.echo(f"That is the share of the sample's validation questions of each hop count "
                   f"({' / '.join(str(n) for _, n in typed.values())}, held out of training) whose top answer is one "
                   f"of MetaQA's answers, asked as a user types them (no brackets, no hop count), by a model trained "
                   f"for {rep.train_seconds / 60:.1f} minutes on the other {trained_on:,} questions. Some misses "
                   f"cannot be helped: the sample holds 5k of MetaQA's 134k triples, so a few questions' answers "
                   f"cannot be reached in it, and for others it holds more answers than MetaQA lists.")
        click.echo(f"\nAsking {per_hop} of them per hop count, picked at random (--seed {seed}), as typed (no "
                   "brackets: the linker finds the topic; no hop count: the model learned which step answers):")
        for p, q in zip(preds, asked, strict=True):
            click.echo(render_prediction(p, answerer.graph.snapshot, shown=3, max_answers=5))
            click.echo(f"  MetaQA's answer: {', '.join(q.answers[:5])}{' ...' if len(q.answers) > 5 else ''}")
        click.echo(f"\nask your own: kgqa --path {where} ask \"which films did Tom Hanks star in\"")
    click.echo(f"done in {time.perf_counter() - start:.1f} s")
