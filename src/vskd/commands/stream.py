"""``vskd stream MODEL --input FILE|-``: sliding-window recognition over a stream of accelerometer samples.

MODEL is an ONNX or TorchScript file from ``vskd export`` or a student checkpoint (best.pt). The input
is CSV lines ``t,x,y,z`` (seconds, then one value per model axis; ``-`` reads stdin, so a live sensor
can be piped in) or a UTD-MHAD ``*_inertial.mat`` replayed at its real 50 Hz (``--speed``). Each
decision is printed with its window, class, confidence and latency; bad samples and windows are
reported on stderr and skipped (see :mod:`vskd.deploy.stream`). Examples::

    vskd stream deploy/student_int8.onnx --input Inertial/a1_s1_t1_inertial.mat --window 2 --hop 0.5
    my-sensor | vskd stream deploy/student.onnx --input - --window 3 --hop 1
"""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("stream", help="recognise actions over a stream of accelerometer samples",
                       description="Sliding-window recognition over CSV lines t,x,y,z (or a UTD-MHAD .mat "
                       "replayed at its rate), printing each decision with confidence and latency.")
    p.add_argument("model", metavar="MODEL", help="ONNX / TorchScript from vskd export, or a student best.pt")
    p.add_argument("--input", "-i", required=True, metavar="FILE|-",
                   help="CSV file of t,x,y,z lines, '-' for stdin, or a UTD-MHAD *_inertial.mat")
    p.add_argument("--window", type=float, default=3.0, metavar="S", help="window length in seconds (default 3)")
    p.add_argument("--hop", type=float, default=0.5, metavar="S", help="seconds between decisions (default 0.5)")
    p.add_argument("--min-fill", type=float, default=0.8, metavar="F",
                   help="skip windows with fewer than F x the expected samples (default 0.8)")
    p.add_argument("--speed", type=float, default=1.0, metavar="X",
                   help=".mat replay pace: 1 = real time (default), 0 = as fast as possible")
    p.add_argument("--threads", type=int, default=1, help="inference threads (default 1)")
    p.add_argument("--jsonl", action="store_true", help="print decisions as JSON lines")
    p.set_defaults(func=_run)


def _run(args) -> int:
    import json
    import sys
    import warnings
    from pathlib import Path

    from vskd.deploy.stream import (
        StreamRecognizer,
        StreamWarning,
        mat_samples,
        parse_csv,
    )
    from vskd.errors import VskdError

    from vskd.deploy.stream import check_threads

    check_threads(args.threads)  # before the model is loaded with it
    rec = StreamRecognizer(args.model, window_s=args.window, hop_s=args.hop, min_fill=args.min_fill,
                           threads=args.threads)
    info = rec.predictor.info

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"[vskd] warning: {message}", file=sys.stderr)

    warnings.showwarning = show
    warnings.simplefilter("always", StreamWarning)
    handle = None
    if args.input == "-":
        samples = parse_csv(sys.stdin, len(info.axes), "stdin")
    else:
        path = Path(args.input)
        if not path.is_file():
            raise VskdError(f"--input: file not found: {path}")
        if path.suffix.lower() == ".mat":
            samples = mat_samples(path, info.axes, speed=args.speed)
        else:
            handle = path.open(encoding="utf-8", errors="replace")
            samples = parse_csv(handle, len(info.axes), str(path))
    print(f"[vskd] {rec.predictor!r}: window {args.window:g} s ({rec.n} samples at {info.rate_hz:g} Hz), "
          f"hop {args.hop:g} s, axes {', '.join(info.axes)}", file=sys.stderr)
    try:
        for d in rec.push_many(samples):
            if args.jsonl:
                print(json.dumps({"t_start": round(d.t_start, 4), "t_end": round(d.t_end, 4), "label": d.label,
                                  "name": d.name, "confidence": round(d.confidence, 5),
                                  "latency_ms": round(d.latency_ms, 3)}), flush=True)
            else:
                print(d.line(), flush=True)
    finally:
        if handle is not None:
            handle.close()
    print(f"[vskd] {rec.decisions} decisions, {rec.skipped} windows skipped, {rec.dropped} samples dropped",
          file=sys.stderr)
    return 0
