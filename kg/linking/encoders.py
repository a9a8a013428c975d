"""Name embeddings for fuzzy candidates: the extension point and its default.

A :class:`NameEncoder` turns strings into L2-normalised vectors whose inner product
says how alike two names are. The default, :class:`CharNgramEncoder`, is a
character n-gram TF-IDF with the hashing trick: robust to typos and partial
names, no model to download. Another encoder (a sentence encoder, say) plugs in by
implementing :meth:`NameEncoder.encode` and registering a name in :data:`ENCODERS`.
"""

from __future__ import annotations

import math
import zlib
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from kg.errors import ConfigError
from kg.names import lookup_key


class NameEncoder(ABC):
    """Strings → L2-normalised float32 vectors of size :attr:`dim`.

    Subclasses implement :meth:`encode`; an encoder that learns from the graph's
    names (IDF weights, a vocabulary) also overrides :meth:`fit` and
    :meth:`state` so that the fitted encoder can be cached beside its index.
    """

    #: Registry name; with :meth:`config` it identifies the vectors in a cache.
    name: str = "abstract"
    dim: int

    def fit(self, names: Sequence[str]) -> None:  # noqa: B027 - optional hook
        """Learn from the names that will be indexed (a no-op for pretrained encoders)."""

    @abstractmethod
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts``.

        Shapes:
            returns ``(len(texts), dim)``, float32, each row of norm 1 (or 0 for an empty text).
        """

    def config(self) -> dict[str, Any]:
        """Hyperparameters, part of the cache key."""
        return {"name": self.name, "dim": self.dim}

    def state(self) -> dict[str, Any]:
        """What :meth:`fit` learned, as JSON-able data (see :meth:`load_state`)."""
        return {}

    def load_state(self, state: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Restore what :meth:`state` returned."""


class CharNgramEncoder(NameEncoder):
    """Character n-gram TF-IDF of the folded name, hashed into ``dim`` signed buckets.

    ``"Forrest Gump"`` → n-grams of ``" forrest gump "`` (padded, so word starts and
    ends count), weighted by their inverse document frequency over the graph's
    names, hashed (CRC32; one bit of the hash gives the sign, which keeps collisions
    unbiased), L2-normalised.

    Args:
        n: n-gram length (default 3).
        dim: number of hash buckets, the vector size (default 512).
    """

    name = "char-ngram"

    def __init__(self, n: int = 3, dim: int = 512) -> None:
        self.n = n
        self.dim = dim
        self.idf: dict[str, float] = {}
        self.default_idf = 1.0

    def __repr__(self) -> str:
        return f"CharNgramEncoder(n={self.n}, dim={self.dim}, vocabulary={len(self.idf)})"

    def grams(self, text: str) -> list[str]:
        padded = f" {lookup_key(text)} "
        n = self.n
        return [padded[i:i + n] for i in range(max(1, len(padded) - n + 1))]

    def fit(self, names: Sequence[str]) -> None:
        df: Counter[str] = Counter()
        for name in names:
            df.update(set(self.grams(name)))
        total = len(names)
        self.idf = {g: math.log((total + 1) / (c + 1)) + 1.0 for g, c in df.items()}
        self.default_idf = math.log(total + 1) + 1.0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)  # (N, D)
        idf, default, dim = self.idf, self.default_idf, self.dim
        for row, text in enumerate(texts):
            for gram, count in Counter(self.grams(text)).items():
                h = zlib.crc32(gram.encode())
                weight = count * idf.get(gram, default)
                out[row, h % dim] += weight if (h >> 31) & 1 else -weight
        norms = np.linalg.norm(out, axis=1, keepdims=True)  # (N, 1)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "n": self.n, "dim": self.dim}

    def state(self) -> dict[str, Any]:
        return {"idf": self.idf, "default_idf": self.default_idf}

    def load_state(self, state: dict[str, Any]) -> None:
        self.idf = dict(state["idf"])
        self.default_idf = float(state["default_idf"])


#: Encoders by name (``LinkerConfig.encoder``).
ENCODERS: dict[str, Callable[[], NameEncoder]] = {
    "char-ngram": CharNgramEncoder,
}


def make_encoder(name: str) -> NameEncoder:
    """The encoder registered as ``name``."""
    try:
        return ENCODERS[name]()
    except KeyError:
        raise ConfigError(f"unknown name encoder {name!r}; known: {', '.join(sorted(ENCODERS))}") from None
