"""Checkpoints of the pretrained GNN as safetensors plus JSON (no pickle, no ``torch.save``).

A checkpoint folder holds::

    model.safetensors        every weight and buffer of GraphLinkModel (the frozen text matrix too)
    config.json              kind and dims, the relation vocabulary, a hash of the node-id order,
                             the text model's name: enough to rebuild an identical model
    node_embeddings.safetensors + node_embeddings.json   (N, d) embeddings and their node ids

Usage::

    save_checkpoint(model, folder, relations=export.relations, node_ids=export.node_ids, text_model="...")
    model, meta = load_checkpoint(folder, node_ids=export.node_ids)   # raises if the node order differs
    emb, ids = load_node_embeddings(folder)                          # (N, d) float32 array, N ids
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from encoders.features import FeatureConfig
from encoders.gnn import GNNConfig
from encoders.linkpred import GraphLinkModel
from kg.errors import ConfigError

FORMAT = "kgqa-gnn-linkpred/1"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
EMBEDDINGS = "node_embeddings"


def node_ids_hash(node_ids: Sequence[str]) -> str:
    """sha256 of the node ids in order (one per line): tells whether two graphs index nodes alike."""
    h = hashlib.sha256()
    for nid in node_ids:
        h.update(nid.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def save_checkpoint(model: GraphLinkModel, folder: str | Path, relations: Sequence[str], node_ids: Sequence[str],
                    text_model: str | None = None, extra: dict[str, Any] | None = None) -> dict[str, str]:
    """Write ``model.safetensors`` and ``config.json`` into ``folder``; returns their paths."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if len(relations) != model.num_relations or len(node_ids) != model.num_nodes:
        raise ValueError(f"model has {model.num_relations} relations and {model.num_nodes} nodes, "
                         f"given {len(relations)} and {len(node_ids)}")
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(folder / WEIGHTS), metadata={"format": FORMAT})
    meta = {
        "format": FORMAT,
        "gnn": asdict(model.gnn_config),
        "features": asdict(model.feature_config),
        "num_nodes": model.num_nodes,
        "num_relations": model.num_relations,
        "hidden": model.gnn_config.hidden,
        "text_dim": model.features.text_dim,
        "decoder": "distmult",
        "relations": list(relations),
        "node_ids_sha256": node_ids_hash(node_ids),
        "text_model": text_model,
        **(extra or {}),
    }
    (folder / CONFIG).write_text(json.dumps(meta, indent=1))
    return {"weights": str(folder / WEIGHTS), "config": str(folder / CONFIG)}


def read_config(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / CONFIG
    if not path.exists():
        raise ConfigError(f"{folder} is not a GNN checkpoint ({CONFIG} missing): run kgqa pretrain first")
    meta = json.loads(path.read_text())
    if meta.get("format") != FORMAT:
        raise ConfigError(f"{path} has format {meta.get('format')!r}, expected {FORMAT!r}: re-run kgqa pretrain")
    return meta


def load_checkpoint(folder: str | Path, device: Any = "cpu",
                    node_ids: Sequence[str] | None = None) -> tuple[GraphLinkModel, dict[str, Any]]:
    """Rebuild the saved :class:`GraphLinkModel` (eval mode) and return it with its config.

    With ``node_ids``, check that the graph indexes its nodes as the checkpoint does.
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    meta = read_config(folder)
    if node_ids is not None and node_ids_hash(node_ids) != meta["node_ids_sha256"]:
        raise ConfigError(f"the graph's nodes differ from those the checkpoint in {folder} was trained on: "
                          "re-run kgqa pretrain on this graph")
    features = FeatureConfig(**meta["features"])
    text = torch.zeros(meta["num_nodes"], meta["text_dim"]) if features.use_text else None  # filled by the load
    model = GraphLinkModel(GNNConfig(**meta["gnn"]), features, meta["num_nodes"], meta["num_relations"], text)
    state = load_file(str(folder / WEIGHTS))
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), meta


def save_node_embeddings(emb: Tensor, node_ids: Sequence[str], folder: str | Path,
                         extra: dict[str, Any] | None = None) -> dict[str, str]:
    """Write ``(N, d)`` embeddings as safetensors and their node ids (in row order) as JSON."""
    from safetensors.torch import save_file

    if emb.size(0) != len(node_ids):
        raise ValueError(f"{emb.size(0)} embeddings for {len(node_ids)} node ids")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights, ids = folder / f"{EMBEDDINGS}.safetensors", folder / f"{EMBEDDINGS}.json"
    save_file({"embeddings": emb.detach().float().cpu().contiguous()}, str(weights))
    ids.write_text(json.dumps({"node_ids": list(node_ids), "dim": int(emb.size(1)),
                               "node_ids_sha256": node_ids_hash(node_ids), **(extra or {})}))
    return {"embeddings": str(weights), "node_ids": str(ids)}


def load_node_embeddings(folder: str | Path) -> tuple[np.ndarray, list[str]]:
    """``(N, d)`` float32 embeddings and the node id of each row."""
    from safetensors.numpy import load_file

    folder = Path(folder)
    weights, ids = folder / f"{EMBEDDINGS}.safetensors", folder / f"{EMBEDDINGS}.json"
    if not weights.exists() or not ids.exists():
        raise ConfigError(f"no node embeddings in {folder}: run kgqa pretrain first")
    return load_file(str(weights))["embeddings"], json.loads(ids.read_text())["node_ids"]
