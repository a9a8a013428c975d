"""Filtered link-prediction ranking: one protocol for the GNN and the KGE baselines.

For each test triple ``(h, r, t)`` the tail side scores ``(h, r, ·)`` against every entity and
the head side ``(·, r, t)``; the *filtered* rank of the true entity ignores every other entity
that makes a known triple (Bordes et al. 2013). Ties count half (the mean of the optimistic and
pessimistic rank), so a model that scores everything equal gets ``(N + 1) / 2``, not 1.
MRR and Hits@k average both sides::

    known = TripleFilter(all_triples)                  # (M, 3) long: head, relation, tail
    metrics = evaluate(EmbeddingScorer(emb, rel, "distmult"), test, known)   # {"mrr": ..., "hits@10": ...}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch
from torch import Tensor


class LinkScorer(Protocol):
    """Scores of every entity as the missing tail or head. Shapes: ``(B,), (B,) → (B, N)``."""

    def score_tails(self, head: Tensor, rel: Tensor) -> Tensor: ...

    def score_heads(self, rel: Tensor, tail: Tensor) -> Tensor: ...


class TripleFilter:
    """Every known triple, looked up by ``(h, r)`` for tails and by ``(r, t)`` for heads.

    Shapes: ``triples (M, 3)`` long tensor of ``(head, relation, tail)``.
    """

    def __init__(self, triples: Tensor, num_relations: int | None = None) -> None:
        self.num_relations = int(num_relations if num_relations is not None else int(triples[:, 1].max()) + 1)
        h, r, t = triples[:, 0], triples[:, 1], triples[:, 2]
        self._tail_keys, self._tails = self._index(h * self.num_relations + r, t)
        self._head_keys, self._heads = self._index(t * self.num_relations + r, h)

    @staticmethod
    def _index(keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        order = torch.argsort(keys, stable=True)
        return keys[order], values[order]

    def known_tails(self, head: Tensor, rel: Tensor) -> tuple[Tensor, Tensor]:
        """``(row, entity)`` pairs: entity is a known tail of ``(head[row], rel[row])``."""
        return self._lookup(self._tail_keys, self._tails, head * self.num_relations + rel)

    def known_heads(self, rel: Tensor, tail: Tensor) -> tuple[Tensor, Tensor]:
        """``(row, entity)`` pairs: entity is a known head of ``(rel[row], tail[row])``."""
        return self._lookup(self._head_keys, self._heads, tail * self.num_relations + rel)

    @staticmethod
    def _lookup(sorted_keys: Tensor, values: Tensor, query: Tensor) -> tuple[Tensor, Tensor]:
        query = query.to(sorted_keys.device)                                 # the filter stays on the CPU
        lo = torch.searchsorted(sorted_keys, query)                          # (B,)
        hi = torch.searchsorted(sorted_keys, query, right=True)              # (B,)
        count = hi - lo
        row = torch.repeat_interleave(torch.arange(query.numel()), count)    # (K,)
        pos = torch.arange(row.numel()) - (torch.cumsum(count, 0) - count)[row] + lo[row]  # (K,)
        return row, values[pos]


def filtered_rank(scores: Tensor, target: Tensor, known_row: Tensor, known_col: Tensor) -> Tensor:
    """Rank of ``target`` in each row of ``scores (B, N)`` among entities that are not known
    answers (other than the target itself); ties count half. Shapes: ``→ (B,)`` float."""
    rows = torch.arange(scores.size(0), device=scores.device)
    true = scores[rows, target].clone()                                      # (B,)
    scores = scores.clone()
    scores[known_row.to(scores.device), known_col.to(scores.device)] = float("-inf")
    scores[rows, target] = float("-inf")
    higher = (scores > true[:, None]).sum(1)                                 # (B,)
    ties = (scores == true[:, None]).sum(1)                                  # (B,)
    return 1.0 + higher.double() + 0.5 * ties.double()


@torch.no_grad()
def filtered_ranks(scorer: LinkScorer, triples: Tensor, known: TripleFilter,
                   batch_size: int = 512) -> tuple[Tensor, Tensor]:
    """Filtered ranks of the true tails and heads of ``triples (M, 3)``: two ``(M,)`` tensors."""
    tail_ranks, head_ranks = [], []
    for lo in range(0, triples.size(0), batch_size):
        h, r, t = triples[lo:lo + batch_size].unbind(1)
        row, col = known.known_tails(h, r)
        tail_ranks.append(filtered_rank(scorer.score_tails(h, r), t, row, col).cpu())
        row, col = known.known_heads(r, t)
        head_ranks.append(filtered_rank(scorer.score_heads(r, t), h, row, col).cpu())
    empty = torch.empty(0, dtype=torch.float64)
    return (torch.cat(tail_ranks) if tail_ranks else empty), (torch.cat(head_ranks) if head_ranks else empty)


def rank_metrics(ranks: Tensor, hits: tuple[int, ...] = (1, 3, 10)) -> dict[str, float]:
    """MRR, Hits@k and mean rank of ``ranks (M,)``."""
    if ranks.numel() == 0:
        return {"mrr": 0.0, **{f"hits@{k}": 0.0 for k in hits}, "mean_rank": 0.0, "count": 0}
    out = {"mrr": float((1.0 / ranks).mean())}
    for k in hits:
        out[f"hits@{k}"] = float((ranks <= k).double().mean())
    out["mean_rank"] = float(ranks.mean())
    out["count"] = int(ranks.numel())
    return out


def evaluate(scorer: LinkScorer, triples: Tensor, known: TripleFilter, batch_size: int = 512,
             relations: Sequence[str] | None = None) -> dict[str, Any]:
    """Filtered MRR / Hits@k over both sides (tails and heads pooled), and each side apart; with
    ``relations`` (the vocabulary), also ``"by_relation"``: tail and head MRR per relation."""
    tails, heads = filtered_ranks(scorer, triples, known, batch_size)
    both: dict[str, Any] = rank_metrics(torch.cat([tails, heads]))
    both.update({f"tail_{k}": v for k, v in rank_metrics(tails).items() if k in ("mrr", "hits@10")})
    both.update({f"head_{k}": v for k, v in rank_metrics(heads).items() if k in ("mrr", "hits@10")})
    if relations is not None:
        rel = triples[:, 1].cpu()
        both["by_relation"] = {
            name: {"count": int((rel == r).sum()), "tail_mrr": rank_metrics(tails[rel == r])["mrr"],
                   "head_mrr": rank_metrics(heads[rel == r])["mrr"]}
            for r, name in enumerate(relations) if bool((rel == r).any())}
    return both


class PopularityScorer:
    """A reference without learning: an entity's score as the tail (head) of ``r`` is how often it
    is the tail (head) of ``r`` among ``triples (M, 3)``. Shows how far popularity alone goes."""

    def __init__(self, triples: Tensor, num_nodes: int, num_relations: int) -> None:
        h, r, t = triples[:, 0], triples[:, 1], triples[:, 2]
        self.tail_counts = torch.zeros(num_relations, num_nodes)               # (R, N)
        self.tail_counts.index_put_((r, t), torch.ones(r.numel()), accumulate=True)
        self.head_counts = torch.zeros(num_relations, num_nodes)               # (R, N)
        self.head_counts.index_put_((r, h), torch.ones(r.numel()), accumulate=True)

    def score_tails(self, head: Tensor, rel: Tensor) -> Tensor:
        return self.tail_counts[rel.cpu()].to(rel.device)                      # (B, N)

    def score_heads(self, rel: Tensor, tail: Tensor) -> Tensor:
        return self.head_counts[rel.cpu()].to(rel.device)                      # (B, N)
