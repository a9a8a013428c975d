"""Triple decoders over entity and relation embeddings (DistMult, TransE) and the training loss
they share: a softmax over the true entity and ``K`` shared negatives, on both sides.

The same functions score the GNN's outputs and the free embeddings of the KGE baselines, so
both are trained with the same loss and ranked by the same filtered protocol
(:mod:`encoders.ranking`)::

    loss = link_loss("distmult", e_h, w_r, e_t, e_neg, h, t, neg)      # scalar
    scorer = EmbeddingScorer(node_emb, rel_emb, "distmult")             # for ranking.evaluate
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

DECODERS = ("distmult", "transe")


def score_triples(kind: str, head: Tensor, rel: Tensor, tail: Tensor, p_norm: float = 1.0) -> Tensor:
    """Scores of triples from their embeddings. Shapes: ``(B, d) ×3 → (B,)``."""
    if kind == "distmult":
        return (head * rel * tail).sum(-1)
    if kind == "transe":
        return -(head + rel - tail).norm(p=p_norm, dim=-1)
    raise ValueError(f"unknown decoder {kind!r}; use one of {DECODERS}")


def score_against(kind: str, anchor: Tensor, rel: Tensor, cand: Tensor, side: str, p_norm: float = 1.0) -> Tensor:
    """Scores of each candidate entity as the missing ``side`` (``"tail"``: anchor is the head;
    ``"head"``: anchor is the tail). Shapes: ``(B, d), (B, d), (K, d) → (B, K)``."""
    if kind == "distmult":
        return (anchor * rel) @ cand.T                                   # symmetric in head and tail
    if kind == "transe":
        query = anchor + rel if side == "tail" else anchor - rel         # (B, d)
        return -torch.cdist(query, cand, p=p_norm)
    raise ValueError(f"unknown decoder {kind!r}; use one of {DECODERS}")


def link_loss(kind: str, head: Tensor, rel: Tensor, tail: Tensor, neg: Tensor, head_id: Tensor, tail_id: Tensor,
              neg_id: Tensor, p_norm: float = 1.0) -> Tensor:
    """Cross-entropy of the true tail among ``K`` negatives (``(h, r, n)``) plus that of the true
    head (``(n, r, t)``); a negative equal to the true entity is masked out.

    Shapes: ``head, rel, tail (B, d)``, ``neg (K, d)``, ids ``(B,)``, ``(B,)``, ``(K,)`` → scalar.
    """
    pos = score_triples(kind, head, rel, tail, p_norm)[:, None]          # (B, 1)
    zeros = torch.zeros(head.size(0), dtype=torch.long, device=head.device)
    total = head.new_zeros(())
    for side, anchor, true_id in (("tail", head, tail_id), ("head", tail, head_id)):
        neg_scores = score_against(kind, anchor, rel, neg, side, p_norm)  # (B, K)
        neg_scores = neg_scores.masked_fill(neg_id[None, :] == true_id[:, None], float("-inf"))
        total = total + F.cross_entropy(torch.cat([pos, neg_scores], 1), zeros)
    return total / 2


class EmbeddingScorer:
    """A :class:`encoders.ranking.LinkScorer` over node embeddings ``(N, d)`` and relation
    embeddings ``(R, d)``. TransE entities are unit-normalised, as in ``torch_geometric.nn.kge``."""

    def __init__(self, node_emb: Tensor, rel_emb: Tensor, kind: str = "distmult", p_norm: float = 1.0) -> None:
        if kind not in DECODERS:
            raise ValueError(f"unknown decoder {kind!r}; use one of {DECODERS}")
        self.kind, self.p = kind, p_norm
        self.node_emb = F.normalize(node_emb, p=p_norm, dim=-1) if kind == "transe" else node_emb
        self.rel_emb = rel_emb

    def score_tails(self, head: Tensor, rel: Tensor) -> Tensor:
        return score_against(self.kind, self.node_emb[head], self.rel_emb[rel], self.node_emb, "tail", self.p)

    def score_heads(self, rel: Tensor, tail: Tensor) -> Tensor:
        return score_against(self.kind, self.node_emb[tail], self.rel_emb[rel], self.node_emb, "head", self.p)
