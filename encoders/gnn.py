"""Relation-aware GNN encoders over the knowledge graph, picked by name (``rgcn``, ``compgcn``).

An encoder maps initial node states (see :mod:`encoders.features`) and a directed, typed
graph to node embeddings. It takes the graph as stored: ``edge_index (2, E)`` and
``edge_type (E,)`` in ``[0, R)``; it adds each edge's reverse as relation ``r + R`` itself
(so messages flow both ways, with their own weights), so the same call runs on the whole
graph and on a retrieved or sampled subgraph (``x = features(n_id)``)::

    enc = build_encoder(GNNConfig(kind="compgcn", layers=2, hidden=128), num_relations=R)
    h = enc(x, edge_index, edge_type)          # (N, 128)
    h = enc.inference(x, edge_index, edge_type, chunk_size=8192)   # same, layer by layer in chunks

Aggregation is a mean over each node's incoming messages (per relation for R-GCN, per
direction for CompGCN), so a node's output depends only on its own edges: a subgraph that
keeps every edge within ``layers`` hops of a node gives exactly its full-graph embedding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from encoders.compgcn import COMPOSITIONS, CompGCNConv
from kg.errors import ConfigError


@dataclass
class GNNConfig:
    """Args:
    kind: ``"compgcn"`` (default; :class:`encoders.compgcn.CompGCNConv`) or ``"rgcn"``
        (``torch_geometric.nn.RGCNConv`` with basis decomposition).
    layers: message-passing layers (the receptive field in hops).
    hidden: width of every layer (the input states must have this width too).
    dropout: dropout on the node states between layers.
    num_bases: R-GCN basis decomposition (``None``: one full matrix per relation).
    composition: CompGCN's ``φ``: ``"mult"``, ``"sub"`` or ``"corr"``.
    add_reverse: add ``b -[r+R]-> a`` for every ``a -[r]-> b`` (``num_relations = 2R``).
    residual: add each layer's input to its output (``x + conv(x)``): the initial states
        reach the decoder directly, the layers learn what the neighbourhood adds.
    norm: ``"layer"`` (LayerNorm after every layer but the last: keeps the scale of the states
        independent of depth and degree, while the output's norm stays free, so that a bilinear
        decoder can score popular entities higher) or ``"none"``.
    final_activation: apply the non-linearity after the last layer too (off: the
        embeddings feed a bilinear decoder).
    """

    kind: str = "compgcn"
    layers: int = 2
    hidden: int = 128
    dropout: float = 0.1
    num_bases: int | None = 4
    composition: str = "mult"
    add_reverse: bool = True
    residual: bool = True
    norm: str = "layer"
    final_activation: bool = False

    def validate(self) -> None:
        if self.kind not in ENCODERS:
            raise ConfigError(f"unknown GNN kind {self.kind!r}; use one of {sorted(ENCODERS)}")
        if self.layers < 1 or self.hidden < 1:
            raise ConfigError(f"a GNN needs layers >= 1 and hidden >= 1 (got {self.layers}, {self.hidden})")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.num_bases is not None and self.num_bases < 1:
            raise ConfigError(f"num_bases must be >= 1 or None, got {self.num_bases}")
        if self.norm not in ("layer", "none"):
            raise ConfigError(f"unknown norm {self.norm!r}; use 'layer' or 'none'")
        if self.composition not in COMPOSITIONS:
            raise ConfigError(f"unknown composition {self.composition!r}; use one of {list(COMPOSITIONS)}")


def add_reverse_edges(edge_index: Tensor, edge_type: Tensor, num_relations: int) -> tuple[Tensor, Tensor]:
    """The graph with each ``a -[r]-> b`` also as ``b -[r + R]-> a``.

    Shapes: ``(2, E), (E,) → (2, 2E), (2E,)``; the first ``E`` edges are the originals.
    """
    rev = edge_index.flip(0)                                           # (2, E)
    return torch.cat([edge_index, rev], dim=1), torch.cat([edge_type, edge_type + num_relations])


class GraphEncoder(nn.Module):
    """Base of the relational encoders: a stack of ``layers`` convolutions of width ``hidden``.

    Subclasses build ``self.convs`` and implement :meth:`_conv` (one layer) and, if they carry
    relation states, :meth:`_relations`.

    Shapes:
        - **input:** ``x (N, hidden)``, ``edge_index (2, E)``, ``edge_type (E,)`` in ``[0, R)``
        - **output:** ``(N, hidden)``
    """

    def __init__(self, config: GNNConfig, num_relations: int) -> None:
        super().__init__()
        config.validate()
        if num_relations < 1:
            raise ConfigError("the graph has no relation types: load some triples first")
        self.config = config
        self.num_relations = num_relations                             # R, the graph's relation types
        self.num_edge_types = 2 * num_relations if config.add_reverse else num_relations
        self.hidden = config.hidden
        self.convs = nn.ModuleList()
        norm = nn.LayerNorm if config.norm == "layer" else (lambda _: nn.Identity())
        self.norms = nn.ModuleList([norm(config.hidden) for _ in range(config.layers - 1)])  # none after the last

    def _conv(self, i: int, x: Tensor | tuple[Tensor, Tensor], edge_index: Tensor, edge_type: Tensor,
              rel: Tensor | None) -> Tensor:
        raise NotImplementedError

    def _relations(self) -> list[Tensor | None]:
        """The relation states fed to each layer (``None`` for operators without them)."""
        return [None] * len(self.convs)

    def _prepare(self, edge_index: Tensor, edge_type: Tensor) -> tuple[Tensor, Tensor]:
        if edge_type.numel() and int(edge_type.max()) >= self.num_relations:
            raise ValueError(f"edge_type holds {int(edge_type.max())}, but the encoder knows "
                             f"{self.num_relations} relation types")
        if self.config.add_reverse:
            return add_reverse_edges(edge_index, edge_type, self.num_relations)
        return edge_index, edge_type

    def _between(self, i: int, x: Tensor, x_in: Tensor) -> Tensor:
        if self.config.residual:
            x = x + x_in
        if i < len(self.norms):
            x = self.norms[i](x)
        if i < len(self.convs) - 1 or self.config.final_activation:
            x = F.relu(x)
        if i < len(self.convs) - 1:
            x = F.dropout(x, p=self.config.dropout, training=self.training)
        return x

    def forward(self, x: Tensor, edge_index: Tensor, edge_type: Tensor) -> Tensor:
        if x.size(-1) != self.hidden:
            raise ValueError(f"node states have width {x.size(-1)}, the encoder expects {self.hidden}")
        edge_index, edge_type = self._prepare(edge_index, edge_type)  # (2, 2E), (2E,)
        for i, rel in enumerate(self._relations()):
            x = self._between(i, self._conv(i, x, edge_index, edge_type, rel), x)  # (N, hidden)
        return x

    @torch.no_grad()
    def inference(self, x: Tensor, edge_index: Tensor, edge_type: Tensor, chunk_size: int = 16384) -> Tensor:
        """The forward pass layer by layer over chunks of destination nodes (for graphs whose
        full-graph activations do not fit; equal to ``forward`` in eval mode). Shapes as forward."""
        edge_index, edge_type = self._prepare(edge_index, edge_type)
        order = torch.argsort(edge_index[1], stable=True)              # edges grouped by target
        edge_index, edge_type = edge_index[:, order], edge_type[order]
        n = x.size(0)
        ptr = torch.searchsorted(edge_index[1], torch.arange(0, n + chunk_size, chunk_size, device=x.device))
        for i, rel in enumerate(self._relations()):
            out = torch.empty(n, self.hidden, device=x.device, dtype=x.dtype)  # (N, hidden)
            for c, lo in enumerate(range(0, n, chunk_size)):
                hi = min(lo + chunk_size, n)
                e0, e1 = int(ptr[c]), int(ptr[c + 1])
                block = edge_index[:, e0:e1] - torch.tensor([[0], [lo]], device=x.device)  # targets local
                out[lo:hi] = self._conv(i, (x, x[lo:hi]), block, edge_type[e0:e1], rel)
            x = self._between(i, out, x)
        return x

    def extra_repr(self) -> str:
        c = self.config
        return (f"kind={c.kind}, layers={c.layers}, hidden={c.hidden}, dropout={c.dropout}, "
                f"residual={c.residual}, norm={c.norm}, relations={self.num_relations}, "
                f"edge_types={self.num_edge_types}")


class RGCNEncoder(GraphEncoder):
    """R-GCN (Schlichtkrull et al. 2018) with ``torch_geometric.nn.RGCNConv``: per relation a
    mean over neighbours times ``W_r = Σ_b a_rb V_b`` (basis decomposition), plus a root weight
    (the self-loop). Runs without pyg-lib / torch-scatter (a loop over relation types).

    Shapes:
        - **input:** ``x (N, hidden)``, ``edge_index (2, E)``, ``edge_type (E,)`` in ``[0, R)``
        - **output:** ``(N, hidden)``
    """

    def __init__(self, config: GNNConfig, num_relations: int) -> None:
        super().__init__(config, num_relations)
        from torch_geometric.nn import RGCNConv

        bases = config.num_bases if config.num_bases is None else min(config.num_bases, self.num_edge_types)
        for _ in range(config.layers):
            self.convs.append(RGCNConv(config.hidden, config.hidden, self.num_edge_types, num_bases=bases,
                                       aggr="mean"))

    def _conv(self, i: int, x: Tensor | tuple[Tensor, Tensor], edge_index: Tensor, edge_type: Tensor,
              rel: Tensor | None) -> Tensor:
        return self.convs[i](x, edge_index, edge_type)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, num_bases={self.config.num_bases}"


class CompGCNEncoder(GraphEncoder):
    """CompGCN (Vashishth et al. 2020): node and relation states updated together, see
    :class:`encoders.compgcn.CompGCNConv`. Holds the initial relation embeddings ``(2R, hidden)``.

    Shapes:
        - **input:** ``x (N, hidden)``, ``edge_index (2, E)``, ``edge_type (E,)`` in ``[0, R)``
        - **output:** ``(N, hidden)``
    """

    def __init__(self, config: GNNConfig, num_relations: int) -> None:
        super().__init__(config, num_relations)
        self.rel_emb = nn.Parameter(torch.empty(self.num_edge_types, config.hidden))  # (2R, hidden)
        nn.init.xavier_uniform_(self.rel_emb)
        num_conv_rel = self.num_edge_types if config.add_reverse else 2 * num_relations
        for _ in range(config.layers):
            self.convs.append(CompGCNConv(config.hidden, config.hidden, num_conv_rel, config.composition))

    def _relations(self) -> list[Tensor | None]:
        # The relation states entering each layer: z, W_rel¹ z, W_rel² W_rel¹ z, ...
        rels: list[Tensor | None] = []
        rel: Tensor = self.rel_emb
        if not self.config.add_reverse:  # no inverse edges: pad so that every type counts as "original"
            rel = torch.cat([rel, rel])
        for conv in self.convs:
            rels.append(rel)
            assert isinstance(conv, CompGCNConv)
            rel = conv.w_rel(rel)
        return rels

    def _conv(self, i: int, x: Tensor | tuple[Tensor, Tensor], edge_index: Tensor, edge_type: Tensor,
              rel: Tensor | None) -> Tensor:
        assert rel is not None
        out, _ = self.convs[i](x, edge_index, edge_type, rel)
        return out

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, composition={self.config.composition}"


ENCODERS: dict[str, type[GraphEncoder]] = {"rgcn": RGCNEncoder, "compgcn": CompGCNEncoder}


def build_encoder(config: GNNConfig, num_relations: int) -> GraphEncoder:
    """The encoder named by ``config.kind`` for a graph with ``num_relations`` relation types."""
    config.validate()
    return ENCODERS[config.kind](config, num_relations)
