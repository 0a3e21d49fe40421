"""UTD-MHAD reader: the real release (utd_root fixture) and malformed files written by the tests."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from vskd.data.recording import InertialSignal, RecordingKey
from vskd.data.utd_mhad import (
    ACTIONS,
    INERTIAL_CHANNELS,
    list_recordings,
    parse_name,
    read_depth,
    read_inertial,
    read_skeleton,
)
from vskd.errors import ConfigError, DataError

MISSING = {"a8_s1_t4", "a23_s6_t4", "a27_s8_t4"}


@pytest.fixture(scope="module")
def recordings(utd_root: Path):
    return list_recordings(utd_root)


# ------------------------------------------------------------------------------------ real data


@pytest.mark.realdata
def test_counts_labels_and_missing_recordings(recordings) -> None:
    assert len(recordings) == 861
    counts = Counter(m for r in recordings for m in r.sources)
    assert counts == {"inertial": 861, "depth": 861, "skeleton": 861}
    assert all(not r.has("rgb") for r in recordings)
    names = {f"a{r.key.action}_s{r.key.subject}_t{r.key.trial}" for r in recordings}
    grid = {f"a{a}_s{s}_t{t}" for a in range(1, 28) for s in range(1, 9) for t in range(1, 5)}
    assert grid - names == MISSING
    assert sorted({r.label for r in recordings}) == list(range(27))
    assert all(r.label == r.key.action - 1 for r in recordings)
    assert [r.key for r in recordings] == sorted(r.key for r in recordings)
    assert len(ACTIONS) == 27 and ACTIONS[0] == "right arm swipe to the left" and ACTIONS[26].startswith("squat")
    assert recordings[0].sources["inertial"].path.name == "a1_s1_t1_inertial.mat"


@pytest.mark.realdata
def test_skeleton_joint_order_file_is_not_a_recording(utd_root: Path, recordings) -> None:
    assert (utd_root / "Skeleton" / "Skeleton_joint_order.txt").is_file()
    assert all(r.sources["skeleton"].path.suffix == ".mat" for r in recordings)


@pytest.mark.realdata
def test_modalities_filter(utd_root: Path) -> None:
    only = list_recordings(utd_root, modalities=["inertial"])
    assert len(only) == 861 and all(set(r.sources) == {"inertial"} for r in only)
    with pytest.raises(ConfigError, match="modalities"):
        list_recordings(utd_root, modalities=["audio"])


@pytest.mark.realdata
def test_shapes_of_a_few_real_recordings(recordings) -> None:
    by_name = {r.key: r for r in recordings}
    for key in [RecordingKey("utd-mhad", 1, 1, 1), RecordingKey("utd-mhad", 14, 4, 2), RecordingKey("utd-mhad", 27, 8, 3)]:
        rec = by_name[key]
        sig = rec.load("inertial")
        assert isinstance(sig, InertialSignal)
        assert sig.samples.dtype == np.float64 and sig.samples.shape[1] == 6 and 107 <= len(sig.samples) <= 326
        assert sig.rate_hz == 50.0 and sig.channels == INERTIAL_CHANNELS
        acc_norm = np.linalg.norm(sig.select(["acc_x", "acc_y", "acc_z"]), axis=1)
        assert 0.3 < np.median(acc_norm) < 3.0  # gravity: accelerometer in g
        depth = rec.load("depth")
        skel = rec.load("skeleton")
        assert depth.dtype == np.uint16 and depth.shape[1:] == (240, 320) and 41 <= depth.shape[0] <= 125
        assert skel.dtype == np.float64 and skel.shape[:2] == (20, 3)
        assert depth.shape[0] == skel.shape[2]  # same frame count, as the README states
        assert 0 < depth.max() < 10000  # millimetres
        # (T, H, W) is the .mat's (H, W, T) moved, not reshaped
        raw = scipy.io.loadmat(str(rec.sources["depth"].path))["d_depth"]
        np.testing.assert_array_equal(depth[5], raw[:, :, 5])
        assert rec.num_frames("depth") == depth.shape[0]
        np.testing.assert_array_equal(rec.video("depth", [3, 0, 3]), depth[[3, 0, 3]])


# --------------------------------------------------------------------------------- file names


def test_parse_name() -> None:
    assert parse_name("x/a12_s3_t4_inertial.mat") == (RecordingKey("utd-mhad", 12, 3, 4), "inertial")
    assert parse_name("a1_s1_t1_color.avi")[1] == "rgb"
    for bad in ["a1_s1_inertial.mat", "a0_s1_t1_depth.mat", "a28_s1_t1_depth.mat", "a1_s1_t1_depth.avi",
                "a1_s1_t1_color.mat", "Skeleton_joint_order.txt"]:
        with pytest.raises(DataError, match=bad.split("/")[-1].replace(".", r"\.")):
            parse_name(bad)


# ------------------------------------------------------------------------------ malformed files


def test_read_files_written_in_release_format(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    iner = rng.normal(size=(120, 6))
    depth = rng.integers(0, 3000, size=(240, 320, 10)).astype(np.uint16)
    skel = rng.normal(size=(20, 3, 10))
    scipy.io.savemat(tmp_path / "a2_s3_t1_inertial.mat", {"d_iner": iner})
    scipy.io.savemat(tmp_path / "a2_s3_t1_depth.mat", {"d_depth": depth}, do_compression=True)
    scipy.io.savemat(tmp_path / "a2_s3_t1_skeleton.mat", {"d_skel": skel})
    np.testing.assert_array_equal(read_inertial(tmp_path / "a2_s3_t1_inertial.mat").samples, iner)
    np.testing.assert_array_equal(read_depth(tmp_path / "a2_s3_t1_depth.mat"), np.moveaxis(depth, 2, 0))
    np.testing.assert_array_equal(read_skeleton(tmp_path / "a2_s3_t1_skeleton.mat"), skel)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"a1_s1_t1_inertial\.mat: file not found.*d_iner"):
        read_inertial(tmp_path / "a1_s1_t1_inertial.mat")


def test_wrong_variable_name(tmp_path: Path) -> None:
    path = tmp_path / "a1_s1_t1_inertial.mat"
    scipy.io.savemat(path, {"inertial": np.zeros((50, 6))})
    with pytest.raises(DataError, match=r"variable 'd_iner' not found.*inertial"):
        read_inertial(path)


@pytest.mark.parametrize(
    "reader,var,value,pattern",
    [
        (read_inertial, "d_iner", np.zeros((50, 3)), r"\(N, 6\).*\(50, 3\)"),
        (read_inertial, "d_iner", np.zeros((4, 6, 2)), r"\(N, 6\).*\(4, 6, 2\)"),
        (read_skeleton, "d_skel", np.zeros((25, 3, 10)), r"\(20, 3, T\).*\(25, 3, 10\)"),
        (read_depth, "d_depth", np.zeros((240, 320), np.uint16), r"\(240, 320, T\)"),
        (read_depth, "d_depth", np.zeros((240, 320, 5), np.float32), "uint16"),
        (read_inertial, "d_iner", np.array([["a"] * 6] * 4), "numeric"),
    ],
)
def test_wrong_shape_or_dtype(tmp_path: Path, reader, var, value, pattern) -> None:
    path = tmp_path / "a1_s1_t1_x.mat"
    scipy.io.savemat(path, {var: value})
    with pytest.raises(DataError, match=pattern) as err:
        reader(path)
    assert str(path) in str(err.value)


def test_nan_and_inf_in_inertial_and_skeleton(tmp_path: Path) -> None:
    iner = np.ones((40, 6))
    iner[17, 2] = np.nan
    iner[30, 0] = np.inf
    scipy.io.savemat(tmp_path / "i.mat", {"d_iner": iner})
    with pytest.raises(DataError, match=r"2 NaN/Inf value\(s\), first at sample 17"):
        read_inertial(tmp_path / "i.mat")
    skel = np.ones((20, 3, 9))
    skel[4, 1, 6] = np.nan
    scipy.io.savemat(tmp_path / "s.mat", {"d_skel": skel})
    with pytest.raises(DataError, match="first at frame 6"):
        read_skeleton(tmp_path / "s.mat")


def test_truncated_and_garbage_mat(tmp_path: Path) -> None:
    good = tmp_path / "good.mat"
    scipy.io.savemat(good, {"d_depth": np.ones((240, 320, 6), np.uint16)}, do_compression=True)
    data = good.read_bytes()
    cut = tmp_path / "a1_s1_t1_depth.mat"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"a1_s1_t1_depth\.mat: unreadable \.mat file"):
        read_depth(cut)
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"this is not a MATLAB file at all" * 10)
    with pytest.raises(DataError, match=r"junk\.mat: unreadable \.mat file"):
        read_inertial(junk)


# ----------------------------------------------------------------------------------- listing


def _fake_release(root: Path) -> None:
    for sub in ("Inertial", "Depth", "Skeleton"):
        (root / sub).mkdir(parents=True)
    for a, s, t in [(1, 1, 1), (1, 2, 1), (3, 1, 2)]:
        scipy.io.savemat(root / "Inertial" / f"a{a}_s{s}_t{t}_inertial.mat", {"d_iner": np.ones((20, 6))})
        scipy.io.savemat(root / "Skeleton" / f"a{a}_s{s}_t{t}_skeleton.mat", {"d_skel": np.ones((20, 3, 9))})
    scipy.io.savemat(root / "Depth" / "a1_s1_t1_depth.mat", {"d_depth": np.ones((240, 320, 9), np.uint16)})
    (root / "Skeleton" / "Skeleton_joint_order.txt").write_text("1. head;")


def test_list_recordings_sources_only_for_existing_files(tmp_path: Path) -> None:
    _fake_release(tmp_path)
    recs = list_recordings(tmp_path)
    assert [str(r.key) for r in recs] == ["utd-mhad/a1_s1_t1", "utd-mhad/a1_s2_t1", "utd-mhad/a3_s1_t2"]
    assert [sorted(r.sources) for r in recs] == [["depth", "inertial", "skeleton"], ["inertial", "skeleton"],
                                                 ["inertial", "skeleton"]]
    assert [r.label for r in recs] == [0, 0, 2]
    with pytest.raises(DataError, match="no 'depth' modality"):
        recs[1].load("depth")


def test_list_recordings_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="UTD-MHAD root not found"):
        list_recordings(tmp_path / "nope")
    with pytest.raises(DataError, match="no UTD-MHAD folders"):
        list_recordings(tmp_path)
    _fake_release(tmp_path)
    scipy.io.savemat(tmp_path / "Inertial" / "walk_1.mat", {"d_iner": np.ones((20, 6))})
    with pytest.raises(DataError, match=r"walk_1\.mat: file name not in UTD-MHAD form"):
        list_recordings(tmp_path)
    (tmp_path / "Inertial" / "walk_1.mat").unlink()
    scipy.io.savemat(tmp_path / "Inertial" / "a1_s1_t1_depth.mat", {"d_depth": np.ones((2, 2, 2))})
    with pytest.raises(DataError, match="a depth file in the Inertial/ folder"):
        list_recordings(tmp_path)


def test_rgb_color_avi_is_listed_and_decoded(tmp_path: Path) -> None:
    import av

    (tmp_path / "RGB").mkdir()
    path = tmp_path / "RGB" / "a5_s2_t3_color.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=30)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuvj420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((24, 32, 3), 20 * i, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    (rec,) = list_recordings(tmp_path)
    assert rec.key == RecordingKey("utd-mhad", 5, 2, 3) and rec.label == 4 and set(rec.sources) == {"rgb"}
    assert rec.num_frames("rgb") == 10
    clip = rec.load("rgb")
    assert clip.shape == (10, 24, 32, 3) and clip.dtype == np.uint8
    picked = rec.video("rgb", [9, 2])
    assert abs(picked[0].mean() - 180) < 8 and abs(picked[1].mean() - 40) < 8
