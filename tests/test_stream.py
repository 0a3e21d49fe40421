"""Streaming recognition: windows in seconds, resampling, bad input, and a real UTD-MHAD replay vs offline."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from vskd.cli import main
from vskd.data.paired import GAFSpec, student_image
from vskd.deploy.model import DeployInfo, WindowModel
from vskd.deploy.runtime import Predictor
from vskd.deploy.stream import (
    StreamRecognizer,
    StreamWarning,
    mat_samples,
    parse_csv,
    recognize,
)
from vskd.errors import ConfigError
from vskd.models.student import GAFStudent

RATE = 50.0


def _predictor(num_classes=4, out_size=32, arch="resnet18") -> tuple[Predictor, WindowModel, GAFSpec]:
    torch.manual_seed(0)
    spec = GAFSpec(out_size=out_size)
    gaf = {k: v for k, v in spec.params().items() if k != "axes"}
    model = WindowModel(GAFStudent(num_classes, arch=arch), gaf).eval()
    info = DeployInfo(class_names=[f"c{i}" for i in range(num_classes)], axes=list(spec.axes), rate_hz=RATE,
                      window_length=None, min_length=2, gaf=gaf, arch=arch)

    def run(x):
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()

    return Predictor("torch", Path("memory"), info, run), model, spec


@pytest.fixture(scope="module")
def pred():
    return _predictor()[0]


def _signal(t):
    t = np.asarray(t, dtype=np.float64)
    return np.stack([np.sin(2 * np.pi * 0.7 * t), np.cos(2 * np.pi * 0.3 * t) + 0.2 * t, 0.5 * np.sin(3 * t)], -1)


def _stream(times):
    return [(float(t), v) for t, v in zip(times, _signal(times))]


def test_windows_follow_the_window_and_hop_in_seconds(pred):
    times = np.arange(250) / RATE  # 5 s at 50 Hz
    with warnings.catch_warnings():
        warnings.simplefilter("error", StreamWarning)  # clean input: no warning at all
        decisions = recognize(pred, _stream(times), window_s=2.0, hop_s=0.5)
    ends = [d.t_end for d in decisions]
    np.testing.assert_allclose(ends, [1.98, 2.48, 2.98, 3.48, 3.98, 4.48, 4.98], atol=1e-9)
    for d in decisions:
        assert math.isclose(d.t_end - d.t_start, 1.98, abs_tol=1e-9)
        assert math.isclose(sum(d.probabilities), 1.0, abs_tol=1e-5)
        assert d.confidence == max(d.probabilities) and d.name == f"c{d.label}"
        assert d.latency_ms > 0
    # each decision is the model applied to the window of samples it covers
    w = _signal(times[25:125])  # the window ending at 2.48 s: its 100 samples 0.50 .. 2.48 s
    assert decisions[1].label == int(pred.predict_window(w).argmax())
    np.testing.assert_allclose(decisions[1].probabilities, _softmax(pred.predict_window(w)), atol=1e-6)


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def test_a_stream_at_another_rate_is_resampled_to_the_model_rate(pred):
    slow = recognize(pred, _stream(np.arange(200) / RATE), window_s=2.0, hop_s=1.0)
    fast = recognize(pred, _stream(np.arange(400) / 100.0), window_s=2.0, hop_s=1.0)  # 100 Hz
    jitter = np.arange(320) / 80.0 + np.random.default_rng(0).uniform(0, 0.004, 320)  # 80 Hz with jitter
    odd = recognize(pred, _stream(jitter), window_s=2.0, hop_s=1.0)
    assert len(slow) == 3 and len(fast) == 3 and len(odd) == 3
    np.testing.assert_allclose(fast[0].probabilities, slow[0].probabilities, atol=1e-6)  # same instants
    # linear interpolation of a smooth signal: nearly the same window, nearly the same decision
    np.testing.assert_allclose(odd[0].probabilities, slow[0].probabilities, atol=2e-2)


def test_bad_samples_are_dropped_and_bad_windows_skipped_without_stopping(pred):
    rec = StreamRecognizer(pred, window_s=1.0, hop_s=0.5)
    times = np.arange(400) / RATE
    x = _signal(times)
    x[120] = [np.nan, 0.0, 0.0]  # NaN at 2.4 s
    x[160, 1] = np.inf  # Inf at 3.2 s
    decisions = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i, t in enumerate(times):
            if 250 <= i < 290:  # a 0.8 s drop-out: too few samples in the windows over it
                continue
            decisions += rec.push(t, x[i])
            if i == 50:
                decisions += rec.push(t, x[i])  # duplicated timestamp
                decisions += rec.push(t - 0.5, x[i])  # out of order
                decisions += rec.push(float("nan"), x[i])  # no time
                decisions += rec.push(t + 0.001, [1.0, 2.0])  # wrong number of values
    messages = [str(w.message) for w in caught if issubclass(w.category, StreamWarning)]
    assert any("duplicated" in m for m in messages) and any("out of order" in m for m in messages)
    assert any("non-finite timestamp" in m for m in messages) and any("has 2 values" in m for m in messages)
    assert any("NaN/Inf" in m for m in messages) and any("fewer than" in m for m in messages)
    assert rec.dropped == 4
    assert rec.skipped >= 4
    # windows over the NaN, the Inf and the drop-out are skipped; the others are decided, before and after
    for d in decisions:
        assert not d.t_start - 0.01 <= 2.4 <= d.t_end + 0.01
        assert not d.t_start - 0.01 <= 3.2 <= d.t_end + 0.01
    assert decisions[0].t_end < 2.4 and decisions[-1].t_end > 7.0
    assert rec.decisions == len(decisions) and len(decisions) + rec.skipped == 15


def test_window_options_are_checked(pred):
    with pytest.raises(ConfigError, match="--window"):
        StreamRecognizer(pred, window_s=0.0)
    with pytest.raises(ConfigError, match="--hop"):
        StreamRecognizer(pred, window_s=1.0, hop_s=-1)
    with pytest.raises(ConfigError, match="needs at"):
        StreamRecognizer(pred, window_s=0.01)


def test_csv_parsing_skips_header_comments_and_malformed_lines():
    lines = ["t,x,y,z", "# a comment", "0.00,1,2,3", "0.02,1,2", "0.04,a,b,c", "", "0.06,nan,2,3", "0.08;4;5;6"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = list(parse_csv(lines, 3, "walk.csv"))
    assert [r[0] for r in rows] == [0.0, 0.06, 0.08]
    assert np.isnan(rows[1][1][0]) and rows[2][1].tolist() == [4.0, 5.0, 6.0]
    msgs = [str(w.message) for w in caught]
    assert any("walk.csv line 4: 3 fields, expected 4" in m for m in msgs)
    assert any("walk.csv line 5: not numbers" in m for m in msgs)


def test_cli_streams_a_csv_with_bad_lines(tmp_path, capsys):
    from vskd.deploy.export import export_torchscript

    _, model, _ = _predictor()
    info = _predictor()[0].info
    ts = export_torchscript(model, info, tmp_path / "model.ts")
    times = np.arange(150) / RATE
    rows = [f"{t:.4f},{a:.6f},{b:.6f},{c:.6f}" for t, (a, b, c) in zip(times, _signal(times))]
    rows.insert(40, "0.1000,1,2,3")  # out of order
    rows.insert(60, "oops")
    rows[100] = rows[100].split(",")[0] + ",nan,0,0"
    csv = tmp_path / "walk.csv"
    csv.write_text("t,x,y,z\n" + "\n".join(rows) + "\n")
    assert main(["stream", str(ts), "--input", str(csv), "--window", "1", "--hop", "0.5"]) == 0
    out, err = capsys.readouterr()
    lines = [ln for ln in out.splitlines() if "conf" in ln]
    assert len(lines) >= 2 and all("latency" in ln for ln in lines)
    assert "out of order" in err and "line 62: not numbers" in err and "NaN/Inf" in err and "skipped" in err
    bad = tmp_path / "model.txt"
    bad.write_text("not a model")
    assert main(["stream", str(bad), "--input", str(csv)]) == 2
    assert "not a usable ONNX model" in capsys.readouterr().err


def test_replay_of_real_recordings_gives_the_offline_prediction(utd_root, tmp_path):
    """A whole UTD-MHAD recording streamed at 50 Hz through the ONNX export == the offline evaluation."""
    pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install 'vskd[deploy]')")
    pytest.importorskip("onnxscript", reason="torch.onnx.export(dynamo=True) needs onnxscript")
    from vskd.data.utd_mhad import ACTIONS, list_recordings
    from vskd.deploy.export import export_onnx
    from vskd.deploy.runtime import load_predictor

    torch.manual_seed(0)
    spec = GAFSpec()  # the paper's view: acc x, y, z, GASF of the whole recording, resized to 224
    gaf = {k: v for k, v in spec.params().items() if k != "axes"}
    student = GAFStudent(len(ACTIONS)).eval()
    info = DeployInfo(class_names=list(ACTIONS), axes=list(spec.axes), rate_hz=50.0, window_length=None,
                      min_length=2, gaf=gaf, arch="resnet18")
    onnx_pred = load_predictor(export_onnx(WindowModel(student, gaf), info, tmp_path / "utd.onnx"))
    recs = list_recordings(utd_root, modalities=("inertial",))
    for rec in (recs[0], recs[-1]):  # a1_s1_t1 and the last action of the last subject
        with torch.inference_mode():  # what evaluate_checkpoint computes for this recording
            offline = torch.softmax(student(torch.from_numpy(student_image(rec, spec))[None]), 1)[0].numpy()
        path = rec.source("inertial").path
        n = rec.load("inertial").samples.shape[0]
        decisions = recognize(onnx_pred, mat_samples(path, info.axes), window_s=n / 50.0, hop_s=60.0)
        assert len(decisions) == 1
        d = decisions[0]
        assert d.t_start == 0.0 and math.isclose(d.t_end, (n - 1) / 50.0)
        assert d.label == int(offline.argmax())
        np.testing.assert_allclose(d.probabilities, offline, atol=1e-5)
