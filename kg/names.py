"""Relationship types, labels and lookup keys derived from data.

Relation names come from files (``directed_by``, an RDF predicate IRI) and end up
as relationship types in Cypher (``DIRECTED_BY``). They are normalised here and
validated against a strict pattern, so that a type is always safe to splice into
a query between backticks; values never are (they travel as parameters).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

from kg.errors import InvalidName

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
_NON_IDENT = re.compile(r"[^A-Za-z0-9]+")
# Names the embedded database reserves for its own tables, and ours.
_RESERVED = {"ENTITY", "NODE", "REL", "TABLE", "GROUP"}


def relation_type(name: str) -> str:
    """Map a relation name from data to a relationship type: ``directed_by`` → ``DIRECTED_BY``.

    Camel case is split (``hasGenre`` → ``HAS_GENRE``), runs of other characters
    become one underscore, a leading digit gets an ``R_`` prefix (``"2nd_unit"`` →
    ``R_2ND_UNIT``), and names the embedded database reserves get a trailing ``_``.

    Raises:
        InvalidName: if no letter or digit remains (e.g. ``"!!"``) or the name is too long.
    """
    if not isinstance(name, str):
        raise InvalidName(f"relation name must be a string, got {type(name).__name__}")
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    split = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", ascii_name)
    rel = _NON_IDENT.sub("_", split).strip("_").upper()
    if rel and rel[0].isdigit():
        rel = "R_" + rel
    if not _IDENT.match(rel):
        raise InvalidName(
            f"relation name {name!r} gives no usable relationship type; "
            "use letters, digits and underscores, starting with a letter"
        )
    if rel in _RESERVED:
        rel = rel + "_"
    return rel


def label(name: str) -> str:
    """Map a type name from data to a node label: ``film`` → ``Film``, ``Person`` stays."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    parts = [p for p in _NON_IDENT.split(ascii_name) if p]
    lab = "".join(p[:1].upper() + p[1:] for p in parts)
    if lab and lab[0].isdigit():
        lab = "T" + lab
    if not _IDENT.match(lab or ""):
        raise InvalidName(
            f"type name {name!r} gives no usable label; use letters and digits, starting with a letter"
        )
    if lab.upper() in _RESERVED:
        lab = lab + "Type"
    return lab


def check_identifier(name: str) -> str:
    """Return ``name`` if it is a safe identifier for a label, type or property, else raise."""
    if not _IDENT.match(name):
        raise InvalidName(f"{name!r} is not a valid identifier (letters, digits, _; starts with a letter)")
    return name


def lookup_key(text: str) -> str:
    """Case- and accent-insensitive key for exact name lookup: ``"Gert Fröbe "`` → ``"gert frobe"``."""
    if text.isascii():
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())


def local_name(iri: str) -> str:
    """Part of ``iri`` after the last ``#`` or ``/`` (``:`` if it has neither), percent-decoded."""
    stripped = iri.rstrip("#/") or iri
    for separator in ("#", "/", ":"):
        if separator in stripped:
            stripped = stripped.rsplit(separator, 1)[1]
            break
    return unquote(stripped) or iri


def is_iri(entity_id: str) -> bool:
    return "://" in entity_id or entity_id.startswith(("urn:", "mailto:", "tag:"))


def default_name(entity_id: str) -> str:
    """Display name of an entity known only by its id.

    An IRI shows its local name with ``_`` read as a space
    (``http://dbpedia.org/resource/Gert_Fr%C3%B6be`` → ``Gert Fröbe``); any other id
    (a MetaQA name, a blank node ``_:…``) is its own name.
    """
    if is_iri(entity_id):
        return local_name(entity_id).replace("_", " ").strip() or entity_id
    return entity_id


def describe_relation(relation: str) -> str:
    """The words of a relationship type, the one verbaliser every stage uses: ``DIRECTED_BY`` → ``"directed by"``,
    ``place_of_death`` → ``"place of death"`` (underscores to spaces, lower case, white space folded)."""
    return " ".join(relation.replace("_", " ").lower().split())
