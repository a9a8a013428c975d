"""Questions synthesised from a graph: exact answer sets, both directions, words, topics by name, seeds, caps."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest

from qa.data.questions import Question
from qa.data.synthesis import SOURCE_PREFIX, TEMPLATES, SynthesisConfig, relation_paths, render, roles, synthesise
from retrieval.snapshot import GraphSnapshot
from tests.conftest import SHARED

# Films (relationship types as a store writes them) with ids apart from names, so the tests see which is which.
FILMS = {"f1": "Heat", "f2": "Collateral", "f3": "Top Gun", "p1": "Michael Mann", "p2": "Tony Scott",
         "p3": "Al Pacino", "p4": "Tom Cruise", "p5": "Stuart Beattie", "g1": "Crime", "g2": "Action"}
FILM_EDGES = [("f1", "DIRECTED_BY", "p1"), ("f2", "DIRECTED_BY", "p1"), ("f3", "DIRECTED_BY", "p2"),
              ("f1", "WRITTEN_BY", "p1"), ("f2", "WRITTEN_BY", "p5"),
              ("f1", "STARRED_ACTORS", "p3"), ("f2", "STARRED_ACTORS", "p4"), ("f3", "STARRED_ACTORS", "p4"),
              ("f1", "HAS_GENRE", "g1"), ("f2", "HAS_GENRE", "g1"), ("f3", "HAS_GENRE", "g2")]
# A family (relation names as a file gives them): Cid and Dee are the children of Ann and Bob; Eve married Cid.
FAMILY = {n.lower(): n for n in ("Ann", "Bob", "Cid", "Dee", "Eve")}
FAMILY_EDGES = [("cid", "parents", "ann"), ("cid", "parents", "bob"), ("dee", "parents", "ann"),
                ("dee", "parents", "bob"), ("ann", "children", "cid"), ("ann", "children", "dee"),
                ("bob", "children", "cid"), ("bob", "children", "dee"), ("ann", "spouse", "bob"),
                ("bob", "spouse", "ann"), ("cid", "spouse", "eve"), ("eve", "spouse", "cid")]


def snapshot(names: dict[str, str], edges: list[tuple[str, str, str]]) -> GraphSnapshot:
    ids = list(names)
    rels = sorted({r for _, r, _ in edges})
    return GraphSnapshot.from_arrays(ids, [names[i] for i in ids], rels, [ids.index(h) for h, _, _ in edges],
                                     [ids.index(t) for _, _, t in edges], [rels.index(r) for _, r, _ in edges])


def oracle(edges: list[tuple[str, str, str]], start: str, path: str) -> set[str]:
    """The answer set of a path written ``"REL> / <REL"``, walked over the triples in plain Python."""
    nodes = {start}
    for hop in path.split(" / "):
        fwd, rel = hop.endswith(">"), hop.strip("<>")
        nodes = {t if fwd else h for h, r, t in edges if r == rel and (h if fwd else t) in nodes}
    return nodes


def topic_id(names: dict[str, str], q: Question) -> str:
    return next(i for i, n in names.items() if n == q.topic)


@pytest.fixture(scope="module")
def films() -> GraphSnapshot:
    return snapshot(FILMS, FILM_EDGES)


@pytest.fixture(scope="module")
def family() -> GraphSnapshot:
    return snapshot(FAMILY, FAMILY_EDGES)


@pytest.mark.parametrize(("names", "edges"), [(FILMS, FILM_EDGES), (FAMILY, FAMILY_EDGES)])
def test_every_answer_set_is_the_graphs_own(names: dict[str, str], edges: list[tuple[str, str, str]]) -> None:
    qs = synthesise(snapshot(names, edges), per_path=50, max_answers=100)
    assert qs
    for q in qs:
        assert set(q.answers) == oracle(edges, topic_id(names, q), q.extra["path"]), q
        assert len(q.answers) == len(set(q.answers))


def test_a_walk_may_return_to_the_topic(family: GraphSnapshot) -> None:
    qs = synthesise(family, per_path=50, phrasings=len(TEMPLATES))
    child_of_parent = {q.answers for q in qs if q.topic == "Cid" and q.extra["path"] == "parents> / children>"}
    assert child_of_parent == {("cid", "dee")}                     # Cid and his sister
    spouse_of_spouse = {q.answers for q in qs if q.topic == "Eve" and q.extra["path"] == "spouse> / spouse>"}
    assert spouse_of_spouse == {("eve",)}


def test_questions_look_like_a_question_files(films: GraphSnapshot) -> None:
    qs = synthesise(films, per_path=50)
    for q in qs:
        assert q.text.count("[") == 1 and f"[{q.topic}]" in q.text
        assert q.topic in FILMS.values()                       # the name a user types, not the id
        assert set(q.answers) <= set(FILMS)                    # answers are entity ids
        assert q.hop is None
        assert q.source == "synth:" + q.extra["path"].replace(" / ", "/")
        assert q.extra["template"] in TEMPLATES
    heat = [q for q in qs if q.topic == "Heat" and q.extra["path"] == "DIRECTED_BY>"]
    assert heat and all(q.answers == ("p1",) for q in heat)


def test_both_directions_of_every_relation(films: GraphSnapshot, family: GraphSnapshot) -> None:
    for snap in (films, family):
        one_hop = {q.extra["path"] for q in synthesise(snap, max_hops=1, per_path=5)}
        assert one_hop == {f"{r}>" for r in snap.relations} | {f"<{r}" for r in snap.relations}


def test_relation_names_become_words() -> None:
    fwd, bwd = roles("DIRECTED_BY", False, True)
    assert (fwd.kind, fwd.noun, fwd.by) == ("noun", "director", "directed")
    assert (bwd.kind, bwd.phrase, bwd.past, bwd.noun) == ("passive", "directed", "directed", "director")
    assert roles("written_by")[0].noun == "writer" and roles("written_by")[1].past == "wrote"
    assert [roles(r)[0].noun for r in ("produced_by", "edited_by", "created_by", "owned_by")] == \
        ["producer", "editor", "creator", "owner"]
    assert roles("place_of_death")[0].noun == "place of death"
    assert roles("HAS_GENRE")[0].noun == "genre" and roles("hasGenre")[0].noun == "genre"
    assert roles("starred_actors")[0].noun == "starred actor"         # no "by": the name stays, singular
    assert roles("parents")[0].noun == "parent" and roles("children")[0].noun == "child"
    cap_fwd, cap_bwd = roles("capital_of")                             # (Paris, capital_of, France)
    assert (cap_fwd.kind, cap_bwd.kind, cap_bwd.noun) == ("inverse", "noun", "capital")
    assert roles("located_in")[0].kind == "verb_out"


def test_phrasings_nest_and_agree() -> None:
    d_fwd, d_bwd = roles("DIRECTED_BY", False, True)
    p_fwd, _ = roles("parents", True, True)
    s_fwd, _ = roles("spouse")
    g_fwd, g_bwd = roles("place_of_birth", False, True)
    assert render("what_is", [d_fwd], "Heat") == "what is the director of [Heat]"
    assert render("what_is", [p_fwd, s_fwd], "Cid") == "what are the spouses of the parents of [Cid]"
    assert render("possessive", [p_fwd, s_fwd], "Cid") == "what are [Cid]'s parents' spouses"
    assert render("keyword", [g_fwd], "Eve") == "[Eve] place of birth"
    assert render("what_is", [g_fwd], "Eve") == "what is the place of birth of [Eve]"
    assert render("which_has", [g_bwd], "Paris") == "which entities have [Paris] as their place of birth"
    assert render("passive", [d_bwd], "Michael Mann") == "what were directed by [Michael Mann]"
    assert render("active", [d_fwd, d_bwd], "Heat") == "the director of [Heat] directed what"
    assert render("by_what", [d_fwd], "Heat") == "what was [Heat] directed by"
    assert render("tell_me", [d_fwd, d_bwd], "Heat") == "tell me the ones directed by the director of [Heat]"
    assert render("passive", [d_fwd], "Heat") is None                  # the last hop is not walked backward
    assert render("keyword", [d_bwd], "Michael Mann") is None          # only noun hops read as keywords


def test_same_seed_same_questions_and_another_seed_others() -> None:
    names = {f"e{i}": f"Person {i}" for i in range(40)}
    edges = [(f"e{i}", "knows", f"e{(i * 7 + 3) % 40}") for i in range(40)] + \
            [(f"e{i}", "born_in", f"e{30 + i % 10}") for i in range(30)]
    snap = snapshot(names, edges)

    def key(qs: list[Question]) -> list[tuple[object, ...]]:
        return [(q.text, q.answers, q.source, q.extra["template"]) for q in qs]

    assert key(synthesise(snap, seed=3, per_path=3)) == key(synthesise(snap, seed=3, per_path=3))
    assert key(synthesise(snap, seed=3, per_path=3)) != key(synthesise(snap, seed=4, per_path=3))


def test_caps_bound_what_is_made(films: GraphSnapshot) -> None:
    qs = synthesise(films, per_path=1, phrasings=1, max_answers=1)
    assert all(len(q.answers) == 1 for q in qs)
    assert all(n == 1 for n in Counter(q.source for q in qs).values())        # one topic, one phrasing
    capped = synthesise(films, paths=2, per_path=50)
    hops = Counter(q.extra["path"].count("/") for q in {q.source: q for q in capped}.values())
    assert all(n <= 2 for n in hops.values())
    topics = Counter(q.source for q in synthesise(films, per_path=(3, 1), phrasings=1))   # 3 per 1-hop path, then 1
    assert max(n for p, n in topics.items() if "/" not in p) == 3
    assert max(n for p, n in topics.items() if "/" in p) == 1
    held_out = synthesise(films, templates=("what_is", "passive"), phrasings=5)
    assert {q.extra["template"] for q in held_out} == {"what_is", "passive"}
    with pytest.raises(ValueError, match="unknown template"):
        synthesise(films, templates=("nope",))
    assert synthesise(films, SynthesisConfig(max_hops=1)) == synthesise(films, max_hops=1)


def test_phrasings_differ_per_topic(films: GraphSnapshot) -> None:
    by_topic: dict[tuple[str, str | None], list[str]] = defaultdict(list)
    for q in synthesise(films, phrasings=3, per_path=50):
        by_topic[(q.source, q.topic)].append(q.extra["template"])
    assert all(len(t) == len(set(t)) and 1 <= len(t) <= 3 for t in by_topic.values())
    assert any(len(t) == 3 for t in by_topic.values())


def test_ambiguous_names_are_no_topics() -> None:
    names = {"a": "Paris", "b": "Paris", "c": "France", "d": "Texas"}
    snap = snapshot(names, [("a", "capital_of", "c"), ("b", "located_in", "d")])
    qs = synthesise(snap, per_path=10)
    assert qs and all(q.topic != "Paris" for q in qs)
    assert {q.answers for q in qs if q.source == "synth:<capital_of"} == {("a",)}   # still an answer, by id


def test_paths_are_enumerated_exactly(family: GraphSnapshot) -> None:
    paths = relation_paths(family, max_hops=2, min_support=0.0)
    assert ("parents>", "children>") in paths and ("children>", "children>") not in paths  # no grandchildren
    assert len(paths) == len(set(paths))


PQ = SHARED / "data" / "pathquestion" / "PQ-2H" / "kb.txt"


@pytest.mark.skipif(not PQ.is_file(), reason="the PathQuestion development copy is not here")
def test_a_real_graph_file() -> None:
    lines = [line.rstrip("\n").split("|") for line in PQ.open(encoding="utf-8") if line.strip()]
    edges = sorted({(h, r, t) for h, r, t in lines})
    names = {e: e for h, _, t in edges for e in (h, t)}
    qs = synthesise(snapshot(names, edges), max_hops=2, per_path=3)
    assert len({q.extra["path"] for q in qs}) > 100
    adjacency: dict[tuple[str, str], list[str]] = defaultdict(list)
    back: dict[tuple[str, str], list[str]] = defaultdict(list)
    for h, r, t in edges:
        adjacency[(h, r)].append(t)
        back[(t, r)].append(h)
    for q in qs[::7]:
        nodes = {q.topic or ""}
        for hop in q.extra["path"].split(" / "):
            table = adjacency if hop.endswith(">") else back
            nodes = {m for n in nodes for m in table[(n, hop.strip("<>"))]}
        assert set(q.answers) == nodes, q


def test_beside_question_files_synthesised_questions_only_train(tmp_path: Path) -> None:
    """Validation early-stops training and fits the cut-off: with question files it is their questions
    alone (synthesised ones in it showed up as a '0-hop' group and steered early stopping)."""
    from qa.train.qa import TrainConfig, split_questions
    from tests.qa.films import TRAIN, make_snapshot, make_store, questions

    store = make_store(tmp_path)
    snapshot = make_snapshot(store)
    store.close()
    written = questions(tmp_path, TRAIN)
    files = sorted({q.source.rsplit(":", 1)[0] for q in written})
    cfg = TrainConfig(questions=files, synthesise=200, synonyms=0)
    train, val, _ = split_questions(cfg, snapshot)
    assert all(not q.source.startswith(SOURCE_PREFIX) for q in val)
    assert sum(q.source.startswith(SOURCE_PREFIX) for q in train) > 0
    zero_shot = TrainConfig(questions=[], synthesise=200, synonyms=0)
    _, val0, _ = split_questions(zero_shot, snapshot)
    assert val0 and all(q.source.startswith(SOURCE_PREFIX) for q in val0)
