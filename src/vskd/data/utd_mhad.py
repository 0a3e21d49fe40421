"""UTD-MHAD reader, in the release's own layout and file names.

C. Chen, R. Jafari, N. Kehtarnavaz, "UTD-MHAD: A Multimodal Dataset for Human Action Recognition
Utilizing a Depth Camera and a Wearable Inertial Sensor", ICIP 2015.

Layout under the dataset root (A = action 1..27, S = subject 1..8, T = trial 1..4)::

    Inertial/aA_sS_tT_inertial.mat   d_iner  (N, 6) float64: acc x,y,z in g, gyro x,y,z in deg/s, 50 Hz
    Depth/aA_sS_tT_depth.mat         d_depth (240, 320, T) uint16, depth in mm, 30 fps
    Skeleton/aA_sS_tT_skeleton.mat   d_skel  (20, 3, T) float64, Kinect v1 joints, 30 fps
    RGB/aA_sS_tT_color.avi           640x480 colour video, 30 fps (decoded with PyAV)

The release has 864 - 3 = 861 recordings (a8_s1_t4, a23_s6_t4 and a27_s8_t4 were never released).
Labels are ``action - 1`` (0..26), named by :data:`ACTIONS`. The inertial sensor is on the right wrist
for actions 1..21 and on the right thigh for 22..27.

Every reader raises :class:`~vskd.errors.DataError` with the file name and what was expected.
"""

from __future__ import annotations

import os
import re
from functools import partial
from pathlib import Path

import numpy as np

from vskd.data.recording import MODALITIES, InertialSignal, Recording, RecordingKey, Source
from vskd.data.registry import DatasetReader, Option, ScanResult, register_dataset
from vskd.data.video import read_frames, video_info
from vskd.errors import ConfigError, DataError

DATASET = "utd-mhad"

ACTIONS: list[str] = [
    "right arm swipe to the left",
    "right arm swipe to the right",
    "right hand wave",
    "two hand front clap",
    "right arm throw",
    "cross arms in the chest",
    "basketball shoot",
    "right hand draw x",
    "right hand draw circle (clockwise)",
    "right hand draw circle (counter clockwise)",
    "draw triangle",
    "bowling (right hand)",
    "front boxing",
    "baseball swing from right",
    "tennis right hand forehand swing",
    "arm curl (two arms)",
    "tennis serve",
    "two hand push",
    "right hand knock on door",
    "right hand catch an object",
    "right hand pick up and throw",
    "jogging in place",
    "walking in place",
    "sit to stand",
    "stand to sit",
    "forward lunge (left foot forward)",
    "squat (two arms stretch out)",
]
NUM_CLASSES = len(ACTIONS)

INERTIAL_CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
INERTIAL_RATE_HZ = 50.0
VIDEO_FPS = 30.0
SKELETON_JOINTS = (
    "head", "shoulder_center", "spine", "hip_center",
    "left_shoulder", "left_elbow", "left_wrist", "left_hand",
    "right_shoulder", "right_elbow", "right_wrist", "right_hand",
    "left_hip", "left_knee", "left_ankle", "left_foot",
    "right_hip", "right_knee", "right_ankle", "right_foot",
)  # fmt: skip
DEPTH_SHAPE = (240, 320)
#: (action, subject, trial) of the three recordings the authors never released
UNRELEASED = ((8, 1, 4), (23, 6, 4), (27, 8, 4))

#: modality -> (folder, file-name suffix, extension, .mat variable)
LAYOUT: dict[str, tuple[str, str, str, str | None]] = {
    "inertial": ("Inertial", "inertial", ".mat", "d_iner"),
    "depth": ("Depth", "depth", ".mat", "d_depth"),
    "skeleton": ("Skeleton", "skeleton", ".mat", "d_skel"),
    "rgb": ("RGB", "color", ".avi", None),
}
_SUFFIX_TO_MODALITY = {suffix: mod for mod, (_, suffix, _, _) in LAYOUT.items()}
NAME_RE = re.compile(r"^a(\d+)_s(\d+)_t(\d+)_(inertial|depth|skeleton|color)\.(mat|avi)$")

__all__ = [
    "ACTIONS",
    "DATASET",
    "build_recordings",
    "INERTIAL_CHANNELS",
    "INERTIAL_RATE_HZ",
    "LAYOUT",
    "NUM_CLASSES",
    "SKELETON_JOINTS",
    "UNRELEASED",
    "UTDMHAD",
    "absent_notes",
    "file_path",
    "list_recordings",
    "parse_name",
    "read_depth",
    "read_inertial",
    "read_rgb",
    "read_skeleton",
    "scan",
]


# ------------------------------------------------------------------------------------------ names


def parse_name(path: str | Path) -> tuple[RecordingKey, str]:
    """``aA_sS_tT_<inertial|depth|skeleton>.mat`` / ``aA_sS_tT_color.avi`` -> (key, modality)."""
    name = Path(path).name
    m = NAME_RE.match(name)
    if not m:
        raise DataError(
            f"{path}: file name not in UTD-MHAD form 'aA_sS_tT_<inertial|depth|skeleton>.mat' or 'aA_sS_tT_color.avi'"
        )
    action, subject, trial = (int(g) for g in m.group(1, 2, 3))
    modality = _SUFFIX_TO_MODALITY[m.group(4)]
    ext = LAYOUT[modality][2]
    if "." + m.group(5) != ext:
        raise DataError(f"{path}: {modality} files are {ext} files in UTD-MHAD")
    if not 1 <= action <= NUM_CLASSES:
        raise DataError(f"{path}: action {action} out of range 1..{NUM_CLASSES}")
    if subject < 1 or trial < 1:
        raise DataError(f"{path}: subject and trial numbers start at 1 (got s{subject}, t{trial})")
    return RecordingKey(DATASET, action, subject, trial), modality


def file_path(root: str | Path, key: RecordingKey, modality: str) -> Path:
    """Where the release keeps ``modality`` of ``key`` under ``root``."""
    folder, suffix, ext, _ = LAYOUT[modality]
    return Path(root) / folder / f"a{key.action}_s{key.subject}_t{key.trial}_{suffix}{ext}"


# ------------------------------------------------------------------------------------------ readers


def _loadmat(path: str | Path, variable: str) -> np.ndarray:
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected a MATLAB .mat file with variable '{variable}')")
    try:
        contents = scipy.io.loadmat(str(path), variable_names=[variable])
    except NotImplementedError as exc:  # MATLAB v7.3 (HDF5) files
        raise DataError(f"{path}: unsupported .mat version ({exc}); save it with MATLAB -v7 or older") from None
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError, zlib.error, ... on bad files
        raise DataError(f"{path}: unreadable .mat file ({type(exc).__name__}: {exc})") from None
    if variable not in contents:
        found = [k for k in contents if not k.startswith("__")]
        try:
            found = [name for name, _, _ in scipy.io.whosmat(str(path))]
        except Exception:  # noqa: BLE001 - only used for the message
            pass
        raise DataError(f"{path}: variable '{variable}' not found (the file has: {found or 'no variables'})")
    return contents[variable]


def _require_numeric(path: Path, variable: str, arr: np.ndarray) -> None:
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_) or np.iscomplexobj(arr):
        raise DataError(f"{path}: '{variable}' must be a real numeric array, got dtype {arr.dtype}")


def _require_finite(path: Path, variable: str, arr: np.ndarray, axis_name: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise DataError(
            f"{path}: '{variable}' has {int(bad.sum())} NaN/Inf value(s), first at {axis_name} {int(where[0])}"
        )


def read_inertial(path: str | Path) -> InertialSignal:
    """Read ``d_iner`` (N, 6): accelerometer x, y, z in g and gyroscope x, y, z in deg/s, at 50 Hz."""
    path = Path(path)
    arr = _loadmat(path, "d_iner")
    _require_numeric(path, "d_iner", arr)
    if arr.ndim != 2 or arr.shape[1] != 6 or arr.shape[0] < 1:
        raise DataError(f"{path}: 'd_iner' must have shape (N, 6) (acc xyz, gyro xyz), got {arr.shape}")
    samples = np.asarray(arr, dtype=np.float64)
    _require_finite(path, "d_iner", samples, "sample")
    return InertialSignal(samples=samples, rate_hz=INERTIAL_RATE_HZ, channels=INERTIAL_CHANNELS)


def read_depth(path: str | Path) -> np.ndarray:
    """Read ``d_depth`` (240, 320, T) uint16 and return it as (T, 240, 320) uint16 (depth in mm)."""
    path = Path(path)
    arr = _loadmat(path, "d_depth")
    if arr.ndim != 3 or arr.shape[2] < 1:
        raise DataError(f"{path}: 'd_depth' must have shape (240, 320, T), got {arr.shape}")
    if arr.dtype != np.uint16:
        raise DataError(f"{path}: 'd_depth' must be uint16 (depth in mm), got {arr.dtype}")
    return np.ascontiguousarray(np.moveaxis(arr, 2, 0))


def read_skeleton(path: str | Path) -> np.ndarray:
    """Read ``d_skel`` (20, 3, T) float64: Kinect v1 joints (:data:`SKELETON_JOINTS`) x, y, z per frame."""
    path = Path(path)
    arr = _loadmat(path, "d_skel")
    _require_numeric(path, "d_skel", arr)
    if arr.ndim != 3 or arr.shape[:2] != (len(SKELETON_JOINTS), 3) or arr.shape[2] < 1:
        raise DataError(f"{path}: 'd_skel' must have shape (20, 3, T), got {arr.shape}")
    skel = np.asarray(arr, dtype=np.float64)
    _require_finite(path, "d_skel", np.moveaxis(skel, 2, 0), "frame")
    return skel


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode ``RGB/aA_sS_tT_color.avi`` (640x480, 30 fps) as (T, H, W, 3) uint8 with PyAV."""
    return read_frames(path)


# ------------------------------------------------------------------------------------------ listing


def _check_modalities(modalities) -> tuple[str, ...]:
    if modalities is None:
        return MODALITIES
    if isinstance(modalities, str):
        modalities = [m.strip() for m in modalities.split(",") if m.strip()]
    unknown = [m for m in modalities if m not in LAYOUT]
    if unknown or not modalities:
        raise ConfigError(f"modalities {list(unknown) or '[]'}: expected some of {list(MODALITIES)}")
    return tuple(modalities)


def scan(root: str | Path, modalities=None) -> tuple[dict[RecordingKey, dict[str, Path]], list[str]]:
    """Find the release's files under ``root`` without reading them.

    Returns ``(files, problems)``: ``files[key][modality]`` is the path of each file found, and
    ``problems`` one line per file with a recording's extension whose name does not parse or that sits
    in the wrong folder. Other files (e.g. ``Skeleton/Skeleton_joint_order.txt``) are ignored.
    """
    root = Path(root)
    mods = _check_modalities(modalities)
    if not root.is_dir():
        raise DataError(f"{root}: UTD-MHAD root not found (expected a folder with Inertial/, Depth/, Skeleton/, RGB/)")
    folders = [LAYOUT[m][0] for m in MODALITIES]
    if not any((root / f).is_dir() for f in folders):
        raise DataError(f"{root}: no UTD-MHAD folders in it (expected some of {', '.join(f + '/' for f in folders)})")
    files: dict[RecordingKey, dict[str, Path]] = {}
    problems: list[str] = []
    for modality in mods:
        folder, _, ext, _ = LAYOUT[modality]
        directory = root / folder
        if not directory.is_dir():
            continue
        with os.scandir(directory) as entries:
            names = sorted(e.name for e in entries if e.is_file())
        for name in names:
            if not name.lower().endswith(ext) or name.startswith("."):
                continue  # README, Skeleton_joint_order.txt, ...
            path = directory / name
            try:
                key, found = parse_name(path)
            except DataError as exc:
                problems.append(str(exc))
                continue
            if found != modality:
                problems.append(f"{path}: a {found} file in the {folder}/ folder (expected *_{LAYOUT[modality][1]}{ext})")
                continue
            files.setdefault(key, {})[modality] = path
    return files, problems


def _source(modality: str, path: Path) -> Source:
    if modality == "inertial":
        return Source(load=partial(read_inertial, path), path=path)
    if modality == "depth":
        return Source(load=partial(read_depth, path), path=path, meta={"fps": VIDEO_FPS})
    if modality == "skeleton":
        return Source(load=partial(read_skeleton, path), path=path, meta={"fps": VIDEO_FPS, "joints": SKELETON_JOINTS})
    return Source(
        load=partial(read_rgb, path),
        path=path,
        meta={"fps": VIDEO_FPS},
        frames=partial(read_frames, path),
        count=partial(_frame_count, path),
    )


def _frame_count(path: Path) -> int:
    return video_info(path)[0]


def list_recordings(root: str | Path, modalities=None) -> list[Recording]:
    """All recordings under ``root``, sorted by key, each with sources for the files that exist.

    Args:
        root: the dataset folder (holding ``Inertial/``, ``Depth/``, ``Skeleton/``, ``RGB/``).
        modalities: restrict to these modalities (names from :data:`~vskd.data.recording.MODALITIES`);
            recordings with none of them are left out.

    Raises:
        DataError: a missing root, or a ``.mat``/``.avi`` file whose name is not in the release's form.
    """
    files, problems = scan(root, modalities)
    return ScanResult(build_recordings(files), problems).checked()


def build_recordings(files: dict[RecordingKey, dict[str, Path]]) -> list[Recording]:
    """Recordings (sorted by key, label = action - 1) with lazy sources for the files of :func:`scan`."""
    recordings = []
    for key in sorted(files):
        sources = {mod: _source(mod, path) for mod, path in sorted(files[key].items())}
        recordings.append(Recording(key=key, label=key.action - 1, sources=sources))
    return recordings


def absent_notes(files: dict[RecordingKey, dict[str, Path]]) -> list[str]:
    """Lines naming the (action, subject, trial) combinations of the 27 x 8 x 4 grid with no file at all:
    those never released by the authors (:data:`UNRELEASED`), then the others (a subset of the release?)."""
    if not files:
        return []
    subjects = range(1, max(8, max(k.subject for k in files)) + 1)
    trials = range(1, max(4, max(k.trial for k in files)) + 1)
    grid = [RecordingKey(DATASET, a, s, t) for a in range(1, NUM_CLASSES + 1) for s in subjects for t in trials]
    absent = [k for k in grid if k not in files]
    known = [k for k in absent if (k.action, k.subject, k.trial) in UNRELEASED]
    notes = []
    if known:
        names = ", ".join(f"a{k.action}_s{k.subject}_t{k.trial}" for k in known)
        notes.append(f"{len(known)} recording(s) never released by the authors: {names}")
    other = [k for k in absent if k not in known]
    if other:
        shown = ", ".join(f"a{k.action}_s{k.subject}_t{k.trial}" for k in other[:5])
        more = f" and {len(other) - 5} more" if len(other) > 5 else ""
        notes.append(f"{len(other)} recording(s) of the full release are not here (a subset?): {shown}{more}")
    return notes


@register_dataset(DATASET)
class UTDMHAD(DatasetReader):
    """UTD-MHAD's declaration (:mod:`vskd.data.registry`)."""

    description = "UTD-MHAD: 27 actions, 8 subjects x 4 trials; wrist/thigh IMU, depth, skeleton, RGB"
    reference = "Chen, Jafari, Kehtarnavaz, UTD-MHAD, ICIP 2015"
    root_help = "the folder holding Inertial/, Depth/, Skeleton/, RGB/"
    root_env = "VSKD_UTD_MHAD"
    options = (Option("modalities", None, (str, list), "read only these modalities (default: all found)"),)
    classes = tuple(ACTIONS)
    rate_hz = INERTIAL_RATE_HZ
    modalities = MODALITIES

    def scan(self, root, modalities=None) -> ScanResult:
        files, problems = scan(root, modalities)
        return ScanResult(build_recordings(files), problems, notes=absent_notes(files))
