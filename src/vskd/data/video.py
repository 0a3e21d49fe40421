"""Video decoding: video files with PyAV, or folders of frame images with Pillow.

Two functions work on both kinds of input:

* :func:`video_info` ``(path) -> (num_frames, fps, height, width)``
* :func:`read_frames` ``(path, indices=None) -> (N, H, W, 3) uint8`` RGB frames

A *video file* (``.avi``, ``.mp4``, ``.mkv``, ...; UTD-MHAD's RGB is 640x480 AVI at 30 fps)
is decoded with PyAV (FFmpeg). Requested frames are picked while decoding the stream once from the
start, in order; this is exact for every codec (seeking to a key frame and counting timestamps is not,
for containers with missing or irregular timestamps) and costs at most one pass over the clip, which
for the short clips of HAR datasets (2-4 s) is a few milliseconds per frame.

A *frame folder* is a directory of image files (``.jpg``, ``.jpeg``, ``.png``, ``.bmp``, ``.tif``,
``.tiff``, ``.webp``), one per frame, ordered by file name with digit runs compared as numbers
(``img_2.jpg`` before ``img_10.jpg``; zero-padded names sort the same either way). A folder carries no
frame rate; :data:`DEFAULT_FOLDER_FPS` (30, the Kinect rate) is reported unless a ``fps.txt`` file in the
folder holds one number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vskd.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_FOLDER_FPS = 30.0

__all__ = [
    "DEFAULT_FOLDER_FPS",
    "IMAGE_SUFFIXES",
    "frame_files",
    "is_frame_folder",
    "read_frames",
    "video_info",
]


def _natural_key(name: str) -> list[object]:
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", name)]


def is_frame_folder(path: str | Path) -> bool:
    """True when ``path`` is a directory (read as a folder of frame images)."""
    return Path(path).is_dir()


def frame_files(folder: str | Path) -> list[Path]:
    """The image files of a frame folder in frame order (natural sort of the names)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: frame folder not found")
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DataError(f"{folder}: frame folder holds no image files (expected {', '.join(IMAGE_SUFFIXES)})")
    return sorted(files, key=lambda p: _natural_key(p.name))


def _folder_fps(folder: Path) -> float:
    fps_file = folder / "fps.txt"
    if not fps_file.is_file():
        return DEFAULT_FOLDER_FPS
    text = fps_file.read_text().strip()
    try:
        fps = float(text)
    except ValueError:
        raise DataError(f"{fps_file}: expected one number (frames per second), got {text[:40]!r}") from None
    if not np.isfinite(fps) or fps <= 0:
        raise DataError(f"{fps_file}: frames per second must be a positive number, got {text!r}")
    return fps


def _check_indices(path: Path, indices: Sequence[int] | np.ndarray | None, count: int | None) -> np.ndarray | None:
    if indices is None:
        return None
    idx = np.asarray(indices)
    if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
        raise DataError(f"{path}: frame indices must be a 1-D sequence of integers, got {np.asarray(indices)!r}")
    idx = idx.astype(np.int64)
    if idx.size and idx.min() < 0:
        raise DataError(f"{path}: frame indices must be >= 0, got {int(idx.min())}")
    if count is not None and idx.size and idx.max() >= count:
        raise DataError(f"{path}: frame index {int(idx.max())} out of range; the video has {count} frames")
    return idx


# --------------------------------------------------------------------------------------- frame folders


def _read_image(file: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{file}: unreadable image ({exc})") from None


def _folder_info(folder: Path) -> tuple[int, float, int, int]:
    from PIL import Image, UnidentifiedImageError

    files = frame_files(folder)
    try:
        with Image.open(files[0]) as im:
            width, height = im.size
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{files[0]}: unreadable image ({exc})") from None
    return len(files), _folder_fps(folder), height, width


def _folder_frames(folder: Path, indices: Sequence[int] | None) -> np.ndarray:
    files = frame_files(folder)
    idx = _check_indices(folder, indices, len(files))
    wanted = range(len(files)) if idx is None else idx.tolist()
    cache: dict[int, np.ndarray] = {}
    frames = []
    for i in wanted:
        if i not in cache:
            cache[i] = _read_image(files[i])
        frames.append(cache[i])
    if not frames:
        return np.zeros((0, 0, 0, 3), np.uint8)
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise DataError(f"{folder}: frame images differ in size ({sorted(shapes)}); all frames must have one size")
    return np.stack(frames)


# ----------------------------------------------------------------------------------------- video files


def _open(path: Path):
    import av

    if not path.exists():
        raise DataError(f"{path}: video file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: video file is empty (0 bytes)")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot open video ({exc})") from None
    if not container.streams.video:
        container.close()
        raise DataError(f"{path}: no video stream in the file")
    return container


def _decode(path: Path, container, stop: int | None):
    """Yield (frame_number, av.VideoFrame) for every decoded frame, up to frame ``stop`` (inclusive)."""
    import av

    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    try:
        for i, frame in enumerate(container.decode(stream)):
            yield i, frame
            if stop is not None and i >= stop:
                return
    except av.FFmpegError as exc:
        raise DataError(f"{path}: corrupt video, decoding failed ({exc})") from None


def _video_info(path: Path, exact: bool) -> tuple[int, float, int, int]:
    with _open(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        height, width = stream.codec_context.height, stream.codec_context.width
        count = int(stream.frames or 0)
        if exact or count <= 0:
            count = 0
            for _, frame in _decode(path, container, None):
                count += 1
                height, width = frame.height, frame.width
    if count <= 0 or not height or not width:
        raise DataError(f"{path}: the video stream has no decodable frames")
    return count, fps, int(height), int(width)


def _video_frames(path: Path, indices: Sequence[int] | None) -> np.ndarray:
    idx = _check_indices(path, indices, None)
    with _open(path) as container:
        if idx is None:
            frames = [f.to_ndarray(format="rgb24") for _, f in _decode(path, container, None)]
            if not frames:
                raise DataError(f"{path}: the video stream has no decodable frames")
            return np.stack(frames)
        if idx.size == 0:
            stream = container.streams.video[0]
            return np.zeros((0, stream.codec_context.height, stream.codec_context.width, 3), np.uint8)
        wanted = set(idx.tolist())
        stop = int(idx.max())
        picked: dict[int, np.ndarray] = {}
        decoded = 0
        for i, frame in _decode(path, container, stop):
            decoded = i + 1
            if i in wanted:
                picked[i] = frame.to_ndarray(format="rgb24")
    if stop >= decoded:
        raise DataError(f"{path}: frame index {stop} out of range; the video has {decoded} decodable frames")
    return np.stack([picked[i] for i in idx.tolist()])


# ------------------------------------------------------------------------------------------- public


def video_info(path: str | Path, exact: bool = False) -> tuple[int, float, int, int]:
    """``(num_frames, fps, height, width)`` of a video file or frame folder.

    For a video file the frame count comes from the container header when it has one; when the header
    has none (or ``exact=True``) the stream is decoded once and its frames are counted, which is the
    ground truth :func:`read_frames` agrees with.
    """
    path = Path(path)
    if path.is_dir():
        return _folder_info(path)
    return _video_info(path, exact)


def read_frames(path: str | Path, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """Decode frames as an ``(N, H, W, 3)`` uint8 RGB array.

    Args:
        path: a video file or a frame folder.
        indices: which frames (0-based), in any order, repeats allowed; ``None`` reads all of them.
            The result's ``k``-th frame is frame ``indices[k]``.
    """
    path = Path(path)
    if path.is_dir():
        return _folder_frames(path, indices)
    return _video_frames(path, indices)
