"""Replies in words: what the dialogue head reads, the reference replies it is trained on, and the
check that a reply asserts nothing the evidence does not hold.

The dialogue head (:mod:`qa.chat.dialogue_head`) reads a short prompt built from a :class:`qa.chat.conversation.Reply`
(:func:`prompt_text`): the question, then the entities it may name, each with a pointer (``E0`` the
topic, ``E1``... the answers shown, then the entities on the top answer's evidence path;
:class:`Entities`), and that path in pointers (``E0 DIRECTED_BY E1``). It writes the reply with
pointers where names go, and :meth:`Entities.render` puts the names in: a copy mechanism, so the
head spells no name itself and can name nothing the evidence does not hold. Its training targets
are :func:`reference_reply` with ``pointers=True``: the answers stated as a sentence over the
evidence ("E1 directed E0." → "Henry King directed The Black Swan."; for several hops, the answers
and one evidence path: "Ava Gardner, Gregory Peck and 49 more. For example, Henry King directed The
Snows of Kilimanjaro, and Ava Gardner acted in The Snows of Kilimanjaro."), or that the graph holds
no answer.

:class:`NameFinder` finds the graph's entity names in any text (case-sensitive, longest match, on
word boundaries); :func:`grounding` uses it to check a generated reply after rendering: every entity
name it mentions must be among the evidence's names (topics, answers, path entities), and the top
answer must be there.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# One sentence per stored triple, {h} the head's name and {t} the tail's (MetaQA's vocabulary);
# other relation types read "{h} <relation words> {t}".
PHRASES = {
    "DIRECTED_BY": "{t} directed {h}",
    "WRITTEN_BY": "{t} wrote {h}",
    "STARRED_ACTORS": "{t} acted in {h}",
    "RELEASE_YEAR": "{h} was released in {t}",
    "IN_LANGUAGE": "{h} is in {t}",
    "HAS_GENRE": "{h} is a {t} film",
    "HAS_TAGS": "{h} is tagged {t}",
    "HAS_IMDB_VOTES": "{h} is {t} on IMDb",
    "HAS_IMDB_RATING": "{h} is rated {t} on IMDb",
}
NO_TOPIC = ("I could not find anything the graph knows in that question. "
            "Name it as the graph does, or put it in [brackets].")
NO_ANSWER = "The graph holds no answer to that about {topic}."
MORE = re.compile(r"\band (\d+) more\b")
SHOWN = 5
_WORD = re.compile(r"\w+|[^\w\s]")


def phrase(relation: str) -> str:
    return PHRASES.get(relation, "{h} " + relation.lower().replace("_", " ") + " {t}")


def name_list(names: Sequence[str], total: int | None = None, shown: int = SHOWN) -> str:
    """``A``, ``A and B``, ``A, B and C``, ``A, B, C, D, E and 7 more``."""
    total = len(names) if total is None else total
    head = list(names[:shown])
    if total > len(head):
        return ", ".join(head) + f" and {total - len(head)} more"
    return head[0] if len(head) == 1 else ", ".join(head[:-1]) + " and " + head[-1]


def _name(snapshot: Any, entity_id: str) -> str:
    i = snapshot.index_of.get(entity_id)
    return snapshot.names[i] if i is not None else entity_id


def topic_of(reply: Any) -> str | None:
    """The entity the reply is about: the resolved topic, else the first topic the model linked."""
    return reply.resolution.topic or (reply.prediction.topics[0] if reply.prediction.topics else None)


def _topic_name(reply: Any, snapshot: Any) -> str | None:
    topic = topic_of(reply)
    return _name(snapshot, topic) if topic is not None else None


def _top_path(pred: Any) -> list[Any]:
    a = pred.answers[0]
    return list(a.evidence[0].steps) if a.evidence else []


POINTER = re.compile(r"\bE(\d+)\b")
_OPEN_POINTER = re.compile(r"\bE\d*$")
_ARTICLE = re.compile(r"\b([Aa]) E(\d+)\b")
_OPEN_ARTICLE = re.compile(r"\b[Aa] ?$")


@dataclass
class Entities:
    """The entities a reply may name, each with its pointer ``E0``, ``E1``, ...: the topic, the answers
    shown, then the entities on the top answer's evidence path. The dialogue head writes pointers, and
    :meth:`render` puts the names in: a reply can only name what the evidence holds."""

    ids: list[str]
    names: list[str]

    @classmethod
    def of(cls, reply: Any, snapshot: Any, shown: int = SHOWN) -> Entities:
        pred = reply.prediction
        topic = topic_of(reply)
        order = [topic] if topic is not None else []
        order += [a.entity_id for a in pred.answers[:shown]]
        if pred.answers:
            order += [e for s in _top_path(pred) for e in (s.head, s.tail)]
        ids = list(dict.fromkeys(order))
        return cls(ids, [_name(snapshot, e) for e in ids])

    def ref(self, entity_id: str) -> str:
        return f"E{self.ids.index(entity_id)}"

    def name_of(self, pointer: str) -> str:
        i = int(pointer)
        return self.names[i] if i < len(self.names) else ""

    def render(self, text: str) -> str:
        """``text`` with its pointers replaced by names (a pointer to no entity of the table is dropped), and
        "a" before a name that starts with a vowel made "an" ("an Adventure film")."""
        text = _ARTICLE.sub(lambda m: m.group(1) + ("n" if self.name_of(m.group(2))[:1] in "AEIOUaeiou"
                                                         and self.name_of(m.group(2)) else "") + " E" + m.group(2),
                            text)
        out = POINTER.sub(lambda m: self.name_of(m.group(1)), text)
        return re.sub(r"  +", " ", out)

    def render_stable(self, text: str) -> str:
        """:meth:`render` of the part of a growing ``text`` that can no longer change: not an open ``E1…``,
        nor an "a" whose next name is not known yet."""
        return self.render(_OPEN_ARTICLE.sub("", _OPEN_POINTER.sub("", text)))


def prompt_text(reply: Any, snapshot: Any, shown: int = SHOWN) -> str:
    """What the dialogue head reads (besides its KG memory): the question, then the entities with their
    pointers (topic, answers), the top answer's evidence path in pointers."""
    res, pred = reply.resolution, reply.prediction
    ents = Entities.of(reply, snapshot, shown)
    lines = [f"question: {res.text}"]
    topic = _topic_name(reply, snapshot)
    lines.append(f"about: E0 {topic}" if topic is not None else "about: (nothing found)")
    if pred.answers:
        lines.append("answers: " + "; ".join(f"{ents.ref(a.entity_id)} {a.name}" for a in pred.answers[:shown])
                     + (f"; ({len(pred.answers) - shown} more)" if len(pred.answers) > shown else ""))
        rest = [i for i in ents.ids if i not in {a.entity_id for a in pred.answers[:shown]}][1:]
        if rest:
            lines.append("also: " + "; ".join(f"{ents.ref(e)} {_name(snapshot, e)}" for e in rest))
        lines.append("facts: " + "; ".join(f"{ents.ref(s.head)} {s.relation} {ents.ref(s.tail)}"
                                           for s in _top_path(pred)))
    else:
        lines.append("answers: (none)")
    return "\n".join(lines) + "\nreply:"


def reference_reply(reply: Any, snapshot: Any, shown: int = SHOWN, pointers: bool = False) -> str:
    """The reply the dialogue head is trained to write for ``reply`` (see the module docstring); with
    ``pointers``, entities appear as their pointers (``E1 directed E0.``), as the head writes them."""
    pred = reply.prediction
    ents = Entities.of(reply, snapshot, shown)
    if not pointers:   # the names put in as the head's replies get them (Entities.render)
        return ents.render(reference_reply(reply, snapshot, shown, pointers=True))

    def name(e: str) -> str:
        return ents.ref(e)

    topic = topic_of(reply)
    if topic is None:
        return NO_TOPIC
    if not pred.answers:
        return NO_ANSWER.format(topic=name(topic))
    steps = _top_path(pred)
    names = [name(a.entity_id) for a in pred.answers[:shown]]
    if len(steps) == 1:  # one hop: the answers fill the answer's slot of one sentence
        s = steps[0]
        answer_is_tail = s.tail == pred.answers[0].entity_id
        listed = name_list(names, len(pred.answers), shown=shown)
        h, t = (name(s.head), listed) if answer_is_tail else (listed, name(s.tail))
        return phrase(s.relation).format(h=h, t=t) + "."
    text = name_list(names, len(pred.answers), shown=shown) + "."
    if steps:
        facts = [phrase(s.relation).format(h=name(s.head), t=name(s.tail)) for s in steps]
        text += " For example, " + ", and ".join(facts) + "."
    return text


def evidence_names(reply: Any, snapshot: Any) -> set[str]:
    """The names a reply may mention: topics, every answer, every entity on an evidence path."""
    pred = reply.prediction
    ids = set(pred.topics) | {a.entity_id for a in pred.answers}
    if reply.resolution.topic:
        ids.add(reply.resolution.topic)
    ids |= {e for a in pred.answers for ev in a.evidence for st in ev.steps for e in (st.head, st.tail)}
    return {_name(snapshot, e) for e in ids}


class NameFinder:
    """Finds the graph's entity names in a text: case-sensitive, longest match, on token boundaries.

    Words of the reply templates (``directed``, ``film``, ``more``...) are not taken as names when a
    match consists of them alone (the graph's tags include everyday words), nor is the count in
    "and 12 more".
    """

    def __init__(self, names: Iterable[str], template_words: Iterable[str] = ()) -> None:
        self.first: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        for n in set(names):
            toks = tuple(_WORD.findall(n))
            if toks:
                self.first[toks[0]].append(toks)
        for v in self.first.values():
            v.sort(key=len, reverse=True)
        self.template_words = {w.lower() for w in template_words}

    @classmethod
    def for_snapshot(cls, snapshot: Any) -> NameFinder:
        words = {w for p in [*PHRASES.values(), NO_TOPIC, NO_ANSWER, "For example, and more"]
                 for w in _WORD.findall(p.replace("{h}", "").replace("{t}", "").replace("{topic}", ""))}
        return cls(snapshot.names, words)

    def find(self, text: str) -> list[str]:
        toks = _WORD.findall(MORE.sub("", text))
        found, i = [], 0
        while i < len(toks):
            for cand in self.first.get(toks[i], ()):
                if tuple(toks[i:i + len(cand)]) == cand and not all(t.lower() in self.template_words or not t.isalnum()
                                                                     for t in cand):
                    found.append(" ".join(cand))
                    i += len(cand)
                    break
            else:
                i += 1
        return found


@dataclass
class Grounding:
    mentioned: list[str]
    unsupported: list[str]
    has_top_answer: bool | None  # None: no answer to state


def grounding(text: str, reply: Any, snapshot: Any, finder: NameFinder) -> Grounding:
    """Which entity names ``text`` mentions, which of them the evidence does not hold, and whether
    the top answer is stated."""
    allowed = {" ".join(_WORD.findall(n)) for n in evidence_names(reply, snapshot)}
    mentioned = finder.find(text)
    # a name found inside a longer evidence name's span is the evidence name's, not another entity
    unsupported = [m for m in mentioned if m not in allowed]
    pred = reply.prediction
    top = None
    if pred.answers:
        top_toks = _WORD.findall(pred.answers[0].name)
        toks = _WORD.findall(text)
        top = any(toks[i:i + len(top_toks)] == top_toks for i in range(len(toks)))
    return Grounding(mentioned, unsupported, top)


def resolution_words(res: Any, quoted: bool = False) -> str:
    """``(it = Heat)``: what a follow-up was taken to be about, when it did not name it ("" when it did);
    ``quoted``: the expression in quotes (``('it' = Heat)``)."""
    expr = repr(res.expression) if quoted else res.expression
    return {"reference": f"({expr} = {res.topic})",
            "list": f"({expr} = {res.topic})",
            "repeat": f"(the last question, about {res.topic})",
            "answers": f"({res.expression}: the previous answers)",
            "each": f"({res.expression} = each of the previous answers)",
            "ellipsis": f"(still about {res.topic})"}.get(res.how, "")


def kind_text(pred: Any, shown: int = 5) -> str | None:
    """The reply to a question beyond a path (:mod:`qa.kinds`): "Yes.", "10: A, B, ...", or why not; ``None``
    for a path question."""
    if getattr(pred, "kind", "path") == "path":
        return None
    if pred.note:
        return f"I cannot answer that from the graph: {pred.note}."
    names = [a.name for a in pred.answers[:shown]]
    more = f" and {len(pred.answers) - shown} more" if len(pred.answers) > shown else ""
    listed = f"{', '.join(names)}{more}"
    if pred.kind == "yes/no":
        return ("Yes" + (f": {listed}" if listed else "") + ".") if pred.value else "No."
    if pred.kind == "count":
        return f"{pred.value}" + (f": {listed}" if listed else "")
    if not pred.answers:
        return "None: the graph holds no entity that fits."
    if pred.kind == "superlative" and pred.value is not None:
        return f"{listed} ({pred.value:g})"
    return listed


def reply_text(reply: Any, shown: int = 5) -> str:
    """The chat's reply: what the question was taken to be about, then the answers (or that there are none)."""
    res, pred = reply.resolution, reply.prediction
    words = resolution_words(res, quoted=True)
    about = f" {words}" if words else ""
    if res.topic is None and not pred.topics and res.how not in ("answers", "each"):
        return "I found no entity of the graph in that question; name it, or put it in [brackets]."
    kind = kind_text(pred, shown)
    if kind is not None:
        return kind + about
    if not pred.answers:
        return f"The graph holds no answer to that{about}."
    names = [a.name for a in pred.answers[:shown]]
    more = f" and {len(pred.answers) - shown} more" if len(pred.answers) > shown else ""
    return f"{', '.join(names)}{more}{about}"
