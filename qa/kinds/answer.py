"""Questions beyond relation paths: counts, filters, intersections, comparisons, superlatives and yes/no.

:class:`KindAnswerer` wraps a path answerer (:class:`qa.answer.answerer.FusionAnswerer`). A question whose
words ask for nothing but a path, about one entity, goes to the path answerer unchanged. Otherwise it is
composed:

1. **Entities and values**: the linker's mentions (the best-scored one is the topic, an entity the user
   typed by name is a *constraint*) and the graph's categorical values named in the words ("comedies",
   "French", "1994"; :class:`qa.kinds.values.ValueIndex`). A question naming only values takes the first
   as its topic ("how many films came out in 1994").
2. **Operation words** (:func:`qa.kinds.reading.read`): count, yes/no, a comparison with a number, a
   superlative.
3. **The path**: the path answerer reads the question with the constraints, the comparison and the
   superlative taken out (a clause of theirs after the topic goes whole: "... and starring Tom Hanks") and
   the topic in brackets; its answers' evidence paths vote (weighted by the answers' scores). The path
   kept is the best-voted one, or a shorter start of it, that the rest of the question fits (one of its
   entities joined to each constraint, having a number, or of the yes/no target's kind). A last hop into a
   constraint's relation ("films released in [1994]") or into the numeric relation compared ("came out
   after 2000") is the constraint, not the path, and is dropped.
4. **The set**: the path is walked from the topic over the whole graph (exact, like the Cypher), then
   each constraint keeps the entities with an edge to it (the relation is the one, among those joining the
   set to it, that the question's words score highest), a comparison keeps those whose numeric value
   holds (the numeric relation the question's words score highest among those the set has whose values
   in the graph span the number), a superlative keeps those with the largest or smallest value.
5. **The answer**: the set (with evidence paths), its size (``count``), or whether the other entity is
   in it (``yes``/``no``: tried with each entity as the topic; yes when either holds). Every composed
   prediction carries ``kind``, ``value``, a ``cypher`` query with ``params`` that returns exactly that
   answer on either store, and ``reading`` (the composition in words).

When the words ask for something the graph cannot give (a reason: "why ..."; an order by a value the graph
does not keep as numbers; a number no numeric relation spans; a yes/no question with one entity), the
prediction says so in ``note`` and has no answers, rather than answering a path question it guessed.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from typing import Any

import numpy as np
import torch
from spacy.lang.en.stop_words import STOP_WORDS

from kg.names import lookup_key
from qa.answer.evidence import relation_path_evidence
from qa.answer.paths import Direction, Hop, RelationPath, step, walk
from qa.data.questions import Question
from qa.kinds.cypher import Aggregate, Composition, describe
from qa.kinds.reading import COUNT, Reading, read
from qa.kinds.values import NUMBER, ValueIndex
from qa.types import Answer, Prediction

SET_REFERENCE = re.compile(r"\b(?:(?:any|all|each|one|none|some|either|both)\s+)?(?:of\s+)?(?:them|those|these)\b",
                           re.IGNORECASE)
"""Words that point at the previous answers ("which of them", "any of those", "these"): not entity names."""


@dataclass
class Found:
    """An entity named in the question: node index, span, whether it is a categorical value, linker score."""

    node: int
    span: tuple[int, int]
    value: bool
    score: float


@dataclass
class Plan:
    """How a question is answered (see the module docstring): ``kind`` is ``path``, ``count``, ``yes/no``,
    ``filter``, ``comparison``, ``superlative`` (the outermost operation) or ``unsupported``, ``topic`` and
    ``others`` entities."""

    text: str
    kind: str
    reading: Reading
    topic: Found | None
    others: list[Found] = field(default_factory=list)


def _function_words(text: str) -> bool:
    """``"the one"``, ``"it"``: typed in lower case and nothing but function words."""
    words = text.split()
    return bool(words) and text == text.lower() and all(w in STOP_WORDS for w in words)


_CLAUSE = re.compile(r"\b(?:having|with|that|which|who|whose|where|and|but)\b|,", re.IGNORECASE)


def _clause(text: str, span: tuple[int, int], topic: tuple[int, int]) -> tuple[int, int]:
    """``span`` widened back to the start of its clause when the clause follows the topic's name (the last
    of "having", "with", "that", "which", "who", "whose", "where", "and", "but", "," between them)."""
    if topic[1] <= topic[0] or span[0] < topic[1]:
        return span
    marks = [m.start() for m in _CLAUSE.finditer(text, topic[1], span[0])]
    return (marks[-1], span[1]) if marks else span


def _rewrite(text: str, edits: dict[tuple[int, int], str]) -> str:
    """``text`` with each span replaced (overlapping spans: the first one wins), spaces tidied."""
    out, last = [], 0
    for (s, e), repl in sorted(edits.items()):
        if s < last:
            continue
        out += [text[last:s], repl]
        last = e
    out.append(text[last:])
    return re.sub(r"\s+", " ", "".join(out)).strip()


def path_votes(pred: Prediction, topic: str) -> Counter[RelationPath]:
    """The relation paths from ``topic`` that a path prediction's answers were reached by (the first
    evidence path of each), weighted by the answers' scores."""
    votes: Counter[RelationPath] = Counter()
    for a in pred.answers:
        for ev in a.evidence[:1]:
            hops, cur = [], topic
            for st in ev.steps:
                out = st.head == cur
                hops.append(Hop(st.relation, "out" if out else "in"))
                cur = st.tail if out else st.head
            votes[tuple(hops)] += a.score
    return votes


class KindAnswerer:
    """Answers every kind of question the module docstring lists, through ``base`` for the paths.

    Args:
        base: the path answerer (its graph, linker, relation scorer and model).
        floor: an entity typed by exact name counts as named when the linker scores it at least this high
            (default: the path answerer's own ``head.topic_floor``).
        evidence: evidence paths kept per answer; max_shown: answers given evidence paths (every answer is
            listed, as the Cypher returns them all).
    """

    def __init__(self, base: Any, floor: float | None = None, evidence: int = 1, max_shown: int = 50) -> None:
        self.base, self.evidence, self.max_shown = base, evidence, max_shown
        self.floor = floor if floor is not None else base.head.topic_floor
        self.snapshot = base.graph.snapshot
        self.values = ValueIndex.build(self.snapshot)
        self.notes: list[str] = list(getattr(base, "notes", []))

    @property
    def graph(self) -> Any:
        return self.base.graph

    @property
    def linker(self) -> Any:
        return self.base.linker

    def __repr__(self) -> str:
        return f"KindAnswerer({self.base!r}, numeric={sorted(self.values.numeric)})"

    # -- reading ---------------------------------------------------------------------------------
    def plan(self, question: Question, strip_brackets: bool = False) -> Plan:
        text = question.plain
        snap = self.snapshot
        found: list[Found] = []
        bracket = None if strip_brackets else question.topic
        if bracket and bracket in snap.index_of:
            s = text.find(bracket)
            found.append(Found(snap.index_of[bracket], (s, s + len(bracket)) if s >= 0 else (0, 0), False, 1.0))
        [res] = self.base.linker.link_batch([text])
        # a lower-case run of function words ("the one") is not a title, and a number is read as a number
        mentions = [self._exact_inside(text, m) for m in res.mentions if not _function_words(m.text)]
        linked = [m for m in mentions if m.entity_id is not None and str(m.entity_id) in snap.index_of]
        reading = read(text, skip=[self._name_span(text, m) for m in linked if not NUMBER.match(m.text.strip())]
                       + [f.span for f in found])
        taken = [r.span for r in (reading.comparison, reading.superlative) if r is not None]
        for m in mentions:
            ent = str(m.entity_id) if m.entity_id is not None else None
            if ent is None:
                exact = [c for c in m.candidates[:1] if c.source == "exact" and c.score >= self.floor]
                ent = str(exact[0].entity_id) if exact else None
            if (ent is None or ent not in snap.index_of or any(a < m.end and m.start < b for a, b in taken)
                    or lookup_key(m.text) in self.values.naming):          # "the director": a relation's word
                continue
            node = snap.index_of[ent]
            if any(f.node == node for f in found):
                continue
            is_value = any(r in self.values.categorical for r in self.values.relations_into(node))
            found.append(Found(node, (m.start, m.end), is_value, float(m.score)))
        for s, e, nodes in self.values.names(text, taken):       # names typed exactly that the linker missed
            inside = [f for f in found if s <= f.span[0] and f.span[1] <= e and (s, e) != f.span]
            if any(f.span[0] < e and s < f.span[1] for f in found if f not in inside) or any(
                    f.node in nodes for f in found):
                continue
            for f in inside:                                   # "Jean-Luc Godard", not the linker's "Godard"
                found.remove(f)
            node = max(nodes, key=lambda n: int(snap.out_ptr[n + 1] - snap.out_ptr[n] + snap.in_ptr[n + 1]
                                                - snap.in_ptr[n]))
            is_value = any(r in self.values.categorical for r in self.values.relations_into(node))
            found.append(Found(node, (s, e), is_value, 0.0))
        for s, e, node, _ in self.values.after_words(text, taken):   # "whose tag is motorcycle": a value, any case
            same = [f for f in found if f.node == node]
            if same:            # linked too: "which have writer [John Marsden]" names a constraint, not the topic
                found = [dc_replace(f, value=True) if f in same else f for f in found]
                continue
            over = [f for f in found if f.span[0] < e and s < f.span[1]]
            if any(f.span[0] < s or e < f.span[1] for f in over):   # a longer name holds it ("Japanese Story")
                continue
            found = [f for f in found if f not in over]              # the relation's word decides
            found.append(Found(node, (s, e), True, 0.0))
        skip = [f.span for f in found] + taken
        for s, e, node in self.values.find(text, skip):
            if not any(f.node == node for f in found):
                found.append(Found(node, (s, e), True, 0.0))
        if not found:   # nothing named above the floor: the linker's best exact-name candidate ("motorcycle films")
            exact = [(c.score, m, str(c.entity_id)) for m in mentions for c in m.candidates[:1]
                     if c.source == "exact" and str(c.entity_id) in snap.index_of
                     and not any(a < m.end and m.start < b for a, b in taken)]
            if exact:
                sc, m, ent = max(exact, key=lambda x: x[0])
                found.append(Found(snap.index_of[ent], (m.start, m.end), False, float(sc)))
        names = [f for f in found if not f.value]
        topic = (found[0] if bracket and found else
                 max(names, key=lambda f: f.score) if names else min(found, key=lambda f: f.span) if found else None)
        others = sorted((f for f in found if f is not topic), key=lambda f: f.span)
        if reading.unsupported:
            kind = "unsupported"
        elif reading.count:
            kind = "count"
        elif reading.yes_no:
            kind = "yes/no"
        elif reading.superlative:
            kind = "superlative"
        elif reading.comparison:
            kind = "comparison"
        elif others:
            kind = "filter"
        else:
            kind = "path"
        return Plan(text, kind, reading, topic, others)

    def _exact_inside(self, text: str, m: Any) -> Any:
        """A mention linked by a fuzzy match ("Stanley Kubrick's first" → "Stanley Kubrick's Boxes") that holds
        a name typed exactly ("Stanley Kubrick") is that name."""
        if m.entity_id is None or str(m.entity_id) not in self.snapshot.index_of:
            return m
        name = self.snapshot.names[self.snapshot.index_of[str(m.entity_id)]]
        if lookup_key(name) == lookup_key(m.text):
            return m
        inside = [(e - s, s, e, nodes) for s, e, nodes in self.values.names(text[:m.end]) if s >= m.start]
        if not inside:
            return m
        _, s, e, nodes = max(inside)
        return dc_replace(m, start=s, end=e, text=text[s:e], entity_id=self.snapshot.node_ids[nodes[0]],
                          candidates=[])

    def _name_span(self, text: str, m: Any) -> tuple[int, int]:
        """The part of a linked mention that is the entity's name ("Stanley Kubrick's first" → "Stanley
        Kubrick"): the rest is read for operation words."""
        name = self.snapshot.names[self.snapshot.index_of[str(m.entity_id)]]
        at = text.lower().find(name.lower(), m.start, m.end)
        return (at, at + len(name)) if at >= 0 else (m.start, m.end)

    # -- answering -------------------------------------------------------------------------------
    def predict(self, questions: Sequence[Question], *, strip_brackets: bool = False,
                batch_size: int = 64) -> list[Prediction]:
        start = time.perf_counter()
        plans = [self.plan(q, strip_brackets) for q in questions]
        out: list[Prediction | None] = [None] * len(plans)
        plain = [i for i, p in enumerate(plans) if p.kind == "path" and not self._scanned(p)]
        if plain:
            preds = self.base.predict([questions[i] for i in plain], strip_brackets=strip_brackets,
                                      batch_size=batch_size)
            for i, p in zip(plain, preds, strict=True):
                out[i] = p
        # a path question whose topic only the name scans found ("what movies have the tag motorcycle"): the
        # path model is given that topic, in brackets, as the linker would have
        scanned = [i for i, p in enumerate(plans) if p.kind == "path" and self._scanned(p)]
        if scanned:
            asked = []
            for i in scanned:
                plan, topic = plans[i], plans[i].topic
                assert topic is not None
                (s, e), name = topic.span, self.snapshot.node_ids[topic.node]
                asked.append(Question(f"{plan.text[:s]}[{name}]{plan.text[e:]}", questions[i].answers, topic=name))
            for i, p in zip(scanned, self.base.predict(asked, batch_size=batch_size), strict=True):
                p.question = questions[i].text
                out[i] = p
        for i, p in enumerate(plans):
            if out[i] is None:
                out[i] = self._compose(questions[i].text, p)
        per = (time.perf_counter() - start) / max(1, len(plans))
        for pred in out:
            assert pred is not None
            pred.seconds = per
        return [p for p in out if p is not None]

    @staticmethod
    def _scanned(plan: Plan) -> bool:
        """The plan's topic was found by a name scan, not linked (its score is 0)."""
        return plan.topic is not None and plan.topic.score == 0.0 and plan.topic.span[1] > plan.topic.span[0]

    def _path(self, plan: Plan, topic: Found, drop: Sequence[Found]) -> tuple[list[RelationPath], Prediction]:
        """The relation paths the path answerer reads in the question (with ``drop`` and the comparison taken
        out, ``topic`` in brackets), best first: its answers' evidence paths vote, weighted by score."""
        name = self.snapshot.node_ids[topic.node]
        r = plan.reading
        # a constraint's clause after the topic goes with it ("... [Spielberg] and starring Tom Hanks",
        # "... [road trip] having genre Drama", "... with a release year before 2010", "..., which is the
        # most recent"); before the topic only its words go ("the most recent film directed by [X]")
        spans = [f.span for f in drop] + [x.span for x in (r.comparison, r.superlative) if x is not None]
        edits = {_clause(plan.text, sp, topic.span): "" for sp in spans}
        if r.count:
            m = COUNT.search(plan.text)
            if m:
                edits[m.span()] = "which" if m.group(0).lower() == "how many" else ""
        if topic.span[1] > topic.span[0]:
            edits[topic.span] = f"[{name}]"
        core = _rewrite(plan.text, edits)
        if "[" not in core:
            core = f"{core} [{name}]"
        [pred] = self.base.predict([Question(core, (), topic=name)])
        return [p for p, _ in path_votes(pred, name).most_common()], pred

    def _scores(self, text: str) -> dict[str, float]:
        """Each relation's cosine with ``text``: the text model's mean token state, as the path answerer pools
        it (no on-disk cache: the API calls this from its worker thread)."""
        with torch.no_grad():
            [states] = self.base.tokens.states([text])
        vec = states.astype(np.float32).mean(0)
        vec /= max(float(np.linalg.norm(vec)), 1e-9)
        row = self.base.retriever.relation_scorer.from_vectors(vec[None])[0]
        return dict(zip(self.snapshot.relations, row.tolist(), strict=True))

    def _hops_to(self, nodes: np.ndarray, target: int) -> Counter[Hop]:
        """Hops from the nodes to ``target`` (either stored direction), with how many nodes have each."""
        snap, found = self.snapshot, Counter[Hop]()
        for direction, ptr, nbr, typ in (("out", snap.out_ptr, snap.out_nbr, snap.out_type),
                                         ("in", snap.in_ptr, snap.in_nbr, snap.in_type)):
            lo, hi = ptr[target], ptr[target + 1]
            back: Direction = "in" if direction == "out" else "out"
            mask = np.isin(nbr[lo:hi], nodes)
            for t in typ[lo:hi][mask]:
                found[Hop(snap.relations[int(t)], back)] += 1
        return found

    def _values(self, nodes: np.ndarray, hop: Hop) -> dict[int, list[float]]:
        snap, out = self.snapshot, {}
        rel = snap.relations.index(hop.relation)
        for n in nodes.tolist():
            a, b = snap.out_ptr[n], snap.out_ptr[n + 1]
            vals = [self.values.numbers[int(v)] for v, t in zip(snap.out_nbr[a:b], snap.out_type[a:b], strict=True)
                    if t == rel and int(v) in self.values.numbers]
            if vals:
                out[n] = vals
        return out

    def _numeric_hop(self, nodes: np.ndarray, reading: Reading, words: str) -> tuple[Hop | None, str]:
        """The numeric relation to compare or order the set by, or a note why there is none: for a comparison,
        one whose values in the graph span the number (a year for "after 2000", not a count);
        for a superlative, the one its words score highest, unless they score an attribute whose values are
        not numbers higher ("the highest rated" where ratings are words)."""
        if not self.values.numeric:
            return None, "the graph keeps no numbers (no relation whose values are all numbers) to compare or order by"
        have: dict[str, list[float]] = {}
        for rel in sorted(self.values.numeric):
            vals = [v for vs in self._values(nodes, Hop(rel, "out")).values() for v in vs]
            if vals:
                have[rel] = vals
        if not have:
            return None, "none of the entities asked about has a number to compare or order by"
        if reading.comparison is not None:
            # a relation whose values in the graph span the number (a year for "after 2000", not a count)
            cmp = reading.comparison
            high = cmp.high if cmp.high is not None else cmp.number
            fits = [r for r in have if self.values.ranges[r][0] <= high and cmp.number <= self.values.ranges[r][1]]
            if not fits:
                ranges = ", ".join(f"{r} {self.values.ranges[r][0]:g}..{self.values.ranges[r][1]:g}" for r in have)
                return None, f"no number of these entities is comparable with {cmp.number:g} ({ranges})"
            scores = self._scores(words)
            return Hop(max(fits, key=lambda r: scores[r]), "out"), ""
        scores = self._scores(words)
        best = max(have, key=lambda r: scores[r])
        closer = [r for r in self.values.categorical if r not in self.values.numeric and scores[r] > scores[best] + 0.1]
        if closer:
            return None, (f"'{words}' asks about {closer[0]}, whose values are not numbers: "
                          "kgqa cannot order by it")
        return Hop(best, "out"), ""

    def _compose(self, text: str, plan: Plan) -> Prediction:
        kind, snap = plan.kind, self.snapshot
        if kind == "unsupported":
            return self._none(text, plan, [snap.node_ids[plan.topic.node]] if plan.topic else [],
                              plan.reading.unsupported or "")
        if plan.topic is None:
            return self._none(text, plan, [], "no entity of the graph is named in the question")
        if kind == "yes/no":
            if not plan.others:
                return self._none(text, plan, [snap.node_ids[plan.topic.node]],
                                  "a yes/no question needs two things to relate; only one was found in the graph")
            target = plan.others[-1]
            rest = [f for f in plan.others if f is not target]
            pred = None
            for topic, other in ((plan.topic, target), (target, plan.topic)):
                got = self._set(text, plan, topic, [*rest, other], target=other)
                if pred is None or (got.value and not pred.value):
                    pred = got
                if got.value:
                    break
            assert pred is not None
            return pred
        # two entities named: the one the path starts from is the one whose reading gives an answer
        # (the best-linked first)
        order = [plan.topic] + [f for f in plan.others if not f.value]
        pred = None
        for topic in order:
            rest = [f for f in [plan.topic, *plan.others] if f is not topic]
            got = self._set(text, plan, topic, rest)
            if pred is None:
                pred = got
            if got.answers or (got.value not in (None, 0)):
                return got
        assert pred is not None
        return pred

    def _set(self, text: str, plan: Plan, topic: Found, others: Sequence[Found], target: Found | None = None
             ) -> Prediction:
        snap = self.snapshot
        tid = snap.node_ids[topic.node]
        paths, _ = self._path(plan, topic, others)
        constraints = [f for f in others if f is not target]
        if target is not None and target.value:
            # "is [Heat] a comedy": whether the topic has the value, through a relation that ends at values
            # like it (the one the words score highest)
            into = self.values.relations_into(target.node)
            scores = self._scores(plan.text)
            first = paths[0] if paths else ()
            if into and not (len(first) == 1 and first[0].direction == "out" and first[0].relation in into):
                paths = [(Hop(max(into, key=lambda r: scores[r]), "out"),)]
        if not paths:
            return self._none(text, plan, [tid], "the path model found no relation path from the topic")
        path, nodes = self._fitting(topic.node, paths, plan.reading, constraints, target)
        return self._apply(text, plan, nodes, path, tid, constraints, target)

    def _fitting(self, start: int, paths: Sequence[RelationPath], reading: Reading, constraints: Sequence[Found],
                 target: Found | None) -> tuple[RelationPath, np.ndarray]:
        """The best-voted relation path (or a shorter start of it) whose entities the rest of the question can
        apply to: one of them is joined to each constraint, has a number to compare or order, or is of the
        yes/no target's kind (the relation types it has). A last hop into a constraint's value or into a
        numeric relation is that constraint ("films released in [1994]"), not the path. When none fits, the
        best-voted path: the answer is then empty, as the graph says."""
        snap = self.snapshot
        tried: list[RelationPath] = []
        for voted in paths:
            for n in range(len(voted), 0, -1):
                path = self._trim(voted[:n], reading, constraints)
                if path not in tried:
                    tried.append(path)
        for path in tried:
            nodes, _ = walk(snap, start, path)
            if not len(nodes):
                continue
            if any(not self._hops_to(nodes, c.node) for c in constraints):
                continue
            if (reading.comparison or reading.superlative) and self.values.numeric and not any(
                    self._values(nodes, Hop(r, "out")) for r in self.values.numeric):
                continue
            if target is not None and not target.value and not self._same_kind(nodes, target.node):
                continue
            return path, nodes
        path = tried[0]
        return path, walk(snap, start, path)[0]

    def _trim(self, path: RelationPath, reading: Reading, constraints: Sequence[Found]) -> RelationPath:
        """``path`` without a last hop into a constraint's value or into the numeric relation compared."""
        if (reading.comparison or reading.superlative) and len(path) > 1 and path[-1].direction == "out" \
                and path[-1].relation in self.values.numeric:
            path = path[:-1]
        for c in constraints:
            last = path[-1]
            if len(path) > 1 and last.direction == "out" and last.relation in self.values.relations_into(c.node):
                path = path[:-1]
        return path

    def _same_kind(self, nodes: np.ndarray, target: int) -> bool:
        """Whether some of ``nodes`` has the kind of ``target``: the same outgoing relation types (entities
        with none, such as people in a film graph, are of one kind)."""
        snap = self.snapshot

        def kind(n: int) -> frozenset[int]:
            return frozenset(snap.out_type[snap.out_ptr[n]:snap.out_ptr[n + 1]].tolist())

        want = kind(target)
        sample = nodes[:: max(1, len(nodes) // 50)][:50]
        return any((kind(int(n)) & want) or (not want and not kind(int(n))) for n in sample)

    def on_entities(self, text: str, entity_ids: Sequence[str], also: Sequence[str] = ()) -> Prediction:
        """``text`` asked of the given entities (the previous answers: "which of them are comedies", "how
        many of those came out after 2000", "which of them is the oldest"): its constraints, comparison,
        superlative or count apply to that set, with a Cypher query that starts from it. ``also``: entities the
        conversation resolved a pronoun to ("which of those did *he* also direct"), constraints like the named ones."""
        plan = self.plan(Question(SET_REFERENCE.sub("", text), ()), strip_brackets=True)
        snap = self.snapshot
        found = [f for f in ([plan.topic] if plan.topic else []) + plan.others]
        found += [Found(snap.index_of[e], (0, 0), False, 1.0) for e in also
                  if e in snap.index_of and all(f.node != snap.index_of[e] for f in found)]
        plan = Plan(plan.text, plan.kind if plan.kind != "path" else "filter", plan.reading, None, found)
        start = np.asarray(sorted({snap.index_of[e] for e in entity_ids if e in snap.index_of}), np.int64)
        return self._apply(text, plan, start, (), None, found, None, start=[snap.node_ids[int(n)] for n in start])

    def each(self, text: str, entity_ids: Sequence[str], preds: Sequence[Prediction]) -> Prediction | None:
        """One question asked of several entities ("what are their genres" after a list of films), its
        per-entity path predictions ``preds`` merged: the relation path they vote for together (the same
        question asks the same thing of each) is walked from every entity, so that one entity the model
        misreads does not bring in answers of another kind. When the words name one relation by its noun
        ("their genres"), the path ends with that relation. An answer's score is the share of the entities
        that reach it; the Cypher walks the path from each of them. ``None`` when there is no path."""
        snap = self.snapshot
        votes: Counter[RelationPath] = Counter()
        for e, pred in zip(entity_ids, preds, strict=True):
            votes.update(path_votes(pred, e))
        named = self.values.relations_named(text)
        if len(named) == 1:
            # "what are their imdb ratings": the question names the relation it asks for, so the path ends
            # with it (one hop if no prediction read it: an entity without the fact reads as something else)
            last = Hop(snap.relations[named.pop()], "out")
            fitting = [p for p in votes if p and p[-1] == last]
            path = max(fitting, key=lambda p: votes[p]) if fitting else (last,)
        elif votes:
            path = votes.most_common(1)[0][0]
        else:
            return None
        reached: dict[str, int] = {}
        evidence: dict[str, list[Any]] = {}
        for e in entity_ids:
            nodes, _ = walk(snap, snap.index_of[e], path)
            ids = [snap.node_ids[int(n)] for n in nodes]
            for a in ids:
                reached[a] = reached.get(a, 0) + 1
            for a, evs in relation_path_evidence(snap, e, ids[: self.max_shown], path, limit=self.evidence).items():
                evidence.setdefault(a, []).extend(evs[:1])
        n = max(1, len(entity_ids))
        ranked = sorted(reached, key=lambda a: (-reached[a], snap.names[snap.index_of[a]]))
        answers = [Answer(a, snap.names[snap.index_of[a]], reached[a] / n, evidence.get(a, [])[:3]) for a in ranked]
        out = Prediction(text, list(entity_ids), [(a.entity_id, a.score) for a in answers], answers)
        comp = Composition(path)
        out.cypher, out.params = comp.cypher(None, entity_ids)
        out.reading = f"each of {len(entity_ids)}: {describe(comp, str)}"
        return out

    def _apply(self, text: str, plan: Plan, nodes: np.ndarray, path: RelationPath, tid: str | None,
               constraints: Sequence[Found], target: Found | None, start: Sequence[str] = ()) -> Prediction:
        """The constraints, the comparison or superlative, and the count or yes/no, applied to ``nodes`` (the
        path's walk from ``tid``, or the entities ``start``), with the Cypher that gives the same answer."""
        snap, reading = self.snapshot, plan.reading
        topics = [tid] if tid else []
        numeric: Hop | None = None
        note = ""
        if reading.comparison or reading.superlative:
            words = plan.text if reading.superlative is None else self._superlative_words(plan)
            numeric, note = self._numeric_hop(nodes, reading, words)
            if numeric is None:
                return self._none(text, plan, topics, note)
        words_scores = self._scores(plan.text)
        hops: list[tuple[Hop, str]] = []
        for c in constraints:
            options = self._hops_to(nodes, c.node)
            if not options:       # none of them is joined to it: the hop the words name, among those it has
                nodes = nodes[:0]
                at = self._hops_to(np.arange(snap.num_nodes), c.node)
                hop = max(at, key=lambda h: (words_scores[h.relation], at[h])) if at else Hop(snap.relations[0], "out")
                hops.append((hop, snap.node_ids[c.node]))
                continue
            hop = max(options, key=lambda h: (words_scores[h.relation], options[h]))
            nodes = self._with_hop(nodes, c.node, hop)
            hops.append((hop, snap.node_ids[c.node]))
        value: Any = None
        aggregate: Aggregate = "list"
        if numeric is not None:
            vals = self._values(nodes, numeric)
            if reading.comparison is not None:
                cmp = reading.comparison
                nodes = np.asarray(sorted(n for n, vs in vals.items() if any(cmp.holds(v) for v in vs)), np.int64)
            if reading.superlative is not None:
                vals = {n: vs for n, vs in vals.items() if n in set(nodes.tolist())}
                aggregate = reading.superlative.direction
                if vals:
                    pick = max if aggregate == "max" else min
                    best = pick(pick(vs) for vs in vals.values())
                    nodes = np.asarray(sorted(n for n, vs in vals.items() if best in vs), np.int64)
                    value = best
                else:
                    nodes = nodes[:0]
        if plan.kind == "count":
            aggregate, value = "count", len(nodes)
        elif target is not None:
            aggregate, value = "exists", bool(target.node in set(nodes.tolist()))
        elif plan.kind == "yes/no":                                   # "did Ron Howard direct any of them"
            aggregate, value = "exists", bool(len(nodes))
        comp = Composition(path, tuple(hops), numeric, reading.comparison, aggregate,
                           snap.node_ids[target.node] if target is not None else None)
        cypher, params = comp.cypher(tid, start)
        shown = nodes if target is None else np.asarray([target.node] if value else [], np.int64)
        ids = [snap.node_ids[int(n)] for n in shown]          # all of them: exactly what the Cypher returns
        with_ev = ids[: self.max_shown]
        ev = relation_path_evidence(snap, tid, with_ev, path, limit=self.evidence) if with_ev and tid and path else {}
        answers = [Answer(e, snap.names[snap.index_of[e]], 1.0, ev.get(e, [])) for e in ids]
        pred = Prediction(text, topics, [(a.entity_id, 1.0) for a in answers], answers)
        pred.kind, pred.value, pred.cypher, pred.params = plan.kind, value, cypher, params
        pred.reading = describe(comp, lambda e: snap.names[snap.index_of[e]] if e in snap.index_of else e)
        if note:
            pred.note = note
        return pred

    def _with_hop(self, nodes: np.ndarray, target: int, hop: Hop) -> np.ndarray:
        """Those of ``nodes`` that ``hop`` joins to ``target``: the target's walk back along the hop."""
        back = Hop(hop.relation, "in" if hop.direction == "out" else "out")
        joined, _ = step(self.snapshot, np.asarray([target], np.int64), np.ones(1), back)
        return nodes[np.isin(nodes, joined)]

    def _superlative_words(self, plan: Plan) -> str:
        sup = plan.reading.superlative
        assert sup is not None
        after = re.match(r"\s*(\w+(?:ed|est))\b", plan.text[sup.span[1]:])     # "highest rated", "most voted"
        return f"{sup.word} {after.group(1)}" if after else sup.word

    def _none(self, text: str, plan: Plan, topics: list[str], note: str) -> Prediction:
        pred = Prediction(text, topics, [], [])
        pred.kind, pred.value, pred.note = plan.kind, None, note
        return pred
