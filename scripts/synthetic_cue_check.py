"""Measure the ``cue`` synthetic preset against its acceptance rule (docs/synthetic.md, "The cue preset").

Per confusable pair, on the wrist accelerometer (acc x, y, z, each recording linearly resampled to 150
samples, aeon's MiniRocket with its defaults; binary, chance 50 %):

- A, unlimited labels: leave-one-subject-out over every subject, every trial labelled;
- B, few labels: the cross-subject protocol's training side (validation subject excluded), 25 % of
  each class's recordings labelled (stratified, seed 0; what ``distill.unlabeled: {fraction: 0.25}``
  keeps), tested on the test subjects; and the same with every training recording labelled ("full");
- C, the camera: the skeleton features of scripts/synthetic_check.py (standardised logistic
  regression), cross-subject.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/synthetic_cue_check.py --seeds 1 2 [--set cue=1.5]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_check import cross_subject_accuracy, skeleton_features  # noqa: E402

from vskd.data.protocols import make_splits  # noqa: E402
from vskd.data.synthetic import CONFUSABLE_PAIRS, make_synthetic  # noqa: E402
from vskd.engine.peers import build_peer, peer_windows  # noqa: E402

AXES = ("acc_x", "acc_y", "acc_z")
LENGTH = 150


def labelled_fraction(recs, fraction: float, seed: int) -> list:
    """``fraction`` of each class's recordings (at least one), chosen with ``seed``, in key order."""
    rng = np.random.default_rng(seed)
    keep = []
    for label in sorted({r.label for r in recs}):
        idx = [i for i, r in enumerate(recs) if r.label == label]
        n = max(1, int(round(fraction * len(idx))))
        keep += list(rng.choice(idx, n, replace=False))
    return [recs[i] for i in sorted(keep)]


def minirocket_accuracy(train, test, seed: int = 0) -> float:
    X, y = peer_windows(train, AXES, LENGTH)
    Xt, yt = peer_windows(test, AXES, LENGTH)
    clf = build_peer("minirocket", {}, seed=seed)
    clf.fit(X, y)
    return float((clf.predict(Xt) == yt).mean())


def measure(seed: int, overrides: dict) -> dict:
    recs = make_synthetic("cue", seed=seed, **overrides)
    figure = make_synthetic("cue", seed=seed, **{**overrides, "skeleton_layout": "figure"})  # C's features
    name = {r.label: r.source("inertial").meta["action_name"] for r in recs}
    splits = make_splits(recs, "cross-subject")
    out = {"seed": seed, "overrides": overrides, "val_subjects": sorted({r.key.subject for r in splits.val})}
    scarce = labelled_fraction(splits.train, 0.25, 0)
    out["train_recordings"] = {"full": len(splits.train), "scarce": len(scarce)}
    for a, b in CONFUSABLE_PAIRS:
        in_pair = lambda rs: [r for r in rs if name[r.label] in (a, b)]  # noqa: E731
        pair = in_pair(recs)
        subjects = sorted({r.key.subject for r in pair})
        loso = []
        for s in subjects:
            loso.append(minirocket_accuracy([r for r in pair if r.key.subject != s],
                                            [r for r in pair if r.key.subject == s], seed=0))
        test = in_pair(splits.test)
        X = np.stack([skeleton_features(r) for r in in_pair(figure)])
        y = np.array([r.label for r in pair])
        subj = np.array([r.key.subject for r in pair])
        odd = subj % 2 == 1
        out[f"{a}/{b}"] = {
            "A_loso": float(np.mean(loso)),
            "B_scarce": minirocket_accuracy(in_pair(scarce), test),
            "full_cross_subject": minirocket_accuracy(in_pair(splits.train), test),
            "C_skeleton": _skeleton_cross_subject(X, y, odd),
        }
    pairs = [out[f"{a}/{b}"] for a, b in CONFUSABLE_PAIRS]
    out["accept"] = {
        "A": all(p["A_loso"] >= 0.80 for p in pairs),
        "B": np.mean([p["A_loso"] for p in pairs]) - np.mean([p["B_scarce"] for p in pairs]) >= 0.10,
        "C": all(p["C_skeleton"] >= 0.95 for p in pairs),
    }
    out["accept"] = {k: bool(v) for k, v in out["accept"].items()}
    return out


def _skeleton_cross_subject(X, y, train_mask) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    clf.fit(X[train_mask], y[train_mask])
    return float((clf.predict(X[~train_mask]) == y[~train_mask]).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="a synthetic option, e.g. cue=1.5")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    overrides = {k: float(v) for k, v in (s.split("=", 1) for s in args.sets)}
    results = []
    for seed in args.seeds:
        t0 = time.time()
        r = measure(seed, overrides)
        results.append(r)
        print(f"seed {seed} {overrides or ''} ({time.time() - t0:.0f} s; train {r['train_recordings']})")
        print("| pair | A: LOSO, all labels | B: cross-subject, 25 % labels | cross-subject, all labels | C: skeleton |")
        print("|---|---|---|---|---|")
        for a, b in CONFUSABLE_PAIRS:
            p = r[f"{a}/{b}"]
            print(f"| {a} / {b} | {p['A_loso']:.3f} | {p['B_scarce']:.3f} | {p['full_cross_subject']:.3f} | {p['C_skeleton']:.3f} |")
        print("accept:", r["accept"], flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
