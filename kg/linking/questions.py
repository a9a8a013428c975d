"""Questions with their topic entity marked, as MetaQA writes them: ``who directed [Up]<TAB>Pete Docter``.

:func:`read_questions` reads such a file (one question a line; what follows a tab
is the answers, ``|``-separated) into :class:`LabeledQuestion` values whose text
has the brackets removed and whose gold span points at the entity in that text.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kg.errors import ReaderError

_MARK = re.compile(r"\[([^\[\]]+)\]")


@dataclass(slots=True, frozen=True)
class LabeledQuestion:
    """A question without markup and where its topic entity is.

    Attributes:
        text: the question, brackets removed.
        gold: the marked entity as written (MetaQA: also its id), or ``None`` if unmarked.
        start, end: character span of ``gold`` in ``text`` (``0, 0`` if unmarked).
        answers: the answers listed after the tab, if any.
        source: ``file:line`` it came from.
    """

    text: str
    gold: str | None
    start: int = 0
    end: int = 0
    answers: tuple[str, ...] = field(default=())
    source: str = ""


def strip_markup(marked: str) -> tuple[str, list[tuple[int, int]]]:
    """``"who directed [Up]"`` → ``("who directed Up", [(13, 15)])``: text and the marked spans in it."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    length = 0
    for m in _MARK.finditer(marked):
        before = marked[pos:m.start()]
        out.append(before)
        length += len(before)
        spans.append((length, length + len(m.group(1))))
        out.append(m.group(1))
        length += len(m.group(1))
        pos = m.end()
    out.append(marked[pos:])
    return "".join(out), spans


def parse_question(line: str, source: str = "") -> LabeledQuestion:
    """One line ``question[<TAB>answer|answer...]``; the first bracketed span is the gold entity."""
    question, _, answers = line.rstrip("\r\n").partition("\t")
    text, spans = strip_markup(question)
    answer_list = tuple(a for a in answers.split("|") if a) if answers else ()
    if not spans:
        return LabeledQuestion(text, None, answers=answer_list, source=source)
    start, end = spans[0]
    return LabeledQuestion(text, text[start:end], start, end, answer_list, source)


def read_questions(*paths: str | Path) -> list[LabeledQuestion]:
    """Questions of one or more files (UTF-8, one a line; blank lines skipped)."""
    return [q for path in paths for q in iter_questions(path)]


def iter_questions(path: str | Path) -> Iterator[LabeledQuestion]:
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise ReaderError(f"cannot read questions from {path}: {exc.strerror}; check the path") from exc
    with handle:
        try:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    yield parse_question(line, f"{path}:{number}")
        except UnicodeDecodeError as exc:
            raise ReaderError(f"{path} is not UTF-8 text ({exc.reason}); convert it first") from exc


def as_questions(source: Iterable[LabeledQuestion] | str | Path) -> list[LabeledQuestion]:
    """A question file's questions, or the given questions as a list."""
    if isinstance(source, str | Path):
        return read_questions(source)
    return list(source)


def misspell(text: str, rng: random.Random) -> str | None:
    """``text`` with one random typo — drop, swap, double or replace a letter inside a word — or ``None``
    if it has no two-letter run to edit. Used to train and measure fuzzy linking."""
    positions = [i for i in range(1, len(text) - 1) if text[i].isalpha() and text[i - 1].isalpha()]
    if len(positions) < 2:
        return None
    i = rng.choice(positions)
    op = rng.randrange(4)
    if op == 0:
        return text[:i] + text[i + 1:]
    if op == 1:
        return text[:i - 1] + text[i] + text[i - 1] + text[i + 1:]
    if op == 2:
        return text[:i] + text[i] + text[i:]
    letter = rng.choice("aeioustrnl".replace(text[i].lower(), ""))
    return text[:i] + letter + text[i + 1:]
