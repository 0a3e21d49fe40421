"""Where an exported student's per-window latency goes, and which ONNX Runtime session options lower it.

For each ONNX file (``vskd export --int8``'s ``student.onnx`` / ``student_int8.onnx``), times on one
thread, batch 1, over the checkpoint's test windows:

* ``predict_window``: what ``vskd stream`` and ``benchmarks/deploy.py`` time (input checks, the linear
  resampling to the model's length, ``session.run``);
* ``session.run`` alone on the prepared window, for each session configuration: ORT's graph
  optimisation level (basic / extended / all), spinning of the intra-op thread pool off/on, and the
  whole-model ``session.run`` with pre-bound I/O (``io_binding``).

Calls of the configurations are interleaved (round-robin, one call each per round), so that a busy
shared machine slows them alike; the median of ``--windows`` rounds is reported.

    .venv/bin/python benchmarks/ort_latency.py runs/export/student_int8.onnx runs/export/student.onnx \\
        --checkpoint runs/raw-watch1d/best.pt --windows 2000
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np


def _session(path: Path, level: str, spinning: bool):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                   "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                   "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[level]
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("onnx", type=Path, nargs="+")
    p.add_argument("--checkpoint", type=Path, required=True, help="the exported student's best.pt (test windows)")
    p.add_argument("--root", help="dataset root, when it moved since training")
    p.add_argument("--windows", type=int, default=1000, help="timed rounds (median reported)")
    p.add_argument("--warmup", type=int, default=50)
    args = p.parse_args(argv)

    import torch

    from vskd.deploy.export import split_windows
    from vskd.deploy.model import load_checkpoint_model
    from vskd.deploy.runtime import load_predictor

    torch.set_num_threads(1)
    _, info, cfg = load_checkpoint_model(args.checkpoint)
    if args.root:
        cfg.data.root = args.root
    windows, _ = split_windows(cfg, "test", info)
    for path in args.onnx:
        pred = load_predictor(path, threads=1)
        prepared = [pred.prepare(w)[None] for w in windows]
        configs = {f"session.run, {lvl}, spin {'on' if spin else 'off'}": _session(path, lvl, spin)
                   for lvl in ("basic", "extended", "all") for spin in (False, True)}
        name = configs["session.run, all, spin off"].get_inputs()[0].name
        calls = {"predict_window (checks + resampling + run)": lambda i: pred.predict_window(windows[i])}
        for label, sess in configs.items():
            calls[label] = (lambda s: lambda i: s.run(None, {name: prepared[i]}))(sess)
        sess = configs["session.run, all, spin off"]
        binding = sess.io_binding()
        out_name = sess.get_outputs()[0].name

        def bound(i, binding=binding, sess=sess):
            binding.bind_cpu_input(name, prepared[i])
            binding.bind_output(out_name)
            sess.run_with_iobinding(binding)
            return binding.copy_outputs_to_cpu()

        calls["run_with_iobinding, all, spin off"] = bound
        times: dict[str, list[float]] = {k: [] for k in calls}
        n = len(windows)
        for r in range(args.warmup + args.windows):
            for label, fn in calls.items():
                t0 = time.perf_counter()
                fn(r % n)
                if r >= args.warmup:
                    times[label].append((time.perf_counter() - t0) * 1000.0)
        print(f"## {path} (median of {args.windows} interleaved rounds, 1 thread, {n} test windows)")
        print("| call | median (ms) | p10 (ms) |")
        print("|---|---:|---:|")
        for label, ts in times.items():
            print(f"| {label} | {statistics.median(ts):.4f} | {np.percentile(ts, 10):.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
