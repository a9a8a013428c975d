"""GNN encoder benchmark on the full MetaQA KB: full-graph forward time and memory, and
link-prediction pretraining against KGE baselines with the same wall-clock budget.

1. Forward: for each ``--kinds`` encoder (with its node features), ``--repeats`` full-graph
   forwards in eval mode (median time; peak RSS growth over the resident set before, sampled
   every 5 ms with psutil after handing freed heap back with ``malloc_trim``; on CUDA also
   ``torch.cuda.max_memory_allocated``), and one training step (forward + backward) for scale.
2. Pretraining (``encoders.pretrain.pretrain``): the GNN and ``--baselines`` (torch_geometric.nn.kge)
   each get ``--budget-s`` seconds on the same 95% of the triples, early-stopped on the same
   validation triples, ranked by the same filtered protocol on the same held-out 5%; a
   popularity reference (how often an entity is the tail/head of the relation) beside them.

    python bench/encode.py [--kb ../shared/data/metaqa/kb.txt] [--device cpu|cuda] [--budget-s 300]
                           [--kinds compgcn,rgcn] [--hidden 128] [--layers 2] [--threads 1] [--skip-pretrain]

Prints a markdown table and writes ``bench/results/encode.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_KB = ROOT.parent / "shared" / "data" / "metaqa" / "kb.txt"


class PeakRSS:
    """Peak resident-set growth of this process while the block runs (sampled by a thread)."""

    def __init__(self, interval_s: float = 0.005) -> None:
        import psutil

        self.proc = psutil.Process()
        self.interval = interval_s
        self.peak = 0
        self.base = 0
        self._stop = threading.Event()

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        trim()
        self.base = self.peak = self.proc.memory_info().rss
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def delta_mb(self) -> float:
        return (self.peak - self.base) / 2**20


def trim() -> None:
    """Hand freed heap back to the OS (glibc), so that RSS growth is not hidden by reuse."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def load_export(args: argparse.Namespace) -> tuple[Any, dict[str, float]]:
    """The graph as a GraphExport: from ``--store-path`` or ingested from ``--kb`` into a scratch store."""
    from kg.ingest import ingest
    from kg.store.embedded import EmbeddedStore

    times: dict[str, float] = {}
    if args.store_path:
        store = EmbeddedStore(args.store_path, read_only=True)
    else:
        folder = tempfile.mkdtemp(prefix="kgqa-encode-")
        store = EmbeddedStore(Path(folder) / "graph")
        t0 = time.perf_counter()
        ingest(store, args.kb, progress=False)
        times["ingest_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    export = store.export()
    times["export_s"] = time.perf_counter() - t0
    store.close()
    return export, times


def time_forward(kind: str, export: Any, text: Any, args: argparse.Namespace, device: Any) -> dict[str, Any]:
    import torch

    from encoders.features import FeatureConfig
    from encoders.gnn import GNNConfig
    from encoders.linkpred import GraphLinkModel

    torch.manual_seed(0)
    gnn = GNNConfig(kind=kind, hidden=args.hidden, layers=args.layers)
    model = GraphLinkModel(gnn, FeatureConfig(), export.num_nodes, len(export.relations),
                           torch.from_numpy(text)).to(device)
    ei = torch.tensor(export.edge_index, dtype=torch.long).reshape(2, -1).to(device)
    et = torch.tensor(export.edge_type, dtype=torch.long).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def forward() -> None:
        model.embed(ei, et)
        sync()

    forward()  # warm-up (allocator, lazy init)
    times, peaks, gpu_peaks = [], [], []
    for _ in range(args.repeats):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        with PeakRSS() as rss:
            t0 = time.perf_counter()
            forward()
            times.append(time.perf_counter() - t0)
        peaks.append(rss.delta_mb)
        if device.type == "cuda":
            gpu_peaks.append(torch.cuda.max_memory_allocated(device) / 2**20)
    model.train()
    t0 = time.perf_counter()
    model(ei, et).pow(2).mean().backward()
    sync()
    step_s = time.perf_counter() - t0
    params = sum(p.numel() for p in model.parameters())
    return {"kind": kind, "forward_s": statistics.median(times), "forward_runs_s": [round(t, 3) for t in times],
            "rss_delta_mb": statistics.median(peaks), "gpu_peak_mb": max(gpu_peaks) if gpu_peaks else None,
            "train_step_s": step_s, "parameters": params, "repr": repr(model.encoder)}


def popularity(export: Any, seed: int) -> dict[str, float]:
    from encoders.pretrain import export_triples, split_triples
    from encoders.ranking import PopularityScorer, TripleFilter, evaluate

    triples = export_triples(export)
    split = split_triples(triples, seed=seed)
    known = TripleFilter(triples, len(export.relations))
    scorer = PopularityScorer(split.train, export.num_nodes, len(export.relations))
    return evaluate(scorer, split.test, known, relations=export.relations)


def table(result: dict[str, Any]) -> str:
    g = result["graph"]
    lines = [f"Graph: {g['nodes']:,} nodes, {g['edges']:,} triples ({2 * g['edges']:,} directed edges with "
             f"reverses), {g['relations']} relation types. Device: {result['device']}, torch threads: "
             f"{result['threads']}.", "",
             "| encoder | params | full-graph forward (median) | RSS growth | GPU peak | train step (fwd+bwd) |",
             "|---|---:|---:|---:|---:|---:|"]
    for f in result["forward"]:
        gpu = f"{f['gpu_peak_mb']:.0f} MiB" if f["gpu_peak_mb"] is not None else "-"
        lines.append(f"| {f['kind']} | {f['parameters']:,} | {f['forward_s']:.2f} s | {f['rss_delta_mb']:.0f} MiB "
                     f"| {gpu} | {f['train_step_s']:.2f} s |")
    p = result.get("pretrain")
    if p:
        lines += ["", f"Link prediction, filtered, held-out {p['split']['test']:,} triples (tails and heads), "
                      f"budget {p['budget_s']:.0f} s per model, mode {p['mode']}:", "",
                  "| model | MRR | Hits@1 | Hits@10 | tail MRR | head MRR | epochs (best) | stopped | train time |",
                  "|---|---:|---:|---:|---:|---:|---:|---|---:|"]
        for name, m in p["metrics"].items():
            lines.append(f"| {name} | {m['mrr']:.3f} | {m['hits@1']:.3f} | {m['hits@10']:.3f} | {m['tail_mrr']:.3f} "
                         f"| {m['head_mrr']:.3f} | {p['epochs'][name]} ({p['best_epoch'][name]}) "
                         f"| {p['stopped'][name]} | {p['train_s'][name]:.0f} s |")
        m = p["popularity"]
        lines.append(f"| popularity (no learning) | {m['mrr']:.3f} | {m['hits@1']:.3f} | {m['hits@10']:.3f} "
                     f"| {m['tail_mrr']:.3f} | {m['head_mrr']:.3f} | - | - | - |")
        models = {**p["metrics"], "popularity": p["popularity"]}
        lines += ["", "Tail / head MRR per relation (held-out triples):", "",
                  "| relation | test triples | " + " | ".join(models) + " |",
                  "|---|---:|" + "---:|" * len(models)]
        for rel, row in p["popularity"]["by_relation"].items():
            cells = [f"{m['by_relation'][rel]['tail_mrr']:.3f} / {m['by_relation'][rel]['head_mrr']:.3f}"
                     for m in models.values()]
            lines.append(f"| {rel} | {row['count']:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kb", default=str(DEFAULT_KB))
    ap.add_argument("--store-path", help="an existing embedded store (instead of ingesting --kb)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    ap.add_argument("--kinds", default="compgcn,rgcn")
    ap.add_argument("--pretrain-kind", default="compgcn")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--budget-s", type=float, default=300.0, help="training budget of each model (GNN, baselines)")
    ap.add_argument("--baselines", default="distmult")
    ap.add_argument("--mode", default="auto", help="pretraining mode: auto, full or sampled")
    ap.add_argument("--text-cache", default=str(ROOT / ".kgqa" / "cache" / "text"))
    ap.add_argument("--run-dir", default=None, help="where pretraining writes its checkpoint (default: a temp dir)")
    ap.add_argument("--skip-pretrain", action="store_true")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "encode.json"))
    args = ap.parse_args(argv)

    import torch

    from encoders.device import pick_device
    from encoders.features import text_features
    from encoders.gnn import GNNConfig
    from encoders.kge import KGEConfig
    from encoders.pretrain import PretrainConfig, pretrain
    from encoders.text import TextEncoderConfig
    from kg.errors import KGQAError

    try:
        device = pick_device(args.device)
    except KGQAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    export, times = load_export(args)
    t0 = time.perf_counter()
    text = text_features(export.names, TextEncoderConfig(cache_dir=args.text_cache, device=str(device)))
    times["text_features_s"] = time.perf_counter() - t0
    result: dict[str, Any] = {
        "graph": {"nodes": export.num_nodes, "edges": export.num_edges, "relations": len(export.relations)},
        "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        "threads": torch.get_num_threads(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__, "hidden": args.hidden, "layers": args.layers, "times": times,
        "forward": [time_forward(k, export, text, args, device) for k in args.kinds.split(",") if k],
    }
    print(table(result), flush=True)
    if not args.skip_pretrain:
        config = PretrainConfig(gnn=GNNConfig(kind=args.pretrain_kind, hidden=args.hidden, layers=args.layers),
                                mode=args.mode, budget_s=args.budget_s, device=str(device), progress=args.progress,
                                baselines=tuple(b for b in args.baselines.split(",") if b), kge=KGEConfig(dim=0),
                                text_cache_dir=args.text_cache)
        run_dir = args.run_dir or tempfile.mkdtemp(prefix="kgqa-pretrain-")
        report = pretrain(export, config, run_dir, text=text)
        result["pretrain"] = {**{k: v for k, v in asdict(report).items() if k not in ("config", "paths")},
                              "budget_s": args.budget_s, "popularity": popularity(export, config.seed),
                              "config": {"gnn": asdict(config.gnn), "features": asdict(config.features),
                                         "batch_size": config.batch_size, "num_negatives": config.num_negatives,
                                         "lr": config.lr, "patience": config.patience}}
    result["total_s"] = time.perf_counter() - started
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print()
    print(table(result))
    print(f"\nwrote {args.out} ({result['total_s']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
