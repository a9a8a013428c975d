"""Fine-tune the dialogue head (:mod:`qa.chat.dialogue_head`) on the dialogue set.

1. The training dialogues (:mod:`qa.data.dialogues`; built from the QA model's training questions
   only) are played through a :class:`qa.chat.conversation.Conversation` with the trained QA model, as a
   user types them: each turn gives a real :class:`~qa.chat.conversation.Reply` (resolution, answers,
   evidence, fused KG memory), errors included.
2. Each reply becomes an example: the prompt (:func:`qa.chat.replies.prompt_text`), its memory, and the
   reference reply (:func:`qa.chat.replies.reference_reply`) as the target. A fraction of the replies
   have their answers removed (target: the graph holds no answer) or their topic too (target:
   nothing found), so that the head learns to say so rather than invent.
3. LoRA, the cross-attention blocks and the memory projection train with AdamW (cosine schedule
   over the time budget); the teacher-forced loss of held-out dialogue turns is logged.

    kgqa train-dialogue [--model runs/qa/metaqa] [--out DIR] [--dialogues 1200]
"""

from __future__ import annotations

import math
import pickle
import random
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qa.chat.dialogue_head import DialogueHead, DialogueHeadConfig
from qa.chat.replies import reference_reply
from qa.data.dialogues import model_dialogues
from qa.types import Prediction


@dataclass
class DialogueTrainConfig:
    """Attributes:
    qa_model: the trained QA model folder (its config names the questions and the graph).
    out_dir: where the head is written (default ``<qa_model>/dialogue``).
    dialogues: training dialogues played (about 2.4 turns each); val_turns: held-out turns scored.
    no_answer / no_topic: fractions of examples turned into "no answer" / "nothing found" ones.
    init_from: a head folder whose trained weights this run starts from (training continued on other
        dialogues: ``seed`` picks them).
    """

    qa_model: str = "runs/qa/metaqa"
    out_dir: str | None = None
    head: dict[str, Any] = field(default_factory=dict)
    dialogues: int = 1200
    val_turns: int = 64
    no_answer: float = 0.1
    no_topic: float = 0.03
    batch_size: int = 16
    lr: float = 5e-4
    epochs: int = 1
    budget_minutes: float = 30.0
    threads: int = 1
    seed: int = 0
    init_from: str | None = None
    cache_dir: str = ".kgqa/cache/dialogue"


@dataclass
class Example:
    prompt: list[int]
    target: list[int]
    features: np.ndarray


def play(answerer: Any, resolver: Any, dialogues: list[Any]) -> list[Any]:
    """Every turn's :class:`~qa.chat.conversation.Reply`, each dialogue in a fresh conversation."""
    from qa.chat.conversation import Conversation

    chat, replies = Conversation(answerer, resolver), []
    for d in dialogues:
        chat.reset()
        replies += [chat.ask(t.text) for t in d.turns]
    return replies


def variants(replies: list[Any], rng: random.Random, no_answer: float, no_topic: float) -> list[Any]:
    """The replies, some with their answers (and topic) removed: the head must learn to say so."""
    from qa.chat.conversation import Reply

    out = []
    for r in replies:
        u = rng.random()
        if u < no_topic:
            res = replace(r.resolution, topic=None)
            r = Reply(res, Prediction(r.prediction.question, [], [], [], memory={}))
        elif u < no_topic + no_answer:
            p = r.prediction
            keep = {t: v for t, v in (p.memory or {}).items() if t in p.topics}
            r = Reply(r.resolution, Prediction(p.question, p.topics, [], [], memory=keep))
        out.append(r)
    return out


def make_examples(head: DialogueHead, replies: list[Any], snapshot: Any) -> list[Example]:
    tok = head.tokenizer
    eos = tok.eos_token_id
    return [Example(head.prompt_ids(r, snapshot),
                    [*tok.encode(" " + reference_reply(r, snapshot, pointers=True), add_special_tokens=False), eos],
                    head.memory_features(r, snapshot)) for r in replies]


def batch(examples: list[Example], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[np.ndarray]]:
    n = max(len(e.prompt) + len(e.target) for e in examples)
    ids = torch.full((len(examples), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), n), dtype=torch.long)
    labels = torch.full((len(examples), n), -100, dtype=torch.long)
    for i, e in enumerate(examples):
        seq = e.prompt + e.target
        ids[i, : len(seq)] = torch.tensor(seq)
        mask[i, : len(seq)] = 1
        labels[i, len(e.prompt): len(seq)] = torch.tensor(e.target)
    return ids, mask, labels, [e.features for e in examples]


@torch.no_grad()
def mean_loss(head: DialogueHead, examples: list[Example], pad_id: int, batch_size: int) -> float:
    head.eval()
    losses, weights = [], []
    for lo in range(0, len(examples), batch_size):
        chunk = examples[lo: lo + batch_size]
        losses.append(float(head.loss(*batch(chunk, pad_id))))
        weights.append(sum(len(e.target) for e in chunk))
    head.train()
    return float(np.average(losses, weights=weights)) if losses else float("nan")


def train(config: DialogueTrainConfig) -> dict[str, Any]:
    from qa.answer.answerer import load_answerer
    from qa.chat.conversation import resolver_for as load_resolver

    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    qa_model = Path(config.qa_model)
    out = Path(config.out_dir) if config.out_dir else qa_model / "dialogue"
    answerer = load_answerer(qa_model)
    snap = answerer.graph.snapshot
    resolver = load_resolver(answerer, qa_model)
    head_cfg = DialogueHeadConfig(**{"memory_dim": int(answerer.model.config.hidden), **config.head})
    head = DialogueHead(head_cfg)
    if config.init_from:
        from safetensors.torch import load_file

        from qa.chat.dialogue_head import CHECKPOINT

        head.load_state_dict(load_file(str(Path(config.init_from) / CHECKPOINT)), strict=False)
    pad = head.tokenizer.pad_token_id if head.tokenizer.pad_token_id is not None else head.tokenizer.eos_token_id

    t0 = time.perf_counter()
    # the turns played through the QA model are kept (pickled) for the next run with the same choice
    cache = Path(config.cache_dir) / f"replies-{qa_model.resolve().name}-{config.seed}-{config.dialogues}.pkl"
    if cache.is_file():
        train_p, val_p = pickle.loads(cache.read_bytes())
    else:
        train_d, val_d = model_dialogues(snap, qa_model)
        rng.shuffle(train_d)
        train_p = play(answerer, resolver, train_d[: config.dialogues])
        val_p = play(answerer, resolver, val_d[: config.val_turns // 2])[: config.val_turns]
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps((train_p, val_p)))
    train_r = variants(train_p, rng, config.no_answer, config.no_topic)
    val_r = variants(val_p, random.Random(1), config.no_answer, config.no_topic)
    train_x, val_x = make_examples(head, train_r, snap), make_examples(head, val_r, snap)
    prep_s = time.perf_counter() - t0
    print(f"{len(train_x):,} training turns from {config.dialogues:,} dialogues, "
          f"{len(val_x)} held-out turns, prepared in {prep_s:.0f} s", flush=True)

    params = [p for p in head.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    steps_per_epoch = math.ceil(len(train_x) / config.batch_size)
    total = steps_per_epoch * config.epochs
    budget = 60 * config.budget_minutes
    log: list[dict[str, Any]] = [{"step": 0, "val_loss": mean_loss(head, val_x, pad, config.batch_size)}]
    print(f"step 0 val loss {log[0]['val_loss']:.3f}", flush=True)
    start, step, losses = time.perf_counter(), 0, []
    head.train()
    for _epoch in range(config.epochs):
        order = list(range(len(train_x)))
        rng.shuffle(order)
        for lo in range(0, len(order), config.batch_size):
            elapsed = time.perf_counter() - start
            frac = max(step / total, elapsed / budget)
            if frac >= 1.0:
                break
            for g in opt.param_groups:
                g["lr"] = config.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
            loss = head.loss(*batch([train_x[i] for i in order[lo: lo + config.batch_size]], pad))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            losses.append(float(loss.detach()))
            if step % 25 == 0:
                print(f"step {step}/{total} loss {np.mean(losses[-25:]):.3f} {elapsed / 60:.1f} min", flush=True)
    train_s = time.perf_counter() - start
    log.append({"step": step, "val_loss": mean_loss(head, val_x, pad, config.batch_size),
                "train_loss_last25": float(np.mean(losses[-25:])) if losses else None})
    gates = {f"layer {i}": [round(float(torch.tanh(b.gate)), 4), round(float(torch.tanh(b.ff_gate)), 4)]
             for i, b in zip(head.xattn_at, head.xattn, strict=True)}
    report = {"config": asdict(config), "train_turns": len(train_x), "val_turns": len(val_x), "steps": step,
              "prepare_seconds": prep_s, "train_seconds": train_s, "log": log, "gates_tanh": gates,
              "trainable_parameters": sum(p.numel() for p in params)}
    head.save(out, {"report": report, "qa_model": str(qa_model)})
    print(f"val loss {log[0]['val_loss']:.3f} -> {log[-1]['val_loss']:.3f} after {step} steps "
          f"({train_s / 60:.1f} min); cross-attention gates {gates}; wrote {out}", flush=True)
    return report
