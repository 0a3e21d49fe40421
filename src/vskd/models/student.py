"""The VSKD student: a torchvision ResNet (or MobileNetV3-small) on Gramian Angular Field images.

As in the authors' code (Ni et al., ICASSP 2022): ResNet trunk (ImageNet classifier removed) ->
``fc0 = Linear(512, 300)`` (the embedding DASK matches to the teacher's clip embedding) -> ReLU ->
``fc1 = Linear(300, C)``. The input is the GAF image (B, 3, S, S) with values in [0, 1], fed without
mean/std normalisation (the authors' choice: a GAF image is not a natural image). Any S >= 32 works
(the trunk ends in adaptive average pooling; at S = 32 ``layer4`` is 1 x 1).

Submodules (forward-hook names): ``trunk`` (torchvision ResNet with ``fc = Identity``; blocks
``trunk.layer1`` .. ``trunk.layer4``, pooled ``trunk.avgpool``), ``fc0``, ``act``, ``fc1``. ``fc0``'s
output is taken before the ReLU, which is not in-place, so a hook on ``fc0`` sees the raw embedding.

The watch-sized student ``arch="mobilenet_v3_small"`` (Howard et al., "Searching for MobileNetV3",
ICCV 2019; torchvision's implementation, about 1.5 M parameters against ResNet-18's 11.7 M) uses the
same head: ``trunk`` is torchvision's ``mobilenet_v3_small`` with ``classifier = Identity`` (its
pooled 576-d features; blocks ``trunk.features.0`` .. ``trunk.features.12``, pooled ``trunk.avgpool``),
then ``fc0 = Linear(576, 300)`` -> ReLU -> ``fc1``. It has no ``trunk.layer1..4``: the methods that
read ResNet stage maps (AT, FSP, FitNet, ...) refuse it with a ConfigError naming the missing module;
those on the embedding and logits (DASK, KD, RKD, ...) work unchanged.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from vskd.errors import ConfigError
from vskd.models.backbones import load_torchvision_weights

#: Trunks the student supports and their pooled feature dimension.
STUDENT_ARCHS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "mobilenet_v3_small": 576}

#: state_dict prefixes of each trunk's ImageNet classifier (dropped when loading pretrained weights)
_CLASSIFIER_PREFIX = {"mobilenet_v3_small": "classifier."}


class GAFStudent(nn.Module):
    """Trunk (ResNet or MobileNetV3-small) -> fc0 (embedding) -> ReLU -> fc1 (logits); see module docstring.

    ``pretrained``: a local torchvision state_dict file for ``arch`` (e.g. ``resnet18-f37072fd.pth``
    saved by torchvision); its ``fc.*`` entries (ImageNet classifier) are dropped, everything else
    loads strictly. Never downloaded. With ``in_channels != 3`` the first convolution is rebuilt for
    that many channels; pretrained RGB filters are then averaged over the RGB axis and repeated
    (TSN's cross-modality initialisation).
    """

    def __init__(self, num_classes: int, arch: str = "resnet18", embed_dim: int = 300, in_channels: int = 3,
                 pretrained: str | Path | None = None) -> None:
        super().__init__()
        if arch not in STUDENT_ARCHS:
            raise ConfigError(f"student arch '{arch}' is unknown (available: {', '.join(STUDENT_ARCHS)})")
        if num_classes < 1:
            raise ConfigError(f"num_classes must be >= 1, got {num_classes}")
        if in_channels < 1:
            raise ConfigError(f"in_channels must be >= 1, got {in_channels}")
        self.arch = arch
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.embed_dim = embed_dim
        self.feature_dim = STUDENT_ARCHS[arch]
        trunk = getattr(torchvision.models, arch)(weights=None)
        mobilenet = arch.startswith("mobilenet")
        if mobilenet:
            trunk.classifier = nn.Identity()
        else:
            trunk.fc = nn.Identity()
        self.load_notes: list[str] = []
        if pretrained is not None:
            self.load_notes = load_torchvision_weights(trunk, pretrained,
                                                       drop_prefixes=(_CLASSIFIER_PREFIX.get(arch, "fc."),))
        if in_channels != 3:
            owner, name = (trunk.features[0], "0") if mobilenet else (trunk, "conv1")
            old = getattr(owner, name)
            new = nn.Conv2d(in_channels, old.out_channels, kernel_size=old.kernel_size, stride=old.stride,
                            padding=old.padding, bias=False)
            if pretrained is not None:
                with torch.no_grad():
                    new.weight.copy_(old.weight.mean(dim=1, keepdim=True).expand_as(new.weight))
            setattr(owner, name, new)
        # BatchNorm statistics re-estimated with PyTorch's momentum 0.1: torchvision's MobileNetV3 uses
        # 0.01, which after a few hundred steps still holds its initial statistics, so the model was
        # at chance in eval mode on UTD-MHAD (12 epochs) while its training loss fell
        for m in trunk.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.momentum = 0.1
        self.trunk = trunk
        self.fc0 = nn.Linear(self.feature_dim, embed_dim)
        self.act = nn.ReLU()
        self.fc1 = nn.Linear(embed_dim, num_classes)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, S, S) in [0, 1] -> logits (B, num_classes)."""
        if image.ndim != 4 or image.shape[1] != self.in_channels:
            raise ConfigError(f"GAFStudent expects images (B, {self.in_channels}, S, S), got {tuple(image.shape)}")
        return self.fc1(self.act(self.fc0(self.trunk(image))))
