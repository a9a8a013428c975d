"""Evidence: the paths that connect a topic entity to an answer, ranked, each with the Cypher that shows it.

:func:`find_paths` searches a :class:`~retrieval.snapshot.GraphSnapshot` (or a
:class:`~retrieval.subgraph.Subgraph`) for the paths of at most ``max_hops`` edges from the
topic to the answer, walking edges both ways and recording each triple in its stored
direction (:class:`~qa.types.Step`). Two ways to rank:

* **by relation path**: given the relation path the answerer used (``DIRECTED_BY> / <DIRECTED_BY``,
  see :mod:`qa.answer.paths`), only the instances of that path are returned; each contributes 1 (the
  template baseline scores an answer by how many such paths reach it);
* **by relation weights**: given weights in ``[0, 1]`` per relation (``{"DIRECTED_BY": 0.9}``, an
  ``(R,)`` array over ``snapshot.relations``, or ``(H, R)`` with one row per hop, the last row for
  later hops), every path scores the product of the weights of its edges, missing relations 0.5
  (no weights: every path scores 1), and the best come first (ties: shorter first, then as found).
  The search is best-first and exact: a path's score never grows as it gets longer.

The QA head's own evidence (:func:`evidence_paths`) is a beam search over the question's subgraph
for walks of 1..K edges, scored by the model's step mixture and per-step relation weights; all
answers of a question in one search.

Paths never come back to the topic. Found by weights, they are simple (no node twice, the answer
only at the end); instances of a relation path are simple when any such path exists, else walks
that revisit a node but never use an edge twice (so that the query below finds them on every
backend; an answer reached only by walks that go back over the same edge gets no evidence).

Each :class:`~qa.types.Evidence` carries a parameterised read-only Cypher query that returns
that very path from the store (``store.cypher(ev.cypher, ev.params)``; every node pinned by
``id``, relationship types validated), and :func:`relation_path_cypher` gives the query that
returns all answers of a relation path with their path counts.

Usage::

    paths = find_paths(snapshot, "Black Snake Moan", "Footloose", relation_path=parse_path(
        "DIRECTED_BY> / <DIRECTED_BY"))
    paths[0].steps     # [Step('Black Snake Moan', 'DIRECTED_BY', 'Craig Brewer'), Step('Footloose', ...)]
    store.cypher(paths[0].cypher, paths[0].params).rows     # the path, from the database
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kg.errors import ConfigError
from kg.names import check_identifier
from qa.answer.paths import Direction, Hop, RelationPath, relation_index, step
from qa.types import Evidence, Step
from retrieval.snapshot import GraphSnapshot, gather
from retrieval.subgraph import Subgraph

RelationWeights = Mapping[str, float] | np.ndarray
MISSING_WEIGHT = 0.5
MAX_EXPANSIONS = 200_000


def as_snapshot(graph: GraphSnapshot | Subgraph) -> GraphSnapshot:
    """A snapshot of ``graph`` (a subgraph becomes a small snapshot over its local nodes)."""
    if isinstance(graph, GraphSnapshot):
        return graph
    if isinstance(graph, Subgraph):
        return GraphSnapshot.from_arrays(graph.node_ids, graph.names, graph.relations,
                                         graph.edge_index[0], graph.edge_index[1], graph.edge_type)
    raise TypeError(f"expected a GraphSnapshot or a Subgraph, got {type(graph).__name__}")


def find_paths(graph: GraphSnapshot | Subgraph, topic: str, answer: str, *, max_hops: int = 3,
               relation_path: RelationPath | None = None, weights: RelationWeights | None = None,
               limit: int = 5) -> list[Evidence]:
    """The best ``limit`` paths from ``topic`` to ``answer`` (entity ids), best first (see the module docstring).

    Returns an empty list when either entity is not in the graph or nothing connects them.
    """
    if limit <= 0:
        return []
    snap = as_snapshot(graph)
    t, a = snap.index_of.get(topic), snap.index_of.get(answer)
    if t is None or a is None or t == a:
        return []
    if relation_path is not None:
        forward = _forward(snap, t, relation_path)
        found = [(1.0, nodes, edges) for nodes, edges in _instances(snap, t, a, relation_path, forward, limit)]
    else:
        found = _best_first(snap, t, a, max_hops, _weight_table(snap, weights, max_hops), limit)
    return [_evidence(snap, nodes, edges, score) for score, nodes, edges in found]


def relation_path_evidence(graph: GraphSnapshot | Subgraph, topic: str, answers: Sequence[str],
                           relation_path: RelationPath, limit: int = 1) -> dict[str, list[Evidence]]:
    """:func:`find_paths` by ``relation_path`` for many answers of one topic (the walk from the topic is
    shared): answer → up to ``limit`` paths (answers that the path does not reach get none)."""
    snap = as_snapshot(graph)
    t = snap.index_of.get(topic)
    if t is None or limit <= 0:
        return {a: [] for a in answers}
    forward = _forward(snap, t, relation_path)
    out: dict[str, list[Evidence]] = {}
    for answer in answers:
        a = snap.index_of.get(answer)
        found = [] if a is None or a == t else _instances(snap, t, a, relation_path, forward, limit)
        out[answer] = [_evidence(snap, nodes, edges, 1.0) for nodes, edges in found]
    return out


# -- instances of one relation path ------------------------------------------------------------
def _forward(snap: GraphSnapshot, t: int, path: RelationPath) -> list[np.ndarray]:
    """The nodes reached after each hop of ``path`` from ``t`` (``t`` itself only at the start)."""
    forward = [np.asarray([t], dtype=np.int64)]
    for hop in path:
        nodes, _ = step(snap, forward[-1], np.ones(len(forward[-1])), hop, avoid=t)   # (M,)
        forward.append(nodes)
    return forward


def _instances(snap: GraphSnapshot, t: int, a: int, path: RelationPath, forward: list[np.ndarray],
               limit: int) -> list[tuple[list[int], list[int]]]:
    """Up to ``limit`` paths from ``t`` to ``a`` that follow ``path`` (never back through ``t``; simple ones
    when there are any, else with no edge twice); ``forward`` is :func:`_forward`."""
    k = len(path)
    last = forward[-1]
    i_last = int(np.searchsorted(last, a))
    if i_last >= len(last) or last[i_last] != a:
        return []
    allowed: list[set[int]] = [set() for _ in range(k + 1)]
    allowed[k] = {a}
    back = np.asarray([a], dtype=np.int64)
    for i in range(k - 1, -1, -1):
        back, _ = step(snap, back, np.ones(len(back)), _reverse(path[i]))
        back = np.intersect1d(back, forward[i])
        allowed[i] = set(back.tolist())
    rels = [relation_index(snap, h.relation) for h in path]
    out: list[tuple[list[int], list[int]]] = []

    def extend(nodes: list[int], edges: list[int], simple: bool) -> None:
        i = len(edges)
        if i == k:
            out.append((list(nodes), list(edges)))
            return
        for nbr, eid in _edges(snap, nodes[-1], path[i].direction, rels[i]):
            if nbr in allowed[i + 1] and not (simple and nbr in nodes) and eid not in edges:
                extend([*nodes, nbr], [*edges, eid], simple)
                if len(out) >= limit:
                    return

    extend([t], [], simple=True)
    if not out:   # the answer is only reached by walks that come back to a node
        extend([t], [], simple=False)
    return out


def _reverse(hop: Hop) -> Hop:
    return Hop(hop.relation, "in" if hop.direction == "out" else "out")


def _edges(snap: GraphSnapshot, node: int, direction: Direction, rel: int = -1) -> list[tuple[int, int]]:
    """(neighbour, edge id) of the edges of ``node`` walked in ``direction`` (of relation ``rel`` if given)."""
    if direction == "out":
        ptr, nbr, typ, eid = snap.out_ptr, snap.out_nbr, snap.out_type, snap.out_eid
    else:
        ptr, nbr, typ, eid = snap.in_ptr, snap.in_nbr, snap.in_type, snap.in_eid
    lo, hi = int(ptr[node]), int(ptr[node + 1])
    if rel >= 0:   # rows are sorted by (type, neighbour): the relation's edges are one run
        types = typ[lo:hi]
        lo, hi = lo + int(np.searchsorted(types, rel, "left")), lo + int(np.searchsorted(types, rel, "right"))
    return list(zip(nbr[lo:hi].tolist(), eid[lo:hi].tolist(), strict=True))


# -- best-first search by relation weights -----------------------------------------------------
def _weight_table(snap: GraphSnapshot, weights: RelationWeights | None, max_hops: int) -> np.ndarray | None:
    """``(H, R)`` weights per hop and relation in [0, 1], or ``None`` when every path scores 1."""
    if weights is None:
        return None
    if isinstance(weights, Mapping):
        unknown = sorted(set(weights) - set(snap.relations))
        if unknown:
            raise ConfigError(f"relation weights name relations the graph lacks ({', '.join(unknown[:5])}); "
                              f"use the graph's relationship types ({', '.join(snap.relations[:9])}...)")
        table = np.asarray([[float(weights.get(r, MISSING_WEIGHT)) for r in snap.relations]])  # (1, R)
    else:
        table = np.atleast_2d(np.asarray(weights, dtype=np.float64))                            # (H, R)
        if table.ndim != 2 or table.shape[1] != snap.num_relations:
            raise ConfigError(f"relation weights of shape {np.shape(weights)} do not fit the graph's "
                              f"{snap.num_relations} relations; give (R,) or (hops, R) over snapshot.relations")
    if not np.all((table >= 0) & (table <= 1)):
        raise ConfigError("relation weights must lie in [0, 1] (a path scores their product); "
                          "rescale them, e.g. with a softmax or exp(s - max s)")
    rows = [table[min(i, len(table) - 1)] for i in range(max_hops)]
    return np.stack(rows)                                                                       # (max_hops, R)


def _distances(snap: GraphSnapshot, source: int, radius: int) -> np.ndarray:
    """Hops from ``source`` to every node over edges of either direction, up to ``radius`` (else radius+1)."""
    dist = np.full(snap.num_nodes, radius + 1, dtype=np.int64)   # (N,)
    dist[source] = 0
    frontier = np.asarray([source], dtype=np.int64)
    for d in range(1, radius + 1):
        out_pos, _ = gather(snap.out_ptr, frontier)
        in_pos, _ = gather(snap.in_ptr, frontier)
        cand = np.unique(np.concatenate([snap.out_nbr[out_pos], snap.in_nbr[in_pos]]))   # (U,)
        frontier = cand[dist[cand] > d]
        dist[frontier] = d
        if len(frontier) == 0:
            break
    return dist


def _best_first(snap: GraphSnapshot, t: int, a: int, max_hops: int, table: np.ndarray | None,
                limit: int) -> list[tuple[float, list[int], list[int]]]:
    dist = _distances(snap, a, max_hops)
    if dist[t] > max_hops:
        return []
    tick = itertools.count()
    # (-score, length, order, node ids of the path, edge ids, complete)
    heap: list[tuple[float, int, int, tuple[int, ...], tuple[int, ...], bool]] = [(-1.0, 0, 0, (t,), (), False)]
    out: list[tuple[float, list[int], list[int]]] = []
    expansions = 0
    while heap and len(out) < limit and expansions < MAX_EXPANSIONS:
        neg, length, _, nodes, edges, complete = heapq.heappop(heap)
        if complete:
            out.append((-neg, list(nodes), list(edges)))
            continue
        expansions += 1
        left = max_hops - length - 1
        for direction in ("out", "in"):
            for nbr, eid in _edges(snap, nodes[-1], direction):
                if dist[nbr] > left or nbr in nodes:
                    continue
                w = 1.0 if table is None else float(table[length, snap.edge_type[eid]])
                if w <= 0:
                    continue
                entry = (neg * w, length + 1, next(tick), (*nodes, nbr), (*edges, eid), nbr == a)
                if nbr == a or left > 0:
                    heapq.heappush(heap, entry)
    return out


# -- paths weighted by the fusion model's relation weights (the QA head's evidence) -------------------
def evidence_paths(topics: Sequence[int], answers: Sequence[int], step_weights: Sequence[float] | np.ndarray,
                   edge_index: np.ndarray, edge_type: np.ndarray, relation_weights: np.ndarray,
                   node_ids: Sequence[str], relations: Sequence[str], paths: int = 2,
                   beam: int = 3) -> dict[int, list[Evidence]]:
    """For each answer, the best ``paths`` walks from a topic to it, of 1..K edges; one beam search for all.

    ``step_weights (K,)``: the model's step mixture ``π`` (how much the answer comes from step ``k``);
    ``relation_weights (K, 2R)``: step ``k``'s weight of relation ``r`` walked forward (``r``) or
    backward (``R + r``). A walk of ``k`` edges scores ``π_k`` times the product of its steps' weights.
    A walk never uses an edge twice (so the Cypher of :func:`path_cypher` finds it on every store),
    but may pass through a node again, the topic included: "the child of X's father" is answered by
    ``X -PARENTS-> F <-PARENTS- Y`` and, for ``X`` itself, needs its own second edge.

    Only walks that can still end on an answer are grown: before step ``k`` a node is kept only if an
    answer lies within the steps left (distances from the answers, computed once), so the search
    costs what the answers' neighbourhoods cost, not the whole subgraph's ``K``-hop ball."""
    r_count = len(relations)
    k_max = min(len(step_weights), len(relation_weights))
    if not answers or not topics or k_max == 0:
        return {a: [] for a in answers}
    heads, tails = np.asarray(edge_index[0], np.int64), np.asarray(edge_index[1], np.int64)
    n_edges = len(heads)
    n_nodes = int(max(heads.max(initial=-1), tails.max(initial=-1), max(topics), max(answers))) + 1
    # both directions as one CSR over local nodes: (next node, edge, 0 forward / 1 backward)
    src, dst = np.concatenate([heads, tails]), np.concatenate([tails, heads])             # (2E,)
    eid = np.concatenate([np.arange(n_edges), np.arange(n_edges)])                        # (2E,)
    et = np.asarray(edge_type, np.int64)          # packed narrow (int8 for <= 127 types): widen before adding R
    col = np.concatenate([et, et + r_count])                                              # (2E,)
    order = np.argsort(src, kind="stable")
    src, dst, eid, col = src[order], dst[order], eid[order], col[order]
    ptr = np.searchsorted(src, np.arange(n_nodes + 1))                                    # (N+1,)
    # hops from each node to the nearest answer (walks are undirected), up to k_max
    far = np.full(n_nodes, k_max + 1, np.int64)
    reach = np.asarray(sorted(set(answers)), np.int64)
    far[reach] = 0
    for d in range(1, k_max + 1):
        nxt = np.unique(src[np.isin(dst, reach)])
        reach = nxt[far[nxt] > d]
        far[reach] = d
        if not len(reach):
            break
    log_w = np.log(np.maximum(np.asarray(relation_weights[:k_max], np.float64), 1e-12))    # (K, 2R)
    Item = tuple[float, tuple[int, ...], tuple[int, ...]]                # (log score, node path, edge path)
    beams: dict[int, list[Item]] = {t: [(0.0, (t,), ())] for t in topics if far[t] <= k_max}
    done: dict[int, list[Item]] = {}
    wanted = set(answers)
    for k in range(k_max):
        left = k_max - k - 1                                             # steps after this one
        lw = log_w[k][col]                                               # (2E,) this step's edge weights
        nxt_beams: dict[int, list[Item]] = {}
        for u, items in beams.items():
            lo, hi = int(ptr[u]), int(ptr[u + 1])
            for v, e, w in zip(dst[lo:hi].tolist(), eid[lo:hi].tolist(), lw[lo:hi].tolist(), strict=True):
                if far[v] > left:
                    continue
                for sc, nodes, es in items:
                    if e not in es:
                        nxt_beams.setdefault(v, []).append((sc + w, (*nodes, v), (*es, e)))
        beams = {v: sorted(items, key=lambda x: -x[0])[:beam] for v, items in nxt_beams.items()}
        lpi = math.log(max(float(step_weights[k]), 1e-12))
        for v in wanted & beams.keys():
            done.setdefault(v, []).extend((sc + lpi, nodes, es) for sc, nodes, es in beams[v])
        if not beams:
            break
    out: dict[int, list[Evidence]] = {}
    hl, tl = heads.tolist(), tails.tolist()
    for answer in answers:
        out[answer] = []
        for sc, nodes, es in sorted(done.get(answer, []), key=lambda x: -x[0])[:paths]:
            steps = [Step(node_ids[hl[e]], relations[int(edge_type[e])], node_ids[tl[e]]) for e in es]
            query, params = path_cypher(steps, [node_ids[n] for n in nodes])
            out[answer].append(Evidence(steps=steps, score=float(math.exp(sc)), cypher=query, params=params))
    return out


# -- steps and Cypher ---------------------------------------------------------------------------
def _evidence(snap: GraphSnapshot, nodes: list[int], edges: list[int], score: float) -> Evidence:
    steps = [Step(snap.node_ids[int(snap.src[e])], snap.relations[int(snap.edge_type[e])],
                  snap.node_ids[int(snap.dst[e])]) for e in edges]
    ids = [snap.node_ids[i] for i in nodes]
    cypher, params = path_cypher(steps, ids)
    return Evidence(steps=steps, score=score, cypher=cypher, params=params)


def path_cypher(steps: Sequence[Step], nodes: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """A read-only query returning the path ``nodes[0] - steps... - nodes[-1]`` as ``p``, and its parameters.

    ``nodes`` are the entity ids in walking order (``len(steps) + 1`` of them); each step's stored
    direction decides the arrow. Every node is pinned by id (``$topic``, ``$n1``..., ``$answer``).
    """
    if len(nodes) != len(steps) + 1:
        raise ValueError(f"{len(steps)} steps need {len(steps) + 1} nodes, got {len(nodes)}")
    names = ["topic", *(f"n{i}" for i in range(1, len(steps))), "answer"]
    parts = [f"(n0:Entity {{id: ${names[0]}}})"]
    for i, s in enumerate(steps):
        rel = check_identifier(s.relation)
        if (s.head, s.tail) == (nodes[i], nodes[i + 1]):
            arrow = f"-[:`{rel}`]->"
        elif (s.head, s.tail) == (nodes[i + 1], nodes[i]):
            arrow = f"<-[:`{rel}`]-"
        else:
            raise ValueError(f"step {i} ({s.head} -{s.relation}-> {s.tail}) does not join {nodes[i]!r} "
                             f"and {nodes[i + 1]!r}")
        parts.append(f"{arrow}(n{i + 1}:Entity {{id: ${names[i + 1]}}})")
    return f"MATCH p = {''.join(parts)} RETURN p", dict(zip(names, nodes, strict=True))


def relation_path_cypher(path: RelationPath) -> str:
    """A read-only query for the answers of ``path`` from ``$topic``, with the number of paths to each.

    Mirrors :func:`qa.answer.paths.walk`: no node along the way (nor the answer) is the topic. Returns
    the columns ``answer`` (entity id) and ``paths``, most paths first.
    """
    if not path:
        raise ValueError("an empty relation path has no answers")
    parts = ["(t:Entity {id: $topic})"]
    for i, hop in enumerate(path, 1):
        rel = check_identifier(hop.relation)
        arrow = f"-[:`{rel}`]->" if hop.direction == "out" else f"<-[:`{rel}`]-"
        parts.append(f"{arrow}(n{i}:Entity)")
    where = " AND ".join(f"n{i}.id <> $topic" for i in range(1, len(path) + 1))
    return (f"MATCH {''.join(parts)} WHERE {where} "
            f"RETURN n{len(path)}.id AS answer, count(*) AS paths ORDER BY paths DESC, answer")


def path_text(steps: Sequence[Step], start: str, name: Any) -> str:
    """``Up -[DIRECTED_BY]-> Pete Docter <-[DIRECTED_BY]- Inside Out``: from ``start`` (the topic), each
    step in its stored direction; ``name(entity_id)`` gives what is printed."""
    out, current = name(start), start
    for s in steps:
        if s.head == current:
            out += f" -[{s.relation}]-> {name(s.tail)}"
            current = s.tail
        else:
            out += f" <-[{s.relation}]- {name(s.head)}"
            current = s.head
    return out
