"""A multi-turn dialogue set built from the MetaQA graph and dev questions.

Each dialogue is a chain of two or three turns. The first turn is a dev question as written (its
topic in brackets in the source; the text a user types has no brackets). Each next turn is another
dev question whose topic is the previous turn's **topic** ("who directed Up" → "when was it
released") or its **answer** when that answer is a single entity ("who directed Up" → Pete Docter
→ "what films did that person write"), with the topic's mention replaced by a referring expression:
``it``, ``that film``, ``that movie`` for an entity that heads relations in the graph (a film), and
``that person``, ``this person``, ``the same person`` for one that is only ever a tail of the relations
people stand on (directors, writers, actors). Only references a listener could resolve are made: a
follow-up refers to the topic only if none of the previous turn's top answers is of the topic's
kind, and to the answer only if the topic is of another kind. Gold: the follow-up's answers and the
entity it refers to.

Splits follow the QA protocol: a dialogue is held out when all of its turns are validation questions
(:func:`qa.data.questions.split_validation`), so no held-out turn was seen by the QA model or the resolver;
the training dialogues use only training questions.

    dialogues = build_dialogues(questions, snapshot, seed=0)
    train, held_out = split_dialogues(dialogues)
    write_dialogues(held_out, "dialogues_val.jsonl")
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from qa.data.questions import Question, split_validation
from retrieval.snapshot import GraphSnapshot

FILM_REFS = ("it", "that film", "that movie")
PERSON_REFS = ("that person", "this person", "the same person")
PERSON_RELATIONS = ("DIRECTED_BY", "WRITTEN_BY", "STARRED_ACTORS")


@dataclass
class DialogueTurn:
    """One turn: what the user types, the gold answers, and (follow-ups) the entity referred to.

    Attributes:
        text: the question as typed (no brackets).
        answers: gold answer ids.
        topic: the entity the question is about (its bracketed topic in the source question).
        refers_to: ``"topic"`` or ``"answer"`` of the previous turn, ``None`` for a first turn.
        expression: the referring expression used (``None`` for a first turn).
        hop: the source question's hop count.
        source: the source question's ``file:line``.
    """

    text: str
    answers: list[str]
    topic: str
    refers_to: str | None = None
    expression: str | None = None
    hop: int | None = None
    source: str = ""


@dataclass
class Dialogue:
    turns: list[DialogueTurn] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"turns": [asdict(t) for t in self.turns]}, ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> Dialogue:
        return cls([DialogueTurn(**t) for t in json.loads(line)["turns"]])


def entity_kind(snapshot: GraphSnapshot, entity_id: str) -> str | None:
    """``"film"`` (heads relations), ``"person"`` (a tail of the person relations only) or ``None``."""
    i = snapshot.index_of.get(entity_id)
    if i is None:
        return None
    if snapshot.out_ptr[i + 1] > snapshot.out_ptr[i]:
        return "film"
    person = {snapshot.relations.index(r) for r in PERSON_RELATIONS if r in snapshot.relations}
    types = set(snapshot.in_type[snapshot.in_ptr[i]:snapshot.in_ptr[i + 1]].tolist())
    return "person" if types and types <= person else None


_FILM_NOUN = re.compile(r"\b(?:the )?(?:film|movie) \[[^\]]+\]")
_FILM_OWNER = re.compile(r"(?:\bthe )?\[[^\]]+\] (directors?|writers?|screenwriters?|actors?|stars?)\b")
_PERSON_ROLE = re.compile(r"\b(?:the )?(?:director|writer|screenwriter|actor|actress|star) \[[^\]]+\]")


def refer(question: Question, expression: str) -> str:
    """The question with its topic mention replaced by ``expression``, keeping the grammar of
    MetaQA's templates: "what year was the movie [Up] released" → "what year was that movie
    released", "the movies written by [Bolt] writers" → "the movies written by its writers",
    "movies for the director [X]" → "movies for that person"."""
    text = question.text
    if expression in FILM_REFS:
        if _FILM_NOUN.search(text):
            return _FILM_NOUN.sub(expression if expression != "it" else "that film", text, count=1)
        if _FILM_OWNER.search(text):
            return _FILM_OWNER.sub(lambda m: f"its {m.group(1)}", text, count=1)
    elif _PERSON_ROLE.search(text):
        return _PERSON_ROLE.sub(expression, text, count=1)
    return re.sub(r"\[[^\]]+\]", expression, text, count=1)


def build_dialogues(questions: Sequence[Question], snapshot: GraphSnapshot, seed: int = 0,
                    max_turns: int = 3, per_topic: int = 2) -> list[Dialogue]:
    """Chains of questions linked by topic or by a single answer (see the module docstring).

    ``questions`` should come from one split; each is a first turn at most once; ``per_topic``
    bounds how many dialogues start from one topic entity."""
    rnd = random.Random(seed)
    by_topic: dict[str, list[Question]] = defaultdict(list)
    for q in questions:
        if q.topic and q.answers:
            by_topic[q.topic].append(q)
    kinds: dict[str, str | None] = {}

    def kind(e: str) -> str | None:
        if e not in kinds:
            kinds[e] = entity_kind(snapshot, e)
        return kinds[e]

    def follow_up(prev: Question, used: set[str]) -> tuple[DialogueTurn, Question] | None:
        options: list[tuple[str, Question]] = []
        topic_kind = kind(prev.topic or "")
        answer_kinds = {kind(a) for a in prev.answers[:3]}
        # Only references a listener can resolve: "that film" after a question about a film whose
        # answers are films too would be ambiguous, so it is not generated.
        if topic_kind is not None and topic_kind not in answer_kinds:
            options += [("topic", q) for q in by_topic[prev.topic or ""] if q.text not in used
                        and q.template != prev.template]
        if len(prev.answers) == 1 and kind(prev.answers[0]) not in (None, topic_kind):
            options += [("answer", q) for q in by_topic[prev.answers[0]] if q.text not in used]
        if not options:
            return None
        refers_to, q = rnd.choice(options)
        entity = q.topic or ""
        expression = rnd.choice(FILM_REFS if kind(entity) == "film" else PERSON_REFS)
        turn = DialogueTurn(refer(q, expression), list(q.answers), entity, refers_to, expression, q.hop, q.source)
        return turn, q

    out: list[Dialogue] = []
    starts: dict[str, int] = defaultdict(int)
    order = list(questions)
    rnd.shuffle(order)
    for first in order:
        if not first.topic or not first.answers or starts[first.topic] >= per_topic:
            continue
        turns = [DialogueTurn(first.plain, list(first.answers), first.topic, hop=first.hop, source=first.source)]
        used, prev = {first.text}, first
        while len(turns) < max_turns:
            got = follow_up(prev, used)
            if got is None:
                break
            turns.append(got[0])
            used.add(got[1].text)
            prev = got[1]
        if len(turns) >= 2:
            starts[first.topic] += 1
            out.append(Dialogue(turns))
    return out


def split_dialogues(questions: Sequence[Question], snapshot: GraphSnapshot,
                    seed: int = 0) -> tuple[list[Dialogue], list[Dialogue]]:
    """(train, held-out) dialogues: built from the training and the validation questions apart."""
    train_q, val_q = split_validation(questions)
    return build_dialogues(train_q, snapshot, seed), build_dialogues(val_q, snapshot, seed + 1)


def model_dialogues(snapshot: GraphSnapshot, model_dir: str | Path) -> tuple[list[Dialogue], list[Dialogue]]:
    """The training and held-out dialogues (:func:`split_dialogues`) of the questions the QA model in
    ``model_dir`` was trained on (its ``config.json``)."""
    from kg.errors import ConfigError
    from qa.data.questions import load_questions

    cfg = json.loads((Path(model_dir) / "config.json").read_text()).get("train", {})
    files = [f for f in cfg.get("questions", []) if Path(f).is_file()]
    if not files:
        raise ConfigError(f"the questions {model_dir} was trained on are not here ({cfg.get('questions')}); "
                          "the dialogue set is built from them")
    return split_dialogues([q for f in files for q in load_questions(f)], snapshot)


def write_dialogues(dialogues: Iterable[Dialogue], path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("".join(d.to_json() + "\n" for d in dialogues), encoding="utf-8")
    return p


def read_dialogues(path: str | Path) -> list[Dialogue]:
    return [Dialogue.from_json(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
