"""Paired samples: the teacher's clip and the student's GAF image of the *same* recording.

VSKD (Ni et al., ICASSP 2022) distils a video teacher into an accelerometer student. Distillation
compares the two networks on the same action instance, so each item of :class:`PairedDataset` is
built from one :class:`~vskd.data.recording.Recording`:

* ``student``: the recording's wrist-accelerometer axes (:class:`GAFSpec.axes`) encoded as a
  Gramian Angular Field image, float32 ``(C, S, S)`` in [0, 1] (:func:`vskd.gaf.gaf_image`), one
  channel per axis — no augmentation, as in the paper, unless ``student_augment`` asks for it
  (training items only: :class:`~vskd.data.augment.SignalAugment` perturbs the raw window first);
* ``teacher`` (when a :class:`~vskd.data.frames.ClipSpec` is given): ``K`` TSN frames of the
  recording's depth or RGB video, float32 ``(K, 3, H, W)`` RGB in [0, 1]
  (:func:`vskd.data.frames.clip_transform`); the joints for a :class:`SkeletonSpec`; for a multimodal
  (fusion) teacher, :class:`MultiViewSpec`, a dict ``{member name: that member's view}`` (frames,
  joints, or the wrist signal as a raw window / GAF image), batched view by view by :func:`collate`;
* ``index`` (its stable position in the dataset, what contrastive methods such as CRD key their
  memory on), ``label`` (0-based class) and ``key`` (the recording's name, e.g. ``utd-mhad/a1_s1_t1``);
  with ``unlabeled`` keys given, ``labeled`` (bool), and ``label`` -1 for an unlabelled recording, whose
  label is never read (:mod:`vskd.data.labels`).

(The authors' released script zips two independently shuffled loaders, so its "pairs" are unrelated
recordings; here a pair is by construction the two views of one recording.)

Training items draw their frames, crop and flip from a generator seeded by ``(seed, epoch, index)``
(:meth:`PairedDataset.set_epoch`), so they are reproducible whatever the number of DataLoader workers
and whichever worker loads the item; evaluation items are deterministic. The decoded clips and the GAF
images are cached on disk (:mod:`vskd.data.cache`): only the first epoch of the first run decodes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from vskd.data.augment import SignalAugment
from vskd.data.cache import ArrayCache
from vskd.data.frames import ClipSpec, DepthMapping, clip_transform, decode_clip
from vskd.data.recording import Recording, RecordingKey
from vskd.data.resample import resample_linear
from vskd.data.rules import check_frame_size, check_signal_length
from vskd.data.skeleton import augment_skeleton, prepare_skeleton, random_span
from vskd.errors import ConfigError, DataError, VskdError

__all__ = [
    "ClipSpec",
    "DepthMapping",
    "GAFSpec",
    "MultiViewSpec",
    "PairedDataset",
    "RawSpec",
    "clip_frames",
    "collate",
    "raw_window",
    "resample_linear",
    "student_signal",
    "student_image",
    "view_modality",
    "warm_cache",
]

CLIP_NAMESPACE = "clips"
GAF_NAMESPACE = "gaf"


@dataclass(frozen=True)
class GAFSpec:
    """The student's view: which inertial axes, encoded how (the arguments of :func:`vskd.gaf.gaf_image`).

    Attributes:
        method: ``"summation"`` (GASF, the paper's), ``"difference"`` (GADF) or ``"both"`` (the GASF
            channels, then the GADF channels: two image channels per axis, :attr:`channels`).
        axes: inertial channels, one image channel each (x, y, z -> R, G, B in the paper; two with ``both``).
        image_size: PAA length before the GAF (None: the recording's own length, as the authors; a
            float in (0, 1] is a fraction of the length, as in pyts).
        out_size: side of the final image (bilinear resize; 224 in the paper; None keeps the GAF size,
            which then varies with the recording's length).
        scaling: ``"minmax"`` (each image channel min-max to [0, 1], the authors') or ``"affine"``
            (``(g + 1) / 2``, keeps absolute GAF values).
        orientation: ``"standard"`` (pyts) or ``"authors"`` (their arcsin GADF, the transpose).
    """

    method: Literal["summation", "difference", "both"] = "summation"  # both: GASF then GADF channels
    axes: tuple[str, ...] = ("acc_x", "acc_y", "acc_z")
    image_size: int | None = None
    out_size: int | None = 224
    scaling: Literal["minmax", "affine"] = "minmax"
    orientation: Literal["standard", "authors"] = "standard"

    def __post_init__(self) -> None:
        if isinstance(self.axes, str):
            object.__setattr__(self, "axes", tuple(a.strip() for a in self.axes.split(",") if a.strip()))
        else:
            object.__setattr__(self, "axes", tuple(self.axes))
        if not self.axes:
            raise ConfigError("GAF axes must name at least one inertial channel, e.g. ('acc_x', 'acc_y', 'acc_z')")
        if self.method not in ("summation", "difference", "both"):
            raise ConfigError(f"GAF method must be 'summation', 'difference' or 'both', got {self.method!r}")
        if self.scaling not in ("minmax", "affine"):
            raise ConfigError(f"GAF scaling must be 'minmax' or 'affine', got {self.scaling!r}")
        if self.orientation not in ("standard", "authors"):
            raise ConfigError(f"GAF orientation must be 'standard' or 'authors', got {self.orientation!r}")
        v = self.image_size
        ok = v is None or (
            not isinstance(v, bool)
            and ((isinstance(v, (int, np.integer)) and v >= 1) or (isinstance(v, (float, np.floating)) and 0 < v <= 1))
        )
        if not ok:
            raise ConfigError(f"GAF image_size must be None, an integer >= 1 or a fraction in (0, 1], got {v!r}")
        v = self.out_size
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
            raise ConfigError(f"GAF out_size must be a positive integer or None, got {v!r}")

    @classmethod
    def from_config(cls, options: Any) -> "GAFSpec":
        """The GAF view of a config's ``student.input`` section (:class:`vskd.config.GAFConfig`); the one
        translation the training jobs (:mod:`vskd.engine.builders`) and the deployed model share."""
        return cls(method=options.method, axes=tuple(options.axes), image_size=options.image_size,
                   out_size=options.out_size, scaling=options.scaling, orientation=options.orientation)

    @property
    def channels(self) -> int:
        """Channels of the image: one per axis, two (GASF, GADF) per axis with ``method='both'``."""
        return len(self.axes) * (2 if self.method == "both" else 1)

    def params(self) -> dict[str, Any]:
        """The options that determine the image (the GAF cache key's part)."""
        return {
            "method": self.method,
            "axes": list(self.axes),
            "image_size": self.image_size,
            "out_size": self.out_size,
            "scaling": self.scaling,
            "orientation": self.orientation,
        }


@dataclass(frozen=True)
class RawSpec:
    """The raw-signal students' view: the inertial ``axes`` of the whole recording, linearly resampled
    to ``length`` samples, float32 ``(C, length)`` (channels first, what the 1-D students take).

    UTD-MHAD practitioners resample every recording to 180 samples (about 3.6 s at 50 Hz, the
    recordings' typical length); the GAF students instead take the recording at its own length
    (``GAFSpec.image_size=None``) and resize the image to 224 px. Normalisation (none / per-recording
    z-score / the training split's statistics, ``student.input.normalize``) is done by the student's
    first module (:class:`vskd.models.raw_students.InputNorm`), so checkpoints and exported models
    carry it; the view itself is the signal in its units (g for the accelerometer).
    """

    axes: tuple[str, ...] = ("acc_x", "acc_y", "acc_z")
    length: int = 180

    @classmethod
    def from_config(cls, options: Any) -> "RawSpec":
        """The raw view of a config's ``student.input`` section (:class:`vskd.config.GAFConfig`: ``axes``,
        ``length``)."""
        return cls(axes=tuple(options.axes), length=options.length)

    @property
    def channels(self) -> int:
        """Channels of the window: one per axis."""
        return len(self.axes)

    def __post_init__(self) -> None:
        axes = self.axes
        if isinstance(axes, str):
            axes = tuple(a.strip() for a in axes.split(",") if a.strip())
        object.__setattr__(self, "axes", tuple(axes))
        if not self.axes:
            raise ConfigError("config key 'student.input.axes': the raw view needs at least one inertial channel")
        v = self.length
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 2:
            raise ConfigError(f"config key 'student.input.length': expected an integer >= 2 (samples of the "
                              f"resampled window), got {v!r}")


def student_signal(recording: Recording, spec: RawSpec, window: np.ndarray | None = None) -> np.ndarray:
    """The raw view float32 ``(C, length)`` of ``recording`` (or of an already read, e.g. augmented,
    ``window`` ``(T, C)`` of it)."""
    w = _inertial_window(recording, spec.axes) if window is None else np.asarray(window, dtype=np.float64)
    try:
        out = resample_linear(w, spec.length)
    except DataError as exc:
        raise _context(recording, "inertial", exc) from None
    if not np.isfinite(out).all():
        raise DataError(f"recording {recording.key} (inertial): the signal has NaN/Inf values")
    return np.ascontiguousarray(out.T, dtype=np.float32)


# ----------------------------------------------------------------------------------- one view each
def _context(recording: Recording, modality: str, exc: VskdError) -> DataError:
    msg = str(exc)
    if str(recording.key) in msg:
        return DataError(msg)
    return DataError(f"recording {recording.key} ({modality}): {msg}")


def _inertial_window(recording: Recording, axes: Sequence[str]) -> np.ndarray:
    signal = recording.load("inertial")
    try:
        window = signal.select(tuple(axes))
    except DataError as exc:
        raise _context(recording, "inertial", exc) from None
    check_signal_length(window.shape[0], f"recording {recording.key}")  # the rule of vskd data check
    return np.asarray(window, dtype=np.float64)


def _encode(recording: Recording, window: np.ndarray, spec: GAFSpec) -> np.ndarray:
    """GAF image float32 ``(C, S, S)`` of an inertial window (errors name the recording)."""
    from vskd.gaf import gaf_image

    try:
        img = gaf_image(
            window,
            method=spec.method,
            image_size=spec.image_size,
            out_size=spec.out_size,
            scaling=spec.scaling,
            orientation=spec.orientation,
        )
    except VskdError as exc:
        raise _context(recording, "inertial", exc) from None
    img = np.asarray(img, dtype=np.float32)
    if not np.isfinite(img).all():
        raise DataError(f"recording {recording.key} (inertial): GAF image has NaN/Inf values")
    return img


def student_image(recording: Recording, spec: GAFSpec, cache: ArrayCache | None = None) -> np.ndarray:
    """The recording's GAF image, float32 ``(C, S, S)`` in [0, 1] (cached under ``"gaf"`` when ``cache``)."""

    def build() -> np.ndarray:
        return _encode(recording, _inertial_window(recording, spec.axes), spec)

    source = recording.source("inertial")
    if cache is None:
        return build()
    # float32 GAF images barely compress and decompressing them costs more than recomputing: stored raw
    return cache.get_or_build(GAF_NAMESPACE, source, spec.params(), build, compress=False)


def raw_window(recording: Recording, axes: Sequence[str], length: int | None = None) -> tuple[np.ndarray, int]:
    """The raw inertial window float32 ``(L, C)`` and its valid length.

    With ``length``: a longer signal is cropped to its centre ``length`` samples, a shorter one is
    zero-padded at the end; the valid length is ``min(T, length)``. Without: the whole signal.
    """
    w = _inertial_window(recording, axes).astype(np.float32)
    t = w.shape[0]
    if length is None:
        return w, t
    if t >= length:
        start = (t - length) // 2
        return np.ascontiguousarray(w[start : start + length]), length
    out = np.zeros((length, w.shape[1]), np.float32)
    out[:t] = w
    return out, t


@dataclass(frozen=True)
class SkeletonSpec:
    """The teacher's view for a skeleton teacher: Kinect joints, centred on the hip, scaled by the
    spine, resampled to ``length`` frames (:func:`vskd.data.skeleton.prepare_skeleton`); in training
    (``augment``), a random temporal crop keeping at least ``crop`` of the sequence
    (:func:`~vskd.data.skeleton.random_span`, before resampling), then a random rotation about the
    vertical axis (+-``rotate`` degrees), scale (1 +- ``scale``), shear (+-``shear``) and Gaussian
    jitter (std ``jitter``) (:func:`~vskd.data.skeleton.augment_skeleton`)."""

    length: int = 32
    augment: bool = True
    rotate: float = 30.0
    scale: float = 0.1
    shear: float = 0.0
    jitter: float = 0.0
    crop: float = 1.0
    modality: str = "skeleton"
    num_segments: int = 1  # not used; keeps repr and cache code uniform with ClipSpec


def skeleton_view(recording: Recording, spec: SkeletonSpec, train: bool,
                  rng: np.random.Generator | None, skel: np.ndarray | None = None) -> torch.Tensor:
    """(length, J, 3) float32 tensor of the recording's skeleton (see :class:`SkeletonSpec`); ``skel``:
    the recording's (J, 3, T) joints when already read (else they are loaded)."""
    augment = train and spec.augment and rng is not None
    span = random_span(rng, spec.crop) if augment and spec.crop < 1 else (0.0, 1.0)
    try:
        x = prepare_skeleton(recording.load("skeleton") if skel is None else skel, length=spec.length, span=span)
    except VskdError as exc:
        raise _context(recording, "skeleton", exc) from None
    if augment:
        x = augment_skeleton(x, rng, max_angle_deg=spec.rotate, scale_range=(1 - spec.scale, 1 + spec.scale),
                             shear=spec.shear, jitter=spec.jitter)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


@dataclass(frozen=True)
class MultiViewSpec:
    """The teacher's view for a multimodal (fusion) teacher: one view per member, by name.

    ``views``: ``((name, spec), ...)`` with ``spec`` a :class:`ClipSpec` (depth / RGB frames), a
    :class:`SkeletonSpec` (joints), a :class:`RawSpec` or a :class:`GAFSpec` (the wrist signal, as a
    student member reads it); ``augments``: per view, the :class:`~vskd.data.augment.SignalAugment` of a
    raw / GAF view on training items (None: none; ignored for clips and joints, which augment
    themselves). The item's ``teacher`` is then ``{name: view}``, each view exactly what that member
    was trained on (:func:`vskd.engine.builders.fusion_views` builds it from the members' configs).
    """

    views: tuple[tuple[str, Any], ...]
    augments: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        views = tuple((str(n), v) for n, v in self.views)
        object.__setattr__(self, "views", views)
        if not views:
            raise ConfigError("a multimodal teacher view needs at least one member view")
        names = [n for n, _ in views]
        if len(set(names)) != len(names):
            raise ConfigError(f"multimodal teacher views must have distinct names, got {names}")
        for n, v in views:
            if not isinstance(v, (ClipSpec, SkeletonSpec, RawSpec, GAFSpec)):
                raise ConfigError(f"member view {n!r}: expected a ClipSpec, SkeletonSpec, RawSpec or GAFSpec, "
                                  f"got {type(v).__name__}")
        augments = tuple(self.augments) or (None,) * len(views)
        if len(augments) != len(views):
            raise ConfigError(f"{len(augments)} augmentations for {len(views)} member views")
        object.__setattr__(self, "augments", tuple(a if a is not None and a.active else None for a in augments))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.views)

    @property
    def modalities(self) -> dict[str, str]:
        """``{member name: the recording modality its view reads}``."""
        return {n: view_modality(v) for n, v in self.views}


def view_modality(spec: Any) -> str:
    """The recording modality a view reads (``inertial`` for the raw and GAF views)."""
    return "inertial" if isinstance(spec, (RawSpec, GAFSpec)) else spec.modality


def clip_frames(recording: Recording, spec: ClipSpec, cache: ArrayCache | None = None) -> np.ndarray:
    """All frames of the recording's video decoded at the working size: uint8 ``(T, C, h, w)``
    (``C = 1`` depth, ``3`` RGB; cut to the person's box first when ``spec.person_crop`` is set;
    ``(K, 3, s, s)`` depth motion maps when ``spec.motion == "dmm"``); cached under ``"clips"`` when
    ``cache``, keyed by :meth:`ClipSpec.decode_params` (crop and DMM options included)."""

    source = recording.source(spec.modality)
    use_skeleton = spec.person_crop == "skeleton" and "skeleton" in recording.sources
    name = f"recording {recording.key} ({spec.modality}{', ' + str(source.path) if source.path else ''})"

    def build() -> np.ndarray:
        video = recording.load(spec.modality)
        shape = getattr(video, "shape", None)
        if shape is not None and len(shape) >= 3:
            check_frame_size(shape[1], shape[2], f"recording {recording.key}", spec.modality)
        skeleton = recording.load("skeleton") if use_skeleton else None
        try:
            return decode_clip(video, spec, skeleton=skeleton, name=name)
        except DataError as exc:
            raise _context(recording, spec.modality, exc) from None

    if cache is None:
        return build()
    params = spec.decode_params()
    if use_skeleton:  # the box comes from the skeleton file too: an edited skeleton misses
        from vskd.data.cache import source_fingerprint

        params["skeleton_source"] = source_fingerprint(recording.source("skeleton"))
    return cache.get_or_build(CLIP_NAMESPACE, source, params, build)


# ----------------------------------------------------------------------------------- the dataset
class PairedDataset(Dataset):
    """Teacher clip + student GAF image of the same recording (see the module docstring).

    Args:
        recordings: the recordings, in a fixed order (``index`` is the position in this list).
        student: the GAF view (default :class:`GAFSpec`()), the raw-signal view (:class:`RawSpec`:
            ``student`` is then float32 ``(C, length)``), or None for a teacher-only dataset
            (items without ``student``; used to train the teacher).
        teacher: the video view, or None for a student-only dataset.
        train: random TSN frames, multi-scale crop and flip (True) or centre frames and centre crop.
        cache_dir: cache folder (None: ``$VSKD_CACHE`` or ``~/.cache/vskd``; False: no disk cache).
        seed: base seed of the per-item generators (``seed, epoch, index``).
        student_raw: return the raw inertial window (float32 ``(L, C)``) as ``student`` instead of the
            GAF image, plus ``student_length`` (valid samples); see :func:`raw_window`.
        raw_length: ``L`` for ``student_raw`` (None: each recording's own length; batches then need
            :func:`collate`, which keeps unequal tensors as a list).
        student_augment: training augmentation of the raw inertial window before the GAF
            (:class:`~vskd.data.augment.SignalAugment`; None or all-off: none). Only with ``train``.
        compress: store decoded clips zlib-compressed (default; ~15x smaller depth clips, a few ms more
            per read). GAF images are always stored uncompressed.
        unlabeled: keys of the recordings whose labels must not be read (``distill.unlabeled``,
            :mod:`vskd.data.labels`): their items carry ``label`` -1 and ``labeled`` False. When given
            (even empty), every item carries ``labeled``; None (default): items have no ``labeled``.

    Raises:
        DataError: a recording lacks the inertial or the teacher's modality (named in the message).
    """

    def __init__(
        self,
        recordings: Sequence[Recording],
        student: GAFSpec | RawSpec | None = GAFSpec(),
        teacher: ClipSpec | None = None,
        train: bool = False,
        cache_dir: str | Path | None | Literal[False] = None,
        seed: int = 0,
        student_raw: bool = False,
        raw_length: int | None = None,
        compress: bool = True,
        student_augment: SignalAugment | None = None,
        unlabeled: Collection[RecordingKey] | None = None,
    ) -> None:
        self.recordings = list(recordings)
        # per item: True (label readable), False (unlabelled: label -1); None: no mask at all
        self.labeled: list[bool] | None = None
        if unlabeled is not None:
            hidden = set(unlabeled)
            self.labeled = [r.key not in hidden for r in self.recordings]
        if student is None and teacher is None:
            raise ConfigError("PairedDataset needs a student (GAFSpec) or a teacher (ClipSpec) view, got neither")
        if student is None and student_raw:
            raise ConfigError("student_raw=True needs a student spec (its axes select the inertial channels)")
        self.student = student
        self.teacher = teacher
        self.train = bool(train)
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        self.epoch = 0
        self.student_raw = bool(student_raw)
        if raw_length is not None and raw_length < 1:
            raise ConfigError(f"raw_length must be a positive integer or None, got {raw_length!r}")
        self.raw_length = raw_length
        if student_raw and isinstance(student, RawSpec):
            raise ConfigError("student_raw=True is for a GAFSpec's unresampled window; a RawSpec is already raw")
        if student_augment is not None and student_augment.active and student_raw:
            raise ConfigError("student_augment applies to GAF images; it cannot be combined with student_raw=True")
        self.student_augment = student_augment if student_augment is not None and student_augment.active else None
        self._windows: dict[int, np.ndarray] = {}  # raw inertial windows of augmented items, read once
        self._signals: dict[int, np.ndarray] = {}  # raw views (RawSpec) of items without augmentation, built once
        self._skeletons: dict[int, np.ndarray] = {}  # (J, 3, T) joints of a skeleton teacher's items, read once
        self.cache = None if cache_dir is False else ArrayCache(cache_dir, compress=compress)
        for rec in self.recordings:  # fail early and clearly: a missing modality names the recording
            if student is not None:
                rec.source("inertial")
            if isinstance(teacher, MultiViewSpec):
                for name, modality in teacher.modalities.items():
                    if modality not in rec.sources:
                        raise DataError(f"recording {rec.key} has no '{modality}' modality, which the multimodal "
                                        f"teacher's member '{name}' reads (it has: {sorted(rec.sources) or 'none'})")
            elif teacher is not None:
                rec.source(teacher.modality)

    # --------------------------------------------------------------------------------- epochs
    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random frames/crops training items use (call before each epoch)."""
        if epoch < 0:
            raise ConfigError(f"epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def item_rng(self, index: int, stream: int = 0) -> np.random.Generator:
        """The generator of one training item: seeded by ``(seed, epoch, index)`` only (``stream`` 0: the
        teacher's view, 1: the student's signal augmentation, so the two never share draws)."""
        entropy = [self.seed, self.epoch, int(index)] + ([int(stream)] if stream else [])
        return np.random.default_rng(np.random.SeedSequence(entropy))

    # --------------------------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self.recordings)

    @property
    def labels(self) -> list[int]:
        """The items' labels (-1 for an unlabelled recording)."""
        return [self._label(i) for i in range(len(self.recordings))]

    def _label(self, index: int) -> int:
        if self.labeled is not None and not self.labeled[index]:
            return -1
        return int(self.recordings[index].label)

    @property
    def keys(self) -> list[str]:
        return [str(r.key) for r in self.recordings]

    def __getitem__(self, index: int) -> dict[str, Any]:
        n = len(self.recordings)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for a dataset of {n} recordings")
        index = int(index) % n
        rec = self.recordings[index]
        item: dict[str, Any] = {"index": index, "label": self._label(index), "key": str(rec.key)}
        if self.labeled is not None:
            item["labeled"] = self.labeled[index]
        if self.student is None:
            pass
        elif isinstance(self.student, RawSpec):
            if self.train and self.student_augment:
                item["student"] = torch.from_numpy(student_signal(rec, self.student, self._raw_window(index)))
            else:  # the same every epoch: read and resampled once (a copy each time, so no caller can alter it)
                signal = self._signals.get(index)
                if signal is None:
                    signal = self._signals[index] = student_signal(rec, self.student)
                item["student"] = torch.from_numpy(signal.copy())
        elif self.student_raw:
            window, valid = raw_window(rec, self.student.axes, self.raw_length)
            item["student"] = torch.from_numpy(window)
            item["student_length"] = valid
        else:
            item["student"] = torch.from_numpy(self._augmented_image(index) if self.train and self.student_augment
                                               else student_image(rec, self.student, self.cache))
        if isinstance(self.teacher, MultiViewSpec):
            item["teacher"] = {name: self._view(index, spec, augment, stream)
                               for stream, ((name, spec), augment) in
                               enumerate(zip(self.teacher.views, self.teacher.augments), start=2)}
        elif self.teacher is not None:
            item["teacher"] = self._view(index, self.teacher)
        return item

    def _skeleton(self, index: int) -> np.ndarray:
        """The (J, 3, T) joints of item ``index``, read once per dataset (a few kB per recording)."""
        skel = self._skeletons.get(index)
        if skel is None:
            rec = self.recordings[index]
            try:
                skel = self._skeletons[index] = rec.load("skeleton")
            except VskdError as exc:
                raise _context(rec, "skeleton", exc) from None
        return skel

    def _view(self, index: int, spec: Any, augment: SignalAugment | None = None, stream: int = 0) -> torch.Tensor:
        """One teacher view of item ``index`` (``stream``: its generator's stream, distinct per member)."""
        rec = self.recordings[index]
        rng = self.item_rng(index, stream) if self.train else None
        if isinstance(spec, SkeletonSpec):
            return skeleton_view(rec, spec, self.train, rng, self._skeleton(index))
        if isinstance(spec, ClipSpec):
            return clip_transform(clip_frames(rec, spec, self.cache), spec, self.train, rng)
        window = None
        if self.train and augment is not None:
            window = augment(_inertial_window(rec, spec.axes), spec.axes, rng)
        if isinstance(spec, RawSpec):
            return torch.from_numpy(student_signal(rec, spec, window))
        if window is not None:
            return torch.from_numpy(_encode(rec, window, spec))
        return torch.from_numpy(student_image(rec, spec, self.cache))

    def _raw_window(self, index: int) -> np.ndarray:
        """A training item's augmented raw window ``(T, C)`` (the recording is read once and kept)."""
        rec, axes = self.recordings[index], self.student.axes
        window = self._windows.get(index)
        if window is None:
            window = self._windows[index] = _inertial_window(rec, axes)
        return self.student_augment(window, axes, self.item_rng(index, stream=1))

    def _augmented_image(self, index: int) -> np.ndarray:
        """A training item's GAF of its augmented raw window (a new draw each epoch, never cached on disk).
        The raw window is read from the recording once and kept (a few KB), not re-read every epoch."""
        rec, axes = self.recordings[index], self.student.axes
        window = self._windows.get(index)
        if window is None:
            window = self._windows[index] = _inertial_window(rec, axes)
        return _encode(rec, self.student_augment(window, axes, self.item_rng(index, stream=1)), self.student)

    def __repr__(self) -> str:
        if isinstance(self.teacher, MultiViewSpec):
            t = "+".join(f"{n}:{m}" for n, m in self.teacher.modalities.items())
        else:
            t = f"{self.teacher.modality} K={self.teacher.num_segments}" if self.teacher else "none"
        s = "raw" if self.student_raw else self.student
        return f"PairedDataset({len(self)} recordings, train={self.train}, teacher={t}, student={s})"


# ----------------------------------------------------------------------------------- batches, warm-up
def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch items: equal-shape tensors are stacked, numbers become a tensor, strings a list;
    tensors of unequal shapes (raw windows of varying length) stay a list."""
    if not items:
        raise ValueError("collate needs at least one item")
    out: dict[str, Any] = {}
    for k in items[0]:
        vals = [it[k] for it in items]
        v0 = vals[0]
        if isinstance(v0, dict):  # a multimodal teacher's views: batched view by view
            out[k] = collate(vals)
        elif isinstance(v0, torch.Tensor):
            out[k] = torch.stack(vals) if all(v.shape == v0.shape for v in vals) else vals
        elif isinstance(v0, (bool, int, np.integer)):
            out[k] = torch.tensor([int(v) for v in vals], dtype=torch.long)
        elif isinstance(v0, (float, np.floating)):
            out[k] = torch.tensor(vals, dtype=torch.float32)
        else:
            out[k] = list(vals)
    return out


def warm_cache(dataset: PairedDataset, progress: bool = True) -> dict[str, int]:
    """Decode and store every recording's clip and GAF image so later epochs only read the cache.

    Returns the cache counters of this pass (``hits``, ``misses``, ``corrupt``, ``uncacheable``).
    """
    from tqdm.auto import tqdm

    cache = dataset.cache
    if cache is None:
        return {"hits": 0, "misses": 0, "corrupt": 0, "uncacheable": 0}
    before = cache.stats.as_dict()
    for rec in tqdm(dataset.recordings, desc="vskd cache", unit="rec", disable=not progress):
        if isinstance(dataset.student, GAFSpec) and not dataset.student_raw:
            student_image(rec, dataset.student, cache)
        if isinstance(dataset.teacher, ClipSpec):
            clip_frames(rec, dataset.teacher, cache)
        elif isinstance(dataset.teacher, MultiViewSpec):
            for _, spec in dataset.teacher.views:
                if isinstance(spec, ClipSpec):
                    clip_frames(rec, spec, cache)
                elif isinstance(spec, GAFSpec):
                    student_image(rec, spec, cache)
    after = cache.stats.as_dict()
    return {k: after[k] - before[k] for k in after}
