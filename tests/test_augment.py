"""Raw-signal augmentation before the GAF (vskd.data.augment): each transform's maths, seeding,
identity when off, training-only use in PairedDataset, config errors, and a real training run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vskd.config import load_config
from vskd.data.augment import SignalAugment, rotation_matrix, time_warp
from vskd.data.paired import GAFSpec, PairedDataset
from vskd.data.synthetic import make_synthetic
from vskd.errors import ConfigError

AXES6 = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")


def window(t=120, c=6, seed=0):
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(size=(t, c)), axis=0)


def test_all_off_is_the_identity():
    aug = SignalAugment()
    assert not aug.active
    x = window()
    np.testing.assert_array_equal(aug(x, AXES6, np.random.default_rng(0)), x)


@pytest.mark.parametrize("max_deg", [5.0, 30.0, 180.0])
def test_rotation_matrix_is_a_rotation_within_the_angle(max_deg):
    rng = np.random.default_rng(1)
    for _ in range(50):
        r = rotation_matrix(rng, max_deg)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)
        angle = math.degrees(math.acos(np.clip((np.trace(r) - 1) / 2, -1, 1)))
        assert angle <= max_deg + 1e-9


def test_rotation_turns_each_sensor_triplet_by_the_same_matrix():
    x = window()
    out = SignalAugment(rotate=40)(x, AXES6, np.random.default_rng(3))
    # norms per sample are kept for each sensor; the two sensors share one rotation
    np.testing.assert_allclose(np.linalg.norm(out[:, :3], axis=1), np.linalg.norm(x[:, :3], axis=1))
    np.testing.assert_allclose(np.linalg.norm(out[:, 3:], axis=1), np.linalg.norm(x[:, 3:], axis=1))
    r_acc = np.linalg.lstsq(x[:, :3], out[:, :3], rcond=None)[0].T
    r_gyr = np.linalg.lstsq(x[:, 3:], out[:, 3:], rcond=None)[0].T
    np.testing.assert_allclose(r_acc, r_gyr, atol=1e-9)
    assert not np.allclose(r_acc, np.eye(3))


def test_rotation_leaves_incomplete_triplets_alone():
    x = window(c=2)
    out = SignalAugment(rotate=90)(x, ("acc_x", "acc_y"), np.random.default_rng(0))
    np.testing.assert_array_equal(out, x)


def test_scale_multiplies_each_channel_by_one_gain():
    x = window() + 50.0
    out = SignalAugment(scale=0.2)(x, AXES6, np.random.default_rng(4))
    ratio = out / x
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:1], ratio.shape), rtol=1e-12)
    assert not np.allclose(ratio[0], 1.0)


def test_time_warp_is_a_monotone_resampling_with_fixed_ends():
    t = 200
    ramp = np.linspace(0.0, 1.0, t)[:, None]
    out = time_warp(ramp, np.random.default_rng(5), strength=0.4, knots=5)
    assert out.shape == (t, 1)
    assert out[0, 0] == pytest.approx(0.0) and out[-1, 0] == pytest.approx(1.0)
    assert np.all(np.diff(out[:, 0]) > 0)
    assert np.abs(out[:, 0] - ramp[:, 0]).max() > 0.01  # it did warp
    # local speed stays within the bounds after normalisation: (1 - w) / (1 + w) .. (1 + w) / (1 - w)
    speed = np.diff(out[:, 0]) * (t - 1)
    assert speed.min() >= 0.6 / 1.4 - 1e-9 and speed.max() <= 1.4 / 0.6 + 1e-9
    np.testing.assert_allclose(time_warp(ramp, np.random.default_rng(5), strength=0.0), ramp, atol=1e-12)


def test_crop_keeps_a_contiguous_part_of_the_allowed_length():
    x = np.arange(100, dtype=float)[:, None].repeat(3, axis=1)
    rng = np.random.default_rng(6)
    lengths = set()
    for _ in range(100):
        out = SignalAugment(crop=0.7)(x, ("acc_x", "acc_y", "acc_z"), rng)
        assert 70 <= len(out) <= 100
        np.testing.assert_array_equal(np.diff(out[:, 0]), 1.0)  # contiguous
        lengths.add(len(out))
    assert len(lengths) > 5


def test_jitter_adds_noise_of_the_given_std():
    x = np.zeros((20000, 3))
    out = SignalAugment(jitter=0.05)(x, ("acc_x", "acc_y", "acc_z"), np.random.default_rng(7))
    assert out.std() == pytest.approx(0.05, rel=0.03)
    assert abs(out.mean()) < 0.002


def test_dataset_augments_training_items_only_and_reproducibly():
    recs = make_synthetic("tiny")[:4]
    aug = SignalAugment(rotate=20, scale=0.1, time_warp=0.2, crop=0.8, jitter=0.02)
    spec = GAFSpec(out_size=32)
    train = PairedDataset(recs, spec, train=True, cache_dir=False, seed=3, student_augment=aug)
    plain = PairedDataset(recs, spec, train=True, cache_dir=False, seed=3)
    evald = PairedDataset(recs, spec, train=False, cache_dir=False, seed=3, student_augment=aug)
    a = train[1]["student"].numpy()
    assert a.shape == (3, 32, 32) and a.min() >= 0 and a.max() <= 1
    np.testing.assert_array_equal(a, train[1]["student"].numpy())  # same (seed, epoch, index)
    np.testing.assert_array_equal(evald[1]["student"].numpy(), plain[1]["student"].numpy())  # eval: none
    assert np.abs(a - plain[1]["student"].numpy()).max() > 0.05
    train.set_epoch(1)
    assert np.abs(a - train[1]["student"].numpy()).max() > 0.05  # a new draw each epoch
    other = PairedDataset(recs, spec, train=True, cache_dir=False, seed=4, student_augment=aug)
    assert np.abs(a - other[1]["student"].numpy()).max() > 0.05


@pytest.mark.parametrize("key,value,expected", [
    ("rotate", -1, "student.input.augment.rotate"),
    ("rotate", 200, "0..180"),
    ("time_warp", 1.0, "[0, 1)"),
    ("crop", 0, "(0, 1]"),
    ("warp_knots", 1, ">= 2"),
    ("jitter", "lots", "student.input.augment.jitter"),
    ("spin", 1, "unknown config key 'student.input.augment.spin'"),
])
def test_bad_augment_options_name_the_key(key, value, expected):
    with pytest.raises(ConfigError, match=None) as info:
        load_config(None, [f"student.input.augment.{key}={value}"])
    assert expected in str(info.value)


def test_training_with_augmentation_runs_and_records_it(tmp_path):
    from test_e2e import TINY

    from vskd.engine.pipeline import train_student

    cfg = load_config(None, TINY + [f"out_dir={tmp_path}", "student.train.epochs=1",
                                    "student.input.augment.rotate=15", "student.input.augment.time_warp=0.2"])
    res = train_student(cfg, tmp_path / "s")
    assert 0.0 <= res["test"]["accuracy"] <= 1.0
    saved = (tmp_path / "s" / "config.yaml").read_text()
    assert "rotate: 15.0" in saved and "time_warp: 0.2" in saved
    assert json.loads((tmp_path / "s" / "results.json").read_text())["test"]["accuracy"] == res["test"]["accuracy"]


def test_augmented_items_read_each_recording_once():
    from test_paired import Counter, make_recording

    loads = Counter()
    recs = [make_recording(r, loads, modalities=("inertial",)) for r in range(3)]
    ds = PairedDataset(recs, GAFSpec(out_size=16), train=True, cache_dir=False,
                       student_augment=SignalAugment(rotate=10, jitter=0.01))
    first = ds[0]["student"].numpy()
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(3):
            ds[i]
    assert loads.n == 3  # one file read per recording, not one per item and epoch
    ds.set_epoch(0)
    np.testing.assert_array_equal(ds[0]["student"].numpy(), first)  # the kept window was not altered


def test_augmentation_cannot_be_combined_with_raw_windows():
    recs = make_synthetic("tiny")[:2]
    with pytest.raises(ConfigError, match="student_raw"):
        PairedDataset(recs, GAFSpec(out_size=16), train=True, cache_dir=False, student_raw=True,
                      student_augment=SignalAugment(jitter=0.01))
