"""Dialogue benchmark: follow-up questions resolved and answered, against first turns.

Builds the dialogue set from the MetaQA graph and dev questions (:mod:`qa.dialogue_data`: chains
whose next turn refers to the previous turn's topic or answer with "it", "that film", "its
writers", "that person", ...), fits the reference resolver on the training dialogues (training
questions only) and saves it beside the QA model, then runs every held-out dialogue (validation
questions only) through a :class:`qa.conversation.Conversation` with the trained QA model, as a
user types it: no brackets, no hop counts; each follow-up is resolved against what the model itself
answered before (errors carry over). Reports Hits@1 of the answer for first turns and follow-ups,
reference resolution accuracy (the entity the follow-up is about), and the time per turn.

    .venv/bin/python bench/dialogue.py [--model runs/qa/metaqa] [--config configs/metaqa.json]

Prints a markdown table and writes ``bench/results/dialogue.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from qa.answerer import load_answerer
from qa.conversation import Conversation, ReferenceResolver, training_examples
from qa.data import load_questions
from qa.dialogue_data import split_dialogues, write_dialogues
from qa.train import TrainConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="runs/qa/metaqa")
    ap.add_argument("--config", default="configs/metaqa.json")
    ap.add_argument("--limit", type=int, default=0, help="held-out dialogues run (0: all)")
    ap.add_argument("--data-dir", default=".kgqa/dialogue", help="where the built dialogue sets are written")
    ap.add_argument("--out", default="bench/results/dialogue.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = TrainConfig.load(args.config)
    answerer = load_answerer(args.model)
    snap, sig = answerer.graph.snapshot, answerer.graph.signature
    questions = [q for p in cfg.questions for q in load_questions(p)]
    t0 = time.perf_counter()
    train_d, val_d = split_dialogues(questions, snap)
    build_s = time.perf_counter() - t0
    write_dialogues(train_d, Path(args.data_dir) / "train.jsonl")
    write_dialogues(val_d, Path(args.data_dir) / "held_out.jsonl")
    t0 = time.perf_counter()
    examples = training_examples(train_d, snap, sig)
    resolver = ReferenceResolver.fit(examples, snap.relations)
    fit_s = time.perf_counter() - t0
    resolver.save(Path(args.model) / "resolver.json")
    if args.limit:
        val_d = val_d[:args.limit]

    chat = Conversation(answerer, resolver)
    chat.ask("who directed Heat")                                            # warm up (linker, NER)
    rows: dict[str, list[float]] = defaultdict(list)
    times: list[float] = []
    failures: list[dict[str, Any]] = []
    for d in val_d:
        chat.reset()
        for k, turn in enumerate(d.turns):
            start = time.perf_counter()
            reply = chat.ask(turn.text)
            times.append(1000 * (time.perf_counter() - start))
            ranked = reply.prediction.ranked
            hit = float(bool(ranked) and ranked[0][0] in turn.answers)
            resolved = float(reply.resolution.topic == turn.topic)
            group = "first turn" if k == 0 else f"follow-up ({turn.refers_to})"
            rows[f"hits/{group}"].append(hit)
            rows[f"resolved/{group}"].append(resolved)
            if k > 0:
                rows["hits/follow-up (all)"].append(hit)
                rows["resolved/follow-up (all)"].append(resolved)
                if not resolved and len(failures) < 15:
                    failures.append({"turn": turn.text, "gold_topic": turn.topic, "resolved": reply.resolution.topic,
                                     "how": reply.resolution.how, "question": reply.resolution.question})
    groups = ["first turn", "follow-up (all)", "follow-up (topic)", "follow-up (answer)"]
    def mean(values: list[float]) -> float | None:
        return float(np.mean(values)) if values else None

    table = {g: {"turns": len(rows[f"hits/{g}"]), "hits@1": mean(rows[f"hits/{g}"]),
                 "resolution": mean(rows[f"resolved/{g}"])} for g in groups}
    print("| turns | n | Hits@1 of the answer | topic resolved |\n|---|---|---|---|")
    for g, r in table.items():
        h = "" if r["hits@1"] is None else f"{100 * r['hits@1']:.2f}"
        s = "" if r["resolution"] is None else f"{100 * r['resolution']:.2f}"
        print(f"| {g} | {r['turns']:,} | {h} | {s} |")
    lat = {"p50_ms": float(np.percentile(times, 50)), "p90_ms": float(np.percentile(times, 90))}
    print(f"\nper turn (resolve + answer, one thread): p50 {lat['p50_ms']:.1f} ms, p90 {lat['p90_ms']:.1f} ms; "
          f"resolver fitted on {len(examples):,} follow-ups in {fit_s:.1f} s; "
          f"{len(train_d):,} training / {len(val_d):,} held-out dialogues built in {build_s:.1f} s")
    payload = {"model": args.model, "config": args.config, "train_dialogues": len(train_d),
               "held_out_dialogues": len(val_d), "resolver_examples": len(examples), "resolver_fit_seconds": fit_s,
               "build_seconds": build_s, "table": table, "latency": lat, "resolution_failures": failures,
               "load_average_at_end": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(payload, indent=1, ensure_ascii=False))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
