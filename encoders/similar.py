"""Nearest entities by GNN embedding (cosine), from the node embeddings a pretraining run saved.

    similar_entities("runs/gnn", "Kismet", k=5)   # [("Casablanca", 0.83), ...]

Exact search with numpy; the FAISS node index over the same file lives in ``retrieval``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from encoders.checkpoint import load_node_embeddings
from kg.errors import ConfigError, NotFound


def nearest(emb: np.ndarray, node_ids: list[str], entity_id: str, k: int = 10) -> list[tuple[str, float]]:
    """The ``k`` nodes whose rows of ``emb (N, d)`` have the highest cosine with ``entity_id``'s
    row (the entity itself left out), best first."""
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    try:
        row = node_ids.index(entity_id)
    except ValueError as exc:
        raise NotFound(f"no entity {entity_id!r} among the {len(node_ids):,} embedded nodes: check the id "
                       "(kgqa search finds it by name) or re-run kgqa pretrain after loading it") from exc
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)    # (N, d)
    scores = unit @ unit[row]                                                       # (N,)
    scores[row] = -np.inf
    k = min(k, len(node_ids) - 1)
    top = np.argpartition(-scores, k - 1)[:k] if k > 0 else np.array([], dtype=int)
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(node_ids[i], float(scores[i])) for i in top]


def similar_entities(folder: str | Path, entity_id: str, k: int = 10) -> list[tuple[str, float]]:
    """:func:`nearest` over the embeddings saved in a pretraining folder."""
    emb, node_ids = load_node_embeddings(folder)
    return nearest(emb, node_ids, entity_id, k)
