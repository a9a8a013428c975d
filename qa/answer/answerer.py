"""The learned answerer: a trained KG-fused model behind the :class:`qa.types.Answerer` protocol.

End to end per question: topic (the brackets, or the entity linker on the plain text) →
relevance-pruned subgraph of the model's ``max_hops`` hops → frozen MiniLM token states → fusion
model (which learned which step answers: no hop count is given) → ranked candidates, answers above
the calibrated cut-off, and evidence paths with their Cypher::

    answerer = load_answerer("runs/qa/metaqa")
    [pred] = answerer.predict([Question("who directed [Kismet]", ())])
    pred.answers[0].name, pred.answers[0].evidence[0].cypher
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from encoders.device import pick_device
from encoders.fusion import KGFusionModel
from encoders.text import TextEncoderConfig
from kg.config import StoreConfig
from qa.answer.checkpoint import LINKER_PRIOR, load_model
from qa.answer.evidence import evidence_paths
from qa.answer.ranking import HeadConfig, rank, select
from qa.data.examples import Graph, TokenEncoder, build_examples, collate, load_graph, make_retriever, topic_relations
from qa.data.questions import Question
from qa.types import Answer, Prediction
from retrieval.subgraph import CosineRelationScorer, SubgraphConfig


class FusionAnswerer:
    """Answers questions with a trained :class:`encoders.fusion.KGFusionModel` (see the module docstring).

    Args:
        model: the trained model; graph: its graph and name embeddings; tokens: the frozen token encoder.
        head: cut-off and evidence settings; subgraph: retrieval settings; device: where the model runs.
    """

    def __init__(self, model: KGFusionModel, graph: Graph, tokens: TokenEncoder, head: HeadConfig,
                 subgraph: SubgraphConfig, device: Any = "cpu",
                 linker_prior: Path | None = None) -> None:
        self.model, self.graph, self.tokens, self.head = model.eval(), graph, tokens, head
        self.notes: list[str] = []  # what a user should know about this model on this graph (load_answerer)
        self.subgraph_config = subgraph
        self.retriever = make_retriever(graph, tokens, subgraph)
        self.device = device
        self._linker: Any = None
        self.linker_prior = linker_prior
        self._names = torch.from_numpy(graph.name_vectors)

    def __repr__(self) -> str:
        return (f"FusionAnswerer(model={self.model.config.mode}, nodes={self.graph.snapshot.num_nodes:,}, "
                f"cutoff={self.head.cutoff:.2f}, max_nodes={self.subgraph_config.max_nodes})")

    @property
    def linker(self) -> Any:
        """The entity linker over the model's graph store (built on first use, cached beside the store)."""
        if self._linker is None:
            from kg.linking import Linker
            from kg.store import open_store

            with open_store(self.graph.store, read_only=True) as store:
                self._linker = Linker.from_store(store, cache_dir=self.graph.linker_cache, prior=self.linker_prior)
        return self._linker

    def topics(self, questions: Sequence[Question], strip_brackets: bool) -> list[list[str]]:
        """Each question's topic ids: its brackets, or the best linked mention of its plain text, else the
        best exact-name candidate of a mention above ``head.topic_floor``."""
        out: list[list[str]] = [[q.topic] if (q.topic and not strip_brackets) else [] for q in questions]
        need = [i for i, t in enumerate(out) if not t]
        if need:
            for i, res in zip(need, self.linker.link_batch([questions[i].plain for i in need]), strict=True):
                linked = [m for m in res.mentions if m.entity_id is not None]
                if linked:
                    best = max(linked, key=lambda m: m.score)
                    out[i] = [str(best.entity_id)]
                    continue
                exact = [(m.score, str(c.entity_id)) for m in res.mentions for c in m.candidates[:1]
                         if c.source == "exact" and m.score >= self.head.topic_floor]
                if exact:  # nothing linked, but a name typed exactly: a question has a topic
                    out[i] = [max(exact)[1]]
        index = self.graph.snapshot.index_of
        return [[t for t in ts if t in index] for ts in out]

    def _pooled_without_topics(self, texts: Sequence[str], topics: Sequence[Sequence[str]],
                               states: Sequence[np.ndarray]) -> np.ndarray:
        """``(B, C)``: each question's mean token state over the tokens outside its topics' names."""
        enc = self.tokens.encoder
        offsets = enc.tokenizer(list(texts), truncation=True, max_length=enc.config.max_length,
                                return_offsets_mapping=True)["offset_mapping"]
        out = np.empty((len(texts), self.tokens.dim), np.float32)
        for i, (text, ts, st, off) in enumerate(zip(texts, topics, states, offsets, strict=True)):
            spans = self.retriever.seed_spans(text, ts) if ts else []
            keep = np.asarray([not any(a < e and b > s for s, e in spans) for a, b in off], bool)
            st = st.astype(np.float32)
            out[i] = st[keep].mean(0) if keep.any() else st.mean(0)
        return out

    @torch.no_grad()
    def depths(self, states: Sequence[np.ndarray], topics: Sequence[Sequence[str]], batch_size: int = 256) -> list[int]:
        """How deep to retrieve for each question, from the model's step mixture ``π`` (which reads only the
        question's tokens and its topics' relation signature, so it is known before retrieval): the
        smallest depth whose later steps carry less than ``head.depth_tail`` of ``π`` together."""
        k = self.model.config.max_hops
        if self.head.depth_tail <= 0 or k == 1 or not len(states):
            return [k] * len(states)
        index = self.graph.snapshot.index_of
        out: list[int] = []
        for lo in range(0, len(states), batch_size):
            chunk = states[lo:lo + batch_size]
            t_max = max(1, *(len(s) for s in chunk))
            tok = np.zeros((len(chunk), t_max, self.tokens.dim), np.float32)                # (B, T, C)
            mask = np.zeros((len(chunk), t_max), bool)                                       # (B, T)
            for j, s in enumerate(chunk):
                tok[j, : len(s)], mask[j, : len(s)] = s, True
            sig = topic_relations(self.graph.signature, [[index[t] for t in ts] for ts in topics[lo:lo + batch_size]])
            dev = self.device
            logits = self.model.step_logits(torch.from_numpy(tok).to(dev), torch.from_numpy(mask).to(dev),
                                            torch.from_numpy(sig).to(dev))                  # (B, K)
            pi = logits.softmax(-1).float().cpu().numpy()                                   # (B, K)
            later = pi[:, ::-1].cumsum(1)[:, ::-1]                  # later[:, d]: the share of steps d+1..K
            out += [next((d for d in range(1, k) if row[d] < self.head.depth_tail), k) for row in later]
        return out

    @torch.no_grad()
    def predict(self, questions: Sequence[Question], *, strip_brackets: bool = False,
                batch_size: int = 64) -> list[Prediction]:
        """Predictions in the order of ``questions``; ``seconds`` is the batch time divided evenly."""
        start = time.perf_counter()
        qs = list(questions)
        texts = [q.plain for q in qs]
        topics = self.topics(qs, strip_brackets)
        # One text-model pass: the question's token states (what the model reads) and, pooled outside
        # the topic's name, the retriever's relation scores (the retriever itself encodes the question
        # again without the name; pooling the same states instead ranks the relations alike on MetaQA
        # and PathQuestion and saves the second pass).
        states = self.tokens.states(texts)
        pooled = self._pooled_without_topics(texts, topics, states)                         # (B, C)
        pooled /= np.linalg.norm(pooled, axis=1, keepdims=True).clip(min=1e-9)
        scorer = self.retriever.relation_scorer
        assert isinstance(scorer, CosineRelationScorer)
        rel_scores = scorer.from_vectors(pooled)                                              # (B, R)
        depth = self.depths(states, topics)
        ex = build_examples(qs, self.graph, self.tokens, self.subgraph_config, None, topics=topics, texts=texts,
                            retriever=self.retriever, token_states=states, relation_scores=rel_scores, hops=depth)
        snap, preds = self.graph.snapshot, []
        rows: dict[int, tuple[Any, ...]] = {}      # order, probabilities, relation weights, step mixture, states
        sizes = np.diff(ex.node_ptr)
        # batches of similar subgraph sizes: the fusion layers pad every subgraph to the batch's largest
        idx = sorted((i for i in range(len(qs)) if sizes[i] > 0), key=lambda i: int(sizes[i]))
        for lo in range(0, len(idx), batch_size):
            chunk = idx[lo:lo + batch_size]
            tok, mask, fb, _ = collate(ex, chunk, self._names, self.device, self.graph.signature)
            res = self.model(tok, mask, fb)
            scores = res.scores.cpu().numpy()
            starts = np.searchsorted(fb.batch.cpu().numpy(), np.arange(len(chunk) + 1))
            rw = res.relation_weights.cpu().numpy()
            pi = res.step_logits.softmax(-1).cpu().numpy()
            node_st = res.node_states.float().cpu().numpy() if res.node_states is not None else None
            for j, i in enumerate(chunk):
                a, b = starts[j], starts[j + 1]
                order, probs = rank(scores[a:b])
                rows[i] = (order, probs, rw[j], pi[j], node_st[a:b] if node_st is not None else None)
        for i, q in enumerate(qs):
            if i not in rows:
                preds.append(Prediction(q.text, topics[i], [], []))
                continue
            order, probs, rw, pi_i, node_states = rows[i]
            nodes = ex.nodes(i)
            ids = [snap.node_ids[int(nodes[j])] for j in order[: self.head.ranked]]
            local_ids = [snap.node_ids[int(n)] for n in nodes]
            edges = ex.edges[:, ex.edge_ptr[i]:ex.edge_ptr[i + 1]]
            etype = ex.edge_type[ex.edge_ptr[i]:ex.edge_ptr[i + 1]]
            chosen = [int(j) for j in order[: select(probs, self.head.cutoff, self.head.max_answers)]]
            ev = evidence_paths(list(range(int(ex.num_topics[i]))), chosen, pi_i[:depth[i]], edges, etype, rw,
                                local_ids, snap.relations, self.head.paths_per_answer, self.head.beam)
            answers = [Answer(local_ids[j], snap.names[snap.index_of[local_ids[j]]], float(p), ev[j])
                       for j, p in zip(chosen, probs, strict=False)]
            pred = Prediction(q.text, topics[i], list(zip(ids, probs[: len(ids)].tolist(), strict=True)), answers)
            if node_states is not None:
                pred.memory = _memory(pred, local_ids, node_states)
            preds.append(pred)
        per = (time.perf_counter() - start) / max(1, len(qs))
        for p in preds:
            p.seconds = per
        return preds


def _memory(pred: Prediction, local_ids: list[str], states: np.ndarray) -> dict[str, np.ndarray]:
    """The node states of the prediction's topics, answers and evidence-path entities."""
    keep = set(pred.topics) | {a.entity_id for a in pred.answers}
    keep |= {e for a in pred.answers for ev in a.evidence for st in ev.steps for e in (st.head, st.tail)}
    return {e: states[j] for j, e in enumerate(local_ids) if e in keep}


def load_answerer(checkpoint_dir: str | Path, device: str | None = None, kb: str | None = None,
                  store: StoreConfig | None = None) -> FusionAnswerer:
    """The answerer of a checkpoint written by :func:`qa.train.qa.train`, over the graph it was trained on
    unless ``kb`` (a triples file) or ``store`` (a graph store) is given."""
    dev = pick_device(device)
    model, cfg = load_model(checkpoint_dir, dev)
    tr = cfg.get("train", {})
    if kb is None and store is None:
        if tr.get("store"):
            store = StoreConfig.load(None, **tr["store"])
        else:
            kb = tr.get("kb")
    tokens = TokenEncoder(TextEncoderConfig(cache_dir=tr.get("text_cache_dir"), device=str(dev)))
    graph = load_graph(kb, store, tr.get("cache_dir", ".kgqa/qa"), tr.get("text_cache_dir"), tokens.encoder)
    notes: list[str] = []
    if list(graph.snapshot.relations) != list(cfg["relations"]):
        graph, found = _as_trained(graph, list(cfg["relations"]), checkpoint_dir)
        notes += found
    head = HeadConfig(**cfg.get("head", {}))
    sub = SubgraphConfig(max_nodes=int(cfg.get("max_nodes", 500)), max_edges=int(cfg.get("max_edges", 2000)),
                         hops=model.config.max_hops, text_cache_dir=tr.get("text_cache_dir"))
    prior = Path(checkpoint_dir) / LINKER_PRIOR
    answerer = FusionAnswerer(model, graph, tokens, head, sub, dev, linker_prior=prior if prior.exists() else None)
    answerer.notes = notes
    return answerer


def _as_trained(graph: Graph, relations: list[str], checkpoint_dir: str | Path) -> tuple[Graph, list[str]]:
    """The graph as a model trained on ``relations`` can read it: facts of relation types added since
    training are left out, types the graph no longer has are empty; a note says which, for each."""
    snap, dropped = graph.snapshot.keep_relations(relations)
    notes = []
    if dropped:
        shown = ", ".join(f"{r} ({n:,} facts)" for r, n in sorted(dropped.items(), key=lambda x: -x[1])[:5])
        more = f" and {len(dropped) - 5} more" if len(dropped) > 5 else ""
        notes.append(f"the graph has {len(dropped)} relation type(s) the model was not trained on: {shown}{more}; "
                     f"answers leave their facts out until the model is adapted to them (kgqa train --resume "
                     f"{checkpoint_dir})")
    gone = sorted(set(relations) - set(graph.snapshot.relations))
    if gone:
        notes.append(f"the graph no longer has {len(gone)} relation type(s) the model was trained on: "
                     f"{', '.join(gone[:5])}{f' and {len(gone) - 5} more' if len(gone) > 5 else ''}; "
                     "questions about them find no answer")
    fp = f"{graph.fingerprint}:as-trained:{len(relations)}"
    return Graph(snap, graph.name_vectors, fp, graph.store), notes
