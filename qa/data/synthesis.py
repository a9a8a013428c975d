"""Questions synthesised from a graph: zero-shot training data from the graph's own relation names.

:func:`synthesise` samples relation paths of 1..``max_hops`` hops that exist in a
:class:`~retrieval.snapshot.GraphSnapshot` (each hop a relation walked forward, head to tail, or
backward), then topic entities for each path, and writes each (path, topic) as a few
:class:`~qa.data.questions.Question` s in words made from the relation names, with the full answer set
the path reaches in the graph. Nothing here knows any dataset: every rule works on any English
relation name, and every choice (which paths exist, how many answers, singular or plural) is
computed from the graph.

- **Paths** are enumerated level by level over the set of nodes each path can end at (exact: a path is
  kept when some walk follows it); ``paths`` caps how many are kept per hop count, picked round-robin
  over their last hop so rare relations stay covered. Every path gets up to ``per_path`` topics, so
  questions are balanced over paths, not over edges.
- **Answers** are the graph as it is: a walk may pass through or end at the topic ("the child of [X]'s
  parent" answers X and X's siblings). Topics whose answer set is larger than ``max_answers`` (or whose
  walk spreads over more than ``max_frontier`` nodes at a step) are skipped.
- **Words**: each relation is read by :func:`kg.names.describe_relation` and a few rules
  (:func:`roles`): ``X by`` gives an agent noun (``directed by`` → "director"; backward "the ones
  directed by [X]"), ``has X`` and a leading preposition give the noun X, ``X of`` is read backward as
  the noun X, anything else is its own noun; nouns come singular and plural. Templates
  (:data:`TEMPLATES`) wrap the nested noun phrase; each question records its template in
  ``extra["template"]`` so some templates can be held out of training (``templates=``).

Each question is what a question file holds: ``text`` with the topic's *name* in ``[brackets]``,
``answers`` the answer entity ids, ``topic`` the name, ``hop=None`` (hops are latent),
``source="synth:REL>/<REL"`` and ``extra={"path": "REL> / <REL", "template": ...}`` (the path in
:func:`qa.answer.paths.format_path` form). Deterministic for a seed.

Usage::

    qs = synthesise(snapshot, max_hops=3, per_path=10, phrasings=2, seed=0)
    train = [q for q in qs if q.extra["template"] != "keyword"]     # hold a phrasing out
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from kg.names import describe_relation, lookup_key
from qa.data.questions import Question
from retrieval.snapshot import GraphSnapshot, gather

Kind = Literal["noun", "passive", "inverse", "verb_out", "verb_in"]
Step = tuple[int, bool]              # (relation index, forward?)
Path = tuple[Step, ...]

SOURCE_PREFIX = "synth:"
"""The start of every synthesised question's ``source`` (``synth:REL>/<REL``): how training tells them apart."""

TEMPLATES: tuple[str, ...] = ("what_is", "which_is", "tell_me", "possessive", "keyword", "which_has", "passive",
                              "by_what", "active")
"""Template ids, in the order :func:`synthesise` prefers them on ties. See :func:`render`."""


@dataclass(frozen=True)
class SynthesisConfig:
    """What :func:`synthesise` makes.

    Args:
        max_hops: longest relation path (1..K hops).
        per_path: topics per relation path (each gives ``phrasings`` questions); a tuple gives one number
            per hop count (``(200, 20, 5)``: 200 topics per 1-hop path, ...; the last one repeats).
        paths: most relation paths kept per hop count (``None``: every path the graph has).
        phrasings: questions (distinct templates) per (path, topic), when that many templates apply.
        max_answers: skip a topic whose answer set is larger.
        max_frontier: skip a topic whose walk reaches more nodes than this at any step (bounds time).
        min_support: a path is extended by a hop only when at least this fraction of the nodes it can
            end at have that hop (0: every extension that exists). Drops paths that exist only through a
            few odd nodes (one node standing for two kinds of thing) without dropping rare relations.
        templates: template ids that may be used (default all of :data:`TEMPLATES`).
        synonym_rate: with ``synonyms`` given to :func:`synthesise`, the share of questions whose role
            nouns are said with another word (:func:`qa.data.synonyms.role_synonyms`).
        seed: the random seed; the same seed and graph give the same questions.
    """

    max_hops: int = 3
    per_path: int | tuple[int, ...] = 10
    paths: int | None = None
    phrasings: int = 2
    max_answers: int = 50
    max_frontier: int = 2000
    min_support: float = 0.02
    templates: tuple[str, ...] = TEMPLATES
    synonym_rate: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.templates) - set(TEMPLATES)
        if unknown:
            raise ValueError(f"unknown template ids {sorted(unknown)}; choose from {list(TEMPLATES)}")
        per_path = self.per_path if isinstance(self.per_path, tuple) else (self.per_path,)
        if self.max_hops < 1 or not per_path or min(per_path) < 1 or self.phrasings < 1 or self.max_answers < 1:
            raise ValueError("max_hops, per_path, phrasings and max_answers must be at least 1")


# -- words ---------------------------------------------------------------------------------------------
_AUX = {"is", "was", "are", "were", "be", "been", "being"}
_LEADING = {"has", "have", "had", "in", "on", "at", "from", "with", "for"}
_TRAILING_PREP = {"in", "to", "for", "at", "on", "with", "from", "into", "as", "about"}
# participle -> (agent noun, simple past) for common irregular verbs; regular ones follow rules
_IRREGULAR = {"written": ("writer", "wrote"), "sung": ("singer", "sang"), "made": ("maker", "made"),
              "built": ("builder", "built"), "held": ("holder", "held"), "led": ("leader", "led"),
              "taught": ("teacher", "taught"), "sold": ("seller", "sold"), "bought": ("buyer", "bought"),
              "won": ("winner", "won"), "spoken": ("speaker", "spoke"), "driven": ("driver", "drove"),
              "drawn": ("drawer", "drew"), "shot": ("shooter", "shot"), "run": ("runner", "ran")}
_PLURALS = {"child": "children", "person": "people", "man": "men", "woman": "women", "wife": "wives",
            "life": "lives", "foot": "feet", "mouse": "mice"}
_SINGULARS = {v: k for k, v in _PLURALS.items()}


def words(relation: str) -> str:
    """``"DIRECTED_BY"`` → ``"directed by"``, camel case split (``hasGenre`` → ``"has genre"``)."""
    return describe_relation(re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", relation))


def agent_noun(participle: str) -> tuple[str, str | None] | None:
    """(agent noun, simple past) of a past participle: ``directed`` → (director, directed),
    ``written`` → (writer, wrote), ``produced`` → (producer, produced); ``None`` for no participle."""
    p = participle
    if p in _IRREGULAR:
        return _IRREGULAR[p]
    if not p.endswith("ed") or len(p) < 5:
        return None
    if p.endswith("ied"):
        return p[:-3] + "ier", p
    for ending in ("ated", "cted", "ited"):
        if p.endswith(ending):
            return p[:-2] + "or", p
    return p[:-2] + "er", p


def _looks_plural(word: str) -> bool:
    return word in _SINGULARS or (len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")))


def _inflect(noun: str, plural: bool) -> str:
    """The noun phrase with its head noun (the last word, or the word before ``of``) made plural or singular."""
    head_part, of, rest = noun.partition(" of ")
    parts = head_part.split(" ")
    w = parts[-1]
    if plural and not _looks_plural(w):
        if w in _PLURALS:
            w = _PLURALS[w]
        elif w.endswith("y") and len(w) > 1 and w[-2] not in "aeiou":
            w = w[:-1] + "ies"
        elif w.endswith(("s", "x", "z", "ch", "sh")):
            w = w + "es"
        else:
            w = w + "s"
    elif not plural and _looks_plural(w):
        if w in _SINGULARS:
            w = _SINGULARS[w]
        elif w.endswith("ies") and len(w) > 4:
            w = w[:-3] + "y"
        elif w.endswith(("sses", "xes", "ches", "shes", "zes")):
            w = w[:-2]
        else:
            w = w[:-1]
    return " ".join([*parts[:-1], w]) + (of + rest if of else "")


@dataclass(frozen=True)
class Role:
    """How one hop names the nodes it reaches from an inner noun phrase.

    ``noun`` (singular) is the role noun: what the reached nodes are to the inner ones (kind ``noun``:
    "the director of X"), or what the inner ones are to the reached ones (``passive``: the agent noun;
    ``inverse``: "the ones whose genre is X"). ``phrase`` is the participle (``passive``) or the
    relation's words (``verb_*``); ``past`` the simple past for the active form; ``by`` the participle
    of a forward hop of a ``X by`` relation ("what was [X] directed by"); ``many``: a node usually
    reaches several (mean fan-out ≥ 1.5 in the graph).
    """

    kind: Kind
    noun: str
    many: bool
    phrase: str = ""
    past: str | None = None
    by: str | None = None

    def np(self, inner: str, inner_many: bool, style: str = "of") -> tuple[str, bool]:
        """(noun phrase of the reached nodes, plural?) given the inner noun phrase."""
        many = self.many or inner_many
        ones = "ones" if many else "one"
        if self.kind == "noun":
            n = _inflect(self.noun, many)
            owner = f"{inner}'" if inner.endswith("s") else f"{inner}'s"     # the parents' spouses
            text = {"of": f"the {n} of {inner}", "poss": f"{owner} {n}", "keyword": f"{inner} {n}"}[style]
        elif self.kind == "passive":
            text = f"the {ones} {self.phrase} by {inner}"
        elif self.kind == "inverse":
            text = f"the {ones} whose {self.noun} is {inner}"
        elif self.kind == "verb_out":
            text = f"the {ones} {inner} {self.phrase}"
        else:
            text = f"the {ones} that {self.phrase} {inner}"
        return text, many


def roles(relation: str, forward_many: bool = False, backward_many: bool = False) -> tuple[Role, Role]:
    """(forward role, backward role) of a relation name, by rule (see the module docstring)."""
    toks = words(relation).split(" ") or [relation]
    while len(toks) > 1 and toks[0] in _AUX:
        toks = toks[1:]
    if len(toks) >= 2 and toks[-1] == "by" and (agent := agent_noun(toks[-2])) is not None:
        noun = " ".join([*toks[:-2], agent[0]])
        participle = " ".join(toks[:-1])
        return (Role("noun", noun, forward_many, by=participle),
                Role("passive", noun, backward_many, phrase=participle, past=agent[1] if len(toks) == 2 else None))
    if len(toks) >= 2 and toks[-1] == "of":
        noun = _inflect(" ".join(toks[:-1]), False)
        return Role("inverse", noun, forward_many), Role("noun", noun, backward_many)
    if len(toks) >= 2 and toks[-1] in _TRAILING_PREP:
        phrase = " ".join(toks)
        return Role("verb_out", "", forward_many, phrase=phrase), Role("verb_in", "", backward_many, phrase=phrase)
    if len(toks) >= 2 and toks[0] in _LEADING:
        toks = toks[1:]
    noun = _inflect(" ".join(toks), False)
    return Role("noun", noun, forward_many), Role("inverse", noun, backward_many)


def _chain(rs: Sequence[Role], topic: str, style: str = "of") -> tuple[str, bool] | None:
    if style != "of" and any(r.kind != "noun" for r in rs):
        return None
    text, many = f"[{topic}]", False
    for r in rs:
        text, many = r.np(text, many, style)
    return text, many


def _be(many: bool, past: bool = False) -> str:
    return ("were" if many else "was") if past else ("are" if many else "is")


def render(template: str, rs: Sequence[Role], topic: str) -> str | None:
    """The question of ``template`` for the hops' roles ``rs`` (topic first), or ``None`` where it does not apply.

    - ``what_is``: "what is the spouse of the parent of [X]"; ``which_is``: "which entities are the ones
      whose genre is [X]"; ``tell_me``: "tell me the ones directed by [X]"
    - ``possessive``: "what is [X]'s parent's spouse"; ``keyword``: "[X] parent spouse" (noun hops only)
    - ``which_has``: "which entity has [X] as its director" (last hop backward, by its noun)
    - ``passive``: "what was directed by [X]"; ``active``: "the writer of [X] directed what" (last hop a
      backward ``X by``); ``by_what``: "what was [X] directed by" (last hop a forward ``X by``)
    """
    *inner_rs, last = rs
    if template in ("what_is", "which_is", "tell_me"):
        text, many = _chain(rs, topic) or ("", False)
        if template == "which_is":
            return f"which {'entities' if many else 'entity'} {_be(many)} {text}"
        return f"what {_be(many)} {text}" if template == "what_is" else f"tell me {text}"
    if template in ("possessive", "keyword"):
        got = _chain(rs, topic, "poss" if template == "possessive" else "keyword")
        if got is None:
            return None
        return f"what {_be(got[1])} {got[0]}" if template == "possessive" else got[0]
    inner, inner_many = _chain(inner_rs, topic) or ("", False)
    if template == "which_has" and last.kind in ("passive", "inverse"):
        many = last.many or inner_many
        return (f"which entities have {inner} as their {last.noun}" if many
                else f"which entity has {inner} as its {last.noun}")
    if template == "passive" and last.kind == "passive":
        return f"what {_be(last.many or inner_many, past=True)} {last.phrase} by {inner}"
    if template == "active" and last.kind == "passive" and last.past:
        return f"{inner} {last.past} what"
    if template == "by_what" and last.kind == "noun" and last.by:
        return f"what {_be(inner_many, past=True)} {inner} {last.by} by"
    return None


def _distinct(x: np.ndarray) -> np.ndarray:
    """Sorted distinct values (np.unique without its per-call overhead, which dominates on small arrays)."""
    if len(x) <= 1:
        return x.copy()
    x = np.sort(x)
    keep = np.empty(len(x), dtype=bool)                                           # (K,)
    keep[0] = True
    np.not_equal(x[1:], x[:-1], out=keep[1:])
    return x[keep]


# -- graph -----------------------------------------------------------------------------------------------
@dataclass
class _Graph:
    """Per-relation edge lists and the roles of each (relation, direction)."""

    snapshot: GraphSnapshot
    heads: list[np.ndarray] = field(default_factory=list)   # per relation: (E_r,) heads
    tails: list[np.ndarray] = field(default_factory=list)   # per relation: (E_r,) tails
    roles: dict[Step, Role] = field(default_factory=dict)

    @classmethod
    def build(cls, snapshot: GraphSnapshot) -> _Graph:
        g = cls(snapshot)
        order = np.argsort(snapshot.edge_type, kind="stable")                      # (E,)
        bounds = np.searchsorted(snapshot.edge_type[order], np.arange(snapshot.num_relations + 1))
        for r, rel in enumerate(snapshot.relations):
            idx = order[bounds[r]:bounds[r + 1]]                                   # (E_r,)
            h, t = snapshot.src[idx], snapshot.dst[idx]
            g.heads.append(h)
            g.tails.append(t)
            if len(idx):
                fwd, bwd = roles(rel, len(idx) / len(np.unique(h)) >= 1.5, len(idx) / len(np.unique(t)) >= 1.5)
                g.roles[(r, True)], g.roles[(r, False)] = fwd, bwd
        return g

    def move(self, nodes: np.ndarray, step: Step) -> np.ndarray:
        """Distinct nodes one hop from ``nodes`` (any node, the start included, may be reached)."""
        r, forward = step
        ptr, nbr, typ = ((self.snapshot.out_ptr, self.snapshot.out_nbr, self.snapshot.out_type) if forward
                         else (self.snapshot.in_ptr, self.snapshot.in_nbr, self.snapshot.in_type))
        if len(nodes) == 1:                               # one node: its edges of type r are one run
            a, b = int(ptr[nodes[0]]), int(ptr[nodes[0] + 1])
            lo, hi = np.searchsorted(typ[a:b], (r, r + 1))
            return _distinct(nbr[a + lo:a + hi])
        pos, _ = gather(ptr, nodes)                                                # (K,)
        return _distinct(nbr[pos[typ[pos] == r]])

    def extensions(self, ends: np.ndarray, min_support: float = 0.0) -> dict[Step, np.ndarray]:
        """Every hop that at least a ``min_support`` fraction (and at least one) of the nodes ``ends``
        have, and the distinct nodes it reaches from ``ends``."""
        snap, n, f = self.snapshot, self.snapshot.num_nodes, len(ends)
        out: dict[Step, np.ndarray] = {}
        for forward, ptr, nbr, typ in ((True, snap.out_ptr, snap.out_nbr, snap.out_type),
                                       (False, snap.in_ptr, snap.in_nbr, snap.in_type)):
            pos, owner = gather(ptr, ends)                                         # (K,), (K,)
            having = np.bincount(_distinct(typ[pos] * f + owner) // f, minlength=snap.num_relations)  # (R,)
            key = _distinct(typ[pos] * n + nbr[pos])                               # (U,) by (type, node)
            kt = key // n
            for chunk in np.split(key, np.flatnonzero(np.diff(kt)) + 1):
                r = int(chunk[0] // n) if len(chunk) else -1
                if r >= 0 and having[r] >= max(1.0, min_support * f):
                    out[(r, forward)] = chunk % n
        return out

    def starts(self, path: Path) -> np.ndarray:
        """Every node from which some walk follows ``path`` (backward from all nodes, exact)."""
        mask = np.ones(self.snapshot.num_nodes, dtype=bool)                        # (N,)
        for r, forward in reversed(path):
            src, dst = (self.heads[r], self.tails[r]) if forward else (self.tails[r], self.heads[r])
            new = np.zeros_like(mask)
            new[src[mask[dst]]] = True
            mask = new
        return np.flatnonzero(mask)


def _pick(paths: list[Path], cap: int | None, rng: np.random.Generator) -> list[Path]:
    """At most ``cap`` paths, taken round-robin over their last hop (each group in random order)."""
    if cap is None or len(paths) <= cap:
        return paths
    groups: dict[Step, list[Path]] = {}
    for i in rng.permutation(len(paths)):
        groups.setdefault(paths[i][-1], []).append(paths[i])
    keys = sorted(groups)
    keys = [keys[i] for i in rng.permutation(len(keys))]
    picked: list[Path] = []
    while len(picked) < cap:
        for k in keys:
            if groups[k] and len(picked) < cap:
                picked.append(groups[k].pop())
    return sorted(picked)


def relation_paths(snapshot: GraphSnapshot, max_hops: int = 3, cap: int | None = None, min_support: float = 0.02,
                   seed: int = 0) -> list[tuple[str, ...]]:
    """The relation paths of 1..``max_hops`` hops that exist in the graph, as ``("REL>", "<REL")`` tuples."""
    g = _Graph.build(snapshot)
    return [tuple(_hop_str(snapshot, s) for s in p)
            for p in _enumerate(g, max_hops, cap, min_support, np.random.default_rng(seed))]


def _enumerate(g: _Graph, max_hops: int, cap: int | None, min_support: float,
               rng: np.random.Generator) -> list[Path]:
    level: dict[Path, np.ndarray] = {}
    for step in sorted(g.roles):
        r, forward = step
        level[(step,)] = np.unique(g.tails[r] if forward else g.heads[r])
    kept = _pick(sorted(level), cap, rng)
    found = list(kept)
    for _ in range(1, max_hops):
        nxt: dict[Path, np.ndarray] = {}
        for p in kept:
            for step, ends in g.extensions(level[p], min_support).items():
                nxt[(*p, step)] = ends
        kept = _pick(sorted(nxt), cap, rng)
        level = {p: nxt[p] for p in kept}
        found += kept
    return found


def _hop_str(snapshot: GraphSnapshot, step: Step) -> str:
    rel = snapshot.relations[step[0]]
    return f"{rel}>" if step[1] else f"<{rel}"


def _topic_ok(snapshot: GraphSnapshot) -> np.ndarray:
    """(N,) bool: the node's name is usable as a bracketed topic (non-empty, unique, no brackets or tabs)."""
    keys = [lookup_key(n) for n in snapshot.names]
    counts = Counter(keys)
    bad = re.compile(r"[\[\]\t\n|]")
    return np.array([bool(k) and counts[k] == 1 and not bad.search(n) for k, n in zip(keys, snapshot.names,
                                                                                   strict=True)], dtype=bool)


def role_nouns(snapshot: GraphSnapshot) -> list[str]:
    """The nouns the questions use for the graph's relations (both directions), for :mod:`qa.data.synonyms`."""
    return sorted({r.noun for r in _Graph.build(snapshot).roles.values() if r.noun})


def synthesise(snapshot: GraphSnapshot, config: SynthesisConfig | None = None,
               synonyms: Mapping[str, Sequence[str]] | None = None, **overrides: Any) -> list[Question]:
    """Questions with answer sets from ``snapshot``'s relation paths (see the module docstring).

    ``config`` fields may be given as keywords instead (``synthesise(snap, max_hops=2, seed=1)``).
    Questions come grouped by path (shortest paths first), topics in sampled order. ``synonyms`` (role
    noun -> other words) says a ``config.synonym_rate`` share of the questions with other words.
    """
    cfg = replace(config or SynthesisConfig(), **overrides)
    rng = np.random.default_rng(cfg.seed)
    g = _Graph.build(snapshot)
    topic_ok = _topic_ok(snapshot)
    usage: Counter[str] = Counter()
    rank = {t: i for i, t in enumerate(TEMPLATES)}
    out: list[Question] = []
    for path in _enumerate(g, cfg.max_hops, cfg.paths, cfg.min_support, rng):
        rs = [g.roles[s] for s in path]
        hops = [_hop_str(snapshot, s) for s in path]
        name = "/".join(hops)
        extra_path = " / ".join(hops)
        starts = g.starts(path)
        starts = starts[topic_ok[starts]]
        want = cfg.per_path if isinstance(cfg.per_path, int) else cfg.per_path[min(len(path), len(cfg.per_path)) - 1]
        tries = min(len(starts), 4 * want)
        accepted = 0
        for t in rng.choice(starts, size=tries, replace=False) if tries else []:
            answers = _walk(g, int(t), path, cfg.max_frontier)
            if answers is None or not 0 < len(answers) <= cfg.max_answers:
                continue
            topic = snapshot.names[int(t)]
            texts: list[tuple[str, str]] = []
            for tpl in cfg.templates:
                text = render(tpl, rs, topic)
                if text is not None:
                    texts.append((tpl, text))
            tie = rng.random(len(texts))
            texts = [texts[i] for i in sorted(range(len(texts)), key=lambda i: (usage[texts[i][0]], tie[i],
                                                                                 rank[texts[i][0]]))]
            ids = tuple(snapshot.node_ids[i] for i in answers)
            for tpl, text in texts[:cfg.phrasings]:
                if (synonyms and cfg.synonym_rate > 0 and any(r.noun in synonyms for r in rs)
                        and rng.random() < cfg.synonym_rate):
                    said = [replace(r, noun=str(rng.choice(list(synonyms[r.noun])))) if r.noun in synonyms else r
                            for r in rs]
                    text = render(tpl, said, topic) or text
                usage[tpl] += 1
                out.append(Question(text, ids, topic, None, f"{SOURCE_PREFIX}{name}",
                                    {"path": extra_path, "template": tpl}))
            accepted += 1
            if accepted >= want:
                break
    return out


def _walk(g: _Graph, start: int, path: Path, max_frontier: int) -> np.ndarray | None:
    """The distinct nodes ``path`` reaches from ``start`` (the start may be passed through or reached);
    ``None`` when a step reaches more than ``max_frontier`` nodes."""
    nodes = np.asarray([start], dtype=np.int64)                                   # (F,)
    for step in path:
        nodes = g.move(nodes, step)
        if len(nodes) > max_frontier:
            return None
    return nodes

