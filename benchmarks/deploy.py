"""On the watch: per-window latency, size and test accuracy of the teacher and of each deployed student.

Rows (each measured in this run, on this machine):

* ``teacher (torch)``: the video teacher of ``--teacher`` on one clip (its K frames, already decoded
  and transformed: decoding is not timed), torch fp32;
* for each student checkpoint (``--student``, ``--small`` for the watch-sized GAF student, and
  ``--raw`` for each raw-signal student, e.g. minirocket / watch1d / inception1d of issue 14):
  ``torch fp32`` (:class:`vskd.deploy.model.WindowModel`: GAF + network on the raw window, or for a
  raw-signal student resampling to its length + network),
  ``ONNX fp32`` and ``ONNX int8`` (files written by :func:`vskd.deploy.export.export_checkpoint`
  into ``--out``, run with ONNX Runtime's CPU provider).

Latency: one intra-op thread everywhere (``torch.set_num_threads(1)``, ORT ``intra_op_num_threads=1``),
batch 1, each test recording as one window (the offline evaluation unit; GAF included for students),
``--warmup`` untimed calls, then the **median** of ``--windows`` timed calls (``time.perf_counter``)
cycling over the test recordings. Size: the file size (torch rows: parameters + buffers in bytes); parameters: the network's.
Accuracy: top-1 on the checkpoint's test split (every recording unless ``--limit``).

Goals of issue 6, checked from the figures of this run: the int8 student at least 100x faster per
window than the teacher per clip, at most 1 point less accurate than the fp32 student, under 12 MB.

    .venv/bin/python benchmarks/deploy.py --teacher runs/teacher/best.pt --student runs/dask/best.pt \\
        --small runs/dask-mnv3/best.pt --raw runs/raw-watch1d/best.pt --raw runs/raw-minirocket/best.pt \\
        --out runs/deploy-bench
    .venv/bin/python benchmarks/deploy.py --student runs/dask/best.pt --out /tmp/d --limit 50  # quick
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch


def median_latency_ms(fn: Callable[[object], object], inputs: list, n: int, warmup: int) -> float:
    """Median wall time (ms) of ``fn(x)`` over ``n`` calls cycling over ``inputs`` after ``warmup`` calls."""
    for i in range(warmup):
        fn(inputs[i % len(inputs)])
    times = []
    for i in range(n):
        x = inputs[i % len(inputs)]
        t0 = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def _row(name: str, latency_ms: float, size_bytes: int, accuracy: float, n: int, path: str | None = None,
         params: int | None = None) -> dict:
    return {"model": name, "latency_ms": latency_ms, "size_mb": size_bytes / 1e6, "accuracy": accuracy,
            "test_recordings": n, "file": path, "parameters": params}


def _module_bytes(m: torch.nn.Module) -> int:
    return int(sum(t.numel() * t.element_size() for t in [*m.parameters(), *m.buffers()]))


def _params(m: torch.nn.Module) -> int:
    return int(sum(t.numel() for t in m.parameters()))


def bench_teacher(path: Path, split: str, limit: int | None, data_root: str | None, n: int, warmup: int) -> dict:
    from vskd.config import config_from_dict
    from vskd.engine.checkpoints import load_teacher
    from vskd.engine.builders import load_data, paired

    teacher, meta = load_teacher(path)
    cfg = config_from_dict(meta["config"])
    if data_root:
        cfg.data.root = data_root
    _, splits, _ = load_data(cfg)
    recs = list(getattr(splits, split))[: limit or None]
    ds = paired(cfg, recs, train=False, student=False, teacher=True)
    clips, labels = [], []
    for i in range(len(ds)):
        item = ds[i]
        clips.append(torch.as_tensor(item["teacher"])[None])
        labels.append(item["label"])
    with torch.inference_mode():
        preds = [int(teacher(c).argmax(1)) for c in clips]

        def run(c):
            return teacher(c)

        lat = median_latency_ms(run, clips, n, warmup)
    acc = float(np.mean(np.array(preds) == np.array(labels)))
    return _row(f"teacher (torch, {cfg.teacher.backbone} TRN)", lat, _module_bytes(teacher), acc, len(clips), str(path),
                _params(teacher))


def bench_paper_teacher(n: int, warmup: int, num_classes: int = 27) -> dict:
    """The paper's teacher architecture (BN-Inception TRN, 8 segments of 224 px frames), latency only:
    untrained weights (latency does not depend on them), so no accuracy."""
    from vskd.models.trn import VideoTeacher

    teacher = VideoTeacher(num_classes=num_classes, backbone="bninception", num_segments=8).eval()
    g = torch.Generator().manual_seed(0)
    clips = [torch.rand(1, 8, 3, 224, 224, generator=g) for _ in range(2)]
    with torch.inference_mode():
        lat = median_latency_ms(teacher, clips, n, warmup)
    return _row("teacher (torch, paper: bninception TRN, 8 x 224 px)", lat, _module_bytes(teacher), float("nan"), 0,
                "architecture only (untrained)", _params(teacher))


def bench_student(label: str, path: Path, out: Path, split: str, limit: int | None, data_root: str | None, n: int,
                  warmup: int, calibration: int) -> list[dict]:
    from vskd.deploy.export import export_checkpoint, split_windows
    from vskd.deploy.model import load_checkpoint_model
    from vskd.deploy.runtime import Predictor, load_predictor

    model, info, cfg = load_checkpoint_model(path)
    if data_root:
        cfg.data.root = data_root
    windows, labels = split_windows(cfg, split, info, limit=limit)
    stem = path.parent.name or "student"
    rep = export_checkpoint(path, "onnx", out / label, int8=True, data_root=data_root, calibration=calibration,
                            stem=stem)
    files = {m["name"]: Path(m["path"]) for m in rep["models"] if m["path"]}

    def torch_run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()

    predictors = [("torch fp32", Predictor("torch", path, info, torch_run), _module_bytes(model), None),
                  ("ONNX fp32", load_predictor(files["onnx fp32"], threads=1), files["onnx fp32"].stat().st_size,
                   files["onnx fp32"]),
                  ("ONNX int8", load_predictor(files["onnx int8"], threads=1), files["onnx int8"].stat().st_size,
                   files["onnx int8"])]
    rows = []
    for name, pred, size, file in predictors:
        preds = np.array([int(pred.predict_window(w).argmax()) for w in windows])
        acc = float(np.mean(preds == labels))
        lat = median_latency_ms(pred.predict_window, windows, n, warmup)
        rows.append(_row(f"{label} {info.arch} {name}", lat, size, acc, len(windows), str(file) if file else str(path),
                         _params(model.student)))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher", type=Path, help="teacher best.pt (vskd train-teacher)")
    p.add_argument("--paper-teacher", action="store_true",
                   help="also time the paper's teacher architecture (BN-Inception TRN, 8 x 224 px; latency only)")
    p.add_argument("--paper-windows", type=int, default=11, help="timed calls for --paper-teacher (slow)")
    p.add_argument("--student", type=Path, required=True, help="student best.pt (e.g. DASK, ResNet-18)")
    p.add_argument("--small", type=Path, help="watch-sized student best.pt (student.arch=mobilenet_v3_small)")
    p.add_argument("--raw", type=Path, action="append", default=[],
                   help="a raw-signal student best.pt (student.arch inception1d / minirocket / watch1d); repeatable")
    p.add_argument("--out", type=Path, required=True, help="folder for the exported models and deploy.json")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--limit", type=int, default=None, help="use only the first N recordings of the split (quick runs)")
    p.add_argument("--root", help="dataset root, when it moved since training")
    p.add_argument("--windows", type=int, default=200, help="timed calls per model (median reported)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--calibration", type=int, default=64, help="training windows for int8 calibration")
    args = p.parse_args(argv)

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    teacher = None
    if args.teacher:
        teacher = bench_teacher(args.teacher, args.split, args.limit, args.root, args.windows, args.warmup)
        rows.append(teacher)
    paper = None
    if args.paper_teacher:
        paper = bench_paper_teacher(args.paper_windows, 1)
        rows.append(paper)
    students = bench_student("student", args.student, args.out, args.split, args.limit, args.root, args.windows,
                             args.warmup, args.calibration)
    rows += students
    if args.small:
        rows += bench_student("small", args.small, args.out, args.split, args.limit, args.root, args.windows,
                              args.warmup, args.calibration)
    for i, raw in enumerate(args.raw):
        rows += bench_student(f"raw{i + 1}", raw, args.out, args.split, args.limit, args.root, args.windows,
                              args.warmup, args.calibration)

    print(f"# vskd deploy benchmark, {datetime.datetime.now().isoformat(timespec='seconds')}, "
          f"{platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread, "
          f"median of {args.windows} windows, split {args.split}")
    print(f"| {'model':<44} | {'latency / window (ms)':>21} | {'size (MB)':>9} | {'parameters':>10} | "
          f"{'accuracy':>8} | n |")
    print(f"|{'-' * 46}|{'-' * 23}:|{'-' * 10}:|{'-' * 11}:|{'-' * 9}:|---|")
    for r in rows:
        print(f"| {r['model']:<44} | {r['latency_ms']:>21.3f} | {r['size_mb']:>9.2f} | {r['parameters'] or 0:>10,} | "
              f"{r['accuracy']:>8.4f} | {r['test_recordings']} |")
    fp32, int8 = students[0], students[2]
    goals = {"int8_size_under_12MB": int8["size_mb"] < 12.0,
             "int8_accuracy_drop_points": 100.0 * (fp32["accuracy"] - int8["accuracy"]),
             "int8_within_1_point": 100.0 * (fp32["accuracy"] - int8["accuracy"]) <= 1.0}
    print(f"int8 vs torch fp32 student: accuracy {100 * int8['accuracy']:.2f} vs {100 * fp32['accuracy']:.2f} % "
          f"(drop {goals['int8_accuracy_drop_points']:.2f} points; goal <= 1), size {int8['size_mb']:.2f} MB "
          f"(goal < 12)")
    if teacher is not None:
        goals["teacher_over_int8_speedup"] = teacher["latency_ms"] / int8["latency_ms"]
        goals["speedup_at_least_100x"] = goals["teacher_over_int8_speedup"] >= 100.0
        print(f"teacher per clip / int8 student per window: {goals['teacher_over_int8_speedup']:.1f}x (goal >= 100x)")
    if paper is not None:
        goals["paper_teacher_over_int8_speedup"] = paper["latency_ms"] / int8["latency_ms"]
        print(f"paper teacher per clip / int8 student per window: {goals['paper_teacher_over_int8_speedup']:.1f}x")
    report = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": platform.platform(),
              "torch": torch.__version__, "threads": 1, "windows": args.windows, "split": args.split,
              "limit": args.limit, "rows": rows, "goals": goals, "argv": sys.argv[1:]}
    (args.out / "deploy.json").write_text(json.dumps(report, indent=2))
    print(f"[vskd] {args.out / 'deploy.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
