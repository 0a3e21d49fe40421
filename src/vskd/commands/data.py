"""``vskd data check``: report whether a dataset is usable (counts, missing modalities, bad files).

Examples::

    vskd data check --dataset utd-mhad --root ../shared/data/utd-mhad
    vskd data check --dataset utd-mhad --root ../shared/data/utd-mhad --quick
    vskd data check --dataset manifest --root my-data/manifest.csv --require inertial,rgb
    vskd data check --dataset synthetic --preset demo
    vskd data check --dataset berkeley-mhad --root BerkeleyMHAD --accelerometer 1 --cluster 1 --camera 1
    vskd data check --dataset mmact --root MMAct --sensors acc_watch,acc_phone --cameras 1,2

Exit status: 0 when the dataset is usable (warnings allowed), 1 when there are errors (one line each),
2 for a bad command line or a missing root.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("data", help="dataset tools (check a dataset before training)")
    data_sub = p.add_subparsers(dest="data_command", metavar="ACTION")
    c = data_sub.add_parser(
        "check",
        help="count files per modality and report missing, unreadable or malformed recordings",
        description="Check that a dataset is usable: counts per modality, recordings missing a modality, "
        "unreadable or malformed files, NaN/Inf, too-short sequences. Exit 0 when usable, 1 otherwise.",
    )
    c.add_argument("--dataset", required=True, help="a registered dataset (see `vskd datasets`)")
    c.add_argument("--root", default=None, help="the dataset folder, or the manifest CSV")
    c.add_argument("--quick", action="store_true",
                   help="read .mat headers only and check videos exist (no decoding, no NaN scan)")
    c.add_argument("--min-samples", type=int, default=8, metavar="N",
                   help="fewest inertial samples a recording may have (default 8)")
    c.add_argument("--min-frames", type=int, default=8, metavar="N",
                   help="fewest video/skeleton frames (default 8 = the number of TSN segments)")
    c.add_argument("--require", default="", metavar="MODS",
                   help="comma-separated modalities every recording must have (missing ones become errors)")
    c.add_argument("--modalities", default=None, metavar="MODS",
                   help="check only these modalities (readers with a modalities option)")
    c.add_argument("--rate-hz", type=float, default=None,
                   help="manifest: rate of .npy sensor files; berkeley-mhad, mmact: rate to resample to")
    c.add_argument("--accelerometer", type=int, default=None, metavar="N", help="berkeley-mhad: Shimmer 1..6 (default 1)")
    c.add_argument("--cluster", type=int, default=None, metavar="N", help="berkeley-mhad: camera cluster (default 1)")
    c.add_argument("--camera", type=int, default=None, metavar="N", help="berkeley-mhad: camera in the cluster (default 1)")
    c.add_argument("--sensors", default=None, metavar="NAMES",
                   help="mmact: comma-separated sensors among acc_watch,acc_phone,gyro,orientation (default acc_watch)")
    c.add_argument("--cameras", default=None, metavar="LIST", help="mmact: comma-separated cameras (default all)")
    c.add_argument("--preset", default=None, help="synthetic: preset (default demo)")
    c.add_argument("--seed", type=int, default=None, help="synthetic: seed (default 0)")
    c.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="any option of the reader (`vskd datasets --options`), the value read as YAML; repeatable")
    c.add_argument("--progress", action="store_true", help="show a progress bar on stderr")
    c.set_defaults(func=_check)
    p.set_defaults(func=lambda args: _no_action(p))


def _no_action(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


#: the flags that set a reader option of the same name (when the dataset's reader declares it)
_OPTION_FLAGS = ("modalities", "rate_hz", "accelerometer", "cluster", "camera", "sensors", "cameras", "preset", "seed")


def _reader_options(args: argparse.Namespace) -> dict:
    """The options given on the command line: the flags above that were set, then each ``--option``.

    A flag the dataset's reader has no option for is refused by the reader (one line listing its options).
    """
    from vskd.config import parse_override
    from vskd.errors import ConfigError

    options = {k: getattr(args, k) for k in _OPTION_FLAGS if getattr(args, k) is not None}
    for text in args.option:
        if "=" not in text:
            raise ConfigError(f"--option expects KEY=VALUE (e.g. --option rate_hz=50), got {text!r}")
        keys, value = parse_override(text)
        if len(keys) != 1:
            raise ConfigError(f"--option {text!r}: expected KEY=VALUE with a plain option name")
        options[keys[0]] = value
    return options


def _check(args: argparse.Namespace) -> int:
    from vskd.data.check import check_dataset

    options = _reader_options(args)
    progress = None
    if args.progress:
        from tqdm import tqdm

        def progress(items):
            return tqdm(items, desc="checking", unit="rec", file=sys.stderr)

    require = [m.strip() for m in args.require.split(",") if m.strip()]
    report = check_dataset(
        args.dataset, args.root, quick=args.quick, min_samples=args.min_samples, min_frames=args.min_frames,
        require=require, progress=progress, **options,
    )
    print(report.format())
    return 0 if report.ok else 1
