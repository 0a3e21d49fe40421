"""Cost of an augmented training item (raw-signal augmentation + GAF) against a plain, cached one.

One run, same recordings, same spec: the per-item time of ``PairedDataset[i]`` over several epochs
(``set_epoch``), median over ``--repeats`` passes, for

* ``cached``: no augmentation, GAF images from the disk cache (what a paper-recipe epoch reads);
* ``augmented``: ``SignalAugment(rotate=15, scale=0.1, time_warp=0.2, crop=0.9, jitter=0.02)``, the
  GAF computed per item (cannot be cached);
* ``read + augment + GAF``: the same with the recording's file read every item (what the dataset did
  before it kept the raw windows in memory), for the ratio.

    .venv/bin/python benchmarks/augment.py --dataset utd-mhad --root ../shared/data/utd-mhad --limit 100
    .venv/bin/python benchmarks/augment.py            # the synthetic demo set
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import tempfile
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="synthetic")
    ap.add_argument("--root", default=None)
    ap.add_argument("--limit", type=int, default=100, help="recordings used")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per pass")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=int, default=32, help="GAF image side")
    args = ap.parse_args()

    import torch

    from vskd.data.augment import SignalAugment
    from vskd.data.datasets import load_recordings
    from vskd.data.paired import GAFSpec, PairedDataset, _encode, _inertial_window

    torch.set_num_threads(1)
    opts = {"preset": "demo"} if args.dataset == "synthetic" else {}
    recs = load_recordings(args.dataset, args.root, **opts)[: args.limit]
    spec = GAFSpec(method="difference", out_size=args.size)
    aug = SignalAugment(rotate=15, scale=0.1, time_warp=0.2, crop=0.9, jitter=0.02)

    with tempfile.TemporaryDirectory() as cache:
        cached = PairedDataset(recs, spec, train=True, cache_dir=cache)
        augmented = PairedDataset(recs, spec, train=True, cache_dir=False, student_augment=aug)

        def reread(ds: PairedDataset, i: int) -> None:  # the file read on every item
            rng = ds.item_rng(i, stream=1)
            _encode(recs[i], aug(_inertial_window(recs[i], spec.axes), spec.axes, rng), spec)

        rows = {"cached": lambda ds, i: ds[i], "augmented": lambda ds, i: ds[i],
                "read + augment + GAF": reread}
        sets = {"cached": cached, "augmented": augmented, "read + augment + GAF": augmented}
        for name, fn in rows.items():  # warm-up pass: fills the disk cache / the in-memory windows
            for i in range(len(recs)):
                fn(sets[name], i)
        times: dict[str, list[float]] = {k: [] for k in rows}
        for _ in range(args.repeats):
            for name, fn in rows.items():
                ds = sets[name]
                t0 = time.perf_counter()
                for epoch in range(args.epochs):
                    ds.set_epoch(epoch)
                    for i in range(len(recs)):
                        fn(ds, i)
                times[name].append((time.perf_counter() - t0) / (args.epochs * len(recs)))

    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    print(f"# vskd augment benchmark, {datetime.datetime.now().isoformat(timespec='seconds')}, "
          f"{platform.machine()}, {args.dataset}, {len(recs)} recordings, {args.size} px GADF, "
          f"median of {args.repeats} passes x {args.epochs} epochs")
    print("| item | ms / item |")
    print("|---|---:|")
    for k, v in med.items():
        print(f"| {k} | {v:.2f} |")
    print(f"augmented / cached: {med['augmented'] / med['cached']:.2f}x; "
          f"read + augment + GAF / augmented: {med['read + augment + GAF'] / med['augmented']:.2f}x")
    assert np.isfinite(list(med.values())).all()


if __name__ == "__main__":
    main()
