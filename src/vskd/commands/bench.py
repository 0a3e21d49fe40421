"""``vskd bench NAME``: a benchmark spec from the shipped configs/bench/, run (resumably) and summarised."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="run a benchmark (e.g. `vskd bench utd-mhad --preset cpu`)")
    p.add_argument("dataset", help="benchmark name (configs/bench/<dataset>-<preset>.yaml) or a spec file")
    p.add_argument("--preset", default="cpu", help="cpu (reduced, for 2 CPU cores) or paper (GPU)")
    p.add_argument("--out", help="run folder (default runs/bench/<name>)")
    p.add_argument("--results", default="docs/results", help="where the tables, JSON and plots go")
    p.add_argument("--only", action="append", help="run only these run ids (repeatable)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override applied to every run")
    p.add_argument("--seeds", type=int, nargs="+", metavar="S",
                   help="run these seeds instead of the spec's (e.g. --seeds 0: a 1-seed slice)")
    p.add_argument("--summarise", action="store_true", help="only write the summary of finished runs")
    p.add_argument("--dry-run", action="store_true",
                   help="check every step's config (data, method, method on student) and print the plan; train nothing")
    p.add_argument("--progress", action="store_true", help="per-epoch progress of each run")
    p.add_argument("--jobs", type=int, default=1,
                   help="runs at once, in worker processes sharing the CPU cores (with --executor ray: "
                        "each task gets cores // N CPUs)")
    p.add_argument("--executor", default="process", choices=["process", "ray"],
                   help="process: this process or --jobs worker processes (default); ray: one Ray task per "
                        "(run, seed), needs vskd[ray]")
    p.add_argument("--address", help="with --executor ray: the Ray cluster to join (default: a local Ray)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    import sys
    import time

    from vskd.engine.bench import Bench, load_spec, markdown_tables, write_results

    from vskd.errors import ConfigError

    if args.jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {args.jobs}")
    if args.address and args.executor != "ray":
        raise ConfigError("--address is for --executor ray (the Ray cluster to join)")
    if args.executor == "ray" and not args.summarise:
        from vskd.engine.bench.executors import import_ray

        import_ray()  # Ray missing: one line now, before any run
    path = Path(args.dataset)
    if not path.is_file():  # a shipped spec (package data); load_spec names a missing one
        from vskd.resources import configs_dir

        path = configs_dir() / "bench" / f"{args.dataset}-{args.preset}.yaml"
    spec = load_spec(path)
    if args.seeds:
        import dataclasses

        spec = dataclasses.replace(spec, seeds=list(dict.fromkeys(args.seeds)))
    out = Path(args.out) if args.out else Path("runs") / "bench" / spec.name
    from vskd.io import prepare_output_dir

    bench = Bench(spec, out, extra_set=args.overrides, only=args.only, progress=args.progress)
    if args.dry_run:  # nothing written
        lines = bench.check()
        print("\n".join(lines))
        print(f"[vskd bench] {spec.name}: {len(lines)} steps planned, "
              f"{sum(not line.endswith('(finished)') for line in lines)} to run; every config checked")
        return 0
    prepare_output_dir(out, "--out")
    t0 = time.time()
    summary = bench.summary() if args.summarise else bench.run(jobs=args.jobs, executor=args.executor,
                                                                 address=args.address)
    command = "vskd " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("vskd") else \
        f"vskd bench {args.dataset} --preset {args.preset}"
    wall_s = time.time() - t0
    if args.summarise:  # keep the command and wall time of the call that trained the runs, not this one
        import json

        prev = Path(args.results) / f"{spec.name}.json"
        if prev.is_file():
            try:
                old = json.loads(prev.read_text())
                command = old.get("command") or command
                wall_s = float(old.get("wall_s_this_invocation") or wall_s)
            except (ValueError, TypeError, AttributeError):
                pass
    res = write_results(bench, summary, args.results, command, wall_s)
    print(markdown_tables(summary))
    print(f"[vskd bench] results: {res} and {res.with_suffix('.md')}")
    return 0
