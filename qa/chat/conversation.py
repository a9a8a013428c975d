"""Conversation state: follow-up questions resolved to graph entities, then answered.

A :class:`Conversation` keeps the entities in focus (the topics and top answers of the last turns,
most recent first) and the history of questions and answers, bounded and serialisable to JSON
(an HTTP API keeps sessions with :meth:`Conversation.to_dict` / :meth:`Conversation.from_dict`).
Each new question is resolved before it is answered:

1. ``[brackets]`` name the topic;
2. an entity the linker finds in the text is a new topic;
3. otherwise a referring expression ("it", "its writers", "that film", "this person", "they") is
   resolved to an entity in focus by :class:`ReferenceResolver`, a small learned scorer of
   (expression, entity kind, where the entity came from) — the kind being which relations the
   entity has in the graph;
4. a question with neither (ellipsis: "and the genre?") stays on the previous topic.

Before those, three follow-ups about the last answer (:mod:`qa.chat.followup`): "and X?" / "what about X"
asks the last question again about X; "the first one", "the second film", "the last one" pick from the
answers as they were shown; "which of them", "those", "how many of these" ask about the previous answers
as a set (:meth:`qa.kinds.answer.KindAnswerer.on_entities`: filters, counts, comparisons, superlatives).
When a pronoun could mean several entities in focus, each reading is tried with the path model and the
resolver's probability is weighed by how well the question reads about that entity ("what else did he
direct" after "who directed Forrest Gump" is about the director: about the film it finds nothing new).
Every question is answered by :class:`qa.kinds.answer.KindAnswerer` (counts, yes/no, ... as well as paths).

"What else" / "which other" questions leave out the entities already in focus.

The resolved question (the topic in brackets) goes to the QA answerer, which learned which step answers (no hop count)::

    chat = Conversation(load_answerer("runs/qa/metaqa"), ReferenceResolver.load("runs/qa/resolver.json"))
    chat.ask("who directed Up").prediction.answers[0].name          # 'Pete Docter'
    chat.ask("what else did that person write").resolution.topic     # 'Pete Docter'
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from kg.errors import ConfigError
from kg.linking.linker import reads_as_name
from qa.chat import followup
from qa.data.questions import Question, question_from_text
from qa.types import Prediction

_REF_WORDS = ("film", "movie", "one", "person", "director", "actor", "actress", "writer", "man", "woman", "guy")
# "the same director" is usually part of the question ("films with the same director as ..."),
# "the same person" / "the same film" a reference.
DEMONSTRATIVE = re.compile(
    r"\b(?:(?:that|this) (?:" + "|".join(_REF_WORDS) + r")|the same (?:person|film|movie|one))\b", re.IGNORECASE)
PRONOUN = re.compile(r"\b(?:it|its|they|them|their|he|him|his|she|her)\b", re.IGNORECASE)
OTHER = re.compile(r"\b(?:else|other)\b", re.IGNORECASE)
SOURCES = ("previous topic", "previous answer", "other answer", "older")


@dataclass
class FocusEntity:
    """An entity in focus: its id and name, and where it came from (one of :data:`SOURCES`)."""

    entity_id: str
    name: str
    source: str


@dataclass
class Resolution:
    """How a question was understood.

    Attributes:
        text: the question as typed; question: what the answerer got (the topic in brackets).
        topic: the entity the question is about (``None``: left to the linker, found nothing).
        how: ``"brackets"``, ``"reference"``, ``"linked"``, ``"ellipsis"``, ``"list"`` (picked from the last
            answers as shown), ``"answers"`` (about the previous answers as a set), ``"repeat"`` (the last
            question about another entity), ``"each"`` (asked of each previous answer) or ``"none"``.
        expression: the referring expression resolved (``how`` ``"reference"`` or ``"list"``).
        scores: the resolver's probability for each entity in focus (``how == "reference"``).
    """

    text: str
    question: str
    topic: str | None
    how: str
    expression: str | None = None
    scores: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class Reply:
    resolution: Resolution
    prediction: Prediction


def find_reference(text: str) -> re.Match[str] | None:
    """The referring expression of ``text``: a demonstrative ("that film", "this person", "the same
    director") if there is one, else the first pronoun ("it", "its", "they", "her")."""
    return DEMONSTRATIVE.search(text) or PRONOUN.search(text)


class ReferenceResolver:
    """Which entity in focus a referring expression means: a log-linear scorer over
    ``expression ⊗ kind`` (the entity's relation signature in the graph) and the entity's source.

    Learned from dialogues (:func:`ReferenceResolver.fit`); ``expressions`` is its vocabulary
    (lower-cased; unseen ones share a row)."""

    def __init__(self, relations: Sequence[str], expressions: Sequence[str] = (),
                 weights: np.ndarray | None = None) -> None:
        self.relations = list(relations)
        self.expressions = [e.lower() for e in expressions]
        self.weights = weights if weights is not None else np.zeros(self.dim, np.float32)
        if self.weights.shape != (self.dim,):
            raise ConfigError(f"resolver weights have shape {self.weights.shape}, expected ({self.dim},)")

    def __repr__(self) -> str:
        return f"ReferenceResolver(expressions={len(self.expressions)}, relations={len(self.relations)})"

    @property
    def dim(self) -> int:
        return (len(self.expressions) + 1) * (2 * len(self.relations) + 1) + len(SOURCES)

    def features(self, expression: str, signature: np.ndarray, source: str) -> np.ndarray:
        """``(dim,)``: the expression's row of ``[signature; 1]``, then the source one-hot."""
        e = expression.lower()
        row = self.expressions.index(e) if e in self.expressions else len(self.expressions)
        width = 2 * len(self.relations) + 1
        x = np.zeros(self.dim, np.float32)
        x[row * width:(row + 1) * width] = np.append(signature, 1.0)
        x[(len(self.expressions) + 1) * width + SOURCES.index(source)] = 1.0
        return x

    def scores(self, expression: str, signatures: np.ndarray, sources: Sequence[str]) -> np.ndarray:
        """Probabilities over the candidates: ``(K, 2R)`` signatures and their sources → ``(K,)``."""
        x = np.stack([self.features(expression, s, src) for s, src in zip(signatures, sources, strict=True)])
        z = x @ self.weights
        z = np.exp(z - z.max())
        return z / z.sum()

    @classmethod
    def fit(cls, examples: Sequence[tuple[str, np.ndarray, Sequence[str], int]], relations: Sequence[str],
            epochs: int = 200, lr: float = 0.5, l2: float = 1e-3) -> ReferenceResolver:
        """Fit on ``(expression, signatures (K, 2R), sources, gold index)`` examples (softmax over candidates)."""
        expressions = sorted({e.lower() for e, *_ in examples})
        model = cls(relations, expressions)
        if not examples:
            raise ConfigError("no training examples for the reference resolver")
        k = max(len(srcs) for _, _, srcs, _ in examples)
        x = np.zeros((len(examples), k, model.dim), np.float32)                   # (N, K, D)
        mask = np.zeros((len(examples), k), bool)                                 # (N, K)
        y = np.zeros((len(examples), k), np.float32)                              # (N, K) one-hot gold
        for n, (e, sig, srcs, g) in enumerate(examples):
            for j, (s, src) in enumerate(zip(sig, srcs, strict=True)):
                x[n, j] = model.features(e, s, src)
                mask[n, j] = True
            y[n, g] = 1.0
        w = np.zeros(model.dim, np.float32)
        for _ in range(epochs):  # full-batch gradient descent on the mean negative log-likelihood
            z = np.where(mask, x @ w, -np.inf)                                    # (N, K)
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            grad = np.einsum("nk,nkd->d", p - y, x) / len(examples) + l2 * w     # (D,)
            w -= lr * grad
        model.weights = w
        return model

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps({"format": "kgqa-reference-resolver", "relations": self.relations,
                                 "expressions": self.expressions, "weights": self.weights.tolist()}))
        return p

    @classmethod
    def load(cls, path: str | Path) -> ReferenceResolver:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: no reference resolver; train one with bench/dialogue.py")
        d = json.loads(p.read_text())
        return cls(d["relations"], d["expressions"], np.asarray(d["weights"], np.float32))


class Conversation:
    """A conversation with a QA answerer (see the module docstring).

    Args:
        answerer: a :class:`qa.answer.answerer.FusionAnswerer` (anything with ``graph`` and ``predict``).
        resolver: the :class:`ReferenceResolver`.
        max_turns: history kept; max_focus: entities in focus kept; answers_in_focus: top answers
            of a turn that enter the focus; followups: ``False`` turns off the follow-ups of
            :mod:`qa.chat.followup` and the weighing of pronoun readings (the resolver alone, as before).
    """

    def __init__(self, answerer: Any, resolver: ReferenceResolver, max_turns: int = 8, max_focus: int = 8,
                 answers_in_focus: int = 3, followups: bool = True) -> None:
        if not hasattr(answerer, "on_entities"):           # a path answerer: every kind of question, too
            from qa.kinds.answer import KindAnswerer

            answerer = KindAnswerer(answerer)
        self.answerer, self.resolver = answerer, resolver
        self.paths = answerer.base                          # the path model, to weigh readings of a pronoun
        self._people: np.ndarray | None = None
        self.followups = followups                          # False: only references, as before (an ablation)
        self.max_turns, self.max_focus, self.answers_in_focus = max_turns, max_focus, answers_in_focus
        self.focus: list[FocusEntity] = []
        self.history: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        return f"Conversation(turns={len(self.history)}, focus={[f.name for f in self.focus]})"

    def reset(self) -> None:
        self.focus, self.history = [], []

    # -- resolution ------------------------------------------------------------------------------
    def resolve(self, text: str) -> Resolution:
        """The question ``text`` with its topic made explicit (see the module docstring)."""
        q = question_from_text(text)
        if q.topic is not None:
            return Resolution(q.text, q.text, q.topic, "brackets")
        snap = self.answerer.graph.snapshot
        last = self.history[-1] if self.history else None
        follow = (followup.resolve(q.text, last, self.answerer.linker, snap, self.answerer.values.naming)
                  if self.followups else None)
        if follow is not None:
            question, topic, how, expression = follow
            return Resolution(q.text, question, topic, how, expression)
        ref = find_reference(q.text) if self.focus else None
        mentions = [m for m in self.answerer.linker.link(q.text).mentions
                    if m.entity_id is not None and m.entity_id in snap.index_of]
        if ref is not None:  # beside a reference, only a span that reads as a name starts a new topic
            mentions = [m for m in mentions if (m.end <= ref.start() or m.start >= ref.end())
                        and reads_as_name(q.text, m.start, m.end, {})]
        if mentions:  # a named entity starts a new topic ("the movie Heat, when was it released")
            best = max(mentions, key=lambda m: m.score)
            return Resolution(q.text, q.text[:best.start] + f"[{q.text[best.start:best.end]}]" + q.text[best.end:],
                              str(best.entity_id), "linked")
        if ref is not None:
            idx = [snap.index_of[f.entity_id] for f in self.focus]
            sig = self.answerer.graph.signature[np.asarray(idx, dtype=np.int64)]
            p = self.resolver.scores(ref.group(0), sig, [f.source for f in self.focus])
            if self.followups:
                p = p * self._fit(q.text, ref)
            p = p / p.sum()
            best = self.focus[int(np.argmax(p))]
            # "its writers" -> "[Up] writers", as MetaQA's own questions put it
            question = q.text[:ref.start()] + f"[{best.name}]" + q.text[ref.end():]
            return Resolution(q.text, question, best.entity_id, "reference", ref.group(0),
                              [(f.entity_id, round(float(x), 4)) for f, x in zip(self.focus, p, strict=True)])
        if self.history and self.history[-1]["topic"]:
            prev = self.history[-1]["topic"]
            return Resolution(q.text, q.text, prev, "ellipsis")
        return Resolution(q.text, q.text, None, "none")

    def _each(self, text: str, entity_ids: Sequence[str]) -> Prediction:
        """``text`` asked of each entity (its "they" / "them" in brackets), the answers merged along the
        relation path the predictions vote for (:meth:`qa.kinds.answer.KindAnswerer.each`); where none has
        a path, an entity answered for several keeps its best score and the evidence of each."""
        snap = self.answerer.graph.snapshot
        m = followup.EACH.search(text)
        assert m is not None
        ids = [e for e in entity_ids if e in snap.index_of]
        qs = [question_from_text(text[:m.start()] + f"[{snap.names[snap.index_of[e]]}]" + text[m.end():])
              for e in ids]
        preds = self.paths.predict(qs)
        voted = self.answerer.each(text, ids, preds)
        if voted is not None:
            return voted
        merged: dict[str, Any] = {}
        ranked: dict[str, float] = {}
        for pred in preds:
            for a in pred.answers:
                if a.entity_id in merged:
                    best = merged[a.entity_id]
                    merged[a.entity_id] = replace(best, score=max(best.score, a.score),
                                                  evidence=best.evidence + a.evidence[:1])
                else:
                    merged[a.entity_id] = a
            for e, sc in pred.ranked:
                ranked[e] = max(ranked.get(e, 0.0), sc)
        answers = sorted(merged.values(), key=lambda a: -a.score)
        return Prediction(text, ids, sorted(ranked.items(), key=lambda x: -x[1]), answers)

    def _also(self, text: str) -> list[str]:
        """Beside "of those", a pronoun for a person ("which of those did *he* also direct"): the person of
        the last turn it means (the previous topic before answers; none when no person is in focus)."""
        m = PRONOUN.search(followup.SET.sub("", text))
        if m is None or not followup.PERSONAL.match(m.group(0)) or not self.history:
            return []
        if self._people is None:
            self._people = followup.person_like(self.answerer.graph.snapshot)
        snap = self.answerer.graph.snapshot
        shown = set(self.history[-1].get("answer_ids", []))
        people = [f for f in self.focus if f.source != "older" and f.entity_id not in shown
                  and self._people[snap.index_of[f.entity_id]]]
        return [people[0].entity_id] if people else []

    def _fit(self, text: str, ref: re.Match[str]) -> np.ndarray:
        """``(K,)``: how well the question reads about each entity in focus put in place of ``ref``: the path
        model's best answer probability (answers already in focus left out for "what else"), plus a floor
        so that the resolver decides between readings that fit alike; a thousandth for a non-person where a
        personal expression ("he", "that writer") has persons to mean; 0.3 for entities of older turns."""
        if len(self.focus) < 2:
            return np.ones(len(self.focus))
        qs = [question_from_text(text[:ref.start()] + f"[{f.name}]" + text[ref.end():]) for f in self.focus]
        said = {f.entity_id for f in self.focus} if OTHER.search(text) else set()
        preds = self.paths.predict(qs)
        fit = np.asarray([max((a.score for a in p.answers if a.entity_id not in said), default=0.0)
                          for p in preds]) + 0.05
        if followup.PERSONAL.match(ref.group(0)):          # "he", "that person": an agent of some relation
            if self._people is None:
                self._people = followup.person_like(self.answerer.graph.snapshot)
            snap = self.answerer.graph.snapshot
            person = np.asarray([bool(self._people[snap.index_of[f.entity_id]]) for f in self.focus])
            if person.any() and not person.all():
                fit = np.where(person, fit, fit * 1e-3)         # "he" is not a film
        # the last turn's entities before older ones, where the reading fits them alike
        return fit * np.asarray([0.3 if f.source == "older" else 1.0 for f in self.focus])

    # -- asking ----------------------------------------------------------------------------------
    def ask(self, text: str) -> Reply:
        """Resolve, answer and remember one question."""
        res = self.resolve(text)
        if res.how == "answers" and self.history:
            pred = self.answerer.on_entities(res.text, self.history[-1].get("answer_ids", []), self._also(res.text))
        elif res.how == "each" and self.history:
            pred = self._each(res.text, self.history[-1].get("answer_ids", [])[:followup.MAX_EACH])
        elif res.how == "ellipsis" and res.topic is not None:
            pred = self._predict_about(res.text, res.topic)
        else:
            pred = self.answerer.predict([question_from_text(res.question)])[0]
        if OTHER.search(res.text) and self.focus:
            # "what else did she write": not what the conversation already named
            said = {f.entity_id for f in self.focus}
            pred = replace(pred, ranked=[(e, s) for e, s in pred.ranked if e not in said],
                           answers=[a for a in pred.answers if a.entity_id not in said])
        self._remember(res, pred)
        return Reply(res, pred)

    def _predict_about(self, text: str, topic: str) -> Prediction:
        """Answer ``text`` about ``topic`` though the text does not name it (ellipsis)."""
        q = Question(text, (), topic, None, "user")
        return self.answerer.predict([q])[0]

    def _remember(self, res: Resolution, pred: Prediction) -> None:
        snap = self.answerer.graph.snapshot
        topic = res.topic or (pred.topics[0] if pred.topics else None)
        new: list[FocusEntity] = []
        if topic is not None and topic in snap.index_of:
            new.append(FocusEntity(topic, snap.names[snap.index_of[topic]], "previous topic"))
        for k, a in enumerate(pred.answers[:self.answers_in_focus]):
            new.append(FocusEntity(a.entity_id, a.name, "previous answer" if k == 0 else "other answer"))
        seen = {f.entity_id for f in new}
        older = [FocusEntity(f.entity_id, f.name, "older") for f in self.focus if f.entity_id not in seen]
        self.focus = (new + older)[:self.max_focus]
        self.history.append({"question": res.text, "resolved": res.question, "topic": topic, "how": res.how,
                             "answers": [[a.entity_id, a.name] for a in pred.answers[:10]],
                             "answer_ids": [a.entity_id for a in pred.answers[:followup.MAX_SET]],
                             "kind": pred.kind, "value": pred.value})
        self.history = self.history[-self.max_turns:]

    # -- persistence -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"focus": [asdict(f) for f in self.focus], "history": self.history}

    @classmethod
    def from_dict(cls, data: dict[str, Any], answerer: Any, resolver: ReferenceResolver, **kw: Any) -> Conversation:
        conv = cls(answerer, resolver, **kw)
        conv.focus = [FocusEntity(**f) for f in data.get("focus", [])][:conv.max_focus]
        conv.history = list(data.get("history", []))[-conv.max_turns:]
        return conv


def training_examples(dialogues: Sequence[Any], snapshot: Any, signature: np.ndarray,
                      answers_in_focus: int = 3) -> list[tuple[str, np.ndarray, list[str], int]]:
    """Resolver examples from dialogues with gold turns: for each follow-up, the focus the previous
    turn's gold topic and answers make, and the index of the entity referred to."""
    out = []
    for d in dialogues:
        for prev, turn in zip(d.turns, d.turns[1:], strict=False):
            cands = [(prev.topic, "previous topic")]
            cands += [(a, "previous answer" if k == 0 else "other answer")
                      for k, a in enumerate(prev.answers[:answers_in_focus])]
            cands = [(e, s) for e, s in cands if e in snapshot.index_of]
            ids = [e for e, _ in cands]
            ref = find_reference(turn.text)
            if turn.topic not in ids or len(cands) < 2 or ref is None:
                continue
            sig = signature[np.asarray([snapshot.index_of[e] for e in ids], dtype=np.int64)]
            out.append((ref.group(0), sig, [s for _, s in cands], ids.index(turn.topic)))
    return out


def resolver_for(answerer: Any, model_dir: str | Path) -> ReferenceResolver:
    """The reference resolver beside the model, fitted (and saved there) from the model's own
    training questions when there is none yet (a few seconds)."""
    from qa.data.dialogues import model_dialogues

    path = Path(model_dir) / "resolver.json"
    if path.is_file():
        return ReferenceResolver.load(path)
    snap = answerer.graph.snapshot
    train, _ = model_dialogues(snap, model_dir)
    examples = training_examples(train, snap, answerer.graph.signature)
    if not examples:
        raise ConfigError("no dialogues can be built from the model's training questions to fit the "
                          "reference resolver; follow-ups need one (see qa/data/dialogues.py)")
    resolver = ReferenceResolver.fit(examples, snap.relations)
    resolver.save(path)
    return resolver
