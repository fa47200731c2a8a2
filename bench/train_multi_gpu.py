"""GPU check of training across processes: the recipe under ``accelerate launch`` with nccl.

Run as: python bench/train_multi_gpu.py [--processes 1] [--steps 6] [--config configs/accelerate/ddp.yaml]

Needs only torch (CUDA), transformers, peft and accelerate (no workspace, duckdb or presidio):
it writes a random-weight SmolLM2-135M-shaped Llama (the shape of ``bench/train_gpu.py``)
with a byte-level stand-in tokenizer into a temporary folder, generated conversations, and a
job folder as the train job does, then starts ``training.distributed.launch_command``
(``accelerate launch --config_file CONFIG --num_processes N -m workbench.jobs.ranks JOB``)
twice: ``--steps`` steps, then a resume that adds as many again from rank 0's checkpoint.
Checks: the launcher exits 0, ``train_log.jsonl`` holds steps 1..2*steps once each (rank 0
alone), every loss is finite, the adapter was written, ``ranks_result.json`` says
``processes`` ranks and the device was CUDA (bf16 autocast under precision auto). With
``--compare`` (1 process only) the first ``--steps`` steps also run in this process without
accelerate (same settings, so the same learning-rate schedule), and the per-step losses must agree within 1e-3 nats (bf16 autocast rounding).
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SMOLLM2 = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
               num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True,
               rope_theta=100000.0, max_position_embeddings=2048)
TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
            "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def write_model(folder: Path) -> Path:
    """Random SmolLM2-shaped Llama + a byte-level BPE tokenizer with ChatML special tokens."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = {token: i for i, token in enumerate(specials)}
    for byte_char in pre_tokenizers.ByteLevel.alphabet():
        vocab.setdefault(byte_char, len(vocab))
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<|im_start|>",
                                        eos_token="<|im_end|>", pad_token="<|im_end|>",
                                        additional_special_tokens=specials)
    tokenizer.chat_template = TEMPLATE
    config = LlamaConfig(bos_token_id=1, eos_token_id=2, pad_token_id=2, **SMOLLM2)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def conversations(n: int) -> list[list[dict]]:
    return [[{"role": "user", "content": f"What is {a} plus {a * 7 % 13}?"},
             {"role": "assistant", "content": f"{a} plus {a * 7 % 13} is {a + a * 7 % 13}. "
                                              * (1 + a % 4)}] for a in range(n)]


def job_folder(root: Path, model: Path, steps: int, processes: int, config_file: str) -> Path:
    from training.config import TrainConfig
    from workbench.jobs.files import write_jsonl
    from workbench.jobs.runner import new_job

    train = TrainConfig(base_model=str(model), max_steps=steps, batch_size=8, lora_dropout=0.0,
                        learning_rate=2e-4, warmup_steps=1, checkpoint_every=0,
                        processes=processes, accelerate_config=config_file)
    job = new_job(root, "train", {"train": train.to_dict()})
    write_jsonl(job / "train.jsonl", [{"example_id": i, "messages": m}
                                      for i, m in enumerate(conversations(64))])
    return job


def launch(job: Path, processes: int, config_file: str) -> tuple[int, float]:
    from training.distributed import launch_command

    cmd, env = launch_command(job, processes, config_file)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    print("launching:", " ".join(cmd), file=sys.stderr)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=ROOT)
    return done.returncode, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--config", default=str(ROOT / "configs" / "accelerate" / "ddp.yaml"))
    parser.add_argument("--compare", action="store_true",
                        help="also train in this process and compare the losses (1 process)")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        sys.exit("bench/train_multi_gpu.py needs a CUDA GPU; none is visible here")
    from training.config import TrainConfig

    checks = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = write_model(tmp / "model")
        job = job_folder(tmp / "jobs", model, args.steps, args.processes, args.config)
        rc1, seconds1 = launch(job, args.processes, args.config)
        config = json.loads((job / "config.json").read_text())
        config["train"]["max_steps"] = 2 * args.steps  # the resume adds as many steps again
        (job / "config.json").write_text(json.dumps(config))
        rc2, seconds2 = launch(job, args.processes, args.config)
        log = [json.loads(line) for line in (job / "train_log.jsonl").read_text().splitlines()]
        result = json.loads((job / "ranks_result.json").read_text()) if rc2 == 0 else {}
        checks = {"launch_exit_codes": [rc1, rc2],
                  "steps_once_each": [r["step"] for r in log] == list(
                      range(1, 2 * args.steps + 1)),
                  "losses_finite": all(math.isfinite(r["loss"]) for r in log),
                  "adapter_written": (job / "adapter" / "adapter_model.safetensors").is_file(),
                  "resumed_from": result.get("resumed_from"),
                  "processes": result.get("processes")}
        if args.compare and args.processes == 1:
            from training.recipe import train_lora

            # The launched run's first part had max_steps = steps (its learning-rate schedule
            # decays over those steps), so the same settings run here once, without accelerate.
            one = train_lora(conversations(64), TrainConfig.from_dict(
                {**config["train"], "max_steps": args.steps, "processes": 1,
                 "accelerate_config": ""}), tmp / "one")
            gaps = [abs(a - r["loss"]) for a, r in zip(one["losses"], log[:args.steps],
                                                        strict=True)]
            checks["max_loss_gap_vs_one_process"] = max(gaps)
            checks["loss_gap_ok"] = max(gaps) < 1e-3
        ok = (checks["launch_exit_codes"] == [0, 0] and checks["steps_once_each"]
              and checks["losses_finite"] and checks["adapter_written"]
              and checks["resumed_from"] == args.steps
              and checks["processes"] == args.processes and checks.get("loss_gap_ok", True))
        print(json.dumps({"ok": ok, "gpu": torch.cuda.get_device_name(0),
                          "config": args.config, "steps": 2 * args.steps,
                          "seconds": [round(seconds1, 1), round(seconds2, 1)],
                          "tokens_per_s_last": log[-1]["tokens_per_s"] if log else None,
                          "losses": [round(r["loss"], 4) for r in log], **checks}))
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
