"""Dialogue benchmark: follow-up questions resolved and answered, against first turns.

Builds the dialogue set from the MetaQA graph and dev questions (:mod:`qa.dialogue_data`: chains
whose next turn refers to the previous turn's topic or answer with "it", "that film", "its
writers", "that person", ...), fits the reference resolver on the training dialogues (training
questions only) and saves it beside the QA model, then runs every held-out dialogue (validation
questions only) through a :class:`qa.conversation.Conversation` with the trained QA model, as a
user types it: no brackets, no hop counts; each follow-up is resolved against what the model itself
answered before (errors carry over). Reports Hits@1 of the answer for first turns and follow-ups,
reference resolution accuracy (the entity the follow-up is about), and the time per turn.

With a trained dialogue head (``--head``, default ``MODEL/dialogue``), the replies of the first
``--gen-dialogues`` held-out dialogues are also written by the head, streamed, and checked
(:func:`qa.replies.grounding`): the share of entity names in the replies that the evidence holds,
the share of replies that state the top answer, exact agreement with the reference reply, time to
first token and tokens per second (one thread). ``--no-answer`` more of those turns are asked with
their answers removed: the reply must say the graph holds no answer. ``--ablate-memory`` repeats
the generation with the KG memory emptied (the cross-attention reads only its "nothing" slot).

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
    ap.add_argument("--head", default=None, help="dialogue head folder (default: MODEL/dialogue when present)")
    ap.add_argument("--gen-dialogues", type=int, default=120, help="held-out dialogues whose replies are generated")
    ap.add_argument("--no-answer", type=int, default=40, help="generated turns asked with their answers removed")
    ap.add_argument("--ablate-memory", action="store_true", help="also generate with the KG memory emptied")
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
    kept: list[Any] = []   # the replies the head will write (first --gen-dialogues dialogues)
    for n_d, d in enumerate(val_d):
        chat.reset()
        for k, turn in enumerate(d.turns):
            start = time.perf_counter()
            reply = chat.ask(turn.text)
            times.append(1000 * (time.perf_counter() - start))
            if n_d < args.gen_dialogues:
                kept.append(reply)
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
    head_dir = Path(args.head) if args.head else Path(args.model) / "dialogue"
    generation = generation_bench(head_dir, kept, snap, args) if (head_dir / "dialogue_head.json").is_file() else None
    payload = {"model": args.model, "generation": generation, "config": args.config, "train_dialogues": len(train_d),
               "held_out_dialogues": len(val_d), "resolver_examples": len(examples), "resolver_fit_seconds": fit_s,
               "build_seconds": build_s, "table": table, "latency": lat, "resolution_failures": failures,
               "load_average_at_end": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(payload, indent=1, ensure_ascii=False))
    print(f"wrote {args.out}")


def generate_all(head: Any, replies: list[Any], snap: Any, finder: Any) -> dict[str, Any]:
    """Stream every reply; grounding, agreement with the reference, TTFT and decoding speed."""
    from qa.replies import grounding, reference_reply

    ttft, rates, names, unsupported, top, exact, samples, texts = [], [], 0, [], [], [], [], []
    for r in replies:
        start = time.perf_counter()
        pieces, first = [], None
        for piece in head.stream(r):
            if first is None:
                first = time.perf_counter() - start
            pieces.append(piece)
        total = time.perf_counter() - start
        text = "".join(pieces).strip()
        texts.append(text)
        n_tok = len(head.tokenizer.encode(text, add_special_tokens=False))
        if first is not None:
            ttft.append(1000 * first)
            if n_tok > 1 and total > first:
                rates.append((n_tok - 1) / (total - first))
        g = grounding(text, r, snap, finder)
        names += len(g.mentioned)
        unsupported += [(u, text) for u in g.unsupported]
        if g.has_top_answer is not None:
            top.append(g.has_top_answer)
        ref = reference_reply(r, snap)
        exact.append(text == ref)
        if len(samples) < 12:
            samples.append({"question": r.resolution.text, "reply": text, "reference": ref})
    return {"replies": len(replies), "names_mentioned": names,
            "names_grounded": 1 - len(unsupported) / names if names else None,
            "top_answer_stated": float(np.mean(top)) if top else None, "with_answers": len(top),
            "exact_reference": float(np.mean(exact)) if exact else None,
            "ttft_p50_ms": float(np.percentile(ttft, 50)) if ttft else None,
            "ttft_p90_ms": float(np.percentile(ttft, 90)) if ttft else None,
            "tokens_per_s_median": float(np.median(rates)) if rates else None,
            "unsupported_examples": unsupported[:10], "samples": samples, "texts": texts}


def generation_bench(head_dir: Path, replies: list[Any], snap: Any, args: Any) -> dict[str, Any]:
    import random

    from qa.dialogue_head import DialogueHead
    from qa.dialogue_train import variants
    from qa.replies import NO_ANSWER, NameFinder

    t0 = time.perf_counter()
    head = DialogueHead.load(head_dir, snap)
    load_s = time.perf_counter() - t0
    finder = NameFinder.for_snapshot(snap)
    head.generate(replies[0])                                                        # warm up
    out: dict[str, Any] = {"head": str(head_dir), "load_seconds": load_s}
    out["held_out"] = generate_all(head, replies, snap, finder)
    rng = random.Random(7)
    pool = [r for r in replies if r.prediction.answers]
    none = variants(rng.sample(pool, min(args.no_answer, len(pool))), rng, no_answer=1.0, no_topic=0.0)
    res = generate_all(head, none, snap, finder)
    said = [t.startswith(NO_ANSWER.split("{")[0]) for t in res["texts"]]
    res["says_no_answer"] = float(np.mean(said)) if said else None
    out["no_answer"] = res
    if args.ablate_memory:
        from qa.conversation import Reply
        from qa.types import Prediction

        empty = [Reply(r.resolution, Prediction(r.prediction.question, r.prediction.topics, r.prediction.ranked,
                                                r.prediction.answers, memory={})) for r in replies]
        out["memory_emptied"] = generate_all(head, empty, snap, finder)
    g, n = out["held_out"], out["no_answer"]
    print("\n| dialogue head (held-out turns) | value |\n|---|---|")
    print(f"| replies generated | {g['replies']} |")
    print(f"| entity names in replies found in the evidence | {100 * (g['names_grounded'] or 0):.2f}% "
          f"of {g['names_mentioned']} |")
    print(f"| replies stating the top answer | {100 * (g['top_answer_stated'] or 0):.2f}% of {g['with_answers']} |")
    print(f"| replies equal to the reference reply | {100 * (g['exact_reference'] or 0):.2f}% |")
    print(f"| answers removed: reply says the graph holds none | {100 * (n['says_no_answer'] or 0):.2f}% "
          f"of {n['replies']} |")
    print(f"| time to first token p50 / p90 | {g['ttft_p50_ms']:.0f} / {g['ttft_p90_ms']:.0f} ms |")
    print(f"| tokens per second (median) | {g['tokens_per_s_median']:.1f} |")
    if "memory_emptied" in out:
        m = out["memory_emptied"]
        print(f"| memory emptied: names grounded / top answer / = reference | {100 * (m['names_grounded'] or 0):.2f}% "
              f"/ {100 * (m['top_answer_stated'] or 0):.2f}% / {100 * (m['exact_reference'] or 0):.2f}% |")
    for part in out.values():
        if isinstance(part, dict):
            part.pop("texts", None)
    return out


if __name__ == "__main__":
    main()
