"""kg — the knowledge graph: stores, readers, ingestion and read-only Cypher.

The small Python API for ingestion scripts::

    from kg import StoreConfig, ingest, open_store

    with open_store(StoreConfig(backend="neo4j", password="...")) as store:
        print(ingest(store, "kb.txt").summary())
"""

import warnings

# torch-geometric wraps some of its classes in torch.jit.script when it is imported, and torch reports
# that as deprecated on every import: a line on every kgqa command that no user can act on. Only that
# message is silenced; every other warning shows as usual.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)

from kg.config import StoreConfig  # noqa: E402
from kg.errors import (  # noqa: E402
    KGQAError,
    MalformedRecord,
    QueryError,
    ReaderError,
    ReadOnlyViolation,
    StoreUnavailable,
    StrictModeAbort,
)
from kg.ingest import IngestReport, ingest  # noqa: E402
from kg.models import Batch, CypherResult, Entity, GraphStats, Relation, WriteResult  # noqa: E402
from kg.store import GraphExport, GraphStore, open_store  # noqa: E402

__all__ = [
    "Batch", "CypherResult", "Entity", "GraphExport", "GraphStats", "GraphStore", "IngestReport", "KGQAError",
    "MalformedRecord", "QueryError", "ReadOnlyViolation", "ReaderError", "Relation", "StoreConfig",
    "StoreUnavailable", "StrictModeAbort", "WriteResult", "ingest", "open_store",
]
