"""``kgqa train``, ``kgqa eval`` and ``kgqa ask``: the KG-fused QA model from the command line.

The model lives beside the store by default (embedded: ``PATH/models/qa``), so after
``kgqa train CONFIG`` a plain ``kgqa ask "who directed Up"`` finds it. ``train`` runs the whole
pipeline: it ingests the config's ``kb`` file into the chosen store (idempotent: a re-run adds
nothing), snapshots the store, precomputes the frozen inputs, trains and writes the checkpoint.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from kg.errors import ConfigError
from qa.cli_base import Context, _fail_cleanly, _model_dir
from qa.evidence import path_text
from qa.replies import reply_text

MODEL_HELP = "Folder of the trained QA model (default: beside the store, where kgqa train writes it)."


@click.command("train")
@click.argument("config_file", metavar="CONFIG", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Checkpoint folder (default: the config's output_dir, else beside the store).")
@click.option("--budget-minutes", type=click.FloatRange(min=0.1), default=None, help="Wall-clock training budget.")
@click.option("--mode", type=click.Choice(["full", "no_gnn", "no_graph"]), default=None,
              help="Fusion mode (the ablations: no GNN, or no graph at all).")
@click.option("--split", type=click.Choice(["validation", "templates"]), default=None,
              help="validation: MetaQA protocol; templates: train on 80% of the templates, score the rest.")
@click.option("--questions", "question_files", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Question files to train on instead of the config's (N-hop in the path gives the hops).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Questions read per file (quick runs).")
@click.option("--no-ingest", is_flag=True, help="Train on the store as it is; do not ingest the config's kb first.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
@_fail_cleanly
def train_command(obj: Context, config_file: Path, out_dir: Path | None, budget_minutes: float | None,
                  mode: str | None, split: str | None, question_files: tuple[Path, ...], limit: int | None,
                  no_ingest: bool, as_json: bool) -> None:
    """Train the KG-fused QA model from a JSON CONFIG (see configs/): ingest, snapshot, train, save.

    The config's kb (a triples file) is ingested into the store first; training then reads the
    graph from the store. Prints Hits@1 per hop on the validation questions and where the
    checkpoint (model.safetensors, config.json, log.json, curves.png) went.
    """
    from kg.errors import ConfigError
    from kg.ingest import ingest
    from qa.train import TrainConfig, train

    cfg = TrainConfig.load(config_file)
    explicit_out = "output_dir" in json.loads(config_file.read_text())
    cfg.output_dir = str(out_dir or (cfg.output_dir if explicit_out else _model_dir(obj.config, "qa")))
    if budget_minutes is not None:
        cfg.budget_minutes = budget_minutes
    if mode:
        cfg.fusion.mode = mode
    if split:
        cfg.split = split
    if question_files:
        cfg.questions = [str(p) for p in question_files]
    if limit:
        cfg.limit = limit
    if not cfg.questions:
        raise ConfigError(f"{config_file}: no question files; set 'questions' or pass --questions FILE")
    if cfg.kb and not no_ingest:
        with obj.open() as store:
            click.echo(f"ingest {cfg.kb}: " + ingest(store, cfg.kb, progress=False).summary())
    cfg.store = obj.config.public_dict()
    report = train(cfg)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    v = report.validation
    click.echo(f"trained {report.steps:,} steps in {report.train_seconds / 60:.1f} min "
               f"(+{report.prepare_seconds / 60:.1f} min preparing) on {report.train_questions:,} questions")
    for key in sorted(k for k in v if k.startswith("hits@1/")):
        click.echo(f"  validation Hits@1 {key.split('/')[1]}: {100 * v[key]:.2f}%  (n={v['n/' + key.split('/')[1]]:,})")
    click.echo(f"  validation Hits@1 all: {100 * v['hits@1']:.2f}%  answer cut-off {report.cutoff:.2f}")
    if report.test:
        click.echo(f"  held-out templates Hits@1: {100 * report.test['hits@1']:.2f}%")
    click.echo(f"wrote {report.output_dir}")


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
    Hits@1, Hits@5, MRR and answer-set F1, per hop (or type) and overall."""
    from qa.answerer import load_answerer
    from qa.data import load_questions
    from qa.evaluate import evaluate

    questions = [q for p in question_files for q in load_questions(p, limit=limit)]
    answerer = load_answerer(model_dir or _model_dir(obj.config, "qa"))
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
@click.option("--hops", type=click.IntRange(min=1, max=3), default=None,
              help="How many relations the question follows (default: predicted from the question).")
@click.option("--json", "as_json", is_flag=True, help="Print the prediction (answers, evidence, Cypher) as JSON.")
@click.pass_obj
@_fail_cleanly
def ask_command(obj: Context, question: str, model_dir: Path | None, shown: int, hops: int | None,
                as_json: bool) -> None:
    """Answer QUESTION with the trained QA model: answers, the paths that support each, and Cypher.

    Put the topic entity in [brackets] to skip linking ("who directed [Up]"); otherwise the
    linker finds it.
    """
    from qa.answerer import load_answerer
    from qa.data import question_from_text

    answerer = load_answerer(model_dir or _model_dir(obj.config, "qa"))
    q = question_from_text(question, hop=hops)
    [pred] = answerer.predict([q])
    if as_json:
        click.echo(json.dumps(pred.to_dict(), indent=2, ensure_ascii=False))
        return
    click.echo(render_prediction(pred, answerer.graph.snapshot, shown))


def render_prediction(pred: Any, snapshot: Any, shown: int = 5, max_answers: int = 10, paths: int = 2) -> str:
    """A prediction as text: the topic, up to ``max_answers`` answers each with up to ``paths`` evidence
    paths (the first with its Cypher; later ones only if they contribute at least 0.01), then the
    top of the ranking."""
    def name(entity_id: str) -> str:
        i = snapshot.index_of.get(entity_id)
        return snapshot.names[i] if i is not None else entity_id

    lines = [pred.question]
    if not pred.topics:
        lines.append("  no entity of the graph found in the question: put the topic in [brackets] or "
                     "check its spelling with kgqa link")
        return "\n".join(lines)
    lines.append("  topic: " + ", ".join(f"{name(t)} ({t})" for t in pred.topics))
    if not pred.answers:
        lines.append("  the graph holds no answer: no candidate within reach of the topic")
    for a in pred.answers[:max_answers]:
        lines.append(f"  answer: {a.name}  (p={a.score:.3f})")
        kept = [ev for j, ev in enumerate(a.evidence[:paths]) if j == 0 or ev.score >= 0.01]
        for j, ev in enumerate(kept):
            start = next((t for t in pred.topics if ev.steps and t in (ev.steps[0].head, ev.steps[0].tail)),
                         pred.topics[0])
            lines.append(f"    evidence ({ev.score:.2f}): {path_text(ev.steps, start, name)}")
            if j == 0:
                lines.append(f"      cypher: {ev.cypher}   params {json.dumps(ev.params, ensure_ascii=False)}")
    if len(pred.answers) > max_answers:
        lines.append(f"  ... and {len(pred.answers) - max_answers} more answers (--json lists them all)")
    if len(pred.ranked) > len(pred.answers):
        lines.append("  ranked: " + ", ".join(f"{name(e)} {s:.3f}" for e, s in pred.ranked[:shown]))
    return "\n".join(lines)


def load_resolver(answerer: Any, model_dir: Path) -> Any:
    """The reference resolver beside the model (:func:`qa.conversation.resolver_for`), as a CLI error."""
    from qa.conversation import resolver_for

    try:
        return resolver_for(answerer, model_dir)
    except ConfigError as e:
        raise click.ClickException(str(e)) from e


CHAT_HELP = "commands: /evidence (paths and Cypher of the last answers), /reset, /history, /quit"


@click.command("chat")
@click.option("--model", "model_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help=MODEL_HELP)
@click.option("--answers", "shown", type=click.IntRange(min=1), default=5, show_default=True,
              help="Answers listed per reply.")
@click.option("--head", "head_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The dialogue head's folder (default: MODEL/dialogue when there is one).")
@click.option("--no-head", is_flag=True, help="Reply with the answer list, without the dialogue head.")
@click.pass_obj
@_fail_cleanly
def chat_command(obj: Context, model_dir: Path | None, shown: int, head_dir: Path | None, no_head: bool) -> None:
    """Talk to the graph: questions and follow-ups ("who directed it?", "what else did that person
    write?") resolved against the conversation, answered by the QA model. Reads lines from stdin.

    With a trained dialogue head (`kgqa train-dialogue`) the reply is written by it, token by token
    as generated; without one, the reply lists the answers the QA model found.
    """
    from qa.answerer import load_answerer
    from qa.conversation import Conversation

    model_dir = model_dir or _model_dir(obj.config, "qa")
    answerer = load_answerer(model_dir)
    chat = Conversation(answerer, load_resolver(answerer, model_dir))
    head = None if no_head else load_head(head_dir or model_dir / "dialogue", answerer, required=head_dir is not None)
    who = "the dialogue head" if head is not None else "answer lists (no dialogue head: kgqa train-dialogue)"
    click.echo(f"kgqa chat over {answerer.graph.snapshot.num_nodes:,} entities, replies by {who}; {CHAT_HELP}")
    last = None
    while True:
        try:
            line = input("> ").strip()
        except EOFError:
            break
        if not line:
            continue
        if line in ("/quit", "/exit"):
            break
        if line == "/reset":
            chat.reset()
            click.echo("(conversation reset)")
            continue
        if line == "/history":
            for turn in chat.history:
                click.echo(f"  {turn['question']}  ->  {turn['resolved']}  [{turn['how']}]  "
                           + ", ".join(name for _, name in turn["answers"][:shown]))
            continue
        if line == "/evidence":
            click.echo(render_prediction(last, answerer.graph.snapshot) if last else "(nothing asked yet)")
            continue
        if line.startswith("/"):
            click.echo(CHAT_HELP)
            continue
        reply = chat.ask(line)
        last = reply.prediction
        if head is None:
            click.echo(reply_text(reply, shown))
            continue
        note = resolution_note(reply)
        if note:
            click.echo(note)
        for piece in head.stream(reply):
            click.echo(piece, nl=False)
            sys.stdout.flush()
        click.echo()


def load_head(folder: Path, answerer: Any, required: bool) -> Any:
    """The dialogue head in ``folder`` (``None`` when there is none and none was asked for)."""
    from qa.dialogue_head import DialogueHead

    if not (folder / "dialogue_head.json").is_file():
        if required:
            raise click.ClickException(f"no dialogue head in {folder}: train one with `kgqa train-dialogue`")
        return None
    torch_threads()
    return DialogueHead.load(folder, answerer.graph.snapshot)


def torch_threads() -> None:
    """Two threads unless told otherwise (KGQA_THREADS): the dialogue head reads its prompt in one pass,
    176 ms (p50, 84 tokens) on two threads of these 2-core machines against 278 ms on one (bench/prefill.py)."""
    import os

    import torch

    torch.set_num_threads(int(os.environ.get("KGQA_THREADS", str(min(2, os.cpu_count() or 1)))))


def resolution_note(reply: Any) -> str:
    """``(it = Heat)``: what a follow-up was taken to be about, when it did not name it."""
    res = reply.resolution
    if res.how == "reference":
        return f"({res.expression} = {res.topic})"
    if res.how == "ellipsis":
        return f"(still about {res.topic})"
    return ""


@click.command("train-dialogue")
@click.option("--model", "model_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help=MODEL_HELP)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the head (default: MODEL/dialogue).")
@click.option("--dialogues", type=click.IntRange(min=1), default=1200, show_default=True,
              help="Training dialogues played through the QA model.")
@click.option("--budget-minutes", type=click.FloatRange(min=0.1), default=30.0, show_default=True)
@click.pass_obj
@_fail_cleanly
def train_dialogue_command(obj: Context, model_dir: Path | None, out_dir: Path | None, dialogues: int,
                           budget_minutes: float) -> None:
    """Fine-tune the dialogue head (SmolLM2-135M-Instruct with gated cross-attention on the KG memory,
    LoRA) on dialogues built from the QA model's training questions (qa/dialogue_train.py)."""
    from qa.dialogue_train import DialogueTrainConfig, train

    model_dir = model_dir or _model_dir(obj.config, "qa")
    train(DialogueTrainConfig(qa_model=str(model_dir), out_dir=str(out_dir) if out_dir else None,
                              dialogues=dialogues, budget_minutes=budget_minutes))


