"""Training the KG-fused QA model on MetaQA-style question files (one model for all hop counts).

Protocol: the questions of every file minus the fixed validation part (:func:`qa.data.questions.split_validation`)
train, the validation part early-stops (Hits@1) and fits the answer cut-off. With
``split="templates"`` the model trains on the seen templates only (their validation part
early-stops) and is scored on the held-out templates (:func:`qa.data.questions.split_templates`).

Frozen inputs (token states, name embeddings, subgraphs) are precomputed once and cached under
``cache_dir`` (:mod:`qa.data.examples`); the trainer then only runs the fusion model. Linear warmup then
cosine decay (to 0 at the last step or at the end of the wall-clock budget, whichever is first),
AdamW, early stopping, a wall-clock budget. The output folder holds
``model.safetensors`` + ``config.json`` (no pickle), ``log.json`` and ``curves.png``::

    report = train(TrainConfig.load("configs/metaqa.json"))
    report.validation["hits@1"]
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from encoders.device import pick_device
from encoders.fusion import FusionConfig, KGFusionModel, answer_loss
from encoders.text import TextEncoderConfig
from encoders.training import Budget, EarlyStopping, JsonLog
from kg.config import StoreConfig
from kg.errors import ConfigError
from qa.answer.checkpoint import save_model
from qa.answer.ranking import HeadConfig, fit_cutoff, rank, select
from qa.data.examples import Graph, QAExamples, TokenEncoder, build_examples, collate, load_graph
from qa.data.questions import Question, load_questions, split_templates, split_validation
from qa.eval.metrics import f1, first_gold_rank, hits_at
from retrieval.subgraph import SubgraphConfig

METAQA = "/work/shared/data/metaqa"


@dataclass
class TrainConfig:
    """Args:
    questions: question files (``N-hop`` in the path gives the hop count).
    kb / store: the graph, a triples file (ingested once into an embedded store in the cache) or a
        graph store, ``{"backend": "embedded", "path": ...}`` or ``{"backend": "neo4j", "uri": ...,
        "database": ...}`` (the password comes from ``NEO4J_PASSWORD``, never from the config).
    output_dir: where the checkpoint, log and curves go.
    cache_dir / text_cache_dir: precomputed inputs; sentence-embedding cache.
    split: ``"validation"`` (MetaQA protocol) or ``"templates"`` (unseen-template evaluation).
    limit: questions read per file (``None``: all) — for quick runs.
    fusion, head, max_nodes, max_edges: model, head and subgraph settings.
    batch_size, lr, weight_decay, warmup, max_epochs, patience, evals_per_epoch: optimisation
        (``warmup``: share of all steps; early stopping after ``patience`` evaluations).
    hop_loss: weight of the hop-count classifier's cross-entropy (it picks the hops when a question
        comes without them, as in ``kgqa ask``).
    budget_minutes: wall-clock budget of the training loop (``None``: none).
    device, threads, seed: where and how to run (``threads``: torch CPU threads; 1 is much faster than 2 on a
        busy machine).
    """

    questions: list[str] = field(default_factory=lambda: [f"{METAQA}/{h}-hop/qa_dev.txt" for h in (1, 2, 3)])
    kb: str | None = f"{METAQA}/kb.txt"
    store: dict[str, str] | None = None
    output_dir: str = "runs/qa"
    cache_dir: str = ".kgqa/qa"
    text_cache_dir: str | None = ".kgqa/cache/text"
    split: str = "validation"
    limit: int | None = None
    fusion: FusionConfig = field(default_factory=FusionConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    max_nodes: int = 500
    max_edges: int = 2000
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup: float = 0.05
    max_epochs: int = 6
    patience: int = 3
    evals_per_epoch: int = 2
    budget_minutes: float | None = 55.0
    hop_loss: float = 0.3
    device: str | None = None
    threads: int | None = 1
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.fusion, dict):
            self.fusion = FusionConfig.from_dict(self.fusion)
        if isinstance(self.head, dict):
            self.head = HeadConfig(**self.head)
        if self.store is not None:
            allowed = {"backend", "path", "uri", "user", "database"}
            if set(self.store) - allowed:
                raise ConfigError(f"store: unknown keys {sorted(set(self.store) - allowed)}; allowed: {sorted(allowed)}"
                                  " (the Neo4j password comes from NEO4J_PASSWORD)")
        if self.split not in ("validation", "templates"):
            raise ConfigError(f"unknown split {self.split!r}; use 'validation' or 'templates'")
        if self.batch_size < 1 or self.max_epochs < 1:
            raise ConfigError("batch_size and max_epochs must be at least 1")

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        """A config from a JSON file (unknown keys are an error; ``kb`` and ``questions`` relative to it)."""
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: no such training config; give a JSON file (see configs/)")
        data = json.loads(p.read_text())
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"{p}: unknown keys {sorted(unknown)}; allowed: {sorted(known)}")
        # Files named in the config are relative to the config's folder (as a user reads it).
        here = p.resolve().parent
        if data.get("kb"):
            data["kb"] = str(here / data["kb"])
        if "questions" in data:
            data["questions"] = [str(here / q) for q in data["questions"]]
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def store_config(self) -> StoreConfig | None:
        """The graph store to read (``None``: the ``kb`` file); secrets from the environment."""
        return None if self.store is None else StoreConfig.load(None, **self.store)

    def subgraph(self) -> SubgraphConfig:
        return SubgraphConfig(max_nodes=self.max_nodes, max_edges=self.max_edges, text_cache_dir=self.text_cache_dir)


@dataclass
class TrainReport:
    output_dir: str
    validation: dict[str, Any]
    test: dict[str, Any] | None
    best_step: int
    steps: int
    train_seconds: float
    prepare_seconds: float
    train_questions: int
    cutoff: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- evaluation ----------------------------------------------------------------------------------
@torch.no_grad()
def score_examples(model: KGFusionModel, ex: QAExamples, graph: Graph, batch_size: int = 64,
                   device: Any = "cpu", idx: list[int] | None = None) -> dict[int, dict[str, Any]]:
    """Per question (index into ``ex``): ranked candidate local indices, their probabilities and the
    model's relation weights. Questions without a subgraph are left out."""
    model.eval()
    sizes = np.diff(ex.node_ptr)
    idx = sorted((i for i in (range(len(ex)) if idx is None else idx) if sizes[i] > 0),
                 key=lambda i: (int(ex.hop[i]), int(sizes[i])))  # one hop count, similar sizes per batch: less padding
    out: dict[int, dict[str, Any]] = {}
    names = torch.from_numpy(graph.name_vectors)
    for lo in range(0, len(idx), batch_size):
        chunk = idx[lo:lo + batch_size]
        tok, mask, fb, _ = collate(ex, chunk, names, device, graph.signature)
        res = model(tok, mask, fb)
        scores, topic, batch = res.scores.cpu().numpy(), fb.is_topic.cpu().numpy(), fb.batch.cpu().numpy()
        rw = res.relation_weights.cpu().numpy()
        hop_pred = res.hop_logits.argmax(-1).cpu().numpy() + 1
        starts = np.searchsorted(batch, np.arange(len(chunk) + 1))
        for j, i in enumerate(chunk):
            a, b = starts[j], starts[j + 1]
            order, probs = rank(scores[a:b], topic[a:b])
            out[i] = {"order": order, "probs": probs, "relation_weights": rw[j], "hop_pred": int(hop_pred[j])}
    return out


def validation_metrics(ex: QAExamples, graph: Graph, scored: dict[int, dict[str, Any]], cutoff: float | None = None,
            idx: list[int] | None = None) -> dict[str, Any]:
    """Hits@1 (and F1 with ``cutoff``) per hop and overall; a question without a subgraph is a miss."""
    snap = graph.snapshot
    per: dict[str, list[float]] = {}
    f1s: dict[str, list[float]] = {}
    hop_ok: list[float] = []
    for i in range(len(ex)) if idx is None else idx:
        q = ex.questions[i]
        key = f"{q.hop or 0}-hop"
        s = scored.get(i)
        hit, f = 0.0, 0.0
        if s is not None and len(s["order"]):
            nodes = ex.nodes(i)
            ids = [snap.node_ids[int(nodes[j])] for j in s["order"][:100]]
            hit = float(hits_at(first_gold_rank(ids, q.answers), 1))
            if cutoff is not None:
                f = f1(ids[: select(s["probs"], cutoff)], q.answers)
            if q.hop:
                hop_ok.append(float(s["hop_pred"] == q.hop))
        per.setdefault(key, []).append(hit)
        f1s.setdefault(key, []).append(f)
    out: dict[str, Any] = {"hits@1": float(np.mean([h for v in per.values() for h in v])) if per else 0.0,
                           "questions": sum(len(v) for v in per.values())}
    for k in sorted(per):
        out[f"hits@1/{k}"] = float(np.mean(per[k]))
        out[f"n/{k}"] = len(per[k])
        if cutoff is not None:
            out[f"f1/{k}"] = float(np.mean(f1s[k]))
    if hop_ok:
        out["hop_accuracy"] = float(np.mean(hop_ok))
    return out


def fit_head_cutoff(ex: QAExamples, graph: Graph, scored: dict[int, dict[str, Any]]) -> tuple[float, float]:
    ranked, golds = [], []
    for i, s in scored.items():
        nodes = ex.nodes(i)
        ids = [graph.snapshot.node_ids[int(nodes[j])] for j in s["order"][:100]]
        ranked.append((ids, s["probs"][:100]))
        golds.append(ex.questions[i].answers)
    return fit_cutoff(ranked, golds)


# -- training ------------------------------------------------------------------------------------
def _hop_batches(ex: QAExamples, idx: list[int], batch_size: int) -> list[list[int]]:
    """Shuffled batches of questions of one hop count each (subgraph sizes differ by hop: less padding)."""
    by_hop: dict[int, list[int]] = {}
    for i in random.sample(idx, len(idx)):
        by_hop.setdefault(int(ex.hop[i]), []).append(i)
    batches = [v[lo:lo + batch_size] for v in by_hop.values() for lo in range(0, len(v), batch_size)]
    random.shuffle(batches)
    return batches


def split_questions(config: TrainConfig) -> tuple[list[Question], list[Question], list[Question]]:
    """(train, validation, test) by ``config.split`` (test is empty for the MetaQA validation protocol)."""
    train, val, test = [], [], []
    for path in config.questions:
        qs = load_questions(path, limit=config.limit)
        if config.split == "templates":
            seen, unseen = split_templates(qs)
            tr, va = split_validation(seen)
            test += unseen
        else:
            tr, va = split_validation(qs)
        train += tr
        val += va
    return train, val, test


def _plot(records: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in records]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    ax[0].plot(steps, [r["train_loss"] for r in records])
    ax[0].set(xlabel="step", ylabel="train loss", title="loss")
    for key in sorted(k for k in records[-1] if k.startswith("val_hits@1")):
        ax[1].plot(steps, [r.get(key, float("nan")) for r in records], label=key.replace("val_", ""))
    ax[1].set(xlabel="step", ylabel="Hits@1", title="validation")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def prepare(config: TrainConfig) -> tuple[Graph, TokenEncoder, list[QAExamples]]:
    """Graph, token encoder and the cached examples of the (train, validation, test) questions."""
    text_cfg = TextEncoderConfig(cache_dir=config.text_cache_dir, device="cpu")
    tokens = TokenEncoder(text_cfg)
    graph = load_graph(config.kb if config.store is None else None, config.store_config(), config.cache_dir,
                       config.text_cache_dir, tokens.encoder)
    parts = split_questions(config)
    exs = [build_examples(p, graph, tokens, config.subgraph(), config.cache_dir) if p else None for p in parts]
    return graph, tokens, exs  # type: ignore[return-value]


def train(config: TrainConfig) -> TrainReport:
    """Train, early-stop, fit the cut-off, save; returns the report (see the module docstring)."""
    if config.threads:
        torch.set_num_threads(config.threads)
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    device = pick_device(config.device)
    t0 = time.perf_counter()
    graph, tokens, (tr, va, te) = prepare(config)
    prepare_s = time.perf_counter() - t0
    relations = list(graph.snapshot.relations)
    model = KGFusionModel(config.fusion, len(relations), tokens.dim).to(device)
    train_idx = tr.answerable().tolist()
    if not train_idx:
        raise ConfigError("no training question has an answer in its subgraph: check the graph and question files")
    steps_per_epoch = len(_hop_batches(tr, train_idx, config.batch_size))
    total = steps_per_epoch * config.max_epochs
    warm = max(1, int(config.warmup * total))
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    budget = Budget(None if config.budget_minutes is None else config.budget_minutes * 60)

    def lr_factor(s: int) -> float:
        # Linear warmup, then cosine decay to 0 by the last step or the end of the budget, whichever
        # comes first (a budget-stopped run still ends on a small learning rate).
        if s < warm:
            return (s + 1) / warm
        frac = max(min(1.0, (s - warm) / max(1, total - warm)), budget.fraction)
        return 0.5 * (1 + math.cos(math.pi * frac))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = JsonLog(out / "log.json")
    stopper = EarlyStopping(config.patience)
    eval_every = max(1, steps_per_epoch // max(1, config.evals_per_epoch))
    names = torch.from_numpy(graph.name_vectors)
    step, losses, stop = 0, [], False
    bar = tqdm(total=total, desc="train", disable=not config.progress, mininterval=2.0)
    for epoch in range(config.max_epochs):
        for chunk in _hop_batches(tr, train_idx, config.batch_size):
            model.train()
            tok, mask, fb, gold = collate(tr, chunk, names, device, graph.signature)
            res = model(tok, mask, fb)
            loss = answer_loss(res.scores, fb.batch, gold, fb.num_graphs)
            loss = loss + config.hop_loss * torch.nn.functional.cross_entropy(res.hop_logits, fb.hop - 1)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            losses.append(float(loss.detach()))
            bar.update(1)
            if step % eval_every == 0 or step == total or budget.spent():
                m = validation_metrics(va, graph, score_examples(model, va, graph, device=device))
                rec = {"step": step, "epoch": epoch + step / steps_per_epoch - epoch, "lr": sched.get_last_lr()[0],
                       "train_loss": float(np.mean(losses[-eval_every:])), "seconds": budget.elapsed,
                       **{f"val_{k}": v for k, v in m.items() if not k.startswith("n/")}}
                log.add(rec)
                bar.set_postfix(loss=f"{rec['train_loss']:.3f}", val=f"{m['hits@1']:.4f}")
                if stopper.step(m["hits@1"], step, model) or budget.spent():
                    stop = True
                    break
        if stop:
            break
    bar.close()
    train_s = budget.elapsed
    stopper.restore(model)
    scored = score_examples(model, va, graph, device=device)
    cutoff, _ = fit_head_cutoff(va, graph, scored)
    val_m = validation_metrics(va, graph, scored, cutoff)
    test_m = (validation_metrics(te, graph, score_examples(model, te, graph, device=device), cutoff)
              if te is not None else None)
    report = TrainReport(str(out), val_m, test_m, stopper.best_epoch, step, train_s, prepare_s, len(train_idx), cutoff)
    head = asdict(config.head)
    head["cutoff"] = cutoff
    save_model(model, out, relations, {"head": head, "max_nodes": config.max_nodes, "max_edges": config.max_edges,
                                       "text_model": tokens.name, "graph_fingerprint": graph.fingerprint,
                                       "train": config.to_dict(), "report": report.to_dict()})
    if log.records:
        _plot(log.records, out / "curves.png")
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=1))
    return report
