"""The QA head: ranks a subgraph's candidate nodes, cuts the answer set, and explains each answer.

* **Ranking**: every node of the question's subgraph but its topics, by the fusion model's score
  (softmax probabilities within the subgraph).
* **Cut-off**: answers are the candidates whose probability is at least ``cutoff`` times the top
  one's (always the top one). :func:`fit_cutoff` picks ``cutoff`` on validation to maximise the
  mean answer-set F1.
* **Evidence**: the best paths of ``hop`` edges from a topic to the answer through the subgraph,
  each scored by the product of the model's relation weights of its steps (hop ``k`` uses the
  step-``k`` weight of the relation in the direction walked), with the read-only Cypher that
  returns the path from the store (:func:`path_cypher`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.types import Evidence, Step

_REL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class HeadConfig:
    """Args:
    cutoff: keep candidates with ``p >= cutoff * p_top`` (fit on validation by :func:`fit_cutoff`).
    max_answers: at most this many answers per question.
    ranked: how many candidates :class:`qa.types.Prediction` lists in ``ranked``.
    paths_per_answer: evidence paths kept per answer.
    beam: partial paths kept per node and step when searching evidence.
    """

    cutoff: float = 0.5
    max_answers: int = 100
    ranked: int = 50
    paths_per_answer: int = 2
    beam: int = 3


def softmax(scores: np.ndarray) -> np.ndarray:
    s = scores.astype(np.float64)
    e = np.exp(s - s.max())
    return e / e.sum()


def rank(scores: np.ndarray, is_topic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate local indices best first and their probabilities (topics excluded)."""
    cand = np.nonzero(~is_topic)[0]
    if not len(cand):
        return cand, np.zeros(0)
    p = softmax(scores[cand])
    order = np.argsort(-p, kind="stable")
    return cand[order], p[order]


def select(probs: np.ndarray, cutoff: float, max_answers: int = 100) -> int:
    """How many of the ranked candidates (probabilities best first) are answers."""
    if not len(probs):
        return 0
    return int(min(max_answers, max(1, int((probs >= cutoff * probs[0]).sum()))))


def f1(predicted: Sequence[str], gold: Sequence[str]) -> float:
    p, g = set(predicted), set(gold)
    tp = len(p & g)
    if not tp:
        return 0.0
    prec, rec = tp / len(p), tp / len(g)
    return 2 * prec * rec / (prec + rec)


def fit_cutoff(ranked: Sequence[tuple[Sequence[str], np.ndarray]], golds: Sequence[Sequence[str]],
               grid: Sequence[float] | None = None) -> tuple[float, float]:
    """The cut-off maximising mean F1 over validation questions; returns ``(cutoff, f1)``.

    ``ranked[i]`` is question ``i``'s candidate ids best first with their probabilities."""
    grid = list(grid) if grid is not None else [round(x, 3) for x in np.linspace(0.01, 0.99, 50)]
    best = (0.5, -1.0)
    for c in grid:
        total = 0.0
        for (ids, probs), gold in zip(ranked, golds, strict=True):
            total += f1(ids[: select(probs, c)], gold)
        score = total / max(1, len(golds))
        if score > best[1] + 1e-9:
            best = (float(c), score)
    return best


def path_cypher(steps: Sequence[Step], start: str) -> tuple[str, dict[str, str]]:
    """A read-only query returning exactly this path (walked from ``start``) from the store, with its
    node ids as parameters; each step follows its stored direction."""
    if not steps:
        raise ValueError("an evidence path needs at least one step")
    parts, params, cur = ["(n0:Entity {id: $n0})"], {"n0": start}, start
    for k, s in enumerate(steps, 1):
        if not _REL.match(s.relation):
            raise ValueError(f"relationship type {s.relation!r} cannot be written in Cypher")
        fwd = s.head == cur
        nxt = s.tail if fwd else s.head
        arrow = f"-[:`{s.relation}`]->" if fwd else f"<-[:`{s.relation}`]-"
        parts.append(f"{arrow}(n{k}:Entity {{id: $n{k}}})")
        params[f"n{k}"] = nxt
        cur = nxt
    return f"MATCH p = {''.join(parts)} RETURN p", params


def evidence_paths(topics: Sequence[int], answers: Sequence[int], hop: int, edge_index: np.ndarray,
                   edge_type: np.ndarray, relation_weights: np.ndarray, node_ids: Sequence[str],
                   relations: Sequence[str], paths: int = 2, beam: int = 3) -> dict[int, list[Evidence]]:
    """For each answer, the best ``paths`` walks of exactly ``hop`` edges from a topic to it (no node twice);
    one beam search for all the answers.

    ``relation_weights (max_hops, 2R)``: step ``k``'s weight of relation ``r`` walked forward (``r``)
    or backward (``R + r``); a path scores the product of its steps' weights."""
    r_count = len(relations)
    heads, tails = edge_index[0].tolist(), edge_index[1].tolist()
    adj: dict[int, list[tuple[int, int, int]]] = {}                      # node -> (next, edge, dir)
    for e, (h, t) in enumerate(zip(heads, tails, strict=True)):
        adj.setdefault(h, []).append((t, e, 0))
        adj.setdefault(t, []).append((h, e, 1))
    # beams[node] = list of (log score, node path, edge path, dirs)
    beams: dict[int, list[tuple[float, tuple[int, ...], tuple[int, ...], tuple[int, ...]]]] = {
        t: [(0.0, (t,), (), ())] for t in topics}
    for k in range(hop):
        w = relation_weights[min(k, len(relation_weights) - 1)]
        nxt: dict[int, list[tuple[float, tuple[int, ...], tuple[int, ...], tuple[int, ...]]]] = {}
        for u, items in beams.items():
            for v, e, d in adj.get(u, []):
                lw = math.log(max(float(w[int(edge_type[e]) + d * r_count]), 1e-12))
                for s, nodes, es, ds in items:
                    if v in nodes:
                        continue
                    nxt.setdefault(v, []).append((s + lw, (*nodes, v), (*es, e), (*ds, d)))
        beams = {v: sorted(items, key=lambda x: -x[0])[:beam] for v, items in nxt.items()}
    out: dict[int, list[Evidence]] = {}
    for answer in answers:
        out[answer] = []
        for s, nodes, es, _ds in beams.get(answer, [])[:paths]:
            steps = [Step(node_ids[heads[e]], relations[int(edge_type[e])], node_ids[tails[e]]) for e in es]
            query, params = path_cypher(steps, node_ids[nodes[0]])
            out[answer].append(Evidence(steps=steps, score=float(math.exp(s)), cypher=query, params=params))
    return out
