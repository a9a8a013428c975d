"""The evaluation harness every answerer goes through: Hits@k, MRR and answer-set F1, per hop and type.

:func:`evaluate` asks an :class:`~qa.types.Answerer` for its predictions on questions with gold
answers and scores each one:

* **Hits@k** — the first gold answer is among the first ``k`` distinct candidates of
  ``Prediction.ranked``; **MRR** — the mean of ``1 / rank`` of that first gold answer (0 when no
  gold answer is ranked);
* **precision / recall / F1** of the answer set ``Prediction.answers`` against the gold set
  (an empty prediction scores 0 on all three: a miss, not an abstention);
* **topic** — the share of questions whose bracketed topic is among ``Prediction.topics``
  (with ``strip_brackets`` this is the linker's accuracy as the answerer used it).

Scores are macro-averaged over questions, overall, per hop and per question type (by default the
template, "who directed NE"; pass ``question_type`` to group by the relation path, e.g.
:meth:`qa.answer.baseline.TemplateBaseline.question_type`). Nothing is special-cased: an answerer that
ranks the topic entity itself, or ids the graph lacks, simply misses. Given the graph's ids
(``entities``), the report also counts gold answers outside the graph, which no answerer can find.
Timing: wall-clock seconds of the batched predictions (questions/s), and, when
``latency_sample`` is set, the latency of that many questions asked one at a time.

:func:`compare` runs several answerers on the same questions, for ablation tables.

Usage::

    report = evaluate(baseline, val, strip_brackets=True, latency_sample=200)
    print(report.table())                   # markdown, one row per hop and overall
    json.dump(report.to_json(), f)
    print(compare({"baseline": baseline, "model": model}, val).table())
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qa.data.questions import Question
from qa.eval.metrics import first_gold_rank, hits_at, precision_recall_f1, reciprocal_rank
from qa.types import Answerer, Prediction

TypeOf = Callable[[Question], str | None] | Mapping[str, str]
OTHER = "other"


@dataclass
class QuestionResult:
    """How one prediction scored.

    Attributes:
        rank: 1-based rank of the first gold answer among the distinct ranked candidates (``None``: not ranked).
        empty: the prediction had no candidate at all.
        topic_ok: the bracketed topic is among the prediction's topics (``None`` when the question has none).
        gold_outside: gold answers that are not in the graph (0 when the graph was not given).
    """

    source: str
    question: str
    hop: int | None
    type: str
    rank: int | None
    precision: float
    recall: float
    f1: float
    empty: bool
    topic_ok: bool | None
    gold_outside: int = 0
    predicted: list[str] = field(default_factory=list)

    def hits(self, k: int) -> bool:
        return hits_at(self.rank, k)


@dataclass
class Metrics:
    """Averages over a group of questions (fractions in [0, 1])."""

    questions: int
    hits: dict[int, float]
    mrr: float
    precision: float
    recall: float
    f1: float
    empty: int
    topic: float | None
    gold_outside: int

    @classmethod
    def of(cls, results: Sequence[QuestionResult], ks: Sequence[int]) -> Metrics:
        n = len(results)
        if n == 0:
            return cls(0, {k: 0.0 for k in ks}, 0.0, 0.0, 0.0, 0.0, 0, None, 0)
        topics = [r.topic_ok for r in results if r.topic_ok is not None]
        return cls(n, {k: sum(r.hits(k) for r in results) / n for k in ks},
                   sum(reciprocal_rank(r.rank) for r in results) / n,
                   sum(r.precision for r in results) / n, sum(r.recall for r in results) / n,
                   sum(r.f1 for r in results) / n, sum(r.empty for r in results),
                   sum(topics) / len(topics) if topics else None,
                   sum(r.gold_outside > 0 for r in results))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"questions": self.questions}
        out.update({f"hits@{k}": round(v, 4) for k, v in self.hits.items()})
        out.update({"mrr": round(self.mrr, 4), "precision": round(self.precision, 4),
                    "recall": round(self.recall, 4), "f1": round(self.f1, 4), "empty": self.empty,
                    "topic": None if self.topic is None else round(self.topic, 4),
                    "gold_outside_graph": self.gold_outside})
        return out


def score(question: Question, prediction: Prediction, entities: Collection[str] | None = None,
          question_type: str = OTHER) -> QuestionResult:
    """Score one prediction against the question's gold answers (see the module docstring)."""
    gold = set(question.answers)
    rank = first_gold_rank((entity_id for entity_id, _ in prediction.ranked), gold)
    predicted = list(dict.fromkeys(a.entity_id for a in prediction.answers))
    precision, recall, f1 = precision_recall_f1(predicted, gold)
    topic_ok = None if question.topic is None else question.topic in prediction.topics
    outside = sum(a not in entities for a in gold) if entities is not None else 0
    return QuestionResult(question.source, question.text, question.hop, question_type, rank, precision, recall, f1,
                          not prediction.ranked and not prediction.answers, topic_ok, outside, predicted)


@dataclass
class EvalReport:
    """Scores of one answerer on one question set.

    Attributes:
        name: the answerer's name in tables.
        strip_brackets: whether the topic had to be linked.
        ks: the k of Hits@k.
        overall, by_hop, by_type: :class:`Metrics` of all questions, per hop (``"?"``: unknown), per type.
        seconds: wall-clock seconds of all the batched predictions.
        latency_ms: ``{"p50", "p90", "mean", "n"}`` of questions asked one at a time, when measured.
        results: every question's :class:`QuestionResult`.
    """

    name: str
    strip_brackets: bool
    ks: tuple[int, ...]
    overall: Metrics
    by_hop: dict[str, Metrics]
    by_type: dict[str, Metrics]
    seconds: float
    latency_ms: dict[str, float] | None
    results: list[QuestionResult]

    @property
    def questions_per_second(self) -> float:
        return self.overall.questions / self.seconds if self.seconds > 0 else float("inf")

    def table(self, by: str = "hop") -> str:
        """A markdown table, one row per hop (``by="hop"``) or per question type (``by="type"``), then all."""
        groups = self.by_hop if by == "hop" else self.by_type
        head = ["hop" if by == "hop" else "type", "questions", *(f"Hits@{k}" for k in self.ks), "MRR",
                "P", "R", "F1", "empty", "topic"]
        rows = [[key, *_cells(m)] for key, m in sorted(groups.items())] + [["all", *_cells(self.overall)]]
        lines = [markdown(head, rows)]
        lat = f"; one at a time p50 {self.latency_ms['p50']:.2f} ms" if self.latency_ms else ""
        lines.append(f"\n{self.name} ({'brackets stripped' if self.strip_brackets else 'brackets given'}): "
                     f"{self.overall.questions:,} questions in {self.seconds:.2f} s "
                     f"({self.questions_per_second:,.0f}/s batched){lat}")
        return "\n".join(lines)

    def to_json(self, per_question: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "strip_brackets": self.strip_brackets, "overall": self.overall.to_json(),
            "by_hop": {k: m.to_json() for k, m in sorted(self.by_hop.items())},
            "by_type": {k: m.to_json() for k, m in sorted(self.by_type.items())},
            "seconds": round(self.seconds, 4), "questions_per_second": round(self.questions_per_second, 1),
            "latency_ms": self.latency_ms}
        if per_question:
            out["questions"] = [{"source": r.source, "question": r.question, "type": r.type, "rank": r.rank,
                                 "f1": round(r.f1, 4), "empty": r.empty, "topic_ok": r.topic_ok,
                                 "predicted": r.predicted[:10]} for r in self.results]
        return out


def _cells(m: Metrics) -> list[str]:
    topic = "" if m.topic is None else f"{100 * m.topic:.1f}"
    return [f"{m.questions:,}", *(f"{100 * v:.1f}" for v in m.hits.values()), f"{m.mrr:.3f}",
            f"{100 * m.precision:.1f}", f"{100 * m.recall:.1f}", f"{100 * m.f1:.1f}", f"{m.empty:,}", topic]


def markdown(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table (first column left-aligned, the others right-aligned)."""
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join([":---", *["---:"] * (len(head) - 1)]) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _type_function(question_type: TypeOf | None) -> Callable[[Question], str]:
    if question_type is None:
        return lambda q: q.template
    if isinstance(question_type, Mapping):
        table = question_type
        return lambda q: table.get(q.template) or OTHER
    fn = question_type
    return lambda q: fn(q) or OTHER


def evaluate(answerer: Answerer, questions: Sequence[Question], *, strip_brackets: bool = False,
             question_type: TypeOf | None = None, entities: Collection[str] | None = None,
             ks: Sequence[int] = (1, 5), batch_size: int = 0, latency_sample: int = 0,
             name: str | None = None) -> EvalReport:
    """Score ``answerer`` on ``questions`` (see the module docstring).

    Args:
        answerer: anything with ``predict(questions, *, strip_brackets)``.
        questions: questions with their gold answers.
        strip_brackets: ask the questions without their ``[brackets]`` (the answerer links the topic).
        question_type: a question's type for the per-type table: a function (``None`` → "other") or a
            mapping template → type; default: the template.
        entities: the graph's entity ids, to count gold answers outside the graph.
        ks: the k of Hits@k.
        batch_size: questions per ``predict`` call (0: all in one call).
        latency_sample: also time this many questions asked one at a time (spread over the set).
        name: the answerer's name in tables (default: its class name).
    """
    if not questions:
        raise ValueError("evaluate needs at least one question")
    step = batch_size if batch_size > 0 else len(questions)
    predictions: list[Prediction] = []
    start = time.perf_counter()
    for i in range(0, len(questions), step):
        chunk = questions[i:i + step]
        got = answerer.predict(chunk, strip_brackets=strip_brackets)
        if len(got) != len(chunk):
            raise ValueError(f"{type(answerer).__name__}.predict returned {len(got)} predictions "
                             f"for {len(chunk)} questions")
        predictions.extend(got)
    seconds = time.perf_counter() - start
    latency_ms = latency(answerer, questions, latency_sample, strip_brackets) if latency_sample > 0 else None
    type_of = _type_function(question_type)
    results = [score(q, p, entities, type_of(q)) for q, p in zip(questions, predictions, strict=True)]
    by_hop: dict[str, list[QuestionResult]] = defaultdict(list)
    by_type: dict[str, list[QuestionResult]] = defaultdict(list)
    for r in results:
        by_hop["?" if r.hop is None else f"{r.hop}-hop"].append(r)
        by_type[r.type].append(r)
    kt = tuple(ks)
    return EvalReport(name or type(answerer).__name__, strip_brackets, kt, Metrics.of(results, kt),
                      {h: Metrics.of(rs, kt) for h, rs in by_hop.items()},
                      {t: Metrics.of(rs, kt) for t, rs in by_type.items()}, seconds, latency_ms, results)


def latency(answerer: Answerer, questions: Sequence[Question], n: int, strip_brackets: bool) -> dict[str, float]:
    """Milliseconds per question asked alone, over ``n`` questions spread evenly over the set."""
    picks = sorted({int(i) for i in np.linspace(0, len(questions) - 1, num=min(n, len(questions)))})
    times = []
    for i in picks:
        start = time.perf_counter()
        answerer.predict([questions[i]], strip_brackets=strip_brackets)
        times.append(1000 * (time.perf_counter() - start))
    arr = np.asarray(times)
    return {"p50": round(float(np.percentile(arr, 50)), 3), "p90": round(float(np.percentile(arr, 90)), 3),
            "mean": round(float(arr.mean()), 3), "n": len(times)}


@dataclass
class Comparison:
    """Several answerers' reports on the same questions."""

    reports: dict[str, EvalReport]

    def table(self, k: int | None = None) -> str:
        """A markdown table, one row per answerer: overall Hits@k (all ks, or only ``k``), MRR, F1, Hits@1 per
        hop, questions/s and one-at-a-time p50."""
        any_report = next(iter(self.reports.values()))
        ks = [k] if k is not None else list(any_report.ks)
        hops = sorted({h for r in self.reports.values() for h in r.by_hop})
        first = any_report.ks[0]
        head = ["answerer", "questions", *(f"Hits@{x}" for x in ks), "MRR", "F1",
                *(f"Hits@{first} {h}" for h in hops), "q/s", "p50 ms"]
        rows = []
        for name, r in self.reports.items():
            m = r.overall
            rows.append([name, f"{m.questions:,}", *(f"{100 * m.hits[x]:.1f}" for x in ks), f"{m.mrr:.3f}",
                         f"{100 * m.f1:.1f}",
                         *(f"{100 * r.by_hop[h].hits[first]:.1f}" if h in r.by_hop else "" for h in hops),
                         f"{r.questions_per_second:,.0f}", f"{r.latency_ms['p50']:.2f}" if r.latency_ms else ""])
        return markdown(head, rows)

    def to_json(self) -> dict[str, Any]:
        return {name: r.to_json() for name, r in self.reports.items()}


def compare(answerers: Mapping[str, Answerer], questions: Sequence[Question], *, strip_brackets: bool = False,
            **options: Any) -> Comparison:
    """:func:`evaluate` each answerer (name → answerer) on the same questions; ``options`` as for evaluate."""
    return Comparison({name: evaluate(a, questions, strip_brackets=strip_brackets, name=name, **options)
                       for name, a in answerers.items()})
