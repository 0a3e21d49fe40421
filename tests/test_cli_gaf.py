"""``vskd gaf``: a GAF RGB PNG from a UTD-MHAD .mat or a sensor CSV / npy, and its error exits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from vskd.cli import main
from vskd.gaf import gaf_image


@pytest.fixture
def inertial_mat(tmp_path: Path) -> tuple[Path, np.ndarray]:
    t = np.arange(90) / 50.0
    d = np.stack([np.sin(3 * t), np.cos(2 * t), t**2, 100 * np.sin(t), 50 * t, -20 * np.cos(5 * t)], axis=1)
    path = tmp_path / "a3_s1_t2_inertial.mat"
    scipy.io.savemat(path, {"d_iner": d})
    return path, d


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.mode == "RGB" and im.format == "PNG"
        return np.asarray(im)


def test_mat_to_png_matches_gaf_image(inertial_mat, tmp_path: Path, capsys) -> None:
    path, d = inertial_mat
    out = tmp_path / "img" / "a.png"
    assert main(["gaf", str(path), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    img = read_png(out)
    assert img.shape == (90, 90, 3) and img.std() > 10  # native size: the recording's length
    expected = gaf_image(d[:, :3], method="summation")  # accelerometer x, y, z -> R, G, B
    np.testing.assert_allclose(img.transpose(2, 0, 1) / 255.0, expected, atol=1 / 255 + 1e-6)
    assert not np.array_equal(img[..., 0], img[..., 1])


def test_options(inertial_mat, tmp_path: Path) -> None:
    path, d = inertial_mat
    out = tmp_path / "g.png"
    args = ["gaf", str(path), "--out", str(out), "--method", "difference", "--size", "64", "--axes", "gyro",
            "--scaling", "affine", "--orientation", "authors"]
    assert main(args) == 0
    img = read_png(out)
    assert img.shape == (64, 64, 3)
    expected = gaf_image(d[:, 3:], method="difference", out_size=64, scaling="affine", orientation="authors")
    np.testing.assert_allclose(img.transpose(2, 0, 1) / 255.0, expected, atol=1 / 255 + 1e-6)
    assert main(["gaf", str(path), "--out", str(out), "--axes", "gyro_z,acc_x,acc_y", "--size", "32"]) == 0
    mixed = read_png(out)
    np.testing.assert_allclose(mixed[..., 0] / 255.0, gaf_image(d[:, [5]], out_size=32)[0], atol=1 / 255 + 1e-6)


def test_csv_and_npy_inputs(tmp_path: Path) -> None:
    t = np.arange(50) / 25.0
    csv = tmp_path / "walk.csv"
    csv.write_text("t,x,y,z\n" + "\n".join(f"{a},{np.sin(a)},{np.cos(3 * a)},{a * a}" for a in t) + "\n")
    out = tmp_path / "walk.png"
    assert main(["gaf", str(csv), "--out", str(out), "--size", "40"]) == 0
    img = read_png(out)
    assert img.shape == (40, 40, 3) and len(np.unique(img)) > 20
    np.save(tmp_path / "walk.npy", np.stack([np.sin(t), np.cos(3 * t), t * t], axis=1))
    assert main(["gaf", str(tmp_path / "walk.npy"), "--out", str(out), "--size", "40"]) == 0
    np.testing.assert_allclose(read_png(out).astype(int), img.astype(int), atol=2)  # same signal, same image


@pytest.mark.realdata
def test_real_recording(utd_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "real.png"
    assert main(["gaf", str(utd_root / "Inertial" / "a1_s1_t1_inertial.mat"), "--out", str(out), "--size", "224"]) == 0
    img = read_png(out)
    assert img.shape == (224, 224, 3) and all(img[..., c].std() > 5 for c in range(3))


@pytest.mark.parametrize(
    "extra,pattern",
    [
        (["--axes", "acc_x,acc_y"], "needs exactly 3 axes, got 2"),
        (["--axes", "acc_x,acc_y,acc_q"], "unknown channel(s) acc_q"),
        (["--axes", "gyro"], None),  # fine on .mat
        (["--size", "0"], "--size must be a positive"),
    ],
)
def test_error_exits(inertial_mat, tmp_path: Path, capsys, extra, pattern) -> None:
    path, _ = inertial_mat
    code = main(["gaf", str(path), "--out", str(tmp_path / "x.png"), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    if pattern is None:
        assert code == 0 and err == []
        return
    assert code == 2 and len(err) == 1
    assert err[0].startswith("vskd gaf: error: ") and pattern in err[0]


def test_missing_file_and_bad_inputs(tmp_path: Path, capsys) -> None:
    assert main(["gaf", str(tmp_path / "nope.mat"), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope.mat: sensor file not found" in err[0]
    two = tmp_path / "two.csv"
    two.write_text("t,x,y\n" + "".join(f"{i / 10},{i % 3},{i % 2}\n" for i in range(10)))  # >= 8 samples
    assert main(["gaf", str(two), "--out", str(tmp_path / "x.png")]) == 2
    assert "exactly 3 axes" in capsys.readouterr().err
    assert main(["gaf", str(two), "--out", str(tmp_path / "x.png"), "--axes", "acc"]) == 2
    assert "has no acc channels" in capsys.readouterr().err
    scipy.io.savemat(tmp_path / "w.mat", {"wrong": np.zeros((10, 6))})
    assert main(["gaf", str(tmp_path / "w.mat"), "--out", str(tmp_path / "x.png")]) == 2
    assert "variable 'd_iner' not found" in capsys.readouterr().err
    good = tmp_path / "three.csv"
    good.write_text("t,x,y,z\n" + "".join(f"{i / 10},{i % 3},{i % 2},{i % 5}\n" for i in range(10)))
    assert main(["gaf", str(good), "--out", str(tmp_path / "x.jpg")]) == 2
    assert "expected a .png" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
