"""Typed values that leave the QA stage: a prediction, its answers, and the evidence of each.

Every answerer (the learned KG-fused model, the template baseline) returns a
:class:`Prediction` per question; the evaluation harness, the CLI (``kgqa ask``) and
the HTTP API only read these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from qa.data.questions import Question


@dataclass(frozen=True)
class Step:
    """One stored triple walked by a path: ``head -[relation]-> tail`` (stored direction)."""

    head: str
    relation: str
    tail: str


@dataclass
class Evidence:
    """A path from a topic entity to an answer, what it contributed, and the Cypher that shows it.

    Attributes:
        steps: the triples walked, from the topic to the answer.
        score: the path's contribution to the answer's score (model- or baseline-specific, higher = more).
        cypher: a read-only query that returns this path from the store; run it with ``params``.
        params: the query's parameters (entity ids).
    """

    steps: list[Step]
    score: float
    cypher: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Answer:
    entity_id: str
    name: str
    score: float
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class Prediction:
    """What an answerer says about one question.

    Attributes:
        question: the question text as asked.
        topics: the topic entity ids used (linked, or the brackets when given).
        ranked: every candidate with its score, best first (for Hits@k and MRR).
        answers: the candidates above the answerer's cut-off, with evidence.
        seconds: time spent on this question (end to end), when measured one at a time.
        kind: what the question asks (:mod:`qa.kinds`): ``path`` (the answers of a relation path), ``count``,
            ``yes/no``, ``filter``, ``comparison`` or ``superlative``.
        value: the answer when it is not a list of entities: the number (``count``), ``True``/``False``
            (``yes/no``), the largest or smallest value (``superlative``).
        cypher, params: for a composed answer, the read-only query that returns exactly it on either store.
        reading: the composition in words (path, constraints, operation); note: why there is no answer.
        memory: the fused KG memory of this question, when the answerer keeps it: ``{entity id:
            float32 node state}`` for the topics, the answers and every entity on their evidence
            paths (what the dialogue head attends to). Not part of :meth:`to_dict`.
    """

    question: str
    topics: list[str]
    ranked: list[tuple[str, float]]
    answers: list[Answer]
    seconds: float | None = None
    memory: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    kind: str = "path"
    value: Any = None
    cypher: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    reading: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("memory", None)
        return d


class Answerer(Protocol):
    """Anything that answers questions: one required method."""

    def predict(self, questions: Sequence[Question], *, strip_brackets: bool = False) -> list[Prediction]:
        """Predictions in the order of ``questions``; with ``strip_brackets`` the topic must be linked."""
        ...
