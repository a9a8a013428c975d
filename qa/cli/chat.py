"""``kgqa chat`` (a conversation with the graph, follow-ups resolved) and ``kgqa train-dialogue``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from kg.errors import ConfigError
from qa.chat.replies import reply_text, resolution_words
from qa.cli.base import MODEL_HELP, Context, _fail_cleanly, _model_dir, load_answerer_for_cli, render_prediction


def load_resolver(answerer: Any, model_dir: Path) -> Any:
    """The reference resolver beside the model (:func:`qa.chat.conversation.resolver_for`), as a CLI error."""
    from qa.chat.conversation import resolver_for

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
    from qa.chat.conversation import Conversation

    model_dir = model_dir or _model_dir(obj.config, "qa")
    answerer = load_answerer_for_cli(model_dir)
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
        if head is None or reply.prediction.kind != "path":     # the head writes path answers only
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
    from qa.chat.dialogue_head import DialogueHead

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
    return resolution_words(reply.resolution)


@click.command("train-dialogue")
@click.option("--model", "model_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help=MODEL_HELP)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the head (default: MODEL/dialogue).")
@click.option("--dialogues", type=click.IntRange(min=1), default=1200, show_default=True,
              help="Training dialogues played through the QA model.")
@click.option("--budget-minutes", type=click.FloatRange(min=0.1), default=30.0, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=5e-4, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="torch threads.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Which training dialogues are played (shuffle seed).")
@click.option("--init-from", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Continue from the head in this folder.")
@click.pass_obj
@_fail_cleanly
def train_dialogue_command(obj: Context, model_dir: Path | None, out_dir: Path | None, dialogues: int,
                           budget_minutes: float, batch_size: int, lr: float, threads: int, seed: int,
                           init_from: Path | None) -> None:
    """Fine-tune the dialogue head (SmolLM2-135M-Instruct with gated cross-attention on the KG memory,
    LoRA) on dialogues built from the QA model's training questions (qa/train/dialogue.py)."""
    from qa.train.dialogue import DialogueTrainConfig, train

    model_dir = model_dir or _model_dir(obj.config, "qa")
    train(DialogueTrainConfig(qa_model=str(model_dir), out_dir=str(out_dir) if out_dir else None,
                              dialogues=dialogues, budget_minutes=budget_minutes, batch_size=batch_size, lr=lr,
                              threads=threads, seed=seed, init_from=str(init_from) if init_from else None))


