"""The QA model's checkpoint: ``model.safetensors`` (the trainable weights, no text model), ``config.json``,
and the entity linker's prior fitted on the training questions (:data:`LINKER_PRIOR`).

Written by :func:`qa.train.qa.train` (and :func:`qa.train.resume.resume`), read by
:func:`qa.answer.answerer.load_answerer`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from encoders.fusion import FusionConfig, KGFusionModel
from kg.errors import ConfigError

LINKER_PRIOR = "linker_prior.json"


def save_model(model: KGFusionModel, folder: str | Path, relations: list[str], extra: dict[str, Any]) -> Path:
    """``model.safetensors`` (trainable weights, no text model) + ``config.json``."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items() if not k.startswith("text_model.")}
    save_file(state, str(folder / "model.safetensors"))
    cfg = {"format": "kgqa-fusion-qa", "version": 1, "fusion": model.config.to_dict(), "relations": relations,
           "text_dim": model.text_dim, **extra}
    (folder / "config.json").write_text(json.dumps(cfg, indent=1))
    return folder


def load_config(folder: str | Path) -> dict[str, Any]:
    """The checkpoint's ``config.json`` (its relation types, model and training settings)."""
    folder = Path(folder)
    if not (folder / "config.json").exists() or not (folder / "model.safetensors").exists():
        raise ConfigError(f"{folder} holds no QA checkpoint (model.safetensors + config.json): run kgqa train first")
    cfg: dict[str, Any] = json.loads((folder / "config.json").read_text())
    return cfg


def load_model(folder: str | Path, device: Any = "cpu") -> tuple[KGFusionModel, dict[str, Any]]:
    from safetensors.torch import load_file

    folder = Path(folder)
    cfg = load_config(folder)
    model = KGFusionModel(FusionConfig.from_dict(cfg["fusion"]), len(cfg["relations"]), int(cfg["text_dim"]))
    model.load_state_dict(load_file(str(folder / "model.safetensors"), device="cpu"))
    return model.to(device).eval(), cfg
