"""What every ``kgqa`` command module shares: the store context, clean failures, model folders.

(:mod:`qa.cli` builds the group; :mod:`qa.cli_qa` and :mod:`qa.cli_serve` add commands to it. They
import this module, not each other, so any of them can be imported first.)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from kg.config import StoreConfig
from kg.errors import KGQAError
from kg.store import GraphStore, open_store


class Context:
    def __init__(self, config: StoreConfig) -> None:
        self.config = config

    def open(self, read_only: bool = False) -> GraphStore:
        return open_store(self.config, read_only=read_only)


def _fail_cleanly(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KGQAError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _model_dir(config: StoreConfig, name: str) -> Path:
    """Where models trained on the store ``config`` names live (inside an embedded store's folder)."""
    if config.backend == "embedded":
        return Path(config.path) / "models" / name
    return Path(config.path).parent / f"models-{config.backend}-{config.database}" / name
