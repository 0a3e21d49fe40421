"""Person-centred crops (vskd.data.crops) and motion-aware inputs (vskd.data.motion) of the video teacher."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
import torch

from vskd.data.cache import ArrayCache
from vskd.data.crops import (
    KINECT_V1_DEPTH_320,
    crop_to_box,
    foreground_box,
    project_joints,
    skeleton_box,
    square_box,
)
from vskd.data.frames import ClipSpec, clip_transform, decode_clip
from vskd.data.motion import depth_motion_maps, difference_frames
from vskd.data.paired import clip_frames
from vskd.errors import ConfigError, DataError, VskdWarning

# a few UTD-MHAD recordings of different actions and subjects (arm, leg and whole-body actions)
PICKS = {(1, 1, 1), (10, 3, 2), (22, 6, 4), (27, 8, 3)}


@pytest.fixture(scope="module")
def utd_recs(utd_root):
    from vskd.data.utd_mhad import list_recordings

    recs = [r for r in list_recordings(utd_root, modalities=["depth", "skeleton"])
            if (r.key.action, r.key.subject, r.key.trial) in PICKS]
    assert len(recs) == len(PICKS)
    return recs


def _iou(a, b):
    y0, x0, y1, x1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, y1 - y0) * max(0, x1 - x0)
    area = lambda q: (q[2] - q[0]) * (q[3] - q[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


# ------------------------------------------------------------------------------ boxes on real depth
@pytest.mark.realdata
def test_foreground_box_holds_the_person_on_real_depth(utd_recs):
    areas = []
    for rec in utd_recs:
        depth = rec.load("depth")
        t, h, w = depth.shape
        y0, x0, y1, x1 = foreground_box(depth)
        assert 0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w
        assert y1 - y0 == x1 - x0  # square after padding
        fg = depth > 0
        inside = fg[:, y0:y1, x0:x1].sum() / fg.sum()
        assert inside >= 0.99, (rec.key, inside)
        areas.append((y1 - y0) * (x1 - x0) / (h * w))
        assert areas[-1] <= 0.75  # the person, not the frame (UTD: ~200 x 200 of 240 x 320)
        # the tight box (no margin) is tighter still and still holds >= 99 % (trim only drops noise)
        ty0, tx0, ty1, tx1 = foreground_box(depth, margin=0.0)
        assert ty1 - ty0 < y1 - y0 and fg[:, ty0:ty1, tx0:tx1].sum() / fg.sum() >= 0.99
    assert np.mean(areas) <= 0.6


@pytest.mark.realdata
def test_isolated_noise_pixels_do_not_stretch_the_box(utd_recs):
    depth = utd_recs[0].load("depth").copy()
    clean = foreground_box(depth)
    depth[3, 2, 2] = depth[10, 237, 318] = 2500  # two stray readings in opposite corners
    assert foreground_box(depth) == clean
    fg = depth > 0  # a plain min/max box would span the whole frame
    assert fg.any(axis=(0, 2)).nonzero()[0][[0, -1]].tolist() == [2, 237]


@pytest.mark.realdata
def test_skeleton_projects_onto_the_depth_silhouette(utd_recs):
    """UTD-MHAD's joints through the Kinect v1 depth camera's nominal intrinsics land on the depth foreground."""
    for rec in utd_recs:
        depth, joints = rec.load("depth"), rec.load("skeleton")
        fg_box = foreground_box(depth)
        sk_box = skeleton_box(joints, KINECT_V1_DEPTH_320, depth.shape[1], depth.shape[2])
        assert sk_box[2] - sk_box[0] == sk_box[3] - sk_box[1]
        assert _iou(fg_box, sk_box) > 0.6, rec.key
        u, v = project_joints(joints, KINECT_V1_DEPTH_320)
        ui, vi = np.clip(np.rint(u).astype(int), 0, 319), np.clip(np.rint(v).astype(int), 0, 239)
        t = np.broadcast_to(np.arange(joints.shape[2]), u.shape)
        near = np.array([(depth[tt, max(y - 6, 0):y + 7, max(x - 6, 0):x + 7] > 0).any()
                         for tt, y, x in zip(t.ravel(), vi.ravel(), ui.ravel())])
        assert near.mean() > 0.9  # joints fall on (or within 6 px of) the body


# ------------------------------------------------------------------------------ decoding and the cache
@pytest.mark.realdata
def test_person_crop_decodes_square_frames_and_keys_the_cache(utd_recs, tmp_path):
    rec = utd_recs[0]
    full = ClipSpec(modality="depth", frame_size=48, crop_size=40)
    crop = ClipSpec(modality="depth", frame_size=48, crop_size=40, person_crop="foreground")
    assert full.decode_params() != crop.decode_params() and "crop" not in full.decode_params()
    cache = ArrayCache(tmp_path)
    a = clip_frames(rec, full, cache)
    b = clip_frames(rec, crop, cache)
    assert cache.stats.misses == 2 and cache.stats.hits == 0  # the uncropped entry is not reused
    assert a.shape[-2:] == (48, 64) and b.shape[-2:] == (48, 48)
    assert (b > 0).mean() > 1.5 * (a > 0).mean()  # the person fills more of the cropped frame
    assert np.array_equal(clip_frames(rec, crop, cache), b) and cache.stats.hits == 1
    dmm = ClipSpec(modality="depth", frame_size=48, crop_size=40, person_crop="foreground", motion="dmm")
    assert dmm.decode_params() != crop.decode_params()
    diff = ClipSpec(modality="depth", frame_size=48, crop_size=40, person_crop="foreground", motion="diff")
    assert diff.decode_params() == crop.decode_params()  # differences are taken per item from the cached frames


@pytest.mark.realdata
def test_crop_is_cut_at_full_resolution(utd_recs):
    depth = utd_recs[1].load("depth")
    spec = ClipSpec(modality="depth", frame_size=64, crop_size=56, person_crop="foreground")
    from vskd.data.frames import to_uint8_frames

    full = to_uint8_frames(depth, "depth")
    box = foreground_box(depth)
    expect = crop_to_box(full, box, 64).numpy()
    assert np.array_equal(decode_clip(depth, spec), expect)


def test_all_zero_depth_is_refused_naming_the_file(tmp_path):
    from vskd.data.utd_mhad import list_recordings

    (tmp_path / "Depth").mkdir()
    path = tmp_path / "Depth" / "a1_s1_t1_depth.mat"
    scipy.io.savemat(path, {"d_depth": np.zeros((240, 320, 12), np.uint16)})
    (rec,) = list_recordings(tmp_path, modalities=["depth"])
    spec = ClipSpec(modality="depth", frame_size=36, crop_size=32, person_crop="foreground")
    with pytest.raises(DataError, match=r"a1_s1_t1.*a1_s1_t1_depth\.mat.*no foreground") as err:
        clip_frames(rec, spec, ArrayCache(tmp_path / "cache"))
    assert "\n" not in str(err.value)
    clip_frames(rec, ClipSpec(modality="depth", frame_size=36, crop_size=32))  # without a crop it decodes


def test_skeleton_crop_without_camera_warns_and_keeps_the_frame():
    rgb = np.random.default_rng(0).integers(0, 255, (5, 48, 64, 3), dtype=np.uint8)
    joints = np.random.default_rng(1).normal(0, 0.2, (20, 3, 5)) + [[0], [0], [2.5]]
    spec = ClipSpec(modality="rgb", frame_size=24, crop_size=20, person_crop="skeleton")
    with pytest.warns(VskdWarning, match="clip: person_crop 'skeleton' cannot project.*full frame"):
        out = decode_clip(rgb, spec, skeleton=joints)
    assert out.shape == (5, 3, 24, 32)  # the whole frame, shorter side 24
    with_cam = ClipSpec(modality="rgb", frame_size=24, crop_size=20, person_crop="skeleton",
                        camera=(60.0, 60.0, 32.0, 24.0))
    assert decode_clip(rgb, with_cam, skeleton=joints).shape == (5, 3, 24, 24)


# ------------------------------------------------------------------------------ pure box maths
def test_square_box_is_centred_shifted_inside_and_bounded():
    assert square_box(10, 20, 30, 30, 100, 100, margin=0.0) == (10, 15, 30, 35)
    assert square_box(10, 20, 30, 30, 100, 100, margin=0.5) == (0, 5, 40, 45)  # side 40, shifted down
    assert square_box(0, 0, 90, 10, 60, 100, margin=0.1) == (0, 0, 60, 60)  # side capped at the frame
    y0, x0, y1, x1 = square_box(50, 90, 60, 100, 100, 100, margin=0.2)
    assert (y1 - y0, x1 - x0) == (14, 14) and x1 == 100


def test_crop_to_box_takes_exactly_the_box():
    frames = torch.arange(2 * 1 * 8 * 10, dtype=torch.float32).reshape(2, 1, 8, 10)
    assert torch.equal(crop_to_box(frames, (2, 3, 6, 7), 4), frames[:, :, 2:6, 3:7])
    with pytest.raises(ConfigError, match="holds no pixel"):
        crop_to_box(frames, (8, 0, 12, 4), 4)


def test_config_refuses_crops_and_motions_that_do_not_fit():
    with pytest.raises(ConfigError, match="person_crop: 'foreground' needs a depth video"):
        ClipSpec(modality="rgb", person_crop="foreground")
    with pytest.raises(ConfigError, match="crop_box: person_crop 'box' needs"):
        ClipSpec(person_crop="box")
    with pytest.raises(ConfigError, match="motion: 'dmm'.*needs a depth video"):
        ClipSpec(modality="rgb", motion="dmm")
    with pytest.raises(ConfigError, match="person_crop: expected one of"):
        ClipSpec(person_crop="person")
    from vskd.config import load_config

    with pytest.raises(ConfigError, match="teacher.input.motion"):
        load_config(None, ["teacher.input.motion=flow"])
    with pytest.raises(ConfigError, match="teacher.input.crop_box': person_crop 'box' needs"):
        load_config(None, ["teacher.input.person_crop=box"])  # refused before a run writes anything
    with pytest.raises(ConfigError, match="teacher.input.person_crop': 'foreground' needs a depth"):
        load_config(None, ["teacher.input.modality=rgb", "teacher.input.person_crop=foreground"])
    from vskd.engine.builders import clip_spec

    cfg = load_config(None, ["teacher.input.person_crop=box", "teacher.input.crop_box=[10, 20, 110, 140]",
                             "teacher.input.motion=diff"])
    spec = clip_spec(cfg)
    assert spec.person_crop == "box" and spec.crop_box == (10, 20, 110, 140) and spec.motion == "diff"


def test_box_crop_of_a_given_box():
    rgb = np.zeros((3, 60, 80, 3), np.uint8)
    rgb[:, 20:40, 30:50] = 200
    spec = ClipSpec(modality="rgb", frame_size=20, crop_size=16, person_crop="box", crop_box=(20, 30, 40, 50),
                    crop_margin=0.0)
    out = decode_clip(rgb, spec)
    assert out.shape == (3, 3, 20, 20) and (out == 200).all()


# ------------------------------------------------------------------------------ motion inputs
def test_difference_frames_are_backward_and_forward_differences():
    f = torch.zeros(4, 1, 2, 2, dtype=torch.uint8)
    f[1] = 10
    f[2] = 30
    f[3] = 30
    out = difference_frames(f, np.array([0, 2, 3]))
    assert out.shape == (3, 3, 2, 2)
    assert out[:, :, 0, 0].tolist() == [[0, 0, 10], [30, 20, 0], [30, 0, 0]]  # ends clamped


def test_diff_input_goes_through_the_clip_transform():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (16, 1, 20, 20), dtype=np.uint8)
    spec = ClipSpec(modality="depth", num_segments=4, frame_size=20, crop_size=16, motion="diff")
    x = clip_transform(frames, spec, train=False)
    idx = np.array([2, 6, 10, 14])
    cur, prev = frames[idx, 0, 2:18, 2:18].astype(float), frames[idx - 1, 0, 2:18, 2:18].astype(float)
    assert torch.allclose(x[:, 0], torch.from_numpy(cur / 255).float())
    assert torch.allclose(x[:, 1], torch.from_numpy(np.abs(cur - prev) / 255).float())


def test_depth_motion_maps_of_a_moving_block():
    d = np.zeros((9, 32, 32), np.uint8)
    for t in range(9):  # a block of depth 100 moving right by 2 px a frame during the first half, then still
        x = 2 * min(t, 4)
        d[t, 10:20, x:x + 8] = 100
    m = depth_motion_maps(d, num_segments=2, size=32, bins=16)
    assert m.shape == (2, 3, 32, 32) and m.dtype == np.uint8
    assert m[0].max() == 255 and m[1].max() == 0  # segment 2 (frames 4..8) does not move
    front = m[0, 0].astype(int)
    assert front[15, 0:8].sum() > 0 and front[5].sum() == 0  # motion on the block's rows only
    still = depth_motion_maps(np.repeat(d[:1], 6, axis=0), num_segments=3, size=16)
    assert still.max() == 0
    whole = depth_motion_maps(d, num_segments=1, size=32, bins=16)
    assert whole.shape == (1, 3, 32, 32) and whole[0, 1].max() == 0 == whole[0, 1].sum()
    # side view (rows x depth): the block keeps its rows and depth, so the side projection never changes
    assert whole[0, 2].sum() > 0  # the top view (depth x columns) sees it move


@pytest.mark.realdata
def test_dmm_teacher_input_on_real_depth(utd_recs):
    spec = ClipSpec(modality="depth", num_segments=8, frame_size=40, crop_size=32, person_crop="foreground",
                    motion="dmm")
    maps = decode_clip(utd_recs[2].load("depth"), spec)
    assert maps.shape == (8, 3, 40, 40)
    assert (maps.reshape(8, 3, -1).max(axis=(0, 2)) == 255).all()  # each view normalised over the clip
    x = clip_transform(maps, spec, train=True, rng=np.random.default_rng(0))
    assert x.shape == (8, 3, 32, 32) and x.dtype == torch.float32
    with pytest.raises(DataError, match="depth motion maps must be"):
        clip_transform(np.zeros((30, 1, 40, 40), np.uint8), spec, train=False)
