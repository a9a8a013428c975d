"""``kgqa pretrain`` and ``kgqa similar`` as a user runs them on the bundled sample graph."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.cli import cli
from tests.conftest import SAMPLE

pytest.importorskip("torch_geometric")


def run(*args: str, path: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--store", "embedded", "--path", str(path), *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.slow
def test_pretrain_then_similar_explains_its_neighbours(tmp_path: Path) -> None:
    g = tmp_path / "g"
    assert run("ingest", str(SAMPLE), "--no-progress", path=g)[0] == 0
    code, out, err = run("pretrain", "--hidden", "32", "--epochs", "2", "--budget-s", "20", "--json", path=g)
    assert code == 0, out + err
    report = json.loads(out)
    assert set(report["metrics"]) == {"gnn", "distmult"}
    assert 0.0 < report["metrics"]["gnn"]["mrr"] <= 1.0
    assert (g / "models" / "gnn").is_dir()
    assert not list((g / "models" / "gnn").glob("*.pt")) and list((g / "models" / "gnn").glob("*.safetensors"))

    code, out, err = run("similar", "Forrest Gump", "-k", "3", "--json", path=g)
    assert code == 0, out + err
    result = json.loads(out)
    assert result["entity"] == "Forrest Gump" and len(result["similar"]) == 3
    assert all(r["entity_id"] != "Forrest Gump" for r in result["similar"])
    scores = [r["score"] for r in result["similar"]]
    assert scores == sorted(scores, reverse=True)
    # Every shared neighbour really is a neighbour of both, with the relations named.
    for r in result["similar"]:
        for sh in r["shared"]:
            code, rows, _ = run("cypher", "MATCH (a {id: $a})--(n {id: $n})--(b {id: $b}) RETURN count(*) AS c",
                                "--param", "a=Forrest Gump", "--param", f"n={sh['neighbour_id']}",
                                "--param", f"b={r['entity_id']}", "--json", path=g)
            assert json.loads(rows)["rows"][0]["c"] >= 1

    code, _, err = run("similar", "No Such Film 123", path=g)
    assert code == 2 and "no entity" in err


def test_similar_without_pretraining_says_what_to_do(tmp_path: Path) -> None:
    g = tmp_path / "g"
    assert run("ingest", str(SAMPLE), "--no-progress", path=g)[0] == 0
    code, _, err = run("similar", "Forrest Gump", path=g)
    assert code == 2 and "kgqa pretrain" in err
