"""Training-side search for a stronger MiniRocket-feature student (issue 14): can any cheap change to
the features or the training set beat the ridge-head minirocket student *on the training side*?

Every number is leave-one-subject-out cross-validation over the four UTD-MHAD cross-subject training
subjects (1, 3, 5, 7: fit on three, score the fourth) and the mean of 2 MiniRocket seeds; ``val7`` is the
fold that holds out subject 7, the single validation subject of the default selection. The test
subjects are never read. Features: aeon's ``MiniRocket`` transform (equal to vskd's torch transform),
standardised, then ``RidgeClassifierCV(alphas=logspace(-3, 3, 10))``, the student's closed-form head.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python scripts/explore_minirocket.py variants
    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python scripts/explore_minirocket.py augment
    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python scripts/explore_minirocket.py peers

``variants``: input channels (x, y, z; + first differences; + magnitude), one transform of the
differences apart (MultiRocket's idea, ``sep``), 504 to 40 000 features. ``augment``: the ridge fitted
on the training windows plus 4 or 9 augmented copies of each (vskd's raw-signal augmentation). ``peers``:
aeon's classifiers with their defaults on the same folds. Results: docs/results/raw-students.md, section 6.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

FOLDS = (1, 3, 5, 7)


def load(root: str | None):
    from vskd.config import load_config
    from vskd.engine.builders import load_data
    from vskd.engine.peers import peer_windows

    cfg = load_config("src/vskd/configs/utd-mhad/raw-minirocket-trained.yaml", [f"data.root={root}"] if root else [])
    _, splits, _ = load_data(cfg)
    recs = list(splits.train) + list(splits.val)  # the training side only
    x, y = peer_windows(recs, tuple(cfg.student.input.axes), 180)
    return x, y, np.array([r.key.subject for r in recs]), tuple(cfg.student.input.axes)


def ridge_score(ftr, ytr, fte, yte) -> float:
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(ftr)
    r = RidgeClassifierCV(alphas=np.logspace(-3, 3, 10)).fit(sc.transform(ftr), ytr)
    return float((r.predict(sc.transform(fte)) == yte).mean())


def channels(x, kind: str):
    d = np.diff(x, axis=2, prepend=x[:, :, :1])
    mag = np.linalg.norm(x, axis=1, keepdims=True)
    return {"xyz": x, "xyz+d": np.concatenate([x, d], 1), "xyz+mag": np.concatenate([x, mag], 1),
            "xyz+d+mag": np.concatenate([x, d, mag], 1)}[kind]


def features(xtr, xte, kind, n, seed, sep):
    from aeon.transformations.collection.convolution_based import MiniRocket

    parts = [(xtr, xte), (np.diff(xtr, axis=2), np.diff(xte, axis=2))] if sep else \
        [(channels(xtr, kind), channels(xte, kind))]
    ftr, fte = [], []
    for a, b in parts:  # one transform per part, fitted on its training windows
        t = MiniRocket(n_kernels=n, random_state=seed).fit(a)
        ftr.append(np.asarray(t.transform(a)))
        fte.append(np.asarray(t.transform(b)))
    return np.hstack(ftr), np.hstack(fte)


def report(name, acc, t0):
    a = np.asarray(acc) * 100  # (seeds, folds)
    print(f"| {name} | {a[:, FOLDS.index(7)].mean():.1f} | {a.mean():.1f} | "
          f"{' / '.join(f'{v:.1f}' for v in a.mean(0))} | {time.time() - t0:.0f} |", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=["variants", "augment", "peers"])
    p.add_argument("--root", help="UTD-MHAD folder (default: the config's data.root)")
    args = p.parse_args(argv)
    x, y, subj, axes = load(args.root)
    print("| variant | val7 | LOSO CV mean | folds 1 / 3 / 5 / 7 | s |\n|---|---:|---:|---|---:|")
    if args.mode == "variants":
        for kind, n, sep in [("xyz", 10000, False), ("xyz+d", 10000, False), ("xyz+mag", 10000, False),
                             ("xyz+d+mag", 10000, False), ("xyz", 10000, True), ("xyz", 20000, False),
                             ("xyz", 40000, False), ("xyz+d", 20000, False), ("xyz", 504, False),
                             ("xyz", 1008, False), ("xyz", 2016, False), ("xyz+d", 504, False),
                             ("xyz+d", 1008, False)]:
            t0 = time.time()
            acc = []
            for seed in (0, 1):
                row = []
                for s in FOLDS:
                    tr, te = subj != s, subj == s
                    ftr, fte = features(x[tr], x[te], kind, n, seed, sep)
                    row.append(ridge_score(ftr, y[tr], fte, y[te]))
                acc.append(row)
            report(f"{kind}, {n} features{', differences apart' if sep else ''}", acc, t0)
    elif args.mode == "augment":
        from aeon.transformations.collection.convolution_based import MiniRocket

        from vskd.data.augment import SignalAugment
        from vskd.data.resample import resample_linear

        def fold(k, aug, seed, m):
            xs, ys = [x[~m]], [y[~m]]
            rng = np.random.default_rng(seed)
            for _ in range(k):
                xs.append(np.stack([resample_linear(aug(w.T, axes, rng), 180).T for w in x[~m]]))
                ys.append(y[~m])
            t = MiniRocket(random_state=seed).fit(x[~m])
            return ridge_score(np.asarray(t.transform(np.concatenate(xs))), np.concatenate(ys),
                               np.asarray(t.transform(x[m])), y[m])

        for name, k, aug in [("none", 0, SignalAugment()), ("rotate 15, x4", 4, SignalAugment(rotate=15)),
                             ("scale 0.1, x4", 4, SignalAugment(scale=0.1)),
                             ("time warp 0.2, x4", 4, SignalAugment(time_warp=0.2)),
                             ("jitter 0.02, x4", 4, SignalAugment(jitter=0.02)),
                             ("all four, x4", 4, SignalAugment(rotate=15, scale=0.1, time_warp=0.2, jitter=0.02)),
                             ("all four, x9", 9, SignalAugment(rotate=15, scale=0.1, time_warp=0.2, jitter=0.02)),
                             ("rotate 30, x4", 4, SignalAugment(rotate=30)),
                             ("rotate 15 + time warp 0.2, x4", 4, SignalAugment(rotate=15, time_warp=0.2))]:
            t0 = time.time()
            report(name, [[fold(k, aug, seed, subj == s) for s in FOLDS] for seed in (0, 1)], t0)
    else:
        import aeon.classification.convolution_based as cb

        for name in ("MiniRocketClassifier", "MultiRocketClassifier", "HydraClassifier", "RocketClassifier"):
            t0 = time.time()
            acc = [[float((getattr(cb, name)(random_state=0).fit(x[subj != s], y[subj != s]).predict(x[subj == s])
                           == y[subj == s]).mean()) for s in FOLDS]]
            report(f"{name} (aeon, random_state 0)", acc, t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
