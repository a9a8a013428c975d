"""The read-only Cypher endpoint (``GraphStore.cypher``) on both backends.

Two lines of defence: the lexical check (:mod:`kg.cypher_guard`) refuses writes,
file access and administration before anything runs, and the database itself
runs the query in a read-only transaction. The tests check both, the second by
switching the first off.
"""

from __future__ import annotations

import time

import pytest

from kg.cypher_guard import check_read_only
from kg.errors import QueryError, ReadOnlyViolation
from kg.models import Batch, Entity, Relation
from kg.store.base import GraphStore

REFUSED = {
    "create": "CREATE (:Entity {id: 'x'})",
    "create-lowercase": "match (n) create (m:Entity {id: 'x'}) return m",
    "merge": "MERGE (n:Entity {id: 'x'}) RETURN n",
    "set": "MATCH (n:Entity {id: 'a'}) SET n.name = 'changed' RETURN n",
    "set+=": "MATCH (n:Entity {id: 'a'}) SET n += {name: 'changed'}",
    "delete": "MATCH (:Entity)-[r]->(:Entity) DELETE r",
    "detach-delete": "MATCH (n:Entity {id: 'a'}) DETACH DELETE n",
    "remove": "MATCH (n:Entity {id: 'a'}) REMOVE n.name RETURN n",
    "drop-constraint": "DROP CONSTRAINT entity_id",
    "drop-table": "DROP TABLE Entity",
    "load-csv": "LOAD CSV FROM 'file:///etc/passwd' AS row RETURN row",
    "copy-to": "COPY (MATCH (n) RETURN n.id) TO '/tmp/kgqa-leak.csv'",
    "foreach": "MATCH (n:Entity) FOREACH (x IN [1] | SET n.name = 'changed')",
    "in-transactions": "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10 ROWS",
    "in-transactions-read": "UNWIND [1] AS x CALL (x) { RETURN x AS y } IN TRANSACTIONS RETURN y",
    "dbms-procedure": "CALL dbms.listConfig() YIELD name RETURN name",
    "dbms-spaced": "CALL   dbms . components() YIELD name RETURN name",
    "apoc": "CALL apoc.periodic.iterate('MATCH (n) RETURN n', 'DETACH DELETE n', {})",
    "db-create": "CALL db.createLabel('Evil')",
    "two-statements": "MATCH (n) RETURN n.id; MATCH (n) DETACH DELETE n",
    "two-reads": "MATCH (n) RETURN n.id; MATCH (m) RETURN m.id",
    "hidden-after-comment": "MATCH (n) RETURN n.id // harmless\n; CREATE (:Entity {id: 'x'})",
    "transaction-control": "BEGIN TRANSACTION",
    "checkpoint": "CHECKPOINT",
    "use-database": "USE system SHOW USERS",
    "create-user": "CREATE USER mallory SET PASSWORD 'secret123'",
    "empty": "   ",
    # issue 14: spellings that fooled the keyword check
    "comment-ended-by-cr": "// x\rLOAD CSV FROM 'file:///etc/passwd' AS r RETURN r",
    "u2028-does-not-end-a-comment": "// a\u2028'\nLOAD CSV FROM \"file:///etc/passwd\" AS r RETURN r //'",
    "unicode-escaped-keyword": "\\u004cOAD CSV FROM 'file:///etc/passwd' AS r RETURN r",
    "unicode-escaped-procedure": "CALL \\u0064bms.listConfig()",
    "backticked-dbms": "CALL `dbms`.listConfig() YIELD name RETURN name",
    "backticked-jmx": "CALL `dbms`.queryJmx('*')",
    "backticked-connections": "CALL `dbms.listConnections`()",
    "show-users": "SHOW USERS",
    "show-settings": "SHOW SETTINGS",
    "show-transactions": "show transactions",
    "show-databases": "SHOW DATABASES",
    "show-procedures": "SHOW PROCEDURES",
    "show-after-cypher-version": "CYPHER 25 SHOW USERS",
    "show-after-union": "RETURN 1 AS name UNION SHOW SETTINGS YIELD name RETURN name",
    "terminate": "TERMINATE TRANSACTIONS 'neo4j-transaction-1'",
    "db-stats": "CALL db.stats.retrieve('QUERIES')",
}

ALLOWED = {
    "keyword-in-string": ("MATCH (n:Entity) WHERE n.name <> 'CREATE' AND n.name <> \"DELETE n\" "
                          "RETURN n.id ORDER BY n.id", [["a"], ["b"]]),
    "keywords-and-semicolon-in-string": ("MATCH (n:Entity {id: 'a'}) RETURN 'SET x = 1; DROP TABLE Entity' AS s",
                                         [["SET x = 1; DROP TABLE Entity"]]),
    "line-comment": ("MATCH (n:Entity {id: 'a'}) // DETACH DELETE n\nRETURN n.id", [["a"]]),
    "block-comment": ("MATCH (n:Entity {id: 'a'}) /* SET n.x = 1; CREATE (m) */ RETURN n.id", [["a"]]),
    "backticked-alias": ("MATCH (n:Entity {id: 'a'}) RETURN n.id AS `delete`", [["a"]]),
    "one-trailing-semicolon": ("MATCH (n:Entity {id: 'a'}) RETURN n.name;", [["A"]]),
    "keyword-substrings": ("MATCH (n:Entity {id: 'a'}) WITH n AS created_node, 1 AS offset_value "
                           "RETURN created_node.id, offset_value", [["a", 1]]),
    "parameter": ("MATCH (n:Entity) WHERE n.id = $id RETURN n.id", [["a"]]),
    "variable-named-show": ("MATCH (show:Entity {id: 'a'}) RETURN show.id", [["a"]]),
    "unicode-escape-in-string": ("MATCH (n:Entity {id: 'a'}) RETURN 'caf\\u00e9' AS s", [["café"]]),
}


@pytest.fixture
def graph(store: GraphStore) -> GraphStore:
    store.upsert(Batch(entities=[Entity("a", "A")], relations=[Relation("a", "knows", "b")]))
    return store


def snapshot(store: GraphStore) -> tuple[object, ...]:
    a = store.get_entity("a")
    return (store.stats().as_dict(), a.name if a else None, store.get_entity("x"),
            sorted((r.head, r.type, r.tail) for r in store.neighbours("a")))


@pytest.mark.parametrize("query", list(REFUSED.values()), ids=list(REFUSED))
def test_writes_and_admin_are_refused(graph: GraphStore, query: str) -> None:
    before = snapshot(graph)
    with pytest.raises(ReadOnlyViolation):
        graph.cypher(query)
    assert snapshot(graph) == before
    assert graph.cypher("MATCH (n:Entity {id: 'a'}) RETURN n.name").rows == [["A"]]


def test_refusal_says_what_to_do(graph: GraphStore) -> None:
    with pytest.raises(ReadOnlyViolation, match="read-only"):
        graph.cypher("MATCH (n) DETACH DELETE n")
    with pytest.raises(ReadOnlyViolation, match="one statement"):
        graph.cypher("MATCH (n) RETURN n; MATCH (m) RETURN m")


@pytest.mark.parametrize(("query", "rows"), list(ALLOWED.values()), ids=list(ALLOWED))
def test_keywords_in_literals_comments_and_names_are_allowed(graph: GraphStore, query: str,
                                                             rows: list[list[object]]) -> None:
    check_read_only(query)
    assert graph.cypher(query, {"id": "a"}).rows == rows


@pytest.mark.parametrize("query", [
    "MATCH (n:Entity) WHERE n.set = 1 RETURN n.id",
    "MATCH (n:Entity) RETURN n.create, n.delete, n.merge, n.load",
    "MATCH (n:Entity) RETURN n.`drop`",
])
def test_property_names_that_are_keywords_are_not_refused(graph: GraphStore, query: str) -> None:
    check_read_only(query)
    try:
        graph.cypher(query)
    except QueryError:
        # The embedded store keeps entity properties in one JSON column, so an unknown
        # property is a binder error there (Neo4j returns null); either way it is not refused
        # as a write, which is what ReadOnlyViolation (not a QueryError) would be.
        assert graph.name == "embedded"


@pytest.mark.parametrize(("query", "rows"), [
    ("MATCH (n:Entity {id: 'a'}) WITH {id: n.id, merge: 1} AS m RETURN m.id, m.merge", [["a", 1]]),
    ("MATCH (n:Entity) WHERE n.id = $delete RETURN n.id", [["a"]]),
], ids=["map-key", "parameter-name"])
def test_map_keys_and_parameters_named_like_keywords_are_allowed(graph: GraphStore, query: str,
                                                                 rows: list[list[object]]) -> None:
    assert graph.cypher(query, {"delete": "a"}).rows == rows


def test_syntax_errors_are_query_errors(graph: GraphStore) -> None:
    with pytest.raises(QueryError, match="query failed"):
        graph.cypher("MATCH (n RETURN n")


# -- the database itself refuses writes ------------------------------------------------------------

@pytest.fixture
def unguarded(graph: GraphStore, monkeypatch: pytest.MonkeyPatch) -> GraphStore:
    """The store with the lexical check switched off: only the read-only transaction is left."""
    monkeypatch.setattr("kg.store.embedded.check_read_only", lambda q: None)
    monkeypatch.setattr("kg.store.neo4j.check_read_only", lambda q: None)
    return graph


@pytest.mark.parametrize("query", [
    "CREATE (:Entity {id: 'x'})",
    "CREATE (n:Entity {id:'x'})",
    "MERGE (n:Entity {id: 'x'}) RETURN n.id",
    "MATCH (n:Entity {id: 'a'}) SET n.name = 'changed' RETURN n.id",
    "MATCH (n:Entity {id: 'a'}) DETACH DELETE n",
    "MATCH (:Entity)-[r]->(:Entity) DELETE r",
])
def test_database_refuses_writes_without_the_lexical_check(unguarded: GraphStore, query: str) -> None:
    before = snapshot(unguarded)
    with pytest.raises(ReadOnlyViolation, match="database refused"):
        unguarded.cypher(query)
    assert snapshot(unguarded) == before
    assert unguarded.get_entity("x") is None
    # the connection is still usable for reads and the store for writes
    assert unguarded.cypher("MATCH (n:Entity {id: 'a'}) RETURN n.name").rows == [["A"]]
    assert unguarded.upsert(Batch(entities=[Entity("c", "C")])).nodes_created == 1


def test_database_refuses_a_second_statement_without_the_lexical_check(unguarded: GraphStore) -> None:
    before = snapshot(unguarded)
    with pytest.raises((ReadOnlyViolation, QueryError)):
        unguarded.cypher("MATCH (n) RETURN n.id; CREATE (:Entity {id: 'x'})")
    assert snapshot(unguarded) == before


# -- timeouts --------------------------------------------------------------------------------------
# Timings measured on the 2-core test machine (not asserted beyond generous bounds):
#   MANY_ROWS, timeout 0.5 s:   embedded stops after ~0.5 s, Neo4j after ~1-2 s;
#                               without a timeout it runs for about a minute on either.
#   ONE_BIG_LIST, timeout 0.5 s: Neo4j stops after ~0.9-2.3 s; the embedded database builds the
#                               whole range() list before it checks for interruption, so it stops
#                               after 3-5 s (and after ~44 s for range(1, 10**9)), barely before
#                               the query would have finished (~5 s).

MANY_ROWS = ("UNWIND range(1, 100000) AS x UNWIND range(1, 100000) AS y "
             "WITH x, y WHERE (x + y) % 7 = 0 RETURN count(*)")
ONE_BIG_LIST = "UNWIND range(1, 100000000) AS x WITH x WHERE x % 7 = 0 RETURN count(*)"


def assert_usable(store: GraphStore) -> None:
    """After a timeout the store still reads (with the default timeout back) and writes."""
    assert store.cypher("MATCH (n:Entity {id: 'a'}) RETURN n.name").rows == [["A"]]
    assert store.upsert(Batch(entities=[Entity("c", "C")])).nodes_created == 1
    assert store.stats().entities == 3


def test_query_timeout_stops_a_long_query(graph: GraphStore) -> None:
    start = time.monotonic()
    with pytest.raises(QueryError, match=r"0\.5 s timeout"):
        graph.cypher(MANY_ROWS, timeout_s=0.5)
    assert time.monotonic() - start < 15
    assert_usable(graph)


@pytest.mark.slow
def test_query_timeout_on_one_big_list(graph: GraphStore) -> None:
    start = time.monotonic()
    with pytest.raises(QueryError, match="timeout"):
        graph.cypher(ONE_BIG_LIST, timeout_s=0.5)
    # prompt on Neo4j; on the embedded database only "eventually" (see above)
    assert time.monotonic() - start < (15 if graph.name == "neo4j" else 60)
    assert_usable(graph)
