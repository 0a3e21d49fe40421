"""How many vskd source files ``vskd distill --method dask`` crosses before it reaches the loss.

Trains a tiny teacher (the tests' tiny synthetic preset, 1 epoch), then runs ``vskd distill --method
dask`` for one epoch under :func:`sys.setprofile` and stops at the first call of the DASK loss
(``vskd/losses/functional.py``). It prints:

* ``stack``: the distinct vskd files on the call stack at that moment, outermost first (the path a
  reader follows from the command to the loss);
* ``ran``: the distinct vskd files any function of which ran inside the distillation job
  (``engine/jobs.py:distill``, the files above it on the stack included) before that moment;
  module and class bodies (imports, registration) are not counted: what a reader may have to open to
  see everything that happened between the command and the loss.

Usage (a minute on one CPU thread)::

    OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/loss_path.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import torch

TINY = [
    "data.preset=tiny", "teacher.backbone=resnet18", "teacher.partial_bn=false", "teacher.input.modality=rgb",
    "teacher.input.num_segments=4", "teacher.input.frame_size=32", "teacher.input.crop_size=32",
    "teacher.train.epochs=1", "teacher.train.batch_size=8", "teacher.train.lr_steps=[]",
    "student.input.out_size=32", "student.train.epochs=1", "student.train.batch_size=8",
]


def main() -> None:
    torch.set_num_threads(1)
    import vskd
    from vskd.cli import main as cli

    pkg = str(Path(vskd.__file__).parent) + os.sep
    loss_file = os.path.join(pkg, "losses", "functional.py")

    def rel(path: str) -> str:
        return path[len(pkg):]

    with tempfile.TemporaryDirectory() as tmp:
        sets = [a for o in TINY + [f"data.cache_dir={tmp}/cache"] for a in ("--set", o)]
        assert cli(["train-teacher", *sets, "--out", f"{tmp}/teacher", "--quiet"]) == 0
        ran: list[str] = []
        stack: list[str] = []
        job: list[bool] = []

        def profile(frame, event, arg):
            if event != "call" or stack:
                return
            f = frame.f_code.co_filename
            if not f.startswith(pkg) or not frame.f_code.co_flags & 0x2:  # CO_NEWLOCALS: functions only
                return
            if not job:
                if frame.f_code.co_name != "distill" or not f.endswith(os.path.join("engine", "jobs.py")):
                    return
                job.append(True)
            if f == loss_file and frame.f_code.co_name in ("dask_loss", "rkd_distance_loss", "rkd_angle_loss",
                                                           "semantic_loss", "kd_loss"):
                fr = frame
                while fr is not None:
                    if fr.f_code.co_filename.startswith(pkg):
                        stack.append(rel(fr.f_code.co_filename))
                    fr = fr.f_back
                return
            if rel(f) not in ran:
                ran.append(rel(f))

        sys.setprofile(profile)  # recording stops at the first loss call; the run finishes its epoch
        try:
            assert cli(["distill", "--method", "dask", "--teacher", f"{tmp}/teacher/best.pt", *sets,
                        "--out", f"{tmp}/dask", "--quiet"]) == 0
        finally:
            sys.setprofile(None)
    path = list(dict.fromkeys(reversed(stack)))
    print(f"stack: {len(path)} files: {' -> '.join(path)}")
    crossed = sorted(set(ran) | set(path))
    print(f"ran:   {len(crossed)} files: {', '.join(crossed)}")


if __name__ == "__main__":
    main()
