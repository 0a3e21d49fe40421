"""The minirocket student's closed-form (ridge) head and the GASF + GADF student input (issue 14, items 3-4)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vskd.cli import main
from vskd.config import load_config
from vskd.engine.pipeline import build_student, fit_student, load_data, paired
from vskd.errors import ConfigError, DataError, VskdError
from vskd.gaf import GAFEncoder, gaf_image
from vskd.models.minirocket import RIDGE_ALPHAS, MiniRocketStudent
from vskd.models.registry import build_student_model

from test_e2e import TINY as E2E_TINY, sets


def _windows(n_per_class: int, classes: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy sinusoids whose frequency names the class: (N, 3, 64) windows and labels."""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, 64)
    xs, ys = [], []
    for c in range(classes):
        for _ in range(n_per_class):
            phase = torch.rand(3, 1, generator=g) * 6.28
            xs.append(torch.sin(2 * 3.1416 * (c + 1) * t + phase) + 0.3 * torch.randn(3, 64, generator=g))
            ys.append(c)
    return torch.stack(xs), torch.tensor(ys)


# ------------------------------------------------------------------------------------------ ridge head
@pytest.mark.parametrize("classes", [2, 5])
def test_ridge_head_reproduces_ridge_classifier_before_training(classes):
    from sklearn.linear_model import RidgeClassifierCV

    x, y = _windows(8, classes)
    m = MiniRocketStudent(num_classes=classes, in_channels=3, num_features=840, head_init="ridge")
    m.fit(x, labels=y)
    m.eval()
    with torch.no_grad():
        z = m.scale(m.features(x)).double().numpy()
        logits = m(x)
    ridge = RidgeClassifierCV(alphas=RIDGE_ALPHAS).fit(z, y.numpy())  # the oracle, fitted independently
    xt, _ = _windows(4, classes, seed=1)  # unseen windows
    with torch.no_grad():
        zt = m.scale(m.features(xt)).double().numpy()
        lt = m(xt).double().numpy()
    ref = ridge.decision_function(zt)
    if classes == 2:  # binary ridge: one decision d; the student's scores are (-d, d)
        np.testing.assert_allclose(lt[:, 1], ref, atol=1e-4)
        np.testing.assert_allclose(lt[:, 0], -ref, atol=1e-4)
    else:
        np.testing.assert_allclose(lt, ref, atol=1e-4)
    assert (lt.argmax(1) == ridge.predict(zt)).all()
    assert (logits.argmax(1).numpy() == ridge.predict(z)).all()
    assert m.ridge_alpha == pytest.approx(ridge.alpha_)
    # the distillable contract: a 300-d embedding before the ReLU, the extra units silent in fc1
    assert m.fc0.out_features == 300 and torch.all(m.fc1.weight[:, 2 * classes:] == 0)


def test_ridge_head_class_absent_from_training_never_wins():
    x, y = _windows(6, 3)
    m = MiniRocketStudent(num_classes=4, in_channels=3, num_features=840, head_init="ridge")
    m.fit(x, labels=y)  # class 3 has no training window
    with torch.no_grad():
        logits = m(x)
    assert torch.allclose(logits[:, 3], torch.full((len(x),), -1.0))
    assert (logits.argmax(1) != 3).all()


def test_random_head_differs_from_ridge_and_needs_no_labels():
    x, y = _windows(6, 3)
    a = MiniRocketStudent(num_classes=3, in_channels=3, num_features=840)
    a.fit(x)  # random head: labels not needed
    b = MiniRocketStudent(num_classes=3, in_channels=3, num_features=840, head_init="ridge")
    b.fit(x, labels=y)
    assert not torch.allclose(a.fc1.weight, b.fc1.weight)
    with pytest.raises(ConfigError, match="head_init ridge: fit\\(\\) needs the training labels"):
        MiniRocketStudent(num_classes=3, in_channels=3, num_features=840, head_init="ridge").fit(x)


def test_fit_caches_the_training_features():
    x, y = _windows(4, 2)
    m = MiniRocketStudent(num_classes=2, in_channels=3, num_features=840)
    m.fit(x, labels=y)
    assert len(m._cache) == len(x)
    calls = []
    m.features.register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        m(x)
    assert not calls  # every training window's features came from the cache


def test_head_init_bad_values_are_one_line():
    with pytest.raises(ConfigError, match="student.head_init.*expected one of random, ridge"):
        load_config(None, ["student.head_init=lda"])
    with pytest.raises(ConfigError, match="student.head_init.*minirocket and rocket students only.*watch1d"):
        build_student_model("watch1d", 3, 3, head_init="ridge")
    with pytest.raises(ConfigError, match="student.head_init.*minirocket and rocket students only.*resnet18"):
        build_student(load_config(None, ["student.head_init=ridge"]), 3)
    with pytest.raises(ConfigError, match=r"at least 2 x 27 classes = 54 units \(student.embed_dim is 40\)"):
        build_student_model("minirocket", 27, 3, embed_dim=40, head_init="ridge")
    m = MiniRocketStudent(num_classes=3, in_channels=3, num_features=840, head_init="ridge")
    x, _ = _windows(3, 1)
    with pytest.raises(DataError, match="at least 2"):
        m.fit(x, labels=torch.zeros(len(x), dtype=torch.long))


def test_ridge_head_through_the_engine_on_the_synthetic_set():
    cfg = load_config(None, ["data.preset=tiny", "student.arch=minirocket", "student.head_init=ridge",
                             "student.input.length=64"])
    _, splits, names = load_data(cfg)
    s = build_student(cfg, len(names))
    fit_student(s, cfg, splits.train)
    ds = paired(cfg, splits.train, train=False)
    x = torch.stack([ds[i]["student"] for i in range(len(ds))])
    y = torch.tensor([ds[i]["label"] for i in range(len(ds))])
    s.eval()
    with torch.no_grad():
        acc = float((s(x).argmax(1) == y).float().mean())
    assert acc == 1.0  # ridge on 9 996 features interpolates its few training windows
    assert any(s.ridge_alpha == pytest.approx(a) for a in RIDGE_ALPHAS)


# ------------------------------------------------------------------------------------------ GASF + GADF
@pytest.mark.parametrize("options", [{}, {"image_size": 16, "out_size": 24}, {"orientation": "authors"},
                                     {"scaling": "affine"}])
def test_gaf_both_is_gasf_then_gadf_channels(options):
    w = np.random.default_rng(0).normal(size=(2, 40, 3))
    both = gaf_image(w, method="both", **options)
    s = gaf_image(w, method="summation", **options)
    d = gaf_image(w, method="difference", **options)
    assert both.shape[1] == 6
    np.testing.assert_array_equal(both, np.concatenate([s, d], axis=1))
    enc = GAFEncoder(method="both", **options)(torch.from_numpy(w).float())
    np.testing.assert_allclose(enc.numpy(), both, atol=1e-5)


def test_gaf_both_bad_method_names_the_choices():
    with pytest.raises(VskdError, match="'summation'.*'difference'.*'both'"):
        gaf_image(np.zeros((20, 3)), method="sum+diff")
    with pytest.raises(ConfigError, match="student.input.method.*summation, difference, both"):
        load_config(None, ["student.input.method=gasf"])


def test_gaf_both_student_takes_six_channels():
    cfg = load_config(None, ["data.preset=tiny", "student.input.method=both", "student.input.out_size=32"])
    _, splits, names = load_data(cfg)
    item = paired(cfg, splits.train, train=False)[0]
    assert item["student"].shape == (6, 32, 32)
    s = build_student(cfg, len(names))
    assert s.trunk.conv1.in_channels == 6
    s.eval()
    with torch.no_grad():
        assert s(item["student"][None]).shape == (1, len(names))


@pytest.mark.slow
def test_gaf_both_trains_and_deploys(tmp_path, capsys):
    ov = [o for o in E2E_TINY if not o.startswith("student.train.epochs")] + \
        ["student.train.epochs=1", "student.input.method=both", f"data.cache_dir={tmp_path / 'cache'}"]
    run = tmp_path / "s"
    assert main(["train-student", *sets(ov), "--out", str(run), "--quiet"]) == 0, capsys.readouterr().err
    assert json.loads((run / "results.json").read_text())["kind"] == "student"
    from vskd.deploy.model import load_checkpoint_model

    model, info, _ = load_checkpoint_model(run / "best.pt")
    with torch.no_grad():
        out = model(torch.randn(1, 90, 3))
    assert out.shape == (1, len(info.class_names))


# ------------------------------------------------------------------------------------------ deploy: watch latency
def _fixed_and_free():
    from vskd.deploy.model import WindowModel

    torch.manual_seed(0)
    student = build_student_model("watch1d", 4, 3).eval()
    return (WindowModel(student, None, raw_length=64, input_length=64).eval(),
            WindowModel(student, None, raw_length=64).eval())


def test_raw_window_model_of_fixed_length_skips_the_identity_resampling():
    fixed, free = _fixed_and_free()
    x = torch.randn(2, 64, 3)
    with torch.no_grad():
        assert torch.allclose(fixed(x), free(x), atol=1e-6)  # resampling 64 -> 64 is the identity
        with pytest.raises(DataError, match="exactly 64 samples"):
            fixed(torch.randn(1, 50, 3))
        assert free(torch.randn(1, 50, 3)).shape == (1, 4)  # without a fixed length: resampled inside


@pytest.mark.slow
def test_raw_export_of_fixed_length_has_no_resize_and_int8_covers_relu_add(tmp_path):
    pytest.importorskip("onnxruntime")
    import onnx

    from vskd.deploy.export import INT8_OP_TYPES, export_onnx, quantize_int8
    from vskd.deploy.model import DeployInfo
    from vskd.deploy.runtime import load_predictor

    fixed, _ = _fixed_and_free()
    info = DeployInfo(class_names=list("abcd"), axes=["acc_x", "acc_y", "acc_z"], rate_hz=50.0, window_length=64,
                      min_length=2, gaf={}, arch="watch1d", extra={"view": "raw", "length": 64})
    path = export_onnx(fixed, info, tmp_path / "w.onnx")
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "Resize" not in ops and not ops & {"GatherND", "GatherElements"}
    pred = load_predictor(path, threads=1)
    w = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(pred.predict_window(w), fixed(torch.from_numpy(w)[None]).numpy()[0], atol=1e-4)
    # int8 keeps the activations quantised between the convolutions: ReLU and Add are covered too
    assert {"Relu", "Add"} <= set(INT8_OP_TYPES)
    q = quantize_int8(path, tmp_path / "w8.onnx", [pred.prepare(w)])
    qops = [n.op_type for n in onnx.load(str(q)).graph.node]
    assert qops.count("QuantizeLinear") > 0 and load_predictor(q, threads=1).predict_window(w).shape == (4,)


def test_ridge_head_skips_unlabelled_windows():
    from sklearn.linear_model import RidgeClassifierCV

    x, y = _windows(6, 3)
    hidden = y.clone()
    hidden[::2] = -1  # every other window unlabelled (distill.unlabeled): its label is never read
    m = MiniRocketStudent(num_classes=3, in_channels=3, num_features=840, head_init="ridge")
    m.fit(x, labels=hidden)
    known = hidden >= 0
    with torch.no_grad():
        z = m.scale(m.features(x)).double().numpy()
        logits = m(x).double().numpy()
    ridge = RidgeClassifierCV(alphas=RIDGE_ALPHAS).fit(z[known.numpy()], y[known].numpy())
    np.testing.assert_allclose(logits, ridge.decision_function(z), atol=1e-4)
