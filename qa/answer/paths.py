"""Relation paths: typed walks over a :class:`~retrieval.snapshot.GraphSnapshot`.

A relation path is a sequence of hops, each a relationship type and the direction it is
walked in: ``DIRECTED_BY>`` follows stored ``DIRECTED_BY`` edges from head to tail (film to
director), ``<DIRECTED_BY`` walks them backwards (director to film). "Which films share a
director with [X]" is the path ``DIRECTED_BY> / <DIRECTED_BY``.

Walking a path from a topic gives every node it reaches and how many walks reach it
(:func:`walk`); :func:`expand_all` gives the nodes reached by every one-hop extension of a
frontier at once, which is how a path search over all relation paths proceeds (see
:mod:`qa.answer.baseline`). Walks never pass through the topic again (``X -> director -> X -> genre``
is no way to reach a genre of a film that shares X's director), and the topic itself is
not among the nodes reached, as MetaQA never answers a question with its topic.

Usage::

    path = parse_path("DIRECTED_BY> / <DIRECTED_BY")
    nodes, counts = walk(snapshot, snapshot.index("Black Snake Moan"), path)
    [snapshot.node_ids[i] for i in nodes]          # the other films of its director
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from kg.errors import ConfigError
from retrieval.snapshot import GraphSnapshot, gather

Direction = Literal["out", "in"]
SEPARATOR = " / "


@dataclass(frozen=True, order=True)
class Hop:
    """One hop of a relation path: a relationship type walked ``out`` (head to tail) or ``in``."""

    relation: str
    direction: Direction

    def __str__(self) -> str:
        return f"{self.relation}>" if self.direction == "out" else f"<{self.relation}"

    @classmethod
    def parse(cls, text: str) -> Hop:
        """``"DIRECTED_BY>"`` → out, ``"<DIRECTED_BY"`` → in."""
        text = text.strip()
        if text.endswith(">") and not text.startswith("<"):
            return cls(text[:-1], "out")
        if text.startswith("<") and not text.endswith(">"):
            return cls(text[1:], "in")
        raise ConfigError(f"{text!r} is no hop; write RELATION> (head to tail) or <RELATION (tail to head)")


RelationPath = tuple[Hop, ...]


def format_path(path: RelationPath) -> str:
    """``(Hop("DIRECTED_BY", "out"), Hop("DIRECTED_BY", "in"))`` → ``"DIRECTED_BY> / <DIRECTED_BY"``."""
    return SEPARATOR.join(str(h) for h in path)


def parse_path(text: str) -> RelationPath:
    """The inverse of :func:`format_path`."""
    return tuple(Hop.parse(part) for part in text.split(SEPARATOR.strip()) if part.strip())


def relation_index(snapshot: GraphSnapshot, relation: str) -> int:
    """The index of ``relation`` in the snapshot's vocabulary, or -1 when the graph has no such edge type."""
    try:
        return snapshot.relations.index(relation)
    except ValueError:
        return -1


def _adjacency(snapshot: GraphSnapshot, direction: Direction) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if direction == "out":
        return snapshot.out_ptr, snapshot.out_nbr, snapshot.out_type
    return snapshot.in_ptr, snapshot.in_nbr, snapshot.in_type


def _sum_by(keys: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``keys`` (sorted) and the sum of ``weights`` over each."""
    uniq, inverse = np.unique(keys, return_inverse=True)                   # (U,), (K,)
    return uniq, np.bincount(inverse, weights=weights, minlength=len(uniq))  # (U,), (U,)


def step(snapshot: GraphSnapshot, nodes: np.ndarray, counts: np.ndarray, hop: Hop,
         avoid: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Walk one hop from ``nodes`` (each reached by ``counts`` walks): the nodes reached and their walk counts.

    ``avoid`` (a node index) is never entered. Nodes come back sorted.
    """
    rel = relation_index(snapshot, hop.relation)
    if rel < 0 or len(nodes) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    ptr, nbr, typ = _adjacency(snapshot, hop.direction)
    pos, owner = gather(ptr, nodes)                                       # (K,), (K,)
    keep = typ[pos] == rel                                                 # (K,)
    reached, carried = nbr[pos[keep]], counts[owner[keep]]                 # (K',), (K',)
    if avoid >= 0:
        ok = reached != avoid
        reached, carried = reached[ok], carried[ok]
    return _sum_by(reached, carried)


def walk(snapshot: GraphSnapshot, start: int, path: RelationPath) -> tuple[np.ndarray, np.ndarray]:
    """Every node that ``path`` reaches from node ``start`` (never through or at ``start`` again) and the
    number of walks that reach it: ``(nodes (M,) int64 sorted, counts (M,) float64)``."""
    nodes = np.asarray([start], dtype=np.int64)                            # (1,)
    counts = np.ones(1, dtype=np.float64)                                  # (1,)
    for hop in path:
        nodes, counts = step(snapshot, nodes, counts, hop, avoid=start)
        if len(nodes) == 0:
            break
    return nodes, counts


def expand_all(snapshot: GraphSnapshot, nodes: np.ndarray, avoid: int = -1) -> dict[Hop, np.ndarray]:
    """Every one-hop extension of the frontier ``nodes``: hop → the (sorted, distinct) nodes it reaches.

    Hops that reach nothing are left out; ``avoid`` is never entered.
    """
    out: dict[Hop, np.ndarray] = {}
    for direction in ("out", "in"):
        ptr, nbr, typ = _adjacency(snapshot, direction)
        pos, _ = gather(ptr, nodes)                                       # (K,)
        reached, types = nbr[pos], typ[pos]                                # (K,), (K,)
        if avoid >= 0:
            ok = reached != avoid
            reached, types = reached[ok], types[ok]
        if len(reached) == 0:
            continue
        key = np.unique(types * snapshot.num_nodes + reached)              # (U,) sorted by (type, node)
        key_type = key // snapshot.num_nodes                               # (U,)
        bounds = np.flatnonzero(np.diff(key_type)) + 1
        for chunk in np.split(key, bounds):
            rel = int(chunk[0] // snapshot.num_nodes)
            out[Hop(snapshot.relations[rel], direction)] = chunk % snapshot.num_nodes
    return out
