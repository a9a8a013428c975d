"""The Neo4j store: the official ``neo4j`` driver over Bolt.

* A uniqueness constraint on ``Entity.id``, a range index on ``Entity.name`` and a
  full-text index ``entity_names`` on names and aliases are created on connect.
* Relationship types come from the data (``directed_by`` → ``DIRECTED_BY``),
  validated by :func:`kg.names.relation_type` and escaped with backticks; labels
  from ``rdf:type`` become real node labels the same way.
* Writes are batched with ``UNWIND`` and grouped by relationship type (and label
  set), in one managed transaction per batch, which the driver retries on
  transient errors (deadlocks, leader switches). Within it, relationship ends are
  found by element id (looked up, or returned by the node creation, once per batch)
  and relationships carrying the same sources and properties share one parameter.
* A first load of a large graph can go through Neo4j's offline importer instead
  (:mod:`kg.store.neo4j_bulk`, ``tools/neo4j/import.sh``); it stores the same graph.
* Exploration queries (:meth:`Neo4jStore.cypher`) are planned first with ``EXPLAIN`` and
  run only if the plan is read-only and uses allow-listed operators and procedures
  (:mod:`kg.store.neo4j_plan`), in a READ transaction whose timeout the server enforces,
  with a row limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kg.cypher_guard import check_read_only
from kg.errors import QueryError, ReadOnlyViolation, StoreUnavailable
from kg.models import CypherResult, Entity, GraphStats, Relation, WriteResult
from kg.names import check_identifier, lookup_key, relation_type
from kg.store.base import (
    DEFAULT_ROW_LIMIT,
    DEFAULT_TIMEOUT_S,
    EdgeRow,
    GraphExport,
    GraphStore,
    NodeRow,
    PreparedBatch,
    build_export,
    check_direction,
    merge_stored,
    plan_write,
)
from kg.store.neo4j_plan import check_plan
from kg.store.traverse import bfs_edges

CHUNK = 10_000  # rows per UNWIND
_SCHEMA = (
    "CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (n:Entity) REQUIRE n.id IS UNIQUE",
    "CREATE INDEX entity_name IF NOT EXISTS FOR (n:Entity) ON (n.name)",
    # Kept consistent with each commit, so a lookup sees the write before it: the
    # eventually-consistent option was measured at most 3% faster on a bulk load.
    "CREATE FULLTEXT INDEX entity_names IF NOT EXISTS FOR (n:Entity) ON EACH [n.name, n.aliases, n.keys]",
)
_NODE_RETURN = "n.id AS id, n.name AS name, n.aliases AS aliases, labels(n) AS labels, properties(n) AS props"
_ENTITY_FIELDS = {"id", "name", "aliases", "keys"}


class Neo4jStore(GraphStore):
    """A :class:`GraphStore` on a Neo4j server.

    Args:
        uri: Bolt URI, e.g. ``bolt://127.0.0.1:7687``.
        user, password: credentials (``password=None`` for a server without auth).
        database: the database to use (Community edition has one user database, ``neo4j``).
    """

    name = "neo4j"

    def __init__(self, uri: str, user: str = "neo4j", password: str | None = None, *,
                 database: str = "neo4j", connect_timeout_s: float = 10.0) -> None:
        import neo4j
        from neo4j.exceptions import AuthError, ServiceUnavailable

        self._neo4j = neo4j
        self.uri = uri
        self.database = database
        auth = (user, password) if password is not None else None
        try:
            self._driver = neo4j.GraphDatabase.driver(uri, auth=auth, connection_timeout=connect_timeout_s,
                                                      max_transaction_retry_time=30.0)
            self._driver.verify_connectivity()
        except AuthError as exc:
            raise StoreUnavailable(f"Neo4j at {uri} refused the credentials of user {user!r}; "
                                   "set NEO4J_USER and NEO4J_PASSWORD") from exc
        except (ServiceUnavailable, OSError, ValueError) as exc:
            raise StoreUnavailable(f"cannot reach Neo4j at {uri} ({exc}); start it "
                                   "(tools/neo4j/start.sh or docker compose up neo4j) or set NEO4J_URI") from exc
        for statement in _SCHEMA:
            self._driver.execute_query(statement, database_=database)

    # -- helpers ---------------------------------------------------------------------------
    def _read(self, query: str, **params: Any) -> list[Any]:
        records, _, _ = self._driver.execute_query(query, params, database_=self.database,
                                                   routing_=self._neo4j.RoutingControl.READ)
        return list(records)

    def _write_tx(self, work: Any) -> Any:
        with self._driver.session(database=self.database) as session:
            return session.execute_write(work)

    # -- writing ---------------------------------------------------------------------------
    def write(self, prep: PreparedBatch) -> WriteResult:
        """One transaction: look up what exists (element ids; stored rows only for described entities),
        create the new entities (returning their element ids), update the changed ones, then create
        the relationships that touch a new entity and merge the others, their ends found by element
        id (no index seek). Rows are lists and relationships sharing their sources and properties
        share one parameter, so a chunk's parameters are mostly element-id pairs."""
        described = list(prep.nodes)
        endpoints = [i for i in prep.endpoint_ids if i not in prep.nodes]

        def work(tx: Any) -> WriteResult:
            element: dict[str, str] = {}
            existing: dict[str, NodeRow] = {}
            if described:
                for r in tx.run("UNWIND $ids AS i MATCH (n:Entity {id: i}) "
                                "RETURN elementId(n) AS e, labels(n) AS labels, properties(n) AS props", ids=described):
                    row = _stored(r["labels"], dict(r["props"]))
                    element[row.id] = r["e"]
                    existing[row.id] = row
            if endpoints:  # one record of two lists: far cheaper to stream than a record per node
                found = tx.run("UNWIND $ids AS i MATCH (n:Entity {id: i}) "
                               "RETURN collect(i) AS ids, collect(elementId(n)) AS es", ids=endpoints).single()
                element.update(zip(found["ids"], found["es"], strict=True))
            plan = plan_write(prep, element)
            result = WriteResult()
            for (labels, with_props), rows in _by_labels(plan.new_nodes).items():
                for chunk in _chunks(rows):
                    created = tx.run(
                        f"UNWIND $rows AS r CREATE (n:Entity{labels} "
                        "{id: r[0], name: r[1], aliases: r[2], keys: r[3]})"
                        f"{' SET n += r[4]' if with_props else ''} "
                        "RETURN collect(r[0]) AS ids, collect(elementId(n)) AS es", rows=chunk)
                    made = created.single()
                    element.update(zip(made["ids"], made["es"], strict=True))
                    result.nodes_created += created.consume().counters.nodes_created
            changed = [m for row in plan.known_nodes if (m := merge_stored(existing[row.id], row))]
            for (labels, _), rows in _by_labels(changed).items():
                for chunk in _chunks([[element[r[0]], *r[1:]] for r in rows]):
                    tx.run("UNWIND $rows AS r MATCH (n) WHERE elementId(n) = r[0] "
                           "SET n.name = r[1], n.aliases = r[2], n.keys = r[3], n += r[4]"
                           f"{(' SET n' + labels) if labels else ''}", rows=chunk).consume()
                    result.nodes_updated += len(chunk)
            ends = "UNWIND $rows AS r MATCH (a) WHERE elementId(a) = r[0] MATCH (b) WHERE elementId(b) = r[1] "
            for rel in prep.edges:
                check_identifier(rel)
                for sources, props, pairs in _by_payload(plan.fresh_edges[rel], element):
                    for chunk in _chunks(pairs):
                        result.relationships_created += tx.run(
                            f"{ends}CREATE (a)-[e:`{rel}` {{sources: $sources}}]->(b)"
                            f"{' SET e += $props' if props else ''}",
                            rows=chunk, sources=sources, props=props).consume().counters.relationships_created
                for sources, props, pairs in _by_payload(plan.known_edges[rel], element):
                    for chunk in _chunks(pairs):
                        result.relationships_created += tx.run(
                            f"{ends}MERGE (a)-[e:`{rel}`]->(b) ON CREATE SET e.sources = $sources, e += $props "
                            "WITH e, [s IN $sources WHERE NOT s IN e.sources] AS more "
                            "WHERE size(more) > 0 OR any(k IN keys($props) WHERE e[k] <> $props[k] OR e[k] IS NULL) "
                            "SET e.sources = e.sources + more, e += $props",
                            rows=chunk, sources=sources, props=props).consume().counters.relationships_created
            return result

        return self._write_tx(work)  # type: ignore[no-any-return]

    def delete_entities(self, ids: Sequence[str]) -> int:
        def work(tx: Any) -> int:
            summary = tx.run("UNWIND $ids AS i MATCH (n:Entity {id: i}) DETACH DELETE n", ids=list(ids)).consume()
            return int(summary.counters.nodes_deleted)

        return int(self._write_tx(work))

    def delete_relations(self, relations: Sequence[Relation]) -> int:
        groups: dict[str, list[dict[str, str]]] = {}
        for r in relations:
            groups.setdefault(relation_type(r.type), []).append({"h": r.head, "t": r.tail})

        def work(tx: Any) -> int:
            n = 0
            for rel, rows in groups.items():
                summary = tx.run(f"UNWIND $rows AS r MATCH (:Entity {{id: r.h}})-[e:`{rel}`]->(:Entity {{id: r.t}}) "
                                 "DELETE e", rows=rows).consume()
                n += summary.counters.relationships_deleted
            return n

        return int(self._write_tx(work))

    def retract(self, relations: Sequence[Relation], source: str) -> tuple[int, int]:
        groups: dict[str, list[dict[str, str]]] = {}
        for r in relations:
            groups.setdefault(relation_type(r.type), []).append({"h": r.head, "t": r.tail})

        def work(tx: Any) -> tuple[int, int]:
            deleted = updated = 0
            for rel, rows in groups.items():
                record = tx.run(
                    f"UNWIND $rows AS r MATCH (:Entity {{id: r.h}})-[e:`{rel}`]->(:Entity {{id: r.t}}) "
                    "WHERE $source IN e.sources WITH DISTINCT e "
                    "SET e.sources = [s IN e.sources WHERE s <> $source] "
                    "WITH e, size(e.sources) = 0 AS orphan "
                    "CALL (e, orphan) { WITH e WHERE orphan DELETE e } "
                    "RETURN count(CASE WHEN orphan THEN 1 END) AS deleted, count(CASE WHEN NOT orphan THEN 1 END) "
                    "AS updated", rows=rows, source=source).single()
                if record is not None:
                    deleted, updated = deleted + record["deleted"], updated + record["updated"]
            return deleted, updated

        return self._write_tx(work)  # type: ignore[no-any-return]

    def delete_orphans(self, ids: Sequence[str]) -> int:
        def work(tx: Any) -> int:
            return int(tx.run("UNWIND $ids AS i MATCH (n:Entity {id: i}) WHERE NOT (n)--() DELETE n",
                              ids=list(ids)).consume().counters.nodes_deleted)

        return int(self._write_tx(work))

    def clear(self) -> None:
        with self._driver.session(database=self.database) as session:
            session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()

    # -- reading ---------------------------------------------------------------------------
    def get_entity(self, entity_id: str) -> Entity | None:
        rows = self._read(f"MATCH (n:Entity {{id: $id}}) RETURN {_NODE_RETURN}", id=entity_id)
        return _entity(rows[0]) if rows else None

    def find_by_name(self, text: str, limit: int = 20) -> list[Entity]:
        key = lookup_key(text)
        if not key:
            return []
        # The full-text index narrows the candidates; the folded keys decide exact equality.
        rows = self._read(
            "CALL db.index.fulltext.queryNodes('entity_names', $q, {limit: 1000}) YIELD node AS n "
            f"WITH n WHERE $key IN n.keys RETURN {_NODE_RETURN} ORDER BY n.id LIMIT $limit",
            q=_lucene_phrase(key), key=key, limit=limit,
        )
        return [_entity(r) for r in rows]

    def edges_of(self, ids: Sequence[str], direction: str = "both", types: Sequence[str] | None = None,
                 limit: int = 100000) -> list[Relation]:
        """Relations touching any of ``ids`` (at most ``limit``)."""
        check_direction(direction)
        pattern = {"out": "(a:Entity {id: i})-[r]->(b)", "in": "(a)-[r]->(b:Entity {id: i})",
                   "both": "(x:Entity {id: i})-[r]-()"}[direction]
        where = "WHERE type(r) IN $types " if types else ""
        rows = self._read(
            f"UNWIND $ids AS i MATCH {pattern} {where}WITH DISTINCT r LIMIT $limit "
            "RETURN startNode(r).id AS h, type(r) AS t, endNode(r).id AS tl, properties(r) AS props",
            ids=list(ids), limit=limit, types=[relation_type(t) for t in types or []],
        )
        out = []
        for row in rows:
            props = dict(row["props"])
            sources = list(props.pop("sources", []) or [])
            out.append(Relation(row["h"], row["t"], row["tl"], props, sources))
        return out

    def neighbours(self, entity_id: str, direction: str = "both", types: Sequence[str] | None = None,
                   limit: int = 1000) -> list[Relation]:
        return self.edges_of([entity_id], direction, types, limit)

    def subgraph(self, seeds: Sequence[str], hops: int = 2, max_edges: int = 10000) -> list[Relation]:
        return bfs_edges(self.edges_of, seeds, hops, max_edges)

    def stats(self) -> GraphStats:
        entities = self._read("MATCH (n:Entity) RETURN count(n) AS c")[0]["c"]
        per_type = {r["t"]: r["c"] for r in self._read("MATCH ()-[r]->() RETURN type(r) AS t, count(r) AS c")}
        labels = {r["l"]: r["c"] for r in self._read(
            "MATCH (n:Entity) UNWIND labels(n) AS l WITH l WHERE l <> 'Entity' RETURN l, count(*) AS c")}
        return GraphStats(int(entities), sum(per_type.values()), per_type, labels)

    def export(self, seeds: Sequence[str] | None = None, hops: int = 2) -> GraphExport:
        if seeds is None:
            nodes = [(r["id"], r["name"]) for r in self._read("MATCH (n:Entity) RETURN n.id AS id, n.name AS name")]
            edges = [(r["h"], r["t"], r["tl"]) for r in self._read(
                "MATCH (a:Entity)-[r]->(b:Entity) RETURN a.id AS h, type(r) AS t, b.id AS tl")]
            return build_export(nodes, edges)
        rels = self.subgraph(seeds, hops, max_edges=10**9)
        ids = sorted({*seeds, *(r.head for r in rels), *(r.tail for r in rels)})
        nodes = [(r["id"], r["name"]) for r in self._read(
            "UNWIND $ids AS i MATCH (n:Entity {id: i}) RETURN n.id AS id, n.name AS name", ids=ids)]
        return build_export(nodes, [(r.head, r.type, r.tail) for r in rels])

    def cypher(self, query: str, params: dict[str, Any] | None = None, *, limit: int = DEFAULT_ROW_LIMIT,
               timeout_s: float = DEFAULT_TIMEOUT_S) -> CypherResult:
        """Run one read-only exploration query; the database decides what it is.

        The keyword check gives the first, friendly refusal. Then, in one READ transaction
        whose timeout the server enforces, the query is planned (``EXPLAIN``, same parameters)
        and runs only if :func:`kg.store.neo4j_plan.check_plan` accepts the plan. No retry: a
        query that timed out is not run a second time.
        """
        from neo4j.exceptions import Neo4jError

        check_read_only(query)
        values = dict(params or {})
        try:
            with self._driver.session(database=self.database,
                                      default_access_mode=self._neo4j.READ_ACCESS) as session, \
                    session.begin_transaction(timeout=timeout_s) as tx:
                planned = tx.run("EXPLAIN " + query, values).consume()
                check_plan(planned.query_type, planned.plan, self.database)
                result = tx.run(query, values)
                columns = list(result.keys())
                rows: list[list[Any]] = []
                truncated = False
                for record in result:
                    if len(rows) == limit:
                        truncated = True
                        break
                    rows.append([_plain(v) for v in record.values()])
                return CypherResult(columns=columns, rows=rows, truncated=truncated)
        except Neo4jError as exc:
            code = exc.code or ""
            message = (exc.message or "").lower()
            refused = "ForbiddenDueToTransactionType" in code or "AccessMode" in code
            if refused or ("write" in message and "read" in message):
                raise ReadOnlyViolation(f"the database refused a write in read mode: {exc.message}") from exc
            if "TransactionTimedOut" in code or "Terminated" in code:
                raise QueryError(f"the query ran past its {timeout_s:g} s timeout; narrow it or add LIMIT") from exc
            raise QueryError(f"query failed: {exc.message}") from exc

    def close(self) -> None:
        driver = getattr(self, "_driver", None)
        if driver is not None:
            driver.close()
            self._driver = None  # type: ignore[assignment]


def _stored(labels: list[str], props: dict[str, Any]) -> NodeRow:
    """An entity as stored: its own fields out of ``properties(n)``, the rest its properties."""
    own = {k: v for k, v in props.items() if k not in _ENTITY_FIELDS}
    return NodeRow(props["id"], props.get("name"), list(props.get("aliases") or []),
                   [lab for lab in labels if lab != "Entity"], list(props.get("keys") or []), own)


def _by_labels(rows: list[NodeRow]) -> dict[tuple[str, bool], list[list[Any]]]:
    """Node rows ``[id, name, aliases, keys, props]`` grouped by their label set, as a Cypher label
    expression (``:`Film`:`Work```), and by whether they carry properties."""
    groups: dict[tuple[str, bool], list[list[Any]]] = {}
    for row in rows:
        labels = "".join(f":`{check_identifier(lab)}`" for lab in sorted(row.labels))
        groups.setdefault((labels, bool(row.props)), []).append([row.id, row.name, row.aliases, row.keys, row.props])
    return groups


def _by_payload(rows: list[EdgeRow],
                element: dict[str, str]) -> list[tuple[list[str], dict[str, Any], list[list[str]]]]:
    """Relationships as ``[head element id, tail element id]`` pairs, grouped by what they carry
    (``sources`` and properties, compared type for type: ``1``, ``1.0`` and ``True`` differ), which
    each group's query gets once as a parameter."""
    groups: dict[Any, tuple[list[str], dict[str, Any], list[list[str]]]] = {}
    for e in rows:
        key = (tuple(e.sources), tuple((k, _typed(v)) for k, v in sorted(e.props.items()))) if e.props \
            else tuple(e.sources)
        group = groups.get(key)
        if group is None:
            group = groups[key] = (e.sources, e.props, [])
        group[2].append([element[e.h], element[e.t]])
    return list(groups.values())


def _typed(value: Any) -> Any:
    return ("list", tuple((type(v).__name__, v) for v in value)) if isinstance(value, list) \
        else (type(value).__name__, value)


def _chunks(rows: list[Any], size: int = CHUNK) -> list[list[Any]]:
    return [rows[i:i + size] for i in range(0, len(rows), size)]


_LUCENE_SPECIAL = set('+-&|!(){}[]^"~*?:\\/')


def _lucene_phrase(text: str) -> str:
    escaped = "".join("\\" + c if c in _LUCENE_SPECIAL else c for c in text.strip())
    return f'"{escaped}"'


def _entity(row: Any) -> Entity:
    props = {k: v for k, v in dict(row["props"]).items() if k not in _ENTITY_FIELDS}
    labels = [lab for lab in row["labels"] if lab != "Entity"]
    return Entity(id=row["id"], name=row["name"], aliases=list(row["aliases"] or []), labels=labels,
                  properties=props)


def _plain(value: Any) -> Any:
    """Driver values as plain JSON-able data (nodes, relationships and paths become dicts)."""
    from neo4j.graph import Node, Path
    from neo4j.graph import Relationship as Rel

    if isinstance(value, Node):
        props = {k: v for k, v in dict(value).items() if k != "keys"}
        return {**props, "_labels": sorted(value.labels)}
    if isinstance(value, Rel):
        return {**dict(value), "_type": value.type,
                "_start": value.start_node.get("id") if value.start_node else None,
                "_end": value.end_node.get("id") if value.end_node else None}
    if isinstance(value, Path):
        return {"nodes": [_plain(n) for n in value.nodes], "relationships": [_plain(r) for r in value.relationships]}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "iso_format"):
        return value.iso_format()
    return value
