"""GNN commands: ``pretrain`` (link prediction on the graph) and ``similar`` (nearest entities by embedding)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from qa.cli.base import Context, _fail_cleanly, _model_dir


@click.command()
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


@click.command()
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
