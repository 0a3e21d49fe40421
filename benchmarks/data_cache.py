"""Cost of producing paired items from UTD-MHAD with an empty (cold) versus a filled (warm) cache.

    .venv/bin/python benchmarks/data_cache.py [--root ../shared/data/utd-mhad] [--n 100] [--repeats 3]
        [--frame-size 128 --crop-size 112] [--gaf-size 224] [--threads 1]

Takes ``--n`` UTD-MHAD recordings spread over the release (every k-th in key order), builds a training
:class:`~vskd.data.paired.PairedDataset` (depth teacher: K = 8 TSN frames, multi-scale crop + flip;
student: GASF of acc x, y, z) on a fresh temporary cache folder, and times, per repeat:

* **cold epoch**: ``ds[i]`` for every item with the cache empty (reads the ``.mat`` files, maps depth
  to 8 bits, resizes every frame, computes the GAF, writes the entries, then samples/crops);
* **warm epoch**: the same in a new dataset object on the filled cache (a second run), next epoch;
* **cache pass**: :func:`~vskd.data.paired.warm_cache` cold and warm (decode + store versus read, no
  per-item sampling), isolating what the cache saves.

Prints the median seconds over ``--repeats`` repeats (each with its own empty cache) and the ratios
cold / warm measured in this run, plus the cache's size on disk. The ``.mat`` files sit in the OS page
cache after the first repeat, so "cold" measures decoding, not disk reads.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import torch

from vskd.data.cache import usage
from vskd.data.frames import ClipSpec
from vskd.data.paired import GAFSpec, PairedDataset, warm_cache
from vskd.data.utd_mhad import list_recordings

REPO = Path(__file__).resolve().parents[1]


def default_root() -> Path:
    env = os.environ.get("VSKD_UTD_MHAD")
    return Path(env) if env else REPO.parent / "shared" / "data" / "utd-mhad"


def epoch(ds: PairedDataset) -> float:
    t0 = time.perf_counter()
    for i in range(len(ds)):
        ds[i]
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=default_root())
    ap.add_argument("--n", type=int, default=100, help="recordings (spread over the release)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--frame-size", type=int, default=128, help="shorter side of cached frames")
    ap.add_argument("--crop-size", type=int, default=112)
    ap.add_argument("--gaf-size", type=int, default=224)
    ap.add_argument("--no-compress", action="store_true", help="store decoded clips uncompressed")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (1 = what a DataLoader worker uses)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    recs = list_recordings(args.root, modalities=["inertial", "depth"])
    step = max(1, len(recs) // args.n)
    recs = recs[::step][: args.n]
    student = GAFSpec(out_size=args.gaf_size)
    teacher = ClipSpec(modality="depth", num_segments=8, frame_size=args.frame_size, crop_size=args.crop_size)
    compress = not args.no_compress
    print(f"# vskd data cache benchmark, {date.today()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}")
    print(f"# {len(recs)} UTD-MHAD recordings; teacher depth K=8 frame_size={args.frame_size} "
          f"crop={args.crop_size}; student GASF acc xyz out_size={args.gaf_size}; compress={compress}; "
          f"repeats={args.repeats}")

    rows: dict[str, list[float]] = {k: [] for k in ("cold_epoch", "warm_epoch", "cold_pass", "warm_pass")}
    size = (0, 0)
    for rep in range(args.repeats):
        for mode in ("epoch", "pass"):
            root = Path(tempfile.mkdtemp(prefix="vskd-bench-cache-"))
            try:
                ds = PairedDataset(recs, student, teacher, train=True, cache_dir=root, compress=compress)
                if mode == "epoch":
                    cold = epoch(ds)
                    again = PairedDataset(recs, student, teacher, train=True, cache_dir=root, compress=compress)
                    again.set_epoch(1)
                    warm = epoch(again)
                    assert again.cache.stats.misses == 0, again.cache.stats
                else:
                    t0 = time.perf_counter()
                    warm_cache(ds, progress=False)
                    cold = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    st = warm_cache(ds, progress=False)
                    warm = time.perf_counter() - t0
                    assert st["misses"] == 0, st
                    size = usage(root)
            finally:
                shutil.rmtree(root, ignore_errors=True)
            rows[f"cold_{mode}"].append(cold)
            rows[f"warm_{mode}"].append(warm)
            print(f"  repeat {rep + 1} {mode:5s}: cold {cold:7.3f} s  warm {warm:7.3f} s")

    med = {k: statistics.median(v) for k, v in rows.items()}
    n = len(recs)
    print(f"epoch of {n} items (GAF + depth clip + TSN sampling/crop): cold {med['cold_epoch']:.3f} s "
          f"({1000 * med['cold_epoch'] / n:.1f} ms/item), warm {med['warm_epoch']:.3f} s "
          f"({1000 * med['warm_epoch'] / n:.1f} ms/item), ratio cold/warm {med['cold_epoch'] / med['warm_epoch']:.1f}x")
    print(f"cache pass over {n} recordings (decode+store vs read): cold {med['cold_pass']:.3f} s, "
          f"warm {med['warm_pass']:.3f} s, ratio {med['cold_pass'] / med['warm_pass']:.1f}x")
    print(f"cache size: {size[0]} entries, {size[1] / 1e6:.1f} MB ({size[1] / 1e6 / n:.2f} MB per recording)")


if __name__ == "__main__":
    main()
