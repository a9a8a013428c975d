"""Self-supervised pretraining of the GNN by link prediction, with KGE baselines in the same run.

The triples are split once (seeded): ``test_fraction`` (5%) held out for the final filtered
MRR / Hits@10, a small validation part for early stopping, the rest for training. The
message-passing graph never holds held-out triples: training and validation run on the
training triples only, the test on training + validation triples. Each step hides its own
supervision triples from the message-passing graph too (``hide_targets``), so the model learns
to predict edges it cannot see, as at test time. Negatives corrupt the head and the tail with
``num_negatives`` entities per relation of the batch, half of them of the relation's kind
(:mod:`encoders.negatives`); the decoder is DistMult.

Modes: ``full`` (one full-graph forward per step), ``sampled`` (per step, the subgraph sampled
around the batch's entities by :class:`encoders.sampling.IncidentNeighborSampler`; evaluation
layer by layer in chunks), ``auto`` (full when the estimated activations fit in half of the free
memory)::

    report = pretrain(store, PretrainConfig(gnn=GNNConfig(kind="compgcn"), budget_s=300), "runs/gnn")
    report.metrics["gnn"]["mrr"], report.metrics["distmult"]["mrr"]
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from encoders.checkpoint import save_checkpoint, save_node_embeddings
from encoders.device import pick_device
from encoders.features import FeatureConfig, text_features
from encoders.gnn import GNNConfig
from encoders.kge import KGEConfig, train_kge
from encoders.linkpred import GraphLinkModel
from encoders.negatives import NegativeSampler
from encoders.ranking import TripleFilter, evaluate
from encoders.sampling import IncidentNeighborSampler
from encoders.training import Budget, EarlyStopping, JsonLog, stop_reason
from kg.errors import ConfigError
from kg.store.base import GraphExport, GraphStore

MODES = ("auto", "full", "sampled")


@dataclass
class PretrainConfig:
    """Args:
    gnn, features: the model (:class:`GNNConfig`, :class:`FeatureConfig`).
    text_cache_dir: on-disk cache of the name embeddings (``None``: no cache).
    mode: ``"auto"``, ``"full"`` or ``"sampled"`` (see the module docstring).
    num_neighbors: sampled mode, incident edges kept per node and hop (one entry per layer).
    memory_fraction: auto mode, share of the free memory full-graph training may use.
    batch_size / sampled_batch_size: supervision triples per step in full / sampled mode.
    num_negatives: shared negative entities per step, side and relation.
    typed_negatives: share of them drawn from the entities seen on that side of the relation
        (:class:`encoders.negatives.NegativeSampler`); the baselines get the same.
    lr, weight_decay, max_epochs, patience: optimisation; early stopping on validation MRR.
    test_fraction: held-out share of the triples (final metrics); valid_fraction / valid_max:
        validation share of the rest (early stopping) and its cap.
    hide_targets: drop each step's supervision triples from its message-passing graph.
    budget_s: wall-clock budget of each model's training (GNN and each baseline alike).
    baselines: KGE baselines trained alongside (``"distmult"``, ``"transe"``).
    kge: settings of the baselines (``dim`` ``None``: the GNN's ``hidden``).
    inference_chunk: evaluate layer by layer over this many target nodes (``None``: auto,
        one full forward in full mode).
    """

    gnn: GNNConfig = field(default_factory=GNNConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    text_cache_dir: str | None = ".kgqa/cache/text"
    mode: str = "auto"
    num_neighbors: tuple[int, ...] = (10, 5)
    memory_fraction: float = 0.5
    batch_size: int = 4096
    sampled_batch_size: int = 1024
    num_negatives: int = 512
    typed_negatives: float = 0.5
    lr: float = 0.01
    weight_decay: float = 0.0
    max_epochs: int = 100
    patience: int = 3
    test_fraction: float = 0.05
    valid_fraction: float = 0.02
    valid_max: int = 2000
    hide_targets: bool = True
    budget_s: float | None = None
    baselines: tuple[str, ...] = ("distmult",)
    kge: KGEConfig = field(default_factory=lambda: KGEConfig(dim=0))
    inference_chunk: int | None = None
    eval_batch_size: int = 512
    seed: int = 0
    device: str | None = None
    progress: bool = True

    def validate(self) -> None:
        self.gnn.validate()
        self.features.validate()
        if self.mode not in MODES:
            raise ConfigError(f"unknown pretraining mode {self.mode!r}; use one of {list(MODES)}")
        if not 0.0 < self.test_fraction < 0.5 or not 0.0 <= self.valid_fraction < 0.5:
            raise ConfigError("test_fraction must be in (0, 0.5) and valid_fraction in [0, 0.5)")
        if self.mode != "full" and len(self.num_neighbors) != self.gnn.layers:
            raise ConfigError(f"num_neighbors needs one entry per GNN layer ({self.gnn.layers}), "
                              f"got {list(self.num_neighbors)}")


@dataclass
class PretrainReport:
    """What a pretraining run measured and wrote. ``metrics``: filtered test metrics per model
    (``"gnn"`` and each baseline, with ``"by_relation"`` tail/head MRR); ``valid``: best validation
    metrics; ``paths``: files written."""

    metrics: dict[str, dict[str, Any]]
    valid: dict[str, dict[str, Any]]
    epochs: dict[str, int]
    best_epoch: dict[str, int]
    stopped: dict[str, str]
    train_s: dict[str, float]
    mode: str
    device: str
    split: dict[str, int]
    times: dict[str, float]
    paths: dict[str, str]
    config: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TripleSplit:
    """Triples ``(M, 3)`` (head, relation, tail) split into train / valid / test."""

    train: Tensor
    valid: Tensor
    test: Tensor

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": int(self.train.size(0)), "valid": int(self.valid.size(0)), "test": int(self.test.size(0))}


def export_triples(export: GraphExport) -> Tensor:
    """The export's edges as ``(E, 3)`` long triples (head, relation, tail)."""
    src, dst = export.edge_index
    return torch.stack([torch.as_tensor(src, dtype=torch.long), torch.as_tensor(export.edge_type, dtype=torch.long),
                        torch.as_tensor(dst, dtype=torch.long)], 1).reshape(-1, 3)


def split_triples(triples: Tensor, test_fraction: float = 0.05, valid_fraction: float = 0.02,
                  valid_max: int = 2000, seed: int = 0) -> TripleSplit:
    """A seeded split: the same triples and seed always give the same split."""
    perm = torch.randperm(triples.size(0), generator=torch.Generator().manual_seed(seed))
    n_test = max(1, round(test_fraction * triples.size(0)))
    n_valid = min(valid_max, round(valid_fraction * (triples.size(0) - n_test)))
    test, valid, train = perm[:n_test], perm[n_test:n_test + n_valid], perm[n_test + n_valid:]
    return TripleSplit(triples[train], triples[valid], triples[test])


def graph_of(triples: Tensor) -> tuple[Tensor, Tensor]:
    """The message-passing graph of ``triples (M, 3)``: ``edge_index (2, M)``, ``edge_type (M,)``."""
    return triples[:, [0, 2]].T.contiguous(), triples[:, 1].contiguous()


def full_graph_bytes(num_nodes: int, num_edges: int, hidden: int, layers: int) -> int:
    """Rough activation memory of one full-graph training step (float32; edges with reverses)."""
    return 4 * hidden * layers * (6 * 2 * num_edges + 8 * num_nodes)


def free_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    import psutil

    return int(psutil.virtual_memory().available)


def resolve_mode(config: PretrainConfig, num_nodes: int, num_edges: int, device: torch.device) -> str:
    if config.mode != "auto":
        return config.mode
    need = full_graph_bytes(num_nodes, num_edges, config.gnn.hidden, config.gnn.layers)
    return "full" if need <= config.memory_fraction * free_memory(device) else "sampled"


def _step_loss(model: GraphLinkModel, batch: Tensor, mode: str, edge_index: Tensor, edge_type: Tensor,
               sampler: IncidentNeighborSampler | None, batch_pos: Tensor, hide: bool,
               negatives: NegativeSampler) -> Tensor:
    """Loss of one step on ``batch (B, 3)``, whose rows sit at ``batch_pos`` in the training graph."""
    device = edge_index.device
    h, r, t = batch.unbind(1)
    neg = negatives.sample(r).to(device)
    hidden_edges = torch.zeros(edge_type.numel(), dtype=torch.bool, device=device)  # (E,)
    if hide:
        hidden_edges[batch_pos] = True
    if mode == "full":
        keep = ~hidden_edges
        emb = model(edge_index[:, keep], edge_type[keep])                           # (N, hidden)
        return model.loss(emb, h, r, t, neg)
    assert sampler is not None
    seeds = torch.unique(torch.cat([h, t, neg.ids()]))                               # (S,) sorted
    out = sampler.sample(seeds.cpu(), exclude=hidden_edges.cpu())
    node, edge = out.node.to(device), out.edge.to(device)
    sub_index = torch.stack([out.row, out.col]).to(device)                           # (2, E_s) local
    emb = model(sub_index, edge_type[edge], node)                                    # (N_s, hidden); seeds first
    local = lambda ids: torch.searchsorted(seeds, ids.contiguous())                  # noqa: E731
    return model.loss(emb, local(h), r, local(t), neg.map(local))


def pretrain(source: GraphStore | GraphExport, config: PretrainConfig | None = None, out_dir: str | Path = "runs/gnn",
             text: np.ndarray | None = None) -> PretrainReport:
    """Pretrain a GNN by link prediction on ``source``'s triples, train the baselines with the
    same budget, write the checkpoint, the node embeddings, ``log.json`` and ``report.json`` into
    ``out_dir``, and return the :class:`PretrainReport`.

    ``text``: ``(N, T)`` name embeddings in the export's node order (default: encoded with
    :class:`encoders.text.TextEncoder`, cached in ``config.text_cache_dir``).
    """
    config = config or PretrainConfig()
    config.validate()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    export = source if isinstance(source, GraphExport) else source.export()
    times["export_s"] = time.perf_counter() - t0
    if export.num_edges < 20:
        raise ConfigError(f"the graph has {export.num_edges} triples; pretraining needs at least 20: load more data")
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    device = pick_device(config.device)
    num_nodes, num_rel = export.num_nodes, len(export.relations)
    triples = export_triples(export)
    split = split_triples(triples, config.test_fraction, config.valid_fraction, config.valid_max, config.seed)
    known = TripleFilter(triples, num_rel)

    text_model = None
    text_tensor = None
    if config.features.use_text:
        t0 = time.perf_counter()
        if text is None:
            from encoders.text import TextEncoderConfig

            text = text_features(export.names, TextEncoderConfig(cache_dir=config.text_cache_dir, device=config.device))
            text_model = "all-MiniLM-L6-v2"
        times["text_features_s"] = time.perf_counter() - t0
        if text.shape[0] != num_nodes:
            raise ConfigError(f"text features have {text.shape[0]} rows for {num_nodes} nodes: encode export.names")
        text_tensor = torch.as_tensor(np.asarray(text, dtype=np.float32))
    model = GraphLinkModel(config.gnn, config.features, num_nodes, num_rel, text_tensor).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    train_ei, train_et = (x.to(device) for x in graph_of(split.train))
    mode = resolve_mode(config, num_nodes, split.train.size(0), device)
    chunk = config.inference_chunk or (None if mode == "full" else 8192)
    sampler = None
    if mode == "sampled":
        from torch_geometric.data import Data

        sampler = IncidentNeighborSampler(Data(edge_index=train_ei.cpu(), num_nodes=num_nodes),
                                          config.num_neighbors, generator=gen)
    batch_size = config.batch_size if mode == "full" else config.sampled_batch_size
    negatives = NegativeSampler(split.train, num_nodes, num_rel, config.num_negatives, config.typed_negatives, gen)
    train_dev, valid_dev, test_dev = split.train.to(device), split.valid.to(device), split.test.to(device)

    stopper, budget, log = EarlyStopping(config.patience), Budget(config.budget_s), JsonLog(out / "log.json")
    valid_metrics: dict[str, float] = {}
    epoch, stop = 0, False
    bar = tqdm(range(1, config.max_epochs + 1), desc=f"pretrain {config.gnn.kind} ({mode})",
               disable=not config.progress)
    for epoch in bar:
        model.train()
        perm = torch.randperm(train_dev.size(0), generator=gen).to(device)
        losses = []
        for lo in range(0, perm.numel(), batch_size):
            if budget.spent():
                break
            pos = perm[lo:lo + batch_size]
            loss = _step_loss(model, train_dev[pos], mode, train_ei, train_et, sampler, pos, config.hide_targets,
                              negatives)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        emb = model.embed(train_ei, train_et, chunk)
        valid_metrics = evaluate(model.scorer(emb), valid_dev, known, config.eval_batch_size)
        stop = stopper.step(valid_metrics["mrr"], epoch, model)
        log.add({"model": "gnn", "epoch": epoch, "loss": sum(losses) / max(len(losses), 1), "steps": len(losses),
                 "valid": valid_metrics, "elapsed_s": round(budget.elapsed, 2)})
        bar.set_postfix(loss=f"{log.records[-1]['loss']:.3f}", mrr=f"{valid_metrics['mrr']:.3f}")
        if stop or budget.spent():
            break
    bar.close()
    train_s = {"gnn": budget.elapsed}
    stopped = {"gnn": stop_reason(stop, budget, epoch, config.max_epochs)}
    stopper.restore(model)

    # Test: message passing over training + validation triples (never the held-out ones).
    t0 = time.perf_counter()
    seen_ei, seen_et = (x.to(device) for x in graph_of(torch.cat([split.train, split.valid])))
    emb = model.embed(seen_ei, seen_et, chunk)
    metrics = {"gnn": evaluate(model.scorer(emb), test_dev, known, config.eval_batch_size, export.relations)}
    times["gnn_test_s"] = time.perf_counter() - t0
    best_valid = next((r["valid"] for r in log.records if r["epoch"] == stopper.best_epoch), valid_metrics)
    valid = {"gnn": best_valid}
    epochs, best_epoch = {"gnn": epoch}, {"gnn": stopper.best_epoch}

    paths = save_checkpoint(model, out, export.relations, export.node_ids, text_model,
                            extra={"split_seed": config.seed, "test_fraction": config.test_fraction})
    # Embeddings for later stages come from the whole graph (the split only serves the metrics).
    all_ei, all_et = (x.to(device) for x in graph_of(triples))
    paths.update(save_node_embeddings(model.embed(all_ei, all_et, chunk), export.node_ids, out,
                                      extra={"graph": "all triples", "kind": config.gnn.kind}))
    paths["log"] = str(out / "log.json")

    for kind in config.baselines:
        kge_config = KGEConfig(**{**asdict(config.kge), "kind": kind, "dim": config.kge.dim or config.gnn.hidden,
                                  "num_negatives": config.num_negatives, "typed_negatives": config.typed_negatives})
        result = train_kge(kge_config, num_nodes, num_rel, split.train, split.valid, known, config.budget_s,
                           device, config.seed, config.progress, str(out / f"log_{kind}.json"))
        t0 = time.perf_counter()
        metrics[kind] = evaluate(result.scorer(), test_dev, known, config.eval_batch_size, export.relations)
        times[f"{kind}_test_s"] = time.perf_counter() - t0
        valid[kind], epochs[kind], best_epoch[kind], train_s[kind] = (result.valid, result.epochs,
                                                                       result.best_epoch, result.train_s)
        stopped[kind] = result.stopped
        paths[f"log_{kind}"] = str(out / f"log_{kind}.json")

    report = PretrainReport(metrics=metrics, valid=valid, epochs=epochs, best_epoch=best_epoch, stopped=stopped,
                            train_s={k: round(v, 2) for k, v in train_s.items()}, mode=mode, device=str(device),
                            split=split.sizes, times={k: round(v, 2) for k, v in times.items()},
                            paths={**paths, "report": str(out / "report.json")}, config=asdict(config))
    (out / "report.json").write_text(json.dumps(report.to_json(), indent=1))
    return report
