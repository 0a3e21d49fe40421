"""Berkeley-MHAD reader: Shimmer accelerometers and camera frames, aligned through their timestamps.

F. Ofli, R. Chaudhry, G. Kurillo, R. Vidal, R. Bajcsy, "Berkeley MHAD: A Comprehensive Multimodal
Human Action Database", IEEE WACV 2013 -- cite it with any result.

Layout under the dataset root (NN = accelerometer 01..06, CC = camera cluster, SS = subject 01..12,
AA = action 01..11, RR = repetition 01..05, FFFFF = frame index)::

    Accelerometer/ShimmerNN/acc_hNN_sSS_aAA_rRR.txt
        whitespace text, one sample a line: ``ax ay az unix_time`` (irregular sampling, ~30 Hz)
    Camera/ClusterCC/CamNN/SSS/AAA/RRR/img_lCC_cNN_sSS_aAA_rRR_FFFFF.pgm
        one PGM image per frame (folders named S01/A01/R01)
    Time_stamps/time_stamps_img_sSS_aAA_rRR.txt
        ``frame_index unix_time``, one line per camera frame

The accelerometer's timestamps are irregular, so :func:`resample_uniform` sorts them, drops repeated
times and interpolates linearly onto a fixed rate (``rate_hz``, default 30 Hz, the Shimmers' nominal
rate). Sensors and cameras are aligned on the common time window: the inertial signal covers
``[max(t0_acc, t0_img), min(t1_acc, t1_img)]`` and the ``rgb`` modality holds the frames whose
timestamps fall inside it, so the teacher and the student see the same interval of the action.
Unix times may be in seconds, milliseconds or microseconds (judged from their magnitude).

Recordings are keyed ``RecordingKey("berkeley-mhad", action, subject, repetition)``, label
``action - 1`` (11 classes, :data:`ACTIONS`). Reader options: ``accelerometer`` (1..6, which Shimmer
becomes ``acc_x, acc_y, acc_z``), ``cluster`` and ``camera`` (which camera's frames become ``rgb``),
``rate_hz`` and ``modalities`` (default: the modalities whose folders are present; a one-line warning
names an absent one). Every problem raises :class:`~vskd.errors.DataError` naming the file
(and line).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vskd.data.recording import InertialSignal, Recording, RecordingKey, Source
from vskd.data.registry import DatasetReader, Option, ScanResult, register_dataset
from vskd.data.resample import numeric_row, resample_uniform
from vskd.errors import ConfigError, DataError, warn

DATASET = "berkeley-mhad"
ACTIONS: list[str] = [
    "jumping in place",
    "jumping jacks",
    "bending (hands up all the way down)",
    "punching (boxing)",
    "waving (two hands)",
    "waving (one hand)",
    "clapping hands",
    "throwing a ball",
    "sit down then stand up",
    "sit down",
    "stand up",
]
NUM_CLASSES = len(ACTIONS)
NUM_SUBJECTS = 12
NUM_REPETITIONS = 5
NUM_ACCELEROMETERS = 6
DEFAULT_RATE_HZ = 30.0
CHANNELS = ("acc_x", "acc_y", "acc_z")
MODALITIES = ("inertial", "rgb")

ACC_RE = re.compile(r"^acc_h(\d+)_s(\d+)_a(\d+)_r(\d+)\.txt$")
IMG_RE = re.compile(r"^img_l(\d+)_c(\d+)_s(\d+)_a(\d+)_r(\d+)_(\d+)\.pgm$")
TS_RE = re.compile(r"^time_stamps_img_s(\d+)_a(\d+)_r(\d+)\.txt$")

__all__ = [
    "ACTIONS",
    "BerkeleyMHAD",
    "DATASET",
    "NUM_CLASSES",
    "BerkeleyClip",
    "list_recordings",
    "read_accelerometer",
    "read_timestamps",
    "resample_uniform",
    "scan",
    "to_seconds",
]


# ----------------------------------------------------------------------------------- time series


def to_seconds(t: np.ndarray) -> np.ndarray:
    """Unix times in seconds, milliseconds or microseconds -> seconds (judged from the magnitude:
    above 1e14 is microseconds, above 1e11 milliseconds; 1e11 s is the year 5138)."""
    t = np.asarray(t, dtype=np.float64)
    big = float(np.median(np.abs(t))) if t.size else 0.0
    if big > 1e14:
        return t / 1e6
    if big > 1e11:
        return t / 1e3
    return t


def _read_table(path: Path, columns: int, what: str) -> np.ndarray:
    """Whitespace-separated numeric text, ``columns`` values a line -> (N, columns) float64."""
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected {what})")
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: unreadable text file ({type(exc).__name__}); expected {what}") from None
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != columns:
            raise DataError(f"{path}: line {lineno} has {len(fields)} values, expected {columns} ({what})")
        rows.append(numeric_row(path, lineno, fields, line))
    if not rows:
        raise DataError(f"{path}: empty file (expected {what})")
    return np.asarray(rows, dtype=np.float64)


def read_accelerometer(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``acc_hNN_sSS_aAA_rRR.txt`` -> ``(t, xyz)``: times in seconds (N,) and samples (N, 3), file order."""
    path = Path(path)
    table = _read_table(path, 4, "'ax ay az unix_time' per line")
    return to_seconds(table[:, 3]), table[:, :3]


def read_timestamps(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``time_stamps_img_sSS_aAA_rRR.txt`` -> ``(frame_index, t)``: int64 (N,) and seconds (N,)."""
    path = Path(path)
    table = _read_table(path, 2, "'frame_index unix_time' per line")
    idx = table[:, 0]
    if (idx < 0).any() or (idx != np.round(idx)).any():
        bad = int(np.argmax((idx < 0) | (idx != np.round(idx))))
        raise DataError(f"{path}: frame_index must be a non-negative integer, got {idx[bad]:g} (row {bad + 1})")
    if len(np.unique(idx)) != len(idx):
        raise DataError(f"{path}: a frame_index is listed twice")
    return idx.astype(np.int64), to_seconds(table[:, 1])


def _read_pgm(file: Path) -> np.ndarray:
    """One PGM frame -> (H, W, 3) uint8 (grey replicated; 16-bit images keep their high byte)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as im:
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{file}: unreadable PGM image ({exc})") from None
    if arr.ndim == 3:
        arr = arr[..., :3] if arr.shape[2] >= 3 else arr[..., 0]
    if arr.dtype != np.uint8:
        arr = (np.clip(arr.astype(np.int64), 0, 65535) >> 8).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr)


# ----------------------------------------------------------------------------------- one recording


@dataclass
class BerkeleyClip:
    """The files of one (subject, action, repetition) and their common time window.

    ``acc``: the chosen Shimmer's file (or None); ``frames``: ``{frame_index: .pgm path}`` of the chosen
    camera (or None); ``stamps``: the time-stamps file of the frames (or None).
    """

    key: RecordingKey
    acc: Path | None
    frames: dict[int, Path] | None
    frames_dir: Path | None
    stamps: Path | None
    rate_hz: float = DEFAULT_RATE_HZ

    def _acc(self) -> tuple[np.ndarray, np.ndarray]:
        t, xyz = read_accelerometer(self.acc)
        if len(np.unique(t)) < 2:
            raise DataError(f"{self.acc}: needs at least 2 samples at distinct times to resample, got {len(np.unique(t))}")
        return t, xyz

    def _frame_times(self) -> tuple[np.ndarray, np.ndarray]:
        """(frame indices, times) of the frames that have both an image and a timestamp, by time."""
        idx, t = read_timestamps(self.stamps)
        have = np.array([int(i) in self.frames for i in idx], dtype=bool)
        if not have.any():
            raise DataError(f"{self.stamps}: none of its frame indices has an image in {self.frames_dir}")
        idx, t = idx[have], t[have]
        order = np.argsort(t, kind="stable")
        return idx[order], t[order]

    def window(self) -> tuple[float, float]:
        """The interval both streams cover (seconds): the overlap of the accelerometer and the frames."""
        spans = []
        if self.acc is not None:
            t, _ = self._acc()
            spans.append((float(t.min()), float(t.max()), self.acc))
        if self.frames is not None and self.stamps is not None:
            _, t = self._frame_times()
            spans.append((float(t.min()), float(t.max()), self.stamps))
        start = max(s[0] for s in spans)
        stop = min(s[1] for s in spans)
        if stop <= start and len(spans) == 2:
            raise DataError(
                f"{self.acc} and {self.stamps}: the accelerometer ({spans[0][0]:.3f}..{spans[0][1]:.3f} s) and the "
                f"frames ({spans[1][0]:.3f}..{spans[1][1]:.3f} s) do not overlap in time"
            )
        return start, stop

    def inertial(self) -> InertialSignal:
        t, xyz = self._acc()
        start, stop = self.window()
        samples = resample_uniform(self.acc, t, xyz, self.rate_hz, start, stop)
        return InertialSignal(samples=samples, rate_hz=self.rate_hz, channels=CHANNELS)

    def frame_indices(self) -> np.ndarray:
        """Frame indices (in time order) whose timestamps lie in :meth:`window`."""
        idx, t = self._frame_times()
        start, stop = self.window()
        inside = (t >= start - 1e-9) & (t <= stop + 1e-9)
        if not inside.any():
            raise DataError(f"{self.stamps}: no frame falls inside the sensor window {start:.3f}..{stop:.3f} s")
        return idx[inside]

    def count(self) -> int:
        return len(self.frame_indices())

    def read_frames(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """Aligned frames ``indices`` (positions in :meth:`frame_indices`; None: all) -> (N, H, W, 3) uint8."""
        wanted = self.frame_indices()
        if indices is None:
            pos = np.arange(len(wanted))
        else:
            pos = np.asarray(indices, dtype=np.int64).reshape(-1)
            if pos.size and (pos.min() < 0 or pos.max() >= len(wanted)):
                raise DataError(f"{self.frames_dir}: frame index out of range 0..{len(wanted) - 1}")
        cache: dict[int, np.ndarray] = {}
        out = []
        for p in pos.tolist():
            if p not in cache:
                cache[p] = _read_pgm(self.frames[int(wanted[p])])
            out.append(cache[p])
        if not out:
            return np.zeros((0, 0, 0, 3), np.uint8)
        if len({f.shape for f in out}) > 1:
            raise DataError(f"{self.frames_dir}: frame images differ in size; all frames must have one size")
        return np.stack(out)

    def fingerprint(self) -> str:
        """Identity of the files (path, size, mtime) for cache keys."""
        parts = []
        for p in (self.acc, self.stamps, self.frames_dir):
            if p is None:
                continue
            try:
                st = p.stat()
                parts.append(f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}")
            except OSError:
                parts.append(str(p))
        if self.frames:
            parts.append(f"frames={len(self.frames)}")
        return "|".join(parts) + f"|rate={self.rate_hz:g}"


# ----------------------------------------------------------------------------------- listing


def _option_int(name: str, value, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, str)):
        raise ConfigError(f"berkeley-mhad option '{name}': expected an integer, got {value!r}")
    try:
        v = int(value)
    except ValueError:
        raise ConfigError(f"berkeley-mhad option '{name}': expected an integer, got {value!r}") from None
    if v < lo or (hi is not None and v > hi):
        raise ConfigError(f"berkeley-mhad option '{name}': expected {lo}..{hi}, got {v}")
    return v


def _modalities(modalities) -> tuple[str, ...] | None:
    """The modalities asked for, or None (not asked: read those present, see :func:`scan`)."""
    if modalities is None:
        return None
    if isinstance(modalities, str):
        modalities = [m.strip() for m in modalities.split(",") if m.strip()]
    bad = [m for m in modalities if m not in MODALITIES]
    if bad or not modalities:
        raise ConfigError(f"berkeley-mhad modalities {bad or '[]'}: expected some of {list(MODALITIES)}")
    return tuple(modalities)


def _rate(rate_hz) -> float:
    try:
        rate = float(rate_hz)
    except (TypeError, ValueError):
        raise ConfigError(f"option 'rate_hz': expected a positive number, got {rate_hz!r}") from None
    if not np.isfinite(rate) or rate <= 0:
        raise ConfigError(f"option 'rate_hz': expected a positive number, got {rate_hz!r}")
    return rate


def _check_key(path: Path, s: int, a: int, r: int) -> RecordingKey:
    if not 1 <= a <= NUM_CLASSES:
        raise DataError(f"{path}: action {a} out of range 1..{NUM_CLASSES}")
    if s < 1 or r < 1:
        raise DataError(f"{path}: subject and repetition numbers start at 1 (got s{s:02d}, r{r:02d})")
    return RecordingKey(DATASET, a, s, r)


def scan(
    root: str | Path,
    accelerometer: int = 1,
    cluster: int = 1,
    camera: int = 1,
    rate_hz: float = DEFAULT_RATE_HZ,
    modalities=None,
) -> tuple[list[BerkeleyClip], list[str]]:
    """Find the files of one accelerometer and one camera without reading them.

    Returns ``(clips, problems)``: one :class:`BerkeleyClip` per (subject, action, repetition) found and
    one line per file whose name does not parse, sits in the wrong folder, or frames without their
    time-stamps file. A missing root or a missing folder for a requested modality raises DataError;
    with ``modalities=None`` the modalities whose top folder (``Accelerometer/``, ``Camera/``) is present
    are read (a one-line :class:`~vskd.errors.VskdWarning` names the absent one) and only a root with
    neither raises.
    """
    root = Path(root)
    acc_n = _option_int("accelerometer", accelerometer, 1, NUM_ACCELEROMETERS)
    cl = _option_int("cluster", cluster, 1, 99)
    cam = _option_int("camera", camera, 1, 99)
    rate = _rate(rate_hz)
    mods = _modalities(modalities)
    if not root.is_dir():
        raise DataError(f"{root}: Berkeley-MHAD root not found (expected a folder with Accelerometer/, Camera/, Time_stamps/)")
    acc_dir = root / "Accelerometer" / f"Shimmer{acc_n:02d}"
    cam_dir = root / "Camera" / f"Cluster{cl:02d}" / f"Cam{cam:02d}"
    ts_dir = root / "Time_stamps"
    if mods is None:  # not asked for: read the modalities present, say in one line which are absent
        # a modality is absent when its top folder is (a missing Shimmer or camera under it stays an error)
        present = {"inertial": (root / "Accelerometer").is_dir(), "rgb": (root / "Camera").is_dir()}
        mods = tuple(m for m in MODALITIES if present[m])
        if not mods:
            raise DataError(f"{root}: no Berkeley-MHAD data in it (expected Accelerometer/ and/or Camera/ with Time_stamps/)")
        for m, folder in (("rgb", "Camera"), ("inertial", "Accelerometer")):
            if not present[m]:
                warn(f"{root}: reading {mods[0]} only, {m} is absent ({folder}/ not found)")
    if "inertial" in mods and not acc_dir.is_dir():
        raise DataError(f"{acc_dir}: folder not found (accelerometer {acc_n}); pass modalities=rgb to read frames only")
    if "rgb" in mods and not cam_dir.is_dir():
        raise DataError(f"{cam_dir}: folder not found (cluster {cl}, camera {cam}); pass modalities=inertial to read the sensor only")
    if "rgb" in mods and not ts_dir.is_dir():
        raise DataError(f"{ts_dir}: folder not found (the frames' time stamps, time_stamps_img_sSS_aAA_rRR.txt)")

    problems: list[str] = []
    accs: dict[RecordingKey, Path] = {}
    frames: dict[RecordingKey, tuple[Path, dict[int, Path]]] = {}
    if "inertial" in mods:
        for name in sorted(os.listdir(acc_dir)):
            path = acc_dir / name
            if not name.endswith(".txt") or name.startswith(".") or not path.is_file():
                continue
            m = ACC_RE.match(name)
            if not m:
                problems.append(f"{path}: file name not in Berkeley-MHAD form 'acc_hNN_sSS_aAA_rRR.txt'")
                continue
            h, s, a, r = (int(g) for g in m.groups())
            if h != acc_n:
                problems.append(f"{path}: accelerometer h{h:02d} file in the Shimmer{acc_n:02d}/ folder")
                continue
            try:
                accs[_check_key(path, s, a, r)] = path
            except DataError as exc:
                problems.append(str(exc))
    if "rgb" in mods:
        for rep_dir in sorted(cam_dir.glob("S*/A*/R*")):
            if not rep_dir.is_dir():
                continue
            parts = [rep_dir.parent.parent.name, rep_dir.parent.name, rep_dir.name]
            if not all(re.fullmatch(p + r"\d+", x) for p, x in zip("SAR", parts)):
                problems.append(f"{rep_dir}: folder names must be SSS/AAA/RRR, e.g. S01/A01/R01")
                continue
            s, a, r = (int(x[1:]) for x in parts)
            try:
                key = _check_key(rep_dir, s, a, r)
            except DataError as exc:
                problems.append(str(exc))
                continue
            files: dict[int, Path] = {}
            for name in sorted(os.listdir(rep_dir)):
                if not name.endswith(".pgm"):
                    continue
                m = IMG_RE.match(name)
                if not m or tuple(int(g) for g in m.groups()[:5]) != (cl, cam, s, a, r):
                    problems.append(
                        f"{rep_dir / name}: expected img_l{cl:02d}_c{cam:02d}_s{s:02d}_a{a:02d}_r{r:02d}_FFFFF.pgm"
                    )
                    continue
                files[int(m.group(6))] = rep_dir / name
            if not files:
                problems.append(f"{rep_dir}: no .pgm frames")
                continue
            frames[key] = (rep_dir, files)
    clips = []
    for key in sorted(set(accs) | set(frames)):
        rep_dir, files = frames.get(key, (None, None))
        stamps = None
        if files is not None:
            stamps = ts_dir / f"time_stamps_img_s{key.subject:02d}_a{key.action:02d}_r{key.trial:02d}.txt"
            if not stamps.is_file():
                problems.append(f"{stamps}: time-stamps file not found for the frames in {rep_dir}")
                rep_dir, files, stamps = None, None, None
                if key not in accs:
                    continue
        clips.append(BerkeleyClip(key=key, acc=accs.get(key), frames=files, frames_dir=rep_dir, stamps=stamps, rate_hz=rate))
    return clips, problems


def build_recordings(clips: list[BerkeleyClip]) -> list[Recording]:
    """Recordings (label ``action - 1``) with lazy sources for the clips of :func:`scan`."""
    recordings = []
    for clip in clips:
        meta = {"cache_key": clip.fingerprint(), "class_name": ACTIONS[clip.key.action - 1]}
        sources: dict[str, Source] = {}
        if clip.acc is not None:
            sources["inertial"] = Source(load=clip.inertial, path=clip.acc, meta=dict(meta, rate_hz=clip.rate_hz))
        if clip.frames is not None:
            sources["rgb"] = Source(
                load=clip.read_frames,
                path=clip.frames_dir,
                meta=dict(meta, custom_frames=True),
                frames=clip.read_frames,
                count=clip.count,
            )
        recordings.append(Recording(key=clip.key, label=clip.key.action - 1, sources=sources))
    return recordings


def list_recordings(
    root: str | Path,
    accelerometer: int = 1,
    cluster: int = 1,
    camera: int = 1,
    rate_hz: float = DEFAULT_RATE_HZ,
    modalities=None,
) -> list[Recording]:
    """All recordings under ``root`` (sorted by key) for one accelerometer and one camera.

    Args:
        root: the folder holding ``Accelerometer/``, ``Camera/`` and ``Time_stamps/``.
        accelerometer: which Shimmer (1..6) is the ``inertial`` modality (channels ``acc_x, acc_y, acc_z``).
        cluster, camera: which camera's frames are the ``rgb`` modality.
        rate_hz: the fixed rate the accelerometer is resampled to.
        modalities: ``inertial`` and/or ``rgb`` (each then needs its folder); default: those present,
            with a one-line :class:`~vskd.errors.VskdWarning` naming the absent one.

    Raises:
        DataError: a missing root or folder, a badly named file, frames without a time-stamps file.
    """
    clips, problems = scan(root, accelerometer, cluster, camera, rate_hz, modalities)
    return ScanResult(build_recordings(clips), problems).checked()


@register_dataset(DATASET)
class BerkeleyMHAD(DatasetReader):
    """Berkeley-MHAD's declaration (:mod:`vskd.data.registry`)."""

    description = "Berkeley-MHAD: 11 actions, 12 subjects x 5 repetitions; Shimmer accelerometers, camera frames"
    reference = "Ofli et al., Berkeley MHAD: A Comprehensive Multimodal Human Action Database, WACV 2013"
    root_help = "the folder holding Accelerometer/, Camera/, Time_stamps/"
    options = (
        Option("accelerometer", 1, (int, str), f"which Shimmer (1..{NUM_ACCELEROMETERS}) is the inertial modality"),
        Option("cluster", 1, (int, str), "the camera cluster of the rgb frames"),
        Option("camera", 1, (int, str), "the camera in the cluster"),
        Option("rate_hz", DEFAULT_RATE_HZ, (float, str), "the fixed rate the accelerometer is resampled to"),
        Option("modalities", None, (str, list), "inertial and/or rgb (default: all found)"),
    )
    classes = tuple(ACTIONS)
    rate_hz = DEFAULT_RATE_HZ
    modalities = MODALITIES
    #: Ofli et al.: subjects 1-7 train, 8-12 test
    protocols = {"cross-subject": (list(range(1, 8)), list(range(8, NUM_SUBJECTS + 1))), "subject-specific": None}

    def scan(self, root, **options) -> ScanResult:
        clips, problems = scan(root, **options)
        return ScanResult(build_recordings(clips), problems)
