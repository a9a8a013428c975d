"""Related entities: nearest by embedding, explained by shared neighbours or a path."""

from __future__ import annotations

import numpy as np
import pytest

from kg.errors import NotFound
from retrieval.similar import SimilarEntities
from retrieval.snapshot import GraphSnapshot

NODES = ["Kismet", "Salome", "Up", "William Dieterle", "Pete Docter", "Drama", "Animation", "Soul"]
EDGES = [("Kismet", "DIRECTED_BY", "William Dieterle"), ("Salome", "DIRECTED_BY", "William Dieterle"),
         ("Kismet", "HAS_GENRE", "Drama"), ("Salome", "HAS_GENRE", "Drama"), ("Up", "HAS_GENRE", "Drama"),
         ("Up", "DIRECTED_BY", "Pete Docter"), ("Soul", "DIRECTED_BY", "Pete Docter"),
         ("Up", "HAS_GENRE", "Animation")]


@pytest.fixture
def finder() -> SimilarEntities:
    rels = sorted({r for _, r, _ in EDGES})
    idx = {n: i for i, n in enumerate(NODES)}
    snap = GraphSnapshot.from_arrays(NODES, NODES, rels, [idx[h] for h, _, _ in EDGES],
                                     [idx[t] for _, _, t in EDGES], [rels.index(r) for _, r, _ in EDGES])
    # Embeddings where Kismet and Salome are close, Up and Soul close, the rest apart.
    emb = np.eye(len(NODES), dtype=np.float32)
    emb[idx["Salome"]] = emb[idx["Kismet"]] * 0.9 + emb[idx["Salome"]] * 0.1
    emb[idx["Soul"]] = emb[idx["Up"]] * 0.8 + emb[idx["Soul"]] * 0.2
    return SimilarEntities.build(emb, NODES, snap)


def test_nearest_entity_comes_first_with_the_rarest_shared_neighbour_first(finder: SimilarEntities) -> None:
    top = finder.similar("Kismet", k=2)
    assert top[0].entity_id == "Salome" and top[0].score > 0.9
    assert [s.neighbour_id for s in top[0].shared] == ["William Dieterle", "Drama"]   # degree 2 before degree 3
    assert top[0].shared[0].relation_a == top[0].shared[0].relation_b == "DIRECTED_BY"
    assert all(r.entity_id != "Kismet" for r in top)


def test_without_shared_neighbours_a_path_explains(finder: SimilarEntities) -> None:
    assert finder.shortest_path("Kismet", "Soul", max_hops=4) == [
        ("Kismet", "HAS_GENRE", "Drama"), ("Up", "HAS_GENRE", "Drama"),
        ("Up", "DIRECTED_BY", "Pete Docter"), ("Soul", "DIRECTED_BY", "Pete Docter")]
    assert finder.shortest_path("Kismet", "Soul", max_hops=2) == []


def test_unknown_entity_is_a_clear_error(finder: SimilarEntities) -> None:
    with pytest.raises(NotFound, match="kgqa pretrain"):
        finder.similar("Nope")
