"""Sensor text files with irregular time stamps (Berkeley-MHAD Shimmers, MMAct phone/watch CSVs):
one checked line of numbers at a time, then resampled onto a fixed rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vskd.errors import DataError

MAX_SPAN_S = 3600.0  # one recording never lasts an hour: a longer span is a broken clock or unit


def resample_uniform(
    path: str | Path,
    t: np.ndarray,
    values: np.ndarray,
    rate_hz: float,
    start: float | None = None,
    stop: float | None = None,
) -> np.ndarray:
    """Linear interpolation of irregular samples onto ``start + k / rate_hz`` for ``k = 0, 1, ...``.

    The samples are sorted by time (stable), samples at an already seen time are dropped (the first
    kept), and each channel is interpolated with :func:`numpy.interp` on ``[start, stop]`` (default:
    the first and last timestamps). Returns ``(T, C)`` float64.

    Raises:
        DataError: fewer than 2 distinct timestamps, or a window that holds fewer than 2 samples.
    """
    t = np.asarray(t, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    order = np.argsort(t, kind="stable")
    t, values = t[order], values[order]
    keep = np.ones(len(t), dtype=bool)
    keep[1:] = np.diff(t) > 0
    t, values = t[keep], values[keep]
    if len(t) < 2:
        raise DataError(f"{path}: needs at least 2 samples at distinct times to resample, got {len(t)}")
    start = float(t[0]) if start is None else float(start)
    stop = float(t[-1]) if stop is None else float(stop)
    if stop - start > MAX_SPAN_S:
        raise DataError(f"{path}: the time stamps span {stop - start:.0f} s (more than {MAX_SPAN_S:.0f} s): "
                        f"not one recording; check the time column and its unit")
    n = int(np.floor((stop - start) * rate_hz + 1e-9)) + 1 if stop >= start else 0
    if n < 2:
        raise DataError(
            f"{path}: the samples cover {max(stop - start, 0.0):.3f} s, too short for 2 samples at {rate_hz:g} Hz"
        )
    grid = start + np.arange(n) / rate_hz
    return np.stack([np.interp(grid, t, values[:, c]) for c in range(values.shape[1])], axis=1)


def numeric_row(path: str | Path, lineno: int, fields: list[str], line: str) -> list[float]:
    """``fields`` of line ``lineno`` of ``path`` as finite floats, or a DataError naming the line."""
    try:
        row = [float(f) for f in fields]
    except ValueError:
        raise DataError(f"{path}: line {lineno} has a non-numeric value: {line.strip()[:60]!r}") from None
    if not all(np.isfinite(row)):
        raise DataError(f"{path}: line {lineno} has a NaN/Inf value: {line.strip()[:60]!r}")
    return row


def resample_linear(window: np.ndarray, length: int) -> np.ndarray:
    """Linear resampling of ``window`` (T, C) to ``length`` samples spanning the same time (ends kept).

    Sample ``k`` of the result is the window at fractional index :math:`k (T - 1) / (L - 1)`
    (``np.interp`` per channel), in the window's dtype. The identity when ``T == length``. The raw-signal
    students' view, the peers' windows and the deployed model's input all go through this function.
    """
    w = np.asarray(window)
    t = w.shape[0]
    if t == length:
        return w
    if t < 2 or length < 2:
        raise DataError(f"cannot resample a window of {t} samples to {length}: both need at least 2 samples")
    src = np.arange(t, dtype=np.float64)
    dst = np.linspace(0.0, t - 1.0, length)
    return np.stack([np.interp(dst, src, w[:, c]) for c in range(w.shape[1])], axis=1).astype(w.dtype)
