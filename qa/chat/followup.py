"""Follow-ups about the last answer, read before pronouns and ellipsis (see :mod:`qa.chat.conversation`):

- **"and X?"**, "what about X", "how about X": the last question again, about X (an entity the linker finds
  in the words after the cue): ``how="repeat"``;
- **"the first one"**, "the second film", "the last of them", "number 3": an answer of the last turn, as
  the answers were shown (in order): ``how="list"``;
- **"which of them"**, "those", "how many of these", "the oldest of them": the last turn's answers as a set, which
  the question filters, counts, compares or orders (:meth:`qa.kinds.answer.KindAnswerer.on_entities`):
  ``how="answers"``;
- **"they", "them", "their"** after several answers: the question asked of each of them (up to
  :data:`MAX_EACH`), the answers merged ("who directed them", "what else did they direct"): ``how="each"``.

Each returns ``(question, topic, how, expression)`` for :class:`qa.chat.conversation.Resolution`, or ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

MAX_SET = 500
"""Answers of a turn remembered for "which of them" (the history keeps their ids)."""

_ORDINALS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3,
             "fifth": 4, "5th": 4, "sixth": 5, "6th": 5, "seventh": 6, "eighth": 7, "ninth": 8, "tenth": 9,
             "last": -1}
_NOUNS = r"(?:one|ones|film|movie|person|answer|result|item|entry|name|of them|of those|of these|on the list)"
PICK = re.compile(r"\b(?:the\s+)?(" + "|".join(_ORDINALS) + r")\s+" + _NOUNS + r"\b"
                  r"|\b(?:number|no\.?|#)\s*(\d{1,2})\b", re.IGNORECASE)
REPEAT = re.compile(r"^\s*(?:and|what about|how about|same for|and what about|and how about)\s+(.+?)[\s?.!]*$",
                    re.IGNORECASE)
SET = re.compile(r"\b(?:of|among|from)\s+(?:them|those|these)\b|\b(?:those|these)\b(?!\s+(?:who|that|which)\b)",
                 re.IGNORECASE)
EACH = re.compile(r"\b(?:they|them|their)\b", re.IGNORECASE)
EACH_OF = re.compile(r"\b(?:(?:for\s+)?each|every\s+one|(\w+))\s+of\s+(?:them|those|these)\b", re.IGNORECASE)
MAX_EACH = 20
"""At most this many previous answers are each asked about ("who directed them")."""
_BRACKET = re.compile(r"\[[^\]]+\]")


def resolve(text: str, last: dict[str, Any] | None, linker: Any, snapshot: Any, naming: Collection[str] = ()
            ) -> tuple[str, str | None, str, str | None] | None:
    """The follow-up reading of ``text`` given the last turn of the history (see the module docstring);
    ``naming``: the words of the graph's relation names ("genre", "director"): "the genre of them" asks
    each of them, "which of them" filters them."""
    if not last:
        return None
    m = REPEAT.match(text)
    if m and _BRACKET.search(last.get("resolved") or ""):
        res = linker.link(m.group(1))
        # what follows "and" is a name: the linker's choice, else its best exact-name candidate
        named = [(x.score, str(x.entity_id)) for x in res.mentions if x.entity_id is not None]
        named += [(c.score * 0.5, str(c.entity_id)) for x in res.mentions for c in x.candidates[:1]
                  if c.source == "exact" and x.entity_id is None]
        named = [(sc, e) for sc, e in named if e in snapshot.index_of]
        if named:
            ent = max(named)[1]
            name = snapshot.names[snapshot.index_of[ent]]
            return _BRACKET.sub(lambda _: f"[{name}]", last["resolved"], count=1), ent, "repeat", m.group(1)
    shown = last.get("answer_ids") or [a[0] for a in last.get("answers") or []]   # in the order shown
    m = PICK.search(text)
    if m and shown:
        k = _ORDINALS[m.group(1).lower()] if m.group(1) else int(m.group(2)) - 1
        if -len(shown) <= k < len(shown):
            ent = shown[k]
            if ent in snapshot.index_of:
                name = snapshot.names[snapshot.index_of[ent]]
                return text[:m.start()] + f"[{name}]" + text[m.end():], ent, "list", m.group(0)
    m = EACH_OF.search(text)
    if m and len(last.get("answer_ids") or []) >= 2 and (m.group(1) is None or m.group(1).lower() in naming):
        return text, None, "each", m.group(0)      # "for each of them", "the genre of them": a path from each
    m = SET.search(text)
    if m and last.get("answer_ids"):
        return text, None, "answers", m.group(0)
    m = EACH.search(text)
    if m and len(last.get("answer_ids") or []) >= 2:
        return text, None, "each", m.group(0)
    return None


PERSONAL = re.compile(r"^(?:he|him|his|she|her|hers|(?:that|this|the same) (?:person|man|woman|guy|"
                      r"\w+(?:er|or|ist|ess|ant|ent|ian)))$", re.IGNORECASE)
"""A referring expression that means a person: a personal pronoun, or "that" + an agent noun ("that writer")."""
_AGENT_ENDINGS = ("er", "or", "ist", "ess", "ant", "ent", "ian")


def person_like(snapshot: Any) -> Any:
    """``(N,)`` bool: entities at the end of a relation that names an agent — "directed by" (the director),
    "starred actors" (an actor), "written by" (the writer) — by the relation's own words
    (:func:`qa.data.synthesis.roles`). What "he", "she", "that person" can mean."""
    import numpy as np

    from qa.data.synthesis import roles

    agent = []
    for r, rel in enumerate(snapshot.relations):
        fwd, _ = roles(rel)
        head_noun = (fwd.noun or "").split(" of ")[0].split(" ")[-1]
        if fwd.by or (fwd.kind == "noun" and head_noun.endswith(_AGENT_ENDINGS)):
            agent.append(r)
    out = np.zeros(snapshot.num_nodes, bool)
    if agent:
        out[snapshot.dst[np.isin(snapshot.edge_type, agent)]] = True
    return out
