"""``vskd data check``: is a dataset usable? Counts, missing modalities, unreadable or malformed files.

:func:`check_dataset` returns a :class:`CheckReport` (no printing, testable without the CLI):

* counts of files per modality and the range of sequence lengths (samples / frames);
* recordings missing a modality that other recordings have (warnings; errors for ``require``d ones);
* errors, one line each: unparsable names, unreadable or malformed files (wrong variable, shape,
  dtype), NaN/Inf, sequences shorter than ``min_samples`` (inertial) or ``min_frames`` (video,
  skeleton; the number of TSN segments), undecodable videos.

A full check reads every file (about 20-40 s for UTD-MHAD's 861 depth files, dominated by zlib).
``quick=True`` reads only each ``.mat`` file's first variable header (name, shape, storage type and
whether the file is as long as the header says: :func:`peek_mat`, well under a millisecond a file) and
only checks that video files exist and are not empty; NaN/Inf in the data are then not looked for.
"""

from __future__ import annotations

import contextlib
import struct
import warnings
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vskd.data.recording import MODALITIES, InertialSignal, Recording
from vskd.data.rules import MIN_SAMPLES, check_frame_size, check_rate, too_short
from vskd.errors import ConfigError, DataError, VskdError, VskdWarning

__all__ = ["CheckReport", "check_dataset", "check_recordings", "peek_mat"]


@dataclass
class CheckReport:
    """What :func:`check_dataset` found. ``ok`` is True when there are no errors."""

    dataset: str
    root: str | None
    recordings: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    lengths: dict[str, tuple[int, int]] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)  # modality -> recordings without it
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    quick: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def format(self) -> str:
        where = f" at {self.root}" if self.root else ""
        mode = "quick check: headers only, videos not decoded" if self.quick else "full check: every file read"
        lines = [f"{self.dataset}{where}: {self.recordings} recordings ({mode})"]
        unit = {"inertial": "samples", "skeleton": "frames", "depth": "frames", "rgb": "frames"}
        for mod in MODALITIES:
            n = self.counts.get(mod, 0)
            span = self.lengths.get(mod)
            extra = f"  {unit[mod]} {span[0]}..{span[1]}" if span else ""
            miss = len(self.missing.get(mod, []))
            extra += f"  missing in {miss} recording(s)" if n and miss else ""
            what = "files" if self.root else "items"
            lines.append(f"  {mod:<9}{n:>6} {what}{extra}" if n else f"  {mod:<9}     - (none)")
        lines += [f"note: {n}" for n in self.notes]
        lines += [f"warning: {w}" for w in self.warnings]
        lines += [f"error: {e}" for e in self.errors]
        verdict = "usable" if self.ok else "NOT usable"
        lines.append(f"{verdict}: {len(self.errors)} error(s), {len(self.warnings)} warning(s)")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------ .mat headers

_MI_MATRIX, _MI_COMPRESSED = 14, 15
_MI_TYPES = {1: "int8", 2: "uint8", 3: "int16", 4: "uint16", 5: "int32", 6: "uint32", 7: "single",
             9: "double", 12: "int64", 13: "uint64"}  # fmt: skip
_MX_CLASSES = {1: "cell", 2: "struct", 3: "object", 4: "char", 5: "sparse", 6: "double", 7: "single",
               8: "int8", 9: "uint8", 10: "int16", 11: "uint16", 12: "int32", 13: "uint32",
               14: "int64", 15: "uint64"}  # fmt: skip


def peek_mat(path: str | Path) -> tuple[str, tuple[int, ...], str, str]:
    """Header of the first variable of a MATLAB v5 ``.mat`` file without reading its data.

    Returns ``(name, shape, mx_class, storage)``: e.g. UTD-MHAD depth is
    ``('d_depth', (240, 320, T), 'double', 'uint16')`` (a double array stored as uint16, which
    ``scipy.io.loadmat`` returns as uint16). Only the first few hundred bytes of a compressed element
    are inflated. Raises DataError for a file that is not a v5 .mat or is shorter than its header says.
    (Format: MathWorks, "MAT-File Format", version 5 data elements: tag, array flags, dimensions, name.)
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(128 + 8)
            size = path.stat().st_size
            if len(head) < 136 or head[126:128] not in (b"IM", b"MI"):
                raise DataError(f"{path}: not a MATLAB v5 .mat file (bad or missing 128-byte header)")
            end = "<" if head[126:128] == b"IM" else ">"
            dtype, nbytes = struct.unpack(end + "II", head[128:136])
            if 136 + nbytes > size:
                raise DataError(f"{path}: truncated .mat file ({size} bytes; its first variable needs {136 + nbytes})")
            if dtype == _MI_COMPRESSED:
                inflater = zlib.decompressobj()
                body = b""
                while len(body) < 512:
                    chunk = fh.read(4096)
                    if not chunk:
                        break
                    body += inflater.decompress(chunk, 512 - len(body))
                    if inflater.eof:
                        break
                dtype, nbytes = struct.unpack(end + "II", body[:8])
                body = body[8:]
            else:
                body = fh.read(512)
    except OSError as exc:
        raise DataError(f"{path}: unreadable file ({exc})") from None
    except (zlib.error, struct.error):
        raise DataError(f"{path}: corrupt .mat file (bad compressed data element)") from None
    if dtype != _MI_MATRIX:
        raise DataError(f"{path}: first element of the .mat file is not a matrix (type {dtype})")

    def element(buf: bytes, pos: int) -> tuple[int, bytes, int]:
        t, n = struct.unpack(end + "II", buf[pos : pos + 8])
        if t >> 16:  # small data element: 2-byte size, 2-byte type, data in the 4 bytes that follow
            return t & 0xFFFF, buf[pos + 4 : pos + 4 + (t >> 16)], pos + 8
        return t, buf[pos + 8 : pos + 8 + n], pos + 8 + ((n + 7) // 8) * 8

    try:
        _, flags, pos = element(body, 0)
        mx_class = _MX_CLASSES.get(struct.unpack(end + "I", flags[:4])[0] & 0xFF, "unknown")
        _, dims, pos = element(body, pos)
        shape = tuple(struct.unpack(end + f"{len(dims) // 4}i", dims))
        _, name, pos = element(body, pos)
        storage = mx_class
        if mx_class not in ("cell", "struct", "object", "sparse", "char") and len(body) >= pos + 8:
            storage = _MI_TYPES.get(element(body, pos)[0], "unknown")
    except struct.error:
        raise DataError(f"{path}: corrupt .mat file (malformed variable header)") from None
    return name.decode("latin-1"), shape, mx_class, storage


# ------------------------------------------------------------------------------------ checks


def _length_of(modality: str, value) -> int:
    """Validate a loaded modality against the recording contract; return its length along time."""
    if modality == "inertial":
        if not isinstance(value, InertialSignal):
            raise DataError(f"expected an InertialSignal, got {type(value).__name__}")
        s = np.asarray(value.samples)
        if s.ndim != 2 or s.shape[1] != len(value.channels):
            raise DataError(f"inertial samples must be (T, {len(value.channels)}), got {s.shape}")
        if not np.isfinite(s).all():
            raise DataError(f"inertial samples have {int((~np.isfinite(s)).sum())} NaN/Inf value(s)")
        if not np.isfinite(value.rate_hz) or value.rate_hz <= 0:
            raise DataError(f"inertial rate must be positive, got {value.rate_hz}")
        check_rate(value.rate_hz, "inertial", "rate")
        return int(s.shape[0])
    arr = np.asarray(value)
    if modality == "skeleton":
        if arr.ndim != 3 or arr.shape[1] != 3:
            raise DataError(f"skeleton must be (J, 3, T), got {arr.shape}")
        if not np.isfinite(arr).all():
            raise DataError("skeleton has NaN/Inf values")
        return int(arr.shape[2])
    if modality == "depth":
        if arr.ndim != 3:
            raise DataError(f"depth must be (T, H, W), got {arr.shape}")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise DataError("depth has NaN/Inf values")
        check_frame_size(arr.shape[1], arr.shape[2], "depth", "depth")
        return int(arr.shape[0])
    if arr.ndim != 4 or arr.shape[3] != 3 or arr.dtype != np.uint8:
        raise DataError(f"rgb must be (T, H, W, 3) uint8, got {arr.shape} {arr.dtype}")
    check_frame_size(arr.shape[1], arr.shape[2], "rgb", "rgb")
    return int(arr.shape[0])


_UTD_QUICK = {  # modality -> (variable, shape check, description)
    "inertial": ("d_iner", lambda s: len(s) == 2 and s[1] == 6, "(N, 6)", 0),
    "depth": ("d_depth", lambda s: len(s) == 3, "(240, 320, T)", 2),
    "skeleton": ("d_skel", lambda s: len(s) == 3 and s[:2] == (20, 3), "(20, 3, T)", 2),
}


def _quick_length(rec: Recording, modality: str) -> int | None:
    """Length from headers only (None when unknown), raising DataError for malformed files."""
    src = rec.sources[modality]
    path = src.path
    if path is None:  # in-memory (synthetic): skip rendering videos when the length is declared
        if modality in ("rgb", "depth") and isinstance(src.meta.get("num_frames"), int):
            return int(src.meta["num_frames"])
        return _length_of(modality, src.load())
    if modality == "rgb":
        if src.meta.get("custom_frames") and src.count is not None:  # Berkeley-MHAD .pgm frames
            return int(src.count())
        if path.is_dir():
            from vskd.data.video import frame_files

            return len(frame_files(path))
        if not path.is_file():
            raise DataError(f"{path}: video file not found")
        if path.stat().st_size == 0:
            raise DataError(f"{path}: video file is empty (0 bytes)")
        return None
    if path.suffix.lower() == ".mat" and modality in _UTD_QUICK:
        var, ok, want, axis = _UTD_QUICK[modality]
        name, shape, _, storage = peek_mat(path)
        if name != var:
            raise DataError(f"{path}: variable '{var}' expected first, found '{name}'")
        if not ok(shape):
            raise DataError(f"{path}: '{var}' must have shape {want}, got {shape}")
        if modality == "depth" and storage != "uint16":
            raise DataError(f"{path}: 'd_depth' must be stored as uint16 (depth in mm), found {storage}")
        if modality == "depth":
            check_frame_size(shape[0], shape[1], path, "depth")
        return int(shape[axis])
    return _length_of(modality, src.load())  # small sensor CSV / npy files: just read them


def _full_length(rec: Recording, modality: str) -> int:
    src = rec.sources[modality]
    if modality == "rgb" and src.path is not None and not src.meta.get("custom_frames"):
        from vskd.data.video import video_info

        return video_info(src.path, exact=True)[0]  # decodes every frame, no RGB conversion
    return _length_of(modality, src.load())


def check_recordings(
    report: CheckReport,
    recordings: Iterable[Recording],
    *,
    quick: bool = False,
    min_samples: int = 8,
    min_frames: int = 8,
    require: Iterable[str] = (),
    progress: Callable[[Iterable], Iterable] | None = None,
) -> CheckReport:
    """Read (or peek at) every modality of every recording and add what is wrong to ``report``."""
    recordings = list(recordings)
    require = tuple(require)
    report.recordings = len(recordings)
    report.quick = quick
    have = {m: sum(r.has(m) for r in recordings) for m in MODALITIES}
    report.counts.update(have)
    for mod in MODALITIES:
        report.missing[mod] = [r.name for r in recordings if have[mod] and not r.has(mod)]
        if mod in require and not have[mod]:
            report.errors.append(f"no {mod} files at all, and {mod} is required")
    for mod, names in report.missing.items():
        for name in names:
            line = f"{name}: no {mod} file (other recordings have one)"
            (report.errors if mod in require else report.warnings).append(line)

    lengths: dict[str, list[int]] = {m: [] for m in MODALITIES}
    for rec in progress(recordings) if progress else recordings:
        got: dict[str, int] = {}
        for mod in MODALITIES:
            if not rec.has(mod):
                continue
            where = rec.sources[mod].path or rec.name
            try:
                n = _quick_length(rec, mod) if quick else _full_length(rec, mod)
            except VskdError as exc:
                msg = str(exc)
                report.errors.append(msg if str(where) in msg else f"{where}: {msg}")
                continue
            except Exception as exc:  # noqa: BLE001 - a reader bug must not hide the other files
                report.errors.append(f"{where}: unexpected {type(exc).__name__} while reading {mod}: {exc}")
                continue
            if n is None:
                continue
            got[mod] = n
            lengths[mod].append(n)
            # the readers the trainer uses refuse less than the shared minimum (vskd.data.rules); a
            # smaller --min-samples cannot make such a recording usable
            minimum = max(min_samples, MIN_SAMPLES) if mod == "inertial" else min_frames
            msg = too_short(where, mod, n, minimum)
            if msg:
                report.errors.append(msg)
        if "depth" in got and "skeleton" in got and got["depth"] != got["skeleton"]:
            report.warnings.append(f"{rec.name}: depth has {got['depth']} frames but skeleton {got['skeleton']}")
    report.lengths = {m: (min(v), max(v)) for m, v in lengths.items() if v}
    return report


@contextlib.contextmanager
def _warnings_into(report: CheckReport):
    """Collect the readers' :class:`~vskd.errors.VskdWarning` lines (e.g. an absent modality) as report warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", VskdWarning)
        yield
    for w in caught:
        if issubclass(w.category, VskdWarning):
            report.warnings.append(str(w.message))
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def check_dataset(
    name: str,
    root: str | Path | None = None,
    *,
    quick: bool = False,
    min_samples: int = 8,
    min_frames: int = 8,
    require: Iterable[str] = (),
    progress: Callable[[Iterable], Iterable] | None = None,
    **options,
) -> CheckReport:
    """Check dataset ``name`` (any registered reader, ``vskd datasets``; :mod:`vskd.data.registry`).

    The reader's :meth:`~vskd.data.registry.DatasetReader.scan` finds the recordings; its problems (bad
    names, missing partner files) become errors and its notes notes, then every file is read (or peeked
    at) by :func:`check_recordings`. Problems with individual files are collected in the report rather
    than raised; a missing root, an unknown dataset or option still raises (ConfigError / DataError).
    """
    from vskd.data.registry import get_dataset

    require = tuple(require)
    bad = [m for m in require if m not in MODALITIES]
    if bad:
        raise ConfigError(f"require: unknown modality {bad}; expected some of {list(MODALITIES)}")
    if min_samples < 1 or min_frames < 1:
        raise ConfigError("min_samples and min_frames must be at least 1")
    reader = get_dataset(name)
    root = reader.require_root(root, how="--root")
    report = CheckReport(dataset=name, root=str(root) if root is not None else None)
    with _warnings_into(report):  # e.g. a modality absent from the whole folder: one warning line
        found = reader.scan(root, **reader.resolve_options(options))
    report.errors.extend(found.problems)
    report.notes.extend(found.notes)
    recordings = found.recordings
    if not recordings and not found.problems:
        report.errors.append(f"{root}: no {name} recordings found")
    return check_recordings(
        report, recordings, quick=quick, min_samples=min_samples, min_frames=min_frames, require=require,
        progress=progress,
    )
