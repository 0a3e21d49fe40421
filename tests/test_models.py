"""Models: BN-Inception checkpoint compatibility, backbones, multi-scale TRN teacher, GAF student."""

from __future__ import annotations

import importlib.util
import itertools
import math
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from vskd.errors import ConfigError, DataError, VskdError
from vskd.models import (BNInception, FeatureRecorder, GAFStudent, MultiScaleRelation, VideoTeacher,
                         available_backbones, build_backbone, load_bninception_weights, tsn_param_groups)
from vskd.models.bninception import BGR_MEAN, MIN_INPUT_SIZE, check_input_size
from vskd.models.trn import relation_count


def _cadene_bninception_module():
    """Cadene's ``pretrainedmodels/models/bninception.py``, loaded by file path.

    Importing the ``pretrainedmodels`` package runs its ``__init__``, which needs ``six`` (not declared
    by the package); the model file itself needs only torch.
    """
    spec = importlib.util.find_spec("pretrainedmodels")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pretrainedmodels (dev extra) is not installed")
    path = Path(spec.submodule_search_locations[0]) / "models" / "bninception.py"
    mspec = importlib.util.spec_from_file_location("_cadene_bninception", path)
    module = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cadene(tmp_path_factory):
    """(Cadene's BNInception with random weights in eval mode, path of its saved state_dict)."""
    torch.manual_seed(0)
    model = _cadene_bninception_module().BNInception(num_classes=1000)
    # non-trivial BN statistics so that a wrong BN wiring changes the outputs
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    model.eval()
    path = tmp_path_factory.mktemp("bni") / "bn_inception-random.pth"
    torch.save(model.state_dict(), path)
    return model, path


def _to_caffe(rgb: torch.Tensor) -> torch.Tensor:
    return rgb.flip(1) * 255.0 - torch.tensor(BGR_MEAN).view(1, 3, 1, 1)


# ---------------------------------------------------------------- BN-Inception vs Cadene's checkpoint layout

def test_bninception_state_dict_matches_cadene(cadene):
    ref, _ = cadene
    ours = BNInception(num_classes=1000)
    ref_sd, our_sd = ref.state_dict(), ours.state_dict()
    assert list(our_sd) == list(ref_sd)  # same keys, same order
    assert {k: tuple(v.shape) for k, v in our_sd.items()} == {k: tuple(v.shape) for k, v in ref_sd.items()}
    assert "conv1_7x7_s2.weight" in our_sd and "inception_5b_pool_proj_bn.running_var" in our_sd
    # without the ImageNet classifier, only last_linear.* is missing
    assert set(ref_sd) - set(BNInception().state_dict()) == {"last_linear.weight", "last_linear.bias"}


def test_bninception_loads_checkpoint_and_matches_outputs(cadene):
    ref, path = cadene
    ours = BNInception()  # feature extractor, as the teacher builds it
    notes = load_bninception_weights(ours, path)
    assert any("last_linear" in n for n in notes)
    ours.eval()
    torch.manual_seed(1)
    rgb = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        ref_map = ref.features(_to_caffe(rgb))
        torch.testing.assert_close(ours.features(_to_caffe(rgb)), ref_map, rtol=1e-5, atol=1e-6)
        pooled = ours(rgb)  # RGB in [0, 1]: the model converts to the checkpoint's convention itself
        assert pooled.shape == (2, 1024)
        torch.testing.assert_close(pooled, ref_map.mean(dim=(2, 3)), rtol=1e-5, atol=1e-6)
        assert pooled.std() > 0


def test_bninception_logits_match_cadene_at_224(cadene):
    ref, path = cadene
    ours = BNInception(num_classes=1000)
    assert load_bninception_weights(ours, path) == []  # everything used, nothing dropped
    ours.eval()
    rgb = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = ref(_to_caffe(rgb))  # Cadene: BGR 0..255 minus mean, AvgPool2d(7) + last_linear
        got = ours(rgb)
    assert got.shape == (1, 1000)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_bninception_loads_legacy_layout(cadene, tmp_path):
    """Old ports store BN tensors as (1, C) and lack num_batches_tracked: still loads, same values."""
    ref, _ = cadene
    legacy = {k: (v.unsqueeze(0) if "_bn." in k else v) for k, v in ref.state_dict().items()
              if not k.endswith("num_batches_tracked")}
    path = tmp_path / "legacy.pth"
    torch.save(legacy, path)
    ours = BNInception()
    notes = load_bninception_weights(ours, path)
    assert any("reshaped" in n for n in notes) and any("num_batches_tracked" in n for n in notes)
    torch.testing.assert_close(ours.inception_4d_3x3_bn.running_var, ref.inception_4d_3x3_bn.running_var)


def test_bninception_loader_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_bninception_weights(BNInception(), tmp_path / "missing.pth")
    bad = tmp_path / "resnet.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), bad)
    with pytest.raises(DataError, match="resnet.pth.*missing keys"):
        load_bninception_weights(BNInception(), bad)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(DataError, match="cannot read"):
        load_bninception_weights(BNInception(), junk)


def test_bninception_input_sizes():
    assert MIN_INPUT_SIZE == 32
    assert all(check_input_size(s) for s in (32, 64, 96, 224, 256))
    assert not any(check_input_size(s) for s in (31, 40, 50))
    net = BNInception().eval()
    with torch.no_grad():
        assert net(torch.rand(1, 3, 32, 32)).shape == (1, 1024)
        with pytest.raises(VskdError, match="inception_3c"):
            net(torch.rand(1, 3, 40, 40))  # 5 x 5 map entering 3c
        with pytest.raises(VskdError, match="inception_4e"):
            net(torch.rand(1, 3, 50, 50))  # 3 x 3 map entering 4e
        with pytest.raises(VskdError, match="at least 32"):
            net(torch.rand(1, 3, 16, 16))


# ---------------------------------------------------------------- backbones

@pytest.mark.parametrize("name,dim", [("bninception", 1024), ("resnet18", 512), ("resnet50", 2048)])
def test_backbone_shapes(name, dim):
    net, feature_dim = build_backbone(name)
    assert feature_dim == dim
    net.eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 64, 64))
    assert out.shape == (2, dim)
    assert not any("preprocess" in k for k in net.state_dict())  # normalisation adds no state


def test_backbone_registry_and_errors():
    assert {"bninception", "resnet18", "resnet50"} <= set(available_backbones())
    with pytest.raises(ConfigError, match="backbone 'vgg'.*available: bninception"):
        build_backbone("vgg")


def test_resnet_backbone_normalises_and_loads_local_weights(tmp_path):
    torch.manual_seed(3)
    ref = torchvision.models.resnet18(weights=None).eval()
    path = tmp_path / "resnet18.pth"
    torch.save(ref.state_dict(), path)  # torchvision layout, fc.* included
    net, _ = build_backbone("resnet18", pretrained=path)
    net.eval()
    x = torch.rand(2, 3, 64, 64)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    ref.fc = nn.Identity()
    with torch.no_grad():
        torch.testing.assert_close(net(x), ref((x - mean) / std))
    with pytest.raises(DataError, match="missing.pth"):
        build_backbone("resnet50", pretrained=tmp_path / "missing.pth")
    with pytest.raises(DataError, match="resnet18.pth: does not match"):
        build_backbone("resnet50", pretrained=path)  # resnet18 weights into resnet50


# ---------------------------------------------------------------- multi-scale TRN head

@pytest.mark.parametrize("k,n_train,n_eval", [(8, 1 + 6 * 3, 247), (3, 1 + 3, 4), (2, 1, 1), (5, 1 + 3 * 3, 26)])
def test_relation_scales_and_counts(k, n_train, n_eval):
    head = MultiScaleRelation(k, 4, 5)
    assert head.scales == list(range(k, 1, -1))
    assert len(head.fc_fusion_scales) == k - 1
    assert head.relations_per_forward() == n_train
    assert relation_count(k) == (n_train, n_eval)
    for scale, mlp in zip(head.scales, head.fc_fusion_scales):
        assert mlp[1].in_features == scale * 4 and mlp[1].out_features == 256 and mlp[3].out_features == 5
    x = torch.randn(2, k, 4)
    head.train()
    head(x)
    used = head.last_relations
    assert sum(len(s) for s in used) == n_train
    assert used[0] == [tuple(range(k))]  # the full tuple at scale K
    for scale, subsets in zip(head.scales, used):
        assert len(set(subsets)) == len(subsets)  # distinct
        assert all(len(s) == scale and list(s) == sorted(s) for s in subsets)  # ordered k-subsets
    head.eval()
    head(x)
    assert sum(len(s) for s in head.last_relations) == n_eval


def test_relation_matches_definition():
    """Train output = sum of the drawn subsets' MLPs; eval output = its expectation over the draws."""
    torch.manual_seed(4)
    head = MultiScaleRelation(4, 3, 2, seed=7)
    x = torch.randn(2, 4, 3)

    def g(scale_idx, subset):
        return head.fc_fusion_scales[scale_idx](x[:, list(subset)].flatten(1))

    head.train()
    out = head(x)
    manual = sum(g(i, s) for i, subsets in enumerate(head.last_relations) for s in subsets)
    torch.testing.assert_close(out, manual)
    head.eval()
    out = head(x)
    expected = torch.zeros(2, 2)
    for i, k in enumerate(head.scales):
        all_subsets = list(itertools.combinations(range(4), k))
        m = 1 if k == 4 else min(3, len(all_subsets))
        expected += m / len(all_subsets) * sum(g(i, s) for s in all_subsets)
    torch.testing.assert_close(out, expected)


def test_relation_draws_are_seeded_and_eval_is_deterministic():
    x = torch.randn(2, 8, 6)
    a, b = MultiScaleRelation(8, 6, 3, seed=11), MultiScaleRelation(8, 6, 3, seed=11)
    b.load_state_dict(a.state_dict())
    draws_a, draws_b = [], []
    for _ in range(4):
        ya, yb = a(x), b(x)
        torch.testing.assert_close(ya, yb)
        draws_a.append(a.last_relations)
        draws_b.append(b.last_relations)
    assert draws_a == draws_b
    assert len({str(d) for d in draws_a}) > 1  # the generator advances: new subsets each forward
    a.reseed()
    a(x)
    assert a.last_relations == draws_a[0]
    c = MultiScaleRelation(8, 6, 3, seed=12)
    c(x)
    assert c.last_relations != draws_a[0]
    a.eval()
    torch.testing.assert_close(a(x), a(x), rtol=0, atol=0)


def test_relation_rejects_bad_config():
    with pytest.raises(ConfigError, match="num_segments must be >= 2"):
        MultiScaleRelation(1, 4, 3)
    with pytest.raises(ConfigError, match=r"\(B, 3, 4\)"):
        MultiScaleRelation(3, 4, 3)(torch.randn(2, 4, 4))


# ---------------------------------------------------------------- VideoTeacher

@pytest.fixture(scope="module")
def small_teacher():
    torch.manual_seed(5)
    return VideoTeacher(num_classes=5, num_segments=3, seed=0)


def test_teacher_forward_shapes_and_embedding(small_teacher):
    teacher = small_teacher.eval()
    clip = torch.rand(2, 3, 3, 32, 32)
    with FeatureRecorder(teacher, {"frame": "fc0", "emb": "embedding", "bb": "backbone"}) as rec, torch.no_grad():
        logits = teacher(clip)
        feats = dict(rec.features)
    assert logits.shape == (2, 5)
    assert feats["bb"].shape == (6, 1024)
    assert feats["frame"].shape == (6, 300)
    assert feats["emb"].shape == (2, 300)
    torch.testing.assert_close(feats["emb"], feats["frame"].view(2, 3, 300).mean(dim=1))
    with torch.no_grad():
        torch.testing.assert_close(teacher(clip), logits, rtol=0, atol=0)  # deterministic eval
    with pytest.raises(ConfigError, match="num_segments=3"):
        teacher(torch.rand(2, 4, 3, 32, 32))


def test_teacher_fc0_init():
    teacher = VideoTeacher(num_classes=4, backbone="resnet18", num_segments=2)
    w = teacher.fc0.weight
    assert w.shape == (300, 512)
    assert abs(w.std().item() - 0.001) < 0.0001 and abs(w.mean().item()) < 0.0001
    assert torch.count_nonzero(teacher.fc0.bias) == 0


def test_teacher_partial_bn_and_gradients():
    torch.manual_seed(6)
    teacher = VideoTeacher(num_classes=3, num_segments=2, seed=1)
    teacher.train()
    bns = teacher.batchnorms()
    assert bns[0] is teacher.backbone.conv1_7x7_s2_bn and len(bns) == 69
    assert bns[0].training and all(not bn.training for bn in bns[1:])
    assert bns[0].weight.requires_grad and all(not p.requires_grad for bn in bns[1:] for p in bn.parameters())
    before = [bn.running_mean.clone() for bn in bns]
    loss = nn.functional.cross_entropy(teacher(torch.rand(2, 2, 3, 32, 32)), torch.tensor([0, 2]))
    loss.backward()
    assert not torch.equal(bns[0].running_mean, before[0])  # the first BN updates its statistics
    assert all(torch.equal(bn.running_mean, b) for bn, b in zip(bns[1:], before[1:]))  # the others don't
    assert teacher.fc0.weight.grad is not None and teacher.fc0.weight.grad.abs().sum() > 0
    assert teacher.backbone.conv1_7x7_s2.weight.grad.abs().sum() > 0
    assert teacher.backbone.inception_5b_1x1.weight.grad.abs().sum() > 0
    assert bns[5].weight.grad is None
    # eval -> train keeps partial BN; switching it off restores every BN
    teacher.eval().train()
    assert not bns[1].training
    teacher.set_partial_bn(False)
    assert all(bn.training and bn.weight.requires_grad for bn in bns)


def test_tsn_param_groups():
    teacher = VideoTeacher(num_classes=3, backbone="bninception", num_segments=3)
    groups = {g["name"]: g for g in tsn_param_groups(teacher, lr=1e-3, weight_decay=5e-4)}
    assert set(groups) == {"first_conv_weight", "first_conv_bias", "normal_weight", "normal_bias", "bn"}
    assert groups["first_conv_weight"]["params"] == [teacher.backbone.conv1_7x7_s2.weight]
    assert groups["first_conv_bias"]["lr"] == pytest.approx(2e-3) and groups["first_conv_bias"]["weight_decay"] == 0
    assert groups["normal_bias"]["lr"] == pytest.approx(2e-3) and groups["normal_bias"]["weight_decay"] == 0
    assert groups["normal_weight"]["weight_decay"] == pytest.approx(5e-4)
    assert groups["bn"]["weight_decay"] == 0 and len(groups["bn"]["params"]) == 2  # partial BN: first BN only
    assert any(p is teacher.fc0.weight for p in groups["normal_weight"]["params"])
    grouped = [id(p) for g in groups.values() for p in g["params"]]
    trainable = [id(p) for p in teacher.parameters() if p.requires_grad]
    assert sorted(grouped) == sorted(trainable)  # a partition of the trainable parameters
    lr5 = {g["name"]: g for g in tsn_param_groups(teacher, lr=1e-3, weight_decay=5e-4, fc_lr5=True)}
    assert lr5["new_weight"]["lr"] == pytest.approx(5e-3) and lr5["new_bias"]["lr"] == pytest.approx(1e-2)
    assert any(p is teacher.relation.fc_fusion_scales[0][1].weight for p in lr5["new_weight"]["params"])
    torch.optim.SGD(tsn_param_groups(teacher, 1e-3, 5e-4), lr=1e-3, momentum=0.9)  # accepted as is


# ---------------------------------------------------------------- GAF student

@pytest.mark.parametrize("arch,dim,size", [("resnet18", 512, 32), ("resnet18", 512, 64), ("resnet50", 2048, 32)])
def test_student_shapes_and_hooks(arch, dim, size):
    student = GAFStudent(num_classes=27, arch=arch).eval()
    names = {f"l{i}": f"trunk.layer{i}" for i in range(1, 5)} | {"fc0": "fc0", "fc1": "fc1", "pool": "trunk.avgpool"}
    with FeatureRecorder(student, names) as rec, torch.no_grad():
        logits = student(torch.rand(2, 3, size, size))
    assert logits.shape == (2, 27)
    assert student.fc0.in_features == dim and student.fc0.out_features == 300
    f = rec.features
    assert f["l1"].shape[:2] == (2, dim // 8) and f["l4"].shape[:2] == (2, dim)
    assert f["l4"].shape[-1] == math.ceil(size / 32)
    assert f["pool"].shape == (2, dim, 1, 1)
    assert f["fc0"].shape == (2, 300) and (f["fc0"] < 0).any()  # the embedding is taken before the ReLU
    torch.testing.assert_close(f["fc1"], logits)


def test_student_loads_local_torchvision_weights(tmp_path):
    torch.manual_seed(8)
    ref = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18-random.pth"
    torch.save(ref.state_dict(), path)
    student = GAFStudent(num_classes=6, pretrained=path)
    assert any("fc.weight" in n for n in student.load_notes)
    for k, v in ref.state_dict().items():
        if not k.startswith("fc."):
            torch.testing.assert_close(student.trunk.state_dict()[k], v)
    one = GAFStudent(num_classes=6, in_channels=1, pretrained=path)
    torch.testing.assert_close(one.trunk.conv1.weight, ref.conv1.weight.mean(dim=1, keepdim=True))
    assert one.eval()(torch.rand(1, 1, 32, 32)).shape == (1, 6)
    with pytest.raises(DataError, match="nope.pth"):
        GAFStudent(num_classes=6, pretrained=tmp_path / "nope.pth")


def test_student_rejects_bad_input():
    with pytest.raises(ConfigError, match="arch 'vgg'"):
        GAFStudent(num_classes=3, arch="vgg")
    with pytest.raises(ConfigError, match=r"\(B, 3, S, S\)"):
        GAFStudent(num_classes=3)(torch.rand(2, 1, 32, 32))


def test_relation_generator_state_is_in_the_state_dict():
    from vskd.models.trn import MultiScaleRelation

    a = MultiScaleRelation(8, 4, 3, seed=1).train()
    x = torch.randn(2, 8, 4)
    a(x)  # advance the generator
    b = MultiScaleRelation(8, 4, 3, seed=99).train()
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(a(x), b(x))
    assert a.last_relations == b.last_relations


def test_teacher_batchnorm_momentum_re_estimates_statistics():
    """Every backbone BN of the teacher uses momentum 0.1 (EfficientNet ships 0.01), so a short
    fine-tuning moves the running statistics to the new input (eval mode then matches training)."""
    from vskd.models.trn import VideoTeacher

    t = VideoTeacher(num_classes=3, backbone="efficientnet_lite0", num_segments=2, embed_dim=8)
    assert {bn.momentum for bn in t.batchnorms()} == {0.1}


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v3_small"])
def test_student_batchnorm_momentum_is_pytorch_default(arch):
    from vskd.models.student import GAFStudent

    s = GAFStudent(num_classes=3, arch=arch, embed_dim=8)
    assert {m.momentum for m in s.modules() if isinstance(m, torch.nn.BatchNorm2d)} == {0.1}
