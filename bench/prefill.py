"""The dialogue head's prompt pass (prefill) and one decoding step, on 1 and 2 torch threads, side by side.

Plays the first ``--dialogues`` held-out dialogues (written by ``bench/dialogue.py`` to
``.kgqa/dialogue/held_out.jsonl``) through the conversation and the QA model, then times, for every
turn's reply, the LM reading its prompt with the KG memory (``logits_to_keep=1``) and one decoding
step after it, first on 2 threads then on 1, with a warm-up pass each. Prints a table and writes
``bench/results/prefill.json``.

    .venv/bin/python bench/prefill.py [--model runs/qa/metaqa] [--dialogues 25]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch


def main() -> None:
    from qa.answer.answerer import load_answerer
    from qa.chat.conversation import Conversation, resolver_for
    from qa.chat.dialogue_head import DialogueHead
    from qa.data.dialogues import read_dialogues

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="runs/qa/metaqa")
    ap.add_argument("--dialogues", type=int, default=25)
    ap.add_argument("--held-out", default=".kgqa/dialogue/held_out.jsonl")
    ap.add_argument("--out", default="bench/results/prefill.json")
    args = ap.parse_args()
    answerer = load_answerer(args.model)
    snap = answerer.graph.snapshot
    chat = Conversation(answerer, resolver_for(answerer, args.model))
    head = DialogueHead.load(Path(args.model) / "dialogue", snap)
    replies = []
    for d in read_dialogues(args.held_out)[: args.dialogues]:
        chat.reset()
        replies += [chat.ask(t.text) for t in d.turns]
    prompts = [torch.tensor([head.prompt_ids(r, snap)]) for r in replies]
    memories = [head.memory([head.memory_features(r, snap)]) for r in replies]
    rows = {}
    with torch.no_grad():
        for threads in (2, 1):
            torch.set_num_threads(threads)
            pre, step = [], []
            for k, (ids, mem) in enumerate([(prompts[0], memories[0]), *zip(prompts, memories, strict=True)]):
                head._memory.value = mem
                t0 = time.perf_counter()
                out = head.lm(input_ids=ids, use_cache=True, logits_to_keep=1)
                t1 = time.perf_counter()
                head.lm(input_ids=torch.tensor([[int(out.logits[0, -1].argmax())]]),
                        past_key_values=out.past_key_values, use_cache=True)
                t2 = time.perf_counter()
                head._memory.value = None
                if k:  # the first pass warms up
                    pre.append(1000 * (t1 - t0))
                    step.append(1000 * (t2 - t1))
            rows[threads] = {"prefill_p50_ms": float(np.median(pre)), "prefill_p90_ms": float(np.percentile(pre, 90)),
                             "step_p50_ms": float(np.median(step))}
    lens = [p.shape[1] for p in prompts]
    print(f"{len(replies)} replies; prompt tokens p50 {np.median(lens):.0f}, max {max(lens)}\n")
    print("| threads | prefill p50 | prefill p90 | one step p50 |\n|---|---|---|---|")
    for threads, r in rows.items():
        print(f"| {threads} | {r['prefill_p50_ms']:.0f} ms | {r['prefill_p90_ms']:.0f} ms "
              f"| {r['step_p50_ms']:.0f} ms |")
    Path(args.out).write_text(json.dumps({"replies": len(replies), "prompt_tokens_p50": float(np.median(lens)),
                                          "threads": rows, "date": time.strftime("%Y-%m-%d %H:%M")}, indent=1))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
