"""Generic manifest layout: sensor CSV / npy files, videos and frame folders written by the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vskd.data.datasets import class_names, load_recordings
from vskd.data.manifest import read_manifest, read_sensor_file, scan_manifest
from vskd.data.recording import RecordingKey
from vskd.errors import ConfigError, DataError


def write_csv(path: Path, t: np.ndarray, cols: dict[str, np.ndarray]) -> Path:
    lines = ["t," + ",".join(cols)]
    for i in range(len(t)):
        lines.append(",".join([f"{t[i]:.6f}"] + [f"{v[i]:.6f}" for v in cols.values()]))
    path.write_text("\n".join(lines) + "\n")
    return path


def sine_csv(path: Path, n: int = 100, rate: float = 50.0) -> Path:
    t = np.arange(n) / rate
    return write_csv(path, t, {"x": np.sin(t), "y": np.cos(t), "z": t})


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    (tmp_path / "sensor").mkdir()
    sine_csv(tmp_path / "sensor" / "walk1.csv")
    sine_csv(tmp_path / "sensor" / "walk2.csv", rate=100.0)
    np.save(tmp_path / "sensor" / "wave1.npy", np.random.default_rng(0).normal(size=(80, 3)))
    frames = tmp_path / "frames" / "wave2"
    frames.mkdir(parents=True)
    for i in range(9):
        Image.fromarray(np.full((16, 20, 3), 25 * i, np.uint8)).save(frames / f"{i:03d}.png")
    manifest = tmp_path / "mydata.csv"
    manifest.write_text(
        "id,label,subject,trial,sensor,video,rate_hz\n"
        "walk-1,walk,1,1,sensor/walk1.csv,,\n"
        "walk-2,walk,2,1,sensor/walk2.csv,frames/wave2,\n"
        "wave-1,wave,1,1,sensor/wave1.npy,,25\n"
        "wave-2,wave,2,1,,frames/wave2,\n"
    )
    return manifest


def test_read_manifest(dataset: Path) -> None:
    recs = read_manifest(dataset)
    assert [r.key for r in recs] == [
        RecordingKey("mydata", 1, 1, 1), RecordingKey("mydata", 1, 2, 1),
        RecordingKey("mydata", 2, 1, 1), RecordingKey("mydata", 2, 2, 1),
    ]
    assert [r.label for r in recs] == [0, 0, 1, 1]
    assert [sorted(r.sources) for r in recs] == [["inertial"], ["inertial", "rgb"], ["inertial"], ["rgb"]]
    walk1 = recs[0].load("inertial")
    assert walk1.channels == ("x", "y", "z") and walk1.samples.shape == (100, 3)
    assert walk1.rate_hz == pytest.approx(50.0, rel=1e-4)
    assert recs[1].load("inertial").rate_hz == pytest.approx(100.0, rel=1e-4)
    wave1 = recs[2].load("inertial")
    assert wave1.rate_hz == 25.0 and wave1.samples.shape == (80, 3)
    clip = recs[3].load("rgb")
    assert clip.shape == (9, 16, 20, 3) and clip[4].max() == 100
    assert recs[3].num_frames("rgb") == 9
    assert recs[0].sources["inertial"].meta["id"] == "walk-1"
    assert class_names("manifest", recs) == ["walk", "wave"]
    # the dataset dispatcher gives the same
    via = load_recordings("manifest", dataset, dataset_name="mine")
    assert [str(r.key) for r in via][0] == "mine/a1_s1_t1"


def test_integer_labels_and_explicit_classes(tmp_path: Path) -> None:
    sine_csv(tmp_path / "a.csv")
    m = tmp_path / "m.csv"
    m.write_text("id,label,subject,trial,sensor\nr1,2,1,1,a.csv\nr2,0,1,1,a.csv\n")
    recs = read_manifest(m)
    assert [r.label for r in recs] == [0, 2] and [r.key.action for r in recs] == [1, 3]
    assert class_names("manifest", recs) == ["0", "1", "2"]
    m.write_text("id,label,subject,trial,sensor\nr1,jump,1,1,a.csv\nr2,sit,2,1,a.csv\n")
    recs = read_manifest(m, classes=["sit", "stand", "jump"])
    assert [(r.key.subject, r.label) for r in recs] == [(2, 0), (1, 2)]
    assert class_names("manifest", recs) == ["sit", "stand", "jump"]


@pytest.mark.parametrize(
    "body,pattern",
    [
        ("id,label,trial,sensor\nr1,a,1,a.csv\n", r"missing column\(s\) subject"),
        ("id,label,subject,trial\nr1,a,1,1\n", "needs a 'sensor' and/or a 'video' column"),
        ("id,label,subject,trial,sensor\nr1,a,1,1,a.csv\nr2,b,one,1,a.csv\n", r"row 3 \(r2\): subject must be an integer"),
        ("id,label,subject,trial,sensor\nr1,a,1,1,nope.csv\n", r"row 2 \(r1\): sensor file not found: .*nope\.csv"),
        ("id,label,subject,trial,sensor,video\nr1,a,1,1,,clips/x.avi\n", "row 2.*video file or frame folder not found"),
        ("id,label,subject,trial,sensor,video\nr1,a,1,1,,\n", "row 2.*neither a sensor nor a video"),
        ("id,label,subject,trial,sensor\nr1,a,1,1,a.csv\nr1,b,1,2,a.csv\n", "row 3.*id 'r1' already used in row 2"),
        ("id,label,subject,trial,sensor\nr1,a,1,1,a.csv\nr2,a,1,1,a.csv\n", "row 3.*same label, subject and trial as row 2"),
        ("id,label,subject,trial,sensor\nr1,a,1,1,a.csv\nr2,3,1,2,a.csv\n", "row 3: label '3' is an integer"),
        ("id,label,subject,trial,sensor\nr1,a,1,1,s.npy\n", r"row 2.*\.npy: give its rate"),
        ("id,label,subject,trial,sensor\n", "lists no recordings"),
    ],
)
def test_bad_manifests(tmp_path: Path, body: str, pattern: str) -> None:
    sine_csv(tmp_path / "a.csv")
    np.save(tmp_path / "s.npy", np.zeros((10, 3)))
    m = tmp_path / "m.csv"
    m.write_text(body)
    with pytest.raises(DataError, match=pattern) as err:
        read_manifest(m)
    assert str(m) in str(err.value)


def test_scan_manifest_reports_every_bad_row(tmp_path: Path) -> None:
    sine_csv(tmp_path / "a.csv")
    m = tmp_path / "m.csv"
    m.write_text("id,label,subject,trial,sensor\nr1,a,1,1,a.csv\nr2,a,x,1,a.csv\nr3,a,2,1,b.csv\nr4,b,2,1,a.csv\n")
    recs, classes, problems = scan_manifest(m)
    assert [r.sources["inertial"].meta["id"] for r in recs] == ["r1", "r4"]
    assert len(problems) == 2 and "row 3" in problems[0] and "row 4" in problems[1]
    with pytest.raises(DataError, match=r"row 3.*and 1 more problem"):
        read_manifest(m)
    with pytest.raises(DataError, match="manifest CSV not found"):
        read_manifest(tmp_path / "nope.csv")


# ------------------------------------------------------------------------------------- sensor files


def test_sensor_csv_rate_channels_and_override(tmp_path: Path) -> None:
    t = np.arange(40) / 20.0
    path = write_csv(tmp_path / "s.csv", t, {"acc_x": t, "acc_y": -t, "acc_z": t * 2, "temp": t * 0})
    sig = read_sensor_file(path)
    assert sig.channels == ("acc_x", "acc_y", "acc_z", "temp") and sig.rate_hz == pytest.approx(20.0)
    np.testing.assert_allclose(sig.select(["acc_y"])[:, 0], -t, atol=1e-6)
    assert read_sensor_file(path, rate_hz=19.5).rate_hz == 19.5


@pytest.mark.parametrize(
    "text,pattern",
    [
        ("time,x,y,z\n0,1,2,3\n0.1,1,2,3\n", "header must be 't,<channel>"),
        ("t,x,y\n0,1,2\n0.02,1\n", "line 3 has 2 values, expected 3"),
        ("t,x,y\n0,1,2\n0.02,1,abc\n", "line 3 has a non-numeric value"),
        ("t,x\n0,1\n0.02,nan\n0.04,1\n", "line 3, column 'x' is NaN/Inf"),
        ("t,x\n0,1\n0.02,1\n0.02,1\n0.06,1\n", r"strictly increasing; line 4 has t=0\.02 after t=0\.02"),
        ("t,x\n0,1\n0.04,1\n0.02,1\n", "strictly increasing; line 4"),
        ("t,x\n0,1\n", "at least 2 samples"),
        ("", "empty sensor CSV"),
    ],
)
def test_bad_sensor_csv(tmp_path: Path, text: str, pattern: str) -> None:
    path = tmp_path / "s.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=pattern) as err:
        read_sensor_file(path)
    assert str(path) in str(err.value)


def test_sensor_npy_and_other_types(tmp_path: Path) -> None:
    arr = np.arange(60, dtype=np.float32).reshape(10, 6)
    np.save(tmp_path / "s.npy", arr)
    sig = read_sensor_file(tmp_path / "s.npy", rate_hz=50)
    assert sig.channels[0] == "acc_x" and sig.samples.dtype == np.float64
    np.testing.assert_array_equal(sig.samples, arr)
    with pytest.raises(DataError, match="give its rate"):
        read_sensor_file(tmp_path / "s.npy")
    with pytest.raises(DataError, match="rate_hz must be a positive number"):
        read_sensor_file(tmp_path / "s.npy", rate_hz=-1)
    bad = np.ones((10, 3))
    bad[4, 1] = np.inf
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(DataError, match="first at sample 4"):
        read_sensor_file(tmp_path / "bad.npy", rate_hz=10)
    np.save(tmp_path / "cube.npy", np.ones((2, 3, 4)))
    with pytest.raises(DataError, match=r"shape \(T, C\)"):
        read_sensor_file(tmp_path / "cube.npy", rate_hz=10)
    (tmp_path / "s.txt").write_text("1 2 3")
    with pytest.raises(DataError, match="unknown sensor file type"):
        read_sensor_file(tmp_path / "s.txt")
    with pytest.raises(DataError, match="sensor file not found"):
        read_sensor_file(tmp_path / "none.csv")


def test_load_recordings_dispatch_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown dataset 'kinetics'; known datasets: berkeley-mhad, manifest, mmact, synthetic, utd-mhad"):
        load_recordings("kinetics")
    with pytest.raises(ConfigError, match="needs a root"):
        load_recordings("manifest")
    with pytest.raises(ConfigError, match="no option"):
        load_recordings("manifest", tmp_path / "m.csv", preset="demo")
