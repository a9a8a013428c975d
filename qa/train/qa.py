"""Training the KG-fused QA model on question files (one model for every question; hop counts are latent).

Protocol: the questions of every file minus the fixed validation part (:func:`qa.data.questions.split_validation`)
train, the validation part early-stops (Hits@1) and fits the answer cut-off. With
``split="templates"`` the model trains on the seen templates only (their validation part
early-stops) and is scored on the held-out templates (:func:`qa.data.questions.split_templates`).

Frozen inputs (token states, name embeddings, subgraphs) are precomputed once and cached under
``cache_dir`` (:mod:`qa.data.examples`); the trainer then only runs the fusion model. Linear warmup then
cosine decay (to 0 at the last step or at the end of the wall-clock budget, whichever is first),
AdamW, early stopping on validation Hits@1, a wall-clock budget. The number of steps fits the data:
up to ``max_epochs`` passes but at most ``max_steps`` steps, so 1.5k questions train to convergence
(early stopping ends them) and 35k stay inside the budget. No hop count is read anywhere: the
model learns from the answers alone which step answers. The output folder holds
``model.safetensors`` + ``config.json`` (no pickle), ``log.json`` and ``curves.png``::

    report = train(TrainConfig.load("configs/metaqa.json"))
    report.validation["hits@1"]
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
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
from qa.answer.checkpoint import LINKER_PRIOR, save_model
from qa.answer.ranking import HeadConfig, fit_cutoff, rank, select
from qa.data.examples import Graph, QAExamples, TokenEncoder, build_examples, collate, load_graph
from qa.data.questions import Question, load_questions, split_templates, split_validation
from qa.data.synthesis import SOURCE_PREFIX
from qa.eval.metrics import f1, first_gold_rank, hits_at
from retrieval.snapshot import GraphSnapshot
from retrieval.subgraph import SubgraphConfig


@dataclass
class TrainConfig:
    """Args:
    questions: question files (``question<TAB>answer1|answer2``, the topic in ``[brackets]``); a folder
        name such as ``2-hop`` only groups the validation figures, the model never reads it.
    kb / store: the graph, a triples file (ingested once into an embedded store in the cache) or a
        graph store, ``{"backend": "embedded", "path": ...}`` or ``{"backend": "neo4j", "uri": ...,
        "database": ...}`` (the password comes from ``NEO4J_PASSWORD``, never from the config).
    output_dir: where the checkpoint, log and curves go.
    cache_dir / text_cache_dir: precomputed inputs; sentence-embedding cache.
    split: ``"validation"`` (MetaQA protocol) or ``"templates"`` (unseen-template evaluation).
    limit: questions read per file (``None``: all) — for quick runs.
    fusion, head, max_nodes, max_edges: model, head and subgraph settings.
    batch_size, lr, weight_decay, warmup: optimisation (``warmup``: share of all steps).
    max_epochs, max_steps: the step budget, ``min(max_epochs * steps per epoch, max_steps)``.
    patience, evals_per_epoch, min_eval_steps: early stopping after ``patience`` evaluations without a
        better validation Hits@1; an evaluation every ``steps per epoch / evals_per_epoch`` steps, but
        no more often than every ``min_eval_steps``.
    budget_minutes: wall-clock budget of the training loop (``None``: none).
    synthesise: questions synthesised from the graph's own relation paths and names
        (:mod:`qa.data.synthesis`) added to the training questions; with no question files at all,
        training is zero-shot on these alone (then ``0`` means the default ``ZERO_SHOT`` count).
    synth_holdout: synthesis template ids kept out of training (to measure unseen phrasings).
    synth_about: relation types the synthesised questions are about (each walks one of them; empty: all
        types); beside question files, their fixed 10% validates too (:func:`split_questions`). ``kgqa train
        --resume`` names the types added since the checkpoint: no written question is about them, and early
        stopping and the cut-off must see them.
    synonyms: other words per relation noun that the synthesised questions may use instead of the
        relation's own (found by the sentence encoder, :mod:`qa.data.synonyms`; 0: none).
    device, threads, seed: where and how to run (``threads``: torch CPU threads; 1 is much faster than 2 on a
        busy machine).
    """

    questions: list[str] = field(default_factory=list)
    kb: str | None = None
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
    max_epochs: int = 100
    max_steps: int = 4000
    patience: int = 5
    evals_per_epoch: int = 2
    min_eval_steps: int = 50
    budget_minutes: float | None = 40.0
    synthesise: int = 0
    synth_holdout: list[str] = field(default_factory=list)
    synth_about: list[str] = field(default_factory=list)
    synonyms: int = 3
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
        if self.batch_size < 1 or self.max_epochs < 1 or self.max_steps < 1:
            raise ConfigError("batch_size, max_epochs and max_steps must be at least 1")

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
        return SubgraphConfig(max_nodes=self.max_nodes, max_edges=self.max_edges, hops=self.fusion.max_hops,
                              text_cache_dir=self.text_cache_dir)


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
    linker: str = ""
    synthesised: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- evaluation ----------------------------------------------------------------------------------
@torch.no_grad()
def score_examples(model: KGFusionModel, ex: QAExamples, graph: Graph, batch_size: int = 64,
                   device: Any = "cpu", idx: list[int] | None = None) -> dict[int, dict[str, Any]]:
    """Per question (index into ``ex``): ranked candidate local indices, their probabilities, the
    model's relation weights and step mixture. Questions without a subgraph are left out."""
    model.eval()
    sizes = np.diff(ex.node_ptr)
    idx = sorted((i for i in (range(len(ex)) if idx is None else idx) if sizes[i] > 0),
                 key=lambda i: int(sizes[i]))  # similar sizes per batch: less padding
    out: dict[int, dict[str, Any]] = {}
    names = torch.from_numpy(graph.name_vectors)
    for lo in range(0, len(idx), batch_size):
        chunk = idx[lo:lo + batch_size]
        tok, mask, fb, _ = collate(ex, chunk, names, device, graph.signature)
        res = model(tok, mask, fb)
        scores, batch = res.scores.cpu().numpy(), fb.batch.cpu().numpy()
        rw = res.relation_weights.cpu().numpy()
        pi = res.step_logits.softmax(-1).cpu().numpy()
        starts = np.searchsorted(batch, np.arange(len(chunk) + 1))
        for j, i in enumerate(chunk):
            a, b = starts[j], starts[j + 1]
            order, probs = rank(scores[a:b])
            out[i] = {"order": order, "probs": probs, "relation_weights": rw[j], "steps": pi[j]}
    return out


def validation_metrics(ex: QAExamples, graph: Graph, scored: dict[int, dict[str, Any]], cutoff: float | None = None,
            idx: list[int] | None = None) -> dict[str, Any]:
    """Hits@1 (and F1 with ``cutoff``) per group and overall; a question without a subgraph is a miss.

    Groups are the hop counts a question file's path names (``2-hop/...``), for reading the figures
    only; a file that names none is one group (``0-hop``), synthesised questions another (``synth``)."""
    snap = graph.snapshot
    per: dict[str, list[float]] = {}
    f1s: dict[str, list[float]] = {}
    for i in range(len(ex)) if idx is None else idx:
        q = ex.questions[i]
        key = "synth" if not q.hop and q.source.startswith(SOURCE_PREFIX) else f"{q.hop or 0}-hop"
        s = scored.get(i)
        hit, f = 0.0, 0.0
        if s is not None and len(s["order"]):
            nodes = ex.nodes(i)
            ids = [snap.node_ids[int(nodes[j])] for j in s["order"][:100]]
            hit = float(hits_at(first_gold_rank(ids, q.answers), 1))
            if cutoff is not None:
                f = f1(ids[: select(s["probs"], cutoff)], q.answers)
        per.setdefault(key, []).append(hit)
        f1s.setdefault(key, []).append(f)
    out: dict[str, Any] = {"hits@1": float(np.mean([h for v in per.values() for h in v])) if per else 0.0,
                           "questions": sum(len(v) for v in per.values())}
    for k in sorted(per):
        out[f"hits@1/{k}"] = float(np.mean(per[k]))
        out[f"n/{k}"] = len(per[k])
        if cutoff is not None:
            out[f"f1/{k}"] = float(np.mean(f1s[k]))
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
def _size_batches(ex: QAExamples, idx: list[int], batch_size: int) -> list[list[int]]:
    """Shuffled batches of questions with similar subgraph sizes (the fusion layers pad to the largest).

    The questions are shuffled, cut into windows of 8 batches, and each window sorted by size before
    it is cut into batches: batches stay random across the epoch but need little padding."""
    sizes = np.diff(ex.node_ptr)
    order = random.sample(idx, len(idx))
    window = 8 * batch_size
    batches: list[list[int]] = []
    for lo in range(0, len(order), window):
        part = sorted(order[lo:lo + window], key=lambda i: int(sizes[i]))
        batches += [part[b:b + batch_size] for b in range(0, len(part), batch_size)]
    random.shuffle(batches)
    return batches


ZERO_SHOT = 20_000


SYNONYMS_FILE = "synonyms.json"


def synthesised(config: TrainConfig, snapshot: GraphSnapshot, encoder: Any = None) -> list[Question]:
    """``config.synthesise`` questions made from the graph (:func:`qa.data.synthesis.synthesise`), their
    topics as entity ids, the templates of ``config.synth_holdout`` left out. The count is reached by
    sampling topics per relation path, with a share per hop count. With ``encoder`` (the sentence
    encoder) and ``config.synonyms``, some questions name relations with other words it finds. With
    ``config.synth_about``, only paths that walk one of those types count (and are kept)."""
    from qa.data.synonyms import role_synonyms
    from qa.data.synthesis import TEMPLATES, SynthesisConfig, relation_paths, role_nouns, synthesise

    want = config.synthesise or (ZERO_SHOT if not config.questions else 0)
    if not want:
        return []
    k = config.fusion.max_hops
    about = set(config.synth_about)
    # At most as many paths per hop count as questions wanted there (one topic each): a graph with hundreds
    # of relation types has hundreds of thousands of 3-hop paths, and enumerating them all took more than
    # 30 minutes and 13 GB on a 1M-triple graph with 300 types (bench/scale.py). MetaQA has fewer paths than
    # any cap its question counts give, so it is unchanged. Paths about given types are not capped (they
    # are filtered after enumeration, and a cap could pick none of them).
    cap = None if about else max(1, math.ceil(want / (k * SynthesisConfig().phrasings)))
    syn = SynthesisConfig(max_hops=k, seed=config.seed, paths=cap,
                          templates=tuple(t for t in TEMPLATES if t not in set(config.synth_holdout)))
    # an equal share of the questions per hop count, spread evenly over that count's paths
    paths = relation_paths(snapshot, k, cap=cap, min_support=syn.min_support, seed=config.seed)
    counts = Counter(len(p) for p in paths if not about or about & {h.strip("<>") for h in p})
    shares = k if not about else max(1, len(counts))         # hop counts without such a path get no share
    per_path = tuple(max(1, math.ceil(want / (shares * syn.phrasings * max(1, counts[h])))) for h in range(1, k + 1))
    words = (role_synonyms(role_nouns(snapshot), encoder, snapshot.names, per_noun=config.synonyms)
             if encoder is not None and config.synonyms > 0 else {})
    if words:       # beside the model, for the user to read which words training taught it
        out = Path(config.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / SYNONYMS_FILE).write_text(json.dumps(words, indent=1) + "\n", encoding="utf-8")
    qs = synthesise(snapshot, replace(syn, per_path=per_path), synonyms=words)
    if about:
        qs = [q for q in qs if about & _path_relations(q)]
    random.Random(config.seed).shuffle(qs)
    by_name: dict[str, str] = {}
    for node_id, name in zip(snapshot.node_ids, snapshot.names, strict=True):
        by_name.setdefault(name, node_id)
    return [replace(q, topic=by_name.get(q.topic or "", q.topic)) for q in qs[:want]]


def split_questions(config: TrainConfig, snapshot: GraphSnapshot | None = None, encoder: Any = None
                    ) -> tuple[list[Question], list[Question], list[Question]]:
    """(train, validation, test) by ``config.split`` (test is empty for the validation protocol), with the
    synthesised questions (when ``snapshot`` is given): beside question files they all train, and validation
    (what early-stops training and fits the answer cut-off) is the written questions alone; with no question
    file they are split like one. Beside question files, with ``config.synth_about`` their validation part
    validates too."""
    train, val, test = [], [], []
    if snapshot is not None:
        synth = synthesised(config, snapshot, encoder)
        tr, va = (synth, []) if config.questions and not config.synth_about else split_validation(synth)
        train += tr
        val += va
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


def _path_relations(q: Question) -> set[str]:
    """The relation types a synthesised question's path walks (``extra["path"]``: ``"REL> / <REL"``)."""
    return {hop.strip().strip("<>") for hop in q.extra.get("path", "").split(" / ") if hop.strip()}


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


def fit_linker(graph: Graph, questions: list[Question], out: Path) -> str:
    """Fit the entity linker's prior on the training questions' [brackets] and save it beside the model
    (:data:`LINKER_PRIOR`), where :func:`qa.answer.answerer.load_answerer` finds it; returns its summary.

    Only questions a person wrote count: synthesised ones (``source`` ``synth:...``) put every topic in
    the few places their templates do, and a prior fitted on them misses the topics of typed questions
    (MetaQA zero-shot: 78% of topics found with it, 99.8% with the untrained linker). With no such
    question there is no prior (an earlier one in ``out`` is removed): the untrained linker links a
    mention typed as a whole entity name or id."""
    from kg.linking import Linker
    from kg.linking.questions import parse_question
    from kg.store import open_store

    marked = [parse_question(q.text, q.source) for q in questions
              if q.topic and not q.source.startswith(SOURCE_PREFIX)]
    if not marked:
        (out / LINKER_PRIOR).unlink(missing_ok=True)
        return ""
    with open_store(graph.store, read_only=True) as store:
        linker = Linker.from_store(store, cache_dir=graph.linker_cache)
    summary = linker.fit(marked).summary()
    linker.save_prior(out / LINKER_PRIOR)
    return summary


def prepare(config: TrainConfig, loaded: tuple[Graph, TokenEncoder] | None = None
            ) -> tuple[Graph, TokenEncoder, list[QAExamples]]:
    """Graph, token encoder (``loaded``: those, already loaded) and the cached examples of the (train,
    validation, test) questions."""
    if loaded is None:
        tokens = TokenEncoder(TextEncoderConfig(cache_dir=config.text_cache_dir, device="cpu"))
        graph = load_graph(config.kb if config.store is None else None, config.store_config(), config.cache_dir,
                           config.text_cache_dir, tokens.encoder)
    else:
        graph, tokens = loaded
    parts = split_questions(config, graph.snapshot, tokens.encoder)
    exs = [build_examples(p, graph, tokens, config.subgraph(), config.cache_dir) if p else None for p in parts]
    return graph, tokens, exs  # type: ignore[return-value]


def train(config: TrainConfig, model: KGFusionModel | None = None, loaded: tuple[Graph, TokenEncoder] | None = None,
          extra: dict[str, Any] | None = None) -> TrainReport:
    """Train, early-stop, fit the cut-off, save; returns the report (see the module docstring).

    ``model``: start from this model (built for the graph's relation types, :func:`qa.train.resume.adapt`)
    instead of a fresh one; ``loaded``: the graph and token encoder, already loaded; ``extra``: more to
    record in the checkpoint's ``config.json``."""
    if config.threads:
        torch.set_num_threads(config.threads)
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    device = pick_device(config.device)
    t0 = time.perf_counter()
    graph, tokens, (tr, va, te) = prepare(config, loaded)
    if tr is None or va is None:
        raise ConfigError("no training or no validation questions: the validation part is a fixed 10% of each "
                          "file's questions by their text, so give the whole question files (not a training part "
                          "split off by the same rule), or more questions")
    prepare_s = time.perf_counter() - t0
    relations = list(graph.snapshot.relations)
    if model is None:
        model = KGFusionModel(config.fusion, len(relations), tokens.dim)
    elif model.num_relations != len(relations) or model.text_dim != tokens.dim:
        raise ConfigError(f"the model reads {model.num_relations} relation types and {model.text_dim}-wide text; "
                          f"the graph has {len(relations)} and the text model {tokens.dim}")
    model = model.to(device)
    train_idx = tr.answerable().tolist()
    if not train_idx:
        raise ConfigError("no training question has an answer in its subgraph: check the graph and question files")
    steps_per_epoch = len(_size_batches(tr, train_idx, config.batch_size))
    total = min(steps_per_epoch * config.max_epochs, config.max_steps)
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
    eval_every = min(total, max(config.min_eval_steps, steps_per_epoch // max(1, config.evals_per_epoch)))
    names = torch.from_numpy(graph.name_vectors)
    step, losses, stop = 0, [], False
    bar = tqdm(total=total, desc="train", disable=not config.progress, mininterval=2.0)
    for epoch in range(config.max_epochs):
        for chunk in _size_batches(tr, train_idx, config.batch_size):
            model.train()
            tok, mask, fb, gold = collate(tr, chunk, names, device, graph.signature)
            res = model(tok, mask, fb)
            loss = answer_loss(res.scores, fb.batch, gold, fb.num_graphs)
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
            if step >= total:
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
    linker = fit_linker(graph, tr.questions, out)
    synth = sum(tr.questions[i].source.startswith(SOURCE_PREFIX) for i in train_idx)
    report = TrainReport(str(out), val_m, test_m, stopper.best_epoch, step, train_s, prepare_s, len(train_idx), cutoff,
                         linker, synth)
    head = asdict(config.head)
    head["cutoff"] = cutoff
    save_model(model, out, relations, {"head": head, "max_nodes": config.max_nodes, "max_edges": config.max_edges,
                                       "text_model": tokens.name, "graph_fingerprint": graph.fingerprint,
                                       "train": config.to_dict(), "report": report.to_dict(), **(extra or {})})
    if log.records:
        _plot(log.records, out / "curves.png")
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=1))
    return report
