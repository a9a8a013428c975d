"""A lexical check that a Cypher query only reads.

This is the second line of defence: the stores run exploration queries in
transactions that the database itself opens read-only (Neo4j's READ access
mode, the embedded database's ``READ ONLY`` transaction), so a write fails there
even if it slips past this check. The check exists to refuse, with a clear
message and before any work is done, what read-only mode does not stop by
itself: file access (``LOAD CSV``, ``COPY ... TO``), ``CALL {} IN
TRANSACTIONS``, administration (``CALL dbms.*``, users, databases) and
transaction control.
"""

from __future__ import annotations

import re

from kg.errors import ReadOnlyViolation

_TOKEN = re.compile(
    r"""
    (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<quoted>`(?:[^`]|``)*`)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<semi>;)
  | (?P<other>\S)
    """,
    re.VERBOSE | re.DOTALL,
)

WRITE_KEYWORDS = frozenset(
    """CREATE MERGE SET DELETE DETACH REMOVE DROP FOREACH LOAD COPY ALTER GRANT DENY REVOKE
    RENAME START STOP TERMINATE ENABLE INSTALL ATTACH EXPORT IMPORT BEGIN COMMIT ROLLBACK
    CHECKPOINT USE""".split()
)
_FORBIDDEN_PROCEDURE_PREFIXES = ("dbms.", "apoc.", "gds.", "db.create", "db.drop", "db.clear")


def words(query: str) -> list[tuple[str, bool]]:
    """Bare words of ``query`` (outside strings, comments and backticks), each with whether
    it is a name rather than a keyword: after ``.`` (property), ``:`` (label or type) or ``$``
    (parameter), or before ``:`` (map key)."""
    toks = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(query) if m.lastgroup != "comment"]
    out: list[tuple[str, bool]] = []
    for i, (kind, text) in enumerate(toks):
        if kind == "semi":
            out.append((";", False))
        elif kind == "word":
            before = toks[i - 1][1] if i else ""
            after = toks[i + 1][1] if i + 1 < len(toks) else ""
            out.append((text, before in (".", ":", "$") or after == ":"))
    return out


def check_read_only(query: str) -> None:
    """Raise :class:`ReadOnlyViolation` if ``query`` is not a single read-only statement."""
    if not query or not query.strip():
        raise ReadOnlyViolation("the query is empty; give a Cypher query such as 'MATCH (n) RETURN n LIMIT 5'")
    toks = words(query)
    if toks and toks[-1][0] == ";":
        toks = toks[:-1]  # one trailing ';' is harmless
    if any(w == ";" for w, _ in toks):
        raise ReadOnlyViolation("only one statement per query is allowed; remove the ';' between statements")
    bare = [w.upper() for w, dotted in toks if not dotted and w != ";"]
    for i, w in enumerate(bare):
        if w in WRITE_KEYWORDS:
            raise ReadOnlyViolation(
                f"{w} is not allowed: this endpoint is read-only (use MATCH ... RETURN ...); "
                "load data with `kgqa ingest` instead"
            )
        if w == "IN" and i + 1 < len(bare) and bare[i + 1] == "TRANSACTIONS":
            raise ReadOnlyViolation("CALL { ... } IN TRANSACTIONS is not allowed on the read-only endpoint")
    flat = re.sub(r"\s+", "", _strip_literals(query)).lower()
    for m in re.finditer(r"call([a-z0-9_.]+)", flat):
        name = m.group(1)
        if name.startswith(_FORBIDDEN_PROCEDURE_PREFIXES):
            raise ReadOnlyViolation(f"procedure {name} is not allowed on the read-only endpoint")


def _strip_literals(query: str) -> str:
    return "".join(
        m.group() if m.lastgroup not in ("comment", "string", "quoted") else " " for m in _TOKEN.finditer(query)
    )
