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
    c.add_argument("--dataset", required=True, choices=["utd-mhad", "manifest", "synthetic", "berkeley-mhad", "mmact"])
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
                   help="utd-mhad, berkeley-mhad, mmact: check only these modalities")
    c.add_argument("--rate-hz", type=float, default=None,
                   help="manifest: rate of .npy sensor files; berkeley-mhad, mmact: rate to resample to")
    c.add_argument("--accelerometer", type=int, default=1, metavar="N", help="berkeley-mhad: Shimmer 1..6 (default 1)")
    c.add_argument("--cluster", type=int, default=1, metavar="N", help="berkeley-mhad: camera cluster (default 1)")
    c.add_argument("--camera", type=int, default=1, metavar="N", help="berkeley-mhad: camera in the cluster (default 1)")
    c.add_argument("--sensors", default="acc_watch", metavar="NAMES",
                   help="mmact: comma-separated sensors among acc_watch,acc_phone,gyro,orientation (default acc_watch)")
    c.add_argument("--cameras", default=None, metavar="LIST", help="mmact: comma-separated cameras (default all)")
    c.add_argument("--preset", default="demo", help="synthetic: preset (default demo)")
    c.add_argument("--seed", type=int, default=0, help="synthetic: seed (default 0)")
    c.add_argument("--progress", action="store_true", help="show a progress bar on stderr")
    c.set_defaults(func=_check)
    p.set_defaults(func=lambda args: _no_action(p))


def _no_action(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _check(args: argparse.Namespace) -> int:
    from vskd.data.check import check_dataset

    options: dict = {}
    if args.dataset == "utd-mhad" and args.modalities:
        options["modalities"] = args.modalities
    elif args.dataset == "manifest" and args.rate_hz is not None:
        options["rate_hz"] = args.rate_hz
    elif args.dataset == "synthetic":
        options = {"preset": args.preset, "seed": args.seed}
    elif args.dataset in ("berkeley-mhad", "mmact"):
        if args.dataset == "berkeley-mhad":
            options = {"accelerometer": args.accelerometer, "cluster": args.cluster, "camera": args.camera}
        else:
            options = {"sensors": args.sensors, "cameras": args.cameras}
        if args.modalities:
            options["modalities"] = args.modalities
        if args.rate_hz is not None:
            options["rate_hz"] = args.rate_hz
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
