"""The embedded store's typed property columns: types, widening, case clashes, old stores, kill -9.

What both stores must agree on is in ``test_store_contract.py`` (property queries); this file checks
what only the embedded store has to do to get there (:mod:`kg.store.columns`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kg.models import Batch, Entity, Relation
from kg.store.columns import value_type, wider
from kg.store.embedded import EmbeddedStore
from tests.conftest import ROOT
from tests.kg.test_kill_recovery import kill_when_printed


@pytest.mark.parametrize(("values", "column"), [
    ([1, 2], "INT64"), ([1, 2.5], "DOUBLE"), ([True], "BOOL"), (["a", 1], "STRING"), ([True, 1], "STRING"),
    ([[1], [2.0]], "DOUBLE[]"), ([["a"], []], "STRING[]"), ([[], [1]], "INT64[]"), ([[1], "x"], "STRING"),
    ([[], "x"], "STRING"), ([["a"], ["b", "c"]], "STRING[]"),
])
def test_a_column_takes_the_narrowest_type_that_holds_every_value(values: list[object], column: str) -> None:
    typ = value_type(values[0])
    for v in values[1:]:
        typ = wider(typ, value_type(v))
    assert typ == column


def test_columns_are_typed_and_widened_once(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "g")
    store.upsert(Batch(entities=[Entity("a", properties={"year": 1999, "tags": ["x"], "ok": True})]))
    info = {row[1]: row[2] for row in store.read("CALL table_info('Entity') RETURN *").rows}
    assert (info["year"], info["tags"], info["ok"]) == ("INT64", "STRING[]", "BOOL")
    store.upsert(Batch(entities=[Entity("b", properties={"year": 2001.5, "ok": "maybe"})]))
    info = {row[1]: row[2] for row in store.read("CALL table_info('Entity') RETURN *").rows}
    assert (info["year"], info["ok"]) == ("DOUBLE", "STRING")
    a = store.get_entity("a")
    assert a is not None and a.properties == {"year": 1999.0, "tags": ["x"], "ok": "true"}
    assert store.cypher("MATCH (n:Entity) WHERE n.year > 2000 RETURN n.id").rows == [["b"]]
    store.close()


def test_a_key_that_differs_only_in_case_keeps_its_own_column(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "g")
    store.upsert(Batch(entities=[Entity("a", properties={"year": 1999, "Year": "MCMXCIX", "Name": "shout"})]))
    a = store.get_entity("a")
    assert a is not None
    assert a.name == "a" and a.properties == {"year": 1999, "Year_2": "MCMXCIX", "Name_2": "shout"}
    store.close()


def test_a_failed_batch_leaves_no_column_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = EmbeddedStore(tmp_path / "g")
    store.upsert(Batch(entities=[Entity("a", properties={"year": 1999})]))

    def boom(*args: object) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "_write_edges", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        store.upsert(Batch(entities=[Entity("b", properties={"year": "unknown", "budget": 5})],
                           relations=[Relation("a", "knows", "b")]))
    monkeypatch.undo()
    # The widening of 'year' had its own transaction (the same values, as text); the new column went
    # with the failed batch.
    info = {row[1]: row[2] for row in store.read("CALL table_info('Entity') RETURN *").rows}
    assert info["year"] == "STRING" and "budget" not in info
    assert store.get_entity("b") is None
    a = store.get_entity("a")
    assert a is not None and a.properties == {"year": "1999"}
    store.upsert(Batch(entities=[Entity("c", properties={"budget": 7})]))
    assert store.cypher("MATCH (n:Entity) WHERE n.budget > 1 RETURN n.id").rows == [["c"]]
    store.close()


def test_a_store_from_before_typed_columns_is_converted_on_open(tmp_path: Path) -> None:
    import ladybug

    path = tmp_path / "old"
    path.mkdir()
    db = ladybug.Database(str(path / "graph.lbug"))
    conn = ladybug.Connection(db)
    conn.execute("CREATE NODE TABLE Entity(id STRING PRIMARY KEY, name STRING, aliases STRING[], "
                 "labels STRING[], keys STRING[], props STRING)")
    conn.execute("CREATE REL TABLE `DIRECTED_BY`(FROM Entity TO Entity, sources STRING, props STRING)")
    conn.execute("CREATE (:Entity {id: 'm', name: 'Heat', keys: ['heat'], props: $p})",
                 {"p": json.dumps({"year": 1995, "genres": ["crime"]})})
    conn.execute("CREATE (:Entity {id: 'd', name: 'Michael Mann', keys: ['michael mann']})")
    conn.execute("MATCH (a:Entity {id: 'm'}), (b:Entity {id: 'd'}) "
                 "CREATE (a)-[:DIRECTED_BY {sources: $s, props: $p}]->(b)",
                 {"s": json.dumps(["kb.txt", "web"]), "p": json.dumps({"credited": True})})
    conn.close()
    db.close()

    store = EmbeddedStore(path)
    heat = store.get_entity("m")
    assert heat is not None and heat.properties == {"year": 1995, "genres": ["crime"]}
    assert store.cypher("MATCH (m:Entity)-[r:DIRECTED_BY]->(d) WHERE m.year > 1990 AND r.credited "
                        "RETURN d.name, r.sources").rows == [["Michael Mann", ["kb.txt", "web"]]]
    [rel] = store.neighbours("m", "out")
    assert (rel.properties, rel.sources) == ({"credited": True}, ["kb.txt", "web"])
    columns = {row[1] for row in store.read("CALL table_info('Entity') RETURN *").rows}
    assert "props" not in columns
    store.close()
    again = EmbeddedStore(path)  # a second open finds nothing to convert
    assert again.get_entity("m") is not None
    again.close()


def test_kill_while_new_columns_are_written_keeps_whole_batches(tmp_path: Path) -> None:
    """Each batch adds a property column (and an edge property column) in its own transaction: a
    ``kill -9`` during the writes leaves whole batches, each with its typed column, and no half column."""
    store_path, per_batch = tmp_path / "graph", 2_500
    child = (
        "import sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from kg.models import Batch, Entity, Relation\n"
        "from kg.store.embedded import EmbeddedStore\n"
        "s, n = EmbeddedStore(sys.argv[2]), int(sys.argv[3])\n"
        "for b in range(1, 1000):\n"
        "    ents = [Entity(f'b{b}_{i}', properties={f'k{b}': i, 'batch': b}) for i in range(n)]\n"
        "    rels = [Relation(f'b{b}_{i}', 'next', f'b{b}_{i + 1}', {f'w{b}': 0.5}) for i in range(n - 1)]\n"
        "    s.upsert(Batch(entities=ents, relations=rels))\n"
        "    print(f'done {b}', flush=True)\n"
    )
    kill_when_printed(child, [str(store_path), str(per_batch)], "done 3")
    check = (
        "import sys, json\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from kg.store.embedded import EmbeddedStore\n"
        "s = EmbeddedStore(sys.argv[2])\n"
        "total = s.stats().entities\n"
        "cols = [r[1] for r in s.read(\"CALL table_info('Entity') RETURN *\").rows]\n"
        "full = [b for b in range(1, 1000) if f'k{b}' in cols and s.cypher(f'MATCH (n:Entity) WHERE n.batch = {b} '\n"
        "        f'AND n.k{b} >= 0 AND n.k{b} < 1000000 RETURN count(n)').rows == [[int(sys.argv[3])]]]\n"
        "edges = s.cypher('MATCH ()-[r:NEXT]->() RETURN count(r)').rows[0][0] if total else 0\n"
        "print(json.dumps({'total': total, 'full': full, 'cols': cols, 'edges': edges}))\n"
    )
    done = subprocess.run([sys.executable, "-c", check, str(ROOT), str(store_path), str(per_batch)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-800:]
    got = json.loads(done.stdout)
    batches = got["total"] // per_batch
    assert got["total"] == batches * per_batch and batches >= 3
    assert got["full"] == list(range(1, batches + 1))
    assert [c for c in got["cols"] if c[0] == "k" and c[1:].isdigit()] == [f"k{b}" for b in range(1, batches + 1)]
    assert got["edges"] == batches * (per_batch - 1)


def _both_directions(store: EmbeddedStore, rel: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Each edge of ``rel`` as (head, tail), read from the heads and from the tails."""
    out = sorted(map(tuple, store.read(f"MATCH (a)-[:{rel}]->(b) RETURN a.id, b.id", limit=10**7).rows))
    back = sorted(map(tuple, store.read(f"MATCH (b)<-[:{rel}]-(a) RETURN a.id, b.id", limit=10**7).rows))
    return out, back


def test_no_relationship_property_is_set_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """LadybugDB 0.22.0 corrupts a relationship table's forward adjacency when a property of many of its rows
    is SET (MetaQA re-ingested from a second file: edges gone from ``(a)-[:HAS_GENRE]->(b)``, others doubled,
    and the next ingest duplicated those it could not find). A new source, a retracted source, a widened
    edge column and an old store's conversion therefore delete and recreate edges, values kept."""
    statements: list[str] = []
    real = EmbeddedStore._run

    def run(self: EmbeddedStore, query: str, params: dict | None = None) -> list:
        statements.append(query)
        return real(self, query, params)

    monkeypatch.setattr(EmbeddedStore, "_run", run)
    store = EmbeddedStore(tmp_path / "g")
    films = [Relation(f"film {i}", "has_genre", f"genre {i % 3}", {"rank": i}, ["kb.txt"]) for i in range(50)]
    store.upsert(Batch(relations=films))
    store.upsert(Batch(relations=[Relation(r.head, r.type, r.tail, {"rank": r.properties["rank"] + 0.5}, ["web"])
                                  for r in films]))               # a second source, the column widened to DOUBLE
    assert store.retract(films[:10], "kb.txt") == (0, 10)
    assert not [q for q in statements if "SET e." in q], [q for q in statements if "SET e." in q]
    out, back = _both_directions(store, "HAS_GENRE")
    assert out == back and len(set(out)) == len(out) == 50
    rows = store.read("MATCH (a)-[e:HAS_GENRE]->(b) RETURN a.id, e.rank, e.sources ORDER BY a.id", limit=100).rows
    assert {r[0]: (r[1], r[2]) for r in rows}["film 7"] == (7.5, ["web"])
    assert {r[0]: (r[1], r[2]) for r in rows}["film 20"] == (20.5, ["kb.txt", "web"])
    store.close()


@pytest.mark.slow
def test_a_second_source_keeps_every_edge_readable_both_ways(tmp_path: Path) -> None:
    """The graph of the corruption above, at a size where it showed (15,000 films; with SET in place 2 of 3
    runs lost or doubled hundreds of genre edges in forward scans): both directions agree after a second
    source, and a third ingest creates nothing."""
    import random

    from kg.ingest import ingest

    rng = random.Random(0)
    lines: list[str] = []
    for i in range(15_000):
        lines.append(f"film {i}|directed_by|person {rng.randrange(5_000)}")
        lines += [f"film {i}|has_genre|genre {rng.randrange(20)}" for _ in range(rng.randrange(1, 3))]
        lines.append(f"film {i}|release_year|{1950 + rng.randrange(60)}")
        lines += [f"film {i}|starred_actors|person {rng.randrange(15_000)}" for _ in range(rng.randrange(4))]
    text = "\n".join(dict.fromkeys(lines)) + "\n"
    (tmp_path / "kb.txt").write_text(text)
    (tmp_path / "kb2.txt").write_text(text)
    with EmbeddedStore(tmp_path / "g") as store:
        ingest(store, tmp_path / "kb.txt", progress=False)
        ingest(store, tmp_path / "kb2.txt", progress=False)
        for rel in ("HAS_GENRE", "DIRECTED_BY", "RELEASE_YEAR", "STARRED_ACTORS"):
            out, back = _both_directions(store, rel)
            assert out == back and len(set(out)) == len(out), rel
        assert ingest(store, tmp_path / "kb.txt", progress=False).written.relationships_created == 0


def test_repair_mends_an_edge_stored_twice(tmp_path: Path) -> None:
    """An edge the older SET path left twice (the next ingest could not find it, and created it again):
    ``kgqa repair`` keeps one, with both copies' sources and properties; a second run finds nothing."""
    from click.testing import CliRunner

    from qa.cli import cli

    with EmbeddedStore(tmp_path / "g") as store:
        store.upsert(Batch(relations=[Relation("heat", "directed_by", "mann", {"credited": True}, ["kb.txt"]),
                                      Relation("heat", "has_genre", "crime", {}, ["kb.txt"])]))
        store._run("MATCH (a:Entity {id: 'heat'}), (b:Entity {id: 'mann'}) "
                   "CREATE (a)-[:DIRECTED_BY {sources: ['web']}]->(b)")        # as the bug left it
        assert len(_both_directions(store, "DIRECTED_BY")[0]) == 2
    run = CliRunner().invoke(cli, ["--path", str(tmp_path / "g"), "repair"])
    assert run.exit_code == 0 and run.output == "rebuilt DIRECTED_BY: 1 edges\n", run.output
    with EmbeddedStore(tmp_path / "g") as store:
        [rel] = [r for r in store.neighbours("heat", "out") if r.type == "DIRECTED_BY"]
        assert (rel.sources, rel.properties) == (["kb.txt", "web"], {"credited": True})
        assert _both_directions(store, "DIRECTED_BY")[0] == [("heat", "mann")]
        assert store.repair() == {}
