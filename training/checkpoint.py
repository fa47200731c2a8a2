"""Resumable checkpoints: trainable weights, optimizer, scheduler, RNG and loop state.

Layout: ``RUN/checkpoints/step-000012/`` with ``weights.safetensors`` (the trainable
parameters only: LoRA adapters, or every weight for full fine-tuning), ``optimizer.pt``
(optimizer + scheduler + torch RNG state) and ``state.json`` (step, batches consumed, losses,
best validation loss), written last. A checkpoint is written into a hidden temporary folder
and renamed into place, so a kill -9 or a full disk never leaves a half checkpoint under a
real name, and older checkpoints are pruned only after a new one is complete.

Run as: ``save(run_dir / "checkpoints", model, optimizer, scheduler, state, keep=2)``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from common import errors

PREFIX = "step-"


class CheckpointError(errors.StageError):
    """A checkpoint is missing, unreadable or does not fit the model."""


def trainable_state(model) -> dict[str, torch.Tensor]:
    """{name: tensor} of the parameters that require gradients (contiguous CPU copies)."""
    return {name: param.detach().to("cpu").contiguous()
            for name, param in model.named_parameters() if param.requires_grad}


def save(root: Path, model, optimizer, scheduler, state: dict, keep: int) -> Path:
    """Write checkpoint ``root/step-NNNNNN`` atomically, then keep only the newest ``keep``.

    ``state`` must hold ``step`` (int). Raises ``CheckpointError`` when writing fails (e.g. a
    full disk: ``OSError`` ENOSPC); earlier checkpoints are left as they were.
    """
    extra = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "torch_rng": torch.get_rng_state()}
    return save_states(root, trainable_state(model), extra, state, keep)


def save_states(root: Path, weights: dict[str, torch.Tensor], extra: dict, state: dict,
                keep: int) -> Path:
    """``save`` from tensors already gathered: ``weights`` (name → tensor) into
    ``weights.safetensors``, ``extra`` (optimizer, scheduler, RNG) into ``optimizer.pt``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"{PREFIX}{state['step']:06d}"
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        save_file(weights, tmp / "weights.safetensors")
        torch.save(extra, tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps(state))
        if target.exists():
            shutil.rmtree(target)
        os.rename(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointError(f"could not write checkpoint {target.name}: {exc.strerror or exc} "
                              "(disk full?); earlier checkpoints are kept") from None
    prune(root, keep)
    return target


def complete(root: Path) -> list[Path]:
    """Finished checkpoints (``state.json`` present), oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [path for path in root.glob(f"{PREFIX}*") if (path / "state.json").is_file()]
    return sorted(found, key=lambda path: path.name)


def latest(root: Path) -> Path | None:
    """The newest finished checkpoint under ``root``, or None."""
    found = complete(root)
    return found[-1] if found else None


def prune(root: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` finished checkpoints, and stale temp folders."""
    for path in complete(root)[:-keep]:
        shutil.rmtree(path, ignore_errors=True)
    for path in Path(root).glob(".tmp-*"):
        shutil.rmtree(path, ignore_errors=True)


def read(path: Path) -> tuple[dict, dict, dict]:
    """(state, weights, extra) of a checkpoint folder; ``CheckpointError`` naming it when a
    file is missing or corrupt."""
    try:
        state = json.loads((path / "state.json").read_text())
        weights = load_file(path / "weights.safetensors")
        extra = torch.load(path / "optimizer.pt", map_location="cpu", weights_only=False)
    except Exception as exc:  # any unreadable file: the message names the checkpoint
        raise CheckpointError(f"checkpoint {path} is missing a file or corrupt "
                              f"({type(exc).__name__}: {str(exc)[:120]})") from None
    return state, weights, extra


def load(path: Path, model, optimizer, scheduler) -> dict:
    """Restore a checkpoint into ``model``/``optimizer``/``scheduler``; returns its state.

    Raises ``CheckpointError`` naming the folder when a file is missing or corrupt, or when
    its parameter names do not match the model's trainable parameters.
    """
    path = Path(path)
    state, weights, extra = read(path)
    params = dict(model.named_parameters())
    expected = {name for name, param in params.items() if param.requires_grad}
    if set(weights) != expected:
        raise CheckpointError(f"checkpoint {path} does not fit this model: "
                              f"{len(weights)} saved tensors, {len(expected)} trainable")
    with torch.no_grad():
        for name, tensor in weights.items():
            params[name].copy_(tensor.to(params[name].device))
    optimizer.load_state_dict(extra["optimizer"])
    scheduler.load_state_dict(extra["scheduler"])
    torch.set_rng_state(extra["torch_rng"])
    return state
