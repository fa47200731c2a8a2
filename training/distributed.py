"""Training across processes: the launch command, the per-rank context, the shard of a batch.

A run with ``processes`` N > 1 (or an accelerate config) is started by the train job as one
launcher process: ``torchrun --standalone`` on a CPU (gloo; ``accelerate launch`` starts
several CPU processes only through MPI) or ``accelerate launch`` on CUDA GPUs (nccl, with the
DDP or FSDP settings of ``configs/accelerate/*.yaml``). Every rank runs the same recipe
(``training.recipe.FinetuneRecipe`` with a ``Ranks``): each encodes all rows and draws the
same global batches from the seed, takes its share of each batch (``shard``), and the
gradients are averaged across ranks by DistributedDataParallel (or sharded by FSDP). The
loss of each rank is weighted by its share of the batch's labelled tokens times the world
size, so the averaged gradient equals the one-process gradient of the whole batch.

Rank 0 alone writes the step log and the checkpoints; a stop (a cancel: SIGTERM on any
rank, or the job process gone) is agreed on by an all-reduce at the top of each step, so
every rank stops after the same step.

Run as: ``torchrun --standalone --nproc-per-node 2 -m workbench.jobs.ranks JOB_DIR``
(the train job builds this with ``launch_command``).
"""

from __future__ import annotations

import os
import sys
from contextlib import nullcontext
from pathlib import Path

import torch

from common import errors
from training.data import IGNORE_INDEX

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs" / "accelerate"
SHARDING_CONFIGS = ("fsdp",)  # accelerate configs that shard the weights across ranks


class StopRequested(Exception):
    """Every rank agreed to stop after the current step (a cancel reached one of them)."""


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, as ``os.sched_getaffinity``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def processes_problem(processes: int, accelerate_config: str = "") -> str | None:
    """Why ``processes`` ranks cannot run on this machine, or None when they can.

    On a CPU each rank needs a core of its own (two ranks on one core contend for it and
    the run gets slower, not faster); on CUDA each rank needs a GPU.

    >>> processes_problem(10_000)[:28]
    'processes 10000 is more than'
    """
    if processes < 1:
        return f"processes must be >= 1, got {processes}"
    if accelerate_config and not Path(accelerate_config).is_file():
        return f"accelerate config {accelerate_config} does not exist"
    if torch.cuda.is_available():
        gpus = torch.cuda.device_count()
        if processes > gpus:
            return (f"processes {processes} is more than the {gpus} CUDA GPU(s) of this "
                    f"machine: one process per GPU, so at most {gpus}")
        return None
    cores = available_cores()
    if processes > cores:
        return (f"processes {processes} is more than the {cores} CPU core(s) this machine "
                f"gives the workbench: one process per core, so at most {cores}")
    return None


def is_distributed(processes: int, accelerate_config: str = "") -> bool:
    """True when a run goes through the launcher (several processes or an accelerate config)."""
    return processes > 1 or bool(accelerate_config)


def launch_command(job_dir: Path, processes: int, accelerate_config: str = "",
                   module: str = "workbench.jobs.ranks") -> tuple[list[str], dict]:
    """The launcher's argv and environment for ``processes`` ranks running ``module JOB_DIR``.

    CPU: ``python -m torch.distributed.run --standalone --nproc-per-node N`` (gloo), each
    rank with ``cores // N`` OpenMP threads. CUDA: ``python -m accelerate.commands.launch``
    with ``accelerate_config`` (default ``configs/accelerate/ddp.yaml``: DDP, nccl) and a free
    port. Raises ``StageError`` naming the problem when ``processes_problem`` finds one.
    """
    if problem := processes_problem(processes, accelerate_config):
        raise errors.StageError(problem)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    tail = ["-m", module, str(job_dir)]
    if not torch.cuda.is_available():
        env["OMP_NUM_THREADS"] = str(max(1, available_cores() // processes))
        return ([sys.executable, "-m", "torch.distributed.run", "--standalone",
                 f"--nproc-per-node={processes}", *tail], env)
    config = accelerate_config or str(CONFIG_DIR / "ddp.yaml")
    return ([sys.executable, "-m", "accelerate.commands.launch", "--config_file", config,
             "--num_processes", str(processes), "--main_process_port", "0", *tail], env)


def shard(rows: list, rank: int, world: int) -> list:
    """This rank's rows of a global batch: every ``world``-th row from ``rank`` on.

    Length-grouped batches hold rows of similar length, so strided shares are balanced.
    A rank may get no row (a batch smaller than the world); it still takes part in the
    gradient all-reduce with a zero-weight pass (``training.recipe``).

    >>> shard([10, 11, 12, 13, 14], 1, 2)
    [11, 13]
    """
    return rows[rank::world]


def row_labelled(row: dict) -> int:
    """Labelled tokens of one encoded row as the shifted causal-LM loss counts them
    (``training.batching.labelled_tokens`` of any batch holding it)."""
    return sum(1 for label in row["labels"][1:] if label != IGNORE_INDEX)


class Ranks:
    """This process's place in a torch.distributed run, set up by ``accelerate``.

    ``rank`` / ``world``; ``device`` (``cuda:LOCAL_RANK`` or cpu); ``wrap(module)`` (DDP,
    or FSDP under an FSDP accelerate config); ``no_sync(wrapped)``; ``all_sum(values)``;
    ``stop_requested()`` (collective); ``sharded`` (weights sharded: FSDP).
    """

    def __init__(self, stop_flag=lambda: False):
        from accelerate import Accelerator, DistributedDataParallelKwargs

        # no buffer broadcast in forward: ranks run different numbers of passes per step
        # (their shards split into different micro-batches), and a collective in forward
        # would pair one rank's pass with another's
        self.accelerator = Accelerator(cpu=not torch.cuda.is_available(), kwargs_handlers=[
            DistributedDataParallelKwargs(broadcast_buffers=False)])
        self.rank, self.world = self.accelerator.process_index, self.accelerator.num_processes
        if not torch.distributed.is_initialized():
            raise errors.StageError("no torch.distributed process group: run this under "
                                    "torchrun or accelerate launch")
        self.device = self.accelerator.device
        self.is_main = self.rank == 0
        self.stop_flag = stop_flag
        self.sharded = self.accelerator.is_fsdp2 or "FSDP" in str(
            self.accelerator.distributed_type)

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """The module as the accelerate config distributes it (DDP by default)."""
        return self.accelerator.prepare_model(module)

    def no_sync(self, wrapped: torch.nn.Module, last: bool):
        """Skip the gradient all-reduce of a backward pass unless it is the step's ``last``."""
        return nullcontext() if last else self.accelerator.no_sync(wrapped)

    def all_sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over every rank (float64)."""
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.SUM)
        return tensor.tolist()

    def most(self, value: int) -> int:
        """The largest ``value`` over every rank."""
        tensor = torch.tensor([value], dtype=torch.int64, device=self.device)
        torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.MAX)
        return int(tensor.item())

    def stop_requested(self) -> bool:
        """True on every rank when any rank's ``stop_flag()`` is set (one all-reduce)."""
        return self.all_sum([1.0 if self.stop_flag() else 0.0])[0] > 0

    def barrier(self) -> None:
        self.accelerator.wait_for_everyone()

    def unwrap(self, wrapped: torch.nn.Module) -> torch.nn.Module:
        return self.accelerator.unwrap_model(wrapped)

    def full_state(self, wrapped: torch.nn.Module) -> dict:
        """The whole model's state dict on rank 0 (gathered from the shards; collective)."""
        return self.accelerator.get_state_dict(wrapped)

    def save_sharded(self, root: Path, wrapped, optimizer, scheduler, state: dict,
                     keep: int) -> None:
        """A checkpoint of an FSDP run in ``training.checkpoint``'s layout: the trainable
        weights and the optimizer state gathered whole (torch.distributed.checkpoint's
        ``get_state_dict``, collective), written by rank 0. Its optimizer state is keyed by
        parameter name, so it resumes FSDP runs only."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

        from training import checkpoint

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        weights, optim = get_state_dict(wrapped, optimizer, options=options)
        trainable = {name for name, p in wrapped.named_parameters() if p.requires_grad}
        if self.is_main:
            kept = {name: tensor.contiguous() for name, tensor in weights.items()
                    if name in trainable}
            checkpoint.save_states(root, kept, {"optimizer": optim, "sharded": True,
                                                "scheduler": scheduler.state_dict(),
                                                "torch_rng": torch.get_rng_state()},
                                   state, keep)
        self.barrier()

    def load_sharded(self, path: Path, wrapped, optimizer, scheduler) -> dict:
        """Restore a ``save_sharded`` checkpoint on every rank; returns its loop state."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

        from training import checkpoint

        state, weights, extra = checkpoint.read(Path(path))
        if not extra.get("sharded"):
            raise checkpoint.CheckpointError(
                f"checkpoint {path} was written by an unsharded run: resume it without FSDP")
        options = StateDictOptions(full_state_dict=True, strict=False)
        set_state_dict(wrapped, optimizer, model_state_dict=weights,
                       optim_state_dict=extra["optimizer"], options=options)
        scheduler.load_state_dict(extra["scheduler"])
        torch.set_rng_state(extra["torch_rng"])
        return state

    def close(self) -> None:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
