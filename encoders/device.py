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


def int8_copy(model: Any, inplace: bool = False) -> Any:
    """``model`` with its linear layers dynamically quantised to int8 (a copy unless ``inplace``), for
    CPU inference; ``model`` itself where this torch cannot quantise (the eager quantisation API is
    deprecated upstream)."""
    import copy
    import warnings

    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            target = model if inplace else copy.deepcopy(model)
            out = torch.ao.quantization.quantize_dynamic(target, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
            return target if out is None else out
    except (AttributeError, RuntimeError, NotImplementedError):  # pragma: no cover - depends on the torch build
        return model
