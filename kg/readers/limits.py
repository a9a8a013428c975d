"""Bounds on what a source file may make a reader do: the defences against hostile files.

* RDF/XML is read by :func:`parse_safe_rdfxml`, an expat reader that refuses
  parameter entities, external entities (``SYSTEM``/``PUBLIC``: no file or URL is
  read through one), entities whose text refers to other entities (the "billion
  laughs" chain) or is longer than :data:`MAX_ENTITY_CHARS`, and elements nested
  deeper than :data:`MAX_XML_DEPTH` (a 50,000-deep ``rdf:parseType="Literal"``
  overflowed minidom's recursion). Short internal entities, the usual
  ``<!ENTITY owl "http://www.w3.org/2002/07/owl#">`` of OWL files, still work: each
  reference expands to at most ``MAX_ENTITY_CHARS`` characters.
* :func:`check_text` refuses text longer than :data:`MAX_LITERAL_CHARS` and text
  holding a lone surrogate (``"\\uD800"`` escapes decode to one; the database
  cannot store it).
* Numbers: integers of more than :data:`MAX_INTEGER_DIGITS` digits (Python's own
  conversion limit) and finite numerals out of a float's range are refused by
  the RDF reader with :class:`LimitExceeded`.

Each refusal is a :class:`LimitExceeded` whose message says what to change; the
readers turn it into a :class:`~kg.errors.MalformedRecord` (``file:line: reason``)
or, for a whole document, a :class:`~kg.errors.ReaderError`.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any
from xml.sax import handler as sax_handler
from xml.sax.expatreader import ExpatParser

MAX_LITERAL_CHARS = 1_000_000
MAX_INTEGER_DIGITS = sys.get_int_max_str_digits() or 4300
MAX_XML_DEPTH = 256
MAX_ENTITY_CHARS = 512

_SURROGATE = re.compile("[\ud800-\udfff]")
# \uD800-\uDFFF (or \U0000D800...) escapes: how a lone surrogate gets into N-Triples, Turtle or JSON text
_SURROGATE_ESCAPE = re.compile(rb"\\(?:u|U0000)[dD][89a-fA-F][0-9a-fA-F]{2}")


class LimitExceeded(ValueError):
    """Input over one of the bounds above; ``line`` is where, when known (0 otherwise)."""

    def __init__(self, reason: str, line: int = 0) -> None:
        super().__init__(reason)
        self.line = line


def check_text(text: str, what: str) -> None:
    """Raise :class:`LimitExceeded` if ``text`` is too long or not storable Unicode."""
    if len(text) > MAX_LITERAL_CHARS:
        raise LimitExceeded(f"{what} of {len(text):,} characters is over the {MAX_LITERAL_CHARS:,}-character "
                            "limit; shorten it or split the value")
    if not text.isascii() and (m := _SURROGATE.search(text)) is not None:
        raise LimitExceeded(f"{what} holds a lone surrogate (\\u{ord(m.group()):04X}), which is not valid "
                            "Unicode; fix the escape (a character above U+FFFF is written \\UXXXXXXXX)")


def check_integer(lexical: str) -> None:
    """Refuse an integer numeral Python would not convert (it logged a traceback and kept the text)."""
    digits = sum(c.isdigit() for c in lexical)
    if digits > MAX_INTEGER_DIGITS:
        raise LimitExceeded(f"integer of {digits:,} digits is over the {MAX_INTEGER_DIGITS:,}-digit limit; "
                            "store it as a plain string literal")


def first_surrogate_escape_line(path: Path) -> int:
    """Line of the first ``\\uD800``-style escape in ``path`` (0 if none): where to look for a lone surrogate."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if _SURROGATE_ESCAPE.search(raw):
                return number
    return 0


def first_undecodable_line(path: Path) -> tuple[int, str]:
    """``(line, reason)`` of the first line of ``path`` that is not UTF-8 (``(0, "")`` if none)."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1}: {exc.reason}"
    return 0, ""


class _ConversionNoise(logging.Filter):
    """Drops rdflib's "Failed to convert Literal lexical form" warnings (each printed a traceback).

    The reader keeps such a literal's text, or reports it as a malformed record with a reason.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Failed to convert Literal lexical form")


_NOISE = _ConversionNoise()


def quiet_rdflib_conversions() -> None:
    """Install the filter on rdflib's term logger (idempotent)."""
    logger = logging.getLogger("rdflib.term")
    if _NOISE not in logger.filters:
        logger.addFilter(_NOISE)


class _SafeExpatParser(ExpatParser):
    """An expat SAX reader that refuses dangerous DTD entities (see the module docstring)."""

    def reset(self) -> None:
        super().reset()
        parser = self._parser  # type: ignore[attr-defined]  # ExpatParser sets it in reset()
        parser.EntityDeclHandler = self._entity_declared
        parser.UnparsedEntityDeclHandler = self._unparsed_entity
        parser.ExternalEntityRefHandler = self._external_entity

    def _refuse(self, reason: str) -> None:
        raise LimitExceeded(f"{reason}; RDF/XML files may declare only short internal entities "
                            f"(at most {MAX_ENTITY_CHARS} characters, no references to other entities)",
                            self.getLineNumber() or 0)

    def _entity_declared(self, name: str, is_parameter: int, value: str | None, base: Any, system_id: Any,
                         public_id: Any, notation: Any) -> None:
        if is_parameter:
            self._refuse(f"parameter entity %{name}; is not allowed")
        if value is None:
            self._refuse(f"external entity &{name}; ({system_id or public_id}) is not read")
        assert value is not None
        if "&" in value or "%" in value:
            self._refuse(f"entity &{name}; refers to other entities (entity expansion bomb)")
        if len(value) > MAX_ENTITY_CHARS:
            self._refuse(f"entity &{name}; is {len(value):,} characters long")

    def _unparsed_entity(self, name: str, *_: Any) -> None:
        self._refuse(f"unparsed entity &{name}; is not allowed")

    def _external_entity(self, context: Any, base: Any, system_id: Any, public_id: Any) -> int:
        self._refuse(f"external entity {system_id or public_id} is not read")
        return 0


def parse_safe_rdfxml(path: Path, graph: Any) -> None:
    """Parse the RDF/XML file ``path`` into the rdflib ``graph`` with the bounds above."""
    from rdflib.parser import create_input_source
    from rdflib.plugins.parsers.rdfxml import RDFXMLHandler

    class _BoundedHandler(RDFXMLHandler):  # type: ignore[misc]
        depth = 0

        def startElementNS(self, name: Any, qname: Any, attrs: Any) -> None:
            self.depth += 1
            if self.depth > MAX_XML_DEPTH:
                raise LimitExceeded(f"elements nested more than {MAX_XML_DEPTH} deep; flatten the document",
                                    parser.getLineNumber() or 0)
            super().startElementNS(name, qname, attrs)

        def endElementNS(self, name: Any, qname: Any) -> None:
            self.depth -= 1
            super().endElementNS(name, qname)

    source = create_input_source(source=path, format="xml")
    parser = _SafeExpatParser()
    parser.start_namespace_decl("xml", "http://www.w3.org/XML/1998/namespace")
    parser.setFeature(sax_handler.feature_namespaces, 1)
    parser.setFeature(sax_handler.feature_external_ges, 0)
    parser.setFeature(sax_handler.feature_external_pes, 0)
    content = _BoundedHandler(graph)
    content.setDocumentLocator(source)  # type: ignore[arg-type]  # as rdflib itself does
    parser.setContentHandler(content)
    parser.setErrorHandler(sax_handler.ErrorHandler())
    try:
        parser.parse(source)
    finally:
        source.close()
