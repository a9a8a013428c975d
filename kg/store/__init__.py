"""Graph stores: pick one by name (``embedded`` or ``neo4j``) with :func:`open_store`."""

from __future__ import annotations

from kg.config import StoreConfig
from kg.errors import ConfigError
from kg.store.base import GraphExport, GraphStore


def open_store(config: StoreConfig | None = None, *, read_only: bool = False) -> GraphStore:
    """Open the store named by ``config.backend`` (default from the environment, see :class:`StoreConfig`)."""
    config = config or StoreConfig.from_env()
    if config.backend == "embedded":
        from kg.store.embedded import EmbeddedStore

        return EmbeddedStore(config.path, read_only=read_only)
    if config.backend == "neo4j":
        from kg.store.neo4j import Neo4jStore

        return Neo4jStore(config.uri, config.user, config.password, database=config.database)
    raise ConfigError(f"unknown store {config.backend!r}; use 'embedded' or 'neo4j'")


__all__ = ["GraphExport", "GraphStore", "StoreConfig", "open_store"]
