"""CompGCN: composition-based multi-relational message passing (one PyG operator).

Vashishth, Sanyal, Nitin and Talukdar, "Composition-based Multi-Relational Graph
Convolutional Networks", ICLR 2020 (https://arxiv.org/abs/1911.03082).

A node ``v`` receives, from each edge ``u -r-> v``, the composition ``φ(x_u, z_r)`` of
the neighbour's state with the relation's embedding, transformed by a weight that
depends on the edge's direction (``W_O`` original, ``W_I`` inverse), plus a self-loop
term ``W_S φ(x_v, z_loop)``::

    x'_v = (W_O mean_{(u,r) fwd} φ(x_u, z_r) + W_I mean_{(u,r) inv} φ(x_u, z_r) + W_S φ(x_v, z_loop)) / 3 + b
    z'_r = W_rel z_r

Differences from the reference code: the neighbourhood of each direction is averaged
(``1/|N_v|``) instead of symmetrically normalised, so a node's output depends only on its
own incoming edges: a sampled subgraph that keeps every edge of a node yields exactly the
full-graph output for it. The weights are applied after aggregation (linear, hence equal
to applying them per message, but ``N`` instead of ``E`` matrix products).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

COMPOSITIONS = ("sub", "mult", "corr")


def compose(x: Tensor, rel: Tensor, kind: str) -> Tensor:
    """``φ(x, z)`` row by row: ``sub`` (x − z, TransE-like), ``mult`` (x ⊙ z, DistMult-like) or
    ``corr`` (circular correlation, HolE-like). Shapes: ``(M, d), (M, d) → (M, d)``."""
    if kind == "sub":
        return x - rel
    if kind == "mult":
        return x * rel
    if kind == "corr":
        d = x.size(-1)
        fx = torch.fft.rfft(x, dim=-1)                                 # (M, d//2+1) complex
        fr = torch.fft.rfft(rel, dim=-1)                               # (M, d//2+1) complex
        return torch.fft.irfft(torch.conj(fx) * fr, n=d, dim=-1)       # (M, d)
    raise ValueError(f"unknown composition {kind!r}; use one of {COMPOSITIONS}")


class CompGCNConv(MessagePassing):
    """One CompGCN layer over a graph whose relation vocabulary holds the original relations
    ``0..R-1`` and their inverses ``R..2R-1`` (``num_relations = 2R``).

    Args:
        in_channels: size of the input node states and relation embeddings.
        out_channels: size of the output node states and relation embeddings.
        num_relations: ``2R``: relation types with their inverses (``r + R`` is the inverse of ``r``).
        composition: ``"sub"``, ``"mult"`` (default) or ``"corr"``.
        bias: add a learned bias to the node output (default ``True``).

    Shapes:
        - **input:** node states ``(N, in)`` or a pair ``((N_src, in), (N_dst, in))`` for a
          bipartite block, ``edge_index (2, E)`` (targets index the destination side),
          ``edge_type (E,)`` in ``[0, 2R)``, relation embeddings ``(2R, in)``
        - **output:** node states ``(N_dst, out)``, relation embeddings ``(2R, out)``
    """

    def __init__(self, in_channels: int, out_channels: int, num_relations: int, composition: str = "mult",
                 bias: bool = True) -> None:
        super().__init__(aggr="mean", flow="source_to_target", node_dim=0)
        if composition not in COMPOSITIONS:
            raise ValueError(f"unknown composition {composition!r}; use one of {COMPOSITIONS}")
        if num_relations % 2:
            raise ValueError(f"num_relations={num_relations} must count each relation and its inverse (2R)")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_relations = num_relations
        self.composition = composition
        self.w_out = nn.Linear(in_channels, out_channels, bias=False)   # W_O, original direction
        self.w_in = nn.Linear(in_channels, out_channels, bias=False)    # W_I, inverse direction
        self.w_loop = nn.Linear(in_channels, out_channels, bias=False)  # W_S, self-loop
        self.w_rel = nn.Linear(in_channels, out_channels, bias=False)   # W_rel, relation update
        self.loop_rel = nn.Parameter(torch.empty(1, in_channels))      # z_loop
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for lin in (self.w_out, self.w_in, self.w_loop, self.w_rel):
            nn.init.xavier_uniform_(lin.weight)
        nn.init.xavier_uniform_(self.loop_rel)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: Tensor | tuple[Tensor, Tensor], edge_index: Tensor, edge_type: Tensor,
                rel: Tensor) -> tuple[Tensor, Tensor]:
        x_src, x_dst = (x, x) if isinstance(x, Tensor) else x
        n_dst = x_dst.size(0)
        inverse = (edge_type >= self.num_relations // 2).long()           # (E,)
        # One aggregation into 2·N_dst slots: slot v for original edges into v, N_dst + v for inverse ones.
        slots = torch.stack([edge_index[0], edge_index[1] + inverse * n_dst])  # (2, E)
        agg = self.propagate(slots, x=(x_src, None), edge_rel=rel[edge_type],
                             size=(x_src.size(0), 2 * n_dst))            # (2·N_dst, in)
        loop = compose(x_dst, self.loop_rel.expand_as(x_dst), self.composition)  # (N_dst, in)
        out = (self.w_out(agg[:n_dst]) + self.w_in(agg[n_dst:]) + self.w_loop(loop)) / 3  # (N_dst, out)
        if self.bias is not None:
            out = out + self.bias
        return out, self.w_rel(rel)                                      # (N_dst, out), (2R, out)

    def message(self, x_j: Tensor, edge_rel: Tensor) -> Tensor:
        return compose(x_j, edge_rel, self.composition)                   # (E, in)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
                f"num_relations={self.num_relations}, composition={self.composition})")
