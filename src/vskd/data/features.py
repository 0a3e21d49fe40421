"""Per-frame features of a frozen backbone, extracted once per clip and cached on disk.

A video teacher whose per-frame backbone is frozen (:class:`vskd.models.trn.VideoTeacher` with
``frozen_backbone``) computes, for a frame x, ``f(x)`` with fixed weights; only ``fc0`` and the TRN
head train. ``f`` is the expensive part (EfficientNet-Lite0 at 224 px: ~0.4 GFLOP a frame, the head a
few hundred kFLOP), so the features of every frame (or every ``stride``-th frame) of every clip are
computed once (:func:`extract_features`) and training reads them (:class:`FeatureDataset`): an epoch
costs the head's work only.

**Frames.** For clip frames ``0, s, 2s, ...`` (``s`` = ``FeatureSpec.stride``), or ``n`` evenly spaced
frames of each TSN segment (``FeatureSpec.per_segment``, :func:`frame_indices`), the backbone sees

* ``crop="centre"``: the uncached teacher's evaluation view, exactly: the clip decoded with
  :func:`vskd.data.paired.clip_frames` (depth mapped to 8 bits, shorter side resized to
  ``ClipSpec.frame_size``), then the centre ``crop_size`` square (:func:`vskd.data.frames.eval_transform`).
  With ``s = 1`` the cached teacher evaluated on the centre frame of each segment sees the same
  pixels as the uncached one, so their logits agree (tests/test_feature_cache.py, to 1e-5);
* ``crop="person"``: a square box around the person, cut from the *full-resolution* frames and resized
  to ``crop_size`` (:func:`person_box`, :func:`crop_square`). UTD-MHAD's depth video has its
  background removed already (zero), so the person is where the depth is non-zero.

**Person box** (:func:`person_box`): :func:`vskd.data.crops.foreground_box` (its docstring has the
maths: the quantile range of the foreground's row and column profiles, trimming a share ``tail`` =
0.5 % on each side, made square with the margin and kept inside the frame), the same function the
decoded-clip crop (``teacher.input.person_crop: foreground``) uses. A clip with no non-zero depth has
no person: :class:`~vskd.errors.DataError` naming the recording.

**Cache key.** Entries live in :class:`vskd.data.cache.ArrayCache` under ``"frame-features"``, one
uncompressed float32 ``(T', D)`` array per clip (``T' = ceil(T / s)``), keyed by the source file
(path, size, mtime) and :meth:`FeatureSpec.params`: the clip decoding (modality, frame size, depth
mapping), ``crop_size``, the crop and its margin, the stride, and the *encoder*: the backbone's name,
a digest of its weights (:func:`vskd.models.weights.state_digest`, of the state_dict actually used) and
its feature width. A cache from another backbone, other weights, another crop or resolution is never
read. One entry per clip makes extraction resumable: an interrupted run keeps the clips it finished.

**Sampling** (:class:`FeatureDataset`). TSN over the cached frames: ``K`` equal segments of the
``T'`` cached frames, a random one per segment in training (from the item's generator, seeded by
``(seed, epoch, index)`` like :class:`vskd.data.paired.PairedDataset`), the centre one in evaluation.
No crop or flip augmentation happens (the features are fixed per frame).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from vskd.data.crops import crop_to_box, foreground_box
from vskd.data.cache import ArrayCache, entry_key, source_fingerprint
from vskd.data.frames import (ClipSpec, eval_transform, frames_to_float_rgb, segment_bounds, segment_indices,
                              to_uint8_frames)
from vskd.data.paired import clip_frames
from vskd.data.recording import Recording
from vskd.errors import ConfigError, DataError, VskdError

log = logging.getLogger(__name__)

FEATURE_NAMESPACE = "frame-features"
#: bumped whenever the frames or features an entry holds change for the same parameters
FEATURES_VERSION = 1
#: share of the foreground mass left out at each end of the person box's row / column profiles
PERSON_TAIL = 0.005

Encoder = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class FeatureSpec:
    """Which frames go through which frozen encoder (see the module docstring).

    Attributes:
        encoder: the encoder's identity, part of the cache key: ``backbone`` (name), ``weights``
            (digest of its state_dict), ``feature_dim``.
        stride: every ``stride``-th frame of the clip is cached (when ``per_segment`` is None).
        per_segment: cache ``n`` evenly spaced frames of each TSN segment instead (:func:`frame_indices`;
            ``n = 1``: the segment centres only, the cheapest extraction, no temporal jitter in training).
        crop: ``"centre"`` (the uncached teacher's eval view) or ``"person"`` (box of the depth's
            foreground, from the full-resolution frames).
        margin: person crop: fraction of the box side added on each side.
    """

    encoder: Mapping[str, Any] = field(default_factory=dict)
    stride: int = 1
    per_segment: int | None = None
    crop: Literal["centre", "person"] = "centre"
    margin: float = 0.1

    def __post_init__(self) -> None:
        if isinstance(self.stride, bool) or not isinstance(self.stride, (int, np.integer)) or self.stride < 1:
            raise ConfigError(f"config key 'teacher.features.stride': expected an integer >= 1, got {self.stride!r}")
        n = self.per_segment
        if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
            raise ConfigError(f"config key 'teacher.features.per_segment': expected null or an integer >= 1, got {n!r}")
        if self.crop not in ("centre", "person"):
            raise ConfigError(f"config key 'teacher.features.crop': expected centre or person, got {self.crop!r}")
        if not 0 <= self.margin <= 2:
            raise ConfigError(f"config key 'teacher.features.margin': expected a number in [0, 2], got {self.margin!r}")
        for key in ("backbone", "weights", "feature_dim"):
            if key not in self.encoder:
                raise ConfigError(f"FeatureSpec.encoder needs '{key}' (the backbone's identity for the cache key)")

    def indices(self, num_frames: int, num_segments: int) -> np.ndarray:
        """The cached frames of a clip of ``num_frames`` (:func:`frame_indices`)."""
        return frame_indices(num_frames, self.stride, self.per_segment, num_segments)

    def params(self, clip: ClipSpec) -> dict[str, Any]:
        """The cache key's parameters for clips viewed through ``clip`` (module docstring, "Cache key")."""
        frames: dict[str, Any] = {"crop": self.crop, "size": clip.crop_size, "stride": int(self.stride)}
        if self.per_segment is not None:
            frames["per_segment"] = int(self.per_segment)
            frames["segments"] = int(clip.num_segments)
        if self.crop == "centre":
            frames["decode"] = clip.decode_params()
        else:
            frames["modality"] = clip.modality
            frames["depth"] = clip.depth.to_dict()
            frames["margin"] = float(self.margin)
            frames["tail"] = PERSON_TAIL
            frames["box"] = "crops.foreground_box"  # the box maths (a cache made by the old copy is not reused)
        return {"frames": frames, "encoder": dict(self.encoder), "dtype": "float32",
                "features_version": FEATURES_VERSION}


# ----------------------------------------------------------------------------- frames

def frame_indices(num_frames: int, stride: int = 1, per_segment: int | None = None,
                  num_segments: int = 8) -> np.ndarray:
    """The cached frames of a clip of ``num_frames`` (int64, in temporal order).

    Without ``per_segment``: ``0, stride, 2 stride, ...``. With ``per_segment = n``: ``n`` frames of each
    of the ``K = num_segments`` TSN segments ``[b_k, b_{k+1})`` (:func:`vskd.data.frames.segment_bounds`),
    at ``b_k + floor((j + 1/2) L_k / n)``, ``j = 0..n-1`` (``L_k`` the segment's length): ``K n`` frames
    whose own K segments are exactly these groups, so TSN sampling over them draws one of the ``n``
    frames of each segment; for odd ``n`` the middle one is the segment's centre frame, the frame the
    uncached teacher is evaluated on.
    """
    if per_segment is None:
        return np.arange(0, num_frames, stride, dtype=np.int64)
    lo, hi = segment_bounds(num_frames, num_segments)
    j = (np.arange(per_segment) + 0.5) / per_segment
    idx = lo[:, None] + np.floor(j[None, :] * (hi - lo)[:, None]).astype(np.int64)
    return np.minimum(idx, num_frames - 1).reshape(-1)


def person_box(depth: np.ndarray, margin: float = 0.1, tail: float = PERSON_TAIL,
               where: str = "clip") -> tuple[int, int, int, int]:
    """The square person box ``(y0, x0, y1, x1)`` (half-open, pixels) of a depth clip ``(T, H, W)``:
    :func:`vskd.data.crops.foreground_box` with ``trim = tail`` (one implementation for the decoded-clip
    crop and this cache). ``where`` names the clip in the error of a clip without foreground."""
    d = np.asarray(depth)
    if d.ndim != 3:
        raise DataError(f"{where}: depth clip must be (T, H, W), got shape {d.shape}")
    return foreground_box(d, trim=tail, margin=margin, name=where)


def crop_square(frames: torch.Tensor, box: tuple[int, int, int, int], size: int) -> torch.Tensor:
    """uint8 frames ``(T, C, H, W)`` cut to ``box`` ``(y0, x0, y1, x1)`` and resized to ``size`` x ``size``
    (:func:`vskd.data.crops.crop_to_box`)."""
    return crop_to_box(frames, box, size)


def feature_frames(recording: Recording, clip: ClipSpec, spec: FeatureSpec,
                   cache: ArrayCache | None = None) -> torch.Tensor:
    """The frames the encoder sees for ``recording``: float32 ``(T', 3, S, S)`` RGB in [0, 1]
    (``S = clip.crop_size``, ``T'`` the frames :func:`frame_indices` keeps)."""
    if spec.crop == "centre":
        frames = torch.as_tensor(clip_frames(recording, clip, cache))
        keep = torch.from_numpy(spec.indices(int(frames.shape[0]), clip.num_segments))
        return eval_transform(frames[keep], clip.crop_size)
    video = recording.load(clip.modality)
    where = f"recording {recording.key} ({recording.source(clip.modality).path or clip.modality})"
    box = person_box(video, spec.margin, where=where)
    try:
        frames = to_uint8_frames(video, clip.modality, clip.depth)
    except VskdError as exc:
        raise DataError(f"{where}: {exc}") from None
    keep = torch.from_numpy(spec.indices(int(frames.shape[0]), clip.num_segments))
    return frames_to_float_rgb(crop_square(frames[keep], box, clip.crop_size))


# ----------------------------------------------------------------------------- extraction

def _key(recording: Recording, clip: ClipSpec, spec: FeatureSpec) -> tuple[dict, str] | None:
    fp = source_fingerprint(recording.source(clip.modality))
    if fp is None:
        return None
    params = spec.params(clip)
    return params, entry_key(FEATURE_NAMESPACE, fp, params)


@torch.no_grad()
def encode_frames(encode: Encoder, frames: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """``encode`` over ``frames`` ``(N, 3, S, S)`` in chunks of ``batch_size`` -> float32 ``(N, D)``;
    NaN/Inf features raise DataError."""
    out = [encode(frames[i:i + batch_size]).detach().float().cpu() for i in range(0, frames.shape[0], batch_size)]
    feats = torch.cat(out).numpy()
    if feats.ndim != 2:
        raise DataError(f"the encoder returned features of shape {feats.shape}, expected (frames, feature_dim)")
    if not np.isfinite(feats).all():
        raise DataError("the frozen backbone produced NaN/Inf features")
    return np.ascontiguousarray(feats, dtype=np.float32)


def clip_features(recording: Recording, clip: ClipSpec, spec: FeatureSpec, cache: ArrayCache,
                  encode: Encoder | None = None, batch_size: int = 64) -> np.ndarray:
    """The recording's cached features float32 ``(T', D)``; computed with ``encode`` and stored on a
    miss (without ``encode`` a miss is a DataError: the features were never extracted)."""
    key = _key(recording, clip, spec)
    if key is not None:
        hit = cache.get(FEATURE_NAMESPACE, key[1])
        if hit is not None:
            cache.stats.hits += 1
            return hit
    if encode is None:
        raise DataError(f"recording {recording.key}: no cached frame features for this backbone, weights and "
                        f"frames; extract them first (vskd.data.features.extract_features)")
    feats = encode_frames(encode, feature_frames(recording, clip, spec, cache), batch_size)
    if key is None:
        cache.stats.uncacheable += 1
        return feats
    cache.stats.misses += 1
    cache.put(FEATURE_NAMESPACE, key[1], feats, compress=False,
              meta={"namespace": FEATURE_NAMESPACE, "recording": str(recording.key), "params": key[0]})
    return feats


def extract_features(recordings: Sequence[Recording], clip: ClipSpec, spec: FeatureSpec, encode: Encoder,
                     cache: ArrayCache, batch_size: int = 64, progress: bool = True) -> dict[str, Any]:
    """Make sure every recording's features are in ``cache`` (resumable: clips already stored are
    skipped). Returns ``{"clips", "extracted", "cached", "frames", "seconds"}`` of this pass."""
    from tqdm.auto import tqdm

    start = time.perf_counter()
    extracted = frames = 0
    for rec in tqdm(recordings, desc="frame features", unit="clip", disable=not progress):
        key = _key(rec, clip, spec)
        if key is not None and cache.path(FEATURE_NAMESPACE, key[1]).is_file():
            if cache.get(FEATURE_NAMESPACE, key[1]) is not None:  # verified (a corrupt entry is rebuilt)
                continue
        feats = clip_features(rec, clip, spec, cache, encode, batch_size)
        extracted += 1
        frames += int(feats.shape[0])
    return {"clips": len(recordings), "extracted": extracted, "cached": len(recordings) - extracted,
            "frames": frames, "seconds": round(time.perf_counter() - start, 2)}


# ----------------------------------------------------------------------------- the dataset

class FeatureDataset(Dataset):
    """TSN-sampled cached features of each recording: items ``{"index", "label", "key", "teacher"}``
    with ``teacher`` float32 ``(K, D)`` (module docstring, "Sampling").

    The features must be in ``cache`` (:func:`extract_features`); they are read once per recording and
    kept in memory (``in_memory``; a UTD-MHAD clip at stride 1 is ~70 x 1280 floats, 0.35 MB).
    """

    def __init__(self, recordings: Sequence[Recording], clip: ClipSpec, spec: FeatureSpec, cache: ArrayCache,
                 train: bool = False, seed: int = 0, in_memory: bool = True) -> None:
        self.recordings = list(recordings)
        self.clip = clip
        self.spec = spec
        self.cache = cache
        self.train = bool(train)
        self.seed = int(seed)
        self.epoch = 0
        self.in_memory = in_memory
        self._features: dict[int, np.ndarray] = {}

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random frames training items use (call before each epoch)."""
        if epoch < 0:
            raise ConfigError(f"epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def item_rng(self, index: int) -> np.random.Generator:
        """The generator of one training item, seeded by ``(seed, epoch, index)`` only."""
        return np.random.default_rng(np.random.SeedSequence([self.seed, self.epoch, int(index)]))

    def features(self, index: int) -> np.ndarray:
        """All cached features ``(T', D)`` of recording ``index``."""
        f = self._features.get(index)
        if f is None:
            f = clip_features(self.recordings[index], self.clip, self.spec, self.cache)
            if self.in_memory:
                self._features[index] = f
        return f

    def __len__(self) -> int:
        return len(self.recordings)

    @property
    def labels(self) -> list[int]:
        return [int(r.label) for r in self.recordings]

    def __getitem__(self, index: int) -> dict[str, Any]:
        n = len(self.recordings)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for a dataset of {n} recordings")
        index = int(index) % n
        rec = self.recordings[index]
        feats = self.features(index)
        idx = segment_indices(int(feats.shape[0]), self.clip.num_segments, self.train,
                              self.item_rng(index) if self.train else None)
        return {"index": index, "label": int(rec.label), "key": str(rec.key),
                "teacher": torch.from_numpy(np.ascontiguousarray(feats[idx]))}

    def __repr__(self) -> str:
        return (f"FeatureDataset({len(self)} recordings, train={self.train}, K={self.clip.num_segments}, "
                f"{self.spec.encoder.get('backbone')} crop={self.spec.crop} stride={self.spec.stride})")


__all__ = [
    "FEATURE_NAMESPACE",
    "FeatureDataset",
    "FeatureSpec",
    "clip_features",
    "crop_square",
    "encode_frames",
    "extract_features",
    "feature_frames",
    "frame_indices",
    "person_box",
]
