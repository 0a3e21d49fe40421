"""Recordings: one performance of one action, with whatever modalities were captured.

A :class:`Recording` is keyed by ``(dataset, action, subject, trial)`` and holds lazy *sources*, one
per modality, so that listing a dataset costs nothing and a modality is read only when asked for:

==============  ====================================================================
modality        what :meth:`Recording.load` returns
==============  ====================================================================
``inertial``    :class:`InertialSignal`: samples (T, C) float64, sampling rate, channel names
``depth``       :class:`numpy.ndarray` (T, H, W) (depth in mm for UTD-MHAD, uint16)
``rgb``         :class:`numpy.ndarray` (T, H, W, 3) uint8 (decoded with PyAV)
``skeleton``    :class:`numpy.ndarray` (J, 3, T) float64 joint positions
==============  ====================================================================

Video modalities additionally support reading a subset of frames through
:meth:`Recording.video` (see :mod:`vskd.data.video`), so a TSN sampler does not need to decode a whole
clip when the container allows seeking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from vskd.errors import DataError

MODALITIES = ("inertial", "depth", "rgb", "skeleton")
VIDEO_MODALITIES = ("depth", "rgb")


@dataclass(frozen=True, order=True)
class RecordingKey:
    """Identity of a recording. ``action`` is the dataset's own action id (1-based for UTD-MHAD)."""

    dataset: str
    action: int
    subject: int
    trial: int

    def __str__(self) -> str:  # e.g. "utd-mhad/a1_s1_t1"
        return f"{self.dataset}/a{self.action}_s{self.subject}_t{self.trial}"


@dataclass
class InertialSignal:
    """A multi-channel inertial stream sampled at a fixed rate.

    Attributes:
        samples: (T, C) float64 array, one row per sample.
        rate_hz: sampling rate in Hz.
        channels: names of the C columns, e.g. ``("acc_x", "acc_y", "acc_z", "gyro_x", ...)``.
    """

    samples: np.ndarray
    rate_hz: float
    channels: tuple[str, ...]

    def select(self, channels: tuple[str, ...] | list[str]) -> np.ndarray:
        """Return the (T, len(channels)) columns named ``channels``; a clear error names any unknown one."""
        missing = [c for c in channels if c not in self.channels]
        if missing:
            raise DataError(f"inertial channels {missing} not available; this signal has {list(self.channels)}")
        idx = [self.channels.index(c) for c in channels]
        return self.samples[:, idx]


@dataclass
class Source:
    """A lazily loaded modality: ``load()`` reads it; ``path`` names the file for messages and caching."""

    load: Callable[[], Any]
    path: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # optional fast paths for video modalities (see Recording.video / Recording.num_frames)
    frames: Callable[[Sequence[int]], np.ndarray] | None = None
    count: Callable[[], int] | None = None


@dataclass(eq=False)
class Recording:
    """One recording: key, 0-based class label and its modality sources."""

    key: RecordingKey
    label: int
    sources: dict[str, Source] = field(default_factory=dict)

    def has(self, modality: str) -> bool:
        return modality in self.sources

    def source(self, modality: str) -> Source:
        if modality not in self.sources:
            raise DataError(
                f"recording {self.key} has no '{modality}' modality (it has: {sorted(self.sources) or 'none'})"
            )
        return self.sources[modality]

    def load(self, modality: str) -> Any:
        """Read one modality (see the module docstring for the returned types)."""
        return self.source(modality).load()

    def video(self, modality: str, indices: Sequence[int] | None = None) -> np.ndarray:
        """Frames ``indices`` (any order, repeats allowed; ``None``: all) of a video modality.

        Uses the source's ``frames`` reader when it has one (an RGB file decodes only up to the last
        requested frame), else loads the whole array and indexes it along time (axis 0).
        """
        src = self.source(modality)
        if indices is None:
            return src.load()
        if src.frames is not None:
            return src.frames(indices)
        data = src.load()
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(data)):
            raise DataError(f"recording {self.key}: {modality} frame index out of range 0..{len(data) - 1}")
        return data[idx]

    def num_frames(self, modality: str) -> int:
        """Length along time of a modality (frames, or samples for ``inertial``)."""
        src = self.source(modality)
        if src.count is not None:
            return int(src.count())
        data = src.load()
        if modality == "inertial":
            return int(data.samples.shape[0])
        if modality == "skeleton":
            return int(data.shape[-1])
        return int(len(data))

    @property
    def name(self) -> str:
        return str(self.key)
