"""What every answerer does first: find a question's topic entity and the wording around it.

With the MetaQA ``[brackets]`` the topic is given; without them (``strip_brackets=True``, what a
user types) the entity linker (:mod:`kg.linking`) finds it. Either way the result is a list of
:class:`TopicCandidate` per question, best first, each with its span and the question's
*template*, the question with that span replaced by ``NE`` ("who directed NE"), which is the
key of the template baseline and the wording a learned model sees with the entity masked.

Usage::

    resolver = TopicResolver(Linker.from_store(store, cache_dir=...))
    resolver.fit(train_questions)                     # teach the linker's prior (brackets needed)
    [cands] = resolver.resolve([question], strip_brackets=True)
    cands[0].entity_id, cands[0].template              # 'Black Snake Moan', 'who directed NE'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kg.errors import ConfigError
from qa.data.questions import Question

MASK = "NE"
_SPACES = re.compile(r"\s+")


def normalize_template(template: str) -> str:
    """A template as a lookup key: lower case, single spaces, no trailing ``?`` or ``.``."""
    return _SPACES.sub(" ", template.strip().lower()).rstrip(" ?.!")


@dataclass(frozen=True)
class TopicCandidate:
    """A possible topic entity of a question.

    Attributes:
        entity_id: the entity.
        start, end: its span in ``text``.
        text: the question as the resolver read it (with brackets when they were used, else plain).
        score: the linker's confidence (1.0 for a bracketed topic).
        linked: whether the linker chose it (``False``: the best candidate of a mention the linker left unlinked).
    """

    entity_id: str
    start: int
    end: int
    text: str
    score: float = 1.0
    linked: bool = True

    @property
    def template(self) -> str:
        """The question with the span replaced by ``NE`` (brackets and all, when bracketed)."""
        return self.text[:self.start] + MASK + self.text[self.end:]


class TopicResolver:
    """Topic candidates of questions: the brackets, or the linker's mentions (best first).

    Args:
        linker: a :class:`kg.linking.Linker` over the graph; needed only for ``strip_brackets=True``.
        fallback: also offer the best candidate of each mention the linker left unlinked (NIL), after
            the linked ones.
    """

    def __init__(self, linker: Any | None = None, fallback: bool = True) -> None:
        self.linker = linker
        self.fallback = fallback

    def __repr__(self) -> str:
        return f"TopicResolver(linker={'yes' if self.linker is not None else 'none'}, fallback={self.fallback})"

    def fit(self, questions: Sequence[Question]) -> Any:
        """Teach the linker's prior from bracketed questions; returns its :class:`~kg.linking.FitReport`
        (``None`` without a linker)."""
        if self.linker is None:
            return None
        from kg.linking.questions import parse_question

        marked = [parse_question(q.text, q.source) for q in questions if q.topic is not None]
        return self.linker.fit(marked) if marked else None

    def resolve(self, questions: Sequence[Question], *, strip_brackets: bool) -> list[list[TopicCandidate]]:
        """Candidates per question, best first; an empty list when no topic is found."""
        if not strip_brackets:
            return [self._bracketed(q) for q in questions]
        if self.linker is None:
            raise ConfigError("questions without brackets need an entity linker to find their topic; "
                              "pass linker=Linker.from_store(store, cache_dir=...)")
        texts = [q.plain for q in questions]
        results = self.linker.link_batch(texts) if texts else []
        return [self._linked(text, result) for text, result in zip(texts, results, strict=True)]

    @staticmethod
    def _bracketed(q: Question) -> list[TopicCandidate]:
        if q.topic is None:
            return []
        start = q.text.index(f"[{q.topic}]")
        return [TopicCandidate(q.topic, start, start + len(q.topic) + 2, q.text)]

    def _linked(self, text: str, result: Any) -> list[TopicCandidate]:
        linked = sorted((m for m in result.mentions if m.entity_id is not None), key=lambda m: -m.score)
        out = [TopicCandidate(m.entity_id, m.start, m.end, text, float(m.score)) for m in linked]
        if self.fallback:
            nil = sorted((m for m in result.mentions if m.entity_id is None and m.candidates),
                         key=lambda m: -m.candidates[0].score)
            out += [TopicCandidate(m.candidates[0].entity_id, m.start, m.end, text,
                                   float(m.candidates[0].score), linked=False) for m in nil]
        return out
