"""The Neo4j Bolt writer's batching (kg/store/neo4j.py): relationships are sent grouped by what they
carry (sources and properties) with their ends as element ids, and nodes are created in bulk. What a
user must not notice: a value's type, a relation's sources and properties, and idempotence are as
they were per row."""

from __future__ import annotations

import pytest

from kg.models import Batch, Entity, Relation
from kg.store.base import GraphStore

pytestmark = pytest.mark.neo4j


def test_relations_grouped_by_what_they_carry_keep_each_value_and_type(neo4j: GraphStore) -> None:
    flags = [1, 1.0, True, "1", [1], [1.0], [True]]
    batch = Batch(entities=[Entity("m", "M", labels=["Film"], properties={"n": 1})],
                  relations=[Relation("m", "scored", f"p{i}", {"v": v}, ["a.txt"]) for i, v in enumerate(flags)]
                  + [Relation("m", "scored", "plain", {}, ["a.txt", "b.txt"])])
    written = neo4j.upsert(batch)
    assert (written.nodes_created, written.relationships_created) == (9, 8)
    rows = neo4j.cypher("MATCH (:Entity {id: 'm'})-[r:SCORED]->(t) RETURN t.id, r.v, r.sources ORDER BY t.id").rows
    assert rows == [["p0", 1, ["a.txt"]], ["p1", 1.0, ["a.txt"]], ["p2", True, ["a.txt"]], ["p3", "1", ["a.txt"]],
                    ["p4", [1], ["a.txt"]], ["p5", [1.0], ["a.txt"]], ["p6", [True], ["a.txt"]],
                    ["plain", None, ["a.txt", "b.txt"]]]
    assert [[type(v) for v in row[1:2]] for row in rows[:4]] == [[int], [float], [bool], [str]]
    # The same facts from another source, one property changed: nothing created, sources and value merged.
    again = neo4j.upsert(Batch(relations=[Relation("m", "scored", "p0", {"v": 2}, ["c.txt"]),
                                          Relation("m", "scored", "plain", {}, ["a.txt"])]))
    assert (again.nodes_created, again.relationships_created) == (0, 0)
    assert neo4j.cypher("MATCH (:Entity {id: 'm'})-[r:SCORED]->(t) WHERE t.id IN ['p0', 'plain'] "
                        "RETURN t.id, r.v, r.sources ORDER BY t.id").rows == \
        [["p0", 2, ["a.txt", "c.txt"]], ["plain", None, ["a.txt", "b.txt"]]]


def test_new_and_known_entities_in_one_batch(neo4j: GraphStore) -> None:
    neo4j.upsert(Batch(entities=[Entity("known", "Known", aliases=["K"], labels=["Person"], properties={"age": 40})]))
    written = neo4j.upsert(Batch(
        entities=[Entity("known", None, aliases=["Kn"], labels=["Director"]), Entity("new", "New", labels=["Film"],
                                                                                   properties={"year": 2001})],
        relations=[Relation("new", "directed_by", "known", sources=["x"]),
                   Relation("known", "lives_in", "nowhere", sources=["x"])]))
    assert (written.nodes_created, written.nodes_updated, written.relationships_created) == (2, 1, 2)
    known = neo4j.get_entity("known")
    assert known is not None and (known.name, known.aliases, sorted(known.labels), known.properties) == \
        ("Known", ["K", "Kn"], ["Director", "Person"], {"age": 40})
    assert [e.id for e in neo4j.find_by_name("kn")] == ["known"]
    new = neo4j.get_entity("new")
    assert new is not None and (new.labels, new.properties) == (["Film"], {"year": 2001})
    assert {(r.head, r.type, r.tail) for r in neo4j.neighbours("known")} == \
        {("new", "DIRECTED_BY", "known"), ("known", "LIVES_IN", "nowhere")}
