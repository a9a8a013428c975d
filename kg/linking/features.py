"""Features of candidate spans and entities: the inputs of :mod:`kg.linking.disambiguate`.

:class:`Featurizer` holds what the features read — the graph snapshot, the learned
prior, the relation vocabulary's word stems, stop words — and turns the candidate
spans of one text into :class:`Features`: one row per span, one per (span, entity).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from kg.linking.disambiguate import ENTITY_FEATURES, SPAN_FEATURES
from kg.linking.entities import EntityTable
from kg.linking.prior import Prior, SpanEvidence, context_keys
from kg.linking.tokens import Tokens


@dataclass(slots=True)
class SpanCandidates:
    """Tokens ``i:j`` of a text, their folded text ``key``, and the entities they may name.

    ``similarity[k]`` is 1.0 for an exact match of ``entities[k]``, the embedding
    cosine for a fuzzy one (``source`` says which).
    """

    i: int
    j: int
    key: str
    entities: list[int]
    similarity: list[float]
    source: str = "exact"
    contexts: list[str] = field(default_factory=list)

    def overlaps(self, other: SpanCandidates) -> bool:
        return self.i < other.j and other.i < self.j


@dataclass(slots=True)
class Features:
    """Features of the candidates of one text.

    Attributes:
        rows: ``(span index, position in span.entities)`` of each candidate.
        span_of: span index of each row.
        span_x: span features (:data:`~kg.linking.disambiguate.SPAN_FEATURES` but ``fit``).
        entity_x: entity features (:data:`~kg.linking.disambiguate.ENTITY_FEATURES`) of each row.

    Shapes:
        ``span_of``: ``(N,)``; ``span_x``: ``(S, FS - 1)``; ``entity_x``: ``(N, FE)``.
    """

    rows: list[tuple[int, int]]
    span_of: np.ndarray
    span_x: np.ndarray
    entity_x: np.ndarray


def stem(word: str) -> str:
    """A crude stem for matching question words to relation names: ``directed``, ``director`` → ``dire``."""
    word = word[:-1] if len(word) > 3 and word.endswith("s") else word
    return word[:4]


class Featurizer:
    """Computes the span and entity features (:mod:`kg.linking.disambiguate`) of candidate spans.

    Args:
        table: the graph snapshot.
        prior: learned counts (an empty :class:`Prior` when untrained).
        stop_words: folded words that make a span "common" and that never name a relation.
    """

    def __init__(self, table: EntityTable, prior: Prior, stop_words: frozenset[str]) -> None:
        self.table = table
        self.prior = prior
        self.stop_words = stop_words
        self.relation_stems: dict[str, set[str]] = {}
        for role in table.role_names:
            if role.startswith(">"):
                rel = role[1:]
                for word in rel.lower().split("_"):
                    if len(word) > 2 and word not in stop_words:
                        self.relation_stems.setdefault(stem(word), set()).add(rel)

    def evoked_relations(self, keys: Iterable[str]) -> set[str]:
        """Relation types that words of the question name (``directed`` → ``DIRECTED_BY``)."""
        out: set[str] = set()
        for k in keys:
            if len(k) > 2 and k not in self.stop_words:
                rels = self.relation_stems.get(stem(k))
                if rels:
                    out |= rels
        return out

    def is_common(self, tokens: Tokens, i: int, j: int) -> bool:
        return all(k in self.stop_words or k.isdigit() or not k.isalnum() for k in tokens.keys[i:j])

    def featurize(self, tokens: Tokens, spans: Sequence[SpanCandidates],
                  ner_spans: set[tuple[int, int]] | None = None) -> Features:
        """Span and entity features of the candidates of one text (see :class:`Features`)."""
        table, prior = self.table, self.prior
        text = tokens.text
        trained = prior.trained
        rows: list[tuple[int, int]] = []
        span_x: list[list[float]] = []
        entity_x: list[list[float]] = []
        exact_spans = [o for o in spans if o.source == "exact"]
        for s, span in enumerate(spans):
            if trained and not span.contexts:
                span.contexts = context_keys(tokens.keys, span.i, span.j)
            evidence = prior.evidence(span.key, span.contexts) if trained else _NO_EVIDENCE
            start, end = tokens.starts[span.i], tokens.ends[span.j - 1]
            surface = text[start:end]
            common = self.is_common(tokens, span.i, span.j)
            exact = span.source == "exact"
            length = float(span.j - span.i)
            span_x.append([
                evidence.context,
                evidence.keyphrase,
                length if exact else 0.0,
                1.0 if common else 0.0,
                evidence.context if common else 0.0,
                1.0 if span.i > 0 and surface[:1].isupper() else 0.0,
                1.0 if ner_spans and (start, end) in ner_spans else 0.0,
                1.0 - max(span.similarity, default=1.0),
                0.0 if exact else length,
            ])
            evoked = self.evoked_relations(tokens.keys[:span.i] + tokens.keys[span.j:])
            # Agreement is with exact candidates only: fuzzy look-alikes are many and say little.
            others = [o for o in exact_spans if not o.overlaps(span)]
            for k, e in enumerate(span.entities):
                roles = table.roles(e)
                if evoked:
                    relwords = 1.0 if any(r[1:] in evoked for r in roles if r[0] in "<>") else -1.0
                else:
                    relwords = 0.0
                entity_x.append([
                    evidence.role_fit(roles) if trained else 0.0,
                    evidence.role_missing(roles, evoked) if trained and evoked else 0.0,
                    relwords,
                    1.0 if surface == table.names[e] or surface in table.aliases[e] else 0.0,
                    math.log1p(int(table.degree[e])),
                    1.0 - span.similarity[k],
                    1.0 if others and any(table.adjacent(e, e2) for o in others for e2 in o.entities) else 0.0,
                ])
                rows.append((s, k))
        return Features(
            rows,
            np.asarray([s for s, _ in rows], dtype=np.int64),
            np.asarray(span_x, dtype=np.float64).reshape(len(span_x), len(SPAN_FEATURES) - 1),
            np.asarray(entity_x, dtype=np.float64).reshape(len(entity_x), len(ENTITY_FEATURES)),
        )


_NO_EVIDENCE = SpanEvidence(0.0, 0.0, {})
