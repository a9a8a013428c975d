"""The template-lookup baseline: a question's wording names a relation path; walk it from the topic.

Nothing here learns weights. :meth:`TemplateBaseline.fit` reads training questions and, for each
*template* (the question with its topic replaced by ``NE``: "who directed NE"), searches every
relation path of up to the question's hop count (both edge directions, see :mod:`qa.answer.paths`) from
the topic of some of its questions, and keeps the path whose reached set best matches the gold
answers (highest mean F1; ties: a path as long as the hop count, then shorter, then by name).
:meth:`~TemplateBaseline.predict` finds the question's template (the linker finds the topic when
the brackets are stripped), walks its path from the topic over a :class:`GraphSnapshot`, and
answers with every node reached but the topic, ranked by the number of paths that reach it
(ties by id), each with its evidence paths and their Cypher (:mod:`qa.answer.evidence`). A template
never seen in training gets no answer: the baseline cannot generalise beyond wording it saw.

Usage::

    baseline = TemplateBaseline(snapshot, linker=Linker.from_store(store, cache_dir=...))
    baseline.fit(train)                          # also teaches the linker's prior (brackets needed)
    baseline.save("baseline.json")
    predictions = baseline.predict(questions, strip_brackets=True)
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kg.errors import ConfigError
from qa.answer.evidence import relation_path_evidence
from qa.answer.paths import RelationPath, expand_all, format_path, parse_path, walk
from qa.answer.topic import TopicCandidate, TopicResolver, normalize_template
from qa.data.questions import Question
from qa.eval.metrics import f1_of_counts
from qa.types import Answer, Prediction
from retrieval.snapshot import GraphSnapshot

FORMAT = "kgqa-template-baseline"
VERSION = 1


@dataclass
class BaselineConfig:
    """Settings of :class:`TemplateBaseline`.

    Args:
        max_hops: longest relation path searched for a question whose hop count is unknown.
        questions_per_template: training questions searched per template (a fixed choice by a hash of
            their text; 0: all). MetaQA's templates each name one path, so a few suffice.
        tie_questions: when several paths tie on those, up to this many more of the template's questions
            decide between them (a film's writer is often its director: only some questions tell
            ``WRITTEN_BY`` from ``DIRECTED_BY``).
        min_f1: a template whose best path scores a mean F1 below this gets no entry (no answer).
        evidence_paths: evidence paths per answer (0: none).
        evidence_answers: how many answers (best first) get evidence.
        fit_linker: whether :meth:`TemplateBaseline.fit` also teaches the linker's prior (when there is a linker).
    """

    max_hops: int = 3
    questions_per_template: int = 10
    tie_questions: int = 200
    min_f1: float = 0.0
    evidence_paths: int = 1
    evidence_answers: int = 10
    fit_linker: bool = True

    def __post_init__(self) -> None:
        if self.max_hops < 1:
            raise ConfigError(f"BaselineConfig.max_hops must be at least 1, not {self.max_hops}")
        counts = ("questions_per_template", "tie_questions", "evidence_paths", "evidence_answers")
        if any(getattr(self, name) < 0 for name in counts):
            raise ConfigError(f"BaselineConfig counts ({', '.join(counts)}) must be 0 or more")


@dataclass
class TemplateEntry:
    """What the baseline learned for one template.

    Attributes:
        path: the relation path, e.g. ``"DIRECTED_BY> / <DIRECTED_BY"``.
        f1: its mean answer-set F1 over the template's searched training questions.
        questions: how many training questions were searched.
        hop: the hop count of those questions (``None`` if unknown).
        runner_up: the next best path and its mean F1 (how clear the choice was), if any.
    """

    path: str
    f1: float
    questions: int
    hop: int | None = None
    runner_up: tuple[str, float] | None = None

    @property
    def relation_path(self) -> RelationPath:
        return parse_path(self.path)


@dataclass
class FitSummary:
    """What :meth:`TemplateBaseline.fit` did."""

    questions: int = 0
    templates: int = 0
    searched: int = 0
    no_topic: int = 0
    no_path: list[str] = field(default_factory=list)
    seconds: float = 0.0
    linker_seconds: float = 0.0

    def summary(self) -> str:
        return (f"{self.templates:,} templates from {self.questions:,} questions ({self.searched:,} searched) "
                f"in {self.seconds:.1f} s; {len(self.no_path)} template(s) without a path, "
                f"{self.no_topic} question(s) whose topic is not in the graph"
                + (f"; linker prior in {self.linker_seconds:.1f} s" if self.linker_seconds else ""))


def _stable_order(questions: Sequence[Question]) -> list[Question]:
    return sorted(questions, key=lambda q: hashlib.sha1(q.text.encode("utf-8")).digest())


def _f1(reached: np.ndarray, gold: np.ndarray) -> float:
    """:func:`qa.eval.metrics.f1_of_counts` on node-index arrays (both unique)."""
    return f1_of_counts(len(np.intersect1d(reached, gold, assume_unique=True)), len(reached), len(gold))


class TemplateBaseline:
    """Template → relation path lookup over a graph snapshot (see the module docstring).

    Implements the :class:`qa.types.Answerer` protocol.

    Args:
        snapshot: the graph.
        linker: a :class:`kg.linking.Linker` over the same graph, for questions without brackets.
        config: settings.
    """

    def __init__(self, snapshot: GraphSnapshot, linker: Any | None = None,
                 config: BaselineConfig | None = None) -> None:
        self.snapshot = snapshot
        self.config = config or BaselineConfig()
        self.resolver = TopicResolver(linker)
        self.table: dict[str, TemplateEntry] = {}

    def __repr__(self) -> str:
        return (f"TemplateBaseline(templates={len(self.table):,}, snapshot={self.snapshot!r}, "
                f"linker={'yes' if self.resolver.linker is not None else 'none'})")

    # -- training -------------------------------------------------------------------------------
    def fit(self, questions: Sequence[Question]) -> FitSummary:
        """Learn each template's relation path from bracketed training questions (replaces the table)."""
        start = time.perf_counter()
        summary = FitSummary(questions=len(questions))
        groups: dict[str, list[Question]] = defaultdict(list)
        for q in questions:
            if q.topic is None:
                raise ConfigError(f"{q.source or q.text}: training questions need their topic in [brackets]")
            groups[normalize_template(q.template)].append(q)
        table: dict[str, TemplateEntry] = {}
        for template, group in sorted(groups.items()):
            entry = self._learn(group, summary)
            if entry is None or entry.f1 <= self.config.min_f1:
                summary.no_path.append(template)
            else:
                table[template] = entry
        self.table = table
        summary.templates = len(table)
        summary.seconds = time.perf_counter() - start
        if self.config.fit_linker and self.resolver.linker is not None:
            t = time.perf_counter()
            self.resolver.fit(questions)
            summary.linker_seconds = time.perf_counter() - t
        return summary

    def _learn(self, group: list[Question], summary: FitSummary) -> TemplateEntry | None:
        known = [h for h in (q.hop for q in group) if h is not None]
        hop = max(known) if known else None
        ordered_questions = _stable_order(group)
        n = self.config.questions_per_template or len(ordered_questions)
        totals: dict[RelationPath, float] = defaultdict(float)
        searched = 0
        for t, gold in self._examples(ordered_questions[:n], summary):
            searched += 1
            for path, reached in self._all_paths(t, hop or self.config.max_hops):
                totals[path] += _f1(reached, gold)
        summary.searched += searched
        if not totals:
            return None
        scores = {path: total / searched for path, total in totals.items()}
        best = max(scores.values())
        tied = [path for path, score in scores.items() if score >= best - 1e-9]
        extra = ordered_questions[n:n + self.config.tie_questions]
        if len(tied) > 1 and extra:   # settle the tie on more questions, walking only the tied paths
            more = list(self._examples(extra, summary))
            for path in tied:
                score = sum(_f1(walk(self.snapshot, t, path)[0], gold) for t, gold in more)
                scores[path] = (scores[path] * searched + score) / (searched + len(more))
        target = hop or 0

        def rank(item: tuple[RelationPath, float]) -> tuple[float, bool, int, str]:
            path, score = item
            return (-round(score, 9), len(path) != target, len(path), format_path(path))

        ranked = sorted(scores.items(), key=rank)
        path, score = ranked[0]
        runner = (format_path(ranked[1][0]), round(ranked[1][1], 6)) if len(ranked) > 1 else None
        return TemplateEntry(format_path(path), round(score, 6), searched, hop, runner)

    def _examples(self, questions: Sequence[Question], summary: FitSummary) -> list[tuple[int, np.ndarray]]:
        """(topic node, gold nodes) of the questions whose topic and some answer are in the graph."""
        out = []
        for q in questions:
            t = self.snapshot.index_of.get(q.topic or "")
            if t is None:
                summary.no_topic += 1
                continue
            gold = np.unique([self.snapshot.index_of[a] for a in q.answers if a in self.snapshot.index_of])
            if len(gold):
                out.append((t, gold.astype(np.int64)))
        return out

    def _all_paths(self, t: int, hops: int) -> list[tuple[RelationPath, np.ndarray]]:
        """Every relation path of 1..``hops`` hops from node ``t`` that reaches something, with its reached set."""
        out: list[tuple[RelationPath, np.ndarray]] = []
        frontier: list[tuple[RelationPath, np.ndarray]] = [((), np.asarray([t], dtype=np.int64))]
        for _ in range(hops):
            grown = [((*path, hop), reached) for path, nodes in frontier
                     for hop, reached in expand_all(self.snapshot, nodes, avoid=t).items()]
            out += grown
            frontier = grown
        return out

    # -- answering ------------------------------------------------------------------------------
    def path_for(self, template: str) -> RelationPath | None:
        """The relation path learned for ``template`` (any case or spacing), or ``None`` if unseen."""
        entry = self.table.get(normalize_template(template))
        return entry.relation_path if entry else None

    def question_type(self, question: Question) -> str | None:
        """The relation path of the question's (bracketed) template, as text; ``None`` if unseen."""
        entry = self.table.get(normalize_template(question.template))
        return entry.path if entry else None

    def predict(self, questions: Sequence[Question], *, strip_brackets: bool = False) -> list[Prediction]:
        """One :class:`Prediction` per question (in order); an unseen template gets no answer."""
        start = time.perf_counter()
        candidates = self.resolver.resolve(questions, strip_brackets=strip_brackets)
        out = [self._predict_one(q.plain if strip_brackets else q.text, cands)
               for q, cands in zip(questions, candidates, strict=True)]
        if len(out) == 1:
            out[0].seconds = time.perf_counter() - start
        return out

    def _predict_one(self, text: str, candidates: list[TopicCandidate]) -> Prediction:
        topics = [candidates[0].entity_id] if candidates else []
        for cand in candidates:
            entry = self.table.get(normalize_template(cand.template))
            t = self.snapshot.index_of.get(cand.entity_id)
            if entry is None or t is None:
                continue
            path = entry.relation_path
            nodes, counts = walk(self.snapshot, t, path)
            ids = [self.snapshot.node_ids[i] for i in nodes.tolist()]
            order = sorted(range(len(ids)), key=lambda k: (-counts[k], ids[k]))
            ranked = [(ids[k], float(counts[k])) for k in order]
            with_evidence = [e for e, _ in ranked[:self.config.evidence_answers]]
            evidence = relation_path_evidence(self.snapshot, cand.entity_id, with_evidence, path,
                                              self.config.evidence_paths) if self.config.evidence_paths else {}
            answers = [Answer(e, self.snapshot.names[self.snapshot.index_of[e]], s, evidence.get(e, []))
                       for e, s in ranked]
            return Prediction(text, [cand.entity_id], ranked, answers)
        return Prediction(text, topics, [], [])

    # -- persistence ----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the template table (and the config) as JSON."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        doc = {"format": FORMAT, "version": VERSION, "config": asdict(self.config),
               "graph": {"nodes": self.snapshot.num_nodes, "edges": self.snapshot.num_edges,
                         "relations": self.snapshot.relations},
               "templates": {t: asdict(e) for t, e in sorted(self.table.items())}}
        out.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
        return out

    @classmethod
    def load(cls, path: str | os.PathLike[str], snapshot: GraphSnapshot, linker: Any | None = None) -> TemplateBaseline:
        """A baseline from :meth:`save`'s JSON, over ``snapshot`` (the table holds no node indices)."""
        src = Path(path)
        try:
            doc = json.loads(src.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read a template table from {src} ({exc}); write one with "
                              "TemplateBaseline.save") from exc
        if doc.get("format") != FORMAT or doc.get("version") != VERSION:
            raise ConfigError(f"{src} is not a version-{VERSION} template table; refit and save the baseline")
        missing = sorted({h.relation for e in doc["templates"].values() for h in parse_path(e["path"])}
                         - set(snapshot.relations))
        if missing:
            raise ConfigError(f"{src} uses relations the graph lacks ({', '.join(missing[:5])}); "
                              "load it over the graph it was fitted on")
        baseline = cls(snapshot, linker, BaselineConfig(**doc["config"]))
        for template, e in doc["templates"].items():
            runner = (str(e["runner_up"][0]), float(e["runner_up"][1])) if e.get("runner_up") else None
            baseline.table[template] = TemplateEntry(e["path"], e["f1"], e["questions"], e.get("hop"), runner)
        return baseline
