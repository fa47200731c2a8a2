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
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from curation.codes import NO_TRAINABLE_TOKENS, TEMPLATE_ERROR
from training.config import TrainConfig
from training.data import IGNORE_INDEX, encode_example
from training.model import ensure_base_model, load_model, load_tokenizer
from common import errors

GROUP_CHUNK_BATCHES = 50  # batches per length-sorted chunk, as transformers' LengthGroupedSampler
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


def encode_with_exclusions(
    tokenizer, conversations: list[list[dict]], max_seq_len: int
) -> tuple[list[dict], list[dict]]:
    """Encode conversations; set aside those with no labelled token.

    Returns ``(kept, excluded)``: kept rows carry ``index`` (position in ``conversations``);
    excluded rows are ``{"index", "reason", "detail"}`` with reason ``no_trainable_tokens``
    (no assistant turn, or truncation at ``max_seq_len`` cut every assistant token) or
    ``template_error`` (the chat template cannot locate the answers), the codes
    ``curation.validate`` reports the same rows with before training. Such rows are never
    fed to the loss: a row without labels would add 0/0 to a mean loss.
    """
    kept, excluded = [], []
    for index, messages in enumerate(conversations):
        try:
            example = encode_example(tokenizer, messages, max_seq_len)
        except ValueError as exc:
            excluded.append({"index": index, "reason": TEMPLATE_ERROR, "detail": str(exc)})
            continue
        if any(label != IGNORE_INDEX for label in example["labels"]):
            kept.append({**example, "index": index})
        else:
            excluded.append({"index": index, "reason": NO_TRAINABLE_TOKENS,
                             "detail": f"no assistant token within the first {max_seq_len} "
                                       "tokens (max_seq_len)"})
    return kept, excluded


def encode_all(
    tokenizer, conversations: list[list[dict]], max_seq_len: int
) -> tuple[list[dict], int]:
    """``encode_with_exclusions`` returning (kept, number excluded)."""
    kept, excluded = encode_with_exclusions(tokenizer, conversations, max_seq_len)
    return kept, len(excluded)


def pack(examples: list[dict]) -> dict[str, torch.Tensor]:
    """Lay examples end to end in one row: ``input_ids``, ``position_ids``, ``labels`` [1, n].

    Position ids restart at 0 for each example and no attention mask is passed, which makes
    transformers build a block-diagonal causal mask (``masking_utils.
    find_packed_sequence_indices``): no token attends across examples. The first label of
    each example is ``-100`` so no example is trained to predict the next one's first token.

    >>> b = pack([{"input_ids": [5, 6], "labels": [5, 6]}, {"input_ids": [7], "labels": [7]}])
    >>> b["position_ids"].tolist(), b["labels"].tolist()
    ([[0, 1, 0]], [[-100, 6, -100]])
    """
    ids, positions, labels = [], [], []
    for example in examples:
        ids += example["input_ids"]
        positions += range(len(example["input_ids"]))
        labels += [IGNORE_INDEX] + example["labels"][1:]
    return {"input_ids": torch.tensor([ids]), "position_ids": torch.tensor([positions]),
            "labels": torch.tensor([labels])}


def packed_parts(examples: list[dict], max_tokens: int) -> list[list[dict]]:
    """Split one batch into rows of at most ``max_tokens`` real tokens (first fit, longest
    first); a longer example stands alone.

    >>> rows = [{"input_ids": [0] * n} for n in (300, 900, 500, 100)]
    >>> [[len(r["input_ids"]) for r in part] for part in packed_parts(rows, 1024)]
    [[900, 100], [500, 300]]
    """
    parts: list[list[dict]] = []
    sizes: list[int] = []
    for example in sorted(examples, key=lambda e: -len(e["input_ids"])):
        size = len(example["input_ids"])
        for k, used in enumerate(sizes):
            if used + size <= max_tokens:
                parts[k].append(example)
                sizes[k] += size
                break
        else:
            parts.append([example])
            sizes.append(size)
    return parts


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


def make_parts(rows: list[dict], config: TrainConfig, pad_id: int) -> list[dict]:
    """Collated forward passes for one batch: packed rows, or padded micro-batches."""
    if config.packing:
        return [pack(part) for part in packed_parts(rows, config.max_batch_tokens)]
    return [collate(part, pad_id) for part in micro_batches(rows, config.max_batch_tokens)]


def labelled_tokens(batch: dict) -> int:
    """Tokens that count in the causal-LM loss (labels are shifted by one inside the model)."""
    return int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())


def real_tokens(batch: dict) -> int:
    """Non-padding tokens of a collated or packed batch."""
    if "attention_mask" in batch:
        return int(batch["attention_mask"].sum())
    return int(batch["input_ids"].numel())


def forward_loss(model, part: dict) -> torch.Tensor:
    """Mean loss per labelled token of one collated or packed batch (nats), fp32.

    The output head runs only at positions that predict a label: the hidden states are
    taken from the decoder and the vocabulary projection (49,152 x 576 for SmolLM2, about a
    fifth of the model's FLOPs per token) and the log-softmax skip every prompt, system and
    padding position. Equal to ``model(**part).loss`` (transformers' ``ForCausalLMLoss``:
    shift by one, ignore -100, mean over labelled tokens).
    """
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not (hasattr(causal, "model") and hasattr(causal, "lm_head")):  # not Llama-shaped
        return model(**part, use_cache=False).loss
    device = causal.lm_head.weight.device
    inputs = {k: v.to(device) for k, v in part.items() if k != "labels"}
    hidden = causal.model(**inputs, use_cache=False).last_hidden_state
    labels = part["labels"].to(device)[:, 1:]
    keep = labels != IGNORE_INDEX
    logits = causal.lm_head(hidden[:, :-1][keep]).float()
    return torch.nn.functional.cross_entropy(logits, labels[keep])


def eval_loss(model, encoded: list[dict], pad_id: int, max_tokens: int = 2048) -> float:
    """Mean assistant-only loss per labelled token over ``encoded`` (nats), no gradients.

    Padded micro-batches (exact regardless of packing support); each part's mean is
    weighted by its labelled tokens, so the result is the token-level mean of the set.
    """
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for part in micro_batches(encoded, max_tokens):
            batch = collate(part, pad_id)
            n = labelled_tokens(batch)
            if n:
                total += forward_loss(model, batch).item() * n
                count += n
    model.train(was_training)
    return total / count if count else float("nan")


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


def resolve_precision(precision: str) -> str:
    """``auto`` → bf16 on a CUDA GPU that supports it, else fp32 (CPU autocast gains little
    for a 135M model and bf16 loss is noisier); other values are returned as they are."""
    if precision != "auto":
        return precision
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def init_model(model_dir: Path, config: TrainConfig):
    """The model to train for ``config.method``, on CUDA when present, else CPU.

    lora: fp32 base + LoRA; full: fp32, every parameter trainable; qlora: 4-bit NF4 base with
    double quantization (QLoRA paper, Dettmers et al. 2023) + LoRA. Raises ``StageError``
    when QLoRA is not available here.
    """
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(config.seed)
    if config.method == "qlora":
        reason = qlora_unavailable()
        if reason:
            raise errors.StageError(reason)
        return _qlora_model(model_dir, config)
    model = load_model(model_dir, dtype=torch.float32).to(device)
    if config.method == "full":
        model.requires_grad_(True)
        return model
    return add_lora(model, config)


def _qlora_model(model_dir: Path, config: TrainConfig):
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                               bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=torch.bfloat16)
    model = AutoModelForCausalLM.from_pretrained(model_dir, quantization_config=quant,
                                                 device_map={"": 0}, dtype=torch.bfloat16)
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return add_lora(model, config)


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
