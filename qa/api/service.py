"""What the endpoints share: the store handle the server owns, the QA model behind its worker thread,
chat sessions and ingest jobs.

The server holds the only write handle of an embedded store (one writer process), so ingestion goes
through ``/ingest``; every use of the handle is serialised (:class:`LockedStore`). The model answers
over an in-memory snapshot of the graph taken at start; after an ingest that changed the graph the
snapshot is reloaded and swapped in (when the model's relation types still match; otherwise the job
says to retrain).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kg.config import StoreConfig
from kg.errors import ConfigError
from kg.store import GraphStore, open_store
from qa.answer.evidence import path_text
from qa.api.errors import ApiError
from qa.api.graphs import evidence_graph
from qa.api.jobs import Jobs
from qa.api.sessions import Sessions
from qa.api.settings import ApiSettings
from qa.api.worker import ModelWorker, Overloaded
from qa.types import Prediction

log = logging.getLogger("kgqa.api")


class LockedStore:
    """A store whose calls run one at a time (an embedded database connection is not shared by threads)."""

    def __init__(self, store: GraphStore) -> None:
        self.raw = store
        self.lock = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.raw, name)
        if not callable(attr):
            return attr

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                return attr(*args, **kwargs)

        return locked


class Service:
    """The server's state (see the module docstring); built by :func:`qa.api.app.create_app`."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self.answerer = settings.answerer
        self.model_note = ""
        if self.answerer is None:
            self.answerer = self._load_answerer()
        elif not hasattr(self.answerer, "on_entities"):   # a path answerer given: every question kind, too
            from qa.kinds.answer import KindAnswerer

            self.answerer = KindAnswerer(self.answerer)
        if self.answerer is not None:
            _ = self.answerer.linker                      # build (or read) the linker index before serving
        self.resolver = settings.resolver
        self.resolver_note = ""
        if self.resolver is None and self.answerer is not None and settings.model_dir is not None:
            self.resolver = self._load_resolver()
        self.store_config = settings.store or (self.answerer.graph.store if self.answerer is not None
                                               else StoreConfig.load(None))
        self.store = LockedStore(open_store(self.store_config, read_only=settings.read_only))
        self.generator_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kgqa-reply")
        self.worker = ModelWorker(self.answerer, settings.queue_size, settings.max_batch, settings.batch_wait_s)
        self.sessions = Sessions(settings.max_sessions, settings.session_ttl_s)
        self._tmp = None
        folder = settings.upload_dir
        if folder is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="kgqa-uploads-")
            folder = Path(self._tmp.name)
        self.jobs = Jobs(self.store, folder, self.refresh if settings.refresh_after_ingest else None,
                         cache_dir=self._linker_cache())

    def close(self) -> None:
        self.jobs.close()
        self.generator_pool.shutdown(wait=False, cancel_futures=True)
        self.worker.close()
        self.store.raw.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    # -- the model -------------------------------------------------------------------------------
    def _load_answerer(self) -> Any:
        model_dir = self.settings.model_dir
        if model_dir is None or not (model_dir / "model.safetensors").is_file():
            self.model_note = (f"no QA model at {model_dir}: " if model_dir else "no QA model given: ") + \
                "train one with kgqa train, then start kgqa serve --model DIR"
            log.warning(self.model_note)
            return None
        from qa.answer.answerer import load_answerer
        from qa.kinds.answer import KindAnswerer

        answerer = KindAnswerer(load_answerer(model_dir, store=self.settings.store))   # paths, counts, yes/no...
        for note in answerer.notes:
            log.warning(note)
        self.model_note = "; ".join(answerer.notes) or self.model_note
        return answerer

    def _load_resolver(self) -> Any:
        from qa.chat.conversation import resolver_for as load_resolver

        assert self.settings.model_dir is not None
        try:
            return load_resolver(self.answerer, self.settings.model_dir)
        except Exception as exc:  # click's exception or a missing file: chat says why, the rest works
            self.resolver_note = f"chat is unavailable: no reference resolver ({exc})"
            log.warning(self.resolver_note)
            return None

    def _linker_cache(self) -> Path:
        from kg.linking import cache_dir_for

        return cache_dir_for(self.store_config)

    def require_model(self) -> Any:
        if self.answerer is None:
            raise ApiError(503, "no_model", self.model_note or "no QA model is loaded",
                           "start kgqa serve with --model DIR (a folder kgqa train wrote)")
        return self.answerer

    def require_chat(self) -> Any:
        self.require_model()
        if self.resolver is None:
            raise ApiError(503, "no_resolver", self.resolver_note or "chat needs the model's reference resolver",
                           "fit one with kgqa chat --model DIR once, or bench/dialogue.py")
        return self.resolver

    def refresh(self) -> dict[str, Any]:
        """Reload the model's graph snapshot from the store and answer with it (after an ingest)."""
        if self.settings.model_dir is None or self.answerer is None:
            return {"done": False, "message": "no QA model is loaded; the graph changed, the answers did not"}
        from qa.answer.answerer import load_answerer
        from qa.kinds.answer import KindAnswerer

        try:
            with self.store.lock:  # no write while the snapshot is read
                new = KindAnswerer(load_answerer(self.settings.model_dir, store=self.store_config))
            _ = new.linker
        except ConfigError as exc:
            return {"done": False, "message": f"the model still answers over the graph as it was: {exc}; "
                                              "retrain it (kgqa train) to answer over the new data"}
        self.answerer = new
        self.worker.swap(new)
        snap = new.graph.snapshot
        self.model_note = "; ".join(new.notes)
        return {"done": True, "message": f"the model now answers over {snap.num_nodes:,} entities "
                                         f"and {len(snap.src):,} relations"
                                         + "".join(f"; note: {n}" for n in new.notes)}

    def name(self, entity_id: str) -> str:
        if self.answerer is None:
            return entity_id
        snap = self.answerer.graph.snapshot
        i = snap.index_of.get(entity_id)
        return snap.names[i] if i is not None else entity_id

    async def wait(self, future: Future[Any], timeout_s: float | None = None) -> Any:
        """The result of work queued on the model thread, or a 504 after the timeout."""
        timeout = timeout_s or self.settings.ask_timeout_s
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            raise ApiError(504, "timeout", f"no answer within {timeout:g} s (the server is busy or the question is "
                                           "expensive)", "retry later, or ask a narrower question") from None

    def submit(self, fn: Any) -> Future[Any]:
        try:
            return fn()
        except Overloaded:
            raise ApiError(503, "overloaded", f"{self.worker.queued} questions are waiting for the model; "
                           "this one was not queued", "retry in a moment", {"Retry-After": "1"}) from None

    # -- JSON forms ------------------------------------------------------------------------------
    def prediction_json(self, pred: Prediction, answers: int = 10, paths: int = 2) -> dict[str, Any]:
        topics = [{"id": t, "name": self.name(t)} for t in pred.topics]
        out_answers = []
        for a in pred.answers[:answers]:
            evidence = []
            for ev in a.evidence[:paths]:
                start = next((t for t in pred.topics if ev.steps and t in (ev.steps[0].head, ev.steps[0].tail)),
                             pred.topics[0] if pred.topics else "")
                evidence.append({"score": round(ev.score, 4), "text": self.path_text(ev.steps, start),
                                 "steps": [{"head": s.head, "relation": s.relation, "tail": s.tail}
                                           for s in ev.steps],
                                 "cypher": ev.cypher, "params": ev.params})
            out_answers.append({"id": a.entity_id, "name": a.name, "score": round(a.score, 4), "evidence": evidence})
        note = ""
        if pred.note:
            note = f"kgqa cannot answer this from the graph: {pred.note}"
        elif not pred.topics and pred.kind == "path":
            note = "no entity of the graph found in the question: put the topic in [brackets] or check its spelling"
        elif not pred.answers and pred.kind not in ("yes/no", "count"):
            note = "the graph holds no answer: no candidate within reach of the topic"
        composed = {"kind": pred.kind, "value": pred.value, "reading": pred.reading, "cypher": pred.cypher,
                    "params": pred.params}
        return {"question": pred.question, **composed, "topics": topics, "answers": out_answers,
                "more_answers": max(0, len(pred.answers) - answers),
                "ranked": [{"id": e, "name": self.name(e), "score": round(s, 4)} for e, s in pred.ranked[:10]],
                "seconds": pred.seconds, "note": note, "graph": evidence_graph(pred, self.name, answers, paths)}

    def path_text(self, steps: list[Any], start: str) -> str:
        return path_text(steps, start, self.name)
