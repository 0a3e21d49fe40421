"""MMAct reader: trimmed sensor clips (phone, watch) and their videos from four cameras.

Q. Kong, Z. Wu, Z. Deng, M. Klinkigt, B. Tong, T. Murakami, "MMAct: A Large-Scale Dataset for Cross
Modal Human Action Understanding", ICCV 2019 -- cite it with any result.

Layout under the dataset root (the release's trimmed clips; N = subject 1..20, K = scene, M = session,
C = camera 1..4, ACTION = one of the 37 :data:`ACTIONS`, any letter case)::

    acc_watch_clip/subjectN/sceneK/sessionM/ACTION.csv     smartwatch accelerometer
    acc_phone_clip/subjectN/sceneK/sessionM/ACTION.csv     smartphone accelerometer
    gyro_clip/subjectN/sceneK/sessionM/ACTION.csv          smartphone gyroscope
    orientation_clip/subjectN/sceneK/sessionM/ACTION.csv   smartphone orientation
    video/subjectN/camC/sceneK/sessionM/ACTION.mp4         one video per camera

The ``*_clip`` folders may also sit in ``sensor/`` or ``Sensor_trimmed/`` and the videos in
``Video_trimmed/`` instead of ``video/``. A sensor CSV has no header, one sample a line:
``YYYYMMDD_HH:MM:SS.ffffff,x,y,z`` (accelerations in m/s^2, about 100 Hz). The timestamps jitter and
sometimes go backwards, so each stream is sorted by time, repeated times are dropped and the samples
are interpolated linearly onto a fixed rate (``rate_hz``, default 100 Hz) over the time all the
chosen sensors cover (:func:`vskd.data.resample.resample_uniform`).

Channels: the first accelerometer in ``sensors`` is ``acc_x, acc_y, acc_z`` (so the default GAF axes
read it), a second one ``watch_acc_*`` / ``phone_acc_*``, the gyroscope ``gyro_*`` and the orientation
``ori_*``. One recording per clip and camera: ``RecordingKey("mmact", action, subject, trial)`` with
``trial = 100 * scene + 10 * session + camera`` (camera 0: a clip without video, or when only the
``inertial`` modality is read); the sources' ``meta`` carry ``scene``, ``session`` and ``camera`` for
the cross-view, cross-scene and cross-session protocols (:mod:`vskd.data.protocols`).
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from vskd.data.resample import numeric_row, resample_uniform
from vskd.data.recording import InertialSignal, Recording, RecordingKey, Source
from vskd.data.registry import DatasetReader, Option, ScanResult, register_dataset
from vskd.data.video import read_frames, video_info
from vskd.errors import ConfigError, DataError, warn

DATASET = "mmact"
ACTIONS: list[str] = [
    "carrying", "carrying_heavy", "carrying_light", "checking_time", "closing", "crouching", "entering",
    "exiting", "fall", "jumping", "kicking", "loitering", "looking_around", "opening", "picking_up",
    "pointing", "pulling", "pushing", "running", "setting_down", "standing", "talking",
    "talking_on_phone", "throwing", "transferring_object", "using_phone", "walking", "waving_hand",
    "drinking", "pocket_in", "pocket_out", "sitting", "sitting_down", "standing_up",
    "talking_on_phone_desk", "using_pc", "using_phone_desk",
]  # fmt: skip
NUM_CLASSES = len(ACTIONS)
SENSORS = ("acc_watch", "acc_phone", "gyro", "orientation")
DEFAULT_RATE_HZ = 100.0
MODALITIES = ("inertial", "rgb")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov")
_PREFIX = {"acc_watch": "watch_acc", "acc_phone": "phone_acc", "gyro": "gyro", "orientation": "ori"}
_EPOCH = _dt.date(1970, 1, 1).toordinal()
_TIME_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})_(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$")

__all__ = [
    "ACTIONS",
    "MMAct",
    "DATASET",
    "NUM_CLASSES",
    "SENSORS",
    "build_recordings",
    "channel_names",
    "list_recordings",
    "parse_time",
    "read_sensor_csv",
    "scan",
]


# ------------------------------------------------------------------------------------- sensor CSV


def parse_time(text: str) -> float:
    """``YYYYMMDD_HH:MM:SS.ffffff`` -> seconds since 1970-01-01 in the clock's own time zone (only
    differences matter; the release's clocks are local time). ValueError if malformed."""
    m = _TIME_RE.match(text.strip())
    if not m:
        raise ValueError("not YYYYMMDD_HH:MM:SS.ffffff")
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    day = _dt.date(y, mo, d).toordinal() - _EPOCH  # ValueError for month 13, day 32, ...
    if h > 23 or mi > 59 or s > 60:
        raise ValueError("hour/minute/second out of range")
    frac = float("0." + m.group(7)) if m.group(7) else 0.0
    return day * 86400.0 + h * 3600 + mi * 60 + s + frac


def read_sensor_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One MMAct sensor clip -> ``(t, xyz)``: seconds (N,) and values (N, 3), in file order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: sensor file not found")
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: unreadable sensor CSV ({type(exc).__name__}); expected 'YYYYMMDD_HH:MM:SS.ffffff,x,y,z' lines") from None
    times, rows = [], []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 4:
            raise DataError(f"{path}: line {lineno} has {len(fields)} fields, expected 4 (YYYYMMDD_HH:MM:SS.ffffff,x,y,z)")
        try:
            times.append(parse_time(fields[0]))
        except ValueError:
            raise DataError(f"{path}: line {lineno}: bad timestamp {fields[0][:40]!r} (expected YYYYMMDD_HH:MM:SS.ffffff)") from None
        rows.append(numeric_row(path, lineno, fields[1:], line))
    if not rows:
        raise DataError(f"{path}: empty sensor CSV (expected 'YYYYMMDD_HH:MM:SS.ffffff,x,y,z' lines)")
    return np.asarray(times, dtype=np.float64), np.asarray(rows, dtype=np.float64)


def channel_names(sensors: tuple[str, ...]) -> tuple[str, ...]:
    """Channel names for ``sensors`` (the first accelerometer is ``acc_*``; see the module docstring)."""
    first_acc = next((s for s in sensors if s.startswith("acc_")), None)
    names: list[str] = []
    for s in sensors:
        prefix = "acc" if s == first_acc else _PREFIX[s]
        names += [f"{prefix}_x", f"{prefix}_y", f"{prefix}_z"]
    return tuple(names)


def read_inertial(paths: dict[str, Path], rate_hz: float) -> InertialSignal:
    """Read the chosen sensors of one clip and resample them onto one grid at ``rate_hz``.

    The grid covers the time every sensor covers (the latest start to the earliest end)."""
    streams = {s: read_sensor_csv(p) for s, p in paths.items()}
    start = max(float(t.min()) for t, _ in streams.values())
    stop = min(float(t.max()) for t, _ in streams.values())
    if stop <= start and len(streams) > 1:
        raise DataError(f"{', '.join(str(p) for p in paths.values())}: the sensor streams do not overlap in time")
    parts = [resample_uniform(paths[s], t, x, rate_hz, start, stop) for s, (t, x) in streams.items()]
    n = min(len(p) for p in parts)
    samples = np.concatenate([p[:n] for p in parts], axis=1)
    return InertialSignal(samples=samples, rate_hz=rate_hz, channels=channel_names(tuple(paths)))


# ----------------------------------------------------------------------------------- listing


@dataclass(frozen=True, order=True)
class Clip:
    """One performance: subject, scene, session and action id (1-based, :data:`ACTIONS` order)."""

    subject: int
    scene: int
    session: int
    action: int


def _sensor_root(root: Path) -> Path | None:
    for cand in (root, root / "sensor", root / "Sensor_trimmed", root / "trimmed" / "sensor"):
        if any((cand / f"{s}_clip").is_dir() for s in SENSORS):
            return cand
    return None


def _video_root(root: Path) -> Path | None:
    for cand in (root / "video", root / "Video_trimmed", root / "trimmed" / "video"):
        if cand.is_dir():
            return cand
    return None


_PART_RE = {"subject": re.compile(r"^subject(\d+)$"), "cam": re.compile(r"^cam(\d+)$"),
            "scene": re.compile(r"^scene(\d+)$"), "session": re.compile(r"^session(\d+)$")}  # fmt: skip


def _parse_parts(path: Path, names: list[str], kinds: list[str]) -> list[int]:
    out = []
    for name, kind in zip(names, kinds):
        m = _PART_RE[kind].match(name)
        if not m:
            raise DataError(f"{path}: folder {name!r} is not '{kind}N' (expected .../{'/'.join(k + 'N' for k in kinds)}/ACTION)")
        out.append(int(m.group(1)))
    return out


def _action(path: Path) -> int:
    name = path.stem.strip().lower()
    if name not in ACTIONS:
        raise DataError(f"{path}: unknown action {path.stem!r} (expected one of the {NUM_CLASSES} MMAct actions, e.g. 'walking')")
    return ACTIONS.index(name) + 1


def _options(sensors, cameras, rate_hz, modalities):
    if isinstance(sensors, str):
        sensors = [s.strip() for s in sensors.split(",") if s.strip()]
    sensors = tuple(sensors or ())
    bad = [s for s in sensors if s not in SENSORS]
    if bad or not sensors or len(set(sensors)) != len(sensors):
        raise ConfigError(f"mmact option 'sensors': expected distinct names among {list(SENSORS)}, got {list(sensors)}")
    if cameras is not None:
        if isinstance(cameras, (int, str)):
            cameras = [cameras] if isinstance(cameras, int) else [c for c in cameras.split(",") if c.strip()]
        try:
            cameras = sorted({int(c) for c in cameras})
        except (TypeError, ValueError):
            raise ConfigError(f"mmact option 'cameras': expected camera numbers (e.g. [1, 2]), got {cameras!r}") from None
        if not cameras or min(cameras) < 1 or max(cameras) > 9:
            raise ConfigError(f"mmact option 'cameras': expected camera numbers 1..9, got {cameras!r}")
    try:
        rate = float(rate_hz)
    except (TypeError, ValueError):
        raise ConfigError(f"mmact option 'rate_hz': expected a positive number, got {rate_hz!r}") from None
    if not np.isfinite(rate) or rate <= 0:
        raise ConfigError(f"mmact option 'rate_hz': expected a positive number, got {rate_hz!r}")
    if modalities is None:  # not asked for: scan reads the modalities present
        return sensors, cameras, rate, None
    if isinstance(modalities, str):
        modalities = [m.strip() for m in modalities.split(",") if m.strip()]
    if not modalities or any(m not in MODALITIES for m in modalities):
        raise ConfigError(f"mmact modalities {list(modalities)}: expected some of {list(MODALITIES)}")
    return sensors, cameras, rate, tuple(modalities)


def scan(
    root: str | Path,
    sensors=("acc_watch",),
    cameras=None,
    rate_hz: float = DEFAULT_RATE_HZ,
    modalities=None,
) -> tuple[dict[Clip, dict[str, Path]], dict[Clip, dict[int, Path]], list[str], dict]:
    """Find the sensor clips and videos under ``root`` without reading them.

    Returns ``(sensor_files, videos, problems, options)``: ``sensor_files[clip][sensor]`` and
    ``videos[clip][camera]`` are paths; ``problems`` one line per badly named file or folder, and per
    clip that lacks one of the chosen sensors; ``options`` the checked reader options.
    """
    root = Path(root)
    sensors, cameras, rate, mods = _options(sensors, cameras, rate_hz, modalities)
    if not root.is_dir():
        raise DataError(f"{root}: MMAct root not found (expected a folder with acc_watch_clip/ ... and video/)")
    if mods is None:  # not asked for: read the modalities present, say in one line which are absent
        sroot, vroot = _sensor_root(root), _video_root(root)
        mods = tuple(m for m, there in (("inertial", sroot is not None), ("rgb", vroot is not None)) if there)
        if not mods:
            raise DataError(f"{root}: no MMAct data in it (expected sensor folders such as acc_watch_clip/, "
                            "or video/ or Video_trimmed/)")
        if vroot is None:
            warn(f"{root}: reading inertial only, rgb is absent (no video/ or Video_trimmed/ folder)")
        elif sroot is None:
            warn(f"{root}: reading rgb only, inertial is absent (no *_clip sensor folders)")
    problems: list[str] = []
    found: dict[Clip, dict[str, Path]] = {}
    if "inertial" in mods:
        sroot = _sensor_root(root)
        if sroot is None:
            raise DataError(f"{root}: no MMAct sensor folders ({', '.join(s + '_clip/' for s in SENSORS)}) in it, "
                            "nor in sensor/ or Sensor_trimmed/; pass modalities=rgb to read videos only")
        for s in sensors:
            sdir = sroot / f"{s}_clip"
            if not sdir.is_dir():
                raise DataError(f"{sdir}: folder not found (sensor '{s}' was asked for)")
            for path in sorted(sdir.glob("*/*/*/*.csv")):
                try:
                    subj, scene, sess = _parse_parts(path, [p.name for p in path.parents[:3]][::-1],
                                                     ["subject", "scene", "session"])
                    clip = Clip(subj, scene, sess, _action(path))
                except DataError as exc:
                    problems.append(str(exc))
                    continue
                if s in found.setdefault(clip, {}):
                    problems.append(f"{path}: the same action as {found[clip][s].name} (names differ only in case)")
                    continue
                found[clip][s] = path
        for clip in sorted(found):
            missing = [s for s in sensors if s not in found[clip]]
            if missing:
                some = next(iter(found[clip].values()))
                problems.append(f"{some}: no {', '.join(missing)} file for this clip (sensors asked for: {', '.join(sensors)})")
                del found[clip]
    videos: dict[Clip, dict[int, Path]] = {}
    if "rgb" in mods:
        vroot = _video_root(root)
        if vroot is None:
            raise DataError(f"{root}: no MMAct video folder (video/ or Video_trimmed/); pass modalities=inertial to read sensors only")
        for path in sorted(vroot.glob("*/*/*/*/*")):
            if not path.is_file() or path.suffix.lower() not in VIDEO_SUFFIXES:
                continue
            try:
                subj, cam, scene, sess = _parse_parts(path, [p.name for p in path.parents[:4]][::-1],
                                                      ["subject", "cam", "scene", "session"])
                clip = Clip(subj, scene, sess, _action(path))
            except DataError as exc:
                problems.append(str(exc))
                continue
            if cam > 9 or sess > 9:
                problems.append(f"{path}: camera and session numbers above 9 are not supported")
                continue
            if cameras is not None and cam not in cameras:
                continue
            videos.setdefault(clip, {})[cam] = path
    for clip, files in found.items():
        if clip.session > 9:
            problems.append(f"{next(iter(files.values()))}: session numbers above 9 are not supported")
    found = {c: f for c, f in found.items() if c.session <= 9}
    return found, videos, problems, {"sensors": sensors, "rate_hz": rate}


def _fingerprint(paths: list[Path], extra: str) -> str:
    parts = []
    for p in paths:
        try:
            st = p.stat()
            parts.append(f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(str(p))
    return "|".join(parts) + "|" + extra


def _video_count(path: Path) -> int:
    return video_info(path)[0]


def build_recordings(
    sensor_files: dict[Clip, dict[str, Path]],
    videos: dict[Clip, dict[int, Path]],
    sensors: tuple[str, ...] = ("acc_watch",),
    rate_hz: float = DEFAULT_RATE_HZ,
) -> list[Recording]:
    """One recording per clip and camera (camera 0 for a clip without video), sorted by key."""
    recordings = []
    for clip in sorted(set(sensor_files) | set(videos)):
        cams = sorted(videos.get(clip, {})) or [0]
        for cam in cams:
            meta = {"scene": clip.scene, "session": clip.session, "camera": cam,
                    "class_name": ACTIONS[clip.action - 1]}
            sources: dict[str, Source] = {}
            if clip in sensor_files:
                paths = {s: sensor_files[clip][s] for s in sensors}
                sources["inertial"] = Source(
                    load=partial(read_inertial, paths, rate_hz),
                    path=paths[sensors[0]],
                    meta=dict(meta, cache_key=_fingerprint(list(paths.values()), f"rate={rate_hz:g}"), rate_hz=rate_hz),
                )
            if cam:
                vpath = videos[clip][cam]
                sources["rgb"] = Source(load=partial(read_frames, vpath), path=vpath, meta=dict(meta),
                                        frames=partial(read_frames, vpath), count=partial(_video_count, vpath))
            trial = 100 * clip.scene + 10 * clip.session + cam
            key = RecordingKey(DATASET, clip.action, clip.subject, trial)
            recordings.append(Recording(key=key, label=clip.action - 1, sources=sources))
    recordings.sort(key=lambda r: r.key)
    return recordings


def list_recordings(
    root: str | Path,
    sensors=("acc_watch",),
    cameras=None,
    rate_hz: float = DEFAULT_RATE_HZ,
    modalities=None,
) -> list[Recording]:
    """All MMAct recordings under ``root`` (see the module docstring), sorted by key.

    Args:
        root: the folder holding the ``*_clip`` sensor folders and ``video/``.
        sensors: which sensor streams make the ``inertial`` modality (default the smartwatch accelerometer).
        cameras: which cameras' videos to use (default all found); one recording per camera.
        rate_hz: the fixed rate all sensors are resampled to.
        modalities: ``inertial`` and/or ``rgb`` (each then needs its folders); default: those present,
            with a one-line :class:`~vskd.errors.VskdWarning` naming the absent one.

    Raises:
        DataError: a missing root or folder, a badly named file, a clip missing one of the sensors.
    """
    files, videos, problems, opts = scan(root, sensors, cameras, rate_hz, modalities)
    return ScanResult(build_recordings(files, videos, opts["sensors"], opts["rate_hz"]), problems).checked()


@register_dataset(DATASET)
class MMAct(DatasetReader):
    """MMAct's declaration (:mod:`vskd.data.registry`)."""

    description = "MMAct: 37 actions, 20 subjects, 4 scenes; watch/phone IMU, 4 cameras"
    reference = "Kong et al., MMAct: A Large-Scale Dataset for Cross Modal Human Action Understanding, ICCV 2019"
    root_help = "the folder holding the *_clip sensor folders and video/"
    options = (
        Option("sensors", ("acc_watch",), (str, list), f"sensor streams of the inertial modality, among {', '.join(SENSORS)}"),
        Option("cameras", None, (int, str, list), "the cameras whose videos are used (default: all found)"),
        Option("rate_hz", DEFAULT_RATE_HZ, (float, str), "the fixed rate all sensors are resampled to"),
        Option("modalities", None, (str, list), "inertial and/or rgb (default: all found)"),
    )
    classes = tuple(ACTIONS)
    rate_hz = DEFAULT_RATE_HZ
    modalities = MODALITIES
    #: Kong et al.: subjects 1-16 train, 17-20 test; cameras / scenes 1-3 train, 4 tests
    protocols = {
        "cross-subject": (list(range(1, 17)), list(range(17, 21))),
        "subject-specific": None,
        "cross-view": ([1, 2, 3], [4]),
        "cross-scene": ([1, 2, 3], [4]),
        "cross-session": None,
    }

    def scan(self, root, **options) -> ScanResult:
        files, videos, problems, opts = scan(root, **options)
        return ScanResult(build_recordings(files, videos, opts["sensors"], opts["rate_hz"]), problems)
