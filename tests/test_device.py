"""``device`` and ``*.train.amp`` (vskd.engine.device): what the CPU can check. The CUDA path itself is
run by benchmarks/gpu_timing.py on a GPU machine (docs/results/gpu-h200.md); CI has no GPU."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from vskd.config import load_config
from vskd.engine.device import autocast, check_amp, grad_scaler, module_device, resolve_device, to_device
from vskd.engine.evaluate import classification_metrics, predict
from vskd.engine.trainer import EpochShuffleSampler, Trainer
from vskd.errors import ConfigError

from test_trainer import Items
from test_e2e import TINY, sets

NO_GPU = not torch.cuda.is_available()


def test_resolve_device_cpu_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == (torch.device("cuda", 0) if not NO_GPU else torch.device("cpu"))


@pytest.mark.skipif(not NO_GPU, reason="checks the refusal on a machine without a GPU")
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "CUDA:1"])
def test_cuda_without_a_gpu_is_one_line_naming_the_key(name):
    with pytest.raises(ConfigError, match=r"config key 'device'.*no CUDA GPU"):
        resolve_device(name)


@pytest.mark.parametrize("value", ["gpu", "cuda:x", "cuda0", ""])
def test_config_refuses_a_malformed_device(value):
    with pytest.raises(ConfigError, match=r"config key 'device': expected cpu, cuda, cuda:N or auto"):
        load_config(None, [f"device={value}"])


def test_config_refuses_an_unknown_amp_mode():
    with pytest.raises(ConfigError, match=r"config key 'student.train.amp': expected one of off, bf16, fp16"):
        load_config(None, ["student.train.amp=fp32"])


def test_fp16_needs_a_gpu_bf16_does_not():
    with pytest.raises(ConfigError, match=r"'student.train.amp': fp16 needs a CUDA device"):
        check_amp("fp16", torch.device("cpu"), "student.train")
    check_amp("bf16", torch.device("cpu"), "student.train")
    assert grad_scaler("bf16", torch.device("cpu")) is None and grad_scaler("off", torch.device("cpu")) is None


def test_to_device_moves_every_nested_tensor_and_nothing_else():
    batch = {"student": torch.ones(2, 3), "teacher": {"skeleton": torch.zeros(2, 4), "inertial": torch.ones(2)},
             "label": torch.tensor([0, 1]), "index": [3, 4], "name": "a", "pair": (torch.ones(1), 5)}
    assert to_device(batch, torch.device("cpu")) is batch  # the CPU: nothing copied
    moved = to_device(batch, torch.device("meta"))  # a device any machine has: shows where each tensor went
    assert moved["student"].is_meta and moved["teacher"]["skeleton"].is_meta and moved["label"].is_meta
    assert moved["pair"][0].is_meta and moved["pair"][1] == 5
    assert moved["index"] == [3, 4] and moved["name"] == "a"
    assert not batch["student"].is_meta  # the original is left alone


def test_module_device():
    assert module_device(nn.Linear(2, 2)) == torch.device("cpu")
    assert module_device(nn.Linear(2, 2, device="meta")) == torch.device("meta")
    assert module_device(nn.ReLU()) == torch.device("cpu")


def _fit(tmp_path, amp):
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    ds = Items()
    sampler = EpochShuffleSampler(len(ds), seed=3)
    seen = []

    def step(b):
        seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        logits = model(b["x"])
        seen.append(logits.dtype)
        return {"loss": F.cross_entropy(logits, b["label"])}

    def evaluate(loader):
        y, p, _ = predict(lambda b: model(b["x"]), loader)
        return classification_metrics(y, p, 2)

    tr = Trainer(tmp_path, model, opt, step, evaluate, 2, on_epoch_start=sampler.set_epoch, progress=False,
                 tensorboard=False, amp=amp)
    res = tr.fit(DataLoader(ds, batch_size=8, sampler=sampler), DataLoader(Items(16, seed=1), batch_size=8))
    return res, seen, model


def test_bf16_runs_the_step_under_autocast_and_trains_like_float32(tmp_path):
    res16, seen16, m16 = _fit(tmp_path / "bf16", "bf16")
    res32, seen32, m32 = _fit(tmp_path / "fp32", "off")
    assert seen16[0] == (True, torch.bfloat16) and seen16[1] == torch.bfloat16  # the linear ran in bf16
    assert seen32[0][0] is False and seen32[1] == torch.float32
    assert m16.weight.dtype == torch.float32  # the weights stay float32 (autocast casts per op)
    l16 = [h["train_loss"] for h in res16.history]
    l32 = [h["train_loss"] for h in res32.history]
    assert l16 != l32  # bf16 really changed the arithmetic ...
    assert l16 == pytest.approx(l32, rel=0.05)  # ... and not the training
    assert torch.allclose(m16.weight, m32.weight, atol=0.05)


def test_trainer_refuses_fp16_on_the_cpu(tmp_path):
    model = nn.Linear(4, 2)
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        Trainer(tmp_path, model, torch.optim.SGD(model.parameters(), lr=0.1), lambda b: {}, lambda l: {}, 1, amp="fp16")


def test_autocast_off_is_a_no_op():
    with autocast("off", torch.device("cpu")):
        assert not torch.is_autocast_enabled("cpu")


def test_a_distillation_run_in_bf16_end_to_end(tmp_path, tiny_teacher):
    """vskd distill with student.train.amp bf16 (and device auto, which is the CPU here): finishes, records
    finite losses, and its best.pt evaluates."""
    from vskd.cli import main

    ov = [*TINY, "student.train.epochs=1", "student.train.amp=bf16", "device=auto",
          f"data.cache_dir={tmp_path / 'cache'}"]
    out = tmp_path / "dask"
    assert main(["distill", "--method", "dask", "--teacher", str(tiny_teacher), *sets(ov), "--out", str(out),
                 "--quiet"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert 0.0 <= res["test"]["accuracy"] <= 1.0
    rows = (out / "metrics.csv").read_text().splitlines()
    header, first = rows[0].split(","), rows[1].split(",")
    loss = float(first[header.index("train_loss")])
    assert loss == loss and loss < 1e6


@pytest.mark.skipif(NO_GPU, reason="needs a CUDA GPU (run on the device machine: benchmarks/gpu_session.sh)")
@pytest.mark.parametrize("amp", ["off", "fp16"])
def test_cuda_teacher_and_distillation_end_to_end(tmp_path, amp):
    """train-teacher and distill on the GPU (fp32, and fp16 with loss scaling): the run finishes, and its
    best.pt, read on the CPU, gives the test accuracy the GPU run reported."""
    from vskd.cli import main
    from vskd.engine.jobs import evaluate_checkpoint

    ov = [*TINY, "teacher.train.epochs=1", "student.train.epochs=2", "device=cuda", f"teacher.train.amp={amp}",
          f"student.train.amp={amp}", f"data.cache_dir={tmp_path / 'cache'}"]
    assert main(["train-teacher", *sets(ov), "--out", str(tmp_path / "t"), "--quiet"]) == 0
    assert main(["distill", "--method", "dask", "--teacher", str(tmp_path / "t" / "best.pt"), *sets(ov),
                 "--out", str(tmp_path / "s"), "--quiet"]) == 0
    res = json.loads((tmp_path / "s" / "results.json").read_text())
    again = evaluate_checkpoint(tmp_path / "s" / "best.pt")  # on the CPU: evaluation never reads cfg.device
    # the same weights on another device: equal up to an argmax flipped by float rounding on a near-tie
    assert again["accuracy"] == pytest.approx(res["test"]["accuracy"], abs=0.05)


def test_the_feature_memo_keeps_cpu_copies_and_answers_on_the_inputs_device():
    """MiniRocket / Rocket features fitted on the CPU and then computed where the model was moved meet in
    one FeatureMemo: it stores CPU tensors and stacks them on the input's device (a mixed stack would fail
    on a GPU)."""
    from vskd.models.minirocket import FeatureMemo

    memo, transform = FeatureMemo(16), nn.Identity()
    x = torch.arange(12.0).reshape(4, 3)
    memo.store(transform, x[:2], x[:2] * 1.0)
    out = memo.features(transform, x)
    assert torch.equal(out, x) and out.device == x.device
    assert all(v.device.type == "cpu" for v in memo._items.values()) and len(memo) == 4
