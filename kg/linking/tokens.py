"""Tokens with character offsets and folded keys: the unit of matching and of context.

A token is a run of word characters (combining accents stay with their letter) or
one other non-space character, so ``"Up"`` never matches inside ``"Upside"`` and
``"9"`` never inside ``"1999"``. Each token carries its folded key (case- and
accent-insensitive, as :func:`kg.names.lookup_key`), and whether whitespace comes
before it: the key of a run of tokens is their keys joined with one space where
the text had whitespace, which is exactly ``lookup_key`` of that stretch of text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kg.names import lookup_key

_TOKEN = re.compile(r"\w[\w\u0300-\u036f]*|[^\w\s]")


@dataclass(slots=True)
class Tokens:
    """The tokens of one text, as parallel lists (cheaper than one object per token).

    Attributes:
        text: the text tokenised.
        starts, ends: character offsets of each token in ``text``.
        keys: folded form of each token.
        space_before: whether whitespace precedes each token.
    """

    text: str
    starts: list[int]
    ends: list[int]
    keys: list[str]
    space_before: list[bool]

    def __len__(self) -> int:
        return len(self.keys)

    def key(self, i: int, j: int) -> str:
        """Folded key of tokens ``i`` to ``j`` (exclusive): ``lookup_key`` of that stretch of text."""
        parts = [self.keys[i]]
        for k in range(i + 1, j):
            if self.space_before[k]:
                parts.append(" ")
            parts.append(self.keys[k])
        return "".join(parts)

    def char_span(self, i: int, j: int) -> tuple[int, int]:
        return self.starts[i], self.ends[j - 1]

    def token_span(self, start: int, end: int) -> tuple[int, int] | None:
        """Token range exactly covering characters ``start:end``, or ``None`` if it cuts a token."""
        try:
            return self.starts.index(start), self.ends.index(end) + 1
        except ValueError:
            return None


def tokenize(text: str) -> Tokens:
    """Split ``text`` into tokens with offsets and folded keys."""
    starts: list[int] = []
    ends: list[int] = []
    pieces: list[str] = []
    for m in _TOKEN.finditer(text):
        starts.append(m.start())
        ends.append(m.end())
        pieces.append(m.group())
    if text.isascii():
        keys = [p.lower() for p in pieces]
    else:
        keys = [lookup_key(p) for p in pieces]
    space = [i > 0 and starts[i] > ends[i - 1] for i in range(len(starts))]
    if starts:
        space[0] = False
    return Tokens(text, starts, ends, keys, space)


def key_tokens(key: str) -> list[str]:
    """Partial keys of a folded name after each of its tokens: ``"the fog"`` → ``["the", "the fog"]``.

    ``key`` must be folded already (:func:`kg.names.lookup_key`: one space between words), so
    each partial key is simply the key up to the end of a token.
    """
    return [key[:m.end()] for m in _TOKEN.finditer(key)]
