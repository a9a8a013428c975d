"""The fusion model on two tiny subgraphs with a tiny random BERT as its text model."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from encoders.fusion import FusionBatch, FusionConfig, KGFusionModel, answer_loss  # noqa: E402
from encoders.gnn import GNNConfig  # noqa: E402

R = 3


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_text_model() -> torch.nn.Module:
    cfg = transformers.BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=64, max_position_embeddings=32)
    torch.manual_seed(0)
    return transformers.BertModel(cfg).eval()


def toy_batch(x_text: torch.Tensor | None = None) -> FusionBatch:
    # graph 0: 4 nodes, topic 0: 0 -r0-> 1, 0 -r1-> 2, 2 -r2-> 3
    # graph 1: 6 nodes, topic 4: 4 -r0-> 5, 6 -r0-> 4, 5 -r1-> 7, 7 -r2-> 8, 8 -r0-> 9
    torch.manual_seed(1)
    x = torch.randn(10, 32) if x_text is None else x_text
    edge_index = torch.tensor([[0, 0, 2, 4, 6, 5, 7, 8], [1, 2, 3, 5, 4, 7, 8, 9]])
    return FusionBatch(x_text=x, edge_index=edge_index, edge_type=torch.tensor([0, 1, 2, 0, 0, 1, 2, 0]),
                       batch=torch.tensor([0] * 4 + [1] * 6),
                       is_topic=torch.tensor([1, 0, 0, 0, 1, 0, 0, 0, 0, 0]).bool(), num_graphs=2)


def sub_batch(g: FusionBatch, which: int) -> FusionBatch:
    keep = g.batch == which
    offset = int(keep.nonzero()[0])
    e = keep[g.edge_index[0]]
    return FusionBatch(g.x_text[keep], g.edge_index[:, e] - offset, g.edge_type[e],
                       torch.zeros(int(keep.sum()), dtype=torch.long), g.is_topic[keep], 1)


@pytest.fixture()
def model_and_tokens() -> tuple[KGFusionModel, torch.Tensor, torch.Tensor]:
    text = tiny_text_model()
    torch.manual_seed(2)
    model = KGFusionModel(FusionConfig(hidden=16, heads=2, fusion_layers=2, dropout=0.0,
                                       gnn=GNNConfig(kind="compgcn", layers=2)), R, 32, text_model=text).eval()
    ids = torch.tensor([[2, 5, 7, 9, 3, 0], [2, 11, 4, 8, 6, 3]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]]).bool()
    return model, model.encode_tokens(ids, mask), mask


def test_shapes_and_repr(model_and_tokens) -> None:
    model, tok, mask = model_and_tokens
    assert tok.shape == (2, 6, 32)
    out = model(tok, mask, toy_batch())
    assert out.scores.shape == (10,)
    assert out.step_logits.shape == (2, 3)
    assert out.relation_weights.shape == (2, 3, 2 * R)
    assert out.propagated.shape == (10,)
    assert bool(torch.isfinite(out.scores).all())       # topics are candidates too (whether they answer is learned)
    r = repr(model)
    assert "hidden=16" in r and "fusion_layers=2" in r and "FusionLayer(hidden=16, heads=2" in r


def _force_step(model: KGFusionModel, k: int) -> None:
    """Put the whole step mixture on step ``k`` (0-based) and every relation weight at 1."""
    with torch.no_grad():
        last = model.step_head[-1]
        last.weight.zero_()
        last.bias.fill_(-40.0)
        last.bias[k] = 40.0
        model.rel_head.weight.zero_()
        model.rel_head.bias.fill_(20.0)


def test_padded_nodes_are_masked(model_and_tokens) -> None:
    """Graph 0 (4 nodes) is padded to 6 in the batch: its scores equal those it gets alone."""
    model, tok, mask = model_and_tokens
    g = toy_batch()
    both = model(tok, mask, g).scores
    for which, rows in ((0, slice(0, 4)), (1, slice(4, 10))):
        alone = model(tok[which:which + 1], mask[which:which + 1], sub_batch(g, which)).scores
        assert torch.allclose(both[rows], alone, atol=1e-5)


def test_cross_attention_reads_the_node_states(model_and_tokens) -> None:
    """Changing graph 0's node embeddings changes its fused token states and scores, not graph 1's."""
    model, tok, mask = model_and_tokens
    seen: list[torch.Tensor] = []
    hook = model.layers[0].register_forward_hook(lambda m, i, o: seen.append(o[0].detach()))
    g = toy_batch()
    s1 = model(tok, mask, g).scores
    x2 = g.x_text.clone()
    x2[1:4] = torch.randn(3, 32)
    s2 = model(tok, mask, toy_batch(x2)).scores
    hook.remove()
    t1, t2 = seen
    assert not torch.allclose(t1[0], t2[0], atol=1e-4)          # tokens of question 0 read its graph
    assert torch.allclose(t1[1], t2[1], atol=1e-6)              # question 1's graph did not change
    assert not torch.allclose(s1[1:4], s2[1:4], atol=1e-4)
    assert torch.allclose(s1[4:], s2[4:], atol=1e-5)


def test_the_step_mixture_picks_how_far_the_answer_lies(model_and_tokens) -> None:
    """With the mixture on step 1, only the topic's neighbours get mass (node 3 is 2 edges away);
    on step 2, node 3 and graph 1's node 7 do; node 9 (4 edges from its topic) never does."""
    model, tok, mask = model_and_tokens
    _force_step(model, 0)
    p = model(tok, mask, toy_batch()).propagated.detach()
    assert float(p[1]) > 0.99 and float(p[2]) > 0.99 and float(p[3]) < 1e-6 and float(p[9]) == 0.0
    _force_step(model, 1)
    p = model(tok, mask, toy_batch()).propagated.detach()
    assert float(p[3]) > 0.99 and float(p[7]) > 0.99 and float(p[9]) == 0.0


def test_no_graph_ablation_ignores_edges(model_and_tokens) -> None:
    _, tok, mask = model_and_tokens
    torch.manual_seed(3)
    abl = KGFusionModel(FusionConfig(hidden=16, heads=2, mode="no_graph", dropout=0.0), R, 32).eval()
    g = toy_batch()
    s1 = abl(tok, mask, g).scores
    g.edge_index = g.edge_index[:, :2]
    g.edge_type = g.edge_type[:2]
    assert torch.allclose(s1, abl(tok, mask, g).scores)
    assert "mode=no_graph" in repr(abl) and abl.gnn is None


def test_loss_trains_toward_the_gold_node(model_and_tokens) -> None:
    model, tok, mask = model_and_tokens
    model.train()
    g = toy_batch()
    gold = torch.zeros(10, dtype=torch.bool)
    gold[[3, 7]] = True
    opt = torch.optim.Adam([p for n, p in model.named_parameters() if not n.startswith("text_model")], lr=0.01)
    first = None
    for _ in range(30):
        loss = answer_loss(model(tok, mask, g).scores, g.batch, gold, 2)
        first = float(loss) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    s = model(tok, mask, g).scores
    assert float(loss) < first / 2
    assert int(s[:4].argmax()) == 3 and int(s[4:].argmax()) + 4 == 7


def _triangle() -> FusionBatch:
    # topic 0 (film) -r0-> 1 (writer) <-r0- 2 (other film); 0 -r1-> 3 (topic's genre); 2 -r1-> 4
    torch.manual_seed(4)
    return FusionBatch(x_text=torch.randn(5, 32), edge_index=torch.tensor([[0, 2, 0, 2], [1, 1, 3, 4]]),
                       edge_type=torch.tensor([0, 0, 1, 1]), batch=torch.zeros(5, dtype=torch.long),
                       is_topic=torch.tensor([True, False, False, False, False]), num_graphs=1)


def test_whether_walks_pass_back_through_the_topic_is_a_learned_gate(model_and_tokens) -> None:
    """MetaQA's "genres of the films that share a writer with X" excludes X's own genre (reached only
    through X); a family graph's "the child of X's father" includes X. The gate decides, per step."""
    model, tok, mask = model_and_tokens
    _force_step(model, 2)
    with torch.no_grad():
        model.through_topic.weight.zero_()
        model.through_topic.bias.fill_(-40.0)                  # closed: walks never come back through 0
    p = model(tok[:1], mask[:1], _triangle()).propagated
    assert float(p[4]) > 0.99                                 # 0 -> 1 -> 2 -> 4
    assert float(p[3]) < 1e-6                                 # only via 0 -> 1 -> 0 -> 3
    with torch.no_grad():
        model.through_topic.bias.fill_(40.0)                   # open
    p = model(tok[:1], mask[:1], _triangle()).propagated
    assert float(p[3]) > 0.99


def test_the_topic_can_learn_to_be_an_answer(model_and_tokens) -> None:
    """Gold = the topic itself (X's father's child is X): training raises the topic to the top."""
    model, tok, mask = model_and_tokens
    model.train()
    g = _triangle()
    gold = torch.tensor([True, False, False, False, False])
    before = model(tok[:1], mask[:1], g).scores.detach()
    opt = torch.optim.Adam([p for n, p in model.named_parameters() if not n.startswith("text_model")], lr=0.02)
    for _ in range(40):
        loss = answer_loss(model(tok[:1], mask[:1], g).scores, g.batch, gold, 1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    after = model(tok[:1], mask[:1], g).scores.detach()
    assert int(after.argmax()) == 0 and float(after[0] - after[1:].max()) > float(before[0] - before[1:].max())


def test_step_head_reads_the_topic_relation_signature(model_and_tokens) -> None:
    """The same text with a different topic signature can get a different step mixture; shapes hold."""
    model, tok, mask = model_and_tokens
    sig = torch.zeros(2, 2 * R)
    a = model.step_logits(tok, mask, sig)
    sig[:, 0] = 1.0
    b = model.step_logits(tok, mask, sig)
    assert a.shape == (2, 3) and not torch.allclose(a, b)
    assert torch.equal(model.step_logits(tok, mask, None), model.step_logits(tok, mask, torch.zeros(2, 2 * R)))
