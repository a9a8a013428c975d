"""Shared fixtures: a ``store`` fixture that runs each contract test on both backends.

Neo4j: the tests use the server at ``NEO4J_URI`` (default bolt://127.0.0.1:7688, the
tests' own port, not Neo4j's usual 7687; user ``NEO4J_USER``/neo4j, password
``NEO4J_PASSWORD``/kgqa-test-password), which ``scripts/test.sh`` starts from
``tools/neo4j`` with its own home. Outside CI, when none is reachable, Neo4j tests
are skipped with one line saying how to enable them; in CI (``CI=true``) they fail
instead, so a broken Neo4j can never pass unnoticed.

The tests empty the database before each test, so they only touch one they made:
the first connection claims an *empty* database by creating the schema index
:data:`TEST_MARKER`, and a database that holds data but no such index is refused
(skipped, or failed in CI) and never cleared. The marker is an index, not a node,
so the contract tests still see an empty graph (no node or relationship to count or
filter) and it survives ``clear()``, which deletes nodes and relationships only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kg.errors import StoreUnavailable
from kg.store.base import GraphStore
from kg.store.embedded import EmbeddedStore
from qa.resources import SAMPLE_GRAPH as SAMPLE  # noqa: F401 (the bundled sample graph, for the tests)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
METAQA = SHARED / "data" / "metaqa"

NEO4J_URI = os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7688")
NEO4J_USER = os.environ.get("NEO4J_USER", "neo4j")
NEO4J_PASSWORD = os.environ.get("NEO4J_PASSWORD", "kgqa-test-password")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ENABLE_HINT = ("run scripts/test.sh, or start a test server with tools/neo4j/start.sh --home "
               "/tmp/kgqa-neo4j-test --port 7688 (needs Java 17+ and Maven)")
#: Name of the schema index that marks a Neo4j database as the tests' own (see the module docstring).
TEST_MARKER = "kgqa_test_marker"
# On kgqa's own label and a property no entity has: a new label would show in db.labels().
MARKER_INDEX = f"CREATE INDEX {TEST_MARKER} IF NOT EXISTS FOR (n:Entity) ON (n.{TEST_MARKER})"

_neo4j_state: dict[str, object] = {}


def neo4j_store() -> GraphStore:
    """A connected Neo4jStore, or skip (fail in CI) with a clear line."""
    from kg.store.neo4j import Neo4jStore

    if "error" in _neo4j_state:
        _unavailable(str(_neo4j_state["error"]))
    try:
        store = Neo4jStore(NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD)
    except StoreUnavailable as exc:
        _neo4j_state["error"] = str(exc)
        _unavailable(str(exc))
        raise
    if "claimed" not in _neo4j_state:
        refusal = claim_test_database(store._driver, store.database)
        if refusal:
            store.close()
            _neo4j_state["error"] = refusal
            _unavailable(refusal)
        _neo4j_state["claimed"] = True
    return store


def claim_test_database(driver: Any, database: str) -> str | None:
    """Make sure the database is the tests' own: ``None`` if it carries :data:`TEST_MARKER` (or was
    empty and now does), else the reason it must not be touched."""
    marked, _, _ = driver.execute_query("SHOW INDEXES YIELD name WHERE name = $marker RETURN count(*) AS c",
                                        marker=TEST_MARKER, database_=database)
    if marked[0]["c"]:
        return None
    empty, _, _ = driver.execute_query("MATCH (n) RETURN count(n) = 0 AS empty", database_=database)
    if not empty[0]["empty"]:
        return (f"the database {database!r} at {NEO4J_URI} holds data that the tests did not create (it lacks "
                f"the index {TEST_MARKER!r}), and the tests never clear such a database; point NEO4J_URI at a "
                "test server")
    driver.execute_query(MARKER_INDEX, database_=database)
    return None


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"Neo4j is required in CI but unavailable: {reason}", pytrace=False)
    pytest.skip(f"Neo4j tests skipped: {reason}; {ENABLE_HINT}")


@pytest.fixture(params=["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    """An empty store of each backend."""
    if request.param == "embedded":
        s: GraphStore = EmbeddedStore(tmp_path / "graph")
    else:
        s = neo4j_store()
        s.clear()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def neo4j(tmp_path: Path) -> Iterator[GraphStore]:
    """An empty Neo4j store (Neo4j-only tests)."""
    s = neo4j_store()
    s.clear()
    try:
        yield s
    finally:
        s.close()


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """One torch thread: on a busy 2-core machine, two threads spin and run tiny models ~30x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
