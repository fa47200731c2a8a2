"""Generation throughput: batched greedy decoding vs one prompt at a time, identical outputs.

Run as: python bench/generate.py [--quick]

Model: the embedded SmolLM2-135M-Instruct (converted cache, fp32, CPU). Prompts: Dolly
instructions (../shared/data/dolly15k_first25.jsonl, with their context) when present, else
built-in questions; repeated in order to reach the prompt count.

Baseline: ``generate_detailed(..., batch_size=1)``, one prompt at a time: a plain
``model.generate`` per prompt, no padding (``generate_batch`` sends a single prompt there).
Ours: the product's default path, ``batch_size`` 32 (the default of ``workbench generate`` and
the generate stage; --quick: 8, all its prompts), length-sorted, left-padded,
``evaluation.generate.decode_rows``: each prompt prefilled on its own into preallocated
key/value buffers, one forward pass per step over the unfinished rows, a row dropped at its
stop token. Both decode greedily to ``max_new_tokens`` (64, --quick 32) with the same model
object, threads and stop tokens (``<|im_end|>``); the outputs must be identical (the run exits
1 otherwise). Throughput = generated tokens (each answer up to
and including its stop token) / wall seconds; one warm-up generation runs first.
Sizes: 32 prompts (--quick: 8). On a shared machine the figures are noisy: the JSON carries
the 1-minute load average at the start and the end of the timed part.

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
DOLLY = ROOT.parent / "shared" / "data" / "dolly15k_first25.jsonl"
FALLBACK = ["What is the capital of France?", "Name three primary colours.",
            "Why is the sky blue during the day but red at sunset?",
            "Give me two tips for sleeping well.", "Translate 'good morning' into French.",
            "Write a haiku about autumn.", "What does a compiler do?",
            "Explain photosynthesis to a ten-year-old."]


def load_prompts(n: int) -> tuple[list[list[dict]], str]:
    """n chat prompts (user turn only) and where they came from."""
    if DOLLY.exists():
        rows = [json.loads(line) for line in DOLLY.read_text().split("\n") if line.strip()]
        texts = [r["instruction"] + (f"\n\n{r['context']}" if r.get("context") else "")
                 for r in rows]
        source = DOLLY.name
    else:
        texts, source = FALLBACK, "built-in"
    return [[{"role": "user", "content": texts[i % len(texts)]}] for i in range(n)], source


def timed(model, tokenizer, prompts, max_new_tokens: int, batch_size: int):
    from evaluation.generate import generate_detailed

    start = time.perf_counter()
    out = generate_detailed(model, tokenizer, prompts, max_new_tokens, batch_size)
    return out, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 prompts, 32 tokens, batch 8")
    args = parser.parse_args()
    n, max_new, batch = (8, 32, 8) if args.quick else (32, 64, 32)

    import torch

    from evaluation.generate import load_for_generation
    from training.model import ensure_base_model

    prompts, source = load_prompts(n)
    model, tokenizer = load_for_generation(ensure_base_model())
    timed(model, tokenizer, prompts[:1], 4, 1)  # warm-up
    load_start = os.getloadavg()[0]  # other processes share these cores: say how busy
    print(f"batched: {n} prompts, batch {batch}, {max_new} new tokens", file=sys.stderr)
    batched, batched_s = timed(model, tokenizer, prompts, max_new, batch)
    print(f"one at a time ({batched_s:.1f} s batched)", file=sys.stderr)
    single, single_s = timed(model, tokenizer, prompts, max_new, 1)
    tokens = sum(count for _, count in batched)
    mismatches = [i for i, (a, b) in enumerate(zip(batched, single, strict=True)) if a != b]
    figures = {
        "load_average_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(),
        "prompts": n, "source": source, "batch_size": batch, "max_new_tokens": max_new,
        "threads": torch.get_num_threads(), "generated_tokens": tokens,
        "batched_tokens_per_s": round(tokens / batched_s, 2),
        "one_at_a_time_tokens_per_s": round(sum(c for _, c in single) / single_s, 2),
        "batched_s": round(batched_s, 2), "one_at_a_time_s": round(single_s, 2),
        "speedup_vs_one_at_a_time": round(single_s / batched_s, 2),
        "identical_outputs": not mismatches, "mismatched_prompts": mismatches,
    }
    print(json.dumps(figures))
    return 0 if not mismatches else 1


if __name__ == "__main__":
    raise SystemExit(main())
