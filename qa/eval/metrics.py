"""The one definition of each answer metric: Hits@k, reciprocal rank and answer-set precision/recall/F1.

Training (:func:`qa.train.qa.validation_metrics`), the QA head's cut-off fit
(:func:`qa.answer.ranking.fit_cutoff`), the template baseline, ``kgqa eval``
(:func:`qa.eval.evaluate.evaluate`) and the benches all score with these functions, so a figure
means the same wherever it is printed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence


def first_gold_rank(ranked: Iterable[str], gold: Collection[str]) -> int | None:
    """1-based rank of the first gold answer among the *distinct* ranked ids (``None``: not ranked)."""
    seen: set[str] = set()
    for entity_id in ranked:
        if entity_id in seen:
            continue
        seen.add(entity_id)
        if entity_id in gold:
            return len(seen)
    return None


def hits_at(rank: int | None, k: int) -> bool:
    """Whether a gold answer is among the first ``k`` (``rank`` from :func:`first_gold_rank`)."""
    return rank is not None and rank <= k


def reciprocal_rank(rank: int | None) -> float:
    return 1.0 / rank if rank else 0.0


def f1_of_counts(hit: int, predicted: int, gold: int) -> float:
    """Answer-set F1 from the overlap size and the two set sizes: ``2|P∩G| / (|P| + |G|)``."""
    return 0.0 if hit == 0 else 2.0 * hit / (predicted + gold)


def precision_recall_f1(predicted: Sequence[str], gold: Collection[str]) -> tuple[float, float, float]:
    """Precision, recall and F1 of a predicted answer set (duplicates count once) against the gold set."""
    p, g = set(predicted), set(gold)
    hit = len(p & g)
    return (hit / len(p) if p else 0.0, hit / len(g) if g else 0.0, f1_of_counts(hit, len(p), len(g)))


def f1(predicted: Sequence[str], gold: Collection[str]) -> float:
    """Answer-set F1 (see :func:`precision_recall_f1`)."""
    return precision_recall_f1(predicted, gold)[2]
