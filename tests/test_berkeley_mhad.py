"""Berkeley-MHAD reader on small fixtures written in the release's exact layout and formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vskd.cli import main
from vskd.data import berkeley_mhad as bm
from vskd.data.datasets import class_names, load_recordings
from vskd.data.protocols import make_splits
from vskd.errors import ConfigError, DataError, VskdWarning

T0 = 1_335_000_000.0  # a unix time in 2012 (seconds)
FPS = 22.0


def acc_signal(t: np.ndarray, h: int) -> np.ndarray:
    """A known smooth signal of time (so interpolation can be checked): one column per axis."""
    rel = t - T0
    return np.stack([np.sin(2 * rel) + h, np.cos(3 * rel), 0.5 * rel], axis=1)


def write_clip(root: Path, s: int, a: int, r: int, *, accs=(1, 2), acc_span=(0.0, 2.0), img_span=(0.3, 1.7),
               ms: bool = False, shuffle: bool = True, size=(8, 6)) -> None:
    """Accelerometer files (irregular ~30 Hz, out of order), camera frames and their time stamps."""
    rng = np.random.default_rng(100 * s + 10 * a + r)
    for h in accs:
        n = int((acc_span[1] - acc_span[0]) * 30)
        t = T0 + acc_span[0] + np.sort(rng.uniform(0, acc_span[1] - acc_span[0], n))
        t[0], t[-1] = T0 + acc_span[0], T0 + acc_span[1]
        t = np.concatenate([t, t[5:6]])  # a repeated timestamp
        x = acc_signal(t, h)
        order = rng.permutation(len(t)) if shuffle else np.arange(len(t))
        scale = 1000.0 if ms else 1.0
        d = root / "Accelerometer" / f"Shimmer{h:02d}"
        d.mkdir(parents=True, exist_ok=True)
        lines = [f"{x[i, 0]:.9f} {x[i, 1]:.9f}\t{x[i, 2]:.9f}  {t[i] * scale:.6f}" for i in order]
        (d / f"acc_h{h:02d}_s{s:02d}_a{a:02d}_r{r:02d}.txt").write_text("\n".join(lines) + "\n")
    frames_dir = root / "Camera" / "Cluster01" / "Cam01" / f"S{s:02d}" / f"A{a:02d}" / f"R{r:02d}"
    frames_dir.mkdir(parents=True, exist_ok=True)
    ft = T0 + np.arange(0.0, 2.0, 1 / FPS)  # frames over 0..2 s; only img_span of them have images
    keep = [i for i, tt in enumerate(ft - T0) if img_span[0] <= tt <= img_span[1]]
    for i in keep:
        img = np.full((size[1], size[0]), (10 * i) % 256, np.uint8)
        Image.fromarray(img, mode="L").save(frames_dir / f"img_l01_c01_s{s:02d}_a{a:02d}_r{r:02d}_{i:05d}.pgm")
    ts = root / "Time_stamps"
    ts.mkdir(exist_ok=True)
    scale = 1000.0 if ms else 1.0
    (ts / f"time_stamps_img_s{s:02d}_a{a:02d}_r{r:02d}.txt").write_text(
        "".join(f"{i} {ft[i] * scale:.6f}\n" for i in range(len(ft)))
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for s in (1, 7, 8):
        for a in (1, 2):
            write_clip(tmp_path, s, a, 1)
    return tmp_path


def test_listing_keys_labels_and_sources(root: Path) -> None:
    recs = load_recordings("berkeley-mhad", root)
    assert [r.key for r in recs] == sorted(r.key for r in recs)
    assert {(r.key.subject, r.key.action, r.key.trial) for r in recs} == {(s, a, 1) for s in (1, 7, 8) for a in (1, 2)}
    assert {r.key.dataset for r in recs} == {"berkeley-mhad"}
    assert all(r.label == r.key.action - 1 and r.has("inertial") and r.has("rgb") for r in recs)
    assert class_names("berkeley-mhad", recs)[:2] == ["jumping in place", "jumping jacks"]
    assert len(class_names("berkeley-mhad", recs)) == 11


def test_inertial_is_resampled_on_the_common_window(root: Path) -> None:
    rec = load_recordings("berkeley-mhad", root, rate_hz=25)[0]
    sig = rec.load("inertial")
    assert sig.rate_hz == 25 and sig.channels == ("acc_x", "acc_y", "acc_z")
    # the window is the frames' span (0.3..~1.7 s), inside the accelerometer's 0..2 s
    idx, ft = bm.read_timestamps(root / "Time_stamps" / "time_stamps_img_s01_a01_r01.txt")
    have = [i for i in idx if any(root.rglob(f"img_l01_c01_s01_a01_r01_{i:05d}.pgm"))]
    start, stop = ft[have[0]], ft[have[-1]]
    n = int(np.floor((stop - start) * 25 + 1e-9)) + 1
    assert sig.samples.shape == (n, 3)
    grid = start + np.arange(n) / 25
    # linear interpolation of a smooth signal sampled at ~30 Hz: close to the true values
    np.testing.assert_allclose(sig.samples, acc_signal(grid, 1), atol=0.02)
    # the third axis is linear in time: interpolation is exact there
    np.testing.assert_allclose(sig.samples[:, 2], 0.5 * (grid - T0), atol=1e-6)


def test_frames_are_aligned_to_the_sensor_window(tmp_path: Path) -> None:
    # frames cover 0..2 s but the accelerometer only 0.5..1.0 s: only frames inside 0.5..1.0 s are kept
    write_clip(tmp_path, 1, 1, 1, accs=(1,), acc_span=(0.5, 1.0), img_span=(0.0, 2.0))
    (rec,) = load_recordings("berkeley-mhad", tmp_path)
    expected = [i for i in range(44) if 0.5 - 1e-9 <= i / FPS <= 1.0 + 1e-9]
    assert rec.num_frames("rgb") == len(expected)
    frames = rec.load("rgb")
    assert frames.shape == (len(expected), 6, 8, 3) and frames.dtype == np.uint8
    assert [int(f[0, 0, 0]) for f in frames] == [(10 * i) % 256 for i in expected]
    sub = rec.video("rgb", [2, 0, 2])
    np.testing.assert_array_equal(sub, frames[[2, 0, 2]])
    sig = rec.load("inertial")
    assert abs(len(sig.samples) - (0.5 * 30 + 1)) <= 1


def test_millisecond_timestamps_and_choice_of_accelerometer(tmp_path: Path) -> None:
    write_clip(tmp_path, 2, 3, 4, ms=True)
    r1 = load_recordings("berkeley-mhad", tmp_path, accelerometer=1)[0]
    r2 = load_recordings("berkeley-mhad", tmp_path, accelerometer=2)[0]
    assert str(r1.key) == "berkeley-mhad/a3_s2_t4"
    a1, a2 = r1.load("inertial").samples, r2.load("inertial").samples
    assert a1.shape == a2.shape and a1.shape[0] > 30  # ms were read as ms (else: 1000x too many samples)
    np.testing.assert_allclose(a2[:, 0] - a1[:, 0], 1.0, atol=0.05)  # Shimmer02's x is offset by 1
    with pytest.raises(DataError, match="Shimmer03"):
        load_recordings("berkeley-mhad", tmp_path, accelerometer=3)
    with pytest.raises(ConfigError, match="accelerometer"):
        load_recordings("berkeley-mhad", tmp_path, accelerometer=7)


def test_protocol_subjects_1_to_7_train_8_to_12_test(root: Path) -> None:
    recs = load_recordings("berkeley-mhad", root, modalities=["inertial"])
    sp = make_splits(recs, "cross-subject")
    assert sp.groups == {"train": [1, 2, 3, 4, 5, 6], "val": [7], "test": [8, 9, 10, 11, 12]}
    assert {r.key.subject for r in sp.train} == {1}
    assert {r.key.subject for r in sp.val} == {7}
    assert {r.key.subject for r in sp.test} == {8}


@pytest.mark.parametrize(
    "corrupt, match",
    [
        (lambda p: p.write_text("1 2 3 1335000000\n1 2 x 1335000001\n"), r"line 2 has a non-numeric value"),
        (lambda p: p.write_text("1 2 3\n"), r"line 1 has 3 values, expected 4"),
        (lambda p: p.write_text("1 2 3 1335000000\n"), r"at least 2 samples"),
        (lambda p: p.write_text(""), r"empty file"),
        (lambda p: p.write_text("1 nan 3 1335000000\n1 2 3 1335000001\n"), r"line 1 has a NaN/Inf"),
        (lambda p: p.write_bytes(b"\xff\xfe\x00garbage"), r"unreadable text file"),
    ],
)
def test_bad_accelerometer_files_are_one_line_errors(tmp_path: Path, corrupt, match) -> None:
    write_clip(tmp_path, 1, 1, 1, accs=(1,))
    path = tmp_path / "Accelerometer" / "Shimmer01" / "acc_h01_s01_a01_r01.txt"
    corrupt(path)
    (rec,) = load_recordings("berkeley-mhad", tmp_path)
    with pytest.raises(DataError, match=match) as exc:
        rec.load("inertial")
    assert "\n" not in str(exc.value) and str(path) in str(exc.value)


def test_layout_problems(tmp_path: Path) -> None:
    write_clip(tmp_path, 1, 1, 1, accs=(1,))
    (tmp_path / "Accelerometer" / "Shimmer01" / "acc_h01_s01_a99_r01.txt").write_text("1 2 3 4\n")
    with pytest.raises(DataError, match="action 99 out of range 1..11"):
        load_recordings("berkeley-mhad", tmp_path)
    (tmp_path / "Accelerometer" / "Shimmer01" / "acc_h01_s01_a99_r01.txt").unlink()
    (tmp_path / "Time_stamps" / "time_stamps_img_s01_a01_r01.txt").unlink()
    with pytest.raises(DataError, match="time-stamps file not found"):
        load_recordings("berkeley-mhad", tmp_path)
    # the sensor alone still works without the camera folders
    assert load_recordings("berkeley-mhad", tmp_path, modalities="inertial")[0].has("inertial")
    with pytest.raises(DataError, match="not found"):
        load_recordings("berkeley-mhad", tmp_path / "nope")


def test_data_check_reports_and_exit_codes(root: Path, capsys) -> None:
    assert main(["data", "check", "--dataset", "berkeley-mhad", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "6 recordings" in out and "usable: 0 error(s)" in out
    assert main(["data", "check", "--dataset", "berkeley-mhad", "--root", str(root), "--quick"]) == 0
    bad = root / "Accelerometer" / "Shimmer01" / "acc_h01_s07_a02_r01.txt"
    bad.write_text("1 2 3 4\n1 2 oops 5\n")
    assert main(["data", "check", "--dataset", "berkeley-mhad", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"error: {bad}: line 2 has a non-numeric value" in out


def test_resample_uniform_sorts_and_drops_duplicates() -> None:
    t = np.array([0.2, 0.0, 0.1, 0.1, 0.3])
    x = np.array([2.0, 0.0, 1.0, 9.0, 3.0])
    out = bm.resample_uniform("x", t, x, 20.0)
    np.testing.assert_allclose(out[:, 0], [0, 0.5, 1, 1.5, 2, 2.5, 3], atol=1e-9)
    with pytest.raises(DataError, match="distinct times"):
        bm.resample_uniform("x", np.array([1.0, 1.0]), np.array([1.0, 2.0]), 10.0)


def test_paired_dataset_reads_both_views(root: Path, tmp_path: Path) -> None:
    from vskd.data.frames import ClipSpec
    from vskd.data.paired import GAFSpec, PairedDataset

    recs = load_recordings("berkeley-mhad", root)
    ds = PairedDataset(recs[:2], student=GAFSpec(out_size=16), teacher=ClipSpec(modality="rgb", num_segments=4,
                       frame_size=8, crop_size=8), train=False, cache_dir=tmp_path / "cache")
    for _ in range(2):  # second pass: from the cache (keyed on the accelerometer, stamps and frame files)
        item = ds[1]
        assert item["student"].shape == (3, 16, 16) and 0 <= float(item["student"].min()) <= float(item["student"].max()) <= 1
        assert item["teacher"].shape == (4, 3, 8, 8) and item["label"] == recs[1].label


def test_resample_uniform_refuses_an_implausible_time_span() -> None:
    """Found by the reader fuzz: two stamps 4 years apart must not allocate 4 years of samples."""
    with pytest.raises(DataError, match="span"):
        bm.resample_uniform("acc.txt", np.array([1.0, 1.335e8]), np.ones((2, 3)), 30.0)


def test_reads_the_modalities_present_and_names_the_absent_one(root: Path, capsys) -> None:
    import shutil

    shutil.rmtree(root / "Camera")  # the accelerometer files only, as the Shimmer-only download
    with pytest.warns(VskdWarning, match=r"reading inertial only, rgb is absent \(Camera/ not found\)"):
        recs = load_recordings("berkeley-mhad", root)
    assert len(recs) == 6 and all(set(r.sources) == {"inertial"} for r in recs)
    with pytest.raises(DataError, match="Cam01: folder not found"):  # asked for: still an error
        load_recordings("berkeley-mhad", root, modalities="inertial,rgb")
    assert main(["data", "check", "--dataset", "berkeley-mhad", "--root", str(root)]) == 0
    captured = capsys.readouterr()
    assert "6 recordings" in captured.out and "usable: 0 error(s), 1 warning(s)" in captured.out
    assert [line for line in captured.out.splitlines() if "rgb is absent" in line] == [
        f"warning: {root}: reading inertial only, rgb is absent (Camera/ not found)"]
    shutil.rmtree(root / "Accelerometer")
    with pytest.raises(DataError, match="no Berkeley-MHAD data in it"):
        load_recordings("berkeley-mhad", root)


@pytest.mark.realdata
def test_real_accelerometer_only_folder_checks_without_options(berkeley_root: Path, capsys) -> None:
    assert main(["data", "check", "--dataset", "berkeley-mhad", "--root", str(berkeley_root), "--quick"]) == 0
    out = capsys.readouterr().out
    assert "rgb is absent" in out and "usable: 0 error(s)" in out
    n = int(out.splitlines()[0].split(": ")[1].split()[0])
    assert n > 600  # 12 subjects x 11 actions x 5 repetitions, less the few the release lacks


def test_the_cli_shows_a_repeated_warning_once(root: Path, capsys) -> None:
    # a benchmark reads the folder once per run and fold: the absent camera is said once, not every time
    import warnings

    from vskd.cli import _one_line_warnings
    from vskd.errors import warn

    with warnings.catch_warnings():
        _one_line_warnings("bench")
        for _ in range(3):
            warn(f"{root}: reading inertial only, rgb is absent (Camera/ not found)")
        warn("another message")
    err = capsys.readouterr().err.splitlines()
    assert err == [f"vskd bench: warning: {root}: reading inertial only, rgb is absent (Camera/ not found)",
                   "vskd bench: warning: another message"]
