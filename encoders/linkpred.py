"""The pretraining model: node features → relational GNN → DistMult decoder.

One module that :mod:`encoders.pretrain` trains, :mod:`encoders.checkpoint` saves and loads,
and later stages use for node embeddings::

    model = GraphLinkModel(GNNConfig(), FeatureConfig(), num_nodes=N, num_relations=R, text=text)
    emb = model(edge_index, edge_type)                    # (N, hidden), the whole graph
    emb = model(sub.edge_index, sub.edge_type, sub.n_id)  # (N_sub, hidden), a subgraph
    scorer = model.scorer(model.embed(edge_index, edge_type))  # for encoders.ranking.evaluate
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from encoders.decoders import EmbeddingScorer, link_loss
from encoders.features import FeatureConfig, NodeFeatures
from encoders.gnn import GNNConfig, GraphEncoder, build_encoder
from encoders.negatives import Negatives


class GraphLinkModel(nn.Module):
    """Node features, a relational encoder and DistMult relation embeddings.

    Args:
        gnn: the encoder's :class:`GNNConfig` (its ``hidden`` is the embedding width).
        features: :class:`FeatureConfig` of the initial node states.
        num_nodes: ``N``, nodes of the graph the features belong to.
        num_relations: ``R``, relation types of the graph (without reverses).
        text: ``(N, T)`` frozen name embeddings, or ``None`` without text features.

    Shapes:
        - **input:** ``edge_index (2, E)``, ``edge_type (E,)`` in ``[0, R)``, optional ``n_id (N_sub,)``
          (the global ids of a subgraph's nodes; ``edge_index`` is then local)
        - **output:** node embeddings ``(N, hidden)`` or ``(N_sub, hidden)``
    """

    def __init__(self, gnn: GNNConfig, features: FeatureConfig, num_nodes: int, num_relations: int,
                 text: Tensor | None = None) -> None:
        super().__init__()
        self.gnn_config = gnn
        self.feature_config = features
        self.num_nodes = num_nodes
        self.num_relations = num_relations
        self.features = NodeFeatures(features, num_nodes, gnn.hidden, text)
        self.encoder: GraphEncoder = build_encoder(gnn, num_relations)
        self.rel = nn.Parameter(torch.empty(num_relations, gnn.hidden))   # (R, hidden) DistMult diagonal
        nn.init.xavier_uniform_(self.rel)

    def forward(self, edge_index: Tensor, edge_type: Tensor, n_id: Tensor | None = None) -> Tensor:
        x = self.features(n_id)                                            # (N, hidden)
        return self.encoder(x, edge_index, edge_type)                      # (N, hidden)

    @torch.no_grad()
    def embed(self, edge_index: Tensor, edge_type: Tensor, chunk_size: int | None = None) -> Tensor:
        """Embeddings of all ``N`` nodes in eval mode: one forward, or layer by layer over chunks
        of ``chunk_size`` target nodes (same result, bounded memory). Shapes: ``→ (N, hidden)``."""
        was_training = self.training
        self.eval()
        try:
            x = self.features()                                            # (N, hidden)
            if chunk_size:
                return self.encoder.inference(x, edge_index, edge_type, chunk_size)
            return self.encoder(x, edge_index, edge_type)
        finally:
            self.train(was_training)

    def loss(self, emb: Tensor, head: Tensor, rel: Tensor, tail: Tensor, negatives: Negatives) -> Tensor:
        """Sampled-softmax link loss (:func:`encoders.decoders.link_loss`); ``head``, ``tail`` and the
        negatives index rows of ``emb``, ``rel`` the relations. Shapes: ``(B,), (B,), (B,) → ()``."""
        return link_loss("distmult", emb, self.rel, head, rel, tail, negatives)

    def scorer(self, emb: Tensor) -> EmbeddingScorer:
        """A ranking scorer over node embeddings ``(N, hidden)`` from :meth:`embed`."""
        return EmbeddingScorer(emb, self.rel.detach(), "distmult")

    def extra_repr(self) -> str:
        return f"num_nodes={self.num_nodes}, num_relations={self.num_relations}, decoder=distmult"
