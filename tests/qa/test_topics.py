"""The answerer's topics: a question is about something, so when the linker links none of its mentions
the best exact-name candidate above ``HeadConfig.topic_floor`` is taken; fuzzy guesses and names below
the floor are not, and brackets win.

The linker's results are the ones a prior fitted on other phrasings gave on MetaQA (``what movies was
Sonja Sohn an actor in``: the exact name at 0.46, under the 0.5 NIL threshold).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from kg.linking.models import Candidate, LinkResult, Mention
from qa.answer.answerer import FusionAnswerer
from qa.answer.ranking import HeadConfig
from qa.data.questions import Question

SOHN = "what movies was Sonja Sohn an actor in"
RESULTS = {
    SOHN: LinkResult(SOHN, [
        Mention(0, 11, "what movies", None, [Candidate("Date Movie", "Date Movie", 0.0026, "fuzzy", 0.76)],
                None, 0.0063),
        Mention(16, 26, "Sonja Sohn", None, [Candidate("Sonja Sohn", "Sonja Sohn", 0.4627)], None, 0.4627),
        Mention(27, 38, "an actor in", None, [Candidate("An Actor's Revenge", "An Actor's Revenge", 0.0013, "fuzzy",
                                                        0.69)], None, 0.0013),
    ]),
    "who directed Heat": LinkResult("who directed Heat", [
        Mention(13, 17, "Heat", None, [Candidate("Heat", "Heat", 0.97)], "Heat", 0.97)]),
    "what was the director of the film Zorblax": LinkResult("what was the director of the film Zorblax", [
        Mention(9, 17, "director", None, [Candidate("director", "director", 0.0001)], None, 0.0001),
        Mention(34, 41, "Zorblax", None, [Candidate("Zorro", "Zorro", 0.2, "fuzzy", 0.6)], None, 0.2)]),
}


class _Linker:
    def link_batch(self, texts: Sequence[str]) -> list[LinkResult]:
        return [RESULTS[t] for t in texts]


@dataclass
class _Snapshot:
    index_of: dict[str, int]


@dataclass
class _Graph:
    snapshot: _Snapshot


@dataclass
class _Answerer:
    """What :meth:`FusionAnswerer.topics` reads: the linker, the head config and the graph's ids."""

    head: HeadConfig
    linker: _Linker
    graph: _Graph

    topics = FusionAnswerer.topics


def answerer(floor: float) -> _Answerer:
    ids = ["Sonja Sohn", "Heat", "Date Movie", "An Actor's Revenge", "director", "Zorro"]
    return _Answerer(HeadConfig(topic_floor=floor), _Linker(), _Graph(_Snapshot({e: i for i, e in enumerate(ids)})))


@pytest.mark.parametrize(("floor", "expected"), [(0.1, ["Sonja Sohn"]), (0.5, []), (1.0, [])])
def test_an_exact_name_is_the_topic_when_nothing_is_linked(floor: float, expected: list[str]) -> None:
    assert answerer(floor).topics([Question(SOHN, ())], True) == [expected]


def test_a_linked_mention_comes_first() -> None:
    assert answerer(0.1).topics([Question("who directed Heat", ())], True) == [["Heat"]]


def test_fuzzy_guesses_and_exact_names_below_the_floor_are_no_topic() -> None:
    assert answerer(0.1).topics([Question("what was the director of the film Zorblax", ())], True) == [[]]


def test_brackets_win_over_the_linker() -> None:
    assert answerer(0.1).topics([Question("who directed [Heat]", (), "Heat")], False) == [["Heat"]]
