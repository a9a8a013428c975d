"""The language of true replies (qa.chat.grammar): what it holds, how a reply is read back into its
claims, and constrained decoding with a tiny random LM that, left alone, says nothing true."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kg.store.base import build_export
from qa.chat.conversation import Reply, Resolution
from qa.chat.grammar import ReplyGrammar, claims
from qa.chat.replies import reference_reply
from qa.types import Answer, Evidence, Prediction, Step
from retrieval.snapshot import GraphSnapshot

TRIPLES = [("Heat", "DIRECTED_BY", "Michael Mann"), ("Thief", "DIRECTED_BY", "Michael Mann"),
           ("Collateral", "DIRECTED_BY", "Michael Mann"), ("Ali", "DIRECTED_BY", "Michael Mann"),
           ("Heat", "STARRED_ACTORS", "Al Pacino"), ("Heat", "STARRED_ACTORS", "Robert De Niro"),
           ("Heat", "STARRED_ACTORS", "Val Kilmer"), ("Heat", "RELEASE_YEAR", "1995"),
           ("Thief", "HAS_GENRE", "Crime"), ("Collateral", "HAS_GENRE", "Thriller")]


@pytest.fixture(scope="module")
def snap() -> GraphSnapshot:
    names = sorted({h for h, _, _ in TRIPLES} | {t for _, _, t in TRIPLES})
    return GraphSnapshot.from_export(build_export([(n, n) for n in names], TRIPLES))


def reply(topic: str | None, answers: list[tuple[str, list[Step]]], text: str = "q") -> Reply:
    ans = [Answer(a, a, 0.9 - 0.1 * k, [Evidence(steps, 1.0, "MATCH ...")]) for k, (a, steps) in enumerate(answers)]
    pred = Prediction(text, [topic] if topic else [], [(a.entity_id, a.score) for a in ans], ans)
    return Reply(Resolution(text, text, topic, "linked"), pred)


def actors() -> Reply:   # who starred in Heat: one hop, three answers
    cast = ("Al Pacino", "Robert De Niro", "Val Kilmer")
    return reply("Heat", [(a, [Step("Heat", "STARRED_ACTORS", a)]) for a in cast])


def genres() -> Reply:   # genres of the films by the director of Heat: two hops
    def path(film: str, genre: str) -> list[Step]:
        return [Step("Heat", "DIRECTED_BY", "Michael Mann"), Step(film, "DIRECTED_BY", "Michael Mann"),
                Step(film, "HAS_GENRE", genre)]
    return reply("Heat", [("Crime", path("Thief", "Crime")), ("Thriller", path("Collateral", "Thriller"))])


def test_the_language_holds_the_reference_and_every_order_but_nothing_false(snap) -> None:
    g = ReplyGrammar.of(actors(), snap)
    assert len(g) == 6                                   # 3! orders of the answers, one sentence
    assert g.accepts(reference_reply(actors(), snap, pointers=True)) and g.reference == "E1, E2 and E3 acted in E0."
    assert g.accepts("E3, E1 and E2 acted in E0.")
    assert not g.accepts("E1 and E2 acted in E0.")       # an answer left out
    assert not g.allows("E1, E1")                         # an answer said twice
    assert not g.allows("E1, E2 and E3 directed")         # the wrong relation
    assert g.forced("E1, E2 and E3") == " acted in E0." and g.done("E1, E2 and E3 acted in E0.")
    assert g.forced("") == "E" and g.first("E2") == "E2, E1 and E3 acted in E0."

    two = ReplyGrammar.of(genres(), snap)
    ref = reference_reply(genres(), snap, pointers=True)
    assert two.accepts(ref) and two.reference == ref
    assert two.accepts("E2 and E1.")                      # the facts are optional
    # the pointers: E0 Heat, E1 Crime, E2 Thriller, then the top answer's path: E3 Michael Mann, E4 Thief
    assert two.accepts("E1 and E2. For example, E4 is a E1 film, and E3 directed E4.")
    assert not two.allows("E1 and E2. For example, E4 is a E2 film")      # Thief is no Thriller
    assert not two.allows("E1 and E2. For example, E3 directed E0, and E3 directed E0")   # said twice
    # facts hang together: each after the first shares an entity with one before it
    assert not two.accepts("E1 and E2. For example, E3 directed E0, and E4 is a E1 film.")
    assert ReplyGrammar.of(reply("Heat", []), snap).texts == ["The graph holds no answer to that about E0."]
    assert len(ReplyGrammar.of(reply(None, []), snap)) == 1


def test_the_count_of_the_rest_is_part_of_the_language(snap) -> None:
    films = ["Heat", "Thief", "Collateral", "Ali", "1995", "Crime", "Thriller"]
    many = reply("Michael Mann", [(f, [Step(f, "DIRECTED_BY", "Michael Mann")]) for f in films])
    g = ReplyGrammar.of(many, snap)
    assert len(g) == 120 and all(t.endswith(" and 2 more.") for t in g.texts)
    assert g.accepts("E0 directed E1, E2, E3, E4, E5 and 2 more.")


def test_claims_read_a_reply_back_and_check_each_against_the_evidence(snap) -> None:
    r = genres()
    ok = claims(reference_reply(r, snap, pointers=True), r, snap)
    assert ok.all_supported and ok.n == len(ok.answers) + len(ok.facts) and len(ok.facts) == 3
    bad = claims("E1, E3 and E2. For example, E4 is a E2 film, and E3 directed E4, and E3 directed E4.", r, snap)
    assert [ok for _, ok in bad.answers] == [True, False, True]   # Michael Mann is no answer
    assert [ok for _, ok in bad.facts] == [False, True, True] and bad.repeated == 1 and not bad.all_supported
    one = actors()
    assert claims("E1, E2 and E3 acted in E0.", one, snap).all_supported
    wrong = claims("E1 and E2 directed E0.", one, snap)           # the relation is wrong, an answer left out
    assert wrong.count_right is False and not any(ok for _, ok in wrong.facts)
    assert claims("Heat is a lovely film.", one, snap).unread == ["Heat is a lovely film"]
    assert claims("The graph holds no answer to that about E0.", reply("Heat", []), snap).n == 0


def test_constrained_decoding_keeps_a_random_lm_to_true_replies(snap, tmp_path: Path) -> None:
    from qa.chat.dialogue_head import DialogueHead, DialogueHeadConfig
    from tests.qa.test_dialogue_head import tiny_lm_folder

    torch.manual_seed(0)
    torch.set_num_threads(1)
    head = DialogueHead(DialogueHeadConfig(base=str(tiny_lm_folder(tmp_path / "lm")), memory_dim=8,
                                           xattn_layers=[0], lora_layers=0, max_new_tokens=60), lora=False).eval()
    head.snapshot = snap
    for r in (actors(), genres()):
        free = head.generate(r, constrained=False)
        assert not claims(head.last_text, r, snap).all_supported, free      # the random LM alone says nonsense
        pieces = list(head.stream(r))
        assert ReplyGrammar.of(r, snap).accepts(head.last_text), head.last_text
        assert claims(head.last_text, r, snap).all_supported
        assert "".join(pieces).strip() == head.generate(r) and len(pieces) > 1

    # one true reply: written without the LM at all
    year = reply("Heat", [("1995", [Step("Heat", "RELEASE_YEAR", "1995")])])

    def no_lm(*a: object, **k: object) -> None:
        raise AssertionError("the LM ran")
    head.lm.forward = no_lm
    assert head.generate(year) == "Heat was released in 1995."
