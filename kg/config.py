"""Store settings: from arguments, a TOML file, or the environment (in that order of precedence)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from kg.errors import ConfigError

DEFAULT_PATH = ".kgqa/graph"


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Where the graph lives.

    Environment: ``KGQA_STORE`` (``embedded``/``neo4j``), ``KGQA_STORE_PATH``,
    ``NEO4J_URI``, ``NEO4J_USER`` (or ``NEO4J_USERNAME``), ``NEO4J_PASSWORD``,
    ``NEO4J_DATABASE``. A TOML file may hold the same keys under ``[store]``:
    ``backend``, ``path``, ``uri``, ``user``, ``password``, ``database``.
    """

    backend: str = "embedded"
    path: str = DEFAULT_PATH
    uri: str = "bolt://127.0.0.1:7687"
    user: str = "neo4j"
    password: str | None = None
    database: str = "neo4j"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> StoreConfig:
        env = dict(os.environ if env is None else env)
        d = cls()
        return cls(
            backend=env.get("KGQA_STORE", d.backend),
            path=env.get("KGQA_STORE_PATH", d.path),
            uri=env.get("NEO4J_URI", d.uri),
            user=env.get("NEO4J_USER", env.get("NEO4J_USERNAME", d.user)),
            password=env.get("NEO4J_PASSWORD"),
            database=env.get("NEO4J_DATABASE", d.database),
        )

    def public_dict(self) -> dict[str, str]:
        """Where the store is, without secrets, for files that name it (a model's config): the
        password stays in the environment; :meth:`load` ``(None, **d)`` reads it back."""
        if self.backend == "embedded":
            return {"backend": "embedded", "path": str(Path(self.path).resolve())}
        return {"backend": self.backend, "uri": self.uri, "user": self.user, "database": self.database}

    @classmethod
    def load(cls, file: str | Path | None = None, **overrides: Any) -> StoreConfig:
        """Environment, then ``file``'s ``[store]`` table, then non-None ``overrides``."""
        config = cls.from_env()
        if file is not None:
            path = Path(file)
            try:
                data = tomllib.loads(path.read_text())
            except FileNotFoundError as exc:
                raise ConfigError(f"config file {path} not found") from exc
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
            table = data.get("store", {})
            known = {f.name for f in fields(cls)}
            unknown = set(table) - known
            if unknown:
                raise ConfigError(f"unknown [store] keys in {path}: {sorted(unknown)}; known: {sorted(known)}")
            config = replace(config, **table)
        return replace(config, **{k: v for k, v in overrides.items() if v is not None})
