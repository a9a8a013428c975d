"""The linker's index of a graph, built once and kept on disk beside the store.

``<cache>/graph/`` holds the :class:`~kg.linking.entities.EntityTable` and the
:class:`~kg.linking.candidates.FuzzyIndex` with a ``meta.json`` naming the graph
:func:`~kg.linking.entities.fingerprint` and the encoder they were built for. On
open, a fresh fingerprint is taken (one scan of the names, the stats counts); the
cache is used when it matches and rebuilt (then replaced atomically) when the
graph changed. ``<cache>/prior.json`` is the learned prior (see :mod:`kg.linking.prior`),
which survives graph changes.

:func:`cache_dir_for` says where the cache of a configured store lives: inside an
embedded store's folder (``<path>/linker``), or ``.kgqa/linker-neo4j-<database>``
beside the default embedded path for Neo4j.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from kg.config import StoreConfig
from kg.linking.candidates import FuzzyIndex
from kg.linking.encoders import NameEncoder
from kg.linking.entities import EntityTable, fingerprint, scan_entities
from kg.linking.gazetteer import Gazetteer
from kg.store.base import GraphStore

CACHE_FORMAT = "kgqa-linker-cache/1"
PRIOR_FILE = "prior.json"


def cache_dir_for(config: StoreConfig) -> Path:
    """Where the linker keeps its files for the store ``config`` names."""
    if config.backend == "embedded":
        return Path(config.path) / "linker"
    return Path(config.path).parent / f"linker-{config.backend}-{config.database}"


@dataclass(slots=True)
class GraphIndex:
    """A graph as the linker needs it: entity snapshot, name matcher and fuzzy index.

    Attributes:
        from_cache: whether it was read from disk rather than built.
        seconds: time to take the fingerprint and load or build.
    """

    table: EntityTable
    gazetteer: Gazetteer
    fuzzy: FuzzyIndex
    from_cache: bool = False
    seconds: float = 0.0


def load_or_build(store: GraphStore, encoder: NameEncoder, cache_dir: str | Path | None = None,
                  skip_labels: frozenset[str] = frozenset(), rebuild: bool = False) -> GraphIndex:
    """The index of ``store``: from ``cache_dir`` when it is current, else built (and saved there)."""
    start = time.perf_counter()
    rows = scan_entities(store)
    graph_fp = fingerprint(store, rows)
    meta: dict[str, object] = {"format": CACHE_FORMAT, "fingerprint": graph_fp, "encoder": encoder.config(),
                               "skip_labels": sorted(skip_labels)}
    folder = Path(cache_dir) / "graph" if cache_dir is not None else None
    table: EntityTable | None = None
    fuzzy: FuzzyIndex | None = None
    from_cache = False
    if folder is not None and not rebuild and _current(folder, meta):
        try:
            table = EntityTable.load(folder)
            fuzzy = FuzzyIndex.load(folder, encoder)
            from_cache = True
        except (OSError, ValueError, KeyError, RuntimeError):
            table = fuzzy = None  # a damaged cache is rebuilt
    if table is None or fuzzy is None:
        table = EntityTable.from_store(store, rows, graph_fp)
        gazetteer = Gazetteer(table.surface_forms(skip_labels))
        fuzzy = FuzzyIndex.build(encoder, list(gazetteer.entities))
        if folder is not None:
            try:
                _save(folder, meta, table, fuzzy)
            except OSError:
                pass  # an unwritable cache folder costs a rebuild next time, nothing else
    else:
        gazetteer = Gazetteer(table.surface_forms(skip_labels))
    return GraphIndex(table, gazetteer, fuzzy, from_cache, time.perf_counter() - start)


def _current(folder: Path, meta: dict[str, object]) -> bool:
    try:
        return json.loads((folder / "meta.json").read_text(encoding="utf-8")) == meta
    except (OSError, ValueError):
        return False


def _save(folder: Path, meta: dict[str, object], table: EntityTable, fuzzy: FuzzyIndex) -> None:
    """Write into a temporary folder, then swap it in (readers never see half a cache)."""
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    table.save(tmp)
    fuzzy.save(tmp)
    (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    old = folder.with_name(f"{folder.name}.old-{os.getpid()}")
    if folder.exists():
        folder.replace(old)
    tmp.replace(folder)
    shutil.rmtree(old, ignore_errors=True)
