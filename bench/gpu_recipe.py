"""GPU checks of the real training and generation code (no workspace, duckdb or presidio).

Run as: python bench/gpu_recipe.py --prepare DIR              (here: tokenizer + conversations)
        python bench/gpu_recipe.py --data DIR [--steps 30]    (on the CUDA machine)

``--prepare`` copies the embedded SmolLM2-135M-Instruct's config and tokenizer (no weights) and
writes 640 train / 60 held-out conversations from ../shared/data/alpaca_gsm8k_train.json into
DIR, small enough to carry to a GPU machine. The run builds a random-weight model of that
config (throughput and the code paths do not depend on the values; greedy answers of random
weights are mostly special tokens, so they decode to empty text) and checks, through
``training.recipe.train_lora`` and ``evaluation.generate``:
- QLoRA (4-bit NF4 base, bitsandbytes) vs bf16 and fp32 LoRA for ``--steps`` steps: loss,
  held-out loss, tokens/s, peak CUDA memory;
- a QLoRA run resumed from its checkpoint (``resumed_from``);
- the QLoRA adapter merged into an fp32 base: largest logit difference from the unmerged model;
- greedy generation on CUDA (plain prompts, and a shared system prompt + 3 shots, the prefix
  path) equal to one-row ``model.generate`` per prompt, with both times.
Needs torch (CUDA), transformers, peft and bitsandbytes (requirements-gpu.txt). The last line
is one JSON object; the whole record goes to $OUT/gpu_recipe.json (or DIR).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TOKENIZER_FILES = ("config.json", "generation_config.json", "tokenizer.json",
                   "tokenizer_config.json", "chat_template.jinja")


def prepare(folder: Path) -> None:
    """Tokenizer/config of the embedded model and 640 + 60 GSM8K conversations into ``folder``."""
    from training.model import ensure_base_model

    source = ensure_base_model()
    (folder / "model").mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        shutil.copy(source / name, folder / "model" / name)
    rows = json.loads((ROOT.parent / "shared/data/alpaca_gsm8k_train.json").read_text())[:700]
    conversations = [[{"role": "user", "content": r["instruction"]},
                      {"role": "assistant", "content": r["output"]}] for r in rows]
    (folder / "conversations.json").write_text(json.dumps(
        {"train": conversations[:640], "held_out": conversations[640:]}))


def random_model(folder: Path) -> Path:
    """A random-weight (seed 0, bf16) model of ``folder/model``'s config, saved beside it."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    target = Path("/tmp/gpu_recipe_model")
    target.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        shutil.copy(folder / "model" / name, target / name)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(target)).to(
        torch.bfloat16).save_pretrained(target, safe_serialization=True)
    return target


def train(model: Path, data: dict, name: str, **overrides) -> dict:
    import torch

    from training.config import TrainConfig
    from training.recipe import train_lora

    config = TrainConfig(**{"base_model": str(model), "max_steps": 30, "batch_size": 8,
                            "learning_rate": 1e-3, "eval_every": 10, "checkpoint_every": 10,
                            **overrides})
    torch.cuda.reset_peak_memory_stats()
    result = train_lora(data["train"], config, Path("/tmp/gpu_recipe_runs") / name,
                        validation=data["held_out"])
    return {"method": config.method, "precision": config.precision, "steps": result["steps"],
            "first_loss": round(result["first_loss"], 4),
            "final_loss": round(result["final_loss"], 4),
            "best_val_loss": result["best_val_loss"], "resumed_from": result["resumed_from"],
            "tokens_per_s": round(result["tokens_per_s"], 1),
            "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3),
            "adapter": result["adapter"]}


def merge_gap(model: Path, adapter: str, messages: list[dict]) -> dict:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ids = AutoTokenizer.from_pretrained(model).apply_chat_template(
        messages, return_tensors="pt", return_dict=True)["input_ids"].cuda()
    base = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32).cuda()
    wrapped = PeftModel.from_pretrained(base, adapter).eval()
    with torch.no_grad():
        unmerged = wrapped(ids).logits.float()
        merged = wrapped.merge_and_unload()(ids).logits.float()
    return {"max_abs_logit_gap": float((unmerged - merged).abs().max()),
            "argmax_agree": float((unmerged.argmax(-1) == merged.argmax(-1)).float().mean())}


def generation(model: Path, adapter: str, prompts: list[list[dict]]) -> dict:
    import torch

    from evaluation.generate import generate_detailed, load_for_generation
    from training.data import render_prompt

    loaded, tokenizer = load_for_generation(model, Path(adapter))
    stops = [tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.eos_token_id]
    started = time.perf_counter()
    ours = generate_detailed(loaded, tokenizer, prompts, max_new_tokens=48, batch_size=16)
    ours_s = time.perf_counter() - started
    same, started = 0, time.perf_counter()
    for messages, (text, _) in zip(prompts, ours, strict=True):
        encoded = tokenizer(render_prompt(tokenizer, messages), return_tensors="pt",
                            add_special_tokens=False).to(loaded.device)
        with torch.inference_mode():
            out = loaded.generate(**encoded, max_new_tokens=48, do_sample=False,
                                  pad_token_id=tokenizer.pad_token_id, eos_token_id=stops)
        same += tokenizer.decode(out[0, encoded["input_ids"].shape[1]:],
                                 skip_special_tokens=True).strip() == text
    return {"device": str(next(loaded.parameters()).device), "identical": f"{same}/{len(prompts)}",
            "ours_s": round(ours_s, 2), "one_row_generate_s": round(time.perf_counter() - started, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepare", type=Path, help="write tokenizer + data into this folder")
    parser.add_argument("--data", type=Path, help="a folder written by --prepare")
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare)
        print(json.dumps({"prepared": str(args.prepare)}))
        return
    import torch

    if not torch.cuda.is_available():
        sys.exit("bench/gpu_recipe.py needs a CUDA GPU; none is visible here")
    data = json.loads((args.data / "conversations.json").read_text())
    model = random_model(args.data)
    record: dict = {"gpu": torch.cuda.get_device_name(0), "steps": args.steps}
    for name, overrides in (("qlora", {"method": "qlora"}),
                            ("lora_bf16", {"method": "lora", "precision": "bf16"}),
                            ("lora_fp32", {"method": "lora", "precision": "fp32"})):
        record[name] = train(model, data, name, max_steps=args.steps, **overrides)
    third = args.steps // 3
    train(model, data, "resume", method="qlora", max_steps=third, checkpoint_every=5,
          eval_every=0)
    record["qlora_resumed_from"] = train(model, data, "resume", method="qlora",
                                         max_steps=2 * third, checkpoint_every=5,
                                         eval_every=0)["resumed_from"]
    adapter = record["qlora"]["adapter"]
    record["merge"] = merge_gap(model, adapter, data["held_out"][0])
    system = ("You are a careful math tutor. Solve each grade-school word problem step by "
              "step, showing each calculation on its own line, and end with the number. " * 4)
    shots = [message for row in data["train"][:3] for message in row]
    record["generate_plain"] = generation(model, adapter, [r[:1] for r in data["held_out"][:32]])
    record["generate_shared_prefix"] = generation(
        model, adapter, [[{"role": "system", "content": system}, *shots, r[0]]
                         for r in data["held_out"][:16]])
    out = Path(os.environ.get("OUT") or args.data)
    (out / "gpu_recipe.json").write_text(json.dumps(record, indent=1))
    print(json.dumps(record))


if __name__ == "__main__":
    main()
