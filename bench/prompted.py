"""Few-shot prompts: a shared prefix prefilled once vs prefilling each whole prompt.

Run as: python bench/prompted.py [--quick] [--threads N]

Model: the embedded SmolLM2-135M-Instruct (converted cache, fp32, CPU). Prompts: a system
prompt plus 4 fixed few-shot examples (user question / assistant answer pairs: the first 4
rows of ../shared/data/alpaca_gsm8k_train.json) before each test question (the next rows'
instructions), as full chat message lists, rendered by the chat template. Without that file
the script prints a JSON object with ``"skipped"`` and exits 0.

Ours: the product's default path, ``evaluation.generate.generate_detailed``: length-sorted
batches of ``batch_size`` prompts, ``decode_rows``, which finds the token prefix every prompt
of the batch shares (system prompt + shots), prefills it once and keeps its keys/values once;
each prompt then reads only its own question, and every attention (its question's prefill,
each decoding step) covers the shared prefix once for all rows plus the row's own tokens
(``shared_prefix_attention``).
Baseline: the same call with ``min_shared_prefix`` set past any prompt's length, so every
prompt is prefilled whole, on its own, into a cache of its own (system prompt and shots
included), and decoded by the same loop with transformers' SDPA attention over that cache:
what generation does without prefix sharing.
Both decode greedily to ``max_new_tokens`` with the same model object, threads and stop
tokens; the outputs must be identical (the run exits 1 otherwise). One warm-up generation runs
first. Sizes: 32 prompts, batch 32, 32 new tokens (--quick: 6 prompts, batch 6, 8 new
tokens). On a shared machine the figures are noisy: the JSON carries the 1-minute load
average at the start and the end of the timed part, and the process CPU seconds of each side
beside the wall seconds (their ratio moves less with other processes' load).

Progress goes to stderr; the last stdout line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GSM8K = ROOT.parent / "shared" / "data" / "alpaca_gsm8k_train.json"
SYSTEM = "Solve the math word problem. Show your working step by step, then give the answer."
SHOTS = 4


def few_shot_prompts(rows: list[dict], shots: int, n: int) -> list[list[dict]]:
    """n chat prompts: system, ``shots`` fixed user/assistant pairs (the first rows), then one
    test question each (the rows after the shots)."""
    prefix = [{"role": "system", "content": SYSTEM}]
    for row in rows[:shots]:
        prefix += [{"role": "user", "content": row["instruction"]},
                   {"role": "assistant", "content": row["output"]}]
    return [prefix + [{"role": "user", "content": row["instruction"]}]
            for row in rows[shots:shots + n]]


def timed(model, tokenizer, prompts, max_new_tokens: int, batch_size: int, **options):
    from evaluation.generate import generate_detailed

    start, cpu = time.perf_counter(), time.process_time()
    out = generate_detailed(model, tokenizer, prompts, max_new_tokens, batch_size, **options)
    return out, time.perf_counter() - start, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 prompts, 8 tokens, batch 6")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's); 1 keeps the ratio "
                             "steadier on a machine other processes load")
    args = parser.parse_args()
    n, max_new, batch = (6, 8, 6) if args.quick else (32, 32, 32)
    if not GSM8K.exists():
        print(json.dumps({"skipped": f"{GSM8K} not found"}))
        return 0

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from evaluation.generate import load_for_generation, shared_prefix_length
    from training.data import render_prompt
    from training.model import ensure_base_model

    prompts = few_shot_prompts(json.loads(GSM8K.read_text()), SHOTS, n)
    model, tokenizer = load_for_generation(ensure_base_model())
    encoded = tokenizer([render_prompt(tokenizer, p) for p in prompts], return_tensors="pt",
                        padding=True, add_special_tokens=False)
    lengths = encoded["attention_mask"].sum(dim=1).tolist()
    prefix = shared_prefix_length(encoded["input_ids"], lengths)
    timed(model, tokenizer, prompts[:2], 2, 2)  # warm-up
    load_start = os.getloadavg()[0]  # other processes share these cores: say how busy
    print(f"prefix reuse: {n} prompts, batch {batch}, {max_new} new tokens, "
          f"shared prefix {prefix} of {sum(lengths)} prompt tokens", file=sys.stderr)
    ours, ours_s, ours_cpu = timed(model, tokenizer, prompts, max_new, batch)
    print(f"whole prompts ({ours_s:.1f} s with reuse)", file=sys.stderr)
    whole, whole_s, whole_cpu = timed(model, tokenizer, prompts, max_new, batch,
                           min_shared_prefix=max(lengths) + 1)
    mismatches = [i for i, (a, b) in enumerate(zip(ours, whole, strict=True)) if a != b]
    figures = {
        "load_average_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
        "prompts": n, "shots": SHOTS, "source": GSM8K.name, "batch_size": batch,
        "max_new_tokens": max_new, "prompt_tokens": sum(lengths),
        "shared_prefix_tokens": prefix,
        "mean_prompt_tokens": round(sum(lengths) / n, 1),
        "generated_tokens": sum(count for _, count in ours),
        "prefix_reuse_s": round(ours_s, 2), "whole_prompts_s": round(whole_s, 2),
        "speedup_vs_whole_prompts": round(whole_s / ours_s, 2),
        "prefix_reuse_cpu_s": round(ours_cpu, 2), "whole_prompts_cpu_s": round(whole_cpu, 2),
        "cpu_time_ratio": round(whole_cpu / ours_cpu, 2),
        "identical_outputs": not mismatches, "mismatched_prompts": mismatches,
    }
    print(json.dumps(figures))
    return 0 if not mismatches else 1


if __name__ == "__main__":
    raise SystemExit(main())
