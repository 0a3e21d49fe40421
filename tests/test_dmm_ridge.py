"""The closed-form depth teacher (``teacher.arch: dmm_ridge``, vskd.models.dmm_ridge) and the DMM pyramid
(``teacher.input.dmm_segments``): the pyramid's maps and cache key, the feature layout, the ridge head
against scikit-learn, the on-disk feature cache (reused for the same backbone, never for other weights),
checkpoints, bad input, the CLI path on the synthetic set, and the pyramid on real UTD-MHAD depth."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vskd.cli import main
from vskd.config import load_config
from vskd.data.cache import ArrayCache
from vskd.data.frames import ClipSpec, clip_transform, decode_clip
from vskd.errors import ConfigError, DataError
from vskd.models.dmm_ridge import FEATURE_NAMESPACE, DMMRidgeTeacher

torch.set_num_threads(1)


def _teacher(num_images: int = 3, classes: int = 4, **kw) -> DMMRidgeTeacher:
    """A small one: a randomly initialised ResNet-18 (no weights file needed), seeded."""
    torch.manual_seed(0)
    return DMMRidgeTeacher(classes, num_images, backbone="resnet18", pretrained=None, embed_dim=16, **kw)


def _maps(n: int = 24, num_images: int = 3, classes: int = 4, size: int = 32, seed: int = 0):
    """Maps whose class sets where a bright blob is (a learnable toy), and their labels."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = 0.1 * torch.rand(n, num_images, 3, size, size, generator=g)
    for i, c in enumerate(y.tolist()):
        x[i, :, :, 4 + 6 * c:10 + 6 * c, 8:20] += 0.8
    return x, y


# ------------------------------------------------------------------------------ the pyramid of maps

def _depth_clip(frames: int = 20, seed: int = 0) -> np.ndarray:
    """uint16 (H, W, T) depth with a moving block (the layout of a UTD-MHAD .mat's d_depth)."""
    rng = np.random.default_rng(seed)
    d = np.zeros((48, 64, frames), np.uint16)
    for t in range(frames):
        d[10 + t % 7:30 + t % 7, 20 + t:34 + t, t] = 2000 + rng.integers(0, 400)
    return d.transpose(2, 0, 1)


def test_pyramid_is_the_segmentations_maps_in_order():
    depth = _depth_clip()
    base = dict(modality="depth", frame_size=32, crop_size=32, person_crop="foreground", motion="dmm")
    pyr = ClipSpec(**base, dmm_segments=(1, 3))
    out = decode_clip(depth, pyr)
    one, three = (decode_clip(depth, ClipSpec(**base, num_segments=k)) for k in (1, 3))
    assert out.shape == (4, 3, 32, 32) and pyr.num_images == 4 and pyr.pyramid == (1, 3)
    np.testing.assert_array_equal(out, np.concatenate([one, three]))
    # another pyramid, or none, is another cache entry
    assert pyr.decode_params() != ClipSpec(**base, num_segments=4).decode_params()
    assert pyr.decode_params() != ClipSpec(**base, dmm_segments=(3, 1)).decode_params()
    x = clip_transform(out, pyr, train=False)
    assert x.shape == (4, 3, 32, 32)
    with pytest.raises(DataError, match=r"depth motion maps must be \(4, 3, H, W\)"):
        clip_transform(one, pyr, train=False)


def test_pyramid_options_are_checked():
    with pytest.raises(ConfigError, match="dmm_segments: a pyramid of depth motion maps needs motion 'dmm'"):
        ClipSpec(modality="depth", dmm_segments=(1, 3))
    with pytest.raises(ConfigError, match="dmm_segments: expected a non-empty list"):
        ClipSpec(modality="depth", motion="dmm", dmm_segments=(0, 3))
    with pytest.raises(ConfigError, match="teacher.input.dmm_segments': a pyramid"):
        load_config(None, ["teacher.input.dmm_segments=[3, 5]"])
    with pytest.raises(ConfigError, match="teacher.input.dmm_segments': expected a non-empty list"):
        load_config(None, ["teacher.input.motion=dmm", "teacher.input.dmm_segments=[]"])
    with pytest.raises(ConfigError, match="dmm_segments': a pyramid of depth motion maps is the dmm_ridge"):
        load_config(None, ["teacher.input.motion=dmm", "teacher.input.dmm_segments=[3, 5]"])
    with pytest.raises(ConfigError, match="the dmm_ridge teacher reads depth motion maps"):
        load_config(None, ["teacher.arch=dmm_ridge"])
    with pytest.raises(ConfigError, match="teacher.channel_norm"):
        load_config(None, ["teacher.arch=dmm_ridge", "teacher.input.motion=dmm", "teacher.channel_norm=train"])
    cfg = load_config(None, ["teacher.arch=dmm_ridge", "teacher.input.motion=dmm", "teacher.input.dmm_segments=[3, 5, 8]",
                             "teacher.head_init=random"])
    from vskd.engine.builders import clip_spec

    assert clip_spec(cfg).num_images == 16


# ------------------------------------------------------------------------------ the teacher

def test_features_are_each_view_through_the_backbone_in_order():
    m = _teacher(num_images=2)
    x, _ = _maps(2, num_images=2)
    f = m.view_features(x)
    assert f.shape == (2, m.feature_dim) and m.feature_dim == 3 * 2 * 512
    with torch.no_grad():  # clip 1, image 1, view 2 (top): grey repeated to RGB
        v = x[1, 1, 2].expand(3, -1, -1).unsqueeze(0)
        expect = m.backbone(v)[0]
    k = (1 * 3 + 2) * 512
    torch.testing.assert_close(f[1, k:k + 512], expect, rtol=1e-4, atol=1e-5)


def test_fit_is_a_ridge_classifier_on_its_standardised_features():
    from sklearn.linear_model import RidgeClassifierCV

    from vskd.models.minirocket import RIDGE_ALPHAS

    x, y = _maps()
    m = _teacher()
    m.fit([x[:10], x[10:]], y)  # batches, in label order
    m.eval()
    assert not any(p.requires_grad for p in m.parameters())  # nothing trains: train-teacher only records it
    with torch.no_grad():
        f = m.view_features(x)
        z = ((f - f.mean(0)) / f.std(0).clamp(min=1e-5)).double().numpy()
        logits = m(x)
    ridge = RidgeClassifierCV(alphas=RIDGE_ALPHAS).fit(z, y.numpy())
    assert m.ridge_alpha == pytest.approx(ridge.alpha_)
    np.testing.assert_allclose(logits.numpy(), ridge.decision_function(z), rtol=1e-3, atol=1e-3)
    assert (logits.argmax(1) == y).float().mean() == 1.0  # the training clips of a separable toy
    # the embedding is fc0's output (DASK's teacher side): 2 K ridge units, the rest random
    assert m.fc0.out_features == 16 and torch.equal(m.fc1.weight[:, 8:], torch.zeros(4, 8))


def test_feature_store_is_reused_for_the_same_backbone_only(tmp_path):
    store = ArrayCache(tmp_path / "cache")
    x, y = _maps(6)
    a = _teacher()
    a.feature_store = store
    fa = a.view_features(x)
    files = list((tmp_path / "cache" / FEATURE_NAMESPACE).rglob("*.npz"))
    assert len(files) == 6  # one entry per clip

    b = _teacher()  # same seed: the same weights
    b.feature_store = store

    def no_backbone(*args):
        raise AssertionError("the backbone ran although every clip's features were on disk")

    b.backbone.forward = no_backbone
    torch.testing.assert_close(b.view_features(x), fa)

    c = _teacher()  # other weights: a miss, recomputed, never the stale features
    c.feature_store = store
    with torch.no_grad():
        c.backbone.net.conv1.weight.mul_(1.5)
    fc = c.view_features(x)
    assert not torch.allclose(fc, fa)
    assert len(list((tmp_path / "cache" / FEATURE_NAMESPACE).rglob("*.npz"))) == 12
    # the same teacher, weights changed in place after a first pass: its memo is dropped too
    with torch.no_grad():
        a.backbone.net.conv1.weight.mul_(1.5)
    torch.testing.assert_close(a.view_features(x), fc)
    # other maps: other entries
    a.view_features(x + 0.01)
    assert len(list((tmp_path / "cache" / FEATURE_NAMESPACE).rglob("*.npz"))) == 18


def test_checkpoint_round_trip_and_random_head():
    x, y = _maps()
    m = _teacher()
    m.fit(x, y)
    m.eval()
    fresh = _teacher()
    fresh.load_state_dict(m.state_dict())
    fresh.eval()
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), m(x))
    r = _teacher(head_init="random")  # the untrained-teacher control: standardisation only, head as built
    w = r.fc1.weight.clone()
    r.fit(x, y)
    assert r.ridge_alpha is None and torch.equal(r.fc1.weight, w)


def test_bad_input_is_one_line():
    m = _teacher()
    x, y = _maps()
    with pytest.raises(ConfigError, match="not fitted"):
        m(x)
    m.fit(x, y)
    with pytest.raises(DataError, match=r"\(B, 3, 3, S, S\).*dmm_segments summing to 3"):
        m(torch.rand(2, 4, 3, 32, 32))
    with pytest.raises(ConfigError, match="needs the training labels"):
        m.fit(x, y[:5])
    with pytest.raises(ConfigError, match="teacher.embed_dim"):
        DMMRidgeTeacher(20, 3, backbone="resnet18", pretrained=None, embed_dim=16)


def _sets(ov):
    return [x for o in ov for x in ("--set", o)]


def test_cli_fits_then_distils(tmp_path):
    """train-teacher fits it (no epoch: nothing has a gradient), a second fit reads the cached features,
    a fusion ensemble takes it as a member beside the wrist, DASK distils either into a raw-signal student."""
    base = ["data.preset=tiny", f"data.cache_dir={tmp_path / 'cache'}",
            "student.arch=minirocket", "student.input.length=64", "student.input.augment={}",
            "student.train.epochs=1", "student.train.batch_size=8"]
    teacher = base + ["teacher.arch=dmm_ridge", "teacher.backbone=resnet18", "teacher.pretrained=null",
                      "teacher.input.motion=dmm", "teacher.input.person_crop=foreground",
                      "teacher.input.dmm_segments=[1, 2]", "teacher.input.frame_size=32",
                      "teacher.input.crop_size=32"]
    assert main(["train-teacher", *_sets(teacher), "--out", str(tmp_path / "t"), "--quiet"]) == 0
    res = json.loads((tmp_path / "t" / "results.json").read_text())
    assert res["trained"] is False and res["test"]["accuracy"] is not None
    entries = sorted((tmp_path / "cache" / FEATURE_NAMESPACE).rglob("*.npz"))
    assert entries  # every clip it saw: training, validation, test
    stamp = {p: p.stat().st_mtime_ns for p in entries}
    assert main(["train-teacher", *_sets(teacher), "--out", str(tmp_path / "t2"), "--quiet"]) == 0
    again = json.loads((tmp_path / "t2" / "results.json").read_text())
    assert again["test"] == res["test"]  # deterministic
    assert {p: p.stat().st_mtime_ns for p in sorted((tmp_path / "cache" / FEATURE_NAMESPACE).rglob("*.npz"))} == stamp
    # a fusion member beside the wrist (the multimodal teacher), then DASK from each
    assert main(["train-student", *_sets(base + ["student.head_init=ridge"]), "--out", str(tmp_path / "wrist"),
                 "--quiet"]) == 0
    members = (f"teacher.members=[{{checkpoint: {tmp_path / 't' / 'best.pt'}, name: depth}}, "
               f"{{checkpoint: {tmp_path / 'wrist' / 'best.pt'}, name: inertial}}]")
    assert main(["train-teacher", *_sets(base + ["teacher.arch=fusion", "teacher.fusion=ensemble", members]),
                 "--out", str(tmp_path / "fusion"), "--quiet"]) == 0
    assert json.loads((tmp_path / "fusion" / "results.json").read_text())["test"]["accuracy"] is not None
    for name in ("t", "fusion"):
        out = tmp_path / f"dask-{name}"
        assert main(["distill", "--method", "dask", "--teacher", str(tmp_path / name / "best.pt"), *_sets(base),
                     "--out", str(out), "--quiet"]) == 0
        assert json.loads((out / "results.json").read_text())["method"] == "dask"


@pytest.mark.realdata
def test_pyramid_on_real_depth(utd_root):
    from vskd.data.utd_mhad import list_recordings

    rec = next(r for r in list_recordings(utd_root, modalities=["depth"])
               if (r.key.action, r.key.subject, r.key.trial) == (10, 3, 2))
    spec = ClipSpec(modality="depth", frame_size=40, crop_size=40, person_crop="foreground", motion="dmm",
                    dmm_segments=(3, 5, 8))
    maps = decode_clip(rec.load("depth"), spec)
    assert maps.shape == (16, 3, 40, 40) and maps.dtype == np.uint8
    # each segmentation's views are scaled over its own segments: every view peaks at 255 in each part
    for lo, hi in ((0, 3), (3, 8), (8, 16)):
        assert (maps[lo:hi].reshape(hi - lo, 3, -1).max(axis=(0, 2)) == 255).all()
    # the finer segmentation splits the same motion: its front maps sum to about the coarser ones
    # (each part is scaled to its own peak, so compare where the motion is, not the values)
    coarse, fine = maps[:3, 0].astype(float).sum(0), maps[8:, 0].astype(float).sum(0)
    assert np.corrcoef(coarse.ravel(), fine.ravel())[0, 1] > 0.9
