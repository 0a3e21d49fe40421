"""Cost of one minirocket-student fit (one cross-validation fold's worth of work) against another checkout.

    .venv/bin/python benchmarks/fit_cost.py --ref /tmp/oldtree/src [--repeats 3] [--epochs 40]

``--ref`` is the ``src`` folder of another vskd checkout (e.g. ``git worktree add /tmp/old <commit>``).
Each repeat trains ``configs/utd-mhad/raw-minirocket-trained.yaml`` (UTD-MHAD, the 4 training subjects
minus validation subject 7, ``--epochs`` epochs, test read at the end) once with each tree, in fresh
subprocesses with one torch thread, alternating, and times MiniRocket's feature transform of 64 windows
in each tree too. Prints the median over repeats of each and the ratio ref / this tree, all measured in
one invocation, and checks that both trees reach the same validation and test accuracy (the speed-ups
of this tree are meant to change no number).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time, tempfile, torch
torch.set_num_threads(1)
from vskd.config import load_config
from vskd.engine.jobs import train_student
from vskd.models.minirocket import MiniRocketFeatures
cfg_path, root, epochs = sys.argv[1], sys.argv[2], sys.argv[3]
torch.manual_seed(0)
x = torch.cumsum(torch.randn(64, 3, 180), dim=2)
m = MiniRocketFeatures(3).fit(x, seed=0)
m(x)
t = time.perf_counter(); m(x); feats = time.perf_counter() - t
cfg = load_config(cfg_path, [f"student.train.epochs={epochs}", f"data.root={root}"])
with tempfile.TemporaryDirectory() as d:
    t = time.perf_counter()
    res = train_student(cfg, d, resume=False, progress=False)
    fit = time.perf_counter() - t
print(json.dumps({"fit_s": fit, "features_64_s": feats, "val": res["val"]["accuracy"], "test": res["test"]["accuracy"]}))
"""


def run(src: Path, args) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(REPO / "configs/utd-mhad/raw-minirocket-trained.yaml"),
                          args.root, str(args.epochs)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", type=Path, required=True, help="src folder of the checkout to compare with")
    ap.add_argument("--root", default=str(REPO.parent / "shared" / "data" / "utd-mhad"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=40)
    args = ap.parse_args(argv)
    trees = {"ref": args.ref.resolve(), "this": REPO / "src"}
    runs: dict[str, list[dict]] = {k: [] for k in trees}
    for i in range(args.repeats):
        for name, src in trees.items():
            runs[name].append(run(src, args))
            print(f"repeat {i + 1} {name}: {runs[name][-1]}", flush=True)
    med = {k: {m: statistics.median(r[m] for r in v) for m in ("fit_s", "features_64_s")} for k, v in runs.items()}
    same = all(a["val"] == b["val"] and a["test"] == b["test"] for a, b in zip(runs["ref"], runs["this"]))
    print(f"\n{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores; {args.epochs} epochs, "
          f"{args.repeats} repeats, 1 thread; ref = {trees['ref']}")
    print("| measure | ref (s) | this tree (s) | ref / this |\n|---|---|---|---|")
    for m, label in (("fit_s", f"one fit ({args.epochs} epochs + test)"), ("features_64_s", "features of 64 windows")):
        print(f"| {label} | {med['ref'][m]:.2f} | {med['this'][m]:.2f} | {med['ref'][m] / med['this'][m]:.2f}x |")
    print(f"same validation and test accuracy in every repeat: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
