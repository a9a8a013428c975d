"""Related entities: nearest neighbours by GNN embedding, each with what explains it.

"Films like *Kismet*" are the entities whose pretrained GNN embeddings are closest
(cosine, through a :class:`~retrieval.index.VectorIndex`); each comes with the
evidence a user can check in the graph: the neighbours the two share (with the
relation on each side, e.g. both ``DIRECTED_BY`` → William Dieterle) and, when they
share none, the shortest path between them (up to ``max_hops``).

Usage::

    finder = SimilarEntities.build(embeddings, node_ids, snapshot)
    for r in finder.similar("Kismet", k=5):
        print(r.name, r.score, r.shared[:3])
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from kg.errors import NotFound
from retrieval.index import IndexConfig, VectorIndex
from retrieval.snapshot import GraphSnapshot


@dataclass(frozen=True)
class SharedNeighbour:
    """A neighbour both entities have: ``entity -[relation_a]- neighbour -[relation_b]- other``."""

    neighbour_id: str
    neighbour_name: str
    relation_a: str
    relation_b: str


@dataclass
class Related:
    """One similar entity, its cosine score and the graph evidence for it."""

    entity_id: str
    name: str
    score: float
    shared: list[SharedNeighbour] = field(default_factory=list)
    path: list[tuple[str, str, str]] = field(default_factory=list)  # (head, TYPE, tail) triples, stored direction


class SimilarEntities:
    """Nearest entities by embedding, explained by shared neighbours or a path.

    Args:
        index: a vector index over the embeddings, ids = entity ids.
        snapshot: the graph, for explanations (and names).
        embeddings, node_ids: the vectors the index holds, row ``i`` for ``node_ids[i]`` (to look up
            the query entity's own vector).
    """

    def __init__(self, index: VectorIndex, snapshot: GraphSnapshot, embeddings: np.ndarray,
                 node_ids: Sequence[str]) -> None:
        self.index = index
        self.snapshot = snapshot
        self._matrix = np.asarray(embeddings, dtype=np.float32)   # (N, d), row i is node_ids[i]
        self._row = {n: i for i, n in enumerate(node_ids)}

    @classmethod
    def build(cls, embeddings: np.ndarray, node_ids: Sequence[str], snapshot: GraphSnapshot,
              config: IndexConfig | None = None) -> SimilarEntities:
        index = VectorIndex.build(np.asarray(embeddings, dtype=np.float32), list(node_ids),
                                  config or IndexConfig(kind="auto"))
        return cls(index, snapshot, embeddings, node_ids)

    def __repr__(self) -> str:
        return f"SimilarEntities(index={self.index!r}, nodes={self.snapshot.num_nodes})"

    def _vector(self, entity_id: str) -> np.ndarray:
        row = self._row.get(entity_id)
        if row is None:
            raise NotFound(f"no embedding for entity {entity_id!r}: it is not in the graph the GNN was trained on "
                           "(run kgqa pretrain again after ingesting it)")
        return self._matrix[row]

    def similar(self, entity_id: str, k: int = 10, explain: int = 5, max_hops: int = 3) -> list[Related]:
        """The ``k`` nearest entities to ``entity_id`` (itself excluded), with up to ``explain`` shared neighbours."""
        scores, hits = self.index.search(self._vector(entity_id)[None, :], k + 1)
        out = []
        for score, other in zip(scores[0], hits[0], strict=True):
            if other == entity_id or not other:
                continue
            shared = self.shared_neighbours(entity_id, other, explain)
            path = [] if shared else self.shortest_path(entity_id, other, max_hops)
            out.append(Related(other, self._name(other), float(score), shared, path))
            if len(out) == k:
                break
        return out

    def _name(self, entity_id: str) -> str:
        return self.snapshot.names[self.snapshot.index(entity_id)]

    def _incident(self, node: int) -> dict[int, str]:
        """Neighbour index → relation (``TYPE`` for out-edges, ``^TYPE`` for in-edges), one per neighbour."""
        s = self.snapshot
        rel: dict[int, str] = {}
        for ptr, nbr, typ, prefix in ((s.out_ptr, s.out_nbr, s.out_type, ""), (s.in_ptr, s.in_nbr, s.in_type, "^")):
            lo, hi = int(ptr[node]), int(ptr[node + 1])
            for n, t in zip(nbr[lo:hi].tolist(), typ[lo:hi].tolist(), strict=True):
                rel.setdefault(n, prefix + s.relations[t])
        return rel

    def shared_neighbours(self, a: str, b: str, limit: int = 5) -> list[SharedNeighbour]:
        """Neighbours of both ``a`` and ``b``, rarest first (a shared director says more than a shared genre)."""
        s = self.snapshot
        na, nb = self._incident(s.index(a)), self._incident(s.index(b))
        common = sorted(set(na) & set(nb), key=lambda n: (self._degree(n), s.node_ids[n]))
        return [SharedNeighbour(s.node_ids[n], s.names[n], na[n], nb[n]) for n in common[:limit]]

    def _degree(self, node: int) -> int:
        s = self.snapshot
        return int(s.out_ptr[node + 1] - s.out_ptr[node] + s.in_ptr[node + 1] - s.in_ptr[node])

    def shortest_path(self, a: str, b: str, max_hops: int = 3) -> list[tuple[str, str, str]]:
        """A shortest path from ``a`` to ``b`` as stored triples (empty when longer than ``max_hops``)."""
        s = self.snapshot
        src, dst = s.index(a), s.index(b)
        parent: dict[int, tuple[int, int, bool]] = {src: (-1, -1, True)}
        frontier = deque([(src, 0)])
        while frontier:
            node, depth = frontier.popleft()
            if node == dst or depth == max_hops:
                continue
            for ptr, nbr, typ, forward in ((s.out_ptr, s.out_nbr, s.out_type, True),
                                           (s.in_ptr, s.in_nbr, s.in_type, False)):
                lo, hi = int(ptr[node]), int(ptr[node + 1])
                for n, t in zip(nbr[lo:hi].tolist(), typ[lo:hi].tolist(), strict=True):
                    if n not in parent:
                        parent[n] = (node, t, forward)
                        frontier.append((n, depth + 1))
        if dst not in parent:
            return []
        path = []
        node = dst
        while node != src:
            prev, t, forward = parent[node]
            head, tail = (prev, node) if forward else (node, prev)
            path.append((s.node_ids[head], s.relations[t], s.node_ids[tail]))
            node = prev
        return path[::-1]
