"""Preparing Kinect skeletons for the skeleton teacher (:class:`vskd.models.skeleton.SkeletonTeacher`).

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
"""

from __future__ import annotations

import numpy as np

from vskd.errors import ConfigError, DataError

__all__ = [
    "DEFAULT_LENGTH",
    "HEAD",
    "HIP_CENTER",
    "SHOULDER_CENTER",
    "SPINE",
    "VERTICAL_AXIS",
    "augment_skeleton",
    "prepare_skeleton",
    "rotation_about_vertical",
]

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
