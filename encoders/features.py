"""Initial node states for the GNN: frozen text embeddings of the names, projected, plus an
optional learned per-node embedding.

The text matrix comes from :class:`encoders.text.TextEncoder` (cached on disk by text), or
is injected (a random matrix in unit tests)::

    text = text_features(export.names, TextEncoderConfig(cache_dir=".kgqa/cache/text"))  # (N, 384)
    feats = NodeFeatures(FeatureConfig(), num_nodes=N, hidden=128, text=torch.from_numpy(text))
    x = feats()            # (N, 128), the whole graph
    x = feats(n_id)        # (B, 128), the nodes of a subgraph
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from torch import Tensor, nn

from kg.errors import ConfigError


@dataclass
class FeatureConfig:
    """Args:
    use_text: project the frozen name embeddings (``(N, T)`` → ``(N, hidden)``).
    learned: add a learned ``nn.Embedding(N, hidden)`` (transductive: tied to the node order).
    dropout: dropout on the initial states.
    """

    use_text: bool = True
    learned: bool = True
    dropout: float = 0.0

    def validate(self) -> None:
        if not (self.use_text or self.learned):
            raise ConfigError("node features need text or a learned embedding: set use_text or learned to true")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"feature dropout must be in [0, 1), got {self.dropout}")


def text_features(names: Sequence[str], encoder_config: object | None = None) -> np.ndarray:
    """Sentence embeddings of node names with :class:`encoders.text.TextEncoder`: ``(N, 384)``
    float32, unit rows (cached on disk when ``encoder_config.cache_dir`` is set)."""
    from encoders.text import TextEncoder, TextEncoderConfig

    config = encoder_config if isinstance(encoder_config, TextEncoderConfig) else TextEncoderConfig()
    return TextEncoder(config).encode(list(names))


class NodeFeatures(nn.Module):
    """``x_v = W · text_v + b (+ e_v)``: the projected frozen text embedding of node ``v``'s name
    plus its learned embedding.

    Args:
        config: :class:`FeatureConfig`.
        num_nodes: ``N``, rows of the learned embedding (and of ``text``).
        hidden: width of the node states (the GNN's ``hidden``).
        text: ``(N, T)`` frozen name embeddings (a buffer, saved with the model), or ``None``
            when ``config.use_text`` is off.

    Shapes:
        - **input:** ``n_id (B,)`` node indices, or nothing for all ``N`` nodes
        - **output:** ``(B, hidden)`` or ``(N, hidden)``
    """

    text: Tensor

    def __init__(self, config: FeatureConfig, num_nodes: int, hidden: int, text: Tensor | None = None) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.num_nodes = num_nodes
        self.hidden = hidden
        self.text_dim = 0
        self.proj: nn.Linear | None = None
        self.embedding: nn.Embedding | None = None
        if config.use_text:
            if text is None:
                raise ConfigError("use_text is on but no text features were given: pass text= or set use_text off")
            if text.dim() != 2 or text.size(0) != num_nodes:
                raise ConfigError(f"text features have shape {tuple(text.shape)}, expected ({num_nodes}, T)")
            self.text_dim = int(text.size(1))
            self.register_buffer("text", text.detach().float().contiguous())  # (N, T), frozen
            self.proj = nn.Linear(self.text_dim, hidden)
        if config.learned:
            self.embedding = nn.Embedding(num_nodes, hidden)
            nn.init.normal_(self.embedding.weight, std=0.1)

    def forward(self, n_id: Tensor | None = None) -> Tensor:
        out: Tensor | None = None
        if self.proj is not None:
            text = self.text if n_id is None else self.text[n_id]    # (B, T)
            out = self.proj(text)                                     # (B, hidden)
        if self.embedding is not None:
            emb = self.embedding.weight if n_id is None else self.embedding(n_id)  # (B, hidden)
            out = emb if out is None else out + emb
        assert out is not None
        return nn.functional.dropout(out, p=self.config.dropout, training=self.training)

    def extra_repr(self) -> str:
        c = self.config
        return (f"num_nodes={self.num_nodes}, hidden={self.hidden}, text_dim={self.text_dim}, "
                f"learned={c.learned}, dropout={c.dropout}")
