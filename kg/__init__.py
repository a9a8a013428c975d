"""kg — the knowledge graph: stores, readers, ingestion and read-only Cypher.

The small Python API for ingestion scripts::

    from kg import StoreConfig, ingest, open_store

    with open_store(StoreConfig(backend="neo4j", password="...")) as store:
        print(ingest(store, "kb.txt").summary())
"""

from kg.config import StoreConfig
from kg.errors import (
    KGQAError,
    MalformedRecord,
    QueryError,
    ReaderError,
    ReadOnlyViolation,
    StoreUnavailable,
    StrictModeAbort,
)
from kg.ingest import IngestReport, ingest
from kg.models import Batch, CypherResult, Entity, GraphStats, Relation, WriteResult
from kg.store import GraphExport, GraphStore, open_store

__all__ = [
    "Batch", "CypherResult", "Entity", "GraphExport", "GraphStats", "GraphStore", "IngestReport", "KGQAError",
    "MalformedRecord", "QueryError", "ReadOnlyViolation", "ReaderError", "Relation", "StoreConfig",
    "StoreUnavailable", "StrictModeAbort", "WriteResult", "ingest", "open_store",
]
