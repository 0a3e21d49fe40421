"""Generic layout for a user's own recordings: a manifest CSV.

One row per recording; paths are relative to the manifest's folder (absolute paths work too)::

    id,label,subject,trial,sensor,video
    walk-01,walk,1,1,sensor/walk-01.csv,video/walk-01.mp4
    walk-02,walk,2,1,sensor/walk-02.csv,frames/walk-02/
    wave-01,wave,1,1,sensor/wave-01.npy,video/wave-01.avi

Columns:

* ``id`` (required): a unique name, used in messages.
* ``label`` (required): a class name, or an integer class index (0-based). With names, the classes are
  the sorted distinct names unless ``classes=[...]`` fixes their order; names and integers don't mix.
* ``subject``, ``trial`` (required): integers; the split protocols use them.
* ``sensor`` (optional column, may be empty in a row): a CSV with header ``t,x,y,z[,...]`` (``t`` in
  seconds, strictly increasing; the rate is ``1 / median(diff(t))``), a ``.npy`` array (T, C) whose
  rate comes from a ``rate_hz`` column or the ``rate_hz`` option, or a UTD-MHAD ``*_inertial.mat``.
* ``video`` (optional column, may be empty in a row): a video file (decoded with PyAV) or a folder of
  frame images (see :mod:`vskd.data.video`); it becomes the ``rgb`` modality.
* ``rate_hz`` (optional): the sampling rate of a ``.npy`` sensor file (overrides a CSV's estimate).

Each recording is keyed ``RecordingKey(dataset, label + 1, subject, trial)`` with ``dataset`` the
manifest's file stem (or ``name=``); two rows with the same label, subject and trial are an error
(number the trials). Files are checked for existence when the manifest is read and decoded lazily.
"""

from __future__ import annotations

import csv
import re
from functools import partial
from pathlib import Path

import numpy as np

from vskd.data.recording import InertialSignal, Recording, RecordingKey, Source
from vskd.data.registry import DatasetReader, Option, ScanResult, register_dataset
from vskd.data.rules import MAX_RATE_HZ, MIN_RATE_HZ, check_rate, check_signal_length
from vskd.data.video import read_frames, video_info
from vskd.errors import ConfigError, DataError

REQUIRED_COLUMNS = ("id", "label", "subject", "trial")
MEDIA_COLUMNS = ("sensor", "video")
#: integer labels are class indices; more classes than this is a typo (``range(K)`` class names are built)
MAX_CLASSES = 10_000
_INTEGER = re.compile(r"-?[0-9]+")  # ASCII digits only: str.isdigit() accepts '²', which int() refuses

__all__ = ["Manifest", "manifest_classes", "read_manifest", "read_sensor_file", "scan_manifest"]


# ----------------------------------------------------------------------------------- sensor files


def _default_channels(c: int) -> tuple[str, ...]:
    if c == 3:
        return ("x", "y", "z")
    if c == 6:
        return ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
    return tuple(f"ch{i}" for i in range(c))


def _check_rate(path: Path, rate_hz) -> float:
    try:
        rate = float(rate_hz)
    except (TypeError, ValueError):
        raise DataError(f"{path}: rate_hz must be a number, got {rate_hz!r}") from None
    if not np.isfinite(rate) or rate <= 0:
        raise DataError(f"{path}: rate_hz must be a positive number, got {rate_hz!r}")
    return check_rate(rate, path, "rate_hz")


def _read_sensor_csv(path: Path, rate_hz: float | None) -> InertialSignal:
    reader = None
    try:
        with open(path, newline="") as fh:
            reader = csv.reader(fh)
            rows = list(reader)
    except csv.Error as exc:  # e.g. a field over csv.field_size_limit() (128 kB), a NUL byte
        line = reader.line_num if reader is not None else 0
        raise DataError(f"{path}: line {line}: malformed CSV ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: unreadable CSV ({exc})") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise DataError(f"{path}: empty sensor CSV (expected a header 't,x,y,z[,...]' and one row per sample)")
    header = [h.strip() for h in rows[0]]
    if len(header) < 2 or header[0] != "t":
        raise DataError(f"{path}: sensor CSV header must be 't,<channel>[,...]' (e.g. 't,x,y,z'), got {','.join(header)!r}")
    if len(set(header)) != len(header):
        raise DataError(f"{path}: duplicate column names in header {','.join(header)!r}")
    data = np.empty((len(rows) - 1, len(header)), dtype=np.float64)
    for i, row in enumerate(rows[1:]):
        line = i + 2
        if len(row) != len(header):
            raise DataError(f"{path}: line {line} has {len(row)} values, expected {len(header)} ({','.join(header)})")
        try:
            data[i] = [float(v) for v in row]
        except ValueError:
            raise DataError(f"{path}: line {line} has a non-numeric value: {','.join(row)!r}") from None
    if data.shape[0] < 2:
        raise DataError(f"{path}: sensor CSV needs at least 2 samples to know its rate, got {data.shape[0]}")
    bad = ~np.isfinite(data)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(f"{path}: line {r + 2}, column '{header[c]}' is NaN/Inf")
    t = data[:, 0]
    steps = np.diff(t)
    if (steps <= 0).any():
        k = int(np.argmax(steps <= 0))
        raise DataError(
            f"{path}: timestamps must be strictly increasing; line {k + 3} has t={t[k + 1]:g} after t={t[k]:g}"
        )
    if rate_hz is not None:
        rate = _check_rate(path, rate_hz)
    else:
        with np.errstate(divide="ignore", over="ignore"):
            rate = float(1.0 / np.median(steps))
        if not (np.isfinite(rate) and MIN_RATE_HZ <= rate <= MAX_RATE_HZ):
            raise DataError(f"{path}: timestamps give a sampling rate of {rate:g} Hz (median step "
                            f"{float(np.median(steps)):g} s); expected {MIN_RATE_HZ:g}..{MAX_RATE_HZ:g} Hz "
                            f"(is 't' in seconds?)")
    check_signal_length(data.shape[0], path)
    return InertialSignal(samples=np.ascontiguousarray(data[:, 1:]), rate_hz=rate, channels=tuple(header[1:]))


def _read_sensor_npy(path: Path, rate_hz: float | None) -> InertialSignal:
    if rate_hz is None:
        raise DataError(f"{path}: a .npy sensor file has no timestamps; give its rate (rate_hz column or option)")
    rate = _check_rate(path, rate_hz)
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: unreadable .npy file ({exc})") from None
    if not isinstance(arr, np.ndarray) or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise DataError(f"{path}: expected a real numeric array (T, C), got dtype {getattr(arr, 'dtype', type(arr))}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise DataError(f"{path}: expected an array of shape (T, C), got {arr.shape}")
    samples = np.asarray(arr, dtype=np.float64)
    bad = ~np.isfinite(samples)
    if bad.any():
        raise DataError(f"{path}: {int(bad.sum())} NaN/Inf value(s), first at sample {int(np.argwhere(bad)[0][0])}")
    check_signal_length(samples.shape[0], path)
    return InertialSignal(samples=samples, rate_hz=rate, channels=_default_channels(samples.shape[1]))


def read_sensor_file(path: str | Path, rate_hz: float | None = None) -> InertialSignal:
    """Read a sensor stream: CSV ``t,x,y,z[,...]``, ``.npy`` (T, C) (needs ``rate_hz``) or UTD-MHAD ``.mat``.

    CSV channels keep their header names; ``.npy`` channels are named ``x, y, z`` (3 columns),
    ``acc_x .. gyro_z`` (6 columns, the UTD-MHAD order) or ``ch0, ch1, ...``. ``rate_hz`` overrides a
    CSV's rate estimated from ``t``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: sensor file not found")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_sensor_csv(path, rate_hz)
    if suffix == ".npy":
        return _read_sensor_npy(path, rate_hz)
    if suffix == ".mat":
        from vskd.data.utd_mhad import read_inertial

        signal = read_inertial(path)
        check_signal_length(signal.samples.shape[0], path)
        return signal
    raise DataError(f"{path}: unknown sensor file type '{suffix}' (expected .csv, .npy or a UTD-MHAD *_inertial.mat)")


# -------------------------------------------------------------------------------------- manifest


def _video_count(path: Path) -> int:
    return video_info(path)[0]


def _is_int(text: str) -> bool:
    return _INTEGER.fullmatch(text) is not None


def _parse_int(value: str, what: str) -> int:
    if not _is_int(value) or len(value) > 18:
        raise ValueError(f"{what} must be an integer (ASCII digits, at most 18), got {value[:40]!r}")
    return int(value)


def scan_manifest(
    path: str | Path,
    name: str | None = None,
    classes: list[str] | None = None,
    rate_hz: float | None = None,
) -> tuple[list[Recording], list[str], list[str]]:
    """Parse a manifest; return ``(recordings, class_names, problems)`` with one line per bad row.

    :func:`read_manifest` raises on the first problem; ``vskd data check`` reports them all.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: manifest CSV not found")
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            fields = [f.strip() for f in (reader.fieldnames or [])]
            raw_rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: unreadable manifest CSV ({exc})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in fields]
    if missing:
        raise DataError(
            f"{path}: manifest is missing column(s) {', '.join(missing)} "
            f"(expected id,label,subject,trial,sensor,video; got {','.join(fields) or 'no header'})"
        )
    if not any(c in fields for c in MEDIA_COLUMNS):
        raise DataError(f"{path}: manifest needs a 'sensor' and/or a 'video' column (got {','.join(fields)})")
    base = path.parent
    dataset = name or path.stem
    problems: list[str] = []

    rows = []  # (row number, id, label text, subject, trial, sensor path, video path, rate)
    for i, raw in enumerate(raw_rows):
        rownum = i + 2  # line number in the file (header is line 1)
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        where = f"{path}: row {rownum}"
        if None in raw:
            problems.append(f"{where}: more values than columns")
            continue
        try:
            rid = row["id"]
            if not rid:
                raise ValueError("empty id")
            if not row["label"]:
                raise ValueError("empty label")
            subject = _parse_int(row["subject"], "subject")
            trial = _parse_int(row["trial"], "trial")
            sensor = base / row["sensor"] if row.get("sensor") else None
            video = base / row["video"] if row.get("video") else None
            if sensor is None and video is None:
                raise ValueError("neither a sensor nor a video file")
            row_rate = rate_hz
            if row.get("rate_hz"):
                row_rate = float(row["rate_hz"])
                if not (np.isfinite(row_rate) and MIN_RATE_HZ <= row_rate <= MAX_RATE_HZ):
                    raise ValueError(f"rate_hz must be a number in {MIN_RATE_HZ:g}..{MAX_RATE_HZ:g} Hz, "
                                     f"got {row['rate_hz']!r}")
            if sensor is not None and not sensor.is_file():
                raise ValueError(f"sensor file not found: {sensor}")
            if sensor is not None and sensor.suffix.lower() == ".npy" and row_rate is None:
                raise ValueError(f"{sensor.name} is .npy: give its rate in a rate_hz column (or the rate_hz option)")
            if video is not None and not video.exists():
                raise ValueError(f"video file or frame folder not found: {video}")
        except ValueError as exc:
            problems.append(f"{where} ({row.get('id') or 'no id'}): {exc}")
            continue
        rows.append((rownum, rid, row["label"], subject, trial, sensor, video, row_rate))

    # labels: all integers (0-based indices) or all names
    labels = [r[2] for r in rows]
    is_int = [_is_int(lab) for lab in labels]
    if labels and all(is_int) and classes is None:
        k = max(range(len(labels)), key=lambda j: int(labels[j]) if len(labels[j]) < 30 else 10**30)
        if len(labels[k]) >= 30 or int(labels[k]) >= MAX_CLASSES:
            raise DataError(f"{path}: row {rows[k][0]}: integer label {labels[k][:40]} is a class index; at most "
                            f"{MAX_CLASSES} classes (labels 0..{MAX_CLASSES - 1}) are supported")
    if classes is not None:
        class_list = [str(c) for c in classes]
        if len(set(class_list)) != len(class_list):
            raise ConfigError(f"classes {class_list}: names must be distinct")
    elif labels and all(is_int):
        class_list = [str(k) for k in range(max(int(lab) for lab in labels) + 1)]
    elif any(is_int) and not all(is_int):
        k = is_int.index(True)
        raise DataError(
            f"{path}: row {rows[k][0]}: label {labels[k]!r} is an integer but other rows use class names; use one kind"
        )
    else:
        class_list = sorted(set(labels))

    recordings: list[Recording] = []
    seen: dict[tuple[int, int, int], tuple[int, str]] = {}
    ids: dict[str, int] = {}
    for rownum, rid, label_text, subject, trial, sensor, video, row_rate in rows:
        where = f"{path}: row {rownum} ({rid})"
        if label_text in class_list:
            label = class_list.index(label_text)
        elif _is_int(label_text) and len(label_text) < 30 and 0 <= int(label_text) < len(class_list):
            label = int(label_text)
        else:
            problems.append(f"{where}: label {label_text!r} is not one of the classes {class_list}")
            continue
        if label < 0:
            problems.append(f"{where}: label {label_text!r} must be >= 0")
            continue
        if rid in ids:
            problems.append(f"{where}: id {rid!r} already used in row {ids[rid]}")
            continue
        triple = (label, subject, trial)
        if triple in seen:
            other_row, other_id = seen[triple]
            problems.append(
                f"{where}: same label, subject and trial as row {other_row} ({other_id}); give them distinct trial numbers"
            )
            continue
        ids[rid] = rownum
        seen[triple] = (rownum, rid)
        meta = {"id": rid, "class_name": class_list[label], "classes": tuple(class_list), "row": rownum}
        sources: dict[str, Source] = {}
        if sensor is not None:
            sources["inertial"] = Source(load=partial(read_sensor_file, sensor, row_rate), path=sensor, meta=dict(meta))
        if video is not None:
            sources["rgb"] = Source(
                load=partial(read_frames, video),
                path=video,
                meta=dict(meta),
                frames=partial(read_frames, video),
                count=partial(_video_count, video),
            )
        key = RecordingKey(dataset=dataset, action=label + 1, subject=subject, trial=trial)
        recordings.append(Recording(key=key, label=label, sources=sources))
    recordings.sort(key=lambda r: r.key)
    return recordings, class_list, problems


def read_manifest(
    path: str | Path,
    name: str | None = None,
    classes: list[str] | None = None,
    rate_hz: float | None = None,
) -> list[Recording]:
    """Recordings listed in a manifest CSV (see the module docstring), sorted by key.

    Args:
        path: the manifest CSV.
        name: the dataset name in the keys (default: the manifest's file stem).
        classes: class names in label order (default: sorted distinct names, or ``0..K-1`` for integers).
        rate_hz: the sampling rate of ``.npy`` sensor files without a ``rate_hz`` column.

    Raises:
        DataError: missing columns, a bad row (with its line number), a missing file.
    """
    return Manifest().scan(path, dataset_name=name, classes=classes, rate_hz=rate_hz).checked()


def manifest_classes(path: str | Path, classes: list[str] | None = None) -> list[str]:
    """The class names of a manifest, in label order."""
    return scan_manifest(path, classes=classes)[1]


@register_dataset("manifest")
class Manifest(DatasetReader):
    """The manifest layout's declaration (:mod:`vskd.data.registry`); the recordings' keys carry the
    ``dataset_name`` option (default: the manifest's file stem)."""

    description = "your own recordings, listed in a manifest CSV (sensor CSV/npy files, videos or frame folders)"
    root_help = "the manifest CSV (columns id,label,subject,trial,sensor,video)"
    options = (
        Option("dataset_name", None, (str,), "the dataset name in the recordings' keys (default: the file stem)"),
        Option("classes", None, (list,), "class names in label order (default: sorted names, or 0..K-1)"),
        Option("rate_hz", None, (float, str), "the rate of .npy sensor files without a rate_hz column"),
    )
    modalities = ("inertial", "rgb")

    def scan(self, root, dataset_name=None, classes=None, rate_hz=None) -> ScanResult:
        recordings, class_list, problems = scan_manifest(root, name=dataset_name, classes=classes, rate_hz=rate_hz)
        if not recordings and not problems:
            problems = [f"{root}: manifest lists no recordings"]
        return ScanResult(recordings, problems, classes=class_list)
