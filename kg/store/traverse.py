"""Breadth-first expansion shared by the stores' ``subgraph``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kg.models import Relation

EdgesOf = Callable[..., list[Relation]]


def bfs_edges(edges_of: EdgesOf, seeds: Sequence[str], hops: int, max_edges: int) -> list[Relation]:
    """Relations within ``hops`` of ``seeds``, hop by hop, stopping at ``max_edges``.

    ``edges_of(ids, "both", None, limit)`` returns the relations touching ``ids``;
    each hop asks for the relations of the nodes first reached in the previous hop.
    """
    if hops < 0:
        raise ValueError("hops must be >= 0")
    seen_nodes = set(seeds)
    frontier = list(dict.fromkeys(seeds))
    edges: dict[tuple[str, str, str], Relation] = {}
    for _ in range(hops):
        if not frontier or len(edges) >= max_edges:
            break
        nxt: list[str] = []
        for rel in edges_of(frontier, "both", None, 2 * max_edges):
            key = (rel.head, rel.type, rel.tail)
            if key in edges:
                continue
            if len(edges) >= max_edges:
                break
            edges[key] = rel
            for node in (rel.head, rel.tail):
                if node not in seen_nodes:
                    seen_nodes.add(node)
                    nxt.append(node)
        frontier = nxt
    return list(edges.values())
