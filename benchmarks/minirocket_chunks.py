"""How the torch MiniRocket transform's speed depends on how many windows it takes at once.

The transform builds an (84, B, C, T) temporary per dilation; for many series (a skeleton: 120 series of
64 frames) a large batch makes that temporary hundreds of MB, and the allocation's page faults cost more
than the arithmetic. ``MiniRocketFeatures.CHUNK_ELEMENTS`` caps it; this script times the transform of
the same windows for several caps (1 thread, median of ``--repeats``), wall, user and system seconds,
and checks that every cap gives the same features.

    python benchmarks/minirocket_chunks.py --channels 120 --length 64
    python benchmarks/minirocket_chunks.py --channels 3 --length 180
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=120)
    ap.add_argument("--length", type=int, default=64)
    ap.add_argument("--windows", type=int, default=431)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--caps", type=int, nargs="+", default=[1 << 18, 1 << 20, 1 << 22, 1 << 30])
    args = ap.parse_args()
    torch.set_num_threads(1)
    from vskd.models.minirocket import MiniRocketFeatures

    x = torch.randn(args.windows, args.channels, args.length, generator=torch.Generator().manual_seed(0))
    f = MiniRocketFeatures(args.channels).fit(x, seed=0)
    ref = None
    print(f"{args.windows} windows x {args.channels} series x {args.length} samples, 1 thread, "
          f"median of {args.repeats}")
    print(f"{'cap (elements)':>16} {'windows/chunk':>14} {'wall s':>8} {'user s':>8} {'sys s':>8}")
    rows = []
    for cap in args.caps:
        f.CHUNK_ELEMENTS = cap
        walls, users, syss = [], [], []
        for _ in range(args.repeats):
            r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            with torch.no_grad():
                out = torch.cat([f(x[i:i + 64]) for i in range(0, len(x), 64)])
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            walls.append(time.perf_counter() - t0)
            users.append(r1.ru_utime - r0.ru_utime)
            syss.append(r1.ru_stime - r0.ru_stime)
        if ref is None:
            ref = out
        assert torch.equal(out, ref), "a chunk size changed the features"
        per = max(1, cap // (84 * args.channels * args.length))
        rows.append(statistics.median(walls))
        print(f"{cap:>16} {min(per, 64):>14} {statistics.median(walls):>8.2f} {statistics.median(users):>8.2f} "
              f"{statistics.median(syss):>8.2f}")
    print(f"ratio of the slowest to the fastest cap: {max(rows) / min(rows):.1f}x (same features)")


if __name__ == "__main__":
    main()
