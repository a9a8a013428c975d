"""GNN encoders on toy graphs: shapes, repr, reverse edges, layer-wise and sampled inputs agree."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data

from encoders.features import FeatureConfig, NodeFeatures
from encoders.gnn import GNNConfig, add_reverse_edges, build_encoder
from encoders.sampling import IncidentNeighborSampler, node_loader
from kg.errors import ConfigError

KINDS = ["rgcn", "compgcn"]
R = 3


def toy_graph(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, int]:
    """A directed 8-node graph: a ring plus two chords, random relation types in [0, 3)."""
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7, 0, 2], [1, 2, 3, 4, 5, 6, 7, 0, 4, 6]])
    edge_type = torch.randint(0, R, (10,), generator=g)
    return edge_index, edge_type, 8


def encoder(kind: str, hidden: int = 8, **kw: object):
    torch.manual_seed(0)
    return build_encoder(GNNConfig(kind=kind, hidden=hidden, **kw), num_relations=R).eval()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layers", [1, 3])
def test_output_shape_and_layerwise_inference_agree(kind: str, layers: int) -> None:
    ei, et, n = toy_graph()
    enc = encoder(kind, hidden=16, layers=layers)
    x = torch.randn(n, 16)
    out = enc(x, ei, et)
    assert out.shape == (n, 16)
    assert torch.isfinite(out).all()
    # Chunked layer-by-layer inference (for graphs that do not fit) gives the same embeddings.
    assert torch.allclose(enc.inference(x, ei, et, chunk_size=3), out, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_repr_shows_hyperparameters(kind: str) -> None:
    text = repr(encoder(kind, hidden=12, layers=2, dropout=0.25))
    for part in (f"kind={kind}", "layers=2", "hidden=12", "dropout=0.25", "relations=3", "edge_types=6"):
        assert part in text
    assert ("num_bases=4" if kind == "rgcn" else "composition=mult") in text
    feats = repr(NodeFeatures(FeatureConfig(), num_nodes=5, hidden=12, text=torch.zeros(5, 7)))
    assert "num_nodes=5" in feats and "hidden=12" in feats and "text_dim=7" in feats


def test_reverse_edges_get_their_own_relation_type() -> None:
    ei, et = add_reverse_edges(torch.tensor([[0], [1]]), torch.tensor([2]), num_relations=R)
    assert ei.tolist() == [[0, 1], [1, 0]]
    assert et.tolist() == [2, 2 + R]


@pytest.mark.parametrize("kind", KINDS)
def test_an_edge_sends_messages_both_ways_with_distinct_weights(kind: str) -> None:
    """a -[r]-> b: b hears a through relation r, a hears b through r + R (the reverse type);
    silencing the weight of one type cuts exactly one direction."""
    ei, et = torch.tensor([[0], [1]]), torch.tensor([1])
    x = torch.randn(2, 8)
    x_b_changed = x.clone()
    x_b_changed[1] += 1.0
    x_a_changed = x.clone()
    x_a_changed[0] += 1.0

    def hears(enc: torch.nn.Module) -> tuple[bool, bool]:
        """(b changes when a's input does, a changes when b's input does)."""
        base = enc(x, ei, et)
        b_hears_a = not torch.allclose(enc(x_a_changed, ei, et)[1], base[1])
        a_hears_b = not torch.allclose(enc(x_b_changed, ei, et)[0], base[0])
        return b_hears_a, a_hears_b

    enc = encoder(kind, layers=1, num_bases=None)
    assert hears(enc) == (True, True)
    conv = enc.convs[0]
    with torch.no_grad():
        if kind == "rgcn":
            conv.weight[1 + R].zero_()   # the reverse type's weight
        else:
            conv.w_in.weight.zero_()     # CompGCN's inverse-direction weight
    assert hears(enc) == (True, False)
    with torch.no_grad():
        if kind == "rgcn":
            conv.weight[1].zero_()
        else:
            conv.w_out.weight.zero_()
    assert hears(enc) == (False, False)


@pytest.mark.parametrize("kind", KINDS)
def test_sampled_loader_with_all_neighbours_matches_the_full_graph(kind: str) -> None:
    ei, et, n = toy_graph(1)
    enc = encoder(kind, layers=2)
    feats = NodeFeatures(FeatureConfig(), n, 8, text=torch.randn(n, 5)).eval()
    full = enc(feats(), ei, et)
    data = Data(edge_index=ei, edge_type=et, num_nodes=n)
    seen = []
    for batch in node_loader(data, num_neighbors=[-1, -1], batch_size=3):
        assert batch.edge_type.tolist() == et[batch.e_id].tolist()   # global relation types, local edges
        out = enc(feats(batch.n_id), batch.edge_index, batch.edge_type)[:batch.batch_size]
        torch.testing.assert_close(out, full[batch.n_id[:batch.batch_size]], atol=1e-5, rtol=1e-5)
        seen += batch.n_id[:batch.batch_size].tolist()
    assert sorted(seen) == list(range(n))


def test_sampler_keeps_at_most_k_edges_per_node_and_skips_excluded_ones() -> None:
    # A star: node 0 linked to 1..9, and 1 -> 2.
    ei = torch.tensor([[0] * 9 + [1], [*range(1, 10), 2]])
    data = Data(edge_index=ei, num_nodes=10)
    sampler = IncidentNeighborSampler(data, [3], generator=torch.Generator().manual_seed(0))
    out = sampler.sample(torch.tensor([0]))
    assert out.edge.numel() == 3 and out.node[0] == 0 and out.node.numel() == 4
    assert (ei[0, out.edge] == 0).all()
    exclude = torch.zeros(10, dtype=torch.bool)
    exclude[:8] = True
    out = IncidentNeighborSampler(data, [5], exclude=exclude).sample(torch.tensor([0]))
    assert out.edge.tolist() == [8]          # only the one non-excluded edge of node 0
    # Local indices point back at the original endpoints.
    assert out.node[out.row].tolist() == ei[0, out.edge].tolist()
    assert out.node[out.col].tolist() == ei[1, out.edge].tolist()


def test_features_select_rows_and_need_some_input() -> None:
    feats = NodeFeatures(FeatureConfig(learned=True), 6, 4, text=torch.randn(6, 3))
    assert feats().shape == (6, 4)
    n_id = torch.tensor([4, 1])
    assert torch.equal(feats(n_id), feats()[n_id])
    assert NodeFeatures(FeatureConfig(use_text=False), 6, 4)().shape == (6, 4)
    with pytest.raises(ConfigError):
        NodeFeatures(FeatureConfig(use_text=False, learned=False), 6, 4)
    with pytest.raises(ConfigError):
        NodeFeatures(FeatureConfig(), 6, 4, text=None)


def test_bad_config_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown GNN kind"):
        build_encoder(GNNConfig(kind="gat"), 3)
    with pytest.raises(ConfigError, match="composition"):
        build_encoder(GNNConfig(composition="add"), 3)
