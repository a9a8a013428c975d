"""Knowledge-graph-embedding baselines (``torch_geometric.nn.kge`` DistMult / TransE).

Trained on the same triples, with the same negatives, loss (by default) and wall-clock budget
as the GNN, early-stopped on the same validation triples, and ranked by the same filtered
protocol (:func:`encoders.ranking.evaluate`), so that the comparison is only about the encoder::

    result = train_kge(KGEConfig(kind="distmult", dim=128), num_nodes, num_relations,
                       train, valid, known, budget_s=300)
    test_metrics = evaluate(result.scorer(), test, known)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn.kge import KGEModel
from tqdm.auto import tqdm

from encoders.decoders import DECODERS, EmbeddingScorer, link_loss
from encoders.negatives import NegativeSampler
from encoders.ranking import TripleFilter, evaluate
from encoders.training import Budget, EarlyStopping, JsonLog, stop_reason
from kg.errors import ConfigError


@dataclass
class KGEConfig:
    """Args:
    kind: ``"distmult"`` or ``"transe"``.
    dim: embedding width (``0`` in :class:`encoders.pretrain.PretrainConfig`: the GNN's ``hidden``).
    loss: ``"softmax"`` (the GNN's loss: the true entity against ``num_negatives`` shared
        negatives, both sides) or ``"margin"`` (the module's own ``.loss``: margin ranking
        against one corrupted head or tail); ``"auto"``: softmax for DistMult, margin for TransE.
    typed_negatives: share of the softmax negatives drawn from the entities seen on that side of
        the relation (:class:`encoders.negatives.NegativeSampler`).
    lr, batch_size, num_negatives, max_epochs, patience: training.
    """

    kind: str = "distmult"
    dim: int = 128
    loss: str = "auto"
    lr: float = 0.01
    batch_size: int = 4096
    num_negatives: int = 512
    typed_negatives: float = 0.5
    max_epochs: int = 200
    patience: int = 3

    def validate(self) -> None:
        if self.kind not in DECODERS:
            raise ConfigError(f"unknown KGE baseline {self.kind!r}; use one of {list(DECODERS)}")
        if self.loss not in ("auto", "softmax", "margin"):
            raise ConfigError(f"unknown KGE loss {self.loss!r}; use auto, softmax or margin")

    @property
    def resolved_loss(self) -> str:
        if self.loss != "auto":
            return self.loss
        return "softmax" if self.kind == "distmult" else "margin"


@dataclass
class KGEResult:
    """A trained baseline with its history (one record per epoch) and timings."""

    model: KGEModel
    kind: str
    epochs: int
    best_epoch: int
    train_s: float
    valid: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped: str = ""

    def scorer(self) -> EmbeddingScorer:
        emb = self.model.node_emb.weight.detach()
        rel = self.model.rel_emb.weight.detach()
        return EmbeddingScorer(emb, rel, self.kind, getattr(self.model, "p_norm", 1.0))


def build_kge(config: KGEConfig, num_nodes: int, num_relations: int) -> KGEModel:
    """The ``torch_geometric.nn.kge`` module named by ``config.kind``."""
    from torch_geometric.nn.kge import DistMult, TransE

    config.validate()
    cls = DistMult if config.kind == "distmult" else TransE
    return cls(num_nodes, num_relations, config.dim)


def _batch_loss(model: KGEModel, config: KGEConfig, batch: Tensor, sampler: NegativeSampler) -> Tensor:
    h, r, t = batch.unbind(1)
    if config.resolved_loss == "margin":
        return model.loss(h, r, t)  # type: ignore[no-any-return]
    ent = model.node_emb.weight                                                # (N, d)
    p = getattr(model, "p_norm", 1.0)
    if config.kind == "transe":
        ent = F.normalize(ent, p=p, dim=-1)
    return link_loss(config.kind, ent, model.rel_emb.weight, h, r, t, sampler.sample(r).to(batch.device), p)


def train_kge(config: KGEConfig, num_nodes: int, num_relations: int, train: Tensor, valid: Tensor,
              known: TripleFilter, budget_s: float | None = None, device: Any = "cpu", seed: int = 0,
              progress: bool = True, log_path: str | None = None) -> KGEResult:
    """Train a KGE baseline on ``train (M, 3)``, early-stopped on the filtered MRR of ``valid``
    (evaluated once per epoch), within ``budget_s`` seconds (evaluation included)."""
    config.validate()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build_kge(config, num_nodes, num_relations).to(device)
    sampler = NegativeSampler(train, num_nodes, num_relations, config.num_negatives, config.typed_negatives, gen)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    stopper, budget, log = EarlyStopping(config.patience), Budget(budget_s), JsonLog(log_path)
    train, valid = train.to(device), valid.to(device)
    epoch, valid_metrics, stop = 0, {}, False
    bar = tqdm(range(1, config.max_epochs + 1), desc=f"{config.kind}", disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        perm = torch.randperm(train.size(0), generator=gen).to(device)
        losses = []
        for lo in range(0, train.size(0), config.batch_size):
            if budget.spent():
                break
            loss = _batch_loss(model, config, train[perm[lo:lo + config.batch_size]], sampler)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        model.eval()
        valid_metrics = evaluate(KGEResult(model, config.kind, 0, 0, 0.0, {}).scorer(), valid, known)
        stop = stopper.step(valid_metrics["mrr"], epoch, model)
        log.add({"epoch": epoch, "loss": sum(losses) / max(len(losses), 1), "steps": len(losses),
                 "valid": valid_metrics, "elapsed_s": round(budget.elapsed, 2)})
        bar.set_postfix(loss=f"{log.records[-1]['loss']:.3f}", mrr=f"{valid_metrics['mrr']:.3f}")
        if stop or budget.spent():
            break
    train_s, stopped = budget.elapsed, stop_reason(stop, budget, epoch, config.max_epochs)
    stopper.restore(model)
    model.eval()
    best = next((r["valid"] for r in log.records if r["epoch"] == stopper.best_epoch), valid_metrics)
    return KGEResult(model, config.kind, epoch, stopper.best_epoch, train_s, best, log.records,
                     stopped)

