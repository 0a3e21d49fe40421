"""Safe loading (weights only), the checkpoint validator, divergence that keeps the good checkpoints, exact
resume of RNG states and of CRD's negative sampling (issue 17 items 1 and 6, issue 19's checkpoints)."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from vskd.cli import main
from vskd.engine.checkpoints import (CHECKPOINT_FORMAT, atomic_save, load_checkpoint, load_student, load_teacher,
                                     rng_state, safe_torch_load, set_rng_state, validate_checkpoint)
from vskd.errors import VskdError

from test_trainer import Items, make


class Planted:
    """Unpickling this creates the file ``flag``: what a hostile checkpoint would do."""

    def __init__(self, flag):
        self.flag = str(flag)

    def __reduce__(self):
        return (open, (self.flag, "w"))


def _planted_files(tmp_path):
    """The same hostile payload as torch files (zip; also inside a NumPy object array) and as protocol-2
    and protocol-5 pickles."""
    flag = tmp_path / "planted-code-ran"
    payload = {"format": CHECKPOINT_FORMAT, "meta": {"kind": "student", "hook": Planted(flag)},
               "model": {"w": torch.zeros(2)}}
    files = {"torch": tmp_path / "evil-torch.pt", "pickle2": tmp_path / "evil-p2.pt", "pickle5": tmp_path / "evil-p5.pt",
             "numpy": tmp_path / "evil-numpy.pt"}
    torch.save(payload, files["torch"])
    # inside a NumPy object array (plain NumPy arrays are accepted, their Python objects are not)
    torch.save({**payload, "meta": np.array([Planted(flag)], dtype=object)}, files["numpy"])
    files["pickle2"].write_bytes(pickle.dumps(payload, protocol=2))
    files["pickle5"].write_bytes(pickle.dumps(payload, protocol=5))
    assert not flag.exists()
    return flag, files


TINY_DATA = ["--set", "data.preset=tiny", "--set", "student.input.out_size=32"]


def _command(cmd, path, tmp_path):
    out = str(tmp_path / f"out-{cmd}")
    if cmd == "evaluate":
        return ["evaluate", str(path), "--out", out]
    if cmd == "export":
        return ["export", str(path), "--out", out]
    if cmd == "stream":
        csv = tmp_path / "samples.csv"
        csv.write_text("".join(f"{i / 50:.3f},0.1,0.2,0.9\n" for i in range(200)))
        return ["stream", str(path), "--input", str(csv)]
    return ["distill", "--teacher", str(path), *TINY_DATA, "--set", f"data.cache_dir={tmp_path / 'cache'}",
            "--out", out, "--quiet"]


@pytest.mark.parametrize("cmd", ["evaluate", "export", "stream", "distill"])
def test_a_planted_checkpoint_is_refused_in_one_line_and_runs_nothing(cmd, tmp_path, capsys):
    flag, files = _planted_files(tmp_path)
    for kind, path in files.items():
        capsys.readouterr()
        assert main(_command(cmd, path, tmp_path)) == 2, kind
        assert not flag.exists(), f"{cmd} ran the code planted in {kind}"
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, (kind, err)
        assert str(path) in err, err
        if not (cmd == "stream" and kind.startswith("pickle")):  # stream reads a non-zip file as ONNX, and refuses that
            assert "not a safe vskd checkpoint" in err and "loads weights only" in err, err


def test_the_caches_refuse_planted_files_without_running_them(tmp_path):
    from vskd.data.cache import ArrayCache
    from vskd.engine.distiller import TeacherCache

    flag, files = _planted_files(tmp_path)
    torch.save({"features": {"emb": Planted(flag)}}, tmp_path / "teacher.pt")
    with pytest.raises(VskdError, match="not a safe teacher cache"):
        TeacherCache.load(tmp_path / "teacher.pt")
    for path in files.values():
        with pytest.raises(VskdError, match="not a safe teacher cache"):
            TeacherCache.load(path)
    # a GAF / clip cache entry holding a pickled object array: refused, deleted, rebuilt
    cache = ArrayCache(tmp_path / "arrays")
    entry = cache.path("gaf", "ab" * 32)
    entry.parent.mkdir(parents=True)
    with open(entry, "wb") as fh:
        np.savez(fh, data=np.array([Planted(flag)], dtype=object), meta=np.array('{"key": "x"}'))
    assert cache.get("gaf", "ab" * 32) is None and cache.stats.corrupt == 1 and not entry.exists()
    assert not flag.exists()
    # a good teacher cache still loads
    TeacherCache({"emb": torch.ones(3, 2)}).save(tmp_path / "good.pt")
    assert torch.equal(TeacherCache.load(tmp_path / "good.pt").features["emb"], torch.ones(3, 2))


def test_safe_torch_load_messages(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "junk.pt").write_bytes(b"\x80\x02junk" * 10)
    for name in ("empty.pt", "junk.pt"):
        with pytest.raises(VskdError, match=f"{name}.*(unreadable|not a safe)"):
            safe_torch_load(tmp_path / name)


# ----------------------------------------------------------------------------- the validator

def _student_checkpoint(tmp_path, classes=4):
    """A real student best.pt (the small MobileNet student, untrained), as train-student writes it."""
    from vskd.config import Config
    from vskd.engine.builders import build_student
    from vskd.engine.jobs import _meta

    cfg = Config()
    cfg.data.preset = "tiny"
    cfg.student.arch = "mobilenet_v3_small"
    cfg.student.pretrained = None
    cfg.student.input.out_size = 32
    cfg.data.cache_dir = str(tmp_path / "cache")
    torch.manual_seed(0)
    model = build_student(cfg, classes)
    ckpt = {"format": CHECKPOINT_FORMAT, "epoch": 0, "model": model.state_dict(), "history": [],
            "best": {"epoch": 0, "accuracy": 0.5, "macro_f1": 0.5},
            "meta": _meta(cfg, "student", [f"c{i}" for i in range(classes)])}
    path = tmp_path / "best.pt"
    atomic_save(ckpt, path)
    return path, ckpt


def _tampered(tmp_path, ckpt, name, change):
    bad = {**ckpt, "meta": dict(ckpt["meta"]), "model": dict(ckpt["model"])}
    change(bad)
    path = tmp_path / f"{name}.pt"
    atomic_save(bad, path)
    return path


def _nan_first(c):
    k = next(k for k, v in c["model"].items() if v.is_floating_point())
    c["model"][k] = c["model"][k].clone()
    c["model"][k].view(-1)[0] = float("nan")


TAMPERED = {
    "no-meta": (lambda c: c.pop("meta"), "has no metadata"),
    "no-model": (lambda c: c.pop("model"), "has no model weights"),
    "kind": (lambda c: c["meta"].update(kind="banana"), "meta 'kind' must be one of teacher, student"),
    "num-classes": (lambda c: c["meta"].update(num_classes="four"), "meta 'num_classes' must be an integer"),
    "class-names": (lambda c: c["meta"].update(class_names=["a"]), "meta 'class_names' must be 4 names"),
    "no-config": (lambda c: c["meta"].pop("config"), "meta 'config'"),
    "wrong-classes": (lambda c: c["meta"].update(num_classes=5, class_names=list("abcde")),
                      r"weight 'fc1.weight' has shape \(4, 300\), the student its config describes \(5 classes\) expects \(5, 300\)"),
    "missing-weight": (lambda c: c["model"].pop("fc1.bias"), r"1 missing \(e.g. 'fc1.bias'\)"),
    "unexpected-weight": (lambda c: c["model"].update(extra=torch.zeros(1)), r"1 unexpected \(e.g. 'extra'\)"),
    "not-a-tensor": (lambda c: c["model"].update({"fc1.bias": [0.0] * 4}), "'fc1.bias' is not a tensor"),
    "nan": (_nan_first, "non-finite weights: 1 of"),
    "inf": (lambda c: c["model"].update({"fc1.bias": torch.full((4,), float("inf"))}), "non-finite weights: 4 of"),
}


def test_validator_names_the_checkpoint_and_what_is_wrong(tmp_path):
    path, ckpt = _student_checkpoint(tmp_path)
    student, meta, _ = load_student(path)
    assert meta["num_classes"] == 4 and not student.training
    assert validate_checkpoint(ckpt, path, student) == ckpt["meta"]
    for name, (change, message) in TAMPERED.items():
        bad = _tampered(tmp_path, ckpt, name, change)
        with pytest.raises(VskdError, match=message) as info:
            load_student(bad)
        assert str(bad) in str(info.value) and "\n" not in str(info.value), name
    with pytest.raises(VskdError, match="expected a teacher"):
        load_teacher(path)


@pytest.mark.parametrize("name", ["nan", "wrong-classes", "no-meta", "missing-weight"])
@pytest.mark.parametrize("cmd", ["evaluate", "export", "stream"])
def test_commands_refuse_tampered_checkpoints_in_one_line(cmd, name, tmp_path, capsys):
    _, ckpt = _student_checkpoint(tmp_path)
    change, message = TAMPERED[name]
    bad = _tampered(tmp_path, ckpt, name, change)
    assert main(_command(cmd, bad, tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err, err
    assert re.search(message, err), err


# ----------------------------------------------------------------------------- divergence

def _inf_lr_from(trainer, loader, first_bad_epoch):
    """Epochs from ``first_bad_epoch`` (0-based) on run with lr = inf (set after any resume)."""
    def hook(epoch):
        loader.sampler.set_epoch(epoch)
        if epoch >= first_bad_epoch:
            for g in trainer.optimizer.param_groups:
                g["lr"] = float("inf")
    trainer.on_epoch_start = hook


def _make(run_dir, epochs, batch):
    """test_trainer's tiny trainer with ``batch`` items per step."""
    tr, model, tl, vl = make(run_dir, epochs)
    return tr, model, DataLoader(tl.dataset, batch_size=batch, sampler=tl.sampler), vl


@pytest.mark.parametrize("batch", [8, 48], ids=["loss-check", "weights-check"])
def test_divergence_stops_and_keeps_the_last_good_checkpoints(tmp_path, batch):
    good, _, tl, vl = _make(tmp_path / "run", 2, batch)
    good.fit(tl, vl)
    saved = {n: (tmp_path / "run" / n).read_bytes() for n in ("best.pt", "last.pt")}

    bad, _, tl, vl = _make(tmp_path / "run", 4, batch)
    _inf_lr_from(bad, tl, 2)
    with pytest.raises(VskdError, match=r"training diverged at epoch 3: .*(loss is nan|weights are NaN/Inf)"
                                         r".*keep the last good epoch.*lower the learning rate") as info:
        bad.fit(tl, vl, resume=True)
    assert "\n" not in str(info.value)
    for n, data in saved.items():  # nothing overwritten: best.pt and last.pt are still epoch 2's
        assert (tmp_path / "run" / n).read_bytes() == data, n
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["epoch"] == 1 and all(torch.isfinite(v).all() for v in ckpt["trainable"].values())

    # --resume with a sane learning rate continues from epoch 3, as if nothing had happened
    again, m_again, tl, vl = _make(tmp_path / "run", 4, batch)
    res = again.fit(tl, vl, resume=True)
    full, m_full, tl, vl = _make(tmp_path / "full", 4, batch)
    full.fit(tl, vl)
    assert len(res.history) == 4
    for a, b in zip(m_full.state_dict().values(), m_again.state_dict().values()):
        assert torch.equal(a, b)


def test_divergence_in_the_first_epoch_writes_no_checkpoint(tmp_path):
    tr, _, tl, vl = make(tmp_path, 2)
    _inf_lr_from(tr, tl, 0)
    with pytest.raises(VskdError, match="epoch 1: .*no checkpoint was written"):
        tr.fit(tl, vl)
    assert not (tmp_path / "best.pt").exists() and not (tmp_path / "last.pt").exists()


# ----------------------------------------------------------------------------- exact resume

def test_last_pt_from_before_tensor_rng_states_still_resumes(tmp_path):
    """last.pt files written before this change hold NumPy's RNG state as NumPy's tuple (an ndarray)."""
    import random

    tr, _, tl, vl = make(tmp_path, 1)
    tr.fit(tl, vl)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    np.random.seed(7)
    ckpt["rng"]["numpy"] = np.random.get_state()
    ckpt["rng"]["python"] = random.getstate()
    expected = np.random.rand(2).tolist()
    torch.save(ckpt, tmp_path / "last.pt")
    again, _, tl, vl = make(tmp_path, 2)
    again.on_epoch_start = lambda e: (tl.sampler.set_epoch(e), seen.append(np.random.rand(2).tolist()))
    seen = []
    assert len(again.fit(tl, vl, resume=True).history) == 2 and seen == [expected]


def test_rng_states_survive_a_weights_only_round_trip(tmp_path):
    import random

    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.standard_normal()  # leaves a cached Gaussian in NumPy's legacy state
    atomic_save({"format": CHECKPOINT_FORMAT, "rng": rng_state()}, tmp_path / "r.pt")
    expected = (random.random(), np.random.standard_normal(3).tolist(), torch.rand(3).tolist())
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    set_rng_state(load_checkpoint(tmp_path / "r.pt")["rng"])
    assert (random.random(), np.random.standard_normal(3).tolist(), torch.rand(3).tolist()) == expected


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the CUDA RNG state needs a GPU")
def test_cuda_rng_state_is_saved_and_restored(tmp_path):
    torch.cuda.manual_seed_all(5)
    torch.rand(1, device="cuda")
    atomic_save({"format": CHECKPOINT_FORMAT, "rng": rng_state()}, tmp_path / "r.pt")
    state = load_checkpoint(tmp_path / "r.pt")["rng"]
    assert len(state["cuda"]) == torch.cuda.device_count()
    expected = torch.rand(4, device="cuda").cpu()
    torch.cuda.manual_seed_all(99)
    set_rng_state(state)
    assert torch.equal(torch.rand(4, device="cuda").cpu(), expected)


class _CRDToy(nn.Module):
    """A linear student whose 'pooled' features CRD contrasts with a fixed random 'teacher' (k < N - 1:
    the negatives come from CRD's generator)."""

    def __init__(self, n):
        super().__init__()
        from vskd.losses.crd import CRD
        from vskd.losses.registry import MethodSetup

        torch.manual_seed(0)
        self.student = nn.Linear(4, 6)
        self.head = nn.Linear(6, 2)
        self.method = CRD(embed_dim=8, num_negatives=5, seed=3)
        self.method.setup(MethodSetup({"pooled": (6,)}, {"pooled": (5,)}, num_train=n))
        self.teacher = torch.randn(n, 5, generator=torch.Generator().manual_seed(1))


def _crd_trainer(run_dir, epochs):
    from vskd.engine.evaluate import classification_metrics, predict
    from vskd.engine.trainer import EpochShuffleSampler, Trainer

    ds = Items(24)
    toy = _CRDToy(len(ds))
    opt = torch.optim.SGD(toy.parameters(), lr=0.1, momentum=0.9)
    sampler = EpochShuffleSampler(len(ds), seed=4)
    tl = DataLoader(ds, batch_size=6, sampler=sampler)
    vl = DataLoader(Items(8, seed=1), batch_size=8)

    def step(b):
        pooled = toy.student(b["x"])
        crd = toy.method({"pooled": pooled, "index": b["index"]}, {"pooled": toy.teacher[b["index"]]})["crd"]
        ce = F.cross_entropy(toy.head(torch.relu(pooled)), b["label"])
        return {"loss": ce + crd, "ce": ce, "crd": crd}

    def evaluate(loader):
        y, p, _ = predict(lambda b: toy.head(torch.relu(toy.student(b["x"]))), loader)
        return classification_metrics(y, p, 2)

    tr = Trainer(run_dir, toy, opt, step, evaluate, epochs, meta={"kind": "toy"},
                 on_epoch_start=sampler.set_epoch, progress=False, tensorboard=False)
    return tr, toy, tl, vl


def _crd_run(run_dir, epochs, resume=False):
    tr, toy, tl, vl = _crd_trainer(run_dir, epochs)
    return tr.fit(tl, vl, resume=resume), toy


def test_a_resumed_crd_run_draws_the_negatives_of_an_uninterrupted_one(tmp_path, monkeypatch):
    full, m_full = _crd_run(tmp_path / "full", 4)
    _crd_run(tmp_path / "part", 2)
    last = load_checkpoint(tmp_path / "part" / "last.pt")
    assert last["trainable"]["method._extra_state"]["generator"].dtype == torch.uint8
    # a copy of the interrupted run for the control below
    (tmp_path / "ctl").mkdir()
    (tmp_path / "ctl" / "last.pt").write_bytes((tmp_path / "part" / "last.pt").read_bytes())
    resumed, m_resumed = _crd_run(tmp_path / "part", 4, resume=True)
    assert [h["train_crd"] for h in resumed.history] == [h["train_crd"] for h in full.history]
    for (k, a), b in zip(m_full.state_dict().items(), m_resumed.state_dict().values()):
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b), k
    # a last.pt from before CRD saved its generator still resumes; other missing weights do not
    old = load_checkpoint(tmp_path / "ctl" / "last.pt")
    del old["trainable"]["method._extra_state"]
    atomic_save(old, tmp_path / "old" / "last.pt")
    assert len(_crd_run(tmp_path / "old", 3, resume=True)[0].history) == 3
    del old["trainable"]["head.bias"]
    atomic_save(old, tmp_path / "old" / "last.pt")
    with pytest.raises(VskdError, match="different model .*missing 'head.bias'"):
        _crd_run(tmp_path / "old", 3, resume=True)
    # control: resumed without the generator's state, the negatives (and so the losses) differ
    from vskd.losses.crd import CRD

    monkeypatch.setattr(CRD, "set_extra_state", lambda self, state: None)
    control, _ = _crd_run(tmp_path / "ctl", 4, resume=True)
    assert [h["train_crd"] for h in control.history[2:]] != [h["train_crd"] for h in full.history[2:]]


def _teacher_checkpoint(tmp_path, classes=4):
    """A real (untrained) video-teacher best.pt on the tiny synthetic preset (test_e2e's teacher), as
    train-teacher writes it."""
    from vskd.config import apply_overrides, config_from_dict
    from vskd.engine.builders import build_teacher
    from vskd.engine.jobs import _meta

    from test_e2e import TINY

    cfg = config_from_dict(apply_overrides({}, [o for o in TINY if o.startswith(("data.", "teacher."))]
                                           + [f"data.cache_dir={tmp_path / 'cache'}"]))
    cfg.teacher.pretrained = None
    torch.manual_seed(0)
    ckpt = {"format": CHECKPOINT_FORMAT, "epoch": 0, "model": build_teacher(cfg, classes).state_dict(),
            "history": [], "best": {"epoch": 0, "accuracy": 0.5, "macro_f1": 0.5},
            "meta": _meta(cfg, "teacher", [f"c{i}" for i in range(classes)])}
    atomic_save(ckpt, tmp_path / "teacher.pt")
    return tmp_path / "teacher.pt", ckpt


@pytest.mark.slow  # renders the tiny synthetic videos for one evaluation (about 10 s on an idle CPU)
def test_teacher_checkpoints_are_validated_for_evaluate_and_distill(tmp_path, capsys):
    import json

    path, ckpt = _teacher_checkpoint(tmp_path)
    assert main(["evaluate", str(path), "--out", str(tmp_path / "eval")]) == 0
    assert 0.0 <= json.loads((tmp_path / "eval" / "eval_test.json").read_text())["accuracy"] <= 1.0
    with pytest.raises(VskdError, match="trained for 4 classes, but the dataset has 5"):
        load_teacher(path, num_classes=5)
    for name in ("nan", "missing-weight"):
        change = TAMPERED[name][0] if name == "nan" else (lambda c: c["model"].pop(next(iter(c["model"]))))
        bad = _tampered(tmp_path, ckpt, name, change)
        for cmd in ("evaluate", "distill"):
            capsys.readouterr()
            assert main(_command(cmd, bad, tmp_path)) == 2
            err = capsys.readouterr().err.strip()
            assert len(err.splitlines()) == 1 and str(bad) in err, err
            assert ("non-finite weights" if name == "nan" else "1 missing") in err, err
