"""GPU training throughput: QLoRA and bf16 LoRA on randomly initialised model shapes.

Run as: python bench/train_gpu.py [--quick] [--steps 20] [--peak-flops 989e12]

Needs a CUDA GPU with torch, transformers, peft and bitsandbytes (requirements-gpu.txt); no
weight files: SmolLM2-135M- and Llama-3.2-1B-shaped configs are built with random weights
(throughput does not depend on the values). For each shape x method it trains LoRA r=16 on
q/k/v/o/gate/up/down with AdamW for ``--steps`` steps on random token batches (batch 8 x 1024
tokens, no padding), after 3 warm-up steps, and prints tokens/s and model-FLOPs utilisation:
MFU = 6 * N * tokens/s / peak, with N the model's parameter count (the 6N rule of Kaplan et
al. 2020, counting the frozen base's forward and backward as a full model would) and peak the
GPU's dense bf16 peak (989e12 for an H100/H200 SXM). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

SHAPES = {
    "smollm2-135m": dict(vocab_size=49152, hidden_size=576, intermediate_size=1536,
                         num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                         tie_word_embeddings=True, rope_theta=100000.0),
    "llama-3.2-1b": dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192,
                         num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                         tie_word_embeddings=True, rope_theta=500000.0),
}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def build(shape: str, method: str):
    """Random-weight model of ``shape`` on cuda:0: bf16 base, or a 4-bit NF4 (double
    quantization) base for QLoRA, quantized layer by layer by bitsandbytes, with LoRA."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(max_position_embeddings=4096, **SHAPES[shape])
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    n_params = sum(p.numel() for p in model.parameters())
    if method == "qlora":
        model = quantize_nf4(model)
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model = model.to("cuda")
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=TARGETS,
                      task_type="CAUSAL_LM")
    return get_peft_model(model, lora), n_params


def quantize_nf4(model):
    """Replace every decoder Linear by a bitsandbytes 4-bit NF4 Linear (double quantization,
    bf16 compute), as ``BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
    bnb_4bit_use_double_quant=True)`` does at load time."""
    import bitsandbytes as bnb
    import torch

    for module in list(model.model.layers.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, torch.nn.Linear):
                q = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=False,
                                      compute_dtype=torch.bfloat16, compress_statistics=True,
                                      quant_type="nf4")
                q.weight = bnb.nn.Params4bit(child.weight.data.cpu(), requires_grad=False,
                                             compress_statistics=True, quant_type="nf4")
                setattr(module, child_name, q)
    model.config.quantization_config = {"load_in_4bit": True}
    model.is_loaded_in_4bit = True
    return model


def measure(shape: str, method: str, steps: int, batch: int, seq: int, peak: float) -> dict:
    import torch

    model, n_params = build(shape, method)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    vocab = SHAPES[shape]["vocab_size"]
    ids = torch.randint(0, vocab, (batch, seq), device="cuda")

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids, use_cache=False).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        loss = step()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    tokens_per_s = steps * batch * seq / seconds
    result = {"shape": shape, "method": method, "params": n_params,
              "tokens_per_s": round(tokens_per_s, 1),
              "mfu": round(6 * n_params * tokens_per_s / peak, 4),
              "peak_gpu_mem_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2),
              "final_loss": round(float(loss), 3)}
    return result  # model and optimizer are freed on return (empty_cache in main)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 steps, batch 4 (< 2 min)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--peak-flops", type=float, default=989e12,
                        help="dense bf16 peak of the GPU (989e12: H100/H200 SXM)")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        sys.exit("bench/train_gpu.py needs a CUDA GPU; none is visible here")
    steps, batch = (5, 4) if args.quick else (args.steps, args.batch)
    rows = []
    for shape in SHAPES:
        for method in ("lora_bf16", "qlora"):
            row = measure(shape, "qlora" if method == "qlora" else "lora", steps, batch,
                          args.seq, args.peak_flops)
            row["method"] = method
            print(f"{shape:13s} {method:9s} {row['tokens_per_s']:10.0f} tok/s  "
                  f"MFU {row['mfu']:.3f}  {row['peak_gpu_mem_gb']} GB", file=sys.stderr)
            rows.append(row)
            torch.cuda.empty_cache()
    print(json.dumps({"gpu": torch.cuda.get_device_name(0), "peak_flops": args.peak_flops,
                      "steps": steps, "batch": batch, "seq": args.seq, "runs": rows}))


if __name__ == "__main__":
    main()
