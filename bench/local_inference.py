"""Local inference speed: our batched transformers generation vs llama.cpp F16 and Q4_K_M.

Run as: python bench/local_inference.py [--quick]   (needs `make llama`)

Model: the embedded SmolLM2-135M-Instruct (a tuned run has the same shapes, so the same
speed). Its converted folder is written as an F16 GGUF and an F32 GGUF quantized to Q4_K_M
with the export code (``training.export.write_gguf``, ``training.llamacpp.quantize``), once,
under the model cache's ``gguf-bench/``.
Prompts: the same chat prompts as bench/generate.py (Dolly instructions when
../shared/data is present, else built-in questions), 32 (--quick: 8), greedy, up to 64 new
tokens (--quick: 32), each answer ending at ``<|im_end|>``.

Paths, each on the same prompts and threads (all CPUs of this process):
- transformers, one stream: ``evaluation.generate.generate_detailed(batch_size=1)``;
- transformers, best batch: the same with ``batch_size`` = all prompts (the product's batched
  path: left-padded rows, one forward pass per step);
- llama.cpp F16 and Q4_K_M, one stream: ``Llama.create_completion`` per prompt
  (temperature 0). llama-cpp-python's ``Llama`` holds one sequence per context, so its best
  batch here is 1; multi-sequence batching needs llama.cpp's low-level ``llama_batch`` API.
Throughput = generated tokens / wall seconds (model loading and a warm-up excluded). The
machine is shared: the JSON carries the 1-minute load average before and after.

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


def gguf_files() -> dict[str, Path]:
    """F16 and Q4_K_M GGUFs of the embedded model, written once into the model cache."""
    from common.settings import model_cache_dir
    from training.export import write_gguf
    from training.llamacpp import quantize
    from training.model import embedded_gguf_path, ensure_base_model

    folder = Path(model_cache_dir()) / "gguf-bench"
    folder.mkdir(parents=True, exist_ok=True)
    base, tokenizer_gguf = ensure_base_model(), embedded_gguf_path()
    files = {"f16": folder / "model-f16.gguf", "q4_k_m": folder / "model-q4_k_m.gguf"}
    if not files["f16"].is_file():
        write_gguf(base, files["f16"], "f16", tokenizer_gguf=tokenizer_gguf)
    if not files["q4_k_m"].is_file():
        f32 = write_gguf(base, folder / "model-f32.gguf", "f32", tokenizer_gguf=tokenizer_gguf)
        quantize(f32, files["q4_k_m"], "q4_k_m")
        f32.unlink()
    return files


def transformers_run(prompts, max_new: int, batch: int) -> tuple[int, float]:
    from evaluation.generate import generate_detailed, load_for_generation
    from training.model import ensure_base_model

    model, tokenizer = load_for_generation(ensure_base_model())
    generate_detailed(model, tokenizer, prompts[:1], 4, 1)  # warm-up
    start = time.perf_counter()
    out = generate_detailed(model, tokenizer, prompts, max_new, batch)
    return sum(count for _, count in out), time.perf_counter() - start


def llama_run(path: Path, prompts, max_new: int) -> tuple[int, float]:
    from training import llamacpp
    from training.model import ensure_base_model, load_tokenizer

    tokenizer = load_tokenizer(ensure_base_model())
    llm = llamacpp.load(path, n_ctx=2048)
    ids = [list(tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True,
                                              return_dict=False)) for p in prompts]
    llm.create_completion(ids[0], max_tokens=4, temperature=0.0)  # warm-up
    tokens, start = 0, time.perf_counter()
    for prompt in ids:
        out = llm.create_completion(prompt, max_tokens=max_new, temperature=0.0,
                                    repeat_penalty=1.0)
        # the end-of-turn token is generated but not counted in usage: count it as ours does
        tokens += out["usage"]["completion_tokens"] + int(out["choices"][0]["finish_reason"]
                                                          == "stop")
    return tokens, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 prompts, 32 tokens")
    args = parser.parse_args()
    n, max_new = (8, 32) if args.quick else (32, 64)

    import torch

    from bench.generate import load_prompts
    from training.llamacpp import default_threads, missing_reason

    if (reason := missing_reason()) is not None:
        print(reason, file=sys.stderr)
        return 2
    prompts, source = load_prompts(n)
    files = gguf_files()
    load_start = os.getloadavg()[0]  # other processes share these cores: say how busy
    figures: dict = {"prompts": n, "source": source, "max_new_tokens": max_new,
                     "threads": {"torch": torch.get_num_threads(), "llama_cpp": default_threads()}}
    for name, run in (("transformers_batch1", lambda: transformers_run(prompts, max_new, 1)),
                      (f"transformers_batch{n}", lambda: transformers_run(prompts, max_new, n)),
                      ("llama_cpp_f16_batch1", lambda: llama_run(files["f16"], prompts, max_new)),
                      ("llama_cpp_q4_k_m_batch1",
                       lambda: llama_run(files["q4_k_m"], prompts, max_new))):
        print(f"{name} …", file=sys.stderr)
        tokens, seconds = run()
        figures[name] = {"tokens": tokens, "seconds": round(seconds, 2),
                         "tokens_per_s": round(tokens / seconds, 1)}
        print(f"{name}: {tokens / seconds:.1f} tokens/s", file=sys.stderr)
    figures["size_mb"] = {k: round(p.stat().st_size / 2**20, 1) for k, p in files.items()}
    figures["load_average_1min"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]
    figures["cpus"] = os.cpu_count()
    print(f"load average (1 min) {figures['load_average_1min']}", file=sys.stderr)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
