"""Conversation state: referring expressions, the dialogue set, the learned resolver, and a real
conversation with a QA model trained on a small synthetic film graph."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.chat.conversation import ReferenceResolver, find_reference, training_examples
from qa.data.dialogues import build_dialogues, entity_kind, refer, split_dialogues
from qa.data.questions import Question, load_questions
from retrieval.snapshot import GraphSnapshot
from tests.qa.test_train import synthetic_graph, tiny_config


@pytest.mark.parametrize("text, expected", [
    ("when was it released", "it"),
    ("what films did that person write", "that person"),
    ("what are the films that have the same actor of that movie", "that movie"),   # "the same actor" is the question
    ("who are the directors that the actors in their films also appear in that movie", "that movie"),
    ("what genres are the movies written by its writers", "its"),
    ("who directed Heat", None),
])
def test_find_reference(text: str, expected: str | None) -> None:
    m = find_reference(text)
    assert (m.group(0) if m else None) == expected


@pytest.mark.parametrize("question, expression, expected", [
    ("what year was the movie [Up] released", "that movie", "what year was that movie released"),
    ("what year was the movie [Up] released", "it", "what year was that film released"),
    ("who directed [Up]", "it", "who directed it"),
    ("what genres are the movies written by [Bolt] writers", "that film",
     "what genres are the movies written by its writers"),
    ("who starred movies for the director [Pete Docter]", "that person", "who starred movies for that person"),
    ("what films did [Pete Docter] write", "this person", "what films did this person write"),
])
def test_refer_keeps_the_grammar(question: str, expression: str, expected: str) -> None:
    assert refer(Question(question, ("x",), "t"), expression) == expected


@pytest.fixture(scope="module")
def film_graph(tmp_path_factory: pytest.TempPathFactory) -> tuple[GraphSnapshot, list[Question], Path, list[Path]]:
    from kg.store.base import build_export

    folder = tmp_path_factory.mktemp("films")
    kb, files = synthetic_graph(folder)
    triples = [tuple(line.split("|")) for line in kb.read_text().splitlines()]
    names = sorted({t[0] for t in triples} | {t[2] for t in triples})
    snap = GraphSnapshot.from_export(build_export([(n, n) for n in names],
                                                  [(h, r.upper(), t) for h, r, t in triples]))
    questions = [q for f in files for q in load_questions(f)]
    return snap, questions, kb, files


def test_dialogues_refer_to_the_previous_topic_or_answer(film_graph) -> None:
    snap, questions, _, _ = film_graph
    assert entity_kind(snap, "Film 1") == "film" and entity_kind(snap, "Director 1") == "person"
    assert entity_kind(snap, "Drama") is None                       # a genre is neither
    dialogues = build_dialogues(questions, snap, seed=0)
    assert dialogues and all(len(d.turns) >= 2 for d in dialogues)
    refs = set()
    for d in dialogues:
        assert "[" not in d.turns[0].text and d.turns[0].refers_to is None
        for prev, turn in zip(d.turns, d.turns[1:], strict=False):
            refs.add(turn.refers_to)
            assert turn.topic == (prev.topic if turn.refers_to == "topic" else prev.answers[0])
            assert "[" not in turn.text and find_reference(turn.text) is not None
    assert refs == {"topic", "answer"}
    train, held_out = split_dialogues(questions, snap)
    val_sources = {t.source for d in held_out for t in d.turns}
    assert val_sources and not val_sources & {t.source for d in train for t in d.turns}


def test_resolver_learns_which_kind_an_expression_means(film_graph, tmp_path: Path) -> None:
    snap, questions, _, _ = film_graph
    sig = snap.relation_signature(np.arange(snap.num_nodes))
    train, held_out = split_dialogues(questions, snap)
    examples = training_examples(train, snap, sig)
    resolver = ReferenceResolver.fit(examples, snap.relations)
    test = training_examples(held_out, snap, sig)
    acc = np.mean([np.argmax(resolver.scores(e, s, src)) == g for e, s, src, g in test])
    assert acc >= 0.95, acc
    # "that person" picks the director over the film it was said after, and "it" the film
    film, person = sig[snap.index_of["Film 1"]], sig[snap.index_of["Director 1"]]
    both = np.stack([film, person])
    assert np.argmax(resolver.scores("that person", both, ["previous topic", "previous answer"])) == 1
    assert np.argmax(resolver.scores("it", both, ["previous answer", "previous topic"])) == 0
    again = ReferenceResolver.load(resolver.save(tmp_path / "resolver.json"))
    assert np.allclose(again.scores("it", both, ["previous topic", "previous answer"]),
                       resolver.scores("it", both, ["previous topic", "previous answer"]))


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_a_conversation_with_a_trained_model(film_graph, tmp_path: Path) -> None:
    from qa.answer.answerer import load_answerer
    from qa.chat.conversation import Conversation
    from qa.train.qa import train

    _, questions, kb, files = film_graph
    train(tiny_config(tmp_path, kb, files, budget_minutes=1.0))
    answerer = load_answerer(tmp_path / "run")
    snap = answerer.graph.snapshot
    train_d, _ = split_dialogues(questions, snap)
    resolver = ReferenceResolver.fit(training_examples(train_d, snap, answerer.graph.signature), snap.relations)
    chat = Conversation(answerer, resolver, max_turns=2)

    first = chat.ask("who directed [Film 3]")
    assert first.resolution.how == "brackets" and first.resolution.topic == "Film 3"
    assert chat.focus[0].entity_id == "Film 3" and chat.focus[0].source == "previous topic"
    said = first.prediction.answers[0].entity_id                     # whom the model named
    second = chat.ask("when was that film released")
    assert second.resolution.how == "reference" and second.resolution.topic == "Film 3"
    assert second.resolution.question == "when was [Film 3] released"
    state = json.loads(json.dumps(chat.to_dict()))
    restored = Conversation.from_dict(state, answerer, resolver, max_turns=2)
    assert restored.to_dict() == chat.to_dict()

    chat.reset()
    assert chat.focus == [] and chat.history == []
    chat.ask("who directed [Film 3]")
    third = chat.ask("what films did that person direct")           # a person: the answer, not the film
    assert third.resolution.how == "reference" and third.resolution.topic == said
    chat.ask("what genre is [Film 4]")
    assert len(chat.history) == 2                                     # bounded

    # the Python session object: the same conversation, replies streamed (no head: the answer list;
    # a head, even an untrained tiny one, writes them token by token from the KG memory the answerer kept)
    from qa.chat.dialogue_head import DialogueHead, DialogueHeadConfig
    from qa.chat.session import ChatSession

    session = ChatSession.load(tmp_path / "run", use_head=False)
    turn = session.ask("who directed [Film 3]")
    assert turn.text.startswith(turn.reply.prediction.answers[0].name)
    assert turn.reply.prediction.memory and "Film 3" in turn.reply.prediction.memory
    follow = session.ask("when was it released")
    assert follow.reply.resolution.topic == "Film 3"
    assert len(session.history) == 2 and json.loads(json.dumps(session.to_dict()))["history"]

    from tests.qa.test_dialogue_head import tiny_lm_folder

    cfg = DialogueHeadConfig(base=str(tiny_lm_folder(tmp_path / "lm")), memory_dim=32, xattn_layers=[1],
                             lora_layers=1, lora_r=2, max_new_tokens=5)
    DialogueHead(cfg).save(tmp_path / "run" / "dialogue")
    session = ChatSession.load(tmp_path / "run")
    assert session.head is not None
    pieces = list(session.stream("who directed [Film 3]"))
    assert session.last is not None and session.last.text == "".join(pieces).strip()
    assert session.last.reply.prediction.answers
