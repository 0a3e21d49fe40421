"""1-seed UTD-MHAD accuracy of each raw-signal student (issue 14), one thread, selection on validation.

Trains ``configs/utd-mhad/raw-<arch>.yaml`` (minirocket: ``raw-minirocket-trained.yaml``) for each arch with ``vskd train-student`` (best epoch chosen
on the validation subject; the test split is read once, from that checkpoint) and prints one table row
per student: parameters, best epoch, validation and test accuracy, wall time.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/raw_students_utd.py --out runs/raw-quick
    OMP_NUM_THREADS=1 .venv/bin/python scripts/raw_students_utd.py --archs watch1d --epochs 10 --out /tmp/r
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ARCHS = ("minirocket", "watch1d", "inception1d")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, help="override student.train.epochs (default: the config's)")
    p.add_argument("--root", help="UTD-MHAD folder (default: the config's data.root)")
    p.add_argument("--configs", type=Path, default=Path(__file__).resolve().parents[1] / "configs" / "utd-mhad")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--resume", action="store_true", help="continue runs that stopped")
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    from vskd.config import load_config
    from vskd.engine.pipeline import train_student

    rows = []
    for arch in args.archs:
        ov = [f"seed={args.seed}"]
        if args.epochs:
            ov.append(f"student.train.epochs={args.epochs}")
        if args.root:
            ov.append(f"data.root={args.root}")
        # the trained-head minirocket recipe: raw-minirocket.yaml is the ridge head, selected by CV
        name = "raw-minirocket-trained" if arch == "minirocket" else f"raw-{arch}"
        cfg = load_config(args.configs / f"{name}.yaml", ov)
        run = args.out / f"raw-{arch}-s{args.seed}"
        if (run / "results.json").exists():
            res = json.loads((run / "results.json").read_text())
        else:
            res = train_student(cfg, run, resume=args.resume and (run / "last.pt").exists(), progress=False)
        from vskd.engine.pipeline import load_student

        student = load_student(run / "best.pt")[0]
        rows.append((arch, sum(q.numel() for q in student.parameters()), cfg.student.train.epochs, res))
        print(f"[raw] {arch}: test {100 * res['test']['accuracy']:.1f} %", file=sys.stderr, flush=True)
    print(f"| student | parameters | epochs | best epoch | val acc | test acc | test macro-F1 | wall (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for arch, n, epochs, r in rows:
        print(f"| {arch} | {n:,} | {epochs} | {r['best_epoch']} | {100 * r['val']['accuracy']:.1f} % | "
              f"{100 * r['test']['accuracy']:.1f} % | {100 * r['test']['macro_f1']:.1f} % | {r['wall_s']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
