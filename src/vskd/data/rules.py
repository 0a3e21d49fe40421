"""The minimum-size rules every reader, ``vskd data check``, ``vskd gaf`` and the trainer share.

One place decides what is too short or too small to learn from, so a recording that ``vskd data check``
rejects is never trained on (a 1-sample signal gives a constant, black GAF image; a 4 x 4 pixel depth
clip cannot be cropped to anything the teacher can see):

* an inertial signal needs at least :data:`MIN_SAMPLES` samples (``--min-samples`` of ``vskd data check``
  can only make the rule stricter);
* a video (depth or RGB) or skeleton sequence needs at least :data:`MIN_FRAMES` frames (the default
  number of TSN segments), and frames at least :data:`MIN_FRAME_SIDE` pixels on each side (deliberately
  low: it refuses frames that carry no image, such as 4 x 4 or 5 x 7, not small test fixtures);
* a sampling rate must lie in [:data:`MIN_RATE_HZ`, :data:`MAX_RATE_HZ`] Hz (timestamps 1e-300 s apart
  give an infinite rate that breaks resampling, export and streaming).

Each ``check_*`` function raises :class:`~vskd.errors.DataError` with one line naming ``where``.
"""

from __future__ import annotations

import math

from vskd.errors import DataError

__all__ = ["MAX_RATE_HZ", "MIN_FRAMES", "MIN_FRAME_SIDE", "MIN_RATE_HZ", "MIN_SAMPLES", "check_frame_size",
           "check_rate", "check_signal_length", "too_short"]

MIN_SAMPLES = 8
MIN_FRAMES = 8
MIN_FRAME_SIDE = 6
MIN_RATE_HZ = 0.01  # one sample every 100 s
MAX_RATE_HZ = 100_000.0  # above any wearable accelerometer (vibration sensors reach ~25 kHz)


def too_short(where: object, modality: str, n: int, minimum: int) -> str | None:
    """The message for a sequence shorter than ``minimum`` (None when it is long enough)."""
    if n >= minimum:
        return None
    unit = "samples" if modality == "inertial" else "frames"
    return f"{where}: {modality} has {n} {unit}, fewer than the minimum {minimum}"


def check_signal_length(n: int, where: object, minimum: int = MIN_SAMPLES) -> None:
    """Refuse an inertial signal of fewer than ``minimum`` samples."""
    msg = too_short(where, "inertial", n, minimum)
    if msg:
        raise DataError(msg)


def check_frame_size(height: int, width: int, where: object, modality: str = "depth") -> None:
    """Refuse video frames smaller than :data:`MIN_FRAME_SIDE` pixels on a side."""
    if min(height, width) < MIN_FRAME_SIDE:
        raise DataError(f"{where}: {modality} frames are {height} x {width} pixels; at least "
                        f"{MIN_FRAME_SIDE} x {MIN_FRAME_SIDE} are needed")


def check_rate(rate_hz: float, where: object, what: str = "sampling rate") -> float:
    """Refuse a non-finite rate or one outside [MIN_RATE_HZ, MAX_RATE_HZ]; return it as a float."""
    rate = float(rate_hz)
    if not (math.isfinite(rate) and MIN_RATE_HZ <= rate <= MAX_RATE_HZ):
        raise DataError(f"{where}: {what} {rate:g} Hz is outside the supported {MIN_RATE_HZ:g}..{MAX_RATE_HZ:g} Hz")
    return rate
