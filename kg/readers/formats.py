"""Source formats and the file extensions that imply them (one table for every reader)."""

from __future__ import annotations

EXTENSIONS: dict[str, str] = {
    ".txt": "triples",
    ".tsv": "tsv",
    ".csv": "csv",
    ".ttl": "turtle",
    ".nt": "nt",
    ".rdf": "xml",
    ".owl": "xml",
    ".xml": "xml",
    ".jsonld": "json-ld",
    ".json": "json-ld",
    ".md": "text",
    ".markdown": "text",
}
DELIMITED = ("triples", "tsv", "csv")
RDF = ("turtle", "nt", "xml", "json-ld")
TEXT = ("text",)
FORMATS = (*DELIMITED, *RDF, *TEXT)
