"""Where the closed-form depth teacher's (``teacher.arch: dmm_ridge``) time goes, and what the feature cache saves.

    PYTHONPATH=src .venv/bin/python benchmarks/dmm_teacher.py \
        [--config configs/utd-mhad/depth-dmm-ridge.yaml] [--clips 8] [--repeats 3] [--threads 1 2]

On the first ``--clips`` training recordings of the config, in one process:

1. **maps**: decoding the depth ``.mat`` and the DMM pyramid (person crop, ``dmm_segments``), per clip;
2. **backbone**: the frozen backbone over the clip's 3 N views, per clip, for each ``--threads`` value
   (``torch.set_num_threads``), median of ``--repeats`` passes over the clips, with the in-memory memo and
   the disk store off (so every pass computes);
3. **cached read**: the same features read back from a fresh on-disk store (``feature_store``), per clip;
4. **ridge fit**: standardisation + ``ridge_head`` on features of the full training split's shape
   (431 clips x F, random numbers: the fit's cost depends on the shape only), seconds.

Prints each figure, the ratio backbone / cached read (what a fit, a CV fold or a distillation run saves
per clip once the features exist), and the extrapolation to all 861 UTD-MHAD clips (the first extraction)
and to one fit on the training split from the cache.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from vskd.config import load_config
from vskd.data.cache import ArrayCache
from vskd.data.frames import clip_transform, decode_clip
from vskd.engine import builders

REPO = Path(__file__).resolve().parents[1]
ALL_CLIPS, TRAIN_CLIPS = 861, 431


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(REPO / "configs" / "utd-mhad" / "depth-dmm-ridge.yaml"))
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    cfg = load_config(args.config, args.overrides)
    if cfg.teacher.arch != "dmm_ridge":
        raise SystemExit(f"{args.config}: the config must set teacher.arch: dmm_ridge")
    torch.set_num_threads(1)
    _, splits, names = builders.load_data(cfg)
    recs = splits.train[: args.clips]
    spec = builders.clip_spec(cfg)
    print(f"# {platform.node()} {platform.processor() or platform.machine()}, torch {torch.__version__}; "
          f"{len(recs)} clips, {spec.num_images} maps x 3 views at {spec.frame_size} px, backbone {cfg.teacher.backbone}")

    t0 = time.perf_counter()
    xs = [clip_transform(decode_clip(r.load("depth"), spec, name=str(r.key)), spec, train=False).unsqueeze(0)
          for r in recs]
    maps_s = (time.perf_counter() - t0) / len(recs)
    print(f"maps (decode + DMM pyramid): {1000 * maps_s:.0f} ms a clip")

    teacher = builders.build_teacher(cfg, len(names))
    teacher.feature_store = None

    def per_clip() -> float:
        """Median over ``--repeats`` passes of the seconds of view_features per clip (memo cleared each pass)."""
        runs = []
        for _ in range(args.repeats):
            teacher._memo.clear()
            t = time.perf_counter()
            for x in xs:
                teacher.view_features(x)
            runs.append((time.perf_counter() - t) / len(xs))
        return statistics.median(runs)

    backbone = {}
    for n in args.threads:
        torch.set_num_threads(n)
        backbone[n] = per_clip()
        print(f"backbone, {n} thread(s): {backbone[n]:.2f} s a clip (median of {args.repeats}; "
              f"{1000 * backbone[n] / (3 * spec.num_images):.1f} ms a view)")
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        teacher.feature_store = ArrayCache(Path(tmp), compress=False)
        teacher._memo.clear()
        for x in xs:
            teacher.view_features(x)  # store
        read_s = per_clip()
    print(f"cached read (disk store, input digest included): {1000 * read_s:.1f} ms a clip")

    feats = torch.randn(TRAIN_CLIPS, teacher.feature_dim)
    labels = torch.arange(TRAIN_CLIPS) % len(names)
    from vskd.models.minirocket import ridge_head

    t = time.perf_counter()
    teacher.scale.fit(feats)
    ridge_head(teacher.fc0, teacher.fc1, teacher.scale(feats), labels)
    fit_s = time.perf_counter() - t
    print(f"ridge fit ({TRAIN_CLIPS} x {teacher.feature_dim}): {fit_s:.1f} s")

    best = min(backbone.values())
    print(f"ratio backbone / cached read: {best / read_s:.0f}x")
    print(f"first extraction, all {ALL_CLIPS} clips at the best thread count: "
          f"{ALL_CLIPS * (maps_s + best) / 60:.1f} min; a fit from the cache: "
          f"{(TRAIN_CLIPS * read_s + fit_s) / 60:.1f} min (maps come from the clip cache then)")


if __name__ == "__main__":
    main()
