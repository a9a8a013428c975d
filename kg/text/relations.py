"""Typed relations between the entities of a sentence, from dependency paths.

The relation vocabulary comes from the graph: each relationship type's words
give trigger lemmas (``DIRECTED_BY`` → ``direct``, ``STARRED_ACTORS`` → ``star``,
``RELEASE_YEAR`` → ``release``). Two linked mentions of one sentence are related
by type ``T`` when the dependency path between their head tokens passes through
a trigger of ``T``. The direction comes from the graph when it knows one of the
entities (it already heads, or is the target of, ``T`` relations), else from the
syntax: in a passive clause (*X was directed by Y*) the subject is the head; in
an active one (*Y directed X*, *Y starred in X*) the object is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kg.store.base import GraphStore

_FUNCTION_WORDS = {"by", "has", "have", "is", "in", "of", "the", "a", "an", "to", "on", "at", "for", "with", "actors",
                   "actor", "tags"}


@dataclass(frozen=True, slots=True)
class LinkedSpan:
    """A mention of a sentence already linked to an entity."""

    start: int
    end: int
    text: str
    entity_id: str


@dataclass(frozen=True, slots=True)
class ExtractedRelation:
    """``head -[type]-> tail`` stated by ``sentence`` (character offsets into the document)."""

    head: str
    type: str
    tail: str
    trigger: str
    start: int
    end: int


def trigger_lemmas(relation_types: Sequence[str], lemmatize: Callable[[str], str]) -> dict[str, str]:
    """Trigger lemma → relationship type, from the words of each type (``DIRECTED_BY`` → ``direct``)."""
    triggers: dict[str, str] = {}
    for rel in relation_types:
        for word in rel.lower().split("_"):
            if word in _FUNCTION_WORDS or len(word) < 3 or word.isdigit():
                continue
            triggers.setdefault(lemmatize(word), rel)
    return triggers


class RelationExtractor:
    """Finds typed relations between linked mentions with dependency-path triggers.

    Args:
        store: the graph, for its relation vocabulary and for the direction evidence.
        nlp: a spaCy pipeline with a parser and a lemmatizer.
    """

    def __init__(self, store: GraphStore, nlp: object) -> None:
        self.store = store
        self.nlp = nlp
        types = [t for t in store.relation_types() if t != "MENTIONS"]
        self.triggers = trigger_lemmas(types, self._lemma)
        self._direction_cache: dict[tuple[str, str], str | None] = {}

    def __repr__(self) -> str:
        return f"RelationExtractor(triggers={self.triggers})"

    def _lemma(self, word: str) -> str:
        doc = self.nlp(word)  # type: ignore[operator]
        return str(doc[0].lemma_).lower() if len(doc) else word

    def extract(self, sentence: object, mentions: Sequence[LinkedSpan]) -> list[ExtractedRelation]:
        """Relations stated in ``sentence`` (a spaCy ``Span``) between ``mentions`` inside it."""
        if not self.triggers or len(mentions) < 2:
            return []
        span = sentence
        doc = span.doc  # type: ignore[attr-defined]
        heads = []
        for m in mentions:
            char_span = doc.char_span(m.start, m.end, alignment_mode="expand")
            if char_span is not None:
                heads.append((m, char_span.root))
        found: dict[tuple[str, str, str], ExtractedRelation] = {}
        for i, (m1, r1) in enumerate(heads):
            for m2, r2 in heads[i + 1:]:
                if m1.entity_id == m2.entity_id:
                    continue
                for tok in _path(r1, r2)[1:-1]:
                    rel = self.triggers.get(tok.lemma_.lower())
                    if rel is None:
                        continue
                    direction = self._direction(rel, m1, m2, r1, r2, tok)
                    if direction is None:
                        continue
                    head, tail = direction
                    found.setdefault((head.entity_id, rel, tail.entity_id), ExtractedRelation(
                        head.entity_id, rel, tail.entity_id, tok.lemma_.lower(),
                        span.start_char, span.end_char))  # type: ignore[attr-defined]
                    break
        return list(found.values())

    def _direction(self, rel: str, m1: LinkedSpan, m2: LinkedSpan, r1: Any, r2: Any,
                   trigger: Any) -> tuple[LinkedSpan, LinkedSpan] | None:
        role1, role2 = self._graph_role(m1.entity_id, rel), self._graph_role(m2.entity_id, rel)
        if role1 == "head" or role2 == "tail":
            return m1, m2
        if role2 == "head" or role1 == "tail":
            return m2, m1
        s1, s2 = _syntactic_role(r1, trigger), _syntactic_role(r2, trigger)
        # Passive (X was directed by Y): the subject heads the relation. Active (Y directed X,
        # Y starred in X): the object or prepositional object does.
        order = {"subjpass": 0, "obj": 1, "agent": 2, "subj": 3}
        if s1 in order and s2 in order and s1 != s2:
            return (m1, m2) if order[s1] < order[s2] else (m2, m1)
        return None

    def _graph_role(self, entity_id: str, rel: str) -> str | None:
        key = (entity_id, rel)
        if key not in self._direction_cache:
            role = None
            if self.store.neighbours(entity_id, "out", [rel], limit=1):
                role = "head"
            elif self.store.neighbours(entity_id, "in", [rel], limit=1):
                role = "tail"
            self._direction_cache[key] = role
        return self._direction_cache[key]


def _path(a: Any, b: Any) -> list[Any]:
    """Tokens on the dependency path from ``a`` to ``b`` (both ends included)."""
    up_a = [a, *a.ancestors]
    up_b = [b, *b.ancestors]
    index_b = {t.i: k for k, t in enumerate(up_b)}
    for i, tok in enumerate(up_a):
        if tok.i in index_b:
            return up_a[: i + 1] + list(reversed(up_b[: index_b[tok.i]]))
    return []


def _syntactic_role(token: Any, trigger: Any) -> str | None:
    """How ``token`` hangs off ``trigger``: subject, passive subject, object or agent.

    (spaCy makes a new Token object on each access: tokens are compared by index.)
    """
    tok = token
    while tok.head.i != tok.i and tok.head.i != trigger.i and tok.dep_ in ("pobj", "conj", "appos", "compound", "poss"):
        tok = tok.head
    if tok.head.i != trigger.i:
        if trigger.head.i == token.i and trigger.dep_ in ("acl", "relcl"):
            return "subjpass"  # "Up, directed by Pete Docter": the modified noun heads
        return None
    dep = tok.dep_
    if dep == "nsubjpass":
        return "subjpass"
    if dep == "nsubj":
        return "subj"
    if dep in ("dobj", "attr", "oprd"):
        return "obj"
    if dep == "agent":
        return "agent"
    if dep == "prep":
        return "agent" if tok.lower_ == "by" else "obj"
    return None
