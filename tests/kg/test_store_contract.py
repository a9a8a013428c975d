"""The GraphStore contract: one suite, run on both backends through the ``store`` fixture.

Every test starts from an empty store and a tiny inline graph, and checks what a
user of the store would see (what ``get_entity``, ``neighbours``, ``stats``,
``export`` and ``cypher`` return), never how a backend stores it.
"""

from __future__ import annotations

import pytest

from kg.errors import InvalidName
from kg.models import Batch, Entity, Relation, WriteResult
from kg.store.base import GraphStore

# A tiny film graph: two films, a director, an actor with an accented name.
GOLDFINGER = Entity(
    id="m:goldfinger",
    name="Goldfinger",
    aliases=["Bond 3"],
    labels=["film"],
    properties={"year": 1964, "rating": 7.7, "colour": True, "language": "en", "tags": ["spy", "bond"]},
)
FROBE = Entity(id="p:frobe", name="Gert Fröbe", aliases=["Karl Gerhart Fröbe"], labels=["person"])
FILM_RELATIONS = [
    Relation("m:goldfinger", "directed_by", "p:hamilton", {"credited": True}, ["kb.txt"]),
    Relation("m:goldfinger", "starred_actors", "p:frobe", {"order": 2}, ["kb.txt"]),
    Relation("m:diamonds", "directed_by", "p:hamilton", {}, ["kb.txt"]),
]


def film_batch() -> Batch:
    return Batch(entities=[GOLDFINGER, FROBE], relations=list(FILM_RELATIONS))


def triples(relations: list[Relation]) -> set[tuple[str, str, str]]:
    return {(r.head, r.type, r.tail) for r in relations}


def settle(store: GraphStore) -> None:
    """Wait until Neo4j's eventually consistent full-text index has caught up with the writes.

    ``find_by_name`` on Neo4j narrows candidates with that index, so right after a write it
    usually misses the new entity (see ``test_find_by_name_sees_a_write_at_once``). The
    lookup tests below check what it matches, once the index is current.
    """
    if store.name == "neo4j":
        store.cypher("CALL db.index.fulltext.awaitEventuallyConsistentIndexRefresh()")


def chain(store: GraphStore) -> None:
    """``x -R2-> a -R1-> b -R1-> c -R2-> d -R1-> e`` plus ``a -R2-> y`` and a self-loop ``a -R3-> a``."""
    store.upsert(Batch(relations=[
        Relation("a", "r1", "b"), Relation("b", "r1", "c"), Relation("c", "r2", "d"), Relation("d", "r1", "e"),
        Relation("x", "r2", "a"), Relation("a", "r2", "y"), Relation("a", "r3", "a"),
    ]))


# -- writing ---------------------------------------------------------------------------------------

def test_upsert_reports_what_it_created(store: GraphStore) -> None:
    result = store.upsert(film_batch())
    # goldfinger, frobe, hamilton, diamonds
    assert (result.nodes_created, result.relationships_created) == (4, 3)
    stats = store.stats()
    assert (stats.entities, stats.relations) == (4, 3)


def test_entity_round_trip_keeps_every_property_type(store: GraphStore) -> None:
    store.upsert(film_batch())
    got = store.get_entity("m:goldfinger")
    assert got is not None
    assert got.id == "m:goldfinger"
    assert got.name == "Goldfinger"
    assert got.aliases == ["Bond 3"]
    assert got.labels == ["Film"]  # labels from data become valid label names
    assert got.properties == {"year": 1964, "rating": 7.7, "colour": True, "language": "en", "tags": ["spy", "bond"]}
    assert type(got.properties["year"]) is int
    assert type(got.properties["rating"]) is float
    assert type(got.properties["colour"]) is bool
    assert store.get_entity("no such entity") is None


def test_relation_round_trip_keeps_properties_and_sources(store: GraphStore) -> None:
    store.upsert(film_batch())
    out = {(r.type, r.tail): r for r in store.neighbours("m:goldfinger", "out")}
    assert set(out) == {("DIRECTED_BY", "p:hamilton"), ("STARRED_ACTORS", "p:frobe")}
    assert out["DIRECTED_BY", "p:hamilton"].properties == {"credited": True}
    assert out["DIRECTED_BY", "p:hamilton"].sources == ["kb.txt"]
    assert out["STARRED_ACTORS", "p:frobe"].properties == {"order": 2}


def test_a_large_batch_and_a_small_one_store_the_same(store: GraphStore) -> None:
    """Backends may write large batches another way than small ones (the embedded store bulk-loads
    2,000 rows or more and creates fewer one by one): what is read back must not tell them apart."""
    def batch(prefix: str, n: int) -> Batch:
        ents = [Entity(f"{prefix}{i}", f"{prefix.upper()} {i}", ["alias"] if i % 3 == 0 else [],
                       ["film"] if i % 2 else [], {"n": i, "tags": ["a", "b"]} if i % 4 else {}) for i in range(n)]
        rels = [Relation(f"{prefix}{i}", "next", f"{prefix}{i + 1}", {"w": i} if i % 2 else {}, [f"{prefix}.txt"])
                for i in range(n - 1)]
        return Batch(entities=ents, relations=rels)

    big, small = store.upsert(batch("big", 2_500)), store.upsert(batch("small", 6))
    assert (big.nodes_created, big.relationships_created) == (2_500, 2_499)
    assert (small.nodes_created, small.relationships_created) == (6, 5)
    for i in range(5):
        b, s = store.get_entity(f"big{i}"), store.get_entity(f"small{i}")
        assert b is not None and s is not None
        assert (b.aliases, b.labels, b.properties) == (s.aliases, s.labels, s.properties)
        (rb,), (rs,) = store.neighbours(f"big{i}", "out"), store.neighbours(f"small{i}", "out")
        assert (rb.type, rb.properties) == (rs.type, rs.properties)
        assert rs.sources == ["small.txt"] and rb.sources == ["big.txt"]
    settle(store)
    assert {e.id for e in store.find_by_name("SMALL 3")} == {"small3"}
    assert {e.id for e in store.find_by_name("big 3")} == {"big3"}
    again = store.upsert(batch("small", 6))
    assert (again.nodes_created, again.relationships_created) == (0, 0)


def test_same_batch_twice_creates_nothing_the_second_time(store: GraphStore) -> None:
    store.upsert(film_batch())
    before = store.stats().as_dict()
    again = store.upsert(film_batch())
    assert (again.nodes_created, again.relationships_created) == (0, 0)
    assert store.stats().as_dict() == before
    assert store.get_entity("m:goldfinger") == Entity(
        "m:goldfinger", "Goldfinger", ["Bond 3"], ["Film"], dict(GOLDFINGER.properties))
    assert [r.sources for r in store.neighbours("m:diamonds")] == [["kb.txt"]]


def test_same_batch_twice_reports_no_updates(store: GraphStore, request: pytest.FixtureRequest) -> None:
    store.upsert(film_batch())
    assert store.upsert(film_batch()) == WriteResult(0, 0, 0)


def test_entity_fragments_merge(store: GraphStore) -> None:
    store.upsert(Batch(entities=[GOLDFINGER]))
    store.upsert(Batch(entities=[Entity("m:goldfinger", "Goldfinger (1964)", aliases=["Bond 3", "GF"],
                                        labels=["Work"], properties={"year": 1965, "runtime": 110})]))
    got = store.get_entity("m:goldfinger")
    assert got is not None
    assert got.name == "Goldfinger (1964)"  # a given name replaces the old one
    assert got.aliases == ["Bond 3", "GF"]  # union, no duplicates
    assert sorted(got.labels) == ["Film", "Work"]
    assert got.properties == {"year": 1965, "rating": 7.7, "colour": True, "language": "en",
                              "tags": ["spy", "bond"], "runtime": 110}
    assert store.stats().entities == 1


def test_fragment_without_name_keeps_the_name(store: GraphStore) -> None:
    store.upsert(Batch(entities=[GOLDFINGER]))
    store.upsert(Batch(entities=[Entity("m:goldfinger", aliases=["GF"])]))
    got = store.get_entity("m:goldfinger")
    assert got is not None
    assert got.name == "Goldfinger"
    assert got.aliases == ["Bond 3", "GF"]


def test_same_triple_from_a_second_source_unions_sources(store: GraphStore) -> None:
    store.upsert(Batch(relations=[Relation("m:diamonds", "directed_by", "p:hamilton", sources=["kb.txt"])]))
    second = store.upsert(Batch(relations=[
        Relation("m:diamonds", "directed_by", "p:hamilton", sources=["wiki.txt", "kb.txt"])]))
    assert second.relationships_created == 0
    [rel] = store.neighbours("m:diamonds")
    assert rel.sources == ["kb.txt", "wiki.txt"]
    assert store.stats().relations == 1


def test_same_triple_twice_in_one_batch_is_one_relation(store: GraphStore) -> None:
    result = store.upsert(Batch(relations=[
        Relation("a", "likes", "b", sources=["one"]), Relation("a", "likes", "b", sources=["two"])]))
    assert result.relationships_created == 1
    [rel] = store.neighbours("a")
    assert rel.sources == ["one", "two"]


def test_relation_endpoints_are_created_with_name_equal_to_id(store: GraphStore) -> None:
    store.upsert(Batch(relations=[Relation("Ennio Morricone", "composed", "The Good, the Bad and the Ugly")]))
    for entity_id in ("Ennio Morricone", "The Good, the Bad and the Ugly"):
        got = store.get_entity(entity_id)
        assert got is not None
        assert (got.id, got.name, got.aliases, got.labels, got.properties) == (entity_id, entity_id, [], [], {})


def test_entity_without_name_is_named_after_its_id(store: GraphStore) -> None:
    store.upsert(Batch(entities=[Entity("Stanley Kubrick", labels=["person"])]))
    got = store.get_entity("Stanley Kubrick")
    assert got is not None
    assert got.name == "Stanley Kubrick"
    settle(store)
    assert [e.id for e in store.find_by_name("stanley kubrick")] == ["Stanley Kubrick"]


def test_iri_endpoint_is_named_after_its_local_name(store: GraphStore) -> None:
    iri = "http://dbpedia.org/resource/Gert_Fr%C3%B6be"
    store.upsert(Batch(relations=[Relation("http://dbpedia.org/resource/Goldfinger_(film)", "starring", iri)]))
    got = store.get_entity(iri)
    assert got is not None
    assert got.name == "Gert Fröbe"
    settle(store)
    assert [e.id for e in store.find_by_name("gert frobe")] == [iri]


def test_relation_endpoint_does_not_clobber_an_existing_entity(store: GraphStore) -> None:
    store.upsert(Batch(entities=[FROBE]))
    store.upsert(Batch(relations=[Relation("m:goldfinger", "starred_actors", "p:frobe")]))
    got = store.get_entity("p:frobe")
    assert got is not None
    assert got.name == "Gert Fröbe"
    assert got.aliases == ["Karl Gerhart Fröbe"]


def test_relationship_type_comes_from_the_data(store: GraphStore) -> None:
    store.upsert(film_batch())
    result = store.cypher("MATCH (m)-[:DIRECTED_BY]->(p) RETURN m.id, p.id ORDER BY m.id")
    assert result.rows == [["m:diamonds", "p:hamilton"], ["m:goldfinger", "p:hamilton"]]
    camel = store.upsert(Batch(relations=[Relation("a", "hasGenre", "b")]))
    assert camel.relationships_created == 1
    assert store.cypher("MATCH (a)-[:HAS_GENRE]->(b) RETURN a.id, b.id").rows == [["a", "b"]]
    assert store.relation_types() == ["DIRECTED_BY", "HAS_GENRE", "STARRED_ACTORS"]


@pytest.mark.parametrize("bad", ["!!", "", "   ", "___", "--", "日本語"])
def test_invalid_relation_name_raises_and_writes_nothing(store: GraphStore, bad: str) -> None:
    batch = film_batch()
    batch.relations.append(Relation("a", bad, "b"))
    with pytest.raises(InvalidName):
        store.upsert(batch)
    stats = store.stats()
    assert (stats.entities, stats.relations) == (0, 0)
    assert store.get_entity("m:goldfinger") is None


def test_relation_name_starting_with_a_digit_gets_a_prefix(store: GraphStore) -> None:
    store.upsert(Batch(relations=[Relation("a", "2nd_unit_director", "b")]))
    assert store.cypher("MATCH (a)-[:R_2ND_UNIT_DIRECTOR]->(b) RETURN a.id, b.id").rows == [["a", "b"]]


def test_invalid_label_raises_and_writes_nothing(store: GraphStore) -> None:
    with pytest.raises(InvalidName):
        store.upsert(Batch(entities=[GOLDFINGER, Entity("q", "Q", labels=["!!"])]))
    assert store.stats().entities == 0


def test_reserved_property_name_raises_and_writes_nothing(store: GraphStore) -> None:
    with pytest.raises(InvalidName):
        store.upsert(Batch(entities=[GOLDFINGER, Entity("q", "Q", properties={"name": "sneaky"})]))
    assert store.stats().entities == 0


# -- lookup ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["Gert Fröbe", "gert frobe", "GERT FROBE", "  gert   fröbe ", "karl gerhart frobe"])
def test_find_by_name_ignores_case_and_accents(store: GraphStore, query: str) -> None:
    store.upsert(film_batch())
    settle(store)
    assert [e.id for e in store.find_by_name(query)] == ["p:frobe"]


def test_find_by_name_is_exact_not_substring(store: GraphStore) -> None:
    store.upsert(film_batch())
    settle(store)
    assert store.find_by_name("gert") == []
    assert store.find_by_name("frobe") == []
    assert store.find_by_name("nobody at all") == []


def test_find_by_name_by_alias_and_several_matches(store: GraphStore) -> None:
    store.upsert(Batch(entities=[
        Entity("m:1", "Solaris", aliases=["Солярис"]), Entity("m:2", "Solaris"), Entity("m:3", "Stalker")]))
    settle(store)
    assert [e.id for e in store.find_by_name("solaris")] == ["m:1", "m:2"]
    assert [e.id for e in store.find_by_name("Солярис")] == ["m:1"]
    assert [e.id for e in store.find_by_name("solaris", limit=1)] == ["m:1"]


def test_find_by_name_with_lucene_and_cypher_special_characters(store: GraphStore) -> None:
    weird = "AC/DC: Back (in) Black? [live] \"1980\" O'Brien `x` *"
    store.upsert(Batch(entities=[Entity("w", weird)]))
    settle(store)
    assert [e.id for e in store.find_by_name(weird.lower())] == ["w"]


def test_find_by_name_sees_a_write_at_once(store: GraphStore) -> None:
    found = 0
    for i in range(20):
        store.upsert(Batch(entities=[Entity(f"e{i}", f"Entity Number {i}")]))
        found += len(store.find_by_name(f"entity number {i}"))
    assert found == 20


def test_find_by_name_forgets_a_replaced_name(store: GraphStore) -> None:
    store.upsert(Batch(entities=[Entity("m:goldfinger", "Goldfinger")]))
    settle(store)
    store.upsert(Batch(entities=[Entity("m:goldfinger", "Auric")]))
    settle(store)
    assert [e.id for e in store.find_by_name("auric")] == ["m:goldfinger"]
    assert store.find_by_name("goldfinger") == []


# -- traversal -------------------------------------------------------------------------------------

def test_neighbours_by_direction(store: GraphStore) -> None:
    chain(store)
    assert triples(store.neighbours("a", "out")) == {("a", "R1", "b"), ("a", "R2", "y"), ("a", "R3", "a")}
    assert triples(store.neighbours("a", "in")) == {("x", "R2", "a"), ("a", "R3", "a")}
    both = store.neighbours("a", "both")
    assert triples(both) == {("a", "R1", "b"), ("a", "R2", "y"), ("x", "R2", "a"), ("a", "R3", "a")}
    assert len(both) == 4  # the self-loop is listed once
    assert triples(store.neighbours("a")) == triples(both)
    assert store.neighbours("nobody") == []


def test_neighbours_type_filter(store: GraphStore) -> None:
    chain(store)
    assert triples(store.neighbours("a", "both", ["r2"])) == {("a", "R2", "y"), ("x", "R2", "a")}
    assert triples(store.neighbours("a", "out", ["R2"])) == {("a", "R2", "y")}
    assert triples(store.neighbours("a", "in", ["r1"])) == set()
    assert triples(store.neighbours("a", "out", ["r1", "r3"])) == {("a", "R1", "b"), ("a", "R3", "a")}


def test_neighbours_limit_and_bad_direction(store: GraphStore) -> None:
    store.upsert(Batch(relations=[Relation("hub", "r", f"n{i}") for i in range(20)]))
    assert len(store.neighbours("hub", limit=5)) == 5
    with pytest.raises(ValueError, match="direction"):
        store.neighbours("hub", "sideways")


def test_subgraph_k_hops(store: GraphStore) -> None:
    chain(store)
    assert store.subgraph(["a"], hops=0) == []
    one = {("a", "R1", "b"), ("a", "R2", "y"), ("x", "R2", "a"), ("a", "R3", "a")}
    assert triples(store.subgraph(["a"], hops=1)) == one
    assert triples(store.subgraph(["a"], hops=2)) == one | {("b", "R1", "c")}
    assert triples(store.subgraph(["a"], hops=3)) == one | {("b", "R1", "c"), ("c", "R2", "d")}
    assert triples(store.subgraph(["a", "e"], hops=1)) == one | {("d", "R1", "e")}


def test_subgraph_max_edges_caps_the_result(store: GraphStore) -> None:
    chain(store)
    capped = store.subgraph(["a"], hops=5, max_edges=3)
    assert len(capped) == 3
    assert triples(capped) <= triples(store.subgraph(["a"], hops=5))
    assert len(store.subgraph(["a"], hops=5)) == 7


# -- counting and deleting -------------------------------------------------------------------------

def test_stats_counts_per_type_and_label(store: GraphStore) -> None:
    store.upsert(film_batch())
    store.upsert(Batch(entities=[Entity("m:dr_no", "Dr. No", labels=["film", "Work"])]))
    stats = store.stats()
    assert stats.entities == 5
    assert stats.relations == 3
    assert stats.relation_types == {"DIRECTED_BY": 2, "STARRED_ACTORS": 1}
    assert stats.labels == {"Film": 2, "Person": 1, "Work": 1}
    assert store.stats().as_dict()["relation_types"] == {"DIRECTED_BY": 2, "STARRED_ACTORS": 1}


def test_delete_entities_removes_their_relations(store: GraphStore) -> None:
    store.upsert(film_batch())
    assert store.delete_entities(["p:hamilton", "not there"]) == 1
    assert store.get_entity("p:hamilton") is None
    assert triples(store.neighbours("m:goldfinger")) == {("m:goldfinger", "STARRED_ACTORS", "p:frobe")}
    assert store.neighbours("m:diamonds") == []
    stats = store.stats()
    assert (stats.entities, stats.relations, stats.relation_types) == (3, 1, {"STARRED_ACTORS": 1})
    assert store.cypher("MATCH (m)-[:DIRECTED_BY]->(p) RETURN m.id").rows == []


def test_delete_relations_keeps_the_entities(store: GraphStore) -> None:
    store.upsert(film_batch())
    n = store.delete_relations([
        Relation("m:goldfinger", "directed_by", "p:hamilton"),
        Relation("m:goldfinger", "directed_by", "p:frobe"),  # no such relation
        Relation("m:goldfinger", "never_written", "p:frobe"),  # no such type
    ])
    assert n == 1
    assert triples(store.neighbours("p:hamilton")) == {("m:diamonds", "DIRECTED_BY", "p:hamilton")}
    stats = store.stats()
    assert (stats.entities, stats.relations) == (4, 2)
    # deleting a relation and writing it again brings it back
    again = store.upsert(Batch(relations=[Relation("m:goldfinger", "directed_by", "p:hamilton")]))
    assert again.relationships_created == 1


def test_clear_empties_the_store(store: GraphStore) -> None:
    store.upsert(film_batch())
    store.clear()
    assert store.stats().as_dict() == {"entities": 0, "relations": 0, "relation_types": {}, "labels": {}}
    assert store.upsert(film_batch()).nodes_created == 4


# -- export ----------------------------------------------------------------------------------------

def test_export_whole_graph(store: GraphStore) -> None:
    store.upsert(film_batch())
    ex = store.export()
    assert ex.node_ids == ["m:diamonds", "m:goldfinger", "p:frobe", "p:hamilton"]
    assert ex.names == ["m:diamonds", "Goldfinger", "Gert Fröbe", "p:hamilton"]
    assert ex.relations == ["DIRECTED_BY", "STARRED_ACTORS"]
    heads, tails = ex.edge_index
    assert len(heads) == len(tails) == len(ex.edge_type) == ex.num_edges == 3
    assert ex.num_nodes == 4
    back = {(ex.node_ids[h], ex.relations[t], ex.node_ids[tl])
            for h, t, tl in zip(heads, ex.edge_type, tails, strict=True)}
    assert back == {("m:goldfinger", "DIRECTED_BY", "p:hamilton"), ("m:goldfinger", "STARRED_ACTORS", "p:frobe"),
                    ("m:diamonds", "DIRECTED_BY", "p:hamilton")}
    # one specific triple, index by index
    gf, frobe = ex.node_ids.index("m:goldfinger"), ex.node_ids.index("p:frobe")
    assert (gf, frobe) == (1, 2) == (ex.index_of["m:goldfinger"], ex.index_of["p:frobe"])
    [k] = [k for k in range(3) if (heads[k], tails[k]) == (gf, frobe)]
    assert ex.relations[ex.edge_type[k]] == "STARRED_ACTORS"
    assert store.export() == ex  # deterministic


def test_export_neighbourhood_of_seeds(store: GraphStore) -> None:
    chain(store)
    ex = store.export(["c"], hops=1)
    assert ex.node_ids == ["b", "c", "d"]
    back = {(ex.node_ids[h], ex.relations[t], ex.node_ids[tl])
            for h, t, tl in zip(ex.edge_index[0], ex.edge_type, ex.edge_index[1], strict=True)}
    assert back == {("b", "R1", "c"), ("c", "R2", "d")}
    assert ex.relations == ["R1", "R2"]
    two = store.export(["c"], hops=2)
    assert two.node_ids == ["a", "b", "c", "d", "e"]
    # the edges of hops 1 and 2: b-c, c-d, then a-b, d-e (a's self-loop and x, y would be hop 3)
    assert triples([Relation(two.node_ids[h], two.relations[t], two.node_ids[tl])
                    for h, t, tl in zip(two.edge_index[0], two.edge_type, two.edge_index[1], strict=True)]) == {
        ("a", "R1", "b"), ("b", "R1", "c"), ("c", "R2", "d"), ("d", "R1", "e")}


def test_to_numpy_shapes(store: GraphStore) -> None:
    np = pytest.importorskip("numpy")
    empty = store.export().to_numpy()
    assert empty["edge_index"].shape == (2, 0)
    chain(store)
    arrays = store.export().to_numpy()
    assert arrays["edge_index"].shape == (2, 7)
    assert arrays["edge_index"].dtype == np.int64
    assert arrays["edge_type"].shape == (7,)
    assert arrays["node_ids"].shape == (7,)
    assert list(arrays["relations"]) == ["R1", "R2", "R3"]
    assert int(arrays["edge_index"].max()) < 7


# -- cypher ----------------------------------------------------------------------------------------

def test_cypher_with_parameters(store: GraphStore) -> None:
    store.upsert(film_batch())
    result = store.cypher("MATCH (m:Entity {id: $id})-[:DIRECTED_BY]->(p) RETURN p.id AS director",
                          {"id": "m:goldfinger"})
    assert result.columns == ["director"]
    assert result.rows == [["p:hamilton"]]
    assert result.records() == [{"director": "p:hamilton"}]
    assert result.truncated is False
    ids = store.cypher("MATCH (n:Entity) WHERE n.id IN $ids RETURN n.id ORDER BY n.id",
                       {"ids": ["p:frobe", "m:diamonds", "nope"]})
    assert ids.rows == [["m:diamonds"], ["p:frobe"]]


def test_cypher_relationships_name_their_endpoints(store: GraphStore) -> None:
    """Returned relationships carry ``_type``, ``_start`` and ``_end`` (entity ids), alone or in a path,
    so that a client can draw them (the API's graph view)."""
    store.upsert(film_batch())
    row = store.cypher("MATCH (m:Entity {id: $id})-[r:DIRECTED_BY]->(p) RETURN m, r, p", {"id": "m:goldfinger"}).rows[0]
    assert (row[1]["_type"], row[1]["_start"], row[1]["_end"]) == ("DIRECTED_BY", "m:goldfinger", "p:hamilton")
    assert row[0]["id"] == "m:goldfinger" and row[2]["id"] == "p:hamilton"
    [[path]] = store.cypher("MATCH p = (:Entity {id: $d})<-[:DIRECTED_BY]-(:Entity {id: $m}) RETURN p",
                            {"d": "p:hamilton", "m": "m:goldfinger"}).rows
    assert [n["id"] for n in path["nodes"]] == ["p:hamilton", "m:goldfinger"]
    assert (path["relationships"][0]["_start"], path["relationships"][0]["_end"]) == ("m:goldfinger", "p:hamilton")


def test_cypher_row_limit_truncates(store: GraphStore) -> None:
    store.upsert(Batch(relations=[Relation("hub", "r", f"n{i:02d}") for i in range(12)]))
    capped = store.cypher("MATCH (n:Entity) RETURN n.id ORDER BY n.id", limit=5)
    assert capped.rows == [["hub"], ["n00"], ["n01"], ["n02"], ["n03"]]
    assert capped.truncated is True
    exact = store.cypher("MATCH (n:Entity) RETURN n.id", limit=13)
    assert (len(exact.rows), exact.truncated) == (13, False)


@pytest.mark.parametrize("value", [
    "O'Brien \"x\"",
    "back`tick` `` and `)-[:X]->(`",
    "'}) MATCH (n) DETACH DELETE n //",
    "\\' OR 1=1 \\\\",
    "line\nbreak\ttab ünïcødé 🎬",
])
def test_values_travel_as_parameters(store: GraphStore, value: str) -> None:
    store.upsert(Batch(entities=[Entity(value, value, aliases=[value])],
                       relations=[Relation(value, "knows", "plain")]))
    settle(store)
    assert store.get_entity(value) == Entity(value, value, [value], [], {})
    assert store.cypher("MATCH (n:Entity) WHERE n.name = $v RETURN n.id, n.name", {"v": value}).rows == [[value, value]]
    assert triples(store.neighbours(value)) == {(value, "KNOWS", "plain")}
    assert [e.id for e in store.find_by_name(value)] == [value]
    assert store.stats().entities == 2
    assert store.delete_entities([value]) == 1
    assert store.stats().entities == 1


# -- provenance: taking back what a source stated ----------------------------------------------

def test_retract_drops_a_source_and_deletes_unsupported_relations(store: GraphStore) -> None:
    store.upsert(Batch(relations=[
        Relation("Up", "directed_by", "Pete Docter", sources=["doc:a", "doc:b"]),
        Relation("Up", "has_genre", "Animation", sources=["doc:a"]),
        Relation("Up", "release_year", "2009", sources=["kb.txt"]),
    ]))
    deleted, updated = store.retract([
        Relation("Up", "directed_by", "Pete Docter"),
        Relation("Up", "has_genre", "Animation"),
        Relation("Up", "release_year", "2009"),   # not stated by doc:a: untouched
        Relation("Up", "written_by", "Nobody"),   # does not exist: ignored
    ], "doc:a")
    assert (deleted, updated) == (1, 1)
    left = {(r.type, r.tail): r.sources for r in store.neighbours("Up", "out")}
    assert left == {("DIRECTED_BY", "Pete Docter"): ["doc:b"], ("RELEASE_YEAR", "2009"): ["kb.txt"]}
    assert store.retract([Relation("Up", "directed_by", "Pete Docter")], "doc:a") == (0, 0)


def test_delete_orphans_keeps_connected_entities(store: GraphStore) -> None:
    store.upsert(Batch(entities=[Entity("lonely", "Lonely")],
                       relations=[Relation("Up", "has_genre", "Animation", sources=["kb.txt"])]))
    assert store.delete_orphans(["lonely", "Up", "missing"]) == 1
    assert store.get_entity("lonely") is None
    assert store.get_entity("Up") is not None


# -- typed properties: the same Cypher over properties on both stores ----------------------------------

FILMS = [
    Entity("m:heat", "Heat", labels=["film"],
           properties={"year": 1995, "rating": 8.3, "colour": True, "genres": ["crime", "drama"], "language": "en"}),
    Entity("m:up", "Up", labels=["film"], properties={"year": 2009, "rating": 8.2, "genres": ["animation"]}),
    Entity("m:ronin", "Ronin", labels=["film"], properties={"year": 1998, "rating": 7.2, "colour": True}),
    Entity("m:metropolis", "Metropolis", labels=["film"], properties={"year": 1927, "colour": False}),
]
CREDITS = [
    Relation("m:heat", "directed_by", "p:mann", {"credited": True, "billing": 1}, ["kb.txt"]),
    Relation("m:ronin", "directed_by", "p:frankenheimer", {"billing": 1}, ["kb.txt"]),
    Relation("m:up", "directed_by", "p:docter", {"billing": 1, "since": 2004}, ["kb.txt", "web"]),
    Relation("m:metropolis", "directed_by", "p:lang", {}, ["kb.txt"]),
]
PROPERTY_QUERIES = [
    ("MATCH (m:Entity) WHERE m.year > 1990 RETURN m.name, m.year ORDER BY m.year",
     [["Heat", 1995], ["Ronin", 1998], ["Up", 2009]]),
    ("MATCH (m:Entity) WHERE m.rating >= 8.2 RETURN m.name, m.rating ORDER BY m.rating DESC",
     [["Heat", 8.3], ["Up", 8.2]]),
    ("MATCH (m:Entity) WHERE m.colour = false RETURN m.name", [["Metropolis"]]),
    ("MATCH (m:Entity) WHERE 'drama' IN m.genres RETURN m.name", [["Heat"]]),
    ("MATCH (m:Entity) WHERE m.year IS NOT NULL RETURN count(m)", [[4]]),
    ("MATCH (m:Entity) WHERE m.rating IS NULL AND m.year IS NOT NULL RETURN m.name", [["Metropolis"]]),
    ("MATCH (m:Entity {id: 'm:heat'}) RETURN m.language, size(m.genres)", [["en", 2]]),
    ("MATCH (m:Entity)-[r:DIRECTED_BY]->(p) WHERE r.billing = 1 AND r.credited = true RETURN m.name", [["Heat"]]),
    ("MATCH (m:Entity)-[r:DIRECTED_BY]->(p) WHERE r.since >= 2000 RETURN m.name, r.since", [["Up", 2004]]),
    ("MATCH (m:Entity)-[r:DIRECTED_BY]->(p) WHERE size(r.sources) > 1 RETURN m.name", [["Up"]]),
    ("MATCH (m:Entity)-[r:DIRECTED_BY]->(p) RETURN max(m.year), min(m.rating), avg(r.billing)", [[2009, 7.2, 1.0]]),
]


@pytest.mark.parametrize(("query", "rows"), PROPERTY_QUERIES, ids=[q for q, _ in PROPERTY_QUERIES])
def test_properties_are_typed_for_cypher(store: GraphStore, query: str, rows: list[list[object]]) -> None:
    store.upsert(Batch(entities=list(FILMS), relations=list(CREDITS)))
    got = store.cypher(query).rows
    assert got == rows
    assert [[type(v) for v in row] for row in got] == [[type(v) for v in row] for row in rows]


def test_returned_nodes_and_relationships_carry_their_properties_only(store: GraphStore) -> None:
    store.upsert(Batch(entities=list(FILMS), relations=list(CREDITS)))
    [[node, rel]] = store.cypher("MATCH (m:Entity {id: 'm:ronin'})-[r:DIRECTED_BY]->() RETURN m, r").rows
    props = {k: v for k, v in node.items() if not k.startswith("_") and k != "labels"}  # labels: per store
    assert props == {"id": "m:ronin", "name": "Ronin", "aliases": [], "year": 1998, "rating": 7.2, "colour": True}
    assert {k: v for k, v in rel.items() if not k.startswith("_")} == {"billing": 1, "sources": ["kb.txt"]}


def test_a_new_key_in_a_later_batch_is_queryable(store: GraphStore) -> None:
    store.upsert(Batch(entities=list(FILMS), relations=list(CREDITS)))
    store.upsert(Batch(entities=[Entity("m:up", properties={"budget": 175.0, "awards": ["oscar"]}),
                                 Entity("m:new", "New", properties={"year": 2024})],
                       relations=[Relation("m:heat", "directed_by", "p:mann", {"cut": "director's"}, ["dvd"])]))
    assert store.cypher("MATCH (m:Entity) WHERE m.budget > 100 RETURN m.name, m.year, m.awards").rows == \
        [["Up", 2009, ["oscar"]]]
    assert store.cypher("MATCH (m:Entity) WHERE m.year >= 2009 RETURN m.id ORDER BY m.id").rows == \
        [["m:new"], ["m:up"]]
    cut = store.cypher("MATCH ()-[r:DIRECTED_BY]->() WHERE r.cut IS NOT NULL RETURN r.cut, r.billing, r.sources")
    assert cut.rows == [["director's", 1, ["kb.txt", "dvd"]]]
    up = store.get_entity("m:up")
    assert up is not None and up.properties == {"year": 2009, "rating": 8.2, "genres": ["animation"],
                                                 "budget": 175.0, "awards": ["oscar"]}


def test_a_value_of_another_type_widens_and_loses_nothing(store: GraphStore) -> None:
    """A key whose values change type: Neo4j keeps each node's own; the embedded store widens the column
    (int with float: float; other mixes: text). Both keep every value and order numbers alike."""
    store.upsert(Batch(entities=list(FILMS), relations=list(CREDITS)))
    store.upsert(Batch(entities=[Entity("m:odd", "Odd", properties={"year": 2001.5, "rating": "unrated"})]))
    years = store.cypher("MATCH (m:Entity) WHERE m.year > 2000 RETURN m.name, m.year ORDER BY m.year").rows
    assert years == [["Odd", 2001.5], ["Up", 2009]]
    assert store.cypher("MATCH (m:Entity {id: 'm:odd'}) RETURN m.rating").rows == [["unrated"]]
    ratings = {e.id: e.properties.get("rating") for e in (store.get_entity(i) for i in ("m:heat", "m:odd")) if e}
    assert ratings["m:odd"] == "unrated"
    assert ratings["m:heat"] in (8.3, "8.3")  # Neo4j: 8.3; embedded: the widened column's text
