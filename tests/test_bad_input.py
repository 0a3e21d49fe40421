"""Malformed input across the readers, configs and the CLI: one line naming the problem, a non-zero
exit, no traceback and no partial run a later run could take for a finished one.

Each case runs the real CLI (``vskd.cli.main`` in-process; a few through the installed ``vskd``
script). UTD-MHAD cases corrupt copies of single release files in ``tmp_path``; training cases use the
tiny synthetic preset for one epoch. The hypothesis tests fuzz the GAF encoder and the readers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vskd.cli import main
from vskd.errors import DataError, VskdError

from test_e2e import TINY as E2E_TINY

VSKD = Path(sys.executable).with_name("vskd")
FINISHED = ("results.json", "best.pt", "last.pt")

# the e2e tiny preset, one epoch each
TINY = [o for o in E2E_TINY if ".train.epochs=" not in o] + ["teacher.train.epochs=1", "student.train.epochs=1"]


def sets(overrides: list[str]) -> list[str]:
    out: list[str] = []
    for o in overrides:
        out += ["--set", o]
    return out


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def assert_one_line_error(rc: int, err: str, *needles: str) -> str:
    assert rc != 0
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def assert_no_finished_run(run: Path) -> None:
    for name in FINISHED:
        assert not (run / name).exists(), f"{run / name} left behind"


def error_lines(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.startswith("error: ")]


# ------------------------------------------------------------------------------ UTD-MHAD copies


@pytest.fixture
def utd_copy(utd_root: Path, tmp_path: Path):
    """A tmp dataset root holding copies of the files of a1_s1_t1, a1_s2_t1 and a1_s3_t1 only."""
    root = tmp_path / "utd"
    for folder in ("Inertial", "Skeleton"):
        (root / folder).mkdir(parents=True)
        for name in ("a1_s1_t1", "a1_s2_t1", "a1_s3_t1"):
            suffix = "inertial" if folder == "Inertial" else "skeleton"
            shutil.copy(utd_root / folder / f"{name}_{suffix}.mat", root / folder / f"{name}_{suffix}.mat")
    return root


def _check(root: Path, capsys, *extra: str) -> tuple[int, str, str]:
    return run_cli(["data", "check", "--dataset", "utd-mhad", "--root", str(root), *extra], capsys)


def test_utd_root_not_found(tmp_path: Path, capsys) -> None:
    rc, _, err = _check(tmp_path / "missing", capsys)
    assert rc == 2
    assert_one_line_error(rc, err, str(tmp_path / "missing"), "root not found")


def test_utd_truncated_mat(utd_copy: Path, capsys) -> None:
    path = utd_copy / "Inertial" / "a1_s1_t1_inertial.mat"
    path.write_bytes(path.read_bytes()[:300])
    rc, out, _ = _check(utd_copy, capsys)
    assert rc == 1
    (line,) = error_lines(out)
    assert str(path) in line and ("truncated" in line or "unreadable" in line)


def test_utd_wrong_variable_name(utd_copy: Path, capsys) -> None:
    path = utd_copy / "Inertial" / "a1_s1_t1_inertial.mat"
    scipy.io.savemat(path, {"iner": np.zeros((100, 6))})
    rc, out, _ = _check(utd_copy, capsys)
    (line,) = error_lines(out)
    assert rc == 1 and str(path) in line and "'d_iner' not found" in line and "iner" in line


def test_utd_wrong_shape(utd_copy: Path, capsys) -> None:
    path = utd_copy / "Inertial" / "a1_s1_t1_inertial.mat"
    scipy.io.savemat(path, {"d_iner": np.zeros((100, 5))})
    rc, out, _ = _check(utd_copy, capsys, "--quick")
    (line,) = error_lines(out)
    assert rc == 1 and str(path) in line and "(N, 6)" in line and "(100, 5)" in line


def test_utd_nan_and_inf(utd_copy: Path, capsys) -> None:
    path = utd_copy / "Inertial" / "a1_s1_t1_inertial.mat"
    data = scipy.io.loadmat(path)["d_iner"]
    data[3, 2], data[7, 0] = np.nan, np.inf
    scipy.io.savemat(path, {"d_iner": data})
    rc, out, _ = _check(utd_copy, capsys)
    (line,) = error_lines(out)
    assert rc == 1 and str(path) in line and "2 NaN/Inf value(s), first at sample 3" in line


def test_utd_sequence_shorter_than_the_segment_count(utd_copy: Path, capsys) -> None:
    path = utd_copy / "Skeleton" / "a1_s2_t1_skeleton.mat"
    scipy.io.savemat(path, {"d_skel": scipy.io.loadmat(path)["d_skel"][:, :, :5]})
    rc, out, _ = _check(utd_copy, capsys)
    (line,) = error_lines(out)
    assert rc == 1 and str(path) in line and "5 frames, fewer than the minimum 8" in line


def test_utd_action_label_out_of_range(utd_copy: Path, capsys) -> None:
    shutil.copy(utd_copy / "Inertial" / "a1_s1_t1_inertial.mat", utd_copy / "Inertial" / "a28_s1_t1_inertial.mat")
    rc, out, _ = _check(utd_copy, capsys)
    (line,) = error_lines(out)
    assert rc == 1 and "a28_s1_t1_inertial.mat: action 28 out of range 1..27" in line


def test_utd_root_missing_a_required_modality(utd_copy: Path, capsys) -> None:
    shutil.rmtree(utd_copy / "Skeleton")
    rc, out, _ = _check(utd_copy, capsys, "--require", "inertial,skeleton")
    assert rc == 1
    assert error_lines(out) == ["error: no skeleton files at all, and skeleton is required"]


def test_training_on_a_root_without_the_inertial_modality(utd_copy: Path, tmp_path: Path, capsys) -> None:
    shutil.rmtree(utd_copy / "Inertial")
    run = tmp_path / "run"
    rc, _, err = run_cli(["train-student", *sets(TINY + ["data.dataset=utd-mhad", f"data.root={utd_copy}"]),
                          "--out", str(run), "--quiet"], capsys)
    assert rc == 2
    assert_one_line_error(rc, err, "inertial")
    assert_no_finished_run(run)


# ------------------------------------------------------------------------------ manifest / gaf


def _manifest(tmp_path: Path, rows: list[str], sensors: dict[str, str]) -> Path:
    for name, text in sensors.items():
        (tmp_path / name).write_text(text)
    path = tmp_path / "manifest.csv"
    path.write_text("id,label,subject,trial,sensor\n" + "".join(r + "\n" for r in rows))
    return path


GOOD = "t,x,y,z\n" + "".join(f"{i / 50},{np.sin(i)},{np.cos(i)},{i % 3}\n" for i in range(20))


@pytest.mark.parametrize(
    "rows, sensors, needle",
    [
        (["a,0,1,1,a.csv", "b,-1,1,2,a.csv"], {"a.csv": GOOD}, "label '-1' is not one of the classes"),
        (["a,0,1,1,a.csv"], {"a.csv": "t,x,y,z\n0,1,2,3\n0.02,1,oops,3\n"}, "line 3 has a non-numeric value"),
        (["a,0,1,1,missing.csv"], {}, "sensor file not found"),
        (["a,0,1,1,a.csv"], {"a.csv": "t,x,y,z\n0,1,2,3\n0.02,1,nan,3\n"}, "line 3, column 'y' is NaN/Inf"),
        (["a,0,1,1,a.csv"], {"a.csv": "t,x,y,z\n0,1,2,3\n0,1,2,3\n"}, "strictly increasing"),
    ],
    ids=["label-out-of-range", "non-numeric", "missing-file", "nan", "timestamps"],
)
def test_manifest_problems(tmp_path: Path, capsys, rows, sensors, needle) -> None:
    path = _manifest(tmp_path, rows, sensors)
    rc, out, _ = run_cli(["data", "check", "--dataset", "manifest", "--root", str(path)], capsys)
    assert rc == 1
    lines = error_lines(out)
    assert len(lines) == 1 and needle in lines[0], out


@pytest.mark.parametrize(
    "text, needle",
    [("t,x,y,z\n", "at least 2 samples"), ("t,x,y,z\n0,1,inf,3\n0.02,1,2,3\n", "NaN/Inf"), ("", "empty sensor CSV")],
    ids=["empty", "inf", "no-header"],
)
def test_gaf_command_rejects_bad_signals(tmp_path: Path, capsys, text: str, needle: str) -> None:
    src = tmp_path / "s.csv"
    src.write_text(text)
    out = tmp_path / "img.png"
    rc, _, err = run_cli(["gaf", str(src), "--out", str(out)], capsys)
    assert rc == 2
    assert_one_line_error(rc, err, str(src), needle)
    assert not out.exists()


# ------------------------------------------------------------------------------ configs and runs


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (["student.train.epoch=1"], "unknown config key 'student.train.epoch'"),
        (["student.train.epochs=abc"], "config key 'student.train.epochs': expected an integer"),
        (["data.protocol=cross-galaxy"], "config key 'data.protocol'"),
        (["data.options={accelerometer: 1}"], "config key 'data.options.accelerometer': dataset 'synthetic' has no such option"),
        (["student.input.axes=[acc_x, foo, acc_z]"], "foo"),
        (["data.dataset=berkeley-mhad"], "config key 'data.root'"),
    ],
    ids=["unknown-key", "wrong-type", "bad-choice", "unknown-reader-option", "unknown-axis", "no-root"],
)
def test_bad_training_configs(tmp_path: Path, capsys, overrides: list[str], needle: str) -> None:
    run = tmp_path / "run"
    rc, _, err = run_cli(["train-student", *sets(TINY + overrides), "--out", str(run), "--quiet"], capsys)
    assert rc == 2
    assert_one_line_error(rc, err, needle)
    assert_no_finished_run(run)


@pytest.mark.parametrize(
    "text, needle",
    [("student:\n  train:\n    epochz: 3\n", "unknown config key 'student.train.epochz'"),
     ("student: [unclosed\n", "is not valid YAML")],
    ids=["unknown-key-in-file", "invalid-yaml"],
)
def test_bad_config_files(tmp_path: Path, capsys, text: str, needle: str) -> None:
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(text)
    run = tmp_path / "run"
    rc, _, err = run_cli(["train-student", "--config", str(cfg), "--out", str(run), "--quiet"], capsys)
    assert_one_line_error(rc, err, needle)
    assert_no_finished_run(run)


@pytest.fixture(scope="module")
def three_class_teacher(tmp_path_factory) -> Path:
    """A real teacher trained for one epoch on a 3-class tiny synthetic set."""
    root = tmp_path_factory.mktemp("teacher3")
    ov = TINY + ["data.synthetic={num_classes: 3}", f"data.cache_dir={root / 'cache'}"]
    assert main(["train-teacher", *sets(ov), "--out", str(root / "t"), "--quiet"]) == 0
    return root / "t" / "best.pt"


def test_teacher_checkpoint_for_another_number_of_classes(three_class_teacher: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    rc, _, err = run_cli(["distill", "--method", "kd", "--teacher", str(three_class_teacher), *sets(TINY),
                          "--out", str(run), "--quiet"], capsys)
    assert rc == 2
    assert_one_line_error(rc, err, str(three_class_teacher), "trained for 3 classes", "has 4")
    assert_no_finished_run(run)


@pytest.mark.parametrize("content", [None, b"\x00garbage\xff" * 50], ids=["missing", "corrupt"])
def test_missing_or_corrupt_teacher_checkpoint(tmp_path: Path, capsys, content) -> None:
    ckpt = tmp_path / "teacher.pt"
    if content is not None:
        ckpt.write_bytes(content)
    run = tmp_path / "run"
    rc, _, err = run_cli(["distill", "--method", "kd", "--teacher", str(ckpt), *sets(TINY),
                          "--out", str(run), "--quiet"], capsys)
    assert rc == 2
    assert_one_line_error(rc, err, str(ckpt))
    assert_no_finished_run(run)


# ------------------------------------------------------------------------------ the new readers


def test_berkeley_root_missing_the_accelerometer(tmp_path: Path, capsys) -> None:
    (tmp_path / "Camera" / "Cluster01" / "Cam01").mkdir(parents=True)
    (tmp_path / "Time_stamps").mkdir()
    rc, _, err = run_cli(["data", "check", "--dataset", "berkeley-mhad", "--root", str(tmp_path),
                          "--modalities", "inertial"], capsys)  # asked for: a missing folder is an error
    assert rc == 2
    assert_one_line_error(rc, err, str(tmp_path / "Accelerometer" / "Shimmer01"), "folder not found")
    # not asked for: what is there is read (here: no frames), the absent accelerometer is one warning line
    rc, out, _ = run_cli(["data", "check", "--dataset", "berkeley-mhad", "--root", str(tmp_path)], capsys)
    assert rc == 1 and "warning: " in out and "inertial is absent (Accelerometer/ not found)" in out


def test_mmact_unusable_sensor_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "acc_watch_clip" / "subject1" / "scene1" / "session1" / "walking.csv"
    path.parent.mkdir(parents=True)
    path.write_text("20181105_13:59:59.950000,1,2,3\n20181105_13:5:59.960000,1,2,3\n")
    rc, out, _ = run_cli(["data", "check", "--dataset", "mmact", "--root", str(tmp_path), "--modalities", "inertial"],
                         capsys)
    assert rc == 1
    expected = f"error: {path}: line 2: bad timestamp '20181105_13:5:59.960000' (expected YYYYMMDD_HH:MM:SS.ffffff)"
    assert error_lines(out) == [expected]


# ------------------------------------------------------------------------------ the installed script


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["data", "check", "--dataset", "mmact", "--root", "{tmp}/nowhere"], "MMAct root not found"),
        (["train-student", "--set", "data.preset=tiny", "--set", "nope=1", "--out", "{tmp}/run"], "unknown config key 'nope'"),
    ],
    ids=["data-check", "train"],
)
def test_installed_script_exits_2_without_traceback(tmp_path: Path, argv: list[str], needle: str) -> None:
    if not VSKD.exists():
        pytest.skip(f"{VSKD} not installed")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    proc = subprocess.run([str(VSKD), *argv], check=False, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert proc.returncode == 2
    assert_one_line_error(proc.returncode, proc.stderr, needle)
    assert_no_finished_run(tmp_path / "run")


# ------------------------------------------------------------------------------ fuzzing


finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=32)


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(st.lists(finite_or_not, min_size=3, max_size=3), min_size=0, max_size=40),
    method=st.sampled_from(["summation", "difference"]),
    scaling=st.sampled_from(["minmax", "affine"]),
    size=st.sampled_from([None, 8, 0.5]),
)
def test_fuzz_gaf_image_is_valid_or_a_clear_error(data, method, scaling, size) -> None:
    from vskd.gaf import gaf_image

    window = np.asarray(data, dtype=np.float64).reshape(-1, 3)
    try:
        img = gaf_image(window, method=method, image_size=size, out_size=16, scaling=scaling)
    except VskdError as exc:
        assert "\n" not in str(exc)
        return
    img = np.asarray(img)
    assert img.shape == (3, 16, 16)
    assert np.isfinite(img).all() and img.min() >= 0.0 and img.max() <= 1.0


@settings(max_examples=40, deadline=None)
@given(data=st.lists(st.lists(finite_or_not, min_size=3, max_size=3), min_size=1, max_size=30))
def test_fuzz_gaf_encoder_module(data) -> None:
    import torch

    from vskd.gaf import GAFEncoder

    x = torch.tensor(np.asarray(data, dtype=np.float32).reshape(1, -1, 3))
    try:
        img = GAFEncoder(out_size=16)(x)
    except VskdError:
        return
    assert img.shape == (1, 3, 16, 16) and torch.isfinite(img).all() and img.min() >= 0 and img.max() <= 1


_FUZZ_DIR = Path(tempfile.mkdtemp(prefix="vskd-fuzz-"))


def _readers():
    from vskd.data import berkeley_mhad, manifest, mmact, utd_mhad

    return {
        "berkeley-acc.txt": lambda p: berkeley_mhad.BerkeleyClip(
            key=None, acc=p, frames=None, frames_dir=None, stamps=None).inertial(),
        "berkeley-ts.txt": berkeley_mhad.read_timestamps,
        "mmact.csv": lambda p: mmact.read_inertial({"acc_watch": p}, 100.0),
        "a1_s1_t1_inertial.mat": utd_mhad.read_inertial,
        "sensor.csv": manifest.read_sensor_file,
    }


VALID = {
    "berkeley-acc.txt": b"1 2 3 1335000000.0\n1.5 2 3 1335000000.04\n2 2 3 1335000000.07\n",
    "berkeley-ts.txt": b"0 1335000000.0\n1 1335000000.045\n",
    "mmact.csv": b"20181105_13:59:59.950000,1,2,3\n20181105_13:59:59.960000,1,2,3\n",
    "sensor.csv": b"t,x,y,z\n0,1,2,3\n0.02,1,2,3\n",
}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(_readers())),
    blob=st.one_of(
        st.binary(max_size=400),
        st.tuples(st.sampled_from(sorted(VALID)), st.integers(0, 120), st.binary(max_size=8)).map(
            lambda t: VALID[t[0]][: t[1]] + t[2]  # truncated valid files with some junk
        ),
    ),
)
def test_fuzz_readers_raise_only_data_errors(name: str, blob: bytes) -> None:
    path = _FUZZ_DIR / name
    path.write_bytes(blob)
    try:
        _readers()[name](path)
    except DataError as exc:
        assert "\n" not in str(exc)
