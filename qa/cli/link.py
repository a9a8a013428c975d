"""Entity-linking commands: ``link`` (find the graph's entities in a text) and ``train-linker`` (learn its prior)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from qa.cli.base import Context, _fail_cleanly


@click.command()
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="Print mentions, candidates and choices as JSON.")
@click.option("--candidates", "shown", type=click.IntRange(min=1), default=3, show_default=True,
              help="Candidates shown per mention.")
@click.option("--prior", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Linker prior to use (default: the one kgqa train-linker saved beside the store, if any).")
@click.option("--rebuild", is_flag=True, help="Rebuild the linker's index of the graph even if its cache is current.")
@click.pass_obj
@_fail_cleanly
def link(obj: Context, text: str, as_json: bool, shown: int, prior: Path | None, rebuild: bool) -> None:
    """Find the graph's entities in TEXT: mentions, candidates with scores, and the entity chosen (or NIL).

    Mentions are the graph's names and aliases (case- and accent-insensitive; spelling
    mistakes through fuzzy search), scored by context and graph evidence. The linker's
    index of the graph is cached beside the store (embedded: PATH/linker) and rebuilt
    when the graph changes. A prior learned from questions with their entity marked
    (kgqa train-linker QUESTIONS...) sharpens the choice; without one the linker uses
    default weights.
    """
    from kg.linking import Linker, cache_dir_for

    with obj.open(read_only=True) as store:
        linker = Linker.from_store(store, cache_dir=cache_dir_for(obj.config), prior=prior, rebuild=rebuild)
    result = linker.link(text)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
        return
    trained = f"prior from {linker.prior.questions:,} questions" if linker.prior.trained else "untrained (no prior)"
    click.echo(f"{text}\n  linker: {trained}; index {'cached' if linker.index.from_cache else 'built'} "
               f"in {linker.index.seconds:.2f} s")
    if not result.mentions:
        click.echo("  no mention of any entity of the graph")
    for m in result.mentions:
        chosen = m.entity_id if m.entity_id is not None else "NIL"
        label = f"  [{m.label}]" if m.label else ""
        click.echo(f"  {m.text!r} {m.start}:{m.end}{label} -> {chosen}  ({m.score:.3f})")
        for c in m.candidates[:shown]:
            mark = "*" if c.entity_id == m.entity_id else " "
            similarity = f" similarity {c.similarity:.2f}" if c.source == "fuzzy" else ""
            click.echo(f"     {mark} {c.score:.3f}  {c.entity_id}  ({c.source}{similarity})")
    topic = result.topic
    click.echo(f"topic entity: {topic.entity_id if topic else 'none'}")


@click.command("train-linker")
@click.argument("questions", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to save the prior (default: beside the store, where kgqa link looks for it).")
@click.pass_obj
@_fail_cleanly
def train_linker(obj: Context, questions: tuple[Path, ...], out: Path | None) -> None:
    """Learn the linker's prior from question files with the topic entity in [brackets].

    One question a line, as MetaQA: 'who directed [Up]<TAB>Pete Docter'. The prior
    (context templates, how often each name is meant, what kind of entity each
    context wants, and the weights of the evidence) is saved as JSON beside the store
    (embedded: PATH/linker/prior.json), where kgqa link finds it.
    """
    from kg.linking import Linker, cache_dir_for, read_questions
    from kg.linking.cache import PRIOR_FILE

    marked = read_questions(*questions)
    cache = cache_dir_for(obj.config)
    with obj.open(read_only=True) as store:
        linker = Linker.from_store(store, cache_dir=cache, prior=None)
    report = linker.fit(marked)
    path = linker.save_prior(out or cache / PRIOR_FILE)
    click.echo(report.summary())
    missing = report.questions - report.gold_found - report.unmarked
    if missing:
        click.echo(f"  the marked entity was no candidate in {missing:,} question(s), e.g. "
                   f"{', '.join(report.missing[:3])}")
    click.echo(f"saved {path}")
