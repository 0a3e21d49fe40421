"""Cost of a distillation epoch relative to a student-only epoch, with and without the teacher cache.

    .venv/bin/python benchmarks/epoch_cost.py [--config configs/synthetic/demo.yaml] [--repeats 3]

Builds the teacher (random weights: the cost does not depend on what it learned), the student and
the DASK method from one config, then times full training epochs over the same training split:

* student only (cross-entropy),
* DASK with the teacher-output cache (teacher run once per recording beforehand; its one-off cost
  is printed separately),
* DASK without the cache (the teacher runs on every batch, on clips decoded from the clip cache).

Prints the median seconds per epoch over ``--repeats`` epochs and the ratios to the student-only
epoch, all measured in one run on the same data. Data caches (GAF images, decoded clips) are warmed
first so that the figures are about compute, not first-time decoding.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from vskd.config import load_config
from vskd.engine import builders
from vskd.engine.distiller import Distiller, TeacherCache, method_features
from vskd.losses.registry import create_method

REPO = Path(__file__).resolve().parents[1]


def epoch_time(loader, step, params, repeats: int) -> list[float]:
    opt = torch.optim.Adam(params, lr=1e-4)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for batch in loader:
            loss = step(batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(REPO / "configs" / "synthetic" / "demo.yaml"))
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.overrides)
    torch.manual_seed(cfg.seed)
    _, splits, names = builders.load_data(cfg)
    bs = cfg.student.train.batch_size
    student = builders.build_student(cfg, len(names))
    teacher = builders.build_teacher(cfg, len(names)).eval()
    cfg.distill.method = "dask"
    method = create_method("dask", builders.method_options(cfg))
    _, t_names = method_features(method)

    s_ds = builders.paired(cfg, splits.train, train=True)
    st_ds = builders.paired(cfg, splits.train, train=True, teacher=True)
    ev_ds = builders.paired(cfg, splits.train, train=False, student=False, teacher=True)
    # warm the data caches (GAF images and decoded clips) so that only compute is timed
    for ds in (s_ds, st_ds):
        for i in range(len(ds)):
            ds[i]
    s_loader = builders.loader(s_ds, bs, True, cfg.seed)
    st_loader = builders.loader(st_ds, bs, True, cfg.seed)

    t0 = time.perf_counter()
    cache = TeacherCache.build(teacher, builders.loader(ev_ds, bs, False, cfg.seed), t_names, progress=False)
    cache_build = time.perf_counter() - t0

    def ce_step(batch):
        return F.cross_entropy(student(batch["student"]), batch["label"])

    with_cache = Distiller(student, teacher, method, teacher_cache=cache)
    without_cache = Distiller(student, teacher, method, teacher_cache=None)
    student.train()
    r_student = epoch_time(s_loader, ce_step, student.parameters(), args.repeats)
    r_cache = epoch_time(s_loader, lambda b: with_cache(b)[1]["loss"], with_cache.trainable.parameters(), args.repeats)
    r_live = epoch_time(st_loader, lambda b: without_cache(b)[1]["loss"], without_cache.trainable.parameters(), args.repeats)

    med = {k: statistics.median(v) for k, v in
           {"student only": r_student, "DASK, teacher cache": r_cache, "DASK, no cache": r_live}.items()}
    print(f"# epoch cost — {time.strftime('%Y-%m-%d')} — {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"# config {args.config} {' '.join(args.overrides)}; {len(s_ds)} training recordings, batch {bs}, "
          f"median of {args.repeats} epochs")
    print(f"teacher cache build (once): {cache_build:.2f} s")
    base = med["student only"]
    for k, v in med.items():
        print(f"{k:22s} {v:8.2f} s/epoch   ratio to student-only {v / base:5.2f}x")


if __name__ == "__main__":
    main()
