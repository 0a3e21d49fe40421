"""``vskd train-teacher``, ``vskd train-student`` and ``vskd distill``: one YAML config each."""

from __future__ import annotations

import json


def _common(p) -> None:
    p.add_argument("--config", "-c", help="experiment YAML (see configs/); defaults when omitted")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set student.train.lr=1e-3 (repeatable)")
    p.add_argument("--out", help="run folder (default: <out_dir>/<name>/<job>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_parser(sub) -> None:
    p = sub.add_parser("train-teacher", help="train the video teacher (TRN) with cross-entropy")
    _common(p)
    p.set_defaults(func=lambda a: _run(a, "train_teacher", "teacher"))
    p = sub.add_parser("train-student", help="train the GAF student alone (the no-KD baseline)")
    _common(p)
    p.set_defaults(func=lambda a: _run(a, "train_student", "student"))
    p = sub.add_parser("distill", help="distil a trained teacher into the GAF student (--method, default dask)")
    _common(p)
    p.add_argument("--method", help="distillation method (see `vskd methods`); overrides distill.method")
    p.add_argument("--teacher", help="teacher checkpoint (best.pt of train-teacher); overrides distill.teacher_checkpoint")
    p.set_defaults(func=lambda a: _run(a, "distill", None))


def _run(args, job: str, sub: str | None) -> int:
    from pathlib import Path

    from vskd.config import load_config
    from vskd.engine import jobs

    overrides = list(args.overrides)
    if getattr(args, "method", None):
        overrides.append(f"distill.method={args.method}")
    if getattr(args, "teacher", None):
        overrides.append(f"distill.teacher_checkpoint={args.teacher}")
    cfg = load_config(args.config, overrides)
    sub = sub or cfg.distill.method
    out = args.out or str(Path(cfg.out_dir) / cfg.name / sub)
    from vskd.data.cache import default_cache_dir
    from vskd.io import prepare_output_dir

    prepare_output_dir(out, "--out" if args.out else "the run folder (out_dir/name/job)")
    if cfg.data.cache_dir:
        prepare_output_dir(cfg.data.cache_dir, "config key 'data.cache_dir':")
    else:
        prepare_output_dir(default_cache_dir(), "the cache folder (data.cache_dir, $VSKD_CACHE or ~/.cache/vskd)")
    if cfg.data.selection == "cv":  # leave-one-group-out folds, the chosen epoch, a refit (vskd.engine.cv)
        from vskd.engine.cv import cross_validate

        summary = cross_validate(cfg, out, getattr(jobs, job), resume=args.resume, progress=not args.quiet)
    else:
        summary = getattr(jobs, job)(cfg, out, resume=args.resume, progress=not args.quiet)
    print(json.dumps(summary, indent=2))
    print(f"[vskd] results in {out}")
    return 0
