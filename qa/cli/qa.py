"""``kgqa train``, ``kgqa eval`` and ``kgqa ask``: the KG-fused QA model from the command line.

The model lives beside the store by default (embedded: ``PATH/models/qa``), so after
``kgqa train CONFIG`` a plain ``kgqa ask "who directed Up"`` finds it. ``train`` runs the whole
pipeline: it ingests the config's ``kb`` file into the chosen store (idempotent: a re-run adds
nothing), snapshots the store, precomputes the frozen inputs, trains and writes the checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from kg.errors import ConfigError
from qa.cli.base import MODEL_HELP, Context, _fail_cleanly, _model_dir, load_answerer_for_cli, render_prediction
from qa.resources import config_path


def _config_file(arg: str | None) -> Path | None:
    """The training config a user named: a JSON file's path, or the name of a bundled one (``sample``)."""
    if arg is None:
        return None
    return Path(arg) if Path(arg).is_file() else config_path(arg)


@click.command("train")
@click.argument("config_file", metavar="[CONFIG]", required=False)
@click.option("--kb", "kb", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The graph: a triples or RDF file, ingested into the store first (idempotent). "
                   "Default: the config's kb, else the store as it is.")
@click.option("--questions", "question_files", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Question files to train on ('question<TAB>answer1|answer2', topic in [brackets]); "
                   "repeat for several. Default: the config's.")
@click.option("--synthesise", "synth", type=click.IntRange(min=0), default=None,
              help="Questions synthesised from the graph's relation paths and names to add (with no question "
                   "files: zero-shot training on these alone, 20,000 by default).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Checkpoint folder (default: the config's output_dir, else beside the store; with --resume, "
                   "the resumed folder itself).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="MODEL_DIR",
              help="Fine-tune the model in MODEL_DIR on the graph as it is now: relation types added since it was "
                   "trained are learned, types gone are dropped (see below).")
@click.option("--budget-minutes", type=click.FloatRange(min=0.1), default=None, help="Wall-clock training budget.")
@click.option("--max-steps", type=click.IntRange(min=1), default=None, help="At most this many training steps.")
@click.option("--mode", type=click.Choice(["full", "no_gnn", "no_graph"]), default=None,
              help="Fusion mode (the ablations: no GNN, or no graph at all).")
@click.option("--split", type=click.Choice(["validation", "templates"]), default=None,
              help="validation: a fixed 10% of the questions; templates: train on 80% of the templates, "
                   "score the rest.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Questions read per file (quick runs).")
@click.option("--no-ingest", is_flag=True, help="Train on the store as it is; do not ingest the kb first.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
@_fail_cleanly
def train_command(obj: Context, config_file: str | None, kb: Path | None, question_files: tuple[Path, ...],
                  synth: int | None, out_dir: Path | None, resume_dir: Path | None, budget_minutes: float | None,
                  max_steps: int | None, mode: str | None, split: str | None, limit: int | None, no_ingest: bool,
                  as_json: bool) -> None:
    """Train the KG-fused QA model: ingest the graph, fit the linker, train, save.

    \b
    kgqa train --kb kb.txt --questions train.txt            no config needed
    kgqa train --kb kb.txt                                    zero-shot: questions synthesised from the graph
    kgqa train configs/metaqa.json                            a JSON config (paths relative to it)
    kgqa train sample                                         a bundled config: the sample graph and questions
    kgqa train --resume runs/qa --kb new_facts.txt           adapt a model to the graph as it is now

    The kb is ingested into the store first; training then reads the graph from the store. The
    entity linker's prior is fitted on the training questions' [brackets] and saved beside the
    model, so `kgqa ask` finds topics in plain questions. Prints Hits@1 on the validation
    questions and where the checkpoint (model.safetensors, config.json, log.json, curves.png) went.

    \b
    --resume MODEL_DIR fine-tunes a trained model on the graph as it is now. The graph is the one the
    model was trained on (--kb is ingested into it first) unless --store/--path/--uri/--config or
    $KGQA_STORE/$KGQA_STORE_PATH name another. Relation types are matched by name: weights of kept types
    carry over, added types start from the mean of the known ones, gone types are dropped. It trains on
    the model's own question files (or --questions) and, when types were added, on 2,000 questions about
    them synthesised from the graph (or --synthesise N), so the new types get questions; budget, steps and
    the rest of the settings are the model's own unless given. MODEL_DIR (or --out) is replaced only once
    training has finished; the model it held stays beside it as MODEL_DIR.previous.
    """
    from kg.ingest import ingest
    from qa.train.qa import TrainConfig, train

    if resume_dir is not None:
        if config_file is not None or mode:
            raise ConfigError("--resume trains the model's own configuration: leave out CONFIG and --mode (--kb, "
                              "--questions, --synthesise, --budget-minutes, --max-steps, --split, --limit apply)")
        _resume(obj, resume_dir, kb, question_files, synth, out_dir, budget_minutes, max_steps, split, limit,
                no_ingest, as_json)
        return
    config = _config_file(config_file)
    cfg = TrainConfig.load(config) if config else TrainConfig()
    explicit_out = config is not None and "output_dir" in json.loads(config.read_text(encoding="utf-8"))
    cfg.output_dir = str(out_dir or (cfg.output_dir if explicit_out else _model_dir(obj.config, "qa")))
    if kb is not None:
        cfg.kb = str(kb)
    if budget_minutes is not None:
        cfg.budget_minutes = budget_minutes
    if max_steps is not None:
        cfg.max_steps = max_steps
    if mode:
        cfg.fusion.mode = mode
    if split:
        cfg.split = split
    if question_files:
        cfg.questions = [str(p) for p in question_files]
    if limit:
        cfg.limit = limit
    if synth is not None:
        cfg.synthesise = synth
    if not cfg.kb and obj.config.backend == "embedded" and not Path(obj.config.path).exists():
        raise ConfigError("no graph to train on: pass --kb FILE (triples or RDF), or ingest one first (kgqa ingest)")
    if not cfg.questions:
        click.echo("no question files: training zero-shot on questions synthesised from the graph's relation paths "
                   "(pass --questions FILE to train on your own)")
    if cfg.kb and not no_ingest:
        with obj.open() as store:
            click.echo(f"ingest {cfg.kb}: " + ingest(store, cfg.kb, progress=False).summary())
    cfg.store = obj.config.public_dict()
    report = train(cfg)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    _print_report(report)
    click.echo(f"wrote {report.output_dir}")


def _print_report(report: Any, labels: dict[str, str] | None = None) -> None:
    """The training report as lines; ``labels``: other names for validation groups."""
    labels = labels or {}
    v = report.validation
    click.echo(f"trained {report.steps:,} steps in {report.train_seconds / 60:.1f} min "
               f"(+{report.prepare_seconds / 60:.1f} min preparing) on {report.train_questions:,} questions"
               + (f" ({report.synthesised:,} synthesised)" if report.synthesised else "")
               + f"; best at step {report.best_step:,}")
    for key in sorted(k for k in v if k.startswith("hits@1/") and k != "hits@1/0-hop"):
        group = key.split("/")[1]
        click.echo(f"  validation Hits@1 {labels.get(group, group)}: {100 * v[key]:.2f}%  (n={v['n/' + group]:,})")
    click.echo(f"  validation Hits@1 all: {100 * v['hits@1']:.2f}%  answer cut-off {report.cutoff:.2f}")
    if report.test:
        click.echo(f"  held-out templates Hits@1: {100 * report.test['hits@1']:.2f}%")
    if report.linker:
        click.echo(f"  linker prior: {report.linker}")


def _store_named() -> bool:
    """Whether the command line (or the environment) names a store, rather than the default one."""
    ctx = click.get_current_context()
    parent = ctx.parent.params if ctx.parent is not None else {}
    return (any(parent.get(k) for k in ("backend", "path", "uri", "config_file"))
            or "KGQA_STORE" in os.environ or "KGQA_STORE_PATH" in os.environ)


def _resume(obj: Context, model_dir: Path, kb: Path | None, question_files: tuple[Path, ...], synth: int | None,
            out_dir: Path | None, budget_minutes: float | None, max_steps: int | None, split: str | None,
            limit: int | None, no_ingest: bool, as_json: bool) -> None:
    """``kgqa train --resume MODEL_DIR`` (see :func:`train_command` and :mod:`qa.train.resume`)."""
    from kg.config import StoreConfig
    from kg.ingest import ingest
    from kg.store import open_store
    from qa.answer.checkpoint import load_config
    from qa.train.resume import ResumeConfig, resume

    trained = load_config(model_dir).get("train", {})
    store: StoreConfig | None = None
    if _store_named() or not (trained.get("store") or trained.get("kb")):
        store = obj.config
    elif trained.get("store"):
        store = StoreConfig.load(None, **trained["store"])
    if store is not None and kb is not None and not no_ingest:
        with open_store(store) as st:
            click.echo(f"ingest {kb}: " + ingest(st, kb, progress=False).summary())
    rc = ResumeConfig(str(model_dir), output_dir=str(out_dir) if out_dir else None,
                      kb=str(kb) if kb else (None if store is not None else trained.get("kb")),
                      store=store.public_dict() if store is not None else None,
                      questions=[str(p) for p in question_files] or None, synthesise=synth,
                      budget_minutes=budget_minutes, max_steps=max_steps, limit=limit, split=split)
    report = resume(rc)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    click.echo(f"resumed {report.model_dir}: {report.summary}")
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    about = report.train.validation.get("n/synth") and report.relations["added"]
    _print_report(report.train, {"synth": f"synthesised about {', '.join(about)}"} if about else {})
    click.echo(f"wrote {report.output_dir}" + (f" (the model it held: {report.previous})" if report.previous else ""))


@click.command("eval")
@click.argument("question_files", metavar="QUESTIONS_FILE...", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", "model_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help=MODEL_HELP)
@click.option("--strip-brackets", is_flag=True, help="Remove the [topic] brackets: the linker must find the topic.")
@click.option("--by", type=click.Choice(["hop", "type"]), default="hop", show_default=True,
              help="Rows of the table: per hop count, or per question type (template).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Questions read per file.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the report (with every question's result) as JSON here.")
@click.pass_obj
@_fail_cleanly
def eval_command(obj: Context, question_files: tuple[Path, ...], model_dir: Path | None, strip_brackets: bool,
                 by: str, limit: int | None, json_out: Path | None) -> None:
    """Score the QA model on QUESTIONS_FILE(s) ('question<TAB>answer1|answer2' lines, MetaQA format):
    Hits@1, Hits@5, MRR and answer-set F1, per hop (or type) and overall.

    The model is never told a question's hop count; a folder named like '2-hop' in a file's path
    only groups the rows of the table."""
    from qa.data.questions import load_questions
    from qa.eval.evaluate import evaluate

    questions = [q for p in question_files for q in load_questions(p, limit=limit)]
    answerer = load_answerer_for_cli(model_dir or _model_dir(obj.config, "qa"))
    report = evaluate(answerer, questions, strip_brackets=strip_brackets,
                      name=", ".join(str(p) for p in question_files)
                      + (" (brackets stripped)" if strip_brackets else ""),
                      entities=answerer.graph.snapshot.index_of)
    click.echo(report.table(by=by))
    click.echo(f"{report.overall.questions:,} questions, {report.questions_per_second:,.0f} questions/s")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.to_json(per_question=True), indent=1, ensure_ascii=False))
        click.echo(f"wrote {json_out}")


@click.command("ask")
@click.argument("question")
@click.option("--model", "model_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help=MODEL_HELP)
@click.option("-k", "shown", type=click.IntRange(min=1), default=5, show_default=True,
              help="Ranked candidates shown after the answers.")
@click.option("--json", "as_json", is_flag=True, help="Print the prediction (answers, evidence, Cypher) as JSON.")
@click.pass_obj
@_fail_cleanly
def ask_command(obj: Context, question: str, model_dir: Path | None, shown: int, as_json: bool) -> None:
    """Answer QUESTION with the trained QA model: answers, the paths that support each, and Cypher.

    Put the topic entity in [brackets] to skip linking ("who directed [Up]"); otherwise the
    linker finds it.
    """
    from qa.data.questions import question_from_text
    from qa.kinds.answer import KindAnswerer

    answerer = KindAnswerer(load_answerer_for_cli(model_dir or _model_dir(obj.config, "qa")))
    q = question_from_text(question)
    [pred] = answerer.predict([q])
    if as_json:
        click.echo(json.dumps(pred.to_dict(), indent=2, ensure_ascii=False))
        return
    click.echo(render_prediction(pred, answerer.graph.snapshot, shown))
