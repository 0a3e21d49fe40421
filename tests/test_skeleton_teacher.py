"""Skeleton teacher: sequence preparation (centre, scale, resample), augmentation, the temporal CNN."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
import torch
from torch import nn

from vskd.data.skeleton import HIP_CENTER, SHOULDER_CENTER, augment_skeleton, prepare_skeleton, rotation_about_vertical
from vskd.errors import ConfigError, DataError
from vskd.models import FeatureRecorder
from vskd.models.skeleton import SkeletonTeacher

torch.set_num_threads(1)


def _real(utd_root, name: str) -> np.ndarray:
    return scipy.io.loadmat(utd_root / "Skeleton" / name)["d_skel"]


# ----------------------------------------------------------------------------- prepare_skeleton

@pytest.mark.realdata
@pytest.mark.parametrize("length", [32, 64])
def test_prepare_real_file_is_centred_scaled_fixed_length(utd_root, length):
    raw = _real(utd_root, "a26_s2_t1_skeleton.mat")  # forward lunge: the body moves
    assert raw.shape[:2] == (20, 3) and raw.shape[2] != length
    x = prepare_skeleton(raw, length)
    assert x.shape == (length, 20, 3) and x.dtype == np.float32
    # first and last frames are the original's, centred on the mean hip centre and divided by the spine
    centre = raw[HIP_CENTER].mean(axis=1)
    spine = np.linalg.norm(raw[SHOULDER_CENTER] - raw[HIP_CENTER], axis=0).mean()
    assert 0.2 < spine < 0.7  # metres: an adult's spine in Kinect coordinates
    np.testing.assert_allclose(x[0], (raw[:, :, 0] - centre) / spine, atol=1e-5)
    np.testing.assert_allclose(x[-1], (raw[:, :, -1] - centre) / spine, atol=1e-5)
    assert np.abs(x[:, HIP_CENTER].mean(axis=0)).max() < 0.05  # centred (up to resampling)
    assert abs(np.linalg.norm(x[:, SHOULDER_CENTER] - x[:, HIP_CENTER], axis=-1).mean() - 1.0) < 0.05
    assert np.abs(x).max() < 5.0  # a body a few spines tall, nowhere near the raw 2.8 m depth


def test_prepare_resamples_linearly():
    t = np.arange(5, dtype=np.float64)
    skel = np.zeros((20, 3, 5))
    skel[SHOULDER_CENTER, 1, :] = 2.0  # spine of length 2 along y
    skel[7, 0, :] = 3.0 * t  # one joint moving linearly in x
    x = prepare_skeleton(skel, length=9)
    # hip centre at 0, size 2: joint 7's x goes 0, 0.75, ..., 6 (=3*4/2) at half-frame steps
    np.testing.assert_allclose(x[:, 7, 0], 1.5 * np.linspace(0, 4, 9), atol=1e-6)
    np.testing.assert_allclose(x[:, SHOULDER_CENTER, 1], 1.0, atol=1e-6)
    one = prepare_skeleton(skel[:, :, :1], length=4)  # a single frame is repeated
    assert one.shape == (4, 20, 3) and np.all(one == one[0])


def test_prepare_rejects_bad_input():
    good = np.random.default_rng(0).normal(size=(20, 3, 10))
    with pytest.raises(DataError, match=r"\(J, 3, T\)"):
        prepare_skeleton(good.transpose(2, 0, 1))
    with pytest.raises(DataError, match=r"\(J, 3, T\)"):
        prepare_skeleton(np.zeros((20, 3, 0)))
    bad = good.copy()
    bad[4, 1, 3] = np.nan
    with pytest.raises(DataError, match="non-finite"):
        prepare_skeleton(bad)
    with pytest.raises(DataError, match="body size"):
        prepare_skeleton(np.zeros((20, 3, 10)))
    with pytest.raises(ConfigError, match="length"):
        prepare_skeleton(good, length=1)
    with pytest.raises(ConfigError, match="out of range"):
        prepare_skeleton(good[:3])


def test_augment_rotates_about_vertical_and_scales():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 20, 3)).astype(np.float32)
    y = augment_skeleton(x, np.random.default_rng(1), max_angle_deg=45.0, scale_range=(1.0, 1.0))
    np.testing.assert_allclose(y[..., 1], x[..., 1], atol=1e-5)  # heights unchanged
    np.testing.assert_allclose(np.hypot(y[..., 0], y[..., 2]), np.hypot(x[..., 0], x[..., 2]), atol=1e-5)
    assert not np.allclose(y, x)
    z = augment_skeleton(x, np.random.default_rng(1), max_angle_deg=0.0, scale_range=(1.5, 1.5))
    np.testing.assert_allclose(z, 1.5 * x, atol=1e-5)
    a = augment_skeleton(x, np.random.default_rng(7))
    b = augment_skeleton(x, np.random.default_rng(7))
    assert np.array_equal(a, b) and a.dtype == np.float32
    r = rotation_about_vertical(np.pi / 2)
    np.testing.assert_allclose(r @ np.array([1.0, 0.0, 0.0]), [0.0, 0.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)


# ----------------------------------------------------------------------------- the network

def test_shapes_and_embedding_hook():
    torch.manual_seed(0)
    model = SkeletonTeacher(num_classes=27).eval()
    x = torch.randn(3, 32, 20, 3)
    with FeatureRecorder(model, {"emb": "embedding", "fc0": "fc0", "tcn": "tcn", "logits": ""}) as rec:
        logits = model(x)
    assert logits.shape == (3, 27)
    assert rec.features["emb"].shape == (3, 300)
    assert torch.equal(rec.features["emb"], rec.features["fc0"])  # the embedding is fc0, before the ReLU
    assert (rec.features["emb"] < 0).any()
    assert rec.features["tcn"].shape == (3, 256, 8)  # two stride-2 layers on 32 frames
    assert torch.equal(rec.features["logits"], logits)


def test_gradient_reaches_every_parameter():
    torch.manual_seed(0)
    model = SkeletonTeacher(num_classes=5, hidden=16).train()
    x = torch.randn(4, 16, 20, 3)
    nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 3])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_eval_is_deterministic_and_per_sample():
    torch.manual_seed(0)
    model = SkeletonTeacher(num_classes=6, hidden=16)
    x = torch.randn(5, 24, 20, 3)
    model.train()
    model(x)  # moves the BN statistics away from their initial values
    model.eval()
    with torch.no_grad():
        a, b = model(x), model(x)
        single = model(x[2:3])
    assert torch.equal(a, b)
    torch.testing.assert_close(single, a[2:3])  # no dependence on the rest of the batch
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))  # dropout in training


def test_without_motion_and_bad_inputs():
    model = SkeletonTeacher(num_classes=3, motion=False, hidden=8)
    assert model.input_bn.num_features == 60
    assert SkeletonTeacher(num_classes=3, hidden=8).input_bn.num_features == 120
    assert model.eval()(torch.randn(2, 4, 20, 3)).shape == (2, 3)  # the shortest sequence
    for shape in [(2, 3, 20, 3), (2, 32, 15, 3), (2, 32, 60)]:
        with pytest.raises(ConfigError, match="SkeletonTeacher expects"):
            model(torch.randn(*shape))
    with pytest.raises(ConfigError, match="dropout"):
        SkeletonTeacher(num_classes=3, dropout=1.0)
    with pytest.raises(ConfigError, match="num_classes"):
        SkeletonTeacher(num_classes=0)


@pytest.mark.realdata
def test_fits_real_sequences(utd_root):
    """A few real sequences of different actions are learnt (train accuracy 1) in a few dozen steps."""
    names = [f"a{a}_s1_t1_skeleton.mat" for a in (1, 4, 22, 24, 26, 27)]
    x = torch.from_numpy(np.stack([prepare_skeleton(_real(utd_root, n), 32) for n in names]))
    y = torch.arange(len(names))
    torch.manual_seed(0)
    model = SkeletonTeacher(num_classes=len(names), hidden=32, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert torch.equal(model.eval()(x).argmax(1), y)
    assert loss.item() < 0.5
