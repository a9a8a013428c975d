"""Question files and the fixed splits of the MetaQA protocol.

A question file has one question a line, ``question<TAB>answer1|answer2|...``, with the
topic entity marked by ``[brackets]`` (MetaQA's format). The splits are functions of
the text alone (a hash), so every run, machine and model sees the same ones:

- **validation**: a fixed 10% of the questions of each file (by question text);
- **unseen templates**: a fixed 20% of the *templates* (the question with its topic
  replaced by ``NE``) are held out with all their questions, to measure wording the
  model never saw.

Usage::

    qs = load_questions("../shared/data/metaqa/2-hop/qa_dev.txt", hop=2)
    train, val = split_validation(qs)
    train_t, unseen = split_templates(qs)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kg.errors import KGQAError

_TOPIC = re.compile(r"\[([^\]]+)\]")


class QuestionFileError(KGQAError):
    """A question file that cannot be read as ``question<TAB>answers``."""


@dataclass(frozen=True)
class Question:
    """One question with its gold answers.

    Attributes:
        text: the question as written, brackets included when the file has them.
        answers: gold answer entity ids (names, for MetaQA).
        topic: the bracketed topic entity, ``None`` when the question has no brackets.
        hop: the hop count when known (from the file's folder or the caller), else ``None``.
        source: ``file:line`` of the question.
    """

    text: str
    answers: tuple[str, ...]
    topic: str | None = None
    hop: int | None = None
    source: str = ""
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def plain(self) -> str:
        """The question with the brackets removed (what a user types)."""
        return _TOPIC.sub(r"\1", self.text)

    @property
    def template(self) -> str:
        """The question with its topic entity replaced by ``NE`` ("what films did NE direct")."""
        return _TOPIC.sub("NE", self.text)


def _stable_fraction(key: str) -> float:
    """A number in [0, 1) that depends only on ``key``."""
    return int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") / 2**64


def hop_of(path: str | Path) -> int | None:
    """``1``/``2``/``3`` from a MetaQA-style folder name (``2-hop/qa_dev.txt``), else ``None``."""
    m = re.search(r"(\d)-hop", str(path))
    return int(m.group(1)) if m else None


def question_from_text(text: str, hop: int | None = None) -> Question:
    """A question typed by a user (no gold answers); a ``[bracketed]`` span is its topic entity."""
    text = " ".join(text.split())
    if not text:
        raise QuestionFileError("the question is empty: ask something, e.g. 'who directed [Up]'")
    m = _TOPIC.search(text)
    return Question(text, (), m.group(1) if m else None, hop, "user")


def load_questions(path: str | Path, hop: int | None = None, limit: int | None = None) -> list[Question]:
    """Read a question file; ``hop`` defaults to the one in the path (``2-hop/...``)."""
    path = Path(path)
    if not path.is_file():
        raise QuestionFileError(f"{path}: no such question file; give a file of 'question<TAB>answer1|answer2' lines")
    hop = hop if hop is not None else hop_of(path)
    out: list[Question] = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            text, sep, answers = line.partition("\t")
            if not sep or not answers.strip():
                raise QuestionFileError(f"{path}:{lineno}: expected 'question<TAB>answer1|answer2', got {line[:80]!r}")
            m = _TOPIC.search(text)
            out.append(Question(text.strip(), tuple(a.strip() for a in answers.split("|") if a.strip()),
                                m.group(1) if m else None, hop, f"{path}:{lineno}"))
            if limit is not None and len(out) >= limit:
                break
    if not out:
        raise QuestionFileError(f"{path}: the file holds no questions")
    return out


def split_validation(questions: Sequence[Question], fraction: float = 0.1,
                     salt: str = "kgqa-val") -> tuple[list[Question], list[Question]]:
    """(train, validation): a fixed ``fraction`` of the questions by a hash of their text."""
    train: list[Question] = []
    val: list[Question] = []
    for q in questions:
        (val if _stable_fraction(f"{salt}\x00{q.text}") < fraction else train).append(q)
    return train, val


def split_templates(questions: Sequence[Question], fraction: float = 0.2,
                    salt: str = "kgqa-templates") -> tuple[list[Question], list[Question]]:
    """(seen, unseen): all questions of a fixed ``fraction`` of the templates go to ``unseen``."""
    seen: list[Question] = []
    unseen: list[Question] = []
    for q in questions:
        (unseen if _stable_fraction(f"{salt}\x00{q.template}") < fraction else seen).append(q)
    return seen, unseen


def templates(questions: Iterable[Question]) -> set[str]:
    return {q.template for q in questions}
