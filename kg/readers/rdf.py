"""RDF reader: Turtle, N-Triples, RDF/XML and JSON-LD files become entities and relations.

Mapping, per RDF subject:

* IRIs are entity ids, verbatim. Relation types and property keys are the
  *local name* of the predicate: the part after the last ``#`` or ``/`` (after the
  last ``:`` for IRIs without either, such as URNs), percent-decoded
  (``ex:directedBy`` -> ``directedBy``; stores derive ``DIRECTED_BY``).
* Names: ``skos:prefLabel``, ``rdfs:label`` and any ``...name`` predicate
  (``schema:name``, ``foaf:name``) literals are candidates; the name is the first
  English (``en``, ``en-GB``...) one, else the first untagged one, else the first
  one (ties: in that predicate order). The other candidates and every
  ``skos:altLabel`` become ``aliases``.
* An IRI without any label is named after its local name, percent-decoded and
  with ``_`` read as a space (``.../Gert_Fr%C3%B6be`` -> ``Gert Fröbe``), so it
  displays and is looked up nicely. Blank nodes get no name. For N-Triples see below.
* ``rdf:type <Class>`` -> ``labels`` via :func:`kg.names.label` of the class's
  local name; classes named only there do not become nodes.
* Other literals -> ``properties[local name]``: booleans, integers, floats
  (``xsd:decimal`` included) become Python values, anything else (dates,
  durations, ill-typed values...) its lexical string; several values -> a list.
  Keys the stores reserve get a ``_`` appended (``ex:id`` -> ``id_``).
* An IRI or blank-node object -> ``Relation(subject, local name, object,
  sources=[source_name])``. Every relation comes after an ``Entity`` record for each
  of its ends, so stores can create nodes before edges.

Blank nodes get ids ``_:<h>:<label>``, ``<h>`` being the first 12 hex digits of
the SHA-1 of the file's absolute path: unique across files, identical on every
read of the same file (re-ingest is idempotent), but new if the file is moved.
N-Triples keeps the file's own labels (``_:award1`` -> ``_:<h>:award1``). For the
other formats rdflib replaces labels, even ``_:x``, with random ones on each
parse, so blank nodes are numbered ``b1, b2...`` in the order the parser emits
them, i.e. document order (recorded by :class:`_OrderedMemory`: an rdflib
graph's own iteration order changes with those labels and the hash seed).
A content hash was rejected: two blank nodes with equal descriptions (two
``[ a :Award ]``) would merge, and nested ones need a costly canonicalisation.
The price: editing a file may renumber the blank nodes after the edit.

N-Triples is streamed line by line with rdflib's ``W3CNTriplesParser``
(about 4x faster than a ``Graph().parse`` per line), in bounded memory: a
malformed line yields ``MalformedRecord(source, line, reason)`` and reading goes
on. Consecutive lines about one subject are merged into one ``Entity`` (at most
10,000 triples at a time); a subject described in several places yields
several fragments, which stores merge. Fragments carry no fallback name (one
might override a real label seen elsewhere): a label-less IRI keeps
``name=None``; stores then name new nodes with :func:`kg.names.default_name`.
Turtle, RDF/XML and JSON-LD are parsed whole by rdflib (memory grows with the
file) and one syntax error rejects the file with a :class:`ReaderError`.
JSON-LD contexts must be inline: nothing is fetched from the network.

Hostile input is bounded (see :mod:`kg.readers.limits`): RDF/XML is parsed by an
expat reader that refuses external and parameter entities and entities that
refer to other entities (no "billion laughs", no file or URL read through an
entity; short internal ones such as ``<!ENTITY owl "http://...#">`` still work)
and elements nested deeper than :data:`~kg.readers.limits.MAX_XML_DEPTH`.
Literals longer than :data:`~kg.readers.limits.MAX_LITERAL_CHARS`, integers of
more digits than Python converts, numbers out of a float's range and text with
lone surrogates (``"\\uD800"``) are malformed records that name the file and
line (the line of the first such escape for whole-document formats).
rdflib does not normalise literals here: its canonical form of
``"1e9999999999"^^xsd:decimal`` is ten billion digits long.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.sax import SAXParseException

import rdflib
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.exceptions import ParserError
from rdflib.namespace import RDF, RDFS, SKOS, XSD
from rdflib.plugins.parsers.notation3 import BadSyntax
from rdflib.plugins.parsers.ntriples import W3CNTriplesParser
from rdflib.plugins.stores.memory import Memory
from rdflib.term import Node

from kg.errors import ConfigError, InvalidName, MalformedRecord, ReaderError
from kg.models import RESERVED_PROPERTIES, Entity, Relation
from kg.names import default_name, label, local_name, relation_type
from kg.readers.base import Record
from kg.readers.formats import EXTENSIONS as ALL_EXTENSIONS
from kg.readers.formats import RDF as RDF_FORMATS
from kg.readers.limits import (
    LimitExceeded,
    check_integer,
    check_text,
    first_surrogate_escape_line,
    first_undecodable_line,
    parse_safe_rdfxml,
    quiet_rdflib_conversions,
)

Scalar = str | int | float | bool

FORMATS = {"turtle": "Turtle", "nt": "N-Triples", "xml": "RDF/XML", "json-ld": "JSON-LD"}
_ALIASES = {"ttl": "turtle", "ntriples": "nt", "n-triples": "nt", "rdf/xml": "xml", "rdfxml": "xml",
            "jsonld": "json-ld"}
EXTENSIONS = {ext: fmt for ext, fmt in ALL_EXTENSIONS.items() if fmt in RDF_FORMATS}
_GROUP_LIMIT = 10_000  # most N-Triples lines merged into one Entity record
# Values come from Literal.toPython(), never from rdflib's canonical lexical forms, which can be
# huge ("1e9999999999"^^xsd:decimal normalises to 10**10 digits: 9.7 GB). kg.readers.rdf is the
# only user of rdflib in kgqa.
rdflib.NORMALIZE_LITERALS = False
quiet_rdflib_conversions()


def fallback_name(node_id: str) -> str | None:
    """Display name of a label-less node (see :func:`kg.names.default_name`); None for blank nodes."""
    if node_id.startswith("_:"):
        return None
    return default_name(node_id)


@dataclass
class RDFReader:
    """Reads one RDF file into records (see the module docstring for the mapping).

    Args:
        format: ``"turtle"``, ``"nt"``, ``"xml"`` or ``"json-ld"``; None guesses it
            from the extension (.ttl, .nt, .rdf/.owl/.xml, .jsonld/.json).
        source_name: provenance put in relations' ``sources`` and malformed records;
            defaults to the file's name.
    """

    format: str | None = None
    source_name: str | None = None

    def __post_init__(self) -> None:
        if self.format is not None:
            fmt = _ALIASES.get(self.format.strip().lower(), self.format.strip().lower())
            if fmt not in FORMATS:
                raise ConfigError(f"unknown RDF format {self.format!r}; use one of {', '.join(FORMATS)}")
            self.format = fmt

    def read(self, path: Path | str) -> Iterator[Record]:
        """Records of ``path``; raises :class:`ReaderError` now if it is missing or of unknown format."""
        path = Path(path)
        if not path.exists():
            raise ReaderError(f"{path} not found; check the path")
        if not path.is_file():
            raise ReaderError(f"{path} is not a file; give the path of an RDF file")
        fmt = self.format or EXTENSIONS.get(path.suffix.lower())
        if fmt is None:
            raise ReaderError(
                f"{path}: cannot tell the RDF format from the extension {path.suffix!r}; "
                f"rename it to one of {', '.join(EXTENSIONS)} or pass format= ({', '.join(FORMATS)})"
            )
        source = self.source_name or path.name
        prefix = "_:" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12] + ":"
        if fmt == "nt":
            return _read_ntriples(path, source, prefix)
        return _read_document(path, fmt, source, prefix)


class _Description:
    """What the triples seen so far say about one subject."""

    def __init__(self, subject: str, source: str) -> None:
        self.subject = subject
        self.source = source
        self.names: list[tuple[int, int, str]] = []  # (language rank, predicate rank, text)
        self.aliases: list[str] = []
        self.labels: list[str] = []
        self.properties: dict[str, list[Scalar]] = {}
        self.relations: list[Relation] = []
        self.size = 0
        try:
            check_text(subject, "subject")
            self.invalid: str | None = None
        except LimitExceeded as exc:
            self.invalid = str(exc)  # reported with each of its triples; no record is made of it

    def add(self, predicate: URIRef, obj: Node, tail: str | None, line: int) -> MalformedRecord | None:
        """Take in one triple (``tail`` is the object's id unless it is a literal); return a problem if any."""
        self.size += 1
        iri = str(predicate)  # plain str: rdflib terms compare slowly
        role, rank = _role(iri)
        try:
            if self.invalid is not None:
                raise LimitExceeded(self.invalid)
            check_text(iri, "predicate")
            if isinstance(obj, Literal):
                check_text(str(obj), "literal")
                value = _python_value(obj)
            else:
                check_text(str(tail), "object")
        except LimitExceeded as exc:
            return MalformedRecord(self.source, line or exc.line, f"<{_short(self.subject)}> <{_short(iri)}>: {exc}")
        if isinstance(obj, Literal):
            if role == "name":
                self.names.append((_language_rank(obj.language), rank, str(obj)))
            elif role == "alias":
                _append_new(self.aliases, str(obj))
            else:
                _append_new(self.properties.setdefault(_key(iri), []), value)
            return None
        try:
            if role == "type" and isinstance(obj, URIRef):
                _append_new(self.labels, _class_label(str(obj)))
            else:
                self.relations.append(Relation(self.subject, _relation_name(iri), str(tail), sources=[self.source]))
        except InvalidName as exc:
            triple = f"<{_short(self.subject)}> <{_short(iri)}> <{_short(str(obj))}>"
            return MalformedRecord(self.source, line, f"{triple}: {exc}")
        return None

    def entity(self, fallback: bool) -> Entity:
        """The Entity record; ``fallback`` names a label-less IRI after its local name."""
        ranked = [text for *_, text in sorted(self.names, key=lambda n: n[:2])]
        name = ranked[0] if ranked else (fallback_name(self.subject) if fallback else None)
        aliases: list[str] = []
        for alias in ranked[1:] + self.aliases:
            if alias != name:
                _append_new(aliases, alias)
        properties = {k: v[0] if len(v) == 1 else v for k, v in self.properties.items()}
        return Entity(self.subject, name=name, aliases=aliases, labels=self.labels, properties=properties)


def _read_ntriples(path: Path, source: str, prefix: str) -> Iterator[Record]:
    """Stream an N-Triples file, merging runs of lines about one subject."""
    sink = _LastTriple()
    parser = W3CNTriplesParser(sink)  # type: ignore[arg-type]
    bnode_labels = _KeepLabels()
    current: _Description | None = None
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield MalformedRecord(source, number, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
                continue
            parser.line = (text.lstrip("\ufeff") if number == 1 else text).rstrip("\r\n")
            sink.last = None
            try:
                parser.parseline(bnode_context=bnode_labels)
            except (ParserError, ValueError) as exc:
                yield MalformedRecord(source, number, f"not a valid N-Triples statement: {str(exc)[:200]}")
                continue
            if sink.last is None:  # blank line or comment
                continue
            subject, predicate, obj = sink.last
            subject_id = _node_id(subject, prefix)
            if current is None or current.subject != subject_id or current.size >= _GROUP_LIMIT:
                if current is not None:
                    yield from _flush(current)
                current = _Description(subject_id, source)
            tail = None if isinstance(obj, Literal) else _node_id(obj, prefix)
            issue = current.add(predicate, obj, tail, number)
            if issue is not None:
                yield issue
    if current is not None:
        yield from _flush(current)


def _flush(description: _Description) -> Iterator[Record]:
    """One N-Triples run: its Entity, a bare Entity per relation tail, then its relations."""
    if description.invalid is not None:
        return
    yield description.entity(fallback=False)
    seen = {description.subject}
    for relation in description.relations:
        if relation.tail not in seen:
            seen.add(relation.tail)
            yield Entity(relation.tail)
    yield from description.relations


def _read_document(path: Path, fmt: str, source: str, prefix: str) -> Iterator[Record]:
    """Parse a whole Turtle / RDF/XML / JSON-LD file; one Entity per node, then relations."""
    if _is_blank(path):
        return
    triples = _parse(path, fmt)
    numbers: dict[Node, str] = {}  # blank node -> b1, b2... in order of first appearance
    subjects: dict[str, _Description] = {}
    for subject, predicate, obj in triples:
        for term in (subject, obj):
            if isinstance(term, BNode) and term not in numbers:
                numbers[term] = f"b{len(numbers) + 1}"
        subject_id = _node_id(subject, prefix, numbers)
        description = subjects.get(subject_id)
        if description is None:
            description = subjects[subject_id] = _Description(subject_id, source)
        tail = None if isinstance(obj, Literal) else _node_id(obj, prefix, numbers)
        issue = description.add(predicate, obj, tail, 0)  # type: ignore[arg-type]
        if issue is not None:
            if "lone surrogate" in issue.reason:  # whole-document parsers keep no lines: find the escape's
                issue = MalformedRecord(source, first_surrogate_escape_line(path), issue.reason)
            yield issue
    del triples, numbers
    subjects = {k: d for k, d in subjects.items() if d.invalid is None}
    for description in subjects.values():
        yield description.entity(fallback=True)
    tails = (r.tail for d in subjects.values() for r in d.relations if r.tail not in subjects)
    for tail in dict.fromkeys(tails):
        yield Entity(tail, name=fallback_name(tail))
    for description in subjects.values():
        yield from description.relations


def _parse(path: Path, fmt: str) -> list[tuple[Node, URIRef, Node]]:
    """The file's triples in document order; syntax errors become a ReaderError naming the file and line."""
    store = _OrderedMemory()
    graph = Graph(store=store)
    try:
        if fmt == "json-ld":
            text = _inline_jsonld(path)
            with warnings.catch_warnings():  # rdflib's JSON-LD parser uses its own deprecated ConjunctiveGraph
                warnings.simplefilter("ignore", DeprecationWarning)
                graph.parse(data=text, format="json-ld", publicID=path.resolve().as_uri())
        elif fmt == "xml":
            parse_safe_rdfxml(path, graph)
        else:
            graph.parse(source=path, format=fmt)
    except LimitExceeded as exc:
        raise ReaderError(f"{path}:{exc.line}: {exc}" if exc.line else f"{path}: {exc}") from exc
    except RecursionError as exc:
        raise ReaderError(f"{path}: nested too deeply for the {FORMATS[fmt]} parser; flatten the document "
                          "or convert it to N-Triples (.nt)") from exc
    except MemoryError as exc:
        raise ReaderError(f"{path}: ran out of memory parsing it whole; convert it to N-Triples (.nt), "
                          "which is streamed") from exc
    except UnicodeError as exc:
        line, reason = first_undecodable_line(path)
        where, why = (f"{path}:{line}", reason) if line else (str(path), str(exc))
        raise ReaderError(f"{where}: not valid UTF-8 text ({why}); re-encode the file as UTF-8") from exc
    except BadSyntax as exc:
        raise _syntax_error(path, fmt, exc.lines + 1, getattr(exc, "_why", str(exc))) from exc
    except SAXParseException as exc:
        raise _syntax_error(path, fmt, exc.getLineNumber(), exc.getMessage()) from exc
    except json.JSONDecodeError as exc:
        raise _syntax_error(path, fmt, exc.lineno, exc.msg) from exc
    except ReaderError:
        raise
    except Exception as exc:  # rdflib's parsers raise many kinds of errors for bad input
        raise _syntax_error(path, fmt, None, str(exc)) from exc
    return list(store.parsed)


def _inline_jsonld(path: Path) -> str:
    """The JSON-LD text, after checking that it refers to no external @context (which would be fetched)."""
    text = path.read_text(encoding="utf-8-sig")
    pending = [json.loads(text)]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            for key, value in node.items():
                refs = value if isinstance(value, list) else [value]
                remote = [r for r in refs if isinstance(r, str)] if key in ("@context", "@import") else []
                if remote:
                    raise ReaderError(
                        f"{path}: JSON-LD {key} {remote[0]!r} refers to another document, which is not "
                        "fetched (no network access); replace it with the context object itself (inline @context)"
                    )
                pending.append(value)
    return text


def _syntax_error(path: Path, fmt: str, line: int | None, reason: str) -> ReaderError:
    where = f"{path}:{line}" if line else str(path)
    return ReaderError(
        f"{where}: {FORMATS[fmt]} syntax error: {reason.strip()[:300]}; "
        "fix the syntax or convert the file to N-Triples (.nt) to skip and report bad lines"
    )


def _is_blank(path: Path) -> bool:
    """True if the file holds only whitespace (read until the first other byte)."""
    with path.open("rb") as handle:
        while chunk := handle.read(65536):
            if chunk.strip(b" \t\r\n\xef\xbb\xbf"):
                return False
    return True


def _node_id(term: Node, prefix: str, numbers: dict[Node, str] | None = None) -> str:
    if isinstance(term, BNode):
        return prefix + (numbers[term] if numbers is not None else str(term))
    return str(term)


_ROLES = {str(SKOS.prefLabel): ("name", 0), str(RDFS.label): ("name", 1), str(SKOS.altLabel): ("alias", 0),
          str(RDF.type): ("type", 0)}


@lru_cache(maxsize=4096)
def _role(predicate: str) -> tuple[str, int]:
    """How a predicate is read: ("name", rank), ("alias", 0), ("type", 0) or ("other", 0)."""
    return _ROLES.get(predicate) or (("name", 2) if local_name(predicate) == "name" else ("other", 0))


@lru_cache(maxsize=4096)
def _key(predicate: str) -> str:
    key = local_name(predicate)
    return key + "_" if key in RESERVED_PROPERTIES else key


@lru_cache(maxsize=4096)
def _relation_name(predicate: str) -> str:
    name = local_name(predicate)
    relation_type(name)  # raises InvalidName if the store could not use it
    return name


@lru_cache(maxsize=4096)
def _class_label(cls: str) -> str:
    return label(local_name(cls))


def _language_rank(language: str | None) -> int:
    if language is None:
        return 1
    return 0 if language.lower() == "en" or language.lower().startswith("en-") else 2


_INTEGER_TYPES = {str(XSD[t]) for t in ("integer", "int", "long", "short", "byte", "nonNegativeInteger",
                                          "positiveInteger", "nonPositiveInteger", "negativeInteger",
                                          "unsignedLong", "unsignedInt", "unsignedShort", "unsignedByte")}
_FINITE = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _python_value(literal: Literal) -> Scalar:
    """The stored value of a literal; :class:`LimitExceeded` for numbers too large to convert."""
    if literal.datatype is not None and str(literal.datatype) in _INTEGER_TYPES:
        check_integer(str(literal))
    value = None if literal.ill_typed else literal.toPython()
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and math.isinf(value) and _FINITE.fullmatch(str(literal)):
        raise LimitExceeded(f"number {_short(str(literal))} is out of range (beyond ±1.8e308); "
                            "store it as a plain string literal")
    if isinstance(value, (bool, int, float)):
        return value
    return str(literal)


def _short(text: str, width: int = 80) -> str:
    """``text`` for a message: cut at ``width`` characters, lone surrogates escaped (they cannot be printed)."""
    short = text if len(text) <= width else text[:width] + f"...({len(text):,} characters)"
    return short.encode("utf-8", "backslashreplace").decode("utf-8")


def _append_new(values: list[Any], value: Scalar) -> None:
    """Append unless an equal value of the same type is there (``True`` is not ``1``)."""
    if not any(type(v) is type(value) and v == value for v in values):
        values.append(value)


class _OrderedMemory(Memory):
    """rdflib's memory store, also keeping the triples in the order the parser adds them (all graphs)."""

    def __init__(self) -> None:
        super().__init__()
        self.parsed: dict[tuple[Node, URIRef, Node], None] = {}

    def add(self, triple: Any, context: Any, quoted: bool = False) -> None:
        super().add(triple, context, quoted)
        if not quoted:
            self.parsed[triple] = None


class _LastTriple:
    """N-Triples sink that keeps the triple of the line just parsed."""

    def __init__(self) -> None:
        self.last: tuple[Node, URIRef, Node] | None = None

    def triple(self, s: Node, p: URIRef, o: Node) -> None:
        self.last = (s, p, o)


class _KeepLabels(dict):
    """Blank-node context that keeps the file's labels (rdflib would invent random ones)."""

    def get(self, key: str, default: object = None) -> BNode:  # type: ignore[override]
        return BNode(key)
