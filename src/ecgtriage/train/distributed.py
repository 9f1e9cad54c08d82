"""DDP plumbing: process-group setup from ``torchrun``'s environment and prediction gathering."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in a (possibly one-process) job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False  # this context created the process group and must destroy it

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def init_from_env(device_type: str) -> DistContext:
    """Join the process group described by ``torchrun``'s ``WORLD_SIZE``/``RANK`` variables.

    Uses NCCL on CUDA and gloo on CPU. Without those variables (or with one process) this is a
    plain single-process context.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
        owns = True
    return DistContext(rank, world, local, owns)


def shutdown(ctx: DistContext) -> None:
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.active:
        dist.barrier()


def broadcast_buffers(model: torch.nn.Module, ctx: DistContext) -> None:
    """Give every rank rank 0's BatchNorm statistics so that evaluation agrees across ranks."""
    if ctx.active:
        for buf in model.buffers():
            dist.broadcast(buf, src=0)


def gather_padded(local: torch.Tensor, n_total: int, ctx: DistContext) -> torch.Tensor:
    """Rebuild the full, ordered (n_total, ...) tensor from each rank's ``DistributedSampler``
    (``shuffle=False``) share, dropping the sampler's padding.

    Rank ``r`` holds padded positions ``r, r + W, r + 2W, ...`` (each rank the same count), so
    interleaving the ranks restores the padded order, whose first ``n_total`` rows are the
    records in order.
    """
    if not ctx.active:
        return local[:n_total]
    parts = [torch.empty_like(local) for _ in range(ctx.world_size)]
    dist.all_gather(parts, local.contiguous())
    stacked = torch.stack(parts, dim=1)  # (per_rank, W, ...)
    return stacked.reshape(-1, *local.shape[1:])[:n_total]


def all_reduce_sum(value: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    if ctx.active:
        value = value.clone()
        dist.all_reduce(value)
    return value
