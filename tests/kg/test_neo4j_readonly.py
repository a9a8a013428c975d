"""Issue 14 on Neo4j: the database decides what the read-only Cypher endpoint runs.

Every reproducer of "Neo4j, read-only console bypassed" is tried three ways: through
``GraphStore.cypher`` (keyword check, then the plan check), through the plan check alone
(keyword check switched off), and through ``kgqa cypher``. Each must be refused with one
clear sentence, leave the graph as it was, and leave the server answering.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kg.errors import QueryError, ReadOnlyViolation
from kg.models import Batch, Entity, Relation
from kg.store.base import GraphStore
from tests.conftest import MARKER_INDEX, NEO4J_PASSWORD, NEO4J_URI, NEO4J_USER, ROOT, TEST_MARKER, claim_test_database

pytestmark = pytest.mark.neo4j

REDUCE = "RETURN reduce(s='', x IN range(1,3000000) | s+'AAAAAAAAAA') AS s"

# The reproducers (and close variants); {url} is a local listener that must never be contacted.
ATTACKS = {
    "cr-comment-load-csv-file": "// x\rLOAD CSV FROM 'file:///etc/passwd' AS r RETURN r",
    "cr-comment-load-csv-http": "// x\rLOAD CSV FROM '{url}' AS r RETURN r",
    "u2028-quote-smuggle": "// a\u2028'\nLOAD CSV FROM \"{url}\" AS r RETURN r //'",
    "escaped-load-csv": "\\u004cOAD CSV FROM '{url}' AS r RETURN r",
    "escaped-dbms": "CALL \\u0064bms.listConfig()",
    "backticked-list-config": "CALL `dbms`.listConfig()",
    "backticked-query-jmx": "CALL `dbms`.queryJmx('*')",
    "backticked-list-connections": "CALL `dbms`.listConnections()",
    "show-users": "SHOW USERS",
    "show-settings": "SHOW SETTINGS",
    "show-transactions": "SHOW TRANSACTIONS",
    "show-databases": "SHOW DATABASES",
    "show-procedures": "SHOW PROCEDURES",
    "db-stats-queries": "CALL db.stats.retrieve('QUERIES')",
    "reduce-over-range": REDUCE,
    "comprehension-over-range": "RETURN size([x IN range(1, 2000000000) WHERE x % 3 = 0]) AS n",
}


class Listener:
    """A TCP listener on 127.0.0.1 that counts the connections made to it (server-side request forgery)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/data.csv"
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/csv\r\n\r\nleaked\n")
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    ln = Listener()
    yield ln
    ln.close()


@pytest.fixture
def graph(neo4j: GraphStore) -> GraphStore:
    neo4j.upsert(Batch(entities=[Entity("a", "A")], relations=[Relation("a", "knows", "b")]))
    return neo4j


def snapshot(store: GraphStore) -> tuple[object, ...]:
    return store.stats().as_dict(), sorted((r.head, r.type, r.tail) for r in store.neighbours("a"))


def admin_query(query: str, **params: Any) -> list[dict[str, Any]]:
    """A query as the test's admin user, outside kgqa (for what the server itself is doing)."""
    import neo4j

    with neo4j.GraphDatabase.driver(NEO4J_URI, auth=(NEO4J_USER, NEO4J_PASSWORD)) as driver:
        records, _, _ = driver.execute_query(query, params, database_="neo4j")
        return [dict(r) for r in records]


def running(fragment: str) -> list[dict[str, Any]]:
    return [t for t in admin_query("SHOW TRANSACTIONS YIELD currentQuery, status, elapsedTime")
            if fragment in t["currentQuery"] and not t["currentQuery"].startswith("SHOW")]


@pytest.mark.parametrize("guarded", [True, False], ids=["keyword-check-and-plan", "plan-only"])
@pytest.mark.parametrize("attack", list(ATTACKS.values()), ids=list(ATTACKS))
def test_attacks_are_refused(graph: GraphStore, listener: Listener, monkeypatch: pytest.MonkeyPatch,
                             attack: str, guarded: bool) -> None:
    if not guarded:
        monkeypatch.setattr("kg.store.neo4j.check_read_only", lambda q: None)
    before = snapshot(graph)
    start = time.monotonic()
    with pytest.raises((ReadOnlyViolation, QueryError)) as refused:
        graph.cypher(attack.replace("{url}", listener.url), timeout_s=2)
    message = str(refused.value)
    if isinstance(refused.value, ReadOnlyViolation):
        assert "\n" not in message and ("allowed" in message or "read-only" in message or "refused" in message)
    else:  # Neo4j 5.26's parser reads no \u escapes in keywords: the server itself refuses the spelling
        assert message.startswith("query failed: Invalid input"), message
    assert time.monotonic() - start < 10
    assert listener.connections == 0  # the database never fetched the URL
    assert snapshot(graph) == before
    assert graph.cypher("MATCH (n:Entity {id: 'a'}) RETURN n.name").rows == [["A"]]


def test_plan_check_names_what_it_refused(graph: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kg.store.neo4j.check_read_only", lambda q: None)
    with pytest.raises(ReadOnlyViolation, match="uses LoadCSV"):
        graph.cypher("// x\rLOAD CSV FROM 'file:///etc/passwd' AS r RETURN r")
    with pytest.raises(ReadOnlyViolation, match=r"procedure db\.stats\.retrieve is not allowed"):
        graph.cypher("CALL db.stats.retrieve('QUERIES')")
    with pytest.raises(ReadOnlyViolation, match="UNWIND range"):
        graph.cypher(REDUCE)


@pytest.mark.parametrize(("query", "rows"), [
    ("CALL db.labels() YIELD label WITH label WHERE label = 'Entity' RETURN label", [["Entity"]]),
    ("CALL db.relationshipTypes() YIELD relationshipType AS t WITH t WHERE t = 'KNOWS' RETURN t", [["KNOWS"]]),
    ("CALL db.propertyKeys() YIELD propertyKey WITH propertyKey WHERE propertyKey = 'name' RETURN propertyKey",
     [["name"]]),
    ("CALL db.schema.visualization() YIELD nodes RETURN size(nodes) > 0", [[True]]),
    ("UNWIND range(1, 3) AS x RETURN sum(x)", [[6]]),
    ("MATCH p = (a:Entity {id: 'a'})-[:KNOWS*1..2]->(b) RETURN b.id, length(p)", [["b", 1]]),
    ("MATCH (a:Entity {id: 'a'}) OPTIONAL MATCH (a)<-[r]-(c) RETURN a.id, count(c)", [["a", 0]]),
    ("MATCH (a:Entity) WHERE EXISTS { (a)-[:KNOWS]->() } RETURN a.id", [["a"]]),
    ("MATCH (n:Entity) RETURN n.id ORDER BY n.id SKIP 1 LIMIT 1 UNION MATCH (n:Entity {id: 'a'}) RETURN n.id",
     [["b"], ["a"]]),
    ("MATCH (n:Entity {id: 'a'}) CALL (n) { MATCH (n)-->(m) RETURN m } RETURN m.id", [["b"]]),
    ("MATCH (n:Entity) RETURN count(*)", [[2]]),
], ids=["labels", "relationship-types", "property-keys", "schema", "unwind-range", "var-length", "optional",
        "exists", "union", "subquery", "count-store"])
def test_reads_and_schema_procedures_still_run(graph: GraphStore, query: str, rows: list[list[object]]) -> None:
    assert graph.cypher(query).rows == rows


# -- the timeout is the server's --------------------------------------------------------------------

ROWS_FOREVER = "UNWIND range(1, 100000) AS x UNWIND range(1, 100000) AS y RETURN count(*) AS c"


def test_a_timed_out_query_stops_in_the_server(graph: GraphStore) -> None:
    start = time.monotonic()
    with pytest.raises(QueryError, match=r"0\.5 s timeout"):
        graph.cypher(ROWS_FOREVER, timeout_s=0.5)
    assert time.monotonic() - start < 15
    deadline = time.monotonic() + 10
    while running("UNWIND range(1, 100000)") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert running("UNWIND range(1, 100000)") == []  # gone from the server, not only from the client
    assert graph.cypher("MATCH (n:Entity {id: 'a'}) RETURN n.name").rows == [["A"]]


def test_the_reduce_reproducer_never_reaches_the_server(graph: GraphStore) -> None:
    """Neo4j checks a timeout between rows only; one ``reduce`` over range() would spin a server
    thread for hours after its timeout, so it is refused from its plan before it runs."""
    with pytest.raises(ReadOnlyViolation, match="the query timeout cannot stop it"):
        graph.cypher(REDUCE, timeout_s=1)
    assert running("reduce(") == []
    start = time.monotonic()
    assert graph.cypher("RETURN 1").rows == [[1]]
    assert time.monotonic() - start < 5


# -- the server's own configuration (tools/neo4j/start.sh) -----------------------------------------

def test_the_server_refuses_file_urls_in_load_csv(graph: GraphStore) -> None:
    import neo4j

    with pytest.raises(neo4j.exceptions.ClientError, match="allow_csv_import_from_file_urls"):
        admin_query("LOAD CSV FROM 'file:///etc/hostname' AS r RETURN r")


# -- kgqa cypher --------------------------------------------------------------------------------------

def kgqa(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NEO4J_USER": NEO4J_USER, "NEO4J_PASSWORD": NEO4J_PASSWORD}
    return subprocess.run([sys.executable, "-c", "from qa.cli import main; main()", "--store", "neo4j",
                           "--uri", NEO4J_URI, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("attack", ["// x\rLOAD CSV FROM 'file:///etc/passwd' AS r RETURN r",
                                    "CALL `dbms`.listConfig()", "SHOW USERS", REDUCE],
                         ids=["cr-comment", "backticks", "show-users", "reduce"])
def test_kgqa_cypher_refuses_the_attacks(graph: GraphStore, attack: str) -> None:
    before = snapshot(graph)
    done = kgqa("cypher", attack)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "root:" not in done.stdout + done.stderr
    assert "not allowed" in done.stderr or "read-only" in done.stderr
    assert snapshot(graph) == before
    assert kgqa("cypher", "MATCH (n:Entity {id: 'a'}) RETURN n.name").returncode == 0


# -- tests touch only what they made ---------------------------------------------------------------

def test_the_fixture_refuses_a_database_it_did_not_create(neo4j: GraphStore) -> None:
    """Our own test database, made to look foreign for a moment: data and no marker index."""
    import neo4j as driver_module

    with driver_module.GraphDatabase.driver(NEO4J_URI, auth=(NEO4J_USER, NEO4J_PASSWORD)) as driver:
        driver.execute_query(f"DROP INDEX {TEST_MARKER}", database_="neo4j")
        try:
            neo4j.upsert(Batch(entities=[Entity("precious", "Precious")]))
            refusal = claim_test_database(driver, "neo4j")
            assert refusal is not None and "never clear" in refusal and TEST_MARKER in refusal
            assert neo4j.get_entity("precious") is not None  # untouched
            neo4j.clear()
            assert claim_test_database(driver, "neo4j") is None  # an empty database is claimed
        finally:
            driver.execute_query(MARKER_INDEX, database_="neo4j")
    assert neo4j.stats().entities == 0  # the marker is no node: the store looks empty


def test_start_sh_never_reuses_a_server_it_did_not_start(tmp_path: Path) -> None:
    """scripts/test.sh runs tools/neo4j/start.sh with the tests' own home and port; a port held by
    anything else (a developer's own Neo4j) is refused, not reused."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        port = other.getsockname()[1]
        done = subprocess.run(["bash", str(ROOT / "tools" / "neo4j" / "start.sh"), "--home", str(tmp_path / "home"),
                               "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"port 127.0.0.1:{port} is already in use by another process" in done.stderr
    script = (ROOT / "scripts" / "test.sh").read_text()
    assert 'start.sh --home "$NEO4J_TEST_HOME" --port "$NEO4J_TEST_PORT"' in script


# -- fuzz: obfuscated spellings of the attacks, small and seeded --------------------------------------

PAYLOADS = [
    "LOAD CSV FROM '{url}' AS r RETURN r",
    "CALL dbms.listConfig() YIELD name RETURN name",
    "CALL dbms.queryJmx('*') YIELD name RETURN name",
    "SHOW USERS",
    "SHOW SETTINGS",
    "CALL db.stats.retrieve('QUERIES')",
    "CREATE (:Entity {id: 'x'})",
    "MATCH (n:Entity {id: 'a'}) SET n.name = 'changed'",
]
PREFIXES = ["", "// c\r", "// c\n", "/* c */ ", "// a\u2028'\n", "MATCH (n) WITH n LIMIT 1 ", "CYPHER 25 ", " \t\r\n"]


def obfuscate(payload: str, prefix: str, flips: list[bool], escape_at: int | None, backtick: bool) -> str:
    """Flip the case of letters, escape one letter as \\uXXXX, backtick the namespace, prefix junk."""
    flips = (flips + [False] * len(payload))[:len(payload)]
    text = "".join(c.swapcase() if c.isalpha() and flip else c for c, flip in zip(payload, flips, strict=True))
    if escape_at is not None:
        letters = [i for i, c in enumerate(text) if c.isalpha()]
        i = letters[escape_at % len(letters)]
        text = text[:i] + f"\\u{ord(text[i]):04x}" + text[i + 1:]
    if backtick:
        text = text.replace("dbms.", "`dbms`.").replace("db.stats.", "`db`.`stats`.")
    return prefix + text


@pytest.mark.parametrize("guarded", [True, False], ids=["keyword-check-and-plan", "plan-only"])
def test_obfuscated_attacks_never_run(graph: GraphStore, listener: Listener, monkeypatch: pytest.MonkeyPatch,
                                      guarded: bool) -> None:
    if not guarded:
        monkeypatch.setattr("kg.store.neo4j.check_read_only", lambda q: None)
    from hypothesis import HealthCheck, given, seed, settings
    from hypothesis import strategies as st

    from kg.errors import KGQAError

    before = snapshot(graph)
    tried: list[str] = []

    @seed(14)
    @settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(PAYLOADS), st.sampled_from(PREFIXES), st.lists(st.booleans(), max_size=40),
           st.none() | st.integers(min_value=0, max_value=50), st.booleans())
    def attack(payload: str, prefix: str, flips: list[bool], escape_at: int | None, backtick: bool) -> None:
        query = obfuscate(payload.replace("{url}", listener.url), prefix, flips, escape_at, backtick)
        tried.append(query)
        with pytest.raises(KGQAError):
            graph.cypher(query, timeout_s=2)
        assert listener.connections == 0, query

    attack()
    assert len(tried) >= 200
    assert snapshot(graph) == before and graph.get_entity("x") is None
