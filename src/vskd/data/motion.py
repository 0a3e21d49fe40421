"""Motion-aware teacher inputs: frame differences and depth motion maps (DMM).

Both give the video teacher's per-frame backbone, which sees one frame at a time, a picture of the
motion around it; the TRN head still reasons over the ``K`` segments in order.

**Frame differences** (``teacher.input.motion: diff``, :func:`difference_frames`). For each sampled
frame ``I_t`` (grey: the depth image, or an RGB frame's luminance ``0.299 R + 0.587 G + 0.114 B``)
the backbone's three input channels are

    (I_t,  |I_t - I_{t-1}|,  |I_{t+1} - I_t|)

with the neighbours clamped at the clip's ends; the appearance and the backward and forward motion
at that instant. Computed per item from the cached frames (nothing new to cache).

**Depth motion maps** (``teacher.input.motion: dmm``, :func:`depth_motion_maps`). Yang, Zhang and
Tian (ACM MM 2012) and Chen, Liu and Kehtarnavaz ("Real-time human action recognition based on depth
motion maps", J. Real-Time Image Proc. 2016; Chen, Jafari and Kehtarnavaz, WACV 2015, with LBP
features) project each depth frame onto three orthogonal planes and accumulate the absolute
differences of consecutive projections:

    DMM_v = sum_{t} |map_v^{t+1} - map_v^t|,   v in {front, side, top}.

Here, for a depth image ``D_t`` (the clip's 8-bit depth, 0 = no reading, 1..255 = near..far or
far..near) and ``B`` depth bins ``b(d) = floor((d - 1) B / 255)``:

* front ``map_f^t(y, x) = D_t(y, x) / 255`` (the depth image itself);
* side ``map_s^t(y, b) = 1`` when some pixel of row ``y`` has depth bin ``b`` (the occupancy of the
  ``y``-``z`` plane), else 0;
* top ``map_t^t(b, x) = 1`` when some pixel of column ``x`` has depth bin ``b`` (the ``z``-``x`` plane).

``B = 16`` by default: Kinect v1 quantises depth coarsely (about 35 distinct values over a body at
2.3-3.0 m in UTD-MHAD, 26 levels after the 8-bit mapping), so 32 or more bins leave empty bins and the
side and top maps turn into stripes.

To keep the TRN's temporal reasoning the sum runs per TSN segment rather than over the whole video:
segment ``k`` (frames ``[b_k, b_{k+1})``, :func:`vskd.data.frames.segment_bounds`) accumulates the
transitions ``t -> t + 1`` with ``b_k <= t < b_{k+1}`` and ``t + 1 < N``. Each of the three maps is
resized to ``size x size`` and they become the three channels (front, side, top) of the segment's
image; each view is divided by its maximum over the clip's ``K`` segments (so segments compare, and
a still segment is dark), then stored as uint8. So the teacher input is ``K`` 3-channel images, the
shape the TRN already consumes; ``K = 1`` is the classic whole-clip DMM (as 3 channels of one image).
The maps are computed once at full resolution (after the person crop, when one is set) and cached
with the decoded clip.
"""

from __future__ import annotations

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF

from vskd.errors import ConfigError, DataError

__all__ = ["MOTIONS", "depth_motion_maps", "difference_frames"]

#: the values of ``teacher.input.motion``
MOTIONS = ("none", "diff", "dmm")


def _grey(frames: torch.Tensor) -> torch.Tensor:
    """uint8 ``(T, C, H, W)`` -> float32 ``(T, 1, H, W)`` grey in [0, 255] (C = 1 as is, C = 3 luminance)."""
    x = frames.to(torch.float32)
    if x.shape[1] == 1:
        return x
    if x.shape[1] == 3:
        w = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float32).view(1, 3, 1, 1)
        return (x * w).sum(dim=1, keepdim=True)
    raise DataError(f"frames must have 1 or 3 channels, got {x.shape[1]}")


def difference_frames(frames: np.ndarray | torch.Tensor, indices: np.ndarray) -> torch.Tensor:
    """uint8 ``(K, 3, H, W)``: ``(I_t, |I_t - I_{t-1}|, |I_{t+1} - I_t|)`` for each ``t`` in ``indices``
    of the uint8 clip ``frames`` ``(T, C, H, W)`` (neighbours clamped to ``0..T-1``)."""
    f = torch.as_tensor(frames)
    if f.ndim != 4 or f.dtype != torch.uint8:
        raise DataError(f"frames must be uint8 (T, C, H, W), got {tuple(f.shape)} {f.dtype}")
    n = int(f.shape[0])
    idx = np.asarray(indices, dtype=np.int64)
    prev, nxt = np.clip(idx - 1, 0, n - 1), np.clip(idx + 1, 0, n - 1)
    cur_g, prev_g, next_g = (_grey(f[torch.from_numpy(i)]) for i in (idx, prev, nxt))
    out = torch.cat([cur_g, (cur_g - prev_g).abs(), (next_g - cur_g).abs()], dim=1)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def depth_motion_maps(depth: np.ndarray | torch.Tensor, num_segments: int, size: int, bins: int = 16) -> np.ndarray:
    """Per-segment depth motion maps (front, side, top) of an 8-bit depth clip: uint8 ``(K, 3, size, size)``.

    Args:
        depth: uint8 ``(T, H, W)`` or ``(T, 1, H, W)`` (0 = no reading), e.g. the clip's person crop.
        num_segments: ``K`` (the TSN segments the sums run over).
        size: side of each output map.
        bins: ``B``, depth bins of the side and top projections.
    """
    from vskd.data.frames import segment_bounds

    d = torch.as_tensor(depth)
    if d.ndim == 4 and d.shape[1] == 1:
        d = d[:, 0]
    if d.ndim != 3 or d.dtype != torch.uint8:
        raise DataError(f"depth motion maps need an 8-bit depth clip (T, H, W), got {tuple(d.shape)} {d.dtype}")
    if not 2 <= bins <= 255:
        raise ConfigError(f"teacher.input.dmm_bins: expected an integer in [2, 255], got {bins}")
    a = d.numpy()
    n, h, w = a.shape
    # projections of every frame: front (T, H, W) float, side (T, H, B) and top (T, B, W) occupancy
    front = a.astype(np.float32) / 255.0
    side = np.zeros((n, h, bins), np.float32)
    top = np.zeros((n, bins, w), np.float32)
    t, y, x = np.nonzero(a)
    b = (a[t, y, x].astype(np.int64) - 1) * bins // 255
    side[t, y, b] = 1.0
    top[t, b, x] = 1.0
    lo, hi = segment_bounds(n, num_segments)
    views = []
    for proj in (front, side, top):
        diff = np.abs(np.diff(proj, axis=0)) if n > 1 else np.zeros((0,) + proj.shape[1:], np.float32)
        # cumulative sums over transitions: segment k sums transitions lo_k .. min(hi_k, n - 1) - 1
        cum = np.concatenate([np.zeros((1,) + proj.shape[1:], np.float32), np.cumsum(diff, axis=0)])
        seg = np.stack([cum[min(e, n - 1)] - cum[min(s, n - 1)] for s, e in zip(lo, hi)])
        img = TF.resize(torch.from_numpy(seg).unsqueeze(1), [int(size), int(size)], antialias=True)[:, 0]
        views.append(img.clamp_(min=0.0))
    out = torch.stack(views, dim=1)  # (K, 3, size, size)
    peak = out.amax(dim=(0, 2, 3), keepdim=True).clamp_(min=1e-12)
    return (out / peak * 255.0).round_().clamp_(0, 255).to(torch.uint8).numpy()
