"""Graphs for the page to draw: ``{"nodes": [{id, name, role}], "edges": [{source, target, type}]}``.

From a prediction (its topics, answers and the evidence paths between them), from a neighbourhood,
and from Cypher results (nodes, relationships and paths found anywhere in the rows).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

from kg.models import Relation
from qa.types import Prediction


class GraphBuilder:
    """Collects nodes and edges once each (a node keeps its most important role)."""

    _RANK: ClassVar[dict[str, int]] = {"topic": 3, "answer": 2, "focus": 2, "node": 0}

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: dict[tuple[str, str, str], dict[str, Any]] = {}

    def node(self, node_id: str, name: str | None = None, role: str = "node", **extra: Any) -> None:
        old = self.nodes.get(node_id)
        if old is None:
            self.nodes[node_id] = {"id": node_id, "name": name if name is not None else node_id, "role": role, **extra}
            return
        if self._RANK.get(role, 1) > self._RANK.get(old["role"], 1):
            old["role"] = role
        if name is not None and old["name"] == node_id:
            old["name"] = name
        old.update({k: v for k, v in extra.items() if v is not None})

    def edge(self, source: str, relation: str, target: str, **extra: Any) -> None:
        key = (source, relation, target)
        if key not in self.edges:
            self.edges[key] = {"id": "|".join(key), "source": source, "target": target, "type": relation, **extra}

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": list(self.nodes.values()), "edges": list(self.edges.values())}


def evidence_graph(pred: Prediction, name: Callable[[str], str], answers: int = 10, paths: int = 2) -> dict[str, Any]:
    """The topics, the first ``answers`` answers and up to ``paths`` evidence paths of each."""
    g = GraphBuilder()
    for t in pred.topics:
        g.node(t, name(t), "topic")
    for a in pred.answers[:answers]:
        g.node(a.entity_id, a.name, "answer", score=round(a.score, 4))
        for ev in a.evidence[:paths]:
            for s in ev.steps:
                g.node(s.head, name(s.head))
                g.node(s.tail, name(s.tail))
                g.edge(s.head, s.relation, s.tail)
    return g.to_dict()


def neighbour_graph(center: str, center_name: str, relations: Iterable[Relation],
                    name: Callable[[str], str]) -> dict[str, Any]:
    g = GraphBuilder()
    g.node(center, center_name, "focus")
    for r in relations:
        g.node(r.head, name(r.head))
        g.node(r.tail, name(r.tail))
        g.edge(r.head, r.type, r.tail)
    return g.to_dict()


def cypher_graph(rows: Sequence[Sequence[Any]]) -> dict[str, Any] | None:
    """The nodes, relationships and paths in ``rows`` (as the stores return them: nodes are dicts with
    ``id`` and ``_label``/``_labels``, relationships dicts with ``_type``, ``_start`` and ``_end``);
    ``None`` when the rows hold none."""
    g = GraphBuilder()
    pending: list[dict[str, Any]] = []
    for row in rows:
        for value in row:
            _collect(value, g, pending)
    for rel in pending:
        s, t = rel.get("_start"), rel.get("_end")
        if isinstance(s, str) and isinstance(t, str):
            g.node(s)
            g.node(t)
            g.edge(s, str(rel["_type"]), t)
    if not g.nodes:
        return None
    return g.to_dict()


def _is_node(v: dict[str, Any]) -> bool:
    return isinstance(v.get("id"), str) and ("_label" in v or "_labels" in v)


def _collect(value: Any, g: GraphBuilder, pending: list[dict[str, Any]]) -> None:
    if isinstance(value, list):
        for v in value:
            _collect(v, g, pending)
    elif isinstance(value, dict):
        if "nodes" in value and "relationships" in value and isinstance(value["nodes"], list):
            for v in value["nodes"]:
                _collect(v, g, pending)
            for v in value["relationships"]:
                _collect(v, g, pending)
        elif _is_node(value):
            g.node(value["id"], value.get("name"), labels=value.get("labels") or None)
        elif "_type" in value:
            pending.append(value)
