"""The assistant-only loss of a batch: for a training step and for the held-out set.

Run as: ``forward_loss(model, collate(rows, pad_id))``
"""

from __future__ import annotations

import torch

from training.batching import collate, labelled_tokens, micro_batches
from training.data import IGNORE_INDEX


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


class LabelledLoss(torch.nn.Module):
    """``forward_loss`` of ``model`` as a module, so DistributedDataParallel or FSDP can wrap
    it: their forward then runs the head-only loss and the gradient sync hooks alike.
    ``module(part)`` → the part's mean loss per labelled token (scalar)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, part: dict) -> torch.Tensor:
        return forward_loss(self.model, part)


def eval_sums(model, encoded: list[dict], pad_id: int, max_tokens: int = 2048
              ) -> tuple[float, int]:
    """(summed assistant-only loss in nats, labelled tokens) over ``encoded``, no gradients.

    ``model``: a causal LM, or a ``LabelledLoss`` (wrapped or not), called as ``model(batch)``.
    Padded micro-batches (exact regardless of packing support).
    """
    inner = getattr(model, "module", model)  # DistributedDataParallel / FSDP keep it there
    wrapped = isinstance(model, LabelledLoss) or isinstance(inner, LabelledLoss)
    call = model if wrapped else (lambda batch: forward_loss(model, batch))
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for part in micro_batches(encoded, max_tokens):
            batch = collate(part, pad_id)
            n = labelled_tokens(batch)
            if n:
                total += call(batch).item() * n
                count += n
    model.train(was_training)
    return total, count


def eval_loss(model, encoded: list[dict], pad_id: int, max_tokens: int = 2048) -> float:
    """Mean assistant-only loss per labelled token over ``encoded`` (nats), no gradients.

    Padded micro-batches (exact regardless of packing support); each part's mean is
    weighted by its labelled tokens, so the result is the token-level mean of the set.
    """
    total, count = eval_sums(model, encoded, pad_id, max_tokens)
    return total / count if count else float("nan")
