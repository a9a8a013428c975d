"""``kgqa train --resume``: a trained model adapted to a graph whose relation types changed.

Units on tiny random models: the relation vocabulary is mapped by name, every relation-indexed tensor is
found and remapped, and before fine-tuning the adapted model scores a subgraph of kept types exactly as
the old one did. End to end (a real model, seconds): a graph that gained a type and lost one still loads
with a note naming both, ``kgqa train --resume`` adapts the model, and the new type's questions are
answered while the old ones still are.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from encoders.fusion import FusionBatch, FusionConfig, KGFusionModel
from encoders.gnn import GNNConfig
from kg.errors import ConfigError
from qa.train.resume import RelationMap, adapt, relation_axes
from tests.conftest import write_lines

pytestmark = pytest.mark.usefixtures("one_torch_thread")

OLD = ["A", "B", "C"]
NEW = ["D", "C", "A"]             # B gone, D added, the order changed
TEXT = 8


def test_relation_map_matches_types_by_name() -> None:
    m = RelationMap.between(OLD, NEW)
    assert m.source == [None, 2, 0]
    assert (m.kept, m.added, m.gone) == (["C", "A"], ["D"], ["B"])
    assert m.summary() == "3 relation types: 2 kept, 1 added (D), 1 gone (B)"
    assert RelationMap.between(OLD, OLD).identity
    with pytest.raises(ConfigError, match="repeat a name"):
        RelationMap.between(["A", "A"], NEW)


def _config(kind: str, add_reverse: bool = True, num_bases: int | None = 4) -> FusionConfig:
    return FusionConfig(hidden=16, heads=2, fusion_layers=1, max_hops=2, dropout=0.0,
                        gnn=GNNConfig(kind=kind, layers=2, dropout=0.0, add_reverse=add_reverse, num_bases=num_bases))


def test_relation_axes_are_every_tensor_sized_by_the_relation_count() -> None:
    axes = relation_axes(_config("compgcn"), TEXT)
    assert set(axes) == {"rel_head.weight", "rel_head.bias", "step_head.0.weight", "gnn.rel_emb"}
    assert (axes["step_head.0.weight"].axis, axes["step_head.0.weight"].offset) == (1, 2 * TEXT)  # after the text
    assert axes["gnn.rel_emb"].blocks == 2 and axes["rel_head.weight"].blocks == 2              # forward, reverse
    assert relation_axes(_config("compgcn", add_reverse=False), TEXT)["gnn.rel_emb"].blocks == 1
    rgcn = relation_axes(_config("rgcn"), TEXT)
    assert {"gnn.convs.0.comp", "gnn.convs.1.comp"} <= set(rgcn) and "gnn.convs.0.weight" not in rgcn
    assert "gnn.convs.0.weight" in relation_axes(_config("rgcn", num_bases=None), TEXT)   # one matrix per type
    assert set(relation_axes(FusionConfig(hidden=16, heads=2, mode="no_graph"), TEXT)) == {
        "rel_head.weight", "rel_head.bias", "step_head.0.weight"}


def _random_model(config: FusionConfig, relations: int) -> KGFusionModel:
    torch.manual_seed(0)
    model = KGFusionModel(config, relations, TEXT).eval()
    with torch.no_grad():
        for p in model.parameters():                  # no zero or constant tensor: a wrong copy shows
            p.add_(torch.randn_like(p) * 0.2)
    return model


def _batch(types: list[int], relations: int) -> FusionBatch:
    """Two 3-node chains whose edges have ``types``; topic signature = the types present (both directions)."""
    sig = torch.zeros(2, 2 * relations)
    for t in types:
        sig[:, t] = sig[:, relations + t] = 1.0
    g = torch.Generator().manual_seed(1)
    return FusionBatch(torch.randn(6, TEXT, generator=g), torch.tensor([[0, 1, 3, 4], [1, 2, 4, 5]]),
                       torch.tensor(types), torch.tensor([0, 0, 0, 1, 1, 1]),
                       torch.tensor([True, False, False, True, False, False]), 2, sig)


@pytest.mark.parametrize("kind,add_reverse,num_bases", [("compgcn", True, 4), ("compgcn", False, 4),
                                                        ("rgcn", True, 4), ("rgcn", True, None)])
def test_adapt_copies_every_weight_and_keeps_the_old_answers(kind: str, add_reverse: bool,
                                                             num_bases: int | None) -> None:
    old = _random_model(_config(kind, add_reverse, num_bases), len(OLD))
    new, rmap = adapt(old, OLD, NEW)
    new.eval()
    assert new.num_relations == 3 and rmap.added == ["D"]
    a, c = OLD.index("A"), OLD.index("C")
    na, nc, nd = NEW.index("A"), NEW.index("C"), NEW.index("D")
    w_old, w_new = old.rel_head.weight, new.rel_head.weight                              # (2R, d)
    for o, n in ((a, na), (c, nc), (3 + a, 3 + na), (3 + c, 3 + nc)):                    # forward and reverse rows
        assert torch.equal(w_new[n], w_old[o])
    assert torch.allclose(w_new[nd], w_old[:3].mean(0)) and torch.allclose(w_new[3 + nd], w_old[3:].mean(0))
    cols_old, cols_new = old.step_head[0].weight[:, 2 * TEXT:], new.step_head[0].weight[:, 2 * TEXT:]
    assert torch.equal(cols_new[:, [na, 3 + na]], cols_old[:, [a, 3 + a]])
    assert not cols_new[:, [nd, 3 + nd]].any()                                           # a new input starts mute
    assert torch.equal(new.step_head[0].weight[:, :2 * TEXT], old.step_head[0].weight[:, :2 * TEXT])

    # The same question over a subgraph of kept types (numbered by each model's vocabulary): same scores.
    tok, mask = torch.randn(2, 4, TEXT, generator=torch.Generator().manual_seed(2)), torch.ones(2, 4, dtype=torch.bool)
    before = old(tok, mask, _batch([a, c, c, a], 3))
    after = new(tok, mask, _batch([na, nc, nc, na], 3))
    assert torch.allclose(before.scores, after.scores, atol=1e-5)
    assert torch.allclose(before.relation_weights[..., a], after.relation_weights[..., na])


def test_adapt_keeps_the_rgcn_basis_count_when_the_types_grow() -> None:
    """R-GCN uses min(num_bases, 2R) bases: one type (2 bases) grown to three keeps its 2, so they carry over."""
    old = _random_model(_config("rgcn"), 1)
    new, _ = adapt(old, ["A"], ["A", "B", "C"])
    assert new.config.gnn.num_bases == 2
    tok, mask = torch.randn(2, 4, TEXT), torch.ones(2, 4, dtype=torch.bool)
    before, after = old(tok, mask, _batch([0, 0, 0, 0], 1)), new.eval()(tok, mask, _batch([0, 0, 0, 0], 3))
    assert torch.allclose(before.scores, after.scores, atol=1e-5)


def test_synthesised_questions_about_added_types_train_and_validate(tmp_path: Path) -> None:
    """With ``synth_about``, every synthesised question walks one of those types, and beside question files
    their fixed 10% validates too (without it, synthesised questions only train)."""
    from qa.train.qa import TrainConfig, split_questions
    from tests.qa.films import TRAIN, make_snapshot, make_store, questions

    store = make_store(tmp_path)
    snapshot = make_snapshot(store)
    store.close()
    files = sorted({q.source.rsplit(":", 1)[0] for q in questions(tmp_path, TRAIN)})
    cfg = TrainConfig(questions=files, synthesise=300, synonyms=0, synth_about=["WRITTEN_BY"])
    train, val, _ = split_questions(cfg, snapshot)
    synth = [q for q in train + val if q.source.startswith("synth:")]
    assert len(synth) > 100 and all("WRITTEN_BY" in q.extra["path"] for q in synth)
    assert any(q.source.startswith("synth:") for q in val) and any(q.source.startswith("synth:") for q in train)
    paths = {q.extra["path"] for q in synth}
    assert {"WRITTEN_BY>", "<WRITTEN_BY"} <= paths and any(" / " in p for p in paths)   # 1 and 2 hops, both ways
    plain = TrainConfig(questions=files, synthesise=300, synonyms=0)
    assert not any(q.source.startswith("synth:") for q in split_questions(plain, snapshot)[1])


# -- end to end ----------------------------------------------------------------------------------
def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(__import__("qa.cli", fromlist=["cli"]).cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.slow
def test_resume_adapts_a_model_to_a_new_relation_type_and_a_lost_one(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from kg.models import Relation
    from kg.store.embedded import EmbeddedStore
    from qa.answer.answerer import load_answerer
    from qa.data.questions import Question, load_questions, split_validation
    from tests.qa.test_train import synthetic_graph, tiny_config

    monkeypatch.delenv("KGQA_STORE", raising=False)
    monkeypatch.delenv("KGQA_STORE_PATH", raising=False)
    kb, files = synthetic_graph(tmp_path)
    cfg = tiny_config(tmp_path, kb, files, 1.0).to_dict()
    del cfg["output_dir"]
    cfg.update(max_steps=60, synonyms=0)
    config = tmp_path / "train.json"
    config.write_text(json.dumps(cfg))
    store = ["--path", str(tmp_path / "g")]
    model = tmp_path / "g" / "models" / "qa"
    code, out, err = invoke(*store, "train", str(config))
    assert code == 0, out + err
    old_relations = json.loads((model / "config.json").read_text())["relations"]
    assert "HAS_GENRE" in old_relations

    # The graph gains a type (each film's language) and loses one (every genre fact retracted).
    rnd = random.Random(1)
    language = {f"Film {i}": rnd.choice(["French", "German", "Japanese", "Spanish"]) for i in range(60)}
    new_facts = write_lines(tmp_path / "languages.txt", [f"{f}|in_language|{x}" for f, x in language.items()])
    with EmbeddedStore(tmp_path / "g") as st:
        genres = [line.split("|") for line in kb.read_text().splitlines() if "|has_genre|" in line]
        assert st.delete_relations([Relation(h, r, t) for h, r, t in genres]) == 60

    # The old model still loads and answers, and says what it leaves out (ask, eval; serve keeps it as its note).
    kept = [q for f in files for q in split_validation(load_questions(f))[1] if "genre" not in q.text]
    about_language = [Question(f"what is the language of [{f}]", (x,), f) for f, x in language.items()]

    def hits(answerer, qs: list[Question]) -> float:
        preds = answerer.predict(qs)
        return sum(bool(p.ranked) and p.ranked[0][0] in q.answers for p, q in zip(preds, qs, strict=True)) / len(qs)

    code, out, err = invoke(*store, "ingest", str(new_facts), "--no-progress")
    assert code == 0, out + err
    code, out, err = invoke(*store, "ask", "what is the language of [Film 3]", "--json")
    assert code == 0, out + err
    assert "1 relation type(s) the model was not trained on: IN_LANGUAGE (60 facts)" in err
    assert f"kgqa train --resume {model}" in err
    assert "no longer has 1 relation type(s) the model was trained on: HAS_GENRE" in err
    code, out, err = invoke(*store, "eval", str(files[0]), "--limit", "5")
    assert code == 0 and "IN_LANGUAGE" in err and "HAS_GENRE" in err, out + err
    old = load_answerer(model)
    assert hits(old, about_language) == 0.0                       # its facts are left out
    old_before = hits(old, kept)

    from qa.api.service import Service
    from qa.api.settings import ApiSettings

    service = Service(ApiSettings(model_dir=model))
    try:
        assert "IN_LANGUAGE" in service.model_note and "HAS_GENRE" in service.model_note   # /stats shows it
    finally:
        service.close()

    code, out, err = invoke(*store, "train", str(config), "--resume", str(model))
    assert code == 2 and "leave out CONFIG" in err
    code, out, err = invoke(*store, "train", "--resume", str(model), "--max-steps", "80", "--synthesise", "300")
    assert code == 0, out + err
    assert "4 relation types: 3 kept, 1 added (IN_LANGUAGE), 1 gone (HAS_GENRE)" in out
    assert "validation Hits@1 synthesised about IN_LANGUAGE" in out
    assert f"wrote {model} (the model it held: {model}.previous)" in out

    saved = json.loads((model / "config.json").read_text())
    with EmbeddedStore(tmp_path / "g") as st:
        from retrieval.snapshot import GraphSnapshot

        assert saved["relations"] == list(GraphSnapshot.from_store(st).relations)
    assert saved["resumed"]["added"] == ["IN_LANGUAGE"] and saved["resumed"]["gone"] == ["HAS_GENRE"]
    assert saved["train"]["output_dir"] == str(model)
    assert json.loads((tmp_path / "g" / "models" / "qa.previous" / "config.json").read_text())["relations"] == \
        old_relations
    assert (model / "linker_prior.json").exists() and not list(tmp_path.glob("g/models/.qa.resuming"))

    # What fine-tuning started from: the trained model's weights, a kept type's rows where its name now is.
    from qa.answer.checkpoint import load_model
    from qa.train.resume import adapt

    trained, _ = load_model(tmp_path / "g" / "models" / "qa.previous")
    start, _ = adapt(trained, old_relations, saved["relations"])
    r_old, r_new = len(old_relations), len(saved["relations"])
    o, n = old_relations.index("DIRECTED_BY"), saved["relations"].index("DIRECTED_BY")
    assert torch.equal(start.rel_head.weight[[n, r_new + n]], trained.rel_head.weight[[o, r_old + o]])
    assert torch.equal(start.gnn.rel_emb[[n, r_new + n]], trained.gnn.rel_emb[[o, r_old + o]])

    code, out, err = invoke(*store, "ask", "what is the language of [Film 3]", "--json")
    assert code == 0 and "note:" not in err, out + err
    assert [a["name"] for a in json.loads(out)["answers"]][:1] == [language["Film 3"]]
    new = load_answerer(model)
    assert new.notes == []
    assert hits(new, about_language) >= 0.9           # 0.98 measured: from questions synthesised from the graph
    assert hits(new, kept) >= old_before - 0.05        # the old types still answer (0.87 -> 0.87 measured)
