"""A skeleton teacher: a small temporal convolutional network on the Kinect joints.

A second, cheap vision-derived teacher for VSKD: the 3-D joint positions that the Kinect computes from
its depth video (UTD-MHAD: 20 joints, 30 fps, T = 41..125 frames) carry the same body motion as the
video the TRN teacher sees, at a tiny fraction of the cost (no CNN over frames).

G is the number of input channel groups (``features``, :func:`vskd.data.skeleton.skeleton_features`;
default joints and velocities, G = 2). The sequences it reads are prepared by :func:`vskd.data.skeleton.prepare_skeleton` (centred on the hip,
scaled by the spine, resampled to L frames; the data layer owns that, the names are re-exported here).

Network (:class:`SkeletonTeacher`), input (B, L, J, 3):

=============  ===========================================================  ====================
module         what it does                                                 output
=============  ===========================================================  ====================
(features)     positions, velocities x_t - x_{t-1} (x_0: 0) [, bones]         (B, G*J*3, L)
``input_bn``   BatchNorm1d over the G*J*3 channels (ST-GCN's data BN)       (B, G*J*3, L)
``tcn.0``      Conv1d k5, BN, ReLU                                          (B, hidden, L)
``tcn.1``      Conv1d k5 stride 2, BN, ReLU                                 (B, 2*hidden, L/2)
``tcn.2``      Conv1d k3 stride 2, BN, ReLU                                 (B, 2*hidden, L/4)
``pool``       mean over time                                               (B, 2*hidden)
``dropout``    p = 0.5                                                      (B, 2*hidden)
``fc0``        Linear(2*hidden, 300), no activation                         (B, 300)
``embedding``  identity on fc0: the clip embedding (DASK's teacher side)    (B, 300)
``act``        ReLU                                                         (B, 300)
``fc1``        Linear(300, C)                                               (B, C) logits
=============  ===========================================================  ====================

As on :class:`~vskd.models.trn.VideoTeacher`, the module named ``embedding`` outputs the (B, 300) clip
embedding (taken before any activation) and ``""`` / ``fc1`` the logits, so distillers hook both
teachers by the same names.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

# the teacher's input preparation lives in the data layer; re-exported for callers of this module
from vskd.data.skeleton import (  # noqa: F401
    DEFAULT_FEATURES,
    DEFAULT_LENGTH,
    HEAD,
    HIP_CENTER,
    SHOULDER_CENTER,
    SPINE,
    VERTICAL_AXIS,
    augment_skeleton,
    prepare_skeleton,
    rotation_about_vertical,
    skeleton_features,
)
from vskd.errors import ConfigError

def _conv_bn_relu(in_ch: int, out_ch: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict(
        conv=nn.Conv1d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=False),
        bn=nn.BatchNorm1d(out_ch),
        relu=nn.ReLU(),
    ))


class SkeletonTeacher(nn.Module):
    """Temporal CNN teacher on joint sequences (module docstring).

    ``forward(x)``: x (B, L, J, 3) prepared joints (:func:`prepare_skeleton`) -> logits (B, C). Any
    L >= 4 works (the two stride-2 layers); the network is trained at one fixed L.

    Args:
        num_classes: C.
        num_joints: J (20 for Kinect v1).
        embed_dim: width of ``fc0`` / ``embedding`` (300, the teacher embedding DASK uses).
        hidden: channels of ``tcn.0`` (the later layers have 2 * hidden).
        dropout: before ``fc0``.
        motion: also feed the velocities x_t - x_{t-1} (doubles the input channels); ignored when
            ``features`` is given.
        features: the input channel groups (``joints``, ``velocity``, ``bones``), group-major along
            the channels (the first teacher's order: all positions, then all velocities).
    """

    arch = "skeleton"
    #: feature name -> module path (:func:`vskd.models.features.teacher_taps`): the pooled feature and
    #: the 1-D maps of the temporal convolutions
    TAPS = {"pooled": "pool", "block1": "tcn.0", "block2": "tcn.1", "block3": "tcn.2"}

    def __init__(self, num_classes: int, num_joints: int = 20, embed_dim: int = 300, hidden: int = 128,
                 dropout: float = 0.5, motion: bool = True, features: tuple[str, ...] | None = None) -> None:
        super().__init__()
        if num_classes < 1:
            raise ConfigError(f"num_classes must be >= 1, got {num_classes}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
        if hidden < 1 or embed_dim < 1 or num_joints < 1:
            raise ConfigError(f"hidden, embed_dim and num_joints must be >= 1, got {hidden}, {embed_dim}, {num_joints}")
        self.num_classes = num_classes
        self.num_joints = num_joints
        self.embed_dim = embed_dim
        if features is None:
            features = DEFAULT_FEATURES if motion else ("joints",)
        self.features = tuple(features)
        skeleton_features(torch.zeros(1, 2, num_joints, 3), self.features)  # one ConfigError for bad names
        self.motion = "velocity" in self.features
        in_ch = num_joints * 3 * len(self.features)
        self.input_bn = nn.BatchNorm1d(in_ch)
        self.tcn = nn.Sequential(
            _conv_bn_relu(in_ch, hidden, 5, 1),
            _conv_bn_relu(hidden, 2 * hidden, 5, 2),
            _conv_bn_relu(2 * hidden, 2 * hidden, 3, 2),
        )
        self.feature_dim = 2 * hidden
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc0 = nn.Linear(self.feature_dim, embed_dim)
        self.embedding = nn.Identity()
        self.act = nn.ReLU()
        self.fc1 = nn.Linear(embed_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[2] != self.num_joints or x.shape[3] != 3 or x.shape[1] < 4:
            raise ConfigError(f"SkeletonTeacher expects joints (B, L >= 4, {self.num_joints}, 3), got {tuple(x.shape)}")
        b, length, j, _ = x.shape
        feats = skeleton_features(x, self.features).reshape(b, length, j, len(self.features), 3)
        seq = feats.transpose(2, 3).flatten(2)  # (B, L, G*J*3), group-major
        h = self.tcn(self.input_bn(seq.transpose(1, 2)))
        z = self.embedding(self.fc0(self.dropout(self.pool(h).flatten(1))))
        return self.fc1(self.act(z))
