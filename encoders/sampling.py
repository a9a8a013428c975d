"""Neighbour sampling in pure torch, for graphs whose full-graph training does not fit.

PyG's ``NeighborLoader`` / ``LinkNeighborLoader`` sample through pyg-lib or torch-sparse;
neither is installed here, pyg-lib has no wheels on PyPI at all (it is served from
data.pyg.org, per torch version) and torch-sparse is a source-only sdist there. PyG's
loaders take any :class:`~torch_geometric.sampler.BaseSampler`, so this module supplies one
and PyG does the rest (slicing edge attributes, ``n_id``, ``e_id``, ``batch_size``)::

    sampler = IncidentNeighborSampler(data, num_neighbors=[10, 5])
    loader = NodeLoader(data, node_sampler=sampler, input_nodes=seeds, batch_size=1024)
    for batch in loader:                 # Data(edge_index local, edge_type, n_id, e_id, batch_size)
        h = encoder(features(batch.n_id), batch.edge_index, batch.edge_type)[:batch.batch_size]

Neighbours are taken over *incident* edges (in- and out-edges), because the encoders add
every edge's reverse: a node hears from both ends. Each hop keeps, per frontier node, at most
``k`` of its incident edges, chosen uniformly without replacement (``-1``: all of them); the
subgraph is the union of the chosen edges (each original edge once), seeds first in ``n_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch_geometric.sampler import BaseSampler, NodeSamplerInput, SamplerOutput


class IncidentNeighborSampler(BaseSampler):
    """Uniform per-hop sampling of incident edges (both directions) around seed nodes.

    Args:
        data: a graph with ``edge_index (2, E)`` and ``num_nodes`` (other edge attributes such as
            ``edge_type`` are sliced by PyG's loaders, or read with :meth:`sample`'s ``edge`` ids).
        num_neighbors: edges kept per node at each hop; ``-1`` keeps all.
        exclude: optional ``(E,)`` bool mask of edges never to sample (e.g. the supervision edges).
        generator: a ``torch.Generator`` for reproducible samples.
    """

    def __init__(self, data: Any, num_neighbors: Sequence[int], exclude: Tensor | None = None,
                 generator: torch.Generator | None = None) -> None:
        edge_index: Tensor = data.edge_index                             # (2, E)
        self.num_nodes = int(data.num_nodes)
        self.num_neighbors = [int(k) for k in num_neighbors]
        self.src, self.dst = edge_index[0], edge_index[1]
        e = edge_index.size(1)
        eid = torch.arange(e).repeat(2)                                  # (2E,)
        owner = torch.cat([self.dst, self.src])                          # (2E,) the node an entry belongs to
        other = torch.cat([self.src, self.dst])                          # (2E,) its neighbour over that edge
        order = torch.argsort(owner, stable=True)
        self.eid, self.other = eid[order], other[order]                  # (2E,), (2E,) grouped by owner
        self.ptr = torch.zeros(self.num_nodes + 1, dtype=torch.long)    # (N+1,) CSR offsets
        self.ptr[1:] = torch.cumsum(torch.bincount(owner, minlength=self.num_nodes), 0)
        self.exclude = exclude
        self.generator = generator

    def sample(self, seeds: Tensor, exclude: Tensor | None = None) -> SamplerOutput:
        """The sampled subgraph around ``seeds (S,)`` (distinct node ids): ``node`` (seeds first),
        local ``row``/``col`` and original edge ids ``edge``."""
        exclude = self.exclude if exclude is None else exclude
        pos_of = torch.full((self.num_nodes,), -1, dtype=torch.long)    # (N,) global → local, -1: not yet
        pos_of[seeds] = torch.arange(seeds.numel())
        nodes, frontier, edges = [seeds], seeds, []
        num_nodes, num_edges = [int(seeds.numel())], []
        for k in self.num_neighbors:
            picked = self._pick(frontier, k, exclude)                    # (P,) positions into the CSR
            e, u = self.eid[picked], self.other[picked]                  # (P,), (P,)
            edges.append(e)
            new = torch.unique(u[pos_of[u] < 0])                         # (F',) newly reached nodes
            pos_of[new] = torch.arange(new.numel()) + sum(num_nodes)
            nodes.append(new)
            frontier = new
            num_nodes.append(int(new.numel()))
            num_edges.append(int(e.numel()))
        edge = torch.unique(torch.cat(edges)) if edges else torch.empty(0, dtype=torch.long)  # (E_s,)
        node = torch.cat(nodes)                                          # (N_s,)
        return SamplerOutput(node=node, row=pos_of[self.src[edge]], col=pos_of[self.dst[edge]], edge=edge,
                             num_sampled_nodes=num_nodes, num_sampled_edges=num_edges)

    def _pick(self, frontier: Tensor, k: int, exclude: Tensor | None) -> Tensor:
        starts = self.ptr[frontier]                                      # (F,)
        deg = self.ptr[frontier + 1] - starts                            # (F,)
        owner = torch.repeat_interleave(torch.arange(frontier.numel()), deg)  # (C,) candidate → frontier row
        offset = torch.cumsum(deg, 0) - deg                              # (F,)
        pos = torch.arange(owner.numel()) - offset[owner] + starts[owner]  # (C,) CSR positions
        if exclude is not None:
            keep = ~exclude[self.eid[pos]]
            owner, pos = owner[keep], pos[keep]
        if k < 0:
            return pos
        # Uniform without replacement: sort the candidates by (owner, random key), keep the first k.
        key = owner.double() + torch.rand(owner.numel(), dtype=torch.float64, generator=self.generator)
        order = torch.argsort(key)
        owner, pos = owner[order], pos[order]
        count = torch.bincount(owner, minlength=frontier.numel())        # (F,)
        rank = torch.arange(owner.numel()) - (torch.cumsum(count, 0) - count)[owner]  # (C,)
        return pos[rank < k]

    def sample_from_nodes(self, inputs: NodeSamplerInput, **kwargs: Any) -> SamplerOutput:
        seeds = inputs.node
        if torch.unique(seeds).numel() != seeds.numel():
            raise ValueError("seed nodes must be distinct within a batch")
        out = self.sample(seeds)
        out.metadata = (inputs.input_id, inputs.time)
        return out

    def sample_from_edges(self, index: Any, neg_sampling: Any = None) -> SamplerOutput:
        raise NotImplementedError("link batches: sample the distinct endpoints with IncidentNeighborSampler.sample")

    @property
    def edge_permutation(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_nodes={self.num_nodes}, num_neighbors={self.num_neighbors})"


def node_loader(data: Any, num_neighbors: Sequence[int], input_nodes: Tensor | None = None, batch_size: int = 1024,
                shuffle: bool = False, generator: torch.Generator | None = None) -> Any:
    """A PyG ``NodeLoader`` over ``data`` with :class:`IncidentNeighborSampler` (works without
    pyg-lib / torch-sparse). Batches: ``Data(edge_index, edge_type, n_id, e_id, batch_size)``."""
    from torch_geometric.loader import NodeLoader

    sampler = IncidentNeighborSampler(data, num_neighbors, generator=generator)
    nodes = torch.arange(int(data.num_nodes)) if input_nodes is None else input_nodes
    return NodeLoader(data, node_sampler=sampler, input_nodes=nodes, batch_size=batch_size, shuffle=shuffle)
