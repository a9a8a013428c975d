"""Triple decoders over entity and relation embeddings (DistMult, TransE) and the training loss
they share: a softmax over the true entity and ``K`` shared negatives (:mod:`encoders.negatives`),
on both sides.

The same functions score the GNN's outputs and the free embeddings of the KGE baselines, so
both are trained with the same loss and ranked by the same filtered protocol
(:mod:`encoders.ranking`)::

    loss = link_loss("distmult", emb, rel_emb, h, r, t, sampler.sample(r))   # scalar
    scorer = EmbeddingScorer(node_emb, rel_emb, "distmult")                    # for ranking.evaluate
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from encoders.negatives import Negatives

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


def link_loss(kind: str, emb: Tensor, rel_emb: Tensor, head: Tensor, rel: Tensor, tail: Tensor,
              negatives: Negatives, p_norm: float = 1.0) -> Tensor:
    """Cross-entropy of the true tail among the tail candidates (``(h, r, n)``) plus that of the
    true head among the head candidates (``(n, r, t)``), per group of :class:`Negatives`; a
    candidate equal to the true entity is masked out. ``head``, ``tail`` and the candidates are
    rows of ``emb``, ``rel`` rows of ``rel_emb``.

    Shapes: ``emb (N, d)``, ``rel_emb (R, d)``, ``head, rel, tail (B,)`` → scalar (mean over the batch).
    """
    total = emb.new_zeros(())
    for group, neg_tail, neg_head in zip(negatives.relations, negatives.tails, negatives.heads, strict=True):
        sel = slice(None) if group < 0 else (rel == group).nonzero().squeeze(1)        # (B_g,)
        h, r, t = head[sel], rel[sel], tail[sel]
        e_h, w_r, e_t = emb[h], rel_emb[r], emb[t]                                       # (B_g, d) each
        pos = score_triples(kind, e_h, w_r, e_t, p_norm)[:, None]                       # (B_g, 1)
        zeros = torch.zeros(h.numel(), dtype=torch.long, device=emb.device)
        for side, anchor, true_id, cand in (("tail", e_h, t, neg_tail), ("head", e_t, h, neg_head)):
            scores = score_against(kind, anchor, w_r, emb[cand], side, p_norm)         # (B_g, K)
            scores = scores.masked_fill(cand[None, :] == true_id[:, None], float("-inf"))
            total = total + F.cross_entropy(torch.cat([pos, scores], 1), zeros, reduction="sum") / 2
    return total / head.numel()


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
