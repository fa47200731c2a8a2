"""Exports people deploy: a merged model folder, Ollama Modelfiles, a verified GGUF file.

- ``merge_adapter``: base + LoRA adapter → one transformers folder (peft ``merge_and_unload``).
- ``write_gguf``: a merged Llama-architecture folder → GGUF (F32 or F16) with the ``gguf``
  package, named and laid out as llama.cpp's ``convert_hf_to_gguf.py`` does (tensor names
  ``blk.N.attn_q.weight`` …, Q/K rows permuted to GGML's rotary layout), tokenizer metadata
  copied from the base model's own GGUF when there is one, else built from tokenizer.json.
- ``verify_gguf``: load the GGUF back with transformers (``gguf_file=``) and compare logits
  with the merged folder on a few prompts; F32 must match within ``GGUF_TOLERANCE``.
- ``write_modelfile``: Ollama ``FROM`` base + ``ADAPTER`` adapter, the ChatML template and
  stop tokens (https://github.com/ollama/ollama/blob/main/docs/modelfile.md).

Run as: ``workbench export -w ws/ [--run-id RUN]``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from common import errors

# Max |logit difference| accepted between the merged folder and its GGUF read back. F32
# tensors are copied bit for bit and the rotary permutation is undone exactly on load:
# measured 0.0 on the tiny test Llama; 1e-3 leaves room for another summation order. F16
# rounds every weight: measured 2.2e-4 on the tiny Llama; larger models drift more.
GGUF_TOLERANCE = {"f32": 1e-3, "f16": 0.5}
VERIFY_PROMPTS = ("The capital of France is", "def add(a, b):\n    return",
                  "Question: what is 7 times 6?\nAnswer:")
LAYER_TENSORS = {  # transformers Llama name → llama.cpp GGUF name (per block)
    "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}


def merge_adapter(base_dir: Path, adapter_dir: Path, out_dir: Path) -> Path:
    """Save base + adapter merged into plain weights (fp32) with the tokenizer at ``out_dir``."""
    from peft import PeftModel

    from training.model import load_model, load_tokenizer

    model = PeftModel.from_pretrained(load_model(base_dir), adapter_dir).merge_and_unload()
    model.save_pretrained(out_dir, safe_serialization=True)
    load_tokenizer(base_dir).save_pretrained(out_dir)
    return Path(out_dir)


def gguf_name(hf_name: str) -> str | None:
    """llama.cpp's tensor name for a transformers Llama parameter (None: not exported).

    >>> gguf_name("model.layers.3.self_attn.q_proj.weight")
    'blk.3.attn_q.weight'
    >>> gguf_name("model.norm.weight"), gguf_name("lm_head.weight")
    ('output_norm.weight', 'output.weight')
    """
    fixed = {"model.embed_tokens.weight": "token_embd.weight",
             "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight"}
    if hf_name in fixed:
        return fixed[hf_name]
    parts = hf_name.split(".")
    if parts[:2] != ["model", "layers"]:
        return None
    module = ".".join(parts[3:-1])
    return f"blk.{parts[2]}.{LAYER_TENSORS[module]}.{parts[-1]}" if module in LAYER_TENSORS else None


def permute_rotary(weight: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder Q/K rows from HF's rotate-half layout to GGML's interleaved one.

    The inverse of transformers' GGUF loader (``reverse_permute_weights``); the same as
    ``LlamaModel.permute`` in llama.cpp's convert_hf_to_gguf.py.
    """
    return (weight.reshape(n_head, 2, weight.shape[0] // n_head // 2, *weight.shape[1:])
            .swapaxes(1, 2).reshape(weight.shape))


def write_gguf(model_dir: Path, out_path: Path, dtype: str = "f32",
               tokenizer_gguf: Path | None = None) -> Path:
    """Write a Llama-architecture transformers folder as one GGUF file.

    ``dtype``: f32 or f16 for 2-D weights (norms stay F32, as llama.cpp writes them).
    ``tokenizer_gguf``: a GGUF of the same base model whose ``tokenizer.*`` fields are
    copied verbatim (the embedded model's), else they are built from ``tokenizer.json``.
    Raises ``InputError`` for another architecture.
    """
    from gguf import GGUFWriter, LlamaFileType
    from safetensors.torch import load_file
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir)
    if config.model_type != "llama":
        raise errors.InputError(f"GGUF export supports Llama-architecture models; "
                                f"{model_dir} is {config.model_type!r}")
    writer = GGUFWriter(str(out_path), "llama")
    _write_hparams(writer, config, LlamaFileType.ALL_F32 if dtype == "f32" else
                   LlamaFileType.MOSTLY_F16)
    _write_tokenizer(writer, model_dir, tokenizer_gguf)
    state = {}
    for path in sorted(Path(model_dir).glob("*.safetensors")):
        state.update(load_file(path))
    for hf_name, tensor in state.items():
        name = gguf_name(hf_name)
        if name is None or (name == "output.weight" and config.tie_word_embeddings):
            continue
        array = tensor.to(torch.float32).numpy()
        if name.endswith("attn_q.weight"):
            array = permute_rotary(array, config.num_attention_heads)
        elif name.endswith("attn_k.weight"):
            array = permute_rotary(array, config.num_key_value_heads)
        if dtype == "f16" and array.ndim == 2:
            array = array.astype(np.float16)
        writer.add_tensor(name, np.ascontiguousarray(array))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(out_path)


def _write_hparams(writer, config, file_type) -> None:
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    writer.add_name(getattr(config, "_name_or_path", "") or "fine-tuned")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_rope_dimension_count(head_dim)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    rope = getattr(config, "rope_parameters", None) or {}
    writer.add_rope_freq_base(float(rope.get("rope_theta", getattr(config, "rope_theta", 1e4))))
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(file_type)


def _write_tokenizer(writer, model_dir: Path, tokenizer_gguf: Path | None) -> None:
    if tokenizer_gguf is not None:
        from gguf import GGUFReader

        for name, item in GGUFReader(tokenizer_gguf).fields.items():
            if name.startswith("tokenizer."):
                sub = item.types[-1] if len(item.types) > 1 else None
                writer.add_key_value(name, item.contents(), item.types[0], sub)
        return
    from training.model import load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    spec = json.loads((Path(model_dir) / "tokenizer.json").read_text())
    vocab = {i: t for t, i in tokenizer.get_vocab().items()}
    special = set(tokenizer.all_special_ids)
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"].get("merges", [])]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list([vocab[i] for i in range(len(vocab))])
    writer.add_token_types([3 if i in special else 1 for i in range(len(vocab))])  # 3 control
    writer.add_token_merges(merges)
    for setter, token_id in (("add_bos_token_id", tokenizer.bos_token_id),
                             ("add_eos_token_id", tokenizer.eos_token_id),
                             ("add_pad_token_id", tokenizer.pad_token_id)):
        if token_id is not None:
            getattr(writer, setter)(token_id)
    if tokenizer.chat_template:
        writer.add_chat_template(tokenizer.chat_template)


def verify_gguf(model_dir: Path, gguf_path: Path, dtype: str = "f32",
                prompts: tuple[str, ...] = VERIFY_PROMPTS) -> dict:
    """Load ``gguf_path`` with transformers and compare next-token logits with ``model_dir``.

    Returns {"max_abs_diff", "tolerance", "same_argmax", "prompts"}. Raises ``StageError``
    when the difference exceeds ``GGUF_TOLERANCE[dtype]`` or an argmax differs.
    """
    from transformers import AutoModelForCausalLM

    from training.model import load_model, load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    reference = load_model(model_dir).eval()
    loaded = AutoModelForCausalLM.from_pretrained(Path(gguf_path).parent,
                                                  gguf_file=Path(gguf_path).name,
                                                  dtype=torch.float32).eval()
    worst, same = 0.0, True
    with torch.no_grad():
        for prompt in prompts:
            ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
            a, b = reference(ids).logits[0], loaded(ids).logits[0]
            worst = max(worst, float((a - b).abs().max()))
            same = same and bool((a.argmax(-1) == b.argmax(-1)).all())
    result = {"max_abs_diff": worst, "tolerance": GGUF_TOLERANCE[dtype], "same_argmax": same,
              "prompts": len(prompts)}
    if worst > GGUF_TOLERANCE[dtype] or not same:
        raise errors.StageError(f"GGUF check failed: logits differ by up to {worst:.3g} "
                                f"(tolerance {GGUF_TOLERANCE[dtype]}), same argmax: {same}")
    return result


# Ollama passes system messages both joined in .System and in .Messages (template.collate):
# the range skips them so the system turn is rendered once.
CHATML_TEMPLATE = """{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{- range .Messages }}{{- if ne .Role "system" }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}{{- end }}<|im_start|>assistant
"""


def default_system_prompt(tokenizer) -> str | None:
    """The system prompt the chat template inserts when a conversation has none (SmolLM2's
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face"), or None."""
    text = tokenizer.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False)
    head = "<|im_start|>system\n"
    return text[len(head):text.index("<|im_end|>")] if text.startswith(head) else None


def write_modelfile(path: Path, base: str, tokenizer, adapter: str | None = None) -> Path:
    """An Ollama Modelfile: FROM ``base``, ADAPTER ``adapter`` (if any), template, stops.

    Raises ``InputError`` when the tokenizer's chat template is not ChatML (``<|im_start|>``):
    an Ollama Go template is only written for templates we can translate exactly.
    """
    if "<|im_start|>" not in (tokenizer.chat_template or ""):
        raise errors.InputError("only ChatML chat templates (<|im_start|>) are translated "
                                "to an Ollama template; write TEMPLATE by hand")
    lines = [f"FROM {base}"] + ([f"ADAPTER {adapter}"] if adapter else [])
    lines.append(f'TEMPLATE """{CHATML_TEMPLATE}"""')
    if (system := default_system_prompt(tokenizer)) is not None:
        lines.append(f'SYSTEM """{system}"""')
    lines += ['PARAMETER stop "<|im_end|>"', 'PARAMETER stop "<|im_start|>"']
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)
