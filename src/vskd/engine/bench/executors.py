"""Executors: how a benchmark's unfinished steps are run. Each takes the :class:`Bench` (which knows how to
run one step, :meth:`Bench.execute`) and its pending steps ``[(seed, kind, item), ...]`` in plan order
(teachers first), and must start a distillation run only once its teacher's step has ended.

* :func:`run_serial` — one step after the other, in this process (``--jobs 1``, the default);
* :func:`run_pool` — ``--jobs N``: N spawned worker processes, torch threads each from the policy of
  :mod:`vskd.threads` (``(cores - 1) // N`` unless ``--threads`` / ``$OMP_NUM_THREADS`` say otherwise);
  a step whose teacher is still pending or running waits;
* :func:`run_ray` — ``--executor ray``: every step one Ray task (``num_cpus`` = its torch threads,
  ``num_gpus`` from the config's device), on a local Ray instance or the cluster at ``--address``; a
  distillation task takes its teacher task's ``ObjectRef`` as an argument, so Ray starts it only when
  the teacher has finished. Ray is the optional extra ``vskd[ray]``.

Every executor runs the same steps (those without ``results.json``: finished runs are skipped, a run
with ``last.pt`` resumes), so the results folders do not depend on the executor.
"""

from __future__ import annotations

import os

from vskd.errors import VskdError

__all__ = ["cpu_count", "import_ray", "run_pool", "run_ray", "run_serial", "step_resources"]

RAY_INSTALL = "pip install 'vskd[ray]'"


def cpu_count() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def exit_when_orphaned(parent: int, poll_s: float = 1.0) -> None:
    """Start a daemon thread that ends this process (exit code 1) once its parent ``parent`` is gone.

    A ``--jobs`` worker whose ``vskd bench`` was killed would otherwise finish its run, unseen, while a
    restarted bench resumes the same run folder: two writers of one run. Its ``last.pt`` (written
    atomically) lets the restarted bench resume the run instead."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="vskd-orphan-watch", daemon=True).start()


def _pool_worker_init(threads: int, parent: int) -> None:
    _worker_init(threads)
    exit_when_orphaned(parent)


def run_serial(bench, steps, t0: float) -> None:
    n = len(steps)
    for k, (seed, kind, item) in enumerate(steps, 1):
        bench.execute(k, n, seed, kind, item, t0)


def run_pool(bench, steps, t0: float, jobs: int) -> None:
    """``jobs`` worker processes (spawned, ``vskd.threads.worker_threads(jobs)`` threads each); teacher
    before student."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from vskd.threads import worker_threads

    n = len(steps)
    threads = worker_threads(jobs)  # the thread policy, shared with every vskd process (vskd.threads)
    pending = list(enumerate(steps, 1))
    running: dict = {}
    with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), initializer=_pool_worker_init,
                             initargs=(threads, os.getpid())) as pool:
        while pending or running:
            active = {bench.run_dir(s, kd, it) for (_, s, kd, it) in running.values()}
            for entry in list(pending):
                if len(running) >= jobs:
                    break
                k, (seed, kind, item) = entry
                deps = bench.depends_on(seed, item)
                if any(d in active or any(bench.run_dir(s, kd, it) == d for _, (s, kd, it) in pending)
                       for d in deps):
                    continue  # its teacher (a teacher: its members) is still to be trained
                pending.remove(entry)
                fut = pool.submit(bench.execute, k, n, seed, kind, item, t0)
                running[fut] = (k, seed, kind, item)
                active.add(bench.run_dir(seed, kind, item))
            if not running:
                break
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in done:
                running.pop(fut)
                fut.result()  # re-raise anything unexpected (a run's own failure is recorded, not raised)


def import_ray():
    """The ``ray`` module, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise VskdError(f"--executor ray needs Ray, which is not installed: {RAY_INSTALL}") from None
    return ray


def step_resources(bench, seed: int, kind: str, item, threads: int) -> dict:
    """A step's Ray resources: ``num_cpus`` = its torch threads; ``num_gpus`` 1 when its config names a
    CUDA ``device`` (configs without a device key train on the CPU: 0)."""
    if kind == "teacher":
        cfg = bench.config(seed, bench.spec.teachers[item])
    else:
        cfg = bench.config(seed, list(item.set))
    device = str(getattr(cfg, "device", None) or "cpu")
    return {"num_cpus": threads, "num_gpus": 1 if device.startswith("cuda") and not getattr(item, "is_peer", False)
            else 0}


def _ray_step(bench, k: int, n: int, seed: int, kind: str, item, t0: float, threads: int, *after) -> str:
    """One step in a Ray worker (``after``: the teacher task's result, resolved by Ray before the call)."""
    _worker_init(threads)
    bench.execute(k, n, seed, kind, item, t0)
    return str(bench.run_dir(seed, kind, item))


def run_ray(bench, steps, t0: float, threads: int = 1, address: str | None = None) -> list[str]:
    """Every step a Ray task; a distillation task depends on its teacher's task, a fusion teacher's on its
    members' (``ObjectRef`` arguments). Uses the Ray session already initialised in this process, else starts one (local, or
    connects to ``address``) and shuts it down at the end. Returns the run folders in plan order."""
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        try:
            if address:
                ray.init(address=address, include_dashboard=False)
            else:
                ray.init(num_cpus=cpu_count(), include_dashboard=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the cluster at {address}" if address else "a local Ray instance"
            raise VskdError(f"--executor ray: could not start {where}: {str(exc).splitlines()[0]}") from None
    try:
        task = ray.remote(_ray_step)
        n = len(steps)
        refs: dict = {}
        for k, (seed, kind, item) in enumerate(steps, 1):
            after = [refs[d] for d in bench.depends_on(seed, item) if d in refs]  # finished ones: no wait
            res = step_resources(bench, seed, kind, item, threads)
            label = f"teacher-{item}" if kind == "teacher" else item.id
            refs[bench.run_dir(seed, kind, item)] = task.options(name=f"seed{seed}/{label}", **res).remote(
                bench, k, n, seed, kind, item, t0, threads, *after)
        return ray.get(list(refs.values()))  # re-raises anything unexpected, like the process pool
    finally:
        if started:
            ray.shutdown()
