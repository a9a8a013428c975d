"""What training questions teach the linker: which contexts hold an entity, and of what kind.

Three counts, all keyed by strings so that they outlive a rebuilt graph index:

* **context** — the *template* of a candidate span: the question with the span
  replaced by a placeholder (``who directed _``), and shorter windows of it
  (three, two, one token each side). For each, how many candidate spans of the
  training questions had it (``n``) and how many of those were the marked entity
  (``g``). At link time the rate ``g / n`` is read with back-off from the full
  template to the one-token window, so an unseen question still gets the
  evidence of its nearest context.
* **keyphrase** — per folded span text, how often it was a candidate and how often
  the marked entity (Mihalcea's link probability: ``"up"`` is rarely an entity,
  ``"tom hanks"`` nearly always). Spans inside the marked one are not counted.
* **roles** — per context, how often the marked entity had each role
  (``>DIRECTED_BY``: it is something directed), so a context says what kind of
  entity it expects (:class:`SpanEvidence`).

:meth:`Prior.add` with ``sign=-1`` takes one question's counts back out: training
uses that to compute each question's features from the others only.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kg.errors import ConfigError

FORMAT = "kgqa-linker-prior/1"
WINDOWS = (3, 2, 1)  # tokens each side, after the full template
#: A context no text produces: its evidence is the base rate (training uses it to hide a question's wording).
UNSEEN = "\x00"


def logit(p: float) -> float:
    """``log(p / (1 - p))`` with ``p`` kept within ``[1e-4, 1 - 1e-4]`` (at most ±9.21)."""
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def context_keys(keys: Sequence[str], i: int, j: int) -> list[str]:
    """Contexts of tokens ``i:j`` among ``keys``, most specific first: template, then windows."""
    left = ["^", *keys[:i]]
    right = [*keys[j:], "$"]
    out = ["T " + " ".join(left) + " _ " + " ".join(right)]
    for w in WINDOWS:
        out.append(f"{w} " + " ".join(left[-w:]) + " _ " + " ".join(right[:w]))
    return out


@dataclass(slots=True)
class SpanEvidence:
    """Evidence of one candidate span: logits of its context and keyphrase rates, and the share
    ``role_q[r]`` of marked entities in its context that had role ``r``."""

    context: float
    keyphrase: float
    role_q: dict[str, float]

    def role_fit(self, entity_roles: Sequence[str]) -> float:
        """The best share among the entity's roles: does it have a role the context's entities have?

        A maximum, not a product, so an entity that merges two things (MetaQA's film and year
        ``1969``) or lacks common but unasked roles (a film without a director) is not punished.
        """
        q = self.role_q
        return max((q.get(r, 0.0) for r in entity_roles), default=0.0)

    def role_missing(self, entity_roles: Sequence[str], relations: set[str], required: float = 0.98) -> float:
        """Shares of the roles that (nearly) all the context's entities have, whose relation a word of
        the question names (``relations``), and that this entity lacks.

        Both conditions matter: a question's entity has the relation it asks about (its answers
        exist), but in MetaQA nearly every film also has a release year, asked or not, and a film
        without one is no less the film meant.
        """
        return sum(qr for r, qr in self.role_q.items()
                   if qr >= required and r[1:] in relations and r not in entity_roles)


@dataclass(slots=True)
class Prior:
    """Counts learned from training questions, and the disambiguator's weights.

    Args:
        smoothing: pseudo-count of each back-off step (higher: trust sparse counts less).
    """

    smoothing: float = 2.0
    context_n: Counter[str] = field(default_factory=Counter)
    context_g: Counter[str] = field(default_factory=Counter)
    key_n: Counter[str] = field(default_factory=Counter)
    key_g: Counter[str] = field(default_factory=Counter)
    role_n: Counter[str] = field(default_factory=Counter)  # marked entities per context ("" = all)
    role_g: dict[str, Counter[str]] = field(default_factory=dict)  # their roles per context
    weights: dict[str, dict[str, float]] = field(default_factory=dict)
    questions: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    _role_memo: dict[tuple[str, ...], dict[str, float]] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return (f"Prior(questions={self.questions}, contexts={len(self.context_n)}, keys={len(self.key_n)}, "
                f"smoothing={self.smoothing})")

    # -- counting ------------------------------------------------------------------------------
    def add(self, spans: Sequence[tuple[str, list[str]]], gold: int | None, gold_roles: Sequence[str],
            sign: int = 1) -> None:
        """Count one question: its candidate spans as ``(key, contexts)`` and which one is marked.

        Args:
            spans: every candidate span's folded text and :func:`context_keys`.
            gold: position in ``spans`` of the marked span, or ``None`` if it was not found.
            gold_roles: roles of the marked entity.
            sign: ``-1`` removes a question counted before.
        """
        self.questions += sign
        self._role_memo.clear()
        for k, (key, contexts) in enumerate(spans):
            self.key_n[key] += sign
            for c in contexts:
                self.context_n[c] += sign
            if k == gold:
                self.key_g[key] += sign
                for c in ["", *contexts]:
                    self.context_g[c] += sign
                    self.role_n[c] += sign
                    counts = self.role_g.setdefault(c, Counter())
                    for r in gold_roles:
                        counts[r] += sign
        self.context_n[""] += sign * len(spans)

    # -- reading -------------------------------------------------------------------------------
    @property
    def trained(self) -> bool:
        return self.questions > 0

    def base_rate(self) -> float:
        """Share of all candidate spans that were the marked one."""
        return (self.context_g[""] + 1) / (self.context_n[""] + 2)

    def evidence(self, key: str, contexts: Sequence[str]) -> SpanEvidence:
        """Evidence for a span with folded text ``key`` and :func:`context_keys` ``contexts``."""
        beta = self.smoothing
        base = self.base_rate()
        p = base
        for c in reversed(contexts):
            p = (self.context_g[c] + beta * p) / (self.context_n[c] + beta)
        keyphrase = (self.key_g[key] + beta * base) / (self.key_n[key] + beta)
        return SpanEvidence(logit(p), logit(keyphrase), self._roles(contexts))

    def _roles(self, contexts: Sequence[str]) -> dict[str, float]:
        seen = tuple(c for c in contexts if self.role_n.get(c, 0) > 0)
        found = self._role_memo.get(seen)
        if found is None:
            found = self._role_memo[seen] = self._role_weights(seen)
        return found

    def _role_weights(self, contexts: Sequence[str]) -> dict[str, float]:
        """Share of marked entities with each role, read with back-off along ``contexts``."""
        total = self.role_n[""]
        if total <= 0:
            return {}
        beta = self.smoothing
        q = {r: c / total for r, c in self.role_g.get("", Counter()).items()}
        for c in reversed(contexts):
            counts = self.role_g.get(c, Counter())
            q = {r: (counts[r] + beta * q[r]) / (self.role_n[c] + beta) for r in q}
        return q

    # -- persistence ---------------------------------------------------------------------------
    def to_json(self, min_count: int = 2) -> dict[str, Any]:
        """JSON-able form; contexts and keys seen fewer than ``min_count`` times are dropped."""
        keep = {c for c, n in self.context_n.items() if n >= min_count or c == ""}
        keys = {k for k, n in self.key_n.items() if n >= min_count or self.key_g[k] > 0}
        return {
            "format": FORMAT, "smoothing": self.smoothing, "questions": self.questions, "meta": self.meta,
            "weights": self.weights,
            "context": {c: [self.context_n[c], self.context_g[c]] for c in sorted(keep)},
            "keys": {k: [self.key_n[k], self.key_g[k]] for k in sorted(keys)},
            "roles": {c: [self.role_n[c], dict(sorted(self.role_g.get(c, Counter()).items()))]
                      for c in sorted(self.role_n) if self.role_n[c] > 0},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Prior:
        if data.get("format") != FORMAT:
            raise ConfigError(f"not a linker prior (format {data.get('format')!r}, expected {FORMAT!r})")
        prior = cls(smoothing=float(data["smoothing"]), questions=int(data["questions"]), meta=data.get("meta", {}),
                    weights={part: {k: float(v) for k, v in w.items()} for part, w in data["weights"].items()})
        for c, (n, g) in data["context"].items():
            prior.context_n[c], prior.context_g[c] = n, g
        for k, (n, g) in data["keys"].items():
            prior.key_n[k], prior.key_g[k] = n, g
        for c, (n, roles) in data["roles"].items():
            prior.role_n[c] = n
            prior.role_g[c] = Counter(roles)
        return prior

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Prior:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"no linker prior at {path}; train one with kgqa train-linker QUESTIONS") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not a linker prior (invalid JSON: {exc})") from exc
        return cls.from_json(data)
