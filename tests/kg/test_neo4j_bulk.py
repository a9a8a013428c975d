"""Bulk loads with Neo4j's own importer (``tools/neo4j/import.sh``, :mod:`kg.store.neo4j_bulk`).

What a user relies on: a first load through ``neo4j-admin database import`` ends with the same graph
as the Bolt writer (``kgqa ingest``) gives for the same files (every node with its labels and typed
properties, every relationship with its type, ``sources`` and properties), the store's schema is there
when it opens, later Bolt loads of the same facts add nothing, and a database that holds data is
refused with one line that says what to do.

The import needs its server stopped, so it gets its own Neo4j home on a free port (never the tests'
shared server); the Bolt side loads into the tests' server, which the ``neo4j`` fixture empties.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kg.ingest import IngestReport, ingest
from kg.models import Entity, Relation
from kg.store.base import GraphStore
from kg.store.neo4j_bulk import BulkGraph, read_files, write_csv
from tests.conftest import IN_CI, NEO4J_PASSWORD, NEO4J_USER, ROOT, write_lines

TOOLS = ROOT / "tools" / "neo4j"

FILMS_TTL = """\
@prefix ex: <http://example.org/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .

ex:Goldfinger a ex:Film, ex:Work ;
    rdfs:label "Goldfinger"@en, "Goldfinger (film)"@fr ;
    skos:altLabel "007 Goldfinger", "Bond; 3", "tab\\u001Fseparated" ;
    ex:year 1964 ; ex:rating 7.7 ; ex:colour true ; ex:genre "spy", "action" ;
    ex:note "line one\\nline \\"two\\", with a comma" ;
    ex:directedBy ex:Guy_Hamilton ;
    ex:starring ex:Gert_Fr%C3%B6be ;
    ex:award [ a ex:Award ; rdfs:label "Best Sound" ] .
ex:Guy_Hamilton a ex:Person ; rdfs:label "Guy Hamilton" .
ex:Metropolis a ex:Film ; ex:year "unknown" ; ex:directedBy ex:Fritz_Lang .
"""
# A second source: one fact stated again (its sources grow), a name given later, a new fact.
MORE_NT = """\
<http://example.org/Goldfinger> <http://example.org/directedBy> <http://example.org/Guy_Hamilton> .
<http://example.org/Fritz_Lang> <http://www.w3.org/2000/01/rdf-schema#label> "F. Lang" .
<http://example.org/Fritz_Lang> <http://example.org/bornIn> <http://example.org/Vienna> .
"""
KB_LINES = ["Goldfinger|directed_by|Guy Hamilton", "Goldfinger|starred_actors|Gert Fröbe",
            "Goldfinger|directed_by|Guy Hamilton", "not a triple", "Up|release_year|2009"]


def source_files(folder: Path) -> list[Path]:
    """Turtle, N-Triples and a MetaQA-style file, loaded in this order."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "films.ttl").write_text(FILMS_TTL, encoding="utf-8")
    (folder / "more.nt").write_text(MORE_NT, encoding="utf-8")
    return [folder / "films.ttl", folder / "more.nt", write_lines(folder / "kb.txt", KB_LINES)]


def typed(value: Any) -> Any:
    """A value with its type, so that 1, 1.0 and True stay apart when graphs are compared."""
    if isinstance(value, list):
        return ["list", [typed(v) for v in value]]
    if isinstance(value, dict):
        return {k: typed(v) for k, v in sorted(value.items())}
    return [type(value).__name__, value]


def whole_graph(driver: Any) -> tuple[list[str], list[str]]:
    """Every node (labels, properties) and relationship (ends, type, properties), sorted."""
    nodes, _, _ = driver.execute_query("MATCH (n) RETURN labels(n) AS labels, properties(n) AS props")
    rels, _, _ = driver.execute_query(
        "MATCH (a)-[r]->(b) RETURN a.id AS h, type(r) AS type, b.id AS t, properties(r) AS props")
    return (sorted(json.dumps([sorted(r["labels"]), typed(dict(r["props"]))], ensure_ascii=False) for r in nodes),
            sorted(json.dumps([r["h"], r["type"], r["t"], typed(dict(r["props"]))], ensure_ascii=False)
                   for r in rels))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def import_sh(home: Path, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEO4J_PASSWORD": NEO4J_PASSWORD, "NEO4J_USER": NEO4J_USER, "KGQA_PYTHON": sys.executable,
           "NEO4J_HEAP": "512m", "NEO4J_PAGECACHE": "128m", "NEO4J_IMPORT_HEAP": "512m",
           "NEO4J_IMPORT_OFF_HEAP": "256m"}
    return subprocess.run(["bash", str(TOOLS / "import.sh"), "--home", str(home), "--port", str(port), *args],
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int, list[Path]]]:
    """A Neo4j home of its own, bulk-loaded from :func:`source_files` by ``import.sh``."""
    java = subprocess.run(["bash", "-c", f"source {TOOLS / 'common.sh'} && kgqa_neo4j_java_home && command -v mvn"],
                          capture_output=True, text=True)
    if java.returncode != 0:
        reason = f"bulk import needs Java 17+ and Maven ({java.stderr.strip() or 'mvn not found'})"
        if IN_CI:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    home = tmp_path_factory.mktemp("bulk-home")
    files = source_files(tmp_path_factory.mktemp("bulk-files"))
    port = free_port()
    try:
        done = import_sh(home, port, *map(str, files))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "not a triple" in done.stderr or "expected 3 fields" in done.stderr  # the malformed line, reported
        yield home, port, files
    finally:
        subprocess.run(["bash", str(TOOLS / "stop.sh"), "--home", str(home)], capture_output=True, timeout=120)


def connect(port: int) -> Any:
    import neo4j

    return neo4j.GraphDatabase.driver(f"bolt://127.0.0.1:{port}", auth=(NEO4J_USER, NEO4J_PASSWORD))


@pytest.mark.neo4j
@pytest.mark.slow
def test_bulk_import_gives_the_graph_the_bolt_writer_gives(imported: tuple[Path, int, list[Path]],
                                                           neo4j: GraphStore) -> None:
    _, port, files = imported
    for path in files:
        ingest(neo4j, path, progress=False)
    with connect(port) as driver:
        bulk_nodes, bulk_rels = whole_graph(driver)
        indexes, _, _ = driver.execute_query("SHOW INDEXES YIELD name, state RETURN name, state")
    bolt_nodes, bolt_rels = whole_graph(neo4j._driver)  # type: ignore[attr-defined]
    assert (len(bulk_nodes), len(bulk_rels)) == (len(bolt_nodes), len(bolt_rels)) == (12, 8)
    assert bulk_nodes == bolt_nodes
    assert bulk_rels == bolt_rels
    # What the comparison covers: labels, a renamed node, aliases with the array delimiter, two sources.
    assert any('"Film", "Work"' in n and "tab\\u001fseparated" in n for n in bulk_nodes)
    assert any('"F. Lang"' in n for n in bulk_nodes)
    assert any('"films.ttl"], ["str", "more.nt"' in r for r in bulk_rels)
    # The schema the store creates on connect is there, and online, when a user opens it.
    state = {r["name"]: r["state"] for r in indexes}
    assert {"entity_id", "entity_name", "entity_names"} <= state.keys()
    assert set(state.values()) == {"ONLINE"}


@pytest.mark.neo4j
@pytest.mark.slow
def test_later_bolt_loads_add_to_a_bulk_loaded_graph(imported: tuple[Path, int, list[Path]]) -> None:
    from kg.store.neo4j import Neo4jStore

    _, port, files = imported
    with Neo4jStore(f"bolt://127.0.0.1:{port}", NEO4J_USER, NEO4J_PASSWORD) as store:
        before = store.stats()
        again = ingest(store, files[0], progress=False)  # the same facts again: nothing new
        assert (again.written.nodes_created, again.written.relationships_created) == (0, 0)
        assert store.stats() == before
        [film] = store.find_by_name("007 goldfinger")  # the full-text index serves aliases
        assert film.labels == ["Film", "Work"] or sorted(film.labels) == ["Film", "Work"]
        store.upsert_relations([Relation("http://example.org/Fritz_Lang", "directed", "http://example.org/Metropolis",
                                         sources=["notes.md"])])
        assert store.stats().relations == before.relations + 1


@pytest.mark.neo4j
@pytest.mark.slow
def test_a_database_that_holds_data_is_refused(imported: tuple[Path, int, list[Path]], tmp_path: Path) -> None:
    home, port, files = imported
    with connect(port) as driver:
        before = whole_graph(driver)
    done = import_sh(home, port, str(files[2]))
    assert done.returncode == 3
    assert "already holds" in done.stderr and "--overwrite" in done.stderr and "ingest" in done.stderr
    assert "Traceback" not in done.stderr
    with connect(port) as driver:
        assert whole_graph(driver) == before  # untouched, and still served


# -- the CSV writer alone (no Java) -----------------------------------------------------------------

def test_csv_types_files_and_what_csv_cannot_carry(tmp_path: Path) -> None:
    graph = BulkGraph()
    records: list[Entity | Relation] = [
        Entity("a", "A", properties={"year": 1999, "tags": ["x", "y"], "big": 2**70, "none": []}),
        Entity("b", "B", properties={"year": "unknown", "odd key": 1}),
        Relation("a", "knows", "b", {"since": 2001}, ["s1"]), Relation("a", "knows", "b", {}, ["s2"]),
        Relation("b", "knows", "a", {}, [])]
    graph.add(records, IngestReport(path="x"))
    files = write_csv(graph, tmp_path)
    assert (files.nodes, files.relationships, len(files.node_files), len(files.rel_files)) == (2, 2, 2, 1)
    headers = [p.read_text(encoding="utf-8").splitlines()[0] for p in files.node_files]
    assert '"year:long"' in headers[0] and '"tags:string[]"' in headers[0] and '"year:string"' in headers[1]
    rels = files.rel_files[0].read_text(encoding="utf-8").splitlines()
    assert rels[0] == '":START_ID",":END_ID",":TYPE","sources:string[]","since:long"'
    assert rels[1] == '0,1,KNOWS,"s1\x1fs2",2001'  # the fact stated twice: one relationship, both sources
    fixups = [json.loads(line) for line in (tmp_path / "fixups.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {"node": "a", "props": {"big": 2**70, "none": []}} in fixups
    assert {"node": "b", "props": {"odd key": 1}} in fixups
    assert {"edge": ["b", "KNOWS", "a"], "props": {"sources": []}} in fixups
    assert "--id-type=integer" in files.admin_args() and "--array-delimiter=U+001F" in files.admin_args()


def test_csv_reading_reports_malformed_records_as_ingest_does(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "kb.txt", ["a|r|b", "bad line", "a|!!|b"])
    graph, [report] = read_files([path])
    assert (graph.n_nodes, graph.n_edges, report.records, report.malformed_count) == (2, 1, 1, 2)
    assert str(report.malformed[0]) == "kb.txt:2: expected 3 fields, found 1"
