"""``vskd peers``: aeon's MiniRocket, MultiRocket-Hydra and Rocket on the students' data, as baselines."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("peers", help="time-series peers (aeon MiniRocket / MultiRocket-Hydra / Rocket) on the "
                                     "students' recordings, splits and axes (needs vskd[peers])")
    p.add_argument("--config", "-c", help="experiment YAML the data come from (see configs/); defaults when omitted")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set data.protocol=cross-subject (repeatable)")
    p.add_argument("--peer", action="append", metavar="NAME",
                   help="minirocket, multirocket-hydra or rocket (repeatable; default: all three)")
    p.add_argument("--option", action="append", default=[], metavar="PEER.KEY=VALUE",
                   help="an aeon parameter of one peer, e.g. minirocket.n_kernels=1000 (repeatable)")
    p.add_argument("--length", type=int, help="samples per window (default: student.input.length, else 180)")
    p.add_argument("--resample", default="linear", choices=["linear", "crop"],
                   help="linear interpolation to --length (default) or raw_window's centre crop / zero pad")
    p.add_argument("--out", help="run folder (default: <out_dir>/<name>/peers); one sub-folder per peer")
    p.set_defaults(func=_run)


def parse_options(items: list[str], peers: list[str]) -> dict[str, dict]:
    """``["minirocket.n_kernels=500"]`` -> ``{"minirocket": {"n_kernels": 500}}`` (values read as YAML)."""
    import yaml

    from vskd.errors import ConfigError

    out: dict[str, dict] = {p: {} for p in peers}
    for item in items:
        key, sep, value = item.partition("=")
        peer, dot, name = key.partition(".")
        if not sep or not dot or not name:
            raise ConfigError(f"--option expects PEER.KEY=VALUE, e.g. minirocket.n_kernels=1000; got {item!r}")
        if peer not in out:
            raise ConfigError(f"--option {item!r}: peer '{peer}' is not among the peers run ({', '.join(peers)})")
        out[peer][name] = yaml.safe_load(value)
    return out


def _run(args) -> int:
    from vskd.config import load_config
    from vskd.engine.peers import PEERS, PeerSpec, peer_class, peers_table, run_peer
    from vskd.engine.builders import load_data

    names = list(dict.fromkeys(args.peer or PEERS))
    specs = []
    options = parse_options(args.option, names)
    for name in names:
        specs.append(PeerSpec(name, options[name], args.length, args.resample))
    peer_class(names[0])  # aeon missing: one line now, before any data are read
    cfg = load_config(args.config, args.overrides)
    out = Path(args.out) if args.out else Path(cfg.out_dir) / cfg.name / "peers"
    data = load_data(cfg)
    results = {}
    for spec in specs:
        print(f"[vskd peers] {spec.peer} ...", flush=True)
        results[spec.peer] = run_peer(cfg, out / spec.peer, spec, data=data)
    print(peers_table(results))
    print(f"[vskd peers] results in {out}")
    return 0
