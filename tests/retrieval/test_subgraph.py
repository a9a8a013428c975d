"""GraphSnapshot (CSR) and SubgraphRetriever on a 10-node toy graph, plus one run on the sample graph."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np
import pytest

from kg.errors import ConfigError, NotFound
from kg.names import describe_relation
from kg.store.base import GraphExport, build_export
from qa.resources import SAMPLE_GRAPH as SAMPLE
from retrieval.snapshot import GraphSnapshot
from retrieval.subgraph import Subgraph, SubgraphConfig, SubgraphRetriever

NODES = [("f1", "Heat"), ("f2", "Ronin"), ("f3", "Up"), ("d1", "Michael Mann"), ("d2", "Pete Docter"),
         ("a1", "Al Pacino"), ("a2", "Jean Reno"), ("g", "Drama"), ("w1", "Mann the Writer"), ("y1", "1995")]
EDGES = [("f1", "DIRECTED_BY", "d1"), ("f2", "DIRECTED_BY", "d1"), ("f3", "DIRECTED_BY", "d2"),
         ("f1", "STARRED_ACTORS", "a1"), ("f3", "STARRED_ACTORS", "a1"), ("f2", "STARRED_ACTORS", "a2"),
         ("f1", "HAS_GENRE", "g"), ("f2", "HAS_GENRE", "g"), ("f3", "HAS_GENRE", "g"),
         ("f1", "WRITTEN_BY", "w1"), ("f1", "RELEASE_YEAR", "y1")]


@pytest.fixture
def export() -> GraphExport:
    return build_export(NODES, EDGES)


@pytest.fixture
def snap(export: GraphExport) -> GraphSnapshot:
    return GraphSnapshot.from_export(export)


def prefer(relations: list[str], *wanted: str):  # a toy scorer: 1 for the wanted relations, 0 otherwise
    return lambda question: np.array([1.0 if r in wanted else 0.0 for r in relations])


def k_hop(seeds: list[str], k: int) -> dict[str, int]:
    """Reference: undirected breadth-first distances up to k."""
    adj: dict[str, set[str]] = {n: set() for n, _ in NODES}
    for h, _, t in EDGES:
        adj[h].add(t)
        adj[t].add(h)
    dist = dict.fromkeys(seeds, 0)
    queue = deque(seeds)
    while queue:
        u = queue.popleft()
        if dist[u] < k:
            for v in adj[u] - dist.keys():
                dist[v] = dist[u] + 1
                queue.append(v)
    return dist


def as_set(sub: Subgraph) -> set[tuple[str, str, str]]:
    return set(sub.triples())


# -- snapshot -------------------------------------------------------------------------------
def test_csr_neighbours_match_the_edge_list_both_ways(snap: GraphSnapshot) -> None:
    assert (snap.num_nodes, snap.num_edges, snap.num_relations) == (10, 11, 5)
    for i, nid in enumerate(snap.node_ids):
        lo, hi = snap.out_ptr[i], snap.out_ptr[i + 1]
        out = {(snap.relations[t], snap.node_ids[v]) for t, v in zip(snap.out_type[lo:hi], snap.out_nbr[lo:hi],
                                                                       strict=True)}
        assert out == {(r, t) for h, r, t in EDGES if h == nid}
        lo, hi = snap.in_ptr[i], snap.in_ptr[i + 1]
        inc = {(snap.relations[t], snap.node_ids[v]) for t, v in zip(snap.in_type[lo:hi], snap.in_nbr[lo:hi],
                                                                      strict=True)}
        assert inc == {(r, h) for h, r, t in EDGES if t == nid}
    # edge ids point back into the edge list, in both directions
    assert np.array_equal(snap.src[snap.out_eid], np.repeat(np.arange(10), np.diff(snap.out_ptr)))
    assert np.array_equal(snap.dst[snap.in_eid], np.repeat(np.arange(10), np.diff(snap.in_ptr)))
    assert snap.names[snap.index("d1")] == "Michael Mann"
    assert "num_nodes=10" in repr(snap) and "num_edges=11" in repr(snap)


def test_save_load_round_trip(snap: GraphSnapshot, tmp_path: Path) -> None:
    snap.save(tmp_path / "snap")
    back = GraphSnapshot.load(tmp_path / "snap")
    assert (back.node_ids, back.names, back.relations, back.index_of) == (
        snap.node_ids, snap.names, snap.relations, snap.index_of)
    for name in ("src", "dst", "edge_type", "out_ptr", "out_nbr", "out_type", "out_eid",
                 "in_ptr", "in_nbr", "in_type", "in_eid"):
        assert np.array_equal(getattr(back, name), getattr(snap, name)), name
    assert {p.name for p in (tmp_path / "snap").iterdir()} == {"arrays.npz", "meta.json"}
    with pytest.raises(ConfigError, match="no graph snapshot"):
        GraphSnapshot.load(tmp_path / "nothing-here")


# -- breadth first (no question) ------------------------------------------------------------
@pytest.mark.parametrize("seeds", [["f1"], ["d2"], ["a2", "y1"]])
@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_bfs_without_question_is_exactly_the_k_hop_neighbourhood(snap: GraphSnapshot, seeds: list[str],
                                                                k: int) -> None:
    sub = SubgraphRetriever(snap, SubgraphConfig(max_nodes=100)).retrieve(seeds, None, hops=k)
    dist = k_hop(seeds, k)
    assert set(sub.node_ids) == set(dist)
    assert dict(zip(sub.node_ids, sub.hops.tolist(), strict=True)) == dist
    assert as_set(sub) == {e for e in EDGES if e[0] in dist and e[2] in dist}  # induced, original direction
    assert sub.node_ids[: len(seeds)] == seeds and sub.seeds.tolist() == list(range(len(seeds)))
    assert np.all(sub.edge_score == 1.0)


def test_cap_is_respected_and_seeds_are_kept(snap: GraphSnapshot) -> None:
    retriever = SubgraphRetriever(snap, SubgraphConfig(max_nodes=3, max_edges=1))
    sub = retriever.retrieve(["y1", "d2"], None, hops=3)
    assert sub.num_nodes == 3 and sub.num_edges <= 1
    assert sub.node_ids[:2] == ["y1", "d2"]
    assert sub.node_ids[2] in {"f1", "f3"}  # a 1-hop neighbour comes before anything farther
    sub = retriever.retrieve(["y1", "d2"], "anything", hops=3, relation_scores=np.zeros(snap.num_relations))
    assert sub.num_nodes == 3 and sub.node_ids[:2] == ["y1", "d2"]
    with pytest.raises(ConfigError, match="exceed max_nodes"):
        SubgraphRetriever(snap, SubgraphConfig(max_nodes=1)).retrieve(["y1", "d2"], None, hops=1)


# -- pruning by relevance -------------------------------------------------------------------
def test_pruning_keeps_the_relevant_relation(snap: GraphSnapshot) -> None:
    config = SubgraphConfig(max_nodes=2)
    directed = SubgraphRetriever(snap, config, prefer(snap.relations, "DIRECTED_BY"))
    written = SubgraphRetriever(snap, config, prefer(snap.relations, "WRITTEN_BY"))
    assert directed.retrieve(["f1"], "who directed Heat", hops=1).triples() == [("f1", "DIRECTED_BY", "d1")]
    assert written.retrieve(["f1"], "who wrote Heat", hops=1).triples() == [("f1", "WRITTEN_BY", "w1")]
    # Two hops, a different relation per hop: films of the actor (backwards), then their directors.
    path = SubgraphRetriever(snap, SubgraphConfig(max_nodes=5),
                             prefer(snap.relations, "STARRED_ACTORS", "DIRECTED_BY"))
    sub = path.retrieve(["a1"], "who directed the films starring Al Pacino", hops=2)
    assert set(sub.node_ids) == {"a1", "f1", "f3", "d1", "d2"}
    assert as_set(sub) == {("f1", "STARRED_ACTORS", "a1"), ("f3", "STARRED_ACTORS", "a1"),
                           ("f1", "DIRECTED_BY", "d1"), ("f3", "DIRECTED_BY", "d2")}
    assert sub.edge_score.max() == 1.0 and sub.node_score[0] == 1.0
    # Asked for genres instead, the same walk keeps the genre and no director.
    genre = SubgraphRetriever(snap, SubgraphConfig(max_nodes=4), prefer(snap.relations, "STARRED_ACTORS", "HAS_GENRE"))
    kept = set(genre.retrieve(["a1"], "what genres are the films starring Al Pacino", hops=2).node_ids)
    assert kept == {"a1", "f1", "f3", "g"}


def test_a_hub_does_not_flood_the_cap() -> None:
    leaves = [f"leaf{i:02d}" for i in range(50)]
    nodes = [(n, n) for n in ["s", "hub", "mid", "t", *leaves]]
    edges = [("s", "R", "hub"), ("s", "R", "mid"), ("mid", "R", "t")] + [("hub", "R", x) for x in leaves]
    snap = GraphSnapshot.from_export(build_export(nodes, edges))
    flat = SubgraphRetriever(snap, SubgraphConfig(max_nodes=4), lambda q: np.zeros(1))
    assert set(flat.retrieve(["s"], "q", hops=2).node_ids) == {"s", "hub", "mid", "t"}
    bfs = SubgraphRetriever(snap, SubgraphConfig(max_nodes=4)).retrieve(["s"], None, hops=2)
    assert set(bfs.node_ids) == {"s", "hub", "mid", "leaf00"}


def test_scorer_must_score_every_relation(snap: GraphSnapshot) -> None:
    bad = SubgraphRetriever(snap, SubgraphConfig(), lambda q: np.zeros(3))
    with pytest.raises(ConfigError, match="5 relations"):
        bad.retrieve(["f1"], "who directed Heat", hops=1)


def test_seed_names_are_masked_for_scoring(snap: GraphSnapshot) -> None:
    seen: list[str] = []
    retriever = SubgraphRetriever(snap, SubgraphConfig(), lambda q: seen.append(q) or np.zeros(5))
    retriever.retrieve(["f3"], "who directed up in 2009, Up?", hops=1)
    assert seen == ["who directed in 2009, ?"]
    q = "who directed up in 2009, Up? (f3)"
    spans = retriever.seed_spans(q, ["f3"])
    assert [q[a:b] for a, b in spans] == ["up", "Up", "f3"]      # what scoring_text takes out, by position
    assert SubgraphRetriever(snap, SubgraphConfig(mask_seeds=False)).seed_spans(q, ["f3"]) == []
    assert describe_relation("HAS_IMDB_RATING") == "has imdb rating"


# -- the Subgraph value ---------------------------------------------------------------------
def test_to_pyg_shapes(snap: GraphSnapshot) -> None:
    pytest.importorskip("torch_geometric")
    import torch

    sub = SubgraphRetriever(snap, SubgraphConfig()).retrieve(["f1", "d2"], None, hops=1)
    data = sub.to_pyg()
    assert data.num_nodes == sub.num_nodes == 8
    assert data.edge_index.shape == (2, sub.num_edges) and data.edge_index.dtype == torch.long
    assert data.edge_type.shape == (sub.num_edges,) and data.edge_type.dtype == torch.long
    assert data.n_id.tolist() == sub.n_id.tolist() and data.seeds.tolist() == [0, 1]
    assert int(data.edge_index.max()) < data.num_nodes
    assert [snap.node_ids[i] for i in data.n_id.tolist()] == sub.node_ids
    assert "num_nodes=8" in repr(sub) and "'f1'" in repr(sub)


def test_ordering_is_deterministic(export: GraphExport, tmp_path: Path) -> None:
    snap = GraphSnapshot.from_export(export)
    scorer = prefer(snap.relations, "STARRED_ACTORS")
    config = SubgraphConfig(max_nodes=6)
    first = SubgraphRetriever(snap, config, scorer).retrieve(["a1"], "q", hops=3)
    again = SubgraphRetriever(snap, config, scorer).retrieve(["a1"], "q", hops=3)
    snap.save(tmp_path / "s")
    loaded = SubgraphRetriever(GraphSnapshot.load(tmp_path / "s"), config, scorer).retrieve(["a1"], "q", hops=3)
    heads, tails = export.edge_index
    perm = np.random.default_rng(0).permutation(len(heads))  # the same graph, edges in another order
    shuffled = GraphSnapshot.from_arrays(export.node_ids, export.names, export.relations, np.asarray(heads)[perm],
                                         np.asarray(tails)[perm], np.asarray(export.edge_type)[perm])
    other = SubgraphRetriever(shuffled, config, scorer).retrieve(["a1"], "q", hops=3)
    for sub in (again, loaded, other):
        assert sub.node_ids == first.node_ids and sub.triples() == first.triples()
        assert np.array_equal(sub.hops, first.hops)


def test_batch_matches_one_at_a_time(snap: GraphSnapshot) -> None:
    retriever = SubgraphRetriever(snap, SubgraphConfig(max_nodes=4), prefer(snap.relations, "DIRECTED_BY"))
    asks = [(["f1"], "who directed Heat", 1), (["a1"], None, 2), (["d1"], "films by Michael Mann", 2)]
    batch = retriever.retrieve_batch([a[0] for a in asks], [a[1] for a in asks], [a[2] for a in asks])
    for (seeds, q, h), sub in zip(asks, batch, strict=True):
        one = retriever.retrieve(seeds, q, hops=h)
        assert (sub.node_ids, sub.triples()) == (one.node_ids, one.triples())


def test_unknown_seed_is_named(snap: GraphSnapshot) -> None:
    with pytest.raises(NotFound, match="'Nosferatu'"):
        SubgraphRetriever(snap).retrieve(["f1", "Nosferatu"], None, hops=1)
    with pytest.raises(ConfigError, match="at least one seed"):
        SubgraphRetriever(snap).retrieve([], None, hops=1)


# -- the sample graph, the real store and sentence encoder ----------------------------------
@pytest.mark.slow
def test_who_directed_a_film_of_the_sample_graph(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from kg.ingest import ingest
    from kg.store.embedded import EmbeddedStore

    with EmbeddedStore(tmp_path / "graph") as store:
        ingest(store, SAMPLE, progress=False)
        retriever = SubgraphRetriever.from_store(store, SubgraphConfig(max_nodes=2))
        assert retriever.snapshot.num_edges == store.stats().relations
    # One node besides the seed: the question decides which (1941 has 9 neighbours).
    assert retriever.retrieve(["1941"], "who directed 1941", hops=1).node_ids == ["1941", "Steven Spielberg"]
    assert retriever.retrieve(["1941"], "who wrote 1941", hops=1).node_ids[1] in {"Bob Gale", "Robert Zemeckis"}
    # Two hops: the other films of the director are all kept at a cap of 200 (1941 has 2,582 nodes within 2 hops).
    snap = retriever.snapshot
    directed = snap.relations.index("DIRECTED_BY")
    films = {snap.node_ids[h] for h, t, r in zip(snap.src, snap.dst, snap.edge_type, strict=True)
             if r == directed and snap.node_ids[t] == "Steven Spielberg"}
    wide = SubgraphRetriever(snap, SubgraphConfig(max_nodes=200), retriever.relation_scorer)
    sub = wide.retrieve(["1941"], "what other films did the director of 1941 direct", hops=2)
    assert len(films) > 10 and films <= set(sub.node_ids)


def test_relation_signature_says_which_relations_a_node_has(snap: GraphSnapshot) -> None:
    r = snap.relations
    sig = snap.relation_signature(np.array([snap.index("f1"), snap.index("a1"), snap.index("y1")]))
    assert sig.shape == (3, 2 * len(r))
    film = {r[j] for j in np.nonzero(sig[0, :len(r)])[0]}
    assert film == {"DIRECTED_BY", "STARRED_ACTORS", "HAS_GENRE", "WRITTEN_BY", "RELEASE_YEAR"}
    assert not sig[0, len(r):].any()                                     # nothing points at a film here
    assert {r[j - len(r)] for j in np.nonzero(sig[1])[0]} == {"STARRED_ACTORS"}   # an actor: in-edges only
    assert {r[j - len(r)] for j in np.nonzero(sig[2])[0]} == {"RELEASE_YEAR"}


def test_a_snapshot_keeps_only_the_relations_a_model_knows() -> None:
    snap = GraphSnapshot.from_arrays(["a", "b", "c"], ["A", "B", "C"], ["R1", "NEW", "R2"],
                                     [0, 1, 0, 2], [1, 2, 2, 0], [0, 1, 2, 1])
    kept, dropped = snap.keep_relations(["R2", "R1", "OLD"])
    assert kept.relations == ["R2", "R1", "OLD"] and dropped == {"NEW": 2}
    assert kept.node_ids == snap.node_ids and kept.index_of == snap.index_of
    edges = sorted((kept.node_ids[h], kept.relations[t], kept.node_ids[d])
                   for h, t, d in zip(kept.src, kept.edge_type, kept.dst, strict=True))
    assert edges == [("a", "R1", "b"), ("a", "R2", "c")]
    assert kept.relation_signature(np.arange(3)).shape == (3, 6)
