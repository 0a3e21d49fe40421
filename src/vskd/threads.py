"""How many torch threads each process uses: one policy, applied in one place.

Why a policy: torch's default (one intra-op thread per core) is fastest on an idle machine but
collapses beside any other CPU-bound process. Its OpenMP threads meet at a barrier after every
operator, so a single thread that the scheduler parks behind the other process stalls them all: on
2 cores, a ResNet18 training step with 2 threads went from 0.74 s to 6.4 s (9x) beside one busy loop,
where fair sharing would cost 2x (docs/threads.md has the measurements, ``benchmarks/threads.py``).

The policy keeps one core for the rest of the machine and shares the others among the processes of
this job::

    threads = max(1, (cores - 1) // processes)      cores = the CPUs this process may run on
    processes = LOCAL_WORLD_SIZE (torchrun, per node) x jobs (``vskd bench --jobs``)

so one other busy process never oversubscribes the cores (2 cores: 1 thread; 16 cores: 15, or 7 per
worker with ``--jobs 2``). Who decides, first match wins:

1. ``vskd --threads N`` (also passed on to ``vskd bench --jobs`` workers, N each), or ``VSKD_THREADS=N``;
2. ``OMP_NUM_THREADS`` set by the user (torchrun sets it to 1 for ``--nproc_per_node`` > 1 when unset);
3. the policy above.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

from vskd.errors import ConfigError

ENV = "VSKD_THREADS"
_OURS = "_VSKD_OMP_FROM_POLICY"  # marks an OMP_NUM_THREADS this module wrote (not the user's choice)


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask: taskset, cgroups' cpusets), else all."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def local_processes() -> int:
    """Processes of this job on this machine under torchrun (``LOCAL_WORLD_SIZE``), else 1."""
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        return 1


def policy(jobs: int = 1, cores: int | None = None) -> int:
    """The default thread count per process: one core kept free, the rest shared by the processes."""
    cores = cpu_count() if cores is None else cores
    return max(1, (cores - 1) // max(1, local_processes() * jobs))


def _parse(value: str, where: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise ConfigError(f"{where} must be a whole number of threads >= 1, got '{value}'") from None
    if n < 1:
        raise ConfigError(f"{where} must be a whole number of threads >= 1, got {n}")
    return n


def resolve(threads: int | None = None, jobs: int = 1) -> tuple[int, str]:
    """``(threads per process, why)`` for a process that is one of ``jobs`` workers (see the module doc)."""
    if threads is not None:
        return _parse(str(threads), "--threads"), "--threads"
    if os.environ.get(ENV):
        return _parse(os.environ[ENV], ENV), ENV
    omp = os.environ.get("OMP_NUM_THREADS")
    if omp and os.environ.get(_OURS) != omp:
        return _parse(omp, "OMP_NUM_THREADS"), "OMP_NUM_THREADS"
    return policy(jobs), f"policy: (cores {cpu_count()} - 1) // processes {local_processes() * jobs}"


def apply(threads: int | None = None) -> int:
    """Set this process's torch threads (called once by the CLI before a command runs); returns them.

    An explicit ``threads`` is exported as ``VSKD_THREADS`` so worker processes inherit it. When torch
    is not imported yet, ``OMP_NUM_THREADS`` is set instead (torch reads it when it loads; this keeps
    ``vskd`` commands that never import torch fast), marked as the policy's own.
    """
    n, _ = resolve(threads)
    if threads is not None:
        os.environ[ENV] = str(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)
    elif not os.environ.get("OMP_NUM_THREADS") or os.environ.get(_OURS) == os.environ.get("OMP_NUM_THREADS"):
        os.environ["OMP_NUM_THREADS"] = os.environ[_OURS] = str(n)
    return n


@contextmanager
def kept():
    """Run foreign code, then give torch back the thread count it had before.

    aeon's classifiers set the OpenMP thread count of the whole process through numba: after a
    ``RocketClassifier.fit`` torch's intra-op threads were 2 instead of the policy's 1 on the 2-core
    machine (2026-12-04), so every torch step after a peer in the same ``vskd bench --jobs 2`` worker
    ran 2 OpenMP threads beside the other worker's (the oversubscription the policy exists to avoid:
    the watch student's CV steps ran several times slower). Wrap any call into aeon (or numba) in this.
    """
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    try:
        yield
    finally:
        if before is not None and torch.get_num_threads() != before:
            torch.set_num_threads(before)


def worker_threads(jobs: int) -> int:
    """Threads for each of ``jobs`` worker processes (``vskd bench --jobs``), decided in the parent."""
    return resolve(None, jobs)[0]
