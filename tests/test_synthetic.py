"""The embedded synthetic dataset: API, determinism, physics of the wrist sensor, separability."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import vskd.data.synthetic as syn
from vskd.data.recording import InertialSignal
from vskd.data.synthetic import (
    CONFUSABLE_PAIRS,
    G0,
    JOINT_NAMES,
    SYNTHETIC_ACTIONS,
    make_synthetic,
    performance,
)
from vskd.errors import ConfigError

WRIST = JOINT_NAMES.index("r_wrist")


# ---------------------------------------------------------------------------------------------- API


def test_presets_list_sorted_keys_labels_and_meta():
    tiny = make_synthetic("tiny")
    assert len(tiny) == 4 * 8 * 2
    assert [r.key for r in tiny] == sorted(r.key for r in tiny)
    assert {r.key.dataset for r in tiny} == {"synthetic"}
    assert {r.key.subject for r in tiny} == set(range(1, 9))
    assert {r.key.trial for r in tiny} == {1, 2}
    for r in tiny:
        assert r.label == r.key.action - 1
        assert SYNTHETIC_ACTIONS[r.key.action - 1] == r.source("rgb").meta["action_name"]
        assert set(r.sources) == {"inertial", "rgb", "depth", "skeleton"}
        assert all(src.path is None for src in r.sources.values())
    demo = make_synthetic("demo")
    assert len(demo) == 8 * 8 * 5
    assert sorted({r.label for r in demo}) == list(range(8))
    keys = [src.meta["cache_key"] for r in demo for src in r.sources.values()]
    assert len(set(keys)) == len(keys)  # one per recording and modality
    assert {a for pair in CONFUSABLE_PAIRS for a in pair} <= set(SYNTHETIC_ACTIONS)


def test_overrides_select_classes_and_sizes():
    recs = make_synthetic("tiny", num_classes=2, trials=1, frame_size=24, duration=1.2, subjects=2)
    assert [SYNTHETIC_ACTIONS[r.key.action - 1] for r in recs] == ["wave"] * 2 + ["wave_march"] * 2
    assert recs[0].load("rgb").shape == (18, 24, 24, 3)
    sub = make_synthetic("demo", actions=["circle_seated", "wave"], trials=1)
    by_name = {r.source("rgb").meta["action_name"]: (r.key.action, r.label) for r in sub}
    assert by_name == {"circle_seated": (8, 0), "wave": (1, 1)}  # action id stays global, label follows `actions`


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"preset": "huge"}, "preset"),
        ({"colour": "red"}, "colour"),
        ({"num_classes": 9}, "num_classes"),
        ({"actions": ["wave", "moonwalk"]}, "actions"),
        ({"frame_size": 3}, "frame_size"),
        ({"fps": 12.5}, "fps"),
        ({"noise": -1.0}, "noise"),
        ({"camera_jitter": 1.5}, "camera_jitter"),
        ({"cue": -0.5}, "cue"),
        ({"nuisance": 3.0}, "nuisance"),
        ({"skeleton_layout": "openpose"}, "skeleton_layout"),
        ({"seed": -3}, "seed"),
    ],
)
def test_bad_options_raise_config_error_naming_the_option(kwargs, word):
    with pytest.raises(ConfigError, match=word):
        make_synthetic(**kwargs)


def test_camera_jitter_moves_only_the_camera():
    """camera_jitter=0 is a fixed camera: every trial has the mid yaw/tilt/framing/zoom, the wrist signal
    is the same (the camera is invisible to it), the video is not; 1 is the default data."""
    kw = dict(preset="tiny", seed=0, subjects=[1, 2], num_classes=2)
    moving, fixed, half = make_synthetic(**kw), make_synthetic(**kw, camera_jitter=0), make_synthetic(**kw, camera_jitter=0.5)
    default = make_synthetic(**kw, camera_jitter=1)
    for m, f, h, d in zip(moving, fixed, half, default):
        tm, tf, th = (r.source("rgb").meta["trial"] for r in (m, f, h))
        assert (tf["yaw_deg"], tf["elev_deg"], tf["cam_dx"], tf["cam_dz"], tf["zoom"]) == (-30.0, 13.0, 0.0, 0.0, 1.0)
        assert th["yaw_deg"] == pytest.approx(-30.0 + 0.5 * (tm["yaw_deg"] + 30.0))
        assert th["zoom"] == pytest.approx(1.0 + 0.5 * (tm["zoom"] - 1.0))
        assert {k: v for k, v in tf.items() if k not in ("yaw_deg", "elev_deg", "cam_dx", "cam_dz", "zoom")} == \
            {k: v for k, v in tm.items() if k not in ("yaw_deg", "elev_deg", "cam_dx", "cam_dz", "zoom")}
        # the same up to round-off (a yaw about the vertical changes nothing a wrist sensor measures)
        np.testing.assert_allclose(m.load("inertial").samples, f.load("inertial").samples, rtol=0, atol=1e-8)
        assert d.source("rgb").meta["cache_key"] == m.source("rgb").meta["cache_key"]
    assert fixed[0].source("rgb").meta["cache_key"] != moving[0].source("rgb").meta["cache_key"]
    # the default data are those generated before the option existed (pinned at 94a8d79): same draws,
    # same cache keys, so existing caches and results stay valid
    assert [r.source("rgb").meta["cache_key"] for r in moving[:2]] == [
        "synthetic-v1-7e9c0971ac643f0e9887", "synthetic-v1-8e4890ca66bd3e903db7"]
    assert moving[0].source("rgb").meta["trial"]["yaw_deg"] == -18.67758997500174
    assert not np.array_equal(moving[0].load("depth"), fixed[0].load("depth"))
    # and it is reachable from an experiment config
    from vskd.config import load_config
    from vskd.engine.pipeline import load_data

    cfg = load_config(None, ["data.dataset=synthetic", "data.preset=tiny", "data.synthetic={camera_jitter: 0}"])
    recs, _, _ = load_data(cfg)
    assert {r.source("rgb").meta["trial"]["yaw_deg"] for r in recs} == {-30.0}


def test_listing_is_lazy(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("synthesised while listing")

    monkeypatch.setattr(syn, "_render", boom)
    monkeypatch.setattr(syn.Performance, "kinematics", boom)
    recs = make_synthetic("demo")  # must not render or simulate anything
    with pytest.raises(AssertionError, match="listing"):
        recs[0].load("rgb")  # ... which happens in Source.load


def test_shapes_dtypes_rates_and_equal_durations():
    recs = make_synthetic("demo", trials=1, subjects=[1, 2], frame_size=32)  # demo jitters durations
    durations = set()
    for r in recs[::3]:
        x = r.load("inertial")
        assert isinstance(x, InertialSignal)
        assert x.channels == ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
        assert x.rate_hz == 50.0 and x.samples.dtype == np.float64 and x.samples.shape[1] == 6
        assert np.isfinite(x.samples).all()
        v = r.load("rgb")
        meta = r.source("rgb").meta
        assert v.dtype == np.uint8 and v.shape[1:] == (32, 32, 3) and 15 <= meta["fps"] <= 30
        s = r.load("skeleton")
        assert s.dtype == np.float64 and s.shape == (len(JOINT_NAMES), 3, v.shape[0])
        assert len(x.samples) / x.rate_hz == pytest.approx(v.shape[0] / meta["fps"], abs=1e-12)
        assert meta["duration"] == pytest.approx(v.shape[0] / meta["fps"])
        durations.add(v.shape[0])
        assert v.std() > 5  # not a blank frame: a figure on a background
    assert len(durations) > 1


# ---------------------------------------------------------------------------------------- determinism


def _arrays(rec):
    return [rec.load("inertial").samples, rec.load("rgb"), rec.load("skeleton")]


def test_same_seed_same_arrays_other_seed_other_arrays():
    a = make_synthetic("tiny", seed=7)
    b = make_synthetic("tiny", seed=7)
    c = make_synthetic("tiny", seed=8)
    for i in (0, 37):
        for x, y in zip(_arrays(a[i]), _arrays(b[i])):
            np.testing.assert_array_equal(x, y)
        for x, z in zip(_arrays(a[i]), _arrays(c[i])):
            assert x.shape != z.shape or not np.array_equal(x, z)
        assert a[i].source("rgb").meta["cache_key"] == b[i].source("rgb").meta["cache_key"]
        assert a[i].source("rgb").meta["cache_key"] != c[i].source("rgb").meta["cache_key"]
    # loading twice gives the same arrays (noise is seeded per recording, not global)
    np.testing.assert_array_equal(a[3].load("rgb"), a[3].load("rgb"))
    # a recording does not depend on which other recordings are listed
    alone = make_synthetic("tiny", seed=7, actions=["clap"], subjects=[3], trials=2)
    same = next(r for r in a if r.key == alone[1].key)
    np.testing.assert_array_equal(alone[1].load("inertial").samples, same.load("inertial").samples)


# ----------------------------------------------------------------------------------- sensor physics


def test_accelerometer_reads_one_g_at_rest():
    for r in make_synthetic("tiny", trials=1):
        x = r.load("inertial")
        onset = r.source("inertial").meta["trial"]["onset"]
        rest = x.samples[: int(onset * x.rate_hz)]  # the figure stands still before the onset
        assert len(rest) >= 4
        acc, gyro = rest[:, :3], rest[:, 3:]
        assert np.linalg.norm(acc, axis=1).mean() == pytest.approx(1.0, abs=0.06)
        assert acc[:, 2].mean() == pytest.approx(1.0, abs=0.06)  # arm hangs: sensor z (towards elbow) is up
        assert np.abs(gyro.mean(0)).max() < 5.0  # deg/s: only bias and noise


def test_accelerometer_is_second_derivative_of_the_skeleton_wrist():
    """acc = R^T (p'' - g) / g0, with p'' from finite differences of the returned skeleton.

    fps = 250 puts the skeleton on a grid five times finer than the 50 Hz inertial samples.
    """
    recs = make_synthetic("demo", noise=0.0, fps=250, trials=1, subjects=[1, 2])
    for r in recs[::2]:
        x = r.load("inertial")
        skel = r.load("skeleton")
        fps = r.source("skeleton").meta["fps"]
        h = 1.0 / fps
        p = skel[WRIST].T  # (T_v, 3) world metres
        k = np.arange(1, len(x.samples) - 1) * (fps // 50)  # frames at the inertial sample times
        p_dd = (p[k + 1] - 2 * p[k] + p[k - 1]) / h**2
        specific = p_dd + np.array([0.0, 0.0, G0])  # p'' - g, gravity g = (0, 0, -g0)
        t = k / fps
        _, R = performance(r).kinematics(t)  # world-from-sensor
        expected = np.einsum("tji,tj->ti", R, specific) / G0
        acc = x.samples[1:-1, :3]
        assert np.abs(acc).max() > 1.5  # real motion, not rest
        np.testing.assert_allclose(acc, expected, atol=0.03)
        # the magnitude needs no rotation: |acc| = |p'' - g| / g0
        np.testing.assert_allclose(np.linalg.norm(acc, axis=1), np.linalg.norm(specific, axis=1) / G0, atol=0.03)
        # gyroscope: body rate from the same rotations, vee(R^T R') in deg/s
        _, Rp = performance(r).kinematics(t + h)
        _, Rm = performance(r).kinematics(t - h)
        Om = np.einsum("tji,tjk->tik", R, (Rp - Rm) / (2 * h))
        om = np.degrees(np.stack([Om[:, 2, 1], Om[:, 0, 2], Om[:, 1, 0]], axis=1))
        np.testing.assert_allclose(x.samples[1:-1, 3:], om, atol=2.0)


def test_skeleton_is_the_rendered_figure():
    """Head and right wrist of the skeleton project onto the figure in the frames, not the background."""
    r = make_synthetic("tiny", trials=1, subjects=[1], actions=["wave"], frame_size=64)[0]
    v = r.load("rgb").astype(float)
    s = r.load("skeleton")
    bg = np.median(v, axis=(0, 2))  # per-row wall / floor colour
    fg = np.abs(v - bg[None, :, None]).max(-1) > 25
    trial = r.source("rgb").meta["trial"]
    H = v.shape[1]
    ppm = H / (2.25 / trial["zoom"])
    el = np.radians(trial["elev_deg"])
    wrist_rows = []
    for f in range(v.shape[0]):
        for joint in ("head", "r_wrist"):
            p = s[JOINT_NAMES.index(joint), :, f]
            col = (p[0] - trial["cam_dx"]) * ppm + H / 2
            row = (1.0 + trial["cam_dz"] - (p[2] * np.cos(el) + p[1] * np.sin(el))) * ppm + H / 2
            assert fg[f, int(row), int(col)], (joint, f)
            if joint == "r_wrist":
                wrist_rows.append(row)
    assert np.ptp(wrist_rows) > 10  # the waving hand really moves across the image (pixels)


# ------------------------------------------------------------------------------------ separability


def _acc_features(rec):
    x = rec.load("inertial").select(("acc_x", "acc_y", "acc_z"))
    grid = np.linspace(0, len(x) - 1, 32)
    rs = np.stack([np.interp(grid, np.arange(len(x)), x[:, i]) for i in range(3)], axis=1)
    return np.concatenate([rs.ravel(), x.mean(0), x.std(0)])


def _video_features(rec, grid=16, thr=0.1):
    """Silhouette occupancy and motion energy on a grid over the silhouette's square box."""
    v = rec.load("rgb").astype(np.float64) / 255.0
    bg = np.median(v, axis=(0, 2))
    fg = np.abs(v - bg[None, :, None]).max(-1) > thr
    moving = np.abs(np.diff(v, axis=0)).max(-1) > thr
    rows, cols = np.nonzero(fg.any(0))
    side = max(rows.max() + 1 - rows.min(), cols.max() + 1 - cols.min())
    offs = (np.arange(grid) + 0.5) * side / grid - side / 2
    ri = np.clip(((rows.min() + rows.max() + 1) / 2 + offs).astype(int), 0, v.shape[1] - 1)
    ci = np.clip(((cols.min() + cols.max() + 1) / 2 + offs).astype(int), 0, v.shape[2] - 1)
    crop = np.ix_(ri, ci)
    return np.concatenate([fg.mean(0)[crop].ravel(), moving.mean(0)[crop].ravel(), [side / v.shape[1]]])


def _cross_subject(X, y, subjects, mask):
    train, test = mask & (subjects % 2 == 1), mask & (subjects % 2 == 0)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
    clf.fit(X[train], y[train])
    return float((clf.predict(X[test]) == y[test]).mean())


def test_confusable_pairs_hard_from_the_wrist_easy_from_the_video():
    """Linear classifiers, odd subjects -> even subjects, on the three confusable pairs (chance 50%)."""
    paired = [a for pair in CONFUSABLE_PAIRS for a in pair]

    def table(trials):
        recs = make_synthetic("tiny", actions=paired, trials=trials)  # 32x32 frames, 2.4 s
        y = np.array([r.label for r in recs])
        subjects = np.array([r.key.subject for r in recs])
        names = np.array([r.source("rgb").meta["action_name"] for r in recs])
        return recs, y, subjects, names

    # accelerometer: 10 trials (cheap, and 160 test recordings per pair keep the estimate tight)
    recs, y, subjects, names = table(10)
    X_acc = np.array([_acc_features(r) for r in recs])
    for a, b in CONFUSABLE_PAIRS:
        acc = _cross_subject(X_acc, y, subjects, np.isin(names, [a, b]))
        assert acc < 0.7, f"{a}/{b}: accelerometer separates the pair ({acc:.2f})"
    # merging each pair into one class, the accelerometer separates the three motions well
    merged = np.array([paired.index(n) // 2 for n in names])
    assert _cross_subject(X_acc, merged, subjects, np.ones(len(y), bool)) > 0.85
    # video: 4 trials (rendering costs)
    recs, y, subjects, names = table(4)
    X_vid = np.array([_video_features(r) for r in recs])
    for a, b in CONFUSABLE_PAIRS:
        vid = _cross_subject(X_vid, y, subjects, np.isin(names, [a, b]))
        assert vid > 0.9, f"{a}/{b}: video fails to separate the pair ({vid:.2f})"


def test_accelerometer_is_informative_over_all_classes():
    recs = make_synthetic("demo", trials=2)  # inertial only: cheap
    y = np.array([r.label for r in recs])
    subjects = np.array([r.key.subject for r in recs])
    X = np.array([_acc_features(r) for r in recs])
    acc = _cross_subject(X, y, subjects, np.ones(len(y), bool))
    # chance is 1/8; with three pairs at chance the ceiling is (2 + 3) / 8 = 0.625
    assert 0.35 < acc <= 0.7


def test_depth_camera_sees_the_figure_not_the_clothes():
    from vskd.data.synthetic import DEPTH_CAMERA_M, make_synthetic

    recs = make_synthetic("tiny", seed=0)
    a, b = recs[0], recs[1]
    d = a.load("depth")
    rgb = a.load("rgb")
    assert d.dtype == np.uint16 and d.shape == rgb.shape[:3]
    assert np.array_equal(d, a.load("depth"))  # deterministic
    fg = d > 0
    assert 0.02 < fg.mean() < 0.5  # the figure, not the background
    # depth readings are metres in front of the camera, in mm
    assert abs(np.median(d[fg]) - 1000 * DEPTH_CAMERA_M) < 800
    assert a.sources["depth"].meta["cache_key"] != b.sources["depth"].meta["cache_key"]


# ------------------------------------------------------------------- the cue preset (issue 18, item 3)


def test_cue_preset_without_cue_and_nuisance_is_the_old_figure():
    """The new options draw from their own random stream: switched off, the cue preset's recordings are
    the demo preset's (16 subjects), array for array, and its cache keys are the demo preset's too."""
    kw = dict(seed=0, subjects=[1, 2], trials=1, actions=["boxing", "circle_seated", "wave_march"])
    new = make_synthetic("cue", cue=0.0, nuisance=0.0, skeleton_layout="figure", **kw)
    old = make_synthetic("demo", **kw)
    for a, b in zip(new, old):
        np.testing.assert_array_equal(a.load("inertial").samples, b.load("inertial").samples)
        np.testing.assert_array_equal(a.load("skeleton"), b.load("skeleton"))
        assert a.source("inertial").meta["trial"] == b.source("inertial").meta["trial"]


def test_cue_moves_only_the_second_class_of_each_pair_and_nuisance_only_the_sensor():
    kw = dict(seed=0, subjects=[3], trials=1, noise=0.0, nuisance=0.0, skeleton_layout="figure")
    on, off = make_synthetic("cue", **kw), make_synthetic("cue", cue=0.0, **kw)
    moved = {r.source("inertial").meta["action_name"] for r, o in zip(on, off)
             if not np.array_equal(r.load("inertial").samples, o.load("inertial").samples)}
    assert moved == {"wave_march", "boxing", "circle_seated"}
    # the cue is a real path difference: the seated circle's forearm points 15 deg lower on average
    seated = [r for r, o in zip(on, off) if r.source("inertial").meta["action_name"] == "circle_seated"][0]
    low = [o for o in off if o.source("inertial").meta["action_name"] == "circle_seated"][0]
    t = np.linspace(0.8, 2.0, 50)
    # elevation of the sensor's z (wrist -> elbow): 15 deg higher when the hand is 15 deg lower
    pitch = lambda rec: np.degrees(np.arcsin(performance(rec).kinematics(t)[1][:, 2, 2])).mean()  # noqa: E731
    assert pitch(seated) - pitch(low) == pytest.approx(15.0, abs=4.0)
    # nuisance changes the wrist signal, never the skeleton (the camera's view)
    a = make_synthetic("cue", seed=0, subjects=[3], trials=1, actions=["punch"])[0]
    b = make_synthetic("cue", seed=0, subjects=[3], trials=1, actions=["punch"], nuisance=0.0)[0]
    assert not np.allclose(a.load("inertial").samples, b.load("inertial").samples, atol=0.05)
    body_a, body_b = a.source("inertial").meta["body"], b.source("inertial").meta["body"]
    assert "sensor_offset_m" in body_a and "sensor_offset_m" not in body_b
    assert a.source("skeleton").meta["cache_key"] != b.source("skeleton").meta["cache_key"]


def test_cue_sensor_is_the_second_derivative_at_its_placement_times_its_gain():
    """With nuisance, acc = gain * R_s^T (p_s'' - g) / g0 at the sensor's own position and frame
    (sensor_pose: up the forearm, case rotated), p_s'' by finite differences at 250 fps."""
    rec = make_synthetic("cue", seed=1, subjects=[2], trials=1, actions=["circle"], noise=0.0, fps=250)[0]
    x = rec.load("inertial")
    perf = performance(rec)
    body = rec.source("inertial").meta["body"]
    assert 0 < body["sensor_offset_m"] <= 0.08 and body["gain_x"] != 1.0
    h = 1.0 / 250
    t = np.arange(1, len(x.samples) - 1) / 50
    (pm, _), (p0, R), (pp, _) = (perf.sensor_pose(t + d) for d in (-h, 0.0, h))
    specific = (pp - 2 * p0 + pm) / h**2 + np.array([0.0, 0.0, G0])
    gain = np.array([body["gain_x"], body["gain_y"], body["gain_z"]])
    expected = gain * np.einsum("tji,tj->ti", R, specific) / G0
    np.testing.assert_allclose(x.samples[1:-1, :3], expected, atol=0.03)
    wrist = perf.kinematics(t)[0][:, WRIST]
    np.testing.assert_allclose(np.linalg.norm(p0 - wrist, axis=1), body["sensor_offset_m"], atol=1e-9)


def test_kinect_layout_is_utd_mhads_order_and_axes():
    from vskd.data.skeleton import HIP_CENTER, SHOULDER_CENTER, VERTICAL_AXIS, prepare_skeleton

    rec = make_synthetic("cue", seed=0, subjects=[1], trials=1, actions=["circle_seated"])[0]
    k = rec.load("skeleton")
    fig = make_synthetic("cue", seed=0, subjects=[1], trials=1, actions=["circle_seated"],
                         skeleton_layout="figure")[0].load("skeleton")
    assert k.shape == (len(syn.KINECT_JOINT_NAMES), 3, fig.shape[2]) == (20, 3, fig.shape[2])
    assert rec.source("skeleton").meta["joints"] == list(syn.KINECT_JOINT_NAMES)
    name = syn.KINECT_JOINT_NAMES.index
    np.testing.assert_array_equal(k[name("right_wrist")], fig[WRIST][[0, 2, 1]])  # (x, y, z) -> (x, z, y)
    np.testing.assert_array_equal(k[HIP_CENTER], fig[JOINT_NAMES.index("pelvis")][[0, 2, 1]])
    assert (k[name("head"), VERTICAL_AXIS] > k[SHOULDER_CENTER, VERTICAL_AXIS]).all()
    assert (k[SHOULDER_CENTER, VERTICAL_AXIS] > k[name("spine"), VERTICAL_AXIS]).all()
    assert (k[name("spine"), VERTICAL_AXIS] > k[HIP_CENTER, VERTICAL_AXIS]).all()
    x = prepare_skeleton(k)  # what the skeleton teachers read: centred on the hip, the spine as unit
    assert x.shape == (32, 20, 3) and np.isfinite(x).all()


def test_wrist_and_joints_are_made_once_per_recording_and_handed_out_as_copies(monkeypatch):
    """A training run reads each recording's wrist signal every epoch: the kinematics run once per
    recording, and changing what one load returned never changes the next load."""
    rec = make_synthetic("tiny")[0]
    first = rec.load("inertial")
    skel = rec.load("skeleton")
    calls = []
    real = syn.Performance.kinematics
    monkeypatch.setattr(syn.Performance, "kinematics", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    first.samples[:] = 0.0
    skel[:] = 0.0
    again, skel_again = rec.load("inertial"), rec.load("skeleton")
    assert not calls  # served from the recording's memo, no new simulation
    fresh = make_synthetic("tiny")[0].load("inertial")
    np.testing.assert_array_equal(again.samples, fresh.samples)
    assert np.abs(skel_again).sum() > 0
