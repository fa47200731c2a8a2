"""The fine-tuning run's configuration: defaults in code, help text on every field.

The help text is what the CLI flags (``workbench.cli_training``) and the Streamlit form
(``views/train.py``) show, as in trl's config classes; presets live in commented YAML under
``configs/``. ``problems()`` lists every invalid setting at once (torchtune's habit).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from common import errors

METHODS = ("lora", "qlora", "full", "dpo", "orpo")
# Methods that learn from preference pairs (chosen/rejected answers), not from conversations.
PREFERENCE_METHODS = ("dpo", "orpo")
SCHEDULES = ("linear", "cosine", "constant")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# Tokens per conversation after the chat template, for training and for validation
# (curation.validate, `workbench validate`, the pipeline): one default, so a row training
# would truncate to nothing is a validation finding first.
MAX_SEQ_LEN = 1024


def _f(default, help: str, **kwargs):
    return field(default=default, metadata={"help": help}, **kwargs)


@dataclass
class TrainConfig:
    """Settings of one fine-tuning run (``training.recipe.train_lora``)."""

    base_model: str = _f("embedded", "Base model: 'embedded' (SmolLM2-135M-Instruct, offline) "
                                     "or a local model folder.")
    method: str = _f("lora", "lora (adapters on a frozen base), qlora (adapters on a 4-bit NF4 "
                             "base, needs CUDA + bitsandbytes), full (every weight; small "
                             "models only), or dpo / orpo (LoRA on rated preference pairs: "
                             "`workbench train-preferences`).")
    lora_rank: int = _f(16, "LoRA rank r: higher = more capacity, more memory and time.")
    lora_alpha: int = _f(32, "LoRA scaling alpha; the update is scaled by alpha / rank.")
    lora_dropout: float = _f(0.05, "Dropout on the LoRA input during training (0 disables it).")
    target_modules: tuple[str, ...] = _f(
        ("q_proj", "k_proj", "v_proj", "o_proj"),
        "Names of the linear layers that get LoRA adapters (attention projections).")
    learning_rate: float = _f(2e-4, "Peak AdamW learning rate, reached after warmup.")
    lr_schedule: str = _f("linear", "Decay after warmup: linear, cosine or constant.")
    warmup_steps: int = _f(2, "Steps of linear learning-rate warmup.")
    max_steps: int = _f(30, "Optimizer steps; 0 = derive from epochs. The data is cycled "
                            "when it runs out.")
    epochs: float = _f(1.0, "Passes over the training data, used when max_steps is 0.")
    batch_size: int = _f(8, "Conversations per batch.")
    gradient_accumulation: int = _f(1, "Batches whose gradients are summed per optimizer step "
                                       "(effective batch = batch_size x this).")
    max_batch_tokens: int = _f(2048, "Tokens per forward pass: a batch above it is split into "
                                     "micro-batches whose gradients are accumulated (bounds "
                                     "memory, same optimizer step).")
    max_seq_len: int = _f(MAX_SEQ_LEN, "Tokens per conversation after the chat template; longer "
                                "ones are truncated.")
    packing: bool = _f(False, "Padding-free batches: conversations laid end to end in rows "
                              "of at most max_batch_tokens, position ids restarting, no "
                              "attention across them. Off by default: without a varlen "
                              "attention kernel (CPU) a row's attention costs its full length "
                              "squared, so length-grouped padded batches are faster there.")
    precision: str = _f("auto", "auto (bf16 on a CPU with AVX512-BF16 or AMX and on GPUs "
                                "that support it, else fp32; dpo / orpo: fp32 on a CPU), "
                                "fp32, bf16 or fp16 (autocast: weights and LoRA parameters "
                                "stay fp32).")
    beta: float = _f(0.1, "dpo / orpo only: DPO's beta (how far the tuned model may move from "
                          "the reference; Rafailov et al. 2023) or ORPO's lambda (weight of the "
                          "odds-ratio term; Hong et al. 2024).")
    start_from: str = _f("base", "dpo / orpo only: 'base' (fresh LoRA on the base model; the "
                                 "reference is the base, adapter disabled) or a train run id "
                                 "(its LoRA adapter is trained further; the reference is a "
                                 "frozen copy of that adapter).")
    processes: int = _f(1, "Training processes (torch.distributed ranks): one per CPU core "
                           "(gloo) or per CUDA GPU (nccl). Each trains on its share of every "
                           "batch; the batch, the loss per step and the checkpoints are those "
                           "of one process.")
    accelerate_config: str = _f("", "CUDA only: an accelerate config file "
                                    "(configs/accelerate/ddp.yaml or fsdp.yaml) to launch the "
                                    "processes with; empty = DDP.")
    seed: int = _f(0, "Seed for LoRA initialisation, dropout and batch order.")
    eval_every: int = _f(0, "Validation loss every N optimizer steps (0 = never).")
    eval_max_examples: int = _f(64, "Validation conversations used for each evaluation.")
    early_stopping_patience: int = _f(0, "Stop after this many evaluations without a better "
                                         "validation loss (0 = off).")
    checkpoint_every: int = _f(10, "Save a resumable checkpoint every N steps (0 = only at "
                                   "cancel/end).")
    keep_checkpoints: int = _f(2, "Newest checkpoints kept on disk (older ones are deleted).")
    collapse_patience: int = _f(3, "Stop as failed after this many consecutive logged losses "
                                   "that are 0.0 or not finite.")
    max_nonfinite_steps: int = _f(5, "A step whose gradient norm is NaN or inf is skipped (no "
                                     "update); this many in a row fail the run.")

    def problems(self) -> list[str]:
        """Every invalid setting at once, as one human line each (empty when valid)."""

        def at_least(name: str, minimum: int) -> tuple[bool, str]:
            value = getattr(self, name)
            return value >= minimum, f"{name} must be >= {minimum}, got {value}"

        checks = [
            (self.method in METHODS, f"method must be one of {', '.join(METHODS)}, "
                                     f"got {self.method!r}"),
            (math.isfinite(self.beta) and self.beta > 0, f"beta must be > 0, got {self.beta}"),
            (bool(self.start_from.strip()), "start_from must be 'base' or a train run id"),
            at_least("lora_rank", 1),
            (self.lora_alpha > 0, f"lora_alpha must be > 0, got {self.lora_alpha}"),
            (0 <= self.lora_dropout < 1,
             f"lora_dropout must be in [0, 1), got {self.lora_dropout}"),
            (len(self.target_modules) > 0, "target_modules must name at least one layer"),
            (math.isfinite(self.learning_rate) and self.learning_rate > 0,
             f"learning_rate must be > 0, got {self.learning_rate}"),
            (self.lr_schedule in SCHEDULES, f"lr_schedule must be one of "
                                            f"{', '.join(SCHEDULES)}, got {self.lr_schedule!r}"),
            at_least("warmup_steps", 0),
            at_least("max_steps", 0),
            (self.max_steps > 0 or self.epochs > 0,
             f"epochs must be > 0 when max_steps is 0, got {self.epochs}"),
            at_least("batch_size", 1),
            at_least("gradient_accumulation", 1),
            at_least("max_batch_tokens", 1),
            at_least("max_seq_len", 8),
            (self.precision in PRECISIONS, f"precision must be one of "
                                           f"{', '.join(PRECISIONS)}, got {self.precision!r}"),
            at_least("eval_every", 0),
            at_least("eval_max_examples", 1),
            at_least("early_stopping_patience", 0),
            (self.early_stopping_patience == 0 or self.eval_every > 0,
             "early_stopping_patience needs eval_every > 0"),
            at_least("checkpoint_every", 0),
            at_least("keep_checkpoints", 1),
            at_least("collapse_patience", 1),
            at_least("max_nonfinite_steps", 1),
            at_least("processes", 1),
            (self.processes == 1 and not self.accelerate_config
             or self.method not in PREFERENCE_METHODS,
             f"method {self.method} trains in one process: processes must be 1 and "
             "accelerate_config empty"),
            (not (self.method == "qlora" and "fsdp" in Path(self.accelerate_config).name),
             "qlora cannot run under FSDP: bitsandbytes' 4-bit weights are not sharded by "
             "it; use configs/accelerate/ddp.yaml (one whole 4-bit model per GPU)"),
        ]
        return [message for ok, message in checks if not ok]

    def validate(self) -> "TrainConfig":
        """Return self, or raise ``WorkbenchError`` listing every problem in one message."""
        found = self.problems()
        if found:
            raise errors.WorkbenchError("invalid training config: " + "; ".join(found))
        return self

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (``target_modules`` as a list)."""
        data = asdict(self)
        data["target_modules"] = list(self.target_modules)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Build from a dict such as ``to_dict()``'s; unknown keys raise ``ValueError``."""
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {', '.join(unknown)}")
        values = dict(data)
        if isinstance(values.get("target_modules"), str):
            values["target_modules"] = values["target_modules"].split(",")
        if "target_modules" in values:
            values["target_modules"] = tuple(m.strip() for m in values["target_modules"])
        return cls(**values)


def diff(a: dict, b: dict) -> dict[str, tuple]:
    """Fields whose values differ between two config dicts: {name: (a value, b value)}.

    >>> diff({"lora_rank": 8, "seed": 0}, {"lora_rank": 16, "seed": 0})
    {'lora_rank': (8, 16)}
    """
    return {key: (a.get(key), b.get(key)) for key in sorted(set(a) | set(b))
            if a.get(key) != b.get(key)}


def load_preset(path: Path, overrides: dict | None = None) -> TrainConfig:
    """A ``TrainConfig`` from a YAML preset (``configs/*.yaml``) plus overrides, validated.

    Raises ``InputError`` naming the file for unreadable YAML or unknown keys, and
    ``WorkbenchError`` listing every invalid value.
    """
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise errors.InputError(f"{path}: cannot read the preset: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise errors.InputError(f"{path}: a preset is a mapping of field: value")
    try:
        config = TrainConfig.from_dict({**data, **(overrides or {})})
    except (TypeError, ValueError) as exc:
        raise errors.InputError(f"{path}: {exc}") from None
    return config.validate()
