"""Typed values that cross the boundaries of the knowledge-graph layer.

Entities are identified by a stable string ``id``. Relations are identified by
``(head, type, tail)``: storing the same triple twice keeps one relationship and
adds the new provenance to its ``sources``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JSONScalar = str | int | float | bool | None
# Property names the stores keep for themselves (an entity's or relation's own fields).
RESERVED_PROPERTIES = frozenset({"id", "name", "aliases", "labels", "keys", "sources"})
Properties = dict[str, Any]


@dataclass(slots=True)
class Entity:
    """A node of the graph.

    Args:
        id: stable identifier (an IRI for RDF, the name for delimited triples).
        name: display name; defaults to ``id`` when the source has none.
        aliases: other names the entity is known by.
        labels: types of the entity (``rdf:type`` for RDF), valid identifiers.
        properties: scalar or list-of-scalar attributes (literals in RDF).
    """

    id: str
    name: str | None = None
    aliases: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    properties: Properties = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        return self.name if self.name is not None else self.id


@dataclass(slots=True)
class Relation:
    """A directed, typed edge ``head -[type]-> tail``.

    Args:
        head: id of the source entity.
        type: relation name as the data gives it (``directed_by``); stores use the
            validated relationship type derived from it (``DIRECTED_BY``).
        tail: id of the target entity.
        properties: attributes of the edge.
        sources: provenance, e.g. ``["kb.txt"]`` or document ids; stores keep the union.
    """

    head: str
    type: str
    tail: str
    properties: Properties = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Batch:
    """What a reader yields: entities and relations that belong together."""

    entities: list[Entity] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.entities) + len(self.relations)


@dataclass(slots=True)
class WriteResult:
    """Counts of what one write changed in the store."""

    nodes_created: int = 0
    relationships_created: int = 0
    nodes_updated: int = 0

    def __iadd__(self, other: WriteResult) -> WriteResult:
        self.nodes_created += other.nodes_created
        self.relationships_created += other.relationships_created
        self.nodes_updated += other.nodes_updated
        return self


@dataclass(slots=True)
class GraphStats:
    """Counts of a store: entities, relations, and relations per type."""

    entities: int
    relations: int
    relation_types: dict[str, int]
    labels: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "entities": self.entities,
            "relations": self.relations,
            "relation_types": dict(sorted(self.relation_types.items())),
            "labels": dict(sorted(self.labels.items())),
        }


@dataclass(slots=True)
class CypherResult:
    """Rows of a read-only query, capped at ``limit`` rows (``truncated`` says if more existed)."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = False

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]
