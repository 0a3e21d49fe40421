"""Video decoding with PyAV (small videos written by the tests) and frame folders read with Pillow."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from vskd.data.video import frame_files, read_frames, video_info
from vskd.errors import DataError

N_FRAMES, H, W = 20, 48, 64


def frame_pattern(i: int) -> np.ndarray:
    """Frame i: grey level 12*i on the left half, 240-12*i on the right half (distinct per frame)."""
    img = np.empty((H, W, 3), np.uint8)
    img[:, : W // 2] = 12 * i
    img[:, W // 2 :] = 240 - 12 * i
    return img


def write_video(path: Path, codec: str, n: int = N_FRAMES, fps: int = 25) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = W, H
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        for i in range(n):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame_pattern(i), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def assert_frames_match(frames: np.ndarray, indices: list[int], tol: float = 8.0) -> None:
    """Lossy codecs: compare the mean of each half with the pattern (halves are far apart: 12 levels)."""
    assert frames.shape == (len(indices), H, W, 3) and frames.dtype == np.uint8
    for got, i in zip(frames, indices):
        left = got[4:-4, 4 : W // 2 - 4].mean()
        right = got[4:-4, W // 2 + 4 : -4].mean()
        assert abs(left - 12 * i) < tol, (i, left)
        assert abs(right - (240 - 12 * i)) < tol, (i, right)


@pytest.fixture(scope="module", params=[("avi", "mpeg4"), ("avi", "mjpeg"), ("mkv", "mpeg4")])
def video(request, tmp_path_factory) -> Path:
    ext, codec = request.param
    return write_video(tmp_path_factory.mktemp("video") / f"clip_{codec}.{ext}", codec)


def test_video_info_counts_frames(video: Path) -> None:
    # the .mkv container stores no frame count, so this also covers counting by decoding
    assert video_info(video) == (N_FRAMES, 25.0, H, W)
    assert video_info(video, exact=True)[0] == N_FRAMES


def test_read_all_frames(video: Path) -> None:
    frames = read_frames(video)
    assert_frames_match(frames, list(range(N_FRAMES)))


def test_read_selected_frames_any_order_with_repeats(video: Path) -> None:
    indices = [7, 0, 19, 7, 3]
    assert_frames_match(read_frames(video, indices), indices)
    assert_frames_match(read_frames(video, np.array([19])), [19])


def test_out_of_range_index_is_a_clear_error(video: Path) -> None:
    with pytest.raises(DataError, match=r"frame index 20 out of range.*20"):
        read_frames(video, [0, 20])
    with pytest.raises(DataError, match=">= 0"):
        read_frames(video, [-1])


def test_missing_empty_and_corrupt_videos(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="video file not found"):
        video_info(tmp_path / "nope.avi")
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        read_frames(empty)
    junk = tmp_path / "junk.avi"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match=str(junk.name)):
        video_info(junk)
    with pytest.raises(DataError, match=str(junk.name)):
        read_frames(junk)


def test_truncated_video_reports_fewer_frames(tmp_path: Path) -> None:
    full = write_video(tmp_path / "full.mkv", "mpeg4")
    cut = tmp_path / "cut.mkv"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    n = video_info(cut, exact=True)[0]
    assert 0 < n < N_FRAMES
    with pytest.raises(DataError, match="out of range"):
        read_frames(cut, [N_FRAMES - 1])


# ----------------------------------------------------------------------------------- frame folders


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "frames"
    d.mkdir()
    for i in range(12):  # unpadded names: natural order must put img_2 before img_10
        Image.fromarray(frame_pattern(i)).save(d / f"img_{i}.png")
    (d / "notes.txt").write_text("not a frame")
    return d


def test_frame_folder_info_and_order(folder: Path) -> None:
    assert video_info(folder) == (12, 30.0, H, W)
    assert [p.name for p in frame_files(folder)][:3] == ["img_0.png", "img_1.png", "img_2.png"]
    frames = read_frames(folder)
    assert frames.shape == (12, H, W, 3)
    for i in range(12):
        np.testing.assert_array_equal(frames[i], frame_pattern(i))  # PNG is lossless
    np.testing.assert_array_equal(read_frames(folder, [10, 2, 10]), np.stack([frame_pattern(k) for k in (10, 2, 10)]))


def test_frame_folder_fps_file_and_errors(folder: Path, tmp_path: Path) -> None:
    (folder / "fps.txt").write_text("15\n")
    assert video_info(folder)[1] == 15.0
    (folder / "fps.txt").write_text("fast")
    with pytest.raises(DataError, match="fps.txt"):
        video_info(folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no image files"):
        read_frames(empty)
    with pytest.raises(DataError, match="out of range"):
        read_frames(folder, [12])
    (folder / "img_5.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="img_5.png: unreadable image"):
        read_frames(folder, [5])
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(folder / "img_6.png")
    with pytest.raises(DataError, match="differ in size"):
        read_frames(folder, [6, 7])
