"""Seeded fuzzing of every reader: whatever the file holds, a reader yields records or raises a
:class:`~kg.errors.KGQAError` (no other exception: that would be a traceback), within a deadline,
and every record it yields can be validated for the store and printed.

The suite runs ``KGQA_FUZZ_EXAMPLES`` cases per reader (default 300: ~3,000 in all); a longer run
on demand: ``KGQA_FUZZ_EXAMPLES=5000 pytest tests/kg/test_reader_fuzz.py`` (or bench/security_readers.py).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from kg.errors import InvalidName, KGQAError, MalformedRecord  # noqa: E402
from kg.ingest import make_reader  # noqa: E402
from kg.models import Batch, Entity, Relation  # noqa: E402
from kg.store.base import prepare  # noqa: E402
from kg.text.documents import Document, DocumentProblem, read_document  # noqa: E402
from kg.text.ingest import text_pieces  # noqa: E402

EXAMPLES = int(os.environ.get("KGQA_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=5000, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
XSD = "http://www.w3.org/2001/XMLSchema#"

# -- building blocks: text that tends to break parsers -------------------------------------------------
_NASTY = ["\\uD800", "\\uDC00", "\\U0010FFFF", "\\U00110000", "\\u0000", "\\\"", "\\n", "\\", "\"", "'", "<", ">",
          "&", "&lol;", "]]>", "\x00", "\ufeff", "\u2028", "é", "𝔘", "\r", "\n", "\t", "|", ",", " ", "#", "%41",
          "%", "_:", ":", "@", "^^", "{", "}", "[", "]", "(", ")", ";", ".", "9" * 60, "1e99999", "-0", "NaN",
          "INF", "true", "P99999999999Y", "0000-00-00", "-99999-01-01T00:00:00Z", "\ud800"]
_words = st.one_of(st.text(max_size=12), st.sampled_from(_NASTY))
_text = st.lists(_words, max_size=6).map("".join)
_datatypes = st.sampled_from([XSD + t for t in ("integer", "decimal", "double", "float", "boolean", "date",
                                                "dateTime", "duration", "long", "byte", "hexBinary",
                                                "base64Binary", "gYear", "string", "nonNegativeInteger")]
                             + ["http://www.w3.org/1999/02/22-rdf-syntax-ns#XMLLiteral", "x:y", ""])
_iri = _text.map(lambda t: f"<http://e/{t}>")
_literal = st.one_of(
    _text.map(lambda t: f'"{t}"'),
    st.tuples(_text, _datatypes).map(lambda p: f'"{p[0]}"^^<{p[1]}>'),
    st.tuples(_text, st.sampled_from(["en", "en-GB", "x", "", "123", "fr-"])).map(lambda p: f'"{p[0]}"@{p[1]}'),
    st.sampled_from(['"1e9999999999"^^<' + XSD + 'decimal>', '"' + "9" * 5000 + '"^^<' + XSD + 'integer>']),
)
_bnode = _text.map(lambda t: f"_:{t}")
_term = st.one_of(_iri, _bnode, _literal, _text)


def _to_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # lone surrogates become invalid UTF-8 bytes


_statements = st.lists(st.tuples(_term, _term, _term, st.sampled_from([" .", ".", " ;", ""])), max_size=8).map(
    lambda rows: "\n".join(f"{s} {p} {o}{end}" for s, p, o, end in rows))
_ntriples = st.one_of(_statements.map(_to_bytes), st.binary(max_size=200))
_prefixes = st.sampled_from(["", "@prefix ex: <http://e/> .\n", f"@prefix xsd: <{XSD}> .\n", "@base <http://e/> .\n",
                             "PREFIX ex: <http://e/>\n", "@prefix : <> .\n"])
_turtle = st.one_of(st.tuples(_prefixes, _statements, st.lists(st.sampled_from(
    ["ex:a ex:b ex:c .", "[ ex:p [ ex:q ( 1 2 ( 3 ) ) ] ] .", "ex:a ex:p 1.5e3, true, -7 .", "ex:a a ex:C .",
     '<< ex:a ex:b ex:c >> ex:p "x" .', '"""multi\nline""" .', "ex:a ex:p ex:b ;", "ex:\\u0041 ex:p 1 ."]),
    max_size=4)).map(lambda p: _to_bytes(p[0] + p[1] + "\n" + "\n".join(p[2]))), st.binary(max_size=200))

_xml_name = st.sampled_from(["rdf:Description", "ex:p", "ex:Thing", "rdf:type", "rdf:li", "a", "ex:q", "rdf:RDF",
                             "rdf:Bag", "x:y"])
_xml_attr = st.sampled_from(['', ' rdf:about="http://e/a"', ' rdf:resource="http://e/b"', ' rdf:parseType="Literal"',
                             ' rdf:parseType="Resource"', ' rdf:parseType="Collection"', ' rdf:nodeID="n1"',
                             ' rdf:datatype="' + XSD + 'integer"', ' xml:lang="en"', ' rdf:ID="x"', ' ex:q="v"',
                             ' xml:base="http://e/"', ' rdf:about="&e;"'])
_xml_body = st.recursive(
    _text.map(lambda t: t.replace("<", "&lt;") if t.count("<") % 2 else t),
    lambda inner: st.tuples(_xml_name, _xml_attr, st.lists(inner, max_size=3)).map(
        lambda p: f"<{p[0]}{p[1]}>{''.join(p[2])}</{p[0]}>"),
    max_leaves=12)
_doctype = st.sampled_from(["", '<!DOCTYPE rdf:RDF [<!ENTITY e "http://e/">]>\n',
                            '<!DOCTYPE rdf:RDF [<!ENTITY a "x"><!ENTITY b "&a;&a;">]>\n',
                            '<!DOCTYPE rdf:RDF [<!ENTITY % p "x">]>\n', '<!DOCTYPE rdf:RDF SYSTEM "http://e/dtd">\n',
                            '<!DOCTYPE rdf:RDF [<!ENTITY x SYSTEM "file:///etc/hostname">]>\n'])
_rdfxml = st.one_of(st.tuples(_doctype, st.lists(_xml_body, max_size=4)).map(lambda p: _to_bytes(
    '<?xml version="1.0"?>\n' + p[0] + '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    'xmlns:ex="http://e/">' + "".join(p[1]) + "</rdf:RDF>")), st.binary(max_size=200))

_json_key = st.one_of(st.sampled_from(["@id", "@type", "@value", "@language", "@list", "@graph", "@context", "@set",
                                       "@reverse", "@index", "@vocab", "@base", "http://e/p", "ex:p", "name"]), _text)
_json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), _text,
                         st.sampled_from(["http://e/a", "_:b", "ex:a", "\ud800"]))
_json = st.recursive(_json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_json_key, inner, max_size=4)), max_leaves=15)


def _json_text(value: object) -> bytes:
    import json

    return _to_bytes(json.dumps(value, ensure_ascii=bool(hash(str(value)) % 2)))


_jsonld = st.one_of(_json.map(_json_text), st.binary(max_size=200))
_delimited = st.one_of(
    st.lists(st.lists(_text, min_size=0, max_size=4), max_size=8).map(
        lambda rows: _to_bytes("\n".join("|".join(r) for r in rows))),
    st.lists(st.lists(_text, max_size=4), max_size=8).map(
        lambda rows: _to_bytes("head,relation,tail\n" + "\n".join(",".join(r) for r in rows))),
    st.lists(st.lists(_text, max_size=4), max_size=8).map(
        lambda rows: _to_bytes("\n".join("\t".join(r) for r in rows))),
    st.binary(max_size=200))
_markdown = st.one_of(st.lists(st.one_of(_text, st.sampled_from(
    ["# ", "## ", "```", "**", "__", "`", "[a](b)", "![x](y)", "<b>", "> ", "- ", "1. ", "---", "\n", "\r\n"])),
    max_size=20).map(lambda parts: _to_bytes("".join(parts))), st.binary(max_size=300))


def _check(path: Path, fmt: str, data: bytes) -> None:
    """Read ``data`` as ``fmt``: only KGQAErrors escape, and the records validate and print."""
    path.write_bytes(data)
    try:
        records = list(make_reader(fmt).read(path))
    except KGQAError as exc:
        str(exc).encode("utf-8")
        return
    batch = Batch()
    for rec in records:
        if isinstance(rec, MalformedRecord):
            str(rec).encode("utf-8")  # printable: no lone surrogate in the message
        elif isinstance(rec, Entity):
            batch.entities.append(rec)
        else:
            assert isinstance(rec, Relation), rec
            batch.relations.append(rec)
    for rec in [*batch.entities, *batch.relations]:
        _storable(vars(rec) if hasattr(rec, "__dict__") else {f: getattr(rec, f) for f in rec.__slots__})
    try:
        prepare(batch)
    except (InvalidName, ValueError):
        pass  # kg.ingest reports these record by record (_drop_invalid)


def _storable(value: object) -> None:
    """Every string in ``value`` is valid Unicode (the database refused lone surrogates with a traceback)."""
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, dict):
        for k, v in value.items():
            _storable(k)
            _storable(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _storable(v)


def _fuzz(fmt: str, suffix: str, strategy: st.SearchStrategy[bytes]) -> Callable[[], None]:
    @seed(14)
    @FUZZ
    @given(strategy)
    def run(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as folder:
            _check(Path(folder) / f"fuzz{suffix}", fmt, data)

    return run


@pytest.mark.parametrize(("fmt", "suffix", "strategy"), [
    ("triples", ".txt", _delimited),
    ("tsv", ".tsv", _delimited),
    ("csv", ".csv", _delimited),
    ("nt", ".nt", _ntriples),
    ("turtle", ".ttl", _turtle),
    ("xml", ".rdf", _rdfxml),
    ("json-ld", ".jsonld", _jsonld),
], ids=["triples", "tsv", "csv", "nt", "turtle", "rdfxml", "jsonld"])
def test_reader_never_raises_anything_but_a_kgqa_error(fmt: str, suffix: str,
                                                       strategy: st.SearchStrategy[bytes]) -> None:
    _fuzz(fmt, suffix, strategy)()


@seed(14)
@FUZZ
@given(_markdown, st.sampled_from([".md", ".txt"]))
def test_document_reader_returns_a_document_or_a_problem(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz{suffix}"
        path.write_bytes(data)
        doc = read_document(path)
        assert isinstance(doc, (Document, DocumentProblem))
        if isinstance(doc, Document):
            pieces = list(text_pieces(doc.text, 16))
            assert "".join(p for _, p in pieces) == doc.text
            assert all(doc.text[o:o + len(p)] == p and len(p) <= 16 for o, p in pieces)
