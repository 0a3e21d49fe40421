"""Bad input, round two (issue 19): every case ends in one line and exit 2, a documented skip with a
warning, or (for ``vskd data check``) one ``error:`` line in the report; never a traceback, a hang, an
allocation of the size asked for, or a silent wrong result.

The table-driven tests run the real CLI in-process (``vskd.cli.main``) on tiny files in ``tmp_path``;
none needs the real datasets or a trained model (the stream and ONNX cases use a two-node ONNX model
that averages the window, with vskd metadata). Memory cases are refused before anything is allocated,
so each is asserted to answer within seconds. The hypothesis tests fuzz the config loader, ``--set``,
the sensor-CSV and manifest readers and the stream parser + recogniser: any input must end in success
or a :class:`~vskd.errors.VskdError`.
"""

from __future__ import annotations

import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vskd.cli import main
from vskd.errors import VskdError

from test_bad_input import TINY, assert_no_finished_run, assert_one_line_error, error_lines, run_cli, sets

# every refusal here answers in well under a second once imports are done (the bound leaves room for a
# loaded CI machine); a request that allocated what it asked for, or expanded the aliases, would not
FAST_S = 30.0
import vskd.engine.pipeline  # noqa: E402,F401 - imports out of the timings
import vskd.gaf  # noqa: E402,F401


def _csv(rows: int, rate: float = 50.0) -> str:
    t = np.arange(rows) / rate
    return "t,x,y,z\n" + "".join(f"{v:.6f},{np.sin(v):.5f},{np.cos(v):.5f},{v % 1:.4f}\n" for v in t)


def _timed(argv, capsys):
    start = time.perf_counter()
    rc, out, err = run_cli(argv, capsys)
    return rc, out, err, time.perf_counter() - start


# ------------------------------------------------------------------------------------------ config values

CONFIG_CASES = [
    ("student.train.lr=.nan", "config key 'student.train.lr': expected a finite number > 0"),
    ("student.train.lr=.inf", "config key 'student.train.lr': expected a finite number > 0"),
    ("teacher.train.lr=-1", "config key 'teacher.train.lr'"),
    ("student.train.weight_decay=-1", "config key 'student.train.weight_decay': expected a finite number >= 0"),
    ("student.train.momentum=-1", "config key 'student.train.momentum': expected a number in [0, 1)"),
    ("teacher.train.momentum=1", "config key 'teacher.train.momentum'"),
    ("student.train.grad_clip=-1", "config key 'student.train.grad_clip': expected null"),
    ("student.train.lr_gamma=0", "config key 'student.train.lr_gamma'"),
    ("student.train.batch_size=10000000", "config key 'student.train.batch_size': expected an integer in"),
    ("data.num_workers=-1", "config key 'data.num_workers': expected an integer in [0, 256]"),
    (f"seed={2**70}", "config key 'seed': expected a seed in [0, 2**32 - 1]"),
    ("seed=-1", "config key 'seed'"),
    (f"data.seed={2**32}", "config key 'data.seed'"),
    ("student.embed_dim=0", "config key 'student.embed_dim': expected an integer in [1, 65536]"),
    ("teacher.embed_dim=-3", "config key 'teacher.embed_dim'"),
    ("teacher.dropout=1.5", "config key 'teacher.dropout'"),
    ("student.input.out_size=100000",
     "student.input.out_size=100000 needs 120 GB per image; at most 1024 is allowed"),
    ("student.input.image_size=100000", "config key 'student.input.image_size'"),
    ("student.input.image_size=0", "expected null (the recording's length) or an integer in [1, 4096]"),
    ("teacher.input.frame_size=100000", "config key 'teacher.input.frame_size': teacher.input.frame_size=100000 needs"),
    ("teacher.input.num_segments=100000", "config key 'teacher.input.num_segments'"),
    ("distill.options={alpha: .nan}", "config key 'distill.options.alpha': expected a finite number"),
    ("distill.ce_weight=-.inf", "config key 'distill.ce_weight'"),
    ("distill.options={a: &x [1, 2], b: *x}", "YAML anchors and aliases"),
    ("student..lr=1", "empty part in key"),
]


@pytest.mark.parametrize("override, needle", CONFIG_CASES, ids=[c[0][:40] for c in CONFIG_CASES])
def test_bad_config_values(tmp_path: Path, capsys, override: str, needle: str) -> None:
    run = tmp_path / "run"
    rc, _, err, took = _timed(["train-student", *sets(TINY + [override]), "--out", str(run), "--quiet"], capsys)
    assert rc == 2
    assert_one_line_error(rc, err, needle)
    assert took < FAST_S
    assert_no_finished_run(run)


BILLION_LAUGHS = "distill:\n  options:\n    a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"    {chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


@pytest.mark.parametrize(
    "content, needle",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe" * 20, "is not a YAML text file"),
        (b"student:\n  train: {lr: 1e-3}\n\x00\x00", "is not a YAML text file (it holds NUL bytes)"),
        (BILLION_LAUGHS.encode(), "line 3: YAML anchors and aliases"),
        (b"a: " + b"x" * (1 << 20) + b"\n", "a config is at most 1048576 bytes"),
        (b"name: 2020-13-45\n", "a value cannot be read"),
        (b"[" * 5000, "config file"),
    ],
    ids=["binary", "nul-bytes", "billion-laughs", "huge", "bad-timestamp", "deep-nesting"],
)
def test_bad_config_files(tmp_path: Path, capsys, content: bytes, needle: str) -> None:
    cfg = tmp_path / "exp.yaml"
    cfg.write_bytes(content)
    run = tmp_path / "run"
    rc, _, err, took = _timed(["train-student", "-c", str(cfg), "--out", str(run), "--quiet"], capsys)
    assert rc == 2
    assert_one_line_error(rc, err, str(cfg), needle)
    assert took < FAST_S  # the aliases were refused before anything expanded
    assert_no_finished_run(run)


# ------------------------------------------------------------------------------------------ outputs


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    f = tmp_path / "plain.txt"
    f.write_text("a regular file, not a folder\n")
    return f


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["train-student", *sets(TINY), "--out", "/proc/vskd-test/run", "--quiet"], "--out /proc/vskd-test/run"),
        (["train-student", *sets(TINY), "--out", "{file}/run", "--quiet"], "{file} is a file, not a folder"),
        (["train-teacher", *sets(TINY), "--out", "{file}/run", "--quiet"], "--out {file}/run: cannot write there"),
        (["distill", *sets(TINY), "--out", "/proc/x", "--quiet"], "--out /proc/x: cannot write there"),
        (["train-student", *sets(TINY + ["data.cache_dir={file}/cache"]), "--out", "{tmp}/run", "--quiet"],
         "config key 'data.cache_dir': {file}/cache: cannot write there"),
        (["train-student", *sets(TINY + ["data.cache_dir=/proc/vskd-cache"]), "--out", "{tmp}/run", "--quiet"],
         "data.cache_dir': /proc/vskd-cache: cannot write there"),
        (["evaluate", "{tmp}/best.pt", "--out", "/proc/vskd-eval"], "--out /proc/vskd-eval: cannot write there"),
        (["evaluate", "{tmp}/best.pt", "--out", "{file}/eval"], "is a file, not a folder"),
        (["export", "{tmp}/best.pt", "--out", "/proc/vskd-export"], "--out /proc/vskd-export: cannot write there"),
        (["export", "{tmp}/best.pt", "--out", "{file}"], "{file} is a file, not a folder"),
        (["gaf", "{tmp}/s.csv", "--out", "{file}/img.png"], "{file} is a file, not a folder"),
        (["gaf", "{tmp}/s.csv", "--out", "/proc/vskd/img.png"], "--out /proc/vskd: cannot write there"),
    ],
    ids=["train-proc", "train-under-file", "teacher-under-file", "distill-proc", "cache-under-file",
         "cache-proc", "evaluate-proc", "evaluate-under-file", "export-proc", "export-is-file", "gaf-under-file",
         "gaf-proc"],
)
def test_outputs_that_cannot_be_written(tmp_path: Path, a_file: Path, capsys, argv, needle) -> None:
    (tmp_path / "s.csv").write_text(_csv(40))
    fill = {"{file}": str(a_file), "{tmp}": str(tmp_path)}
    for k, v in fill.items():
        argv = [a.replace(k, v) for a in argv]
        needle = needle.replace(k, v)
    rc, _, err = run_cli(argv, capsys)
    assert rc == 2
    assert_one_line_error(rc, err, needle)
    assert a_file.read_text() == "a regular file, not a folder\n"


# ------------------------------------------------------------------------------------------ vskd gaf


def _long_csv(path: Path, rows: int) -> None:
    t = np.arange(rows) / 50.0
    data = np.stack([t, np.sin(t), np.cos(t), np.sin(3 * t)], axis=1)
    np.savetxt(path, data, delimiter=",", header="t,x,y,z", comments="", fmt="%.5f")


def test_gaf_bounds_are_checked_before_allocating(tmp_path: Path, capsys) -> None:
    src = tmp_path / "a1_s1_t1_inertial.mat"
    scipy.io.savemat(src, {"d_iner": np.random.default_rng(0).normal(size=(100, 6))})
    out = tmp_path / "img.png"
    rc, _, err, took = _timed(["gaf", str(src), "--out", str(out), "--size", "100000"], capsys)
    assert_one_line_error(rc, err, "--size 100000 needs 120 GB per image; at most 1024 is allowed")
    assert rc == 2 and took < FAST_S and not out.exists()

    long = tmp_path / "twenty-minutes.csv"
    _long_csv(long, 20 * 60 * 50)
    rc, _, err, took = _timed(["gaf", str(long), "--out", str(out)], capsys)
    line = assert_one_line_error(rc, err, str(long), "60000 samples", "60000 x 60000", "43.2 GB", "--paa")
    assert rc == 2 and took < FAST_S and not out.exists(), line
    # the suggested fix works: PAA to 256 points, then a 64 px image
    rc, stdout, err = run_cli(["gaf", str(long), "--out", str(out), "--paa", "256", "--size", "64"], capsys)
    assert rc == 0 and "64x64" in stdout and out.exists()
    rc, _, err = run_cli(["gaf", str(src), "--out", str(out), "--paa", "500"], capsys)
    assert_one_line_error(rc, err, "--paa 500: the recording has only 100 samples")


def _one_sample_mat(p: Path) -> None:
    scipy.io.savemat(p, {"d_iner": np.ones((1, 6))})


GAF_FILE_CASES = [
    ("a1_s1_t1_inertial.mat", _one_sample_mat, "inertial has 1 samples, fewer than the minimum 8"),
    ("one.npy", lambda p: np.save(p, np.ones((1, 3))), "inertial has 1 samples, fewer than the minimum 8"),
    ("five.csv", lambda p: p.write_text(_csv(5)), "inertial has 5 samples, fewer than the minimum 8"),
    ("field.csv", lambda p: p.write_text("t,x,y,z\n0," + "1" * 200_000 + ",2,3\n"), "line 2: malformed CSV"),
    ("nul.csv", lambda p: p.write_bytes(b"t,x,y,z\n0,1,2\x00,3\n"), "line 2 has a non-numeric value"),
    ("inf-rate.csv",
     lambda p: p.write_text("t,x,y,z\n" + "".join(f"{i}e-320,{i},1,2\n" for i in range(10))),
     "timestamps give a sampling rate of inf Hz"),
    ("huge-rate.csv",
     lambda p: p.write_text("t,x,y,z\n" + "".join(f"{i}e-9,{i},1,2\n" for i in range(10))),
     "expected 0.01..100000 Hz"),
    ("overflow.csv", lambda p: p.write_text("t,x,y,z\n-1e308,1,2,3\n" + "".join(f"{i}e307,1,2,3\n" for i in range(1, 10))),
     "sampling rate"),
]


@pytest.mark.parametrize("name, make, needle", GAF_FILE_CASES, ids=[c[0] for c in GAF_FILE_CASES])
def test_gaf_refuses_unusable_recordings(tmp_path: Path, capsys, name, make, needle) -> None:
    src = tmp_path / name
    make(src)
    out = tmp_path / "img.png"
    rc, _, err = run_cli(["gaf", str(src), "--out", str(out)], capsys)
    assert rc == 2
    assert_one_line_error(rc, err, str(src), needle)
    assert not out.exists()


# ------------------------------------------------------------------------------------------ manifests


def _manifest(tmp_path: Path, rows: list[str], extra_cols: str = "") -> Path:
    path = tmp_path / "manifest.csv"
    path.write_text(f"id,label,subject,trial,sensor{extra_cols}\n" + "".join(r + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    "rows, needle",
    [
        (["a,3000000000,1,1,s.csv"], "integer label 3000000000 is a class index; at most 10000 classes"),
        (["a,0,1,1,s.csv", "b,²,2,1,s.csv"], "label '0' is an integer but other rows use class names"),
        (["a,99999999999999999999999999999999999,1,1,s.csv"], "at most 10000 classes"),
    ],
    ids=["label-3e9", "superscript-two", "label-35-digits"],
)
def test_manifest_labels_are_bounded_and_strict(tmp_path: Path, capsys, rows, needle) -> None:
    (tmp_path / "s.csv").write_text(_csv(40))
    path = _manifest(tmp_path, rows)
    rc, _, err, took = _timed(["data", "check", "--dataset", "manifest", "--root", str(path)], capsys)
    assert rc == 2 and took < FAST_S
    assert_one_line_error(rc, err, str(path), needle)


def test_manifest_subject_with_a_superscript_is_a_row_problem(tmp_path: Path, capsys) -> None:
    (tmp_path / "s.csv").write_text(_csv(40))
    path = _manifest(tmp_path, ["a,walk,1,1,s.csv", "b,walk,²,1,s.csv", "c,walk,1_0,2,s.csv"])
    rc, out, _ = run_cli(["data", "check", "--dataset", "manifest", "--root", str(path)], capsys)
    lines = error_lines(out)
    assert rc == 1 and len(lines) == 2
    assert "subject must be an integer (ASCII digits, at most 18), got '²'" in lines[0]
    assert "got '1_0'" in lines[1]


def test_training_refuses_recordings_that_data_check_rejects(tmp_path: Path, capsys) -> None:
    """One rule: the 1-sample recordings `vskd data check` rejects are not trained on as black images."""
    rows = []
    for i in range(8):
        np.save(tmp_path / f"r{i}.npy", np.full((1, 3), float(i)))
        rows.append(f"r{i},{i % 2},{i // 2 + 1},1,r{i}.npy,50")
    path = _manifest(tmp_path, rows, ",rate_hz")
    rc, out, _ = run_cli(["data", "check", "--dataset", "manifest", "--root", str(path)], capsys)
    assert rc == 1 and "NOT usable" in out
    assert all("inertial has 1 samples, fewer than the minimum 8" in e for e in error_lines(out))
    run = tmp_path / "run"
    ov = [o for o in TINY if not o.startswith("data.preset")] + [
        "data.dataset=manifest", f"data.root={path}", "data.val_subjects=[3]", f"data.cache_dir={tmp_path / 'c'}",
        "student.input.axes=[x, y, z]"]
    rc, _, err = run_cli(["train-student", *sets(ov), "--out", str(run), "--quiet"], capsys)
    assert rc == 2
    assert_one_line_error(rc, err, "inertial has 1 samples, fewer than the minimum 8")
    assert_no_finished_run(run)


@pytest.mark.parametrize("hw", [(4, 4), (5, 7)], ids=["4x4", "5x7"])
@pytest.mark.parametrize("quick", [False, True], ids=["full", "quick"])
def test_data_check_refuses_tiny_depth_frames(tmp_path: Path, capsys, hw, quick) -> None:
    root = tmp_path / "utd"
    (root / "Inertial").mkdir(parents=True)
    (root / "Depth").mkdir()
    rng = np.random.default_rng(0)
    scipy.io.savemat(root / "Inertial" / "a1_s1_t1_inertial.mat", {"d_iner": rng.normal(size=(100, 6))})
    depth = rng.integers(500, 3000, size=(*hw, 20)).astype(np.uint16)
    scipy.io.savemat(root / "Depth" / "a1_s1_t1_depth.mat", {"d_depth": depth})
    rc, out, _ = run_cli(["data", "check", "--dataset", "utd-mhad", "--root", str(root),
                          *(["--quick"] if quick else [])], capsys)
    (line,) = error_lines(out)
    assert rc == 1 and "NOT usable" in out
    assert f"depth frames are {hw[0]} x {hw[1]} pixels; at least 6 x 6 are needed" in line


def test_rules_are_shared_with_the_readers() -> None:
    from vskd.data import rules
    from vskd.data.check import check_recordings  # noqa: F401 - the check imports the same module

    with pytest.raises(VskdError, match="fewer than the minimum 8"):
        rules.check_signal_length(7, "x")
    rules.check_signal_length(8, "x")
    with pytest.raises(VskdError, match="4 x 9 pixels"):
        rules.check_frame_size(4, 9, "clip")
    for bad in (float("inf"), 0.0, 1e308, -5.0):
        with pytest.raises(VskdError, match="outside the supported"):
            rules.check_rate(bad, "f")


# ------------------------------------------------------------------------------------------ ONNX and stream


def _onnx(path: Path, meta: dict | None = None, *, logits: bool = True, classes: int = 3) -> Path:
    """A real ONNX model: window (B, T, 3) -> mean over time (B, 3) = logits of 3 classes, with vskd metadata."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("window", TensorProto.FLOAT, ["B", "T", 3])
    if logits:
        node = helper.make_node("ReduceMean", ["window"], ["logits"], axes=[1], keepdims=0)
        y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", 3])
    else:  # the window itself: an "image", not logits
        node = helper.make_node("Identity", ["window"], ["logits"])
        y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", "T", 3])
    model = helper.make_model(helper.make_graph([node], "g", [x], [y]), opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    info = {"class_names": [f"c{i}" for i in range(classes)], "axes": ["acc_x", "acc_y", "acc_z"], "rate_hz": 50.0,
            "window_length": None, "min_length": 2, "arch": "mean", "precision": "fp32", "source": "test",
            "format": 1, "extra": {},
            "gaf": {"method": "summation", "image_size": None, "out_size": 16, "scaling": "minmax",
                    "orientation": "standard"}}
    info.update(meta or {})
    entry = model.metadata_props.add()
    entry.key, entry.value = "vskd", json.dumps(info)
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(
    "meta, logits, needle",
    [
        ({"rate_hz": "fifty"}, True, "vskd metadata field 'rate_hz': expected a sampling rate in 0.01..100000 Hz, got 'fifty'"),
        ({"rate_hz": 1e308}, True, "field 'rate_hz'"),
        ({"rate_hz": -50}, True, "field 'rate_hz'"),
        ({"axes": []}, True, "vskd metadata field 'axes': expected a list of 1..64 distinct channel names, got []"),
        ({"axes": ["x", "x", "y"]}, True, "field 'axes'"),
        ({"class_names": []}, True, "field 'class_names'"),
        ({"window_length": 10**12}, True, "field 'window_length'"),
        ({"min_length": 0}, True, "field 'min_length'"),
        ({"gaf": {"method": "sideways"}}, True, "field 'gaf'"),
        ({"gaf": {"method": "summation", "out_size": 100000}}, True, "field 'gaf'"),
        ({}, False, "expected logits (batch, 3)"),
        ({"class_names": ["a", "b", "c", "d"]}, True, "expected logits (batch, 4)"),
    ],
    ids=["rate-text", "rate-1e308", "rate-negative", "axes-empty", "axes-duplicate", "no-classes",
         "window-length", "min-length", "gaf-method", "gaf-out-size", "output-not-logits", "class-count"],
)
def test_onnx_metadata_is_checked_at_load_time(tmp_path: Path, capsys, meta, logits, needle) -> None:
    model = _onnx(tmp_path / "m.onnx", meta, logits=logits)
    (tmp_path / "s.csv").write_text(_csv(200))
    rc, out, err = run_cli(["stream", str(model), "--input", str(tmp_path / "s.csv"), "--window", "1"], capsys)
    assert rc == 2 and "conf" not in out
    assert_one_line_error(rc, err, str(model), needle)


@pytest.mark.parametrize(
    "options, needle",
    [
        (["--threads", "-1"], "--threads must be an integer in [1, 1024], got -1"),
        (["--threads", "0"], "--threads must be an integer in [1, 1024]"),
        (["--hop", "5e-324"], "--hop must be a number of seconds >= 0.001 and <= 3600, got 5e-324"),
        (["--hop", "nan"], "--hop must be a positive number"),
        (["--window", "1e308"], "--window must be a number of seconds > 0 and <= 3600, got 1e+308"),
        (["--window", "inf"], "--window"),
        (["--window", "200"], "--window 200 s is 10000 samples at 50 Hz; a window is at most 4096 samples"),
        (["--min-fill", "nan"], "min_fill must lie in (0, 1]"),
    ],
    ids=["threads-negative", "threads-zero", "hop-denormal", "hop-nan", "window-1e308", "window-inf",
         "window-too-long", "min-fill-nan"],
)
def test_stream_options_are_bounded(tmp_path: Path, capsys, options, needle) -> None:
    model = _onnx(tmp_path / "m.onnx")
    (tmp_path / "s.csv").write_text(_csv(200))
    rc, _, err, took = _timed(["stream", str(model), "--input", str(tmp_path / "s.csv"), *options], capsys)
    assert rc == 2 and took < FAST_S
    assert_one_line_error(rc, err, needle)


def test_stream_overflows_are_skipped_with_a_warning_and_the_stream_goes_on(tmp_path: Path, capsys) -> None:
    model = _onnx(tmp_path / "m.onnx")
    lines = _csv(300).splitlines()
    lines.insert(60, "1e308,1,2,3")  # an absurd timestamp
    lines.insert(120, f"{118 / 50:.6f},1e39,0,0")  # finite in float64, inf in float32
    lines.insert(180, "1e400,1,2,3")  # parses as inf
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    rc, out, err = run_cli(["stream", str(model), "--input", str(tmp_path / "s.csv"), "--window", "1", "--hop",
                            "0.5"], capsys)
    assert rc == 0 and "Traceback" not in err
    decisions = [ln for ln in out.splitlines() if "conf" in ln]
    assert len(decisions) == 11  # windows ending at 0.98, 1.48, ... 5.98 s: none lost
    assert all("conf nan" not in d for d in decisions)
    assert "absurd timestamp 1e+308 s" in err and "beyond float32's range (1e+39" in err
    assert "non-finite timestamp" in err and "3 samples dropped" in err


def test_a_window_the_model_refuses_is_skipped_not_fatal(tmp_path: Path) -> None:
    from vskd.deploy.model import DeployInfo
    from vskd.deploy.runtime import Predictor
    from vskd.deploy.stream import StreamRecognizer, StreamWarning

    info = DeployInfo(class_names=["a", "b"], axes=["x", "y", "z"], rate_hz=50.0, window_length=None, min_length=2,
                      gaf={"method": "summation"}, arch="t")
    calls = []

    def run(x):  # NaN logits for every other window (a broken model), fine otherwise
        calls.append(1)
        return np.full((1, 2), np.nan if len(calls) % 2 else 0.0, np.float32)

    rec = StreamRecognizer(Predictor("test", Path("mem"), info, run), window_s=1.0, hop_s=0.5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = [d for i in range(300) for d in rec.push(i / 50, [np.sin(i), 1.0, 2.0])]
    assert len(got) == rec.decisions == 5 and rec.skipped == 6
    assert all(np.isfinite(d.confidence) for d in got)
    assert sum("non-finite logits" in str(w.message) for w in caught if w.category is StreamWarning) == 6


# ------------------------------------------------------------------------------------------ fuzzing

_KEYS = ["name", "seed", "student", "train", "lr", "epochs", "input", "out_size", "axes", "data", "options",
         "distill", "method", "teacher", "embed_dim", "grad_clip", "momentum", "num_workers", "cache_dir"]
_yaml_scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**80, 2**80), st.floats(), st.text(max_size=12),
                         st.sampled_from(["&a x", "*a", ".nan", "-.inf", "2020-13-45", "[", "{", "0x1F", "1e999"]))
_yaml_tree = st.recursive(_yaml_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4)), max_leaves=12)
_FUZZ_DIR = Path(tempfile.mkdtemp(prefix="vskd-fuzz2-"))


def _loads_or_clear_error(path=None, overrides=None) -> None:
    from vskd.config import load_config, save_config

    try:
        cfg = load_config(path, overrides)
    except VskdError as exc:
        assert "\n" not in str(exc)
        return
    save_config(cfg, _FUZZ_DIR / "saved.yaml")  # what every run does first: must not hang or fail


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=st.dictionaries(st.sampled_from(_KEYS), _yaml_tree, max_size=5), raw=st.binary(max_size=200),
       as_text=st.booleans())
def test_fuzz_config_loader(tree, raw: bytes, as_text: bool) -> None:
    import yaml

    path = _FUZZ_DIR / "fuzz.yaml"
    if as_text:
        path.write_text(yaml.safe_dump(tree, allow_unicode=True))
    else:
        path.write_bytes(raw)
    _loads_or_clear_error(path)


@settings(max_examples=80, deadline=None)
@given(key=st.lists(st.sampled_from(_KEYS + ["", " ", "x"]), min_size=0, max_size=4).map(".".join),
       value=st.one_of(st.text(max_size=30), _yaml_scalar.map(str)), eq=st.sampled_from(["=", "", "=="]))
def test_fuzz_set_overrides(key: str, value: str, eq: str) -> None:
    _loads_or_clear_error(None, [f"{key}{eq}{value}"])


_cell = st.one_of(st.floats(width=64).map(repr), st.integers(-10**30, 10**30).map(str),
                  st.text(alphabet="0123456789.-e+naif²٣ ,;\"\n\x00", max_size=8))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=st.sampled_from(["t,x,y,z", "t,x", "x,y,z", "t,t,x", ""]),
       rows=st.lists(st.lists(_cell, min_size=1, max_size=5), max_size=14))
def test_fuzz_sensor_csv(header: str, rows) -> None:
    from vskd.data.manifest import read_sensor_file

    path = _FUZZ_DIR / "sensor.csv"
    path.write_text(header + "\n" + "".join(",".join(r) + "\n" for r in rows))
    try:
        sig = read_sensor_file(path)
    except VskdError as exc:
        assert "\n" not in str(exc)
        return
    assert sig.samples.shape[0] >= 8 and np.isfinite(sig.samples).all()
    assert np.isfinite(sig.rate_hz) and 0 < sig.rate_hz <= 1e5


_mcell = st.one_of(st.sampled_from(["0", "1", "-1", "²", "3000000000", "walk", "", "s.csv", "missing.csv", "1_0",
                                    "50", "nan", "1e999", "\"a,b\"", "s.npy"]), st.text(max_size=6))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=st.sampled_from(["id,label,subject,trial,sensor", "id,label,subject,trial,sensor,rate_hz",
                               "id,label,subject,sensor", "id,label,subject,trial,video"]),
       rows=st.lists(st.lists(_mcell, min_size=4, max_size=6), max_size=6))
def test_fuzz_manifest(header: str, rows) -> None:
    from vskd.data.manifest import read_manifest, scan_manifest

    (_FUZZ_DIR / "s.csv").write_text(_csv(20))
    np.save(_FUZZ_DIR / "s.npy", np.ones((20, 3)))
    path = _FUZZ_DIR / "manifest.csv"
    path.write_text(header + "\n" + "".join(",".join(r) + "\n" for r in rows))
    try:
        recs, classes, problems = scan_manifest(path)
        assert len(classes) <= 10_000 and all("\n" not in p for p in problems)
        for r in read_manifest(path):
            r.load("inertial")
    except VskdError as exc:
        assert "\n" not in str(exc)


_stream_line = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(st.floats(width=64), st.sampled_from([1e39, -1e39, 1e308, 5e-324, 0.0])), min_size=1,
             max_size=5).map(lambda v: ",".join(repr(x) for x in v)),
)


@pytest.fixture(scope="module")
def mean_predictor():
    from vskd.deploy.model import DeployInfo
    from vskd.deploy.runtime import Predictor

    info = DeployInfo(class_names=["a", "b", "c"], axes=["x", "y", "z"], rate_hz=50.0, window_length=None,
                      min_length=2, gaf={"method": "summation"}, arch="mean")
    return Predictor("test", Path("mem"), info, lambda x: x.mean(axis=1))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_stream_line, max_size=60), base=st.lists(st.integers(0, 3), max_size=60))
def test_fuzz_stream_parser_and_recognizer(mean_predictor, lines, base) -> None:
    from vskd.deploy.stream import StreamRecognizer, parse_csv

    # interleave fuzzed lines with a valid stream so windows do complete
    good = [f"{i / 50},{np.sin(i)},{np.cos(i)},{i % 3}" for i in range(len(base) * 2)]
    merged = [x for pair in zip(good[::2], lines) for x in pair] + good[len(lines) * 2:] + lines[len(good) // 2:]
    rec = StreamRecognizer(mean_predictor, window_s=0.2, hop_s=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for d in rec.push_many(parse_csv(merged, 3, "fuzz")):
            assert np.isfinite(d.confidence) and 0 <= d.label < 3


def test_every_vskd_error_is_one_line_whatever_it_quotes() -> None:
    """The fuzzer's find: a --set value with a line break was quoted raw into the message."""
    from vskd.config import parse_override
    from vskd.errors import ConfigError, DataError

    with pytest.raises(ConfigError) as info:
        parse_override("name.=\n")
    assert "\n" not in str(info.value) and "\\n" in str(info.value)
    assert str(DataError("file a\x00b.csv")) == "file a\\x00b.csv"
    assert str(DataError("plain ² é")) == "plain ² é"  # printable text is left as it is
