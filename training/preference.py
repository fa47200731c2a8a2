"""Preference tuning (DPO, ORPO) with LoRA on rated pairs, through TRL's trainers.

Run as: ``train_preferences(rows, TrainConfig(method="dpo", max_steps=20), Path("runs/p1"))``
inside a job; ``rows`` are TRL conversational preference rows ({"prompt": messages,
"chosen": [assistant message], "rejected": [assistant message]}).

- DPO (Rafailov et al. 2023, "Direct Preference Optimization") via ``trl.DPOTrainer``; ORPO
  (Hong et al. 2024, "ORPO: Monolithic Preference Optimization without Reference Model") via
  ``trl.experimental.orpo.ORPOTrainer``. ``beta`` is DPO's beta or ORPO's lambda.
- The model is LoRA (peft) on the base, or the adapter of an earlier LoRA run trained further
  (``start_adapter``). The reference model is never a second copy of the base: starting from
  the base, TRL computes reference log-probabilities with the adapter disabled; starting from
  an adapter, TRL adds a frozen copy of it named ``ref`` (only the LoRA weights are copied)
  and switches to it for the reference (``DPOTrainer.__init__`` with a ``PeftModel`` and
  ``ref_model=None``, trl 1.16). ORPO needs no reference.
- Each logged step reports the loss and TRL's reward statistics: ``reward_margin`` (mean of
  chosen minus rejected implicit reward) and ``reward_accuracy`` (share of pairs whose chosen
  reward is higher). After training, the same statistics on the training pairs themselves
  (``trainer.evaluate`` on the train set) say whether the model learned them.
- Checkpoints are TRL's (``checkpoints/checkpoint-N``); a restarted job resumes from the
  newest one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

from common import errors
from training.config import PREFERENCE_METHODS, TrainConfig


def _trainer_args(config: TrainConfig, out_dir: Path, total: int, precision: str):
    if config.method == "dpo":
        from trl import DPOConfig as Args
    else:
        from trl.experimental.orpo import ORPOConfig as Args
    return Args(
        output_dir=str(out_dir / "checkpoints"), per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation,
        learning_rate=config.learning_rate, lr_scheduler_type=config.lr_schedule,
        warmup_steps=config.warmup_steps, max_steps=total, logging_steps=1,
        save_strategy="steps" if config.checkpoint_every else "no",
        save_steps=config.checkpoint_every or 500, save_total_limit=config.keep_checkpoints,
        report_to=[], disable_tqdm=True, seed=config.seed, data_seed=config.seed,
        bf16=precision == "bf16", fp16=precision == "fp16", max_length=config.max_seq_len,
        beta=config.beta, max_grad_norm=1.0, remove_unused_columns=False,
        dataloader_num_workers=0, save_only_model=False, gradient_checkpointing=False)


def total_steps(n_pairs: int, config: TrainConfig) -> int:
    """Optimizer steps: ``max_steps``, or ``epochs`` over the pairs.

    >>> total_steps(10, TrainConfig(method="dpo", max_steps=0, epochs=2, batch_size=4))
    6
    """
    if config.max_steps > 0:
        return config.max_steps
    batches = math.ceil(n_pairs / config.batch_size)
    return max(1, math.ceil(config.epochs * batches / config.gradient_accumulation))


def _model(model_dir: Path, config: TrainConfig, start_adapter: Path | None):
    """(model, peft_config for the trainer or None): LoRA from scratch, or the start adapter
    loaded trainable."""
    import torch
    from peft import LoraConfig, PeftModel

    from training.model import load_model

    torch.manual_seed(config.seed)
    model = load_model(model_dir)
    if torch.cuda.is_available():
        model = model.to("cuda")
    if start_adapter is not None:
        return PeftModel.from_pretrained(model, str(start_adapter), is_trainable=True), None
    return model, LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha,
                             lora_dropout=config.lora_dropout,
                             target_modules=list(config.target_modules), task_type="CAUSAL_LM")


def _record(logs: dict, step: int, total: int, started: float, first_step: int) -> dict:
    """A ``train_log.jsonl`` line from one TRL log: step, total, loss, lr, reward_margin,
    reward_accuracy, reward_chosen, reward_rejected, elapsed_s, eta_s."""
    elapsed = time.monotonic() - started
    done = max(step - first_step, 1)
    return {"step": step, "total": total, "loss": logs.get("loss"),
            "lr": logs.get("learning_rate"), "reward_margin": logs.get("rewards/margins"),
            "reward_accuracy": logs.get("rewards/accuracies"),
            "reward_chosen": logs.get("rewards/chosen"),
            "reward_rejected": logs.get("rewards/rejected"),
            "elapsed_s": round(elapsed, 3), "eta_s": round(elapsed / done * (total - step), 1)}


def train_preferences(rows: list[dict], config: TrainConfig, out_dir: Path,
                      on_log: Callable[[dict], None] | None = None,
                      start_adapter: Path | None = None) -> dict:
    """Train ``config.method`` (dpo or orpo) on preference rows; adapter into ``out_dir``.

    Resumes from ``out_dir/checkpoints``' newest checkpoint when there is one. ``on_log``
    gets one dict per optimizer step (``_record``'s keys). Returns {"method", "steps",
    "first_loss", "final_loss", "losses", "adapter", "pairs", "resumed_from",
    "reward_accuracy" (on the training pairs after training), "reward_margin" (likewise),
    "trainable_params", "reference" (how the reference model was made), "base_model_dir"}.
    Raises ``WorkbenchError`` for an invalid config or a method that is not a preference
    method, ``StageError`` for no rows or an out-of-memory error.
    """
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback

    from training.model import ensure_base_model, load_tokenizer, resolve_precision

    config.validate()
    if config.method not in PREFERENCE_METHODS:
        raise errors.WorkbenchError(f"method {config.method!r} is not a preference method "
                                    f"({', '.join(PREFERENCE_METHODS)})")
    if not rows:
        raise errors.StageError("no preference pair to train on")
    out_dir = Path(out_dir)
    model_dir = ensure_base_model(config.base_model)
    tokenizer = load_tokenizer(model_dir)
    model, peft_config = _model(model_dir, config, start_adapter)
    total = total_steps(len(rows), config)
    args = _trainer_args(config, out_dir, total, resolve_precision(config.precision,
                                                                   cpu_bf16=False))
    dataset = Dataset.from_list(rows)
    checkpoints = sorted((out_dir / "checkpoints").glob("checkpoint-*"),
                         key=lambda p: int(p.name.rsplit("-", 1)[1]))
    resumed_from = int(checkpoints[-1].name.rsplit("-", 1)[1]) if checkpoints else None
    log: list[dict] = []
    started = time.monotonic()

    class Reporter(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs and "eval_loss" not in logs:
                record = _record(logs, state.global_step, total, started, resumed_from or 0)
                log.append(record)
                if on_log:
                    on_log(record)

    if config.method == "dpo":
        from trl import DPOTrainer

        trainer = DPOTrainer(model=model, ref_model=None, args=args, train_dataset=dataset,
                             processing_class=tokenizer, peft_config=peft_config,
                             callbacks=[Reporter()])
        if trainer.ref_model is not None:  # TRL loaded a second model: not expected here
            reference = "a separate reference model"
        elif "ref" in getattr(trainer.model, "peft_config", {}):
            reference = "a frozen copy of the start adapter (peft adapter 'ref')"
        else:
            reference = "the base model (adapter disabled)"
    else:
        from trl.experimental.orpo import ORPOTrainer

        trainer = ORPOTrainer(model=model, args=args, train_dataset=dataset,
                              processing_class=tokenizer, peft_config=peft_config,
                              callbacks=[Reporter()])
        reference = "none (ORPO has no reference model)"
    try:
        trainer.train(resume_from_checkpoint=str(checkpoints[-1]) if checkpoints else None)
        # DPOTrainer tokenizes an evaluation set itself; ORPOTrainer needs its tokenized one
        after = trainer.evaluate(eval_dataset=dataset if config.method == "dpo"
                                 else trainer.train_dataset)
    except (torch.OutOfMemoryError, MemoryError):
        raise errors.StageError(f"out of memory: lower batch_size ({config.batch_size}) or "
                                f"max_seq_len ({config.max_seq_len}); earlier checkpoints "
                                "are kept") from None
    target = out_dir / "adapter"
    trainer.model.save_pretrained(target, selected_adapters=["default"],
                                  safe_serialization=True)
    losses = [r["loss"] for r in log]
    return {"method": config.method, "steps": trainer.state.global_step,
            "first_loss": losses[0] if losses else None,
            "final_loss": losses[-1] if losses else None, "losses": losses,
            "adapter": str(target), "pairs": len(rows), "resumed_from": resumed_from,
            "reward_accuracy": after.get("eval_rewards/accuracies"),
            "reward_margin": after.get("eval_rewards/margins"),
            "trainable_params": sum(p.numel() for p in trainer.model.parameters()
                                    if p.requires_grad),
            "reference": reference, "base_model_dir": str(model_dir)}
