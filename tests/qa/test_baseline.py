"""The template baseline on a toy film graph: it learns a template's relation path and reuses it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kg.errors import ConfigError
from kg.linking import Linker
from kg.store.embedded import EmbeddedStore
from qa.answer.baseline import BaselineConfig, TemplateBaseline
from qa.data.questions import Question
from retrieval.snapshot import GraphSnapshot
from tests.qa.films import TRAIN, make_snapshot, make_store, questions


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("films")


@pytest.fixture(scope="module")
def store(folder: Path) -> Iterator[EmbeddedStore]:
    s = make_store(folder)
    yield s
    s.close()


@pytest.fixture(scope="module")
def snapshot(store: EmbeddedStore) -> GraphSnapshot:
    return make_snapshot(store)


@pytest.fixture(scope="module")
def train(folder: Path) -> list[Question]:
    return questions(folder, TRAIN, "train")


@pytest.fixture(scope="module")
def baseline(snapshot: GraphSnapshot, train: list[Question]) -> TemplateBaseline:
    b = TemplateBaseline(snapshot)
    b.fit(train)
    return b


def ask(baseline: TemplateBaseline, folder: Path, line: str, hop: int = 1, **kw: bool) -> tuple[Question, object]:
    q = questions(folder, {hop: [line]}, "ask")[0]
    return q, baseline.predict([q], **kw)[0]


def test_learns_the_relation_path_of_each_template(baseline: TemplateBaseline) -> None:
    paths = {t: e.path for t, e in baseline.table.items()}
    assert paths == {
        "who directed ne": "DIRECTED_BY>",
        "which movies share a director with ne": "DIRECTED_BY> / <DIRECTED_BY",
        "when did the movies starring ne come out": "<STARRED_ACTORS / RELEASE_YEAR>",
        "what genres are the films directed by ne": "<DIRECTED_BY / HAS_GENRE>",
    }
    assert all(e.f1 == 1.0 for e in baseline.table.values())


def test_answers_a_new_question_of_a_seen_template_with_another_topic(baseline: TemplateBaseline,
                                                                      folder: Path) -> None:
    _, p = ask(baseline, folder, "who directed [Taxi Driver]\tMartin Scorsese")
    assert p.topics == ["Taxi Driver"]
    assert p.ranked == [("Martin Scorsese", 1.0)]
    [answer] = p.answers
    assert answer.entity_id == "Martin Scorsese" and answer.name == "Martin Scorsese"
    [evidence] = answer.evidence
    assert [(s.head, s.relation, s.tail) for s in evidence.steps] == [("Taxi Driver", "DIRECTED_BY", "Martin Scorsese")]

    # Two hops, and the topic is never its own answer (Collateral shares its director with itself).
    _, p = ask(baseline, folder, "which movies share a director with [Collateral]\tHeat|Thief", hop=2)
    assert [e for e, _ in p.ranked] == ["Heat", "Thief"]
    _, p = ask(baseline, folder, "when did the movies starring [Robert De Niro] come out\t1995", hop=2)
    assert [e for e, _ in p.ranked] == ["1995"]


def test_ranks_answers_by_the_number_of_paths_that_reach_them(baseline: TemplateBaseline, folder: Path) -> None:
    _, p = ask(baseline, folder, "what genres are the films directed by [Michael Mann]\tCrime|Thriller", hop=2)
    assert p.ranked == [("Crime", 2.0), ("Thriller", 1.0)]     # Collateral and Thief are crime films
    crime = p.answers[0]
    assert crime.score == 2.0 and len(crime.evidence) == 1        # one evidence path per answer by default


def test_an_unseen_template_gets_no_answer(baseline: TemplateBaseline, folder: Path) -> None:
    _, p = ask(baseline, folder, "who was the director of [Taxi Driver]\tMartin Scorsese")
    assert p.topics == ["Taxi Driver"] and p.ranked == [] and p.answers == []
    assert baseline.path_for("who was the director of NE") is None
    assert str(baseline.path_for("Who  directed NE?")) == str(baseline.path_for("who directed NE"))


def test_a_tie_is_settled_on_more_questions(snapshot: GraphSnapshot, folder: Path) -> None:
    # Michael Mann wrote and directed Thief: that question alone cannot tell WRITTEN_BY from DIRECTED_BY.
    train = questions(folder, {1: ["who wrote [Thief]\tMichael Mann", "who wrote [Collateral]\tStuart Beattie",
                                   "who wrote [The Godfather]\tMario Puzo"]}, "writers")
    thief_first = [q for q in train if "Thief" in q.text] + [q for q in train if "Thief" not in q.text]
    only_thief = TemplateBaseline(snapshot, config=BaselineConfig(questions_per_template=1, tie_questions=0))
    only_thief.fit(thief_first[:1])
    assert only_thief.table["who wrote ne"].path == "DIRECTED_BY>"          # the tie, broken by name: wrong
    assert only_thief.table["who wrote ne"].runner_up == ("WRITTEN_BY>", 1.0)
    settled = TemplateBaseline(snapshot, config=BaselineConfig(questions_per_template=1, tie_questions=5))
    settled.fit(thief_first)
    assert settled.table["who wrote ne"].path == "WRITTEN_BY>"


def test_save_and_load_give_the_same_answers(baseline: TemplateBaseline, snapshot: GraphSnapshot, folder: Path,
                                             tmp_path: Path) -> None:
    path = baseline.save(tmp_path / "baseline.json")
    loaded = TemplateBaseline.load(path, snapshot)
    assert loaded.table == baseline.table
    qs = questions(folder, {2: ["which movies share a director with [Thief]\tHeat|Collateral"]}, "saved")
    [a], [b] = loaded.predict(qs), baseline.predict(qs)
    assert (a.topics, a.ranked, a.answers) == (b.topics, b.ranked, b.answers)
    assert [e for e, _ in a.ranked] == ["Collateral", "Heat"]
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(ConfigError, match="not a version-1 template table"):
        TemplateBaseline.load(tmp_path / "bad.json", snapshot)


def test_user_mistakes_get_one_clear_error(snapshot: GraphSnapshot, baseline: TemplateBaseline) -> None:
    with pytest.raises(ConfigError, match=r"topic in \[brackets\]"):
        TemplateBaseline(snapshot).fit([Question("who directed Heat", ("Michael Mann",))])
    with pytest.raises(ConfigError, match="need an entity linker"):
        baseline.predict([Question("who directed [Heat]", ("Michael Mann",), "Heat")], strip_brackets=True)
    with pytest.raises(ConfigError, match="at least 1"):
        BaselineConfig(max_hops=0)


def test_brackets_stripped_the_linker_finds_the_topic(store: EmbeddedStore, snapshot: GraphSnapshot,
                                                       train: list[Question], folder: Path) -> None:
    baseline = TemplateBaseline(snapshot, linker=Linker.from_store(store))
    summary = baseline.fit(train)          # also teaches the linker's prior
    assert summary.templates == 4 and summary.linker_seconds > 0
    asked = questions(folder, {1: ["who directed [Taxi Driver]\tMartin Scorsese"],
                               2: ["which movies share a director with [Top Gun]\tNone",
                                   "what genres are the films directed by [Michael Mann]\tCrime|Thriller"]}, "plain")
    preds = baseline.predict(asked, strip_brackets=True)
    assert [p.question for p in preds] == ["who directed Taxi Driver", "which movies share a director with Top Gun",
                                           "what genres are the films directed by Michael Mann"]
    assert [p.topics for p in preds] == [["Taxi Driver"], ["Top Gun"], ["Michael Mann"]]
    assert [[e for e, _ in p.ranked] for p in preds] == [["Martin Scorsese"], [], ["Crime", "Thriller"]]
