"""The QA head's ranking: a subgraph's candidate nodes by the fusion model's score, and the answer-set cut-off.

* **Ranking**: every node of the question's subgraph (its topics too), by the fusion model's score
  (softmax probabilities within the subgraph).
* **Cut-off**: answers are the candidates whose probability is at least ``cutoff`` times the top
  one's (always the top one). :func:`fit_cutoff` picks ``cutoff`` on validation to maximise the
  mean answer-set F1 (:func:`qa.eval.metrics.f1`).

The evidence of each answer (the model-weighted paths and their Cypher) is
:func:`qa.answer.evidence.evidence_paths`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.eval.metrics import f1


@dataclass
class HeadConfig:
    """Args:
    cutoff: keep candidates with ``p >= cutoff * p_top`` (fit on validation by :func:`fit_cutoff`).
    max_answers: at most this many answers per question.
    ranked: how many candidates :class:`qa.types.Prediction` lists in ``ranked``.
    paths_per_answer: evidence paths kept per answer.
    beam: partial paths kept per node and step when searching evidence.
    depth_tail: retrieval walks only as deep as the model's step mixture ``π`` needs: the smallest
        depth whose later steps together carry less than this share of ``π`` (read from the question
        and its topic before retrieval); 0: always the model's ``max_hops``.
    topic_floor: a question is about something: when the linker links none of its mentions (each below
        its NIL threshold), the best candidate that matches a mention's text exactly is its topic if
        that mention's probability is at least this (a prior fitted on other phrasings scores a name in
        a new phrasing low: "what movies was Sonja Sohn an actor in" 0.46); 1: no fallback.
    """

    cutoff: float = 0.5
    max_answers: int = 100
    ranked: int = 50
    paths_per_answer: int = 2
    beam: int = 3
    depth_tail: float = 0.001
    topic_floor: float = 0.1


def softmax(scores: np.ndarray) -> np.ndarray:
    s = scores.astype(np.float64)
    e = np.exp(s - s.max())
    return e / e.sum()


def rank(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate local indices best first and their probabilities.

    Every node of the subgraph is a candidate, its topics too: whether a topic may answer is the
    model's to learn (a user's graph may ask "the child of X's father"), not a rule here."""
    if not len(scores):
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    p = softmax(scores)
    order = np.argsort(-p, kind="stable")
    return order, p[order]


def select(probs: np.ndarray, cutoff: float, max_answers: int = 100) -> int:
    """How many of the ranked candidates (probabilities best first) are answers."""
    if not len(probs):
        return 0
    return int(min(max_answers, max(1, int((probs >= cutoff * probs[0]).sum()))))


def fit_cutoff(ranked: Sequence[tuple[Sequence[str], np.ndarray]], golds: Sequence[Sequence[str]],
               grid: Sequence[float] | None = None) -> tuple[float, float]:
    """The cut-off maximising mean F1 over validation questions; returns ``(cutoff, f1)``.

    ``ranked[i]`` is question ``i``'s candidate ids best first with their probabilities."""
    grid = list(grid) if grid is not None else [round(x, 3) for x in np.linspace(0.01, 0.99, 50)]
    best = (0.5, -1.0)
    for c in grid:
        total = 0.0
        for (ids, probs), gold in zip(ranked, golds, strict=True):
            total += f1(ids[: select(probs, c)], gold)
        score = total / max(1, len(golds))
        if score > best[1] + 1e-9:
            best = (float(c), score)
    return best
