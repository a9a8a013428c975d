"""Ingestion: stream a source file through a reader into a store, batch by batch.

Each batch is validated first and then written in one transaction, so a crash
or ``kill -9`` loses at most the batch in flight; since writes are idempotent,
re-running the same ingest completes the graph with exact counts.

Malformed records are skipped and reported (``file:line: reason``) by default;
with ``strict=True`` the first one aborts the ingest before its batch is
written (earlier batches stay stored).
"""

from __future__ import annotations

import gc
import queue
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kg.errors import InvalidName, MalformedRecord, ReaderError, StrictModeAbort
from kg.models import Batch, Entity, Relation, WriteResult
from kg.readers.base import Reader, Record
from kg.readers.formats import DELIMITED, EXTENSIONS, FORMATS, RDF
from kg.store.base import GraphStore, PreparedBatch, prepare

T = TypeVar("T")

MAX_REPORTED = 1000



@dataclass(slots=True)
class IngestReport:
    """What an ingest did: records read, what the store created, and what was skipped."""

    path: str
    records: int = 0
    batches: int = 0
    written: WriteResult = field(default_factory=WriteResult)
    malformed: list[MalformedRecord] = field(default_factory=list)
    malformed_count: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "records": self.records,
            "batches": self.batches,
            "nodes_created": self.written.nodes_created,
            "nodes_updated": self.written.nodes_updated,
            "relationships_created": self.written.relationships_created,
            "malformed": self.malformed_count,
            "malformed_examples": [str(m) for m in self.malformed[:20]],
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        rate = self.records / self.seconds if self.seconds else 0.0
        lines = [
            f"{self.path}: {self.records:,} records in {self.seconds:.2f} s ({rate:,.0f}/s), {self.batches} batch(es); "
            f"created {self.written.nodes_created:,} entities and {self.written.relationships_created:,} relations, "
            f"updated {self.written.nodes_updated:,} entities",
        ]
        if self.malformed_count:
            lines.append(f"skipped {self.malformed_count:,} malformed record(s):")
            lines += [f"  {m}" for m in self.malformed[:20]]
            if self.malformed_count > 20:
                lines.append(f"  ... and {self.malformed_count - 20:,} more")
        return "\n".join(lines)


def guess_format(path: Path) -> str:
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is not None:
        return fmt
    raise ReaderError(f"cannot tell the format of {path.name} from its extension; pass --format "
                      f"({', '.join(FORMATS)})")


def make_reader(fmt: str, **options: Any) -> Reader:
    """The reader for ``fmt`` with its options (``delimiter``, ``columns``, ``encoding``, ``source_name``)."""
    if fmt in DELIMITED:
        from kg.readers.delimited import DelimitedReader

        delim = options.pop("delimiter", None) or {"tsv": "\t", "csv": ","}.get(fmt)
        return DelimitedReader(delimiter=delim, **options)
    if fmt in RDF:
        from kg.readers.rdf import RDFReader

        options.pop("delimiter", None)
        options.pop("columns", None)
        options.pop("encoding", None)
        return RDFReader(format=fmt, **options)
    if fmt == "text":
        raise ReaderError("documents (text, Markdown) are ingested with `kgqa ingest --format text PATH` "
                          "or kg.text.ingest.ingest_text, which links their mentions")
    raise ReaderError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def ingest(store: GraphStore, path: str | Path, *, fmt: str | None = None, strict: bool = False,
           batch_size: int | None = None, progress: bool = True, **reader_options: Any) -> IngestReport:
    """Load ``path`` into ``store``; returns an :class:`IngestReport`.

    ``batch_size`` records (default: the store's ``default_batch_size``) are
    validated, then written in one transaction.

    Raises:
        ReaderError: the file cannot be read at all (nothing is written).
        StrictModeAbort: ``strict`` and a malformed record was met.
    """
    path = Path(path)
    if not path.exists():
        raise ReaderError(f"{path} not found; give the path of a file to ingest")
    if path.is_dir():
        raise ReaderError(f"{path} is a folder; give one file (or loop over the files)")
    fmt = fmt or guess_format(path)
    reader = make_reader(fmt, **reader_options)
    batch_size = batch_size or store.default_batch_size
    report = IngestReport(path=str(path))
    start = time.perf_counter()
    bar = _progress(path, progress)
    # Records are freed by reference counting; the cyclic collector only rescans the
    # live batch over and over (it took 60% of the time of prepare()).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        # Reading, parsing and validating run one batch ahead in a thread (prefetch).
        for batch, issues, prepared, error in prefetch(_validated(_batches(reader.read(path), batch_size, report))):
            if issues and strict:
                raise StrictModeAbort(issues[0], report.batches)
            _keep(report, issues)
            if error is not None:
                if strict:
                    raise StrictModeAbort(MalformedRecord(path.name, 0, str(error)), report.batches) from error
                prepared = prepare(_drop_invalid(batch, path.name, report))
            assert prepared is not None
            report.written += store.write(prepared)
            report.batches += 1
            if bar is not None:
                bar.update(len(batch) + len(issues))
    except OSError as exc:  # the file went away, is unreadable, or a disk filled up while reading
        raise ReaderError(f"{path}: cannot read it ({exc.strerror or exc}); check the file and its "
                          "permissions, then re-run (batches already written are kept)") from exc
    finally:
        if gc_was_enabled:
            gc.enable()
        if bar is not None:
            bar.close()
        report.seconds = time.perf_counter() - start
    return report


def _batches(records: Iterator[Record], size: int,
             report: IngestReport) -> Iterable[tuple[Batch, list[MalformedRecord]]]:
    batch = Batch()
    relations, entities = batch.relations.append, batch.entities.append
    issues: list[MalformedRecord] = []
    n = 0
    for rec in records:
        if type(rec) is Relation:
            relations(rec)
        elif isinstance(rec, Entity):
            entities(rec)
        elif isinstance(rec, Relation):
            relations(rec)
        else:
            issues.append(rec)
            continue
        n += 1
        if n >= size:
            report.records += n
            yield batch, issues
            batch, issues, n = Batch(), [], 0
            relations, entities = batch.relations.append, batch.entities.append
    report.records += n
    if n or issues:
        yield batch, issues


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Iterate ``items`` in a background thread, ``depth`` items ahead.

    Reading and parsing the next batch (Python) then overlaps with writing the
    current one (the databases release the GIL while they work). An exception in
    the reader is re-raised here; stopping early stops the thread.
    """
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("done", None))
        except BaseException as exc:
            q.put(("error", exc))

    thread = threading.Thread(target=produce, name="kgqa-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        thread.join(timeout=5)


def _validated(batches: Iterable[tuple[Batch, list[MalformedRecord]]]) -> Iterator[
        tuple[Batch, list[MalformedRecord], PreparedBatch | None, Exception | None]]:
    """Validate each batch before anything of it is written: ``(batch, issues, prepared, error)``."""
    for batch, issues in batches:
        try:
            yield batch, issues, prepare(batch), None
        except (InvalidName, ValueError) as exc:
            yield batch, issues, None, exc


def _keep(report: IngestReport, issues: list[MalformedRecord]) -> None:
    report.malformed_count += len(issues)
    room = MAX_REPORTED - len(report.malformed)
    if room > 0:
        report.malformed.extend(issues[:room])


def _drop_invalid(batch: Batch, fname: str, report: IngestReport) -> Batch:
    """Keep the records of ``batch`` that validate on their own; report the others."""
    kept = Batch()
    for ent in batch.entities:
        if _valid(Batch(entities=[ent]), ent, fname, report):
            kept.entities.append(ent)
    for rel in batch.relations:
        if _valid(Batch(relations=[rel]), rel, fname, report):
            kept.relations.append(rel)
    return kept


def _valid(single: Batch, rec: Entity | Relation, fname: str, report: IngestReport) -> bool:
    try:
        prepare(single)
    except (InvalidName, ValueError) as exc:
        _keep(report, [MalformedRecord(fname, 0, f"{_describe(rec)}: {exc}")])
        return False
    return True


def _describe(rec: Entity | Relation) -> str:
    return f"entity {rec.id!r}" if isinstance(rec, Entity) else f"relation {rec.head!r} -[{rec.type}]-> {rec.tail!r}"


def _progress(path: Path, enabled: bool) -> Any:
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(desc=path.name, unit=" rec", unit_scale=True, file=sys.stderr)
