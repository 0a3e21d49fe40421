import csv
import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from vskd.engine.evaluate import classification_metrics, predict
from vskd.engine.trainer import EpochShuffleSampler
from vskd.engine.checkpoints import atomic_save, load_checkpoint
from vskd.engine.trainer import Trainer
from vskd.errors import VskdError


class Items(torch.utils.data.Dataset):
    def __init__(self, n=48, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 4, generator=g)
        self.y = (self.x[:, 0] + 0.5 * self.x[:, 1] > 0).long()

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"x": self.x[i], "label": self.y[i], "index": i}


def make(run_dir, epochs):
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [2], 0.5)
    ds = Items()
    sampler = EpochShuffleSampler(len(ds), seed=3)
    tl = DataLoader(ds, batch_size=8, sampler=sampler)
    vl = DataLoader(Items(16, seed=1), batch_size=8)

    def step(b):
        return {"loss": F.cross_entropy(model(b["x"]), b["label"])}

    def evaluate(loader):
        y, p, _ = predict(lambda b: model(b["x"]), loader)
        return classification_metrics(y, p, 2)

    tr = Trainer(run_dir, model, opt, step, evaluate, epochs, scheduler=sched, meta={"kind": "toy"},
                 on_epoch_start=sampler.set_epoch, progress=False, tensorboard=False)
    return tr, model, tl, vl


def test_fit_writes_checkpoints_and_selects_on_validation(tmp_path):
    tr, model, tl, vl = make(tmp_path, 4)
    res = tr.fit(tl, vl)
    assert (tmp_path / "best.pt").exists() and (tmp_path / "last.pt").exists()
    accs = [h["val_accuracy"] for h in res.history]
    assert res.best_val["accuracy"] == max(accs)
    assert res.best_epoch == accs.index(max(accs))
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["epoch"] == res.best_epoch and best["meta"] == {"kind": "toy"}
    assert "optimizer" not in best and "trainable" not in best  # best.pt is for evaluation only
    assert "optimizer" in load_checkpoint(tmp_path / "last.pt")
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert float(rows[-1]["lr"]) == pytest.approx(0.25)  # MultiStepLR at epoch 2, gamma 0.5


def test_resume_equals_uninterrupted(tmp_path):
    full, m_full, tl, vl = make(tmp_path / "full", 4)
    full.fit(tl, vl)
    part, _, tl2, vl2 = make(tmp_path / "part", 2)
    part.fit(tl2, vl2)
    again, m_again, tl3, vl3 = make(tmp_path / "part", 4)
    res = again.fit(tl3, vl3, resume=True)
    assert len(res.history) == 4
    for a, b in zip(m_full.state_dict().values(), m_again.state_dict().values()):
        assert torch.equal(a, b)


def test_existing_files_refused_without_resume_in_pipeline(tmp_path):
    from vskd.config import Config
    from vskd.engine.jobs import RunDir, _prepare_run

    (tmp_path / "last.pt").write_bytes(b"x")
    with pytest.raises(VskdError, match="--resume"):
        _prepare_run(Config(), tmp_path, resume=False)
    # resuming: the run folder comes back with this job's start time (what results.json's wall_s counts from)
    before = time.time()
    run = _prepare_run(Config(), tmp_path, resume=True)
    assert isinstance(run, RunDir) and run.path == tmp_path and before <= run.started <= time.time()
    assert run / "config.yaml" == tmp_path / "config.yaml" and (tmp_path / "config.yaml").is_file()


def test_bad_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(VskdError, match="not found"):
        load_checkpoint(tmp_path / "none.pt")
    atomic_save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(VskdError, match="not a vskd checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    tr, _, tl, vl = make(tmp_path / "r2", 1)
    tr.fit(tl, vl)
    good = (tmp_path / "r2" / "last.pt").read_bytes()
    (tmp_path / "trunc.pt").write_bytes(good[: len(good) // 2])
    with pytest.raises(VskdError, match="unreadable or truncated"):
        load_checkpoint(tmp_path / "trunc.pt")


def test_atomic_save_leaves_no_partial_file(tmp_path):
    class Boom:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_save({"x": Boom()}, tmp_path / "a.pt")
    assert list(tmp_path.iterdir()) == []


def test_divergence_is_reported(tmp_path):
    tr, model, tl, vl = make(tmp_path, 1)
    tr.step = lambda b: {"loss": torch.tensor(float("nan"), requires_grad=True)}
    with pytest.raises(VskdError, match="diverged"):
        tr.fit(tl, vl)


def test_metrics():
    m = classification_metrics([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], 4)
    assert m["accuracy"] == pytest.approx(0.6)
    assert m["per_class_accuracy"] == [0.5, 1.0, 0.0, None]
    # F1 per present class: c0 = 2*.5*.5/(1) = .5, c1 = 2*(2/3)*1/(5/3) = .8, c2 = 0
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert m["confusion"][0] == [1, 1, 0, 0]


def test_atomic_save_failure_is_one_clear_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    from vskd.engine import checkpoints as trainer_mod

    target = tmp_path / "last.pt"
    trainer_mod.atomic_save({"a": 1}, target)

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(trainer_mod.torch, "save", full)
    with pytest.raises(VskdError, match="could not write .*disk full"):
        trainer_mod.atomic_save({"a": 2}, target)
    monkeypatch.undo()
    assert torch.load(target)["a"] == 1 and list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_make_optimizer_uses_foreach_kernels_bit_identical_to_the_single_tensor_ones(name):
    # foreach (torch's multi-tensor kernels, its CUDA default) is faster on the CPU and changes no bit
    from types import SimpleNamespace

    from vskd.engine.builders import make_optimizer

    def train(foreach: bool):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(40, 16), torch.nn.ReLU(), torch.nn.Linear(16, 5))
        opt_cfg = SimpleNamespace(optimizer=name, lr=1e-2, weight_decay=1e-1, momentum=0.9)
        opt = make_optimizer(model.parameters(), opt_cfg)
        assert opt.defaults["foreach"] is True
        if not foreach:
            for group in opt.param_groups:
                group["foreach"] = False
        g = torch.Generator().manual_seed(1)
        for _ in range(20):
            x, y = torch.randn(8, 40, generator=g), torch.randint(0, 5, (8,), generator=g)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        return [p.detach().clone() for p in model.parameters()]

    assert all(torch.equal(a, b) for a, b in zip(train(True), train(False)))
