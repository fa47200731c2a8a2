"""Guards of the training loop: an optimizer step whose gradient norm is not finite is skipped.

One NaN or inf gradient would poison the weights and the AdamW moments for good (every
later step inherits it). The step is skipped instead, as ``torch.amp.GradScaler`` does for
an fp16 overflow (``scaler.step`` skips ``optimizer.step`` when the unscaled gradients hold
inf/NaN): no optimizer step, no scheduler step, gradients cleared. A run whose gradients
stay non-finite fails with the likely cause instead of training on nothing.

Run as: ``if step_is_finite(params, 1.0): optimizer.step()`` after the backward passes.
"""

from __future__ import annotations

import torch

from common import errors


class NonFiniteGradients(errors.StageError):
    """The gradient norm was not finite for ``max_nonfinite_steps`` optimizer steps in a row."""


def step_is_finite(params: list[torch.Tensor], max_norm: float) -> bool:
    """Clip the gradients of ``params`` to total L2 norm ``max_norm``; False when that norm
    (or any gradient) is NaN or inf, so the caller skips the optimizer step.

    ``torch.nn.utils.clip_grad_norm_`` returns the norm before clipping; a parameter
    without a gradient counts as zero.

    >>> p = torch.nn.Parameter(torch.ones(2)); p.grad = torch.tensor([3.0, 4.0])
    >>> step_is_finite([p], 1.0), [round(g, 4) for g in p.grad.tolist()]
    (True, [0.6, 0.8])
    >>> p.grad = torch.tensor([float("nan"), 1.0]); step_is_finite([p], 1.0)
    False
    """
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return bool(torch.isfinite(norm))


def nonfinite_cause(precision: str, learning_rate: float) -> str:
    """The likely cause of gradients that stay non-finite, named for the user.

    >>> nonfinite_cause("fp16", 2e-4).split(":")[0]
    'fp16 overflow'
    """
    if precision == "fp16":
        return ("fp16 overflow: half precision cannot hold these activations or gradients; "
                "use precision bf16 or fp32")
    return (f"learning rate {learning_rate:g} too high (the weights diverged) or broken input "
            "rows; lower learning_rate or add warmup_steps")


class NonFiniteGuard:
    """Counts skipped steps (``skipped``, the whole run) and the current streak; raises
    ``NonFiniteGradients`` when the streak reaches ``limit``."""

    def __init__(self, limit: int, precision: str, learning_rate: float, skipped: int = 0):
        self.limit, self.precision, self.learning_rate = limit, precision, learning_rate
        self.skipped, self.streak = skipped, 0

    def update(self, step: int, finite: bool) -> None:
        """Record whether ``step`` (1-based) had a finite gradient norm."""
        if finite:
            self.streak = 0
            return
        self.skipped, self.streak = self.skipped + 1, self.streak + 1
        if self.streak >= self.limit:
            raise NonFiniteGradients(
                f"the gradient norm was not finite for {self.streak} steps in a row (up to step "
                f"{step}; each was skipped, the weights are those of the last good step); "
                f"likely cause: {nonfinite_cause(self.precision, self.learning_rate)}")

