"""Per-frame backbones by name, each applying its own input normalisation.

Contract: ``build_backbone(name, pretrained=None) -> (module, feature_dim)``; ``module(frames)`` takes
frames (N, 3, H, W) RGB in [0, 1] and returns pooled features (N, feature_dim). What each checkpoint
expects (BGR 0..255 minus mean for BN-Inception, ImageNet mean/std for torchvision) happens inside the
module, in a parameter-free submodule ``preprocess``.

============  ============  ==========================================================================
name          feature_dim   network, ``pretrained`` file
============  ============  ==========================================================================
bninception   1024          :class:`~vskd.models.bninception.BNInception`; Cadene's
                            ``bn_inception-52deb4733.pth`` (``last_linear`` dropped)
resnet18      512           torchvision ResNet-18 (``fc = Identity``, under ``net``); a torchvision
                            state_dict, e.g. ``resnet18-f37072fd.pth`` (``fc.*`` dropped)
resnet50      2048          torchvision ResNet-50, likewise (e.g. ``resnet50-0676ba61.pth``)
============  ============  ==========================================================================

Weights are never downloaded: ``pretrained`` is a local file or None (random initialisation). More
backbones register with :func:`register_backbone`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
import torchvision
from torch import nn

from vskd.models.weights import load_exact, read_state_dict
from vskd.errors import ConfigError
from vskd.models.bninception import BNInception, load_bninception_weights

#: ImageNet RGB statistics used by torchvision's classification weights.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

BackboneFactory = Callable[["str | Path | None"], "tuple[nn.Module, int]"]
#: name -> factory(pretrained) returning (module, feature_dim)
BACKBONES: dict[str, BackboneFactory] = {}


def register_backbone(name: str) -> Callable[[BackboneFactory], BackboneFactory]:
    """Decorator adding a factory ``f(pretrained) -> (module, feature_dim)`` to :data:`BACKBONES`."""

    def deco(fn: BackboneFactory) -> BackboneFactory:
        BACKBONES[name] = fn
        return fn

    return deco


def available_backbones() -> list[str]:
    return sorted(BACKBONES)


def build_backbone(name: str, pretrained: str | Path | None = None) -> tuple[nn.Module, int]:
    """Backbone ``name`` (see module docstring) with optional local weights -> (module, feature_dim)."""
    if name not in BACKBONES:
        raise ConfigError(f"backbone '{name}' is unknown (available: {', '.join(available_backbones())})")
    return BACKBONES[name](pretrained)


class ImageNormalize(nn.Module):
    """RGB in [0, 1] -> (x - mean) / std per channel (no parameters, no state_dict entries)."""

    def __init__(self, mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class TorchvisionBackbone(nn.Module):
    """``preprocess`` (ImageNet mean/std) then a torchvision classifier ``net`` whose ``fc`` is Identity."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.preprocess = ImageNormalize()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.preprocess(x))


def load_torchvision_weights(net: nn.Module, path: str | Path, drop_prefixes: tuple[str, ...] = ("fc.",)) -> list[str]:
    """Load a torchvision state_dict file into ``net`` strictly, except keys under ``drop_prefixes``.

    The ImageNet classifier (``fc.*``) is dropped because the networks here replace it
    (``fc = Identity``). Returns notes on what was dropped; raises :class:`~vskd.errors.DataError`
    naming the file when it is missing, unreadable or does not match.
    """
    path = Path(path)
    state = read_state_dict(path)
    own = net.state_dict()
    dropped = sorted(k for k in state if k.startswith(drop_prefixes) and k not in own)
    state = {k: v for k, v in state.items() if k not in dropped}
    load_exact(net, state, path, f"does not match {type(net).__name__}")
    return [f"dropped {', '.join(dropped)}"] if dropped else []


def torchvision_resnet(arch: str, pretrained: str | Path | None = None) -> tuple[nn.Module, int]:
    """torchvision ``arch`` with random init (``weights=None``), optional local weights, ``fc = Identity``."""
    net = getattr(torchvision.models, arch)(weights=None)
    dim = net.fc.in_features
    net.fc = nn.Identity()
    if pretrained is not None:
        load_torchvision_weights(net, pretrained)
    return net, dim


@register_backbone("bninception")
def _bninception(pretrained: str | Path | None = None) -> tuple[nn.Module, int]:
    net = BNInception(num_classes=None)
    if pretrained is not None:
        load_bninception_weights(net, pretrained)
    return net, net.feature_dim


@register_backbone("resnet18")
def _resnet18(pretrained: str | Path | None = None) -> tuple[nn.Module, int]:
    net, dim = torchvision_resnet("resnet18", pretrained)
    return TorchvisionBackbone(net), dim


@register_backbone("resnet50")
def _resnet50(pretrained: str | Path | None = None) -> tuple[nn.Module, int]:
    net, dim = torchvision_resnet("resnet50", pretrained)
    return TorchvisionBackbone(net), dim
