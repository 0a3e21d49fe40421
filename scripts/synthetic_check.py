"""Separability check of the synthetic dataset (and its picture).

How much does each modality tell about the class with *simple* features and a linear classifier?
Cross-subject: train on the odd subjects, test on the even ones; a standardised multinomial logistic
regression (scikit-learn) per feature set:

* ``acc``       the accelerometer (3 axes) linearly resampled to 32 steps, plus per-axis mean and std;
* ``acc-spec``  per-axis |FFT| (first 40 bins of a 128-point transform) plus mean and std
                (phase-invariant: what a periodic, phase-free detector could use);
* ``video``     motion-energy features of the RGB clip: the silhouette occupancy (fraction of frames a
                pixel differs from the per-row background) and the motion energy (fraction of frame
                differences above a threshold), both sampled on a grid over a square crop centred on
                the silhouette's bounding box (Bobick & Davis, TPAMI 2001), plus the crop's size;
* ``skeleton``  mean and std over time of every joint's height and horizontal distance from the
                pelvis (invariant to the facing direction).

Per confusable pair the classifier is trained on that pair only (chance 50%); ``overall`` uses all
classes; ``acc merged`` scores the accelerometer with each confusable pair merged into one class.

Usage::

    .venv/bin/python scripts/synthetic_check.py                      # demo preset, seeds 0 1 2
    .venv/bin/python scripts/synthetic_check.py --figure docs/img/synthetic_frames.png
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vskd.data.recording import Recording
from vskd.data.synthetic import CONFUSABLE_PAIRS, SYNTHETIC_ACTIONS, make_synthetic


def acc_features(rec: Recording, steps: int = 32) -> np.ndarray:
    x = rec.load("inertial").select(("acc_x", "acc_y", "acc_z"))
    grid = np.linspace(0, len(x) - 1, steps)
    rs = np.stack([np.interp(grid, np.arange(len(x)), x[:, i]) for i in range(3)], axis=1)
    return np.concatenate([rs.ravel(), x.mean(0), x.std(0)])


def acc_spectrum_features(rec: Recording) -> np.ndarray:
    x = rec.load("inertial").select(("acc_x", "acc_y", "acc_z"))
    spec = np.abs(np.fft.rfft(x - x.mean(0), n=128, axis=0))[:40]
    return np.concatenate([spec.ravel(), x.mean(0), x.std(0)])


def video_features(rec: Recording, grid: int = 24, threshold: float = 0.1) -> np.ndarray:
    v = rec.load("rgb").astype(np.float64) / 255.0  # (T, H, W, 3)
    background = np.median(v, axis=(0, 2))  # (H, 3): wall and floor are uniform along a row
    fg = np.abs(v - background[None, :, None]).max(-1) > threshold
    moving = np.abs(np.diff(v, axis=0)).max(-1) > threshold
    rows, cols = np.nonzero(fg.any(0))
    if rows.size == 0:
        rows, cols = np.array([0, v.shape[1] - 1]), np.array([0, v.shape[2] - 1])
    side = max(rows.max() + 1 - rows.min(), cols.max() + 1 - cols.min())
    rc, cc = (rows.min() + rows.max() + 1) / 2, (cols.min() + cols.max() + 1) / 2
    offs = (np.arange(grid) + 0.5) * side / grid - side / 2
    ri = np.clip((rc + offs).astype(int), 0, v.shape[1] - 1)
    ci = np.clip((cc + offs).astype(int), 0, v.shape[2] - 1)
    crop = np.ix_(ri, ci)
    return np.concatenate([fg.mean(0)[crop].ravel(), moving.mean(0)[crop].ravel(), [side / v.shape[1]]])


def skeleton_features(rec: Recording) -> np.ndarray:
    s = rec.load("skeleton")  # (J, 3, T), world metres, z up
    rel = s - s[:1]
    # invariant to the facing direction: each joint's height and horizontal distance from the pelvis
    inv = np.stack([s[:, 2], np.hypot(rel[:, 0], rel[:, 1])], axis=1)  # (J, 2, T)
    return np.concatenate([inv.mean(-1).ravel(), inv.std(-1).ravel()])


FEATURES = {
    "acc": acc_features,
    "acc-spec": acc_spectrum_features,
    "video": video_features,
    "skeleton": skeleton_features,
}


def cross_subject_accuracy(X: np.ndarray, y: np.ndarray, subjects: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Fit on odd subjects, score on even subjects (restricted to ``mask``)."""
    mask = np.ones(len(y), bool) if mask is None else mask
    train, test = mask & (subjects % 2 == 1), mask & (subjects % 2 == 0)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
    clf.fit(X[train], y[train])
    return float((clf.predict(X[test]) == y[test]).mean())


def separability(recs: list[Recording], features: dict = FEATURES) -> dict[str, dict[str, float]]:
    y = np.array([r.label for r in recs])
    subjects = np.array([r.key.subject for r in recs])
    names = np.array([SYNTHETIC_ACTIONS[r.key.action - 1] for r in recs])
    present = set(names)
    out: dict[str, dict[str, float]] = {}
    for fname, fn in features.items():
        X = np.array([fn(r) for r in recs])
        row = {"overall": cross_subject_accuracy(X, y, subjects)}
        if fname == "acc":
            merged = y.copy()
            for a, b in CONFUSABLE_PAIRS:
                if a in present and b in present:
                    merged[names == b] = y[names == a][0]
            row["merged"] = cross_subject_accuracy(X, merged, subjects)
        for a, b in CONFUSABLE_PAIRS:
            if a in present and b in present:
                row[f"{a}/{b}"] = cross_subject_accuracy(X, y, subjects, np.isin(names, [a, b]))
        out[fname] = row
    return out


def frames_figure(path: Path, preset: str = "demo", seed: int = 0, frames: int = 6) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = make_synthetic(preset, seed=seed, trials=1)
    actions = sorted({r.key.action for r in recs})
    fig, axes = plt.subplots(len(actions), frames, figsize=(1.3 * frames, 1.4 * len(actions)))
    for i, a in enumerate(actions):
        rec = next(r for r in recs if r.key.action == a and r.key.subject == 1 + i % 8)
        video = rec.load("rgb")
        fractions = np.linspace(0.15, 0.85, frames)
        idx = (fractions * len(video)).astype(int)
        for j, k in enumerate(idx):
            ax = axes[i, j]
            ax.imshow(video[k], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(f"{SYNTHETIC_ACTIONS[a - 1]}\n(subject {rec.key.subject})", fontsize=7)
            if i == 0:
                ax.set_title(f"{fractions[j]:.0%} of clip", fontsize=7)
    fig.suptitle(f"vskd synthetic ({preset}, seed {seed}): one recording per class", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="make_synthetic overrides (Python literals)"
    )
    ap.add_argument("--figure", type=Path, default=None, help="also write the frames picture here")
    args = ap.parse_args()
    import ast

    overrides = {}
    for item in args.set:
        k, v = item.split("=", 1)
        try:
            overrides[k] = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            overrides[k] = v
    rows: dict[str, dict[str, list[float]]] = {}
    for seed in args.seeds:
        t0 = time.perf_counter()
        recs = make_synthetic(args.preset, seed=seed, **overrides)
        res = separability(recs)
        print(f"seed {seed}: {len(recs)} recordings, {time.perf_counter() - t0:.1f} s")
        for fname, row in res.items():
            print(f"  {fname:9s} " + "  ".join(f"{k} {v:.3f}" for k, v in row.items()))
            for k, v in row.items():
                rows.setdefault(fname, {}).setdefault(k, []).append(v)
    if len(args.seeds) > 1:
        print(f"mean over seeds {args.seeds}:")
        for fname, row in rows.items():
            print(f"  {fname:9s} " + "  ".join(f"{k} {np.mean(v):.3f}" for k, v in row.items()))
    if args.figure is not None:
        frames_figure(args.figure, args.preset)
        print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
