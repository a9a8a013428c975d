"""The KG-fused Transformer: question tokens cross-attend to a retrieved subgraph's GNN node states.

One forward pass, top to bottom (``B`` questions, ``T`` tokens, ``N`` nodes of all subgraphs together,
``E`` edges, ``R`` relation types, ``d`` the model width)::

    tokens (B, T, C) ──text model (frozen MiniLM, or cached states)──▶ proj ──▶ t (B, T, d)
    names (N, C) ──proj──▶ + topic marker ──▶ GNN(x, edge_index, edge_type) ──▶ n (N, d)
    K × FusionLayer:  t ← t + CrossAttn(t → n)   (tokens read the graph; padded nodes masked)
                      n ← n + CrossAttn(n → t)   (nodes read the question)
    q = masked mean of t                                                      (B, d)
    for step k = 1..K:  q_k = attention of a step query over t                 (B, d)
                        w_k = sigmoid(W_rel q_k)             relation weights  (B, 2R) (both directions)
                        p_k[v] = Σ_{u -r-> v} p_{k-1}[u] · w_k[r]   (capped at 1; p_0 = topics;
                                 on a topic node times σ(W_thru q_k): whether walks may pass through it)
    π = softmax(MLP([mean(tokens); max(tokens); topic relation signature]))  (B, K) which step answers
    p = Σ_k π_k p_k                                                           (N,)  the answer mass
    score[v] = log(p[v] + ε) + β · <W_n n_v, W_q q>  (+ log σ(W_top q) on topics) (N,)

Hops are latent: no hop count is given in training or at answer time. The step mixture ``π`` is
learned from the answers alone (as TransferNet does); it reads the raw token states and which
relation types the topic has (in and out, ``topic_relations``), so "movies written by [Bolt] writers"
(a film: 3 steps) and "movies written by [Chris Williams]" (a person: 2 steps) can be told apart.
Whether the topic itself may be an answer, and whether a walk may pass back through it ("the child
of X's father"), are learned too (the two gates above): on MetaQA, whose answers never hold the
topic, training closes them; on a graph whose answers do, it opens them.

Graph knowledge reaches the scores two ways, both inside the model: the cross-attention between
tokens and GNN node states, and the question-conditioned relational message passing whose per-step
relation weights ``w_k`` are also what the evidence reports ("DIRECTED_BY (reverse) at hop 1: 0.99").

Ablations by ``FusionConfig.mode``: ``"full"``; ``"no_gnn"`` (static name features instead of the GNN,
same cross-attention and message passing); ``"no_graph"`` (no GNN, no cross-attention, no message
passing: each candidate's name embedding scored against the question).

Usage::

    model = KGFusionModel(FusionConfig(hidden=128), num_relations=9, text_dim=384)
    out = model(token_states, token_mask, batch)      # batch: FusionBatch (PyG-batched subgraphs)
    out.scores      # (N,) one score per node, -inf on topics
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from encoders.gnn import GNNConfig, build_encoder
from kg.errors import ConfigError

MODES = ("full", "no_gnn", "no_graph")
NEG = -1e9


@dataclass
class FusionConfig:
    """Args:
    hidden: model width ``d`` (token, node and relation states).
    heads: attention heads of the fusion layers.
    fusion_layers: ``K`` token↔node cross-attention layers.
    nodes_attend_tokens: the GreaseLM/JointLK-style back direction (nodes read the tokens).
    max_hops: ``K``, steps of question-conditioned message passing (the deepest question); the
        model learns which step, or mixture of steps, answers each question.
    gnn: the graph encoder (:class:`encoders.gnn.GNNConfig`; its ``hidden`` is set to ``hidden``).
    dropout: on token/node states and attention.
    mode: ``"full"``, ``"no_gnn"`` or ``"no_graph"`` (ablations, see the module docstring).
    state_score: add the fused node-state score to the message-passing score.
    eps: floor of ``log(p + eps)``.
    """

    hidden: int = 128
    heads: int = 4
    fusion_layers: int = 2
    nodes_attend_tokens: bool = True
    max_hops: int = 3
    gnn: GNNConfig = field(default_factory=lambda: GNNConfig(kind="compgcn", layers=2, dropout=0.0))
    dropout: float = 0.1
    mode: str = "full"
    state_score: bool = True
    eps: float = 1e-4

    def validate(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown fusion mode {self.mode!r}; use one of {MODES}")
        if self.hidden % self.heads:
            raise ConfigError(f"hidden={self.hidden} must be divisible by heads={self.heads}")
        if self.max_hops < 1 or self.fusion_layers < 0:
            raise ConfigError("max_hops must be >= 1 and fusion_layers >= 0")
        self.gnn.hidden = self.hidden
        self.gnn.validate()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FusionConfig:
        d = dict(d)
        gnn = GNNConfig(**d.pop("gnn", {}))
        return cls(gnn=gnn, **d)


@dataclass
class FusionBatch:
    """``B`` subgraphs batched PyG-style (nodes and edges concatenated, edges offset).

    Attributes:
        x_text: ``(N, C)`` frozen name embeddings of the nodes.
        edge_index: ``(2, E)`` batched node indices (stored direction); edge_type: ``(E,)`` in ``[0, R)``.
        batch: ``(N,)`` which question each node belongs to; is_topic: ``(N,)`` bool.
        num_graphs: ``B``.
        topic_relations: ``(B, 2R)`` float, 1 where the topic has an out- (``r``) or in-edge
            (``R + r``) of type ``r`` in the whole graph (:meth:`GraphSnapshot.relation_signature`);
            ``None``: unknown (zeros).
    """

    x_text: Tensor
    edge_index: Tensor
    edge_type: Tensor
    batch: Tensor
    is_topic: Tensor
    num_graphs: int
    topic_relations: Tensor | None = None

    def to(self, device: Any) -> FusionBatch:
        return FusionBatch(*(getattr(self, k).to(device) for k in
                             ("x_text", "edge_index", "edge_type", "batch", "is_topic")), self.num_graphs,
                           None if self.topic_relations is None else self.topic_relations.to(device))


@dataclass
class FusionOutput:
    """Attributes:
    scores: ``(N,)`` answer scores (topics included: whether a topic answers is learned).
    step_logits: ``(B, max_hops)`` logits of the step mixture ``π`` (index 0 = the first step).
    relation_weights: ``(B, max_hops, 2R)`` per-step relation weights (``r`` forward, ``R + r`` reverse).
    propagated: ``(N,)`` the mixed message-passing mass ``p`` in ``[0, 1]`` (zeros for ``no_graph``).
    node_states: ``(N, d)`` each node's state after the GNN and the fusion layers (the fused KG memory
        the dialogue head attends to; the projected names for ``no_graph``).
    """

    scores: Tensor
    step_logits: Tensor
    relation_weights: Tensor
    propagated: Tensor
    node_states: Tensor | None = None


def dense(x: Tensor, batch: Tensor, num_graphs: int) -> tuple[Tensor, Tensor]:
    """Flat node rows to a padded ``(B, N_max, ·)`` tensor and its ``(B, N_max)`` mask (no pyg-lib needed)."""
    from torch_geometric.utils import to_dense_batch

    return to_dense_batch(x, batch, batch_size=num_graphs)


class FusionLayer(nn.Module):
    """Tokens cross-attend to nodes (and nodes back to tokens), pre-norm, each with a feed-forward.

    Shapes:
        - **input:** ``t (B, T, d)``, ``t_mask (B, T)`` bool, ``n (B, M, d)``, ``n_mask (B, M)`` bool
        - **output:** ``t (B, T, d)``, ``n (B, M, d)``
    """

    def __init__(self, hidden: int, heads: int, dropout: float, nodes_attend_tokens: bool) -> None:
        super().__init__()
        self.hidden, self.heads, self.nodes_attend_tokens = hidden, heads, nodes_attend_tokens
        self.t_norm, self.n_norm = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.t2n = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.t_ffn = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, 2 * hidden), nn.GELU(),
                                   nn.Dropout(dropout), nn.Linear(2 * hidden, hidden))
        if nodes_attend_tokens:
            self.n2t = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
            self.n_ffn = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, 2 * hidden), nn.GELU(),
                                       nn.Dropout(dropout), nn.Linear(2 * hidden, hidden))

    def forward(self, t: Tensor, t_mask: Tensor, n: Tensor, n_mask: Tensor) -> tuple[Tensor, Tensor]:
        tn, nn_ = self.t_norm(t), self.n_norm(n)
        t = t + self.t2n(tn, nn_, nn_, key_padding_mask=~n_mask, need_weights=False)[0]  # (B, T, d)
        t = t + self.t_ffn(t)                                                            # (B, T, d)
        if self.nodes_attend_tokens:
            tn = self.t_norm(t)
            n = n + self.n2t(self.n_norm(n), tn, tn, key_padding_mask=~t_mask, need_weights=False)[0]  # (B, M, d)
            n = n + self.n_ffn(n)                                                        # (B, M, d)
        return t, n

    def __repr__(self) -> str:
        return f"FusionLayer(hidden={self.hidden}, heads={self.heads}, nodes_attend_tokens={self.nodes_attend_tokens})"


class KGFusionModel(nn.Module):
    """The KG-fused Transformer QA scorer (see the module docstring for the whole forward).

    Args:
        config: :class:`FusionConfig`.
        num_relations: ``R``, the graph's relation types.
        text_dim: ``C``, width of the text model's token states and of the name embeddings.
        graph_encoder: any module ``(x (N, d), edge_index, edge_type) -> (N, d)``; default: built
            from ``config.gnn`` (:func:`encoders.gnn.build_encoder`).
        text_model: an optional Hugging Face encoder (frozen) used by :meth:`encode_tokens`; the
            forward itself takes token states, so training can feed cached ones.

    Shapes:
        - **input:** ``token_states (B, T, C)``, ``token_mask (B, T)`` bool, a :class:`FusionBatch`
          of ``N`` nodes and ``E`` edges
        - **output:** :class:`FusionOutput` with ``scores (N,)``, ``step_logits (B, max_hops)``,
          ``relation_weights (B, max_hops, 2R)``
    """

    def __init__(self, config: FusionConfig, num_relations: int, text_dim: int,
                 graph_encoder: nn.Module | None = None, text_model: nn.Module | None = None) -> None:
        super().__init__()
        config.validate()
        self.config, self.num_relations, self.text_dim = config, num_relations, text_dim
        d, k = config.hidden, config.max_hops
        self.text_model = text_model
        if text_model is not None:
            text_model.requires_grad_(False)
        self.tok_proj = nn.Sequential(nn.Linear(text_dim, d), nn.LayerNorm(d))
        self.node_proj = nn.Sequential(nn.Linear(text_dim, d), nn.LayerNorm(d))
        self.topic_emb = nn.Parameter(torch.zeros(2, d))                # row 0: other node, row 1: topic
        self.step_head = nn.Sequential(nn.Linear(2 * text_dim + 2 * num_relations, d), nn.GELU(), nn.Linear(d, k))
        self.through_topic = nn.Linear(d, 1)      # per step: may a walk pass back through the topic?
        self.topic_answer = nn.Linear(d, 1)       # may the topic itself be an answer?
        self.drop = nn.Dropout(config.dropout)
        self.gnn: nn.Module | None = None
        if config.mode == "full":
            self.gnn = graph_encoder if graph_encoder is not None else build_encoder(config.gnn, num_relations)
        self.layers = nn.ModuleList()
        if config.mode != "no_graph":
            self.layers.extend(FusionLayer(d, config.heads, config.dropout, config.nodes_attend_tokens)
                               for _ in range(config.fusion_layers))
        self.step_query = nn.ModuleList(nn.Linear(2 * d, d) for _ in range(k))  # [q; q_{k-1}] -> step query
        self.rel_head = nn.Linear(d, 2 * num_relations)
        self.node_out, self.q_out = nn.Linear(d, d), nn.Linear(d, d)
        self.beta = nn.Parameter(torch.tensor(1.0))

    # -- text ------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_tokens(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Token states of the frozen text model: ``(B, T) → (B, T, C)``."""
        if self.text_model is None:
            raise ConfigError("this fusion model has no text model: pass text_model= or feed token states")
        return self.text_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def step_logits(self, token_states: Tensor, token_mask: Tensor, topic_relations: Tensor | None) -> Tensor:
        """Step-mixture logits from the text and the topic's relation signature: ``(B, T, C), (B, 2R) → (B, K)``."""
        m = token_mask.bool()
        mean = _masked_mean(token_states, m)                                             # (B, C)
        mx = token_states.masked_fill(~m.unsqueeze(-1), NEG).amax(1)                     # (B, C)
        sig = (topic_relations if topic_relations is not None
               else token_states.new_zeros(token_states.shape[0], 2 * self.num_relations))  # (B, 2R)
        return self.step_head(torch.cat([mean, mx, sig.to(token_states.dtype)], -1))    # (B, K)

    # -- forward -----------------------------------------------------------------------------------
    def forward(self, token_states: Tensor, token_mask: Tensor, g: FusionBatch) -> FusionOutput:
        cfg, b = self.config, g.num_graphs
        t_mask = token_mask.bool()                                                       # (B, T)
        step_logits = self.step_logits(token_states, t_mask, g.topic_relations)          # (B, K)
        topic_f = g.is_topic.to(token_states.dtype)                                      # (N,)
        t = self.drop(self.tok_proj(token_states))                                       # (B, T, d)
        x = self.node_proj(g.x_text) + self.topic_emb[g.is_topic.long()]                 # (N, d)

        if cfg.mode == "no_graph":  # the candidate's name against the question, nothing else
            q = _masked_mean(t, t_mask)                                                  # (B, d)
            s = (self.node_out(x) * self.q_out(q)[g.batch]).sum(-1) / cfg.hidden ** 0.5  # (N,)
            s = s + topic_f * F.logsigmoid(self.topic_answer(q)).squeeze(-1)[g.batch]   # (N,)
            k = cfg.max_hops
            return FusionOutput(s, step_logits,
                                x.new_zeros(b, k, 2 * self.num_relations), torch.zeros_like(s), x)

        n = self.gnn(x, g.edge_index, g.edge_type) if self.gnn is not None else x       # (N, d)
        n_dense, n_mask = dense(n, g.batch, b)                                           # (B, M, d), (B, M)
        for layer in self.layers:
            t, n_dense = layer(t, t_mask, n_dense, n_mask)                               # (B, T, d), (B, M, d)
        n = n_dense[n_mask]                                                              # (N, d) back to flat

        q = _masked_mean(t, t_mask)                                                      # (B, d)

        # Question-conditioned relational message passing (both edge directions).
        src, dst = g.edge_index                                                          # (E,), (E,)
        src2, dst2 = torch.cat([src, dst]), torch.cat([dst, src])                        # (2E,)
        typ2 = torch.cat([g.edge_type, g.edge_type + self.num_relations])                # (2E,)
        p = g.is_topic.to(n.dtype)                                                       # (N,) p_0
        q_prev, weights, ps = torch.zeros_like(q), [], []
        for k in range(cfg.max_hops):
            query = self.step_query[k](torch.cat([q, q_prev], -1))                       # (B, d)
            att = (t * query.unsqueeze(1)).sum(-1) / cfg.hidden ** 0.5                   # (B, T)
            att = att.masked_fill(~t_mask, NEG).softmax(-1)                              # (B, T)
            q_k = (att.unsqueeze(-1) * t).sum(1)                                         # (B, d)
            w = torch.sigmoid(self.rel_head(q_k))                                        # (B, 2R)
            msg = p[src2] * w[g.batch[src2], typ2]                                       # (2E,)
            s = torch.zeros_like(p).index_add(0, dst2, msg)                              # (N,)
            p = s / s.detach().clamp(min=1.0)                                            # (N,) capped at 1
            thru = torch.sigmoid(self.through_topic(q_k)).squeeze(-1)[g.batch]            # (N,)
            p = p * (1 - topic_f + topic_f * thru)                                       # (N,) gated on topics
            weights.append(w)
            ps.append(p)
            q_prev = q_k
        p_all = torch.stack(ps, 1)                                                       # (N, K)
        pi = step_logits.softmax(-1)                                                     # (B, K)
        p_mix = (p_all * pi[g.batch]).sum(-1)                                            # (N,)
        scores = torch.log(p_mix + cfg.eps)                                              # (N,)
        if cfg.state_score:
            scores = scores + self.beta * (self.node_out(n) * self.q_out(q)[g.batch]).sum(-1) / cfg.hidden ** 0.5
        scores = scores + topic_f * F.logsigmoid(self.topic_answer(q)).squeeze(-1)[g.batch]  # (N,)
        return FusionOutput(scores, step_logits, torch.stack(weights, 1), p_mix, n)

    def extra_repr(self) -> str:
        c = self.config
        return (f"mode={c.mode}, hidden={c.hidden}, heads={c.heads}, fusion_layers={c.fusion_layers}, "
                f"max_hops={c.max_hops}, relations={self.num_relations}, text_dim={self.text_dim}, "
                f"gnn={c.gnn.kind if self.gnn is not None else None}")


def _masked_mean(t: Tensor, mask: Tensor) -> Tensor:
    """Mean of the unmasked rows: ``(B, T, d), (B, T) → (B, d)``."""
    m = mask.unsqueeze(-1).to(t.dtype)                                                   # (B, T, 1)
    return (t * m).sum(1) / m.sum(1).clamp(min=1.0)


def answer_loss(scores: Tensor, batch: Tensor, is_gold: Tensor, num_graphs: int) -> Tensor:
    """Softmax over each subgraph's nodes against a uniform distribution over its gold answers.

    Shapes: ``scores (N,)``, ``batch (N,)``, ``is_gold (N,)`` bool → scalar (mean over graphs with a gold node).
    """
    s, mask = dense(scores, batch, num_graphs)                                          # (B, M)
    gold, _ = dense(is_gold.to(scores.dtype), batch, num_graphs)                        # (B, M)
    logp = F.log_softmax(s.masked_fill(~mask, NEG), -1)                                 # (B, M)
    count = gold.sum(-1)                                                                # (B,)
    has = count > 0
    per = -(gold * logp).sum(-1) / count.clamp(min=1.0)                                 # (B,)
    return per[has].mean() if bool(has.any()) else scores.sum() * 0.0
