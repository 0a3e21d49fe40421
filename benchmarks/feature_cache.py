"""A teacher epoch on cached frozen-backbone features vs a fine-tuning epoch at the same resolution.

    PYTHONPATH=src .venv/bin/python benchmarks/feature_cache.py \
        [--config configs/utd-mhad/depth-teacher-cached.yaml] [--clips 16] [--repeats 3] [--threads 1]

From one config (``teacher.features.cache: true``) and the first ``--clips`` training recordings, all in
one process and on the same clips:

1. **extraction**: the frozen backbone over the frames ``teacher.features`` selects
   (:func:`vskd.data.features.extract_features`), into a fresh temporary cache, so it is timed from
   nothing (seconds, per clip, per frame);
2. **cached epoch**: training epochs of fc0 + the TRN head on TSN-sampled cached features
   (:class:`vskd.data.features.FeatureDataset`), Adam, cross-entropy;
3. **fine-tuning epoch**: the same teacher with its backbone trainable (``frozen_backbone`` off, partial
   BN as the config says) on clips of the same side (``teacher.input.crop_size``; decoded clips
   warmed first, so this is compute, not decoding), the uncached teacher's training path.

Prints the median seconds per epoch of each (``--repeats`` epochs; ``--finetune-repeats`` for the
slow one), their ratio (issue 15's goal: >= 20x), both extrapolated to the full training split, and the
extraction time of the whole dataset at the measured rate. Torch runs on ``--threads`` threads.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from vskd.config import load_config
from vskd.data.cache import ArrayCache
from vskd.data.features import FeatureDataset, extract_features
from vskd.engine import builders

REPO = Path(__file__).resolve().parents[1]


def epochs(model, loader, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` training epochs of ``model`` over ``loader`` (Adam, CE)."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-4)
    model.train()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for batch in loader:
            loss = F.cross_entropy(model(batch["teacher"]), torch.as_tensor(batch["label"]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(REPO / "configs" / "utd-mhad" / "depth-teacher-cached.yaml"))
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--clips", type=int, default=16, help="training recordings measured (the first N)")
    ap.add_argument("--repeats", type=int, default=5, help="cached epochs timed")
    ap.add_argument("--finetune-repeats", type=int, default=2, help="fine-tuning epochs timed")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.overrides)
    if not cfg.teacher.features.cache:
        raise SystemExit("the config must set teacher.features.cache: true")
    _, splits, names = builders.load_data(cfg)
    recs = splits.train[: args.clips]
    bs = cfg.teacher.train.batch_size
    torch.manual_seed(cfg.seed)
    teacher = builders.build_teacher(cfg, len(names))
    spec = builders.feature_spec(cfg, teacher)
    clip = builders.clip_spec(cfg)

    with tempfile.TemporaryDirectory() as tmp:
        cache = ArrayCache(Path(tmp), compress=False)
        teacher.backbone.eval()
        stats = extract_features(recs, clip, spec, teacher.backbone, cache, cfg.teacher.features.batch_size,
                                 progress=False)
        ds = FeatureDataset(recs, clip, spec, cache, train=True, seed=cfg.seed)
        for i in range(len(ds)):  # read into memory once (what every epoch after the first does)
            ds.features(i)
        cached = epochs(teacher, builders.loader(ds, bs, True, cfg.seed), args.repeats)

    ft_cfg = load_config(args.config, args.overrides + ["teacher.frozen_backbone=false",
                                                        "teacher.features.cache=false"])
    torch.manual_seed(cfg.seed)
    finetune = builders.build_teacher(ft_cfg, len(names))
    ft_ds = builders.paired(ft_cfg, recs, train=True, student=False, teacher=True)
    for i in range(len(ft_ds)):  # decoded clips into the clip cache: the epochs time compute
        ft_ds[i]
    tuned = epochs(finetune, builders.loader(ft_ds, bs, True, cfg.seed), args.finetune_repeats)

    n_train, n_all = len(splits.train), len(splits.train) + len(splits.val) + len(splits.test)
    c, f = statistics.median(cached), statistics.median(tuned)
    per_clip = stats["seconds"] / max(stats["extracted"], 1)
    t = cfg.teacher
    print(f"machine: {platform.processor() or platform.machine()}, {args.threads} torch thread(s), "
          f"torch {torch.__version__}")
    print(f"teacher: {t.backbone} ({t.pretrained}), {t.input.modality} {t.input.crop_size} px, "
          f"K={t.input.num_segments}, crop {t.features.crop}, "
          f"{'per_segment ' + str(t.features.per_segment) if t.features.per_segment else 'stride ' + str(t.features.stride)}")
    print(f"extraction: {stats['extracted']} clips, {stats['frames']} frames in {stats['seconds']:.1f} s "
          f"({per_clip:.2f} s/clip, {1000 * stats['seconds'] / max(stats['frames'], 1):.0f} ms/frame); "
          f"all {n_all} clips at this rate: {per_clip * n_all / 60:.1f} min")
    print(f"cached epoch ({len(recs)} clips): median {c:.3f} s of {[round(x, 3) for x in cached]}")
    print(f"fine-tuning epoch ({len(recs)} clips, {t.input.crop_size} px): median {f:.2f} s of "
          f"{[round(x, 2) for x in tuned]}")
    print(f"ratio fine-tuning / cached: {f / c:.0f}x (goal >= 20x)")
    print(f"per epoch on the {n_train} training clips: cached {c * n_train / len(recs):.1f} s, "
          f"fine-tuning {f * n_train / len(recs) / 60:.1f} min")


if __name__ == "__main__":
    main()
