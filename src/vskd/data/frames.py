"""TSN segment sampling and the frame transforms of the video teacher.

Temporal Segment Networks (Wang et al., ECCV 2016; the sampler the VSKD teacher inherits through
TRN, Zhou et al., ECCV 2018) split a video of ``N`` frames into ``K`` equal segments and take one
frame from each: a uniformly random frame of every segment when training, the centre frame of every
segment when evaluating. Segment ``k`` (``k = 0..K-1``) holds the frames ``[b_k, b_{k+1})`` with
``b_k = floor(k N / K)``, so the segments tile the whole video and differ in length by at most one
frame. A video shorter than ``K`` frames has empty segments; segment ``k`` then takes frame ``b_k``, so
the frames repeat in order (``N = 3, K = 8 -> 0 0 0 1 1 1 2 2``).

Frames go through two stages:

1. *decode* (:func:`decode_clip`, cached on disk by :mod:`vskd.data.cache`): every frame of the clip
   is turned into uint8 (depth through :func:`depth_to_uint8`, see :class:`DepthMapping`), cut to
   the person's square box at full resolution when ``ClipSpec.person_crop`` asks for it
   (:mod:`vskd.data.crops`; the frames are then ``frame_size x frame_size``), and resized so that its
   shorter side is ``ClipSpec.frame_size`` -> ``(T, C, h, w)`` uint8 with ``C = 1`` (depth) or ``3``
   (RGB); with ``ClipSpec.motion = "dmm"`` the stage returns the ``K`` per-segment depth motion maps
   instead, ``(K, 3, frame_size, frame_size)`` (:mod:`vskd.data.motion`);
2. *per item* (:func:`clip_transform`): the ``K`` sampled frames are converted to float32 in [0, 1],
   cropped — TSN's multi-scale crop (scales 1, .875, .75, .66 of the shorter side, at one of 13
   fixed corner/centre offsets, resized to ``crop_size``) plus a horizontal flip with probability
   1/2 when training, a centre ``crop_size`` crop when evaluating — and depth's single channel is
   repeated to RGB. One crop and one flip are drawn per clip and applied to all ``K`` frames. With
   ``motion = "diff"`` each sampled frame becomes ``(I_t, |I_t - I_{t-1}|, |I_{t+1} - I_t|)`` first;
   with ``"dmm"`` the ``K`` maps are taken as they are (no frame sampling).

The paper's setting is ``frame_size = 256``, ``crop_size = 224``; CPU presets use e.g. 128/112.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF

from vskd.data.crops import check_box, crop_to_box, foreground_box, skeleton_box, square_box
from vskd.data.motion import MOTIONS, depth_motion_maps, difference_frames
from vskd.errors import ConfigError, DataError, warn

#: the values of ``ClipSpec.person_crop`` / ``teacher.input.person_crop``
PERSON_CROPS = ("none", "foreground", "box", "skeleton")

TSN_SCALES: tuple[float, ...] = (1.0, 0.875, 0.75, 0.66)


# --------------------------------------------------------------------------------------------
# segment sampling
# --------------------------------------------------------------------------------------------
def segment_bounds(num_frames: int, num_segments: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and (exclusive) end frame of each of the ``K`` equal segments: ``b_k = floor(k N / K)``.

    Empty segments (``N < K``) get the one frame ``[b_k, b_k + 1)``, so every segment is non-empty.
    """
    if num_segments < 1:
        raise ConfigError(f"num_segments must be >= 1, got {num_segments}")
    if num_frames <= 0:
        raise DataError(f"cannot sample {num_segments} segments from a video with {num_frames} frames")
    b = (np.arange(num_segments + 1, dtype=np.int64) * num_frames) // num_segments
    lo = b[:-1]
    hi = np.maximum(b[1:], lo + 1)
    return lo, hi


def segment_indices(
    num_frames: int,
    num_segments: int,
    train: bool,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """TSN frame indices, one per segment, in temporal order (int64 array of length ``num_segments``).

    Args:
        num_frames: ``N``, frames in the video (0 raises :class:`DataError`).
        num_segments: ``K``.
        train: random frame per segment (from ``rng``) if True, the segment's centre frame
            ``b_k + floor(len_k / 2)`` otherwise (TSN's ``int(tick / 2 + tick * k)`` when ``K`` divides
            ``N``).
        rng: a :class:`numpy.random.Generator`; required when ``train`` (sampling is always seeded).
    """
    lo, hi = segment_bounds(num_frames, num_segments)
    if not train:
        return lo + (hi - lo) // 2
    if rng is None:
        raise ValueError("segment_indices(train=True) needs a numpy Generator `rng` (sampling is always seeded)")
    return rng.integers(lo, hi).astype(np.int64)


# --------------------------------------------------------------------------------------------
# depth -> image
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DepthMapping:
    """How a depth clip (mm, 0 = no reading) becomes an 8-bit grey image, later repeated to RGB.

    ``mode="robust"`` (default): per clip, the near and far limits are the ``percentiles`` (1st and
    99th) of all non-zero depths of the whole clip (every frame, so the mapping does not flicker from
    frame to frame). UTD-MHAD's depth is ~92 % zeros (the background is already removed) with the
    subject between ~2.3 and ~3.0 m; a fixed 0..3200 mm range would spend ~80 % of the grey levels on
    empty space, while the robust range spreads the body over all of them and ignores the few
    outliers (the maximum reaches 3800 mm).

    ``mode="fixed"``: the limits are ``near_mm`` and ``far_mm`` for every clip (comparable absolute
    depth across clips, e.g. for a dataset-wide setting).

    Pixels with a reading map to 1..255 linearly (``invert=True``: near = 255, far = 1, so the body
    is bright on the black background as in a silhouette; ``invert=False``: near = 1, far = 255);
    pixels without one (0) stay 0. Depths beyond the limits are clipped.
    """

    mode: Literal["robust", "fixed"] = "robust"
    percentiles: tuple[float, float] = (1.0, 99.0)
    near_mm: float = 500.0
    far_mm: float = 4500.0
    invert: bool = True

    def __post_init__(self) -> None:
        if self.mode not in ("robust", "fixed"):
            raise ConfigError(f"depth mapping mode must be 'robust' or 'fixed', got {self.mode!r}")
        p0, p1 = self.percentiles
        if not 0.0 <= p0 < p1 <= 100.0:
            raise ConfigError(f"depth mapping percentiles must satisfy 0 <= lo < hi <= 100, got {self.percentiles}")
        if self.mode == "fixed" and not 0.0 <= self.near_mm < self.far_mm:
            raise ConfigError(f"depth mapping needs 0 <= near_mm < far_mm, got {self.near_mm}, {self.far_mm}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["percentiles"] = list(self.percentiles)
        return d


def _depth_limits(values: np.ndarray, mapping: DepthMapping) -> tuple[float, float] | None:
    """(near, far) of a clip for ``mapping``; None when the clip has no reading at all."""
    if mapping.mode == "fixed":
        return float(mapping.near_mm), float(mapping.far_mm)
    vals = values[values > 0]
    if vals.size == 0:
        return None
    near, far = (float(v) for v in np.percentile(vals, mapping.percentiles))
    if far <= near:  # a flat clip: one depth everywhere
        far = near + 1.0
    return near, far


def _map_depth(d: np.ndarray, near: float, far: float, invert: bool) -> np.ndarray:
    t = np.clip((d.astype(np.float64) - near) / (far - near), 0.0, 1.0)
    if invert:
        t = 1.0 - t
    out = np.rint(1.0 + 254.0 * t).astype(np.uint8)
    out[d <= 0] = 0
    return out


def depth_to_uint8(depth: np.ndarray, mapping: DepthMapping = DepthMapping()) -> np.ndarray:
    """Map a depth clip ``(T, H, W)`` (mm, 0 = missing) to uint8 ``(T, H, W)`` (see :class:`DepthMapping`).

    Integer (uint16) depth goes through a 65536-entry lookup table: the same values as mapping every
    pixel, ~3x faster on a UTD-MHAD clip.
    """
    depth = np.asarray(depth)
    if depth.ndim != 3:
        raise DataError(f"depth clip must be (T, H, W), got shape {depth.shape}")
    if depth.dtype.kind not in "uif":
        raise DataError(f"depth clip must be numeric (mm), got dtype {depth.dtype}")
    limits = _depth_limits(depth, mapping)
    if limits is None:
        return np.zeros(depth.shape, np.uint8)
    near, far = limits
    if depth.dtype.kind == "u" and depth.dtype.itemsize <= 2:
        lut = _map_depth(np.arange(1 << (8 * depth.dtype.itemsize)), near, far, mapping.invert)
        return lut[depth]
    return _map_depth(depth, near, far, mapping.invert)


# --------------------------------------------------------------------------------------------
# clip decoding (cached stage)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClipSpec:
    """The teacher's view of a recording.

    Attributes:
        modality: ``"depth"`` or ``"rgb"``.
        num_segments: ``K``, frames per clip (8 in the paper).
        frame_size: shorter side of the decoded (cached) frames (256 in the paper).
        crop_size: side of the square crops fed to the teacher (224 in the paper).
        scales: TSN multi-scale crop scales (fractions of the shorter side).
        max_distort: TSN's limit on the crop aspect: the width and height scale indices differ by at
            most this.
        flip: random horizontal flip when training.
        depth: depth -> image mapping (ignored for RGB).
        person_crop: ``"none"`` (the whole frame), ``"foreground"`` (depth only: the box of the
            non-zero pixels over the clip, :func:`vskd.data.crops.foreground_box`), ``"box"`` (the
            fixed ``crop_box``), ``"skeleton"`` (the paired skeleton projected through ``camera``,
            :func:`vskd.data.crops.skeleton_box`; without ``camera``, or without a skeleton, the
            whole frame and a one-line warning). The box is squared with ``crop_margin`` and cut at
            full resolution; the decoded frames are then ``frame_size x frame_size``.
        crop_margin: padding of the box on each side, a fraction of its longer side.
        crop_trim: fraction of the foreground pixel-frames ignored on each side (noise pixels).
        crop_box: ``(y0, x0, y1, x1)`` in pixels of the full-resolution frame (``person_crop="box"``).
        camera: pinhole intrinsics ``(f_x, f_y, c_x, c_y)`` in pixels of the full-resolution frame
            (``person_crop="skeleton"``).
        motion: ``"none"`` (frames), ``"diff"`` (frame and its two absolute differences as the 3
            channels) or ``"dmm"`` (depth only: per-segment depth motion maps front/side/top as the 3
            channels), see :mod:`vskd.data.motion`.
        dmm_bins: depth bins of the DMM side and top projections.
        dmm_segments: ``motion="dmm"`` only: a temporal pyramid of segmentations, e.g. ``(3, 5, 8)``:
            the clip's maps over 3, then 5, then 8 equal segments, concatenated in that order
            (``3 + 5 + 8 = 16`` images, :attr:`num_images`); each segmentation's maps are scaled on
            their own (:func:`~vskd.data.motion.depth_motion_maps`). None: ``(num_segments,)``.
    """

    modality: Literal["depth", "rgb"] = "depth"
    num_segments: int = 8
    frame_size: int = 256
    crop_size: int = 224
    scales: tuple[float, ...] = TSN_SCALES
    max_distort: int = 1
    flip: bool = True
    depth: DepthMapping = DepthMapping()
    person_crop: Literal["none", "foreground", "box", "skeleton"] = "none"
    crop_margin: float = 0.1
    crop_trim: float = 0.002
    crop_box: tuple[int, int, int, int] | None = None
    camera: tuple[float, float, float, float] | None = None
    motion: Literal["none", "diff", "dmm"] = "none"
    dmm_bins: int = 16
    dmm_segments: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.modality not in ("depth", "rgb"):
            raise ConfigError(f"teacher modality must be 'depth' or 'rgb', got {self.modality!r}")
        self._check_crop_and_motion()
        if self.num_segments < 1:
            raise ConfigError(f"num_segments must be >= 1, got {self.num_segments}")
        if not 1 <= self.crop_size <= self.frame_size:
            raise ConfigError(f"crop_size must be in 1..frame_size ({self.frame_size}), got {self.crop_size}")
        if not self.scales or any(not 0.0 < s <= 1.0 for s in self.scales):
            raise ConfigError(f"crop scales must be in (0, 1], got {self.scales}")
        if self.max_distort < 0:
            raise ConfigError(f"max_distort must be >= 0, got {self.max_distort}")

    def _check_crop_and_motion(self) -> None:
        key = "teacher.input"
        if self.person_crop not in PERSON_CROPS:
            raise ConfigError(f"{key}.person_crop: expected one of {', '.join(PERSON_CROPS)}, got {self.person_crop!r}")
        if self.person_crop == "foreground" and self.modality != "depth":
            raise ConfigError(f"{key}.person_crop: 'foreground' needs a depth video (its background is 0); "
                              f"for {self.modality} use 'box' or 'skeleton'")
        if self.person_crop == "box" and self.crop_box is None:
            raise ConfigError(f"{key}.crop_box: person_crop 'box' needs crop_box = [y0, x0, y1, x1] "
                              f"(pixels of the full-resolution frame)")
        if self.crop_box is not None:
            b = tuple(self.crop_box)
            if len(b) != 4 or not (b[0] < b[2] and b[1] < b[3]):
                raise ConfigError(f"{key}.crop_box: expected [y0, x0, y1, x1] with y0 < y1 and x0 < x1, got {list(b)}")
            object.__setattr__(self, "crop_box", tuple(int(v) for v in b))
        if self.camera is not None:
            c = tuple(float(v) for v in self.camera)
            if len(c) != 4 or not all(np.isfinite(c)) or c[0] <= 0 or c[1] <= 0:
                raise ConfigError(f"{key}.camera: expected [f_x, f_y, c_x, c_y] (pixels, f_x, f_y > 0), "
                                  f"got {list(self.camera)}")
            object.__setattr__(self, "camera", c)
        if not 0.0 <= self.crop_margin <= 1.0:
            raise ConfigError(f"{key}.crop_margin: expected a fraction in [0, 1], got {self.crop_margin}")
        if not 0.0 <= self.crop_trim < 0.25:
            raise ConfigError(f"{key}.crop_trim: expected a fraction in [0, 0.25), got {self.crop_trim}")
        if self.motion not in MOTIONS:
            raise ConfigError(f"{key}.motion: expected one of {', '.join(MOTIONS)}, got {self.motion!r}")
        if self.motion == "dmm" and self.modality != "depth":
            raise ConfigError(f"{key}.motion: 'dmm' (depth motion maps) needs a depth video, got {self.modality}")
        if not 2 <= self.dmm_bins <= 255:
            raise ConfigError(f"{key}.dmm_bins: expected an integer in [2, 255], got {self.dmm_bins}")
        if self.dmm_segments is not None:
            seg = self.dmm_segments
            if self.motion != "dmm":
                raise ConfigError(f"{key}.dmm_segments: a pyramid of depth motion maps needs motion 'dmm', "
                                  f"got motion {self.motion!r}")
            if (not isinstance(seg, (list, tuple)) or not seg
                    or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 64 for k in seg)):
                raise ConfigError(f"{key}.dmm_segments: expected a non-empty list of segment counts in 1..64, "
                                  f"e.g. [3, 5, 8], got {seg!r}")
            object.__setattr__(self, "dmm_segments", tuple(int(k) for k in seg))

    @property
    def pyramid(self) -> tuple[int, ...]:
        """The DMM segmentations (``dmm_segments``, else ``(num_segments,)``)."""
        return self.dmm_segments if self.dmm_segments is not None else (self.num_segments,)

    @property
    def num_images(self) -> int:
        """Images the teacher receives per clip: ``sum(pyramid)`` for DMMs, else ``num_segments``."""
        return sum(self.pyramid) if self.motion == "dmm" else self.num_segments

    def crop_params(self) -> dict[str, Any]:
        """The person-crop options (empty when there is no crop): part of the decoded clip's cache key."""
        if self.person_crop == "none":
            return {}
        p: dict[str, Any] = {"person_crop": self.person_crop, "margin": self.crop_margin}
        if self.person_crop == "foreground":
            p["trim"] = self.crop_trim
        elif self.person_crop == "box":
            p["box"] = list(self.crop_box or ())
        else:
            p["camera"] = list(self.camera) if self.camera is not None else None
        return p

    def decode_params(self) -> dict[str, Any]:
        """The parameters that determine the decoded (cached) frames: the cache key's part. A clip decoded
        without a person crop (or without DMMs) has a key without these entries, so it is never reused
        for one with them, nor the other way round."""
        p: dict[str, Any] = {"modality": self.modality, "frame_size": self.frame_size}
        if self.modality == "depth":
            p["depth"] = self.depth.to_dict()
        crop = self.crop_params()
        if crop:
            p["crop"] = crop
        if self.motion == "dmm":  # diff is computed per item from the cached frames
            p["motion"] = {"kind": "dmm", "num_segments": self.num_segments, "bins": self.dmm_bins}
            if self.dmm_segments is not None:
                p["motion"]["pyramid"] = list(self.dmm_segments)
        return p


def to_uint8_frames(video: np.ndarray, modality: str, depth: DepthMapping = DepthMapping()) -> torch.Tensor:
    """A decoded video as a uint8 tensor ``(T, C, H, W)``: depth ``(T, H, W)`` -> C = 1, RGB ``(T, H, W, 3)`` -> C = 3."""
    video = np.asarray(video)
    if modality == "depth":
        if video.ndim != 3:
            raise DataError(f"depth video must be (T, H, W), got shape {video.shape}")
        img = video if video.dtype == np.uint8 else depth_to_uint8(video, depth)
        return torch.from_numpy(np.ascontiguousarray(img)).unsqueeze(1)
    if modality == "rgb":
        if video.ndim != 4 or video.shape[-1] != 3:
            raise DataError(f"rgb video must be (T, H, W, 3), got shape {video.shape}")
        if video.dtype != np.uint8:
            raise DataError(f"rgb video must be uint8, got {video.dtype}")
        return torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2).contiguous()
    raise ConfigError(f"video modality must be 'depth' or 'rgb', got {modality!r}")


def resize_shorter(frames: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``(T, C, H, W)`` frames so that the shorter side is ``size`` (bilinear, antialiased)."""
    h, w = frames.shape[-2:]
    if min(h, w) == size:
        return frames
    return TF.resize(frames, [size], antialias=True)


def person_box(frames: torch.Tensor, spec: ClipSpec, skeleton: np.ndarray | None = None,
               name: str = "clip") -> tuple[int, int, int, int] | None:
    """The full-resolution box of ``spec.person_crop`` for uint8 frames ``(T, C, H, W)``, or None (whole frame).

    ``"skeleton"`` without ``spec.camera`` or without a ``skeleton`` warns (one line) and gives None:
    joints in metres cannot be placed on the picture without the camera's intrinsics.
    """
    h, w = int(frames.shape[-2]), int(frames.shape[-1])
    if spec.person_crop == "none":
        return None
    if spec.person_crop == "foreground":
        return foreground_box(frames, spec.crop_trim, spec.crop_margin, name)
    if spec.person_crop == "box":
        assert spec.crop_box is not None
        y0, x0, y1, x1 = check_box(spec.crop_box, h, w, "teacher.input.crop_box")
        return square_box(y0, x0, y1, x1, h, w, spec.crop_margin)
    if skeleton is None or spec.camera is None:
        why = ("no skeleton is paired with it" if skeleton is None else
               "teacher.input.camera (f_x, f_y, c_x, c_y) is not set and the skeleton files hold only 3-D "
               "joint coordinates")
        warn(f"{name}: person_crop 'skeleton' cannot project the joints to pixels ({why}); using the full frame")
        return None
    return skeleton_box(skeleton, spec.camera, h, w, spec.crop_margin, name)


def decode_clip(video: np.ndarray, spec: ClipSpec, skeleton: np.ndarray | None = None,
                name: str = "clip") -> np.ndarray:
    """Decoded video -> uint8 frames at the working resolution (the cached stage).

    ``(T, C, h, w)`` frames (shorter side ``frame_size``; ``frame_size`` square after a person crop),
    or with ``spec.motion == "dmm"`` the ``(K, 3, frame_size, frame_size)`` depth motion maps (with
    ``spec.dmm_segments``, those of each segmentation concatenated: ``(sum K, 3, ...)``).
    ``skeleton`` ``(J, 3, T)`` is the paired skeleton (``person_crop="skeleton"``); ``name`` names the
    clip in errors and warnings (e.g. the recording and its file).
    """
    frames = to_uint8_frames(video, spec.modality, spec.depth)
    if frames.shape[0] == 0:
        raise DataError(f"{spec.modality} video has no frames")
    box = person_box(frames, spec, skeleton, name)
    if spec.motion == "dmm":
        if box is not None:
            frames = frames[:, :, box[0]:box[2], box[1]:box[3]]
        return np.concatenate([depth_motion_maps(frames, k, spec.frame_size, spec.dmm_bins) for k in spec.pyramid])
    if box is not None:
        return crop_to_box(frames, box, spec.frame_size).numpy()
    return resize_shorter(frames, spec.frame_size).numpy()


# --------------------------------------------------------------------------------------------
# per-item transforms
# --------------------------------------------------------------------------------------------
def tsn_offsets(image_h: int, image_w: int, crop_h: int, crop_w: int) -> list[tuple[int, int]]:
    """TSN's 13 fixed crop positions ``(top, left)`` (``more_fix_crop``): corners, centre, edge centres, quarters."""
    ws, hs = (image_w - crop_w) // 4, (image_h - crop_h) // 4
    grid = [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2), (2, 0), (2, 4), (4, 2), (0, 2), (1, 1), (1, 3), (3, 1), (3, 3)]
    return [(i * hs, j * ws) for i, j in grid]


def multiscale_crop_box(
    image_h: int,
    image_w: int,
    crop_size: int,
    rng: np.random.Generator,
    scales: tuple[float, ...] = TSN_SCALES,
    max_distort: int = 1,
) -> tuple[int, int, int, int]:
    """Draw TSN's ``GroupMultiScaleCrop`` box ``(top, left, height, width)``.

    Crop sides are ``int(min(H, W) * s)`` for each scale ``s`` (snapped to ``crop_size`` when within 3
    pixels of it); a (width, height) pair is drawn among those whose scale indices differ by at most
    ``max_distort``, then one of the 13 fixed offsets of :func:`tsn_offsets`.
    """
    base = min(image_h, image_w)
    sizes = [int(base * s) for s in scales]
    sizes = [crop_size if abs(x - crop_size) < 3 else x for x in sizes]
    sizes = [min(max(x, 1), base) for x in sizes]
    pairs = [(w, h) for i, h in enumerate(sizes) for j, w in enumerate(sizes) if abs(i - j) <= max_distort]
    crop_w, crop_h = pairs[int(rng.integers(len(pairs)))]
    offsets = tsn_offsets(image_h, image_w, crop_h, crop_w)
    top, left = offsets[int(rng.integers(len(offsets)))]
    return top, left, crop_h, crop_w


def frames_to_float_rgb(frames: torch.Tensor) -> torch.Tensor:
    """uint8 ``(K, C, H, W)`` -> float32 in [0, 1] with 3 channels (a single depth channel is repeated)."""
    if frames.dtype != torch.uint8:
        raise DataError(f"frames must be uint8, got {frames.dtype}")
    x = frames.to(torch.float32).div_(255.0)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1).contiguous()
    return x


def train_transform(
    frames: torch.Tensor,
    crop_size: int,
    rng: np.random.Generator,
    scales: tuple[float, ...] = TSN_SCALES,
    max_distort: int = 1,
    flip: bool = True,
) -> torch.Tensor:
    """TSN train augmentation: one multi-scale crop and one coin-flip horizontal flip for all ``K`` frames.

    ``frames``: uint8 ``(K, C, H, W)``; returns float32 ``(K, 3, crop_size, crop_size)`` in [0, 1].
    """
    h, w = frames.shape[-2:]
    top, left, ch, cw = multiscale_crop_box(h, w, crop_size, rng, scales, max_distort)
    x = TF.resized_crop(frames, top, left, ch, cw, [crop_size, crop_size], antialias=True)
    if flip and rng.random() < 0.5:
        x = TF.horizontal_flip(x)
    return frames_to_float_rgb(x)


def eval_transform(frames: torch.Tensor, crop_size: int) -> torch.Tensor:
    """TSN test transform on frames already resized to the working size: a centre ``crop_size`` crop."""
    x = TF.center_crop(frames, [crop_size, crop_size])
    return frames_to_float_rgb(x)


def clip_transform(
    frames: np.ndarray | torch.Tensor,
    spec: ClipSpec,
    train: bool,
    rng: np.random.Generator | None = None,
) -> torch.Tensor:
    """Sample ``K`` TSN frames from decoded uint8 ``(T, C, h, w)`` frames and transform them.

    Returns float32 ``(K, 3, crop_size, crop_size)`` RGB in [0, 1]; ``rng`` drives the frame choice,
    crop and flip when ``train`` (required then).
    """
    t = torch.as_tensor(frames)
    if spec.motion == "dmm":  # decode_clip made the K segments' maps already
        if t.shape[0] != spec.num_images or t.shape[1] != 3:
            raise DataError(f"depth motion maps must be ({spec.num_images}, 3, H, W), got {tuple(t.shape)} "
                            f"(a clip cached without motion='dmm'?)")
        sel = t
    else:
        idx = segment_indices(int(t.shape[0]), spec.num_segments, train, rng)
        sel = difference_frames(t, idx) if spec.motion == "diff" else t[torch.from_numpy(idx)]
    if train:
        assert rng is not None
        return train_transform(sel, spec.crop_size, rng, spec.scales, spec.max_distort, spec.flip)
    return eval_transform(sel, spec.crop_size)
