"""The reader extension point: a source file becomes a stream of records.

A reader yields :class:`~kg.models.Entity` and :class:`~kg.models.Relation`
records one at a time (so memory stays bounded by the ingest batch, not the
file), and yields a :class:`~kg.errors.MalformedRecord` in place of a record it
cannot parse, so the caller decides whether to skip and report or to abort.
A reader may yield several fragments for one entity (an RDF subject's label and
its literals on different lines); stores merge fragments on upsert.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from kg.errors import MalformedRecord
from kg.models import Entity, Relation

Record = Entity | Relation | MalformedRecord


class Reader(Protocol):
    """Turns one source file into records."""

    def read(self, path: Path) -> Iterator[Record]:
        """Yield the records of ``path``; raise :class:`~kg.errors.ReaderError` if it cannot be read at all."""
        ...
