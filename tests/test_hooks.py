"""FeatureRecorder and feature_shapes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vskd.errors import ConfigError
from vskd.models import FeatureRecorder, GAFStudent, VideoTeacher, feature_shapes


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8))
        self.head = nn.Linear(8, 2)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.head(torch.relu(self.body(x)))


def test_records_every_forward_with_aliases():
    model = Tiny()
    rec = FeatureRecorder(model, {"hidden": "body.0", "out": "", "bn": "body.1"})
    x1, x2 = torch.randn(3, 4), torch.randn(5, 4)
    y1 = model(x1)
    assert set(rec.features) == {"hidden", "out", "bn"}
    assert rec.features["out"] is y1
    torch.testing.assert_close(rec.features["hidden"], model.body[0](x1))
    model(x2)
    assert rec.features["hidden"].shape == (5, 8)  # refreshed on every forward
    assert rec.features["hidden"].requires_grad  # stored as is, in the graph
    rec.remove()
    model(x1)
    assert rec.features["hidden"].shape == (5, 8)  # no longer updated after remove()
    rec.remove()  # idempotent


def test_iterable_names_detach_and_context_manager():
    model = Tiny()
    with FeatureRecorder(model, ["head"], detach=True) as rec:
        assert rec.active
        model(torch.randn(2, 4))
        assert not rec.features["head"].requires_grad
    assert not rec.active
    assert not model._forward_hooks and not model._forward_pre_hooks and not model.head._forward_hooks


def test_unknown_module_names_close_matches():
    student = GAFStudent(num_classes=3)
    with pytest.raises(ConfigError, match=r"no module 'trunk\.layer5' in GAFStudent \(close matches: trunk\.layer"):
        FeatureRecorder(student, {"x": "trunk.layer5"})
    with pytest.raises(ConfigError, match="'zzz'.*top-level modules: trunk, fc0, act, fc1"):
        FeatureRecorder(student, {"x": "zzz"})
    # nothing was registered by the failed constructor
    assert not student._forward_pre_hooks and not student.fc0._forward_hooks


def test_recording_does_not_change_outputs_or_gradients():
    torch.manual_seed(0)
    model = Tiny()
    x = torch.randn(4, 4)
    ref = model(x)
    ref.sum().backward()
    g_ref = model.body[0].weight.grad.clone()
    model.zero_grad()
    with FeatureRecorder(model, {"h": "body.0"}) as rec:
        out = model(x)
        (out.sum() + 0 * rec.features["h"].sum()).backward()
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(model.body[0].weight.grad, g_ref)


def test_feature_shapes_student_and_teacher():
    student = GAFStudent(num_classes=7)
    student.train()
    bn = student.trunk.bn1
    before = bn.running_mean.clone()
    shapes = feature_shapes(student, torch.rand(2, 3, 32, 32))
    assert shapes[""] == (2, 7) and shapes["fc0"] == (2, 300) and shapes["trunk.layer4"] == (2, 512, 1, 1)
    assert shapes["trunk.layer1"] == (2, 64, 8, 8) and shapes["trunk.avgpool"] == (2, 512, 1, 1)
    assert student.training and bn.training  # mode restored
    assert torch.equal(bn.running_mean, before)  # ran in eval mode: no statistics update

    teacher = VideoTeacher(num_classes=4, backbone="resnet18", num_segments=3).train()
    frozen = teacher.batchnorms()[1]
    shapes = feature_shapes(teacher, torch.rand(2, 3, 3, 32, 32),
                            names={"emb": "embedding", "frame": "fc0", "logits": "", "bb": "backbone"})
    assert shapes == {"emb": (2, 300), "frame": (6, 300), "logits": (2, 4), "bb": (6, 512)}
    assert teacher.training and not frozen.training  # partial-BN modes restored exactly
