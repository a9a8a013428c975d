"""The ``kgqa`` command line, as an ingestion script or an explorer would use it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.cli import cli
from tests.conftest import ROOT, SAMPLE, write_lines


def run(*args: str, path: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--store", "embedded", "--path", str(path), *args])
    return result.exit_code, result.stdout, result.stderr


def test_ingest_stats_cypher_export(tmp_path: Path) -> None:
    g = tmp_path / "g"
    code, out, _ = run("ingest", str(SAMPLE), "--no-progress", path=g)
    assert code == 0, out
    triples = {line for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line}
    assert f"created {len({t.split('|')[0] for t in triples} | {t.split('|')[2] for t in triples}):,} entities" in out
    assert f"{len(triples):,} relations" in out

    code, out, _ = run("stats", "--json", path=g)
    assert code == 0
    assert json.loads(out)["relations"] == len(triples)

    code, out, _ = run("cypher", "MATCH (m)-[:DIRECTED_BY]->(d {name: $n}) RETURN m.name AS film ORDER BY film",
                       "--param", "n=Steven Spielberg", "--json", path=g)
    assert code == 0, out
    films = [r["film"] for r in json.loads(out)["rows"]]
    expected = sorted({t.split("|")[0] for t in triples if t.endswith("|directed_by|Steven Spielberg")})
    assert films == expected and films

    npz = tmp_path / "graph.npz"
    code, out, _ = run("export", str(npz), path=g)
    assert code == 0 and npz.exists()
    import numpy as np

    data = np.load(npz, allow_pickle=True)
    assert data["edge_index"].shape == (2, len(triples))
    assert len(data["relations"]) == 9


def test_reingest_creates_nothing(tmp_path: Path) -> None:
    g = tmp_path / "g"
    run("ingest", str(SAMPLE), "--no-progress", path=g)
    code, out, _ = run("ingest", str(SAMPLE), "--json", path=g)
    assert code == 0
    report = json.loads(out)[0]
    assert report["nodes_created"] == 0 and report["relationships_created"] == 0


def test_write_query_is_refused_with_one_line(tmp_path: Path) -> None:
    g = tmp_path / "g"
    run("ingest", str(SAMPLE), "--no-progress", path=g)
    code, _, err = run("cypher", "MATCH (n) DETACH DELETE n", path=g)
    assert code == 2
    assert err.startswith("error: ") and "read-only" in err and "Traceback" not in err
    code, out, _ = run("stats", "--json", path=g)
    assert json.loads(out)["entities"] > 0


def test_row_limit_is_reported(tmp_path: Path) -> None:
    g = tmp_path / "g"
    run("ingest", str(SAMPLE), "--no-progress", path=g)
    code, out, _ = run("cypher", "MATCH (n) RETURN n.id", "--limit", "3", path=g)
    assert code == 0
    assert "3 row(s) (truncated at --limit 3)" in out


def test_malformed_lines_reported_with_file_and_line(tmp_path: Path) -> None:
    src = write_lines(tmp_path / "kb.txt", ["A|directed_by|B", "broken line", "C|starred_actors|", "D|has_genre|E"])
    code, out, _ = run("ingest", str(src), "--no-progress", path=tmp_path / "g")
    assert code == 1  # some records were skipped
    assert "kb.txt:2: expected 3 fields, found 1" in out
    assert "kb.txt:3: empty tail" in out
    assert re.search(r"created 4 entities and 2 relations", out)


def test_strict_aborts_and_keeps_what_was_stored(tmp_path: Path) -> None:
    g = tmp_path / "g"
    run("ingest", str(SAMPLE), "--no-progress", path=g)
    src = write_lines(tmp_path / "bad.txt", ["X|directed_by|Y", "oops"])
    code, _, err = run("ingest", str(src), "--strict", path=g)
    assert code == 2 and "bad.txt:2" in err and "strict" in err
    code, out, _ = run("cypher", "MATCH (n:Entity {id: 'X'}) RETURN count(n) AS c", "--json", path=g)
    assert json.loads(out)["rows"][0]["c"] == 0
    code, out, _ = run("stats", "--json", path=g)
    assert json.loads(out)["relations"] == len({x for x in SAMPLE.read_text().splitlines() if x})


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    code, _, err = run("ingest", str(tmp_path / "nope.txt"), path=tmp_path / "g")
    assert code == 2 and "not found" in err
    odd = tmp_path / "data.xyz"
    odd.write_text("a|b|c\n")
    code, _, err = run("ingest", str(odd), path=tmp_path / "g")
    assert code == 2 and "--format" in err


def test_store_locked_by_another_process_is_a_clear_error(tmp_path: Path) -> None:
    g = tmp_path / "g"
    run("ingest", str(SAMPLE), "--no-progress", path=g)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from kg.store.embedded import EmbeddedStore; "
         f"s = EmbeddedStore({str(g)!r}); print('open', flush=True); time.sleep(30)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        code, _, err = run("ingest", str(SAMPLE), path=g)
        assert code == 2 and "open in another process" in err
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_console_script_demo_runs_end_to_end(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("kgqa")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "qa.cli"]
    out = subprocess.run([*cmd, "--path", str(tmp_path / "g"), "demo", "--budget-minutes", "0.2"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "Steven Spielberg" in out.stdout and "graph: 2,582 entities, 5,211 relations" in out.stdout
    # the QA part: a model trained from the store, three unseen questions answered with evidence
    assert (tmp_path / "g" / "models" / "qa" / "model.safetensors").exists()
    assert "validation Hits@1 1-hop" in out.stdout
    assert out.stdout.count("  topic: ") == 3 and "evidence (" in out.stdout and "cypher: MATCH p = " in out.stdout


def test_ingest_a_folder_of_mixed_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "more").mkdir(parents=True)
    write_lines(src / "a.txt", ["Up|directed_by|Pete Docter"])
    write_lines(src / "more" / "b.tsv", ["Up\thas_genre\tAnimation"])
    (src / "c.ttl").write_text('@prefix ex: <http://ex.org/> .\nex:Up ex:releaseYear 2009 .\n', encoding="utf-8")
    (src / "notes.md").write_text("not a graph file")
    code, out, _ = run("ingest", str(src), "--no-progress", path=tmp_path / "g")
    assert code == 0, out
    code, out, _ = run("stats", "--json", path=tmp_path / "g")
    stats = json.loads(out)
    assert stats["relation_types"] == {"DIRECTED_BY": 1, "HAS_GENRE": 1}
    assert stats["entities"] == 4  # Up, Pete Docter, Animation, ex:Up (an IRI is another id)
