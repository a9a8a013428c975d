"""Resuming a trained QA model on a graph whose relation types changed (``kgqa train --resume MODEL_DIR``).

A checkpoint's relation vocabulary is its list of relation type names (``config.json``'s ``relations``):
every tensor of :class:`encoders.fusion.KGFusionModel` whose shape depends on the number ``R`` of types is
indexed by that list. The graph's list may since have kept some types, added some and lost some (its
order may differ too). :func:`adapt` builds the model for the graph's list and copies every weight over,
matching relation types by *name*; :func:`resume` then fine-tunes it on the graph as it is now and saves
an ordinary checkpoint, which :func:`qa.answer.answerer.load_answerer` loads with no type left out::

    model, rmap = adapt(old_model, old_relations, graph.snapshot.relations)
    rmap.summary()        # '9 relation types: 8 kept, 1 added (IN_LANGUAGE), 1 gone (HAS_TAGS)'
    report = resume(ResumeConfig("runs/qa", budget_minutes=5))

**Which tensors** (:func:`relation_axes`): those whose shape changes when the model is built for one
more relation type, found by building it (on the meta device, no memory) for two counts, so a new
relation-indexed tensor is never missed. Today: the rows of ``rel_head`` (the per-step relation
weights, ``2R``), the input columns of ``step_head[0]`` that read the topic's relation signature
(``2C + 2R``), the CompGCN's relation embeddings ``gnn.rel_emb`` (``2R`` rows) and R-GCN's basis
coefficients ``gnn.convs.*.comp`` (or its per-relation weights without bases). Each such axis holds
``offset`` other entries first (the step head's ``2C`` text features), then ``blocks`` blocks of ``R``
entries in vocabulary order: forward ``r``, then reverse ``R + r`` (one block without reverse edges).

**New types**: a row (an output, an embedding, a basis coefficient) starts at the mean of the old
model's rows of its block (forward rows from forward rows, reverse from reverse); an input column (the
step head's signature feature) starts at zero, so that it changes nothing until training gives it a
weight. Nothing else moves: before fine-tuning, the adapted model scores a subgraph that holds only
kept types exactly as the old model did.
"""

from __future__ import annotations

import copy
import json
import random
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from encoders.fusion import FusionConfig, KGFusionModel
from kg.errors import ConfigError

#: Questions synthesised about the added relation types by default (beside question files): what makes the
#: new types known to the model (``--synthesise`` sets another count).
NEW_TYPE_QUESTIONS = 2000

#: What a resumed model folder does not take over from the old one: what training writes, and the chat's
#: reference resolver (``resolver.json``), which reads the old relation vocabulary (``kgqa chat`` fits it
#: again on first use). The rest (a dialogue head) is carried over.
NOT_CARRIED = ("model.safetensors", "config.json", "log.json", "curves.png", "report.json", "linker_prior.json",
               "synonyms.json", "resolver.json")


# -- the relation vocabulary ---------------------------------------------------------------------
@dataclass(frozen=True)
class RelationMap:
    """How a checkpoint's relation types (``old``) map by name onto a graph's (``new``)."""

    old: tuple[str, ...]
    new: tuple[str, ...]

    @classmethod
    def between(cls, old: Sequence[str], new: Sequence[str]) -> RelationMap:
        for name, names in (("the checkpoint's", old), ("the graph's", new)):
            if len(set(names)) != len(names):
                raise ConfigError(f"{name} relation types repeat a name: {sorted(names)}")
        return cls(tuple(old), tuple(new))

    @property
    def source(self) -> list[int | None]:
        """Per new type, its index in ``old`` (``None``: added)."""
        at = {r: i for i, r in enumerate(self.old)}
        return [at.get(r) for r in self.new]

    @property
    def kept(self) -> list[str]:
        return [r for r in self.new if r in set(self.old)]

    @property
    def added(self) -> list[str]:
        return [r for r in self.new if r not in set(self.old)]

    @property
    def gone(self) -> list[str]:
        return [r for r in self.old if r not in set(self.new)]

    @property
    def identity(self) -> bool:
        return self.old == self.new

    def summary(self) -> str:
        parts = [f"{len(self.kept)} kept"]
        parts += [f"{len(self.added)} added ({', '.join(self.added)})"] if self.added else []
        parts += [f"{len(self.gone)} gone ({', '.join(self.gone)})"] if self.gone else []
        return f"{len(self.new)} relation types: " + ", ".join(parts)

    def to_dict(self) -> dict[str, list[str]]:
        return {"kept": self.kept, "added": self.added, "gone": self.gone}


@dataclass(frozen=True)
class RelationAxis:
    """Where the relation types sit on one axis of a tensor: ``offset`` other entries, then ``blocks``
    blocks of ``R`` entries (forward, then reverse)."""

    axis: int
    offset: int
    blocks: int


def relation_axes(config: FusionConfig, text_dim: int) -> dict[str, RelationAxis]:
    """Every tensor of a :class:`KGFusionModel` with ``config`` whose shape depends on the number of
    relation types, with where the types sit on it (see the module docstring)."""
    cfg = copy.deepcopy(config)
    probe = max(8, cfg.gnn.num_bases or 0) + 1              # R-GCN caps its bases at 2R: stay above
    with torch.device("meta"):
        a, b = (KGFusionModel(copy.deepcopy(cfg), r, text_dim).state_dict() for r in (probe, probe + 1))
    axes: dict[str, RelationAxis] = {}
    for key, t in a.items():
        changed = [i for i, (x, y) in enumerate(zip(t.shape, b[key].shape, strict=True)) if x != y]
        if not changed:
            continue
        if len(changed) > 1:
            raise NotImplementedError(f"{key}: {len(changed)} axes depend on the relation count; "
                                      "teach qa.train.resume.remap_state about it")
        i = changed[0]
        blocks = b[key].shape[i] - t.shape[i]
        axes[key] = RelationAxis(i, t.shape[i] - blocks * probe, blocks)
    return axes


def _is_input_axis(model: nn.Module, key: str, axis: RelationAxis) -> bool:
    """Whether the axis is the input side of a linear layer (its columns read a relation feature)."""
    owner, _, name = key.rpartition(".")
    return name == "weight" and axis.axis == 1 and isinstance(model.get_submodule(owner), nn.Linear)


def remap_state(old: Mapping[str, Tensor], model: KGFusionModel, rmap: RelationMap,
                axes: Mapping[str, RelationAxis] | None = None) -> dict[str, Tensor]:
    """The state of ``model`` (built for ``rmap.new``) from ``old`` (a model's state for ``rmap.old``):
    every tensor copied, those of ``axes`` (default :func:`relation_axes`) remapped by relation name,
    the entries of added types initialised as the module docstring says."""
    axes = relation_axes(model.config, model.text_dim) if axes is None else axes
    src = rmap.source
    kept_new = torch.tensor([j for j, i in enumerate(src) if i is not None], dtype=torch.long)
    kept_old = torch.tensor([i for i in src if i is not None], dtype=torch.long)
    added = torch.tensor([j for j, i in enumerate(src) if i is None], dtype=torch.long)
    r_old, r_new = len(rmap.old), len(rmap.new)
    out: dict[str, Tensor] = {}
    for key, fresh in model.state_dict().items():
        if key.startswith("text_model."):                    # the frozen text model is no checkpoint's
            out[key] = fresh
            continue
        if key not in old:
            raise ConfigError(f"the checkpoint lacks {key}: was it written by another version of the model?")
        before = old[key].detach().to(fresh.device, fresh.dtype)
        ax = axes.get(key)
        if ax is None:
            if before.shape != fresh.shape:
                raise ConfigError(f"cannot carry {key} over: shape {tuple(before.shape)} in the checkpoint, "
                                  f"{tuple(fresh.shape)} in the adapted model; train afresh (kgqa train)")
            out[key] = before.clone()
            continue
        t = fresh.detach().clone()
        o, n = before.movedim(ax.axis, 0), t.movedim(ax.axis, 0)   # views: the relation axis first
        n[: ax.offset] = o[: ax.offset]                       # entries before the relation types (text features)
        zero = _is_input_axis(model, key, ax)
        for k in range(ax.blocks):
            a0, a1 = ax.offset + k * r_old, ax.offset + k * r_new
            if len(kept_new):
                n[a1 + kept_new] = o[a0 + kept_old]
            if len(added):
                n[a1 + added] = 0.0 if zero else o[a0:a0 + r_old].mean(0, keepdim=True)
        out[key] = t
    extra = set(old) - set(out)
    if extra:
        raise ConfigError(f"the checkpoint holds tensors the model has not ({sorted(extra)[:3]}): was it written by "
                          "another version of the model?")
    return out


def adapt(model: KGFusionModel, old: Sequence[str], new: Sequence[str]) -> tuple[KGFusionModel, RelationMap]:
    """A model for the relation types ``new`` carrying every weight of ``model`` (trained on ``old``),
    matched by name (:func:`remap_state`); on ``model``'s device, in train mode."""
    rmap = RelationMap.between(old, new)
    if model.num_relations != len(rmap.old):
        raise ConfigError(f"the model has {model.num_relations} relation types, its checkpoint lists {len(old)}")
    if not rmap.new:
        raise ConfigError("the graph has no relation types: ingest its facts first")
    config = copy.deepcopy(model.config)
    if config.mode == "full" and config.gnn.kind == "rgcn" and config.gnn.num_bases:
        # R-GCN uses min(num_bases, edge types) bases: the basis weights carry over only at the same count
        per = 2 if config.gnn.add_reverse else 1
        had, will = min(config.gnn.num_bases, per * len(rmap.old)), min(config.gnn.num_bases, per * len(rmap.new))
        if had != will:
            if per * len(rmap.new) < had:
                raise ConfigError(f"the R-GCN's {had} bases cannot carry over to {len(rmap.new)} relation types; "
                                  "train afresh (kgqa train)")
            config.gnn.num_bases = had
    device = next(model.parameters()).device
    adapted = KGFusionModel(config, len(rmap.new), model.text_dim).to(device)
    adapted.load_state_dict(remap_state(model.state_dict(), adapted, rmap))
    return adapted.train(), rmap


# -- resuming training ---------------------------------------------------------------------------
@dataclass
class ResumeConfig:
    """Args:
    model_dir: the checkpoint to resume (a folder ``kgqa train`` wrote).
    output_dir: where the resumed checkpoint goes; ``None``: ``model_dir`` itself. Either way the folder is
        written only when training has finished (the run trains in a hidden sibling), and what it held
        before is kept beside it as ``<folder>.previous`` (one generation).
    kb / store: the graph now; ``None`` for both: the graph the checkpoint names, as it is now (a store is
        read as it is: the CLI ingests ``--kb`` into it first).
    questions: question files; ``None``: the checkpoint's own (those that still exist), so the old relation
        types keep being trained.
    synthesise: questions synthesised from the graph (:func:`qa.train.qa.synthesised`); ``None``:
        :data:`NEW_TYPE_QUESTIONS` when the graph gained relation types, else the checkpoint's count. Beside
        question files they are all about the added types (the written questions keep the old ones
        trained) and their fixed 10% validates too, beside the written questions' (no written question is
        about the new types, and early stopping must see them). A model trained on synthesised questions
        alone gets them about every type again.
    budget_minutes, max_steps, limit, split, lr, threads, device, seed: as :class:`qa.train.qa.TrainConfig`
        (``None``: the checkpoint's).
    progress: a progress bar.
    """

    model_dir: str
    output_dir: str | None = None
    kb: str | None = None
    store: dict[str, str] | None = None
    questions: list[str] | None = None
    synthesise: int | None = None
    budget_minutes: float | None = None
    max_steps: int | None = None
    limit: int | None = None
    split: str | None = None
    lr: float | None = None
    threads: int | None = None
    device: str | None = None
    seed: int | None = None
    progress: bool = True


@dataclass
class ResumeReport:
    """What :func:`resume` did: the relation map, the training report, where the model went."""

    model_dir: str
    output_dir: str
    previous: str | None
    relations: dict[str, list[str]]
    summary: str
    train: Any                                   # qa.train.qa.TrainReport
    questions: list[str] = field(default_factory=list)
    synthesised: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["train"] = self.train.to_dict()
        return d


def _train_config(saved: dict[str, Any], fusion: dict[str, Any]) -> Any:
    from qa.train.qa import TrainConfig

    known = set(TrainConfig.__dataclass_fields__)
    cfg = TrainConfig(**{k: v for k, v in saved.items() if k in known})
    cfg.fusion = FusionConfig.from_dict(fusion)              # the model's own, as saved beside its weights
    return cfg


def resume(config: ResumeConfig) -> ResumeReport:
    """Load the checkpoint, adapt it to the graph's relation types (:func:`adapt`), fine-tune it on the
    questions :class:`ResumeConfig` names, save an ordinary checkpoint (see the module docstring)."""
    from encoders.text import TextEncoderConfig
    from qa.answer.checkpoint import LINKER_PRIOR, load_model
    from qa.data.examples import TokenEncoder, load_graph
    from qa.train.qa import train

    src = Path(config.model_dir)
    old_model, saved = load_model(src, "cpu")
    cfg = _train_config(saved.get("train", {}), saved["fusion"])
    notes: list[str] = []
    if config.store is not None:
        cfg.store, cfg.kb = dict(config.store), config.kb or cfg.kb      # the kb: what was ingested, for the record
    elif config.kb is not None:
        cfg.store, cfg.kb = None, config.kb
    if config.questions is not None:
        cfg.questions = list(config.questions)
    else:
        missing = [q for q in cfg.questions if not Path(q).is_file()]
        notes += [f"the checkpoint's question file {q} no longer exists; trained without it" for q in missing]
        cfg.questions = [q for q in cfg.questions if q not in missing]
    for name in ("budget_minutes", "max_steps", "limit", "split", "lr", "threads", "device", "seed"):
        if getattr(config, name) is not None:
            setattr(cfg, name, getattr(config, name))
    cfg.progress = config.progress
    cfg.__post_init__()                                       # check the overrides as a loaded config is checked

    out = Path(config.output_dir) if config.output_dir is not None else src
    staging = out.resolve().parent / f".{out.resolve().name}.resuming"
    shutil.rmtree(staging, ignore_errors=True)
    cfg.output_dir = str(staging)

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    tokens = TokenEncoder(TextEncoderConfig(cache_dir=cfg.text_cache_dir, device="cpu"))
    graph = load_graph(cfg.kb if cfg.store is None else None, cfg.store_config(), cfg.cache_dir, cfg.text_cache_dir,
                       tokens.encoder)
    relations = list(graph.snapshot.relations)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    model, rmap = adapt(old_model, list(saved["relations"]), relations)
    if config.synthesise is not None:
        cfg.synthesise = config.synthesise
    elif rmap.added and cfg.questions:
        cfg.synthesise = NEW_TYPE_QUESTIONS
    # Beside written questions (which keep the old types trained), the synthesised ones are about the added
    # types; a model trained on synthesised questions alone gets them about every type, as it was trained.
    cfg.synth_about = rmap.added if cfg.questions else []
    record = {"from": str(src.resolve()), **rmap.to_dict()}
    try:
        report = train(cfg, model=model, loaded=(graph, tokens), extra={"resumed": record})
        if not (staging / LINKER_PRIOR).exists() and (src / LINKER_PRIOR).exists():
            # no written question to fit a prior on: the checkpoint's stays (its counts are of wordings, not types)
            shutil.copy2(src / LINKER_PRIOR, staging / LINKER_PRIOR)
            report.linker = "kept the checkpoint's (no written question to fit one on)"
        for entry in src.iterdir() if src.is_dir() else []:
            if entry.name not in NOT_CARRIED and not (staging / entry.name).exists():
                (shutil.copytree if entry.is_dir() else shutil.copy2)(entry, staging / entry.name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    previous = _swap(staging, out)
    report.output_dir = str(out)
    _point_at(out)
    return ResumeReport(str(src), str(out), previous, rmap.to_dict(), rmap.summary(), report,
                        list(cfg.questions), report.synthesised, notes)


def _swap(staging: Path, out: Path) -> str | None:
    """``staging`` becomes ``out``; what ``out`` held before becomes ``out.previous`` (returned)."""
    previous = None
    target = out.resolve()
    if target.exists():
        backup = target.parent / f"{target.name}.previous"
        shutil.rmtree(backup, ignore_errors=True)
        target.rename(backup)
        previous = str(out.parent / backup.name)
    staging.rename(target)
    return previous


def _point_at(folder: Path) -> None:
    """The checkpoint's own records name ``folder`` (training wrote them in the staging folder)."""
    cfg_file, report_file = folder / "config.json", folder / "report.json"
    cfg = json.loads(cfg_file.read_text())
    cfg.setdefault("train", {})["output_dir"] = str(folder)
    cfg.setdefault("report", {})["output_dir"] = str(folder)
    cfg_file.write_text(json.dumps(cfg, indent=1))
    if report_file.exists():
        rep = json.loads(report_file.read_text())
        rep["output_dir"] = str(folder)
        report_file.write_text(json.dumps(rep, indent=1))
