"""Questions beyond paths (:mod:`qa.kinds`): the operation words, the graph's values, the Cypher of each
composition on both stores, and a trained model answering every kind as typed."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from kg.ingest import ingest
from qa.answer.paths import Hop, walk
from qa.kinds.cypher import Composition
from qa.kinds.reading import read
from qa.kinds.values import ValueIndex
from retrieval.snapshot import GraphSnapshot
from tests.conftest import write_lines
from tests.qa.films import KB


def test_operation_words_are_read_outside_entity_names() -> None:
    assert read("how many films did Michael Mann direct").count
    assert read("what is the number of films starring Al Pacino").count
    assert read("did Michael Mann direct Heat").yes_no and not read("who directed Heat").yes_no
    assert read("Michael Mann directed Heat, right?").yes_no
    assert read("is it true that Heat stars Al Pacino").yes_no
    c = read("which Al Pacino films came out after 1980").comparison
    assert c is not None and c.op == ">" and c.number == 1980 and c.holds(1995) and not c.holds(1972)
    c = read("films of the 1990s starring Al Pacino").comparison or read("films in the 1990s").comparison
    assert c is not None and (c.number, c.high) == (1990, 1999)
    assert read("films released between 1999 and 1990").comparison.holds(1995)
    s = read("what is the most recent film directed by Michael Mann").superlative
    assert s is not None and s.direction == "max"
    assert read("the oldest film starring Al Pacino").superlative.direction == "min"
    assert read("the least recent film").superlative.direction == "min"
    # a title is not an operation: "The Last Samurai" names a film, "the first one" points at a list
    text = "who directed The Last Samurai"
    assert read(text, skip=[(13, len(text))]).plain
    assert read("who starred in the first one").superlative is None
    assert read("who directed Heat").plain
    assert read("why did Michael Mann direct Heat").unsupported and not read("who directed Heat").unsupported


@pytest.fixture
def films_snapshot(tmp_path: Path) -> GraphSnapshot:
    from kg.store.embedded import EmbeddedStore

    with EmbeddedStore(tmp_path / "g") as store:
        ingest(store, write_lines(tmp_path / "kb.txt", KB), progress=False)
        return GraphSnapshot.from_store(store)


def test_values_are_computed_from_the_graph(films_snapshot: GraphSnapshot) -> None:
    values = ValueIndex.build(films_snapshot, min_fan_in=1.8)
    assert values.numeric == {"RELEASE_YEAR"}                       # every tail a number
    assert set(values.categorical) == {"HAS_GENRE"}                 # 4 edges into 2 genres; directors 1.5
    found = values.find("which crime films did Michael Mann direct")
    assert [films_snapshot.names[n] for _, _, n in found] == ["Crime"]
    assert [films_snapshot.names[n] for _, _, n in values.find("thrillers")] == ["Thriller"]   # plural
    assert ValueIndex.build(films_snapshot).categorical == {}      # default fan-in 10: nothing shared so widely
    got = values.names("who directed Top Gun and The Godfather")
    assert [films_snapshot.names[ns[0]] for _, _, ns in got] == ["Top Gun", "The Godfather"]


def test_a_value_after_its_relations_word_is_found_in_any_case(tmp_path: Path) -> None:
    """Lower-case tags are neither linked nor typed as names; right after a word of their relation ("whose
    tag is heist", "having tag heist") they are that relation's values; elsewhere they are not."""
    from kg.store.embedded import EmbeddedStore

    with EmbeddedStore(tmp_path / "g") as store:
        ingest(store, write_lines(tmp_path / "kb.txt", [*KB, "Heat|has_tags|heist", "Thief|has_tags|heist",
                                                        "Heat|has_tags|los angeles"]), progress=False)
        snap = GraphSnapshot.from_store(store)
    values = ValueIndex.build(snap)
    tags, genre, writer = (snap.relations.index(r) for r in ("HAS_TAGS", "HAS_GENRE", "WRITTEN_BY"))

    def found(text: str) -> list[tuple[str, int]]:
        return [(snap.names[n], r) for _, _, n, r in values.after_words(text)]

    assert found("how many of the ones whose tag is heist are there") == [("heist", tags)]
    assert found("Michael Mann films having tags los angeles") == [("los angeles", tags)]
    assert found("which films have genre crime and writer: michael mann") == [("Crime", genre),
                                                                              ("Michael Mann", writer)]
    assert found("which heist films did Michael Mann direct") == []          # no relation word before it
    assert found("whose tag is burglary") == []                              # not a value of the relation


def test_follow_up_readings(tmp_path: Path) -> None:
    from kg.linking import Linker
    from kg.store.embedded import EmbeddedStore
    from qa.chat import followup
    from qa.kinds.answer import _clause

    with EmbeddedStore(tmp_path / "g") as store:
        ingest(store, write_lines(tmp_path / "kb.txt", KB), progress=False)
        snap = GraphSnapshot.from_store(store)
        linker = Linker.from_store(store, cache_dir=tmp_path / "linker")
    last = {"resolved": "who directed [Heat]", "answers": [["Michael Mann", "Michael Mann"]],
            "answer_ids": ["Collateral", "Heat", "Thief"]}
    assert followup.resolve("and Top Gun?", last, linker, snap) == (
        "who directed [Top Gun]", "Top Gun", "repeat", "Top Gun")
    assert followup.resolve("who starred in the second one", last, linker, snap) == (
        "who starred in [Heat]", "Heat", "list", "the second one")
    assert followup.resolve("the last one: when was it released", last, linker, snap)[1] == "Thief"
    assert followup.resolve("which of them are crime films", last, linker, snap)[2] == "answers"
    assert followup.resolve("what is the oldest of those", last, linker, snap)[2] == "answers"
    assert followup.resolve("who directed them", last, linker, snap)[2] == "each"      # three answers
    assert followup.resolve("who directed Heat", last, linker, snap) is None
    assert followup.resolve("and Top Gun?", None, linker, snap) is None          # nothing asked yet
    assert followup.PERSONAL.match("that writer") and followup.PERSONAL.match("he")
    assert not followup.PERSONAL.match("that film")
    people = followup.person_like(snap)
    assert people[snap.index_of["Michael Mann"]] and people[snap.index_of["Al Pacino"]]
    assert not people[snap.index_of["Heat"]] and not people[snap.index_of["Crime"]]
    # a constraint's clause after the topic leaves the path question with it; before it, only its words
    text = "films directed by Michael Mann and starring Al Pacino"
    assert _clause(text, (44, 53), (18, 30)) == (31, 53)
    assert _clause("which crime films did Michael Mann direct", (6, 11), (22, 34)) == (6, 11)


# (composition, topic, expected rows) on the toy film graph of tests/qa/films.py
CASES = [
    (Composition((Hop("DIRECTED_BY", "in"),), aggregate="count"), "Michael Mann", [[3]]),
    (Composition((Hop("DIRECTED_BY", "in"),), aggregate="exists", target="Heat"), "Michael Mann", [[True]]),
    (Composition((Hop("DIRECTED_BY", "in"),), aggregate="exists", target="Top Gun"), "Michael Mann", [[False]]),
    (Composition((Hop("DIRECTED_BY", "in"),), ((Hop("HAS_GENRE", "out"), "Crime"),)), "Michael Mann",
     [["Collateral", "Collateral"], ["Thief", "Thief"]]),
    (Composition((Hop("STARRED_ACTORS", "in"),), ((Hop("DIRECTED_BY", "out"), "Michael Mann"),)), "Al Pacino",
     [["Heat", "Heat"]]),
    (Composition((Hop("STARRED_ACTORS", "in"),), ((Hop("DIRECTED_BY", "out"), "Michael Mann"),),
                 aggregate="count"), "Tom Cruise", [[1]]),
    (Composition((Hop("DIRECTED_BY", "in"),), number=Hop("RELEASE_YEAR", "out"),
                 comparison=read("after 2000").comparison), "Michael Mann", [["Collateral", "Collateral"]]),
    (Composition((Hop("STARRED_ACTORS", "in"),), number=Hop("RELEASE_YEAR", "out"), aggregate="min"), "Al Pacino",
     [["The Godfather", "The Godfather", 1972.0]]),
    (Composition((Hop("STARRED_ACTORS", "in"),), number=Hop("RELEASE_YEAR", "out"), aggregate="max"), "Tom Cruise",
     [["Collateral", "Collateral", 2004.0]]),
    # two hops: the films of Heat's director, none of them Heat (walks never return to the topic)
    (Composition((Hop("DIRECTED_BY", "out"), Hop("DIRECTED_BY", "in")), aggregate="count"), "Heat", [[2]]),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_each_composition_returns_the_same_rows_on_both_stores(store, tmp_path: Path, case: int) -> None:
    comp, topic, rows = CASES[case]
    ingest(store, write_lines(tmp_path / "kb.txt", KB), progress=False)
    query, params = comp.cypher(topic)
    assert store.cypher(query, params).rows == rows
    snap = GraphSnapshot.from_store(store)          # every entity the query lists is on the path's walk
    nodes, _ = walk(snap, snap.index_of[topic], comp.path)
    if comp.aggregate not in ("count", "exists"):
        assert {r[0] for r in rows} <= {snap.node_ids[int(n)] for n in nodes}


def test_a_question_asked_of_each_entity_follows_the_path_most_of_them_read(store, tmp_path: Path) -> None:
    """"who acted in them" after three films: two predictions read STARRED_ACTORS, one misreads the question as
    the film's release year; the merged answer walks the path they vote for from every film (a year is
    not an actor), scores each actor by the share of the films that reach it, and its Cypher (from each
    film, on either store) returns exactly those actors."""
    from types import SimpleNamespace

    from qa.kinds.answer import KindAnswerer
    from qa.types import Answer, Evidence, Prediction, Step

    ingest(store, write_lines(tmp_path / "kb.txt", KB), progress=False)
    snap = GraphSnapshot.from_store(store)
    kinds = KindAnswerer(SimpleNamespace(graph=SimpleNamespace(snapshot=snap), head=SimpleNamespace(topic_floor=0.1)))

    def pred(film: str, relation: str, tails: list[str], score: float) -> Prediction:
        answers = [Answer(t, t, score, [Evidence([Step(film, relation, t)], score, "")]) for t in tails]
        return Prediction(f"who acted in [{film}]", [film], [(a.entity_id, a.score) for a in answers], answers)

    films = ["Heat", "Collateral", "The Godfather"]
    preds = [pred("Heat", "STARRED_ACTORS", ["Al Pacino", "Robert De Niro"], 0.9),
             pred("Collateral", "RELEASE_YEAR", ["2004"], 0.95),          # misread
             pred("The Godfather", "STARRED_ACTORS", ["Al Pacino"], 0.8)]
    out = kinds.each("who acted in them", films, preds)
    assert out is not None
    got = [(a.entity_id, round(a.score, 3)) for a in out.answers]
    assert got == [("Al Pacino", 0.667), ("Robert De Niro", 0.333), ("Tom Cruise", 0.333)]
    assert all(a.evidence for a in out.answers)
    assert out.reading == "each of 3: path STARRED_ACTORS>"
    rows = store.cypher(out.cypher, out.params).rows
    assert sorted(r[0] for r in rows) == ["Al Pacino", "Robert De Niro", "Tom Cruise"]
    # the words name the relation asked for: the path ends with it, whatever most predictions read
    years = kinds.each("what are their release years", films, preds)
    assert years is not None and years.reading == "each of 3: path RELEASE_YEAR>"
    assert sorted(a.entity_id for a in years.answers) == ["1972", "1995", "2004"]
    # no prediction with a path and no relation named: nothing to vote on (the caller merges the answers)
    assert kinds.each("who acted in them", films, [Prediction("q", [], [], []) for _ in films]) is None


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """A tiny model trained on tests/qa/test_train.py's synthetic film graph (path questions only), and
    the graph's facts: film → (director, actors, year, genre)."""
    import torch

    from qa.answer.answerer import load_answerer
    from qa.train.qa import train
    from tests.qa.test_train import synthetic_graph, tiny_config

    folder = tmp_path_factory.mktemp("kinds")
    kb, files = synthetic_graph(folder)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(tiny_config(folder, kb, files, budget_minutes=1.0))
    finally:
        torch.set_num_threads(threads)
    info: dict[str, dict[str, list[str]]] = {}
    for line in kb.read_text().splitlines():
        h, r, t = line.split("|")
        info.setdefault(h, {}).setdefault(r, []).append(t)
    return load_answerer(folder / "run"), info, kb


@pytest.mark.slow
def test_a_trained_model_answers_every_kind_as_typed(trained, store, tmp_path: Path) -> None:
    from qa.data.questions import question_from_text
    from qa.kinds.answer import KindAnswerer

    base, info, kb = trained
    kinds = KindAnswerer(base)
    assert "HAS_GENRE" in kinds.values.categorical and kinds.values.numeric == {"RELEASE_YEAR"}
    films_of: dict[str, list[str]] = {}
    for f, facts in info.items():
        films_of.setdefault(facts["directed_by"][0], []).append(f)
    rnd = random.Random(0)
    asked: list[tuple[str, str, object]] = []     # (question, kind, gold: number, bool or sorted ids)
    for d, fs in sorted(films_of.items()):
        if len(fs) < 2:
            continue
        year = {f: int(info[f]["release_year"][0]) for f in fs}
        genre = info[fs[0]]["has_genre"][0]
        other = rnd.choice([f for f in info if f not in fs])
        actor = info[fs[0]]["starred_actors"][0]
        asked += [
            (f"how many films did {d} direct", "count", len(fs)),
            (f"did {d} direct {fs[-1]}", "yes/no", True),
            (f"did {d} direct {other}", "yes/no", False),
            (f"which {genre} films did {d} direct", "filter",
             sorted(f for f in fs if info[f]["has_genre"][0] == genre)),
            (f"which films did {d} direct starring {actor}", "filter",
             sorted(f for f in fs if actor in info[f]["starred_actors"])),
            (f"which films did {d} direct after {min(year.values())}", "comparison",
             sorted(f for f in fs if year[f] > min(year.values()))),
            (f"what is the most recent film that {d} directed", "superlative",
             sorted(f for f in fs if year[f] == max(year.values()))),
        ]
    preds = kinds.predict([question_from_text(q) for q, _, _ in asked])
    right = {k: [] for _, k, _ in asked}
    ingest(store, kb, progress=False)
    for (q, kind, gold), p in zip(asked, preds, strict=True):
        assert p.kind == kind, (q, p.kind)
        got = p.value if kind in ("count", "yes/no") else sorted(a.entity_id for a in p.answers)
        right[kind].append(got == gold)
        if p.cypher is not None:                    # the Cypher returns exactly the answer, on either store
            rows = store.cypher(p.cypher, p.params).rows
            if kind == "count":
                assert rows == [[p.value]], q
            elif kind == "yes/no":
                assert rows == [[p.value]], q
            else:
                assert sorted(r[0] for r in rows) == sorted(a.entity_id for a in p.answers), q
    for kind, ok in right.items():                 # the tiny model reads its few paths reliably
        assert sum(ok) >= 0.8 * len(ok), (kind, sum(ok), len(ok))
    # a question the graph cannot answer says so instead of guessing a path
    [p] = kinds.predict([question_from_text("did Director 1 direct it")])
    assert p.kind == "yes/no" and p.answers == [] and p.value is None and "two things" in p.note
    [p] = kinds.predict([question_from_text("why did Director 1 direct Film 3")])
    assert p.kind == "unsupported" and p.answers == [] and "why" in p.note
    # a path question is the path model's answer, unchanged
    q = question_from_text("who directed Film 3")
    assert kinds.predict([q])[0].answers == base.predict([q])[0].answers


@pytest.mark.slow
def test_follow_ups_about_the_last_answer(trained) -> None:
    from qa.chat.conversation import Conversation
    from qa.chat.replies import reply_text
    from qa.kinds.answer import KindAnswerer

    base, info, _ = trained
    films_of: dict[str, list[str]] = {}
    for f, facts in info.items():
        films_of.setdefault(facts["directed_by"][0], []).append(f)
    director = max(sorted(films_of), key=lambda d: len(films_of[d]))
    chat = Conversation(KindAnswerer(base), _resolver(base))

    first = chat.ask(f"which films did {director} direct")
    shown = [a.entity_id for a in first.prediction.answers]
    assert set(shown) == set(films_of[director])
    # "the second one": the answer as shown, in brackets for the path model
    pick = chat.ask("who acted in the second one")
    assert pick.resolution.how == "list" and pick.resolution.topic == shown[1]
    assert {a.entity_id for a in pick.prediction.answers} == set(info[shown[1]]["starred_actors"])
    # "which of them": the previous answers as a set (here: the actors just shown)
    chat.ask(f"which films did {director} direct")
    genre = info[shown[0]]["has_genre"][0]
    which = chat.ask(f"which of them are {genre} films")
    assert which.resolution.how == "answers" and which.prediction.kind == "filter"
    assert sorted(a.entity_id for a in which.prediction.answers) == sorted(
        f for f in shown if info[f]["has_genre"][0] == genre)
    chat.ask(f"which films did {director} direct")
    years = sorted(int(info[f]["release_year"][0]) for f in shown)
    count = chat.ask(f"how many of those came out after {years[0]}")
    assert count.prediction.value == sum(y > years[0] for y in years)
    assert reply_text(count).startswith(str(count.prediction.value))
    # "them" after several answers: the question asked of each, the answers merged
    chat.ask(f"which films did {director} direct")
    each = chat.ask("who acted in them")
    assert each.resolution.how == "each" and "each of the previous answers" in reply_text(each)
    actors = {a for f in shown for a in info[f]["starred_actors"]}
    got = {a.entity_id for a in each.prediction.answers}
    assert got == actors, each.prediction.reading          # one path, walked from every film
    assert each.prediction.reading.startswith(f"each of {len(shown)}: path ")
    # "and X?": the last question about another entity
    film = shown[0]
    chat.ask(f"who directed {film}")
    other = next(f for f in sorted(info) if info[f]["directed_by"][0] != director)
    again = chat.ask(f"and {other}?")
    assert again.resolution.how == "repeat" and again.resolution.topic == other
    assert again.resolution.question == f"who directed [{other}]"
    # "he" after "who directed X": the director (a person), not the film
    chat.reset()
    chat.ask(f"who directed {film}")
    he = chat.ask("what else did he direct")
    assert he.resolution.how == "reference" and he.resolution.topic == director
    # follow-ups off: the resolver alone (the ablation bench/followups.py measures)
    old = Conversation(KindAnswerer(base), _resolver(base), followups=False)
    old.ask(f"which films did {director} direct")
    assert old.ask("who acted in the second one").resolution.how != "list"


def _resolver(base):
    from qa.chat.conversation import ReferenceResolver, training_examples
    from qa.data.dialogues import split_dialogues
    from qa.data.questions import load_questions

    snap = base.graph.snapshot
    qs = [q for f in _question_files(base) for q in load_questions(f)]
    train_d, _ = split_dialogues(qs, snap)
    return ReferenceResolver.fit(training_examples(train_d, snap, base.graph.signature), snap.relations)


def _question_files(base):
    import json

    run = Path(base.linker_prior).parent if base.linker_prior else None
    assert run is not None
    return json.loads((run / "config.json").read_text())["train"]["questions"]
