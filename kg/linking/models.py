"""Typed values the linker returns: candidates, mentions, and the result for one text."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Source = Literal["exact", "fuzzy"]


@dataclass(slots=True)
class Candidate:
    """An entity a mention may name.

    Attributes:
        entity_id: id of the entity in the graph.
        name: its display name.
        score: probability that the mention names it (0..1, see :mod:`kg.linking.disambiguate`).
        source: ``"exact"`` (the text is its name or alias, folded) or ``"fuzzy"`` (nearest name).
        similarity: how alike the mention and the name are (1.0 when exact; for a fuzzy candidate
            the larger of the embedding cosine and the edit ratio of the folded strings).
    """

    entity_id: str
    name: str
    score: float
    source: Source = "exact"
    similarity: float = 1.0


@dataclass(slots=True)
class Mention:
    """A stretch of text that may name an entity, and the linker's choice.

    Attributes:
        start, end: character span in the text.
        text: ``text[start:end]``.
        label: spaCy NER label of the span when NER ran and agrees on the span, else ``None``.
        candidates: best first.
        entity_id: the chosen entity, or ``None`` (NIL) when no candidate is likely enough.
        score: the best candidate's score.
    """

    start: int
    end: int
    text: str
    label: str | None
    candidates: list[Candidate] = field(default_factory=list)
    entity_id: str | None = None
    score: float = 0.0

    @property
    def nil(self) -> bool:
        return self.entity_id is None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class LinkResult:
    """The mentions of one text.

    Attributes:
        text: the text linked.
        mentions: non-overlapping mentions in text order, NIL ones included.
        ranked: every candidate of the text (overlapping spans too), best first, one per entity.
        fuzzy: whether fuzzy (embedding) candidates were searched.
        ner: whether spaCy NER ran on the text.
    """

    text: str
    mentions: list[Mention] = field(default_factory=list)
    ranked: list[Candidate] = field(default_factory=list)
    fuzzy: bool = False
    ner: bool = False

    @property
    def topic(self) -> Mention | None:
        """The linked mention with the highest score: a question's topic entity."""
        linked = [m for m in self.mentions if m.entity_id is not None]
        return max(linked, key=lambda m: m.score) if linked else None

    @property
    def entity_ids(self) -> list[str]:
        return [m.entity_id for m in self.mentions if m.entity_id is not None]

    def as_dict(self) -> dict[str, Any]:
        topic = self.topic
        return {"text": self.text, "topic": topic.entity_id if topic else None,
                "mentions": [m.as_dict() for m in self.mentions], "fuzzy": self.fuzzy, "ner": self.ner}
