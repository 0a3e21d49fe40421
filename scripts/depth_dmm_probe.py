"""Probe (issue 15, depth teacher >= 85 %): frozen ImageNet features of depth motion maps + a ridge head.

Each UTD-MHAD depth clip is cut to its person box (the clip's non-zero depth, ``person_crop:
foreground``) and turned into depth motion maps (:func:`vskd.data.motion.depth_motion_maps`: front,
side and top projections, absolute differences summed over the clip, Chen et al.) for ``K = 1`` (the
classic whole-clip maps) and ``K = 3`` (three temporal segments). Each map (a view of a segment) is
one grey image, repeated to 3 channels, fed to the frozen EfficientNet-Lite0 of the packaged ImageNet
weights (1280-d global pool). A clip is the concatenation of its maps' features; the classifier is
scikit-learn's ``RidgeClassifierCV`` on standardised features (as the closed-form skeleton teacher).
A control without any backbone: the maps themselves, downsampled to 24 x 24 px, as the features.

Selection on training-side data only: 4 leave-one-subject-out folds over the training subjects 1, 3,
5, 7 (each fold's scaler and ridge fitted on the other three); test (subjects 2, 4, 6, 8) is read once
per configuration, after the CV figures are printed, and decides nothing. Features are cached in
``--cache`` (outside git; a rerun skips the extraction).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/depth_dmm_probe.py --root ../shared/data/utd-mhad \\
        --cache /work/runs-exp/dmm --size 160
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def maps(rec, size: int, segments: int) -> np.ndarray:
    """uint8 (K, 3, size, size) DMMs of the recording's person-cropped depth clip."""
    from vskd.data.frames import ClipSpec, decode_clip

    spec = ClipSpec(modality="depth", num_segments=segments, frame_size=size, crop_size=size,
                    person_crop="foreground", motion="dmm")
    return decode_clip(rec.load("depth"), spec, name=f"recording {rec.key}")


@torch.no_grad()
def encode(net, images: np.ndarray) -> np.ndarray:
    """uint8 (N, S, S) grey maps -> (N, 1280) frozen features (grey repeated to RGB in [0, 1])."""
    x = torch.from_numpy(images).float().div_(255.0).unsqueeze(1).expand(-1, 3, -1, -1).contiguous()
    return net(x).float().numpy()


def extract(recs, size: int, segments: int, cache: Path, net) -> dict[str, np.ndarray]:
    """{"lite0": (N, 3 K * 1280), "pixels": (N, 3 K * 24 * 24)} for K = ``segments``, cached per (size, K)."""
    import torchvision.transforms.v2.functional as TF
    from tqdm.auto import tqdm

    path = cache / f"dmm-lite0-{size}-k{segments}.npz"
    keys = [str(r.key) for r in recs]
    if path.exists():
        data = np.load(path)
        if list(data["keys"]) == keys:
            return {k: data[k] for k in ("lite0", "pixels")}
    out = {"lite0": [], "pixels": []}
    for rec in tqdm(recs, desc=f"depth motion maps, K = {segments}", unit="clip"):
        m = maps(rec, size, segments)  # (K, 3, S, S)
        out["lite0"].append(encode(net, m.reshape(-1, size, size)).reshape(-1))
        small = TF.resize(torch.from_numpy(m).float(), [24, 24], antialias=True)
        out["pixels"].append(small.reshape(-1).numpy() / 255.0)
    arrays = {k: np.stack(v).astype(np.float32) for k, v in out.items()}
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, keys=np.array(keys), **arrays)
    return arrays


def parse_config(name: str) -> list[str]:
    """``lite0-k1+k3,pixels-k3`` -> ["lite0-k1", "lite0-k3", "pixels-k3"] (the feature blocks concatenated)."""
    parts = []
    for block in name.split(","):
        kind, _, ks = block.partition("-")
        if kind not in ("lite0", "pixels") or not ks:
            raise SystemExit(f"--configs {name}: expected <lite0|pixels>-k<K>[+k<K>...] blocks, got {block!r}")
        parts += [f"{kind}-{k}" for k in ks.split("+")]
    return parts


def ridge_accuracy(xtr, ytr, xte, yte) -> float:
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=np.logspace(-3, 3, 10)))
    clf.fit(xtr, ytr)
    return float((clf.predict(xte) == yte).mean())


def main() -> None:
    from vskd.data.datasets import load_recordings
    from vskd.models.backbones import build_backbone

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="../shared/data/utd-mhad")
    ap.add_argument("--cache", required=True, help="folder for the cached features (outside git)")
    ap.add_argument("--size", type=int, default=160, help="side of each map fed to the backbone")
    ap.add_argument("--segments", type=int, nargs="+", default=[1, 3], help="the K values to extract")
    ap.add_argument("--configs", nargs="+", default=["lite0-k1", "lite0-k3", "lite0-k1+k3", "pixels-k1", "pixels-k3"],
                    help="feature sets: <lite0|pixels>-k<K>[+k<K>...], joined with ',' to concatenate sets")
    ap.add_argument("--out", help="write the figures as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    configs = {name: parse_config(name) for name in args.configs}  # bad names fail before the extraction

    recs = sorted(load_recordings("utd-mhad", args.root, modalities=["depth"]), key=lambda r: str(r.key))
    net, _ = build_backbone("efficientnet_lite0", "package")
    net.eval()
    start = time.perf_counter()
    feats = {}
    for k in args.segments:
        for kind, arr in extract(recs, args.size, k, Path(args.cache), net).items():
            feats[f"{kind}-k{k}"] = arr
    extract_s = time.perf_counter() - start
    y = np.array([r.label for r in recs])
    subj = np.array([r.key.subject for r in recs])
    train_subjects, test_subjects = (1, 3, 5, 7), (2, 4, 6, 8)
    tr = np.isin(subj, train_subjects)
    te = np.isin(subj, test_subjects)
    results = {"size": args.size, "extract_s": round(extract_s, 1), "configs": {}}
    for name, parts in configs.items():
        missing = [p for p in parts if p not in feats]
        if missing:
            raise SystemExit(f"--configs {name}: no features {', '.join(missing)} (expected lite0-k<K> / pixels-k<K> "
                             f"with K among --segments {' '.join(map(str, args.segments))})")
    for name, parts in configs.items():
        x = np.concatenate([feats[p] for p in parts], axis=1)
        folds = {}
        for g in train_subjects:
            fit = tr & (subj != g)
            val = subj == g
            folds[g] = 100 * ridge_accuracy(x[fit], y[fit], x[val], y[val])
        cv = float(np.mean(list(folds.values())))
        results["configs"][name] = {"cv": round(cv, 1), "folds": {str(k): round(v, 1) for k, v in folds.items()}}
        print(f"{name:14s} CV {cv:5.1f}  folds " + " ".join(f"{v:5.1f}" for v in folds.values()), flush=True)
    # test: read once per configuration, after every CV figure above
    for name, parts in configs.items():
        x = np.concatenate([feats[p] for p in parts], axis=1)
        acc = 100 * ridge_accuracy(x[tr], y[tr], x[te], y[te])
        results["configs"][name]["test"] = round(acc, 1)
        print(f"{name:14s} test {acc:5.1f}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
