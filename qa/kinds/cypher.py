"""The Cypher that reproduces a composed answer exactly, on Neo4j and on the embedded store.

A composed answer is a relation path walked from the topic (as :func:`qa.answer.paths.walk`: no node
along the way is the topic), then constraints on its end node ``a``: an edge to a given entity, a number
compared or ordered through a numeric relation; then what is returned: the entities, their ``count()``,
whether a given entity is among them (``yes``/``no``), or those with the largest or smallest value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from kg.names import check_identifier
from qa.answer.paths import Hop, RelationPath
from qa.kinds.reading import Comparison

Aggregate = Literal["list", "count", "exists", "max", "min"]


def _arrow(hop: Hop) -> str:
    rel = check_identifier(hop.relation)
    return f"-[:`{rel}`]->" if hop.direction == "out" else f"<-[:`{rel}`]-"


@dataclass(frozen=True)
class Composition:
    """What to compute: ``path`` from ``$topic``, ``constraints`` (hop from the answer, entity id), an optional
    numeric relation ``number`` (hop from the answer to its value) with a ``comparison``, and ``aggregate``."""

    path: RelationPath
    constraints: tuple[tuple[Hop, str], ...] = ()
    number: Hop | None = None
    comparison: Comparison | None = None
    aggregate: Aggregate = "list"
    target: str | None = None

    def cypher(self, topic: str | None, start: Sequence[str] = ()) -> tuple[str, dict[str, Any]]:
        """The query and its parameters: from ``topic`` along the path; with no topic, from each of the
        entities ``start`` along the path ("what are their genres"), or with no path, those entities
        themselves (a follow-up about the previous answers: "which of them ...")."""
        if not self.path and not start:
            raise ValueError("a composed answer needs a relation path of at least one hop, or entities to start from")
        if self.path:
            # from the topic, or from each of the entities ``start`` ("what are their genres"): no node
            # along the way is the entity walked from, as in :func:`qa.answer.paths.walk`
            params: dict[str, Any] = {"topic": topic} if topic is not None else {"start": list(start)}
            nodes = [f"n{i}" for i in range(1, len(self.path))] + ["a"]
            head = "(t:Entity {id: $topic})" if topic is not None else "(t:Entity)"
            pattern = head + "".join(f"{_arrow(h)}({n}:Entity)" for h, n in zip(self.path, nodes, strict=True))
            where = [] if topic is not None else ["t.id IN $start"]
            where += [f"{n}.id <> {'$topic' if topic is not None else 't.id'}" for n in nodes]
        else:
            params, pattern, where = {"start": list(start)}, "(a:Entity)", ["a.id IN $start"]
        parts = [pattern]
        for i, (hop, entity) in enumerate(self.constraints):
            parts.append(f"(a){_arrow(hop)}(:Entity {{id: $c{i}}})")
            params[f"c{i}"] = entity
        if self.number is not None:
            parts.append(f"(a){_arrow(self.number)}(v:Entity)")
            if self.comparison is not None:
                cond, p = self.comparison.cypher("toFloat(v.name)", "number")
                where.append(cond)
                params.update(p)
        if self.aggregate == "exists" and self.target is not None:
            where.append("a.id = $target")
            params["target"] = self.target
        match = f"MATCH {', '.join(parts)} WHERE {' AND '.join(where)}"
        if self.aggregate == "count":
            return f"{match} RETURN count(DISTINCT a) AS count", params
        if self.aggregate == "exists":
            return f"{match} RETURN count(DISTINCT a) > 0 AS answer", params
        if self.aggregate in ("max", "min"):
            if self.number is None:
                raise ValueError("a superlative needs a numeric relation")
            return (f"{match} WITH {self.aggregate}(toFloat(v.name)) AS best "
                    f"{match} AND toFloat(v.name) = best "
                    "RETURN DISTINCT a.id AS answer, a.name AS name, best AS value ORDER BY answer"), params
        return f"{match} RETURN DISTINCT a.id AS answer, a.name AS name ORDER BY answer", params


def describe(comp: Composition, name: Any) -> str:
    """Words for a composition (``name(entity id)`` gives what is printed): shown beside the answer."""
    path = " / ".join(str(h) for h in comp.path)
    out = [f"path {path}" if path else "the previous answers"]
    out += [f"{h} {name(e)}" for h, e in comp.constraints]
    if comp.number is not None and comp.comparison is not None:
        out.append(f"{comp.number.relation} {comp.comparison}")
    if comp.aggregate in ("max", "min") and comp.number is not None:
        out.append(f"{'largest' if comp.aggregate == 'max' else 'smallest'} {comp.number.relation}")
    if comp.aggregate == "count":
        out.append("count")
    if comp.aggregate == "exists" and comp.target is not None:
        out.append(f"is {name(comp.target)} among them")
    return "; ".join(out)
