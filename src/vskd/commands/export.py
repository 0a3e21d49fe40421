"""``vskd export CHECKPOINT --format onnx|torchscript [--int8] --out DIR``: a deployable student.

The exported model includes the GAF preprocessing: it takes a raw accelerometer window (B, T, C)
float32 at the training rate and returns logits (see :mod:`vskd.deploy.export` and ``docs/deploy.md``).
The export checks itself against torch on the validation recordings and prints each format's size
and validation accuracy. Examples::

    vskd export runs/dask/best.pt --format onnx --int8 --out deploy/
    vskd export runs/dask/best.pt --format torchscript --out deploy/
"""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a student (GAF included) as ONNX (fp32/int8) or TorchScript",
                       description="Export a trained student with its GAF preprocessing; check the export "
                       "against torch and print size and validation accuracy of each format.")
    p.add_argument("checkpoint", help="student best.pt (vskd train-student / vskd distill)")
    p.add_argument("--format", dest="fmt", default="onnx", choices=["onnx", "torchscript"])
    p.add_argument("--int8", action="store_true",
                   help="also write an int8 ONNX model (ONNX Runtime static quantisation, calibrated on training windows)")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder")
    p.add_argument("--name", default="student", help="file stem (default: student -> student.onnx)")
    p.add_argument("--root", help="dataset root, when it moved since training")
    p.add_argument("--window-length", type=int, default=None, metavar="T",
                   help="fixed input length in samples (only for a GAF with a PAA image_size)")
    p.add_argument("--calibration", type=int, default=64, metavar="N",
                   help="training windows used to calibrate int8: the first N (default 64; 0 = all)")
    p.add_argument("--calibration-spread", action="store_true",
                   help="take the N calibration windows spread evenly over the training split instead of the first N")
    p.add_argument("--calibration-method", default="minmax", choices=["minmax", "percentile", "entropy"],
                   help="how int8 activation ranges are set from the calibration windows (default minmax; "
                        "docs/deploy.md)")
    p.add_argument("--atol", type=float, default=1e-4, help="absolute tolerance of the logits check (default 1e-4)")
    p.add_argument("--rtol", type=float, default=1e-4, help="relative tolerance of the logits check (default 1e-4)")
    p.set_defaults(func=_run)


def _fmt_size(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def _run(args) -> int:
    from vskd.deploy.export import export_checkpoint
    from vskd.io import prepare_output_dir

    prepare_output_dir(args.out, "--out")
    rep = export_checkpoint(args.checkpoint, args.fmt, args.out, int8=args.int8, data_root=args.root,
                            window_length=args.window_length, atol=args.atol, rtol=args.rtol,
                            calibration=args.calibration, stem=args.name,
                            calibration_method=args.calibration_method,
                            calibration_spread=args.calibration_spread)
    c = rep["check"]
    print(f"[vskd] check: {c['windows']} windows, max |logit difference| vs torch {c['max_abs_diff']:.2e} "
          f"(tolerance atol {c['atol']:g} + rtol {c['rtol']:g})")
    print(f"{'model':<18} {'size':>10} {'val accuracy':>13}  file")
    for m in rep["models"]:
        acc = "-" if m["val_accuracy"] is None else f"{m['val_accuracy']:.4f}"
        extra = ""
        if m.get("top1_agreement_with_fp32") is not None:
            extra = f"  (top-1 agreement with fp32 {m['top1_agreement_with_fp32']:.4f})"
        print(f"{m['name']:<18} {_fmt_size(m['size_bytes']):>10} {acc:>13}  {m['path'] or '(in memory)'}{extra}")
    print(f"[vskd] {rep['val_windows']} validation recordings; report: {args.out}/export.json")
    return 0
