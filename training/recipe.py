"""LoRA fine-tuning recipe: model -> data -> trainer -> save, read top to bottom.

A plain PyTorch loop (as in torchtune's recipes) rather than ``transformers.Trainer``: on a
CPU with a 135M model the loop is a few lines, and every choice is visible. Loss is on
assistant tokens only (``training.data.encode_example``); padding is masked by attention
mask and ``-100`` labels, never by pad id (SmolLM2's pad id is its end-of-turn id).

Run as: ``train_lora(conversations, TrainConfig(max_steps=30), Path("runs/r1"))`` inside a job.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from training.config import TrainConfig
from training.data import IGNORE_INDEX, encode_example
from training.model import ensure_base_model, load_model, load_tokenizer
from workbench import errors

GROUP_CHUNK_BATCHES = 50  # batches per length-sorted chunk, as transformers' LengthGroupedSampler
MAX_GRAD_NORM = 1.0  # gradient clipping, the transformers.Trainer default


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Learning-rate multiplier for 0-based ``step``: linear warmup then linear decay.

    Unlike ``transformers.get_linear_schedule_with_warmup`` no step gets 0: the first warmup
    step already moves the weights and the last step still does.

    >>> [lr_factor(s, 2, 5) for s in range(5)]
    [0.5, 1.0, 1.0, 0.6666666666666666, 0.3333333333333333]
    >>> [lr_factor(s, 2, 2) for s in range(2)]  # no room for decay: warmup only
    [0.5, 1.0]
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if total_steps <= warmup_steps:
        return 1.0
    return (total_steps - step) / (total_steps - warmup_steps)


def length_grouped_batches(
    lengths: list[int], batch_size: int, rng: random.Random
) -> list[list[int]]:
    """Index batches of similar length: shuffle, sort within chunks, split, shuffle batches.

    Chunks hold ``GROUP_CHUNK_BATCHES`` batches (the idea of transformers'
    ``LengthGroupedSampler``), so order stays random across chunks while padding stays small.
    Every index appears exactly once; the last batch of a chunk may be smaller.

    >>> length_grouped_batches([5, 1, 4, 2], 2, random.Random(0))
    [[0, 2], [3, 1]]
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * GROUP_CHUNK_BATCHES
    batches = []
    for begin in range(0, len(order), chunk):
        part = sorted(order[begin:begin + chunk], key=lambda index: -lengths[index])
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def batch_stream(lengths: list[int], batch_size: int, seed: int) -> Iterator[list[int]]:
    """Endless index batches: one length-grouped epoch after another (epoch e uses seed + e)."""
    epoch = 0
    while True:
        yield from length_grouped_batches(lengths, batch_size, random.Random(seed + epoch))
        epoch += 1


def collate(examples: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad encoded examples into ``input_ids``, ``attention_mask``, ``labels``.

    Shapes ``[batch, longest]`` (int64); padding has ``pad_id`` / ``0`` / ``-100``.
    """
    width = max(len(example["input_ids"]) for example in examples)
    ids, mask, labels = [], [], []
    for example in examples:
        pad = width - len(example["input_ids"])
        ids.append(example["input_ids"] + [pad_id] * pad)
        mask.append([1] * len(example["input_ids"]) + [0] * pad)
        labels.append(example["labels"] + [IGNORE_INDEX] * pad)
    return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask),
            "labels": torch.tensor(labels)}


def encode_all(
    tokenizer, conversations: list[list[dict]], max_seq_len: int
) -> tuple[list[dict], int]:
    """Encode conversations; drop those left with no labelled token. Returns (kept, dropped).

    A conversation is dropped when truncation cut off every assistant token, when it has no
    assistant turn, or when the template cannot locate its answers (``ValueError``).
    """
    kept, dropped = [], 0
    for messages in conversations:
        try:
            example = encode_example(tokenizer, messages, max_seq_len)
        except ValueError:
            example = {"labels": []}
        if any(label != IGNORE_INDEX for label in example["labels"]):
            kept.append(example)
        else:
            dropped += 1
    return kept, dropped


def add_lora(model, config: TrainConfig):
    """Wrap a causal LM with fresh LoRA adapters (peft); only they require gradients."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout, target_modules=list(config.target_modules),
                      bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def init_lora_model(model_dir: Path, config: TrainConfig):
    """Base model (fp32, CPU) with fresh LoRA adapters; the init depends only on ``config.seed``."""
    torch.manual_seed(config.seed)
    return add_lora(load_model(model_dir, dtype=torch.float32), config)


def micro_batches(examples: list[dict], max_tokens: int) -> list[list[dict]]:
    """Split one batch so each part's padded size (rows × longest row) is ≤ ``max_tokens``.

    Rows are taken longest first; a row longer than ``max_tokens`` stands alone. Activation
    memory grows with padded tokens per forward pass (about 1.4 MB per token for
    SmolLM2-135M in fp32: a batch of 8 × 1024 tokens was OOM-killed at 13.5 GB).

    >>> rows = [{"input_ids": [0] * n} for n in (300, 900, 500, 100)]
    >>> [[len(r["input_ids"]) for r in part] for part in micro_batches(rows, 1024)]
    [[900], [500, 300], [100]]
    """
    parts: list[list[dict]] = []
    for example in sorted(examples, key=lambda e: -len(e["input_ids"])):
        if parts and (len(parts[-1]) + 1) * len(parts[-1][0]["input_ids"]) <= max_tokens:
            parts[-1].append(example)
        else:
            parts.append([example])
    return parts


def labelled_tokens(batch: dict) -> int:
    """Tokens that count in the causal-LM loss (labels are shifted by one inside the model)."""
    return int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())


def train_step(model, parts: list[dict], optimizer, scheduler, params: list) -> float:
    """One optimizer step over collated micro-batches (gradient accumulation).

    Each part's mean loss is weighted by its share of the batch's labelled tokens, so the
    step equals one step on the whole batch. Returns the batch's mean loss per labelled
    token (nats).
    """
    total = sum(labelled_tokens(part) for part in parts)
    batch_loss = 0.0
    for part in parts:
        share = labelled_tokens(part) / total
        if share == 0:
            continue
        loss = model(**part, use_cache=False).loss * share
        loss.backward()
        batch_loss += loss.item()
    torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return batch_loss


def run_steps(model, encoded: list[dict], pad_id: int, config: TrainConfig,
              on_step: Callable[[int, int, float], None] | None = None) -> list[float]:
    """AdamW (no weight decay) with warmup/decay for ``config.max_steps`` steps; the losses."""
    params = [param for param in model.parameters() if param.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, config.warmup_steps, config.max_steps))
    batches = batch_stream([len(e["input_ids"]) for e in encoded], config.batch_size, config.seed)
    model.train()
    losses = []
    for step in range(1, config.max_steps + 1):
        rows = [encoded[index] for index in next(batches)]
        parts = [collate(part, pad_id) for part in micro_batches(rows, config.max_batch_tokens)]
        losses.append(train_step(model, parts, optimizer, scheduler, params))
        if on_step is not None:
            on_step(step, config.max_steps, losses[-1])
    return losses


def train_lora(examples: list[list[dict]], config: TrainConfig, out_dir: Path,
               on_step: Callable[[int, int, float], None] | None = None) -> dict:
    """Fine-tune LoRA adapters on conversations and save them to ``out_dir / "adapter"``.

    ``examples`` are OpenAI-style message lists. The base model is loaded in fp32 on CPU.
    ``on_step(step, total, loss)`` is called after each step (1-based); an exception raised
    there stops training (e.g. cancel). Returns ``{"steps", "losses", "first_loss",
    "final_loss", "adapter", "trainable_params", "skipped_examples", "base_model_dir"}``.
    Raises ``WorkbenchError`` for an invalid config, ``StageError`` when no example has an
    assistant token to learn from.
    """
    config.validate()
    model_dir = ensure_base_model(config.base_model)
    tokenizer = load_tokenizer(model_dir)
    encoded, skipped = encode_all(tokenizer, examples, config.max_seq_len)
    if not encoded:
        raise errors.StageError(
            f"none of {len(examples)} examples has an assistant token to train on")
    model = init_lora_model(model_dir, config)
    losses = run_steps(model, encoded, tokenizer.pad_token_id, config, on_step)
    adapter = Path(out_dir) / "adapter"
    model.save_pretrained(adapter, safe_serialization=True)
    return {"steps": len(losses), "losses": losses, "first_loss": losses[0],
            "final_loss": losses[-1], "adapter": str(adapter),
            "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "skipped_examples": skipped, "base_model_dir": str(model_dir)}
