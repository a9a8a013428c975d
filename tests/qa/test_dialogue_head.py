"""The dialogue head: reference replies, the grounding check, and a tiny random LM (SmolLM2's real
tokenizer) with gated cross-attention that learns to tell two replies apart from its KG memory alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from kg.store.base import build_export
from qa.chat.conversation import Reply, Resolution
from qa.chat.replies import Entities, NameFinder, grounding, name_list, prompt_text, reference_reply
from qa.types import Answer, Evidence, Prediction, Step
from retrieval.snapshot import GraphSnapshot

TRIPLES = [("Heat", "DIRECTED_BY", "Michael Mann"), ("Thief", "DIRECTED_BY", "Michael Mann"),
           ("Heat", "RELEASE_YEAR", "1995"), ("Heat", "HAS_TAGS", "film"), ("Up", "DIRECTED_BY", "Pete Docter"),
           ("Romeo and Juliet", "DIRECTED_BY", "Franco Zeffirelli")]


@pytest.fixture(scope="module")
def snap() -> GraphSnapshot:
    names = sorted({h for h, _, _ in TRIPLES} | {t for _, _, t in TRIPLES})
    return GraphSnapshot.from_export(build_export([(n, n) for n in names], TRIPLES))


def reply(text: str, topic: str | None, answers: list[tuple[str, list[Step]]], memory: dict | None = None) -> Reply:
    ans = [Answer(a, a, 0.9 - 0.1 * k, [Evidence(steps, 1.0, "MATCH ...")]) for k, (a, steps) in enumerate(answers)]
    pred = Prediction(text, [topic] if topic else [], [(a.entity_id, a.score) for a in ans], ans, memory=memory)
    return Reply(Resolution(text, text, topic, "linked"), pred)


def test_reference_replies_state_the_answers_over_their_evidence(snap) -> None:
    one = reply("who directed Heat", "Heat", [("Michael Mann", [Step("Heat", "DIRECTED_BY", "Michael Mann")])])
    assert reference_reply(one, snap) == "Michael Mann directed Heat."
    assert reference_reply(one, snap, pointers=True) == "E1 directed E0."
    rev = reply("what did Michael Mann direct", "Michael Mann",
                [("Heat", [Step("Heat", "DIRECTED_BY", "Michael Mann")]),
                 ("Thief", [Step("Thief", "DIRECTED_BY", "Michael Mann")])])
    assert reference_reply(rev, snap) == "Michael Mann directed Heat and Thief."
    path = [Step("Heat", "DIRECTED_BY", "Michael Mann"), Step("Thief", "DIRECTED_BY", "Michael Mann")]
    two = reply("films with the director of Heat", "Heat", [("Thief", path)])
    assert reference_reply(two, snap) == ("Thief. For example, Michael Mann directed Heat, "
                                          "and Michael Mann directed Thief.")
    assert reference_reply(two, snap, pointers=True) == "E1. For example, E2 directed E0, and E2 directed E1."
    assert reference_reply(reply("who wrote Heat", "Heat", []), snap) == "The graph holds no answer to that about Heat."
    assert reference_reply(reply("who wrote it", None, []), snap).startswith("I could not find")
    assert name_list([f"F{i}" for i in range(8)]) == "F0, F1, F2, F3, F4 and 3 more"
    p = prompt_text(two, snap)
    assert "about: E0 Heat" in p and "answers: E1 Thief" in p and "also: E2 Michael Mann" in p
    assert "facts: E0 DIRECTED_BY E2; E1 DIRECTED_BY E2" in p


def test_pointers_render_as_the_evidence_names(snap) -> None:
    path = [Step("Heat", "DIRECTED_BY", "Michael Mann"), Step("Thief", "DIRECTED_BY", "Michael Mann")]
    table = Entities.of(reply("films with the director of Heat", "Heat", [("Thief", path)]), snap)
    assert table.ids == ["Heat", "Thief", "Michael Mann"]
    assert table.render("E2 directed E0 and E1.") == "Michael Mann directed Heat and Thief."
    assert table.render("E7 directed E0.") == " directed Heat."              # no such entity: nothing said
    assert table.render_stable("E2 directed E") == "Michael Mann directed "  # "E1…" may still grow
    genre = Entities(["Heat", "Action", "Drama"], ["Heat", "Action", "Drama"])
    assert genre.render("E0 is a E1 film, and E0 is a E2 film.") == "Heat is an Action film, and Heat is a Drama film."
    assert genre.render_stable("E0 is a") == genre.render_stable("E0 is a E") == "Heat is "  # "a" or "an": not yet


def test_grounding_finds_names_that_the_evidence_does_not_hold(snap) -> None:
    finder = NameFinder.for_snapshot(snap)
    r = reply("who directed Heat", "Heat", [("Michael Mann", [Step("Heat", "DIRECTED_BY", "Michael Mann")])])
    ok = grounding("Michael Mann directed Heat, a film and 3 more.", r, snap, finder)
    assert ok.mentioned == ["Michael Mann", "Heat"] and ok.unsupported == [] and ok.has_top_answer
    bad = grounding("Pete Docter directed Heat in 1995.", r, snap, finder)
    assert bad.unsupported == ["Pete Docter", "1995"] and bad.has_top_answer is False
    # longest match: the film, not a stray "Juliet"; case-sensitive: "up" is not the film Up
    assert finder.find("Romeo and Juliet is up there") == ["Romeo and Juliet"]


def tiny_lm_folder(folder: Path) -> Path:
    """A tiny random Llama (2 layers, width 64) with SmolLM2's real tokenizer, saved in ``folder``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from qa.chat.dialogue_head import bundled_tokenizer

    tok = bundled_tokenizer()
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                      tie_word_embeddings=True, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id,
                      initializer_range=0.5)  # embeddings wide enough that a frozen tied head can peak
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_lm_folder(tmp_path_factory.mktemp("tiny_lm"))


@pytest.mark.usefixtures("one_torch_thread")
def test_the_head_reads_its_kg_memory_and_streams(tiny_base: Path, snap, tmp_path: Path) -> None:
    from qa.chat.dialogue_head import DialogueHead, DialogueHeadConfig
    from qa.train.dialogue import batch

    torch.manual_seed(0)
    cfg = DialogueHeadConfig(base=str(tiny_base), memory_dim=8, xattn_layers=[0, 1], lora_layers=2, lora_r=4,
                             max_new_tokens=8)
    head = DialogueHead(cfg)
    head.snapshot = snap
    base_only = DialogueHead(cfg, lora=False)
    steps = [Step("Heat", "DIRECTED_BY", "Michael Mann")]
    # the same prompt twice; only the memory (the topic's node state) tells the two apart
    a = reply("who directed it", "Heat", [("Michael Mann", steps)], {"Heat": np.ones(8, np.float32)})
    b = reply("who directed it", "Heat", [("Michael Mann", steps)], {"Heat": -np.ones(8, np.float32)})
    assert prompt_text(a, snap) == prompt_text(b, snap)
    # gates start at 0: the untrained head is the base LM, whatever its memory
    ids = torch.tensor([head.prompt_ids(a, snap)])
    with torch.no_grad():
        head._memory.value = head.memory([head.memory_features(a, snap)])
        out = head.lm(input_ids=ids).logits
        head._memory.value = None
        base_only.lm.load_state_dict({k: v for k, v in head.lm.get_base_model().state_dict().items()
                                      if "lora_" not in k}, strict=False)
        ref = base_only.lm(input_ids=ids).logits
    assert torch.allclose(out, ref, atol=1e-5)

    from qa.train.dialogue import Example

    tok = head.tokenizer
    targets = {"alpha": a, "omega": b}
    examples = [Example(head.prompt_ids(r, snap), [*tok.encode(" " + t, add_special_tokens=False), tok.eos_token_id],
                        head.memory_features(r, snap)) for t, r in targets.items()]
    params = [p for p in head.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=3e-3)
    for _ in range(150):
        loss = head.loss(*batch(examples, tok.eos_token_id))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.05
    head.eval()
    head.constrained = False   # "alpha" and "omega" are no true replies: this test is of the LM and its memory
    assert head.generate(a) == "alpha" and head.generate(b) == "omega"
    assert any(abs(float(x.gate)) > 1e-3 for x in head.xattn)
    pieces = list(head.stream(b))
    assert "".join(pieces).strip() == "omega" and len(pieces) >= 1

    head.save(tmp_path / "head")
    loaded = DialogueHead.load(tmp_path / "head", snap)          # LoRA merged into the LM
    assert loaded.generate(a, constrained=False) == "alpha" and loaded.generate(b, constrained=False) == "omega"
    # held to the true replies, the same head can only say what the evidence holds
    assert loaded.generate(a) == "Michael Mann directed Heat." == loaded.generate(b)


def test_loading_a_folder_without_a_head_says_what_to_do(tmp_path: Path) -> None:
    from kg.errors import ConfigError
    from qa.chat.dialogue_head import DialogueHead

    with pytest.raises(ConfigError, match="train one"):
        DialogueHead.load(tmp_path)
