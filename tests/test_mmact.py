"""MMAct reader on small fixtures written in the release's exact layout and formats."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import av
import numpy as np
import pytest

from vskd.cli import main
from vskd.data import mmact
from vskd.data.check import check_dataset
from vskd.data.datasets import class_names, load_recordings
from vskd.data.protocols import make_splits
from vskd.errors import ConfigError, DataError, VskdWarning

START = dt.datetime(2018, 11, 5, 13, 59, 59, 950000)  # crosses a minute boundary during the clip


def stamp(sec: float) -> str:
    return (START + dt.timedelta(seconds=sec)).strftime("%Y%m%d_%H:%M:%S.%f")


def value(sensor: str, t: np.ndarray) -> np.ndarray:
    k = mmact.SENSORS.index(sensor)
    return np.stack([9.8 + k + 0 * t, 2.0 * t, -t + k], axis=1)  # linear in t: interpolation is exact


def write_sensor(path: Path, sensor: str, duration: float = 1.0, rate: float = 100.0, seed: int = 0) -> None:
    """~rate Hz samples with jitter, one backwards step and one repeated timestamp."""
    rng = np.random.default_rng(seed)
    n = int(duration * rate)
    t = np.arange(n) / rate + rng.uniform(-0.002, 0.002, n)
    t[0], t[-1] = 0.0, duration
    t[10], t[11] = t[11], t[10]  # goes backwards
    t = np.concatenate([t, t[20:21]])
    x = value(sensor, t)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{stamp(tt)},{a:.6f},{b:.6f},{c:.6f}\n" for tt, (a, b, c) in zip(t, x)))


def write_video(path: Path, n: int = 6, level: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        for i in range(n):
            img = np.full((16, 16, 3), (level + 20 * i) % 256, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_clip(root: Path, subject: int, scene: int, session: int, action: str, cams=(1, 2, 3, 4),
               sensors=mmact.SENSORS, name: str | None = None) -> None:
    fname = name or action
    for k, s in enumerate(sensors):
        write_sensor(root / f"{s}_clip" / f"subject{subject}" / f"scene{scene}" / f"session{session}" / f"{fname}.csv",
                     s, seed=subject * 100 + scene * 10 + session + k)
    for cam in cams:
        write_video(root / "video" / f"subject{subject}" / f"cam{cam}" / f"scene{scene}" / f"session{session}" / f"{fname}.mp4",
                    level=cam * 40)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    r = tmp_path_factory.mktemp("mmact")
    write_clip(r, 1, 1, 1, "walking", name="Walking")  # letter case differs from the action list
    write_clip(r, 16, 4, 2, "talking", cams=(1, 4))
    write_clip(r, 17, 2, 5, "walking", cams=(3,))
    return r


def test_listing_one_recording_per_clip_and_camera(root: Path) -> None:
    recs = load_recordings("mmact", root)
    assert len(recs) == 4 + 2 + 1
    assert [r.key for r in recs] == sorted(r.key for r in recs)
    walk = [r for r in recs if r.key.subject == 1]
    assert {r.key.trial for r in walk} == {111, 112, 113, 114}  # 100*scene + 10*session + camera
    assert all(r.label == mmact.ACTIONS.index("walking") for r in walk)
    meta = walk[0].source("rgb").meta
    assert (meta["scene"], meta["session"], meta["camera"]) == (1, 1, 1)
    assert len(class_names("mmact", recs)) == 37 == mmact.NUM_CLASSES


def test_sensor_streams_are_sorted_and_resampled(root: Path) -> None:
    recs = load_recordings("mmact", root, sensors=["acc_watch", "acc_phone", "gyro", "orientation"], rate_hz=50,
                           modalities="inertial")
    assert len(recs) == 3  # one per clip: no camera duplicates without the rgb modality
    (rec,) = [r for r in recs if r.key.subject == 1]
    assert rec.key.trial == 110  # camera 0: sensors only
    sig = rec.load("inertial")
    assert sig.channels == ("acc_x", "acc_y", "acc_z", "phone_acc_x", "phone_acc_y", "phone_acc_z",
                            "gyro_x", "gyro_y", "gyro_z", "ori_x", "ori_y", "ori_z")
    assert sig.rate_hz == 50
    n = len(sig.samples)
    assert 48 <= n <= 51  # the common window of four ~1 s streams at 50 Hz
    # every stream is linear in time, so the resampled values follow the line whatever the jitter;
    # all streams share one grid: acc_watch's y (2t) and phone's z (-t + 1) agree on time
    y_watch = sig.samples[:, 1]
    z_phone = sig.samples[:, 5]
    np.testing.assert_allclose(-(y_watch / 2) + 1, z_phone, atol=1e-5)  # values are written with 6 decimals
    np.testing.assert_allclose(np.diff(y_watch), 2.0 / 50, atol=1e-5)
    np.testing.assert_allclose(sig.samples[:, 0], 9.8, atol=1e-9)


def test_videos_decode_with_pyav(root: Path) -> None:
    rec = [r for r in load_recordings("mmact", root) if r.key.subject == 16][1]  # camera 4
    assert rec.source("rgb").meta["camera"] == 4
    assert rec.num_frames("rgb") == 6
    frames = rec.video("rgb", [0, 5])
    assert frames.shape == (2, 16, 16, 3)
    assert abs(float(frames[0].mean()) - 160) < 8 and abs(float(frames[1].mean()) - 260 % 256) < 8


def test_protocols(root: Path) -> None:
    recs = load_recordings("mmact", root)
    cs = make_splits(recs, "cross-subject")
    assert cs.groups["train"] == list(range(1, 16)) and cs.groups["val"] == [16] and cs.groups["test"] == [17, 18, 19, 20]
    assert {r.key.subject for r in cs.test} == {17}
    cv = make_splits(recs, "cross-view")
    assert cv.groups == {"train": [1, 2], "val": [3], "test": [4]}
    assert {r.source("rgb").meta["camera"] for r in cv.test} == {4} and len(cv.test) == 2
    sc = make_splits(recs, "cross-scene", val="none")
    assert sc.groups["test"] == [4] and {r.key.subject for r in sc.test} == {16}
    ss = make_splits(recs, "cross-session", val="none")
    assert ss.groups == {"train": [1, 2], "val": [], "test": [5]}
    explicit = make_splits(recs, "cross-view", train_groups=[1, 3], test_groups=[4], val="none")
    assert {r.source("rgb").meta["camera"] for r in explicit.train} == {1, 3}
    with pytest.raises(ConfigError, match="validation cameras"):
        make_splits(recs, "cross-view", val_groups=[4])
    with pytest.raises(DataError, match="has no camera"):
        make_splits(load_recordings("synthetic", preset="tiny"), "cross-view")


@pytest.mark.parametrize(
    "text, match",
    [
        ("20181105_13:59:59.950000,1,2,3\n20181105_13:59:60.5,1,2\n", r"line 2 has 3 fields, expected 4"),
        ("2018-11-05 13:59:59,1,2,3\n", r"line 1: bad timestamp"),
        ("20181305_13:59:59.950000,1,2,3\n20181105_13:59:59.960000,1,2,3\n", r"line 1: bad timestamp"),
        ("20181105_13:59:59.950000,1,two,3\n", r"line 1 has a non-numeric value"),
        ("20181105_13:59:59.950000,1,inf,3\n20181105_13:59:59.960000,1,2,3\n", r"line 1 has a NaN/Inf"),
        ("20181105_13:59:59.950000,1,2,3\n", r"at least 2 samples"),
        ("20181105_13:59:59.950000,1,2,3\n20181105_13:59:59.950000,1,2,3\n", r"at least 2 samples"),
        ("\n\n", r"empty sensor CSV"),
    ],
)
def test_bad_sensor_files_are_one_line_errors(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "acc_watch_clip" / "subject1" / "scene1" / "session1" / "walking.csv"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    (rec,) = load_recordings("mmact", tmp_path, modalities=["inertial"])
    with pytest.raises(DataError, match=match) as exc:
        rec.load("inertial")
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_layout_problems(tmp_path: Path) -> None:
    write_clip(tmp_path, 1, 1, 1, "walking", cams=(), sensors=("acc_watch",))
    write_sensor(tmp_path / "acc_watch_clip" / "subject1" / "scene1" / "session1" / "moonwalking.csv", "acc_watch")
    with pytest.raises(DataError, match="unknown action 'moonwalking'"):
        load_recordings("mmact", tmp_path, modalities="inertial")
    (tmp_path / "acc_watch_clip" / "subject1" / "scene1" / "session1" / "moonwalking.csv").unlink()
    with pytest.raises(DataError, match="acc_phone_clip: folder not found"):
        load_recordings("mmact", tmp_path, sensors=["acc_watch", "acc_phone"], modalities="inertial")
    with pytest.raises(DataError, match="no MMAct video folder"):
        load_recordings("mmact", tmp_path, modalities="inertial,rgb")  # asked for: a missing folder is an error
    with pytest.warns(VskdWarning, match="reading inertial only, rgb is absent"):  # not asked: what is there
        recs = load_recordings("mmact", tmp_path)
    assert [set(r.sources) for r in recs] == [{"inertial"}]
    report = check_dataset("mmact", tmp_path, quick=True)
    assert report.ok and report.warnings == [f"{tmp_path}: reading inertial only, rgb is absent (no video/ or Video_trimmed/ folder)"]
    (tmp_path / "acc_watch_clip").rename(tmp_path / "elsewhere")
    with pytest.raises(DataError, match="no MMAct data in it"):
        load_recordings("mmact", tmp_path)
    (tmp_path / "elsewhere").rename(tmp_path / "acc_watch_clip")
    with pytest.raises(ConfigError, match="sensors"):
        load_recordings("mmact", tmp_path, sensors=["magnetometer"])
    with pytest.raises(ConfigError, match="no option"):
        load_recordings("mmact", tmp_path, accelerometer=1)


def test_data_check(root: Path, tmp_path: Path, capsys) -> None:
    assert main(["data", "check", "--dataset", "mmact", "--root", str(root), "--cameras", "1,4", "--min-frames", "4"]) == 0
    out = capsys.readouterr().out
    assert "mmact at" in out and "5 recordings" in out and "usable: 0 error(s)" in out
    write_clip(tmp_path, 2, 1, 1, "running", cams=(1,), sensors=("acc_watch",))
    bad = tmp_path / "acc_watch_clip" / "subject2" / "scene1" / "session1" / "jumping.csv"
    bad.write_text("20181105_13:59:59.950000,1,2,3\n")
    write_video(tmp_path / "video" / "subject2" / "cam1" / "scene1" / "session1" / "jumping.mp4")
    assert main(["data", "check", "--dataset", "mmact", "--root", str(tmp_path), "--min-frames", "4"]) == 1
    out = capsys.readouterr().out
    assert f"error: {bad}: needs at least 2 samples" in out


def test_paired_dataset_reads_both_views(root: Path) -> None:
    from vskd.data.frames import ClipSpec
    from vskd.data.paired import GAFSpec, PairedDataset

    recs = [r for r in load_recordings("mmact", root) if r.has("inertial") and r.has("rgb")]
    ds = PairedDataset(recs[:1], student=GAFSpec(out_size=16), teacher=ClipSpec(modality="rgb", num_segments=4,
                       frame_size=16, crop_size=16), train=False, cache_dir=False)
    item = ds[0]
    assert item["student"].shape == (3, 16, 16) and item["teacher"].shape == (4, 3, 16, 16)
