"""One exception hierarchy for kgqa.

A :class:`KGQAError` is a user's mistake or an environmental problem (a bad
file, an unknown entity, an unreachable database): its message is one clear
sentence that says what to do, and the CLI prints it without a traceback.
Anything else that escapes is a bug.
"""

from __future__ import annotations


class KGQAError(Exception):
    """Base class of every error that is the user's to fix."""


class ConfigError(KGQAError):
    """A setting is missing or invalid."""


class StoreUnavailable(KGQAError):
    """The graph database cannot be reached or opened."""


class InvalidName(KGQAError):
    """A relationship type or label taken from data cannot be used as one."""


class ReadOnlyViolation(KGQAError):
    """A query sent to the read-only Cypher endpoint tried to write."""


class QueryError(KGQAError):
    """A Cypher query failed (syntax error, timeout, unknown procedure...)."""


class NotFound(KGQAError):
    """An entity asked for does not exist in the graph."""


class ReaderError(KGQAError):
    """A source file cannot be read at all (missing, unknown format, bad header)."""


class MalformedRecord(KGQAError):
    """One record of a source file is malformed.

    Carries where it was found (``source`` and ``line``, 1-based, or 0 when the
    format has no lines) and why, so reports can say ``file:line: reason``.
    """

    def __init__(self, source: str, line: int, reason: str) -> None:
        self.source = source
        self.line = line
        self.reason = reason
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {reason}")


class StrictModeAbort(KGQAError):
    """``--strict`` ingestion met a malformed record; the batch holding it was not written."""

    def __init__(self, issue: MalformedRecord, committed_batches: int) -> None:
        self.issue = issue
        self.committed_batches = committed_batches
        super().__init__(
            f"{issue} (strict mode: stopped before writing this batch; "
            f"{committed_batches} earlier batch(es) are stored; fix the record or drop --strict "
            "to skip and report malformed records)"
        )
