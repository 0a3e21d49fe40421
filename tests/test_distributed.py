"""torchrun / DistributedDataParallel on CPU (gloo) and crash safety with a real killed process.

The 2-process run must compute what a 1-process run with the same global batch computes. BatchNorm
normalises each rank's shard with that shard's statistics (SyncBatchNorm needs a GPU), so the
1-process twin splits every batch into the same shards (``micro_batches=2``, by stride, as the
distributed sampler deals them) and accumulates the gradients: then the losses and the trained weights
agree to float rounding (the order of the gradient sums differs).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vskd.engine.trainer import EpochShuffleSampler, split_batch

from test_e2e import TINY, sets as _sets

VENV_BIN = Path(sys.executable).parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _vskd(args, **kw):
    return subprocess.run([sys.executable, "-m", "vskd", *args], env=ENV, capture_output=True, text=True,
                          timeout=600, **kw)


def _torchrun(n, args):
    cmd = [str(VENV_BIN / "torchrun"), "--standalone", f"--nproc_per_node={n}", "-m", "vskd", *args]
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)


def _losses(run: Path) -> list[float]:
    with (run / "metrics.csv").open() as fh:
        return [float(r["train_loss"]) for r in csv.DictReader(fh)]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    ckpt = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    return {k: v for k, v in ckpt["trainable"].items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and "running" not in k}


# ------------------------------------------------------------------------------ unit


def test_rank_shards_are_the_global_batches_split_by_stride():
    n, seed, world, per_rank = 23, 5, 2, 4
    single = list(EpochShuffleSampler(n, seed))
    shards = [list(EpochShuffleSampler(n, seed, rank=r, world=world)) for r in range(world)]
    assert all(len(s) == 12 for s in shards)  # padded to a multiple of the world
    padded = single + single[: 24 - n]
    for j in range(3):
        glob = padded[j * per_rank * world:(j + 1) * per_rank * world]
        batch = {"label": torch.tensor(glob), "index": list(glob)}
        micro = split_batch(batch, world)
        for r in range(world):
            assert shards[r][j * per_rank:(j + 1) * per_rank] == micro[r]["index"]
            assert micro[r]["label"].tolist() == micro[r]["index"]
    with pytest.raises(ValueError):
        EpochShuffleSampler(n, seed, rank=2, world=2)


# ------------------------------------------------------------------------------ torchrun


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_teacher):
    root = tmp_path_factory.mktemp("dist")
    (root / "teacher").symlink_to(tiny_teacher.parent, target_is_directory=True)  # tests/conftest.py
    ov = TINY + [f"data.cache_dir={root / 'cache'}", "student.train.epochs=2", "teacher.train.epochs=1"]
    yield root, ov
    shutil.rmtree(root, ignore_errors=True)  # a module's runs, once its tests are done (disk)


@pytest.mark.parametrize("job", ["train-student", "distill"])
def test_two_gloo_processes_match_one_process(tiny, job):
    root, ov = tiny
    extra = ["--method", "dask", "--teacher", str(root / "teacher" / "best.pt")] if job == "distill" else []
    one = root / f"{job}-1proc"
    two = root / f"{job}-2proc"
    r1 = _vskd([job, *extra, *_sets(ov + ["student.train.micro_batches=2"]), "--out", str(one), "--quiet"])
    assert r1.returncode == 0, r1.stderr[-2000:]
    r2 = _torchrun(2, [job, *extra, *_sets(ov), "--out", str(two), "--quiet"])
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert json.loads((two / "results.json").read_text())["world_size"] == 2
    assert _losses(two) == pytest.approx(_losses(one), rel=1e-4)
    w1, w2 = _weights(one), _weights(two)
    assert w1.keys() == w2.keys()
    worst = max(float((w1[k] - w2[k]).abs().max()) for k in w1)
    assert worst < 1e-4, worst


@pytest.mark.slow
def test_crd_under_torchrun(tiny):
    """CRD's memory banks are written with every rank's samples (all-gathered), so they stay identical;
    its negatives are drawn per step, so it is not bit-equal to a micro-batched single process."""
    root, ov = tiny
    run = root / "crd-2proc"
    r = _torchrun(2, ["distill", "--method", "crd", "--teacher", str(root / "teacher" / "best.pt"),
                      *_sets(ov), "--out", str(run), "--quiet"])
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((run / "results.json").read_text())
    assert res["world_size"] == 2 and res["method"] == "crd"
    bank = torch.load(run / "last.pt", map_location="cpu", weights_only=True)["trainable"]["method.memory_student"]
    assert torch.isfinite(bank).all() and bool((bank.norm(dim=1) > 0.99).all())  # unit rows, no NaN


# ------------------------------------------------------------------------------ crash safety


@pytest.mark.slow
def test_sigkill_then_resume_ends_like_an_uninterrupted_run(tiny):
    root, ov = tiny
    ov = ov + ["student.train.epochs=4"]
    ref = root / "ref"
    r = _vskd(["train-student", *_sets(ov), "--out", str(ref), "--quiet"])
    assert r.returncode == 0, r.stderr[-2000:]

    run = root / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "vskd", "train-student", *_sets(ov), "--out", str(run), "--quiet"],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while time.time() < deadline:  # kill it in the middle of its second epoch or later
            if (run / "metrics.csv").exists() and len((run / "metrics.csv").read_text().splitlines()) >= 2:
                break
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (run / "results.json").exists()  # nothing looks finished
    again = _vskd(["train-student", *_sets(ov), "--out", str(run), "--quiet"])
    assert again.returncode != 0 and "--resume" in again.stderr  # a plain rerun refuses to overwrite
    r = _vskd(["train-student", *_sets(ov), "--out", str(run), "--resume", "--quiet"])
    assert r.returncode == 0, r.stderr[-2000:]
    a = json.loads((ref / "results.json").read_text())
    b = json.loads((run / "results.json").read_text())
    assert (a["best_epoch"], a["val"], a["test"]) == (b["best_epoch"], b["val"], b["test"])
    assert _losses(run) == _losses(ref)


def test_truncated_and_foreign_checkpoints_give_one_line_errors(tiny, tmp_path):
    root, ov = tiny
    src = (root / "teacher" / "last.pt").read_bytes()
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(src[: len(src) // 2])
    r = _vskd(["train-teacher", *_sets(ov), "--out", str(run), "--resume", "--quiet"])
    assert r.returncode != 0 and "truncated" in r.stderr and "Traceback" not in r.stderr
    torch.save({"weights": 1}, run / "last.pt")
    r = _vskd(["train-teacher", *_sets(ov), "--out", str(run), "--resume", "--quiet"])
    assert r.returncode != 0 and "not a vskd checkpoint" in r.stderr and "Traceback" not in r.stderr
    assert not (run / "results.json").exists()
