"""``vskd tune``: an Optuna study of a student's / method's recipe on the cross-validation folds."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("tune", help="search a recipe with Optuna on the training side's cross-validation folds "
                                    "(needs vskd[tune])")
    p.add_argument("--config", "-c", help="experiment YAML (the base of every trial)")
    p.add_argument("--space", required=True, help="search-space YAML (config path -> distribution; docs/tune.md)")
    p.add_argument("--job", default="student", choices=["student", "distill"],
                   help="what each trial trains: the student alone, or distilled (--method, --teacher)")
    p.add_argument("--method", help="distillation method; overrides distill.method")
    p.add_argument("--teacher", help="teacher checkpoint (best.pt); overrides distill.teacher_checkpoint")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key of the base config (repeatable)")
    p.add_argument("--trials", type=int, default=10,
                   help="the study's target of finished (complete or pruned) trials; a later call with more adds "
                        "trials (default 10)")
    p.add_argument("--seed", type=int, help="study seed (default: the config's seed): sampler and every trial's seed")
    p.add_argument("--out", help="study folder: study.db, trials/, trials.md, trials.json "
                                 "(default <out_dir>/<name>/tune-<job>)")
    p.add_argument("--results", help="also write the trials table as <results>/tune-<study>.{md,json} "
                                     "(e.g. docs/results)")
    p.add_argument("--progress", action="store_true", help="per-fold and per-epoch progress")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from vskd.config import load_config
    from vskd.engine.tune import import_optuna, load_space, tune
    from vskd.io import prepare_output_dir

    import_optuna()  # Optuna missing: one line now, before any work
    space = load_space(args.space)
    overrides = list(args.overrides)
    if args.method:
        overrides.append(f"distill.method={args.method}")
    if args.teacher:
        overrides.append(f"distill.teacher_checkpoint={args.teacher}")
    cfg = load_config(args.config, overrides)
    out = Path(args.out) if args.out else Path(cfg.out_dir) / cfg.name / f"tune-{args.job}"
    prepare_output_dir(out, "--out" if args.out else "the study folder (out_dir/name/tune-<job>)")
    if args.results:
        prepare_output_dir(args.results, "--results")
    table = tune(cfg, space, out, job=args.job, trials=args.trials, seed=args.seed, progress=args.progress,
                 results=args.results)
    print((out / "trials.md").read_text())
    best = table["best"]
    if best is not None:
        print(f"[vskd tune] best trial {best['number']}: CV accuracy {best['cv_accuracy']:.4f} at epoch "
              f"{best['chosen_epoch']}; run it with data.selection=cv and its parameters for the test figure")
    print(f"[vskd tune] study {table['study']} in {out / 'study.db'}; table {out / 'trials.md'}")
    return 0
