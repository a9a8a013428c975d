"""Issue 14's hostile files through ``kgqa ingest``: a clear message, a non-zero exit, no traceback,
bounded time and memory, and the graph already stored left as it was.

Each case runs the real CLI in a child process on a real embedded store, killed (and failed) past
a memory cap or a time limit, so a regression cannot take the test run down with it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kg.ingest import ingest, make_reader
from kg.readers.formats import EXTENSIONS
from kg.store.embedded import EmbeddedStore
from tests.kg.hostile import HOSTILE, Run, relation_types, run_ingest

GOOD = "<http://e/good> <http://e/name> \"Good\" .\n<http://e/good> <http://e/knows> <http://e/other> .\n"


def _store_with_a_graph(tmp_path: Path) -> tuple[Path, tuple[int, int]]:
    store = tmp_path / "graph"
    good = tmp_path / "good.nt"
    good.write_text(GOOD)
    with EmbeddedStore(store) as s:
        ingest(s, good, progress=False)
    return store, _counts(store)


def _counts(store: Path) -> tuple[int, int]:
    with EmbeddedStore(store, read_only=True) as s:
        stats = s.stats()
    return stats.entities, stats.relations


def _hostile(tmp_path: Path, name: str, cap_mb: float = 1500, timeout_s: float = 60) -> tuple[Run, Path, tuple]:
    store, before = _store_with_a_graph(tmp_path)
    case = HOSTILE[name]
    source = tmp_path / case.file
    case.write(source)
    run = run_ingest(store, source, *case.options, cap_mb=cap_mb, timeout_s=timeout_s)
    assert not run.killed, f"{name}: {run.killed}"
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout, run.stderr[-2000:]
    return run, store, before


@pytest.mark.parametrize("name", ["billion laughs (RDF/XML)", "external entity (RDF/XML)",
                                  "50,000-deep parseType=Literal (RDF/XML)"])
def test_dangerous_rdfxml_is_refused_whole_in_seconds(tmp_path: Path, name: str) -> None:
    run, store, before = _hostile(tmp_path, name, cap_mb=800, timeout_s=30)
    assert run.returncode == 2
    message = run.stderr.strip()
    assert message.startswith("error: ") and HOSTILE[name].file in message
    assert any(hint in message for hint in ("only short internal entities", "flatten the document"))
    assert "etc/hostname" not in run.stdout  # nothing was read through the entity
    assert _counts(store) == before


def test_external_entity_reads_no_file(tmp_path: Path) -> None:
    run, _, _ = _hostile(tmp_path, "external entity (RDF/XML)")
    assert "external entity &x; (file:///etc/hostname) is not read" in run.stderr


@pytest.mark.parametrize(("name", "line", "reason"), [
    ("1e9999999999 xsd:decimal (Turtle)", 0, "number 1e9999999999 is out of range"),
    ("5,000-digit xsd:integer (Turtle)", 0, "integer of 5,000 digits is over the 4,300-digit limit"),
    ("5,000-digit xsd:integer (N-Triples)", 1, "integer of 5,000 digits is over the 4,300-digit limit"),
    ("lone surrogate (N-Triples)", 2, "lone surrogate (\\uD800)"),
    ("lone surrogate (Turtle)", 2, "lone surrogate (\\uD800)"),
    ("lone surrogate in an IRI (Turtle)", 2, "lone surrogate (\\uDC00)"),
    ("lone surrogate (JSON-LD)", 3, "lone surrogate (\\uD800)"),
])
def test_bad_literal_is_a_reported_record_and_the_rest_is_stored(tmp_path: Path, name: str, line: int,
                                                                  reason: str) -> None:
    """The record is skipped with ``file:line: reason`` and exit 1; the file's good triples are stored."""
    run, store, before = _hostile(tmp_path, name, cap_mb=800, timeout_s=30)
    assert run.returncode == 1, run.stderr
    where = f"{HOSTILE[name].file}:{line}: " if line else f"{HOSTILE[name].file}: "
    assert f"  {where}" in run.stdout and reason in run.stdout, run.stdout
    assert "skipped 1 malformed record(s)" in run.stdout
    entities, relations = _counts(store)
    assert entities == before[0] + 1 and relations == before[1]  # <http://e/a>, named "ok" where it is


def test_huge_decimal_neither_hangs_nor_fills_memory(tmp_path: Path) -> None:
    """Was 9.7 GB: rdflib wrote out the decimal's ten billion digits."""
    run, _, _ = _hostile(tmp_path, "1e9999999999 xsd:decimal (Turtle)", cap_mb=600, timeout_s=20)
    assert run.returncode == 1


@pytest.mark.slow
def test_one_megabyte_single_line_markdown_is_ingested(tmp_path: Path) -> None:
    """spaCy refuses texts over 1,000,000 characters: the document is parsed in pieces."""
    run, store, before = _hostile(tmp_path, "1 MB single-line Markdown", cap_mb=2500, timeout_s=400)
    assert run.returncode == 0, run.stderr
    assert "1 document(s) ingested" in run.stdout
    entities, _ = _counts(store)
    assert entities > before[0]


def test_many_relation_types_stay_within_memory(tmp_path: Path) -> None:
    """300 relation types in one batch took 2.5 GB (~8 MB a type until the checkpoint); now bounded."""
    store = tmp_path / "graph"
    source = tmp_path / "types.txt"
    relation_types(300)(source)
    run = run_ingest(store, source, cap_mb=1000, timeout_s=300)
    assert not run.killed and run.returncode == 0, run.killed or run.stderr
    assert _counts(store) == (11, 300)
    again = run_ingest(store, source, cap_mb=1000, timeout_s=300)  # idempotent
    assert again.returncode == 0 and "created 0 entities and 0 relations" in again.stdout
    assert _counts(store) == (11, 300)


@pytest.mark.slow
def test_a_17_kb_file_of_1000_relation_types_stays_within_1_gb(tmp_path: Path) -> None:
    """The issue's reproducer: over 6 GB before."""
    store = tmp_path / "graph"
    source = tmp_path / "types.txt"
    relation_types(1000)(source)
    run = run_ingest(store, source, cap_mb=1024, timeout_s=600)
    assert not run.killed and run.returncode == 0, run.killed or run.stderr
    assert _counts(store) == (11, 1000)


def test_unknown_encoding_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    """Was a LookupError traceback (exit 1)."""
    store, before = _store_with_a_graph(tmp_path)
    source = tmp_path / "kb.txt"
    source.write_text("a|r|b\n")
    run = run_ingest(store, source, "--encoding", "nonsense", timeout_s=30)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.startswith("error: unknown encoding 'nonsense'; pass a Python codec name")
    assert _counts(store) == before


@pytest.mark.parametrize(("file", "text"), [
    ("deep.ttl", "@prefix ex: <http://e/> .\nex:a ex:p " + "[ ex:p " * 20_000 + "ex:b" + " ]" * 20_000 + " .\n"),
    ("deep.jsonld", "[" * 20_000 + "]" * 20_000),
    ("deep.jsonld", '{"@id": "http://e/a", "http://e/p": ' + '{"http://e/p": ' * 3000 + "1" + "}" * 3001),
])
def test_deeply_nested_documents_are_refused_whole(tmp_path: Path, file: str, text: str) -> None:
    from kg.errors import ReaderError

    path = tmp_path / file
    path.write_text(text)
    with pytest.raises(ReaderError, match=r"nested too deeply|syntax error"):
        list(make_reader(EXTENSIONS[path.suffix]).read(path))


@pytest.mark.parametrize(("file", "data"), [
    ("bad.ttl", b'<http://e/a> <http://e/p> "ok" .\n<http://e/a> <http://e/q> "bad \xff\xfe" .\n'),
    ("bad.jsonld", b'{"@id": "http://e/a",\n "http://e/p": "bad \xff"}\n'),
])
def test_invalid_utf8_in_a_document_names_the_line(tmp_path: Path, file: str, data: bytes) -> None:
    """Was 'position 64' of the decoded buffer; now file:line and the column."""
    from kg.errors import ReaderError

    path = tmp_path / file
    path.write_bytes(data)
    with pytest.raises(ReaderError, match=r":2: not valid UTF-8 text \(byte 0xff at column \d+"):
        list(make_reader(EXTENSIONS[path.suffix]).read(path))


def test_an_overlong_triples_line_is_a_reported_record(tmp_path: Path) -> None:
    path = tmp_path / "kb.txt"
    path.write_text("a|r|b\n" + "x" * 1_100_000 + "|r|b\nc|r|d\n")
    records = list(make_reader("triples").read(path))
    assert [type(r).__name__ for r in records] == ["Relation", "MalformedRecord", "Relation"]
    assert str(records[1]).startswith("kb.txt:2: line of 1,100,005 bytes is over the 1,000,000-byte limit")
