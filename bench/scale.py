"""Scaling benchmark: what kgqa costs as the graph grows (1M, 3M, 10M... triples).

For each size, a seeded knowledge-graph-shaped N-Triples file (bench/kggen.py: a few hundred relation
types, heavy-tailed degrees, attribute relations with few popular tails, colliding names) goes through
the stages a user's graph goes through, each in its own process so that its peak memory (max RSS) is
its own:

* ``ingest``    — a fresh embedded store: wall time, triples/s, peak RSS, disk;
* ``snapshot``  — the in-memory CSR copy answering walks (``GraphSnapshot.from_store``): time, RSS, bytes;
* ``fetch``     — a question's k-hop neighbourhood read from the store itself (``store.export(seeds,
  hops)``, what answering from the store costs), p50/p95 per question;
* ``retrieval`` — the pruned subgraph of a question from the snapshot (``SubgraphRetriever``), p50/p95;
* ``names``     — the name embeddings of every node (MiniLM, the GNN's node features): time, names/s;
* ``index``     — a FAISS index over those names as float32, float16, int8 and PQ: build time, bytes per
  vector, recall@10 against exact float32 search on misspelt names;
* ``answer``    — a QA model trained once on the smallest size (``--model``; ``kgqa train --kb``, zero-shot,
  questions synthesised from the graph) answers questions synthesised from each size's own paths (another
  seed), as typed: Hits@1, p50/p95 per question, peak RSS.

Sizes whose names would take longer than ``--names-max-minutes`` to encode (at the rate measured on the
smallest size) skip ``names``, ``index`` and ``answer``; the table says so. Prints a table, writes JSON and
a PNG of each cost against size with the fitted power law (cost ∝ size^b).

    python bench/scale.py --sizes 1000000 3000000 10000000 --model .kgqa/bench/scale/model
    python bench/scale.py --train-model --sizes 1000000      # trains the model on the smallest size first

Files go under ``--work`` (default ``.kgqa/bench/scale`` in the working folder; 10M triples take ~1.2 GB of
N-Triples plus the store).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))

STAGES = ("ingest", "snapshot", "fetch", "retrieval", "names", "index", "answer")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _du_mb(path: Path) -> float:
    total = 0
    for p in path.rglob("*"):
        if p.is_file():
            total += p.stat().st_size
    return total / 2**20


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def _paths(work: Path, size: int) -> dict[str, Path]:
    d = work / f"size_{size}"
    return {"dir": d, "nt": d / "graph.nt", "store": d / "store", "snapshot": d / "snapshot",
            "names": d / "names.npy", "questions": d / "questions.json"}


# -- stages (each runs in a child process) -----------------------------------------------------------
def stage_ingest(p: dict[str, Path], args: argparse.Namespace) -> dict[str, Any]:
    from kg.ingest import ingest
    from kg.store.embedded import EmbeddedStore

    if p["store"].exists():
        shutil.rmtree(p["store"])
    store = EmbeddedStore(str(p["store"]))
    t0 = time.perf_counter()
    report = ingest(store, p["nt"], progress=False)
    seconds = time.perf_counter() - t0
    stats = store.stats()
    t1 = time.perf_counter()
    store.close()
    close_s = time.perf_counter() - t1
    info = json.loads(Path(f"{p['nt']}.json").read_text())
    return {"seconds": seconds + close_s, "close_seconds": close_s, "triples": info["triples"],
            "lines": info["triples"] + info["label_lines"], "records": report.records,
            "triples_per_s": info["triples"] / (seconds + close_s), "entities": stats.entities,
            "relations": stats.relations, "disk_mb": _du_mb(p["store"]), "peak_rss_mb": _rss_mb()}


def stage_snapshot(p: dict[str, Path], args: argparse.Namespace) -> dict[str, Any]:
    from kg.store.embedded import EmbeddedStore
    from retrieval.snapshot import GraphSnapshot

    store = EmbeddedStore(str(p["store"]), read_only=True)
    t0 = time.perf_counter()
    export = store.export()
    t_export = time.perf_counter() - t0
    snap = GraphSnapshot.from_export(export)
    seconds = time.perf_counter() - t0
    del export
    store.close()
    arrays = sum(getattr(snap, f).nbytes for f in ("src", "dst", "edge_type", "out_ptr", "out_nbr", "out_type",
                                                   "out_eid", "in_ptr", "in_nbr", "in_type", "in_eid"))
    if p["snapshot"].exists():
        shutil.rmtree(p["snapshot"])
    snap.save(p["snapshot"])
    t1 = time.perf_counter()
    GraphSnapshot.load(p["snapshot"])
    load_s = time.perf_counter() - t1
    return {"seconds": seconds, "export_seconds": t_export, "nodes": snap.num_nodes, "edges": len(snap.src),
            "arrays_mb": arrays / 2**20, "disk_mb": _du_mb(p["snapshot"]), "load_seconds": load_s,
            "peak_rss_mb": _rss_mb()}


def _questions(p: dict[str, Path], snap: Any, n: int, seed: int) -> list[dict[str, Any]]:
    """Questions synthesised from the graph's own paths (1-3 hops), cached per size."""
    if p["questions"].exists():
        return json.loads(p["questions"].read_text())
    from qa.data.synthesis import synthesise

    qs = synthesise(snap, max_hops=3, per_path=2, paths=40, phrasings=1, max_answers=50, seed=seed)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(qs), size=min(n, len(qs)), replace=False)
    out = [{"text": qs[i].text, "answers": list(qs[i].answers), "topic": qs[i].topic, "path": qs[i].extra["path"]}
           for i in sorted(pick)]
    by_name: dict[str, list[str]] = {}
    for i, name in enumerate(snap.names):
        by_name.setdefault(name, []).append(snap.node_ids[i])
    # The topic's id: the entity of that name whose walk along the path gives the answers (names collide).
    for q in out:
        q["topic_ids"] = by_name.get(q["topic"], [])
    p["questions"].write_text(json.dumps(out))
    return out


def _topic_id(snap: Any, q: dict[str, Any]) -> str:
    """One id of the topic's name that has edges (the first; collisions make the walk ambiguous)."""
    for nid in q["topic_ids"]:
        i = snap.index_of[nid]
        if snap.out_ptr[i + 1] > snap.out_ptr[i] or snap.in_ptr[i + 1] > snap.in_ptr[i]:
            return nid
    return q["topic_ids"][0]


def stage_fetch(p: dict[str, Path], args: argparse.Namespace) -> dict[str, Any]:
    from kg.store.embedded import EmbeddedStore
    from retrieval.snapshot import GraphSnapshot

    snap = GraphSnapshot.load(p["snapshot"])
    qs = _questions(p, snap, args.questions, args.seed)
    seeds = [_topic_id(snap, q) for q in qs][: args.fetch_questions]
    del snap
    store = EmbeddedStore(str(p["store"]), read_only=True)
    times, edges = [], []
    for s in seeds:
        t0 = time.perf_counter()
        exp = store.export(seeds=[s], hops=2)
        times.append(time.perf_counter() - t0)
        edges.append(len(exp.edge_type))
    store.close()
    return {"questions": len(seeds), "hops": 2, "p50_ms": 1000 * _pct(times, 50), "p95_ms": 1000 * _pct(times, 95),
            "edges_p50": _pct(edges, 50), "edges_max": max(edges) if edges else 0, "peak_rss_mb": _rss_mb()}


def stage_retrieval(p: dict[str, Path], args: argparse.Namespace) -> dict[str, Any]:
    from retrieval.snapshot import GraphSnapshot
    from retrieval.subgraph import SubgraphConfig, SubgraphRetriever

    t0 = time.perf_counter()
    snap = GraphSnapshot.load(p["snapshot"])
    load_s = time.perf_counter() - t0
    qs = _questions(p, snap, args.questions, args.seed)
    t1 = time.perf_counter()
    retriever = SubgraphRetriever(snap, SubgraphConfig(hops=3, text_cache_dir=args.text_cache))
    init_s = time.perf_counter() - t1
    scores = retriever.score_relations([q["text"] for q in qs])                     # (Q, R)
    times, covered, nodes = [], [], []
    for q, sc in zip(qs, scores, strict=False):
        seed = _topic_id(snap, q)
        t2 = time.perf_counter()
        sub = retriever.retrieve([seed], relation_scores=sc)
        times.append(time.perf_counter() - t2)
        if len(q["topic_ids"]) == 1:  # coverage where the name says which entity the topic is
            kept = set(sub.node_ids)
            covered.append(any(a in kept for a in q["answers"]))
        nodes.append(sub.num_nodes)
    return {"questions": len(qs), "load_seconds": load_s, "init_seconds": init_s,
            "p50_ms": 1000 * _pct(times, 50), "p95_ms": 1000 * _pct(times, 95),
            "answer_in_subgraph": float(np.mean(covered)), "unique_topic_questions": len(covered),
            "nodes_p50": _pct(nodes, 50), "peak_rss_mb": _rss_mb()}


def stage_names(p: dict[str, Path], args: argparse.Namespace) -> dict[str, Any]:
    from encoders.text import TextEncoder, TextEncoderConfig
    from retrieval.snapshot import GraphSnapshot

    snap = GraphSnapshot.load(p["snapshot"])
    enc = TextEncoder(TextEncoderConfig(cache_dir=args.text_cache))  # the model's training reads it after
    unique = sorted(set(snap.names))
    enc.encode(unique[:64])
    t0 = time.perf_counter()
    vec = enc.encode(unique)                                                         # (U, 384)
    seconds = time.perf_counter() - t0
    row = {n: i for i, n in enumerate(unique)}
    names = vec[[row[n] for n in snap.names]]                                        # (N, 384)
    np.save(p["names"], names)
    return {"nodes": snap.num_nodes, "unique_names": len(unique), "seconds": seconds,
            "names_per_s": len(unique) / seconds, "float32_mb": names.nbytes / 2**20, "peak_rss_mb": _rss_mb()}


def _misspelt(name: str, rng: np.random.Generator) -> str:
    if len(name) < 4:
        return name
    i = int(rng.integers(1, len(name) - 1))
    op = int(rng.integers(3))
    if op == 0:
        return name[:i] + name[i + 1:]
    if op == 1:
        return name[:i] + name[i + 1] + name[i] + name[i + 2:]
    return name[:i] + "e" + name[i:]


def stage_index(p: dict[str, Path], args: argparse.Namespace) -> dict[str, Any]:
    from encoders.text import TextEncoder, TextEncoderConfig
    from retrieval.index import IndexConfig, VectorIndex
    from retrieval.snapshot import GraphSnapshot

    snap = GraphSnapshot.load(p["snapshot"])
    names = np.load(p["names"])                                                      # (N, 384)
    rng = np.random.default_rng(args.seed)
    pick = rng.choice(len(snap.names), size=min(1000, len(snap.names)), replace=False)
    queries = TextEncoder(TextEncoderConfig(cache_dir=None)).encode(
        [_misspelt(snap.names[i], rng) for i in pick])                               # (Q, 384)
    ids = [str(i) for i in range(len(names))]
    out: dict[str, Any] = {"vectors": len(names), "queries": len(pick)}
    exact = VectorIndex.build(names, ids, IndexConfig(kind="flat", device="cpu"))
    _, gold = exact.search(queries, 10)
    for kind, codec in (("flat", "float32"), ("flat", "float16"), ("flat", "int8"), ("flat", "pq"),
                    ("hnsw", "float32"), ("hnsw", "int8")):
        t0 = time.perf_counter()
        ix = VectorIndex.build(names, ids, IndexConfig(kind=kind, codec=codec, device="cpu", threads=args.threads))
        build = time.perf_counter() - t0
        t1 = time.perf_counter()
        _, hits = ix.search(queries, 10)
        search = (time.perf_counter() - t1) / len(pick)
        recall = float(np.mean([len(set(h) & set(g)) / max(1, len(g)) for h, g in zip(hits, gold, strict=False)]))
        top1 = float(np.mean([bool(h) and bool(g) and h[0] == g[0] for h, g in zip(hits, gold, strict=False)]))
        out[f"{kind}_{codec}"] = {"build_seconds": build, "bytes_per_vector": ix.bytes_per_vector,
                                  "recall_at_10": recall, "top1_agrees": top1, "search_ms": 1000 * search}
    out["peak_rss_mb"] = _rss_mb()
    return out


def stage_answer(p: dict[str, Path], args: argparse.Namespace) -> dict[str, Any]:
    from kg.config import StoreConfig
    from qa.answer.answerer import load_answerer
    from qa.data.questions import Question
    from retrieval.snapshot import GraphSnapshot

    snap = GraphSnapshot.load(p["snapshot"])
    qs = _questions(p, snap, args.questions, args.seed)
    del snap
    t0 = time.perf_counter()
    answerer = load_answerer(args.model, device="cpu",
                             store=StoreConfig(backend="embedded", path=str(p["store"])))
    load_s = time.perf_counter() - t0
    hits, times = [], []
    for q in qs:
        t1 = time.perf_counter()
        pred = answerer.predict([Question(q["text"], tuple(q["answers"]))])[0]
        times.append(time.perf_counter() - t1)
        top = pred.answers[0].entity_id if pred.answers else None
        hits.append(top in set(q["answers"]))
    return {"questions": len(qs), "hits_at_1": 100 * float(np.mean(hits)), "load_seconds": load_s,
            "p50_ms": 1000 * _pct(times, 50), "p95_ms": 1000 * _pct(times, 95), "notes": answerer.notes,
            "peak_rss_mb": _rss_mb()}


CHILD = {"ingest": stage_ingest, "snapshot": stage_snapshot, "fetch": stage_fetch, "retrieval": stage_retrieval,
         "names": stage_names, "index": stage_index, "answer": stage_answer}


def run_child(stage: str, size: int, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", stage, "--sizes", str(size), "--work", str(args.work),
           "--questions", str(args.questions), "--fetch-questions", str(args.fetch_questions),
           "--seed", str(args.seed), "--text-cache", args.text_cache]
    if args.model:
        cmd += ["--model", str(args.model)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=os.getcwd(), env=env)
    if out.returncode != 0:
        raise SystemExit(f"stage {stage} at {size:,} failed:\n{out.stderr[-3000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["wall_seconds"] = time.perf_counter() - t0
    return res


def train_model(args: argparse.Namespace, size: int) -> None:
    """``kgqa train --kb`` on the smallest size (zero-shot: questions synthesised from the graph)."""
    p = _paths(args.work, size)
    cmd = [sys.executable, "-c", "from qa.cli import main; main()", "train", "--out", str(args.model),
           "--budget-minutes", str(args.train_minutes)]
    env = dict(os.environ, KGQA_STORE="embedded", KGQA_STORE_PATH=str(p["store"]))
    print(f"training on the store {p['store']}:", " ".join(cmd[3:]), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=os.getcwd(), env=env)
    print(f"trained in {time.perf_counter() - t0:.0f} s", flush=True)


# -- report --------------------------------------------------------------------------------------------
def fit(sizes: list[int], values: list[float]) -> tuple[float, float] | None:
    """Least-squares power law value = a * size^b on log-log axes; None with fewer than two points."""
    pts = [(s, v) for s, v in zip(sizes, values, strict=False) if v and v > 0 and np.isfinite(v)]
    if len(pts) < 2:
        return None
    x, y = np.log([s for s, _ in pts]), np.log([v for _, v in pts])
    b, log_a = np.polyfit(x, y, 1)
    return float(np.exp(log_a)), float(b)


METRICS = [  # (label, stage, key, unit)
    ("ingest time", "ingest", "seconds", "s"),
    ("ingest peak RSS", "ingest", "peak_rss_mb", "MB"),
    ("store on disk", "ingest", "disk_mb", "MB"),
    ("snapshot build", "snapshot", "seconds", "s"),
    ("snapshot build peak RSS", "snapshot", "peak_rss_mb", "MB"),
    ("snapshot arrays", "snapshot", "arrays_mb", "MB"),
    ("store 2-hop fetch p50", "fetch", "p50_ms", "ms"),
    ("subgraph retrieval p50", "retrieval", "p50_ms", "ms"),
    ("retrieval process peak RSS", "retrieval", "peak_rss_mb", "MB"),
    ("name encoding", "names", "seconds", "s"),
    ("answer p50", "answer", "p50_ms", "ms"),
    ("answer process peak RSS", "answer", "peak_rss_mb", "MB"),
]


def table(results: dict[str, Any]) -> str:
    sizes = sorted(int(s) for s in results["sizes"])
    head = "| metric | " + " | ".join(f"{s / 1e6:g}M triples" for s in sizes) + " | fitted growth |"
    lines = [head, "|---|" + "---:|" * len(sizes) + "---|"]
    for label, stage, key, unit in METRICS:
        vals = [results["sizes"][str(s)].get(stage, {}).get(key) for s in sizes]
        f = fit(sizes, [v if v is not None else float("nan") for v in vals])
        cells = [("—" if v is None else f"{v:,.1f} {unit}") for v in vals]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {f'∝ size^{f[1]:.2f}' if f else ''} |")
    for key, label in (("triples_per_s", "ingest rate (triples/s)"),):
        vals = [results["sizes"][str(s)].get("ingest", {}).get(key) for s in sizes]
        lines.append(f"| {label} | " + " | ".join("—" if v is None else f"{v:,.0f}" for v in vals) + " | |")
    extra = [("answer Hits@1", "answer", "hits_at_1", "{:.1f}"),
             ("answer in retrieved subgraph", "retrieval", "answer_in_subgraph", "{:.3f}"),
             ("entities", "ingest", "entities", "{:,}")]
    for label, stage, key, fmt in extra:
        vals = [results["sizes"][str(s)].get(stage, {}).get(key) for s in sizes]
        lines.append(f"| {label} | " + " | ".join("—" if v is None else fmt.format(v) for v in vals) + " | |")
    return "\n".join(lines)


def plot(results: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(int(s) for s in results["sizes"])
    fig, axes = plt.subplots(3, 4, figsize=(16, 10))
    for ax, (label, stage, key, unit) in zip(axes.flat, METRICS, strict=False):
        pts = [(s, results["sizes"][str(s)].get(stage, {}).get(key)) for s in sizes]
        pts = [(s, v) for s, v in pts if v is not None]
        if pts:
            ax.loglog([s for s, _ in pts], [v for _, v in pts], "o", label="measured")
            f = fit([s for s, _ in pts], [v for _, v in pts])
            if f:
                xs = np.geomspace(min(sizes), max(sizes) * 10, 20)
                ax.loglog(xs, f[0] * xs ** f[1], "--", label=f"fit ∝ size^{f[1]:.2f}")
            ax.legend(fontsize=8)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("relation triples")
        ax.set_ylabel(unit)
    fig.tight_layout()
    fig.savefig(out, dpi=90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000])
    ap.add_argument("--work", type=Path, default=Path(".kgqa/bench/scale"))
    ap.add_argument("--stages", nargs="*", default=list(STAGES), choices=STAGES,
                    help="stages to run (none: only the table and plot of what --out and --merge hold)")
    ap.add_argument("--model", type=Path, default=None, help="QA checkpoint for the answer stage")
    ap.add_argument("--train-model", action="store_true", help="train --model on the smallest size first")
    ap.add_argument("--train-minutes", type=float, default=10.0)
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--fetch-questions", type=int, default=100)
    ap.add_argument("--names-max-minutes", type=float, default=15.0,
                    help="skip names/index/answer at sizes whose names would take longer to encode")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--text-cache", default=".kgqa/cache/text")
    ap.add_argument("--keep", action="store_true", help="keep each size's files (default: keep the smallest only)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "scale.json")
    ap.add_argument("--merge", type=Path, nargs="*", default=[],
                    help="JSON files of other runs (another --out) whose stages join this one's")
    ap.add_argument("--child", choices=STAGES, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.work = args.work.resolve()
    if args.child:
        p = _paths(args.work, args.sizes[0])
        print(json.dumps(CHILD[args.child](p, args)))
        return

    import kggen

    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                           "python": platform.python_version()},
                               "command": " ".join(sys.argv), "sizes": {}}
    if args.out.exists():  # sizes measured by an earlier run stay unless measured again
        results["sizes"] = json.loads(args.out.read_text()).get("sizes", {})
    for other in args.merge:
        theirs = json.loads(other.read_text())
        results.setdefault("merged", []).append({"file": str(other), "command": theirs.get("command")})
        for size, row in theirs.get("sizes", {}).items():
            results["sizes"].setdefault(size, {}).update({k: v for k, v in row.items() if k != "graph"})
    names_rate: float | None = None
    sizes = sorted(args.sizes)
    for size in sizes:
        p = _paths(args.work, size)
        p["dir"].mkdir(parents=True, exist_ok=True)
        row: dict[str, Any] = dict(results["sizes"].get(str(size), {}))  # stages not run again stay
        if not p["nt"].exists() or not Path(f"{p['nt']}.json").exists():
            info = kggen.generate(size, p["nt"], seed=args.seed)
            print(f"generated {info.triples:,} triples, {info.entities:,} entities in {info.seconds} s", flush=True)
        row["graph"] = json.loads(Path(f"{p['nt']}.json").read_text())
        for stage in args.stages:
            if stage == "names":
                entities = row.get("snapshot", {}).get("nodes", row["graph"]["entities"])
                if names_rate and entities / names_rate > 60 * args.names_max_minutes:
                    row[stage] = {"skipped": f"{entities:,} names at {names_rate:.0f}/s exceed "
                                             f"--names-max-minutes {args.names_max_minutes}"}
                    continue
            if stage in ("index", "answer") and ("skipped" in row.get("names", {}) or not p["names"].exists()):
                continue
            if stage == "answer" and not args.model:
                continue
            if (stage == "answer" and args.train_model and size == sizes[0]
                    and not (args.model / "config.json").exists()):
                train_model(args, size)
            print(f"{size:,}: {stage} ...", flush=True)
            row[stage] = run_child(stage, size, args)
            print(f"  {json.dumps(row[stage])[:300]}", flush=True)
            results["sizes"][str(size)] = row  # saved after every stage: a stopped run keeps what it measured
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1) + "\n")
            if stage == "names":
                names_rate = row[stage]["names_per_s"] * row[stage]["nodes"] / row[stage]["unique_names"]
        results["sizes"][str(size)] = row
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
        if not args.keep and size != sizes[0]:
            for key in ("store", "snapshot"):
                shutil.rmtree(p[key], ignore_errors=True)
            for key in ("nt", "names"):
                p[key].unlink(missing_ok=True)
    print(table(results))
    plot(results, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
