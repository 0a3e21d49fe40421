"""TSN segment sampling, depth -> image mapping and the clip transforms (vskd.data.frames)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vskd.data.frames import (
    TSN_SCALES,
    ClipSpec,
    DepthMapping,
    clip_transform,
    decode_clip,
    depth_to_uint8,
    eval_transform,
    multiscale_crop_box,
    segment_bounds,
    segment_indices,
    to_uint8_frames,
    train_transform,
    tsn_offsets,
)
from vskd.errors import ConfigError, DataError


# ------------------------------------------------------------------------------------ sampling
def tsn_val_indices(num_frames: int, k: int) -> list[int]:
    """TSN's own test-time sampler (tsn-pytorch dataset.py, _get_val_indices), as a reference."""
    tick = num_frames / float(k)
    return [int(tick / 2.0 + tick * x) for x in range(k)]


@pytest.mark.parametrize("n", [8, 16, 48, 64, 120])
def test_eval_indices_are_segment_centres_and_match_tsn(n):
    idx = segment_indices(n, 8, train=False)
    assert idx.dtype == np.int64 and idx.shape == (8,)
    assert idx.tolist() == tsn_val_indices(n, 8)
    if n == 48:
        assert idx.tolist() == [3, 9, 15, 21, 27, 33, 39, 45]


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 400), k=st.integers(1, 16))
def test_segments_tile_the_video_and_centres_lie_inside(n, k):
    lo, hi = segment_bounds(n, k)
    assert (hi > lo).all() and lo[0] == 0 and (hi <= max(n, 1)).all()
    if n >= k:  # segments tile [0, n) with lengths differing by at most one
        assert hi[-1] == n and (lo[1:] == hi[:-1]).all()
        assert (hi - lo).max() - (hi - lo).min() <= 1
    c = segment_indices(n, k, train=False)
    assert ((c >= lo) & (c < hi)).all()
    assert (np.diff(c) >= 0).all()


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 300), k=st.integers(1, 12), seed=st.integers(0, 2**31))
def test_train_indices_lie_in_their_segment(n, k, seed):
    lo, hi = segment_bounds(n, k)
    idx = segment_indices(n, k, train=True, rng=np.random.default_rng(seed))
    assert ((idx >= lo) & (idx < hi)).all()
    assert (np.diff(idx) >= 0).all()


def test_train_sampling_is_seeded_and_covers_each_segment():
    a = segment_indices(80, 8, True, np.random.default_rng(3))
    b = segment_indices(80, 8, True, np.random.default_rng(3))
    assert a.tolist() == b.tolist()
    draws = np.stack([segment_indices(80, 8, True, np.random.default_rng(s)) for s in range(400)])
    assert len({tuple(d) for d in draws}) > 300  # different seeds give different clips
    for k in range(8):  # every frame of segment k (10 frames) is drawn, nothing outside it
        assert set(draws[:, k].tolist()) == set(range(10 * k, 10 * k + 10))


def test_short_videos_repeat_frames_in_order():
    assert segment_indices(3, 8, train=False).tolist() == [0, 0, 0, 1, 1, 1, 2, 2]
    tr = segment_indices(3, 8, train=True, rng=np.random.default_rng(0))
    assert tr.tolist() == [0, 0, 0, 1, 1, 1, 2, 2]
    assert segment_indices(1, 8, train=False).tolist() == [0] * 8
    assert set(segment_indices(5, 8, train=False).tolist()) == set(range(5))


def test_sampling_errors():
    with pytest.raises(DataError, match="0 frames"):
        segment_indices(0, 8, train=False)
    with pytest.raises(ConfigError, match="num_segments"):
        segment_indices(10, 0, train=False)
    with pytest.raises(ValueError, match="rng"):
        segment_indices(10, 8, train=True)


# ------------------------------------------------------------------------------------ depth
def test_depth_robust_mapping_near_bright_zero_black():
    rng = np.random.default_rng(0)
    d = np.zeros((4, 20, 30), np.uint16)
    d[:, 5:15, 10:20] = rng.integers(2400, 3000, size=(4, 10, 10))
    img = depth_to_uint8(d)
    assert img.dtype == np.uint8 and img.shape == d.shape
    assert (img[d == 0] == 0).all()
    assert (img[d > 0] >= 1).all()
    near, far = d[d > 0].min(), d[d > 0].max()
    assert img[d == near].min() == 255 and img[d == far].max() == 1
    # monotone: nearer never darker
    vals = d[d > 0].astype(int)
    order = np.argsort(vals, kind="stable")
    assert (np.diff(img[d > 0][order].astype(int)) <= 0).all()


def test_depth_robust_mapping_ignores_outliers_and_is_per_clip():
    d = np.zeros((2, 50, 50), np.uint16)
    d[:, 10:40, 10:40] = np.linspace(2000, 3000, 30).astype(np.uint16)[None, None, :]
    base = depth_to_uint8(d)
    d2 = d.copy()
    d2[0, 0, 0] = 60000  # one stray far pixel
    out = depth_to_uint8(d2)
    assert np.abs(out[d > 0].astype(int) - base[d > 0].astype(int)).max() <= 2
    assert out[0, 0, 0] == 1  # clipped to the far end
    # per clip: the same body 1 m further away maps to the same image
    shifted = np.where(d > 0, d + 1000, 0).astype(np.uint16)
    assert np.array_equal(depth_to_uint8(shifted), base)


def test_depth_fixed_and_invert_options():
    d = np.array([[[0, 500, 2500, 4500, 6000]]], np.uint16)
    fixed = depth_to_uint8(d, DepthMapping(mode="fixed", near_mm=500, far_mm=4500))
    assert fixed.tolist() == [[[0, 255, 128, 1, 1]]]
    plain = depth_to_uint8(d, DepthMapping(mode="fixed", near_mm=500, far_mm=4500, invert=False))
    assert plain.tolist() == [[[0, 1, 128, 255, 255]]]
    assert depth_to_uint8(np.zeros((2, 3, 3), np.uint16)).max() == 0  # no reading at all
    with pytest.raises(ConfigError, match="mode"):
        DepthMapping(mode="jet")
    with pytest.raises(ConfigError, match="near_mm"):
        DepthMapping(mode="fixed", near_mm=3000, far_mm=1000)
    with pytest.raises(DataError, match=r"\(T, H, W\)"):
        depth_to_uint8(np.zeros((3, 3), np.uint16))


def test_depth_lookup_table_path_equals_the_direct_mapping():
    rng = np.random.default_rng(3)
    d = rng.integers(1800, 3400, size=(3, 24, 32)).astype(np.uint16)
    d[rng.random(d.shape) < 0.8] = 0
    for m in (DepthMapping(), DepthMapping(invert=False), DepthMapping(mode="fixed", near_mm=2000, far_mm=3000)):
        lut = depth_to_uint8(d, m)  # uint16 -> lookup table
        direct = depth_to_uint8(d.astype(np.float64), m)  # float -> per-pixel formula
        assert np.array_equal(lut, direct)
    nz = d[d > 0].astype(float)
    near, far = np.percentile(nz, [1, 99])
    assert (depth_to_uint8(d)[(d > 0) & (d <= near)] == 255).all()
    assert (depth_to_uint8(d)[d >= far] == 1).all()


# ------------------------------------------------------------------------------------ decode
def test_decode_clip_resizes_shorter_side_and_keeps_channels():
    depth = np.random.default_rng(0).integers(0, 3000, (5, 240, 320)).astype(np.uint16)
    out = decode_clip(depth, ClipSpec(modality="depth", frame_size=64, crop_size=56))
    assert out.dtype == np.uint8 and out.shape == (5, 1, 64, 85)
    rgb = np.zeros((4, 48, 36, 3), np.uint8)
    rgb[..., 0] = 200
    rgb[..., 2] = 50
    out = decode_clip(rgb, ClipSpec(modality="rgb", frame_size=24, crop_size=16))
    assert out.shape == (4, 3, 32, 24)
    assert (out[:, 0] == 200).all() and (out[:, 1] == 0).all() and (out[:, 2] == 50).all()


def test_decode_errors():
    with pytest.raises(DataError, match="uint8"):
        to_uint8_frames(np.zeros((2, 8, 8, 3), np.float32), "rgb")
    with pytest.raises(DataError, match=r"\(T, H, W, 3\)"):
        to_uint8_frames(np.zeros((2, 8, 8), np.uint8), "rgb")
    with pytest.raises(ConfigError, match="crop_size"):
        ClipSpec(frame_size=64, crop_size=112)
    with pytest.raises(ConfigError, match="modality"):
        ClipSpec(modality="skeleton")


# ------------------------------------------------------------------------------------ transforms
def _frames(t=10, c=1, h=40, w=60, seed=0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (t, c, h, w), dtype=np.uint8))


def test_eval_transform_is_the_centre_crop():
    f = _frames(c=3)
    out = eval_transform(f, 32)
    assert out.shape == (10, 3, 32, 32) and out.dtype == torch.float32
    top, left = (40 - 32) // 2, (60 - 32) // 2
    expect = f[:, :, top : top + 32, left : left + 32].float() / 255
    assert torch.equal(out, expect)


def test_clip_transform_shapes_range_and_determinism():
    f = _frames(t=30, c=1)
    spec = ClipSpec(modality="depth", num_segments=8, frame_size=40, crop_size=32)
    ev = clip_transform(f, spec, train=False)
    assert ev.shape == (8, 3, 32, 32) and ev.dtype == torch.float32
    assert float(ev.min()) >= 0.0 and float(ev.max()) <= 1.0
    assert torch.equal(ev[:, 0], ev[:, 1]) and torch.equal(ev[:, 0], ev[:, 2])  # depth repeated to RGB
    assert torch.equal(ev, clip_transform(f, spec, train=False))
    tr = clip_transform(f, spec, train=True, rng=np.random.default_rng(1))
    assert tr.shape == (8, 3, 32, 32) and float(tr.min()) >= 0.0 and float(tr.max()) <= 1.0
    assert torch.equal(tr, clip_transform(f, spec, train=True, rng=np.random.default_rng(1)))
    # eval picks the segment centres: frame t has constant value t
    const = torch.arange(30, dtype=torch.uint8)[:, None, None, None].expand(30, 1, 40, 40).contiguous()
    ev = clip_transform(const, spec, train=False)
    picked = (ev[:, 0, 0, 0] * 255).round().long().tolist()
    assert picked == segment_indices(30, 8, train=False).tolist()


def test_train_crop_and_flip_are_shared_by_all_frames():
    one = _frames(t=1, c=3, h=48, w=64, seed=5)
    same = one.expand(8, -1, -1, -1).contiguous()  # 8 identical frames
    for seed in range(10):
        out = train_transform(same, 32, np.random.default_rng(seed))
        assert out.shape == (8, 3, 32, 32)
        assert all(torch.equal(out[0], out[k]) for k in range(1, 8))


def test_train_flip_happens_about_half_the_time_and_can_be_disabled():
    img = _frames(t=1, c=3, h=32, w=32, seed=2)
    plain = img.float() / 255
    flipped = torch.flip(plain, dims=[-1])
    seen = []
    for seed in range(40):  # scale 1 and a crop of the whole square frame: output = frame or its mirror
        out = train_transform(img, 32, np.random.default_rng(seed), scales=(1.0,), max_distort=0)
        if torch.equal(out, plain):
            seen.append(False)
        else:
            assert torch.equal(out, flipped)
            seen.append(True)
    assert 8 <= sum(seen) <= 32
    for seed in range(10):
        out = train_transform(img, 32, np.random.default_rng(seed), scales=(1.0,), max_distort=0, flip=False)
        assert torch.equal(out, plain)


def test_multiscale_crop_boxes_follow_tsn():
    h, w, crop = 128, 170, 112
    sizes = {crop if abs(int(128 * s) - crop) < 3 else int(128 * s) for s in TSN_SCALES}
    assert sizes == {128, 112, 96, 84}
    boxes = set()
    for seed in range(300):
        top, left, ch, cw = multiscale_crop_box(h, w, crop, np.random.default_rng(seed))
        assert ch in sizes and cw in sizes
        ordered = sorted(sizes, reverse=True)
        assert abs(ordered.index(ch) - ordered.index(cw)) <= 1  # max_distort = 1
        assert 0 <= top and top + ch <= h and 0 <= left and left + cw <= w
        assert (top, left) in tsn_offsets(h, w, ch, cw)
        boxes.add((top, left, ch, cw))
    assert len(boxes) > 50
    a = multiscale_crop_box(h, w, crop, np.random.default_rng(7))
    assert a == multiscale_crop_box(h, w, crop, np.random.default_rng(7))


def test_tsn_offsets_are_the_13_fixed_positions():
    offs = tsn_offsets(100, 140, 60, 60)  # steps: h 10, w 20
    assert len(offs) == 13 and len(set(offs)) == 13
    assert {(0, 0), (0, 80), (40, 0), (40, 80), (20, 40)} <= set(offs)  # corners + centre
