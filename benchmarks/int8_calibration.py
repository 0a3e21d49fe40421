"""int8 calibration settings of ``vskd export --int8``: validation and test accuracy of each.

For every student checkpoint given (one per seed), the fp32 ONNX model is exported once, then
quantised once per setting (calibration method x calibration windows), and each int8 model is
evaluated on the checkpoint's validation and test splits (whole recordings as windows, as
``vskd export`` and ``benchmarks/deploy.py`` do). Settings:

* ``method``: ``minmax``, ``percentile``, ``entropy`` (:data:`vskd.deploy.export.CALIBRATION_METHODS`);
* ``windows``: ``first-64`` (the first 64 training recordings: the export's behaviour before this
  benchmark), ``spread-64`` (64 spread evenly over the training split) and ``all`` (every training
  recording).

The rule for choosing the export's default is fixed before the run and printed with the table:
the setting with the highest mean **validation** accuracy over the checkpoints, ties (within one
validation recording per checkpoint on average) going to the simpler one in the order listed
(minmax before percentile before entropy; first-64, spread-64, all). Test accuracy is read for the
record; it decides nothing. A student selected by CV and refit on every training subject has no
validation split: its validation accuracy is NaN and nothing is chosen (pass ``--setting minmax/first-64``,
the export's default, to read its int8 test accuracy only).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/int8_calibration.py \\
        --student runs/seed0/watch1d-dask/best.pt --student runs/seed1/watch1d-dask/best.pt \\
        --out runs/int8-calibration [--root ../shared/data/utd-mhad]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

METHODS = ("minmax", "percentile", "entropy")
WINDOWS = ("first-64", "spread-64", "all")


def _acc(pred, windows, labels) -> float:
    if not windows:
        return float("nan")
    logits = np.stack([pred.predict_window(w) for w in windows])
    return float((logits.argmax(1) == labels).mean())


def measure(checkpoint: str, root: str | None, work: Path, settings: list[str] | None = None) -> dict:
    """Accuracies of fp32 and of every int8 setting for one checkpoint."""
    from vskd.deploy.export import export_onnx, quantize_int8, split_windows
    from vskd.deploy.model import load_checkpoint_model
    from vskd.deploy.runtime import load_predictor

    model, info, cfg = load_checkpoint_model(checkpoint)
    if root:
        cfg.data.root = root
    fp32 = export_onnx(model, info, work / "fp32.onnx")
    pred = load_predictor(fp32, threads=1)
    val_w, val_y = split_windows(cfg, "val", info)
    test_w, test_y = split_windows(cfg, "test", info)
    calib = {"first-64": split_windows(cfg, "train", info, limit=64)[0],
             "spread-64": split_windows(cfg, "train", info, limit=64, spread=True)[0],
             "all": split_windows(cfg, "train", info)[0]}
    out = {"checkpoint": checkpoint, "fp32": {"val": _acc(pred, val_w, val_y), "test": _acc(pred, test_w, test_y)},
           "int8": {}}
    for method in METHODS:
        for win in WINDOWS:
            if settings and f"{method}/{win}" not in settings:
                continue
            q = quantize_int8(fp32, work / f"int8-{method}-{win}.onnx", [pred.prepare(w) for w in calib[win]],
                              method=method)
            qp = load_predictor(q, threads=1)
            out["int8"][f"{method}/{win}"] = {"val": _acc(qp, val_w, val_y), "test": _acc(qp, test_w, test_y),
                                              "calibration_windows": len(calib[win])}
            print(f"  {Path(checkpoint).parent.name} {method:<10} {win:<9} val {out['int8'][f'{method}/{win}']['val']:.4f} "
                  f"test {out['int8'][f'{method}/{win}']['test']:.4f}", flush=True)
    out["val_recordings"] = len(val_y)
    return out


def choose(results: list[dict]) -> tuple[str | None, dict[str, float]]:
    """The rule: highest mean validation accuracy; ties within one recording go to the earlier setting
    (None: no checkpoint has a validation split, nothing to choose on)."""
    keys = [k for k in (f"{m}/{w}" for m in METHODS for w in WINDOWS) if k in results[0]["int8"]]
    means = {k: statistics.mean(r["int8"][k]["val"] for r in results) for k in keys}
    if min(r["val_recordings"] for r in results) == 0:
        return None, means
    tol = 1.0 / statistics.mean(r["val_recordings"] for r in results)
    best = max(means.values())
    chosen = next(k for k in keys if means[k] >= best - tol + 1e-12)
    return chosen, means


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--student", action="append", required=True, help="student best.pt (repeat, one per seed)")
    ap.add_argument("--out", required=True, help="folder for int8_calibration.json")
    ap.add_argument("--root", help="dataset root, when it moved since training")
    ap.add_argument("--setting", action="append", choices=[f"{m}/{w}" for m in METHODS for w in WINDOWS],
                    help="only these settings (repeat; default: all nine)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for ck in args.student:
        with tempfile.TemporaryDirectory() as tmp:
            results.append(measure(ck, args.root, Path(tmp), args.setting))
    chosen, means = choose(results)
    print(f"\nrule: highest mean validation accuracy over {len(results)} checkpoints; ties within one "
          "validation recording go to the earlier setting (minmax < percentile < entropy; first-64 < spread-64 < all)")
    print(f"| setting | mean val acc | mean test acc | test per checkpoint |\n|---|---:|---:|---|")
    fp_val = statistics.mean(r["fp32"]["val"] for r in results)
    fp_test = statistics.mean(r["fp32"]["test"] for r in results)
    print(f"| fp32 | {100 * fp_val:.1f} | {100 * fp_test:.1f} | "
          + " / ".join(f"{100 * r['fp32']['test']:.1f}" for r in results) + " |")
    for k, v in means.items():
        t = [r["int8"][k]["test"] for r in results]
        mark = " ← chosen" if k == chosen else ""
        print(f"| int8 {k}{mark} | {100 * v:.1f} | {100 * statistics.mean(t):.1f} | "
              + " / ".join(f"{100 * x:.1f}" for x in t) + " |")
    report = {"date": datetime.date.today().isoformat(), "machine": platform.platform(),
              "python": sys.version.split()[0], "chosen": chosen, "mean_val": means,
              "command": "benchmarks/int8_calibration.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "results": results}
    (out / "int8_calibration.json").write_text(json.dumps(report, indent=2))
    print(f"chosen: {chosen}; report: {out / 'int8_calibration.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
