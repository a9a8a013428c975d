"""Small pieces shared by the training loops: early stopping on a validation metric, a wall-clock
budget, and a JSON log of one record per epoch (rewritten after every epoch)."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

from torch import nn


class EarlyStopping:
    """Keeps the best state of ``model`` by a higher-is-better metric; ``step`` says when to stop
    (``patience`` evaluations without improving by more than ``min_delta``)."""

    def __init__(self, patience: int, min_delta: float = 1e-4) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.best = float("-inf")
        self.best_epoch = 0
        self.bad = 0
        self.best_state: dict[str, Any] | None = None

    def step(self, value: float, epoch: int, model: nn.Module) -> bool:
        """Record ``value`` at ``epoch``; ``True`` when training should stop."""
        if value > self.best + self.min_delta:
            self.best, self.best_epoch, self.bad = value, epoch, 0
            self.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        else:
            self.bad += 1
        return self.bad >= self.patience

    def restore(self, model: nn.Module) -> None:
        """Load the best state seen (no-op when nothing was recorded)."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)


def stop_reason(early: bool, budget: Budget, epoch: int, max_epochs: int) -> str:
    """Why a training loop ended: ``"early stop"``, ``"budget"``, ``"max epochs"`` (or ``"not trained"``)."""
    if max_epochs == 0 or epoch == 0:
        return "not trained"
    if early:
        return "early stop"
    return "budget" if budget.spent() else "max epochs"


class Budget:
    """A wall-clock budget in seconds (``None``: unlimited)."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def spent(self) -> bool:
        return self.seconds is not None and self.elapsed >= self.seconds

    @property
    def fraction(self) -> float:
        """Share of the budget used, in ``[0, 1]`` (0 without a budget)."""
        return 0.0 if not self.seconds else min(1.0, self.elapsed / self.seconds)


class JsonLog:
    """A list of per-epoch records written to ``path`` as JSON after each :meth:`add`."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self.records: list[dict[str, Any]] = []

    def add(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.records, indent=1))
