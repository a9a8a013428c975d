"""``kg.ingest.ingest`` on delimited files, on both backends.

What a user sees: which triples end up in the graph, what the report says about
skipped lines (``file:line: reason``), that ``strict`` stops before the bad batch,
and that re-running an ingest adds nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kg.errors import ReaderError, StrictModeAbort
from kg.ingest import IngestReport, ingest
from kg.models import Relation
from kg.store.base import GraphStore
from tests.conftest import SAMPLE, write_lines

CSV_COLUMNS = {"head": "subject", "relation": "predicate", "tail": "object"}


def all_triples(store: GraphStore) -> set[tuple[str, str, str]]:
    ex = store.export()
    return {(ex.node_ids[h], ex.relations[t], ex.node_ids[tl])
            for h, t, tl in zip(ex.edge_index[0], ex.edge_type, ex.edge_index[1], strict=True)}


def run(store: GraphStore, path: Path, **options: object) -> IngestReport:
    return ingest(store, path, progress=False, **options)  # type: ignore[arg-type]


def counts(store: GraphStore) -> tuple[int, int]:
    stats = store.stats()
    return stats.entities, stats.relations


# -- formats ---------------------------------------------------------------------------------------

def test_metaqa_pipe_file(store: GraphStore, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "kb.txt", [
        "Goldfinger|directed_by|Guy Hamilton",
        "Goldfinger|starred_actors|Gert Fröbe",
        "Diamonds Are Forever|directed_by|Guy Hamilton",
        "Goldfinger|release_year|1964",
    ])
    report = run(store, path)
    assert (report.records, report.malformed_count) == (4, 0)
    assert (report.written.nodes_created, report.written.relationships_created) == (5, 4)
    assert all_triples(store) == {
        ("Goldfinger", "DIRECTED_BY", "Guy Hamilton"), ("Goldfinger", "STARRED_ACTORS", "Gert Fröbe"),
        ("Diamonds Are Forever", "DIRECTED_BY", "Guy Hamilton"), ("Goldfinger", "RELEASE_YEAR", "1964")}
    [rel] = store.neighbours("Diamonds Are Forever")
    assert rel.sources == ["kb.txt"]  # provenance: the file name
    frobe = store.get_entity("Gert Fröbe")
    assert frobe is not None and frobe.name == "Gert Fröbe"


def test_tsv_file_keeps_spaces_commas_and_pipes_inside_fields(store: GraphStore, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "facts.tsv", [
        "The Good, the Bad and the Ugly\tmusic_by\tEnnio Morricone",
        "AC|DC\tgenre\thard rock",
        "  padded  \tgenre\t  rock  ",
    ])
    report = run(store, path)
    assert report.malformed_count == 0
    assert all_triples(store) == {
        ("The Good, the Bad and the Ugly", "MUSIC_BY", "Ennio Morricone"),
        ("AC|DC", "GENRE", "hard rock"), ("padded", "GENRE", "rock")}


def test_csv_with_header_mapping(store: GraphStore, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "facts.csv", [
        "id,subject,predicate,object,confidence",
        '1,Alice,knows,"Bob, Jr.",0.9',
        '2,"Bob, Jr.",likes,"Carol ""CJ"" Jones",0.5',
    ])
    report = run(store, path, columns=CSV_COLUMNS)
    assert (report.records, report.malformed_count) == (2, 0)
    assert all_triples(store) == {("Alice", "KNOWS", "Bob, Jr."), ("Bob, Jr.", "LIKES", 'Carol "CJ" Jones')}


def test_csv_with_default_header(store: GraphStore, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "facts.csv", ["head,relation,tail", "a,r,b"])
    run(store, path)
    assert all_triples(store) == {("a", "R", "b")}


def test_csv_header_without_the_mapped_columns_is_a_reader_error(store: GraphStore, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "facts.csv", ["s,p,o", "a,r,b"])
    with pytest.raises(ReaderError, match=r"--column"):
        run(store, path, columns=CSV_COLUMNS)
    assert counts(store) == (0, 0)


# -- malformed records -----------------------------------------------------------------------------

def write_bad_file(path: Path) -> Path:
    path.write_bytes(
        b"good1|linked|x\n"           # 1
        b"only|two\n"              # 2 wrong field count
        b"a|b|c|d\n"               # 3 wrong field count
        b"|linked|x\n"                # 4 empty head
        b"y|linked|   \n"             # 5 empty tail
        b"y||z\n"                  # 6 empty relation
        b"y|!!|z\n"                # 7 invalid relation name
        b"caf\xe9|linked|x\n"         # 8 Latin-1, not UTF-8
        b"\n"                      # 9 blank: ignored silently
        b"good2|linked|x\n"           # 10
    )
    return path


def test_malformed_lines_are_reported_and_good_lines_stored(store: GraphStore, tmp_path: Path) -> None:
    report = run(store, write_bad_file(tmp_path / "bad.txt"))
    assert all_triples(store) == {("good1", "LINKED", "x"), ("good2", "LINKED", "x")}
    assert report.records == 2
    assert report.malformed_count == 7
    where = [f"{m.source}:{m.line}" for m in report.malformed]
    assert where == ["bad.txt:2", "bad.txt:3", "bad.txt:4", "bad.txt:5", "bad.txt:6", "bad.txt:7", "bad.txt:8"]
    reasons = [m.reason for m in report.malformed]
    assert "expected 3 fields, found 2" in reasons[0]
    assert "expected 3 fields, found 4" in reasons[1]
    assert "empty head" in reasons[2]
    assert "empty tail" in reasons[3]
    assert "empty relation" in reasons[4]
    assert "'!!'" in reasons[5]
    assert "utf-8" in reasons[6]
    assert str(report.malformed[0]).startswith("bad.txt:2: ")
    summary = report.summary()
    assert "skipped 7 malformed record(s)" in summary
    assert "bad.txt:8: not valid utf-8 text" in summary
    assert report.as_dict()["malformed"] == 7


def test_encoding_option_reads_a_latin1_file(store: GraphStore, tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("Fröbe|acted_in|Goldfinger\n".encode("latin-1"))
    report = run(store, path, encoding="latin-1")
    assert report.malformed_count == 0
    assert all_triples(store) == {("Fröbe", "ACTED_IN", "Goldfinger")}


def test_strict_stops_before_the_batch_with_the_bad_record(store: GraphStore, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "strict.txt", [
        "a|r|b", "b|r|c",        # batch 1
        "c|r|d", "d|r|e",        # batch 2
        "p|r|q", "oops|r", "s|r|t",  # batch 3 holds the bad line 6
        "u|r|v",
    ])
    with pytest.raises(StrictModeAbort) as info:
        run(store, path, strict=True, batch_size=2)
    err = info.value
    assert err.committed_batches == 2
    assert (err.issue.source, err.issue.line) == ("strict.txt", 6)
    assert "strict.txt:6: expected 3 fields, found 2" in str(err)
    assert "2 earlier batch(es) are stored" in str(err)
    assert all_triples(store) == {("a", "R", "b"), ("b", "R", "c"), ("c", "R", "d"), ("d", "R", "e")}
    for missing in ("p", "q", "s", "t", "u", "v"):
        assert store.get_entity(missing) is None


def test_strict_with_invalid_relation_name_in_the_first_batch_writes_nothing(store: GraphStore,
                                                                             tmp_path: Path) -> None:
    path = write_lines(tmp_path / "strict.txt", ["a|r|b", "a|%%%|c", "d|r|e"])
    with pytest.raises(StrictModeAbort) as info:
        run(store, path, strict=True, batch_size=100)
    assert info.value.committed_batches == 0
    assert info.value.issue.line == 2
    assert counts(store) == (0, 0)


def test_strict_with_a_clean_file_is_a_normal_ingest(store: GraphStore, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "ok.txt", ["a|r|b", "b|r|c", "c|r|d"])
    report = run(store, path, strict=True, batch_size=2)
    assert report.batches == 2
    assert counts(store) == (4, 3)


# -- idempotency -----------------------------------------------------------------------------------

def test_rerunning_an_ingest_creates_nothing(store: GraphStore, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "kb.txt", [f"m{i % 7}|rel_{i % 3}|p{i % 11}" for i in range(200)])
    expected = {(f"m{i % 7}", f"rel_{i % 3}", f"p{i % 11}") for i in range(200)}
    first = run(store, path, batch_size=16)
    assert first.written.relationships_created == len(expected)
    before = store.stats().as_dict()
    second = run(store, path, batch_size=16)
    assert (second.written.nodes_created, second.written.relationships_created) == (0, 0)
    assert second.records == 200
    assert store.stats().as_dict() == before


def test_same_triples_from_two_files_keep_both_sources(store: GraphStore, tmp_path: Path) -> None:
    run(store, write_lines(tmp_path / "one.txt", ["a|r|b"]))
    second = run(store, write_lines(tmp_path / "two.tsv", ["a\tr\tb"]))
    assert second.written.relationships_created == 0
    [rel] = store.neighbours("a")
    assert rel.sources == ["one.txt", "two.tsv"]


# -- files that cannot be read ---------------------------------------------------------------------

def test_missing_file_and_unknown_extension(store: GraphStore, tmp_path: Path) -> None:
    run(store, write_lines(tmp_path / "kb.txt", ["a|r|b"]))
    before = store.stats().as_dict()
    with pytest.raises(ReaderError, match="not found"):
        run(store, tmp_path / "no-such-file.txt")
    weird = write_lines(tmp_path / "triples.xyz", ["c|r|d"])
    with pytest.raises(ReaderError, match=r"cannot tell the format of triples\.xyz.*--format"):
        run(store, weird)
    with pytest.raises(ReaderError, match="folder"):
        run(store, tmp_path)
    assert store.stats().as_dict() == before
    assert all_triples(store) == {("a", "R", "b")}


def test_unknown_extension_with_explicit_format(store: GraphStore, tmp_path: Path) -> None:
    weird = write_lines(tmp_path / "triples.xyz", ["c|r|d"])
    run(store, weird, fmt="triples")
    assert all_triples(store) == {("c", "R", "d")}


# -- the repository's sample -----------------------------------------------------------------------

def test_metaqa_sample_gives_exact_counts(store: GraphStore) -> None:
    lines = [line.rstrip("\n") for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    parsed = [tuple(part.strip() for part in line.split("|")) for line in lines]
    assert all(len(t) == 3 for t in parsed)
    triples = set(parsed)
    entities = {h for h, _, _ in triples} | {t for _, _, t in triples}
    relation_names = {r for _, r, _ in triples}

    report = run(store, SAMPLE, batch_size=1000)
    stats = store.stats()
    assert report.malformed_count == 0
    assert stats.entities == len(entities)
    assert stats.relations == len(triples)
    assert report.written.nodes_created == len(entities)
    assert report.written.relationships_created == len(triples)
    assert len(stats.relation_types) == len(relation_names)
    assert sum(stats.relation_types.values()) == len(triples)
    # one triple of the file, checked end to end
    h, r, t = parsed[0]
    assert any(rel.tail == t for rel in store.neighbours(h, "out", [r]))
    # and a re-run adds nothing
    again = run(store, SAMPLE, batch_size=1000)
    assert (again.written.nodes_created, again.written.relationships_created) == (0, 0)
    assert store.stats().relations == len(triples)


def test_ingested_relations_are_typed_relations(store: GraphStore, tmp_path: Path) -> None:
    run(store, write_lines(tmp_path / "kb.txt", ["Goldfinger|directed_by|Guy Hamilton"]))
    assert store.cypher("MATCH (m)-[:DIRECTED_BY]->(p) RETURN m.id, p.id").rows == [["Goldfinger", "Guy Hamilton"]]
    assert store.neighbours("Goldfinger") == [
        Relation("Goldfinger", "DIRECTED_BY", "Guy Hamilton", {}, ["kb.txt"])]
