"""``vskd demo``: the whole method on the embedded synthetic dataset, in a few minutes on a CPU.

On the synthetic ``cue`` preset (docs/synthetic.md: the wrist carries each confusable pair's
difference, small under larger per-subject sensor nuisance; the camera sees it plainly) it runs, with
full labels and in the label-scarce setting (``distill.unlabeled``: 25 % of the training recordings
labelled, the rest unlabelled camera + wrist pairs):

- a wrist-only peer, aeon's MiniRocket (no camera, not distillable);
- the student alone (the raw-signal MiniRocket student, cross-entropy on the labelled recordings);
- the teacher (a temporal CNN on the camera's skeleton, trained on the labelled recordings);
- the distilled student (cross-entropy on the labelled recordings, the distillation terms on all pairs).

It prints one table (test accuracy, macro-F1, and the distilled student's difference from the student
alone), whatever the numbers are, and writes ``demo.md``, ``demo.json``, a bar chart ``demo.png`` and the
confusion matrices ``demo_confusion.png`` under ``--out``. Finished runs are reused when the demo is run
again with the same ``--out`` (delete the folder to start afresh).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

DEFAULT_CONFIG = "synthetic/demo.yaml"  # shipped with the package (vskd/configs/), see vskd.resources

#: the label-scarce setting: the fraction of each class's training recordings that keeps its label
SCARCE = "distill.unlabeled={fraction: 0.25, seed: 0}"
#: (key, row label, extra overrides)
SETTINGS = (("full", "all labels", []), ("scarce", "25 % labelled", [SCARCE]))
#: (key, row label) in table order
ROLES = (
    ("peer", "MiniRocket peer (aeon; wrist only, no camera)"),
    ("student", "student alone (MiniRocket student)"),
    ("teacher", "teacher (skeleton from the camera)"),
    ("distilled", "distilled student"),
)

# --quick: the same jobs and code path on a small slice of the preset (8 subjects x 2 trials), one epoch
# each (seconds on a CPU; a smoke test of an install, not a result). Later --set overrides win.
QUICK = [
    "data.synthetic={subjects: 8, trials: 2}",
    "teacher.train.epochs=1",
    "student.train.epochs=1",
]


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="peer, student alone, teacher and distilled student on the synthetic dataset")
    p.add_argument("--config", "-c", default=None, help=f"config (default: the shipped {DEFAULT_CONFIG})")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--seed", type=int, default=None, help="seed (default: the config's)")
    p.add_argument("--quick", action="store_true",
                   help="small data, one epoch per job: checks an install in seconds (not a result)")
    p.add_argument("--full-only", action="store_true", help="only the full-label rows (half the time)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_run)


def label_scarce_supported() -> bool:
    """Whether this vskd has the ``distill.unlabeled`` option (unlabelled paired recordings)."""
    from vskd.config import DistillConfig

    return "unlabeled" in {f.name for f in dataclasses.fields(DistillConfig)}


def run_demo(config: str | Path | None, out: str | Path, overrides: list[str], progress: bool = True,
             settings: tuple[str, ...] = ("full", "scarce")) -> dict:
    """Run (or reuse) every job of the demo under ``out``; return ``{setting: {role: results}}``."""
    from vskd.config import load_config
    from vskd.engine import jobs
    from vskd.engine.peers import PeerSpec, run_peer
    from vskd.errors import ConfigError
    from vskd.io import prepare_output_dir
    from vskd.resources import config_path

    path = Path(config) if config else config_path(DEFAULT_CONFIG)
    if not path.is_file():
        raise ConfigError(f"demo config not found: {path} (pass an existing --config, or none for the shipped one)")
    out = prepare_output_dir(out, "--out")
    load_config(path, list(overrides))  # a bad --set fails here, before any work
    rows: dict[str, dict] = {}
    for key, label, extra in SETTINGS:
        if key not in settings:
            continue
        if extra and not label_scarce_supported():
            print(f"[vskd demo] {label}: skipped (this vskd has no distill.unlabeled option yet)", flush=True)
            continue
        rows[key] = {}
        for role in ("teacher", "student", "distilled", "peer"):
            ov = list(extra) + list(overrides)
            if role == "distilled":
                ov.append(f"distill.teacher_checkpoint={out / key / 'teacher' / 'best.pt'}")
            cfg = load_config(path, ov)
            run = out / key / role
            done = run / "results.json"
            if done.exists():
                print(f"[vskd demo] {label}, {role}: reusing the finished run in {run}", flush=True)
                rows[key][role] = json.loads(done.read_text())
                continue
            print(f"[vskd demo] {label}, {role}: {'fitting' if role == 'peer' else 'training'} ({run})", flush=True)
            if role == "peer":
                rows[key][role] = run_peer(cfg, run, PeerSpec("minirocket"))
            else:
                job = {"teacher": jobs.train_teacher, "student": jobs.train_student, "distilled": jobs.distill}[role]
                rows[key][role] = job(cfg, run, resume=(run / "last.pt").exists(), progress=progress)
        rows[key]["method"] = load_config(path, list(overrides)).distill.method
    table = format_table(rows)
    print(table, flush=True)
    (out / "demo.md").write_text(table + "\n")
    (out / "demo.json").write_text(json.dumps(rows, indent=2))
    if rows:
        plot_demo(rows, out)
    return rows


def format_table(rows: dict) -> str:
    """One markdown table: every setting's four rows, test accuracy and macro-F1 (%), and the distilled
    student's difference from the student alone of the same setting (points)."""
    lines = ["| labels | model | test acc (%) | test macro-F1 (%) | Δ acc | Δ F1 |", "|---|---|---:|---:|---:|---:|"]
    for key, label, _ in SETTINGS:
        if key not in rows:
            continue
        r = rows[key]
        for role, name in ROLES:
            if role not in r:
                continue
            t = r[role]["test"]
            delta = ("", "")
            if role == "distilled":
                name = f"{name} ({r.get('method', '?')})"
                s = r["student"]["test"]
                delta = (f"{100 * (t['accuracy'] - s['accuracy']):+.1f}", f"{100 * (t['macro_f1'] - s['macro_f1']):+.1f}")
            lines.append(f"| {label} | {name} | {100 * t['accuracy']:.1f} | {100 * t['macro_f1']:.1f} | "
                         f"{delta[0]} | {delta[1]} |")
    return "\n".join(lines)


def plot_demo(rows: dict, out: Path) -> None:
    """``demo.png`` (test accuracy and macro-F1 per model, one group per setting) and
    ``demo_confusion.png`` (every run's test confusion matrix, from its ``test.json``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    settings = [(k, lab) for k, lab, _ in SETTINGS if k in rows]
    roles = [(r, n) for r, n in ROLES if all(r in rows[k] for k, _ in settings)]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    width = 0.8 / max(len(settings), 1)
    for ax, metric, title in zip(axes, ("accuracy", "macro_f1"), ("test accuracy (%)", "test macro-F1 (%)")):
        x = np.arange(len(roles))
        for i, (k, lab) in enumerate(settings):
            vals = [100 * rows[k][r]["test"][metric] for r, _ in roles]
            bars = ax.bar(x + (i - (len(settings) - 1) / 2) * width, vals, width, label=lab)
            ax.bar_label(bars, fmt="%.1f", fontsize=7)
        ax.set_xticks(x, [n.split(" (")[0] for _, n in roles], rotation=15, fontsize=8)
        ax.set_title(title)
        ax.set_ylim(0, 105)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle("vskd demo (synthetic 'cue' preset, cross-subject test)")
    fig.tight_layout()
    fig.savefig(out / "demo.png", dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(len(settings), len(roles), figsize=(3.2 * len(roles), 3.2 * len(settings)),
                             squeeze=False)
    for i, (k, lab) in enumerate(settings):
        for j, (r, n) in enumerate(roles):
            ax = axes[i][j]
            report = out / k / r / "test.json"
            if not report.exists():
                ax.axis("off")
                continue
            rep = json.loads(report.read_text())
            cm = np.asarray(rep["confusion"], dtype=float)
            ax.imshow(cm / np.maximum(cm.sum(1, keepdims=True), 1), vmin=0, vmax=1, cmap="Blues")
            names = rep.get("class_names", [str(c) for c in range(len(cm))])
            ax.set_xticks(range(len(cm)), names, rotation=90, fontsize=6)
            ax.set_yticks(range(len(cm)), names, fontsize=6)
            ax.set_title(f"{n.split(' (')[0]}\n{lab}: {100 * rep['accuracy']:.1f} %", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "demo_confusion.png", dpi=110)
    plt.close(fig)


def _run(args) -> int:
    ov = (QUICK if args.quick else []) + list(args.overrides)
    if args.seed is not None:
        ov.append(f"seed={args.seed}")
    settings = ("full",) if args.full_only else ("full", "scarce")
    run_demo(args.config, args.out, ov, progress=not args.quiet, settings=settings)
    return 0
