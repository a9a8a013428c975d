"""``kgqa train``, ``kgqa ask`` and ``kgqa eval`` as a user runs them, on both graph stores.

Training reads the graph from the store the CLI names (the config's kb is ingested into it first),
and the evidence Cypher that ``ask`` prints returns its path from that same store.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.cli import cli
from tests.conftest import write_lines
from tests.qa.test_train import synthetic_graph, tiny_config

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.slow]


def config_file(tmp_path: Path, kb: Path, files: list[Path], budget: float) -> Path:
    cfg = tiny_config(tmp_path, kb, files, budget).to_dict()
    del cfg["output_dir"]                                   # kgqa train writes beside the store
    path = tmp_path / "train.json"
    path.write_text(json.dumps(cfg))
    return path


def invoke(store_args: list[str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*store_args, *args])
    return result.exit_code, result.stdout + result.stderr


def check_evidence_runs_in_the_store(store_args: list[str], prediction: dict) -> None:
    """Every answer's first evidence path, run as the Cypher ``ask`` gives, returns a row from the store."""
    assert prediction["answers"], prediction
    for answer in prediction["answers"][:3]:
        ev = answer["evidence"][0]
        code, out = invoke(store_args, "cypher", ev["cypher"], "--json",
                           *[x for k, v in ev["params"].items() for x in ("--param", f"{k}={v}")])
        assert code == 0, out
        assert json.loads(out)["rows"], (ev, out)


def test_train_ask_eval_on_the_embedded_store(tmp_path: Path) -> None:
    kb, files = synthetic_graph(tmp_path)
    store = ["--store", "embedded", "--path", str(tmp_path / "g")]
    code, out = invoke(store, "ask", "who directed [Film 3]")
    assert code == 2 and "run kgqa train first" in out                     # no model yet: one clear line

    code, out = invoke(store, "train", str(config_file(tmp_path, kb, files, 1.0)))
    assert code == 0, out
    assert "ingest" in out and "validation Hits@1 1-hop" in out
    model = tmp_path / "g" / "models" / "qa"                               # beside the store by default
    assert (model / "model.safetensors").exists() and (model / "curves.png").exists()
    trained_on = json.loads((model / "config.json").read_text())["train"]["store"]
    assert trained_on == {"backend": "embedded", "path": str((tmp_path / "g").resolve())}

    code, out = invoke(store, "ask", "who directed [Film 3]")
    assert code == 0, out
    assert "topic: Film 3 (Film 3)" in out and "answer: " in out and "cypher: MATCH p = " in out
    code, out = invoke(store, "ask", "who directed [Film 3]", "--json")
    check_evidence_runs_in_the_store(store, json.loads(out))

    code, out = invoke(store, "ask", "who directed the film Zorblax")
    assert code == 0 and "no entity of the graph found" in out

    report = tmp_path / "eval.json"
    code, out = invoke(store, "eval", str(files[0]), str(files[1]), "--json", str(report))
    assert code == 0, out
    assert "Hits@1" in out and "1-hop" in out and "2-hop" in out
    data = json.loads(report.read_text())
    assert data["overall"]["questions"] == sum(len(f.read_text().splitlines()) for f in files)
    code, out = invoke(store, "eval", str(files[0]), "--strip-brackets", "--by", "type", "--limit", "20")
    assert code == 0, out
    assert "who directed NE" in out

    # Facts of a relation type the model never saw: it still loads and answers, leaves them out, says so.
    code, before = invoke(store, "ask", "who directed [Film 3]", "--json")
    new_facts = write_lines(tmp_path / "new.txt", ["Film 3|filmed_in|Paris", "Film 4|filmed_in|Paris"])
    assert invoke(store, "ingest", str(new_facts), "--no-progress")[0] == 0
    result = CliRunner().invoke(cli, [*store, "ask", "who directed [Film 3]", "--json"])
    assert result.exit_code == 0, result.output
    assert "1 relation type(s) the model was not trained on: FILMED_IN (2 facts)" in result.stderr
    def names(out: str) -> list[str]:
        return [a["name"] for a in json.loads(out)["answers"]]

    assert names(result.stdout) == names(before)


@pytest.mark.neo4j
def test_train_reads_a_neo4j_store_and_its_evidence_runs_there(tmp_path: Path, neo4j,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The same pipeline with Neo4j as the store: ingest, snapshot, train, ask, and the Cypher checks out."""
    from tests.conftest import NEO4J_PASSWORD, NEO4J_URI, NEO4J_USER

    monkeypatch.setenv("NEO4J_USER", NEO4J_USER)
    monkeypatch.setenv("NEO4J_PASSWORD", NEO4J_PASSWORD)

    kb, files = synthetic_graph(tmp_path)
    store = ["--store", "neo4j", "--uri", NEO4J_URI]
    out_dir = tmp_path / "model"
    code, out = invoke(store, "train", str(config_file(tmp_path, kb, files, 0.3)), "--out", str(out_dir))
    assert code == 0, out
    assert neo4j.stats().relations == len(kb.read_text().splitlines())     # the kb went into Neo4j
    assert json.loads((out_dir / "config.json").read_text())["train"]["store"]["backend"] == "neo4j"
    assert "password" not in (out_dir / "config.json").read_text()
    code, out = invoke(store, "ask", "who directed [Film 3]", "--model", str(out_dir), "--json")
    assert code == 0, out
    check_evidence_runs_in_the_store(store, json.loads(out))


def test_chat_resolves_follow_ups_and_takes_commands(tmp_path: Path) -> None:
    """``kgqa chat`` over a trained model: a question, a follow-up about "that film", /history, /reset."""
    kb, files = synthetic_graph(tmp_path)
    store = ["--store", "embedded", "--path", str(tmp_path / "g")]
    code, out = invoke(store, "train", str(config_file(tmp_path, kb, files, 1.0)))
    assert code == 0, out
    lines = "who directed [Film 3]\nwhen was that film released\n/history\n/evidence\n/reset\n/history\n/quit\n"
    result = CliRunner().invoke(cli, [*store, "chat"], input=lines)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "('that film' = Film 3)" in out
    assert "when was that film released  ->  when was [Film 3] released  [reference]" in out
    assert "cypher: MATCH p = " in out and "(conversation reset)" in out
    assert (tmp_path / "g" / "models" / "qa" / "resolver.json").exists()      # fitted once, kept beside the model

    # with a dialogue head beside the model, the reply is the head's, streamed; --no-head lists answers
    from qa.chat.dialogue_head import DialogueHead, DialogueHeadConfig
    from tests.qa.test_dialogue_head import tiny_lm_folder

    cfg = DialogueHeadConfig(base=str(tiny_lm_folder(tmp_path / "lm")), memory_dim=32, xattn_layers=[1],
                             lora_layers=1, lora_r=2, max_new_tokens=4)
    DialogueHead(cfg).save(tmp_path / "g" / "models" / "qa" / "dialogue")
    result = CliRunner().invoke(cli, [*store, "chat"], input="who directed [Film 3]\nwho acted in it\n")
    assert result.exit_code == 0, result.output
    assert "replies by the dialogue head" in result.output and "(it = Film 3)" in result.output
    result = CliRunner().invoke(cli, [*store, "chat", "--no-head"], input="who directed [Film 3]\n")
    assert "replies by answer lists" in result.output
    result = CliRunner().invoke(cli, [*store, "chat", "--head", str(tmp_path / "nothing")], input="")
    assert result.exit_code != 0 and "train one with `kgqa train-dialogue`" in result.output


def test_train_needs_no_config_and_fits_the_linker_beside_the_model(tmp_path: Path, monkeypatch) -> None:
    """`kgqa train --kb KB --questions FILE...` with the defaults; the linker's prior is fitted on the
    training questions' brackets and saved beside the model, so plain questions find their topic."""
    kb, files = synthetic_graph(tmp_path)
    monkeypatch.chdir(tmp_path)                            # the default caches are relative to the working folder
    store = ["--path", str(tmp_path / "g")]
    code, out = invoke(store, "train")
    assert code == 2 and "--kb" in out                     # no graph, no store yet: one line that says what to do
    code, out = invoke(store, "train", "--kb", str(kb), "--questions", str(files[0]), "--questions", str(files[1]),
                       "--max-steps", "80", "--budget-minutes", "2")
    assert code == 0, out
    model = tmp_path / "g" / "models" / "qa"
    assert (model / "linker_prior.json").exists() and "linker prior: trained on" in out
    saved = json.loads((model / "config.json").read_text())["train"]
    assert saved["questions"] == [str(f) for f in files] and saved["kb"] == str(kb)
    code, out = invoke(store, "ask", "who directed Film 3")     # no brackets
    assert code == 0 and "topic: Film 3 (Film 3)" in out, out


def test_train_zero_shot_from_the_graph_alone(tmp_path: Path, monkeypatch) -> None:
    """No question file: questions synthesised from the graph's relation paths and names."""
    kb, _ = synthetic_graph(tmp_path)
    monkeypatch.chdir(tmp_path)
    store = ["--path", str(tmp_path / "g")]
    code, out = invoke(store, "train", "--kb", str(kb), "--synthesise", "600", "--max-steps", "60",
                       "--budget-minutes", "2")
    assert code == 0, out
    assert "zero-shot" in out and "validation Hits@1 all" in out
    model = tmp_path / "g" / "models" / "qa"
    report = json.loads((model / "report.json").read_text())
    # no prior from synthesised questions (their topics sit where the templates put them); the
    # untrained linker links a whole name as typed
    assert report["train_questions"] > 300 and not (model / "linker_prior.json").exists()
    code, out = invoke(store, "ask", "what is the director of [Film 3]", "--json")
    assert code == 0, out
    assert json.loads(out)["answers"], out
    code, out = invoke(store, "ask", "who is the director of Film 3")
    assert code == 0 and "topic: Film 3 (Film 3)" in out, out
