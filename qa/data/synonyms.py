"""Other words for a relation's noun, found by the sentence encoder: zero-shot questions that say "husband"
for SPOUSE or "kid" for CHILDREN, which the relation names never show.

The questions :mod:`qa.data.synthesis` writes use each relation's own words, so a model trained on them
alone meets a user's "wife", "sex" or "occupation" for the first time at answer time. This module finds
such words for any graph, from the text model the QA model already reads, with no word list of ours:

- **candidates** are the whole words of the text model's own vocabulary (its WordPiece entries that are
  not sub-word pieces: alphabetic, at least 3 letters), each embedded once by the sentence encoder;
- a candidate goes to the role noun it is **closest** to among all the graph's role nouns, by a margin
  (so "parents" never becomes a word for CHILDREN in a graph that also has PARENTS), and only when its
  cosine with that noun reaches ``min_cosine``;
- it is dropped when it is a **form of the noun's own words** (same first four letters: "religions",
  "parental"), when it **names an entity of the graph** (a value such as "female" is not a word for
  GENDER), when it is a function word (spaCy's English stop words: "where"), or when its ending marks an
  adverb, adjective or participle (``-ly``, ``-ous``, ``-ing``...);
- the survivors are made singular, deduplicated, and the ``per_noun`` closest kept.

Usage::

    words = role_synonyms(["spouse", "child"], encoder, entity_names)
    words["spouse"]     # e.g. ("husband", "wife", ...), depending on the encoder
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from spacy.lang.en.stop_words import STOP_WORDS

from kg.names import lookup_key
from qa.data.synthesis import _inflect

_NOT_NOUN = ("ly", "ous", "ive", "ing", "ed", "al", "ic", "ful", "less", "able", "ible", "ish", "ies")
_WORD = re.compile(r"[a-z]{3,}")


def vocabulary(encoder: Any) -> list[str]:
    """The whole words of the encoder's tokenizer vocabulary (alphabetic, lower case, 3+ letters), sorted."""
    return sorted(w for w in encoder.tokenizer.get_vocab() if _WORD.fullmatch(w))


def _singular(word: str) -> str:
    return _inflect(word, False)


def role_synonyms(nouns: Sequence[str], encoder: Any, entity_names: Iterable[str] = (), per_noun: int = 3,
                  min_cosine: float = 0.7, margin: float = 0.05) -> dict[str, tuple[str, ...]]:
    """Up to ``per_noun`` other words for each of ``nouns`` (see the module docstring); nouns with none are left out.

    Args:
        nouns: the graph's role nouns (``"spouse"``, ``"place of birth"``), compared with one another.
        encoder: a :class:`encoders.text.TextEncoder` (its ``encode`` and ``tokenizer``).
        entity_names: the graph's entity names: a word that names one is a value, never a synonym.
    """
    nouns = list(dict.fromkeys(n for n in nouns if n.strip()))
    if not nouns:
        return {}
    values = {lookup_key(n) for n in entity_names}
    stems = {n: {w[:4] for w in n.split()} for n in nouns}
    vocab = vocabulary(encoder)
    v = np.asarray(encoder.encode(vocab), dtype=np.float32)                       # (W, C) unit rows
    n_vec = np.asarray(encoder.encode(nouns), dtype=np.float32)                   # (K, C)
    sims = v @ n_vec.T                                                             # (W, K)
    best = sims.argmax(1)                                                          # (W,)
    top2 = np.sort(sims, 1)[:, -2:] if len(nouns) > 1 else np.concatenate([np.zeros((len(vocab), 1)), sims], 1)
    lead = top2[:, 1] - top2[:, 0]                                                 # (W,)
    out: dict[str, tuple[str, ...]] = {}
    for j, noun in enumerate(nouns):
        cand = np.flatnonzero((best == j) & (sims[:, j] >= min_cosine) & (lead >= margin))
        picked: list[str] = []
        for i in cand[np.argsort(-sims[cand, j], kind="stable")]:
            w = vocab[int(i)]
            if w[:4] in stems[noun] or w.endswith(_NOT_NOUN) or w in values or w in STOP_WORDS:
                continue
            s = _singular(w)
            if s in picked or s[:4] in stems[noun] or s in values:
                continue
            picked.append(s)
            if len(picked) >= per_noun:
                break
        if picked:
            out[noun] = tuple(picked)
    return out
