"""Throughput of vskd.gaf.gramian_angular_field (batched torch, CPU) versus pyts' GramianAngularField.

Both encode the same batch of 3-axis accelerometer windows (real UTD-MHAD windows when the data is
present, else seeded random walks), each axis a series, at full length (S = T, as the VSKD authors do)
and with PAA to 64. Each figure is the median over ``--repeats`` timed runs after one warm-up run, the
implementations taking turns within each repeat; all ratios come from the same run. The outputs are compared (max abs difference to pyts; the float32
run against pyts on the same float32-rounded input). The "floor" rows time only allocating and
filling an output array of the same size: the encoding is bound by writing its S x S output.

torch runs with ``torch.set_num_threads(--threads)`` for the whole script (default 1). pyts' numba
kernels are compiled without ``parallel=True``, so pyts always runs on one core.

    .venv/bin/python benchmarks/gaf.py                # 256 windows x 3 axes, T = 180, 1 torch thread
    .venv/bin/python benchmarks/gaf.py --threads 2
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from vskd.gaf import gaf_image, gramian_angular_field

REPO = Path(__file__).resolve().parents[1]


def utd_windows(n: int, length: int) -> tuple[np.ndarray, str] | None:
    """(n, length, 3) accelerometer windows: the centred window of the first n recordings (sorted by
    file name) that are at least ``length`` samples long."""
    env = os.environ.get("VSKD_UTD_MHAD")
    root = Path(env) if env else REPO.parent / "shared" / "data" / "utd-mhad"
    files = sorted((root / "Inertial").glob("a*_s*_t*_inertial.mat"))
    if not files:
        return None
    from scipy.io import loadmat

    out = []
    for f in files:
        acc = loadmat(str(f))["d_iner"][:, :3]
        if acc.shape[0] >= length:
            start = (acc.shape[0] - length) // 2
            out.append(acc[start:start + length])
        if len(out) == n:
            break
    if len(out) < n:
        return None
    return np.stack(out).astype(np.float64), f"UTD-MHAD {root}/Inertial (centred windows of the first {n} recordings >= {length} samples)"


def random_windows(n: int, length: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(0, 0.05, size=(n, length, 3)), axis=1) + rng.normal(0, 0.5, size=(n, 1, 3))


def median_times(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall time of each callable; the callables take turns within every repeat (round robin),
    so that load from other processes on a shared machine hits them alike."""
    for fn in fns.values():
        fn()  # warm-up (numba dispatch, allocator, caches)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256, help="windows in the batch (each has 3 axes)")
    ap.add_argument("--length", type=int, default=180, help="window length T (UTD-MHAD: 107..326, median 177)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads for the whole run")
    ap.add_argument("--random", action="store_true", help="use seeded random walks even if UTD-MHAD is present")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    from pyts.image import GramianAngularField  # imported here: compiling its numba kernels takes a while

    got = None if args.random else utd_windows(args.n, args.length)
    if got is None:
        windows, source = random_windows(args.n, args.length), f"seeded random walks ({args.n} x {args.length} x 3)"
    else:
        windows, source = got
    series64 = np.ascontiguousarray(windows.transpose(0, 2, 1))  # (n, 3, T)
    flat64 = series64.reshape(-1, args.length)  # pyts wants (n_samples, n_timestamps)
    t64 = torch.from_numpy(series64)
    t32 = t64.float()

    print(f"vskd.gaf benchmark, {datetime.date.today().isoformat()}, python {platform.python_version()}, "
          f"torch {torch.__version__}, {os.cpu_count()} CPUs, torch threads = {torch.get_num_threads()} "
          f"(pyts/numba: 1 thread, kernels are not parallel)")
    print(f"data: {source}; batch {args.n} windows x 3 axes x T = {args.length}; median of {args.repeats} runs")
    header = f"{'image':>6} {'method':>10} {'implementation':>28} {'ms/batch':>9} {'windows/s':>10} {'vs pyts':>8} {'max|diff|':>10}"
    print(header)
    print("-" * len(header))
    for image_size in (None, 64):
        label = f"{args.length if image_size is None else image_size}^2"
        for method in ("summation", "difference"):
            gaf = GramianAngularField(image_size=1.0 if image_size is None else image_size, method=method)
            side = args.length if image_size is None else image_size
            # the float32 run is compared with pyts on the same (float32-rounded) input values
            refs = {torch.float64: gaf.transform(flat64).reshape(args.n, 3, side, side),
                    torch.float32: gaf.transform(t32.double().numpy().reshape(-1, args.length)).reshape(args.n, 3, side, side)}
            ref_shape = (args.n, 3, side, side)
            w = torch.from_numpy(windows).float()
            fns: dict[str, Callable[[], object]] = {
                "pyts (numba, float64)": lambda: gaf.transform(flat64),
                "ours torch float64": lambda: gramian_angular_field(t64, method=method, image_size=image_size),
                "ours torch float32": lambda: gramian_angular_field(t32, method=method, image_size=image_size),
                # what writing the output alone costs (fresh memory, as every implementation needs)
                "floor: fill f64 output": lambda: np.empty(ref_shape, np.float64).fill(0.5),
                "floor: fill f32 output": lambda: np.empty(ref_shape, np.float32).fill(0.5),
                "ours gaf_image (RGB, f32)": lambda: gaf_image(w, method=method, image_size=image_size),
            }
            times = median_times(fns, args.repeats)
            t_pyts = times["pyts (numba, float64)"]
            diffs = {}
            for name, x in (("ours torch float64", t64), ("ours torch float32", t32)):
                out = gramian_angular_field(x, method=method, image_size=image_size)
                diffs[name] = float(np.abs(out.numpy().astype(np.float64) - refs[x.dtype]).max())
            rows = [(name, t, diffs.get(name)) for name, t in times.items()]
            for name, t, diff in rows:
                d = "" if diff is None else f"{diff:.1e}"
                print(f"{label:>6} {method:>10} {name:>28} {t * 1e3:9.1f} {args.n / t:10.0f} {t_pyts / t:7.2f}x {d:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
