"""Typed property columns for the embedded store: one column per property key, as Neo4j has one property.

LadybugDB tables have a fixed schema, so a property key becomes a column of the table the first time a
value is written under it (``ALTER TABLE ... ADD``), typed from its values: ``BOOL``, ``INT64``,
``DOUBLE``, ``STRING`` or a list of one of them. ``m.year > 2000``, ``'drama' IN m.genres`` and
``r.since >= 2010`` then work as on Neo4j. A property a node lacks is NULL in its column and is left
out when the node is read back, as Neo4j leaves it out.

Where Neo4j lets every node hold its own type under one key, a column holds one: a later value of
another type widens the column, once, for every row: ``INT64`` with ``DOUBLE`` becomes ``DOUBLE``,
anything else mixed becomes ``STRING`` (lists as JSON text, booleans ``true``/``false``). Nothing is
lost, but those values read back as text. Column names are case-insensitive in LadybugDB: a key that
differs from an existing column (or a reserved field) only in case is stored as ``key_2``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

_ARROW_SCALAR = {"BOOL": pa.bool_(), "INT64": pa.int64(), "DOUBLE": pa.float64(), "STRING": pa.string()}
INTERNAL_KEYS = frozenset({"_ID", "_LABEL", "_SRC", "_DST"})
LEGACY_PROPS = "props"  # stores written before typed columns kept every property in one JSON text column

Run = Callable[..., list[list[Any]]]


@dataclass(frozen=True)
class RowMatch:
    """How to match a table's rows: all of them (``pattern``, the row's variable ``var`` and the
    expressions ``keys`` that identify it) and one of them from ``r.k0``, ``r.k1``... (``keyed``)."""

    pattern: str
    var: str
    keys: tuple[str, ...]
    keyed: str
    relation: str | None = None     # the relationship table, for a table of edges


NODE_ROWS = RowMatch("(n:Entity)", "n", ("n.id",), "(n:Entity {id: r.k0})")


def edge_rows(rel: str) -> RowMatch:
    return RowMatch(f"(a:Entity)-[e:{quote(rel)}]->(b:Entity)", "e", ("a.id", "b.id"),
                    f"(a:Entity {{id: r.k0}})-[e:{quote(rel)}]->(b:Entity {{id: r.k1}})", rel)


def value_type(value: Any) -> str | None:
    """The column type a (cleaned, see :func:`kg.store.base.clean_value`) value needs; None: any list."""
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "DOUBLE"
    if isinstance(value, list):
        inner = {value_type(v) for v in value}
        if not inner:
            return None
        return f"{inner.pop()}[]" if len(inner) == 1 else "STRING[]"
    return "STRING"


def wider(a: str | None, b: str | None) -> str | None:
    """The narrowest column type that holds values of types ``a`` and ``b``."""
    if a == b:
        return a
    if a is None or b is None:  # an empty list fits any list column; with a scalar: text
        other = b if a is None else a
        return other if other is not None and other.endswith("[]") else "STRING"
    if {a, b} <= {"INT64", "DOUBLE"}:
        return "DOUBLE"
    if {a, b} <= {"INT64[]", "DOUBLE[]"}:
        return "DOUBLE[]"
    return "STRING"


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def convert(value: Any, column_type: str) -> Any:
    """``value`` as a column of ``column_type`` stores it (after a widening, ints as floats or text)."""
    if value is None:
        return None
    if column_type == "STRING":
        return as_text(value)
    if column_type == "DOUBLE":
        return float(value)
    if column_type == "DOUBLE[]":
        return [float(v) for v in value]
    return value


def arrow_type(column_type: str) -> pa.DataType:
    if column_type.endswith("[]"):
        return pa.list_(_ARROW_SCALAR[column_type[:-2]])
    return _ARROW_SCALAR[column_type]


def quote(name: str) -> str:
    return f"`{name}`"


def set_rows(run: Run, table: str, rows: RowMatch, columns: Sequence[str],
             found: Sequence[tuple[Sequence[Any], Sequence[Any]]]) -> None:
    """Set ``columns`` of the rows ``found`` (each: the row's keys, as ``rows.keys``, and its values).

    A node row is SET in place. A relationship row is deleted and created again with every column, its
    other values kept: LadybugDB 0.22.0 leaves a relationship table's forward adjacency wrong after a
    property of a few hundred of its rows is SET in one statement (``(a)-[:T]->(b)`` scans then miss some
    edges and repeat others, while ``(b)<-[:T]-(a)`` sees them all; measured on MetaQA's HAS_GENRE: 300
    SETs, 1,383 of 15,485 edges gone from forward scans), so no relationship property is SET in place.
    Recreating also leaves one edge per pair where an earlier SET had left copies.
    """
    if not found or not columns:
        return
    params = [{**{f"k{i}": k for i, k in enumerate(keys)}, **{f"v{j}": v for j, v in enumerate(values)}}
              for keys, values in found]
    if rows.relation is None:
        sets = ", ".join(f"{rows.var}.{quote(c)} = r.v{j}" for j, c in enumerate(columns))
        run(f"UNWIND $rows AS r MATCH {rows.keyed} SET {sets}", {"rows": params})
        return
    every = columns_of(run, table)
    # one pass: each edge's values read, then the edge deleted
    stored = {(row[0], row[1]): dict(zip(every, row[2:], strict=True)) for row in run(
        f"UNWIND $rows AS r MATCH {rows.keyed} WITH a.id AS h, b.id AS t, e"
        + "".join(f", e.{quote(c)} AS c{j}" for j, c in enumerate(every))
        + " DELETE e RETURN DISTINCT h, t" + "".join(f", c{j}" for j in range(len(every))), {"rows": params})}
    for p in params:
        row = stored.get((p["k0"], p["k1"]))
        if row is not None:
            row.update({c: p[f"v{j}"] for j, c in enumerate(columns)})
    create_edges(run, rows.relation, every, stored)


def columns_of(run: Run, table: str) -> list[str]:
    return [row[1] for row in run(f"CALL table_info('{table}') RETURN *")]


def rebuild_relation(run: Run, rel: str, alter: Callable[[list[dict[str, Any]]], None],
                     convert: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Change the columns of relationship table ``rel`` without SET (see :func:`set_rows`), inside the
    caller's transaction: every edge is read (its columns as a dict) and deleted, ``alter(values)`` changes
    the empty table's columns, and each edge is created again with ``convert(values)``. (An edge created
    and then deleted again in a transaction that had dropped or renamed one of its table's columns crashed
    LadybugDB, so the columns change while the table is empty.)"""
    before = columns_of(run, rel)
    found = {(row[0], row[1]): dict(zip(before, row[2:], strict=True)) for row in run(
        f"MATCH (a:Entity)-[e:{quote(rel)}]->(b:Entity) WITH a.id AS h, b.id AS t, e"
        + "".join(f", e.{quote(c)} AS c{j}" for j, c in enumerate(before))
        + " DELETE e RETURN DISTINCT h, t" + "".join(f", c{j}" for j in range(len(before))))}
    alter(list(found.values()))
    create_edges(run, rel, columns_of(run, rel), {k: convert(v) for k, v in found.items()})


def create_edges(run: Run, rel: str, columns: Sequence[str], edges: dict[tuple[str, str], dict[str, Any]]) -> None:
    """An edge of ``rel`` per (head id, tail id) with its ``columns`` (missing ones NULL)."""
    if not edges:
        return
    # a column NULL in every row is left out (it stays NULL): a parameter with no value has no type
    columns = [c for c in columns if any(row.get(c) is not None for row in edges.values())]
    values = ", ".join(f"{quote(c)}: r.v{j}" for j, c in enumerate(columns))
    run(f"UNWIND $rows AS r MATCH (a:Entity {{id: r.k0}}) MATCH (b:Entity {{id: r.k1}}) "
        f"CREATE (a)-[:{quote(rel)} {{{values}}}]->(b)",
        {"rows": [{"k0": h, "k1": t, **{f"v{j}": row.get(c) for j, c in enumerate(columns)}}
                  for (h, t), row in edges.items()]})


def rewrite_column(run: Run, table: str, rows: RowMatch, col: str, typ: str, fn: Callable[[Any], Any]) -> None:
    """Give column ``col`` of ``table`` the type ``typ``, each value passed through ``fn`` (inside the
    caller's transaction: a new column filled from the old one, the old dropped, the new renamed; for a
    relationship table, :func:`rebuild_relation`)."""
    if rows.relation is not None:
        def alter(_: list[dict[str, Any]]) -> None:
            run(f"ALTER TABLE {quote(table)} DROP {quote(col)}")
            run(f"ALTER TABLE {quote(table)} ADD {quote(col)} {typ}")

        rebuild_relation(run, table, alter, lambda v: {**v, col: None if v.get(col) is None else fn(v[col])})
        return
    found = run(f"MATCH {rows.pattern} WHERE {rows.var}.{quote(col)} IS NOT NULL "
                f"RETURN {', '.join(rows.keys)}, {rows.var}.{quote(col)}")
    tmp = f"{col}__kgqa_retype"
    run(f"ALTER TABLE {quote(table)} ADD {quote(tmp)} {typ}")
    set_rows(run, table, rows, [tmp], [(row[:-1], [fn(row[-1])]) for row in found])
    run(f"ALTER TABLE {quote(table)} DROP {quote(col)}")
    run(f"ALTER TABLE {quote(table)} RENAME {quote(tmp)} TO {quote(col)}")


class PropertyColumns:
    """The property columns of one table (``Entity`` or a relationship type): add, widen, read."""

    def __init__(self, run: Run, table: str, fixed: Iterable[str], rows: RowMatch,
                 changed: Callable[[], None] = lambda: None) -> None:
        """``fixed``: the table's own columns; ``rows``: how to match its rows (for a widening);
        ``changed``: called after columns were added or widened (prepared statements are stale)."""
        self.run, self.table, self.fixed, self.rows, self.changed = run, table, tuple(fixed), rows, changed
        self.types: dict[str, str] = {}
        self.legacy = False  # a pre-typed store opened read-only keeps its JSON props column
        for _, name, typ, *_ in run(f"CALL table_info('{table}') RETURN *"):
            if name == LEGACY_PROPS:
                self.legacy = True
            elif name not in self.fixed:
                self.types[name] = typ

    def column(self, key: str, pending: Iterable[str] = ()) -> str:
        """The column that holds property ``key`` (the key itself unless it clashes in case with a column,
        or with one of ``pending``, the columns a write is about to add)."""
        if key in self.types:
            return key
        taken = {c.lower() for c in (*self.fixed, *self.types, *pending, LEGACY_PROPS)}
        if key.lower() not in taken:
            return key
        n = 2
        while f"{key}_{n}" not in self.types and f"{key}_{n}".lower() in taken:
            n += 1
        return f"{key}_{n}"

    def widenings(self, props: Iterable[dict[str, Any]]) -> dict[str, str]:
        """The existing columns that ``props`` would widen, with their new types."""
        need = self._needs(props, {})
        return {col: typ for col, typ in need.items() if col in self.types and typ and typ != self.types[col]}

    def widen(self, columns: dict[str, str]) -> None:
        """Give each column its new type (see :meth:`widenings`). LadybugDB crashed on the commit after a
        rolled-back transaction that had dropped and renamed a column, so the store runs this in a
        transaction of its own, before the batch's."""
        for col, typ in columns.items():
            self._widen(col, typ)
            self.types[col] = typ
        if columns:
            self.changed()

    def ensure(self, props: Iterable[dict[str, Any]]) -> dict[str, str]:
        """Add or widen the columns the ``props`` need (inside the caller's transaction); key -> column."""
        keys: dict[str, str] = {}
        need = self._needs(props, keys)
        altered = False
        for col, typ in need.items():
            typ = typ or "STRING[]"
            if col not in self.types:
                self.run(f"ALTER TABLE {quote(self.table)} ADD {quote(col)} {typ}")
            elif typ != self.types[col]:
                self._widen(col, typ)
            else:
                continue
            self.types[col], altered = typ, True
        if altered:
            self.changed()
        return keys

    def _needs(self, props: Iterable[dict[str, Any]], keys: dict[str, str]) -> dict[str, str | None]:
        """Column -> the type that holds its stored values and ``props``' (``keys`` gets key -> column)."""
        need: dict[str, str | None] = {}
        for p in props:
            for key, value in p.items():
                col = keys[key] if key in keys else keys.setdefault(key, self.column(key, need))
                if col in need:
                    need[col] = wider(need[col], value_type(value))
                elif col in self.types:
                    need[col] = wider(self.types[col], value_type(value))
                else:
                    need[col] = value_type(value)
        return need

    def _widen(self, col: str, typ: str) -> None:
        """Rewrite column ``col`` as type ``typ``: values converted in Python, so the rule is one."""
        rewrite_column(self.run, self.table, self.rows, col, typ, lambda v: convert(v, typ))

    def values(self, props: dict[str, Any], keys: dict[str, str]) -> dict[str, Any]:
        """One row's properties as ``{column: stored value}`` (every column of ``keys``; NULL when absent)."""
        by_col = {keys[k]: v for k, v in props.items()}
        return {col: convert(by_col.get(col), self.types[col]) for col in dict.fromkeys(keys.values())}

    def select(self, var: str) -> str:
        """``, var.`c1`, var.`c2`...`` for a RETURN clause: the property columns (with a pre-typed store's
        ``props`` text last); :meth:`row_props` reads them back."""
        cols = [*self.types, *([LEGACY_PROPS] if self.legacy else [])]
        return "".join(f", {var}.{quote(c)}" for c in cols)

    def row_props(self, values: Sequence[Any]) -> dict[str, Any]:
        """The properties in the columns that :meth:`select` returned."""
        out = {c: v for c, v in zip(self.types, values, strict=False) if v is not None}
        if self.legacy and len(values) > len(self.types) and values[-1]:
            out = {**json.loads(values[-1]), **out}
        return out

    def read(self, record: dict[str, Any]) -> dict[str, Any]:
        """The properties in a node or relationship as the database returns it (NULL columns left out)."""
        out = {k: v for k, v in record.items()
               if v is not None and k not in INTERNAL_KEYS and k not in self.fixed and k != LEGACY_PROPS}
        legacy = record.get(LEGACY_PROPS)
        if isinstance(legacy, str) and legacy:
            out = {**json.loads(legacy), **out}
        return out
