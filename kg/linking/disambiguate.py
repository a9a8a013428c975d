"""Disambiguation: is a span a mention, and of which entity — two small log-linear models.

A candidate is a span of the text and one entity it may name. Two questions are
asked of it, because their evidence differs:

* **which entity, given the span** — a conditional logit (softmax) over the span's
  entities. Features of the entity in this text:

  ========== ==============================================================
  role_fit   the largest share, among the entity's relation roles, of the
             context's marked entities that had that role (does "who
             directed _" hold things that are directed?)
  role_miss  the shares of the roles nearly all of them had, that a word of
             the question names, and that this entity lacks
  relwords   +1 when a word of the question names a relation the entity takes
             part in (``directed`` ~ ``DIRECTED_BY``), -1 when words name
             relations and the entity has none of them, 0 otherwise; from the
             graph's relation vocabulary, no training needed
  case       the span is the entity's name or alias with the same case and
             accents (``Brüno``, not ``Bruno``)
  degree     log(1 + relations of the entity)
  distance   1 - cosine similarity for a fuzzy candidate (0 when exact)
  agreement  the entity is related to an exact candidate of another span
  ========== ==============================================================

* **is the span a mention at all** — a logistic model over span features:

  ========== ==============================================================
  context    logit of how often this span's context held the marked entity
             in training questions (template with back-off, :mod:`~kg.linking.prior`)
  keyphrase  logit of how often this span text was the marked entity
  length     tokens in an exact span (longest match wins, other things equal)
  common     only stop words, numbers or punctuation ("Up", "9", "Her")
  common_context  ``context`` again for a common span: where the template is
             sure, a common word there is a title; where it is not, it is a word
  capital    starts with a capital letter, not at the text's start
  ner        exactly a spaCy named entity (only when NER ran)
  fuzzy      1 - the best similarity of its fuzzy candidates (0 when exact)
  fuzzy_length  tokens in a fuzzy span (long fuzzy spans soak up words around
             the name, so they get their own weight)
  fit        the best entity score of the span (does anything it may name fit?)
  ========== ==============================================================

A candidate's score is ``P(mention) * P(entity | mention)``. Keeping the two apart
matters: "Heat" the film and "heat" the tag share a span and its context, so in a
single model the context would look useless whenever a name has namesakes.

Untrained, the weights are :data:`DEFAULT_WEIGHTS`. Training (:func:`fit_logistic`,
:func:`fit_conditional_logit`) is L2-regularised and pulled towards those defaults,
so a handful of toy questions moves them a little and thirty thousand questions
move them as far as the data says.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

SPAN_FEATURES = ("context", "keyphrase", "length", "common", "common_context", "capital", "ner", "fuzzy",
                 "fuzzy_length", "fit")
ENTITY_FEATURES = ("role_fit", "role_miss", "relwords", "case", "degree", "distance", "agreement")
#: Weights of an untrained linker: longest, capitalised, well-connected, relation-consistent exact
#: matches; common words need support; fuzzy matches pay for their distance.
DEFAULT_WEIGHTS: dict[str, dict[str, float]] = {
    "span": {"bias": -1.5, "context": 1.0, "keyphrase": 0.5, "length": 1.0, "common": -3.0, "common_context": 0.0,
             "capital": 1.0, "ner": 1.0, "fuzzy": -6.0, "fuzzy_length": 0.0, "fit": 1.0},
    "entity": {"role_fit": 1.0, "role_miss": -1.0, "relwords": 1.5, "case": 0.5, "degree": 0.3, "distance": -8.0,
               "agreement": 1.0},
}
#: ``objective(w, full) -> (loss, gradient, Hessian)``; with ``full=False`` only the loss is needed.
Objective = Callable[[np.ndarray, bool], tuple[float, np.ndarray, np.ndarray]]
#: Span features that training never sees (NER does not run on training questions): they keep their default.
FIXED = frozenset({"ner"})


@dataclass(slots=True)
class Scores:
    """Scores of the candidates of one text.

    Shapes:
        ``mention``: ``(S,)`` per span; ``entity``, ``joint``: ``(N,)`` per (span, entity) row.
    """

    mention: np.ndarray
    entity: np.ndarray
    joint: np.ndarray


class Scorer:
    """Features → ``P(mention)`` per span and ``P(entity | mention)`` per candidate.

    Args:
        weights: ``{"span": {...}, "entity": {...}}``; missing ones take :data:`DEFAULT_WEIGHTS`.
    """

    def __init__(self, weights: dict[str, dict[str, float]] | None = None) -> None:
        weights = weights or {}
        span = {**DEFAULT_WEIGHTS["span"], **weights.get("span", {})}
        entity = {**DEFAULT_WEIGHTS["entity"], **weights.get("entity", {})}
        self.bias = span["bias"]
        self.w_span = np.asarray([span[f] for f in SPAN_FEATURES], dtype=np.float64)  # (FS,)
        self.w_entity = np.asarray([entity[f] for f in ENTITY_FEATURES], dtype=np.float64)  # (FE,)

    def __repr__(self) -> str:
        w = self.weights()
        return "Scorer(" + ", ".join(f"{k}={v:.2f}" for part in w.values() for k, v in part.items()) + ")"

    def weights(self) -> dict[str, dict[str, float]]:
        return {"span": {"bias": float(self.bias), **dict(zip(SPAN_FEATURES, map(float, self.w_span), strict=True))},
                "entity": dict(zip(ENTITY_FEATURES, map(float, self.w_entity), strict=True))}

    def entity_scores(self, entity_x: np.ndarray) -> np.ndarray:
        """Linear entity scores ``u``. Shapes: ``(N, FE)`` → ``(N,)``."""
        return entity_x @ self.w_entity

    def score(self, span_x: np.ndarray, entity_x: np.ndarray, span_of: np.ndarray) -> Scores:
        """Scores of a text's candidates.

        Args:
            span_x: ``(S, FS - 1)`` span features without ``fit``.
            entity_x: ``(N, FE)`` entity features of each (span, entity) row.
            span_of: ``(N,)`` span index of each row.
        """
        u = self.entity_scores(entity_x)  # (N,)
        fit, p_entity = group_softmax(u, span_of, len(span_x))  # (S,), (N,)
        z = self.bias + np.hstack([span_x, fit[:, None]]) @ self.w_span  # (S,)
        p_mention = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
        return Scores(p_mention, p_entity, p_mention[span_of] * p_entity)


def group_softmax(u: np.ndarray, group: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-group maximum of ``u`` and the softmax of ``u`` within each group. Shapes: ``(N,)`` → ``(G,)``, ``(N,)``."""
    best = np.full(n_groups, -np.inf)
    np.maximum.at(best, group, u)
    e = np.exp(u - best[group])  # (N,)
    total = np.zeros(n_groups)
    np.add.at(total, group, e)
    best[np.isinf(best)] = 0.0
    return best, e / total[group]


def fit_logistic(x: np.ndarray, y: np.ndarray, names: Sequence[str], start: dict[str, float], l2: float = 10.0,
                 fixed: frozenset[str] = FIXED, iterations: int = 50) -> dict[str, float]:
    """Logistic regression (with ``bias``) by damped Newton steps, penalised by ``l2/2 * |w - w0|^2``.

    Args:
        x: ``(N, F)`` features named ``names``.
        y: ``(N,)`` 1 for positives, 0 for negatives.
        start: prior weights ``w0`` by name (and the starting point), ``bias`` included.
        fixed: names whose weight stays at its prior.
    """
    all_names = ["bias", *names]
    design = np.hstack([np.ones((len(x), 1)), x])  # (N, F+1)
    y = y.astype(np.float64)

    def loss_grad_hess(w: np.ndarray, full: bool) -> tuple[float, np.ndarray, np.ndarray]:
        z = np.clip(design @ w, -30.0, 30.0)  # (N,)
        loss = float(np.sum(np.logaddexp(0.0, z) - y * z))
        if not full:
            return loss, np.zeros(0), np.zeros(0)
        p = 1.0 / (1.0 + np.exp(-z))
        return loss, design.T @ (p - y), (design * (p * (1 - p))[:, None]).T @ design

    return _newton(loss_grad_hess, all_names, start, l2, fixed, iterations)


def fit_conditional_logit(x: np.ndarray, group: np.ndarray, gold: np.ndarray, names: Sequence[str],
                          start: dict[str, float], l2: float = 10.0, iterations: int = 50) -> dict[str, float]:
    """Conditional logit (a softmax within each group, no bias) by damped Newton steps.

    Args:
        x: ``(N, F)`` features of every candidate, named ``names``.
        group: ``(N,)`` group index (``0..G-1``) of each candidate.
        gold: ``(N,)`` 1 for the one right candidate of each group, else 0.
        start: prior weights ``w0`` by name (and the starting point).
    """
    n_groups = int(group.max()) + 1 if len(group) else 0

    def loss_grad_hess(w: np.ndarray, full: bool) -> tuple[float, np.ndarray, np.ndarray]:
        u = x @ w  # (N,)
        best, p = group_softmax(u, group, n_groups)
        lse = np.zeros(n_groups)
        np.add.at(lse, group, np.exp(u - best[group]))
        loss = float(np.sum(np.log(lse) + best) - np.sum(u * gold))
        if not full:
            return loss, np.zeros(0), np.zeros(0)
        mean = np.zeros((n_groups, x.shape[1]))
        np.add.at(mean, group, p[:, None] * x)  # (G, F)
        centred = x - mean[group]  # (N, F)
        grad = -(gold[:, None] * centred).sum(axis=0)
        hess = (centred * p[:, None]).T @ centred
        return loss, grad, hess

    return _newton(loss_grad_hess, list(names), start, l2, frozenset(), iterations)


def _newton(objective: Objective, names: list[str], start: dict[str, float], l2: float, fixed: frozenset[str],
            iterations: int) -> dict[str, float]:
    """Minimise ``objective(w) + l2/2 |w - w0|^2`` over the free weights, halving steps that overshoot."""
    w0 = np.asarray([start[n] for n in names], dtype=np.float64)
    free = np.asarray([n not in fixed for n in names])

    def penalised(w: np.ndarray) -> float:
        return objective(w, False)[0] + 0.5 * l2 * float(np.sum((w - w0) ** 2))

    w = w0.copy()
    current = penalised(w)
    for _ in range(iterations):
        _, grad, hess = objective(w, True)
        grad = grad + l2 * (w - w0)
        hess = hess + l2 * np.eye(len(w))
        grad[~free] = 0.0
        hess[~free, :] = 0.0
        hess[:, ~free] = 0.0
        hess[~free, ~free] = 1.0
        step = np.linalg.solve(hess, grad)
        scale = 1.0
        while scale > 1e-6:  # Newton's step can overshoot on nearly separable data
            trial = w - scale * step
            value = penalised(trial)
            if value <= current:
                break
            scale /= 2
        else:
            break
        w, previous, current = trial, current, value
        if previous - current < 1e-9 * max(1.0, abs(current)):
            break
    return {n: float(v) for n, v in zip(names, w, strict=True)}
