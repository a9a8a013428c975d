"""A seeded generator of knowledge-graph-shaped data, for the scaling benchmark (bench/scale.py).

The graph looks like an encyclopaedic graph (Wikidata, Freebase) in the ways that cost kgqa something:

* **a fixed schema, independent of the size**: entity classes (people, works, organisations, places)
  and ~300 relation types between them, so a model trained on one size reads every other size;
* **heavy-tailed degrees**: heads and tails are drawn with power-law weights over a random order of a
  class's members, so a few hubs have thousands of facts and most entities a handful;
* **attribute relations with few, popular tails** (year, genre, language, country...): a few hundred
  values per attribute class, whatever the size, drawn Zipf-like, so one value collects a large share;
* **names that collide**: people are a first and a last name from a few thousand pseudo-words, works
  one to three words, so at 100k entities many distinct entities share a name (ids stay unique).

Output is N-Triples: every entity is an IRI with one ``rdfs:label``; a relation triple's predicate
local name is the relation's name (``has_mentor``). ``size`` counts relation triples; the labels come on
top (one line per entity). Deterministic for a (size, seed); the schema depends only on ``schema_seed``.

    python bench/kggen.py --triples 1000000 --out /tmp/kg_1M.nt     # ~10 s
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

BASE = "http://kgqa.example/"
LABEL = "<http://www.w3.org/2000/01/rdf-schema#label>"
ENTITIES_PER_TRIPLE = 0.1  # Wikidata ~0.07, Freebase ~0.03, MetaQA 0.32


@dataclass(frozen=True)
class ClassSpec:
    name: str
    share: float        # of the scaled entities; 0 for attribute classes
    fixed: int = 0      # attribute classes: this many values at every size
    style: str = "title"  # person | title | org | place | year


CLASSES = (
    ClassSpec("person", 0.40, style="person"),
    ClassSpec("film", 0.12), ClassSpec("book", 0.10), ClassSpec("album", 0.08), ClassSpec("song", 0.10),
    ClassSpec("organisation", 0.08, style="org"), ClassSpec("team", 0.02, style="org"),
    ClassSpec("city", 0.06, style="place"), ClassSpec("building", 0.04, style="place"),
    ClassSpec("year", 0.0, fixed=180, style="year"), ClassSpec("genre", 0.0, fixed=120),
    ClassSpec("language", 0.0, fixed=150, style="place"), ClassSpec("country", 0.0, fixed=200, style="place"),
    ClassSpec("award", 0.0, fixed=400), ClassSpec("occupation", 0.0, fixed=300),
)
# Role nouns a relation is named after, per (head class, tail class) pair; the schema draws from them.
PAIRS = {
    ("film", "person"): "director writer actor producer editor composer cinematographer narrator",
    ("book", "person"): "author editor illustrator translator publisher_contact",
    ("album", "person"): "performer producer engineer arranger",
    ("song", "person"): "composer lyricist performer producer",
    ("person", "person"): "spouse mentor rival sibling parent student collaborator partner",
    ("person", "organisation"): "employer founder_of member_of board_member_of",
    ("person", "city"): "birthplace residence deathplace",
    ("person", "team"): "team coach_of",
    ("person", "year"): "birth_year death_year debut_year",
    ("person", "occupation"): "occupation",
    ("person", "award"): "award nomination",
    ("person", "country"): "citizenship",
    ("person", "language"): "native_language",
    ("film", "year"): "release_year", ("film", "genre"): "genre", ("film", "language"): "language",
    ("film", "country"): "country", ("film", "award"): "award", ("film", "film"): "sequel remake",
    ("film", "book"): "based_on", ("film", "organisation"): "studio distributor",
    ("book", "year"): "publication_year", ("book", "genre"): "genre", ("book", "language"): "language",
    ("book", "organisation"): "publisher", ("book", "award"): "award", ("book", "book"): "sequel",
    ("album", "year"): "release_year", ("album", "genre"): "genre", ("album", "organisation"): "label",
    ("song", "album"): "album", ("song", "year"): "release_year", ("song", "genre"): "genre",
    ("song", "language"): "language",
    ("organisation", "city"): "headquarters", ("organisation", "country"): "country",
    ("organisation", "year"): "founding_year", ("organisation", "organisation"): "parent_company subsidiary",
    ("team", "city"): "home_city", ("team", "building"): "stadium", ("team", "year"): "founding_year",
    ("city", "country"): "country", ("city", "city"): "twin_city", ("building", "city"): "location",
    ("building", "person"): "architect", ("building", "year"): "completion_year",
}
# Each noun becomes one to several relation types (the same noun in different senses or qualifiers,
# as Wikidata has "award received" and "nominated for"): the schema reaches a few hundred types.
QUALIFIERS = ("", "former", "main", "original", "notable", "official", "honorary", "credited")


@dataclass(frozen=True)
class RelationSpec:
    name: str
    head: str
    tail: str
    share: float      # of the relation triples
    attribute: bool   # tail class is a fixed attribute class


def schema(schema_seed: int = 0, target_relations: int = 300) -> list[RelationSpec]:
    """The relation types: every (pair, noun) once, then qualified variants up to ``target_relations``;
    shares Zipf-like over a seeded order (a few large relations, a long tail)."""
    rng = np.random.default_rng(schema_seed)
    fixed = {c.name for c in CLASSES if c.fixed}
    base = [(h, t, noun) for (h, t), nouns in PAIRS.items() for noun in nouns.split()]
    names: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for h, t, noun in base:  # plain nouns first; a noun used by several pairs gets its head class
        name = noun if noun not in seen else f"{h}_{noun}"
        seen.add(name)
        names.append((name, h, t))
    while len(names) < target_relations:
        h, t, noun = base[int(rng.integers(len(base)))]
        q = QUALIFIERS[int(rng.integers(1, len(QUALIFIERS)))]
        name = f"{q}_{noun}" if f"{q}_{noun}" not in seen else f"{q}_{h}_{noun}"
        if name in seen:
            continue
        seen.add(name)
        names.append((name, h, t))
    order = rng.permutation(len(names))
    weights = 1.0 / (np.arange(len(names)) + 2.0) ** 0.9
    share = np.empty(len(names))
    share[order] = weights / weights.sum()
    return [RelationSpec(n, h, t, float(s), t in fixed) for (n, h, t), s in zip(names, share, strict=False)]


def _pseudo_words(rng: np.random.Generator, n: int, syllables: tuple[int, int]) -> list[str]:
    onsets = "b c d f g h j k l m n p r s t v w z br ch dr fl gr kr pl sh st th tr".split()
    vowels = "a e i o u ai ea ie oo ou".split()
    codas = ["", "", "", "n", "r", "s", "l", "m", "nd", "st", "rt"]
    out: set[str] = set()
    while len(out) < n:
        k = int(rng.integers(syllables[0], syllables[1] + 1))
        word = "".join(onsets[int(rng.integers(len(onsets)))] + vowels[int(rng.integers(len(vowels)))]
                       for _ in range(k)) + codas[int(rng.integers(len(codas)))]
        out.add(word.capitalize())
    return sorted(out)


class _Namer:
    """Names per class style, from small vocabularies (collisions are the point)."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed + 7919)
        self.first = _pseudo_words(rng, 1500, (2, 2))
        self.last = _pseudo_words(rng, 4000, (2, 3))
        self.words = _pseudo_words(rng, 8000, (1, 3))
        self.org_suffix = ["Group", "Labs", "Records", "Press", "Studios", "Holdings", "United", "Works"]
        self.place_suffix = ["", "", "", " Heights", " Port", "ville", "burg", " Falls"]

    def names(self, style: str, n: int, rng: np.random.Generator) -> list[str]:
        if style == "year":
            return [str(1850 + i) for i in range(n)]
        if style == "person":
            f = rng.integers(len(self.first), size=n)
            la = rng.integers(len(self.last), size=n)
            return [f"{self.first[a]} {self.last[b]}" for a, b in zip(f, la, strict=False)]
        w = rng.integers(len(self.words), size=(n, 3))
        k = rng.integers(1, 4, size=n)
        if style == "org":
            s = rng.integers(len(self.org_suffix), size=n)
            return [f"{self.words[r[0]]} {self.org_suffix[j]}" for r, j in zip(w, s, strict=False)]
        if style == "place":
            s = rng.integers(len(self.place_suffix), size=n)
            return [f"{self.words[r[0]]}{self.place_suffix[j]}" for r, j in zip(w, s, strict=False)]
        return [" ".join(self.words[x] for x in r[:m]) for r, m in zip(w, k, strict=False)]


def _power_law_sampler(n: int, alpha: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative weights ∝ rank^-alpha over a random order of ``n`` items: (cdf, order)."""
    w = 1.0 / (np.arange(n) + 1.0) ** alpha
    cdf = np.cumsum(w)
    cdf /= cdf[-1]
    return cdf, rng.permutation(n)


def _draw(cdf: np.ndarray, order: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    return order[np.minimum(np.searchsorted(cdf, rng.random(k)), len(order) - 1)]


@dataclass
class GeneratedGraph:
    """Summary of a generated file (also written as ``<out>.json``)."""

    path: str
    triples: int
    entities: int
    relations: int
    label_lines: int
    seconds: float
    seed: int
    schema_seed: int


def entity_counts(size: int) -> dict[str, int]:
    scaled = max(1000, int(size * ENTITIES_PER_TRIPLE))
    return {c.name: (c.fixed if c.fixed else max(10, round(scaled * c.share))) for c in CLASSES}


def relation_triples(size: int, seed: int = 0, schema_seed: int = 0
                     ) -> Iterator[tuple[RelationSpec, np.ndarray, np.ndarray]]:
    """Per relation type: (spec, head indices, tail indices) within their classes, distinct pairs."""
    rng = np.random.default_rng(seed)
    counts = entity_counts(size)
    specs = schema(schema_seed)
    samplers = {}
    for c in CLASSES:
        samplers[("head", c.name)] = _power_law_sampler(counts[c.name], 0.75, rng)
        samplers[("tail", c.name)] = _power_law_sampler(counts[c.name], 1.05 if c.fixed else 0.6, rng)
    for spec in specs:
        k = round(size * spec.share)
        if k == 0:
            continue
        want = k
        heads = np.empty(0, dtype=np.int64)
        tails = np.empty(0, dtype=np.int64)
        for _ in range(4):  # redraw what duplicates removed (hub pairs repeat), at most a few rounds
            h = _draw(*samplers[("head", spec.head)], want, rng)
            t = _draw(*samplers[("tail", spec.tail)], want, rng)
            heads = np.concatenate([heads, h])
            tails = np.concatenate([tails, t])
            keep = heads != tails if spec.head == spec.tail else np.ones(len(heads), dtype=bool)
            key = heads[keep] * counts[spec.tail] + tails[keep]
            _, first = np.unique(key, return_index=True)
            idx = np.flatnonzero(keep)[np.sort(first)]
            heads, tails = heads[idx], tails[idx]
            want = k - len(heads)
            if want <= 0:
                break
        yield spec, heads[:k], tails[:k]


def generate(size: int, out: str | Path, seed: int = 0, schema_seed: int = 0) -> GeneratedGraph:
    """Write ``size`` relation triples (plus one label per used entity) as N-Triples to ``out``."""
    start = time.perf_counter()
    out = Path(out)
    counts = entity_counts(size)
    rng = np.random.default_rng(seed + 1)
    namer = _Namer(schema_seed)
    used = {c.name: np.zeros(counts[c.name], dtype=bool) for c in CLASSES}
    n = 0
    rels = 0
    with out.open("w", encoding="utf-8") as f:
        for spec, heads, tails in relation_triples(size, seed, schema_seed):
            used[spec.head][heads] = True
            used[spec.tail][tails] = True
            pred = f"<{BASE}r/{spec.name}>"
            hp = f"<{BASE}{spec.head}/"
            tp = f"<{BASE}{spec.tail}/"
            f.writelines(f"{hp}{h}> {pred} {tp}{t}> .\n" for h, t in zip(heads.tolist(), tails.tolist(), strict=False))
            n += len(heads)
            rels += 1
        labels = 0
        for c in CLASSES:
            idx = np.flatnonzero(used[c.name])
            names = namer.names(c.style, counts[c.name], rng)
            f.writelines(f'<{BASE}{c.name}/{i}> {LABEL} "{names[i]}" .\n' for i in idx.tolist())
            labels += len(idx)
    info = GeneratedGraph(str(out), n, labels, rels, labels, round(time.perf_counter() - start, 2), seed, schema_seed)
    Path(f"{out}.json").write_text(json.dumps(asdict(info), indent=1) + "\n")
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--triples", type=int, required=True, help="relation triples to write")
    ap.add_argument("--out", required=True, help="the N-Triples file to write")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--schema-seed", type=int, default=0)
    args = ap.parse_args(argv)
    info = generate(args.triples, args.out, args.seed, args.schema_seed)
    print(json.dumps(asdict(info)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
