"""Typed relations between the entities of a sentence, from dependency paths.

The relation vocabulary comes from the graph: each relationship type's words
give trigger lemmas (``DIRECTED_BY`` → ``direct``, ``STARRED_ACTORS`` → ``star``,
``RELEASE_YEAR`` → ``release``). Two linked mentions of one sentence are related
by type ``T`` when the dependency path between their head tokens passes through
a trigger of ``T``. The direction comes from the graph when it knows one of the
entities (it already heads, or is the target of, ``T`` relations), else from the
syntax: in a passive clause (*X was directed by Y*) the subject is the head; in
an active one (*Y directed X*, *Y starred in X*) the object is.

Only what the sentence asserts counts: the trigger must be a verb, both mentions
must be its arguments (subject, object, agent, or the noun a participle clause
modifies), and a negated (*was not directed*), modal (*could have been killed*) or
intended (*planning to attack*) trigger asserts nothing. A prepositional phrase is
an argument of an intransitive verb (*starred in Big*) or when the relation names
its preposition (``BORN_IN``, ``PLAYED_FOR``); after a verb that has its object, or
a passive one, it is a circumstance (*killed 26 people in Jerusalem*). A type named ``X_BY``
takes no prepositional argument but *by* (*wrote to the Times* is not ``WRITTEN_BY``). A
relation whose stored tails are numbers (``RELEASE_YEAR``) only takes a number as its tail, and
a relation between names never does (*released by MGM* is no release year). An entity the graph
already knows must be of a kind seen on that side of the type (*Dwan directed Shirley Temple*: an
actor is not what ``DIRECTED_BY`` heads); conjuncts (*starring A, B and C*) are never related to
each other; sentences over ``max_tokens`` tokens (lists, tables) are skipped, and so is a relation whose
mentions and trigger lie on different lines (a heading or list items the parser glued into one sentence).

Beyond the verb's own arguments: coordinated verbs share the subject, object or agent one of them lacks
(*written and directed by Y*, *Y wrote and directed X*); a participle's noun is its argument even as the
object of a preposition (*according to the Achilleid, written by Statius*). For a type named ``X_BY`` the
agent noun of its trigger (``leader``, ``director``, ``writer``, ``owner``) states it too: the noun names
the doer (*Labor leader Simon Crean*, *Kemakeza, the leader of the Alliance Party*) and what it is about
heads the relation; not when the noun is qualified away (*deputy*, *former*), has a common-noun modifier
of its own (*speech writer*), or the modifier is a place or a people (*Chicago director*: an origin).
Hedged events (*potentially directed*), possessors (*rejected Arafat's bid*), a conjunct that follows the
clause (*the Lab, directed by X, and Kokoro*), an apposition past a clause, and fragments of a name that
NER cut or split (*Jaish* of *Jaish-e-Mohammad*, *Pelican* + *Point Nudist Resort*) give nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kg.store.base import GraphStore

_MODALS = {"could", "might", "may", "would", "should", "must"}
_UNREALISED = {"plan", "threaten", "try", "want", "seek", "intend", "hope", "attempt", "vow", "refuse", "fail", "aim",
               "expect", "consider", "propose", "deny"}
# Adverbs that hedge a statement ("potentially directed by", "reportedly killed"): nothing is asserted.
_HEDGES = {"potentially", "possibly", "reportedly", "allegedly", "apparently", "probably", "perhaps", "supposedly",
           "presumably", "likely", "maybe"}
# Words that make an agent noun name someone who does not (or not yet) do the deed ("deputy leader").
_NOT_THE_AGENT = {"deputy", "vice", "assistant", "former", "future", "potential", "possible", "would-be", "alleged",
                  "suspected", "ex", "co"}
# NER labels of a noun modifier that says where someone is from rather than what they act on.
_ORIGINS = {"GPE", "LOC", "NORP"}
_FUNCTION_WORDS = {"by", "has", "have", "is", "in", "of", "the", "a", "an", "to", "on", "at", "for", "with", "actors",
                   "actor", "tags"}


@dataclass(frozen=True, slots=True)
class LinkedSpan:
    """A mention of a sentence already linked to an entity."""

    start: int
    end: int
    text: str
    entity_id: str
    label: str | None = None  # the NER label of the span, when there is one


@dataclass(frozen=True, slots=True)
class ExtractedRelation:
    """``head -[type]-> tail`` stated by ``sentence`` (character offsets into the document)."""

    head: str
    type: str
    tail: str
    trigger: str
    start: int
    end: int


def trigger_lemmas(relation_types: Sequence[str], lemmatize: Callable[[str], str]) -> dict[str, str]:
    """Trigger lemma → relationship type, from the words of each type (``DIRECTED_BY`` → ``direct``)."""
    triggers: dict[str, str] = {}
    for rel in relation_types:
        for word in rel.lower().split("_"):
            if word in _FUNCTION_WORDS or len(word) < 3 or word.isdigit():
                continue
            triggers.setdefault(lemmatize(word), rel)
    return triggers


def agent_nouns(triggers: dict[str, str]) -> dict[str, str]:
    """Agent noun → relationship type, for the types named ``X_BY`` (``lead`` → ``leader`` for ``LED_BY``,
    ``direct`` → ``director``, ``write`` → ``writer``): the noun names the doer, who is the tail."""
    nouns: dict[str, str] = {}
    for lemma, rel in triggers.items():
        if rel.endswith("_BY"):
            for suffix in ("er", "r", "or"):
                nouns.setdefault(lemma + suffix, rel)
    return nouns


class RelationExtractor:
    """Finds typed relations between linked mentions with dependency-path triggers.

    Args:
        store: the graph, for its relation vocabulary and for the direction and kind evidence.
        nlp: a spaCy pipeline with a parser and a lemmatizer.
        max_tokens: longer sentences are skipped (lists, tables and run-ons parse badly).
        typical_share: a (direction, type) is typical of a side of a relation when at least this
            share of the entities there have it (see :meth:`_fits`).
    """

    def __init__(self, store: GraphStore, nlp: object, max_tokens: int = 60, typical_share: float = 0.1) -> None:
        self.store = store
        self.nlp = nlp
        self.max_tokens = max_tokens
        self.typical_share = typical_share
        self._kind_cache: dict[str, frozenset[tuple[str, str]]] = {}
        self._side_cache: dict[tuple[str, str], tuple[frozenset[str], frozenset[tuple[str, str]]]] = {}
        types = [t for t in store.relation_types() if t != "MENTIONS"]
        self.triggers = trigger_lemmas(types, self._lemma)
        self.agent_nouns = agent_nouns(self.triggers)
        self._direction_cache: dict[tuple[str, str], str | None] = {}
        self._value_cache: dict[str, bool] = {}

    def __repr__(self) -> str:
        return f"RelationExtractor(triggers={self.triggers})"

    def _lemma(self, word: str) -> str:
        doc = self.nlp(word)  # type: ignore[operator]
        return str(doc[0].lemma_).lower() if len(doc) else word

    def extract(self, sentence: object, mentions: Sequence[LinkedSpan]) -> list[ExtractedRelation]:
        """Relations stated in ``sentence`` (a spaCy ``Span``) between ``mentions`` inside it."""
        if not self.triggers or len(mentions) < 2:
            return []
        span = sentence
        if len(span) > self.max_tokens:  # type: ignore[arg-type]
            return []  # a list, a table or a run-on: its parse is not to be trusted
        doc = span.doc  # type: ignore[attr-defined]
        heads = []
        for m in mentions:
            char_span = doc.char_span(m.start, m.end, alignment_mode="expand")
            if char_span is not None and not _cut_name(doc.text, m.start, m.end):
                heads.append((m, char_span.root))
        heads = _drop_split_names(doc.text, heads)
        found: dict[tuple[str, str, str], ExtractedRelation] = {}
        for i, (m1, r1) in enumerate(heads):
            for m2, r2 in heads[i + 1:]:
                if m1.entity_id == m2.entity_id or _conjuncts(r1, r2):
                    continue  # "starring A, B and C": A, B and C fill one role together
                for tok in _path(r1, r2)[1:-1]:
                    lemma = tok.lemma_.lower()
                    if tok.pos_ == "NOUN" and lemma in self.agent_nouns:
                        rel = self.agent_nouns[lemma]
                        direction = _agent_noun_direction(m1, m2, r1, r2, tok)
                    else:
                        rel = self.triggers.get(lemma)  # type: ignore[assignment]
                        if rel is None or not _asserted(tok):
                            continue
                        direction = self._direction(rel, m1, m2, r1, r2, tok)
                    if direction is None:
                        continue
                    lo = min(m1.start, m2.start, tok.idx)
                    hi = max(m1.end, m2.end, tok.idx + len(tok))
                    if "\n" in doc.text[lo:hi]:
                        continue  # lines the parser glued together (a heading, list items) are not one statement
                    head, tail = direction
                    if self._numeric_tails(rel) != _is_number(tail.text):
                        continue  # "released by MGM" is no RELEASE_YEAR; a year is no director
                    if not (self._fits(head.entity_id, rel, "head") and self._fits(tail.entity_id, rel, "tail")):
                        continue  # "Dwan directed Shirley Temple": an actor is not what DIRECTED_BY heads
                    found.setdefault((head.entity_id, rel, tail.entity_id), ExtractedRelation(
                        head.entity_id, rel, tail.entity_id, tok.lemma_.lower(),
                        span.start_char, span.end_char))  # type: ignore[attr-defined]
                    # no break: coordinated triggers on one path each state their relation
                    # ("written and directed by Y")
        return list(found.values())

    def _direction(self, rel: str, m1: LinkedSpan, m2: LinkedSpan, r1: Any, r2: Any,
                   trigger: Any) -> tuple[LinkedSpan, LinkedSpan] | None:
        words = frozenset(rel.lower().split("_"))
        s1, s2 = _syntactic_role(r1, trigger, words), _syntactic_role(r2, trigger, words)
        if s1 is None or s2 is None:
            return None  # one of them is not an argument of the trigger
        # A type named X_BY declares its voice (A ACCUSED_BY B: B accused A), so the syntax decides.
        # Other names (STARRED_ACTORS, HAS_GENRE) do not: there the graph, which knows which side of
        # the type an entity stands on, goes first ("Big stars Tom Hanks").
        if not rel.endswith("_BY") or s1 == s2:
            role1, role2 = self._graph_role(m1.entity_id, rel), self._graph_role(m2.entity_id, rel)
            if (role1 == "head" or role2 == "tail") and not (role2 == "head" or role1 == "tail"):
                return m1, m2
            if (role2 == "head" or role1 == "tail") and not (role1 == "head" or role2 == "tail"):
                return m2, m1
        # A type not named X_BY reads subject first (X STARRED_ACTORS Y: X starred Y; X EMPLOYS Y): when
        # the graph does not know the entities, a subject with a direct object heads the relation
        # ("Hunter -- starring Irwin", "Qantas employs 16,000 people"); "Y starred in X" is taken below.
        if not rel.endswith("_BY") and {s1, s2} == {"subj", "obj"}:
            if _direct_object(r2 if s2 == "obj" else r1, trigger):
                return (m1, m2) if s1 == "subj" else (m2, m1)
        # Passive (X was directed by Y): the subject heads the relation. Active (Y directed X,
        # Y starred in X): the object or prepositional object does.
        order = {"subjpass": 0, "obj": 1, "agent": 2, "subj": 3}
        if s1 != s2:
            return (m1, m2) if order[s1] < order[s2] else (m2, m1)
        return None

    def _numeric_tails(self, rel: str, sample: int = 50) -> bool:
        """Whether ``rel`` holds values, not names: its stored tails are (almost) all numbers
        (``RELEASE_YEAR`` → years). Such a relation only takes a number as its tail, and a relation
        between names never does."""
        if rel not in self._value_cache:
            rows = self.store.read(f"MATCH ()-[r:`{rel}`]->(t:Entity) RETURN t.name AS name LIMIT {int(sample)}").rows
            names = [str(r[0]) for r in rows if r and r[0] is not None]
            self._value_cache[rel] = bool(names) and sum(_is_number(n) for n in names) >= 0.9 * len(names)
        return self._value_cache[rel]

    def _kind(self, entity_id: str) -> frozenset[tuple[str, str]]:
        """What an entity is, in the graph's terms: the (direction, type) of its relations
        (``MENTIONS`` aside); empty for an entity the graph knows nothing about yet."""
        if entity_id not in self._kind_cache:
            kind = {("out", r.type) for r in self.store.neighbours(entity_id, "out", limit=500)}
            kind |= {("in", r.type) for r in self.store.neighbours(entity_id, "in", limit=500)}
            self._kind_cache[entity_id] = frozenset(k for k in kind if k[1] != "MENTIONS")
        return self._kind_cache[entity_id]

    def _side(self, rel: str, side: str, sample: int = 200) -> tuple[frozenset[str], frozenset[tuple[str, str]]]:
        """A sample of the entities on ``side`` of ``rel`` in the graph, and the (direction, type)
        pairs that at least ``typical_share`` of them have."""
        key = (rel, side)
        if key not in self._side_cache:
            pattern = f"(e:Entity)-[:`{rel}`]->()" if side == "head" else f"()-[:`{rel}`]->(e:Entity)"
            ids = frozenset(str(r[0]) for r in self.store.read(
                f"MATCH {pattern} RETURN DISTINCT e.id LIMIT {int(sample)}").rows)
            counts: dict[tuple[str, str], int] = {}
            for i in ids:
                for k in self._kind(i):
                    counts[k] = counts.get(k, 0) + 1
            # what is typical of the side: merged names (a film titled like an actor) are not
            typical = frozenset(k for k, c in counts.items() if c >= self.typical_share * len(ids))
            self._side_cache[key] = (ids, typical)
        return self._side_cache[key]

    def _fits(self, entity_id: str, rel: str, side: str, evidence: int = 20) -> bool:
        """Whether an entity the graph knows can stand on ``side`` of ``rel``: its kind shares a
        (direction, type) typical of the entities already there. When the graph shows ``rel`` joining
        two different kinds (``2 * evidence`` entities or more on its two sides, none on both:
        films and their actors, films and their vote buckets) an entity only ever seen on the
        other side does not fit; when it does not
        (people accuse people, or too few examples), ``rel`` itself is left out of the comparison.
        Unknown entities (new from the text) fit."""
        heads, head_kinds = self._side(rel, "head")
        tails, tail_kinds = self._side(rel, "tail")
        known = head_kinds if side == "head" else tail_kinds
        kind = set(self._kind(entity_id))
        if not (len(heads) + len(tails) >= 2 * evidence and not heads & tails):
            kind = {k for k in kind if k[1] != rel}
            known = frozenset(k for k in known if k[1] != rel)
        return not kind or not known or bool(kind & known)

    def _graph_role(self, entity_id: str, rel: str) -> str | None:
        key = (entity_id, rel)
        if key not in self._direction_cache:
            role = None
            if self.store.neighbours(entity_id, "out", [rel], limit=1):
                role = "head"
            elif self.store.neighbours(entity_id, "in", [rel], limit=1):
                role = "tail"
            self._direction_cache[key] = role
        return self._direction_cache[key]


def _conjuncts(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are conjuncts of one coordination ("A, B and C")."""
    def top(t: Any) -> Any:
        while t.dep_ == "conj" and t.head.i != t.i:
            t = t.head
        return t

    return bool(top(a).i == top(b).i and (a.dep_ == "conj" or b.dep_ == "conj"))


def _cut_name(text: str, start: int, end: int) -> bool:
    """Whether the mention ``text[start:end]`` is part of a hyphenated name that NER cut ("Jaish" of
    "Jaish-e-Mohammad"): such a fragment names nothing."""
    after = text[end:end + 2]
    before = text[max(start - 2, 0):start]
    return (len(after) == 2 and after[0] == "-" and after[1].isalpha()) or (
        len(before) == 2 and before[1] == "-" and before[0].isalpha())


def _drop_split_names(text: str, heads: list[tuple[LinkedSpan, Any]]) -> list[tuple[LinkedSpan, Any]]:
    """Mentions minus those that are pieces of one name NER split in two ("Pelican" + "Point Nudist
    Resort"): two mentions side by side, the first a compound of a word of the second."""
    split: set[int] = set()
    for a, (m1, r1) in enumerate(heads):
        for b, (m2, _) in enumerate(heads):
            gap = text[m1.end:m2.start] if m1.end <= m2.start else "x"
            if (a != b and not gap.strip() and "\n" not in gap and r1.dep_ == "compound"
                    and m2.start <= r1.head.idx < m2.end):
                split |= {a, b}
    return [h for k, h in enumerate(heads) if k not in split]


def _agent_noun_role(token: Any, noun: Any) -> str | None:
    """How ``token`` relates to an agent noun (``leader``, ``director``): ``"agent"`` when the noun
    describes it ("Labor leader Simon Crean", "Simon Crean, the leader of Labor", "Crean is the leader"),
    ``"patient"`` when it is what the noun is about ("Labor leader", "the leader of Labor", "Labor's leader")."""
    if token.head.i == noun.i and token.dep_ in ("compound", "poss") and token.i < noun.i:
        return "patient"
    if token.dep_ == "pobj" and token.head.lower_ == "of" and token.head.head.i == noun.i:
        return "patient"
    if noun.dep_ in ("compound", "appos") and noun.head.i == token.i:
        return "agent"
    if token.dep_ == "appos" and token.head.i == noun.i:
        return "agent"
    if (noun.dep_ == "attr" and token.dep_ == "nsubj" and token.head.i == noun.head.i
            and noun.head.lemma_ == "be"):
        return "agent"
    return None


def _agent_noun_direction(m1: LinkedSpan, m2: LinkedSpan, r1: Any, r2: Any,
                          noun: Any) -> tuple[LinkedSpan, LinkedSpan] | None:
    """(head, tail) of an ``X_BY`` relation stated by an agent noun: the patient heads, the agent is the tail.
    A noun qualified as not the doer ("deputy leader", "former leader") or negated states nothing."""
    if any(c.lower_ in _NOT_THE_AGENT or c.dep_ == "neg" for c in noun.children):
        return None
    if any(c.dep_ == "compound" and c.pos_ == "NOUN" and c.i not in (r1.i, r2.i) for c in noun.children):
        return None  # "Nixon's speech writer Safire": what he writes is speeches, not Nixon
    roles = (_agent_noun_role(r1, noun), _agent_noun_role(r2, noun))
    for m, r, role in ((m1, r1, roles[0]), (m2, r2, roles[1])):
        if role == "patient" and r.dep_ == "compound" and (m.label is None or m.label in _ORIGINS):
            # "Flight Director": a common word that names a film in the graph is no patient;
            # "Chicago director", "Texan director": a place or a people says where the doer is from
            return None
    if roles == ("patient", "agent"):
        return m1, m2
    if roles == ("agent", "patient"):
        return m2, m1
    return None


def _is_number(text: str) -> bool:
    """"1994", "7.5", "1,200": a value rather than a name."""
    t = text.strip().replace(",", "")
    return bool(t) and t.replace(".", "", 1).isdigit()


def _path(a: Any, b: Any) -> list[Any]:
    """Tokens on the dependency path from ``a`` to ``b`` (both ends included)."""
    up_a = [a, *a.ancestors]
    up_b = [b, *b.ancestors]
    index_b = {t.i: k for k, t in enumerate(up_b)}
    for i, tok in enumerate(up_a):
        if tok.i in index_b:
            return up_a[: i + 1] + list(reversed(up_b[: index_b[tok.i]]))
    return []


def _asserted(trigger: Any) -> bool:
    """Whether the sentence asserts the event of ``trigger``: a verb, not negated, modal or only intended."""
    if trigger.pos_ != "VERB":
        return False
    for child in trigger.children:
        if child.dep_ == "neg" or (child.dep_ == "aux" and child.lower_ in _MODALS):
            return False
        if child.dep_ == "advmod" and child.lower_ in _HEDGES:
            return False  # "potentially directed by", "reportedly killed"
    head = trigger
    while head.dep_ in ("xcomp", "conj") and head.head.i != head.i:
        head = head.head
        if head.lemma_.lower() in _UNREALISED or any(c.dep_ == "neg" for c in head.children):
            return False
    return True


def _syntactic_role(token: Any, trigger: Any, rel_words: frozenset[str] = frozenset()) -> str | None:
    """How ``token`` hangs off ``trigger``: subject, passive subject, object or agent (``None``: not an argument).

    A possessor is not an argument (*rejected Arafat's bid*: the bid was rejected). A conjunct that
    follows the trigger's clause is not what the clause describes (*the Lab, directed by X, and Kokoro*).
    Coordinated verbs share what one of them lacks (*written and directed by X*, *wrote and directed X*).

    (spaCy makes a new Token object on each access: tokens are compared by index.)
    """
    role = _own_role(token, trigger, rel_words)
    if role is not None:
        return role
    # "X was written and directed by Y", "a film produced and directed by Y": a later conjunct
    # without a subject of its own takes the subject (or the described noun) of the first.
    own = {c.dep_ for c in trigger.children}
    if trigger.dep_ == "conj" and trigger.head.pos_ in ("VERB", "AUX") and not own & {"nsubj", "nsubjpass"}:
        shared = _own_role(token, trigger.head, rel_words)
        if shared in ("subj", "subjpass"):
            return shared
    # "Y wrote and directed X", "X was written and directed by Y": an earlier conjunct without an
    # object or agent takes the later one's, when that one has no subject of its own.
    if not own & {"dobj", "agent"}:
        for conj in trigger.children:
            between = [c for c in trigger.children if trigger.i < c.i < conj.i]
            if conj.dep_ == "conj" and conj.pos_ == "VERB" and conj.i > trigger.i and not any(
                    c.dep_ in ("nsubj", "nsubjpass") for c in conj.children) and all(
                    c.dep_ in ("cc", "punct", "advmod") for c in between):
                # only "V1 and V2 X": in "wrote daily to Elsa and adopted Margot" Margot was adopted
                shared = _own_role(token, conj, rel_words)
                if shared in ("obj", "agent") and _attached_to(token, conj):
                    return shared
    return None


def _direct_object(token: Any, verb: Any) -> bool:
    """Whether ``token`` is (through conjuncts and appositions) the direct object of ``verb``."""
    tok = token
    while tok.head.i != tok.i and tok.head.i != verb.i and tok.dep_ in ("conj", "appos"):
        tok = tok.head
    return bool(tok.head.i == verb.i and tok.dep_ == "dobj")


def _attached_to(token: Any, verb: Any) -> bool:
    """Whether ``token`` is (through prepositions and conjuncts) a dependent of ``verb`` itself."""
    tok = token
    while tok.head.i != tok.i and tok.head.i != verb.i and tok.dep_ in ("pobj", "conj", "appos"):
        tok = tok.head
    return bool(tok.head.i == verb.i)


def _own_role(token: Any, trigger: Any, rel_words: frozenset[str]) -> str | None:
    """:func:`_syntactic_role` without the sharing between coordinated verbs."""
    tok = token
    while (tok.head.i != tok.i and tok.head.i != trigger.i and tok.dep_ in ("pobj", "conj", "appos")
           and tok.i != trigger.head.i):  # "a version of Animal Farm, directed by X": Farm is what is directed
        if tok.dep_ == "conj" and tok.head.i < trigger.i < tok.i:
            return None  # "the Lab, directed by X, and Kokoro": Kokoro is not directed by X
        if tok.dep_ == "appos" and any(c.dep_ in ("acl", "relcl") and tok.head.i < c.i < tok.i
                                       for c in tok.head.children):
            return None  # "a poem, P, first published in the periodical C": C is no apposition of P
        tok = tok.head
    if tok.head.i != trigger.i:
        if trigger.dep_ == "xcomp" and tok.head.i == trigger.head.i and tok.dep_ in ("nsubj", "nsubjpass"):
            return "subj"  # "A and B are scheduled to lead Australia": the controller is the subject
        modified = trigger.head
        # spaCy sometimes hangs a participle clause off its noun as advcl ("Up, directed by ...").
        participle_of_token = trigger.dep_ == "advcl" and trigger.tag_ in ("VBN", "VBG") and modified.i == tok.i
        if trigger.dep_ in ("acl", "relcl") or participle_of_token:
            # "Up, directed by Pete Docter" / "Kismet is a film directed by William Dieterle":
            # the modified noun (or the subject it describes) plays the role of the relative pronoun.
            described = modified.dep_ == "attr" and tok.dep_ == "nsubj" and tok.head.i == modified.head.i
            if modified.i == tok.i or described:
                pronoun = next((c.dep_ for c in trigger.children if c.tag_ in ("WDT", "WP")), None)
                if pronoun == "nsubj" or (pronoun is None and trigger.tag_ == "VBG"):
                    return "subj"
                if pronoun in ("dobj", "pobj"):
                    return "obj"
                return "subjpass"
        return None
    dep = tok.dep_
    if dep == "nsubjpass":
        return "subjpass"
    if dep == "nsubj":
        return "subj"
    if dep in ("dobj", "attr", "oprd"):
        return "obj"
    if dep == "agent":
        return "agent"
    if dep == "prep":
        if tok.lower_ == "by":
            return "agent"
        if tok.lower_ in rel_words:
            return "obj"  # the relation's own preposition (BORN_IN, PLAYED_FOR)
        if "by" in rel_words:
            # A type named X_BY takes its doer through "by" and its patient as a direct object:
            # "wrote to the Times", "wrote of the war", "wrote in Variety" are not what was written.
            return None
        # A verb that already has its object ("killed 26 people in Jerusalem"), or a passive one
        # ("was captured in Kandahar"), takes a prepositional phrase as a circumstance, not an argument;
        # an intransitive one ("starred in Big") takes its argument that way.
        deps = {c.dep_ for c in trigger.children}
        # "the man arrested in X": a past participle without "have" is passive, whatever the parser called it
        reduced_passive = trigger.tag_ == "VBN" and not any(c.dep_ == "aux" and c.lemma_ == "have"
                                                            for c in trigger.children)
        if deps & {"dobj", "nsubjpass", "auxpass"} or reduced_passive:
            return None
        return "obj"
    return None
