"""Tests of kg.readers.rdf.RDFReader on tiny inline documents in every supported format."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kg.errors import ConfigError, MalformedRecord, ReaderError
from kg.models import Entity, Relation
from kg.readers.rdf import RDFReader, fallback_name, local_name

EX = "http://example.org/"

TURTLE = """\
@prefix ex: <http://example.org/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .

ex:Goldfinger a ex:Film ;
    rdfs:label "Goldfinger"@en, "Goldfinger (film)"@fr ;
    skos:altLabel "007 Goldfinger" ;
    ex:releaseYear 1964 ;
    ex:rating 7.7 ;
    ex:budget "3.0E6"^^xsd:double ;
    ex:tagline "Everything he touches turns to excitement" ;
    ex:released "1964-09-18"^^xsd:date ;
    ex:color true ;
    ex:language "en", "de" ;
    ex:directedBy ex:Guy_Hamilton ;
    ex:award [ a ex:Award ; ex:year 1965 ] .

ex:Guy_Hamilton a ex:Person ; skos:prefLabel "Guy Hamilton" .
"""

NTRIPLES = """\
# a comment, then a blank line

<http://example.org/Goldfinger> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://example.org/Film> .
<http://example.org/Goldfinger> <http://www.w3.org/2000/01/rdf-schema#label> "Goldfinger"@en .
<http://example.org/Goldfinger> <http://www.w3.org/2004/02/skos/core#altLabel> "007 Goldfinger" .
<http://example.org/Goldfinger> <http://example.org/releaseYear> "1964"^^<http://www.w3.org/2001/XMLSchema#integer> .
<http://example.org/Goldfinger> <http://example.org/rating> "7.7"^^<http://www.w3.org/2001/XMLSchema#decimal> .
<http://example.org/Goldfinger> <http://example.org/tagline> "Everything he touches" .
<http://example.org/Goldfinger> <http://example.org/directedBy> <http://example.org/Guy_Hamilton> .
<http://example.org/Goldfinger> <http://example.org/award> _:aw1 .
_:aw1 <http://example.org/year> "1965"^^<http://www.w3.org/2001/XMLSchema#integer> .
"""

RDFXML = """\
<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#"
         xmlns:skos="http://www.w3.org/2004/02/skos/core#"
         xmlns:ex="http://example.org/">
  <ex:Film rdf:about="http://example.org/Goldfinger">
    <rdfs:label xml:lang="en">Goldfinger</rdfs:label>
    <skos:altLabel>007 Goldfinger</skos:altLabel>
    <ex:releaseYear rdf:datatype="http://www.w3.org/2001/XMLSchema#integer">1964</ex:releaseYear>
    <ex:rating rdf:datatype="http://www.w3.org/2001/XMLSchema#decimal">7.7</ex:rating>
    <ex:tagline>Everything he touches</ex:tagline>
    <ex:directedBy rdf:resource="http://example.org/Guy_Hamilton"/>
    <ex:award><rdf:Description>
      <ex:year rdf:datatype="http://www.w3.org/2001/XMLSchema#integer">1965</ex:year>
    </rdf:Description></ex:award>
  </ex:Film>
</rdf:RDF>
"""

JSONLD = """\
{
  "@context": {
    "ex": "http://example.org/",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "label": {"@id": "rdfs:label", "@language": "en"},
    "altLabel": "skos:altLabel",
    "releaseYear": {"@id": "ex:releaseYear", "@type": "xsd:integer"},
    "rating": {"@id": "ex:rating", "@type": "xsd:decimal"},
    "tagline": "ex:tagline",
    "directedBy": {"@id": "ex:directedBy", "@type": "@id"},
    "award": "ex:award",
    "year": {"@id": "ex:year", "@type": "xsd:integer"}
  },
  "@id": "ex:Goldfinger",
  "@type": "ex:Film",
  "label": "Goldfinger",
  "altLabel": "007 Goldfinger",
  "releaseYear": "1964",
  "rating": "7.7",
  "tagline": "Everything he touches",
  "directedBy": "ex:Guy_Hamilton",
  "award": {"year": "1965"}
}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def read(path: Path, **kwargs: str) -> list:
    return list(RDFReader(**kwargs).read(path))


def merged(records: list) -> dict[str, Entity]:
    """Entity fragments merged per id (later non-empty fields win, lists and properties add up)."""
    out: dict[str, Entity] = {}
    for rec in records:
        if isinstance(rec, Entity):
            ent = out.setdefault(rec.id, Entity(rec.id))
            ent.name = rec.name if rec.name is not None else ent.name
            ent.aliases += [a for a in rec.aliases if a not in ent.aliases]
            ent.labels += [lab for lab in rec.labels if lab not in ent.labels]
            ent.properties.update(rec.properties)
    return out


def relations(records: list) -> set[tuple[str, str, str]]:
    return {(r.head, r.type, r.tail) for r in records if isinstance(r, Relation)}


def check_goldfinger(records: list, source: str) -> str:
    """Assertions shared by every format; returns the award blank node's id."""
    assert not [r for r in records if isinstance(r, MalformedRecord)]
    ents = merged(records)
    film = ents[EX + "Goldfinger"]
    assert film.name == "Goldfinger"
    assert "007 Goldfinger" in film.aliases
    assert film.labels == ["Film"]
    assert film.properties["releaseYear"] == 1964 and type(film.properties["releaseYear"]) is int
    assert film.properties["rating"] == pytest.approx(7.7) and type(film.properties["rating"]) is float
    assert film.properties["tagline"].startswith("Everything he touches")
    rels = relations(records)
    assert (EX + "Goldfinger", "directedBy", EX + "Guy_Hamilton") in rels
    (award,) = [t for h, ty, t in rels if ty == "award"]
    assert award.startswith("_:") and ents[award].properties == {"year": 1965}
    assert EX + "Guy_Hamilton" in ents  # a node exists for every relation end
    assert all(r.sources == [source] for r in records if isinstance(r, Relation))
    # Every relation comes after Entity records for both of its ends.
    seen: set[str] = set()
    for rec in records:
        if isinstance(rec, Entity):
            seen.add(rec.id)
        elif isinstance(rec, Relation):
            assert rec.head in seen and rec.tail in seen
    return award


def test_turtle(tmp_path: Path) -> None:
    path = write(tmp_path, "films.ttl", TURTLE)
    records = read(path)
    check_goldfinger(records, "films.ttl")
    ents = merged(records)
    film = ents[EX + "Goldfinger"]
    assert film.aliases == ["Goldfinger (film)", "007 Goldfinger"]  # the French label becomes an alias
    assert film.properties["budget"] == 3.0e6 and type(film.properties["budget"]) is float
    assert film.properties["released"] == "1964-09-18"  # dates become strings
    assert film.properties["color"] is True
    assert sorted(film.properties["language"]) == ["de", "en"]  # several values -> list
    assert ents[EX + "Guy_Hamilton"].name == "Guy Hamilton"  # from skos:prefLabel
    assert ents[EX + "Guy_Hamilton"].labels == ["Person"]
    assert EX + "Film" not in ents  # rdf:type classes are labels, not nodes
    # Exactly one Entity per node for whole-document formats.
    ids = [r.id for r in records if isinstance(r, Entity)]
    assert len(ids) == len(set(ids))


def test_ntriples(tmp_path: Path) -> None:
    path = write(tmp_path, "films.nt", NTRIPLES)
    records = read(path, source_name="kb")
    award = check_goldfinger(records, "kb")
    assert award.endswith(":aw1")  # N-Triples keeps the file's blank-node label
    # Consecutive lines about one subject are merged into one Entity record.
    films = [r for r in records if isinstance(r, Entity) and r.id == EX + "Goldfinger"]
    assert len(films) == 1


def test_rdfxml(tmp_path: Path) -> None:
    check_goldfinger(read(write(tmp_path, "films.rdf", RDFXML)), "films.rdf")


def test_jsonld_inline_context(tmp_path: Path) -> None:
    check_goldfinger(read(write(tmp_path, "films.jsonld", JSONLD)), "films.jsonld")


def test_explicit_format_overrides_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "films.data", TURTLE)
    check_goldfinger(read(path, format="ttl"), "films.data")


def test_unlabelled_iri_is_named_after_its_local_name(tmp_path: Path) -> None:
    ttl = "<http://example.org/film/1> <http://example.org/starring> <http://dbpedia.org/resource/Gert_Fr%C3%B6be> .\n"
    ents = merged(read(write(tmp_path, "a.ttl", ttl)))
    assert ents["http://example.org/film/1"].name == "1"
    assert ents["http://dbpedia.org/resource/Gert_Fr%C3%B6be"].name == "Gert Fröbe"


def test_names_prefer_english_then_untagged(tmp_path: Path) -> None:
    ttl = """@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
<http://example.org/a> rdfs:label "Dr. No"@fr, "Dr. No (untagged)", "Dr. No"@en-GB .
<http://example.org/b> rdfs:label "Agent 007"@de, "James Bond" .
"""
    ents = merged(read(write(tmp_path, "a.ttl", ttl)))
    assert ents["http://example.org/a"].name == "Dr. No"
    assert ents["http://example.org/a"].aliases == ["Dr. No (untagged)"]
    assert ents["http://example.org/b"].name == "James Bond"
    assert ents["http://example.org/b"].aliases == ["Agent 007"]


def test_local_name_and_fallback_name() -> None:
    assert local_name("http://example.org/ns#directedBy") == "directedBy"
    assert local_name("http://example.org/film/") == "film"
    assert local_name("urn:isbn:0451450523") == "0451450523"
    assert fallback_name("http://example.org/The_Matrix") == "The Matrix"
    assert fallback_name("_:abc:b1") is None


@pytest.mark.parametrize(
    ("name", "text"),
    [("films.ttl", TURTLE), ("films.rdf", RDFXML), ("films.jsonld", JSONLD), ("films.nt", NTRIPLES)],
)
def test_blank_node_ids_are_stable_across_parses(tmp_path: Path, name: str, text: str) -> None:
    path = write(tmp_path, name, text)
    first, second = read(path), read(path)
    assert first == second
    bnodes = {r.id for r in first if isinstance(r, Entity) and r.id.startswith("_:")}
    assert bnodes
    # Same content in another file gives other blank-node ids.
    (tmp_path / "copy").mkdir()
    other = write(tmp_path / "copy", name, text)
    other_bnodes = {r.id for r in read(other) if isinstance(r, Entity) and r.id.startswith("_:")}
    assert other_bnodes and not other_bnodes & bnodes


def test_turtle_nested_blank_nodes_numbered_by_first_appearance(tmp_path: Path) -> None:
    ttl = "@prefix ex: <http://example.org/> .\nex:a ex:p [ ex:q [ ex:r 1 ] ] ; ex:s _:x .\n_:x ex:t 2 .\n"
    records = read(write(tmp_path, "a.ttl", ttl))
    bnodes = sorted({r.id.rsplit(":", 1)[1] for r in records if isinstance(r, Entity) and r.id.startswith("_:")})
    assert bnodes == ["b1", "b2", "b3"]


def test_malformed_ntriples_line_is_reported_and_reading_goes_on(tmp_path: Path) -> None:
    lines = NTRIPLES.splitlines()
    lines.insert(4, "<http://example.org/Goldfinger> <http://example.org/broken> .")  # line 5
    lines.append('<http://example.org/x> "literal predicate" <http://example.org/y> .')  # line 13
    path = tmp_path / "films.nt"
    path.write_bytes("\n".join(lines).encode() + b"\n<http://example.org/z> <http://example.org/p> \"\xff\" .\n")
    records = read(path)
    issues = [r for r in records if isinstance(r, MalformedRecord)]
    assert [(i.source, i.line) for i in issues] == [("films.nt", 5), ("films.nt", 13), ("films.nt", 14)]
    assert all(i.reason for i in issues)
    check_goldfinger([r for r in records if not isinstance(r, MalformedRecord)], "films.nt")


def test_unusable_predicate_name_is_reported(tmp_path: Path) -> None:
    nt = "<http://example.org/a> <http://example.org/%21%21> <http://example.org/b> .\n"
    (issue,) = [r for r in read(write(tmp_path, "a.nt", nt)) if isinstance(r, MalformedRecord)]
    assert issue.line == 1


def test_turtle_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.ttl", "@prefix ex: <http://example.org/> .\nex:a ex:b ex:c .\nex:a ex:b .\n")
    with pytest.raises(ReaderError) as info:
        read(path)
    message = str(info.value)
    assert "broken.ttl:3" in message and "N-Triples" in message


def test_rdfxml_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.rdf", RDFXML.replace("</ex:Film>", ""))
    with pytest.raises(ReaderError, match=re.escape("broken.rdf")):
        read(path)


def test_jsonld_remote_context_is_refused(tmp_path: Path) -> None:
    doc = '{"@context": "https://schema.org/", "@id": "http://example.org/a", "name": "A"}'
    path = write(tmp_path, "remote.jsonld", doc)
    with pytest.raises(ReaderError, match="inline"):
        read(path)
    nested = '{"@context": [{"ex": "http://example.org/"}], "@graph": [{"@context": ["http://x.org/ctx"]}]}'
    with pytest.raises(ReaderError, match="not fetched"):
        read(write(tmp_path, "nested.jsonld", nested))


def test_jsonld_bad_json_reports_line(tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match=re.escape("bad.json:2")):
        read(write(tmp_path, "bad.json", '{"@id": "x",\n "a": }'))


def test_unknown_extension_without_format(tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match="format="):
        read(write(tmp_path, "films.txt", TURTLE))


def test_unknown_format_name() -> None:
    with pytest.raises(ConfigError):
        RDFReader(format="n3")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match="not found"):
        RDFReader().read(tmp_path / "nope.ttl")


@pytest.mark.parametrize("name", ["e.ttl", "e.nt", "e.rdf", "e.jsonld"])
def test_empty_file_yields_nothing(tmp_path: Path, name: str) -> None:
    assert read(write(tmp_path, name, "")) == []
    assert read(write(tmp_path, "blank-" + name, "\n  \n")) == []


@pytest.mark.parametrize(("name", "text"), [("films.ttl", TURTLE), ("films.rdf", RDFXML), ("films.jsonld", JSONLD)])
def test_output_is_identical_across_processes(tmp_path: Path, name: str, text: str) -> None:
    """Blank-node ids and record order must not depend on rdflib's random labels or Python's hash seed."""
    path = write(tmp_path, name, text)
    code = "import sys; from kg.readers.rdf import RDFReader; print(repr(list(RDFReader().read(sys.argv[1]))))"
    root = str(Path(__file__).resolve().parents[2])
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": root},
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1 and "_:" in outputs.pop()


def test_name_predicates_and_reserved_property_keys(tmp_path: Path) -> None:
    ttl = """@prefix ex: <http://example.org/> .
ex:a ex:name "Goldfinger" ; ex:id 7 ; ex:labels "x" .
"""
    (ent,) = [r for r in read(write(tmp_path, "a.ttl", ttl)) if isinstance(r, Entity)]
    assert ent.name == "Goldfinger"
    assert ent.properties == {"id_": 7, "labels_": "x"}  # keys the stores reserve are renamed


def test_ntriples_fragments_carry_no_fallback_name(tmp_path: Path) -> None:
    nt = "<http://example.org/a> <http://example.org/knows> <http://example.org/The_Matrix> .\n"
    records = read(write(tmp_path, "a.nt", nt))
    assert [r.name for r in records if isinstance(r, Entity)] == [None, None]
    assert fallback_name("http://example.org/The_Matrix") == "The Matrix"
