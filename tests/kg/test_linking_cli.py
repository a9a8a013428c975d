"""``kgqa link`` and ``kgqa train-linker`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from kg.store.embedded import EmbeddedStore
from qa.cli import cli
from tests.conftest import write_lines
from tests.kg.test_linking import TRAINING, film_batch


def run(*args: str, path: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--store", "embedded", "--path", str(path), *args])
    return result.exit_code, result.stdout, result.stderr


def films(tmp_path: Path) -> Path:
    path = tmp_path / "graph"
    store = EmbeddedStore(path)
    store.upsert(film_batch())
    store.close()
    return path


def test_link_shows_mentions_candidates_and_choice(tmp_path: Path) -> None:
    g = films(tmp_path)
    code, out, err = run("link", "who directed heat", path=g)
    assert code == 0, err
    assert "'heat' 13:17 -> Heat" in out
    assert "Heat  (exact)" in out and "heat  (exact)" in out  # the film and the tag, scored
    assert "topic entity: Heat" in out and "untrained" in out and "index built" in out
    assert (g / "linker" / "graph" / "meta.json").exists()

    code, out, _ = run("link", "who directed Forest Gumpp", "--json", path=g)
    assert code == 0
    data = json.loads(out)
    assert data["topic"] == "Forrest Gump" and data["fuzzy"] is True
    mention = next(m for m in data["mentions"] if m["entity_id"] == "Forrest Gump")
    assert (mention["start"], mention["end"], mention["text"]) == (13, 25, "Forest Gumpp")
    assert mention["candidates"][0]["source"] == "fuzzy"

    code, out, _ = run("link", "what is the capital of France", path=g)
    assert code == 0 and "topic entity: none" in out


def test_train_linker_saves_a_prior_that_link_uses(tmp_path: Path) -> None:
    g = films(tmp_path)
    questions = write_lines(tmp_path / "train.txt", [f"{q}\tanswer" for q in TRAINING])
    code, out, err = run("train-linker", str(questions), path=g)
    assert code == 0, err
    assert f"trained on {len(TRAINING)} question(s)" in out
    assert (g / "linker" / "prior.json").exists()

    code, out, _ = run("link", "what genre is up", path=g)
    assert code == 0
    assert f"prior from {len(TRAINING)} questions" in out and "index cached" in out
    assert "topic entity: Up" in out


def test_link_errors_are_one_line(tmp_path: Path) -> None:
    code, _, err = run("link", "who directed Up", path=tmp_path / "nothing-here")
    assert code == 2 and err.startswith("error: no graph at") and "Traceback" not in err
    g = films(tmp_path)
    bad = write_lines(tmp_path / "prior.json", ["not json"])
    code, _, err = run("link", "who directed Up", "--prior", str(bad), path=g)
    assert code == 2 and "not a linker prior" in err
