"""The one thread that runs the QA model, with micro-batching of concurrent questions.

Requests do not call the model themselves: they put a question (or a job, such as a chat turn) on a
bounded queue and wait for its future. The worker takes the first waiting question, then every
question that arrives within ``batch_wait_s`` (up to ``max_batch``), and answers them in one
``predict`` call: on the CPU a batch of 32 costs little more than a few single questions, so
concurrent clients share the work instead of queueing behind each other. Jobs run alone, in order.

A full queue refuses new work at once (:class:`Overloaded`, a 503 for the client) rather than letting
latency grow without bound; a request that stops waiting (timeout) cancels its future, and the worker
skips cancelled work.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from qa.data.questions import Question

log = logging.getLogger("kgqa.api")


class Overloaded(Exception):
    """The queue is full."""


@dataclass
class _Ask:
    question: Question
    strip_brackets: bool
    future: Future[Any] = field(default_factory=Future)


@dataclass
class _Job:
    fn: Callable[[], Any]
    future: Future[Any] = field(default_factory=Future)


_STOP = object()


class ModelWorker:
    """Runs ``answerer.predict`` and model jobs on one thread (see the module docstring).

    Args:
        answerer: anything with ``predict(questions, strip_brackets=...)``; replace it with :meth:`swap`.
        queue_size: waiting items before :meth:`ask` / :meth:`run` raise :class:`Overloaded`.
        max_batch: questions per ``predict`` call at most; batch_wait_s: how long the first question of
            a batch waits for company.
    """

    def __init__(self, answerer: Any, queue_size: int = 256, max_batch: int = 32, batch_wait_s: float = 0.005) -> None:
        self.answerer = answerer
        self.max_batch, self.batch_wait_s = max_batch, batch_wait_s
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._held: Any = None
        self._thread = threading.Thread(target=self._loop, name="kgqa-model", daemon=True)
        self.batches = 0
        self.questions = 0
        self._thread.start()

    def __repr__(self) -> str:
        return (f"ModelWorker(max_batch={self.max_batch}, queued={self._queue.qsize()}, batches={self.batches}, "
                f"questions={self.questions})")

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def ask(self, question: Question, strip_brackets: bool = False) -> Future[Any]:
        """A future of the question's :class:`qa.types.Prediction`."""
        return self._put(_Ask(question, strip_brackets))

    def run(self, fn: Callable[[], Any]) -> Future[Any]:
        """A future of ``fn()``, run on the model thread (nothing else uses the model meanwhile)."""
        return self._put(_Job(fn))

    def swap(self, answerer: Any) -> None:
        """Answer with ``answerer`` from the next batch on (after a graph refresh)."""
        self.answerer = answerer

    def close(self) -> None:
        try:
            self._queue.put(_STOP, timeout=1)
        except queue.Full:
            pass
        self._thread.join(timeout=10)

    def _put(self, item: _Ask | _Job) -> Future[Any]:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            raise Overloaded(self._queue.maxsize) from None
        return item.future

    def _next(self, timeout: float | None = None) -> Any:
        if self._held is not None:
            item, self._held = self._held, None
            return item
        return self._queue.get(timeout=timeout)

    def _loop(self) -> None:
        while True:
            item = self._next()
            if item is _STOP:
                return
            if isinstance(item, _Job):
                self._run_job(item)
                continue
            batch = [item]
            deadline = time.perf_counter() + self.batch_wait_s
            while len(batch) < self.max_batch:
                try:
                    nxt = self._next(timeout=max(0.0, deadline - time.perf_counter()))
                except queue.Empty:
                    break
                if not isinstance(nxt, _Ask):
                    self._held = nxt          # a job or the stop: after this batch
                    break
                batch.append(nxt)
            self._answer(batch)

    def _run_job(self, job: _Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        try:
            job.future.set_result(job.fn())
        except BaseException as exc:
            job.future.set_exception(exc)

    def _answer(self, batch: list[_Ask]) -> None:
        live = [a for a in batch if a.future.set_running_or_notify_cancel()]
        groups: dict[bool, list[_Ask]] = {}
        for a in live:
            groups.setdefault(a.strip_brackets, []).append(a)
        for strip, asks in groups.items():
            try:
                preds = self.answerer.predict([a.question for a in asks], strip_brackets=strip)
            except BaseException as exc:
                log.exception("predict failed on a batch of %d", len(asks))
                for a in asks:
                    a.future.set_exception(exc)
                continue
            self.batches += 1
            self.questions += len(asks)
            for a, p in zip(asks, preds, strict=True):
                a.future.set_result(p)
