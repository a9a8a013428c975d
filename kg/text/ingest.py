"""Text ingestion: documents → sentences → linked mentions → facts with provenance.

For each document:

1. mentions are found and linked to existing entities by the linker; a named
   entity that links to nothing (NIL) becomes a new entity, typed from its NER
   label (``PERSON`` → ``:Person``) and marked ``origin = "text"``;
2. a ``Document`` node gets a ``MENTIONS`` relation to each entity it mentions
   (properties: the character ``spans`` and their ``count``);
3. typed relations between the entities of a sentence come from
   :class:`~kg.text.relations.RelationExtractor`, with the ``sentence`` and its
   character ``span`` as properties;
4. every fact carries the document id in its ``sources``, and the Document node
   lists the facts it stated (``facts``, JSON).

Re-ingesting a changed document retracts the facts it no longer states (facts
other sources also state stay) and removes the text-made entities left with no
relation; an unchanged document (same SHA-256) is skipped. :func:`forget`
removes a document and what only it supported.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kg.models import Batch, Entity, Relation
from kg.names import label as to_label
from kg.names import lookup_key, relation_type
from kg.store.base import GraphStore
from kg.text.documents import DEFAULT_MAX_BYTES, Document, DocumentProblem, iter_documents
from kg.text.relations import LinkedSpan, RelationExtractor

MENTIONS = "MENTIONS"
DOCUMENT_LABEL = "Document"
# NER labels worth a new entity when nothing in the graph matches (dates and numbers are not).
# Characters parsed at once: spaCy refuses more than nlp.max_length (1,000,000) and needs memory per character.
PIECE_CHARS = 100_000
ENTITY_LABELS = {"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "WORK_OF_ART", "EVENT", "PRODUCT", "LANGUAGE"}


class MentionLinker(Protocol):
    """What text ingestion needs from the entity linker."""

    def link_text(self, text: str, ner: dict[tuple[int, int], str] | None = None) -> list[Any]:
        """Mentions of ``text`` with ``start``, ``end``, ``text``, ``label`` and ``entity_id`` (None for NIL);
        ``ner`` holds the named entities already found in ``text`` (offsets into it)."""
        ...


def document_linker(store: GraphStore, cache_dir: str | Path | None = None) -> MentionLinker:
    """The linker as text ingestion uses it: exact names and aliases plus NER, no fuzzy search.

    Fuzzy search is for short questions with typos; over long prose it cost ~45% of the
    ingest time (FAISS searches for every unmatched span) and proposes look-alike names.
    """
    from kg.linking import Linker, LinkerConfig

    return Linker.from_store(store, cache_dir=cache_dir, config=LinkerConfig(fuzzy="never"))


@dataclass(slots=True)
class TextIngestReport:
    """What a text ingest did."""

    documents: int = 0
    unchanged: int = 0
    problems: list[DocumentProblem] = field(default_factory=list)
    entities_created: int = 0
    mentions: int = 0
    relations: int = 0
    retracted: int = 0
    tokens: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        rate = self.documents / self.seconds if self.seconds else 0.0
        lines = [f"{self.documents} document(s) ingested ({self.unchanged} unchanged, skipped) in {self.seconds:.2f} s "
                 f"({rate:.1f} docs/s, {self.tokens:,} tokens); {self.mentions} mention link(s), "
                 f"{self.relations} relation(s), {self.entities_created} new entit(y/ies), "
                 f"{self.retracted} old fact(s) retracted"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


def ingest_text(store: GraphStore, path: str | Path, linker: MentionLinker, nlp: Any, *,
                max_bytes: int = DEFAULT_MAX_BYTES) -> TextIngestReport:
    """Ingest a text/Markdown file or a folder of them into ``store``."""
    report = TextIngestReport()
    start = time.perf_counter()
    extractor = RelationExtractor(store, nlp)
    for item in iter_documents(Path(path), max_bytes=max_bytes):
        if isinstance(item, DocumentProblem):
            report.problems.append(item)
            continue
        stored = store.get_entity(item.id)
        if stored is not None and stored.properties.get("sha256") == item.sha256:
            report.unchanged += 1
            continue
        _ingest_document(store, item, linker, nlp, extractor, stored, report)
        report.documents += 1
    report.seconds = time.perf_counter() - start
    return report


def _ingest_document(store: GraphStore, document: Document, linker: MentionLinker, nlp: Any,
                     extractor: RelationExtractor, stored: Entity | None, report: TextIngestReport) -> None:
    new_entities: dict[str, Entity] = {}
    spans: dict[str, list[str]] = {}
    relations: dict[tuple[str, str, str], Relation] = {}
    # A long document is parsed in pieces (spaCy refuses texts over nlp.max_length, 1,000,000
    # characters, and its memory grows with the text); offsets stay those of the whole document.
    for offset, piece in text_pieces(document.text, min(PIECE_CHARS, nlp.max_length)):
        doc = nlp(piece)
        report.tokens += len(doc)
        for sent in doc.sents:
            linked: list[LinkedSpan] = []
            # The piece was parsed once; its named entities go to the linker, which then
            # does not run NER a second time.
            ner = {(e.start_char - sent.start_char, e.end_char - sent.start_char): e.label_ for e in sent.ents}
            for m in linker.link_text(sent.text, ner):
                start, end = sent.start_char + m.start, sent.start_char + m.end
                entity_id = m.entity_id
                if entity_id is None:
                    if m.label not in ENTITY_LABELS:
                        continue
                    entity_id = f"text:{lookup_key(m.text)}"
                    new_entities.setdefault(entity_id, Entity(entity_id, m.text, labels=[_ner_label(m.label)],
                                                              properties={"origin": "text"}))
                spans.setdefault(entity_id, []).append(f"{offset + start}:{offset + end}")
                linked.append(LinkedSpan(start, end, m.text, entity_id, m.label))
            text = sent.text
            s_start = offset + sent.start_char + len(text) - len(text.lstrip())
            s_end = offset + sent.end_char - (len(text) - len(text.rstrip()))
            for r in extractor.extract(sent, linked):
                relations.setdefault((r.head, r.type, r.tail), Relation(
                    r.head, r.type, r.tail, {"sentence": text.strip(), "span": f"{s_start}:{s_end}"},
                    [document.id]))
    facts = [Relation(document.id, MENTIONS, eid, {"spans": s, "count": len(s)}, [document.id])
             for eid, s in spans.items()]
    facts += list(relations.values())
    old = [tuple(f) for f in json.loads(stored.properties.get("facts", "[]"))] if stored else []
    new_keys = {(f.head, relation_type(f.type), f.tail) for f in facts}
    gone = [Relation(h, t, tl) for h, t, tl in old if (h, t, tl) not in new_keys]
    doc_node = Entity(document.id, document.title, labels=[DOCUMENT_LABEL], properties={
        "path": document.path, "sha256": document.sha256, "encoding": document.encoding,
        "chars": len(document.text), "facts": json.dumps(sorted(new_keys), ensure_ascii=False)})
    existing = {e for e in new_entities if store.get_entity(e) is not None}
    report.entities_created += len(new_entities) - len(existing)
    store.upsert(Batch(entities=[doc_node, *new_entities.values()], relations=facts))
    if gone:
        deleted, _ = store.retract(gone, document.id)
        report.retracted += deleted
        _drop_text_orphans(store, {x for r in gone for x in (r.head, r.tail)})
    report.mentions += len(spans)
    report.relations += len(relations)


_BREAKS = ("\n\n", "\n", ". ", " ")


def text_pieces(text: str, size: int) -> Iterator[tuple[int, str]]:
    """``(offset, piece)`` for consecutive pieces of ``text`` of at most ``size`` characters.

    Cut at the last paragraph break before the limit, else the last line break, sentence end
    or space (a cut inside a word only when a piece holds no space at all).
    """
    start = 0
    while len(text) - start > size:
        window = text[start:start + size]
        cuts = [window.rfind(sep) + len(sep) for sep in _BREAKS if sep in window]
        # the strongest break in the second half of the window, else the last break anywhere
        cut = next((c for c in cuts if c > size // 2), max(cuts, default=size))
        yield start, text[start:start + cut]
        start += cut
    if start < len(text):
        yield start, text[start:]


def forget(store: GraphStore, document_id: str) -> tuple[int, int]:
    """Remove a document and what only it supported; returns (facts deleted, entities deleted)."""
    stored = store.get_entity(document_id)
    if stored is None or DOCUMENT_LABEL not in stored.labels:
        from kg.errors import NotFound

        raise NotFound(f"no document {document_id!r} in the graph; document ids are doc:PATH, as "
                       "kgqa ingest --format text reported them")
    facts = [Relation(h, t, tl) for h, t, tl in json.loads(stored.properties.get("facts", "[]"))]
    deleted, _ = store.retract(facts, document_id) if facts else (0, 0)
    entities = _drop_text_orphans(store, {x for r in facts for x in (r.head, r.tail)} - {document_id})
    store.delete_entities([document_id])
    return deleted, entities + 1


def _drop_text_orphans(store: GraphStore, ids: set[str]) -> int:
    """Delete entities that text ingestion created and that nothing supports any more."""
    made_by_text = [i for i in ids if (e := store.get_entity(i)) is not None and e.properties.get("origin") == "text"]
    return store.delete_orphans(made_by_text) if made_by_text else 0


def _ner_label(ner: str) -> str:
    return to_label({"GPE": "Place", "LOC": "Place", "NORP": "Group", "FAC": "Facility", "ORG": "Organization",
                     "WORK_OF_ART": "Work"}.get(ner, ner.title()))

