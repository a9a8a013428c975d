"""Follow-ups about the last answer, per kind of reference: with :mod:`qa.chat.followup` and without.

    python bench/followups.py [--per-kind 40] [--checkpoint .kgqa/bench/any_graph/metaqa/supervised]

Two-turn dialogues are made from the checkpoint's graph, in each relation's own words
(:func:`qa.data.synthesis.roles`), and typed without brackets into a :class:`qa.chat.conversation.Conversation`:

- ``answer``: "who directed X" → "what else was directed by him" (the previous *answer*, a person);
- ``list``: "what was directed by Y" → "what is the genre of the second one" (as the answers were shown);
- ``set``: "what was directed by Y" → "which of them have genre Comedy" / "how many of them ..." (the
  answers of the first turn as a set);
- ``repeat``: "who directed X1" → "and X2?";
- ``each``: "what was directed by Y" → "what is the genre of them" (asked of each answer, merged).

Expressions come in ``dev`` (seen while building) and ``held_out`` groups. Per kind: the share of follow-ups
resolved to the right entity (``set``, ``each``: to the previous answers) and Hits@1 of their answer (a count: the
exact number), with follow-ups on, and off (the learned reference resolver alone, as before this change).
Prints a table, writes ``bench/results/followups.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from qa.answer.answerer import load_answerer  # noqa: E402
from qa.answer.paths import Hop, walk  # noqa: E402
from qa.chat.conversation import Conversation, resolver_for  # noqa: E402
from qa.data.synthesis import _Graph  # noqa: E402
from qa.kinds.answer import KindAnswerer  # noqa: E402
from qa.kinds.values import ValueIndex  # noqa: E402

EXPRESSIONS = {
    "dev": {"answer": ("what else was {phrase} by him", "which other ones were {phrase} by that {noun}"),
            "list": ("what is the {noun2} of the {ord} one", "the {ord} one: what is its {noun2}"),
            "set": ("which of them have {cnoun} {value}", "how many of them have {cnoun} {value}"),
            "repeat": ("and {name}?", "what about {name}"),
            "each": ("what is the {noun2} of them", "tell me their {noun2}")},
    "held_out": {"answer": ("name other things {phrase} by her", "list everything else {phrase} by this {noun}"),
                 "list": ("tell me the {noun2} of the {ord} film", "for the {ord} movie, what is the {noun2}"),
                 "set": ("which of those have {cnoun} {value}", "how many of these have {cnoun} {value}"),
                 "repeat": ("how about {name}?", "and what about {name}"),
                 "each": ("what are their {noun2}s", "for each of them, what is the {noun2}")},
}
ORDINALS = (("first", 0), ("second", 1), ("last", -1))


def dialogues(answerer: Any, per_kind: int, group: str, seed: int = 0) -> list[dict[str, Any]]:
    """Dialogue specs: turn texts and how to score the follow-up (see the module docstring)."""
    snap = answerer.graph.snapshot
    g, values = _Graph.build(snap), ValueIndex.build(snap)
    rng = np.random.default_rng(seed)
    agents = [r for r in range(snap.num_relations) if (r, False) in g.roles and g.roles[(r, False)].kind == "passive"]
    forward = [r for r in range(snap.num_relations) if (r, True) in g.roles]
    out: list[dict[str, Any]] = []
    ex = EXPRESSIONS[group]
    for kind in ("answer", "list", "set", "repeat", "each"):
        made, tries = 0, 0
        while made < per_kind and tries < per_kind * 200:   # list and set: more, as some are not counted
            tries += 1
            r = int(rng.choice(agents))
            role = g.roles[(r, False)]
            heads, tails = g.heads[r], g.tails[r]
            rel = snap.relations[r]
            t = ex[kind][made % 2]
            if kind in ("answer", "repeat"):
                x = int(heads[rng.integers(len(heads))])
                ys, _ = walk(snap, x, (Hop(rel, "out"),))
                if len(ys) != 1:
                    continue
                first = f"who {role.past or role.phrase} {snap.names[x]}" if role.past else \
                    f"what is the {role.noun} of {snap.names[x]}"
                if kind == "answer":
                    y = int(ys[0])
                    films, _ = walk(snap, y, (Hop(rel, "in"),))
                    gold = sorted(snap.node_ids[int(f)] for f in films if int(f) != x)
                    if not gold:
                        continue
                    second = t.format(phrase=role.phrase, noun=role.noun)
                    out.append({"kind": kind, "turns": [first, second], "topic": snap.node_ids[y], "gold": gold})
                else:
                    x2 = int(heads[rng.integers(len(heads))])
                    ys2, _ = walk(snap, x2, (Hop(rel, "out"),))
                    if x2 == x or not len(ys2):
                        continue
                    out.append({"kind": kind, "turns": [first, t.format(name=snap.names[x2])],
                                "topic": snap.node_ids[x2], "gold": sorted(snap.node_ids[int(v)] for v in ys2)})
            else:
                y = int(tails[rng.integers(len(tails))])
                films, _ = walk(snap, y, (Hop(rel, "in"),))
                if not 3 <= len(films) <= 12:
                    continue
                first = f"what was {role.phrase} by {snap.names[y]}"
                if kind == "each":
                    r2 = int(rng.choice([f for f in forward if f != r]))
                    noun2 = g.roles[(r2, True)].noun or snap.relations[r2].lower()
                    out.append({"kind": kind, "turns": [first, t.format(noun2=noun2)], "relation": snap.relations[r2]})
                elif kind == "list":
                    r2 = int(rng.choice([f for f in forward if f != r]))
                    ordinal, k = ORDINALS[made % 3]
                    noun2 = g.roles[(r2, True)].noun or snap.relations[r2].lower()
                    out.append({"kind": kind, "turns": [first, t.format(noun2=noun2, ord=ordinal)], "pick": k,
                                "relation": snap.relations[r2]})
                else:
                    cats = [c for c in values.categorical if c not in values.numeric and c != rel]
                    if not cats:
                        continue
                    c = snap.relations.index(cats[int(rng.integers(len(cats)))])
                    cnoun = g.roles[(c, True)].noun or snap.relations[c].lower()
                    out.append({"kind": kind, "turns": [first, t.format(cnoun=cnoun, value="{value}")],
                                "relation": snap.relations[c], "count": t.startswith("how many")})
            made += 1
    return out


def run(conv: Conversation, d: dict[str, Any], snap: Any) -> tuple[bool, bool] | None:
    """(resolved right, answered right) for the follow-up of dialogue ``d``; ``None`` where the first turn's
    answers leave nothing to ask (no answer shown, no value that some but not all of them have, no fact of
    the relation asked about for the entity picked): such dialogues are not counted."""
    conv.reset()
    first = conv.ask(d["turns"][0])
    shown = [a.entity_id for a in first.prediction.answers]
    text = d["turns"][1]
    if d["kind"] == "set":   # a value that some, not all, of the answers shown have
        rel = d["relation"]
        have: dict[str, list[str]] = defaultdict(list)
        for e in shown:
            for v in walk(snap, snap.index_of[e], (Hop(rel, "out"),))[0]:
                have[snap.node_ids[int(v)]].append(e)
        options = sorted((v for v, es in have.items() if 0 < len(es) < len(shown)), key=lambda v: -len(have[v]))
        if not options:
            return None
        value = options[0]
        text = text.format(value=snap.names[snap.index_of[value]])
        gold = sorted(have[value])
    elif d["kind"] == "each":
        if len(shown) < 2:
            return None
        gold = sorted({snap.node_ids[int(v)] for e in shown[:20]
                       for v in walk(snap, snap.index_of[e], (Hop(d["relation"], "out"),))[0]})
        if not gold:
            return None
    elif d["kind"] == "list":
        if not shown:
            return None
        topic = shown[d["pick"]]
        gold = sorted(snap.node_ids[int(v)] for v in walk(snap, snap.index_of[topic], (Hop(d["relation"], "out"),))[0])
        if not gold:
            return None
    else:
        topic, gold = d["topic"], d["gold"]
    reply = conv.ask(text)
    res, pred = reply.resolution, reply.prediction
    resolved = (res.how == "answers" if d["kind"] == "set" else res.how == "each" if d["kind"] == "each"
                else res.topic == topic)
    if d["kind"] == "set" and d.get("count"):
        return resolved, pred.value == len(gold)
    return resolved, bool(pred.answers) and pred.answers[0].entity_id in set(gold)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=".kgqa/bench/any_graph/metaqa/supervised")
    ap.add_argument("--per-kind", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "followups.json"))
    args = ap.parse_args()
    base = load_answerer(args.checkpoint)
    answerer = KindAnswerer(base)
    resolver = resolver_for(base, args.checkpoint)
    snap = base.graph.snapshot
    result: dict[str, Any] = {"checkpoint": args.checkpoint, "per_kind": args.per_kind, "rows": []}
    print(f"{'phrasing':9} {'follow-ups':10} {'kind':7} {'n':>4} {'resolved':>8} {'Hits@1':>7}")
    for group in ("dev", "held_out"):
        ds = dialogues(base, args.per_kind, group, args.seed)
        for on in (True, False):
            conv = Conversation(answerer, resolver, followups=on)
            by: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
            for d in ds:
                got = run(conv, d, snap)
                if got is not None:
                    by[d["kind"]].append(got)
            for kind, rs in by.items():
                row = {"phrasing": group, "followups": on, "kind": kind, "n": len(rs),
                       "resolved": round(100 * float(np.mean([a for a, _ in rs])), 1),
                       "hits@1": round(100 * float(np.mean([b for _, b in rs])), 1)}
                result["rows"].append(row)
                print(f"{group:9} {'on' if on else 'off':10} {kind:7} {row['n']:4d} {row['resolved']:8.1f} "
                      f"{row['hits@1']:7.1f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
