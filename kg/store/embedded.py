"""The embedded store: LadybugDB (the maintained fork of Kùzu), in process, in a folder.

No Java, no Docker, no server: ``EmbeddedStore("data/graph")`` opens (or creates)
``data/graph/graph.lbug``. One process at a time may open a store for writing;
another process gets :class:`~kg.errors.StoreUnavailable` saying which holds it.

Schema: one node table ``Entity(id PK, name, aliases, labels, keys, ...)`` and
one relationship table per relationship type (``sources, ...``), created the first time a type is
written, so ``MATCH (m)-[:DIRECTED_BY]->(p)`` works as in Neo4j. Each property key is a typed column
of its table, added when first written (:mod:`kg.store.columns`), so ``m.year > 2000`` and
``r.since >= 2010`` work as in Neo4j too. A store written before typed columns (every property in one
JSON text column ``props``) is converted when it is first opened for writing.

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
from kg.store.columns import (
    LEGACY_PROPS,
    NODE_ROWS,
    PropertyColumns,
    arrow_type,
    create_edges,
    edge_rows,
    quote,
    rebuild_relation,
    set_rows,
)
from kg.store.sandbox import DEFAULT_LIMITS, SandboxLimits, collect_rows, precheck, run_isolated
from kg.store.traverse import bfs_edges

DB_FILE = "graph.lbug"
_NODE_DDL = (
    "CREATE NODE TABLE IF NOT EXISTS Entity(id STRING PRIMARY KEY, name STRING, aliases STRING[], "
    "labels STRING[], keys STRING[])"
)
NODE_FIXED = ("id", "name", "aliases", "labels", "keys")
EDGE_FIXED = ("sources",)
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


_NUMBER_RE = "^ *[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)? *$"


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
        self._node_props = PropertyColumns(self._run, "Entity", NODE_FIXED, NODE_ROWS, self._schema_changed)
        self._edge_props: dict[str, PropertyColumns] = {}
        if not read_only:
            self._convert_json_props()
            self._ensure_functions()

    def _ensure_functions(self) -> None:
        """Neo4j's ``toFloat`` (a number, or null for text that is none), so that a query comparing numbers
        stored as names (``toFloat(y.name) > 2000``, as :mod:`qa.kinds` writes) runs on both stores alike. The
        database casts before it filters, so the text is checked first: a bare cast fails on any name."""
        try:
            if self._run("RETURN toFloat('x') AS x") == [[None]]:
                return
            self._run("DROP MACRO toFloat")
        except RuntimeError as exc:
            if "does not exist" not in str(exc):          # an earlier, bare cast: replace it
                self._run("DROP MACRO toFloat")
        self._run(f"CREATE MACRO toFloat(x) AS CAST((CASE WHEN regexp_matches(x, '{_NUMBER_RE}') THEN x "
                  "ELSE NULL END) AS DOUBLE)")

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
            self._conn.execute(f"CREATE REL TABLE IF NOT EXISTS `{rel}`(FROM Entity TO Entity, sources STRING[])")
            self._rel_tables.add(rel)

    def _schema_changed(self) -> None:
        self._trim_statement_cache(keep=0)

    def _reload_columns(self) -> None:
        self._trim_statement_cache(keep=0)
        self._rel_tables = set(self._list_rel_tables())
        self._node_props = PropertyColumns(self._run, "Entity", NODE_FIXED, NODE_ROWS, self._schema_changed)
        self._edge_props.clear()

    def _edge_columns(self, rel: str) -> PropertyColumns:
        cols = self._edge_props.get(rel)
        if cols is None:
            cols = self._edge_props[rel] = PropertyColumns(self._run, rel, EDGE_FIXED, edge_rows(rel),
                                                           self._schema_changed)
        return cols

    def _convert_json_props(self) -> None:
        """A store from before typed columns: each JSON ``props`` text becomes typed columns and each JSON
        ``sources`` text a list, in one transaction; then the ``props`` columns are dropped. Entities are
        SET in place; relationship tables are rebuilt (:meth:`_convert_relation`)."""
        info = {t: {row[1]: row[2] for row in self._run(f"CALL table_info('{t}') RETURN *")}
                for t in ["Entity", *sorted(self._rel_tables)]}
        old = [t for t, cols in info.items() if LEGACY_PROPS in cols or cols.get("sources") == "STRING"]
        if not old:
            return
        self._conn.execute("BEGIN TRANSACTION")
        try:
            for table in old:
                if table != "Entity":
                    self._convert_relation(table, info[table])
                    continue
                rows, cols = NODE_ROWS, self._node_props
                found = [(row[:-1], _props(row[-1])) for row in self._run(
                    f"MATCH {rows.pattern} WHERE {rows.var}.props IS NOT NULL "
                    f"RETURN {', '.join(rows.keys)}, {rows.var}.props")]
                keys = cols.ensure(p for _, p in found)
                if keys:
                    columns = list(dict.fromkeys(keys.values()))
                    set_rows(self._run, table, rows, columns,
                             [(ks, [cols.values(p, keys)[c] for c in columns]) for ks, p in found])
                self._run(f"ALTER TABLE {quote(table)} DROP {LEGACY_PROPS}")
            self._conn.execute("COMMIT")
            self._reload_columns()
        except BaseException:
            with contextlib.suppress(RuntimeError):  # a failed statement may have ended the transaction
                self._conn.execute("ROLLBACK")
            self._reload_columns()
            raise
        self._conn.execute("CHECKPOINT")

    def _convert_relation(self, rel: str, columns: dict[str, str]) -> None:
        """An old relationship table rebuilt (:func:`kg.store.columns.rebuild_relation`): JSON ``sources``
        text as a list, JSON ``props`` text as typed columns."""
        cols = self._edge_columns(rel)
        keys: dict[str, str] = {}

        def alter(found: list[dict[str, Any]]) -> None:
            if columns.get("sources") == "STRING":
                self._run(f"ALTER TABLE {quote(rel)} DROP sources")
                self._run(f"ALTER TABLE {quote(rel)} ADD sources STRING[]")
            if LEGACY_PROPS in columns:
                keys.update(cols.ensure(_props(v.get(LEGACY_PROPS)) for v in found))
                self._run(f"ALTER TABLE {quote(rel)} DROP {LEGACY_PROPS}")

        def convert(values: dict[str, Any]) -> dict[str, Any]:
            out = {k: v for k, v in values.items() if k != LEGACY_PROPS}
            if columns.get("sources") == "STRING":
                out["sources"] = _sources(values.get("sources"))
            if LEGACY_PROPS in columns:
                out.update(cols.values(_props(values.get(LEGACY_PROPS)), keys))
            return out

        rebuild_relation(self._run, rel, alter, convert)

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

    def _trim_statement_cache(self, keep: int = STATEMENT_CACHE_SIZE) -> None:
        """Drop the connection's cached prepared statements once there are many of them.

        ladybug caches one prepared statement per query text, without bound, and each
        relationship type has its own query texts: 2,000 types kept ~0.2 MB each after
        their writes. Re-preparing the few queries of the next batch costs milliseconds.
        ``keep=0`` clears it after the schema changed (a column added, widened or rolled back): a
        precaution, so that no statement prepared against the old schema runs again.
        (A private attribute: if a ladybug release renames it, nothing is trimmed.)
        """
        cache = getattr(self._conn, "_pybind_implicit_prepared_cache", None)
        lock = getattr(self._conn, "_prepared_cache_lock", None)
        if not isinstance(cache, dict) or lock is None or len(cache) <= keep:
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
        self._widen_first(prep, types, nodes=plan is None)
        self._conn.execute("BEGIN TRANSACTION")
        try:
            if plan is None:
                plan = self._write_nodes(prep, result)
            for rel in types:
                result.relationships_created += self._write_edges(rel, plan.fresh_edges[rel], plan.known_edges[rel])
            self._conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(RuntimeError):  # a failed statement may have ended the transaction
                self._conn.execute("ROLLBACK")
            self._reload_columns()  # columns added or widened in the transaction are gone with it
            raise
        # COPY bypasses the write-ahead log: a bulk-loaded batch is durable only once
        # checkpointed. Without this, kill -9 lost every committed batch, and a later
        # logged SET on such rows made the database crash when it replayed its log.
        self._conn.execute("CHECKPOINT")
        return plan

    def _widen_first(self, prep: PreparedBatch, types: list[str], nodes: bool) -> None:
        """Widen the columns that this group's values do not fit, in a transaction of its own (see
        :meth:`PropertyColumns.widen`): the widened values are the same values, so it may commit even
        if the batch then fails."""
        jobs = []
        if nodes:
            jobs.append((self._node_props, self._node_props.widenings(r.props for r in prep.nodes.values() if r.props)))
        for rel in types:
            cols = self._edge_columns(rel)
            jobs.append((cols, cols.widenings(e.props for e in prep.edges[rel].values() if e.props)))
        jobs = [(cols, w) for cols, w in jobs if w]
        if not jobs:
            return
        self._conn.execute("BEGIN TRANSACTION")
        try:
            for cols, widen in jobs:
                cols.widen(widen)
            self._conn.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(RuntimeError):
                self._conn.execute("ROLLBACK")
            raise StoreUnavailable(f"widening property columns of the graph at {self.path} failed ({exc}); "
                                   "nothing of this batch was written: close the store and open it again "
                                   "before retrying") from exc
        self._conn.execute("CHECKPOINT")

    def _write_nodes(self, prep: PreparedBatch, result: WriteResult) -> WritePlan:
        """Create and update the batch's entities (inside the caller's transaction); the plan for its edges."""
        empty = not self._run("MATCH (n:Entity) RETURN n.id LIMIT 1")
        cols = self._node_props
        existing = {} if empty else {row[0]: self._stored(row) for row in self._run(
            f"UNWIND $ids AS i MATCH (n:Entity {{id: i}}) RETURN n.id, n.name, n.aliases, n.labels, n.keys"
            f"{cols.select('n')}", {"ids": list(prep.nodes.keys() | prep.endpoint_ids)})}
        plan = plan_write(prep, existing)
        changed = [m for row in plan.known_nodes if (m := merge_stored(existing[row.id], row))]
        keys = cols.ensure(r.props for r in [*plan.new_nodes, *changed] if r.props)
        columns = list(dict.fromkeys(keys.values()))
        if len(plan.new_nodes) >= COPY_MIN_ROWS:
            frame = _node_frame(plan.new_nodes, cols, keys)  # noqa: F841 (read by COPY)
            self._conn.execute(f"COPY Entity({', '.join(map(quote, [*NODE_FIXED, *columns]))}) FROM frame")
        elif plan.new_nodes:
            props = "".join(f", {quote(c)}: r.p{i}" for i, c in enumerate(columns))
            self._run("UNWIND $rows AS r CREATE (n:Entity {id: r.id, name: r.name, aliases: r.aliases, "
                      f"labels: r.labels, keys: r.keys{props}}})",
                      {"rows": [{**_node_params(r, nulls=True), **_numbered(cols.values(r.props, keys))}
                                for r in plan.new_nodes]})
        result.nodes_created += len(plan.new_nodes)
        if changed:
            props = "".join(f", n.{quote(c)} = r.p{i}" for i, c in enumerate(columns))
            self._run(
                "UNWIND $rows AS r MATCH (n:Entity {id: r.id}) SET n.name = r.name, n.aliases = r.aliases, "
                f"n.labels = r.labels, n.keys = r.keys{props}",
                {"rows": [{**_node_params(r), **_numbered(cols.values(r.props, keys))} for r in changed]},
            )
            result.nodes_updated += len(changed)
        return plan

    def _write_edges(self, rel: str, fresh: list[EdgeRow], known: list[EdgeRow]) -> int:
        # For relations between existing entities, read the stored edges of their heads
        # (a cheap adjacency scan), bulk-load the missing ones and update only those
        # whose sources or props change.
        changed: list[EdgeRow] = []
        cols = self._edge_columns(rel)
        if known:
            stored = {(row[0], row[1]): (_sources(row[2]), cols.row_props(row[3:])) for row in self._run(
                f"UNWIND $heads AS h MATCH (a:Entity {{id: h}})-[e:`{rel}`]->(b:Entity) RETURN a.id, b.id, e.sources"
                f"{cols.select('e')}", {"heads": list({e.h for e in known})},
            )}
            for e in known:
                old = stored.get((e.h, e.t))
                if old is None:
                    fresh.append(e)
                    continue
                sources = list(dict.fromkeys([*old[0], *e.sources]))
                props = {**old[1], **e.props}
                if sources != old[0] or props != old[1]:
                    changed.append(EdgeRow(e.h, e.t, sources, props))
        keys = cols.ensure(e.props for e in [*fresh, *changed] if e.props)
        columns = list(dict.fromkeys(keys.values()))
        if 0 < len(fresh) < COPY_MIN_ROWS:
            # two MATCH clauses: written "MATCH (a ...), (b ...)" the plan was a cross product of two scans
            # of the whole node table (~200 ms a batch on the MetaQA graph, against ~1 ms)
            props = "".join(f", {quote(c)}: r.p{i}" for i, c in enumerate(columns))
            self._run(f"UNWIND $rows AS r MATCH (a:Entity {{id: r.h}}) MATCH (b:Entity {{id: r.t}}) "
                      f"CREATE (a)-[:`{rel}` {{sources: r.sources{props}}}]->(b)",
                      {"rows": [_edge_params(e, cols, keys) for e in fresh]})
        elif fresh:
            frame = _edge_frame(fresh, cols, keys)  # noqa: F841 (read by COPY)
            self._conn.execute(f"COPY `{rel}`({', '.join(map(quote, [*EDGE_FIXED, *columns]))}) FROM frame")
        if changed:     # deleted and created again: see kg.store.columns.set_rows
            set_rows(self._run, rel, edge_rows(rel), ["sources", *columns],
                     [((e.h, e.t), [e.sources, *(cols.values(e.props, keys)[c] for c in columns)]) for e in changed])
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
                        keep.append({"h": h, "t": t, "sources": rest})
                    else:
                        drop.append({"h": h, "t": t})
                match = f"UNWIND $rows AS r MATCH (a:Entity {{id: r.h}})-[e:`{rel}`]->(b:Entity {{id: r.t}}) "
                if drop:
                    self._run(match + "DELETE e", {"rows": drop})
                set_rows(self._run, rel, edge_rows(rel), ["sources"],
                         [((r["h"], r["t"]), [r["sources"]]) for r in keep])
                deleted, updated = deleted + len(drop), updated + len(keep)
            self._conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(RuntimeError):  # a failed statement may have ended the transaction
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
    def _stored(self, row: list[Any]) -> NodeRow:
        """A node as :meth:`_write_nodes` reads it: its fixed columns, then ``self._node_props.select``'s."""
        return NodeRow(row[0], row[1], list(row[2] or []), list(row[3] or []), list(row[4] or []),
                       self._node_props.row_props(row[5:]))

    def _entity(self, node: dict[str, Any]) -> Entity:
        return Entity(id=node["id"], name=node["name"], aliases=list(node["aliases"] or []),
                      labels=list(node["labels"] or []), properties=self._node_props.read(node))

    def get_entity(self, entity_id: str) -> Entity | None:
        rows = self._run("MATCH (n:Entity {id: $id}) RETURN n", {"id": entity_id})
        return self._entity(rows[0][0]) if rows else None

    def find_by_name(self, text: str, limit: int = 20) -> list[Entity]:
        rows = self._run(
            "MATCH (n:Entity) WHERE list_contains(n.keys, $k) RETURN n ORDER BY n.id LIMIT $limit",
            {"k": lookup_key(text), "limit": limit},
        )
        return [self._entity(r[0]) for r in rows]

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
                     "RETURN a.id, label(r), b.id, r LIMIT $limit")
            for h, rel, tl, r in self._run(query, params):
                if len(out) >= limit:
                    break
                if (h, rel, tl) not in out:
                    out[h, rel, tl] = Relation(h, rel, tl, self._edge_columns(rel).read(r), _sources(r["sources"]))
        return list(out.values())

    def neighbours(self, entity_id: str, direction: str = "both", types: Sequence[str] | None = None,
                   limit: int = 1000) -> list[Relation]:
        return self.edges_of([entity_id], direction, types, limit)

    def subgraph(self, seeds: Sequence[str], hops: int = 2, max_edges: int = 10000) -> list[Relation]:
        return bfs_edges(self.edges_of, seeds, hops, max_edges)

    def repair(self) -> dict[str, int]:
        """Relationship tables that read differently from their heads than from their tails, or hold an
        edge twice, rebuilt: what kgqa before the fix of :func:`kg.store.columns.set_rows` left after a
        second source, a retraction, a widened column or an old store's conversion (forward scans missed
        edges, so the next ingest created them again). The edges are read from the tails' side, one per
        pair (sources merged), and the table is dropped and created again."""
        fixed: dict[str, int] = {}
        for rel in sorted(self._rel_tables):
            pairs = f"MATCH (a:Entity)-[e:{quote(rel)}]->(b:Entity) RETURN a.id, b.id"
            out = sorted(map(tuple, self._run(pairs)))
            back = sorted(map(tuple, self._run(f"MATCH (b:Entity)<-[e:{quote(rel)}]-(a:Entity) RETURN a.id, b.id")))
            if out == back and len(set(back)) == len(back):
                continue
            types = {row[1]: row[2] for row in self._run(f"CALL table_info('{rel}') RETURN *")}
            edges: dict[tuple[str, str], dict[str, Any]] = {}
            for row in self._run(f"MATCH (b:Entity)<-[e:{quote(rel)}]-(a:Entity) RETURN a.id, b.id"
                                 + "".join(f", e.{quote(c)}" for c in types)):
                values = dict(zip(types, row[2:], strict=True))
                seen = edges.setdefault((row[0], row[1]), values)
                if seen is not values:
                    seen.update({c: v for c, v in values.items() if seen.get(c) is None and v is not None})
                    both = [*_sources(seen.get("sources")), *_sources(values.get("sources"))]
                    seen["sources"] = list(dict.fromkeys(both))
            columns = "".join(f", {quote(c)} {t}" for c, t in types.items())
            self._conn.execute("BEGIN TRANSACTION")
            try:
                self._run(f"DROP TABLE {quote(rel)}")
                self._run(f"CREATE REL TABLE {quote(rel)}(FROM Entity TO Entity{columns})")
                create_edges(self._run, rel, list(types), edges)
                self._conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(RuntimeError):
                    self._conn.execute("ROLLBACK")
                self._reload_columns()
                raise
            self._conn.execute("CHECKPOINT")
            self._reload_columns()
            fixed[rel] = len(edges)
        return fixed

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
_NODE_FIELDS = [("id", pa.string()), ("name", pa.string()), ("aliases", _STRINGS), ("labels", _STRINGS),
                ("keys", _STRINGS)]
_EDGE_FIELDS = [("from", pa.string()), ("to", pa.string()), ("sources", _STRINGS)]


def _props(text: str | None) -> dict[str, Any]:
    """A pre-typed-columns store's JSON ``props`` text as a dict."""
    return json.loads(text) if text else {}


def _numbered(values: dict[str, Any]) -> dict[str, Any]:
    """Column values as query parameters ``p0, p1, ...`` (in column order): column names may be any text."""
    return {f"p{i}": v for i, v in enumerate(values.values())}


def _property_arrays(rows: Sequence[NodeRow | EdgeRow], cols: PropertyColumns,
                     keys: dict[str, str]) -> tuple[list[tuple[str, pa.DataType]], dict[str, list[Any]]]:
    columns = list(dict.fromkeys(keys.values()))
    if not columns:  # a graph without properties (MetaQA) pays nothing per row
        return [], {}
    values = [cols.values(r.props, keys) for r in rows]
    fields = [(c, arrow_type(cols.types[c])) for c in columns]
    return fields, {c: [v[c] for v in values] for c in columns}


def _sources(value: list[str] | str | None) -> list[str]:
    """A relation's sources: a list column (a store from before typed columns kept JSON text)."""
    if isinstance(value, str):
        return list(json.loads(value))
    return list(value or [])


def _node_frame(rows: list[NodeRow], cols: PropertyColumns, keys: dict[str, str]) -> pa.Table:
    fields, props = _property_arrays(rows, cols, keys)
    data = {
        "id": [r.id for r in rows],
        "name": [r.name for r in rows],
        "aliases": [r.aliases or None for r in rows],  # NULL rather than [] loads faster
        "labels": [r.labels or None for r in rows],
        "keys": [r.keys for r in rows],
        **props,
    }
    return pa.table(data, schema=pa.schema(_NODE_FIELDS + fields))


def _edge_frame(rows: list[EdgeRow], cols: PropertyColumns, keys: dict[str, str]) -> pa.Table:
    fields, props = _property_arrays(rows, cols, keys)
    data = {"from": [e.h for e in rows], "to": [e.t for e in rows], "sources": [e.sources for e in rows],
            **props}
    return pa.table(data, schema=pa.schema(_EDGE_FIELDS + fields))


def _node_params(r: NodeRow, nulls: bool = False) -> dict[str, Any]:
    """``r`` as query parameters; with ``nulls``, no aliases or labels as NULL (as COPY stores them)."""
    return {"id": r.id, "name": r.name, "aliases": r.aliases or None if nulls else r.aliases,
            "labels": r.labels or None if nulls else r.labels, "keys": r.keys}


def _edge_params(e: EdgeRow, cols: PropertyColumns, keys: dict[str, str]) -> dict[str, Any]:
    if not keys:
        return {"h": e.h, "t": e.t, "sources": e.sources}
    return {"h": e.h, "t": e.t, "sources": e.sources, **_numbered(cols.values(e.props, keys))}


def _group_pairs(relations: Sequence[Relation]) -> dict[str, list[dict[str, str]]]:
    groups: dict[str, list[dict[str, str]]] = {}
    for r in relations:
        groups.setdefault(relation_type(r.type), []).append({"h": r.head, "t": r.tail})
    return groups


_INTERNAL = re.compile(r"^_(ID|SRC|DST)$")
_SHOWN_NULL = frozenset({"id", "name", "aliases", "labels", "sources"})


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
        # A property a row lacks is a NULL column: left out, as Neo4j leaves out what a node does not have.
        out = {k: _plain(v, ids) for k, v in value.items()
               if not _INTERNAL.match(k) and k not in ("keys", "_LABEL") and (v is not None or k in _SHOWN_NULL)}
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
