"""Train the skeleton teacher on real UTD-MHAD (cross-subject) and print its accuracy.

    .venv/bin/python scripts/skeleton_teacher_check.py [--root ../shared/data/utd-mhad] [--epochs 120]

Protocol: train subjects 1, 3, 5, validation subject 7 (held out of the training side), test subjects
2, 4, 6, 8. Skeletons are prepared with :func:`vskd.models.skeleton.prepare_skeleton` (length 32),
augmented in training (rotation about the vertical axis, scaling). The model is selected on
validation accuracy; the test split is evaluated once, with that model. CPU, one thread.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vskd.data.datasets import load_recordings
from vskd.data.protocols import make_splits
from vskd.data.skeleton import augment_skeleton, prepare_skeleton
from vskd.models.skeleton import SkeletonTeacher
from vskd.seed import seed_everything


def _arrays(recs, length: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.stack([prepare_skeleton(r.load("skeleton"), length) for r in recs])
    y = np.array([r.label for r in recs], dtype=np.int64)
    return x, y


@torch.no_grad()
def _accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    pred = model(torch.from_numpy(x)).argmax(1).numpy()
    return float((pred == y).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "utd-mhad"))
    ap.add_argument("--length", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=120)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-augment", action="store_true")
    args = ap.parse_args()

    torch.set_num_threads(1)
    seed_everything(args.seed)
    recs = load_recordings("utd-mhad", args.root, modalities=["skeleton"])
    splits = make_splits(recs, "cross-subject", train_subjects=[1, 3, 5, 7], test_subjects=[2, 4, 6, 8],
                         val_subjects=[7])
    xtr, ytr = _arrays(splits.train, args.length)
    xva, yva = _arrays(splits.val, args.length)
    xte, yte = _arrays(splits.test, args.length)
    print(f"train {len(ytr)}  val {len(yva)}  test {len(yte)}  (length {args.length})")

    model = SkeletonTeacher(num_classes=27, hidden=args.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    rng = np.random.default_rng(args.seed)
    best = (-1.0, 0, None)
    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = rng.permutation(len(ytr))
        total = 0.0
        for i in range(0, len(order), args.batch_size):
            idx = order[i:i + args.batch_size]
            xb = xtr[idx] if args.no_augment else np.stack([augment_skeleton(xtr[k], rng) for k in idx])
            loss = nn.functional.cross_entropy(model(torch.from_numpy(xb)), torch.from_numpy(ytr[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        val = _accuracy(model, xva, yva)
        if val > best[0]:
            best = (val, epoch, copy.deepcopy(model.state_dict()))
        if epoch % 10 == 0 or epoch == args.epochs:
            print(f"epoch {epoch:3d}  loss {total / len(ytr):.3f}  train {_accuracy(model, xtr, ytr):.3f}  "
                  f"val {val:.3f}  ({time.perf_counter() - t0:.0f} s)")
    last_test = _accuracy(model, xte, yte)
    model.load_state_dict(best[2])
    print(f"last epoch: test {last_test:.3f}")
    print(f"best val {best[0]:.3f} at epoch {best[1]}; test (subjects 2, 4, 6, 8) {_accuracy(model, xte, yte):.3f}; "
          f"{time.perf_counter() - t0:.0f} s CPU (1 thread)")


if __name__ == "__main__":
    main()
