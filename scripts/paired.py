"""Paired (seed by seed) differences of test accuracy between finished runs, for pairs that a bench
spec's single ``baseline`` column does not show (a distilled run against its controls, runs of
different benchmarks on the same seeds).

Each argument is ``A:B``, two run-folder patterns with ``{seed}`` in them; every seed whose two
``results.json`` exist is paired (vskd.engine.bench.stats.paired_difference: mean, 95 % Student-t
interval, seeds higher). Either side may instead be ``SUMMARY.json#RUN``: the per-seed test accuracies
of run ``RUN`` in a committed ``vskd bench`` summary (``docs/results/.../utd-mhad-v2.json``), for a
run whose folder is gone (the same seeds and code: the pairing is by seed either way). ``--split val``
pairs the validation accuracy instead (under ``data.selection: cv`` the cross-validation accuracy, the
figure that choices are made on; run folders only).

    python scripts/paired.py --seeds 0 1 2 3 4 \\
        "runs/w/seed{seed}/watch1d-dask:runs/w/seed{seed}/watch1d-dask-unpaired"
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def accuracy(pattern: str, seeds, split: str = "test") -> dict[str, float]:
    if ".json#" in pattern:
        if split != "test":
            raise SystemExit(f"{pattern}: a bench summary holds test accuracies only (--split {split} needs "
                             "run folders)")
        return summary_accuracy(pattern, seeds)
    out = {}
    for s in seeds:
        p = Path(pattern.format(seed=s)) / "results.json"
        if p.exists():
            out[str(s)] = 100 * json.loads(p.read_text())[split]["accuracy"]
    return out


def summary_accuracy(ref: str, seeds) -> dict[str, float]:
    """``{seed: test accuracy %}`` of run ``RUN`` in the bench summary ``PATH.json#RUN``."""
    path, run = ref.rsplit("#", 1)
    try:
        runs = json.loads(Path(path).read_text())["runs"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"{path}: not a vskd bench summary with a 'runs' table ({type(exc).__name__}: {exc})")
    if run not in runs:
        raise SystemExit(f"{path}: no run '{run}' (it has {', '.join(sorted(runs))})")
    per_seed = runs[run].get("seeds", {})
    return {str(s): 100 * per_seed[str(s)]["test_accuracy"] for s in seeds
            if str(s) in per_seed and per_seed[str(s)].get("test_accuracy") is not None}


def main(argv=None) -> int:
    from vskd.engine.bench.stats import describe, paired_difference

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pairs", nargs="+", help="A:B run-folder patterns with {seed} (or SUMMARY.json#RUN)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--split", choices=("test", "val"), default="test",
                    help="which accuracy to pair: test (default) or val (the CV accuracy of CV runs)")
    args = ap.parse_args(argv)
    print(f"| A | B | A {args.split} acc | B {args.split} acc | Δ (A − B) [95 % CI] | seeds A higher |\n"
          "|---|---|---:|---:|---|---:|")
    for pair in args.pairs:
        if ":" not in pair:
            ap.error(f"pair {pair!r}: expected A:B (two run-folder patterns)")
        a, b = pair.split(":", 1)
        ra, rb = accuracy(a, args.seeds, args.split), accuracy(b, args.seeds, args.split)
        d = paired_difference(ra, rb)
        if not d["n"]:
            print(f"| {a} | {b} | — | — | no seed has both runs | — |")
            continue
        da, db = describe(list(ra.values())), describe(list(rb.values()))
        ci = "" if d["ci95"] is None else f" [{d['ci95'][0]:+.1f}, {d['ci95'][1]:+.1f}]"
        print(f"| {Path(a).name} | {Path(b).name} | {da['mean']:.1f} ± {da['std']:.1f} | {db['mean']:.1f} ± "
              f"{db['std']:.1f} | {d['mean']:+.1f}{ci} | {d['wins']}/{d['n']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
