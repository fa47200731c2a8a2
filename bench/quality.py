"""Model-based quality scoring speed: batched, length-sorted IFD vs the reference per-row loop.

Run as: python bench/quality.py [--quick] [--sizes 32 64 128] [--max-batch-tokens 8192]
[--threads N] [--no-shared-prefix] [--device cpu|cuda] [--dtype float32|bfloat16]

Ours: ``curation.ifd.score_rows`` (the conditioned and the answer-alone sequences each sorted
by length into padded micro-batches of at most ``--max-batch-tokens`` tokens, the tokens a
micro-batch's rows all start with run once and their keys/values reused, the output head
only at answer positions; ``--no-shared-prefix`` runs every sequence whole). Baseline: the
way the Cherry LLM reference code (Li et al., NAACL 2024) scores a row, one row at a time
with two ``model(input_ids=..., labels=...)`` forward passes (prompt +
answer, then the answer alone), perplexity = exp(loss). Both use the embedded
SmolLM2-135M-Instruct in fp32 on the same GSM8K rows (../shared/data/alpaca_gsm8k_train.json)
and the same encodings (``curation.ifd.ifd_encodings``), so the scores must agree: the
largest relative difference of IFD and of both perplexities is reported. ``--device cuda``
runs both sides on the GPU; ``--dtype bfloat16`` runs ours on a bf16 copy of the model
against the fp32 reference, to measure what the lower precision buys and costs (the
difference then also reports the median relative IFD difference and the Spearman rank
correlation of IFD, which is what a top-p% selection depends on).

Figures per size: seconds of each (model loading excluded), speedup, rows/s. The growth of
time with rows is the log-log slope between the smallest and largest size. The last line is
one JSON object with every figure and the 1/5/15-minute load average at the start and the
end of the timed part.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "alpaca_gsm8k_train.json"
MAX_SEQ_LEN = 1024


def conversations(n: int) -> list[list[dict]]:
    rows = json.loads(DATA.read_text())[:n]
    return [[{"role": "user", "content": r["instruction"]},
             {"role": "assistant", "content": r["output"]}] for r in rows]


def reference(model, tokenizer, convs: list[list[dict]], device: str = "cpu") -> list[dict]:
    """Two ``model(**inputs)`` passes per row, one row at a time (the reference code's loop)."""
    import torch

    from curation.ifd import ifd_encodings

    out = []
    for messages in convs:
        conditioned, alone = ifd_encodings(tokenizer, messages, MAX_SEQ_LEN)
        ppl = []
        for encoding in (conditioned, alone):
            inputs = {"input_ids": torch.tensor([encoding["input_ids"]], device=device),
                      "labels": torch.tensor([encoding["labels"]], device=device)}
            with torch.no_grad():
                ppl.append(math.exp(model(**inputs).loss.item()))
        out.append({"ppl_conditioned": ppl[0], "ppl_answer": ppl[1], "ifd": ppl[0] / ppl[1]})
    return out


def max_relative_difference(ours: list[dict], theirs: list[dict]) -> float:
    return max(abs(a[k] - b[k]) / abs(b[k]) for a, b in zip(ours, theirs, strict=True)
               for k in ("ppl_conditioned", "ppl_answer", "ifd"))


def ifd_agreement(ours: list[dict], theirs: list[dict]) -> dict:
    """Median relative IFD difference and Spearman's rho of IFD (scipy.stats.spearmanr)."""
    import statistics

    from scipy.stats import spearmanr

    mine, ref = [r["ifd"] for r in ours], [r["ifd"] for r in theirs]
    return {"median_relative_ifd_difference": statistics.median(
                abs(a - b) / abs(b) for a, b in zip(mine, ref, strict=True)),
            "spearman_ifd": round(float(spearmanr(mine, ref).statistic), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="sizes 4 and 8 (under 2 min on a quiet machine)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--max-batch-tokens", type=int, default=8192)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads for both sides (0: torch's default)")
    parser.add_argument("--no-shared-prefix", action="store_true",
                        help="run every sequence whole (no prefix keys/values reused)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (both sides)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                        help="ours only; the reference stays fp32")
    args = parser.parse_args()
    sizes = [4, 8] if args.quick else args.sizes

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from curation.ifd import MIN_SHARED_PREFIX, score_rows
    from training.model import ensure_base_model, load_model, load_tokenizer

    min_shared_prefix = 10**9 if args.no_shared_prefix else MIN_SHARED_PREFIX

    model_dir = ensure_base_model()
    model = load_model(model_dir).eval().to(args.device)
    tokenizer = load_tokenizer(model_dir)
    ours_model = model
    if args.dtype != "float32":
        ours_model = load_model(model_dir).eval().to(args.device, getattr(torch, args.dtype))
    score_rows(ours_model, tokenizer, conversations(2))  # warm-up: first-call allocations
    reference(model, tokenizer, conversations(1), args.device)
    results = []
    load_start = os.getloadavg()
    for n in sizes:
        convs = conversations(n)
        start = time.perf_counter()
        ours = score_rows(ours_model, tokenizer, convs, MAX_SEQ_LEN, args.max_batch_tokens,
                          min_shared_prefix=min_shared_prefix)
        ours_s = time.perf_counter() - start
        start = time.perf_counter()
        theirs = reference(model, tokenizer, convs, args.device)
        theirs_s = time.perf_counter() - start
        row = {"rows": n, "ours_s": round(ours_s, 2), "reference_s": round(theirs_s, 2),
               "speedup": round(theirs_s / ours_s, 2),
               "ours_rows_per_s": round(n / ours_s, 2),
               "max_relative_difference": max_relative_difference(ours, theirs),
               "answer_tokens": sum(r["answer_tokens"] for r in ours),
               **ifd_agreement(ours, theirs)}
        results.append(row)
        print(f"{n:5d} rows: ours {ours_s:7.2f} s · reference {theirs_s:7.2f} s · "
              f"{row['speedup']:.2f}× · max rel diff {row['max_relative_difference']:.2e}",
              file=sys.stderr)
    first, last = results[0], results[-1]
    growth = {name: round(math.log(last[f"{name}_s"] / first[f"{name}_s"])
                          / math.log(last["rows"] / first["rows"]), 3)
              for name in ("ours", "reference")} if len(results) > 1 else None
    load = os.getloadavg()
    print(f"load average at the start {load_start[0]:.2f}, at the end {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f} (2 shared cores); growth "
          f"exponent of time with rows: {growth}", file=sys.stderr)
    print(json.dumps({"bench": "quality", "quick": args.quick,
                      "threads": torch.get_num_threads(), "device": args.device,
                      "dtype_ours": args.dtype,
                      "max_batch_tokens": args.max_batch_tokens,
                      "shared_prefix": not args.no_shared_prefix, "results": results,
                      "growth_exponent": growth,
                      "speedup_at_largest": last["speedup"],
                      "max_relative_difference": max(r["max_relative_difference"]
                                                     for r in results),
                      "load_average_start": [round(x, 2) for x in load_start],
                      "load_average": [round(x, 2) for x in load]}))


if __name__ == "__main__":
    main()
