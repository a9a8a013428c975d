"""Other words for relation nouns (qa.data.synonyms) and their use in synthesised questions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from qa.data.synonyms import role_synonyms
from qa.data.synthesis import role_nouns, synthesise
from tests.qa.test_synthesis import FAMILY, FAMILY_EDGES, oracle, snapshot, topic_id

# A toy sentence encoder: each text a fixed unit vector in 4-d (axes: spouse, child, parent, gender).
AXES = {"spouse": 0, "child": 1, "parent": 2, "gender": 3}
WORDS = {
    "husband": {"spouse": 0.95},                      # a synonym of spouse
    "wife": {"spouse": 0.9},
    "spouses": {"spouse": 0.99},                      # a form of the noun itself
    "marital": {"spouse": 0.9},                       # an adjective by its ending
    "whom": {"spouse": 0.9},                          # a function word
    "kid": {"child": 0.85},
    "kids": {"child": 0.8},                           # the same word, plural
    "mother": {"parent": 0.8, "child": 0.55},         # closer to parent than to child: parent's
    "offspring": {"child": 0.6, "parent": 0.58},      # no clear winner: nobody's
    "bob": {"spouse": 0.9},                           # names an entity of the graph: a value
    "female": {"gender": 0.9},
    "tree": {"child": 0.2},                           # too far from every noun
    "sex": {"gender": 0.92},
}


class ToyEncoder:
    class _Tok:
        def get_vocab(self) -> dict[str, int]:
            return {**{w: i for i, w in enumerate(WORDS)}, "##ing": 99, "x1": 100}

    tokenizer = _Tok()

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 4), np.float32)
        for i, t in enumerate(texts):
            if t in AXES:
                out[i, AXES[t]] = 1.0
                continue
            for noun, c in WORDS.get(t, {}).items():     # cosines with the nouns (the rest lies off these axes)
                out[i, AXES[noun]] = c
        return out


def test_the_closest_words_of_each_noun_only() -> None:
    got = role_synonyms(["spouse", "child", "parent", "gender"], ToyEncoder(), ["Bob", "Female", "Ann"],
                        per_noun=3, min_cosine=0.7)
    assert got["spouse"] == ("husband", "wife")        # not spouses, marital, whom, bob
    assert got["child"] == ("kid",)                    # kids is kid again; mother is the parent's
    assert got["parent"] == ("mother",)
    assert got["gender"] == ("sex",)                   # female names an entity: a value, not a word for it
    assert "offspring" not in sum(got.values(), ())
    assert role_synonyms(["spouse"], ToyEncoder(), per_noun=1)["spouse"] == ("husband",)
    assert role_synonyms([], ToyEncoder()) == {}


def test_synthesised_questions_say_some_nouns_with_other_words() -> None:
    family = snapshot(FAMILY, FAMILY_EDGES)
    assert {"spouse", "child", "parent"} <= set(role_nouns(family))
    plain = synthesise(family, max_hops=2, per_path=5, phrasings=3, seed=0)
    assert plain == synthesise(family, max_hops=2, per_path=5, phrasings=3, seed=0, synonyms={})
    words = {"spouse": ("husband", "wife"), "child": ("kid",)}
    said = synthesise(family, max_hops=2, per_path=5, phrasings=3, seed=0, synonyms=words)
    other = [q for q in said if any(w in q.text.split() or f"{w}s" in q.text.split() or f"{w}'s" in q.text.split()
                                    for ws in words.values() for w in ws)]
    assert 0.2 * len(said) < len(other) < 0.8 * len(said)          # about synonym_rate of those that can
    for q in other:                                                  # the answers stay the graph's own
        assert set(q.answers) == oracle(FAMILY_EDGES, topic_id(FAMILY, q), q.extra["path"])
    none = synthesise(family, max_hops=2, per_path=5, phrasings=3, seed=0, synonyms=words,
                      config=None, synonym_rate=0.0)
    assert [q.text for q in none] == [q.text for q in plain]


@pytest.mark.slow
def test_the_bundled_sentence_encoder_finds_words_for_family_relations(tmp_path: Any) -> None:
    pytest.importorskip("torch")
    from encoders.text import TextEncoder, TextEncoderConfig

    enc = TextEncoder(TextEncoderConfig(cache_dir=str(tmp_path / "text")))
    got = role_synonyms(["spouse", "child", "parent", "gender", "profession"], enc)
    assert {"husband", "wife"} & set(got["spouse"]) and "kid" in got["child"]
    assert {"father", "mother"} & set(got["parent"]) and "occupation" in got["profession"]
    assert "child" not in got["parent"] and "parent" not in got["child"]
