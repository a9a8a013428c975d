"""What a reply may say, and the check of what a reply said: the dialogue head's guard against
stating anything the evidence does not hold.

The head writes pointers (``E1 directed E0.``; :class:`qa.chat.replies.Entities`). For one reply the
language of true replies is small and can be listed: the answers shown, each once, in any order,
with the right count of the rest ("E1, E2, E3, E4, E5 and 12 more"), in the one-hop sentence or as
a list; then, optionally, "For example, " and evidence facts, each a triple of an evidence path
between entities of the pointer table, each once, every one sharing an entity with one before it;
or, when the graph holds no answer, that sentence. :class:`ReplyGrammar` holds that language as a
sorted list, so that "is this a prefix of a true reply" and "what must come next" are binary
searches; :meth:`qa.chat.dialogue_head.DialogueHead.stream` uses it to keep each token it picks inside
the language (the LM still chooses the order of the answers, which facts to give, and when to stop)
and to stream the text that every true continuation shares before the LM has computed it.

:func:`claims` reads a reply in pointers back into what it asserts (each listed entity is an answer,
each fact a triple) and checks each against the evidence, so the same measure applies to replies
generated with or without the grammar.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any

from qa.chat.replies import (
    NO_ANSWER,
    NO_TOPIC,
    PHRASES,
    SHOWN,
    Entities,
    _top_path,
    name_list,
    phrase,
    reference_reply,
    topic_of,
)

MAX_REPLIES = 60_000   # past this many, the answers keep the QA head's order (the facts still vary)
MAX_FACTS = 3          # facts after "For example, " (a MetaQA path has at most 3 hops)
_END = "\U0010ffff"


def _evidence_triples(reply: Any) -> set[tuple[str, str, str]]:
    return {(s.head, s.relation, s.tail) for a in reply.prediction.answers for ev in a.evidence for s in ev.steps}


def _fact_sequences(facts: list[tuple[str, str, str]], limit: int) -> list[list[tuple[str, str, str]]]:
    """Ordered sequences of distinct facts, each after the first sharing an entity with one before it."""
    out: list[list[tuple[str, str, str]]] = []

    def grow(seq: list[tuple[str, str, str]], seen: set[str]) -> None:
        if seq:
            out.append(list(seq))
        if len(seq) == limit:
            return
        for f in facts:
            if f not in seq and (not seq or f[0] in seen or f[2] in seen):
                seq.append(f)
                grow(seq, seen | {f[0], f[2]})
                seq.pop()

    grow([], set())
    return out


@dataclass
class ReplyGrammar:
    """The true replies to one question, in pointer form, sorted (no leading space)."""

    texts: list[str]
    reference_order_only: bool = False
    reference: str | None = None     # the reply the head was trained to write (qa.chat.replies.reference_reply)
    _n: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        self.texts = sorted(set(self.texts))
        self._n = len(self.texts)

    @classmethod
    def of(cls, reply: Any, snapshot: Any, shown: int = SHOWN, table: Entities | None = None) -> ReplyGrammar:
        pred = reply.prediction
        ents = table or Entities.of(reply, snapshot, shown)
        topic = topic_of(reply)
        if topic is None:
            return cls([NO_TOPIC])
        if not pred.answers:
            return cls([NO_ANSWER.format(topic=ents.ref(topic))])
        refs = [ents.ref(a.entity_id) for a in pred.answers[:shown]]
        total = len(pred.answers)
        steps = _top_path(pred)
        if len(steps) == 1:   # one hop: the answers fill the answer's slot of one sentence, and no facts follow
            s = steps[0]
            answer_is_tail = s.tail == pred.answers[0].entity_id

            def head_sentence(listed: str) -> str:
                h, t = (ents.ref(s.head), listed) if answer_is_tail else (listed, ents.ref(s.tail))
                return phrase(s.relation).format(h=h, t=t) + "."
            tails = [""]
        else:
            def head_sentence(listed: str) -> str:
                return listed + "."
            in_table = set(ents.ids)
            facts = sorted({t for t in _evidence_triples(reply) if t[0] in in_table and t[2] in in_table})
            fact_text = {f: phrase(f[1]).format(h=ents.ref(f[0]), t=ents.ref(f[2])) for f in facts}
            tails = [""] + [" For example, " + ", and ".join(fact_text[f] for f in seq) + "."
                            for seq in _fact_sequences(facts, min(MAX_FACTS, max(1, len(steps))))]
        reference_only = math.factorial(len(refs)) * len(tails) > MAX_REPLIES
        orders = [refs] if reference_only else [list(p) for p in itertools.permutations(refs)]
        grammar = cls([head_sentence(name_list(o, total, shown=shown)) + tail for o in orders for tail in tails],
                      reference_order_only=reference_only)
        ref = reference_reply(reply, snapshot, shown=shown, pointers=True)
        grammar.reference = ref if grammar.accepts(ref) else None
        return grammar

    def _range(self, prefix: str) -> tuple[int, int]:
        return bisect.bisect_left(self.texts, prefix), bisect.bisect_left(self.texts, prefix + _END)

    def allows(self, prefix: str) -> bool:
        """Whether ``prefix`` begins some true reply."""
        i = bisect.bisect_left(self.texts, prefix)
        return i < self._n and self.texts[i].startswith(prefix)

    def accepts(self, text: str) -> bool:
        """Whether ``text`` is a whole true reply."""
        i = bisect.bisect_left(self.texts, text)
        return i < self._n and self.texts[i] == text

    def done(self, text: str) -> bool:
        """Whether ``text`` is a whole true reply that no longer true reply extends."""
        i, j = self._range(text)
        return j - i == 1 and self.texts[i] == text

    def forced(self, prefix: str) -> str:
        """What every true reply that begins with ``prefix`` says next ('' when they differ at once, or
        when ``prefix`` begins none)."""
        i, j = self._range(prefix)
        if i >= j:
            return ""
        a, b = self.texts[i], self.texts[j - 1]
        n = len(prefix)
        while n < len(a) and n < len(b) and a[n] == b[n]:
            n += 1
        return a[len(prefix):n]

    def first(self, prefix: str) -> str | None:
        """A true reply that begins with ``prefix``: the reference reply if it does, else the first in sort
        order; ``None`` if none does."""
        if self.reference is not None and self.reference.startswith(prefix):
            return self.reference
        i = bisect.bisect_left(self.texts, prefix)
        return self.texts[i] if i < self._n and self.texts[i].startswith(prefix) else None

    def __len__(self) -> int:
        return self._n


# -- reading a reply back into its claims ----------------------------------------------------------
_P = r"E(\d+)"
_LIST = rf"{_P}(?:, {_P})*(?: and (?:{_P}|(\d+) more))?"


def _template_regex(relation: str) -> re.Pattern[str]:
    parts = re.split(r"(\{h\}|\{t\})", phrase(relation))
    out = "".join("(?P<h>.+?)" if p == "{h}" else "(?P<t>.+?)" if p == "{t}" else re.escape(p) for p in parts)
    return re.compile(out + r"$")


@dataclass
class Claims:
    """What a reply asserts and how much of it the evidence holds."""

    answers: list[tuple[str, bool]] = field(default_factory=list)        # (pointer, is an answer shown)
    facts: list[tuple[str, bool]] = field(default_factory=list)          # (sentence, triple in the evidence)
    count_right: bool | None = None                                      # "and N more": N right
    unread: list[str] = field(default_factory=list)                      # sentences matching no template
    repeated: int = 0                                                    # answers or facts said twice

    @property
    def n(self) -> int:
        return len(self.answers) + len(self.facts) + len(self.unread) + (self.count_right is not None)

    @property
    def supported(self) -> int:
        return (sum(ok for _, ok in self.answers) + sum(ok for _, ok in self.facts) + bool(self.count_right))

    @property
    def all_supported(self) -> bool:
        return self.supported == self.n and not self.repeated


def claims(pointer_text: str, reply: Any, snapshot: Any, shown: int = SHOWN, table: Entities | None = None) -> Claims:
    """Read a reply in pointers (as the head writes it) into its claims, each checked against the
    evidence: every listed entity must be one of the answers shown, the count of the rest right, and
    every fact (the one-hop sentence for each listed answer, each sentence after "For example, ") a
    triple of an evidence path. A sentence that reads as none of these is an unsupported claim."""
    ents = table or Entities.of(reply, snapshot, shown)
    pred = reply.prediction
    out = Claims()
    text = pointer_text.strip()
    if text == NO_TOPIC or (not pred.answers and text == NO_ANSWER.format(topic="E0")):
        return out
    shown_ids = {a.entity_id for a in pred.answers[:shown]}
    triples = _evidence_triples(reply)
    templates = [(r, _template_regex(r)) for r in sorted({r for _, r, _ in triples} | set(PHRASES))]

    def entity(p: str) -> str | None:
        i = int(p)
        return ents.ids[i] if i < len(ents.ids) else None

    def as_list(part: str) -> tuple[list[str], int | None] | None:
        """``E1, E2 and E3`` → (["1", "2", "3"], None); ``E1, ... and 7 more`` → ([...], 7)."""
        if not re.fullmatch(_LIST, part):
            return None
        more = re.search(r" and (\d+) more$", part)
        return re.findall(_P, part), int(more.group(1)) if more else None

    def readings(s: str) -> list[tuple[str, str, str]]:
        """Every way ``s`` reads as a relation's sentence: (relation, head part, tail part)."""
        return [(r, m.group("h"), m.group("t")) for r, rx in templates for m in [rx.match(s)] if m]

    def add_answers(ptrs: list[str], more: int | None) -> None:
        seen: set[str | None] = set()
        for p in ptrs:
            e = entity(p)
            out.answers.append((f"E{p}", e in shown_ids))
            out.repeated += e in seen
            seen.add(e)
        if more is not None or len(pred.answers) > len(ptrs):   # a list that stops short must say how many more
            out.count_right = more == len(pred.answers) - len(ptrs)

    first, _, rest = text.partition(" For example, ")
    first = first.removesuffix(".")
    one_hop = None
    for r, h, t in readings(first):
        hl, tl = as_list(h), as_list(t)
        if hl is None or tl is None:
            continue
        # the fixed side is a single pointer, the topic's when both sides are single
        if len(hl[0]) == 1 and hl[1] is None and (len(tl[0]) > 1 or tl[1] is not None or hl[0] == ["0"]):
            one_hop = (r, hl[0][0], tl, True)
        elif len(tl[0]) == 1 and tl[1] is None:
            one_hop = (r, tl[0][0], hl, False)
        if one_hop is not None:
            break
    if one_hop is not None:
        r, fixed, (ptrs, more), listed_is_tail = one_hop
        add_answers(ptrs, more)
        for p in ptrs:
            triple = (entity(fixed), r, entity(p)) if listed_is_tail else (entity(p), r, entity(fixed))
            out.facts.append((f"E{p} {r}", triple in triples))
    elif (parsed := as_list(first)) is not None:
        add_answers(*parsed)
    else:
        out.unread.append(first)
    seen_facts: set[str] = set()
    for s in [x for x in rest.removesuffix(".").split(", and ") if x]:
        f = next((x for x in readings(s) if re.fullmatch(_P, x[1]) and re.fullmatch(_P, x[2])), None)
        if f is None:
            out.unread.append(s)
            continue
        triple = (entity(f[1][1:]), f[0], entity(f[2][1:]))
        out.facts.append((s, triple in triples))
        out.repeated += s in seen_facts
        seen_facts.add(s)
    return out
