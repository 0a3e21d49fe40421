"""Person-centred crops of a video clip: one square box per clip, computed at full resolution.

A UTD-MHAD depth frame is 240 x 320 px with the subject in roughly 170 x 100 px of it; resized as a
whole to a 36 px working size, the person keeps about 25 x 15 px. Cropping every frame of the clip to
the person's box *before* the resize spends the teacher's pixels on the person (the same 36 px then
hold about 30 x 18 px of person, and a 224 px frame holds the person at native resolution).

One box is used for the whole clip (the union of where the person is over time, so motion stays
visible as displacement within a fixed frame). Boxes are ``(y0, x0, y1, x1)`` in pixels of the
full-resolution frame, ends exclusive.

**Depth foreground** (:func:`foreground_box`). The depth video's background is already removed
(pixels without a reading, or beyond the subject, are 0), so the person is where the depth is
non-zero. Let ``m_t(y, x) = 1[D_t(y, x) > 0]`` and the clip's row and column marginals

    r(y) = sum_t sum_x m_t(y, x),    c(x) = sum_t sum_y m_t(y, x).

Isolated noise pixels (a stray reading far from the body) would stretch a plain min/max box, so the
rows kept are the smallest range ``[y0, y1)`` leaving at most a fraction ``trim`` of the clip's
foreground pixel-frames ``M = sum_y r(y)`` above it and at most ``trim`` below it (the ``trim`` and
``1 - trim`` quantiles of ``r``); columns likewise from ``c``. So at most ``4 trim`` of the foreground
lies outside the tight box (0.8 % at the default ``trim = 0.002``), and the margin added next
recovers most of that.

**Square with a margin** (:func:`square_box`). The tight box of height ``h`` and width ``w`` becomes
a square of side ``s = min(ceil(max(h, w) (1 + 2 margin)), H, W)`` with the same centre, then shifted
(not shrunk) to lie inside the ``H x W`` frame: no invented pixels, the person stays whole, and the
box is square whenever ``s <= min(H, W)`` (always, by the ``min``).

**Skeleton box** (:func:`skeleton_box`, for videos without a clean foreground, e.g. RGB). Kinect
joints ``(X, Y, Z)`` in metres (camera space, ``Y`` up) project to pixels by the pinhole model

    u = c_x + f_x X / Z,    v = c_y - f_y Y / Z,

whose intrinsics ``(f_x, f_y, c_x, c_y)`` (pixels of the frame the box is for) are not in UTD-MHAD's
skeleton files (they hold only the 3-D coordinates): the user gives them
(``teacher.input.camera``); without them the projection is impossible and the caller falls back to the
full frame with a warning. The box is the joints' min/max over the clip, then :func:`square_box`.
For UTD-MHAD's depth frames the Kinect v1 depth camera's nominal intrinsics at 320 x 240
(``KINECT_V1_DEPTH_320``) put the projected skeleton on the depth silhouette (tested).

:func:`crop_to_box` cuts the box out of ``(T, C, H, W)`` frames and resizes it to ``size x size``
(bilinear, antialiased). These functions are pure: the decoded-clip stage (:mod:`vskd.data.frames`)
and the frozen-backbone feature cache call the same ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF

from vskd.errors import ConfigError, DataError

__all__ = [
    "KINECT_V1_DEPTH_320",
    "Box",
    "check_box",
    "crop_to_box",
    "foreground_box",
    "project_joints",
    "skeleton_box",
    "square_box",
]

Box = tuple[int, int, int, int]

#: nominal intrinsics (f_x, f_y, c_x, c_y) of the Kinect v1 depth camera at 320 x 240 px (half of the
#: 640 x 480 values ~ (594, 591, 320, 240) commonly used without per-device calibration)
KINECT_V1_DEPTH_320: tuple[float, float, float, float] = (297.0, 295.5, 160.0, 120.0)


def square_box(y0: float, x0: float, y1: float, x1: float, height: int, width: int, margin: float = 0.1) -> Box:
    """The square of side ``min(ceil(max(h, w) (1 + 2 margin)), height, width)`` centred on the box
    ``(y0, x0, y1, x1)`` (ends exclusive), shifted to lie inside a ``height x width`` frame."""
    if margin < 0:
        raise ConfigError(f"crop margin must be >= 0, got {margin}")
    h, w = max(y1 - y0, 1.0), max(x1 - x0, 1.0)
    side = int(min(math.ceil(max(h, w) * (1.0 + 2.0 * margin)), height, width))
    cy, cx = (y0 + y1) / 2.0, (x0 + x1) / 2.0
    top = int(round(cy - side / 2.0))
    left = int(round(cx - side / 2.0))
    top = min(max(top, 0), height - side)
    left = min(max(left, 0), width - side)
    return top, left, top + side, left + side


def _quantile_range(counts: np.ndarray, trim: float) -> tuple[int, int]:
    """Smallest ``[lo, hi)`` with at most ``trim`` of ``counts``' mass before ``lo`` and after ``hi``."""
    cum = np.cumsum(counts, dtype=np.float64)
    total = cum[-1]
    lo = int(np.searchsorted(cum, trim * total, side="right"))
    hi = int(np.searchsorted(cum, (1.0 - trim) * total, side="left")) + 1
    return lo, max(hi, lo + 1)


def foreground_box(clip: np.ndarray | torch.Tensor, trim: float = 0.002, margin: float = 0.1,
                   name: str = "clip") -> Box:
    """The square person box ``(y0, x0, y1, x1)`` of a clip whose background is 0 (see the module docstring).

    Args:
        clip: depth ``(T, H, W)`` (any numeric dtype, 0 = no reading) or frames ``(T, C, H, W)``
            (a pixel is foreground when any channel is non-zero).
        trim: fraction of the foreground pixel-frames ignored on each side (noise), in [0, 0.25).
        margin: padding on each side, as a fraction of the tight box's longer side.
        name: what the error message calls the clip (e.g. the recording and its file).

    Raises:
        DataError: the clip has no foreground at all (every pixel 0), naming ``name``.
    """
    x = clip.numpy() if isinstance(clip, torch.Tensor) else np.asarray(clip)
    if x.ndim == 4:
        mask = (x != 0).any(axis=1)
    elif x.ndim == 3:
        mask = x != 0
    else:
        raise DataError(f"{name}: a clip for a foreground box must be (T, H, W) or (T, C, H, W), got shape {x.shape}")
    if not 0.0 <= trim < 0.25:
        raise ConfigError(f"crop trim must be in [0, 0.25), got {trim}")
    rows = mask.sum(axis=(0, 2))
    cols = mask.sum(axis=(0, 1))
    if rows.sum() == 0:
        raise DataError(f"{name}: no foreground to crop to (every depth pixel of all {x.shape[0]} frames is 0)")
    y0, y1 = _quantile_range(rows, trim)
    x0, x1 = _quantile_range(cols, trim)
    return square_box(y0, x0, y1, x1, mask.shape[1], mask.shape[2], margin)


def project_joints(joints: np.ndarray, camera: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates ``(u, v)`` (each ``(J, T)``) of Kinect joints ``(J, 3, T)`` (metres, ``Y`` up)
    through the pinhole ``camera = (f_x, f_y, c_x, c_y)``; joints with ``Z <= 0`` (not tracked) are NaN."""
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[1] != 3:
        raise DataError(f"skeleton must be (J, 3, T), got shape {j.shape}")
    fx, fy, cx, cy = (float(v) for v in camera)
    X, Y, Z = j[:, 0], j[:, 1], j[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = np.isfinite(Z) & (Z > 0)
        u = np.where(ok, cx + fx * X / np.where(ok, Z, 1.0), np.nan)
        v = np.where(ok, cy - fy * Y / np.where(ok, Z, 1.0), np.nan)
    return u, v


def skeleton_box(joints: np.ndarray, camera: Sequence[float], height: int, width: int, margin: float = 0.1,
                 name: str = "skeleton") -> Box:
    """The square box of the projected joints over the whole clip (see the module docstring).

    Raises:
        DataError: no joint projects in front of the camera, or all project outside the frame.
    """
    u, v = project_joints(joints, camera)
    ok = np.isfinite(u) & np.isfinite(v)
    if not ok.any():
        raise DataError(f"{name}: no joint in front of the camera (Z <= 0 everywhere); cannot place a skeleton box")
    x0, x1 = float(np.clip(u[ok].min(), 0, width)), float(np.clip(u[ok].max() + 1, 0, width))
    y0, y1 = float(np.clip(v[ok].min(), 0, height)), float(np.clip(v[ok].max() + 1, 0, height))
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise DataError(f"{name}: the projected skeleton lies outside the {height} x {width} frame "
                        f"(check teacher.input.camera = f_x, f_y, c_x, c_y in pixels of that frame)")
    return square_box(y0, x0, y1, x1, height, width, margin)


def check_box(box: Sequence[int], height: int, width: int, name: str = "crop_box") -> Box:
    """A user's box ``(y0, x0, y1, x1)`` clamped to a ``height x width`` frame; ConfigError if it is empty there."""
    if len(box) != 4:
        raise ConfigError(f"{name}: expected 4 integers y0, x0, y1, x1 (pixels of the full frame), got {list(box)}")
    y0, x0, y1, x1 = (int(v) for v in box)
    y0, y1 = max(y0, 0), min(y1, height)
    x0, x1 = max(x0, 0), min(x1, width)
    if y1 <= y0 or x1 <= x0:
        raise ConfigError(f"{name}: the box {list(box)} holds no pixel of the {height} x {width} frame "
                          f"(expected y0 < y1, x0 < x1 inside it)")
    return y0, x0, y1, x1


def crop_to_box(frames: np.ndarray | torch.Tensor, box: Sequence[int], size: int) -> torch.Tensor:
    """Frames ``(T, C, H, W)`` cut to ``box = (y0, x0, y1, x1)`` and resized to ``(T, C, size, size)``
    (bilinear, antialiased; uint8 stays uint8). A non-square box is stretched to the square."""
    t = torch.as_tensor(frames)
    if t.ndim != 4:
        raise DataError(f"crop_to_box expects frames (T, C, H, W), got shape {tuple(t.shape)}")
    y0, x0, y1, x1 = check_box(box, int(t.shape[-2]), int(t.shape[-1]), "crop box")
    if size < 1:
        raise ConfigError(f"crop size must be >= 1, got {size}")
    return TF.resized_crop(t, y0, x0, y1 - y0, x1 - x0, [int(size), int(size)], antialias=True)
