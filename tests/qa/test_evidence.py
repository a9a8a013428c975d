"""Evidence paths on the toy film graph, and their Cypher run through the real embedded store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kg.errors import ConfigError
from kg.store.embedded import EmbeddedStore
from qa.answer.baseline import TemplateBaseline
from qa.answer.evidence import find_paths, path_cypher, relation_path_cypher, relation_path_evidence
from qa.answer.paths import parse_path, walk
from qa.types import Evidence, Step
from retrieval.snapshot import GraphSnapshot
from retrieval.subgraph import SubgraphRetriever
from tests.qa.films import TRAIN, make_snapshot, make_store, questions


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStore]:
    s = make_store(tmp_path_factory.mktemp("films"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def snapshot(store: EmbeddedStore) -> GraphSnapshot:
    return make_snapshot(store)


def steps(evidence: Evidence) -> list[tuple[str, str, str]]:
    return [(s.head, s.relation, s.tail) for s in evidence.steps]


def from_store(store: EmbeddedStore, evidence: Evidence) -> tuple[list[str], list[str]]:
    """The node ids and relationship types of the one path the evidence's Cypher returns."""
    result = store.cypher(evidence.cypher, evidence.params)
    assert result.columns == ["p"] and len(result.rows) == 1, result.rows
    path = result.rows[0][0]
    return [n["id"] for n in path["nodes"]], [r["_type"] for r in path["relationships"]]


def test_paths_of_a_relation_path_walk_edges_both_ways_and_keep_their_stored_direction(
        snapshot: GraphSnapshot, store: EmbeddedStore) -> None:
    [ev] = find_paths(snapshot, "Collateral", "Thief", relation_path=parse_path("DIRECTED_BY> / <DIRECTED_BY"))
    assert steps(ev) == [("Collateral", "DIRECTED_BY", "Michael Mann"), ("Thief", "DIRECTED_BY", "Michael Mann")]
    assert ev.score == 1.0
    assert "(n0:Entity {id: $topic})-[:`DIRECTED_BY`]->(n1:Entity {id: $n1})<-[:`DIRECTED_BY`]-" in ev.cypher
    assert ev.params == {"topic": "Collateral", "n1": "Michael Mann", "answer": "Thief"}
    assert from_store(store, ev) == (["Collateral", "Michael Mann", "Thief"], ["DIRECTED_BY", "DIRECTED_BY"])


def test_every_evidence_of_the_baseline_comes_back_from_the_store(snapshot: GraphSnapshot, store: EmbeddedStore,
                                                                 tmp_path: Path) -> None:
    baseline = TemplateBaseline(snapshot)
    baseline.fit(questions(tmp_path, TRAIN))
    asked = questions(tmp_path, {2: ["what genres are the films directed by [Michael Mann]\tCrime|Thriller",
                                     "when did the movies starring [Tom Cruise] come out\t2004|1986"]}, "asked")
    checked = 0
    for p in baseline.predict(asked):
        for answer in p.answers:
            for ev in answer.evidence:
                nodes, types = from_store(store, ev)
                assert nodes[0] == p.topics[0] and nodes[-1] == answer.entity_id
                assert types == [s.relation for s in ev.steps]
                checked += 1
    assert checked == 4


def test_the_relation_path_query_returns_the_baselines_ranking(snapshot: GraphSnapshot, store: EmbeddedStore) -> None:
    path = parse_path("<DIRECTED_BY / HAS_GENRE>")
    result = store.cypher(relation_path_cypher(path), {"topic": "Michael Mann"})
    nodes, counts = walk(snapshot, snapshot.index("Michael Mann"), path)
    assert result.rows == [["Crime", 2], ["Thriller", 1]]
    assert sorted(zip([snapshot.node_ids[i] for i in nodes], counts.tolist(), strict=True)) == [("Crime", 2.0),
                                                                                                ("Thriller", 1.0)]
    # The topic is no answer of its own relation path, in the store as in the walk.
    result = store.cypher(relation_path_cypher(parse_path("DIRECTED_BY> / <DIRECTED_BY")), {"topic": "Heat"})
    assert result.rows == [["Collateral", 1], ["Thief", 1]]


def test_many_answers_share_one_walk(snapshot: GraphSnapshot) -> None:
    found = relation_path_evidence(snapshot, "Michael Mann", ["Crime", "Thriller", "Drama", "1995"],
                                   parse_path("<DIRECTED_BY / HAS_GENRE>"), limit=5)
    assert [steps(e)[0][0] for e in found["Crime"]] == ["Collateral", "Thief"]   # both films, in node order
    assert len(found["Thriller"]) == 1 and found["Drama"] == [] and found["1995"] == []


def test_without_a_relation_path_paths_are_ranked_by_relation_weights(snapshot: GraphSnapshot,
                                                                      store: EmbeddedStore) -> None:
    # Thief was written and directed by Michael Mann: two one-hop paths, then longer ones through his films.
    plain = find_paths(snapshot, "Thief", "Michael Mann", max_hops=3, limit=10)
    assert [len(e.steps) for e in plain][:2] == [1, 1] and all(e.score == 1.0 for e in plain)
    assert {steps(e)[0][1] for e in plain[:2]} == {"DIRECTED_BY", "WRITTEN_BY"}
    assert all(len(e.steps) == 3 for e in plain[2:]) and len(plain) > 2     # via Heat or Collateral and back
    weighted = find_paths(snapshot, "Thief", "Michael Mann", weights={"WRITTEN_BY": 1.0, "DIRECTED_BY": 0.2},
                          max_hops=1)
    assert [steps(e) for e in weighted] == [[("Thief", "WRITTEN_BY", "Michael Mann")],
                                            [("Thief", "DIRECTED_BY", "Michael Mann")]]
    assert [e.score for e in weighted] == [1.0, 0.2]
    # Per hop: (H, R) over snapshot.relations; a hop's weights multiply along the path.
    table = np.full((2, snapshot.num_relations), 0.5)
    table[0, snapshot.relations.index("STARRED_ACTORS")] = 1.0
    table[1, snapshot.relations.index("STARRED_ACTORS")] = 0.9
    best = find_paths(snapshot, "Heat", "The Godfather", weights=table, max_hops=2, limit=1)[0]
    assert steps(best) == [("Heat", "STARRED_ACTORS", "Al Pacino"), ("The Godfather", "STARRED_ACTORS", "Al Pacino")]
    assert best.score == pytest.approx(0.9)
    for ev in plain + weighted + [best]:
        nodes, types = from_store(store, ev)
        assert nodes[0] == "Thief" or nodes[0] == "Heat"
        assert types == [s.relation for s in ev.steps]


def test_paths_are_simple_and_within_max_hops(snapshot: GraphSnapshot) -> None:
    for ev in find_paths(snapshot, "Heat", "Tom Cruise", max_hops=3, limit=50):
        walked = [ev.params["topic"], *(ev.params[f"n{i}"] for i in range(1, len(ev.steps))), ev.params["answer"]]
        assert len(set(walked)) == len(walked) and len(ev.steps) <= 3
    assert find_paths(snapshot, "Heat", "Tom Cruise", max_hops=2) == []        # three hops apart
    assert find_paths(snapshot, "Heat", "Nobody") == [] and find_paths(snapshot, "Heat", "Heat") == []


def test_a_subgraph_gives_the_same_paths(snapshot: GraphSnapshot) -> None:
    sub = SubgraphRetriever(snapshot).retrieve(["Heat"], hops=2)
    path = parse_path("DIRECTED_BY> / <DIRECTED_BY")
    assert [steps(e) for e in find_paths(sub, "Heat", "Thief", relation_path=path)] == \
        [steps(e) for e in find_paths(snapshot, "Heat", "Thief", relation_path=path)]


def test_bad_weights_and_steps_are_refused(snapshot: GraphSnapshot) -> None:
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        find_paths(snapshot, "Heat", "Thief", weights={"DIRECTED_BY": 2.0})
    with pytest.raises(ConfigError, match="relations the graph lacks"):
        find_paths(snapshot, "Heat", "Thief", weights={"PRODUCED_BY": 1.0})
    with pytest.raises(ConfigError, match="do not fit"):
        find_paths(snapshot, "Heat", "Thief", weights=np.ones(3))
    with pytest.raises(ValueError, match="does not join"):
        path_cypher([Step("Heat", "DIRECTED_BY", "Michael Mann")], ["Heat", "Tony Scott"])
