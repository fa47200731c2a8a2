"""The training loop: steps, validation, early stopping, checkpoints, loss-collapse guard.

Reads top to bottom: optimizer and schedule → resume from the newest checkpoint → steps
(each: batch → forward passes → one optimizer step → log → maybe evaluate → maybe save).
Resuming reproduces an uninterrupted run: the batch order is a pure function of the seed
and the number of batches consumed, and the checkpoint holds optimizer, scheduler and RNG.

Run as: ``train_loop(model, encoded, held_out, pad_id, config, run_dir)`` (see
``training.recipe.train_lora``).
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from training import checkpoint
from training.config import TrainConfig
from training.guards import NonFiniteGuard, step_is_finite
from training.recipe import (
    MAX_GRAD_NORM,
    batch_stream,
    eval_loss,
    forward_loss,
    labelled_tokens,
    lr_factor,
    make_parts,
    real_tokens,
    resolve_precision,
)
from common import errors


class TrainingCollapsed(errors.StageError):
    """The loss was 0.0 or not finite for ``collapse_patience`` logged steps in a row."""


@dataclass
class StepRecord:
    """One logged optimizer step, as the job writes it to ``train_log.jsonl``."""

    step: int
    total: int
    epoch: float  # batches consumed / batches per epoch
    loss: float  # mean loss per labelled token of the step's batch (nats)
    lr: float
    tokens: int  # non-padding tokens of the step
    tokens_per_s: float  # non-padding tokens per second since this process started training
    elapsed_s: float
    eta_s: float
    val_loss: float | None = None
    skipped_nonfinite_steps: int = 0  # steps so far whose gradient norm was not finite


@contextlib.contextmanager
def signals_held():
    """Hold SIGTERM/SIGINT for the milliseconds of one optimizer update.

    A cancel is SIGTERM, raised as an exception by the job's handler wherever Python happens
    to be. Inside an update it would leave weights one step ahead of the step counter, and
    the checkpoint saved on the way out would not match its step. Blocked signals stay
    pending and are delivered when the mask is restored, i.e. right after the update.
    No-op outside the main thread (signals are only handled there).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def total_steps(n_examples: int, config: TrainConfig) -> int:
    """Optimizer steps of the run: ``max_steps``, or ``epochs`` over the data.

    >>> total_steps(10, TrainConfig(max_steps=0, epochs=2, batch_size=4))
    6
    """
    if config.max_steps > 0:
        return config.max_steps
    batches = math.ceil(n_examples / config.batch_size)
    return max(1, math.ceil(config.epochs * batches / config.gradient_accumulation))


def collapse_cause(loss: float, precision: str, learning_rate: float) -> str:
    """The likely cause of a collapsed loss, named for the user.

    >>> collapse_cause(float("nan"), "fp16", 2e-4).split(":")[0]
    'fp16 overflow'
    """
    if precision == "fp16":
        return ("fp16 overflow: half precision cannot hold these activations or gradients; "
                "use precision bf16 or fp32" if not loss == 0.0 else
                "fp16 underflow: the loss rounds to 0 in half precision; use bf16 or fp32")
    if loss == 0.0:
        return ("nothing left to learn: every label is masked or the model reproduces a tiny "
                "training set exactly; check the assistant turns and max_seq_len, add data")
    return (f"divergence: the learning rate {learning_rate:g} is too high for this model or "
            "data; lower it or add warmup_steps")


class CollapseGuard:
    """Counts consecutive logged losses that are 0.0 or not finite; raises at ``patience``."""

    def __init__(self, patience: int, precision: str, learning_rate: float,
                 history: list[float] = ()):
        self.patience, self.precision, self.learning_rate = patience, precision, learning_rate
        self.streak = 0
        for loss in history:
            self.streak = self.streak + 1 if self.bad(loss) else 0

    @staticmethod
    def bad(loss: float) -> bool:
        return loss == 0.0 or not math.isfinite(loss)

    def update(self, step: int, loss: float) -> None:
        """Record a step's loss; raises ``TrainingCollapsed`` naming the likely cause."""
        self.streak = self.streak + 1 if self.bad(loss) else 0
        if self.streak >= self.patience:
            raise TrainingCollapsed(
                f"loss was {loss} for {self.streak} logged steps in a row (up to step {step}); "
                f"likely cause: {collapse_cause(loss, self.precision, self.learning_rate)}")


def autocast_for(precision: str, device: str):
    """A context manager running forward passes in ``precision`` (nullcontext for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device, dtype=dtype)


def accumulate(model, parts: list[dict], precision: str, device: str) -> tuple[float, int]:
    """Forward + backward over one step's parts; returns (mean loss per labelled token,
    non-padding tokens). Each part's loss is weighted by its share of the labelled tokens, so
    the gradient equals one pass over the whole batch."""
    total = sum(labelled_tokens(part) for part in parts)
    batch_loss, tokens = 0.0, 0
    for part in parts:
        share = labelled_tokens(part) / total
        tokens += real_tokens(part)
        if share == 0:
            continue
        with autocast_for(precision, device):
            loss = forward_loss(model, part).float() * share
        loss.backward()
        batch_loss += loss.item()
    return batch_loss, tokens


def train_loop(model, encoded: list[dict], held_out: list[dict], pad_id: int,
               config: TrainConfig, out_dir: Path,
               on_step: Callable[[int, int, float], None] | None = None,
               on_log: Callable[[dict], None] | None = None,
               stop_exceptions: tuple = (KeyboardInterrupt,)) -> dict:
    """Train ``model`` in place; returns ``{"losses", "resumed_from", "stopped_early",
    "best_val_loss", "tokens_per_s", "skipped_nonfinite_steps"}``. A step whose gradient norm
    is not finite is skipped (``training.guards``). See ``training.recipe.train_lora`` for
    errors."""
    device = next(model.parameters()).device.type
    precision = resolve_precision(config.precision)
    total = total_steps(len(encoded), config)
    per_epoch = math.ceil(len(encoded) / config.batch_size)
    params = [param for param in model.parameters() if param.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(
        step, config.warmup_steps, total, config.lr_schedule))
    root = out_dir / "checkpoints"
    state = {"step": 0, "batches": 0, "losses": [], "best_val": None, "bad_evals": 0}
    resumed_from = None
    if (latest := checkpoint.latest(root)) is not None:
        state = checkpoint.load(latest, model, optimizer, scheduler)
        resumed_from = state["step"]
    stream = batch_stream([len(e["input_ids"]) for e in encoded], config.batch_size, config.seed)
    for _ in range(state["batches"]):
        next(stream)
    guard = CollapseGuard(config.collapse_patience, precision, config.learning_rate,
                          state["losses"])
    nonfinite = NonFiniteGuard(config.max_nonfinite_steps, precision, config.learning_rate,
                               state.get("skipped_nonfinite", 0))
    saved_step, stopped_early = state["step"], False
    started, session_tokens, session_steps = time.monotonic(), 0, 0

    def save(current: dict) -> None:
        nonlocal saved_step
        checkpoint.save(root, model, optimizer, scheduler, current, config.keep_checkpoints)
        saved_step = current["step"]

    model.train()
    try:
        while state["step"] < total and not stopped_early:
            rows = [encoded[i] for _ in range(config.gradient_accumulation) for i in next(stream)]
            loss, tokens = accumulate(model, make_parts(rows, config, pad_id), precision, device)
            finite = math.isfinite(loss) and step_is_finite(params, MAX_GRAD_NORM)
            lr = scheduler.get_last_lr()[0]
            with signals_held():  # a cancel lands before or after an update, never inside
                if finite:  # a non-finite step would poison the weights (training.guards)
                    optimizer.step()
                    scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                state = {**state, "step": state["step"] + 1,
                         "batches": state["batches"] + config.gradient_accumulation,
                         "losses": state["losses"] + [loss],
                         "skipped_nonfinite": nonfinite.skipped + (not finite)}
            session_tokens, session_steps = session_tokens + tokens, session_steps + 1
            guard.update(state["step"], loss)
            nonfinite.update(state["step"], finite)
            val = None
            if config.eval_every and held_out and state["step"] % config.eval_every == 0:
                val = eval_loss(model, held_out, pad_id, config.max_batch_tokens)
                state, stopped_early = _early_stopping(state, val, config)
            elapsed = time.monotonic() - started
            record = StepRecord(
                step=state["step"], total=total, epoch=round(state["batches"] / per_epoch, 4),
                loss=loss, lr=lr, tokens=tokens,
                tokens_per_s=session_tokens / elapsed if elapsed else 0.0,
                elapsed_s=round(elapsed, 3),
                eta_s=round(elapsed / session_steps * (total - state["step"]), 1), val_loss=val,
                skipped_nonfinite_steps=nonfinite.skipped)
            if on_log:
                on_log(asdict(record))
            if on_step:
                on_step(state["step"], total, loss)
            if config.checkpoint_every and state["step"] % config.checkpoint_every == 0:
                save(state)
    except stop_exceptions:
        if state["step"] > saved_step:
            save(state)  # resume picks up exactly here
        raise
    except (torch.OutOfMemoryError, MemoryError):
        raise errors.StageError(
            f"out of memory at step {state['step'] + 1}: lower max_batch_tokens "
            f"({config.max_batch_tokens}) or batch_size ({config.batch_size}); "
            "earlier checkpoints are kept") from None
    elapsed = time.monotonic() - started  # training only, not the final save
    if state["step"] > saved_step:
        save(state)
    return {"losses": state["losses"], "resumed_from": resumed_from,
            "stopped_early": stopped_early, "best_val_loss": state["best_val"],
            "tokens_per_s": session_tokens / elapsed if elapsed else 0.0,
            "skipped_nonfinite_steps": nonfinite.skipped}


def _early_stopping(state: dict, val: float, config: TrainConfig) -> tuple[dict, bool]:
    """Update best validation loss and the count of evaluations without improvement."""
    if state["best_val"] is None or val < state["best_val"]:
        return {**state, "best_val": val, "bad_evals": 0}, False
    bad = state["bad_evals"] + 1
    patience = config.early_stopping_patience
    return {**state, "bad_evals": bad}, bool(patience) and bad >= patience
