"""Relevance-pruned k-hop subgraphs around seed entities, from a :class:`GraphSnapshot`.

The retriever walks ``hops`` hops out from the seeds over both edge directions ("which films
did X direct" walks ``DIRECTED_BY`` backwards) and keeps at most ``max_nodes`` nodes, the most
relevant first. Relevance is a score propagated along paths:

* a relation scorer maps the question to one score per relation (by default the cosine between
  the question's and the relation description's sentence embeddings), turned into weights
  ``w_r = exp((s_r - max s) / temperature)`` in ``(0, 1]``;
* a seed scores 1; crossing an edge of relation ``r`` out of node ``u`` multiplies the score by
  ``w_r / fan_r(u) ** hub_damping``, where ``fan_r(u)`` is the number of ``r``-edges that leave
  ``u`` in that direction, so a hub ("Drama" and its thousands of films) spreads its score thin
  instead of flooding the cap;
* a node scores the best of its paths of at most ``hops`` edges; the ``max_nodes`` best nodes
  are kept (ties: fewer hops, then node index). Each relation of a multi-hop path only needs to
  be among the question's relations, in any hop, for the path to survive.

Scores never grow along a path, so the search is exact with pruning: after each hop only the
nodes that improved and are still among the ``max_nodes`` best are expanded. Without a question
every weight is 1 and there is no damping: a plain breadth-first search up to the cap. The edges
are those among the kept nodes (the induced subgraph), at most ``max_edges``, most relevant first.

Usage::

    retriever = SubgraphRetriever(GraphSnapshot.from_store(store), SubgraphConfig(max_nodes=1000))
    sub = retriever.retrieve(["Kismet"], "who directed Kismet", hops=1)
    data = sub.to_pyg()     # Data(edge_index, edge_type, num_nodes, n_id, seeds, ...)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from kg.errors import ConfigError
from kg.names import describe_relation
from kg.store.base import GraphStore
from retrieval.snapshot import GraphSnapshot, gather


class RelationScorer(Protocol):
    """Maps a question to one relevance score per relation of the snapshot (higher: more relevant)."""

    def __call__(self, question: str) -> np.ndarray:  # (R,)
        ...


class CosineRelationScorer:
    """Cosine similarity between the question and each relation description, with a sentence encoder.

    The relation vectors are computed once. ``batch`` scores many questions in one encoder call and
    ``from_vectors`` scores question embeddings computed elsewhere.

    Shapes:
        - **question:** one string → ``(R,)`` float32; **batch:** ``B`` strings → ``(B, R)``
    """

    def __init__(self, relations: Sequence[str], encoder: Any, descriptions: dict[str, str] | None = None) -> None:
        self.relations = list(relations)
        self.encoder = encoder
        given = descriptions or {}
        self.descriptions = [given.get(r, describe_relation(r)) for r in self.relations]
        self.relation_vectors = np.asarray(encoder.encode(self.descriptions), dtype=np.float32)  # (R, D)

    @classmethod
    def default(cls, relations: Sequence[str], cache_dir: str | None = None,
                descriptions: dict[str, str] | None = None) -> CosineRelationScorer:
        """With the bundled :class:`encoders.text.TextEncoder` (cached on disk under ``cache_dir``)."""
        from encoders.text import TextEncoder, TextEncoderConfig

        return cls(relations, TextEncoder(TextEncoderConfig(cache_dir=cache_dir)), descriptions)

    def from_vectors(self, question_vectors: np.ndarray) -> np.ndarray:
        q = np.asarray(question_vectors, dtype=np.float32)           # (B, D), unit rows
        return q @ self.relation_vectors.T                            # (B, R)

    def batch(self, questions: Sequence[str]) -> np.ndarray:
        return self.from_vectors(self.encoder.encode(list(questions)))  # (B, R)

    def __call__(self, question: str) -> np.ndarray:
        return self.batch([question])[0]                              # (R,)

    def __repr__(self) -> str:
        return f"CosineRelationScorer(relations={len(self.relations)}, encoder={self.encoder!r})"


@dataclass
class SubgraphConfig:
    """Args:
    max_nodes: nodes kept per subgraph, seeds included (the most relevant first).
    max_edges: edges kept among those nodes (the most relevant first).
    hops: default number of hops of :meth:`SubgraphRetriever.retrieve`.
    temperature: sharpness of the relation weights ``exp((s - max s) / temperature)``.
    hub_damping: exponent of the fan-out penalty (0: none; 1: a node's score is shared among
        the neighbours it reaches by one relation). Only ``temperature * hub_damping`` changes
        which nodes are kept (the log-score is ``(Σ s_r - max) / temperature - hub_damping Σ log fan``).
    mask_seeds: take the seeds' names out of the question before scoring relations (a film's title
        in the question otherwise pulls its embedding away from the relation words).
    descriptions: relation type → the words the default scorer embeds (default: the type in words).
    text_cache_dir: on-disk cache of the default scorer's sentence encoder.
    """

    max_nodes: int = 1000
    max_edges: int = 4000
    hops: int = 2
    temperature: float = 0.2
    hub_damping: float = 1.0
    mask_seeds: bool = True
    descriptions: dict[str, str] = field(default_factory=dict)
    text_cache_dir: str | None = ".kgqa/cache/text"

    def __post_init__(self) -> None:
        if self.max_nodes < 1 or self.max_edges < 0:
            raise ConfigError(f"max_nodes must be ≥ 1 and max_edges ≥ 0 (got {self.max_nodes}, {self.max_edges})")
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be positive (got {self.temperature})")
        if self.hub_damping < 0:
            raise ConfigError(f"hub_damping must be ≥ 0 (got {self.hub_damping})")


@dataclass(eq=False)
class Subgraph:
    """The part of the graph handed to the GNN for one question.

    Attributes:
        node_ids, names: entity id and name of each local node (seeds first, then by relevance).
        n_id: ``(N,)`` int64, global node index (in the snapshot and ``GraphExport.node_ids``).
        seeds: ``(S,)`` int64, local indices of the seed entities.
        hops: ``(N,)`` int64, hop at which the search reached the node (0 for seeds; the distance
            from the nearest seed without a question, never less than it with one).
        node_score: ``(N,)`` float64, relevance of the node's best path from a seed (seeds: 1).
        edge_index: ``(2, E)`` int64, local head and tail of each edge (original direction).
        edge_type: ``(E,)`` int64, index into ``relations`` (the snapshot's relation list).
        relations: the snapshot's relation vocabulary.
        edge_score: ``(E,)`` float64, relevance of the edge's relation to the question, in ``(0, 1]``.
    """

    node_ids: list[str]
    names: list[str]
    n_id: np.ndarray
    seeds: np.ndarray
    hops: np.ndarray
    node_score: np.ndarray
    edge_index: np.ndarray
    edge_type: np.ndarray
    relations: list[str]
    edge_score: np.ndarray

    @property
    def num_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])

    def triples(self) -> list[tuple[str, str, str]]:
        """The edges as ``(head_id, TYPE, tail_id)``."""
        heads, tails = self.edge_index
        return [(self.node_ids[h], self.relations[t], self.node_ids[tl])
                for h, t, tl in zip(heads.tolist(), self.edge_type.tolist(), tails.tolist(), strict=True)]

    def to_pyg(self) -> Any:
        """A ``torch_geometric.data.Data`` with ``edge_index`` (2, E), ``edge_type`` (E,), ``num_nodes``,
        ``n_id`` (N,), ``seeds`` (S,), ``hops`` (N,) and ``edge_score`` (E,) (needs the ``ml`` extra)."""
        try:
            import torch
            from torch_geometric.data import Data
        except ImportError as exc:  # pragma: no cover - depends on the extra
            raise ConfigError("to_pyg needs torch and torch-geometric: pip install 'kgqa[ml]'") from exc
        return Data(
            edge_index=torch.from_numpy(np.ascontiguousarray(self.edge_index, dtype=np.int64)),  # (2, E)
            edge_type=torch.from_numpy(np.ascontiguousarray(self.edge_type, dtype=np.int64)),    # (E,)
            num_nodes=self.num_nodes,
            n_id=torch.from_numpy(np.ascontiguousarray(self.n_id, dtype=np.int64)),              # (N,)
            seeds=torch.from_numpy(np.ascontiguousarray(self.seeds, dtype=np.int64)),            # (S,)
            hops=torch.from_numpy(np.ascontiguousarray(self.hops, dtype=np.int64)),              # (N,)
            edge_score=torch.from_numpy(np.ascontiguousarray(self.edge_score, dtype=np.float32)),  # (E,)
        )

    def __repr__(self) -> str:
        seeds = [self.node_ids[i] for i in self.seeds.tolist()]
        return (f"Subgraph(num_nodes={self.num_nodes}, num_edges={self.num_edges}, seeds={seeds}, "
                f"max_hops={int(self.hops.max()) if len(self.hops) else 0})")


def _fan_out(ptr: np.ndarray, types: np.ndarray, num_relations: int) -> np.ndarray:
    """For each CSR position, how many edges of the same relation leave the same node that way."""
    node = np.repeat(np.arange(len(ptr) - 1, dtype=np.int64), np.diff(ptr))   # (E,)
    _, inverse, counts = np.unique(node * max(num_relations, 1) + types, return_inverse=True, return_counts=True)
    return counts[inverse]                                                     # (E,)


class SubgraphRetriever:
    """Relevance-pruned k-hop subgraphs from a :class:`GraphSnapshot` (see the module docstring).

    ``relation_scorer`` is any callable ``question -> (R,) scores`` over ``snapshot.relations``
    (a ``batch(questions) -> (B, R)`` method is used by :meth:`retrieve_batch` when present); by
    default a :class:`CosineRelationScorer` over the bundled sentence encoder, built on first use.
    """

    def __init__(self, snapshot: GraphSnapshot, config: SubgraphConfig | None = None,
                 relation_scorer: Callable[[str], np.ndarray] | None = None) -> None:
        self.snapshot = snapshot
        self.config = config or SubgraphConfig()
        self._scorer = relation_scorer
        r, damping = snapshot.num_relations, self.config.hub_damping
        # Hub damping per CSR position: fan ** -hub_damping (both directions).
        self._out_damp = _fan_out(snapshot.out_ptr, snapshot.out_type, r).astype(np.float64) ** -damping
        self._in_damp = _fan_out(snapshot.in_ptr, snapshot.in_type, r).astype(np.float64) ** -damping

    @classmethod
    def from_store(cls, store: GraphStore, config: SubgraphConfig | None = None,
                   relation_scorer: Callable[[str], np.ndarray] | None = None) -> SubgraphRetriever:
        """A retriever over a snapshot of any store (Neo4j included), taken once now."""
        return cls(GraphSnapshot.from_store(store), config, relation_scorer)

    @property
    def relation_scorer(self) -> Callable[[str], np.ndarray]:
        if self._scorer is None:
            self._scorer = CosineRelationScorer.default(self.snapshot.relations, self.config.text_cache_dir,
                                                        self.config.descriptions)
        return self._scorer

    def __repr__(self) -> str:
        c = self.config
        return (f"SubgraphRetriever({self.snapshot!r}, max_nodes={c.max_nodes}, max_edges={c.max_edges}, "
                f"hops={c.hops}, temperature={c.temperature}, hub_damping={c.hub_damping})")

    # -- scoring ---------------------------------------------------------------------------
    def score_relations(self, questions: Sequence[str]) -> np.ndarray:
        """The scorer's ``(B, R)`` relation scores for ``questions``."""
        scorer = self.relation_scorer
        batch = getattr(scorer, "batch", None)
        out = np.asarray(batch(list(questions)) if callable(batch) else [scorer(q) for q in questions],
                         dtype=np.float64).reshape(len(questions), -1)                    # (B, R)
        if out.shape[1] != self.snapshot.num_relations:
            raise ConfigError(f"the relation scorer gave {out.shape[1]} scores per question but the graph has "
                              f"{self.snapshot.num_relations} relations; build it over snapshot.relations")
        return out

    def _seed_pattern(self, seeds: Sequence[str]) -> str | None:
        """A regex of the seeds' names and ids as whole words (longest first), or None without seeds."""
        snap = self.snapshot
        words: set[str] = set()
        for seed in [seeds] if isinstance(seeds, str) else seeds:
            words.add(seed)
            i = snap.index_of.get(seed)
            if i is not None:
                words.add(snap.names[i])
        words = {w for w in words if w.strip()}
        if not words:
            return None
        alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        return rf"(?<!\w)(?:{alternatives})(?!\w)"

    def scoring_text(self, question: str, seeds: Sequence[str]) -> str:
        """The question as the relation scorer sees it: without the seeds' names and ids
        (case-insensitive) when ``config.mask_seeds``, else unchanged."""
        pattern = self._seed_pattern(seeds) if self.config.mask_seeds else None
        if pattern is None:
            return question
        masked = " ".join(re.sub(pattern, " ", question, flags=re.IGNORECASE).split())
        return masked or question

    def seed_spans(self, question: str, seeds: Sequence[str]) -> list[tuple[int, int]]:
        """The character spans of the seeds' names and ids in ``question`` (what :meth:`scoring_text`
        takes out), empty when ``config.mask_seeds`` is off."""
        pattern = self._seed_pattern(seeds) if self.config.mask_seeds else None
        if pattern is None:
            return []
        return [m.span() for m in re.finditer(pattern, question, flags=re.IGNORECASE)]

    def relation_weights(self, scores: np.ndarray) -> np.ndarray:
        """``exp((s - max s) / temperature)``: the relation weights in ``(0, 1]``."""
        s = np.asarray(scores, dtype=np.float64).reshape(-1)                              # (R,)
        if s.shape[0] != self.snapshot.num_relations:
            raise ConfigError(f"{s.shape[0]} relation scores given for {self.snapshot.num_relations} relations")
        return np.exp((s - s.max()) / self.config.temperature) if len(s) else s

    # -- retrieval -------------------------------------------------------------------------
    def retrieve(self, seeds: Sequence[str], question: str | None = None, hops: int | None = None,
                 relation_scores: np.ndarray | None = None) -> Subgraph:
        """The subgraph around ``seeds`` (entity ids) for ``question``.

        Args:
            seeds: entity ids the walk starts from (always kept).
            question: the question text; ``None`` (and no ``relation_scores``): breadth-first, unpruned.
            hops: how far to walk (default ``config.hops``).
            relation_scores: ``(R,)`` scores to use instead of calling the scorer on ``question``.

        Raises:
            NotFound: a seed is not in the graph. ConfigError: no seeds, or more than ``max_nodes``.
        """
        if relation_scores is None and question is not None:
            relation_scores = self.score_relations([self.scoring_text(question, seeds)])[0]
        return self._retrieve(seeds, hops, relation_scores)

    def retrieve_batch(self, seeds: Sequence[Sequence[str]], questions: Sequence[str | None] | None = None,
                       hops: int | Sequence[int] | None = None) -> list[Subgraph]:
        """:meth:`retrieve` for many questions; the questions are scored in one batch."""
        n = len(seeds)
        qs: list[str | None] = list(questions) if questions is not None else [None] * n
        hs = list(hops) if isinstance(hops, Sequence) else [hops] * n
        if len(qs) != n or len(hs) != n:
            raise ConfigError(f"retrieve_batch got {n} seed lists, {len(qs)} questions and {len(hs)} hop counts; "
                              "give one of each per question")
        asked = [i for i, q in enumerate(qs) if q is not None]
        texts = [self.scoring_text(str(qs[i]), seeds[i]) for i in asked]
        scores = self.score_relations(texts) if asked else np.zeros((0, 0))  # (B, R)
        by_row = {i: scores[k] for k, i in enumerate(asked)}
        return [self._retrieve(seeds[i], hs[i], by_row.get(i)) for i in range(n)]

    def _seed_indices(self, seeds: Sequence[str]) -> np.ndarray:
        if isinstance(seeds, str):
            seeds = [seeds]
        unique = list(dict.fromkeys(seeds))
        if not unique:
            raise ConfigError("give at least one seed entity to retrieve a subgraph around")
        if len(unique) > self.config.max_nodes:
            raise ConfigError(f"{len(unique)} seeds exceed max_nodes={self.config.max_nodes}; "
                              "give fewer seeds or raise max_nodes")
        return np.asarray([self.snapshot.index(s) for s in unique], dtype=np.int64)

    def _retrieve(self, seeds: Sequence[str], hops: int | None, relation_scores: np.ndarray | None) -> Subgraph:
        hops = self.config.hops if hops is None else int(hops)
        if hops < 0:
            raise ConfigError(f"hops must be ≥ 0 (got {hops})")
        seed_idx = self._seed_indices(seeds)
        snap = self.snapshot
        if relation_scores is None:
            weights = np.ones(snap.num_relations)                                      # (R,)
            damp: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
        else:
            weights = self.relation_weights(relation_scores)                           # (R,)
            damp = (self._out_damp, self._in_damp)
        nodes, score, hop = self._expand(seed_idx, weights, damp, hops)
        return self._assemble(seed_idx, nodes, score, hop, weights)

    def _expand(self, seed_idx: np.ndarray, weights: np.ndarray, damp: tuple[np.ndarray | None, np.ndarray | None],
                hops: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Best-path scores by hop (exact, pruned to the ``max_nodes`` best); returns the kept nodes."""
        snap, cap = self.snapshot, self.config.max_nodes
        score = np.zeros(snap.num_nodes)                        # (N_global,) best path score so far
        hop = np.full(snap.num_nodes, -1, dtype=np.int64)       # (N_global,) hop of first reach
        score[seed_idx], hop[seed_idx] = 1.0, 0
        kept, frontier = seed_idx, seed_idx
        sides = ((snap.out_ptr, snap.out_nbr, snap.out_type, damp[0]),
                 (snap.in_ptr, snap.in_nbr, snap.in_type, damp[1]))
        for h in range(1, hops + 1):
            if not len(frontier):
                break
            reached, cand = [], []
            for ptr, nbr, typ, dmp in sides:
                pos, owner = gather(ptr, frontier)
                c = score[frontier][owner] * weights[typ[pos]]  # (K,)
                if dmp is not None:
                    c *= dmp[pos]
                reached.append(nbr[pos])
                cand.append(c)
            v = np.concatenate(reached)                           # (K,)
            c = np.concatenate(cand)                              # (K,)
            order = np.argsort(-c, kind="stable")
            v, first = np.unique(v[order], return_index=True)     # best candidate per reached node
            c = c[order][first]
            hop[v[hop[v] < 0]] = h
            better = c > score[v]
            improved = v[better]
            score[improved] = c[better]
            pool = np.union1d(kept, improved)
            if len(pool) > cap:
                pool = pool[np.lexsort((pool, hop[pool], -score[pool]))[:cap]]
            kept = pool
            frontier = np.intersect1d(improved, kept, assume_unique=True)
        order = np.lexsort((kept, hop[kept], -score[kept]))
        nodes = kept[order]
        return nodes, score[nodes], hop[nodes]

    def _assemble(self, seed_idx: np.ndarray, nodes: np.ndarray, score: np.ndarray, hop: np.ndarray,
                  weights: np.ndarray) -> Subgraph:
        snap = self.snapshot
        is_seed = np.isin(nodes, seed_idx)
        rest = ~is_seed
        n_id = np.concatenate([seed_idx, nodes[rest]])                         # (N,) seeds first
        node_score = np.concatenate([np.ones(len(seed_idx)), score[rest]])     # (N,)
        node_hop = np.concatenate([np.zeros(len(seed_idx), dtype=np.int64), hop[rest]])  # (N,)
        local = np.full(snap.num_nodes, -1, dtype=np.int64)
        local[n_id] = np.arange(len(n_id))
        pos, owner = gather(snap.out_ptr, n_id)
        tail = local[snap.out_nbr[pos]]
        inside = tail >= 0
        head, tail, pos = owner[inside], tail[inside], pos[inside]                # (E,)
        etype = snap.out_type[pos]
        eid = snap.out_eid[pos]
        if len(head) > self.config.max_edges:
            relevance = weights[etype] * np.minimum(node_score[head], node_score[tail])
            far = np.maximum(node_hop[head], node_hop[tail])
            keep = np.lexsort((eid, far, -relevance))[: self.config.max_edges]
            head, tail, etype = head[keep], tail[keep], etype[keep]
        order = np.lexsort((etype, tail, head))
        head, tail, etype = head[order], tail[order], etype[order]
        ids = [snap.node_ids[i] for i in n_id.tolist()]
        return Subgraph(
            node_ids=ids,
            names=[snap.names[i] for i in n_id.tolist()],
            n_id=n_id,
            seeds=np.arange(len(seed_idx), dtype=np.int64),
            hops=node_hop,
            node_score=node_score,
            edge_index=np.stack([head, tail]).astype(np.int64).reshape(2, -1),   # (2, E)
            edge_type=etype.astype(np.int64),                                    # (E,)
            relations=list(snap.relations),
            edge_score=weights[etype].astype(np.float64),                        # (E,)
        )
