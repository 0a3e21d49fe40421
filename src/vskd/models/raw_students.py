"""Raw-signal students: 1-D networks on the resampled wrist window ``(B, C, T)``.

The GAF students (:mod:`vskd.models.student`) see an image of the window; these see the window
itself, float32 ``(B, C, T)`` (channels first, the layout of ``conv1d`` and of aeon/sktime), ``T``
the fixed length of the raw view (``student.input.length``, 180 samples on UTD-MHAD, the practitioners'
resampling). Every student starts with :class:`InputNorm` (``norm``: none, per-window z-score or the
training split's per-channel statistics, carried in the checkpoint so an exported model normalises
itself) and ends like :class:`~vskd.models.student.GAFStudent`: ``fc0`` (embedding, before the ReLU),
``act`` (ReLU), ``fc1`` (logits). Intermediate 1-D maps are named ``layer1``, ``layer2``, ... and the
pooled vector ``pool``.

* :class:`InceptionTime1d` (``inception1d``): Ismail Fawaz et al., "InceptionTime: Finding AlexNet
  for time series classification", Data Mining and Knowledge Discovery 34, 2020. Six Inception
  modules (bottleneck 32, three convolutions of lengths 39/19/9 — the paper's 40/20/10 made odd for
  symmetric padding, as tsai does —, a max-pool branch, 4 x 32 = 128 channels, BatchNorm, ReLU) with
  a residual shortcut every three modules (``layer1``, ``layer2``), global average pooling, 300-d fc0.
* :class:`Watch1d` (``watch1d``): a watch-class network (about 160 k parameters, the issue's budget is
  200 k): a stem convolution and four stages of depthwise-separable 1-D convolutions (MobileNet's
  block, Howard et al. 2017, in 1-D), each halving the length (``layer1..layer4``: 64/96/128/160
  channels at strides 2/4/8/16), global average pooling, fc0/fc1.

``min_length`` is the shortest window each accepts (shorter windows raise one :class:`DataError` line).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vskd.errors import ConfigError, DataError

__all__ = ["InceptionTime1d", "InputNorm", "NORMALIZE", "Standardize", "Watch1d"]

#: the input normalisations of a raw student (``student.input.normalize``)
NORMALIZE = ("none", "recording", "dataset")
_EPS = 1e-6


class InputNorm(nn.Module):
    """Per-channel normalisation of ``(B, C, T)`` windows.

    ``none``: identity. ``recording``: each window's channel minus its mean over time, divided by its
    standard deviation (z-score of the window, which is the whole recording in training).
    ``dataset``: minus the training split's per-channel mean, divided by its standard deviation
    (:meth:`fit`; buffers ``mean``/``std``, so the checkpoint carries them).
    """

    def __init__(self, channels: int, mode: str = "none") -> None:
        super().__init__()
        if mode not in NORMALIZE:
            raise ConfigError(f"config key 'student.input.normalize': expected one of {', '.join(NORMALIZE)}, "
                              f"got {mode!r}")
        self.mode = mode
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("std", torch.ones(channels))

    def fit(self, windows: Tensor) -> None:
        if self.mode == "dataset":
            self.mean = windows.mean(dim=(0, 2)).float()
            self.std = windows.std(dim=(0, 2)).clamp_min(_EPS).float()

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "recording":
            return (x - x.mean(dim=2, keepdim=True)) / (x.std(dim=2, keepdim=True) + _EPS)
        if self.mode == "dataset":
            return (x - self.mean.view(1, -1, 1)) / self.std.view(1, -1, 1)
        return x

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


class Standardize(nn.Module):
    """``(x - mean) / std`` with the training features' statistics (:meth:`fit`); a feature constant in
    training keeps scale 1 (scikit-learn's ``StandardScaler`` rule)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def fit(self, x: Tensor) -> None:
        std = x.std(dim=0) if len(x) > 1 else torch.ones(x.shape[1])
        self.mean = x.mean(dim=0).float()
        self.std = torch.where(std < 1e-5, torch.ones_like(std), std).float()

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class _Head(nn.Module):
    """Common tail: ``pool`` (global average over time) -> ``fc0`` -> ``act`` -> ``fc1``; and input checks."""

    family = "raw"
    #: the 1-D maps (name -> module path) the distillation methods may read
    MAPS: dict[str, str] = {}
    #: the module whose output is the pooled vector (feature ``pooled``)
    POOLED = "pool"

    def _head(self, channels: int, embed_dim: int, num_classes: int) -> None:
        self.pool = nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.fc0 = nn.Linear(channels, embed_dim)
        self.act = nn.ReLU()
        self.fc1 = nn.Linear(embed_dim, num_classes)

    def _check(self, x: Tensor) -> None:
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise DataError(f"the {self.arch} student expects windows (B, {self.in_channels}, T) "
                            f"({self.in_channels} channels, as trained), got {tuple(x.shape)}")
        if not torch.jit.is_tracing() and not torch.onnx.is_in_onnx_export() and x.shape[2] < self.min_length:
            raise DataError(f"window of {x.shape[2]} samples is shorter than the {self.arch} student's receptive "
                            f"field ({self.min_length} samples)")

    def fit(self, windows: Tensor, labels: Tensor | None = None) -> None:
        """Fit what is fitted on the training windows (the input normalisation; ``labels`` are not used)."""
        self.norm.fit(windows)


def _check_args(num_classes: int, in_channels: int) -> None:
    if num_classes < 1:
        raise ConfigError(f"num_classes must be >= 1, got {num_classes}")
    if in_channels < 1:
        raise ConfigError(f"in_channels must be >= 1, got {in_channels}")


class InceptionModule(nn.Module):
    """Bottleneck 1x1 -> parallel convolutions (39, 19, 9) + (max-pool 3 -> 1x1), concatenated, BN, ReLU."""

    def __init__(self, in_channels: int, filters: int = 32, bottleneck: int = 32,
                 kernels: tuple[int, ...] = (39, 19, 9)) -> None:
        super().__init__()
        use_bottleneck = in_channels > 1
        self.bottleneck = nn.Conv1d(in_channels, bottleneck, 1, bias=False) if use_bottleneck else nn.Identity()
        mid = bottleneck if use_bottleneck else in_channels
        self.convs = nn.ModuleList(nn.Conv1d(mid, filters, k, padding=k // 2, bias=False) for k in kernels)
        self.pool_conv = nn.Sequential(nn.MaxPool1d(3, stride=1, padding=1),
                                       nn.Conv1d(in_channels, filters, 1, bias=False))
        self.bn = nn.BatchNorm1d(filters * (len(kernels) + 1))
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        z = self.bottleneck(x)
        out = [conv(z) for conv in self.convs] + [self.pool_conv(x)]
        return self.act(self.bn(torch.cat(out, dim=1)))


class InceptionBlock(nn.Module):
    """Three Inception modules with a residual shortcut (1x1 conv + BN) around them, then ReLU."""

    def __init__(self, in_channels: int, filters: int = 32, depth: int = 3) -> None:
        super().__init__()
        out = filters * 4
        self.modules_ = nn.Sequential(*(InceptionModule(in_channels if i == 0 else out, filters)
                                        for i in range(depth)))
        self.shortcut = nn.Sequential(nn.Conv1d(in_channels, out, 1, bias=False), nn.BatchNorm1d(out))
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.modules_(x) + self.shortcut(x))


class InceptionTime1d(_Head):
    """InceptionTime (one network of the paper's ensemble) -> fc0 -> ReLU -> fc1; see the module docstring.

    ``forward(window (B, C, T))`` -> logits. Submodules: ``norm``, ``layer1``, ``layer2`` (residual
    blocks, ``(B, 128, T)`` each), ``pool`` (``(B, 128)``), ``fc0``, ``act``, ``fc1``.
    """

    MAPS = {"layer1": "layer1", "layer2": "layer2"}
    #: a window must hold the longest kernel (39 samples)
    min_length = 39

    def __init__(self, num_classes: int, in_channels: int = 3, embed_dim: int = 300, filters: int = 32,
                 normalize: str = "none") -> None:
        super().__init__()
        _check_args(num_classes, in_channels)
        self.arch = "inception1d"
        self.num_classes, self.in_channels, self.embed_dim = num_classes, in_channels, embed_dim
        self.norm = InputNorm(in_channels, normalize)
        self.layer1 = InceptionBlock(in_channels, filters)
        self.layer2 = InceptionBlock(filters * 4, filters)
        self._head(filters * 4, embed_dim, num_classes)

    def forward(self, window: Tensor) -> Tensor:
        self._check(window)
        x = self.layer2(self.layer1(self.norm(window)))
        return self.fc1(self.act(self.fc0(self.pool(x))))


class SeparableBlock(nn.Module):
    """Depthwise conv (length 7, stride ``s``) + BN + ReLU, pointwise 1x1 + BN (+ identity shortcut when
    shapes match), ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, kernel: int = 7) -> None:
        super().__init__()
        self.depthwise = nn.Sequential(
            nn.Conv1d(in_channels, in_channels, kernel, stride=stride, padding=kernel // 2, groups=in_channels,
                      bias=False),
            nn.BatchNorm1d(in_channels), nn.ReLU())
        self.pointwise = nn.Sequential(nn.Conv1d(in_channels, out_channels, 1, bias=False),
                                       nn.BatchNorm1d(out_channels))
        self.residual = stride == 1 and in_channels == out_channels
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        y = self.pointwise(self.depthwise(x))
        return self.act(y + x if self.residual else y)


class Watch1d(_Head):
    """Watch-class 1-D student (<= 200 k parameters); see the module docstring.

    Submodules: ``norm``, ``stem`` (conv 5, 32 channels), ``layer1..layer4`` (two separable blocks
    each, the first with stride 2), ``pool``, ``fc0``, ``act``, ``fc1``.
    """

    MAPS = {f"layer{i}": f"layer{i}" for i in range(1, 5)}
    WIDTHS = (64, 96, 128, 160)
    #: four stride-2 stages: 16 samples leave one position in layer4
    min_length = 16

    def __init__(self, num_classes: int, in_channels: int = 3, embed_dim: int = 300, normalize: str = "none") -> None:
        super().__init__()
        _check_args(num_classes, in_channels)
        self.arch = "watch1d"
        self.num_classes, self.in_channels, self.embed_dim = num_classes, in_channels, embed_dim
        self.norm = InputNorm(in_channels, normalize)
        self.stem = nn.Sequential(nn.Conv1d(in_channels, 32, 5, padding=2, bias=False), nn.BatchNorm1d(32), nn.ReLU())
        prev = 32
        for i, width in enumerate(self.WIDTHS, start=1):
            setattr(self, f"layer{i}", nn.Sequential(SeparableBlock(prev, width, stride=2),
                                                     SeparableBlock(width, width)))
            prev = width
        self._head(prev, embed_dim, num_classes)

    def forward(self, window: Tensor) -> Tensor:
        self._check(window)
        x = self.stem(self.norm(window))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc1(self.act(self.fc0(self.pool(x))))
