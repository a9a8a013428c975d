"""How a question asks: the operation around its relation path, read from English function words.

A question is a relation path from a topic plus at most one of each of these, read here from the words
of the language (never from a dataset's templates); which relation and which value they apply to is
decided against the graph by :mod:`qa.kinds.answer`:

- **count**: "how many ...", "the number of ...", "count ...";
- **yes/no**: the question opens with an auxiliary ("did", "is", "was", "has"...), not a request ("can
  you name ...", "do you know ..."), or asks "is it true that ...", "..., right?";
- **comparison** with a number: "after 2000", "before 1990", "since 1995", "more than 8", "at least 3",
  "between 1990 and 1999", "in the 1990s" / "in the 90s";
- **superlative**: "the most recent", "the latest", "the oldest", "the earliest", "the first", "the
  highest", "the lowest", "the newest", "the least recent"...: a direction (``max`` / ``min``) and the
  words that say of what.

A question that asks *why* is read as one kgqa cannot answer (``unsupported``), not as a path.

Spans that name entities are passed in ``skip`` so that a title ("The Last Samurai", "Best in Show")
is never read as an operation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Op = Literal[">", ">=", "<", "<=", "=", "between", "decade"]

_AUX = ("did", "does", "do", "is", "was", "were", "are", "has", "have", "had", "can", "could", "will",
        "would", "should", "am")
_YESNO_LEAD = re.compile(r"^\s*(?:(?:so|and|but|ok|okay|hey|tell me|please)[\s,]+)*(?:" + "|".join(_AUX) + r")\b",
                         re.IGNORECASE)
_YESNO_ANY = re.compile(r"\b(?:is it (?:true|the case|correct) that|am i right that|true or false|yes or no)\b"
                        r"|,?\s*(?:right|correct|true|isn't it|didn't (?:he|she|they|it)|wasn't it)\s*\??\s*$",
                        re.IGNORECASE)
# "can you name ...", "do you know ...": a request, not a yes/no question
_REQUEST = re.compile(r"^\s*(?:please\s+)?(?:can|could|would|will|do|did)\s+(?:you|u)\b", re.IGNORECASE)
_WH_LEAD = re.compile(r"^\s*(?:what|which|who|whom|whose|when|where|how|why|name|list|give|show|tell|find)\b",
                      re.IGNORECASE)
COUNT = re.compile(r"\bhow many\b|\b(?:the |total )?number of\b|\bcount(?: of| up)?\b|\bhow much\b|\btally\b",
                   re.IGNORECASE)
_NUM = r"([+-]?\d+(?:\.\d+)?)"
_COMPARE: list[tuple[re.Pattern[str], Op]] = [
    (re.compile(r"\bbetween (?:the years? )?" + _NUM + r" and " + _NUM, re.IGNORECASE), "between"),
    (re.compile(r"\b(?:in|from|during|of) the (?:(\d\d)(\d)0s|(\d)0s)\b", re.IGNORECASE), "decade"),
    (re.compile(r"\b(?:after|later than|newer than|more recent than|past|beyond|over|above|more than|greater than"
                r"|higher than|exceeding|larger than|bigger than)\s+(?:the year\s+)?" + _NUM, re.IGNORECASE), ">"),
    (re.compile(r"\b(?:since|from|starting (?:in|from)|at least|no (?:less|fewer|earlier) than|or (?:later|more))\s+"
                r"(?:the year\s+)?" + _NUM, re.IGNORECASE), ">="),
    (re.compile(r"\b(?:before|earlier than|older than|prior to|under|below|less than|fewer than|lower than"
                r"|smaller than)\s+(?:the year\s+)?" + _NUM, re.IGNORECASE), "<"),
    (re.compile(r"\b(?:until|till|up to|at most|no (?:more|later) than|or (?:earlier|before))\s+(?:the year\s+)?"
                + _NUM, re.IGNORECASE), "<="),
    (re.compile(_NUM + r"\s+or (?:later|after|more|newer|above)\b", re.IGNORECASE), ">="),
    (re.compile(_NUM + r"\s+or (?:earlier|before|less|older|below)\b", re.IGNORECASE), "<="),
]
# superlatives: the word, and whether it asks for the largest value of what it is about
_MAX_WORDS = ("latest", "newest", "most recent", "last", "highest", "biggest", "largest", "greatest", "maximum",
              "youngest", "top", "best", "most", "longest", "recentmost", "most popular", "highest rated")
_MIN_WORDS = ("earliest", "oldest", "first", "lowest", "smallest", "least recent", "minimum", "fewest", "least",
              "shortest", "worst", "eldest", "least popular", "lowest rated")
_SUPER = re.compile(r"\b(" + "|".join(sorted((re.escape(w) for w in (*_MAX_WORDS, *_MIN_WORDS)), key=len,
                                              reverse=True)) + r")\b", re.IGNORECASE)
_WHY = re.compile(r"^\s*(?:(?:and|but|so)\s+)?(?:why|how come|what (?:is|was) the reason|for what reason)\b",
                  re.IGNORECASE)
_ORDINAL_REF = re.compile(r"\b(?:the )?(?:first|last|second|third) (?:one|of them|of those)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Comparison:
    """``value OP number`` (``between``: ``low <= value <= high``), and the span of text that said it."""

    op: Op
    number: float
    high: float | None
    span: tuple[int, int]

    def holds(self, value: float) -> bool:
        n = self.number
        if self.op == "between":
            return n <= value <= (self.high if self.high is not None else n)
        return {">": value > n, ">=": value >= n, "<": value < n, "<=": value <= n, "=": value == n}[self.op]

    def cypher(self, expr: str, param: str) -> tuple[str, dict[str, float]]:
        """The ``WHERE`` condition on ``expr`` and its parameters (``$param``, ``$param_high``)."""
        if self.op == "between":
            return (f"{expr} >= ${param} AND {expr} <= ${param}_high",
                    {param: self.number, f"{param}_high": self.high if self.high is not None else self.number})
        return f"{expr} {self.op} ${param}", {param: self.number}

    def __str__(self) -> str:
        if self.op == "between":
            return f"between {self.number:g} and {self.high:g}"
        return f"{self.op} {self.number:g}"


@dataclass(frozen=True)
class Superlative:
    """The largest (``max``) or smallest (``min``) value; ``word`` as typed, ``span`` where."""

    direction: Literal["max", "min"]
    word: str
    span: tuple[int, int]


@dataclass(frozen=True)
class Reading:
    """The operation words of a question (see the module docstring); ``unsupported``: what the question asks
    that facts cannot answer (a reason, "why ..."), else ``None``."""

    count: bool = False
    yes_no: bool = False
    comparison: Comparison | None = None
    superlative: Superlative | None = None
    unsupported: str | None = None

    @property
    def plain(self) -> bool:
        return not (self.count or self.yes_no or self.comparison or self.superlative or self.unsupported)


def _outside(span: tuple[int, int], skip: Sequence[tuple[int, int]]) -> bool:
    return not any(a < span[1] and span[0] < b for a, b in skip)


def read(text: str, skip: Sequence[tuple[int, int]] = ()) -> Reading:
    """The :class:`Reading` of ``text``; words inside the spans ``skip`` (entity names) are not read."""
    count = any(_outside(m.span(), skip) for m in COUNT.finditer(text))
    yes_no = not count and ((bool(_YESNO_LEAD.match(text)) and not _WH_LEAD.match(text) and not _REQUEST.match(text))
                            or any(_outside(m.span(), skip) for m in _YESNO_ANY.finditer(text)))
    comparison = None
    for pattern, op in _COMPARE:
        for m in pattern.finditer(text):
            if not _outside(m.span(), skip):
                continue
            g = [x for x in m.groups() if x is not None]
            if op == "decade":                                       # the 1990s, the 90s
                low = float(g[0] + g[1] + "0") if len(g) == 2 else 1900 + float(g[0]) * 10
                comparison = Comparison("between", low, low + 9, m.span())
            elif op == "between":
                lo, hi = sorted((float(g[0]), float(g[1])))
                comparison = Comparison("between", lo, hi, m.span())
            else:
                comparison = Comparison(op, float(g[0]), None, m.span())
            break
        if comparison:
            break
    superlative = None
    refs = [m.span() for m in _ORDINAL_REF.finditer(text)]
    for m in _SUPER.finditer(text):
        if not _outside(m.span(), [*skip, *refs]) or (comparison and not _outside(m.span(), [comparison.span])):
            continue
        word = m.group(1).lower()
        if word in ("most", "least"):                          # "most" alone: "the most films" is a count
            nxt = re.match(r"\s+(\w+)", text[m.end():])
            if nxt is None or nxt.group(1).lower() in ("of", "films", "movies", "people", "things"):
                continue
            direction: Literal["max", "min"] = "max" if word == "most" else "min"
        else:
            direction = "max" if word in _MAX_WORDS else "min"
        superlative = Superlative(direction, word, m.span())
        break
    unsupported = None
    if _WHY.match(text):
        unsupported = ("it asks for a reason or an explanation; the graph holds facts (who, what, which, when, "
                       "how many, whether), not why")
    return Reading(count, yes_no, comparison, superlative, unsupported)
