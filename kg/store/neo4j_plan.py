"""Whether Neo4j may run an exploration query: decided from Neo4j's own plan.

:meth:`kg.store.neo4j.Neo4jStore.cypher` plans every query with ``EXPLAIN`` (same
parameters, same READ transaction) and hands the summary to :func:`check_plan`,
which lets it run only when

* the summary's query type is ``"r"`` (read only: no writes, no schema or
  administration commands, no ``dbms.*`` procedures, which Neo4j types ``"s"``);
* every operator of the plan tree is in :data:`READ_OPERATORS` and runs on the
  store's own database (no ``LoadCSV``, no ``Show...`` commands, no
  ``CALL {} IN TRANSACTIONS``, nothing routed to ``system``);
* every procedure call is in :data:`ALLOWED_PROCEDURES` (schema and full-text
  look-ups; no ``dbms.*``, no ``db.stats.*``);
* no expression iterates over ``range()``: Neo4j checks a transaction's timeout
  between rows, not inside one expression, so ``reduce(s = '', x IN range(1, 3000000) | ...)``
  would keep a server thread busy long after its timeout. ``UNWIND range(...)``
  produces rows and stays allowed.

Unlike a keyword list this cannot be fooled by spelling (comments, ``\\u`` escapes,
backticks): it reads what the database is about to run.
"""

from __future__ import annotations

import re
from typing import Any

from kg.errors import ReadOnlyViolation

#: Operators that only read (Neo4j 2025/2026 Community, slotted runtime; names as in plans).
READ_OPERATORS = frozenset("""
ProduceResults Projection Filter Limit ExhaustiveLimit Skip Sort PartialSort Top PartialTop Distinct
OrderedDistinct Aggregation EagerAggregation OrderedAggregation Eager Unwind Optional Anti Argument
ArgumentTracker EmptyRow EmptyResult DropResult CacheProperties NullifyMetadata ProjectEndpoints
AllNodesScan NodeByLabelScan UnionNodeByLabelsScan IntersectionNodeByLabelsScan SubtractionNodeByLabelsScan
NodeByIdSeek NodeByElementIdSeek NodeIndexSeek NodeUniqueIndexSeek MultiNodeIndexSeek AssertingMultiNodeIndexSeek
NodeIndexSeekByRange NodeUniqueIndexSeekByRange NodeIndexContainsScan NodeIndexEndsWithScan NodeIndexScan
DirectedAllRelationshipsScan UndirectedAllRelationshipsScan DirectedRelationshipTypeScan
UndirectedRelationshipTypeScan DirectedUnionRelationshipTypesScan UndirectedUnionRelationshipTypesScan
DirectedRelationshipIndexSeek UndirectedRelationshipIndexSeek DirectedRelationshipIndexScan
UndirectedRelationshipIndexScan DirectedRelationshipIndexContainsScan UndirectedRelationshipIndexContainsScan
DirectedRelationshipIndexEndsWithScan UndirectedRelationshipIndexEndsWithScan DirectedRelationshipIndexSeekByRange
UndirectedRelationshipIndexSeekByRange DirectedRelationshipUniqueIndexSeek UndirectedRelationshipUniqueIndexSeek
DirectedRelationshipUniqueIndexSeekByRange UndirectedRelationshipUniqueIndexSeekByRange
DirectedRelationshipByIdSeek UndirectedRelationshipByIdSeek DirectedRelationshipByElementIdSeek
UndirectedRelationshipByElementIdSeek NodeCountFromCountStore RelationshipCountFromCountStore
Expand(All) Expand(Into) OptionalExpand(All) OptionalExpand(Into) VarLengthExpand(All) VarLengthExpand(Into)
VarLengthExpand(Pruning) BFSPruningVarLengthExpand(All) BFSPruningVarLengthExpand(Into) ShortestPath
StatefulShortestPath(All) StatefulShortestPath(Into) Repeat(Trail) Repeat(Walk) Trail
Apply SemiApply AntiSemiApply LetSemiApply LetAntiSemiApply SelectOrSemiApply SelectOrAntiSemiApply
LetSelectOrSemiApply LetSelectOrAntiSemiApply RollUpApply ConditionalApply AntiConditionalApply
CartesianProduct NodeHashJoin ValueHashJoin NodeLeftOuterHashJoin NodeRightOuterHashJoin Union OrderedUnion
TriadicSelection TriadicBuild TriadicFilter AssertSameNode AssertSameRelationship ProcedureCall
""".split())

#: Procedures an exploration query may call: the schema and the full-text look-ups.
ALLOWED_PROCEDURES = frozenset("""
db.labels db.relationshipTypes db.propertyKeys db.schema.visualization db.schema.nodeTypeProperties
db.schema.relTypeProperties db.index.fulltext.queryNodes db.index.fulltext.queryRelationships
db.index.fulltext.awaitEventuallyConsistentIndexRefresh db.awaitIndex db.awaitIndexes db.ping
""".split())

_PROCEDURE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*\(")
_RANGE = re.compile(r"\brange\s*\(", re.IGNORECASE)


def check_plan(query_type: str | None, plan: dict[str, Any] | None, database: str) -> None:
    """Raise :class:`ReadOnlyViolation` unless the planned query only reads, with allowed operators."""
    if query_type != "r":
        kind = {"w": "writes", "rw": "reads and writes", "s": "changes the schema or administers the database"}
        # "r" is the only plain read; "s" covers schema and administration commands and dbms.* procedures
        raise ReadOnlyViolation(
            f"the database refused this query: its plan {kind.get(query_type or '', 'is not a plain read')}; "
            "the Cypher endpoint only reads: use MATCH ... RETURN ..., and `kgqa ingest` to load data")
    if not plan:
        raise ReadOnlyViolation("the database returned no plan for this query, so it cannot be checked; "
                                "rewrite it as MATCH ... RETURN ...")
    for op in _operators(plan):
        name, _, db = str(op.get("operatorType", "")).partition("@")
        details = str((op.get("args") or {}).get("Details", ""))
        if db and db != database:
            raise ReadOnlyViolation(f"this query runs on database {db!r}; the Cypher endpoint only reads "
                                    f"the graph in {database!r}")
        if name not in READ_OPERATORS:
            raise ReadOnlyViolation(f"the query plan uses {name}, which the read-only Cypher endpoint does not "
                                    "allow (no LOAD CSV, SHOW or administration commands, no CALL {} IN "
                                    "TRANSACTIONS); query the graph with MATCH ... RETURN ...")
        if name == "ProcedureCall":
            m = _PROCEDURE.match(details)
            proc = m.group(1) if m else details
            if proc not in ALLOWED_PROCEDURES:
                raise ReadOnlyViolation(f"procedure {proc} is not allowed on the read-only Cypher endpoint; "
                                        f"allowed: {', '.join(sorted(ALLOWED_PROCEDURES))}")
        iterated = details[len(m.group()):] if name == "Unwind" and (m := _RANGE.match(details)) else details
        if _RANGE.search(iterated):
            raise ReadOnlyViolation("range() inside an expression (reduce, list comprehension, size...) is not "
                                    "allowed: the query timeout cannot stop it; produce rows with UNWIND range(...) "
                                    "AS x instead")


def _operators(plan: dict[str, Any]) -> list[dict[str, Any]]:
    out, todo = [], [plan]
    while todo:
        op = todo.pop()
        out.append(op)
        todo.extend(op.get("children") or [])
    return out
