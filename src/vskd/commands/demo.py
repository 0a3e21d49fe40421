"""``vskd demo``: the whole method on the embedded synthetic dataset, in a few minutes on a CPU.

Generates the synthetic dataset, trains the video teacher, the sensor-only student and the DASK
student (same config, same seed), and prints one table of test accuracy and macro-F1. Finished parts
are reused when the demo is run again with the same ``--out`` (delete the folder to start afresh).
"""

from __future__ import annotations

import json
from pathlib import Path

DEFAULT_CONFIG = "synthetic/demo.yaml"  # shipped with the package (vskd/configs/), see vskd.resources

# --quick: the same three jobs and code path on the tiny synthetic preset, 32 px, one epoch each
# (seconds on a CPU; a smoke test of an install, not a result). Later --set overrides win.
QUICK = [
    "data.preset=tiny",
    "teacher.input.modality=rgb",
    "teacher.input.num_segments=4",
    "teacher.input.frame_size=32",
    "teacher.input.crop_size=32",
    "teacher.train.epochs=1",
    "teacher.train.batch_size=8",
    "teacher.train.lr_steps=[]",
    "student.input.out_size=32",
    "student.train.epochs=1",
    "student.train.batch_size=8",
]


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="teacher, student alone and DASK student on the synthetic dataset")
    p.add_argument("--config", "-c", default=None, help=f"config (default: the shipped {DEFAULT_CONFIG})")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--seed", type=int, default=None, help="seed (default: the config's)")
    p.add_argument("--quick", action="store_true",
                   help="tiny data, 32 px, one epoch per job: checks an install in seconds (not a result)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_run)


def run_demo(config: str | Path | None, out: str | Path, overrides: list[str], progress: bool = True) -> dict:
    from vskd.config import load_config
    from vskd.engine import jobs
    from vskd.errors import ConfigError
    from vskd.resources import config_path

    path = Path(config) if config else config_path(DEFAULT_CONFIG)
    if not path.is_file():
        raise ConfigError(f"demo config not found: {path} (pass an existing --config, or none for the shipped one)")
    from vskd.io import prepare_output_dir

    out = prepare_output_dir(out, "--out")
    rows = {}
    for job, sub in (("train_teacher", "teacher"), ("train_student", "student"), ("distill", "dask")):
        ov = list(overrides)
        if job == "distill":
            ov += [f"distill.teacher_checkpoint={out / 'teacher' / 'best.pt'}", "distill.method=dask"]
        cfg = load_config(path, ov)
        run = out / sub
        done = run / "results.json"
        if done.exists():
            print(f"[vskd demo] {sub}: reusing finished run in {run}")
            rows[sub] = json.loads(done.read_text())
            continue
        print(f"[vskd demo] {sub}: training ({run})", flush=True)
        rows[sub] = getattr(jobs, job)(cfg, run, resume=(run / "last.pt").exists(), progress=progress)
    table = format_table(rows)
    print(table)
    (out / "demo.md").write_text(table + "\n")
    (out / "demo.json").write_text(json.dumps(rows, indent=2))
    return rows


def format_table(rows: dict) -> str:
    names = {"teacher": "video teacher (TRN)", "student": "student alone (GAF ResNet18)",
             "dask": "student + DASK (VSKD)"}
    lines = ["| model | val acc | test acc | test macro-F1 |", "|---|---|---|---|"]
    for k, label in names.items():
        r = rows[k]
        lines.append(f"| {label} | {r['val']['accuracy']:.3f} | {r['test']['accuracy']:.3f} | {r['test']['macro_f1']:.3f} |")
    return "\n".join(lines)


def _run(args) -> int:
    ov = (QUICK if args.quick else []) + list(args.overrides)
    if args.seed is not None:
        ov.append(f"seed={args.seed}")
    run_demo(args.config, args.out, ov, progress=not args.quiet)
    return 0
