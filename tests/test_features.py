"""Feature taps of the distillation zoo: names, shapes, segment averaging, the teacher cache."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vskd.engine.distiller import Distiller, TeacherCache
from vskd.models.features import (
    STUDENT_FEATURES,
    TEACHER_BLOCKS,
    make_taps,
    teacher_classifier,
)
from vskd.errors import ConfigError
from vskd.losses import create_method
from vskd.models.hooks import FeatureRecorder
from vskd.models.student import GAFStudent
from vskd.models.trn import VideoTeacher

BLOCKS = ("block1", "block2", "block3", "block4")


@pytest.fixture(scope="module")
def resnet_teacher():
    torch.manual_seed(0)
    return VideoTeacher(5, backbone="resnet18", num_segments=4, partial_bn=False).eval()


@pytest.fixture(scope="module")
def bn_teacher():
    torch.manual_seed(0)
    return VideoTeacher(5, backbone="bninception", num_segments=3).eval()


def _raw(model, paths, x):
    """Raw module outputs by an independent recorder (no reduction)."""
    with FeatureRecorder(model, {p: p for p in paths}, detach=True) as rec, torch.no_grad():
        out = model(x)
        return out, dict(rec.features)


def test_resnet_teacher_blocks_are_segment_means(resnet_teacher):
    clip = torch.rand(2, 4, 3, 32, 32)
    taps = make_taps(resnet_teacher, (*BLOCKS, "pooled", "emb", "frame_emb", "logits"), "teacher")
    with torch.no_grad():
        feats = taps.collect(resnet_teacher(clip))
    taps.remove()
    expected = {"block1": (2, 64, 8, 8), "block2": (2, 128, 4, 4), "block3": (2, 256, 2, 2),
                "block4": (2, 512, 1, 1), "pooled": (2, 512), "emb": (2, 300), "frame_emb": (2, 4, 300),
                "logits": (2, 5)}
    assert {k: tuple(v.shape) for k, v in feats.items()} == expected
    paths = [f"backbone.net.layer{i}" for i in range(1, 5)] + ["backbone", "fc0"]
    logits, raw = _raw(resnet_teacher, paths, clip)
    for i, name in enumerate(BLOCKS, start=1):
        r = raw[f"backbone.net.layer{i}"]  # (B*K, C, h, w), frames of clip b are rows b*K .. b*K+K-1
        assert r.shape[0] == 8
        manual = torch.stack([r[b * 4:(b + 1) * 4].mean(0) for b in range(2)])
        torch.testing.assert_close(feats[name], manual, rtol=0, atol=1e-6)
    torch.testing.assert_close(feats["pooled"], raw["backbone"].view(2, 4, 512).mean(1), rtol=0, atol=1e-6)
    torch.testing.assert_close(feats["frame_emb"], raw["fc0"].view(2, 4, 300), rtol=0, atol=0)
    torch.testing.assert_close(feats["logits"], logits, rtol=0, atol=0)


def test_bninception_teacher_blocks(bn_teacher):
    assert [p for p, _ in TEACHER_BLOCKS["bninception"]] == [
        "conv2_3x3_bn", "inception_3b_output", "inception_4d_output", "inception_5b_output"]
    clip = torch.rand(2, 3, 3, 64, 64)
    taps = make_taps(bn_teacher, (*BLOCKS, "pooled"), "teacher")
    with torch.no_grad():
        feats = taps.collect(bn_teacher(clip))
    taps.remove()
    # strides 4, 8, 16, 32 as ResNet's layer1..4
    assert {k: tuple(v.shape) for k, v in feats.items()} == {
        "block1": (2, 192, 16, 16), "block2": (2, 320, 8, 8), "block3": (2, 608, 4, 4),
        "block4": (2, 1024, 2, 2), "pooled": (2, 1024)}
    _, raw = _raw(bn_teacher, ["backbone.conv2_3x3_bn", "backbone.inception_5b_output"], clip)
    # block1: the conv2 stage output = ReLU(BN(conv2)), BN-Inception applies its ReLUs functionally
    b1 = F.relu(raw["backbone.conv2_3x3_bn"]).view(2, 3, 192, 16, 16).mean(1)
    torch.testing.assert_close(feats["block1"], b1, rtol=0, atol=1e-5)
    assert (feats["block1"] >= 0).all() and (raw["backbone.conv2_3x3_bn"] < 0).any()
    b4 = raw["backbone.inception_5b_output"].view(2, 3, 1024, 2, 2).mean(1)
    torch.testing.assert_close(feats["block4"], b4, rtol=0, atol=1e-5)
    # pooled = mean over segments of the global-average-pooled 5b map
    torch.testing.assert_close(feats["pooled"], b4.mean(dim=(2, 3)), rtol=0, atol=1e-4)


def test_student_features():
    student = GAFStudent(5)
    taps = make_taps(student, list(STUDENT_FEATURES), "student")
    out = student(torch.rand(3, 3, 64, 64))
    feats = taps.collect(out)
    assert {k: tuple(v.shape) for k, v in feats.items()} == {
        "logits": (3, 5), "emb": (3, 300), "pooled": (3, 512), "layer1": (3, 64, 16, 16),
        "layer2": (3, 128, 8, 8), "layer3": (3, 256, 4, 4), "layer4": (3, 512, 2, 2)}
    torch.testing.assert_close(feats["pooled"], feats["layer4"].mean(dim=(2, 3)))
    assert feats["layer2"].requires_grad  # still in the graph: the student learns through it


def test_unknown_feature_names_fail_listing_the_known_ones(resnet_teacher):
    with pytest.raises(ConfigError, match="teacher feature 'layer4' is unknown.*block4"):
        make_taps(resnet_teacher, ["layer4"], "teacher")
    with pytest.raises(ConfigError, match="student feature 'block1' is unknown.*layer1"):
        make_taps(GAFStudent(5), ["block1"], "student")


def test_cache_stores_only_reduced_requested_features(resnet_teacher):
    clips = torch.rand(5, 4, 3, 32, 32)
    order = [3, 0, 4, 1, 2]  # a loader in any order
    loader = [{"teacher": clips[order[:3]], "index": torch.tensor(order[:3])},
              {"teacher": clips[order[3:]], "index": torch.tensor(order[3:])}]
    cache = TeacherCache.build(resnet_teacher, loader, ["block3", "logits"], progress=False)
    assert sorted(cache.features) == ["block3", "logits"]
    assert tuple(cache.features["block3"].shape) == (5, 256, 2, 2)  # per clip, not (5*4, ...)
    taps = make_taps(resnet_teacher, ["block3", "logits"], "teacher")
    with torch.no_grad():
        direct = taps.collect(resnet_teacher(clips))
    taps.remove()
    got = cache.lookup(torch.tensor([2, 4, 0]), ["block3", "logits"])
    torch.testing.assert_close(got["block3"], direct["block3"][[2, 4, 0]], rtol=0, atol=1e-6)
    torch.testing.assert_close(got["logits"], direct["logits"][[2, 4, 0]], rtol=0, atol=1e-5)


def test_distiller_shapes_on_one_sample_leave_batchnorm_alone(resnet_teacher):
    student = GAFStudent(5).train()
    method = create_method("sp")
    d = Distiller(student, resnet_teacher, method)
    bn = student.trunk.layer4[1].bn2
    before = bn.running_mean.clone()
    # 32 px: the student's layer4 is 1x1, a single sample would fail BatchNorm in train mode
    batch = {"student": torch.rand(1, 3, 32, 32), "teacher": torch.rand(1, 4, 3, 32, 32), "index": [0]}
    s, t = d.feature_shapes(batch)
    assert s == {"logits": (5,), "layer4": (512, 1, 1)} and t == {"block4": (512, 1, 1)}
    assert student.training and all(m.training for m in student.modules())
    torch.testing.assert_close(bn.running_mean, before, rtol=0, atol=0)
    d.setup_method(batch)
    assert method.is_setup and method.teacher_shapes == {"block4": (512, 1, 1)}
    d.close()


def test_teacher_classifier_reproduces_teacher_logits_and_stays_frozen(resnet_teacher):
    clip = torch.rand(3, 4, 3, 32, 32)
    taps = make_taps(resnet_teacher, ["frame_emb", "emb"], "teacher")
    with torch.no_grad():
        logits = resnet_teacher(clip)
        feats = taps.collect(logits)
    taps.remove()
    head = teacher_classifier(resnet_teacher)
    head.train()  # stays in eval (deterministic relation subsets)
    assert not head.head.training
    torch.testing.assert_close(head(feats["frame_emb"]), logits, rtol=0, atol=1e-6)
    # a clip-level vector is repeated as the K segment inputs
    rep = feats["emb"].unsqueeze(1).expand(3, 4, 300)
    torch.testing.assert_close(head(feats["emb"]), head(rep), rtol=0, atol=0)
    z = feats["frame_emb"].clone().requires_grad_(True)
    head(z).sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in head.parameters())
    with pytest.raises(ConfigError, match=r"\(B, 4, 300\)"):
        head(torch.zeros(2, 3, 300))
