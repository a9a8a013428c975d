"""What the fusion model reads, precomputed once and cached on disk under ``.kgqa/qa``.

Frozen parts are computed once per question set: the graph snapshot, the frozen MiniLM token
states of every question (float16), the name embedding of every node, and the retrieved subgraph
of every question (seeded by its topic, the model's ``max_hops`` hops, relevance-pruned). A :class:`QAExamples`
holds them packed in numpy arrays; :func:`collate` turns a list of example indices into a model
batch (PyG-style concatenation with offsets).

Usage::

    graph = load_graph(kb="../shared/data/metaqa/kb.txt", cache_dir=".kgqa/qa")   # or store=StoreConfig(...)
    tokens = TokenEncoder(TextEncoderConfig(cache_dir=".kgqa/cache/text"))
    ex = build_examples(questions, graph, tokens, SubgraphConfig(max_nodes=500), ".kgqa/qa")
    tok, tok_mask, batch, gold = collate(ex, [0, 1, 2], graph.name_vectors, signature=graph.signature)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from encoders.fusion import FusionBatch
from encoders.text import TextEncoder, TextEncoderConfig
from kg.config import StoreConfig
from kg.errors import ConfigError, NotFound
from kg.store import GraphStore
from qa.data.questions import Question
from retrieval.snapshot import GraphSnapshot
from retrieval.subgraph import CosineRelationScorer, SubgraphConfig, SubgraphRetriever


def _sha(*parts: Any) -> str:
    h = hashlib.sha1()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"\x00")
    return h.hexdigest()[:16]


@dataclass
class Graph:
    """The snapshot of a graph store plus, per node, its frozen name embedding ``name_vectors (N, C)``
    float32 and its relation signature ``signature (N, 2R)`` (:meth:`GraphSnapshot.relation_signature`).
    ``store`` says where the graph lives (the linker reads it)."""

    snapshot: GraphSnapshot
    name_vectors: np.ndarray
    fingerprint: str
    store: StoreConfig
    signature: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    def __post_init__(self) -> None:
        if self.signature.shape[0] != self.snapshot.num_nodes:
            self.signature = self.snapshot.relation_signature(np.arange(self.snapshot.num_nodes))

    @property
    def linker_cache(self) -> str:
        """Where the linker caches its index of this graph (as ``kgqa link`` does)."""
        from kg.linking import cache_dir_for

        return str(cache_dir_for(self.store))


def store_key(store: GraphStore, config: StoreConfig) -> str:
    """Identifies a graph's content cheaply: where it lives and its counts per relation type
    (a snapshot cached under this key is rebuilt when an ingest adds or removes anything)."""
    s = store.stats()
    where = str(Path(config.path).resolve()) if config.backend == "embedded" else f"{config.uri}/{config.database}"
    return _sha(config.backend, where, s.entities, s.relations, sorted(s.relation_types.items()))


def load_graph(kb: str | None = None, store: StoreConfig | None = None, cache_dir: str = ".kgqa/qa",
               text_cache_dir: str | None = ".kgqa/cache/text", encoder: TextEncoder | None = None) -> Graph:
    """The graph of a store (``store``: embedded or Neo4j) or of a triples file (``kb``, ingested once
    into an embedded store ``<cache_dir>/graph-<hash>``), as a snapshot cached under ``cache_dir``,
    with the name embeddings of its nodes."""
    from kg.store import open_store

    if store is None and kb is None:
        raise ConfigError("give the graph: a graph store or a triples file (kb)")
    if store is None:
        kb_path = Path(str(kb))
        if not kb_path.is_file():
            raise ConfigError(f"{kb_path}: no such triples file; give a 'head|relation|tail' file")
        st = kb_path.stat()
        key = _sha(str(kb_path.resolve()), st.st_size, int(st.st_mtime))
        snap_dir = Path(cache_dir) / f"snapshot-{key}"
        store = StoreConfig(backend="embedded", path=str(Path(cache_dir) / f"graph-{key}"))
        if not (snap_dir / "meta.json").exists():
            from kg.ingest import ingest

            with open_store(store) as st_:
                if st_.stats().entities == 0:
                    ingest(st_, kb_path, progress=False)
                GraphSnapshot.from_store(st_).save(snap_dir)
    else:
        with open_store(store, read_only=True) as st_:
            snap_dir = Path(cache_dir) / f"snapshot-store-{store_key(st_, store)}"
            if not (snap_dir / "meta.json").exists():
                snap = GraphSnapshot.from_store(st_)
                if snap.num_nodes == 0:
                    where = store.path if store.backend == "embedded" else store.uri
                    raise ConfigError(f"the {store.backend} store at {where} is empty: ingest a graph first "
                                      "(kgqa ingest FILE)")
                snap.save(snap_dir)
    snap = GraphSnapshot.load(snap_dir)
    enc = encoder or TextEncoder(TextEncoderConfig(cache_dir=text_cache_dir))
    names = enc.encode(snap.names)                                                  # (N, C)
    fp = _sha(snap.num_nodes, len(snap.src), snap.relations, snap.node_ids[:50])
    return Graph(snap, names, fp, store)


class TokenEncoder:
    """Frozen token states of a Hugging Face encoder (MiniLM by default), float16, one array per text.

    Shapes: ``B`` strings → ``B`` arrays ``(T_i, C)`` (padding removed).
    """

    def __init__(self, config: TextEncoderConfig | None = None, encoder: TextEncoder | None = None) -> None:
        self.encoder = encoder or TextEncoder(config or TextEncoderConfig())
        self.dim = self.encoder.dim
        self.name = f"{self.encoder.model_dir.name}:{self.encoder.config.max_length}"

    def __repr__(self) -> str:
        return f"TokenEncoder({self.encoder!r})"

    @torch.inference_mode()
    def states(self, texts: Sequence[str], batch_size: int = 256,
               model: torch.nn.Module | None = None) -> list[np.ndarray]:
        """``(T_i, C)`` float16 states per text, from the encoder's model (or ``model``, e.g. a quantised copy)."""
        model = model if model is not None else self.encoder.model
        out: list[np.ndarray] = [np.empty(0)] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for lo in range(0, len(order), batch_size):
            idx = order[lo:lo + batch_size]
            batch = self.encoder.tokenize([texts[i] for i in idx]).to(self.encoder.device)
            hidden = model(**batch).last_hidden_state                                 # (B, T, C)
            lengths = batch["attention_mask"].sum(1).tolist()
            for j, i in enumerate(idx):
                out[i] = hidden[j, : lengths[j]].half().cpu().numpy()                  # (T_i, C)
        return out


@dataclass
class QAExamples:
    """Questions packed for training and evaluation.

    Attributes:
        questions: the questions (``keep[i]``: whether question ``i`` has a subgraph).
        tok, tok_ptr: float16 token states of all questions concatenated ``(sum T_i, C)`` and offsets ``(Q+1,)``.
        n_id, node_ptr: global node index of each subgraph node ``(sum N_i,)``, offsets ``(Q+1,)``;
            the first ``num_topics[i]`` nodes of subgraph ``i`` are its topics.
        edges, edge_type, edge_ptr: local ``(2, sum E_i)`` int32 edges, ``(sum E_i,)`` types, offsets.
        gold, gold_ptr: local indices of the gold answers found in each subgraph (a topic too, when
            the question's answers hold it), offsets.
    """

    questions: list[Question]
    keep: np.ndarray
    tok: np.ndarray
    tok_ptr: np.ndarray
    n_id: np.ndarray
    node_ptr: np.ndarray
    num_topics: np.ndarray
    edges: np.ndarray
    edge_type: np.ndarray
    edge_ptr: np.ndarray
    gold: np.ndarray
    gold_ptr: np.ndarray

    def __len__(self) -> int:
        return len(self.questions)

    def nodes(self, i: int) -> np.ndarray:
        return self.n_id[self.node_ptr[i]:self.node_ptr[i + 1]]

    def answerable(self) -> np.ndarray:
        """Indices of the questions with at least one gold answer in their subgraph."""
        return np.nonzero(np.diff(self.gold_ptr) > 0)[0]


def edge_type_dtype(num_relations: int) -> Any:
    """The narrowest integer type that holds every relation index of a graph with ``num_relations`` types
    (int8 wrapped type 128 to -128: a graph with 300 types trained on the wrong relations)."""
    return np.int8 if num_relations <= 127 else np.int16 if num_relations <= 32767 else np.int32


def _pack(arrays: list[np.ndarray], dtype: Any, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    ptr = np.zeros(len(arrays) + 1, dtype=np.int64)
    np.cumsum([a.shape[-1] if width == -1 else a.shape[0] for a in arrays], out=ptr[1:])
    if width == -1:
        flat = np.concatenate(arrays, axis=1).astype(dtype) if arrays else np.zeros((2, 0), dtype)
    else:
        shape = (0,) if width is None else (0, width)
        flat = np.concatenate(arrays).astype(dtype) if arrays else np.zeros(shape, dtype)
    return flat, ptr


def topic_relations(signature: np.ndarray, topics: Sequence[Sequence[int]]) -> np.ndarray:
    """``(B, 2R)``: the union of the relation signatures (``Graph.signature``) of each question's
    topic nodes (global indices); zeros for a question without a topic."""
    out = np.zeros((len(topics), signature.shape[1]), np.float32)
    for j, ts in enumerate(topics):
        if len(ts):
            out[j] = signature[np.asarray(ts, dtype=np.int64)].max(0)
    return out


def make_retriever(graph: Graph, tokens: TokenEncoder, subgraph: SubgraphConfig) -> SubgraphRetriever:
    """A retriever whose relation scorer shares the token encoder's sentence model (one model in memory)."""
    scorer = CosineRelationScorer(graph.snapshot.relations, tokens.encoder, subgraph.descriptions)
    return SubgraphRetriever(graph.snapshot, subgraph, scorer)


def build_examples(questions: Sequence[Question], graph: Graph, tokens: TokenEncoder, subgraph: SubgraphConfig,
                   cache_dir: str | None = ".kgqa/qa", topics: Sequence[Sequence[str]] | None = None,
                   texts: Sequence[str] | None = None,
                   retriever: SubgraphRetriever | None = None,
                   token_states: list[np.ndarray] | None = None,
                   relation_scores: np.ndarray | None = None,
                   hops: Sequence[int] | None = None) -> QAExamples:
    """Token states, subgraphs and gold positions for ``questions`` (cached under ``cache_dir``).

    ``topics`` defaults to each question's bracketed topic, ``texts`` to ``q.plain``. Every subgraph
    reaches ``subgraph.hops`` hops out (the model's ``max_hops``), or ``hops[i]`` when given (the depth
    the answerer read from the model's step mixture): no question's hop count is read from its file.
    A question whose topic is not in the graph gets an empty subgraph (``keep`` false)."""
    topics = [[q.topic] if q.topic else [] for q in questions] if topics is None else topics
    texts = [q.plain for q in questions] if texts is None else texts
    type_dtype = edge_type_dtype(graph.snapshot.num_relations)
    # Examples packed before the type width followed the relation count held types >= 128 wrapped around
    # (int8): the key changes for those graphs only, so MetaQA's caches stay valid.
    wide = [] if type_dtype == np.int8 else [f"types-{np.dtype(type_dtype).name}"]
    key = _sha(graph.fingerprint, tokens.name, subgraph.__dict__, list(texts), [list(t) for t in topics],
               [q.answers for q in questions], "latent-hops", *([[int(h) for h in hops]] if hops is not None else []),
               *wide)
    path = Path(cache_dir) / f"examples-{key}.npz" if cache_dir else None
    if path is not None and path.exists():
        z = np.load(path)
        return QAExamples(list(questions), **{k: z[k] for k in z.files})
    snap = graph.snapshot
    states = token_states if token_states is not None else tokens.states(list(texts))
    retriever = retriever or make_retriever(graph, tokens, subgraph)
    subs: list[Any] = [None] * len(questions)
    ok = [i for i, t in enumerate(topics) if t and all(x in snap.index_of for x in t)]
    for lo in range(0, len(ok), 1024):
        idx = ok[lo:lo + 1024]
        try:
            if relation_scores is not None:  # scored by the caller (one text-model pass for everything)
                got = [retriever.retrieve(list(topics[i]), relation_scores=relation_scores[i],
                                          hops=None if hops is None else int(hops[i])) for i in idx]
            else:
                got = retriever.retrieve_batch([list(topics[i]) for i in idx], [texts[i] for i in idx],
                                               None if hops is None else [int(hops[i]) for i in idx])
        except NotFound:  # pragma: no cover - filtered above
            continue
        for i, s in zip(idx, got, strict=True):
            subs[i] = s
    n_ids, ntop, edges, etypes, golds = [], [], [], [], []
    for q, s in zip(questions, subs, strict=True):
        if s is None:
            n_ids.append(np.zeros(0, np.int64))
            ntop.append(0)
            edges.append(np.zeros((2, 0), np.int64))
            etypes.append(np.zeros(0, np.int64))
            golds.append(np.zeros(0, np.int64))
            continue
        n_ids.append(s.n_id)
        ntop.append(len(s.seeds))
        edges.append(s.edge_index)
        etypes.append(s.edge_type)
        gold_ids = set(q.answers)
        golds.append(np.asarray([j for j, nid in enumerate(s.node_ids) if nid in gold_ids], dtype=np.int64))
    tok, tok_ptr = _pack(states, np.float16, width=tokens.dim)
    n_id, node_ptr = _pack(n_ids, np.int32)
    e, edge_ptr = _pack(edges, np.int32, width=-1)
    et, _ = _pack(etypes, type_dtype)
    gold, gold_ptr = _pack(golds, np.int32)
    arrays = dict(keep=np.asarray([s is not None for s in subs]), tok=tok, tok_ptr=tok_ptr, n_id=n_id,
                  node_ptr=node_ptr, num_topics=np.asarray(ntop, np.int32), edges=e, edge_type=et,
                  edge_ptr=edge_ptr, gold=gold, gold_ptr=gold_ptr)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        tmp.replace(path)
    return QAExamples(list(questions), **arrays)


def collate(ex: QAExamples, idx: Sequence[int], name_vectors: np.ndarray | Tensor,
            device: Any = "cpu", signature: np.ndarray | None = None) -> tuple[Tensor, Tensor, FusionBatch, Tensor]:
    """A model batch of examples ``idx``: ``token_states (B, T, C)``, ``token_mask (B, T)``, the
    :class:`FusionBatch` and ``is_gold (N,)``. ``signature`` (``Graph.signature``) gives the batch its
    ``topic_relations``."""
    b = len(idx)
    lens = [int(ex.tok_ptr[i + 1] - ex.tok_ptr[i]) for i in idx]
    t_max = max(lens) if lens else 1
    tok = np.zeros((b, t_max, ex.tok.shape[1]), np.float32)
    mask = np.zeros((b, t_max), bool)
    for j, i in enumerate(idx):
        tok[j, : lens[j]] = ex.tok[ex.tok_ptr[i]:ex.tok_ptr[i + 1]]
        mask[j, : lens[j]] = True
    n_ids, edges, etypes, batch, topic, gold = [], [], [], [], [], []
    offset = 0
    for j, i in enumerate(idx):
        nodes = ex.n_id[ex.node_ptr[i]:ex.node_ptr[i + 1]]
        n = len(nodes)
        n_ids.append(nodes)
        edges.append(ex.edges[:, ex.edge_ptr[i]:ex.edge_ptr[i + 1]].astype(np.int64) + offset)
        etypes.append(ex.edge_type[ex.edge_ptr[i]:ex.edge_ptr[i + 1]].astype(np.int64))
        batch.append(np.full(n, j, np.int64))
        t = np.zeros(n, bool)
        t[: ex.num_topics[i]] = True
        topic.append(t)
        g = np.zeros(n, bool)
        g[ex.gold[ex.gold_ptr[i]:ex.gold_ptr[i + 1]]] = True
        gold.append(g)
        offset += n
    n_id = torch.from_numpy(np.concatenate(n_ids).astype(np.int64))                     # (N,)
    names = name_vectors if isinstance(name_vectors, Tensor) else torch.from_numpy(name_vectors)
    fb = FusionBatch(
        x_text=names[n_id].float(),                                                      # (N, C)
        edge_index=torch.from_numpy(np.concatenate(edges, axis=1)),                      # (2, E)
        edge_type=torch.from_numpy(np.concatenate(etypes)),                              # (E,)
        batch=torch.from_numpy(np.concatenate(batch)),                                   # (N,)
        is_topic=torch.from_numpy(np.concatenate(topic)),                                # (N,)
        num_graphs=b,
        topic_relations=None if signature is None else torch.from_numpy(topic_relations(
            signature, [ex.n_id[ex.node_ptr[i]:ex.node_ptr[i] + ex.num_topics[i]] for i in idx])),
    )
    return (torch.from_numpy(tok).to(device), torch.from_numpy(mask).to(device), fb.to(device),
            torch.from_numpy(np.concatenate(gold)).to(device))
