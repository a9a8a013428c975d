"""The GraphStore extension point and what both backends share.

Both backends speak Cypher, store the same data model and pass the same contract
test-suite (``tests/kg/test_store_contract.py``):

* every node has the label ``Entity`` and a unique ``id``; ``name``, ``aliases``
  (list), ``labels`` (types from data, also real node labels in Neo4j), ``keys``
  (case/accent-folded name and aliases, for exact lookup) and properties;
* every relation is a real relationship type derived from the data
  (``directed_by`` → ``DIRECTED_BY``) carrying ``sources`` (provenance list) and
  properties. A triple is stored once however often it is written.

Writes go through :meth:`GraphStore.upsert`, which is idempotent: writing the
same batch twice changes nothing the second time (counts included).
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kg.errors import InvalidName
from kg.models import RESERVED_PROPERTIES, Batch, CypherResult, Entity, GraphStats, Relation, WriteResult
from kg.names import default_name, lookup_key, relation_type
from kg.names import label as to_label

DEFAULT_ROW_LIMIT = 1000
DEFAULT_TIMEOUT_S = 30.0


@dataclass(slots=True)
class NodeRow:
    """One entity as written to a store: fragments merged, values validated."""

    id: str
    name: str | None
    aliases: list[str]
    labels: list[str]
    keys: list[str]
    props: dict[str, Any]


@dataclass(slots=True)
class EdgeRow:
    """One relation as written: ``(h, t)`` of a given type, sources and properties merged."""

    h: str
    t: str
    sources: list[str]
    props: dict[str, Any]


@dataclass(slots=True)
class PreparedBatch:
    """A batch after validation: nodes by id and edges grouped by relationship type."""

    nodes: dict[str, NodeRow]
    edges: dict[str, dict[tuple[str, str], EdgeRow]]
    endpoint_ids: set[str]

    @property
    def n_edges(self) -> int:
        return sum(len(g) for g in self.edges.values())


def clean_value(key: str, value: Any) -> Any:
    """A property value both databases can store: scalar or list of scalars of one type."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return value
    if isinstance(value, list | tuple | set):
        items = [clean_value(key, v) for v in value]
        items = [v for v in items if v is not None and not isinstance(v, list)]
        if len({type(v) for v in items}) > 1:
            items = [str(v) for v in items]
        return items
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def clean_props(props: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in props.items():
        if not isinstance(k, str) or not k or k in RESERVED_PROPERTIES:
            raise InvalidName(f"property name {k!r} is empty or reserved ({sorted(RESERVED_PROPERTIES)})")
        cv = clean_value(k, v)
        if cv is not None:
            out[k] = cv
    return out


def _union(a: list[str], b: Iterable[str]) -> list[str]:
    out = list(a)
    seen = set(a)
    for x in b:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def merge_node(row: NodeRow, e: Entity) -> None:
    """Fold entity fragment ``e`` into ``row`` (name: last given wins; lists: union; props: update)."""
    if e.name is not None:
        row.name = e.name
    row.aliases = _union(row.aliases, e.aliases)
    row.labels = _union(row.labels, (to_label(x) for x in e.labels))
    row.props.update(clean_props(e.properties))


def node_row(e: Entity) -> NodeRow:
    row = NodeRow(id=e.id, name=None, aliases=[], labels=[], keys=[], props={})
    merge_node(row, e)
    return row


def prepare(batch: Batch) -> PreparedBatch:
    """Validate and merge a batch; raises :class:`InvalidName` or :class:`ValueError` on bad values."""
    nodes: dict[str, NodeRow] = {}
    for e in batch.entities:
        if not isinstance(e.id, str) or not e.id:
            raise ValueError(f"entity id must be a non-empty string, got {e.id!r}")
        if e.id in nodes:
            merge_node(nodes[e.id], e)
        else:
            nodes[e.id] = node_row(e)
    edges: dict[str, dict[tuple[str, str], EdgeRow]] = {}
    endpoints: set[str] = set()
    types: dict[str, str] = {}
    for r in batch.relations:
        if not r.head or not r.tail:
            raise ValueError(f"relation {r.head!r} -[{r.type}]-> {r.tail!r} needs a head and a tail")
        t = types.get(r.type)
        if t is None:
            t = types[r.type] = relation_type(r.type)
        group = edges.get(t)
        if group is None:
            group = edges[t] = {}
        key = (r.head, r.tail)
        row = group.get(key)
        if row is None:
            sources = r.sources if len(r.sources) < 2 else list(dict.fromkeys(r.sources))
            group[key] = EdgeRow(r.head, r.tail, list(sources), clean_props(r.properties) if r.properties else {})
        else:
            row.sources = _union(row.sources, r.sources)
            if r.properties:
                row.props.update(clean_props(r.properties))
        endpoints.add(r.head)
        endpoints.add(r.tail)
    return PreparedBatch(nodes=nodes, edges=edges, endpoint_ids=endpoints)


def node_keys(name: str, aliases: list[str]) -> list[str]:
    """Exact-lookup keys of an entity: its name and aliases, case- and accent-folded."""
    return list(dict.fromkeys([lookup_key(name), *(lookup_key(a) for a in aliases)]))


def creation_row(entity_id: str, row: NodeRow | None) -> NodeRow:
    """The row that creates an entity: one known only as a relation endpoint, or one
    without a name, is named after its id (:func:`default_name`) and found by that name."""
    if row is None:
        name = default_name(entity_id)
        return NodeRow(entity_id, name, [], [], [lookup_key(name)], {})
    name = row.name if row.name is not None else default_name(entity_id)
    return NodeRow(row.id, name, row.aliases, row.labels, node_keys(name, row.aliases), row.props)


def merge_stored(stored: NodeRow, row: NodeRow) -> NodeRow | None:
    """``stored`` updated with ``row`` (name replaced when given, aliases and labels added,
    properties updated, keys re-derived), or ``None`` when that changes nothing."""
    name = row.name if row.name is not None else stored.name
    aliases = _union(stored.aliases, row.aliases)
    merged = NodeRow(stored.id, name, aliases, _union(stored.labels, row.labels),
                     node_keys(name or stored.id, aliases), {**stored.props, **row.props})
    same = (merged.name == stored.name and merged.aliases == stored.aliases and merged.labels == stored.labels
            and merged.keys == stored.keys and merged.props == stored.props)
    return None if same else merged


@dataclass(slots=True)
class WritePlan:
    """How a batch meets the store: what to create outright and what to merge.

    A relation with an endpoint that the store does not hold yet cannot exist, so
    it can be created without a lookup (``CREATE`` / bulk ``COPY``); only relations
    between existing entities need ``MERGE``. On a fresh load that is nearly all of
    them, which is what makes bulk loads fast while re-loads stay idempotent.
    """

    new_nodes: list[NodeRow]
    known_nodes: list[NodeRow]
    fresh_edges: dict[str, list[EdgeRow]]
    known_edges: dict[str, list[EdgeRow]]


def plan_write(prep: PreparedBatch, existing: set[str] | dict[str, Any]) -> WritePlan:
    ids = prep.nodes.keys() | prep.endpoint_ids
    nodes = prep.nodes
    new_nodes = [creation_row(i, nodes.get(i)) for i in ids if i not in existing]
    known_nodes = [row for i, row in nodes.items() if i in existing]
    fresh: dict[str, list[EdgeRow]] = {}
    known: dict[str, list[EdgeRow]] = {}
    for rel, group in prep.edges.items():
        f, k = fresh.setdefault(rel, []), known.setdefault(rel, [])
        for e in group.values():
            (k if e.h in existing and e.t in existing else f).append(e)
    return WritePlan(new_nodes, known_nodes, fresh, known)


@dataclass(slots=True)
class GraphExport:
    """A graph (or part of one) as arrays for torch-geometric.

    Attributes:
        node_ids: ``node_ids[i]`` is the entity id of node ``i``.
        names: display name of each node.
        edge_index: ``[2, E]`` as two lists (sources, targets) of node indices.
        edge_type: relation index of each edge, into ``relations``.
        relations: the relation vocabulary (relationship types, sorted).
    """

    node_ids: list[str]
    names: list[str]
    edge_index: tuple[list[int], list[int]]
    edge_type: list[int]
    relations: list[str]
    index_of: dict[str, int] = field(default_factory=dict)

    @property
    def num_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def num_edges(self) -> int:
        return len(self.edge_type)

    def to_numpy(self) -> dict[str, Any]:
        import numpy as np

        return {
            "edge_index": np.asarray(self.edge_index, dtype=np.int64).reshape(2, -1),
            "edge_type": np.asarray(self.edge_type, dtype=np.int64),
            "node_ids": np.asarray(self.node_ids, dtype=object),
            "relations": np.asarray(self.relations, dtype=object),
        }

    def to_pyg(self) -> Any:
        """A ``torch_geometric.data.Data`` with ``edge_index``, ``edge_type``, ``num_nodes``,
        ``node_ids`` and ``relations`` (needs the ``ml`` extra: torch and torch-geometric)."""
        try:
            import torch
            from torch_geometric.data import Data
        except ImportError as exc:  # pragma: no cover - depends on the extra
            from kg.errors import ConfigError

            raise ConfigError("to_pyg needs torch and torch-geometric: pip install 'kgqa[ml]'") from exc
        return Data(
            edge_index=torch.tensor(self.edge_index, dtype=torch.long).reshape(2, -1),
            edge_type=torch.tensor(self.edge_type, dtype=torch.long),
            num_nodes=self.num_nodes,
            node_ids=self.node_ids,
            relations=self.relations,
        )


def build_export(nodes: Sequence[tuple[str, str]], edges: Iterable[tuple[str, str, str]]) -> GraphExport:
    """Assemble a :class:`GraphExport` from ``(id, name)`` nodes and ``(head, type, tail)`` edges.

    Nodes are ordered by id so that two exports of the same graph are identical;
    edges whose endpoints are not among ``nodes`` are dropped.
    """
    ordered = sorted(nodes)
    index = {nid: i for i, (nid, _) in enumerate(ordered)}
    triples = [(index[h], t, index[tl]) for h, t, tl in edges if h in index and tl in index]
    relations = sorted({t for _, t, _ in triples})
    rel_index = {r: i for i, r in enumerate(relations)}
    triples.sort(key=lambda x: (x[0], rel_index[x[1]], x[2]))
    return GraphExport(
        node_ids=[n for n, _ in ordered],
        names=[name for _, name in ordered],
        edge_index=([h for h, _, _ in triples], [tl for _, _, tl in triples]),
        edge_type=[rel_index[t] for _, t, _ in triples],
        relations=relations,
        index_of=index,
    )


class GraphStore(ABC):
    """A graph database holding entities and typed relations.

    Open one with :func:`kg.store.open_store`. Stores are context managers.
    """

    name: str = "abstract"
    #: Records per ingest batch (one transaction each) unless the caller says otherwise.
    default_batch_size: int = 50_000

    # -- writing ---------------------------------------------------------------------------
    def upsert(self, batch: Batch) -> WriteResult:
        """Write entities and relations idempotently, in one transaction.

        Entities are merged into existing ones (name replaced when given, aliases,
        labels and properties added); relations are stored once per ``(head, type,
        tail)`` and gain the batch's sources. Endpoints that do not exist yet are
        created with ``name = id``.

        Raises:
            InvalidName, ValueError: a relation type, label or value is unusable;
                nothing of the batch is written.
        """
        return self.write(prepare(batch))

    @abstractmethod
    def write(self, batch: PreparedBatch) -> WriteResult:
        """Write a batch already validated by :func:`prepare` (see :meth:`upsert`)."""

    def flush(self) -> None:  # noqa: B027 - optional hook, a no-op for most stores
        """Compact what was written into the main database files (committed writes are durable already)."""

    def upsert_entities(self, entities: Sequence[Entity]) -> WriteResult:
        return self.upsert(Batch(entities=list(entities)))

    def upsert_relations(self, relations: Sequence[Relation]) -> WriteResult:
        return self.upsert(Batch(relations=list(relations)))

    @abstractmethod
    def delete_entities(self, ids: Sequence[str]) -> int:
        """Delete entities and their relations; returns how many entities existed."""

    @abstractmethod
    def delete_relations(self, relations: Sequence[Relation]) -> int:
        """Delete the given ``(head, type, tail)`` relations; returns how many existed."""

    @abstractmethod
    def retract(self, relations: Sequence[Relation], source: str) -> tuple[int, int]:
        """Withdraw ``source``'s support for ``relations``: drop it from their ``sources``;
        delete those that no source supports any more.

        This is how a re-ingested or removed document takes back the facts it stated
        while facts that other sources also state stay. Relations that do not list
        ``source`` are left alone. Returns ``(deleted, updated)``.
        """

    @abstractmethod
    def delete_orphans(self, ids: Sequence[str]) -> int:
        """Delete those of ``ids`` that have no relation left; returns how many were deleted."""

    @abstractmethod
    def clear(self) -> None:
        """Delete everything in the store (tests and ``kgqa reset``)."""

    # -- reading ---------------------------------------------------------------------------
    @abstractmethod
    def get_entity(self, entity_id: str) -> Entity | None:
        """The entity with this id, or ``None``."""

    @abstractmethod
    def find_by_name(self, text: str, limit: int = 20) -> list[Entity]:
        """Entities whose name or an alias equals ``text``, ignoring case and accents."""

    @abstractmethod
    def neighbours(self, entity_id: str, direction: str = "both", types: Sequence[str] | None = None,
                   limit: int = 1000) -> list[Relation]:
        """Relations touching ``entity_id`` (``direction``: ``out``, ``in`` or ``both``)."""

    @abstractmethod
    def subgraph(self, seeds: Sequence[str], hops: int = 2, max_edges: int = 10000) -> list[Relation]:
        """Relations within ``hops`` of the seeds (breadth first, at most ``max_edges``)."""

    @abstractmethod
    def stats(self) -> GraphStats:
        """Counts of entities, relations, and relations per type and entities per label."""

    def repair(self) -> dict[str, int]:
        """Mend what an earlier kgqa left wrong in the stored graph; returns ``{relation type: edges}`` for
        each type rebuilt. Nothing to mend on this backend (see :meth:`EmbeddedStore.repair`)."""
        return {}

    @abstractmethod
    def export(self, seeds: Sequence[str] | None = None, hops: int = 2) -> GraphExport:
        """The whole graph, or the ``hops``-neighbourhood of ``seeds``, for torch-geometric."""

    @abstractmethod
    def cypher(self, query: str, params: dict[str, Any] | None = None, *, limit: int = DEFAULT_ROW_LIMIT,
               timeout_s: float = DEFAULT_TIMEOUT_S) -> CypherResult:
        """Run a read-only query in a read-only transaction; at most ``limit`` rows."""

    def read(self, query: str, params: dict[str, Any] | None = None, *, limit: int = DEFAULT_ROW_LIMIT,
             timeout_s: float = DEFAULT_TIMEOUT_S) -> CypherResult:
        """A reading query written by kgqa itself, never a user's (the linker's entity scan, the text
        reader's samples): read-only, but without the exploration guard's per-query costs. A user's
        query always goes through :meth:`cypher`."""
        return self.cypher(query, params, limit=limit, timeout_s=timeout_s)

    @abstractmethod
    def close(self) -> None:
        """Release the connection or database files."""

    def relation_types(self) -> list[str]:
        return sorted(self.stats().relation_types)

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_direction(direction: str) -> str:
    if direction not in ("out", "in", "both"):
        raise ValueError(f"direction must be 'out', 'in' or 'both', not {direction!r}")
    return direction
