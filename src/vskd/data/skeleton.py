"""Preparing Kinect skeletons for the skeleton teacher (:class:`vskd.models.skeleton.SkeletonTeacher`).

Preparing a sequence (:func:`prepare_skeleton`), skel (J, 3, T) as the reader returns it ->
(L, J, 3) float32:

1. centre: subtract the hip centre (joint 4 of ``Skeleton_joint_order.txt``, index 3), averaged over
   the sequence, so the body sits at the origin while its own motion (a lunge, sitting down) remains;
2. scale: divide by the body size s = mean over frames of |shoulder_centre - hip_centre| (the spine,
   about 0.4 m for an adult), so subjects of different height and distance share one scale;
3. resample linearly in time to L frames (sample points linspace(0, T - 1, L)); the network then
   sees a fixed length whatever the duration (UTD-MHAD actions last 1.4..4.2 s).

``span=(a, b)`` resamples only the fraction [a, b] of the sequence (a random temporal crop in training,
:func:`random_span`); centre and scale are always taken over the whole sequence.

Kinect axes: x to the subject's left as seen by the camera, y up (the vertical axis), z away from the
camera; :func:`augment_skeleton` rotates about y, scales, shears and jitters, for training.

Input channels (:func:`skeleton_features`, computed by the teachers from the prepared (B, L, J, 3)
joints, so checkpoints and views stay the same whatever the channels): ``joints`` (positions),
``velocity`` (first differences x_t - x_{t-1}, x_0 := 0) and ``bones`` (x_j - x_parent(j) along the
Kinect v1 tree :data:`KINECT_V1_PARENTS`, the root's bone 0: the "second stream" of 2s-AGCN, Shi et
al., CVPR 2019).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from vskd.errors import ConfigError, DataError

__all__ = [
    "DEFAULT_FEATURES",
    "DEFAULT_LENGTH",
    "HEAD",
    "HIP_CENTER",
    "KINECT_V1_EDGES",
    "KINECT_V1_PARENTS",
    "SHOULDER_CENTER",
    "SKELETON_FEATURES",
    "SPINE",
    "VERTICAL_AXIS",
    "augment_skeleton",
    "prepare_skeleton",
    "random_span",
    "rotation_about_vertical",
    "skeleton_features",
]

#: Indices (0-based) in the UTD-MHAD / Kinect v1 joint order (``Skeleton/Skeleton_joint_order.txt``).
HEAD, SHOULDER_CENTER, SPINE, HIP_CENTER = 0, 1, 2, 3
#: The vertical axis of Kinect coordinates (y up).
VERTICAL_AXIS = 1
DEFAULT_LENGTH = 32

#: Parent of each joint in the Kinect v1 tree (UTD-MHAD order; the hip centre, index 3, is the root):
#: head - shoulder centre - spine - hip centre; shoulders hang from the shoulder centre, hips from the
#: hip centre; each limb is shoulder/hip - elbow/knee - wrist/ankle - hand/foot.
KINECT_V1_PARENTS: tuple[int, ...] = (1, 2, 3, 3, 1, 4, 5, 6, 1, 8, 9, 10, 3, 12, 13, 14, 3, 16, 17, 18)
#: The 19 bones (child, parent) of that tree: the edges of the skeleton graph.
KINECT_V1_EDGES: tuple[tuple[int, int], ...] = tuple((j, p) for j, p in enumerate(KINECT_V1_PARENTS) if j != p)
#: Input channel groups a skeleton teacher can read (3 channels each), and the default (positions and
#: velocities: what the first skeleton teacher was trained on).
SKELETON_FEATURES = ("joints", "velocity", "bones")
DEFAULT_FEATURES = ("joints", "velocity")


def prepare_skeleton(skel: np.ndarray, length: int = DEFAULT_LENGTH, centre_joint: int = HIP_CENTER,
                     scale_joints: tuple[int, int] = (SHOULDER_CENTER, HIP_CENTER),
                     span: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Kinect joints (J, 3, T) -> centred, scaled, time-resampled (length, J, 3) float32 (module docstring).

    Centre: ``skel[centre_joint]`` averaged over the frames. Scale: the mean over frames of the distance
    between the two ``scale_joints`` (shoulder centre and hip centre: the spine). Time: linear
    interpolation at ``linspace(a (T - 1), b (T - 1), length)`` for ``span = (a, b)`` (default the whole
    sequence; a single frame is repeated).

    Raises:
        DataError: not a finite (J, 3, T) array with T >= 1, or a zero body size.
        ConfigError: ``length < 2``, a joint index out of range or ``span`` not 0 <= a < b <= 1.
    """
    arr = np.asarray(skel, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1] != 3 or arr.shape[2] < 1:
        raise DataError(f"skeleton must have shape (J, 3, T) with T >= 1, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise DataError("skeleton has non-finite coordinates")
    if length < 2:
        raise ConfigError(f"skeleton length must be >= 2 frames, got {length}")
    a, b = (float(v) for v in span)
    if not 0.0 <= a < b <= 1.0:
        raise ConfigError(f"skeleton span must satisfy 0 <= start < end <= 1, got {span}")
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
    pos = np.clip(np.linspace(a * (t - 1), b * (t - 1), length), 0.0, t - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, t - 1)
    w = (pos - lo)[:, None, None]
    return ((1.0 - w) * x[lo] + w * x[hi]).astype(np.float32)


def rotation_about_vertical(angle_rad: float) -> np.ndarray:
    """3x3 rotation by ``angle_rad`` about Kinect's y (vertical) axis: x' = c x + s z, z' = -s x + c z."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def random_span(rng: np.random.Generator, min_fraction: float) -> tuple[float, float]:
    """A random temporal crop for :func:`prepare_skeleton`'s ``span``: a kept fraction uniform in
    [``min_fraction``, 1] at a uniform position; (0, 1) without a draw when ``min_fraction >= 1``.
    Resampling the crop to the fixed length also changes the apparent speed (up to 1 / min_fraction)."""
    if min_fraction >= 1.0:
        return 0.0, 1.0
    if not 0.0 < min_fraction:
        raise ConfigError(f"skeleton crop fraction must be in (0, 1], got {min_fraction}")
    keep = rng.uniform(min_fraction, 1.0)
    start = rng.uniform(0.0, 1.0 - keep)
    return start, min(1.0, start + keep)


def augment_skeleton(x: np.ndarray, rng: np.random.Generator, max_angle_deg: float = 30.0,
                     scale_range: tuple[float, float] = (0.9, 1.1), shear: float = 0.0,
                     jitter: float = 0.0) -> np.ndarray:
    """Training augmentation of a prepared (L, J, 3) sequence, drawn from ``rng``; a new float32 array.

    * a random rotation about the vertical axis, uniform in +-``max_angle_deg`` (viewpoint change);
    * a random global scale, uniform in ``scale_range`` (body size);
    * ``shear > 0``: a random shear, x' = S x with S = I + off-diagonal entries uniform in +-``shear``
      (the shear augmentation of skeleton contrastive learning, Rao et al., Inf. Sci. 2021: a slanted
      view and body proportions);
    * ``jitter > 0``: Gaussian noise of std ``jitter`` (body-size units) on every coordinate (Kinect's
      per-frame joint noise).

    The rotation and scale are drawn first, so streams without shear and jitter are those of the first
    skeleton teacher.
    """
    angle = np.deg2rad(rng.uniform(-max_angle_deg, max_angle_deg))
    scale = rng.uniform(*scale_range)
    m = scale * rotation_about_vertical(angle)
    if shear > 0:
        s = np.eye(3) + rng.uniform(-shear, shear, size=(3, 3)) * (1.0 - np.eye(3))
        m = s @ m
    out = np.asarray(x, dtype=np.float64) @ m.T
    if jitter > 0:
        out = out + rng.normal(0.0, jitter, size=out.shape)
    return out.astype(np.float32)


def skeleton_features(x: torch.Tensor, features: Sequence[str] = DEFAULT_FEATURES,
                      parents: Sequence[int] = KINECT_V1_PARENTS) -> torch.Tensor:
    """The input channels of a skeleton teacher: x (B, L, J, 3) prepared joints -> (B, L, J, 3 * len(features)),
    the groups concatenated in the order given (module docstring): ``joints`` x, ``velocity``
    x_t - x_{t-1} (x_0 := 0), ``bones`` x_j - x_parent(j) (0 for the root). Differentiable, pure torch.

    Raises:
        ConfigError: an unknown or repeated group, none at all, or ``bones`` with ``parents`` of another
            length than J.
    """
    names = tuple(features)
    if not names or len(set(names)) != len(names) or any(n not in SKELETON_FEATURES for n in names):
        raise ConfigError(f"skeleton features must be distinct names among {', '.join(SKELETON_FEATURES)}, "
                          f"got {list(names)}")
    out = []
    for name in names:
        if name == "joints":
            out.append(x)
        elif name == "velocity":
            out.append(torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1))
        else:
            if len(parents) != x.shape[2]:
                raise ConfigError(f"skeleton bones need a parent per joint: {len(parents)} parents for "
                                  f"{x.shape[2]} joints")
            out.append(x - x[:, :, list(parents)])
    return torch.cat(out, dim=-1)
