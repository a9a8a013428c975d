"""Negative entities for link-prediction training, shared by the triples of a batch.

Uniform negatives are mostly of the wrong kind (a year offered as an actor), which a model
with name features or message passing rules out at once; the loss then stops teaching it to
rank the plausible candidates, which is what filtered MRR measures. So a share
(``typed_fraction``) of each relation's negatives is drawn from the entities seen on that side
of that relation in the training triples (actors for ``STARRED_ACTORS`` tails), the rest
uniformly. With ``typed_fraction=0`` one uniform set serves the whole batch::

    sampler = NegativeSampler(train, num_nodes, num_relations, k=512, typed_fraction=0.5)
    neg = sampler.sample(batch[:, 1])      # per relation in the batch: (K,) tail and (K,) head candidates
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Negatives:
    """Per group of a batch: its relation (``-1``: every triple of the batch) and ``(K,)`` candidate
    tails and heads (global entity ids, or rows of an embedding matrix after :meth:`map`)."""

    relations: list[int]
    tails: list[Tensor]
    heads: list[Tensor]

    def ids(self) -> Tensor:
        """Every candidate, for the seed set of a sampled subgraph."""
        return torch.cat([*self.tails, *self.heads])

    def map(self, fn: Callable[[Tensor], Tensor]) -> Negatives:
        return Negatives(self.relations, [fn(x) for x in self.tails], [fn(x) for x in self.heads])

    def to(self, device: torch.device | str) -> Negatives:
        return self.map(lambda x: x.to(device))


class NegativeSampler:
    """Shared negatives per relation: ``typed_fraction`` of ``k`` from the relation's observed
    tails (heads), the rest uniform over all ``num_nodes`` entities.

    Args:
        train: ``(M, 3)`` training triples (head, relation, tail).
        num_nodes, num_relations: sizes of the graph.
        k: negatives per side and relation.
        typed_fraction: share of the negatives drawn from the relation's observed entities.
        generator: a ``torch.Generator`` for reproducible draws.
    """

    def __init__(self, train: Tensor, num_nodes: int, num_relations: int, k: int, typed_fraction: float = 0.5,
                 generator: torch.Generator | None = None) -> None:
        if not 0.0 <= typed_fraction <= 1.0:
            raise ValueError(f"typed_fraction must be in [0, 1], got {typed_fraction}")
        self.num_nodes, self.k, self.typed_fraction, self.generator = num_nodes, k, typed_fraction, generator
        train = train.cpu()
        self.tails_of = [torch.unique(train[train[:, 1] == r, 2]) for r in range(num_relations)]
        self.heads_of = [torch.unique(train[train[:, 1] == r, 0]) for r in range(num_relations)]

    def _draw(self, pool: Tensor | None) -> Tensor:
        typed = 0 if pool is None or pool.numel() == 0 else round(self.k * self.typed_fraction)
        uniform = torch.randint(self.num_nodes, (self.k - typed,), generator=self.generator)   # (K - T,)
        if not typed:
            return uniform
        assert pool is not None
        picks = pool[torch.randint(pool.numel(), (typed,), generator=self.generator)]          # (T,)
        return torch.cat([picks, uniform])                                                    # (K,)

    def sample(self, rel: Tensor) -> Negatives:
        """Negatives for a batch whose relations are ``rel (B,)``."""
        if self.typed_fraction == 0.0:
            return Negatives([-1], [self._draw(None)], [self._draw(None)])
        present = torch.unique(rel.cpu()).tolist()
        return Negatives(present, [self._draw(self.tails_of[r]) for r in present],
                         [self._draw(self.heads_of[r]) for r in present])
