"""Training on N processes with `torchrun`: the process group, DDP models, one data shard per rank.

`course_utils.training.train` calls these when the process group is up (`python -m course_utils.train`
starts it under torchrun): each rank trains on its shard of every epoch (the epoch's order split as
DistributedSampler splits it), the step function sees the models wrapped in DistributedDataParallel (so
gradients are averaged across ranks before each optimizer step and batch-norm buffers are rank 0's), and only
rank 0 writes the checkpoint (atomic, as in one process), the samples and the progress bar. The checkpoint
holds every rank's random state, so a restart with the same N continues exactly; another N under torchrun
is refused, and one process may resume an N-process checkpoint (e.g. to finish it or to evaluate).

    torchrun --nproc_per_node 4 -m course_utils.train --full
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler


@dataclass(frozen=True)
class World:
    """This process's place: `rank` of `size` processes, `local_rank` on its machine."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """True on the process that writes (rank 0)."""
        return self.rank == 0


def world() -> World:
    """The current process group's World, or a World of one process when there is none."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return World()


def init_from_torchrun() -> World:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR...): NCCL on CUDA, else gloo.

    Outside torchrun (no WORLD_SIZE, or 1) nothing is started and a World of one process is returned.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or (dist.is_available() and dist.is_initialized()):
        return world()
    if not dist.is_available():
        raise RuntimeError("this PyTorch build has no torch.distributed; run in one process instead")
    if _one_gpu_each():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if _one_gpu_each() else "gloo")
    return world()


def _one_gpu_each() -> bool:
    """True when every process on this machine has a GPU of its own (else the ranks train on the CPU, gloo)."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
    return torch.cuda.is_available() and torch.cuda.device_count() >= local


def device_of(place: World) -> torch.device:
    """The device of this rank: its own GPU (cuda:LOCAL_RANK) when each process has one, else the CPU."""
    return torch.device("cuda", place.local_rank) if _one_gpu_each() else torch.device("cpu")


def wrap(models: Mapping[str, nn.Module], place: World, device: torch.device) -> dict[str, nn.Module]:
    """The models the step function sees: wrapped in DistributedDataParallel with more than one process."""
    if place.size == 1:
        return dict(models)
    ids = [device.index] if device.type == "cuda" else None
    return {name: DistributedDataParallel(model, device_ids=ids) if any(p.requires_grad for p in model.parameters())
            else model for name, model in models.items()}


def shard(order: list[int], place: World) -> list[int]:
    """This rank's part of an epoch's `order`, as DistributedSampler splits it (padded to a multiple of size)."""
    if place.size == 1:
        return order
    sampler = DistributedSampler(range(len(order)), num_replicas=place.size, rank=place.rank, shuffle=False)
    return [order[i] for i in sampler]


def per_rank(n: int, place: World) -> int:
    """How many of `n` items each rank gets per epoch (DistributedSampler's padded share)."""
    return -(-n // place.size)


def gather(obj: Any, place: World) -> list[Any]:
    """`obj` of every rank, in rank order (a collective: every rank must call it)."""
    if place.size == 1:
        return [obj]
    out: list[Any] = [None] * place.size
    dist.all_gather_object(out, obj)
    return out


def any_true(flag: bool, place: World) -> bool:
    """True when `flag` is True on any rank (a collective: every rank must call it)."""
    if place.size == 1:
        return flag
    tensor = torch.tensor([int(flag)], device=device_of(place))
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item())


def barrier(place: World) -> None:
    """Wait for every rank (a no-op in one process)."""
    if place.size > 1:
        dist.barrier()


def check_resume(saved_size: int, place: World, path: Any) -> str | None:
    """None when a checkpoint of `saved_size` processes resumes exactly here; a warning when one process
    resumes it (the data order changes); a ValueError under torchrun with another number of processes."""
    if saved_size == place.size:
        return None
    if place.size > 1:
        raise ValueError(f"{path} was written by a run of {saved_size} process(es), this one has {place.size}: "
                         f"restart with torchrun --nproc_per_node {saved_size}, or resume it in one process")
    return (f"{path} was written by {saved_size} processes and is resumed in one: the weights and optimizers "
            "continue, the data order and random numbers are rank 0's, not an uninterrupted run's")
