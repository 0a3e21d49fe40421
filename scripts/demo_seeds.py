"""Summarise `vskd demo` over seeds: mean ± std of each row, and the distilled student's paired Δ.

    for s in 0 1 2 3 4; do vskd --threads 1 demo --quiet --seed $s --out runs/demo5/seed$s; done
    python scripts/demo_seeds.py runs/demo5/seed*

Reads each folder's demo.json (written by `vskd demo`); prints a markdown table: per setting (all
labels, label-scarce) and model, test accuracy and macro-F1 (%, mean ± std over the seeds), and for
the distilled student and the peer the paired difference against the student alone of the same seed
(mean and 95 % Student-t interval, engine.bench.stats.paired_difference; wins = seeds above).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from vskd.engine.bench.stats import describe, paired_difference

SETTINGS = (("full", "all labels"), ("scarce", "25 % labelled"))
ROLES = (("peer", "MiniRocket peer (wrist, no camera)"), ("student", "student alone"),
         ("teacher", "teacher (skeleton)"), ("distilled", "distilled student (dask)"))


def main(folders: list[str]) -> None:
    runs = {}
    for f in folders:
        path = Path(f) / "demo.json"
        if not path.is_file():
            sys.exit(f"{path}: no demo.json (run `vskd demo --out {f}` first)")
        runs[Path(f).name] = json.loads(path.read_text())
    print(f"seeds: {', '.join(sorted(runs))}\n")
    print("| labels | model | test acc (%) | test macro-F1 (%) | Δ acc vs student alone (95 % CI), wins |")
    print("|---|---|---:|---:|---|")
    for key, label in SETTINGS:
        acc = {r: {s: 100 * d[key][r]["test"]["accuracy"] for s, d in runs.items() if key in d} for r, _ in ROLES}
        f1 = {r: {s: 100 * d[key][r]["test"]["macro_f1"] for s, d in runs.items() if key in d} for r, _ in ROLES}
        for role, name in ROLES:
            if not acc[role]:
                continue
            a, m = describe(list(acc[role].values())), describe(list(f1[role].values()))
            delta = ""
            if role in ("distilled", "peer"):
                p = paired_difference(acc[role], acc["student"])
                ci = f" [{p['ci95'][0]:+.1f}, {p['ci95'][1]:+.1f}]" if p["ci95"] else ""
                delta = f"{p['mean']:+.1f}{ci}, {p['wins']}/{p['n']}"
            print(f"| {label} | {name} | {a['mean']:.1f} ± {a['std'] or 0:.1f} | {m['mean']:.1f} ± {m['std'] or 0:.1f} | {delta} |")


if __name__ == "__main__":
    main(sys.argv[1:])
