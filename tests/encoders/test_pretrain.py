"""Link-prediction pretraining: filtered ranking, the split, no leakage, learning, checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from encoders.checkpoint import load_checkpoint, load_node_embeddings
from encoders.decoders import EmbeddingScorer
from encoders.features import FeatureConfig
from encoders.gnn import GNNConfig, GraphEncoder
from encoders.negatives import NegativeSampler
from encoders.pretrain import PretrainConfig, export_triples, pretrain, resolve_mode, split_triples
from encoders.ranking import TripleFilter, evaluate, filtered_rank, filtered_ranks
from kg.errors import ConfigError, NotFound
from kg.store.base import GraphExport, build_export
from qa.resources import SAMPLE_GRAPH as SAMPLE


def club_graph(groups: int = 4, size: int = 6) -> GraphExport:
    """Members of a club know three others of their club and belong to its hub: who belongs
    where follows from whom one knows."""
    edges = []
    for g in range(groups):
        members = [f"m{g}_{i}" for i in range(size)]
        for i, m in enumerate(members):
            edges.append((m, "MEMBER_OF", f"club{g}"))
            for j in (1, 2, 3):
                edges.append((m, "KNOWS", members[(i + j) % size]))
    nodes = sorted({h for h, _, _ in edges} | {t for _, _, t in edges})
    return build_export([(n, n) for n in nodes], edges)


def random_text(export: GraphExport, dim: int = 6) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((export.num_nodes, dim)).astype(np.float32)


def tiny_config(**kw: object) -> PretrainConfig:
    base: dict[str, object] = dict(gnn=GNNConfig(kind="compgcn", hidden=32, layers=2, dropout=0.0),
                                   features=FeatureConfig(), test_fraction=0.2, valid_fraction=0.15,
                                   batch_size=32, sampled_batch_size=32, num_negatives=16, lr=0.02,
                                   max_epochs=60, patience=60, progress=False, baselines=(), mode="full",
                                   num_neighbors=(-1, -1))
    base.update(kw)
    return PretrainConfig(**base)  # type: ignore[arg-type]


def test_filtered_rank_by_hand() -> None:
    # Scores of 5 entities for two queries; the true answers are 2 and 0.
    scores = torch.tensor([[0.9, 0.1, 0.5, 0.7, 0.5],
                           [0.3, 0.3, 0.8, 0.3, 0.1]])
    # Query 0: entity 0 is another known answer, so only entity 3 (0.7) beats the target (0.5),
    # and entity 4 ties with it: rank 1 + 1 + 0.5 = 2.5. Query 1: entity 2 is above, 1 and 3 tie.
    rank = filtered_rank(scores, torch.tensor([2, 0]), torch.tensor([0, 1]), torch.tensor([0, 0]))
    assert rank.tolist() == [2.5, 3.0]
    # Unfiltered, query 0 also has entity 0 above: 3.5.
    rank = filtered_rank(scores, torch.tensor([2, 0]), torch.tensor([], dtype=torch.long),
                         torch.tensor([], dtype=torch.long))
    assert rank.tolist() == [3.5, 3.0]


def test_filtered_ranks_use_all_known_triples_on_both_sides() -> None:
    # 4 entities on a line, one relation; DistMult with 1-d embeddings: score = e_h * e_t.
    emb = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    rel = torch.tensor([[1.0]])
    known = TripleFilter(torch.tensor([[0, 0, 1], [0, 0, 3], [2, 0, 1]]), num_relations=1)
    test = torch.tensor([[0, 0, 1]])
    tails, heads = filtered_ranks(EmbeddingScorer(emb, rel), test, known)
    # Tails of (0, r, ·): scores 1, 2, 3, 4; 3 is a known tail (filtered), 2 scores higher: rank 2.
    # Heads of (·, r, 1): scores 2, 4, 6, 8; 2 is a known head (filtered), 1 and 3 score higher: rank 3.
    assert tails.tolist() == [2.0] and heads.tolist() == [3.0]
    metrics = evaluate(EmbeddingScorer(emb, rel), test, known)
    assert metrics["mrr"] == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert metrics["hits@1"] == 0.0 and metrics["hits@3"] == 1.0 and metrics["tail_mrr"] == 0.5


def test_transe_scorer_agrees_with_the_pyg_module() -> None:
    from torch_geometric.nn.kge import DistMult, TransE

    torch.manual_seed(0)
    h, r, t = torch.tensor([0, 3]), torch.tensor([1, 0]), torch.tensor([2, 4])
    for cls, kind in ((TransE, "transe"), (DistMult, "distmult")):
        model = cls(5, 2, 8)
        scorer = EmbeddingScorer(model.node_emb.weight.detach(), model.rel_emb.weight.detach(), kind)
        expected = model(h, r, t).detach()
        torch.testing.assert_close(scorer.score_tails(h, r)[torch.arange(2), t], expected)
        torch.testing.assert_close(scorer.score_heads(r, t)[torch.arange(2), h], expected)


def test_typed_negatives_come_from_the_relations_side() -> None:
    train = torch.tensor([[0, 0, 5], [1, 0, 6], [2, 1, 7]])
    sampler = NegativeSampler(train, 10, 2, k=8, typed_fraction=0.5, generator=torch.Generator().manual_seed(0))
    neg = sampler.sample(torch.tensor([0, 0, 1]))
    assert neg.relations == [0, 1]
    assert set(neg.tails[0][:4].tolist()) <= {5, 6} and set(neg.heads[0][:4].tolist()) <= {0, 1}
    assert set(neg.tails[1][:4].tolist()) == {7} and all(x.numel() == 8 for x in neg.tails + neg.heads)
    uniform = NegativeSampler(train, 10, 2, k=8, typed_fraction=0.0).sample(torch.tensor([0, 1]))
    assert uniform.relations == [-1] and uniform.ids().numel() == 16


def test_split_is_seeded_disjoint_and_complete() -> None:
    triples = export_triples(club_graph())
    a, b = split_triples(triples, 0.2, 0.1, seed=3), split_triples(triples, 0.2, 0.1, seed=3)
    assert torch.equal(a.test, b.test) and torch.equal(a.train, b.train)
    assert not torch.equal(a.test, split_triples(triples, 0.2, 0.1, seed=4).test)
    rows = {tuple(x) for part in (a.train, a.valid, a.test) for x in part.tolist()}
    assert len(rows) == triples.size(0) == sum(a.sizes.values())
    assert a.sizes["test"] == round(0.2 * triples.size(0))


def test_held_out_triples_never_reach_message_passing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    export = club_graph()
    config = tiny_config(max_epochs=3, baselines=("distmult",))
    split = split_triples(export_triples(export), config.test_fraction, config.valid_fraction, config.valid_max,
                          config.seed)
    held_out = {tuple(x) for x in split.test.tolist()}
    valid = {tuple(x) for x in split.valid.tolist()}
    calls: list[set[tuple[int, int, int]]] = []
    forward = GraphEncoder.forward

    def spy(self: GraphEncoder, x: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor) -> torch.Tensor:
        calls.append({(h, r, t) for (h, t), r in zip(edge_index.T.tolist(), edge_type.tolist(), strict=True)})
        return forward(self, x, edge_index, edge_type)

    monkeypatch.setattr(GraphEncoder, "forward", spy)
    pretrain(export, config, tmp_path, text=random_text(export))
    # Training steps, validation and test: no held-out triple; training and validation: no
    # validation triple either. Only the last call (embeddings for later stages) sees them all.
    *measured, final = calls
    assert len(measured) >= 4 and all(not (edges & held_out) for edges in measured)
    assert sum(1 for edges in measured if edges & valid) == 1   # the test-time graph (train + valid)
    assert held_out <= final and len(final) == export.num_edges


@pytest.mark.parametrize("mode", ["full", "sampled"])
def test_pretraining_beats_an_untrained_model(tmp_path: Path, mode: str) -> None:
    export = club_graph()
    text = random_text(export)
    fanout = (-1, -1) if mode == "full" else (3, 2)   # sampled: at most 3 edges per seed, 2 per neighbour
    untrained = pretrain(export, tiny_config(mode=mode, max_epochs=0), tmp_path / "u", text=text)
    trained = pretrain(export, tiny_config(mode=mode, num_neighbors=fanout), tmp_path / "t", text=text)
    assert trained.mode == mode
    assert trained.metrics["gnn"]["mrr"] > untrained.metrics["gnn"]["mrr"] + 0.15
    assert trained.metrics["gnn"]["hits@10"] > untrained.metrics["gnn"]["hits@10"]
    log = json.loads(Path(trained.paths["log"]).read_text())
    assert log[0]["epoch"] == 1 and "mrr" in log[0]["valid"] and log[-1]["loss"] < log[0]["loss"]
    # The saved embeddings put clubmates next to each other (5 of 27 others are clubmates).
    from encoders.checkpoint import load_node_embeddings
    from retrieval.similar import SimilarEntities
    from retrieval.snapshot import GraphSnapshot

    emb, ids = load_node_embeddings(tmp_path / "t")
    finder = SimilarEntities.build(emb, ids, GraphSnapshot.from_export(export))
    nearest = [r.entity_id for r in finder.similar("m2_3", k=5)]
    assert "m2_3" not in nearest and sum(n.startswith("m2_") for n in nearest) >= 3
    with pytest.raises(NotFound):
        finder.similar("nobody")


def test_checkpoint_round_trip_is_exact_and_not_pickle(tmp_path: Path) -> None:
    export = club_graph()
    report = pretrain(export, tiny_config(max_epochs=2, gnn=GNNConfig(kind="rgcn", hidden=16)), tmp_path,
                      text=random_text(export))
    weights = Path(report.paths["weights"])
    head = weights.read_bytes()[:9]
    header_len = int.from_bytes(head[:8], "little")     # safetensors: u64 header length, then JSON
    assert head[8:9] == b"{" and 0 < header_len < weights.stat().st_size
    assert not head.startswith(b"PK") and head[:1] != b"\x80"   # neither torch.save's zip nor a pickle
    model, meta = load_checkpoint(tmp_path, node_ids=export.node_ids)
    assert meta["gnn"]["kind"] == "rgcn" and meta["relations"] == export.relations
    again, _ = load_checkpoint(tmp_path)
    ei = torch.tensor(export.edge_index)
    et = torch.tensor(export.edge_type)
    assert torch.equal(model.embed(ei, et), again.embed(ei, et))
    emb, ids = load_node_embeddings(tmp_path)
    assert ids == export.node_ids and emb.shape == (export.num_nodes, 16)
    np.testing.assert_allclose(emb, model.embed(ei, et).numpy(), rtol=0, atol=1e-6)
    with pytest.raises(ConfigError, match="nodes differ"):
        load_checkpoint(tmp_path, node_ids=list(reversed(export.node_ids)))


def test_baselines_share_the_protocol_and_report(tmp_path: Path) -> None:
    export = club_graph()
    report = pretrain(export, tiny_config(max_epochs=3, baselines=("distmult", "transe"), budget_s=5.0), tmp_path,
                      text=random_text(export))
    assert set(report.metrics) == {"gnn", "distmult", "transe"}
    counts = {m["count"] for m in report.metrics.values()}
    assert counts == {2 * report.split["test"]}            # tails and heads of every held-out triple
    saved = json.loads(Path(report.paths["report"]).read_text())
    assert saved["metrics"]["distmult"]["mrr"] == report.metrics["distmult"]["mrr"]


def test_auto_mode_and_bad_settings() -> None:
    config = tiny_config(mode="auto", memory_fraction=0.0)
    assert resolve_mode(config, 1000, 5000, torch.device("cpu")) == "sampled"
    assert resolve_mode(tiny_config(mode="auto"), 1000, 5000, torch.device("cpu")) == "full"
    with pytest.raises(ConfigError, match="num_neighbors"):
        tiny_config(mode="sampled", num_neighbors=(5,)).validate()
    with pytest.raises(ConfigError, match="mode"):
        tiny_config(mode="minibatch").validate()


@pytest.mark.slow
def test_sample_graph_with_the_real_text_encoder(tmp_path: Path) -> None:
    from kg.ingest import ingest
    from kg.store.embedded import EmbeddedStore

    store = EmbeddedStore(tmp_path / "graph")
    ingest(store, SAMPLE, progress=False)
    config = PretrainConfig(gnn=GNNConfig(hidden=64), batch_size=1024, max_epochs=4, budget_s=30, progress=False,
                            text_cache_dir=str(tmp_path / "cache"), baselines=("distmult",))
    report = pretrain(store, config, tmp_path / "run")
    store.close()
    assert report.metrics["gnn"]["count"] == 2 * report.split["test"] > 400
    assert report.metrics["gnn"]["mrr"] > 0.01
    meta = json.loads((tmp_path / "run" / "config.json").read_text())
    assert meta["text_model"] == "all-MiniLM-L6-v2" and meta["text_dim"] == 384


@pytest.mark.gpu
@pytest.mark.parametrize("mode", ["full", "sampled"])
def test_pretraining_on_cuda_matches_the_protocol(tmp_path: Path, mode: str) -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    export = club_graph()
    fanout = (-1, -1) if mode == "full" else (3, 2)
    config = tiny_config(mode=mode, num_neighbors=fanout, device="cuda", baselines=("distmult",))
    report = pretrain(export, config, tmp_path, text=random_text(export))
    assert report.device.startswith("cuda") and report.metrics["gnn"]["mrr"] > 0.3
    gpu_model, _ = load_checkpoint(tmp_path, device="cuda")
    cpu_model, _ = load_checkpoint(tmp_path)
    ei, et = torch.tensor(export.edge_index), torch.tensor(export.edge_type)
    torch.testing.assert_close(gpu_model.embed(ei.cuda(), et.cuda()).cpu(), cpu_model.embed(ei, et),
                               atol=1e-4, rtol=1e-4)
