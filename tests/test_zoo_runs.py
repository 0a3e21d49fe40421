"""Every registered distillation method runs, and learns, on the tiny synthetic preset.

One tiny teacher is trained once for the module (ResNet-18 backbone, 4 segments, 32 px, 1 epoch).
For every method in the registry (``list_methods()``, so methods added later are covered too):

* ``test_method_runs_from_the_cli``: ``vskd distill --method NAME`` for one epoch (with its
  pre-training stage when it has one) writes its results;
* ``test_method_loss_goes_down``: a few optimiser steps through :class:`Distiller` on one fixed
  batch (real teacher clips and GAF images) lower the method's own terms (the sum of every term but
  the cross-entropy), or, for methods whose stage-2 terms are off by default (AB, FSP), the
  pre-training stage's loss; the first step's gradients reach the student and every trainable
  adapter, never the teacher.

The loss check trains with ``ce_weight = 0`` so that only the method's own terms drive the student
(with the cross-entropy, a logit term such as KD may rise while the total falls). The CLI runs give
methods with a pre-training stage ``pretrain_epochs=1`` to keep the file fast.
"""

from __future__ import annotations

import csv
import inspect
import json
import math
import shutil

import pytest
import torch
from torch.utils.data import DataLoader

from vskd.cli import main
from vskd.config import load_config
from vskd.engine.distiller import Distiller
from vskd.engine.checkpoints import load_teacher
from vskd.engine.pipeline import build_student, load_data, paired
from vskd.errors import ConfigError
from vskd.losses import create_method, get_method, list_methods

from test_e2e import TINY as E2E_TINY, sets as _sets

# the e2e tiny preset, one epoch each
TINY = [o for o in E2E_TINY if ".train.epochs=" not in o] + ["teacher.train.epochs=1", "student.train.epochs=1"]
METHODS = [name for name, _, _ in list_methods()]
# the quick loop (pytest -m "not slow") runs these two; every method runs in CI
QUICK_METHODS = ("kd", "dask")
METHOD_PARAMS = [m if m in QUICK_METHODS else pytest.param(m, marks=pytest.mark.slow) for m in METHODS]
STEPS = 8


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_teacher):
    root = tmp_path_factory.mktemp("zoo")
    (root / "teacher").symlink_to(tiny_teacher.parent, target_is_directory=True)  # tests/conftest.py
    ov = TINY + [f"data.cache_dir={root / 'cache'}"]
    cfg = load_config(None, ov)
    _, splits, names = load_data(cfg)
    teacher, _ = load_teacher(root / "teacher" / "best.pt", len(names))
    ds = paired(cfg, splits.train, train=False, teacher=True)
    batch = next(iter(DataLoader(ds, batch_size=8, shuffle=False)))
    yield {"root": root, "ov": ov, "cfg": cfg, "teacher": teacher, "batch": batch,
            "num_train": len(ds), "num_classes": len(names)}
    shutil.rmtree(root, ignore_errors=True)  # a module's runs, once its tests are done (disk)


def test_every_method_of_the_issue_is_registered():
    wanted = {"kd", "fitnet", "at", "sp", "cc", "vid", "rkd", "pkt", "ab", "ft", "fsp", "nst", "crd", "simkd",
              "semckd", "dask"}
    assert wanted <= set(METHODS)


@pytest.mark.parametrize("name", METHOD_PARAMS)
def test_method_runs_from_the_cli(env, name, capsys):
    root = env["root"]
    out = root / f"run-{name}"
    extra = []
    if "pretrain_epochs" in inspect.signature(get_method(name).__init__).parameters:
        extra = ["--set", "distill.options={pretrain_epochs: 1}"]
    code = main(["distill", "--method", name, "--teacher", str(root / "teacher" / "best.pt"), *_sets(env["ov"]),
                 *extra, "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    res = json.loads((out / "results.json").read_text())
    assert res["method"] == name and 0.0 <= res["test"]["accuracy"] <= 1.0
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == 1 and math.isfinite(float(rows[0]["train_loss"]))


@pytest.mark.parametrize("name", METHOD_PARAMS)
def test_method_loss_goes_down(env, name):
    torch.manual_seed(0)
    teacher, batch = env["teacher"], env["batch"]
    student = build_student(env["cfg"], env["num_classes"])
    method = create_method(name)
    d = Distiller(student, teacher, method, ce_weight=0.0)
    d.setup_method(batch, num_train=env["num_train"], num_classes=env["num_classes"])
    checked = []
    history = method.pretrain(d, [batch, batch], progress=False)  # [] for methods without a stage 1
    if history:
        assert history[-1] < history[0], history
        checked.append("pretrain")
    params = [p for p in d.trainable.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-3)
    values = []
    for step in range(STEPS):
        _, terms = d(batch)
        own = [v for k, v in terms.items() if k not in ("loss", "ce")]
        opt.zero_grad()
        terms["loss"].backward()
        if step == 0:
            assert all(p.grad is None for p in teacher.parameters())
            if own:
                assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
                missing = [n for n, p in method.named_parameters() if p.requires_grad and p.grad is None]
                assert not missing, f"{name}: no gradient for adapters {missing}"
        opt.step()
        if own:
            values.append(float(sum(v.detach() for v in own)))
    if values:
        assert all(math.isfinite(v) for v in values)
        assert values[-1] < values[0], values
        checked.append("train")
    assert checked, f"{name}: neither a training term nor a pre-training stage to check"
    d.close()


def test_wiring_mismatch_fails_at_setup_naming_both_features(env):
    student = build_student(env["cfg"], env["num_classes"] + 1)  # one class more than the teacher
    d = Distiller(student, env["teacher"], create_method("kd"))
    with pytest.raises(ConfigError) as err:
        d.setup_method(env["batch"])
    msg = str(err.value)
    assert "student feature 'logits'" in msg and "teacher feature 'logits'" in msg
    c = env["num_classes"]
    assert f"({c + 1},)" in msg and f"({c},)" in msg
    d.close()


def test_wiring_mismatch_from_the_cli_is_one_line(env, capsys):
    root = env["root"]
    code = main(["distill", "--method", "dask", "--teacher", str(root / "teacher" / "best.pt"), *_sets(env["ov"]),
                 "--set", "student.embed_dim=64", "--out", str(root / "bad-wiring"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'emb'" in err[0] and "(64,)" in err[0] and "(300,)" in err[0]


def test_label_smoothing_reaches_the_distiller_cross_entropy(env):
    import torch.nn.functional as F

    student = build_student(env["cfg"], env["num_classes"])
    labels = torch.as_tensor(env["batch"]["label"])
    for eps in (0.0, 0.2):
        d = Distiller(student, env["teacher"], create_method("kd"), label_smoothing=eps)
        d.eval()
        with torch.no_grad():
            logits, terms = d(env["batch"])
            expected = F.cross_entropy(logits, labels, label_smoothing=eps)
        assert float(terms["ce"]) == pytest.approx(float(expected), rel=1e-6)
        if eps:
            assert float(terms["ce"]) != pytest.approx(float(F.cross_entropy(logits, labels)), rel=1e-4)
        d.close()
    with pytest.raises(ConfigError, match="student.train.label_smoothing"):
        load_config(None, ["student.train.label_smoothing=1.0"])
