"""Equal token budgets: how many optimizer steps of a run consume a given number of
non-padding training tokens.

The recipe (``training.recipe.FinetuneRecipe.train``) takes ``gradient_accumulation``
batches per optimizer step from ``training.batching.batch_stream`` (a pure function of the
encoded lengths, ``batch_size`` and ``seed``) and counts a step's tokens as its non-padding
tokens (``training.batching.real_tokens``: the attention mask's sum for padded batches, the
row length for packed ones), i.e. the sum of the encoded lengths of the step's rows. Replaying
the same stream here gives the exact step at which a run has consumed a budget, before
training starts, so the run's step count (and its learning-rate schedule) is set from it.

Run as: ``steps_for_budget([12, 30, 7], batch_size=2, gradient_accumulation=1, seed=0,
budget_tokens=40)``
"""

from __future__ import annotations

from collections.abc import Iterator

from training.batching import batch_stream


class BudgetTooSmall(ValueError):
    """The budget is smaller than the first optimizer step's tokens."""


def step_tokens(lengths: list[int], batch_size: int, gradient_accumulation: int,
                seed: int) -> Iterator[int]:
    """Endless non-padding tokens of each optimizer step, in the recipe's order.

    >>> it = step_tokens([5, 1, 4, 2], 2, 1, 0)
    >>> [next(it) for _ in range(3)]
    [9, 3, 9]
    """
    stream = batch_stream(lengths, batch_size, seed)
    while True:
        yield sum(lengths[i] for _ in range(gradient_accumulation) for i in next(stream))


def steps_for_budget(lengths: list[int], batch_size: int, gradient_accumulation: int,
                     seed: int, budget_tokens: int) -> tuple[int, int]:
    """(steps, tokens): the fewest optimizer steps whose non-padding tokens reach
    ``budget_tokens``, and the tokens those steps consume (≥ the budget, by less than the
    last step's tokens).

    ``lengths``: the encoded (chat template, truncated) length of each training row, in the
    order the recipe receives them. Raises ``BudgetTooSmall`` when the budget is smaller
    than the first step (the comparison would be one step each, not an equal budget) and
    ValueError for no rows or a budget below 1.

    >>> steps_for_budget([5, 1, 4, 2], 2, 1, 0, 12)
    (2, 12)
    >>> steps_for_budget([5, 1, 4, 2], 2, 1, 0, 13)
    (3, 21)
    """
    if not lengths:
        raise ValueError("no training row to count tokens of")
    if budget_tokens < 1:
        raise ValueError(f"the token budget must be >= 1, got {budget_tokens}")
    steps, tokens = 0, 0
    for size in step_tokens(lengths, batch_size, gradient_accumulation, seed):
        if steps == 0 and budget_tokens < size:
            raise BudgetTooSmall(f"the token budget {budget_tokens:,} is smaller than one "
                                 f"optimizer step ({size:,} non-padding tokens)")
        steps, tokens = steps + 1, tokens + size
        if tokens >= budget_tokens:
            return steps, tokens
    raise AssertionError("unreachable: the stream is endless")
