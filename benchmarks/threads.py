"""A training step alone and beside one other CPU-bound process, per torch thread count.

    .venv/bin/python benchmarks/threads.py [--repeats 7] [--size 64] [--batch 16]

Times one training step (forward, cross-entropy, backward, Adam) of the GAF ResNet18 student on a
random batch, for torch threads 1, 2 and the default policy of :mod:`vskd.threads`, first alone and
then while this script runs one busy-loop process of its own (a pure-Python ``while True``, the
simplest CPU-bound neighbour). Prints the median seconds per step of each and the slowdown
``beside / alone``: 1x is no cost, 2x is fair sharing of one core, far above 2x means the threads
wait for one another (an OpenMP barrier behind a thread the scheduler parked).

Other load on the machine shows in the absolute figures; compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import statistics
import time


def _busy() -> None:  # the CPU-bound neighbour
    while True:
        pass


def step_times(model, batch, labels, repeats: int, warmup: int = 2) -> list[float]:
    import torch
    import torch.nn.functional as F

    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    out = []
    for i in range(warmup + repeats):
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(batch), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= warmup:
            out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7, help="timed steps per setting (median reported)")
    ap.add_argument("--size", type=int, default=64, help="GAF image size (the demo's out_size is 64)")
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    os.environ.pop("OMP_NUM_THREADS", None)  # the policy row is the policy, not this shell's setting
    import torch

    from vskd.models.student import GAFStudent
    from vskd.threads import cpu_count, policy

    torch.manual_seed(0)
    model = GAFStudent(num_classes=27, arch="resnet18")
    batch = torch.rand(args.batch, 3, args.size, args.size)
    labels = torch.randint(0, 27, (args.batch,))
    settings = [("1 thread", 1), ("2 threads", 2), (f"policy ({policy()})", policy())]
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, {cpu_count()} CPUs "
          f"usable, load average {os.getloadavg()[0]:.2f} before the run, torch {torch.__version__}")
    print(f"# ResNet18 GAF student, batch {args.batch}, {args.size} px, median of {args.repeats} steps")
    print("| torch threads | alone (s/step) | beside 1 busy process (s/step) | slowdown |")
    print("|---|---|---|---|")
    ctx = mp.get_context("spawn")
    for label, n in settings:
        torch.set_num_threads(n)
        alone = statistics.median(step_times(model, batch, labels, args.repeats))
        busy = ctx.Process(target=_busy, daemon=True)
        busy.start()
        try:
            time.sleep(0.5)  # the neighbour is running before the first timed step
            beside = statistics.median(step_times(model, batch, labels, args.repeats))
        finally:
            busy.terminate()
            busy.join()
        print(f"| {label} | {alone:.3f} | {beside:.3f} | {beside / alone:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
