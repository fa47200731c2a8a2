"""Fine-tuning recipe on one device (LoRA, QLoRA, full), read top to bottom.

``train_lora`` (the recipe main) runs ``FinetuneRecipe``: ``setup()`` (config → base model
→ tokenizer → encoded rows → model → optimizer and schedule → resume from the newest
checkpoint) → ``train()`` (steps, each: batch → forward passes → one optimizer step → log
→ maybe evaluate → maybe ``save_checkpoint()``) → ``save_outputs()`` (the adapter, or the
whole model for full fine-tuning). The shape is torchtune's
``recipes/lora_finetune_single_device.py``; the pieces it calls live in leaf modules:
``training.batching`` (rows → forward passes), ``training.loss``, ``training.model``.

A plain PyTorch loop rather than ``transformers.Trainer``: on a CPU with a 135M model the
loop is a few lines, and every choice is visible. Loss is on assistant tokens only
(``training.data.encode_example``); padding is masked by attention mask and ``-100`` labels,
never by pad id (SmolLM2's pad id is its end-of-turn id). Where the time goes on a CPU
(``bench/train.py``): length-grouped batches (little padding), no gradient checkpointing (a
135M model's activations fit), and the output head only at labelled positions.

Resuming reproduces an uninterrupted run: the batch order is a pure function of the seed
and the number of batches consumed, and the checkpoint holds optimizer, scheduler and RNG.

Run as: ``train_lora(conversations, TrainConfig(max_steps=30), Path("runs/r1"))`` inside a job.
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
from training.batching import (
    batch_stream,
    encode_with_exclusions,
    labelled_tokens,
    make_parts,
    real_tokens,
)
from training.config import TrainConfig
from training.data import IGNORE_INDEX
from training.distributed import Ranks, StopRequested, row_labelled, shard
from training.guards import NonFiniteGuard, step_is_finite
from training.loss import LabelledLoss, eval_loss, eval_sums, forward_loss
from training.model import (
    ensure_base_model,
    init_model,
    load_tokenizer,
    qlora_unavailable,
    resolve_precision,
)
from common import errors

MAX_GRAD_NORM = 1.0  # gradient clipping, the transformers.Trainer default


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
    # CPU seconds of training since this process started training (all its threads; under
    # several processes, rank 0's times the number of ranks): other work on the machine moves
    # it far less than elapsed_s, though threads that spin while waiting still count
    cpu_s: float | None = None
    val_loss: float | None = None
    skipped_nonfinite_steps: int = 0  # steps so far whose gradient norm was not finite


def total_steps(n_examples: int, config: TrainConfig) -> int:
    """Optimizer steps of the run: ``max_steps``, or ``epochs`` over the data.

    >>> total_steps(10, TrainConfig(max_steps=0, epochs=2, batch_size=4))
    6
    """
    if config.max_steps > 0:
        return config.max_steps
    batches = math.ceil(n_examples / config.batch_size)
    return max(1, math.ceil(config.epochs * batches / config.gradient_accumulation))


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


def blank(part: dict) -> dict:
    """A copy of a collated or packed part with every label ignored: a pass that adds
    nothing to the gradient (weight 0) but runs the collectives of a wrapped model."""
    return {**part, "labels": torch.full_like(part["labels"], IGNORE_INDEX)}


def accumulate_ranked(wrapped, ranks: Ranks, parts: list[dict], batch_labelled: int,
                      precision: str, device: str) -> tuple[float, int]:
    """``accumulate`` for this rank's parts of a global batch of ``batch_labelled`` labelled
    tokens; returns (this rank's share of the batch's mean loss, its non-padding tokens).

    A part's loss is weighted by part labelled / batch labelled x world size: DDP averages
    the gradients over the ranks, so the result is the gradient of the whole batch. Only the
    last backward pass all-reduces (``no_sync`` before it); every rank runs one, with weight
    0 when it has nothing to learn from, so the all-reduce never waits for a missing rank.
    """
    batch_loss, tokens = 0.0, 0
    for k, part in enumerate(parts):
        weight = labelled_tokens(part) / batch_labelled
        tokens += real_tokens(part)
        with ranks.no_sync(wrapped, last=k == len(parts) - 1):
            with autocast_for(precision, device):
                loss = wrapped(part).float()
            loss = torch.nan_to_num(loss) if weight == 0 else loss  # 0 labels: mean is NaN
            (loss * weight * ranks.world).backward()
        batch_loss += loss.item() * weight
    return batch_loss, tokens


def _early_stopping(state: dict, val: float, config: TrainConfig) -> tuple[dict, bool]:
    """Update best validation loss and the count of evaluations without improvement."""
    if state["best_val"] is None or val < state["best_val"]:
        return {**state, "best_val": val, "bad_evals": 0}, False
    bad = state["bad_evals"] + 1
    patience = config.early_stopping_patience
    return {**state, "bad_evals": bad}, bool(patience) and bad >= patience


class FinetuneRecipe:
    """One fine-tuning run into ``out_dir``: ``setup()`` → ``train()`` → ``save_outputs()``.

    ``on_step(step, total, loss)`` is called after each step (1-based), ``on_log(record)``
    with the step's ``StepRecord`` as a dict. A ``stop_exceptions`` exception (a cancel)
    saves a checkpoint of the last finished step, then propagates.

    ``ranks`` (``training.distributed.Ranks``): this process is one rank of several; it
    trains on its shard of each global batch, only rank 0 calls ``on_log``/``on_step`` and
    writes checkpoints and outputs, and a stop agreed by all ranks raises ``StopRequested``.
    """

    def __init__(self, config: TrainConfig, out_dir: Path,
                 on_step: Callable[[int, int, float], None] | None = None,
                 on_log: Callable[[dict], None] | None = None,
                 stop_exceptions: tuple = (KeyboardInterrupt,), ranks: Ranks | None = None):
        self.config, self.out_dir, self.ranks = config, Path(out_dir), ranks
        self.on_step, self.on_log = on_step, on_log
        self.stop_exceptions = stop_exceptions + ((StopRequested,) if ranks else ())
        self.is_main = ranks is None or ranks.is_main

    def setup(self, examples: list[list[dict]], validation: list[list[dict]] | None) -> None:
        """Config → base model → tokenizer → encoded rows → model → optimizer → resume.

        Raises ``WorkbenchError`` for an invalid config, ``StageError`` when QLoRA is
        unavailable or no example has an assistant token, ``CheckpointError`` for a
        corrupt checkpoint.
        """
        config = self.config
        config.validate()
        if config.method == "qlora" and (reason := qlora_unavailable()):
            raise errors.StageError(reason)
        self.model_dir = ensure_base_model(config.base_model)
        self.tokenizer = load_tokenizer(self.model_dir)
        self.encoded, self.excluded = encode_with_exclusions(self.tokenizer, examples,
                                                             config.max_seq_len)
        if not self.encoded:
            raise errors.StageError(
                f"none of {len(examples)} examples has an assistant token to train on")
        self.held_out, _ = encode_with_exclusions(
            self.tokenizer, (validation or [])[:config.eval_max_examples], config.max_seq_len)
        self.model = init_model(self.model_dir, config,
                                device=str(self.ranks.device) if self.ranks else None)
        self.wrapped = self.ranks.wrap(LabelledLoss(self.model)) if self.ranks else None
        self._setup_optimizer()
        self._resume()

    def _setup_optimizer(self) -> None:
        """AdamW over the trainable parameters, the learning-rate schedule, the step count."""
        config = self.config
        self.device = next(self.model.parameters()).device.type
        self.precision = resolve_precision(config.precision)
        self.total = total_steps(len(self.encoded), config)
        self.per_epoch = math.ceil(len(self.encoded) / config.batch_size)
        owner = self.wrapped if self.wrapped is not None else self.model  # FSDP: its params
        self.params = [param for param in owner.parameters() if param.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=config.learning_rate,
                                           weight_decay=0.0)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: lr_factor(
            step, config.warmup_steps, self.total, config.lr_schedule))

    def _resume(self) -> None:
        """Load the newest checkpoint, if any, and skip the batches it has consumed."""
        config = self.config
        self.root = self.out_dir / "checkpoints"
        self.state = {"step": 0, "batches": 0, "losses": [], "best_val": None, "bad_evals": 0}
        self.resumed_from = None
        if (latest := checkpoint.latest(self.root)) is not None:
            if self.ranks is not None and self.ranks.sharded:
                self.state = self.ranks.load_sharded(latest, self.wrapped, self.optimizer,
                                                     self.scheduler)
            else:
                self.state = checkpoint.load(latest, self.model, self.optimizer,
                                             self.scheduler)
            self.resumed_from = self.state["step"]
        self.stream = batch_stream([len(e["input_ids"]) for e in self.encoded],
                                   config.batch_size, config.seed)
        for _ in range(self.state["batches"]):
            next(self.stream)
        self.guard = CollapseGuard(config.collapse_patience, self.precision,
                                   config.learning_rate, self.state["losses"])
        self.nonfinite = NonFiniteGuard(config.max_nonfinite_steps, self.precision,
                                        config.learning_rate, self.state.get("skipped_nonfinite", 0))
        self.saved_step, self.stopped_early = self.state["step"], False

    def train(self) -> None:
        """Optimizer steps up to the total or early stopping; checkpoints on the way.

        Raises ``TrainingCollapsed`` on a loss collapse and ``StageError`` on an
        out-of-memory error (earlier checkpoints are kept).
        """
        config, model, total = self.config, self.model, self.total
        started, session_tokens, session_steps = time.monotonic(), 0, 0
        self.cpu_started = time.process_time()
        self.unlogged: StepRecord | None = None
        model.train()
        try:
            while self.state["step"] < total and not self.stopped_early:
                if self.ranks is not None and self.ranks.stop_requested():
                    raise StopRequested()
                rows = [self.encoded[i] for _ in range(config.gradient_accumulation)
                        for i in next(self.stream)]
                loss, tokens = self._forward_backward(rows)
                finite = math.isfinite(loss) and step_is_finite(self.params, MAX_GRAD_NORM)
                lr = self.scheduler.get_last_lr()[0]
                with signals_held():  # a cancel lands before or after an update, never inside
                    if finite:  # a non-finite step would poison the weights (training.guards)
                        self.optimizer.step()
                        self.scheduler.step()
                    self.optimizer.zero_grad(set_to_none=True)
                    self.state = {**self.state, "step": self.state["step"] + 1,
                                  "batches": self.state["batches"] + config.gradient_accumulation,
                                  "losses": self.state["losses"] + [loss],
                                  "skipped_nonfinite": self.nonfinite.skipped + (not finite)}
                    session_tokens, session_steps = session_tokens + tokens, session_steps + 1
                    # A cancel held during the update lands as the block ends, before the
                    # step is logged: the handler below logs this record first.
                    self.unlogged = self._record(started, session_tokens, session_steps, loss,
                                                 lr, tokens, None)
                step = self.state["step"]
                self.guard.update(step, loss)
                self.nonfinite.update(step, finite)
                val = None
                if config.eval_every and self.held_out and step % config.eval_every == 0:
                    val = self._eval_loss()
                    self.state, self.stopped_early = _early_stopping(self.state, val, config)
                record = self._record(started, session_tokens, session_steps, loss, lr, tokens,
                                      val)
                with signals_held():  # the step's log line is written whole, exactly once
                    self._log(record)
                    if self.on_step and self.is_main:
                        self.on_step(step, total, loss)
                if config.checkpoint_every and step % config.checkpoint_every == 0:
                    self.save_checkpoint()
        except self.stop_exceptions:
            try:
                self._log(self.unlogged)
            finally:
                if self.state["step"] > self.saved_step:
                    self.save_checkpoint()  # resume picks up exactly here
            raise
        except (torch.OutOfMemoryError, MemoryError):
            raise errors.StageError(
                f"out of memory at step {self.state['step'] + 1}: lower max_batch_tokens "
                f"({config.max_batch_tokens}) or batch_size ({config.batch_size}); "
                "earlier checkpoints are kept") from None
        elapsed = time.monotonic() - started  # training only, not the final save
        self.tokens_per_s = session_tokens / elapsed if elapsed else 0.0
        if self.state["step"] > self.saved_step:
            self.save_checkpoint()

    def _record(self, started: float, session_tokens: int, session_steps: int, loss: float,
                lr: float, tokens: int, val: float | None) -> StepRecord:
        """The log record of the step just taken (``self.state``), timed from ``started``."""
        step, total = self.state["step"], self.total
        elapsed = time.monotonic() - started
        return StepRecord(
            step=step, total=total, epoch=round(self.state["batches"] / self.per_epoch, 4),
            loss=loss, lr=lr, tokens=tokens,
            tokens_per_s=session_tokens / elapsed if elapsed else 0.0,
            elapsed_s=round(elapsed, 3),
            eta_s=round(elapsed / session_steps * (total - step), 1), val_loss=val,
            cpu_s=round((time.process_time() - self.cpu_started)
                        * (self.ranks.world if self.ranks else 1), 3),
            skipped_nonfinite_steps=self.state["skipped_nonfinite"])

    def _log(self, record: StepRecord | None) -> None:
        """Hand ``record`` to ``on_log`` (rank 0 only) once, also when ``on_log`` raises; None
        is nothing to log."""
        self.unlogged = None
        if record is not None and self.on_log and self.is_main:
            self.on_log(asdict(record))

    def _forward_backward(self, rows: list[dict]) -> tuple[float, int]:
        """One step's forward and backward passes over ``rows`` (the global batch); returns
        (mean loss per labelled token of the batch, non-padding tokens of the batch)."""
        pad_id = self.tokenizer.pad_token_id
        if self.ranks is None:
            parts = make_parts(rows, self.config, pad_id)
            return accumulate(self.model, parts, self.precision, self.device)
        mine = shard(rows, self.ranks.rank, self.ranks.world)
        parts = make_parts(mine, self.config, pad_id) if mine else []
        # FSDP gathers weights in every forward: each rank must run as many passes
        wanted = self.ranks.most(len(parts)) if self.ranks.sharded else max(1, len(parts))
        parts += [blank(make_parts(rows[:1], self.config, pad_id)[0])] * (wanted - len(parts))
        batch_labelled = sum(row_labelled(row) for row in rows)
        loss, tokens = accumulate_ranked(self.wrapped, self.ranks, parts, batch_labelled,
                                         self.precision, self.device)
        loss, tokens = self.ranks.all_sum([loss, float(tokens)])
        return loss, int(tokens)

    def _eval_loss(self) -> float:
        """Mean held-out loss per labelled token; each rank scores its shard of the rows."""
        pad_id, max_tokens = self.tokenizer.pad_token_id, self.config.max_batch_tokens
        if self.ranks is None:
            return eval_loss(self.model, self.held_out, pad_id, max_tokens)
        if self.ranks.sharded:  # same passes on every rank (FSDP gathers in each)
            return eval_loss(self.wrapped, self.held_out, pad_id, max_tokens)
        rows = shard(self.held_out, self.ranks.rank, self.ranks.world)
        total, count = self.ranks.all_sum(list(eval_sums(self.model, rows, pad_id,
                                                         max_tokens)))
        return total / count if count else float("nan")

    def save_checkpoint(self) -> None:
        """Save model, optimizer, scheduler and RNG state at the current step (resumable);
        several ranks: rank 0 writes (FSDP: every rank gathers the shards first)."""
        if self.ranks is not None and self.ranks.sharded:
            self.ranks.save_sharded(self.root, self.wrapped, self.optimizer, self.scheduler,
                                    self.state, self.config.keep_checkpoints)
        elif self.is_main:
            checkpoint.save(self.root, self.model, self.optimizer, self.scheduler, self.state,
                            self.config.keep_checkpoints)
        self.saved_step = self.state["step"]

    def save_outputs(self) -> Path:
        """Adapter (safetensors) for LoRA/QLoRA, or a whole model folder for full fine-tuning.
        Several ranks: rank 0 writes (FSDP: the weights gathered from every rank)."""
        if self.ranks is not None:
            return self._save_outputs_ranked()
        if self.config.method == "full":
            target = self.out_dir / "model"
            self.model.save_pretrained(target, safe_serialization=True)
            self.tokenizer.save_pretrained(target)
            return target
        target = self.out_dir / "adapter"
        self.model.save_pretrained(target, safe_serialization=True)
        return target

    def _save_outputs_ranked(self) -> Path:
        full = self.config.method == "full"
        target = self.out_dir / ("model" if full else "adapter")
        state = None
        if self.ranks.sharded:  # collective: every rank gives its shard
            state = {name.removeprefix("model."): tensor
                     for name, tensor in self.ranks.full_state(self.wrapped).items()}
        if self.is_main:
            self.model.save_pretrained(target, safe_serialization=True,
                                       **({"state_dict": state} if state is not None else {}))
            if full:
                self.tokenizer.save_pretrained(target)
        self.ranks.barrier()
        return target


def train_lora(examples: list[list[dict]], config: TrainConfig, out_dir: Path,
               on_step: Callable[[int, int, float], None] | None = None,
               on_log: Callable[[dict], None] | None = None,
               validation: list[list[dict]] | None = None,
               stop_exceptions: tuple = (KeyboardInterrupt,), ranks: Ranks | None = None) -> dict:
    """Fine-tune on conversations (LoRA, QLoRA or full); resume from ``out_dir/checkpoints``.

    ``examples`` are OpenAI-style message lists; callbacks and ``stop_exceptions`` as in
    ``FinetuneRecipe``. A step whose gradient norm is not finite is skipped
    (``training.guards``). Returns ``{"losses", "resumed_from", "stopped_early",
    "best_val_loss", "tokens_per_s", "skipped_nonfinite_steps", "method", "steps", "first_loss", "final_loss",
    "adapter", "trainable_params", "skipped_examples", "excluded", "base_model_dir"}``
    (``adapter`` is the model folder for full fine-tuning). Raises ``WorkbenchError`` for an
    invalid config, ``StageError`` when no example has an assistant token to learn from,
    when QLoRA is unavailable, on a loss collapse or an out-of-memory error, and
    ``CheckpointError`` for a corrupt checkpoint. ``ranks``: one rank of a run across
    processes (``training.distributed``); every rank returns the same summary.
    """
    recipe = FinetuneRecipe(config, out_dir, on_step, on_log, stop_exceptions, ranks)
    recipe.setup(examples, validation)
    recipe.train()
    target = recipe.save_outputs()
    losses, excluded = recipe.state["losses"], recipe.excluded
    return {"losses": losses, "resumed_from": recipe.resumed_from,
            "stopped_early": recipe.stopped_early, "best_val_loss": recipe.state["best_val"],
            "tokens_per_s": recipe.tokens_per_s,
            "skipped_nonfinite_steps": recipe.nonfinite.skipped,
            "method": config.method, "steps": len(losses),
            "first_loss": losses[0], "final_loss": losses[-1], "adapter": str(target),
            "trainable_params": sum(p.numel() for p in recipe.model.parameters()
                                    if p.requires_grad),
            "skipped_examples": len(excluded), "excluded": excluded,
            "base_model_dir": str(recipe.model_dir)}
