"""Export of the student (ONNX fp32 / int8, TorchScript), its self-check, wrong model files, the small student."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vskd.cli import main
from vskd.deploy.export import export_checkpoint, split_windows
from vskd.deploy.model import load_checkpoint_model, resample
from vskd.deploy.runtime import load_predictor
from vskd.errors import ConfigError, VskdError

from test_e2e import sets as _sets
from vskd.models.student import GAFStudent

# the tiny synthetic preset of tests/test_e2e.py (4 classes, 2.4 s at 50 Hz), one epoch, 32-px GAF images
TINY_STUDENT = ["data.preset=tiny", "student.input.out_size=32", "student.train.epochs=1",
                "student.train.batch_size=8"]

#: exported fp32 logits must match torch within |a - b| <= ATOL + RTOL |b|
ATOL = RTOL = 1e-4


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy")
    ov = TINY_STUDENT + [f"data.cache_dir={root / 'cache'}"]
    assert main(["train-student", *_sets(ov), "--out", str(root / "student"), "--quiet"]) == 0
    return root / "student" / "best.pt"


@pytest.fixture(scope="module")
def exported(ckpt, tmp_path_factory):
    pytest.importorskip("onnxruntime", reason="ONNX export tests need onnxruntime (pip install 'vskd[deploy]')")
    pytest.importorskip("onnxscript", reason="torch.onnx.export(dynamo=True) needs onnxscript")
    out = tmp_path_factory.mktemp("onnx")
    return export_checkpoint(ckpt, "onnx", out, int8=True, atol=ATOL, rtol=RTOL), out


def _windows(ckpt, n=6):
    model, info, cfg = load_checkpoint_model(ckpt)
    w, y = split_windows(cfg, "train", info, limit=n)
    return model, info, w, y


def test_onnx_round_trip_matches_torch_on_other_lengths_and_batches(ckpt, exported):
    rep, out = exported
    assert rep["check"]["windows"] > 0 and rep["check"]["max_abs_diff"] <= ATOL
    model, _, windows, _ = _windows(ckpt)
    pred = load_predictor(out / "student.onnx")
    assert pred.kind == "onnx" and pred.info.window_length is None  # dynamic length: GAF without PAA
    # lengths the export never saw, and a batch of two
    for w in (windows[0][:77], windows[1], resample(windows[2], 150)):
        x = w.astype(np.float32)
        with torch.inference_mode():
            ref = model(torch.from_numpy(x)[None]).numpy()[0]
        np.testing.assert_allclose(pred.predict_window(w), ref, atol=ATOL, rtol=RTOL)
    batch = np.stack([windows[0], windows[1]]).astype(np.float32)
    with torch.inference_mode():
        ref = model(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(pred.predict(batch), ref, atol=ATOL, rtol=RTOL)


def test_onnx_carries_metadata_and_the_report_lists_every_format(ckpt, exported):
    rep, out = exported
    meta = torch.load(ckpt, weights_only=True)["meta"]
    info = load_predictor(out / "student.onnx").info
    assert info.class_names == meta["class_names"] and info.num_classes == 4
    assert info.axes == ["acc_x", "acc_y", "acc_z"] and info.rate_hz == 50.0
    assert info.gaf["out_size"] == 32 and info.arch == "resnet18" and info.precision == "fp32"
    names = [m["name"] for m in rep["models"]]
    assert names == ["torch fp32", "onnx fp32", "onnx int8"]
    assert json.loads((out / "export.json").read_text())["models"][1]["size_bytes"] == (out / "student.onnx").stat().st_size
    for m in rep["models"]:
        assert 0.0 <= m["val_accuracy"] <= 1.0
    # the exported fp32 model classifies the validation split exactly as torch does
    assert rep["models"][0]["val_accuracy"] == rep["models"][1]["val_accuracy"]


def test_int8_is_quantised_small_and_close_to_fp32(ckpt, exported):
    onnx = pytest.importorskip("onnx")
    rep, out = exported
    q = out / "student_int8.onnx"
    graph = onnx.load(str(q)).graph
    ops = {n.op_type for n in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert q.stat().st_size < 0.3 * (out / "student.onnx").stat().st_size  # int8 weights: ~1/4 of fp32
    pred_q, pred_f = load_predictor(q), load_predictor(out / "student.onnx")
    assert pred_q.info.precision == "int8"
    int8 = rep["models"][2]
    assert int8["top1_agreement_with_fp32"] >= 0.75
    assert abs(int8["val_accuracy"] - rep["models"][1]["val_accuracy"]) <= 0.25
    _, _, windows, _ = _windows(ckpt)
    a = np.stack([pred_q.predict_window(w) for w in windows])
    b = np.stack([pred_f.predict_window(w) for w in windows])
    assert np.all(np.isfinite(a))
    assert (a.argmax(1) == b.argmax(1)).mean() >= 0.8
    assert np.abs(a - b).max() < 0.25 * (np.abs(b).max() + 1.0)


def test_torchscript_export_through_the_cli(ckpt, tmp_path, capsys):
    out = tmp_path / "ts"
    assert main(["export", str(ckpt), "--format", "torchscript", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "torchscript fp32" in text and "MB" in text and "val accuracy" in text
    pred = load_predictor(out / "student.ts")
    assert pred.kind == "torchscript" and pred.info.num_classes == 4
    model, _, windows, _ = _windows(ckpt, n=2)
    for w in (windows[0], windows[1][:90]):  # the trace accepts other lengths
        with torch.inference_mode():
            ref = model(torch.from_numpy(w.astype(np.float32))[None]).numpy()[0]
        np.testing.assert_allclose(pred.predict_window(w), ref, atol=ATOL, rtol=RTOL)


def test_export_options_are_checked(ckpt, tmp_path, capsys):
    assert main(["export", str(ckpt), "--format", "torchscript", "--int8", "--out", str(tmp_path)]) == 2
    assert "--int8 needs --format onnx" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="--format"):
        export_checkpoint(ckpt, "tflite", tmp_path)
    with pytest.raises(SystemExit) as exc:  # argparse's own one-line error for a choice
        main(["export", str(ckpt), "--int8", "--calibration-method", "kl", "--out", str(tmp_path / "a")])
    assert exc.value.code == 2 and "--calibration-method: invalid choice: 'kl'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="--calibration-method: expected one of minmax, percentile, entropy"):
        export_checkpoint(ckpt, "onnx", tmp_path / "b", int8=True, calibration_method="kl")
    with pytest.raises(ConfigError, match="--calibration: expected a number of windows >= 0"):
        export_checkpoint(ckpt, "onnx", tmp_path / "c", int8=True, calibration=-1)


def test_calibration_windows_are_spread_over_the_training_split(ckpt):
    from vskd.deploy.export import calibration_indices

    assert calibration_indices(10, 4) == [0, 3, 6, 9]
    assert calibration_indices(5, 0) == calibration_indices(5, 9) == [0, 1, 2, 3, 4]
    assert calibration_indices(0, 4) == []
    # the training split is ordered by class: the first windows miss classes, spread ones do not
    _, info, cfg = load_checkpoint_model(ckpt)
    _, all_y = split_windows(cfg, "train", info)
    n = len(set(all_y.tolist()))
    _, first = split_windows(cfg, "train", info, limit=n)
    _, spread = split_windows(cfg, "train", info, limit=n, spread=True)
    assert len(spread) == n and set(spread.tolist()) == set(all_y.tolist())
    assert len(set(first.tolist())) < n


@pytest.mark.parametrize("method", ["percentile", "entropy"])
def test_int8_calibration_methods_give_working_models(ckpt, exported, tmp_path, method):
    onnx = pytest.importorskip("onnx")
    rep = export_checkpoint(ckpt, "onnx", tmp_path, int8=True, calibration=0, calibration_method=method,
                            calibration_spread=True)
    int8 = rep["models"][2]
    assert int8["calibration"]["method"] == method
    _, info, cfg = load_checkpoint_model(ckpt)
    assert int8["calibration"]["windows"] == len(split_windows(cfg, "train", info)[1])  # 0 = every window
    assert int8["top1_agreement_with_fp32"] >= 0.75
    ops = {n.op_type for n in onnx.load(str(tmp_path / "student_int8.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    # other ranges than minmax's: the quantisation scales differ from the default export's
    def scales(path):
        m = onnx.load(str(path))
        return sorted(float(onnx.numpy_helper.to_array(t).ravel()[0]) for t in m.graph.initializer
                      if t.name.endswith("_scale") and onnx.numpy_helper.to_array(t).size == 1)
    assert scales(tmp_path / "student_int8.onnx") != scales(exported[1] / "student_int8.onnx")


def test_wrong_model_files_raise_clear_errors(ckpt, tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    with pytest.raises(VskdError, match="not found"):
        load_predictor(tmp_path / "missing.onnx")
    junk = tmp_path / "notes.onnx"
    junk.write_text("this is not a model\n")
    with pytest.raises(VskdError, match="not a usable ONNX model"):
        load_predictor(junk)
    # a valid ONNX model that vskd did not export
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    foreign = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])),
              str(foreign))
    with pytest.raises(VskdError, match="without vskd metadata"):
        load_predictor(foreign)
    # a teacher checkpoint is not a student
    state = torch.load(ckpt, weights_only=True)
    state["meta"]["kind"] = "teacher"
    teacher = tmp_path / "teacher.pt"
    torch.save(state, teacher)
    with pytest.raises(VskdError, match="'teacher' checkpoint"):
        load_predictor(teacher)
    # a plain torch file that is not a vskd checkpoint
    plain = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(2)}, plain)
    with pytest.raises(VskdError, match="not a vskd checkpoint"):
        load_predictor(plain)
    # a window of the wrong shape or too short
    pred = load_predictor(ckpt)
    with pytest.raises(VskdError, match=r"shape \(T, 3\)"):
        pred.predict_window(np.zeros((50, 2)))
    with pytest.raises(VskdError, match="at least 2"):
        pred.predict_window(np.zeros((1, 3)))


# ---------------------------------------------------------------------------------- small student
def test_mobilenet_student_forward_and_a_dask_step():
    from vskd.models.features import make_taps
    from vskd.losses.functional import dask_loss

    torch.manual_seed(0)
    s = GAFStudent(5, arch="mobilenet_v3_small")
    small = sum(p.numel() for p in s.parameters())
    big = sum(p.numel() for p in GAFStudent(5).parameters())
    assert small < big / 5  # ~1.1 M against ~11.3 M parameters
    s.train()
    taps = make_taps(s, ["emb", "logits"], "student")
    x = torch.rand(4, 3, 32, 32)
    logits = s(x)
    feats = taps.collect(logits)
    assert logits.shape == (4, 5) and feats["emb"].shape == (4, 300)
    losses = dask_loss(feats["emb"], torch.randn(4, 300))
    (losses["total"] + torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3]))).backward()
    grad = s.trunk.features[0][0].weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    # ResNet stage maps do not exist on MobileNet: a clear ConfigError, not an AttributeError
    with pytest.raises(ConfigError, match="trunk.layer1"):
        make_taps(s, ["layer1"], "student")


def test_mobilenet_student_channels_and_pretrained_file(tmp_path):
    import torchvision

    s = GAFStudent(3, arch="mobilenet_v3_small", in_channels=1)
    assert s(torch.rand(2, 1, 32, 32)).shape == (2, 3)
    net = torchvision.models.mobilenet_v3_small(weights=None)
    path = tmp_path / "mobilenet_v3_small.pth"
    torch.save(net.state_dict(), path)
    p = GAFStudent(3, arch="mobilenet_v3_small", pretrained=path)
    assert p.load_notes and "classifier.0.weight" in p.load_notes[0]
    torch.testing.assert_close(p.trunk.features[1].block[0][0].weight, net.features[1].block[0][0].weight)


def test_resnet18_student_keys_are_unchanged():
    import torchvision

    keys = set(GAFStudent(4).state_dict())
    tv = {f"trunk.{k}" for k in torchvision.models.resnet18(weights=None).state_dict() if not k.startswith("fc.")}
    assert keys == tv | {"fc0.weight", "fc0.bias", "fc1.weight", "fc1.bias"}


def test_int8_calibration_rule_chooses_on_validation_only_when_there_is_one():
    """benchmarks/int8_calibration.py's rule: the best mean validation accuracy, ties within one
    recording to the earlier setting; a CV + refit student (no validation split) gets no choice, and a
    ``--setting`` subset is ranked among itself."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "int8_calibration.py"
    spec = importlib.util.spec_from_file_location("int8_calibration", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    def result(vals, n):
        return {"int8": {k: {"val": v, "test": 0.5} for k, v in vals.items()}, "val_recordings": n}

    two = {"minmax/first-64": 0.90, "percentile/all": 0.95}
    assert mod.choose([result(two, 100)])[0] == "percentile/all"
    assert mod.choose([result({"minmax/first-64": 0.945, "percentile/all": 0.95}, 100)])[0] == "minmax/first-64"
    chosen, means = mod.choose([result({"minmax/first-64": float("nan")}, 0)])
    assert chosen is None and list(means) == ["minmax/first-64"]
