"""Sliding-window recognition over a live stream of accelerometer samples (``vskd stream``, Python API).

:class:`StreamRecognizer` takes samples one at a time (``push(t, values)``, ``t`` in seconds) and
returns a :class:`Decision` each time a window is complete:

* **windows**: ``window_s`` seconds long, one every ``hop_s`` seconds. A window ending at time
  :math:`t_e` (the time of the sample that completes it) is the signal linearly interpolated at
  :math:`N` instants evenly spaced over :math:`[t_e - (N-1)/f, t_e]`, where :math:`f` is the rate the
  model was trained at and :math:`N = \\mathrm{round}(\\text{window\\_s} \\cdot f)`; so a stream at any
  rate, even with jitter, is seen at the model's rate. (A model with a fixed ``window_length`` then
  gets those samples resampled to its length.) Samples already on the model's grid are used as they
  are: replaying a whole recording with ``window_s = T / f`` gives the offline GAF image of that
  recording, hence the offline prediction.
* **decision**: the softmax of the model's logits; ``label``/``confidence`` are its top class and
  probability; ``latency_ms`` is the time from the window's completion to the decision (resampling,
  GAF and network, measured with ``time.perf_counter``).

Bad input never stops the stream; it is reported as a :class:`StreamWarning` (``warnings.warn``) and:

* a sample with a non-finite, absurd (``|t|`` above :data:`MAX_TIMESTAMP_S`) or non-increasing
  timestamp (out of order, duplicated) is **dropped**, and so is a sample with a value beyond float32's
  range (``|v| > 3.4e38``, which the model's float32 input would turn into inf);
* a window containing a NaN/Inf value, or with fewer than ``min_fill`` x N real samples inside it (a
  gap, a sensor drop-out), is **skipped** (counted in ``skipped``), and so is a window the model
  cannot score (it refuses the window, or its logits are not finite).

The options are bounded when the recogniser is built: ``window_s`` in (0, :data:`MAX_WINDOW_S`] and at
most :data:`vskd.gaf.MAX_GAF_SIDE` samples at the model's rate (a full-length GAF is N x N), ``hop_s``
in [:data:`MIN_HOP_S`, :data:`MAX_WINDOW_S`] (there is at most one decision per sample anyway),
``threads`` in 1..:data:`MAX_THREADS`.

:func:`parse_csv` reads ``t,x,y,z`` lines (a header and ``#`` comments are ignored; malformed lines
are warned about and dropped) and :func:`mat_samples` replays a UTD-MHAD ``.mat`` at its 50 Hz.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vskd.deploy.runtime import Predictor, load_predictor
from vskd.errors import ConfigError, VskdError

__all__ = ["MAX_THREADS", "MAX_TIMESTAMP_S", "MAX_WINDOW_S", "MIN_HOP_S", "Decision", "StreamRecognizer",
           "StreamWarning", "check_threads", "mat_samples", "parse_csv", "recognize"]

#: the longest window and hop (seconds): one hour
MAX_WINDOW_S = 3600.0
#: the shortest hop (seconds); a shorter one cannot give more decisions (at most one per sample)
MIN_HOP_S = 1e-3
#: timestamps beyond +-1e10 s (317 years; Unix time is 1.7e9 s) are absurd and lose the precision of
#: float64 needed to place samples of a window (spacing 2e-6 s at 1e10)
MAX_TIMESTAMP_S = 1e10
#: the most intra-op threads ``--threads`` may ask for
MAX_THREADS = 1024
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_threads(threads) -> int | None:
    """``threads`` as an int in 1..MAX_THREADS (None: the runtime's default); ConfigError otherwise."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or not 1 <= threads <= MAX_THREADS:
        raise ConfigError(f"--threads must be an integer in [1, {MAX_THREADS}], got {threads!r}")
    return int(threads)


def _seconds(value, option: str, lo: float, hi: float, lo_open: bool) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    v = float(value) if ok else math.nan
    inside = (v > lo if lo_open else v >= lo) and v <= hi
    if not (math.isfinite(v) and inside):
        lo_txt = f"> {lo:g}" if lo_open else f">= {lo:g}"
        raise ConfigError(f"{option} must be a number of seconds {lo_txt} and <= {hi:g}, got {value!r}")
    return v


class StreamWarning(UserWarning):
    """A dropped sample, a skipped window or a malformed input line (the stream goes on)."""


@dataclass(frozen=True)
class Decision:
    """One recognised window: ``[t_start, t_end]`` seconds, top class, its probability, latency."""

    t_start: float
    t_end: float
    label: int
    name: str
    confidence: float
    latency_ms: float
    probabilities: tuple[float, ...]

    def line(self) -> str:
        return (f"{self.t_start:9.3f}-{self.t_end:9.3f} s  {self.name:<24} conf {self.confidence:.3f}  "
                f"latency {self.latency_ms:.1f} ms")


def _warn(msg: str) -> None:
    warnings.warn(msg, StreamWarning, stacklevel=3)


class StreamRecognizer:
    """Sliding-window recogniser (see the module docstring).

    Args:
        model: a :class:`~vskd.deploy.runtime.Predictor` or a path for :func:`load_predictor` (ONNX,
            TorchScript or a student checkpoint).
        window_s: window length in seconds (at least ``min_length`` samples at the model's rate).
        hop_s: time between consecutive windows (seconds, > 0).
        min_fill: a window needs at least ``min_fill * N`` real samples inside it (0 < min_fill <= 1).
        threads: intra-op threads when ``model`` is a path.
    """

    def __init__(self, model: Predictor | str | Path, window_s: float = 3.0, hop_s: float = 0.5,
                 min_fill: float = 0.8, threads: int | None = 1) -> None:
        from vskd.gaf import MAX_GAF_SIDE

        window_s = _seconds(window_s, "--window", 0.0, MAX_WINDOW_S, lo_open=True)
        if not (isinstance(hop_s, (int, float)) and math.isfinite(hop_s) and hop_s > 0):
            raise ConfigError(f"--hop must be a positive number of seconds, got {hop_s!r}")
        hop_s = _seconds(hop_s, "--hop", MIN_HOP_S, MAX_WINDOW_S, lo_open=False)
        if not (isinstance(min_fill, (int, float)) and 0 < min_fill <= 1):
            raise ConfigError(f"min_fill must lie in (0, 1], got {min_fill!r}")
        threads = check_threads(threads)
        self.predictor = model if isinstance(model, Predictor) else load_predictor(model, threads=threads)
        info = self.predictor.info
        self.rate = float(info.rate_hz)
        self.n = round(window_s * self.rate)
        if self.n < info.min_length:
            raise ConfigError(f"--window {window_s:g} s is {self.n} samples at {self.rate:g} Hz; the model needs at "
                              f"least {info.min_length} ({info.min_length / self.rate:g} s)")
        if self.n > MAX_GAF_SIDE and info.window_length is None:
            raise ConfigError(f"--window {window_s:g} s is {self.n} samples at {self.rate:g} Hz; a window is at most "
                              f"{MAX_GAF_SIDE} samples ({MAX_GAF_SIDE / self.rate:g} s; its GAF is N x N)")
        self.window_s, self.hop_s, self.min_fill = float(window_s), float(hop_s), float(min_fill)
        self.span = (self.n - 1) / self.rate  # seconds from the first to the last grid instant
        self.channels = len(info.axes)
        self._t: deque[float] = deque()
        self._x: deque[np.ndarray] = deque()
        self._next_end: float | None = None
        self.skipped = 0
        self.dropped = 0
        self.decisions = 0

    # ------------------------------------------------------------------ input
    def push(self, t: float, values: Iterable[float]) -> list[Decision]:
        """Add one sample (time in seconds, one value per model axis); return the decisions it completes."""
        try:
            x = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            self.dropped += 1
            _warn(f"sample at t={t!r} has non-numeric values; dropped")
            return []
        if x.shape[0] != self.channels:
            self.dropped += 1
            _warn(f"sample at t={t!r} has {x.shape[0]} values, expected {self.channels} "
                  f"({', '.join(self.predictor.info.axes)}); dropped")
            return []
        try:
            t = float(t)
        except (TypeError, ValueError):
            t = math.nan
        if not math.isfinite(t):
            self.dropped += 1
            _warn(f"sample with a non-finite timestamp {t!r} dropped")
            return []
        if abs(t) > MAX_TIMESTAMP_S:
            self.dropped += 1
            _warn(f"sample with an absurd timestamp {t:.6g} s (|t| > {MAX_TIMESTAMP_S:g} s) dropped")
            return []
        big = np.isfinite(x) & (np.abs(x) > _FLOAT32_MAX)  # finite in float64, inf in the model's float32
        if big.any():
            self.dropped += 1
            _warn(f"sample at t={t:.6g} s has a value beyond float32's range ({x[big][0]:.3g}; |v| <= "
                  f"{_FLOAT32_MAX:.3g}); dropped")
            return []
        if self._t and t <= self._t[-1]:
            self.dropped += 1
            what = "duplicated" if t == self._t[-1] else "out of order"
            _warn(f"timestamp {t:.6g} s is {what} (previous {self._t[-1]:.6g} s); sample dropped")
            return []
        self._t.append(t)
        self._x.append(x)
        if self._next_end is None:
            self._next_end = self._t[0] + self.span
        out = []
        # at most one window per sample: a gap longer than the hop ends as one (possibly skipped) window
        if t >= self._next_end - 1e-9 / self.rate:
            d = self._window(t)
            if d is not None:
                out.append(d)
            # the next scheduled end after t (ends stay on the grid first end + k * hop, even after a gap)
            self._next_end += self.hop_s * (math.floor((t - self._next_end) / self.hop_s + 1e-9) + 1)
        self._prune()
        return out

    def push_many(self, samples: Iterable[tuple[float, Iterable[float]]]) -> Iterator[Decision]:
        """Push ``(t, values)`` pairs; yield decisions as they come."""
        for t, v in samples:
            yield from self.push(t, v)

    def _prune(self) -> None:
        # the next window ends at or after _next_end, so it starts at or after _next_end - span
        keep_from = self._next_end - self.span - 2.0 / self.rate  # type: ignore[operator]
        while len(self._t) > 2 and self._t[1] < keep_from:
            self._t.popleft()
            self._x.popleft()

    # ------------------------------------------------------------------ windows
    def _window(self, t_end: float) -> Decision | None:
        start = time.perf_counter()
        t0 = t_end - self.span
        ts = np.fromiter(self._t, dtype=np.float64, count=len(self._t))
        xs = np.stack(self._x)
        tol = 0.5 / self.rate
        inside = (ts >= t0 - tol) & (ts <= t_end)
        n_real = int(inside.sum())
        if ts[0] > t0 + tol:
            n_real = 0  # the stream does not reach back far enough (only after a gap at the start)
        if n_real < self.min_fill * self.n:
            self.skipped += 1
            _warn(f"window {t0:.3f}-{t_end:.3f} s has {n_real} samples, fewer than {self.min_fill:g} x {self.n}; "
                  f"skipped")
            return None
        # the samples bracketing the window, for interpolation at its edges
        lo = max(int(np.searchsorted(ts, t0, side="right")) - 1, 0)
        seg_t, seg_x = ts[lo:], xs[lo:]
        if not np.isfinite(seg_x).all():
            self.skipped += 1
            _warn(f"window {t0:.3f}-{t_end:.3f} s has {int((~np.isfinite(seg_x)).any(axis=1).sum())} sample(s) with "
                  f"NaN/Inf values; skipped")
            return None
        grid = t_end - (self.n - 1 - np.arange(self.n)) / self.rate
        window = np.stack([np.interp(grid, seg_t, seg_x[:, c]) for c in range(self.channels)], axis=1)
        # samples that are on the grid (a replay at the model's rate) are taken as they are
        idx = np.searchsorted(seg_t, grid)
        idx = np.clip(idx, 0, len(seg_t) - 1)
        for shift in (0, -1):
            j = np.clip(idx + shift, 0, len(seg_t) - 1)
            exact = np.abs(seg_t[j] - grid) <= 1e-6 / self.rate
            window[exact] = seg_x[j[exact]]
        try:
            logits = np.asarray(self.predictor.predict_window(window), dtype=np.float64).reshape(-1)
        except VskdError as exc:  # the model refuses this window: skip it, the stream goes on
            self.skipped += 1
            _warn(f"window {t0:.3f}-{t_end:.3f} s: {exc}; skipped")
            return None
        if logits.size == 0 or not np.isfinite(logits).all():
            self.skipped += 1
            _warn(f"window {t0:.3f}-{t_end:.3f} s: the model gave non-finite logits; skipped")
            return None
        z = logits - logits.max()
        p = np.exp(z) / np.exp(z).sum()
        k = int(p.argmax())
        self.decisions += 1
        names = self.predictor.info.class_names
        return Decision(t_start=float(grid[0]), t_end=float(t_end), label=k,
                        name=names[k] if k < len(names) else str(k), confidence=float(p[k]),
                        latency_ms=(time.perf_counter() - start) * 1000.0,
                        probabilities=tuple(float(v) for v in p))


# ---------------------------------------------------------------------- sources
def parse_csv(lines: Iterable[str], channels: int, source: str = "input") -> Iterator[tuple[float, np.ndarray]]:
    """``(t, values)`` from CSV lines ``t,v1,...,vC`` (header and ``#`` comments skipped).

    A line with another number of fields or a non-numeric field is dropped with a :class:`StreamWarning`
    naming ``source`` and the line number; ``nan``/``inf`` values are passed on (the recogniser skips
    the windows they fall in).
    """
    for i, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.replace(";", ",").split(",")]
        try:
            values = [float(f) for f in fields]
        except ValueError:
            if i == 1:
                continue  # header
            warnings.warn(f"{source} line {i}: not numbers ({line[:60]!r}); dropped", StreamWarning, stacklevel=2)
            continue
        if len(values) != channels + 1:
            warnings.warn(f"{source} line {i}: {len(values)} fields, expected {channels + 1} (t and {channels} "
                          f"values); dropped", StreamWarning, stacklevel=2)
            continue
        yield values[0], np.asarray(values[1:], dtype=np.float64)


def mat_samples(path: str | Path, axes: Iterable[str], speed: float = 0.0) -> Iterator[tuple[float, np.ndarray]]:
    """Replay a UTD-MHAD inertial ``.mat`` (``d_iner``, 50 Hz): ``(i / 50, values of axes)`` per sample.

    ``speed``: 1.0 paces the samples at their real rate (sleeping between them), 2.0 twice as fast,
    0 (default) as fast as possible.
    """
    from vskd.data.utd_mhad import read_inertial

    signal = read_inertial(path)
    x = signal.select(tuple(axes))
    start = time.perf_counter()
    for i in range(x.shape[0]):
        t = i / signal.rate_hz
        if speed > 0:
            delay = start + t / speed - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        yield t, x[i]


def recognize(model: Predictor | str | Path, samples: Iterable[tuple[float, Iterable[float]]], window_s: float,
              hop_s: float, min_fill: float = 0.8) -> list[Decision]:
    """All decisions of a :class:`StreamRecognizer` over ``samples`` (convenience for offline replays)."""
    rec = StreamRecognizer(model, window_s=window_s, hop_s=hop_s, min_fill=min_fill)
    return list(rec.push_many(samples))
