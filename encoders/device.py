"""Which torch device to run on: CUDA when there is one, else the CPU (or what the user asked)."""

from __future__ import annotations

from typing import Any

from kg.errors import ConfigError


def pick_device(requested: str | None = None) -> Any:
    """``torch.device`` for ``requested`` (``"cuda"``, ``"cuda:1"``, ``"cpu"``) or the best available."""
    import torch

    if requested in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(requested).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {requested!r} asked for, but torch sees no CUDA GPU here: use --device cpu")
    return torch.device(str(requested))
