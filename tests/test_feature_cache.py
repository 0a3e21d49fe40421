"""Frame-feature cache of frozen backbones (vskd.data.features) and the teacher trained on it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vskd.data.cache import ArrayCache
from vskd.data.features import (FEATURE_NAMESPACE, FeatureDataset, FeatureSpec, extract_features, feature_frames,
                                frame_indices, person_box)
from vskd.data.frames import ClipSpec
from vskd.data.paired import PairedDataset, collate
from vskd.data.synthetic import make_synthetic
from vskd.errors import DataError
from vskd.models.trn import VideoTeacher
from vskd.models.weights import state_digest

CLIP = ClipSpec(modality="rgb", num_segments=4, frame_size=36, crop_size=32, flip=False)


def _spec(net: VideoTeacher, **kw) -> FeatureSpec:
    enc = {"backbone": net.backbone_name, "weights": state_digest(net.backbone), "feature_dim": net.feature_dim}
    return FeatureSpec(encoder=enc, **kw)


@pytest.fixture(scope="module")
def recs():
    return make_synthetic("tiny", seed=0)[:3]


@pytest.fixture(scope="module")
def teacher():
    torch.manual_seed(0)
    net = VideoTeacher(num_classes=5, backbone="efficientnet_lite0", num_segments=4, pretrained="package",
                       frozen_backbone=True)
    return net.eval()


def test_frozen_backbone_stays_in_eval_and_untrainable(teacher):
    teacher.train()
    assert not teacher.backbone.training and all(not m.training for m in teacher.backbone.modules())
    assert not any(p.requires_grad for p in teacher.backbone.parameters())
    assert all(p.requires_grad for p in teacher.fc0.parameters())
    teacher.eval()


def test_cached_teacher_equals_uncached_on_the_same_frames(recs, teacher, tmp_path):
    cache = ArrayCache(tmp_path, compress=False)
    spec = _spec(teacher)
    stats = extract_features(recs, CLIP, spec, teacher.backbone, cache, batch_size=16, progress=False)
    assert stats["extracted"] == len(recs)
    feats = collate([FeatureDataset(recs, CLIP, spec, cache)[i] for i in range(len(recs))])
    clips = collate([PairedDataset(recs, student=None, teacher=CLIP, cache_dir=tmp_path)[i] for i in range(len(recs))])
    assert feats["teacher"].shape == (len(recs), 4, 1280)
    with torch.no_grad():
        a = teacher(feats["teacher"])
        b = teacher(clips["teacher"])
    assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()
    assert a.abs().max() > 0  # not trivially equal


def test_cache_key_covers_backbone_weights_frames_and_is_resumable(recs, teacher, tmp_path):
    cache = ArrayCache(tmp_path, compress=False)
    base = _spec(teacher)
    assert extract_features(recs, CLIP, base, teacher.backbone, cache, progress=False)["extracted"] == len(recs)
    # the same backbone, weights and frames: everything is reused
    assert extract_features(recs, CLIP, base, teacher.backbone, cache, progress=False)["extracted"] == 0
    # an interrupted extraction continues: only the missing clip is computed
    key = sorted((tmp_path / FEATURE_NAMESPACE).rglob("*.npz"))[0]
    key.unlink()
    assert extract_features(recs, CLIP, base, teacher.backbone, cache, progress=False)["extracted"] == 1
    # other weights (one parameter changed), another stride, crop size or crop: never the stale entries
    other = VideoTeacher(num_classes=5, backbone="efficientnet_lite0", num_segments=4, pretrained="package",
                         frozen_backbone=True).eval()
    with torch.no_grad():
        other.backbone.stem.conv.weight.mul_(1.05)
    changed = [_spec(other), _spec(teacher, stride=2), _spec(teacher, margin=0.2)]
    params = {json.dumps(s.params(CLIP), sort_keys=True) for s in changed + [base]}
    assert len(params) == len(changed) + 1 - 1  # the margin only matters for the person crop
    assert base.params(ClipSpec(modality="rgb", num_segments=4, frame_size=36, crop_size=24)) != base.params(CLIP)
    enc = dict(base.encoder, backbone="resnet18")
    assert FeatureSpec(encoder=enc).params(CLIP) != base.params(CLIP)
    stats = extract_features(recs, CLIP, changed[0], other.backbone, cache, progress=False)
    assert stats["extracted"] == len(recs)
    a = FeatureDataset(recs, CLIP, base, cache).features(0)
    b = FeatureDataset(recs, CLIP, changed[0], cache).features(0)
    assert not np.allclose(a, b)
    # features never extracted: one clear line, not a silent rebuild with some other backbone
    with pytest.raises(DataError, match="no cached frame features"):
        FeatureDataset(recs, CLIP, _spec(teacher, stride=3), cache).features(0)


def test_stride_and_tsn_sampling_over_cached_frames(recs, teacher, tmp_path):
    cache = ArrayCache(tmp_path, compress=False)
    spec = _spec(teacher, stride=2)
    extract_features(recs[:2], CLIP, spec, teacher.backbone, cache, progress=False)
    ds = FeatureDataset(recs[:2], CLIP, spec, cache, train=True, seed=1)
    full = ds.features(0)
    n = recs[0].load("rgb").shape[0]
    assert full.shape[0] == len(frame_indices(n, 2)) == (n + 1) // 2
    draws = []
    for epoch in (0, 1, 0):
        ds.set_epoch(epoch)
        x = ds[0]["teacher"].numpy()
        rows = [int(np.flatnonzero((full == r).all(axis=1))[0]) for r in x]
        assert rows == sorted(rows)  # one per segment, in temporal order
        draws.append(rows)
    assert draws[0] == draws[2]  # seeded by (seed, epoch, index)
    ev = FeatureDataset(recs[:2], CLIP, spec, cache, train=False)
    assert torch.equal(ev[0]["teacher"], ev[0]["teacher"])


def test_person_box_on_real_depth(utd_root):
    from vskd.data.datasets import load_recordings

    recs = [r for r in load_recordings("utd-mhad", utd_root) if r.key.subject == 1][:3]
    for rec in recs:
        depth = rec.load("depth")
        y0, x0, y1, x1 = person_box(depth, margin=0.1)
        h, w = depth.shape[1:]
        assert y1 - y0 == x1 - x0 and 0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w
        assert (y1 - y0) * (x1 - x0) < 0.75 * h * w  # much smaller than the frame
        fg = depth > 0
        inside = fg[:, y0:y1, x0:x1].sum()
        assert inside >= 0.99 * fg.sum()
        enc = {"backbone": "x", "weights": "0", "feature_dim": 1}
        clip = ClipSpec(modality="depth", num_segments=8, frame_size=64, crop_size=64)
        frames = feature_frames(rec, clip, FeatureSpec(encoder=enc, crop="person", stride=4), None)
        assert frames.shape == (len(frame_indices(depth.shape[0], 4)), 3, 64, 64)
        # the person fills the crop: far more foreground than the whole-frame view at the same size
        assert (frames > 0).float().mean() > 1.8 * fg.mean()


def test_clip_without_foreground_is_one_line(recs):
    with pytest.raises(DataError, match="recording a1_s1_t1.*no foreground"):
        person_box(np.zeros((5, 20, 30), np.uint16), where="recording a1_s1_t1")


def test_backbone_weights_of_another_architecture(tmp_path):
    import torchvision

    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(DataError) as err:
        VideoTeacher(num_classes=3, backbone="efficientnet_lite0", pretrained=str(path))
    msg = str(err.value)
    assert str(path) in msg and "EfficientNet-Lite0" in msg and "\n" not in msg


# ------------------------------------------------------------------------------ end to end, through the CLI

TINY_FEATURES = [
    "data.preset=tiny",
    "teacher.backbone=efficientnet_lite0",
    "teacher.pretrained=package",
    "teacher.features.cache=true",
    "teacher.features.crop=person",
    "teacher.features.per_segment=1",
    "teacher.input.modality=depth",
    "teacher.input.num_segments=4",
    "teacher.input.frame_size=32",
    "teacher.input.crop_size=32",
    "teacher.train.epochs=2",
    "teacher.train.batch_size=8",
    "teacher.train.lr_steps=[]",
    "student.input.out_size=32",
    "student.train.epochs=1",
    "student.train.batch_size=8",
]


def _sets(ov):
    out = []
    for o in ov:
        out += ["--set", o]
    return out


def test_frame_indices_per_segment_are_the_segment_groups():
    from vskd.data.frames import segment_indices

    for n in (3, 8, 45, 130):
        idx = frame_indices(n, per_segment=3, num_segments=8)
        assert len(idx) == 24 and np.all(np.diff(idx) >= 0) and idx.max() < n
        # the middle of each group of 3 is the centre frame the uncached teacher is evaluated on
        assert np.array_equal(idx[1::3], segment_indices(n, 8, train=False))
        assert np.array_equal(frame_indices(n, per_segment=1, num_segments=8), segment_indices(n, 8, train=False))


@pytest.mark.slow
def test_cached_person_crop_teacher_trains_distills_and_evaluates(tmp_path, capsys):
    from vskd.cli import main

    ov = TINY_FEATURES + [f"data.cache_dir={tmp_path / 'cache'}"]
    assert main(["train-teacher", *_sets(ov), "--out", str(tmp_path / "t"), "--quiet"]) == 0
    res = json.loads((tmp_path / "t" / "results.json").read_text())
    assert res["feature_extraction"]["extracted"] == res["feature_extraction"]["clips"] > 0
    entries = len(list((tmp_path / "cache" / FEATURE_NAMESPACE).rglob("*.npz")))
    assert entries == res["feature_extraction"]["clips"]
    # a teacher checkpoint like any other: vskd evaluate reads its cached view again (no new extraction)
    assert main(["evaluate", str(tmp_path / "t" / "best.pt"), "--split", "test", "--out", str(tmp_path / "ev")]) == 0
    ev = json.loads((tmp_path / "ev" / "eval_test.json").read_text())
    assert ev["accuracy"] == pytest.approx(res["test"]["accuracy"])
    assert len(list((tmp_path / "cache" / FEATURE_NAMESPACE).rglob("*.npz"))) == entries
    # and a distillation teacher: its embedding and logits come from the cached features
    teacher = str(tmp_path / "t" / "best.pt")
    assert main(["distill", "--method", "dask", "--teacher", teacher, *_sets(ov), "--out", str(tmp_path / "d"),
                 "--quiet"]) == 0
    assert json.loads((tmp_path / "d" / "results.json").read_text())["method"] == "dask"
    assert len(list((tmp_path / "cache" / "teacher-outputs").glob("*.pt"))) == 1
    # a method on backbone maps cannot take a person-crop feature teacher: one line naming the features
    capsys.readouterr()
    assert main(["distill", "--method", "at", "--teacher", teacher, *_sets(ov), "--out", str(tmp_path / "a"),
                 "--quiet"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "teacher.features.crop" in err[0] and "block" in err[0]
