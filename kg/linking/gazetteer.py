"""Exact mentions: every stretch of a text that is an entity's name or alias.

A :class:`Gazetteer` maps folded names (:func:`kg.names.lookup_key`: case- and
accent-insensitive) to entities and keeps the set of their token prefixes, so
scanning a text is a walk from each token that stops as soon as no name
continues that way (a trie over tokens, held in two hash tables). Matches start
and end on token boundaries. All matches are returned, overlapping ones too:
which one wins is the disambiguator's call (by default the longest does).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kg.linking.tokens import Tokens, key_tokens
from kg.names import lookup_key


@dataclass(slots=True, frozen=True)
class Match:
    """Tokens ``i:j`` of a text spell the folded name ``key`` of ``entities``."""

    i: int
    j: int
    key: str
    entities: tuple[int, ...]


class Gazetteer:
    """Names and aliases → entities, matched over tokens.

    Args:
        forms: ``(entity index, name or alias)`` pairs.
    """

    def __init__(self, forms: Iterable[tuple[int, str]]) -> None:
        entities: dict[str, list[int]] = {}
        for entity, form in forms:
            key = lookup_key(form)
            if not key:
                continue
            found = entities.setdefault(key, [])
            if entity not in found:
                found.append(entity)
        self.entities: dict[str, tuple[int, ...]] = {k: tuple(v) for k, v in entities.items()}
        self.prefixes: set[str] = set()
        self.max_tokens = 0
        for key in self.entities:
            partial = key_tokens(key)
            self.prefixes.update(partial[:-1])
            self.max_tokens = max(self.max_tokens, len(partial))

    def __len__(self) -> int:
        return len(self.entities)

    def __repr__(self) -> str:
        return f"Gazetteer(names={len(self)}, max_tokens={self.max_tokens})"

    def lookup(self, text: str) -> tuple[int, ...]:
        """Entities whose name or alias is ``text`` (folded)."""
        return self.entities.get(lookup_key(text), ())

    def match(self, tokens: Tokens) -> list[Match]:
        """Every token span of ``tokens`` that is a name, in order of start then length."""
        keys, space = tokens.keys, tokens.space_before
        entities, prefixes = self.entities, self.prefixes
        out: list[Match] = []
        n = len(keys)
        for i in range(n):
            partial = keys[i]
            j = i + 1
            while True:
                found = entities.get(partial)
                if found is not None:
                    out.append(Match(i, j, partial, found))
                if j == n or partial not in prefixes:
                    break
                partial = partial + " " + keys[j] if space[j] else partial + keys[j]
                j += 1
        return out
