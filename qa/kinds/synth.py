"""Questions of every kind, made from a graph with their gold answers: for measuring :mod:`qa.kinds` on any graph.

Each question starts from a one-hop set — the entities a relation joins to a topic, named by the
relation's own words (:func:`qa.data.synthesis.roles`: "the ones directed by [X]", "the genres of [X]")
— and asks one thing of it, with the gold answer computed from the graph:

- ``count``: how many there are (the gold ``value`` is the number);
- ``yes/no``: whether a given entity is one of them (half yes, half no; ``value`` True/False);
- ``filter``: those that have a categorical value ("... whose genre is Comedy");
- ``intersection``: those also joined to a second named entity by another relation;
- ``comparison``: those whose number (a numeric relation) is above or below one of the set's values;
- ``superlative``: those with the largest or smallest number.

Phrasings come in two groups, :data:`PHRASINGS` ``dev`` (looked at while building :mod:`qa.kinds`) and
``held_out`` (written once, run only to report): the benchmark reports both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qa.answer.paths import Hop, walk
from qa.data.synthesis import _Graph
from qa.eval.metrics import f1, first_gold_rank, hits_at
from qa.kinds.values import ValueIndex
from retrieval.snapshot import GraphSnapshot

# {np}: the set's noun phrase ("the ones directed by [X]"); {cnp}: the constraint's phrase; {y}: an entity
PHRASINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "dev": {
        "count": ("how many are {np}", "what is the number of {np}", "count {np}"),
        "yes/no": ("is [{y}] one of {np}", "is [{y}] among {np}"),
        "filter": ("which of {np} have {cnp}", "{np} with {cnp}"),
        "intersection": ("which of {np} have {cnp}", "{np} that also have {cnp}"),
        "comparison": ("which of {np} have a {noun} after {n}", "{np} with a {noun} before {n}"),
        "superlative": ("which of {np} has the latest {noun}", "the one of {np} with the earliest {noun}"),
    },
    "held_out": {
        "count": ("tell me how many of {np} there are", "how many of {np} exist in the graph",
                  "give me the number of {np}"),
        "yes/no": ("does {np} include [{y}]", "is it true that [{y}] is one of {np}", "[{y}] is among {np}, right?"),
        "filter": ("list {np} having {cnp}", "out of {np}, which have {cnp}"),
        "intersection": ("out of {np}, which have {cnp}", "name {np} having {cnp} too"),
        "comparison": ("list {np} whose {noun} is later than {n}", "out of {np}, which have a {noun} earlier than {n}"),
        "superlative": ("out of {np}, which has the most recent {noun}", "which of {np} has the oldest {noun}"),
    },
}
KINDS = tuple(PHRASINGS["dev"])


@dataclass
class KindQuestion:
    """A made question: ``text`` (topic in brackets), its ``kind``, the gold ``answers`` (entity ids) and,
    for ``count`` and ``yes/no``, the gold ``value``; ``phrasing`` is ``dev`` or ``held_out``."""

    text: str
    kind: str
    answers: tuple[str, ...]
    value: Any
    phrasing: str
    template: str


def _np(g: _Graph, rel: int, forward: bool, topic: str) -> str:
    text, _ = g.roles[(rel, forward)].np(f"[{topic}]", False)
    return text


def _has(g: _Graph, rel: int, value: str) -> str:
    """"a genre Comedy" style words for having ``value`` through ``rel`` (forward)."""
    role = g.roles[(rel, True)]
    noun = role.noun or g.snapshot.relations[rel].lower().replace("_", " ")
    return f"{noun} [{value}]" if role.kind == "noun" else f"[{value}] as their {noun or 'value'}"


def synthesise_kinds(snapshot: GraphSnapshot, per_kind: int = 50, phrasing: str = "held_out", seed: int = 0,
                     min_set: int = 2, max_set: int = 30) -> list[KindQuestion]:
    """``per_kind`` questions of each kind (fewer where the graph offers fewer), in phrasings of the group
    ``phrasing``. Sets come from relations walked backward (head → the heads that share a tail, e.g. a
    director's films) with ``min_set``..``max_set`` members."""
    rng = np.random.default_rng(seed)
    g = _Graph.build(snapshot)
    values = ValueIndex.build(snapshot)
    snap, names = snapshot, snapshot.names
    rel_of = {r: i for i, r in enumerate(snap.relations)}
    templates = PHRASINGS[phrasing]
    base_rels = [r for r in range(snap.num_relations) if snap.relations[r] not in values.categorical
                 and (r, False) in g.roles]
    out: list[KindQuestion] = []
    made = dict.fromkeys(KINDS, 0)
    tries = 0
    while min(made.values()) < per_kind and tries < per_kind * 400:
        tries += 1
        rel = int(rng.choice(base_rels))
        tails = g.tails[rel]
        x = int(tails[rng.integers(len(tails))])
        members, _ = walk(snap, x, (Hop(snap.relations[rel], "in"),))
        if not (min_set <= len(members) <= max_set):
            continue
        kind = KINDS[int(np.argmin([made[k] for k in KINDS]))]
        np_text = _np(g, rel, False, names[x])
        t = templates[kind][made[kind] % len(templates[kind])]
        ids = [snap.node_ids[int(m)] for m in members]
        q: KindQuestion | None = None
        if kind == "count":
            q = KindQuestion(t.format(np=np_text), kind, tuple(ids), len(ids), phrasing, t)
        elif kind == "yes/no":
            if made[kind] % 2 == 0:
                y = int(rng.choice(members))
            else:   # an entity of the same kind that is not one of them
                pool = np.setdiff1d(np.unique(g.heads[rel]), members)
                if not len(pool):
                    continue
                y = int(rng.choice(pool))
            yes = bool(y in set(members.tolist()))
            q = KindQuestion(t.format(np=np_text, y=names[y]), kind, (snap.node_ids[y],) if yes else (), yes,
                             phrasing, t)
        elif kind in ("filter", "intersection"):
            pick = _constraint(g, values, members, rel, categorical=kind == "filter", rng=rng)
            if pick is None:
                continue
            r2, v, keep = pick
            q = KindQuestion(t.format(np=np_text, cnp=_has(g, r2, names[v])), kind,
                             tuple(snap.node_ids[int(m)] for m in keep), None, phrasing, t)
        else:
            nums = sorted(values.numeric)
            if not nums:
                continue
            r3 = rel_of[nums[int(rng.integers(len(nums)))]]
            vals = {}
            for m in members.tolist():
                a, b = snap.out_ptr[m], snap.out_ptr[m + 1]
                vs = [values.numbers[int(v)] for v, ty in zip(snap.out_nbr[a:b], snap.out_type[a:b], strict=True)
                      if ty == r3 and int(v) in values.numbers]
                if vs:
                    vals[m] = vs
            if len(vals) < 2 or len({v for vs in vals.values() for v in vs}) < 2:
                continue
            noun = g.roles[(r3, True)].noun or snap.relations[r3].lower()
            if kind == "comparison":
                later = "after" in t or "later" in t
                cut = float(np.median([v for vs in vals.values() for v in vs]))
                keep = [m for m, vs in vals.items() if any((v > cut) if later else (v < cut) for v in vs)]
                if not keep:
                    continue
                q = KindQuestion(t.format(np=np_text, noun=noun, n=f"{cut:g}"), kind,
                                 tuple(sorted(snap.node_ids[m] for m in keep)), None, phrasing, t)
            else:
                largest = any(w in t for w in ("latest", "most recent"))
                best = (max if largest else min)(v for vs in vals.values() for v in vs)
                keep = [m for m, vs in vals.items() if best in vs]
                q = KindQuestion(t.format(np=np_text, noun=noun), kind, tuple(sorted(snap.node_ids[m] for m in keep)),
                                 best, phrasing, t)
        if q is not None and q.text not in {o.text for o in out}:
            out.append(q)
            made[kind] += 1
    return out


def _constraint(g: _Graph, values: ValueIndex, members: np.ndarray, base_rel: int, categorical: bool,
                rng: np.random.Generator) -> tuple[int, int, list[int]] | None:
    """A (relation, value, kept members) that some but not all members have: a categorical value, or
    (``categorical=False``) a non-categorical entity through another relation."""
    snap = g.snapshot
    options: dict[tuple[int, int], list[int]] = {}
    for m in members.tolist():
        a, b = snap.out_ptr[m], snap.out_ptr[m + 1]
        for v, ty in zip(snap.out_nbr[a:b].tolist(), snap.out_type[a:b].tolist(), strict=True):
            rel = snap.relations[ty]
            if ty == base_rel or (rel in values.categorical) != categorical or rel in values.numeric:
                continue
            options.setdefault((ty, v), []).append(m)
    good = [(k, sorted(set(ms))) for k, ms in options.items() if 0 < len(set(ms)) < len(members)]
    if not good:
        return None
    (rel, v), keep = good[int(rng.integers(len(good)))]
    return rel, v, keep


def score(pred_value: Any, pred_answers: Sequence[str], q: KindQuestion) -> tuple[float, float]:
    """(Hits@1 — for count the exact number, for yes/no the right answer —, answer-set F1) of a prediction."""
    if q.kind == "count":
        return float(pred_value == q.value), float(pred_value == q.value)
    if q.kind == "yes/no":
        return float(pred_value is q.value), float(pred_value is q.value)
    got = list(pred_answers)
    return float(hits_at(first_gold_rank(got[:1], q.answers), 1)), f1(got, q.answers)
