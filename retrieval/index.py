"""A FAISS vector index over float32 vectors with string ids: exact or approximate by size, CPU or GPU.

:class:`VectorIndex` answers "which stored vectors are nearest to these queries?" with
scores and the ids the vectors were stored under. By default it ranks by cosine
similarity (inner product on L2-normalised vectors). The kind of FAISS index is chosen
by :class:`IndexConfig`:

- ``"flat"``: exact search (``IndexFlatIP``);
- ``"hnsw"``: a graph index (``IndexHNSWFlat``), the approximate kind on the CPU;
- ``"ivf"``: inverted lists over k-means cells (``IndexIVFFlat``), the approximate kind on the GPU;
- ``"auto"``: exact up to ``auto_threshold`` vectors, approximate above.

Each kind stores its vectors as float32 by default; ``IndexConfig.codec`` compresses them:
``"float16"`` (half the bytes), ``"int8"`` (a quarter: FAISS's 8-bit scalar quantiser) or ``"pq"``
(product quantisation, ``pq_m`` bytes per vector: 48 for 384-d, 1/32 of float32). The compressed
forms are searched on the CPU. Recall against exact float32 search is measured by ``bench/scale.py``.

Why 100,000 (``bench/retrieval.py``, two busy cores, one thread per query): an exact
search of 100k 384-d vectors takes ~15 ms per query (~200-300 queries/s batched), builds
in under a second and is never wrong, while an HNSW graph of them takes about a minute to
build (43k MiniLM names: ~25 s); beyond it the exact scan grows linearly (250k: ~35 ms,
1M: ~150 ms per query, ~20 queries/s batched) while HNSW stays near a millisecond.

When the installed faiss has GPU support and sees a GPU, flat and IVF indexes move to
it (``device="cpu"`` keeps them on the CPU; HNSW has no GPU form and stays on the CPU);
:meth:`VectorIndex.save` always writes the CPU form. A saved index is a folder holding
``index.faiss`` and ``index.json`` (ids, dim, kind, metric, normalisation, parameters);
no pickle.

Usage::

    index = VectorIndex.build(vectors, ids, IndexConfig(kind="auto"))   # vectors: (N, d) float32
    scores, hits = index.search(queries, k=10)                          # (Q, 10), Q lists of ids
    index.save(".kgqa/graph/indexes/names")
    index = VectorIndex.load(".kgqa/graph/indexes/names")
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kg.errors import ConfigError

FORMAT = "kgqa-vector-index/1"
INDEX_FILE = "index.faiss"
META_FILE = "index.json"
KINDS = ("auto", "flat", "hnsw", "ivf")
CODECS = ("float32", "float16", "int8", "pq")
_SQ = {"float16": "SQfp16", "int8": "SQ8"}
METRICS = ("cosine", "ip")
GPU_MAX_K = 2048  # FAISS GPU indexes answer at most 2048 neighbours (and probe at most 2048 lists)


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - a main dependency
        raise ConfigError("vector indexes need faiss: pip install faiss-cpu (or faiss-gpu)") from exc
    return faiss


def faiss_has_gpu() -> bool:
    """Whether the installed faiss was built with GPU support and sees at least one GPU."""
    faiss = _faiss()
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


@dataclass(frozen=True, slots=True)
class IndexConfig:
    """How to build and search a :class:`VectorIndex`.

    Args:
        kind: ``"auto"`` (default), ``"flat"`` (exact), ``"hnsw"`` or ``"ivf"``.
        metric: ``"cosine"`` (default: inner product on L2-normalised vectors) or ``"ip"``
            (raw inner product, for embeddings trained with dot-product scores).
        auto_threshold: ``auto`` searches exactly up to this many vectors (default 100,000).
        auto_approximate: the kind ``auto`` picks above the threshold; ``None``: ``"hnsw"``
            on the CPU, ``"ivf"`` on the GPU (where HNSW does not run).
        hnsw_m: HNSW links per node (default 32).
        hnsw_ef_construction: HNSW candidate list while building (default 40).
        hnsw_ef_search: HNSW candidate list while searching (default 128: recall@10 0.985 against
            exact on 1M vectors sampled around MiniLM name embeddings, 0.969 on the 43k MetaQA
            names queried with typos; unstructured Gaussian data needs far more, see
            ``bench/retrieval.py``).
        ivf_nlist: IVF cells; ``None``: ``4 * sqrt(N)`` (at most ``N / 39``, at least 1).
        ivf_nprobe: IVF cells visited per query; ``None``: ``nlist / 4`` (recall@10 ~0.95 on MiniLM-like
            vectors; IVF is the GPU's approximate kind, where visiting many cells is cheap).
        ivf_train_size: vectors sampled to train the IVF cells; ``None``: ``64 * nlist``.
        device: ``None``/``"auto"`` (GPU when faiss has one), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        threads: FAISS OpenMP threads (``faiss.omp_set_num_threads``); ``None`` leaves the default.
        seed: seed of the IVF training sample (and of the quantisers' training sample).
        codec: how vectors are stored: ``"float32"`` (default), ``"float16"``, ``"int8"`` or ``"pq"``;
            compressed indexes stay on the CPU.
        pq_m: bytes per vector of the ``"pq"`` codec (sub-quantisers of 8 bits; must divide ``d``).
        codec_train_size: vectors sampled to train the int8/PQ quantiser (default 65,536).
    """

    kind: str = "auto"
    metric: str = "cosine"
    auto_threshold: int = 100_000
    auto_approximate: str | None = None
    hnsw_m: int = 32
    hnsw_ef_construction: int = 40
    hnsw_ef_search: int = 128
    ivf_nlist: int | None = None
    ivf_nprobe: int | None = None
    ivf_train_size: int | None = None
    device: str | None = None
    threads: int | None = None
    seed: int = 0
    codec: str = "float32"
    pq_m: int = 48
    codec_train_size: int = 65_536

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown index kind {self.kind!r}; use one of {', '.join(KINDS)}")
        if self.codec not in CODECS:
            raise ConfigError(f"unknown codec {self.codec!r}; use one of {', '.join(CODECS)}")
        if self.metric not in METRICS:
            raise ConfigError(f"unknown metric {self.metric!r}; use 'cosine' or 'ip'")
        if self.auto_approximate not in (None, "hnsw", "ivf"):
            raise ConfigError(f"auto_approximate must be 'hnsw', 'ivf' or None, not {self.auto_approximate!r}")
        positive = {"auto_threshold": self.auto_threshold, "hnsw_m": self.hnsw_m,
                    "hnsw_ef_construction": self.hnsw_ef_construction, "hnsw_ef_search": self.hnsw_ef_search,
                    "ivf_nlist": self.ivf_nlist, "ivf_nprobe": self.ivf_nprobe,
                    "ivf_train_size": self.ivf_train_size, "threads": self.threads, "pq_m": self.pq_m,
                    "codec_train_size": self.codec_train_size}
        for name, value in positive.items():
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"IndexConfig.{name} must be a positive integer, not {value!r}")


def _gpu_id(device: str | None) -> int | None:
    """The GPU to put flat/IVF indexes on for ``device``, or ``None`` for the CPU."""
    if device in (None, "", "auto"):
        return 0 if faiss_has_gpu() else None
    if device == "cpu":
        return None
    if device == "cuda" or device.startswith("cuda:"):
        if not faiss_has_gpu():
            raise ConfigError(f"device {device!r} asked for, but the installed faiss has no GPU support or sees "
                              "no GPU: pip install faiss-gpu, or use device='cpu'")
        gpu = int(device.partition(":")[2] or 0)
        if gpu >= _faiss().get_num_gpus():
            raise ConfigError(f"device {device!r} asked for, but faiss sees {_faiss().get_num_gpus()} GPU(s)")
        return gpu
    raise ConfigError(f"unknown device {device!r}; use 'cpu', 'cuda', 'cuda:N' or None")


def _as_matrix(values: Any, what: str, dim: int | None = None) -> np.ndarray:
    """``values`` as a C-contiguous float32 ``(N, d)`` copy, checked for shape and NaN/inf."""
    try:
        x = np.array(values, dtype=np.float32, order="C", copy=True)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} must be numbers in an (N, d) array: {exc}") from exc
    if x.ndim != 2:
        raise ConfigError(f"{what} must be a 2-D (N, d) array, not shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise ConfigError(f"{what} have dimension {x.shape[1]} but the index holds {dim}-d vectors: "
                          "encode them with the same model as the index")
    if x.shape[1] == 0:
        raise ConfigError(f"{what} have dimension 0: give vectors with at least one component")
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ConfigError(f"{what} row {row} (and {int(bad.sum()) - 1} more) holds NaN or infinity: "
                          "fix or drop those vectors")
    return x


class VectorIndex:
    """Nearest stored vectors by cosine similarity (or inner product), with string ids.

    Build with :meth:`build` or :meth:`load`; the constructor takes a ready FAISS index.

    Shapes:
        - **vectors:** ``(N, d)`` float32, one row per id
        - **queries:** ``(Q, d)`` or ``(d,)`` (one query)
        - **output:** scores ``(Q, k)`` float32 (higher is nearer) and ``Q`` lists of at most ``k`` ids
    """

    def __init__(self, index: Any, ids: Sequence[str], *, kind: str, metric: str, params: dict[str, Any],
                 gpu: int | None = None, codec: str = "float32") -> None:
        self.kind = kind
        self.codec = codec
        self.metric = metric
        self.params = dict(params)
        self._ids = np.asarray(list(ids), dtype=object)  # (N,)
        self._dim = int(index.d)
        self._gpu_resources: Any = None
        self._index = index
        self.gpu: int | None = None
        if gpu is not None and kind in ("flat", "ivf") and codec == "float32":
            faiss = _faiss()
            self._gpu_resources = faiss.StandardGpuResources()
            self._index = faiss.index_cpu_to_gpu(self._gpu_resources, gpu, index)  # the CPU copy is let go
            self.gpu = gpu
        self._set_knobs(self._index)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def build(cls, vectors: Any, ids: Sequence[str], config: IndexConfig | None = None) -> VectorIndex:
        """Index ``vectors`` (``(N, d)``) under ``ids`` (``N`` strings) as ``config`` says."""
        config = config or IndexConfig()
        config.validate()
        faiss = _faiss()
        if config.threads is not None:
            faiss.omp_set_num_threads(config.threads)
        x = _as_matrix(vectors, "vectors")  # (N, d)
        ids = [str(i) for i in ids]
        if len(ids) != x.shape[0]:
            raise ConfigError(f"{x.shape[0]} vectors but {len(ids)} ids were given: give one id per vector")
        n, dim = x.shape
        if config.metric == "cosine":
            faiss.normalize_L2(x)
        gpu = _gpu_id(config.device)
        kind = config.kind
        if kind == "auto":
            approximate = config.auto_approximate or ("ivf" if gpu is not None else "hnsw")
            kind = "flat" if n <= config.auto_threshold else approximate
        params: dict[str, Any] = {}
        if config.codec != "float32":
            index, params = _compressed(faiss, x, kind, config)
            return cls(index, ids, kind=kind, metric=config.metric, params=params, codec=config.codec)
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = config.hnsw_ef_construction
            index.hnsw.efSearch = config.hnsw_ef_search
            params = {"m": config.hnsw_m, "ef_construction": config.hnsw_ef_construction,
                      "ef_search": config.hnsw_ef_search}
        else:
            index, params = _train_ivf(faiss, x, config)
        index.add(x)
        return cls(index, ids, kind=kind, metric=config.metric, params=params, gpu=gpu)

    # -- search ------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self._dim

    @property
    def ids(self) -> list[str]:
        return list(self._ids)

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def __repr__(self) -> str:
        params = "".join(f", {k}={v}" for k, v in self.params.items())
        device = f"cuda:{self.gpu}" if self.gpu is not None else "cpu"
        codec = "" if self.codec == "float32" else f", codec={self.codec}"
        return (f"VectorIndex(kind={self.kind}, size={len(self)}, dim={self.dim}, metric={self.metric}{codec}{params}, "
                f"device={device})")

    @property
    def bytes_per_vector(self) -> float:
        """Bytes of one stored vector's code (HNSW's graph links and IVF's list ids come on top)."""
        if self.gpu is not None:
            return 4.0 * self.dim
        faiss = _faiss()
        if self.kind == "ivf":
            return float(faiss.extract_index_ivf(self._index).code_size)
        index = faiss.downcast_index(self._index)
        storage = getattr(index, "storage", None)
        return float((storage if storage is not None else index).sa_code_size())

    def tune(self, *, ef_search: int | None = None, nprobe: int | None = None) -> None:
        """Change the search-time knob of an HNSW (``ef_search``) or IVF (``nprobe``) index."""
        for name, value, kind in (("ef_search", ef_search, "hnsw"), ("nprobe", nprobe, "ivf")):
            if value is None:
                continue
            if self.kind != kind:
                raise ConfigError(f"{name} tunes a {kind} index, but this one is {self.kind}")
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, not {value!r}")
            self.params[name] = value
        self._set_knobs(self._index)

    def _set_knobs(self, index: Any) -> None:
        """Write the search-time knobs into ``index`` (searches also pass them as SearchParameters)."""
        if self.kind == "hnsw":
            index.hnsw.efSearch = self.params["ef_search"]
        elif self.kind == "ivf":
            if self.gpu is not None and index is self._index:
                index.nprobe = self.params["nprobe"]
            else:
                _faiss().extract_index_ivf(index).nprobe = self.params["nprobe"]

    def _search_params(self) -> Any:
        faiss = _faiss()
        if self.kind == "hnsw":
            return faiss.SearchParametersHNSW(efSearch=self.params["ef_search"])
        if self.kind == "ivf":
            return faiss.SearchParametersIVF(nprobe=self.params["nprobe"])
        return None

    def search(self, queries: Any, k: int = 10) -> tuple[np.ndarray, list[list[str]]]:
        """The ``k`` stored vectors nearest to each query: ``(scores, ids)``.

        ``queries`` is ``(Q, d)`` or one ``(d,)`` vector (answered as ``Q = 1``). ``scores`` is
        ``(Q, min(k, len(self)))``, best first (cosine similarity for the default metric);
        ``ids[q]`` lists the ids of row ``q``'s hits. An approximate index may find fewer than
        ``k`` hits for a query: its id list is then shorter and the missing scores are ``-inf``.
        """
        if not isinstance(k, int) or k < 1:
            raise ConfigError(f"k must be a positive integer, not {k!r}")
        if len(self) == 0:
            raise ConfigError("the index is empty: build it from at least one vector before searching")
        arr = np.asarray(queries)
        q = _as_matrix(arr.reshape(1, -1) if arr.ndim == 1 else arr, "queries", self.dim)  # (Q, d)
        if self.metric == "cosine":
            _faiss().normalize_L2(q)
        k = min(k, len(self))
        if self.gpu is not None and k > GPU_MAX_K:
            raise ConfigError(f"k={k} is above the {GPU_MAX_K} neighbours a FAISS GPU index returns: "
                              "ask for fewer or build with device='cpu'")
        params = self._search_params()
        if params is None:
            scores, rows = self._index.search(q, k)  # (Q, k), (Q, k)
        else:
            scores, rows = self._index.search(q, k, params=params)  # (Q, k), (Q, k)
        found = rows >= 0  # (Q, k)
        scores = np.where(found, scores, -np.inf).astype(np.float32)  # (Q, k)
        ids = [list(self._ids[r[f]]) for r, f in zip(rows, found, strict=True)]
        return scores, ids

    # -- persistence -------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``index.faiss`` (the CPU form) and ``index.json`` into ``folder``; returns it."""
        faiss = _faiss()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        cpu = faiss.index_gpu_to_cpu(self._index) if self.gpu is not None else self._index
        self._set_knobs(cpu)
        meta = {"format": FORMAT, "kind": self.kind, "metric": self.metric, "codec": self.codec,
                "normalized": self.metric == "cosine", "dim": self.dim, "count": len(self),
                "params": self.params, "faiss_version": faiss.__version__, "ids": self.ids}
        tmp_index, tmp_meta = folder / (INDEX_FILE + ".tmp"), folder / (META_FILE + ".tmp")
        faiss.write_index(cpu, str(tmp_index))
        tmp_meta.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp_index, folder / INDEX_FILE)
        os.replace(tmp_meta, folder / META_FILE)
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike[str], *, device: str | None = None,
             threads: int | None = None) -> VectorIndex:
        """An index saved by :meth:`save`; flat/IVF move to the GPU as for ``IndexConfig.device``."""
        faiss = _faiss()
        folder = Path(folder)
        hint = f"{folder} is not a saved vector index (expected {INDEX_FILE} and {META_FILE}): rebuild it"
        if not (folder / META_FILE).is_file() or not (folder / INDEX_FILE).is_file():
            raise ConfigError(hint)
        try:
            meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{hint} ({META_FILE} is unreadable: {exc})") from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ConfigError(f"{hint} ({META_FILE} is not in format {FORMAT})")
        if meta.get("kind") not in KINDS[1:] or meta.get("metric") not in METRICS or \
                meta.get("codec", "float32") not in CODECS:
            raise ConfigError(f"{hint} ({META_FILE} names kind {meta.get('kind')!r}, metric {meta.get('metric')!r})")
        params = meta.get("params") or {}
        knob = {"hnsw": "ef_search", "ivf": "nprobe"}.get(meta["kind"])
        if knob and not isinstance(params.get(knob), int):
            raise ConfigError(f"{hint} ({META_FILE} has no {knob} for its {meta['kind']} index)")
        if threads is not None:
            faiss.omp_set_num_threads(threads)
        try:
            index = faiss.read_index(str(folder / INDEX_FILE))
        except RuntimeError as exc:
            raise ConfigError(f"{hint} ({INDEX_FILE} is damaged: {str(exc).splitlines()[0]})") from exc
        ids = meta.get("ids")
        if not isinstance(ids, list) or index.ntotal != len(ids) or index.d != meta.get("dim"):
            raise ConfigError(f"{hint} ({INDEX_FILE} holds {index.ntotal} {index.d}-d vectors, "
                              f"{META_FILE} lists {len(ids) if isinstance(ids, list) else 'no'} ids of dim "
                              f"{meta.get('dim')})")
        codec = meta.get("codec", "float32")
        return cls(index, ids, kind=meta["kind"], metric=meta["metric"], params=params,
                   gpu=_gpu_id(device) if codec == "float32" else None, codec=codec)


def _train_ivf(faiss: Any, x: np.ndarray, config: IndexConfig) -> tuple[Any, dict[str, Any]]:
    """An empty, trained ``IndexIVFFlat`` for ``x`` (``(N, d)``) and its parameters."""
    n, dim = x.shape
    nlist = config.ivf_nlist or max(1, min(int(4 * math.sqrt(n)), n // 39))
    if nlist > n:
        raise ConfigError(f"an IVF index of {nlist} cells needs at least {nlist} vectors, got {n}: "
                          "use kind='flat' or a smaller ivf_nlist")
    nprobe = min(config.ivf_nprobe or max(1, nlist // 4), nlist)
    train_size = min(n, config.ivf_train_size or 64 * nlist)
    sample = x if train_size >= n else x[np.random.default_rng(config.seed).choice(n, train_size, replace=False)]
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = config.seed
    index.train(sample)  # (train_size, d)
    index.nprobe = nprobe  # (faiss's Python wrapper keeps the quantizer alive with the index)
    return index, {"nlist": nlist, "nprobe": nprobe, "train_size": train_size}



def _compressed(faiss: Any, x: np.ndarray, kind: str, config: IndexConfig) -> tuple[Any, dict[str, Any]]:
    """A filled index of ``kind`` whose vectors are stored by ``config.codec`` (FAISS index factory)."""
    n, dim = x.shape
    if config.codec == "pq":
        if dim % config.pq_m:
            raise ConfigError(f"pq_m={config.pq_m} must divide the vector size {dim}: pick a divisor such as "
                              f"{', '.join(str(m) for m in (8, 16, 24, 32, 48, 64, 96) if dim % m == 0)}")
        if n < 39 * 256:
            raise ConfigError(f"the pq codec trains 256 centroids per sub-quantiser from at least 9,984 vectors, "
                              f"got {n}: use codec='int8' or 'float16' for a small index")
        code = f"PQ{config.pq_m}"
    else:
        code = _SQ[config.codec]
    params: dict[str, Any] = {}
    if kind == "flat":
        spec = code
    elif kind == "hnsw":
        spec = f"HNSW{config.hnsw_m}_{code}"
        params |= {"m": config.hnsw_m, "ef_construction": config.hnsw_ef_construction,
                   "ef_search": config.hnsw_ef_search}
    else:
        nlist = config.ivf_nlist or max(1, min(int(4 * math.sqrt(n)), n // 39))
        if nlist > n:
            raise ConfigError(f"an IVF index of {nlist} cells needs at least {nlist} vectors, got {n}: "
                              "use kind='flat' or a smaller ivf_nlist")
        nprobe = min(config.ivf_nprobe or max(1, nlist // 4), nlist)
        spec = f"IVF{nlist},{code}"
        params |= {"nlist": nlist, "nprobe": nprobe}
    index = faiss.index_factory(dim, spec, faiss.METRIC_INNER_PRODUCT)
    if kind == "hnsw":
        hnsw = faiss.downcast_index(index).hnsw
        hnsw.efConstruction = config.hnsw_ef_construction
        hnsw.efSearch = config.hnsw_ef_search
    if kind == "ivf":
        faiss.extract_index_ivf(index).nprobe = params["nprobe"]
    for part in (index, faiss.downcast_index(index)):  # polysemous codes are not used and take minutes
        if hasattr(part, "do_polysemous_training"):
            part.do_polysemous_training = False
    if kind == "ivf" and hasattr(faiss.extract_index_ivf(index), "do_polysemous_training"):
        faiss.extract_index_ivf(index).do_polysemous_training = False
    if not index.is_trained:
        size = min(n, max(config.codec_train_size, 64 * params.get("nlist", 0)))
        rng = np.random.default_rng(config.seed)
        index.train(x if size >= n else x[rng.choice(n, size, replace=False)])
    index.add(x)
    return index, params
