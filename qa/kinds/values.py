"""What a graph offers beyond paths, computed from its edges: shared values to filter by, numbers to compare.

- A relation is **categorical** when its tails are values that many heads share (mean fan-in of at least
  ``min_fan_in``: a genre, a language, a year), as opposed to one-of-a-kind tails (a film's director).
  Their tails are the values a question can filter by ("which comedies", "in French", "in 1994"), found
  in the question's words by :meth:`ValueIndex.find` (case-insensitive, singular or plural).
- A relation is **numeric** when every tail's name is a number (a year, a rating, a count); its values
  can be compared ("after 2000") and ordered ("the most recent").

Nothing here knows a dataset: both sets are computed from the snapshot.

Usage::

    values = ValueIndex.build(snapshot)
    values.find("which comedies did Woody Allen direct", skip=[(16, 27)])   # [(7, 15, node of 'Comedy')]
    values.numeric                                                            # {'release_year', ...}
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from spacy.lang.en.stop_words import STOP_WORDS

from kg.names import lookup_key
from qa.data.synthesis import _inflect, roles, words
from retrieval.snapshot import GraphSnapshot

NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_TOKEN = re.compile(r"[\w'&.-]+")
MAX_WORDS = 4
# between a relation's word and its value: "whose tag is X", "genre: X", "a writer named X" (not "of":
# "the writer of X" names the head, not the value)
_LINKS = frozenset({"is", "are", "was", "were", "as", "named", "called", "being"})


@dataclass
class ValueIndex:
    """The graph's categorical values by lookup key, and its numeric relations (see the module docstring).

    Attributes:
        snapshot: the graph; categorical: relation → mean fan-in, for the categorical relations.
        numeric: relations whose every tail is a number; numbers: node index → its value (numeric tails);
        ranges: numeric relation → (smallest, largest) value in the graph.
        by_key: lookup key of a value's name (and its singular and plural) → value node indices.
        naming: the words of the relation names and their role nouns ("director"): never read as values.
    """

    snapshot: GraphSnapshot
    categorical: dict[str, float] = field(default_factory=dict)
    numeric: set[str] = field(default_factory=set)
    numbers: dict[int, float] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    by_key: dict[str, list[int]] = field(default_factory=dict)
    naming: set[str] = field(default_factory=set, repr=False)
    words_of: dict[str, set[int]] = field(default_factory=dict, repr=False)
    _names: dict[str, list[int]] | None = field(default=None, repr=False)
    _tails: dict[int, dict[str, list[int]]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, snapshot: GraphSnapshot, min_fan_in: float = 10.0) -> ValueIndex:
        out = cls(snapshot)
        # the words that name relations ("director", "genre", "year") are never values, even where some
        # value is spelled so
        naming: set[str] = set()
        for r, rel in enumerate(snapshot.relations):
            for role in roles(rel):
                for w in (role.noun, words(rel), *words(rel).split(" ")):
                    if w:
                        naming |= {w, _inflect(w, True), _inflect(w, False)}
                # the nouns that name the relation's values ("tag", "genre", "writer", "actor"), single
                # words as the text is read word by word: see after_words
                for w in (role.noun.split(" ")[-1], words(rel).split(" ")[-1]):
                    if w and w not in STOP_WORDS:
                        for f in (w, _inflect(w, True), _inflect(w, False)):
                            out.words_of.setdefault(f, set()).add(r)
        out.naming = naming
        order = np.argsort(snapshot.edge_type, kind="stable")                          # (E,)
        bounds = np.searchsorted(snapshot.edge_type[order], np.arange(snapshot.num_relations + 1))
        for r, rel in enumerate(snapshot.relations):
            tails = np.unique(snapshot.dst[order[bounds[r]:bounds[r + 1]]])              # (T_r,)
            if not len(tails):
                continue
            edges = int(bounds[r + 1] - bounds[r])
            names = [snapshot.names[int(t)] for t in tails]
            if all(NUMBER.match(n.strip()) for n in names):
                out.numeric.add(rel)
                vals = [float(n) for n in names]
                out.numbers.update(zip(tails.tolist(), vals, strict=True))
                out.ranges[rel] = (min(vals), max(vals))
            if edges / len(tails) >= min_fan_in:
                out.categorical[rel] = edges / len(tails)
                for t, n in zip(tails, names, strict=True):
                    key = lookup_key(n)
                    if not key or key in STOP_WORDS or key in naming:
                        continue
                    forms = {key} if NUMBER.match(key) else {key, _inflect(key, True), _inflect(key, False)}
                    for f in forms:
                        out.by_key.setdefault(f, [])
                        if int(t) not in out.by_key[f]:
                            out.by_key[f].append(int(t))
        return out

    def find(self, text: str, skip: Sequence[tuple[int, int]] = ()) -> list[tuple[int, int, int]]:
        """Values named in ``text`` outside the spans ``skip``: ``(start, end, node)``, longest match first
        at each place, in text order. A key naming several values (a tag and a genre) gives the value of
        the relation with the highest fan-in."""
        toks = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
        out: list[tuple[int, int, int]] = []
        i = 0
        while i < len(toks):
            for n in range(min(MAX_WORDS, len(toks) - i), 0, -1):
                s, e = toks[i][0], toks[i + n - 1][1]
                if any(a < e and s < b for a, b in skip):
                    continue
                nodes = self.by_key.get(lookup_key(text[s:e].strip(".'")))
                if nodes:
                    out.append((s, e, max(nodes, key=self._fan_in)))
                    i += n - 1
                    break
            i += 1
        return out

    def names(self, text: str, skip: Sequence[tuple[int, int]] = (), max_words: int = 8
              ) -> list[tuple[int, int, list[int]]]:
        """Stretches of ``text`` that are exactly some entity's name, typed as a name (the first letter a
        capital or a digit; not a lone function word): ``(start, end, nodes)``, longest first at each place."""
        if self._names is None:
            self._names = {}
            for i, name in enumerate(self.snapshot.names):
                self._names.setdefault(lookup_key(name), []).append(i)
        toks = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
        out: list[tuple[int, int, list[int]]] = []
        i = 0
        while i < len(toks):
            if text[toks[i][0]].isupper() or text[toks[i][0]].isdigit():
                for n in range(min(max_words, len(toks) - i), 0, -1):
                    s, e = toks[i][0], toks[i + n - 1][1]
                    if text[s:e].endswith(("'s", "’s")):                     # "Stanley Kubrick's first film"
                        e -= 2
                    key = lookup_key(text[s:e].rstrip(".'"))
                    if any(a < e and s < b for a, b in skip) or (n == 1 and key in STOP_WORDS):
                        continue
                    nodes = self._names.get(key)
                    if nodes:
                        out.append((s, e, nodes))
                        i += n - 1
                        break
            i += 1
        return out

    def after_words(self, text: str, skip: Sequence[tuple[int, int]] = ()) -> list[tuple[int, int, int, int]]:
        """Values named right after a word of their relation, in any case: "whose tag is motorcycle",
        "having genre drama", "with writer John Marsden" → ``(start, end, node, relation index)``, the node
        a tail of that relation. Lower-case values of an open class (tags), which neither the linker nor
        :meth:`names` take for names, are found this way."""
        toks = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
        low = [text[s:e].lower() for s, e in toks]
        out: list[tuple[int, int, int, int]] = []
        i = 0
        while i < len(toks):
            rels = self.words_of.get(low[i], set())
            j = i + 1
            while j < len(toks) and low[j] in _LINKS:
                j += 1
            hit = None
            for n in range(min(MAX_WORDS, len(toks) - j), 0, -1) if rels else ():
                s, e = toks[j][0], toks[j + n - 1][1]
                if any(a < e and s < b for a, b in skip):
                    continue
                key = lookup_key(text[s:e].strip(".'"))
                for r in sorted(rels):
                    nodes = self._tails_of(r).get(key)
                    if nodes:
                        hit = (s, e, max(nodes, key=self._degree), r)
                        break
                if hit:
                    break
            if hit:
                out.append(hit)
                i = next((k for k in range(j, len(toks)) if toks[k][0] >= hit[1]), len(toks))
            else:
                i += 1
        return out

    def relations_named(self, text: str) -> set[int]:
        """The relations whose value noun is a word of ``text`` ("what are their genres" → HAS_GENRE)."""
        return {r for w in _TOKEN.findall(text.lower()) for r in self.words_of.get(w, ())}

    def _tails_of(self, r: int) -> dict[str, list[int]]:
        """Lookup key of a tail's name → the tails of relation ``r`` so named (built on first use)."""
        if r not in self._tails:
            snap = self.snapshot
            index: dict[str, list[int]] = {}
            for t in np.unique(snap.dst[snap.edge_type == r]).tolist():
                index.setdefault(lookup_key(snap.names[t]), []).append(int(t))
            self._tails[r] = index
        return self._tails[r]

    def _degree(self, node: int) -> int:
        snap = self.snapshot
        return int(snap.out_ptr[node + 1] - snap.out_ptr[node] + snap.in_ptr[node + 1] - snap.in_ptr[node])

    def _fan_in(self, node: int) -> float:
        snap = self.snapshot
        types = snap.in_type[snap.in_ptr[node]:snap.in_ptr[node + 1]]
        return max((self.categorical.get(snap.relations[int(t)], 0.0) for t in types), default=0.0)

    def relations_into(self, node: int) -> list[str]:
        """The relations of the edges that end at ``node``, most frequent first."""
        snap = self.snapshot
        types = snap.in_type[snap.in_ptr[node]:snap.in_ptr[node + 1]]
        uniq, counts = np.unique(types, return_counts=True)
        return [snap.relations[int(u)] for u in uniq[np.argsort(-counts, kind="stable")]]
