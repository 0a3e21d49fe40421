"""Distributed data parallel training: one process per device, launched by ``torchrun``.

``torchrun --nproc_per_node=N -m vskd.cli train-student ...`` (or ``distill``, ``train-teacher``)
starts N copies of the command with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous
address in the environment. :func:`init` reads them and joins the process group: NCCL when CUDA is
available, gloo on CPU. Without those variables every function here is a cheap no-op, so the same
code runs single-process.

What runs where (see docs/distributed.md):

* each rank trains on its own shard of every global batch (:class:`~vskd.engine.trainer.EpochShuffleSampler`
  with ``rank``/``world``: one permutation per epoch from ``(seed, epoch)``, rank ``r`` takes
  positions ``r, r + N, ...``), through :class:`torch.nn.parallel.DistributedDataParallel`, which
  averages the gradients; the frozen teacher is not part of the wrapped module;
* training losses are all-reduced before they are logged; validation is small and every rank
  evaluates all of it, so every rank picks the same best epoch without talking;
* rank 0 alone writes ``config.yaml``, checkpoints, logs and ``results.json``; the others wait at a
  barrier where rank 0 writes something they read next.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as tdist
from torch import nn


def requested() -> bool:
    """True when launched by torchrun with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    return tdist.is_available() and tdist.is_initialized()


def init() -> None:
    """Join the process group torchrun describes (idempotent; no-op for a single process)."""
    if not requested() or active():
        return
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    tdist.init_process_group(backend=backend)


def rank() -> int:
    return tdist.get_rank() if active() else 0


def world() -> int:
    return tdist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if active():
        tdist.barrier()


def all_reduce_sum(values: list[float]) -> list[float]:
    """Element-wise sum of a list of floats over the ranks (float64)."""
    if not active():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    tdist.all_reduce(t)
    return t.tolist()


def all_gather_cat(t: torch.Tensor) -> torch.Tensor:
    """Concatenate ``t`` (same shape on every rank) over the ranks along dim 0, in rank order."""
    if not active():
        return t
    parts = [torch.empty_like(t) for _ in range(world())]
    tdist.all_gather(parts, t.contiguous())
    return torch.cat(parts)


def wrap(module: nn.Module) -> nn.Module:
    """``module`` in DistributedDataParallel when distributed (only its parameters that require a
    gradient are synchronised: a teacher held outside the module, or frozen, is left alone)."""
    if not active():
        return module
    if not any(p.requires_grad for p in module.parameters()):
        return module
    # adapters some methods build but use only in some steps: allow unused parameters
    return nn.parallel.DistributedDataParallel(module, find_unused_parameters=True)


def cleanup() -> None:
    if active():
        tdist.destroy_process_group()
