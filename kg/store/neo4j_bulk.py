"""Bulk loads into Neo4j with its own importer (``neo4j-admin database import full``).

The first load of a large graph goes through Neo4j's offline importer; later loads go through the
Bolt writer (:class:`kg.store.neo4j.Neo4jStore`, ``kgqa --store neo4j ingest``). Both end with the
same graph: this module reads the files with kgqa's own readers and merges them as the Bolt writer
would (:mod:`kg.store.base`: ids, names from :func:`~kg.store.base.creation_row`, aliases, labels,
lookup keys, relationship types, ``sources`` and properties; a fact stated twice is one relationship
with both sources), then writes the importer's CSV files. ``tools/neo4j/import.sh`` runs the steps:

1. ``check``: refuse a database that holds data (``--overwrite`` replaces it);
2. ``csv``: the files → ``nodes-*.csv``, ``rels-*.csv`` and ``import.args`` (the importer's options);
3. the server stops, ``neo4j-admin database import full`` writes the database, the server starts;
4. ``finish``: what CSV cannot carry, then the schema (:class:`Neo4jStore` creates it on connect) and
   a wait until every index is online.

CSV layout: integer import ids (``:ID``, not stored) with the entity id as the ``id`` property,
``:LABEL`` = ``Entity`` plus the labels, every string quoted (``""`` is an empty string, an empty
field no property), typed columns (``long``, ``double``, ``boolean``, ``string`` and their arrays)
and an array delimiter that no array element holds (U+001F unless one does). A key whose values
have several types gets one file per type. What the importer cannot store goes to ``fixups.jsonl``
and is set over Bolt afterwards: empty lists (it skips empty arrays, so alias-less entities get
``aliases = []`` in one pass), lists of one empty string, integers beyond 64 bits and property keys
its header cannot spell.

Memory: entity ids → import ids in one dict, each relationship as a ``(type, head, tail)`` key of
import ids mapped to an interned ``(sources, properties)`` payload, and the merged rows of the
entities that records describe (10M MetaQA-like triples, 3.2M entities: 2.1 GB at the peak).

    python -m kg.store.neo4j_bulk csv --out DIR [--format F] [--strict] FILE...
    python -m kg.store.neo4j_bulk check|finish --uri bolt://127.0.0.1:7687 [--csv DIR]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kg.errors import InvalidName, KGQAError, MalformedRecord, ReaderError, StoreUnavailable, StrictModeAbort
from kg.ingest import MAX_REPORTED, IngestReport, guess_format, make_reader
from kg.models import Entity, Relation
from kg.names import check_identifier, default_name, lookup_key, relation_type
from kg.readers.base import Record
from kg.store.base import NodeRow, _union, clean_props, creation_row, node_row

#: The schema objects kgqa creates (kg.store.neo4j._SCHEMA); any other one makes a database "not ours".
OWN_SCHEMA = ("entity_id", "entity_name", "entity_names")
#: Array delimiters, in order of preference: the first that no array element holds is used.
ARRAY_DELIMITERS = ("\x1f", "\x1e", "\x1d", "\x1c")
REFUSED = 3  # exit status of ``check`` for a database that holds data
_SAFE_KEY = re.compile(r"[^\x00-\x20\"'{}\[\]():,;`\x7f]+")  # a key the importer's header spells as-is
_INT64 = (-(2**63), 2**63 - 1)
_ROWS_PER_WRITE = 50_000


@dataclass(slots=True)
class BulkGraph:
    """A whole graph as the Bolt writer would store it after ingesting the same files in order.

    Attributes:
        index: entity id → import id, in order of first appearance.
        described: merged rows of the entities that records describe (the others are known only as
            relation endpoints and get :func:`~kg.store.base.creation_row`'s defaults).
        edges: ``(type id, head, tail)`` (import ids) → payload id.
        types: relationship types by type id.
        payloads: ``(sources, properties)`` by payload id; relationships share them.
    """

    index: dict[str, int] = field(default_factory=dict)
    described: dict[str, NodeRow] = field(default_factory=dict)
    edges: dict[tuple[int, int, int], int] = field(default_factory=dict)
    types: list[str] = field(default_factory=list)
    payloads: list[tuple[list[str], dict[str, Any]]] = field(default_factory=list)
    _type_of_name: dict[str, int] = field(default_factory=dict)
    _type_ids: dict[str, int] = field(default_factory=dict)
    _payload_ids: dict[Any, int] = field(default_factory=dict)
    _one_source: dict[str, int] = field(default_factory=dict)
    _merged: dict[tuple[int, int], int] = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        return len(self.index)

    @property
    def n_edges(self) -> int:
        return len(self.edges)

    def add(self, records: Iterable[Record], report: IngestReport, *, strict: bool = False) -> None:
        """Fold a reader's records in; a malformed or invalid record is reported (or, ``strict``, raises
        :class:`StrictModeAbort` before anything is imported)."""
        index, edges, type_of_name, one_source = self.index, self.edges, self._type_of_name, self._one_source
        fname = Path(report.path).name
        for rec in records:
            if type(rec) is Relation:
                # The common case inline (a triples line): a known type, one source, no properties.
                head, tail, sources = rec.head, rec.tail, rec.sources
                tid = type_of_name.get(rec.type)
                pid = one_source.get(sources[0]) if len(sources) == 1 else None
                if tid is None or pid is None or rec.properties or not head or not tail:
                    self._add_checked(rec, report, strict, fname)
                    continue
                h = index.get(head)
                if h is None:
                    h = index[head] = len(index)
                t = index.get(tail)
                if t is None:
                    t = index[tail] = len(index)
                key = (tid, h, t)
                old = edges.get(key)
                if old is None:
                    edges[key] = pid
                elif old != pid:
                    edges[key] = self._merge(old, pid)
                report.records += 1
            elif isinstance(rec, Entity | Relation):
                self._add_checked(rec, report, strict, fname)
            else:
                if strict:
                    raise StrictModeAbort(rec, 0)
                _keep(report, rec)

    def _add_checked(self, rec: Entity | Relation, report: IngestReport, strict: bool, fname: str) -> None:
        report.records += 1  # counted as kg.ingest counts it, whether it validates or not
        try:
            if isinstance(rec, Entity):
                self._add_entity(rec)
            else:
                self._add_relation(rec)
        except (InvalidName, ValueError) as exc:
            what = f"entity {rec.id!r}" if isinstance(rec, Entity) else \
                f"relation {rec.head!r} -[{rec.type}]-> {rec.tail!r}"
            issue = MalformedRecord(fname, 0, f"{what}: {exc}")  # as kg.ingest reports a record it drops
            if strict:
                raise StrictModeAbort(issue, 0) from exc
            _keep(report, issue)

    def _add_entity(self, e: Entity) -> None:
        """Validated first (:func:`node_row` raises), then merged as :func:`kg.store.base.merge_node` does."""
        if not isinstance(e.id, str) or not e.id:
            raise ValueError(f"entity id must be a non-empty string, got {e.id!r}")
        fresh = node_row(e)
        row = self.described.get(e.id)
        if row is None:
            self.described[e.id] = fresh
            self.index.setdefault(e.id, len(self.index))
            return
        if fresh.name is not None:
            row.name = fresh.name
        row.aliases = _union(row.aliases, fresh.aliases)
        row.labels = _union(row.labels, fresh.labels)
        row.props.update(fresh.props)

    def _add_relation(self, r: Relation) -> None:
        """As :func:`kg.store.base.prepare` checks and merges a relation (sources: union; properties: update)."""
        if not r.head or not r.tail:
            raise ValueError(f"relation {r.head!r} -[{r.type}]-> {r.tail!r} needs a head and a tail")
        tid = self._type_of_name.get(r.type)
        if tid is None:
            rel = relation_type(r.type)
            tid = self._type_ids.setdefault(rel, len(self._type_ids))
            if tid == len(self.types):
                self.types.append(rel)
            self._type_of_name[r.type] = tid
        sources = list(r.sources) if len(r.sources) < 2 else list(dict.fromkeys(r.sources))
        pid = self._intern(sources, clean_props(r.properties) if r.properties else {})
        if len(sources) == 1 and not r.properties:
            self._one_source.setdefault(sources[0], pid)
        h = self.index.setdefault(r.head, len(self.index))
        t = self.index.setdefault(r.tail, len(self.index))
        key = (tid, h, t)
        old = self.edges.get(key)
        self.edges[key] = pid if old is None else self._merge(old, pid)

    def _intern(self, sources: list[str], props: dict[str, Any]) -> int:
        key = (tuple(sources), tuple(sorted((k, _frozen(v)) for k, v in props.items())))
        pid = self._payload_ids.get(key)
        if pid is None:
            pid = self._payload_ids[key] = len(self.payloads)
            self.payloads.append((sources, props))
        return pid

    def _merge(self, old: int, new: int) -> int:
        """The payload of a relationship stated again: sources added in order, properties updated."""
        pid = self._merged.get((old, new))
        if pid is None:
            (s1, p1), (s2, p2) = self.payloads[old], self.payloads[new]
            pid = self._merged[(old, new)] = self._intern(_union(s1, s2), {**p1, **p2})
        return pid


def _frozen(value: Any) -> Any:
    """A hashable, type-exact form of a property value (``1``, ``1.0`` and ``True`` stay apart)."""
    if isinstance(value, list):
        return ("list", tuple((type(v).__name__, v) for v in value))
    return (type(value).__name__, value)


def _keep(report: IngestReport, issue: MalformedRecord) -> None:
    report.malformed_count += 1
    if len(report.malformed) < MAX_REPORTED:
        report.malformed.append(issue)


def read_files(paths: Sequence[str | Path], *, fmt: str | None = None, strict: bool = False,
               **reader_options: Any) -> tuple[BulkGraph, list[IngestReport]]:
    """Read ``paths`` in order with kgqa's readers into one :class:`BulkGraph`.

    Raises:
        ReaderError: a file is missing or cannot be read (nothing is imported).
        StrictModeAbort: ``strict`` and a malformed record was met.
    """
    graph = BulkGraph()
    reports: list[IngestReport] = []
    with _no_cyclic_gc():
        for p in paths:
            _read_one(graph, Path(p), fmt, strict, reader_options, reports)
    return graph, reports


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Millions of long-lived keys and rows: the cyclic collector would rescan them again and again
    (kg.ingest turns it off for the same reason); reference counting still frees everything."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read_one(graph: BulkGraph, path: Path, fmt: str | None, strict: bool, reader_options: dict[str, Any],
              reports: list[IngestReport]) -> None:
    if not path.is_file():
        raise ReaderError(f"{path} is not a file; give the triple or RDF files to import")
    reader = make_reader(fmt or guess_format(path), **dict(reader_options))
    report = IngestReport(path=str(path))
    start = time.perf_counter()
    try:
        graph.add(reader.read(path), report, strict=strict)
    except OSError as exc:
        raise ReaderError(f"{path}: cannot read it ({exc.strerror or exc}); nothing was imported") from exc
    report.seconds = time.perf_counter() - start
    reports.append(report)


# -- CSV ---------------------------------------------------------------------------------------------

@dataclass(slots=True)
class ImportFiles:
    """What :func:`write_csv` wrote: the importer's input and what it cannot carry."""

    folder: Path
    node_files: list[Path]
    rel_files: list[Path]
    array_delimiter: str
    multiline: bool
    read_buffer: int
    nodes: int
    relationships: int
    fixups: int

    def admin_args(self) -> list[str]:
        """The options of ``neo4j-admin database import full`` for these files."""
        args = [f"--nodes={p}" for p in self.node_files] + [f"--relationships={p}" for p in self.rel_files]
        args += ["--id-type=integer", f"--array-delimiter=U+{ord(self.array_delimiter):04X}",
                 f"--multiline-fields={'true' if self.multiline else 'false'}",
                 f"--read-buffer-size={self.read_buffer}"]
        return args


def _csv_type(value: Any) -> str | None:
    """The importer's column type for ``value``; None when CSV cannot carry it (set over Bolt instead)."""
    kind = type(value)
    if kind is str:
        return "string"
    if kind is bool:
        return "boolean"
    if kind is int:
        return "long" if _INT64[0] <= value <= _INT64[1] else None
    if kind is float:
        return "double"
    if kind is list:
        if not value or value == [""]:  # both would be an empty field, which the importer skips
            return None
        inner = _csv_type(value[0])
        if inner is None or inner.endswith("[]") or any(type(v) is not type(value[0]) for v in value):
            return None
        if inner == "long" and not all(_INT64[0] <= v <= _INT64[1] for v in value):
            return None
        return inner + "[]"
    return None


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if '"' in text else '"' + text + '"'


def _field(value: Any, delim: str) -> str:
    """``value`` (whose :func:`_csv_type` is not None) as one CSV field."""
    kind = type(value)
    if kind is str:
        return _quote(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is float:
        return repr(value)
    if kind is list:
        first = value[0]
        if type(first) is str:
            return _quote(delim.join(value))
        return _quote(delim.join(("true" if v else "false") if type(v) is bool else repr(v) for v in value))
    return str(value)


@dataclass(slots=True)
class _Group:
    """One CSV file: its typed property columns."""

    columns: dict[str, str] = field(default_factory=dict)

    def fits(self, sig: dict[str, str]) -> bool:
        return all(self.columns.get(k, t) == t for k, t in sig.items())


def _assign(groups: list[_Group], sig: dict[str, str]) -> int:
    for i, g in enumerate(groups):
        if g.fits(sig):
            g.columns.update(sig)
            return i
    groups.append(_Group(dict(sig)))
    return len(groups) - 1


def _split(props: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """``props`` as (CSV columns → type, the rest for Bolt)."""
    sig: dict[str, str] = {}
    rest: dict[str, Any] = {}
    for k, v in props.items():
        t = _csv_type(v) if _SAFE_KEY.fullmatch(k) else None
        if t is None:
            rest[k] = v
        else:
            sig[k] = t
    return sig, rest


def _array_delimiter(graph: BulkGraph) -> str:
    """The first of :data:`ARRAY_DELIMITERS` that no array element holds. Lookup keys never hold one (they
    fold white space, and Python counts U+001C-U+001F as white space); aliases, list values and sources may."""
    texts: list[str] = []
    for row in graph.described.values():
        texts += row.aliases
        texts += (x for v in row.props.values() if isinstance(v, list) for x in v if isinstance(x, str))
    for sources, props in graph.payloads:
        texts += sources
        texts += (x for v in props.values() if isinstance(v, list) for x in v if isinstance(x, str))
    blob = "\0".join(texts)
    for delim in ARRAY_DELIMITERS:
        if delim not in blob:
            return delim
    raise KGQAError("every candidate array delimiter (U+001C-U+001F) occurs in aliases, list values or sources; "
                    "load these files with `kgqa --store neo4j ingest` (the Bolt writer) instead")


def _columns(values: dict[str, Any], sig: dict[str, str], columns: list[tuple[str, str]], delim: str) -> str:
    """The property fields of one row: a value where the row has one for that column, else empty."""
    return "".join("," + _field(values[k], delim) if k in sig else "," for k, _ in columns)


def write_csv(graph: BulkGraph, folder: str | Path) -> ImportFiles:
    """Write ``graph`` as the importer's CSV files (and ``fixups.jsonl``) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    delim = _array_delimiter(graph)
    stats = _Written()
    with _no_cyclic_gc(), (folder / "fixups.jsonl").open("w", encoding="utf-8") as fixups:
        node_files = _write_nodes(graph, folder, delim, fixups, stats)
        rel_files = _write_relationships(graph, folder, delim, fixups, stats)
    # The importer's read buffer must hold the longest row (at most 4 bytes a character).
    read_buffer = max(4 << 20, 1 << (4 * stats.longest + (1 << 20)).bit_length())
    files = ImportFiles(folder, node_files, rel_files, delim, stats.multiline, read_buffer, graph.n_nodes,
                        graph.n_edges, stats.fixups)
    (folder / "import.args").write_text("\n".join(files.admin_args()) + "\n", encoding="utf-8")
    return files


@dataclass(slots=True)
class _Written:
    multiline: bool = False
    longest: int = 0
    fixups: int = 0

    def flush(self, out: Any, batch: list[str]) -> None:
        if not batch:
            return
        text = "\n".join(batch)
        if text.count("\n") != len(batch) - 1 or "\r" in text:
            self.multiline = True  # a value holds a line break
        self.longest = max(self.longest, max(map(len, batch)))
        out.write(text + "\n")
        batch.clear()


def _open(path: Path, header: list[str]) -> Any:
    out = path.open("w", encoding="utf-8", newline="\n", buffering=1 << 20)
    out.write(",".join(_quote(h) for h in header) + "\n")
    return out


def _write_nodes(graph: BulkGraph, folder: Path, delim: str, fixups: Any, stats: _Written) -> list[Path]:
    """One row per entity; a described entity's typed properties decide its file (one file unless a key
    has values of several types)."""
    groups: list[_Group] = [_Group()]
    planned: dict[str, tuple[int, NodeRow, dict[str, Any], dict[str, str]]] = {}
    for eid, row in graph.described.items():
        full = creation_row(eid, row)
        values = dict(full.props)
        if full.aliases:
            values["aliases"] = full.aliases  # none: the [] is set after the import, for all at once
        sig, rest = _split(values)
        if not full.keys or full.keys == [""]:
            rest["keys"] = full.keys
        if rest:
            fixups.write(json.dumps({"node": eid, "props": rest}, ensure_ascii=False) + "\n")
            stats.fixups += 1
        planned[eid] = (_assign(groups, sig), full, values, sig)
    columns = [list(g.columns.items()) for g in groups]
    paths = [folder / f"nodes-{i}.csv" for i in range(len(groups))]
    outs = [_open(p, [":ID", ":LABEL", "id", "name", "keys:string[]"] + [f"{k}:{t}" for k, t in cols])
            for p, cols in zip(paths, columns, strict=True)]
    batches: list[list[str]] = [[] for _ in groups]
    no_props = "," * len(columns[0])
    for eid, i in graph.index.items():
        plan = planned.get(eid)
        if plan is None:  # known only as a relation endpoint: named after its id (creation_row)
            name = default_name(eid)
            quoted = _quote(eid)
            line = f"{i},Entity,{quoted},{quoted if name == eid else _quote(name)},{_quote(lookup_key(name))}{no_props}"
            g = 0
        else:
            g, full, values, sig = plan
            labels = "Entity" + "".join(delim + lab for lab in sorted(full.labels))
            keys = _quote(delim.join(full.keys)) if full.keys and full.keys != [""] else ""
            line = (f"{i},{labels},{_quote(eid)},{_quote(full.name or '')},{keys}"
                    f"{_columns(values, sig, columns[g], delim)}")
        batch = batches[g]
        batch.append(line)
        if len(batch) >= _ROWS_PER_WRITE:
            stats.flush(outs[g], batch)
    for out, batch in zip(outs, batches, strict=True):
        stats.flush(out, batch)
        out.close()
    return paths


def _write_relationships(graph: BulkGraph, folder: Path, delim: str, fixups: Any, stats: _Written) -> list[Path]:
    """One row per relationship; its payload (sources, properties) decides its file and the row's tail."""
    groups: list[_Group] = [_Group({"sources": "string[]"})]
    plans = []
    for sources, props in graph.payloads:
        values = {**props, "sources": sources}
        sig, rest = _split(values)
        plans.append((_assign(groups, sig), values, sig, rest))
    columns = [list(g.columns.items()) for g in groups]
    group_of = [g for g, _, _, _ in plans]
    tails = [_columns(values, sig, columns[g], delim) for g, values, sig, _ in plans]
    rests = [rest for _, _, _, rest in plans]
    paths = [folder / f"rels-{i}.csv" for i in range(len(groups))]
    outs = [_open(p, [":START_ID", ":END_ID", ":TYPE"] + [f"{k}:{t}" for k, t in cols])
            for p, cols in zip(paths, columns, strict=True)]
    batches: list[list[str]] = [[] for _ in groups]
    types = graph.types
    ids: list[str] = []
    for (tid, h, t), pid in graph.edges.items():
        g = group_of[pid]
        batch = batches[g]
        batch.append(f"{h},{t},{types[tid]}{tails[pid]}")
        if rests[pid]:
            ids = ids or list(graph.index)
            fixups.write(json.dumps({"edge": [ids[h], types[tid], ids[t]], "props": rests[pid]},
                                    ensure_ascii=False) + "\n")
            stats.fixups += 1
        if len(batch) >= _ROWS_PER_WRITE:
            stats.flush(outs[g], batch)
    for out, batch in zip(outs, batches, strict=True):
        stats.flush(out, batch)
        out.close()
    return paths


# -- the database before and after the importer ------------------------------------------------------

def occupied(driver: Any, database: str = "neo4j") -> str | None:
    """Why ``database`` must not be replaced by an import (it holds nodes, or schema kgqa did not
    create), or None when it is empty."""
    records, _, _ = driver.execute_query("MATCH (n) RETURN count(n) AS n", database_=database)
    nodes = int(records[0]["n"])
    if nodes:
        return f"the database {database!r} already holds {nodes:,} nodes"
    records, _, _ = driver.execute_query(
        "SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' AND NOT name IN $own RETURN collect(name) AS names",
        own=list(OWN_SCHEMA), database_=database)
    foreign = list(records[0]["names"])
    records, _, _ = driver.execute_query(
        "SHOW CONSTRAINTS YIELD name WHERE NOT name IN $own RETURN collect(name) AS names",
        own=list(OWN_SCHEMA), database_=database)
    foreign += [n for n in records[0]["names"] if n not in foreign]
    if foreign:
        return (f"the database {database!r} holds no nodes but indexes or constraints that kgqa did not create "
                f"({', '.join(sorted(foreign))}), which an import would drop")
    return None


def finish(driver: Any, folder: str | Path | None, *, uri: str, user: str, password: str | None,
           database: str = "neo4j", timeout_s: float = 3600.0) -> dict[str, Any]:
    """After the importer: set what CSV could not carry, create kgqa's schema, wait for the indexes."""
    from kg.store.neo4j import Neo4jStore

    timings: dict[str, Any] = {}
    start = time.perf_counter()
    with driver.session(database=database) as session:
        # The importer skips empty arrays: entities without aliases get the [] the Bolt writer stores.
        summary = session.run("MATCH (n:Entity) WHERE n.aliases IS NULL "
                              "CALL (n) { SET n.aliases = [] } IN TRANSACTIONS OF 50000 ROWS").consume()
        timings["empty_aliases"] = summary.counters.properties_set
    timings["empty_aliases_s"] = time.perf_counter() - start
    start = time.perf_counter()
    Neo4jStore(uri, user, password, database=database).close()  # creates the schema on connect
    timings["schema_s"] = time.perf_counter() - start
    start = time.perf_counter()
    nodes: list[dict[str, Any]] = []
    edges: dict[str, list[dict[str, Any]]] = {}
    path = Path(folder) / "fixups.jsonl" if folder is not None else None
    if path is not None and path.exists():
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                item = json.loads(line)
                if "node" in item:
                    nodes.append({"id": item["node"], "props": item["props"]})
                else:
                    h, rel, t = item["edge"]
                    edges.setdefault(rel, []).append({"h": h, "t": t, "props": item["props"]})
    for i in range(0, len(nodes), 10_000):
        driver.execute_query("UNWIND $rows AS r MATCH (n:Entity {id: r.id}) SET n += r.props",
                             rows=nodes[i:i + 10_000], database_=database)
    for rel, rows in edges.items():
        check_identifier(rel)
        for i in range(0, len(rows), 10_000):
            driver.execute_query(f"UNWIND $rows AS r MATCH (:Entity {{id: r.h}})-[e:`{rel}`]->(:Entity {{id: r.t}}) "
                                 "SET e += r.props", rows=rows[i:i + 10_000], database_=database)
    timings["fixups"] = len(nodes) + sum(len(r) for r in edges.values())
    timings["fixups_s"] = time.perf_counter() - start
    start = time.perf_counter()
    driver.execute_query("CALL db.awaitIndexes($t)", t=int(timeout_s), database_=database)
    timings["indexes_s"] = time.perf_counter() - start
    return timings


# -- command line (tools/neo4j/import.sh) ------------------------------------------------------------

def _driver(args: argparse.Namespace) -> Any:
    import neo4j
    from neo4j.exceptions import AuthError, ServiceUnavailable

    auth = (args.user, args.password) if args.password is not None else None
    try:
        driver = neo4j.GraphDatabase.driver(args.uri, auth=auth)
        driver.verify_connectivity()
    except (AuthError, ServiceUnavailable, OSError) as exc:
        raise StoreUnavailable(f"cannot reach Neo4j at {args.uri} ({exc}); is the server of this home running, "
                               "and are NEO4J_USER/NEO4J_PASSWORD its credentials?") from exc
    return driver


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kg.store.neo4j_bulk", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    csv_cmd = sub.add_parser("csv", help="read files, write the importer's CSV into --out")
    csv_cmd.add_argument("paths", nargs="+", type=Path)
    csv_cmd.add_argument("--out", type=Path, required=True)
    csv_cmd.add_argument("--format", dest="fmt", default=None)
    csv_cmd.add_argument("--strict", action="store_true")
    csv_cmd.add_argument("--delimiter", default=None)
    csv_cmd.add_argument("--encoding", default=None)
    csv_cmd.add_argument("--column", dest="columns", action="append", default=[], metavar="ROLE=NAME")
    for name in ("check", "finish"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--uri", default=os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687"))
        cmd.add_argument("--user", default=os.environ.get("NEO4J_USER", "neo4j"))
        cmd.add_argument("--password", default=os.environ.get("NEO4J_PASSWORD"))
        cmd.add_argument("--database", default=os.environ.get("NEO4J_DATABASE", "neo4j"))
        cmd.add_argument("--csv", type=Path, default=None, help="the folder `csv` wrote (its fixups.jsonl)")
    args = ap.parse_args(argv)
    try:
        if args.command == "csv":
            return _csv_command(args)
        driver = _driver(args)
        try:
            if args.command == "check":
                reason = occupied(driver, args.database)
                if reason:
                    print(reason, file=sys.stderr)
                    return REFUSED
                print("empty")
                return 0
            print(json.dumps(finish(driver, args.csv, uri=args.uri, user=args.user, password=args.password,
                                    database=args.database)))
            return 0
        finally:
            driver.close()
    except KGQAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _csv_command(args: argparse.Namespace) -> int:
    options: dict[str, Any] = {}
    if args.delimiter:
        options["delimiter"] = args.delimiter.encode().decode("unicode_escape")
    if args.encoding:
        options["encoding"] = args.encoding
    if args.columns:
        options["columns"] = dict(c.split("=", 1) for c in args.columns)
    start = time.perf_counter()
    graph, reports = read_files(args.paths, fmt=args.fmt, strict=args.strict, **options)
    read_s = time.perf_counter() - start
    for report in reports:
        for issue in report.malformed[:20]:
            print(f"skipped: {issue}", file=sys.stderr)
        if report.malformed_count > 20:
            print(f"skipped: ... and {report.malformed_count - 20:,} more in {report.path}", file=sys.stderr)
    start = time.perf_counter()
    files = write_csv(graph, args.out)
    write_s = time.perf_counter() - start
    summary = {"records": sum(r.records for r in reports), "malformed": sum(r.malformed_count for r in reports),
               "nodes": files.nodes, "relationships": files.relationships, "fixups": files.fixups,
               "node_files": len(files.node_files), "rel_files": len(files.rel_files),
               "read_s": round(read_s, 3), "write_s": round(write_s, 3)}
    (Path(args.out) / "summary.json").write_text(json.dumps(summary))
    print(json.dumps(summary))
    return 1 if summary["malformed"] else 0


if __name__ == "__main__":
    sys.exit(main())
