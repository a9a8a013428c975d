"""The standard vector indexes of a graph, built from its export and kept beside the store.

- **names**: one vector per node, the text encoder over its display name; ids are node ids.
- **relations**: one vector per relationship type, over its description (``DIRECTED_BY`` →
  "directed by"); ids are the types.
- **facts**: one vector per triple, over its verbalisation ("Kismet directed by William
  Dieterle"); ids are ``head|TYPE|tail`` (node ids).
- **node embeddings**: :func:`node_embedding_index` indexes any ``(N, d)`` matrix (a GNN's
  output) under the node ids.

Each is a :class:`~retrieval.index.VectorIndex`; :class:`GraphIndexes` saves them as
subfolders (``names/``, ``relations/``, ``facts/``) of :func:`index_dir_for` the store.

Usage::

    indexes = build_graph_indexes(store.export(), TextEncoder(TextEncoderConfig(cache_dir=".kgqa/cache/text")))
    indexes.save(index_dir_for(store_config))
    scores, fact_ids = indexes.facts.search(encoder.encode(["who directed Kismet"]), k=5)
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kg.config import StoreConfig
from kg.errors import ConfigError
from kg.names import describe_relation
from kg.store.base import GraphExport
from retrieval.index import IndexConfig, VectorIndex

CATALOG_FORMAT = "kgqa-graph-indexes/1"
CATALOG_FILE = "catalog.json"
FACT_SEPARATOR = "|"


class TextEncoderLike(Protocol):
    """What the catalog needs of a text encoder (:class:`encoders.text.TextEncoder` is one)."""

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def verbalise_fact(head: str, relation: str, tail: str) -> str:
    """A triple as words: ``("Kismet", "DIRECTED_BY", "William Dieterle")`` → "Kismet directed by William Dieterle"."""
    return f"{head} {describe_relation(relation)} {tail}"


def fact_id(head_id: str, relation: str, tail_id: str) -> str:
    """The id of a fact in the facts index: ``head|TYPE|tail``."""
    return FACT_SEPARATOR.join((head_id, relation, tail_id))


def index_dir_for(config: StoreConfig) -> Path:
    """Where the graph indexes of the store ``config`` names live (inside an embedded store's folder)."""
    if config.backend == "embedded":
        return Path(config.path) / "indexes"
    return Path(config.path).parent / f"indexes-{config.backend}-{config.database}"


def node_embedding_index(embeddings: Any, node_ids: Sequence[str], config: IndexConfig | None = None) -> VectorIndex:
    """A :class:`VectorIndex` over node embeddings (``(N, d)``, e.g. a GNN's output), ids = ``node_ids``."""
    return VectorIndex.build(embeddings, node_ids, config)


@dataclass(slots=True)
class GraphIndexes:
    """The name, relation and fact indexes of one graph (``facts`` is ``None`` when not built)."""

    names: VectorIndex
    relations: VectorIndex
    facts: VectorIndex | None = None

    def __repr__(self) -> str:
        return f"GraphIndexes(names={self.names!r}, relations={self.relations!r}, facts={self.facts!r})"

    def _parts(self) -> dict[str, VectorIndex]:
        parts = {"names": self.names, "relations": self.relations}
        if self.facts is not None:
            parts["facts"] = self.facts
        return parts

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write each index to a subfolder of ``folder`` and a ``catalog.json`` naming them."""
        folder = Path(folder)
        for name, index in self._parts().items():
            index.save(folder / name)
        meta = {"format": CATALOG_FORMAT, "indexes": {n: len(i) for n, i in self._parts().items()}}
        (folder / CATALOG_FILE).write_text(json.dumps(meta), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike[str], *, device: str | None = None) -> GraphIndexes:
        """Indexes saved by :meth:`save` (``ConfigError`` when ``folder`` holds none)."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / CATALOG_FILE).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{folder} holds no graph indexes ({CATALOG_FILE} is missing or unreadable): "
                              "build them with build_graph_indexes") from exc
        if not isinstance(meta, dict) or meta.get("format") != CATALOG_FORMAT:
            raise ConfigError(f"{folder}/{CATALOG_FILE} is not in format {CATALOG_FORMAT}: rebuild the graph indexes")
        names = meta.get("indexes") or {}
        parts = {n: VectorIndex.load(folder / n, device=device) for n in ("names", "relations", "facts") if n in names}
        if "names" not in parts or "relations" not in parts:
            raise ConfigError(f"{folder}/{CATALOG_FILE} lists no names or relations index: rebuild the graph indexes")
        return cls(**parts)


def build_graph_indexes(export: GraphExport, encoder: TextEncoderLike, config: IndexConfig | None = None, *,
                        facts: bool = True) -> GraphIndexes:
    """Encode and index the names, relation descriptions and (when ``facts``) verbalised triples of ``export``.

    A node without a display name is encoded by its id.
    """
    names = [name or node_id for node_id, name in zip(export.node_ids, export.names, strict=True)]
    name_index = VectorIndex.build(_encode(encoder, names), export.node_ids, config)
    relation_index = VectorIndex.build(_encode(encoder, [describe_relation(r) for r in export.relations]),
                                       export.relations, config)
    fact_index = None
    if facts:
        heads, tails = export.edge_index
        texts, ids = [], []
        for h, t, tl in zip(heads, export.edge_type, tails, strict=True):
            relation = export.relations[t]
            texts.append(verbalise_fact(names[h], relation, names[tl]))
            ids.append(fact_id(export.node_ids[h], relation, export.node_ids[tl]))
        fact_index = VectorIndex.build(_encode(encoder, texts), ids, config)
    return GraphIndexes(name_index, relation_index, fact_index)


def _encode(encoder: TextEncoderLike, texts: list[str]) -> np.ndarray:
    """``encoder.encode(texts)`` as ``(len(texts), d)``, also when ``texts`` is empty."""
    vectors = np.asarray(encoder.encode(texts), dtype=np.float32)  # (N, d)
    if vectors.ndim != 2 or vectors.shape[0] != len(texts):
        raise ConfigError(f"the text encoder returned shape {vectors.shape} for {len(texts)} texts: "
                          "use an encoder that returns one (d,) vector per text")
    return vectors
