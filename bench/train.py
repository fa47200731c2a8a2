"""Training speed and quality: our recipe (fp32, bf16 autocast) vs a plain TRL SFTTrainer + PEFT.

Run as: python bench/train.py [--quick] [--rows 64] [--held-out 32]

Both train LoRA (r=16, alpha=32, dropout 0.05, q/k/v/o) on the embedded SmolLM2-135M-Instruct,
CPU, fp32 weights, one epoch over the same GSM8K rows (../shared/data/alpaca_gsm8k_train.json)
at batch size 8 and learning rate 2e-4, so both see the same training tokens. Targets are
the same assistant-only labels (``training.data.encode_example``), handed to TRL as a
pre-tokenized dataset with a ``labels`` column: the one change to TRL's defaults needed for
assistant-only loss with SmolLM2's template, which has no ``{% generation %}`` markers. The
learning rate is set to ours (TRL's default is 2e-5) so the held-out losses are comparable.
Everything else is SFTConfig's default (among them: gradient checkpointing on, bf16 autocast
on, no length grouping, padding to the longest row of a random batch).

Figures per system, each measured in its own subprocess (so peak RSS is its own):
- tokens_per_s: non-padding training tokens / training-loop seconds (model loading excluded)
- held_out_loss: mean assistant-only loss per labelled token on held-out rows (same function)
- peak_rss_mb: the process's peak resident memory (ru_maxrss)
- peak_fraction: model FLOP/s over the CPU's measured matmul peak in the run's dtype (a
  square GEMM microbenchmark in the same run, same threads); model FLOP/s = 4 * N *
  tokens/s, N the base model's parameters (forward 2N + input gradients 2N per token: the
  frozen base gets no weight gradients; LoRA's and attention's FLOPs are left out)
Ours runs twice: ``precision: fp32`` and ``precision: bf16`` (autocast; weights and LoRA
parameters fp32), which ``auto`` picks on a CPU with AVX512-BF16 or AMX when it is faster at a
held-out loss within 1% relative of fp32's.
The last line is one JSON object with the ratios ours / baseline measured in this run and the
machine's load average (other work on the machine distorts the ratios: say so when quoting).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "alpaca_gsm8k_train.json"
LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}
BATCH, LR, MAX_LEN, SEED = 8, 2e-4, 1024, 0
SYSTEMS = ("trl", "ours_fp32", "ours_bf16")


def conversations(rows: int, held_out: int) -> tuple[list, list]:
    """First ``rows`` GSM8K rows for training, the next ``held_out`` for the held-out loss."""
    data = json.loads(DATA.read_text())[: rows + held_out]
    convs = [[{"role": "user", "content": r["instruction"]},
              {"role": "assistant", "content": r["output"]}] for r in data]
    return convs[:rows], convs[rows:]


def encoded(convs: list) -> tuple[list[dict], object]:
    from training.batching import encode_with_exclusions
    from training.model import ensure_base_model, load_tokenizer

    tokenizer = load_tokenizer(ensure_base_model())
    rows, _ = encode_with_exclusions(tokenizer, convs, MAX_LEN)
    return rows, tokenizer


def matmul_peak(size: int = 2048, seconds: float = 3.0) -> dict:
    """Measured GEMM rate of this CPU in GFLOP/s, fp32 and bf16: ``size`` x ``size`` matmuls
    repeated for about ``seconds`` each (2 * size^3 FLOPs per product), best of 3 rounds."""
    import torch

    rates = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
        a @ b  # warm-up: oneDNN picks its kernel
        best = 0.0
        for _ in range(3):
            count, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds / 3:
                a @ b
                count += 1
            best = max(best, 2 * size ** 3 * count / (time.perf_counter() - start) / 1e9)
        rates[name] = round(best, 1)
    return rates


def run_ours(train: list, held: list, precision: str = "fp32") -> dict:
    from training.config import TrainConfig
    from training.loss import eval_loss
    from training.model import add_lora, load_model
    from training.recipe import train_lora

    config = TrainConfig(max_steps=0, epochs=1, batch_size=BATCH, learning_rate=LR,
                         warmup_steps=0, lora_rank=LORA["r"], lora_alpha=LORA["lora_alpha"],
                         lora_dropout=LORA["lora_dropout"], max_seq_len=MAX_LEN,
                         target_modules=tuple(LORA["target_modules"]), checkpoint_every=0,
                         seed=SEED, precision=precision)
    with tempfile.TemporaryDirectory() as out:
        result = train_lora(train, config, Path(out))
        held_rows, tokenizer = encoded(held)
        from peft import PeftModel
        model = PeftModel.from_pretrained(add_lora(load_model(result["base_model_dir"]), config)
                                          .base_model.model, result["adapter"])
        loss = eval_loss(model, held_rows, tokenizer.pad_token_id)
    rows, _ = encoded(train)
    return {"tokens": sum(len(r["input_ids"]) for r in rows), "steps": result["steps"],
            "tokens_per_s": result["tokens_per_s"], "held_out_loss": loss,
            "precision": precision, "params": base_params(result["base_model_dir"])}


def base_params(model_dir) -> int:
    """Parameters of the base model (tied embeddings counted once)."""
    from training.model import load_model

    return sum(p.numel() for p in load_model(model_dir).parameters())


def run_trl(train: list, held: list) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from training.loss import eval_loss
    from training.model import ensure_base_model, load_model

    rows, tokenizer = encoded(train)
    dataset = Dataset.from_list([{"input_ids": r["input_ids"], "labels": r["labels"]}
                                 for r in rows])
    torch.manual_seed(SEED)
    model = load_model(ensure_base_model())
    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(output_dir=out, num_train_epochs=1, per_device_train_batch_size=BATCH,
                         learning_rate=LR, max_length=MAX_LEN, seed=SEED, report_to=[],
                         save_strategy="no", logging_steps=1, use_cpu=True)
        trainer = SFTTrainer(model=model, args=args, train_dataset=dataset,
                             processing_class=tokenizer,
                             peft_config=LoraConfig(task_type="CAUSAL_LM", bias="none", **LORA))
        start = time.perf_counter()
        metrics = trainer.train().metrics
        seconds = time.perf_counter() - start
    held_rows, _ = encoded(held)
    loss = eval_loss(trainer.model, held_rows, tokenizer.pad_token_id)
    tokens = sum(len(r["input_ids"]) for r in rows)
    return {"tokens": tokens, "steps": trainer.state.global_step, "tokens_per_s": tokens / seconds,
            "held_out_loss": loss, "train_runtime_s": metrics.get("train_runtime"),
            "gradient_checkpointing": args.gradient_checkpointing, "bf16": args.bf16}


def child(system: str, rows: int, held_out: int) -> None:
    train, held = conversations(rows, held_out)
    if system == "trl":
        result = run_trl(train, held)
    else:
        result = run_ours(train, held, system.removeprefix("ours_"))
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))


def measure(system: str, rows: int, held_out: int) -> dict:
    cmd = [sys.executable, __file__, "--child", system, "--rows", str(rows),
           "--held-out", str(held_out)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        sys.exit(f"{system} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 rows, 8 held out (< 2 min)")
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--held-out", type=int, default=32)
    parser.add_argument("--child", choices=SYSTEMS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    rows, held_out = (16, 8) if args.quick else (args.rows, args.held_out)
    if args.child:
        return child(args.child, rows, held_out)
    load_before = os.getloadavg()
    peak = matmul_peak(1024 if args.quick else 2048)
    results = {system: measure(system, rows, held_out) for system in SYSTEMS}
    base = results["trl"]
    for system, r in results.items():
        if "params" in r:
            r["peak_fraction"] = round(4 * r["params"] * r["tokens_per_s"]
                                       / (peak[r["precision"]] * 1e9), 4)
        r["tokens_per_s_ratio"] = round(r["tokens_per_s"] / base["tokens_per_s"], 3)
        r["held_out_loss_rel"] = round(r["held_out_loss"] / base["held_out_loss"] - 1, 4)
        print(f"{system:9s} tokens/s {r['tokens_per_s']:8.1f} ({r['tokens_per_s_ratio']:.2f}x "
              f"TRL)  held-out loss {r['held_out_loss']:.4f} ({100 * r['held_out_loss_rel']:+.2f}%"
              f")  peak RSS {r['peak_rss_mb']:.0f} MB  "
              + (f"{100 * r['peak_fraction']:.1f}% of the {r['precision']} matmul peak  "
                 if "peak_fraction" in r else "")
              + f"({r['tokens']} tokens, {r['steps']} steps)", file=sys.stderr)
    fp32, bf16 = results["ours_fp32"], results["ours_bf16"]
    bf16_default = (bf16["tokens_per_s"] > fp32["tokens_per_s"]
                    and abs(bf16["held_out_loss"] / fp32["held_out_loss"] - 1) <= 0.01)
    load = [round(x, 2) for x in os.getloadavg()]
    print(f"matmul peak GFLOP/s: {peak}; load average before {load_before[:3]}, after {load} "
          f"on {os.cpu_count()} CPUs (other work on the machine distorts these figures)",
          file=sys.stderr)
    print(json.dumps({"baseline": "trl.SFTTrainer+peft defaults", "rows": rows,
                      "held_out": held_out, "matmul_peak_gflops": peak, **results,
                      "bf16_faster_at_equal_loss": bf16_default,
                      "load_average": load, "load_average_before": list(load_before),
                      "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
