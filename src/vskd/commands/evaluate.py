"""``vskd evaluate CHECKPOINT``: accuracy, macro-F1, per-class accuracy, confusion PNG and JSON."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a checkpoint (teacher or student) on a split")
    p.add_argument("checkpoint", help="best.pt / last.pt written by a training command")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--out", help="folder for eval_<split>.json and the confusion PNG (default: beside the checkpoint)")
    p.add_argument("--root", help="dataset root, when it moved since training")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from pathlib import Path

    from vskd.engine.jobs import evaluate_checkpoint
    from vskd.io import prepare_output_dir

    if args.out:
        prepare_output_dir(args.out, "--out")
    elif Path(args.checkpoint).parent.is_dir():
        prepare_output_dir(Path(args.checkpoint).parent, "the checkpoint's folder (the default --out)")
    m = evaluate_checkpoint(args.checkpoint, args.split, args.out, args.root)
    print(f"{args.split}: accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  ({m['num_samples']} recordings)")
    out = Path(args.out) if args.out else Path(args.checkpoint).parent
    print(f"[vskd] report: {out / f'eval_{args.split}.json'}")
    return 0
