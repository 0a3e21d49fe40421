"""A skeleton teacher: a small temporal convolutional network on the Kinect joints.

A second, cheap vision-derived teacher for VSKD: the 3-D joint positions that the Kinect computes from
its depth video (UTD-MHAD: 20 joints, 30 fps, T = 41..125 frames) carry the same body motion as the
video the TRN teacher sees, at a tiny fraction of the cost (no CNN over frames).

Preparing a sequence (:func:`prepare_skeleton`), skel (J, 3, T) as the reader returns it ->
(L, J, 3) float32:

1. centre: subtract the hip centre (joint 4 of ``Skeleton_joint_order.txt``, index 3), averaged over
   the sequence, so the body sits at the origin while its own motion (a lunge, sitting down) remains;
2. scale: divide by the body size s = mean over frames of |shoulder_centre - hip_centre| (the spine,
   about 0.4 m for an adult), so subjects of different height and distance share one scale;
3. resample linearly in time to L frames (sample points linspace(0, T - 1, L)); the network then
   sees a fixed length whatever the duration (UTD-MHAD actions last 1.4..4.2 s).

Kinect axes: x to the subject's left as seen by the camera, y up (the vertical axis), z away from the
camera; :func:`augment_skeleton` rotates about y and scales, for training.

Network (:class:`SkeletonTeacher`), input (B, L, J, 3):

=============  ===========================================================  ====================
module         what it does                                                 output
=============  ===========================================================  ====================
(motion)       concatenate positions and velocities x_t - x_{t-1} (x_0: 0)    (B, 2*J*3, L)
``input_bn``   BatchNorm1d over the J*3 (x2) channels (ST-GCN's data BN)      (B, 2*J*3, L)
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

import numpy as np
import torch
from torch import nn

from vskd.errors import ConfigError, DataError

#: Indices (0-based) in the UTD-MHAD / Kinect v1 joint order (``Skeleton/Skeleton_joint_order.txt``).
HEAD, SHOULDER_CENTER, SPINE, HIP_CENTER = 0, 1, 2, 3
#: The vertical axis of Kinect coordinates (y up).
VERTICAL_AXIS = 1
DEFAULT_LENGTH = 32


def prepare_skeleton(skel: np.ndarray, length: int = DEFAULT_LENGTH, centre_joint: int = HIP_CENTER,
                     scale_joints: tuple[int, int] = (SHOULDER_CENTER, HIP_CENTER)) -> np.ndarray:
    """Kinect joints (J, 3, T) -> centred, scaled, time-resampled (length, J, 3) float32 (module docstring).

    Centre: ``skel[centre_joint]`` averaged over the frames. Scale: the mean over frames of the distance
    between the two ``scale_joints`` (shoulder centre and hip centre: the spine). Time: linear
    interpolation at ``linspace(0, T - 1, length)`` (a single frame is repeated).

    Raises:
        DataError: not a finite (J, 3, T) array with T >= 1, or a zero body size.
        ConfigError: ``length < 2`` or a joint index out of range.
    """
    arr = np.asarray(skel, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1] != 3 or arr.shape[2] < 1:
        raise DataError(f"skeleton must have shape (J, 3, T) with T >= 1, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise DataError("skeleton has non-finite coordinates")
    if length < 2:
        raise ConfigError(f"skeleton length must be >= 2 frames, got {length}")
    j = arr.shape[0]
    if not all(0 <= i < j for i in (centre_joint, *scale_joints)):
        raise ConfigError(f"joint indices {(centre_joint, *scale_joints)} out of range for {j} joints")
    x = np.transpose(arr, (2, 0, 1))  # (T, J, 3)
    x = x - x[:, centre_joint].mean(axis=0)
    size = np.linalg.norm(x[:, scale_joints[0]] - x[:, scale_joints[1]], axis=-1).mean()
    if not size > 1e-6:
        raise DataError(f"skeleton body size (|joint {scale_joints[0]} - joint {scale_joints[1]}|) is zero")
    x = x / size
    t = x.shape[0]
    pos = np.linspace(0.0, t - 1, length)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, t - 1)
    w = (pos - lo)[:, None, None]
    return ((1.0 - w) * x[lo] + w * x[hi]).astype(np.float32)


def rotation_about_vertical(angle_rad: float) -> np.ndarray:
    """3x3 rotation by ``angle_rad`` about Kinect's y (vertical) axis: x' = c x + s z, z' = -s x + c z."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def augment_skeleton(x: np.ndarray, rng: np.random.Generator, max_angle_deg: float = 30.0,
                     scale_range: tuple[float, float] = (0.9, 1.1)) -> np.ndarray:
    """Training augmentation of a prepared (L, J, 3) sequence: a random rotation about the vertical axis
    (uniform in +-``max_angle_deg``, viewpoint change) and a random global scale (uniform in
    ``scale_range``, body size); both drawn from ``rng``. Returns a new float32 array.
    """
    angle = np.deg2rad(rng.uniform(-max_angle_deg, max_angle_deg))
    scale = rng.uniform(*scale_range)
    return (scale * (np.asarray(x, dtype=np.float64) @ rotation_about_vertical(angle).T)).astype(np.float32)


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
        motion: also feed the velocities x_t - x_{t-1} (doubles the input channels).
    """

    def __init__(self, num_classes: int, num_joints: int = 20, embed_dim: int = 300, hidden: int = 128,
                 dropout: float = 0.5, motion: bool = True) -> None:
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
        self.motion = motion
        in_ch = num_joints * 3 * (2 if motion else 1)
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
        seq = x.flatten(2)  # (B, L, J*3)
        if self.motion:
            vel = torch.cat([torch.zeros_like(seq[:, :1]), seq[:, 1:] - seq[:, :-1]], dim=1)
            seq = torch.cat([seq, vel], dim=2)
        h = self.tcn(self.input_bn(seq.transpose(1, 2)))
        z = self.embedding(self.fc0(self.dropout(self.pool(h).flatten(1))))
        return self.fc1(self.act(z))
