"""The embedded store: LadybugDB (the maintained fork of Kùzu), in process, in a folder.

No Java, no Docker, no server: ``EmbeddedStore("data/graph")`` opens (or creates)
``data/graph/graph.lbug``. One process at a time may open a store for writing;
another process gets :class:`~kg.errors.StoreUnavailable` saying which holds it.

Schema: one node table ``Entity(id PK, name, aliases, labels, keys, props)`` and
one relationship table per relationship type, created the first time a type is
written, so ``MATCH (m)-[:DIRECTED_BY]->(p)`` works as in Neo4j. Node and edge
properties are kept as a JSON string (``props``) since the database has a fixed
schema.

Writes: a batch runs in one transaction (a batch of more than
``TYPES_PER_TRANSACTION`` relation types, in one per group of types). Entities new to the store and relations
with a new endpoint are bulk-loaded with ``COPY ... FROM`` an Arrow table (such a
relation cannot exist yet); the rest goes through ``MERGE``. That keeps a fresh
load fast and a re-load idempotent.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa

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
    WritePlan,
    build_export,
    check_direction,
    merge_stored,
    plan_write,
)
from kg.store.sandbox import DEFAULT_LIMITS, SandboxLimits, collect_rows, precheck, run_isolated
from kg.store.traverse import bfs_edges

DB_FILE = "graph.lbug"
_NODE_DDL = (
    "CREATE NODE TABLE IF NOT EXISTS Entity(id STRING PRIMARY KEY, name STRING, aliases STRING[], "
    "labels STRING[], keys STRING[], props STRING)"
)
_NODE_COLS = "n.id, n.name, n.aliases, n.labels, n.keys, n.props"
# Below this many new rows a batch is written with CREATE, not COPY: each COPY into a large table kept
# ~16 MB of the process's memory (the MetaQA graph; 20 COPYs of 5 nodes: +316 MB, 20 CREATEs: +0.1 MB),
# which a text ingest, one small batch per document, ran into by the thousand.
COPY_MIN_ROWS = 2_000
# Relationship tables written in one transaction. Committing writes to a relationship table holds ~8 MB
# of the process's memory per table until the next checkpoint (measured: 300 tables with one edge each,
# one commit: 2.5 GB; a 17 KB file with 1,000 relation types passed 6 GB), so a batch of many types is
# committed and checkpointed TYPES_PER_TRANSACTION types at a time.
TYPES_PER_TRANSACTION = 32
STATEMENT_CACHE_SIZE = 256  # prepared statements kept by the connection (see _trim_statement_cache)


class EmbeddedStore(GraphStore):
    """A :class:`GraphStore` in a local folder (the default backend).

    Args:
        path: folder of the store; created if missing.
        read_only: open the database files read-only (several readers may share them).
        threads: worker threads of the database (0: all cores).
    """

    name = "embedded"
    # Each batch ends with a checkpoint (~0.5-0.8 s on the MetaQA KB whatever the batch
    # size), so batches are large: 200k triples take ~300 MB of Python objects.
    default_batch_size = 200_000
    # Limits of exploration queries (cypher()): memory, time past the timeout, query size and nesting.
    sandbox_limits: SandboxLimits = DEFAULT_LIMITS

    def __init__(self, path: str | Path, *, read_only: bool = False, threads: int = 0) -> None:
        import ladybug

        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise StoreUnavailable(f"{self.path} is a file; the embedded store needs a folder path")
        if read_only and not (self.path / DB_FILE).exists():
            raise StoreUnavailable(f"no graph at {self.path}; ingest something first (kgqa ingest FILE)")
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            # We checkpoint ourselves, after each batch (see write()).
            self._db = ladybug.Database(str(self.path / DB_FILE), read_only=read_only, max_num_threads=threads,
                                        auto_checkpoint=False)
        except RuntimeError as exc:
            msg = str(exc).splitlines()[0]
            if "lock" in msg.lower():
                raise StoreUnavailable(
                    f"the graph at {self.path} is open in another process ({msg}); "
                    "wait for it to finish or stop it, then retry"
                ) from exc
            raise StoreUnavailable(f"cannot open the graph at {self.path}: {msg}") from exc
        self._conn = ladybug.Connection(self._db, num_threads=threads)
        self.read_only = read_only
        if not read_only:
            self._conn.execute(_NODE_DDL)
        self._rel_tables = set(self._list_rel_tables())

    # -- helpers ---------------------------------------------------------------------------
    def _run(self, query: str, params: dict[str, Any] | None = None) -> list[list[Any]]:
        result = self._conn.execute(query, params or {})
        assert not isinstance(result, list)
        return result.get_all()  # type: ignore[return-value]

    def _list_rel_tables(self) -> list[str]:
        return [row[1] for row in self._run("CALL show_tables() RETURN *") if row[2] == "REL"]

    def _ensure_rel_table(self, rel: str) -> None:
        if rel not in self._rel_tables:
            check_identifier(rel)
            self._conn.execute(
                f"CREATE REL TABLE IF NOT EXISTS `{rel}`(FROM Entity TO Entity, sources STRING, props STRING)"
            )
            self._rel_tables.add(rel)

    def _rel_count(self, rel: str) -> int:
        return int(self._run(f"MATCH ()-[r:`{rel}`]->() RETURN count(r)")[0][0])

    # -- writing ---------------------------------------------------------------------------
    def write(self, prep: PreparedBatch) -> WriteResult:
        """Write a batch: one transaction, or one per ``TYPES_PER_TRANSACTION`` relation types.

        A batch of more types commits its nodes and first types, then the rest, each group
        followed by a checkpoint (what bounds the memory). A kill between two groups leaves
        part of the batch stored; re-running the ingest completes it (writes are idempotent).
        """
        for rel in prep.edges:
            self._ensure_rel_table(rel)
        types = list(prep.edges)
        groups = [types[i:i + TYPES_PER_TRANSACTION] for i in range(0, len(types), TYPES_PER_TRANSACTION)]
        result = WriteResult()
        plan = self._write_group(prep, groups[0] if groups else [], None, result)
        for group in groups[1:]:
            self._trim_statement_cache()
            self._write_group(prep, group, plan, result)
        self._trim_statement_cache()
        return result

    def _trim_statement_cache(self) -> None:
        """Drop the connection's cached prepared statements once there are many of them.

        ladybug caches one prepared statement per query text, without bound, and each
        relationship type has its own query texts: 2,000 types kept ~0.2 MB each after
        their writes. Re-preparing the few queries of the next batch costs milliseconds.
        (A private attribute: if a ladybug release renames it, nothing is trimmed.)
        """
        cache = getattr(self._conn, "_pybind_implicit_prepared_cache", None)
        lock = getattr(self._conn, "_prepared_cache_lock", None)
        if not isinstance(cache, dict) or lock is None or len(cache) <= STATEMENT_CACHE_SIZE:
            return
        with lock:
            for prepared in cache.values():
                close = getattr(prepared, "close", None)
                if callable(close):
                    with contextlib.suppress(RuntimeError):
                        close()
            cache.clear()

    def _write_group(self, prep: PreparedBatch, types: list[str], plan: WritePlan | None,
                     result: WriteResult) -> WritePlan:
        """One transaction: the batch's nodes (first group: ``plan`` is None) and the edges of ``types``."""
        self._conn.execute("BEGIN TRANSACTION")
        try:
            if plan is None:
                plan = self._write_nodes(prep, result)
            for rel in types:
                result.relationships_created += self._write_edges(rel, plan.fresh_edges[rel], plan.known_edges[rel])
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        # COPY bypasses the write-ahead log: a bulk-loaded batch is durable only once
        # checkpointed. Without this, kill -9 lost every committed batch, and a later
        # logged SET on such rows made the database crash when it replayed its log.
        self._conn.execute("CHECKPOINT")
        return plan

    def _write_nodes(self, prep: PreparedBatch, result: WriteResult) -> WritePlan:
        """Create and update the batch's entities (inside the caller's transaction); the plan for its edges."""
        empty = not self._run("MATCH (n:Entity) RETURN n.id LIMIT 1")
        existing = {} if empty else {row[0]: row for row in self._run(
            f"UNWIND $ids AS i MATCH (n:Entity {{id: i}}) RETURN {_NODE_COLS}",
            {"ids": list(prep.nodes.keys() | prep.endpoint_ids)})}
        plan = plan_write(prep, existing)
        if len(plan.new_nodes) >= COPY_MIN_ROWS:
            frame = pa.table(_node_columns(plan.new_nodes), schema=_NODE_SCHEMA)  # noqa: F841 (read by COPY)
            self._conn.execute("COPY Entity FROM frame")
        elif plan.new_nodes:
            self._run("UNWIND $rows AS r CREATE (n:Entity {id: r.id, name: r.name, aliases: r.aliases, "
                      "labels: r.labels, keys: r.keys, props: r.props})",
                      {"rows": [_node_params(r, nulls=True) for r in plan.new_nodes]})
        result.nodes_created += len(plan.new_nodes)
        changed = [m for row in plan.known_nodes if (m := merge_stored(_stored(existing[row.id]), row))]
        if changed:
            self._run(
                "UNWIND $rows AS r MATCH (n:Entity {id: r.id}) SET n.name = r.name, n.aliases = r.aliases, "
                "n.labels = r.labels, n.keys = r.keys, n.props = r.props",
                {"rows": [_node_params(r) for r in changed]},
            )
            result.nodes_updated += len(changed)
        return plan

    def _write_edges(self, rel: str, fresh: list[EdgeRow], known: list[EdgeRow]) -> int:
        # For relations between existing entities, read the stored edges of their heads
        # (a cheap adjacency scan), bulk-load the missing ones and update only those
        # whose sources or props change.
        changed: list[dict[str, Any]] = []
        if known:
            stored = {(h, t): (src, props) for h, t, src, props in self._run(
                f"UNWIND $heads AS h MATCH (a:Entity {{id: h}})-[e:`{rel}`]->(b:Entity) "
                "RETURN a.id, b.id, e.sources, e.props",
                {"heads": list({e.h for e in known})},
            )}
            for e in known:
                old = stored.get((e.h, e.t))
                if old is None:
                    fresh.append(e)
                    continue
                stored_sources = _sources(old[0])
                sources = list(dict.fromkeys([*stored_sources, *e.sources]))
                props = {**_props(old[1]), **e.props}
                if sources != stored_sources or props != _props(old[1]):
                    changed.append({"h": e.h, "t": e.t, "sources": _json_list(sources), "props": _json(props)})
        if 0 < len(fresh) < COPY_MIN_ROWS:
            # two MATCH clauses: written "MATCH (a ...), (b ...)" the plan was a cross product of two scans
            # of the whole node table (~200 ms a batch on the MetaQA graph, against ~1 ms)
            self._run(f"UNWIND $rows AS r MATCH (a:Entity {{id: r.h}}) MATCH (b:Entity {{id: r.t}}) "
                      f"CREATE (a)-[:`{rel}` {{sources: r.sources, props: r.props}}]->(b)",
                      {"rows": [{"h": e.h, "t": e.t, "sources": _json_list(e.sources), "props": _json(e.props)}
                                for e in fresh]})
        elif fresh:
            frame = pa.table(  # noqa: F841 (read by COPY)
                {"from": [e.h for e in fresh], "to": [e.t for e in fresh],
                 "sources": [_json_list(e.sources) for e in fresh], "props": [_json(e.props) for e in fresh]},
                schema=_EDGE_SCHEMA,
            )
            self._conn.execute(f"COPY `{rel}` FROM frame")
        if changed:
            self._run(
                f"UNWIND $rows AS r MATCH (a:Entity {{id: r.h}})-[e:`{rel}`]->(b:Entity {{id: r.t}}) "
                "SET e.sources = r.sources, e.props = r.props",
                {"rows": changed},
            )
        return len(fresh)

    def flush(self) -> None:
        """Checkpoint the write-ahead log into the database file (write() and close() do it too)."""
        self._conn.execute("CHECKPOINT")

    def delete_entities(self, ids: Sequence[str]) -> int:
        found = self._run("UNWIND $ids AS i MATCH (n:Entity {id: i}) RETURN count(n)", {"ids": list(ids)})
        self._run("UNWIND $ids AS i MATCH (n:Entity {id: i}) DETACH DELETE n", {"ids": list(ids)})
        return int(found[0][0])

    def delete_relations(self, relations: Sequence[Relation]) -> int:
        deleted = 0
        for rel, rows in _group_pairs(relations).items():
            if rel not in self._rel_tables:
                continue
            before = self._rel_count(rel)
            self._run(f"UNWIND $rows AS r MATCH (a:Entity {{id: r.h}})-[e:`{rel}`]->(b:Entity {{id: r.t}}) DELETE e",
                      {"rows": rows})
            deleted += before - self._rel_count(rel)
        return deleted

    def retract(self, relations: Sequence[Relation], source: str) -> tuple[int, int]:
        deleted = updated = 0
        self._conn.execute("BEGIN TRANSACTION")
        try:
            for rel, rows in _group_pairs(relations).items():
                if rel not in self._rel_tables:
                    continue
                drop, keep = [], []
                for h, t, text in self._run(
                        f"UNWIND $rows AS r MATCH (a:Entity {{id: r.h}})-[e:`{rel}`]->(b:Entity {{id: r.t}}) "
                        "RETURN DISTINCT a.id, b.id, e.sources", {"rows": rows}):
                    sources = _sources(text)
                    if source not in sources:
                        continue
                    rest = [s for s in sources if s != source]
                    if rest:
                        keep.append({"h": h, "t": t, "sources": _json_list(rest)})
                    else:
                        drop.append({"h": h, "t": t})
                match = f"UNWIND $rows AS r MATCH (a:Entity {{id: r.h}})-[e:`{rel}`]->(b:Entity {{id: r.t}}) "
                if drop:
                    self._run(match + "DELETE e", {"rows": drop})
                if keep:
                    self._run(match + "SET e.sources = r.sources", {"rows": keep})
                deleted, updated = deleted + len(drop), updated + len(keep)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return deleted, updated

    def delete_orphans(self, ids: Sequence[str]) -> int:
        rows = self._run("UNWIND $ids AS i MATCH (n:Entity {id: i}) WHERE NOT EXISTS { MATCH (n)-[]-() } "
                         "DELETE n RETURN count(*)", {"ids": list(ids)})
        return int(rows[0][0]) if rows else 0

    def clear(self) -> None:
        self._run("MATCH (n:Entity) DETACH DELETE n")

    # -- reading ---------------------------------------------------------------------------
    def get_entity(self, entity_id: str) -> Entity | None:
        rows = self._run(f"MATCH (n:Entity {{id: $id}}) RETURN {_NODE_COLS}", {"id": entity_id})
        return _entity(rows[0]) if rows else None

    def find_by_name(self, text: str, limit: int = 20) -> list[Entity]:
        rows = self._run(
            f"MATCH (n:Entity) WHERE list_contains(n.keys, $k) RETURN {_NODE_COLS} ORDER BY n.id LIMIT $limit",
            {"k": lookup_key(text), "limit": limit},
        )
        return [_entity(r) for r in rows]

    def edges_of(self, ids: Sequence[str], direction: str = "both", types: Sequence[str] | None = None,
                 limit: int = 100000) -> list[Relation]:
        """Relations touching any of ``ids`` (at most ``limit``); the primitive behind neighbours and subgraph."""
        check_direction(direction)
        where = "WHERE label(r) IN $types " if types else ""
        params: dict[str, Any] = {"ids": list(ids), "limit": limit}
        if types:
            params["types"] = [relation_type(t) for t in types]
        out: dict[tuple[str, str, str], Relation] = {}
        patterns = {"out": ["(a:Entity {id: i})-[r]->(b:Entity)"], "in": ["(a:Entity)-[r]->(b:Entity {id: i})"]}
        for pattern in patterns.get(direction, patterns["out"] + patterns["in"]):
            query = (f"UNWIND $ids AS i MATCH {pattern} {where}"
                     "RETURN a.id, label(r), b.id, r.sources, r.props LIMIT $limit")
            for h, rel, tl, sources, props in self._run(query, params):
                if len(out) >= limit:
                    break
                out.setdefault((h, rel, tl), Relation(h, rel, tl, _props(props), _sources(sources)))
        return list(out.values())

    def neighbours(self, entity_id: str, direction: str = "both", types: Sequence[str] | None = None,
                   limit: int = 1000) -> list[Relation]:
        return self.edges_of([entity_id], direction, types, limit)

    def subgraph(self, seeds: Sequence[str], hops: int = 2, max_edges: int = 10000) -> list[Relation]:
        return bfs_edges(self.edges_of, seeds, hops, max_edges)

    def stats(self) -> GraphStats:
        entities = int(self._run("MATCH (n:Entity) RETURN count(n)")[0][0])
        per_type = {rel: self._rel_count(rel) for rel in sorted(self._rel_tables)}
        per_type = {k: v for k, v in per_type.items() if v}
        labels = dict(self._run("MATCH (n:Entity) UNWIND n.labels AS l RETURN l, count(*)"))
        return GraphStats(entities, sum(per_type.values()), per_type, {k: int(v) for k, v in labels.items()})

    def export(self, seeds: Sequence[str] | None = None, hops: int = 2) -> GraphExport:
        if seeds is None:
            nodes = [(r[0], r[1]) for r in self._run("MATCH (n:Entity) RETURN n.id, n.name")]
            edges: list[tuple[str, str, str]] = []
            for rel in sorted(self._rel_tables):
                edges.extend((h, rel, t) for h, t in self._run(f"MATCH (a)-[:`{rel}`]->(b) RETURN a.id, b.id"))
            return build_export(nodes, edges)
        rels = self.subgraph(seeds, hops, max_edges=10**9)
        ids = sorted({*seeds, *(r.head for r in rels), *(r.tail for r in rels)})
        names = self._run("UNWIND $ids AS i MATCH (n:Entity {id: i}) RETURN n.id, n.name", {"ids": ids})
        return build_export([(a, b) for a, b in names], [(r.head, r.type, r.tail) for r in rels])

    def cypher(self, query: str, params: dict[str, Any] | None = None, *, limit: int = DEFAULT_ROW_LIMIT,
               timeout_s: float = DEFAULT_TIMEOUT_S) -> CypherResult:
        """Run a reading query in a forked worker with memory and time limits (:mod:`kg.store.sandbox`): a
        query that crashes the database, or runs out of memory or time, fails alone with a clear error."""
        check_read_only(query)
        if hasattr(os, "fork"):
            return run_isolated(self._conn, query, dict(params or {}), limit=limit, timeout_s=timeout_s,
                                convert=_plain_row, limits=self.sandbox_limits)
        return self._cypher_in_process(query, params, limit=limit, timeout_s=timeout_s)

    def read(self, query: str, params: dict[str, Any] | None = None, *, limit: int = DEFAULT_ROW_LIMIT,
             timeout_s: float = DEFAULT_TIMEOUT_S) -> CypherResult:
        """kgqa's own reading queries run in process (no fork per query): see :meth:`GraphStore.read`."""
        return self._cypher_in_process(query, params, limit=limit, timeout_s=timeout_s)

    def _cypher_in_process(self, query: str, params: dict[str, Any] | None, *, limit: int,
                           timeout_s: float) -> CypherResult:
        """Where the platform cannot fork: the up-front checks and a read-only transaction, no isolation."""
        precheck(query, self.sandbox_limits)
        self._conn.set_query_timeout(int(timeout_s * 1000))
        self._conn.execute("BEGIN TRANSACTION READ ONLY")
        try:
            # Parameters do not stop several statements (execute() runs a ';' list either way): the
            # sandbox prepares the query, which refuses them; here check_read_only() refused them.
            result = self._conn.execute(query, dict(params or {}))
            if isinstance(result, list):
                raise ReadOnlyViolation("only one statement per query is allowed; remove the ';' between statements")
            columns, rows, truncated = collect_rows(result, limit, _plain_row)
        except RuntimeError as exc:
            msg = str(exc).splitlines()[0]
            if "read-only" in msg or "read only" in msg.lower():
                raise ReadOnlyViolation(f"the database refused a write: {msg}") from exc
            if "Interrupted" in msg:
                raise QueryError(f"the query ran past its {timeout_s:g} s timeout; narrow it or add LIMIT") from exc
            raise QueryError(f"query failed: {msg}") from exc
        finally:
            try:
                self._conn.execute("ROLLBACK")
            except RuntimeError:
                pass  # the query itself ended the transaction
            self._conn.set_query_timeout(0)
        return CypherResult(columns=columns, rows=rows, truncated=truncated)

    def close(self) -> None:
        conn, db = getattr(self, "_conn", None), getattr(self, "_db", None)
        if conn is not None and not self.read_only:
            conn.execute("CHECKPOINT")
        if conn is not None:
            conn.close()
            self._conn = None  # type: ignore[assignment]
        if db is not None:
            db.close()
            self._db = None  # type: ignore[assignment]


# -- row conversion ------------------------------------------------------------------------
_STRINGS = pa.list_(pa.string())
_NODE_SCHEMA = pa.schema([("id", pa.string()), ("name", pa.string()), ("aliases", _STRINGS),
                          ("labels", _STRINGS), ("keys", _STRINGS), ("props", pa.string())])
_EDGE_SCHEMA = pa.schema([("from", pa.string()), ("to", pa.string()), ("sources", pa.string()), ("props", pa.string())])


def _json(d: dict[str, Any]) -> str | None:
    """Properties as JSON text; NULL when there are none (cheaper to load and store)."""
    return json.dumps(d, sort_keys=True, ensure_ascii=False) if d else None


def _props(text: str | None) -> dict[str, Any]:
    return json.loads(text) if text else {}


# A relation's sources are JSON text too: with a list column the MetaQA load spent
# 0.47 s instead of 0.27 s in its checkpoint.
def _json_list(items: list[str]) -> str:
    return _one_source(items[0]) if len(items) == 1 else json.dumps(items, ensure_ascii=False)


@lru_cache(maxsize=4096)
def _one_source(source: str) -> str:
    return json.dumps([source], ensure_ascii=False)


def _sources(text: str | None) -> list[str]:
    return list(json.loads(text)) if text else []


def _node_columns(rows: list[NodeRow]) -> dict[str, list[Any]]:
    return {
        "id": [r.id for r in rows],
        "name": [r.name for r in rows],
        "aliases": [r.aliases or None for r in rows],  # NULL rather than [] loads faster
        "labels": [r.labels or None for r in rows],
        "keys": [r.keys for r in rows],
        "props": [_json(r.props) for r in rows],
    }


def _node_params(r: NodeRow, nulls: bool = False) -> dict[str, Any]:
    """``r`` as query parameters; with ``nulls``, no aliases or labels as NULL (as COPY stores them)."""
    return {"id": r.id, "name": r.name, "aliases": r.aliases or None if nulls else r.aliases,
            "labels": r.labels or None if nulls else r.labels, "keys": r.keys, "props": _json(r.props)}


def _stored(row: list[Any]) -> NodeRow:
    nid, name, aliases, labels, keys, props = row
    return NodeRow(nid, name, list(aliases or []), list(labels or []), list(keys or []), _props(props))


def _entity(row: list[Any]) -> Entity:
    nid, name, aliases, labels, _keys, props = row
    return Entity(id=nid, name=name, aliases=list(aliases or []), labels=list(labels or []), properties=_props(props))


def _group_pairs(relations: Sequence[Relation]) -> dict[str, list[dict[str, str]]]:
    groups: dict[str, list[dict[str, str]]] = {}
    for r in relations:
        groups.setdefault(relation_type(r.type), []).append({"h": r.head, "t": r.tail})
    return groups


_INTERNAL = re.compile(r"^_(ID|SRC|DST)$")


def _plain_row(values: list[Any]) -> list[Any]:
    """A result row as plain data; a relationship names its endpoints' entity ids (``_start``, ``_end``,
    as Neo4j's do) when the row holds those nodes (``RETURN a, r, b``, or a path)."""
    ids: dict[str, str] = {}
    _node_ids(values, ids)
    return [_plain(v, ids) for v in values]


def _internal_key(ref: Any) -> str:
    return f"{ref.get('table')}:{ref.get('offset')}" if isinstance(ref, dict) else str(ref)


def _node_ids(value: Any, ids: dict[str, str]) -> None:
    if isinstance(value, dict):
        if "_ID" in value and "_SRC" not in value and isinstance(value.get("id"), str):
            ids[_internal_key(value["_ID"])] = value["id"]
        for v in value.values():
            _node_ids(v, ids)
    elif isinstance(value, list):
        for v in value:
            _node_ids(v, ids)


def _plain(value: Any, ids: dict[str, str] | None = None) -> Any:
    """Query values as plain JSON-able data: nodes and relationships become dicts."""
    if isinstance(value, dict):
        if "_NODES" in value:  # a path
            return {"nodes": [_plain(n, ids) for n in value["_NODES"]],
                    "relationships": [_plain(r, ids) for r in value["_RELS"]]}
        out = {k: _plain(v, ids) for k, v in value.items() if not _INTERNAL.match(k) and k not in ("keys", "_LABEL")}
        if "_LABEL" in value:
            out["_type" if "_SRC" in value else "_label"] = value["_LABEL"]
        if "props" in out:
            out.update(_props(out.pop("props")))
        if "_SRC" in value:
            out["sources"] = _sources(out.get("sources"))
            known = ids or {}
            out["_start"] = known.get(_internal_key(value["_SRC"]))
            out["_end"] = known.get(_internal_key(value.get("_DST")))
        else:
            for key in ("aliases", "labels"):
                if key in out and out[key] is None:
                    out[key] = []
        return out
    if isinstance(value, list):
        return [_plain(v, ids) for v in value]
    return value
