"""The Rocket features' forward (10 000 kernels, 3 channels, 180 samples, a batch of 16: the rocket teacher's
step in function matching) with each group's kernels cut once per device (what ``RocketFeatures`` does)
against cutting them from the padded buffers on every call (what it did before 2026-12-04, and still does
while exporting). Both give the same features (checked, exactly); one run, the two interleaved.

    OMP_NUM_THREADS=1 python benchmarks/rocket_forward.py [--threads 1] [--repeats 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch import nn

from vskd.models.rocket import RocketFeatures


def per_call(r: RocketFeatures, x: torch.Tensor) -> torch.Tensor:
    """The forward with the kernels gathered from the padded buffers on every call."""
    x = x.float()
    if r.normalise:
        mean = x.mean(dim=2, keepdim=True)
        std = x.std(dim=2, keepdim=True, unbiased=False)
        x = (x - mean) / torch.where(std == 0, torch.ones_like(std), std)
    parts = []
    for L, d, p, idx in r._groups:
        resp = nn.functional.conv1d(x, r.weight[idx, :, :L], r.biases[idx], padding=p, dilation=d)
        parts.append(torch.stack([(resp > 0).float().mean(dim=2), resp.amax(dim=2)], dim=2).reshape(x.shape[0], -1))
    return torch.cat(parts, dim=1).index_select(1, r._order)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    r = RocketFeatures(3, 10_000)
    r.fit(torch.randn(320, 3, 180, generator=g), seed=0)
    x = torch.randn(args.batch, 3, 180, generator=g)
    with torch.no_grad():
        assert torch.equal(r(x), per_call(r, x)), "the two forwards differ"
        times = {"cut once (RocketFeatures)": [], "cut every call (before)": []}
        fns = {"cut once (RocketFeatures)": r, "cut every call (before)": lambda v: per_call(r, v)}
        for _ in range(args.rounds):
            for name, fn in fns.items():
                fn(x)
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    fn(x)
                    times[name].append(time.perf_counter() - t0)
    print(f"# rocket forward — {time.strftime('%Y-%m-%d')} — {platform.processor() or platform.machine()}, "
          f"{args.threads} thread(s), torch {torch.__version__}; batch {args.batch} x 3 x 180, 10 000 kernels, "
          f"{len(r._groups)} kernel groups; median of {args.rounds} x {args.repeats} calls, interleaved")
    med = {k: 1000 * statistics.median(v) for k, v in times.items()}
    base = med["cut every call (before)"]
    for k, v in med.items():
        print(f"{k:28s} {v:7.1f} ms   ratio to before {v / base:4.2f}")


if __name__ == "__main__":
    main()
