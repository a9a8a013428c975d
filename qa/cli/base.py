"""What every ``kgqa`` command module shares: the store context, clean failures, model folders, tables.

(:mod:`qa.cli` builds the group and adds each module's commands to it; the command modules import
this one, not each other.)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from kg.config import StoreConfig
from kg.errors import KGQAError
from kg.store import GraphStore, open_store


class Context:
    def __init__(self, config: StoreConfig) -> None:
        self.config = config

    def open(self, read_only: bool = False) -> GraphStore:
        return open_store(self.config, read_only=read_only)


def _fail_cleanly(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KGQAError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


MODEL_HELP = "Folder of the trained QA model (default: beside the store, where kgqa train writes it)."


def _model_dir(config: StoreConfig, name: str) -> Path:
    """Where models trained on the store ``config`` names live (inside an embedded store's folder)."""
    if config.backend == "embedded":
        return Path(config.path) / "models" / name
    return Path(config.path).parent / f"models-{config.backend}-{config.database}" / name


def key_value(text: str, option: str) -> tuple[str, str]:
    """``NAME=VALUE`` of a repeated option (``--param``, ``--column``)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"{text!r} is not NAME=VALUE", param_hint=option)
    return key.strip(), value


def json_or_text(value: str) -> Any:
    """A parameter value: JSON when it parses (42, true, [1,2]), else the text."""
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def table(columns: list[str], rows: list[list[Any]]) -> str:
    """Rows as an aligned text table (cells cut at 60 characters)."""
    cells = [[cell(v) for v in row] for row in rows]
    widths = [min(60, max([len(c)] + [len(r[i]) for r in cells])) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(v[:w].ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join([line, rule, *body])


def cell(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def render_prediction(pred: Any, snapshot: Any, shown: int = 5, max_answers: int = 10, paths: int = 2) -> str:
    """A prediction as text: the topic, up to ``max_answers`` answers each with up to ``paths`` evidence
    paths (the first with its Cypher; later ones only if they contribute at least 0.01), then the
    top of the ranking."""
    from qa.answer.evidence import path_text

    def name(entity_id: str) -> str:
        i = snapshot.index_of.get(entity_id)
        return snapshot.names[i] if i is not None else entity_id

    lines = [pred.question]
    if not pred.topics:
        lines.append("  no entity of the graph found in the question: put the topic in [brackets] or "
                     "check its spelling with kgqa link")
        return "\n".join(lines)
    lines.append("  topic: " + ", ".join(f"{name(t)} ({t})" for t in pred.topics))
    kind = getattr(pred, "kind", "path")
    if kind != "path":                       # a composed answer (qa.kinds): what was read, the value, its Cypher
        shown_value = {True: "yes", False: "no"}.get(pred.value, pred.value) if isinstance(pred.value, bool) \
            else pred.value
        lines.append(f"  kind: {kind}" + (f"   answer: {shown_value}" if pred.value is not None else ""))
        if pred.reading:
            lines.append(f"  read as: {pred.reading}")
        if pred.cypher:
            lines.append(f"  cypher: {pred.cypher}   params {json.dumps(pred.params, ensure_ascii=False)}")
        if pred.note:
            lines.append(f"  cannot answer: {pred.note}")
            return "\n".join(lines)
    if not pred.answers and kind != "yes/no":
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


def load_answerer_for_cli(model_dir: Path) -> Any:
    """The QA model of ``model_dir`` over its graph; what a user should know about that pairing (relation
    types added since training) goes to stderr as ``note:`` lines."""
    from qa.answer.answerer import load_answerer

    answerer = load_answerer(model_dir)
    for note in answerer.notes:
        click.echo(f"note: {note}", err=True)
    return answerer
