"""Shared fixtures: a ``store`` fixture that runs each contract test on both backends.

Neo4j: the tests use the server at ``NEO4J_URI`` (default bolt://127.0.0.1:7687,
user ``NEO4J_USER``/neo4j, password ``NEO4J_PASSWORD``/kgqa-test-password), which
``scripts/test.sh`` starts from ``tools/neo4j``. Outside CI, when none is
reachable, Neo4j tests are skipped with one line saying how to enable them; in
CI (``CI=true``) they fail instead, so a broken Neo4j can never pass unnoticed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kg.errors import StoreUnavailable
from kg.store.base import GraphStore
from kg.store.embedded import EmbeddedStore

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
METAQA = SHARED / "data" / "metaqa"
SAMPLE = ROOT / "data" / "sample" / "metaqa_sample.txt"

NEO4J_URI = os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687")
NEO4J_USER = os.environ.get("NEO4J_USER", "neo4j")
NEO4J_PASSWORD = os.environ.get("NEO4J_PASSWORD", "kgqa-test-password")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ENABLE_HINT = "start one with tools/neo4j/start.sh (needs Java 21+ and Maven) or run scripts/test.sh"

_neo4j_state: dict[str, object] = {}


def neo4j_store() -> GraphStore:
    """A connected Neo4jStore, or skip (fail in CI) with a clear line."""
    from kg.store.neo4j import Neo4jStore

    if "error" in _neo4j_state:
        _unavailable(str(_neo4j_state["error"]))
    try:
        return Neo4jStore(NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD)
    except StoreUnavailable as exc:
        _neo4j_state["error"] = str(exc)
        _unavailable(str(exc))
        raise


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"Neo4j is required in CI but unavailable: {reason}", pytrace=False)
    pytest.skip(f"Neo4j tests skipped: no Neo4j at {NEO4J_URI}; {ENABLE_HINT}")


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
