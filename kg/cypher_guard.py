r"""A lexical check that a Cypher query only reads: the first, friendly refusal.

It is not the wall. The stores let the database decide: Neo4j plans every
exploration query with ``EXPLAIN`` and runs it only when the plan is read-only
and uses allow-listed operators and procedures (:mod:`kg.store.neo4j_plan`),
inside a READ transaction with a server-side timeout; the embedded store runs it
in a ``READ ONLY`` transaction. This check refuses, with a clear message and
before any work is done, what is plainly not a read: writes, file access
(``LOAD CSV``, ``COPY ... TO``), ``CALL {} IN TRANSACTIONS``, administration
(``SHOW ...``, ``CALL dbms.*``, ``db.stats.*``), transaction control.

It reads the query as Neo4j's lexer does where that matters to an attacker: a
``//`` comment ends at ``\r`` as well as ``\n`` (and at nothing else: ``\u2028``,
``\x0b``, ``\x85``... do not end it in Neo4j, and ending it there would let a quote
in the comment hide what follows), ``\uXXXX`` escapes outside string literals are refused (Neo4j decodes
them inside keywords and names: ``\u004cOAD CSV``), and backticked names count
(`` CALL `dbms`.listConfig() ``).
"""

from __future__ import annotations

import itertools
import re

from kg.errors import ReadOnlyViolation

_TOKEN = re.compile(
    r"""
    (?P<comment>//[^\n\r]*|/\*.*?\*/)
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
# Commands that open a statement (SHOW USERS, TERMINATE TRANSACTIONS...): refused when they open the
# query or a subquery, or when the next word is what they list; a variable named ``show`` is harmless.
ADMIN_KEYWORDS = frozenset({"SHOW", "TERMINATE"})
_ADMIN_OBJECTS = frozenset("""USERS USER SETTINGS SETTING TRANSACTIONS TRANSACTION DATABASES DATABASE PROCEDURES
    PROCEDURE FUNCTIONS FUNCTION INDEXES INDEX CONSTRAINTS CONSTRAINT ROLES ROLE PRIVILEGES PRIVILEGE CURRENT ALL
    BUILT DEFAULT HOME ALIASES ALIAS SERVERS SERVER POPULATED SUPPORTED RANGE TEXT POINT LOOKUP FULLTEXT VECTOR
    UNIQUE EXISTENCE NODE RELATIONSHIP REL KEY PROPERTY""".split())
_FORBIDDEN_PROCEDURE_PREFIXES = ("dbms.", "apoc.", "gds.", "db.create", "db.drop", "db.clear", "db.stats.",
                                 "tx.", "db.checkpoint")
_UNICODE_ESCAPE = re.compile(r"\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8}")


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
    if _UNICODE_ESCAPE.search(_strip_literals(query, keep_quoted=True)):
        raise ReadOnlyViolation("\\u escapes are only allowed inside string literals; "
                                "write the keyword or name out in plain characters")
    toks = words(query)
    if toks and toks[-1][0] == ";":
        toks = toks[:-1]  # one trailing ';' is harmless
    if any(w == ";" for w, _ in toks):
        raise ReadOnlyViolation("only one statement per query is allowed; remove the ';' between statements")
    bare = [w.upper() for w, dotted in toks if not dotted and w != ";"]
    spaced = re.sub(r"\s+", " ", _strip_literals(query, keep_quoted=False)).upper()
    opening = {bare[0]} if bare else set()  # the first word, and the first after '{' or UNION
    opening |= set(re.findall(r"(?:\{|\bUNION(?: ALL)?) ?([A-Z]+)", spaced))
    opening |= {w for w, nxt in itertools.pairwise(bare) if nxt in _ADMIN_OBJECTS}  # CYPHER 25 SHOW USERS
    if admin := sorted(opening & ADMIN_KEYWORDS):
        raise ReadOnlyViolation(
            f"{admin[0]} commands (users, settings, transactions, databases, procedures) are administration "
            "and not allowed on the read-only endpoint; query the graph with MATCH ... RETURN ..."
        )
    for i, w in enumerate(bare):
        if w in WRITE_KEYWORDS:
            raise ReadOnlyViolation(
                f"{w} is not allowed: this endpoint is read-only (use MATCH ... RETURN ...); "
                "load data with `kgqa ingest` instead"
            )
        if w == "IN" and i + 1 < len(bare) and bare[i + 1] == "TRANSACTIONS":
            raise ReadOnlyViolation("CALL { ... } IN TRANSACTIONS is not allowed on the read-only endpoint")
    # Backticked parts of a name count as the name (`dbms`.listConfig is dbms.listConfig).
    flat = re.sub(r"\s+", "", _strip_literals(query, keep_quoted=True)).lower()
    for m in re.finditer(r"call([a-z0-9_.]+)", flat):
        name = m.group(1)
        if name.startswith(_FORBIDDEN_PROCEDURE_PREFIXES):
            raise ReadOnlyViolation(f"procedure {name} is not allowed on the read-only endpoint; "
                                    "db.labels(), db.relationshipTypes(), db.propertyKeys() and db.schema.* are")


def _strip_literals(query: str, *, keep_quoted: bool) -> str:
    """``query`` with comments and string literals blanked (whitespace between tokens kept);
    backticked names kept as their plain text (``keep_quoted``) or blanked."""
    out, end = [], 0
    for m in _TOKEN.finditer(query):
        out.append(query[end:m.start()])
        end = m.end()
        if m.lastgroup == "quoted" and keep_quoted:
            out.append(m.group()[1:-1].replace("``", "`"))
        elif m.lastgroup in ("comment", "string", "quoted"):
            out.append(" ")
        else:
            out.append(m.group())
    out.append(query[end:])
    return "".join(out)
