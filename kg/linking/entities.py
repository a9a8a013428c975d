"""The graph as the linker sees it: names, aliases, relation roles, degree and adjacency.

:class:`EntityTable` is a snapshot of a :class:`~kg.store.base.GraphStore` taken
once (``store.export()`` for the edges, one read-only Cypher scan for ids, names,
aliases and labels) and kept in arrays. An entity's *roles* are the relation types
it takes part in, with their direction (``>DIRECTED_BY`` for a film, ``<DIRECTED_BY``
for its director), and its labels (``@Film``): the graph evidence that
disambiguation compares with what a question asks for.

The snapshot is identified by a :func:`fingerprint` of the graph (counts per
relation type and label, and a hash of every id, name, alias and label), so a
cache of it on disk is used only while the graph is unchanged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kg.store.base import GraphStore

SCAN = "MATCH (n:Entity) RETURN n.id, n.name, n.aliases, n.labels"
_SCAN_LIMIT = 10**9
_SCAN_TIMEOUT_S = 600.0


@dataclass(slots=True)
class EntityRow:
    """What the linker needs of one entity's own fields."""

    id: str
    name: str
    aliases: list[str]
    labels: list[str]


def scan_entities(store: GraphStore) -> list[EntityRow]:
    """Every entity's id, name, aliases and labels, sorted by id (one read-only query)."""
    result = store.read(SCAN, limit=_SCAN_LIMIT, timeout_s=_SCAN_TIMEOUT_S)
    rows = [EntityRow(i, n if n is not None else i, list(a or []), list(lab or [])) for i, n, a, lab in result.rows]
    rows.sort(key=lambda r: r.id)
    return rows


def fingerprint(store: GraphStore, rows: list[EntityRow]) -> str:
    """A hash that changes when the graph's entities, names, aliases, labels or relation counts change."""
    digest = hashlib.sha256(json.dumps(store.stats().as_dict(), sort_keys=True).encode())
    for r in rows:
        digest.update(json.dumps([r.id, r.name, r.aliases, r.labels], ensure_ascii=False).encode())
    return digest.hexdigest()[:32]


class EntityTable:
    """Entities of a graph with their roles, degree and neighbours, indexed ``0..N-1`` by sorted id.

    Args:
        ids, names, aliases, labels: the entities' own fields (``aliases[i]``: list of strings).
        role_names: the role vocabulary (``>TYPE``, ``<TYPE``, ``@Label``).
        role_ptr, role_idx: roles of entity ``i`` are ``role_idx[role_ptr[i]:role_ptr[i + 1]]``.
        degree: number of relations of each entity.
        adj_ptr, adj_idx: sorted neighbours of entity ``i`` (either direction), CSR as above.
        fingerprint: the graph's :func:`fingerprint` when the table was built.

    Shapes:
        ``role_ptr``, ``adj_ptr``: ``(N + 1,)``; ``degree``: ``(N,)``.
    """

    def __init__(self, ids: list[str], names: list[str], aliases: list[list[str]], labels: list[list[str]],
                 role_names: list[str], role_ptr: np.ndarray, role_idx: np.ndarray, degree: np.ndarray,
                 adj_ptr: np.ndarray, adj_idx: np.ndarray, fingerprint: str = "") -> None:
        self.ids = ids
        self.names = names
        self.aliases = aliases
        self.labels = labels
        self.role_names = role_names
        self.role_ptr = role_ptr
        self.role_idx = role_idx
        self.degree = degree
        self.adj_ptr = adj_ptr
        self.adj_idx = adj_idx
        self.fingerprint = fingerprint
        self._roles: list[tuple[str, ...]] = [
            tuple(role_names[k] for k in role_idx[role_ptr[i]:role_ptr[i + 1]]) for i in range(len(ids))]
        self.index_of = {entity_id: i for i, entity_id in enumerate(ids)}
        self._neighbours: dict[int, frozenset[int]] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"EntityTable(entities={len(self)}, roles={len(self.role_names)}, fingerprint={self.fingerprint!r})"

    # -- building ------------------------------------------------------------------------------
    @classmethod
    def from_store(cls, store: GraphStore, rows: list[EntityRow] | None = None, graph_fingerprint: str = ""
                   ) -> EntityTable:
        """Snapshot ``store`` (``rows``: a scan already made, see :func:`scan_entities`)."""
        rows = rows if rows is not None else scan_entities(store)
        export = store.export()
        by_id = {r.id: r for r in rows}
        ids = export.node_ids
        n = len(ids)
        heads = np.asarray(export.edge_index[0], dtype=np.int64)
        tails = np.asarray(export.edge_index[1], dtype=np.int64)
        etype = np.asarray(export.edge_type, dtype=np.int64)
        n_rel = len(export.relations)
        label_names = sorted({lab for r in rows for lab in r.labels})
        role_names = [f">{t}" for t in export.relations] + [f"<{t}" for t in export.relations] + \
                     [f"@{lab}" for lab in label_names]
        # (entity, role) pairs: out-roles, in-roles, labels; deduplicated and grouped by entity.
        label_pos = {lab: 2 * n_rel + k for k, lab in enumerate(label_names)}
        label_pairs = [(i, label_pos[lab]) for i, nid in enumerate(ids) for lab in by_id.get(nid, _NO_ROW).labels]
        lab_e = np.asarray([p[0] for p in label_pairs], dtype=np.int64)
        lab_r = np.asarray([p[1] for p in label_pairs], dtype=np.int64)
        ent = np.concatenate([heads, tails, lab_e])
        role = np.concatenate([etype, etype + n_rel, lab_r])
        pairs = np.unique(ent * (len(role_names) + 1) + role)
        pair_e, pair_r = np.divmod(pairs, len(role_names) + 1)
        role_ptr = np.searchsorted(pair_e, np.arange(n + 1)).astype(np.int64)
        degree = np.bincount(np.concatenate([heads, tails]), minlength=n).astype(np.int32)
        adj = np.unique(np.concatenate([heads * n + tails, tails * n + heads])) if n else np.zeros(0, np.int64)
        adj_e, adj_t = np.divmod(adj, max(n, 1))
        adj_ptr = np.searchsorted(adj_e, np.arange(n + 1)).astype(np.int64)
        return cls(
            ids=list(ids),
            names=[by_id[i].name if i in by_id else i for i in ids],
            aliases=[by_id[i].aliases if i in by_id else [] for i in ids],
            labels=[by_id[i].labels if i in by_id else [] for i in ids],
            role_names=role_names, role_ptr=role_ptr, role_idx=pair_r.astype(np.int32), degree=degree,
            adj_ptr=adj_ptr, adj_idx=adj_t.astype(np.int32), fingerprint=graph_fingerprint,
        )

    # -- reading -------------------------------------------------------------------------------
    def roles(self, i: int) -> tuple[str, ...]:
        """Roles of entity ``i``: ``(">DIRECTED_BY", ">STARRED_ACTORS", ...)``."""
        return self._roles[i]

    def neighbours(self, i: int) -> frozenset[int]:
        """Entities related to entity ``i`` (either direction); kept once asked for."""
        found = self._neighbours.get(i)
        if found is None:
            found = self._neighbours[i] = frozenset(self.adj_idx[self.adj_ptr[i]:self.adj_ptr[i + 1]].tolist())
        return found

    def adjacent(self, a: int, b: int) -> bool:
        """Whether a relation joins entities ``a`` and ``b`` (either direction)."""
        return b in self.neighbours(a)

    def surface_forms(self, skip_labels: frozenset[str] = frozenset()) -> Iterator[tuple[int, str]]:
        """``(entity, name or alias)`` for every entity whose labels avoid ``skip_labels``."""
        for i, name in enumerate(self.names):
            if skip_labels and skip_labels.intersection(self.labels[i]):
                continue
            yield i, name
            for alias in self.aliases[i]:
                yield i, alias

    # -- persistence ---------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Write ``entities.json`` and ``entities.npz`` into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"fingerprint": self.fingerprint, "ids": self.ids, "names": self.names, "aliases": self.aliases,
                "labels": self.labels, "role_names": self.role_names}
        (folder / "entities.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        np.savez(folder / "entities.npz", role_ptr=self.role_ptr, role_idx=self.role_idx, degree=self.degree,
                 adj_ptr=self.adj_ptr, adj_idx=self.adj_idx)

    @classmethod
    def load(cls, folder: Path) -> EntityTable:
        meta = json.loads((folder / "entities.json").read_text(encoding="utf-8"))
        with np.load(folder / "entities.npz", allow_pickle=False) as arrays:
            return cls(meta["ids"], meta["names"], meta["aliases"], meta["labels"], meta["role_names"],
                       arrays["role_ptr"], arrays["role_idx"], arrays["degree"], arrays["adj_ptr"],
                       arrays["adj_idx"], meta["fingerprint"])


_NO_ROW = EntityRow("", "", [], [])
