"""Fine-tuning recipe (LoRA, QLoRA, full): model -> data -> trainer -> save.

A plain PyTorch loop (as in torchtune's recipes, the loop itself in ``training.run``) rather
than ``transformers.Trainer``: on a CPU with a 135M model the loop is a few lines, and every
choice is visible. Loss is on assistant tokens only (``training.data.encode_example``);
padding is masked by attention mask and ``-100`` labels, never by pad id (SmolLM2's pad id is
its end-of-turn id). Where the time goes on a CPU (``bench/train.py``): length-grouped
batches (little padding), no gradient checkpointing (a 135M model's activations fit), and the
output head only at labelled positions.

Run as: ``train_lora(conversations, TrainConfig(max_steps=30), Path("runs/r1"))`` inside a job.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from training.batching import encode_with_exclusions
from training.config import TrainConfig
from training.model import ensure_base_model, init_model, load_tokenizer, qlora_unavailable
from common import errors

MAX_GRAD_NORM = 1.0  # gradient clipping, the transformers.Trainer default


def lr_factor(step: int, warmup_steps: int, total_steps: int, schedule: str = "linear") -> float:
    """Learning-rate multiplier for 0-based ``step``: linear warmup, then ``schedule`` decay.

    Unlike ``transformers.get_linear_schedule_with_warmup`` no step gets 0: the first warmup
    step already moves the weights and the last step still does. ``cosine`` follows
    ``transformers.get_cosine_schedule_with_warmup`` (half a cosine) on the same grid.

    >>> [lr_factor(s, 2, 5) for s in range(5)]
    [0.5, 1.0, 1.0, 0.6666666666666666, 0.3333333333333333]
    >>> [lr_factor(s, 2, 2) for s in range(2)]  # no room for decay: warmup only
    [0.5, 1.0]
    >>> [round(lr_factor(s, 0, 4, "cosine"), 4) for s in range(4)]
    [1.0, 0.8536, 0.5, 0.1464]
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if total_steps <= warmup_steps or schedule == "constant":
        return 1.0
    if schedule == "cosine":
        progress = (step - warmup_steps) / (total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return (total_steps - step) / (total_steps - warmup_steps)


def save_outputs(model, config: TrainConfig, out_dir: Path, tokenizer) -> Path:
    """Adapter (safetensors) for LoRA/QLoRA, or a whole model folder for full fine-tuning."""
    if config.method == "full":
        target = Path(out_dir) / "model"
        model.save_pretrained(target, safe_serialization=True)
        tokenizer.save_pretrained(target)
        return target
    target = Path(out_dir) / "adapter"
    model.save_pretrained(target, safe_serialization=True)
    return target


def train_lora(examples: list[list[dict]], config: TrainConfig, out_dir: Path,
               on_step: Callable[[int, int, float], None] | None = None,
               on_log: Callable[[dict], None] | None = None,
               validation: list[list[dict]] | None = None,
               stop_exceptions: tuple = (KeyboardInterrupt,)) -> dict:
    """Fine-tune on conversations (LoRA, QLoRA or full); resume from ``out_dir/checkpoints``.

    ``examples`` are OpenAI-style message lists. ``on_step(step, total, loss)`` is called
    after each step (1-based), ``on_log(record)`` with the full progress record
    (``training.run.StepRecord``). A ``stop_exceptions`` exception (a cancel) saves a
    checkpoint of the last finished step, then propagates. Returns ``{"steps", "losses",
    "first_loss", "final_loss", "adapter", "trainable_params", "skipped_examples",
    "excluded", "base_model_dir", "resumed_from", "stopped_early", "best_val_loss"}``
    (``adapter`` is the model folder for full fine-tuning). Raises ``WorkbenchError`` for an
    invalid config, ``StageError`` when no example has an assistant token to learn from,
    when QLoRA is unavailable, on a loss collapse or an out-of-memory error, and
    ``CheckpointError`` for a corrupt checkpoint.
    """
    from training.run import train_loop

    config.validate()
    if config.method == "qlora" and (reason := qlora_unavailable()):
        raise errors.StageError(reason)
    model_dir = ensure_base_model(config.base_model)
    tokenizer = load_tokenizer(model_dir)
    encoded, excluded = encode_with_exclusions(tokenizer, examples, config.max_seq_len)
    if not encoded:
        raise errors.StageError(
            f"none of {len(examples)} examples has an assistant token to train on")
    held_out, _ = encode_with_exclusions(tokenizer, (validation or [])[:config.eval_max_examples],
                                         config.max_seq_len)
    model = init_model(model_dir, config)
    result = train_loop(model, encoded, held_out, tokenizer.pad_token_id, config, Path(out_dir),
                        on_step=on_step, on_log=on_log, stop_exceptions=stop_exceptions)
    target = save_outputs(model, config, out_dir, tokenizer)
    losses = result["losses"]
    return {**result, "method": config.method, "steps": len(losses), "first_loss": losses[0],
            "final_loss": losses[-1],
            "adapter": str(target),
            "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "skipped_examples": len(excluded), "excluded": excluded,
            "base_model_dir": str(model_dir)}
