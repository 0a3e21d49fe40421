"""Embedded synthetic dataset: an articulated 3-D stick figure filmed by a camera and wearing a wrist IMU.

The default dataset of ``vskd demo`` and of the fast tests. Everything is generated on the fly with
NumPy from ``(seed, recording key)``; no file is read or written. Listing recordings only draws the
random parameters (microseconds); each modality is synthesised in its :class:`Source.load`.

Figure and motion
-----------------
A 15-joint figure (:data:`JOINT_NAMES`: pelvis, neck, head, both shoulders/elbows/wrists, both
hips/knees/ankles) is posed by forward kinematics from joint angles (shoulder flexion / abduction /
horizontal rotation / humeral twist, elbow flexion, hip flexion / abduction, knee flexion, torso lean
and twist, pelvis offset). Each class of :data:`SYNTHETIC_ACTIONS` is a smooth periodic angle
pattern (see ``docs/synthetic.md``), entered from and left to a rest pose through a C2 smoothstep
envelope. Subjects differ in body size and proportions, speed, amplitude, posture, movement style,
the way the watch is strapped and clothing colours; trials differ in phase, tempo, a smooth timing
warp, onset, facing direction (yaw), camera framing, sensor bias and noise.

Wrist accelerometer (sensor frame)
----------------------------------
World frame: x to the camera's right, y away from the camera (depth), z up; gravity
``g_w = (0, 0, -g0)`` with ``g0 = 9.80665 m/s^2``. The sensor sits on the right wrist joint ``p(t)``
and is rigidly attached to the forearm: ``R(t)`` (world-from-sensor) is the forearm's frame times a
per-subject strap roll about the forearm axis. Sensor axes: ``z`` along the forearm from the wrist
towards the elbow, ``x`` the elbow-flexion axis (to the figure's right with the arm hanging, before the
strap roll), ``y = z x x``. An accelerometer measures the specific force, so in g units::

    acc(t)  = R(t)^T (p''(t) - g_w) / g0  + b_a + n_a(t)          (reads (0, 0, +1) g at rest)
    gyro(t) = vee(R(t)^T R'(t)) * 180/pi  + b_g + n_g(t)           (deg/s, body-frame rate)

with ``p''`` and ``R'`` taken by central differences (step 1 ms) of the analytic motion, ``b`` a
per-recording bias and ``n`` white Gaussian noise; the result is clipped to +-8 g (UTD-MHAD's
accelerometer saturates there) and +-2000 deg/s. Sampled at 50 Hz like UTD-MHAD (Chen et al., ICIP 2015).
A rotation of the whole scene about the vertical (the figure's facing direction) leaves these
signals unchanged, since gravity is vertical; the camera sees it.

Video
-----
An orthographic camera looks along +y, tilted down by 8-18 degrees; the figure turns 15-45 degrees
from facing it. A NumPy z-buffer rasteriser draws each limb as a shaded capsule (head as a sphere)
on a plain wall-and-floor background, supersampled and box-filtered, plus a little pixel noise;
output ``(T, H, W, 3) uint8`` at ``fps`` frames per second over exactly the same duration as the
inertial stream (durations are multiples of ``1 / gcd(fps, rate_hz)`` seconds).

Confusable pairs
----------------
:data:`CONFUSABLE_PAIRS` lists classes whose right-arm motion is drawn from the same distribution;
they differ in what the *other* limbs do (marching legs, a punching left arm) or in a static body
position (seated on a chair) that a camera sees at once but that leaves the wrist sensor's signal
almost unchanged (only a small physical coupling through the torso, scaled by ``coupling``).
Distillation from a video teacher has something to transfer there.

The ``cue`` preset (``vskd demo``'s data, issue 18) gives each pair a small, consistent difference in
the right wrist's own path (``cue``: the marching body's bob and sway, the boxer's hooked punch, the
seated circle drawn lower) under larger per-subject sensor nuisance (``nuisance``: placement up the
forearm, mounting roll and tilt, per-axis gain, tempo; :meth:`Performance.sensor_pose`), and writes the
skeleton in UTD-MHAD's Kinect layout (:func:`kinect_skeleton`) for the skeleton teachers. The design,
its acceptance rule and what was measured are in ``docs/synthetic.md``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from vskd.data.recording import InertialSignal, Recording, RecordingKey, Source
from vskd.data.registry import DatasetReader, Option, ScanResult, register_dataset
from vskd.data.utd_mhad import SKELETON_JOINTS
from vskd.errors import ConfigError

__all__ = [
    "CONFUSABLE_PAIRS",
    "Synthetic",
    "DATASET",
    "G0",
    "GENERATOR_VERSION",
    "INERTIAL_CHANNELS",
    "JOINT_NAMES",
    "KINECT_JOINT_NAMES",
    "PRESETS",
    "SYNTHETIC_ACTIONS",
    "Performance",
    "SyntheticConfig",
    "kinect_skeleton",
    "make_synthetic",
    "performance",
    "synthetic_config",
]

DATASET = "synthetic"
#: Bumped whenever the generated data change, so that caches keyed on ``meta["cache_key"]`` expire.
GENERATOR_VERSION = 1

#: All classes, in action-id order (action id = position + 1). ``num_classes=k`` takes the first k.
SYNTHETIC_ACTIONS: tuple[str, ...] = (
    "wave",  # right hand waves overhead, standing still
    "wave_march",  # the same wave while marching in place
    "clap",  # two-hand front clap
    "jumping_jack",  # arms and legs open/close, body bounces
    "punch",  # right-hand jabs from a guard, the left arm hangs relaxed
    "boxing",  # the same right jabs, alternating with left crosses from a guard
    "circle",  # right hand draws a circle in front, standing
    "circle_seated",  # the same circle, seated on a chair
)

#: Pairs whose wrist-sensor signals are nearly identical but whose videos differ clearly.
CONFUSABLE_PAIRS: tuple[tuple[str, str], ...] = (
    ("wave", "wave_march"),
    ("punch", "boxing"),
    ("circle", "circle_seated"),
)

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "neck", "head",
    "r_shoulder", "r_elbow", "r_wrist",
    "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle",
    "l_hip", "l_knee", "l_ankle",
)  # fmt: skip
_J = {name: i for i, name in enumerate(JOINT_NAMES)}

#: The 20 joints of ``skeleton_layout="kinect"``: UTD-MHAD's order (``Skeleton_joint_order.txt``), one list.
KINECT_JOINT_NAMES: tuple[str, ...] = SKELETON_JOINTS


def kinect_skeleton(joints: np.ndarray) -> np.ndarray:
    """The figure's joints (T, 15, 3), world axes -> (20, 3, T) in Kinect v1 order and axes.

    Kinect axes: x to the camera's right (the world's x), y up (the world's z), z away from the camera
    (the world's y). The joints the figure has are copied; the spine is 40 % of the way from the pelvis
    to the neck, each hand 8 cm beyond the wrist along the forearm, each foot 10 cm ahead of the ankle
    and 5 cm lower."""
    j = {n: joints[:, i] for n, i in _J.items()}
    T = joints.shape[0]

    def beyond(a: str, b: str, length: float) -> np.ndarray:
        d = j[b] - j[a]
        return j[b] + length * d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)

    fwd = j["r_hip"] - j["l_hip"]
    fwd = np.stack([-fwd[:, 1], fwd[:, 0], np.zeros(T)], axis=1)
    fwd /= np.maximum(np.linalg.norm(fwd, axis=1, keepdims=True), 1e-9)
    foot = lambda ankle: ankle + 0.10 * fwd - np.array([0.0, 0.0, 0.05])  # noqa: E731
    pts = {
        "head": j["head"], "shoulder_center": j["neck"], "spine": j["pelvis"] + 0.4 * (j["neck"] - j["pelvis"]),
        "hip_center": j["pelvis"],
    }  # fmt: skip
    for side, k in (("l", "left"), ("r", "right")):
        pts |= {f"{k}_shoulder": j[f"{side}_shoulder"], f"{k}_elbow": j[f"{side}_elbow"],
                f"{k}_wrist": j[f"{side}_wrist"], f"{k}_hand": beyond(f"{side}_elbow", f"{side}_wrist", 0.08),
                f"{k}_hip": j[f"{side}_hip"], f"{k}_knee": j[f"{side}_knee"], f"{k}_ankle": j[f"{side}_ankle"],
                f"{k}_foot": foot(j[f"{side}_ankle"])}
    out = np.stack([pts[n] for n in KINECT_JOINT_NAMES], axis=1)[:, :, [0, 2, 1]]  # (T, 20, 3) Kinect axes
    return np.ascontiguousarray(out.transpose(1, 2, 0))

INERTIAL_CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
G0 = 9.80665
ACC_RANGE_G = 8.0
GYRO_RANGE_DPS = 2000.0
_FD_STEP = 1e-3  # seconds, central-difference step for p'' and R'
_DEG = math.pi / 180.0


@dataclass(frozen=True)
class SyntheticConfig:
    """Generation parameters (a preset plus overrides).

    Attributes:
        actions: class names (subset of :data:`SYNTHETIC_ACTIONS`); label = position in this tuple.
        subjects: subject ids (1..8 by default: odd/even cross-subject protocol).
        trials: trials per subject and action.
        frame_size: (H, W) of the rendered frames.
        duration: nominal recording length in seconds.
        duration_jitter: relative +- spread of a recording's length (rounded to the common grid).
        fps: video frame rate (integer Hz).
        rate_hz: inertial sampling rate (integer Hz; 50 like UTD-MHAD).
        noise: accelerometer white-noise std in g (gyro noise is ``50 * noise`` deg/s; biases scale
            with it too; 0 gives the exact kinematic signals).
        coupling: scale of the small torso coupling that leaks a confusable pair's other limbs
            into the wrist signal (0: the pair's wrist signals have identical distributions).
        cue: scale of the small, consistent difference in the right wrist's path between the two
            classes of each confusable pair (preset ``cue``: 1; 0 in ``tiny`` / ``demo``): the
            marching body's bob and sway, the boxer's hooked punch, the seated circle drawn lower.
        nuisance: scale of the per-subject sensor and person variation larger than the cues
            (placement up the forearm, mounting roll and tilt, per-axis gain, tempo; preset ``cue``:
            1, 0 elsewhere). Drawn from a random stream of its own, so the other parameters keep
            their values.
        skeleton_layout: ``"figure"`` (the figure's 15 joints, world axes, :data:`JOINT_NAMES`) or
            ``"kinect"`` (UTD-MHAD's Kinect v1 order and axes, :data:`KINECT_JOINT_NAMES`: 20 joints,
            x to the camera's right, y up, z away from the camera; spine, hands and feet placed on the
            figure), so the skeleton teachers read it as they read UTD-MHAD's. Preset ``cue``: kinect.
        camera_jitter: scale of the per-trial camera-only variation (facing direction, camera tilt,
            framing, zoom) about its mid value: 1 draws yaw in -45..-15 deg, tilt 8..18 deg, framing
            +-15 cm / +-8 cm and zoom 0.95..1.05; 0 is a fixed lab camera (yaw -30, tilt 13, centred,
            zoom 1). The wrist feels none of it; only the camera does.
        supersample: rasteriser supersampling factor per axis (anti-aliasing).
    """

    actions: tuple[str, ...]
    subjects: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
    trials: int = 4
    frame_size: tuple[int, int] = (64, 64)
    duration: float = 2.4
    duration_jitter: float = 0.1
    fps: int = 15
    rate_hz: int = 50
    noise: float = 0.02
    coupling: float = 1.0
    cue: float = 0.0
    nuisance: float = 0.0
    skeleton_layout: str = "figure"
    camera_jitter: float = 1.0
    supersample: int = 2

    @property
    def time_step(self) -> float:
        """Duration grid (s): the smallest interval holding whole frames and whole inertial samples."""
        return 1.0 / math.gcd(self.fps, self.rate_hz)


PRESETS: dict[str, SyntheticConfig] = {
    # fast tests: 4 classes (one confusable pair), 8 subjects x 2 trials, 32x32, 2.4 s
    "tiny": SyntheticConfig(
        actions=SYNTHETIC_ACTIONS[:4], trials=2, frame_size=(32, 32), duration=2.4, duration_jitter=0.0
    ),
    # vskd demo: 8 classes (three confusable pairs), 8 subjects x 5 trials, 64x64, 3 s
    "demo": SyntheticConfig(actions=SYNTHETIC_ACTIONS, trials=5, frame_size=(64, 64), duration=3.0),
    # vskd demo since issue 18: the wrist carries each pair's difference (cue) under larger per-subject
    # sensor nuisance; 16 subjects x 5 trials (docs/synthetic.md, "The cue preset")
    "cue": SyntheticConfig(actions=SYNTHETIC_ACTIONS, subjects=tuple(range(1, 17)), trials=5, frame_size=(64, 64),
                           duration=3.0, cue=1.0, nuisance=1.0, skeleton_layout="kinect"),
}


# --------------------------------------------------------------------------------------------------
# configuration


def synthetic_config(preset: str = "demo", **overrides: Any) -> SyntheticConfig:
    """Resolve a preset plus overrides into a validated :class:`SyntheticConfig`.

    Overrides: any field of :class:`SyntheticConfig`, plus ``num_classes`` (the first k of the
    preset's actions); ``frame_size`` may be an int (square frames); ``subjects`` may be an int n
    (subjects 1..n).
    """
    if preset not in PRESETS:
        raise ConfigError(f"synthetic preset '{preset}' is unknown; expected one of {sorted(PRESETS)}")
    cfg = PRESETS[preset]
    fields = {f.name for f in dataclasses.fields(SyntheticConfig)}
    unknown = sorted(set(overrides) - fields - {"num_classes"})
    if unknown:
        raise ConfigError(
            f"synthetic option(s) {unknown} unknown; expected some of {sorted(fields | {'num_classes'})}"
        )
    ov = dict(overrides)
    num_classes = ov.pop("num_classes", None)
    if "actions" in ov:
        actions = ov["actions"]
        if isinstance(actions, str) or not all(isinstance(a, str) for a in actions):
            raise ConfigError(f"synthetic option 'actions' must be a list of names from {list(SYNTHETIC_ACTIONS)}")
        bad = [a for a in actions if a not in SYNTHETIC_ACTIONS]
        if bad or len(set(actions)) != len(actions) or not actions:
            raise ConfigError(
                f"synthetic option 'actions' = {list(actions)}: expected distinct names from {list(SYNTHETIC_ACTIONS)}"
            )
        ov["actions"] = tuple(actions)
    if "frame_size" in ov:
        fs = ov["frame_size"]
        fs = (fs, fs) if isinstance(fs, (int, np.integer)) else tuple(fs) if isinstance(fs, (list, tuple)) else ()
        if len(fs) != 2 or not all(isinstance(v, (int, np.integer)) and 8 <= v <= 1024 for v in fs):
            raise ConfigError(
                f"synthetic option 'frame_size' = {ov['frame_size']!r}: expected an int or (H, W), each in 8..1024"
            )
        ov["frame_size"] = (int(fs[0]), int(fs[1]))
    if "subjects" in ov:
        s = ov["subjects"]
        s = tuple(range(1, int(s) + 1)) if isinstance(s, (int, np.integer)) else tuple(int(v) for v in s)
        if not s or len(set(s)) != len(s) or min(s) < 1:
            raise ConfigError(f"synthetic option 'subjects' = {ov['subjects']!r}: expected n >= 1 or distinct ids >= 1")
        ov["subjects"] = s
    try:
        cfg = dataclasses.replace(cfg, **ov)
    except TypeError as exc:  # pragma: no cover - guarded by the field check above
        raise ConfigError(f"synthetic options {sorted(ov)}: {exc}") from None
    if num_classes is not None:
        if not isinstance(num_classes, (int, np.integer)) or not 2 <= num_classes <= len(SYNTHETIC_ACTIONS):
            raise ConfigError(
                f"synthetic option 'num_classes' = {num_classes!r}: expected an int in 2..{len(SYNTHETIC_ACTIONS)}"
            )
        pool = list(cfg.actions) + [a for a in SYNTHETIC_ACTIONS if a not in cfg.actions]
        cfg = dataclasses.replace(cfg, actions=tuple(pool[: int(num_classes)]))
    _validate(cfg)
    return cfg


def _validate(cfg: SyntheticConfig) -> None:
    def need(ok: bool, name: str, what: str) -> None:
        if not ok:
            raise ConfigError(f"synthetic option '{name}' = {getattr(cfg, name)!r}: expected {what}")

    need(isinstance(cfg.trials, (int, np.integer)) and 1 <= cfg.trials <= 100, "trials", "an int in 1..100")
    need(isinstance(cfg.fps, (int, np.integer)) and 1 <= cfg.fps <= 1000, "fps", "an int in 1..1000")
    need(isinstance(cfg.rate_hz, (int, np.integer)) and 1 <= cfg.rate_hz <= 1000, "rate_hz", "an int in 1..1000")
    need(_is_num(cfg.duration) and 0.5 <= cfg.duration <= 30, "duration", "seconds in 0.5..30")
    need(_is_num(cfg.duration_jitter) and 0 <= cfg.duration_jitter <= 0.5, "duration_jitter", "a fraction in 0..0.5")
    need(_is_num(cfg.noise) and 0 <= cfg.noise <= 1, "noise", "a std in g in 0..1")
    need(_is_num(cfg.coupling) and 0 <= cfg.coupling <= 10, "coupling", "a scale in 0..10")
    need(_is_num(cfg.cue) and 0 <= cfg.cue <= 10, "cue", "a scale in 0..10")
    need(_is_num(cfg.nuisance) and 0 <= cfg.nuisance <= 2, "nuisance", "a scale in 0..2")
    need(_is_num(cfg.camera_jitter) and 0 <= cfg.camera_jitter <= 1, "camera_jitter", "a scale in 0..1")
    need(cfg.skeleton_layout in ("figure", "kinect"), "skeleton_layout", "'figure' or 'kinect'")
    need(isinstance(cfg.supersample, (int, np.integer)) and 1 <= cfg.supersample <= 4, "supersample", "an int in 1..4")


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


# --------------------------------------------------------------------------------------------------
# random parameters: subject (body, style, clothes) and trial (timing, view, sensor)


def _subject_params(seed: int, subject: int) -> dict[str, Any]:
    """Per-subject parameters, shared by all actions and trials of that subject."""
    rng = np.random.default_rng([seed, 0, subject])
    u = rng.uniform
    scale = u(0.88, 1.10)
    arm, leg, width = u(0.92, 1.08), u(0.94, 1.06), u(0.9, 1.1)
    hues = rng.uniform(0, 1, 2)
    skin = [(224, 187, 150), (198, 148, 110), (141, 96, 66), (240, 205, 175)][int(rng.integers(4))]
    return {
        "scale": scale,
        "upper_arm": 0.30 * scale * arm,
        "forearm": 0.27 * scale * arm,
        "thigh": 0.44 * scale * leg,
        "shank": 0.43 * scale * leg,
        "torso": 0.52 * scale,
        "neck": 0.17 * scale,
        "shoulder_half": 0.19 * scale * width,
        "hip_half": 0.10 * scale * width,
        "speed": u(0.85, 1.2),
        "amplitude": u(0.8, 1.15),
        "lean_deg": rng.normal(0.0, 3.0),
        "strap_roll_deg": u(-15.0, 15.0),
        "style_flex_deg": rng.normal(0.0, 6.0),
        "style_abd_deg": rng.normal(0.0, 6.0),
        "style_elbow_deg": rng.normal(0.0, 8.0),
        "shirt": _hsv_to_rgb(hues[0], u(0.45, 0.85), u(0.55, 0.9)),
        "trousers": _hsv_to_rgb(hues[1], u(0.3, 0.7), u(0.2, 0.45)),
        "skin": skin,
    }


def _sensor_params(seed: int, subject: int, nuisance: float) -> dict[str, float]:
    """Per-subject sensor and person nuisance (scaled by ``nuisance``; docs/synthetic.md, preset ``cue``):
    placement up the forearm, extra mounting roll and case tilt, per-axis accelerometer gain and a
    tempo factor. A random stream of its own (``[seed, 5, subject]``), so no other draw changes."""
    rng = np.random.default_rng([seed, 5, subject])
    u = rng.uniform
    n = float(nuisance)
    return {
        "sensor_offset_m": n * u(0.0, 0.08),
        "sensor_roll_deg": n * u(-45.0, 45.0),  # on top of the strap roll (+-15): +-60 in all
        "sensor_tilt_x_deg": n * rng.normal(0.0, 10.0),
        "sensor_tilt_y_deg": n * rng.normal(0.0, 10.0),
        "gain_x": 1.0 + n * u(-0.2, 0.2),
        "gain_y": 1.0 + n * u(-0.2, 0.2),
        "gain_z": 1.0 + n * u(-0.2, 0.2),
        "tempo_factor": 1.0 + n * u(-0.15, 0.15),
    }


def _trial_params(seed: int, action_id: int, subject: int, trial: int, cfg: SyntheticConfig) -> dict[str, Any]:
    """Per-recording parameters. Drawn in the same order for every class, so paired classes share the
    right arm's parameter distribution exactly."""
    rng = np.random.default_rng([seed, 1, action_id, subject, trial])
    u = rng.uniform
    q = cfg.time_step
    raw = cfg.duration * (1.0 + u(-cfg.duration_jitter, cfg.duration_jitter))
    duration = max(q, round(raw / q) * q)
    params = {
        "duration": duration,
        "tempo": u(0.9, 1.1),
        "phase": u(0.0, 2 * math.pi),
        "phase2": u(0.0, 2 * math.pi),  # second rhythm (marching steps)
        "tempo2": u(0.85, 1.15),
        "warp": u(0.0, 0.08),
        "warp_period": u(0.8, 1.6),
        "warp_phase": u(0.0, 2 * math.pi),
        "amp": u(0.9, 1.1),
        "onset": u(0.1, 0.25),
        "ramp": u(0.5, 0.7),
        "tail": u(0.05, 0.2),
    }
    # camera-only (drawn whatever camera_jitter is, so the other parameters keep their values)
    params |= _camera(cfg.camera_jitter, u(-45.0, -15.0), u(8.0, 18.0), u(-0.15, 0.15), u(-0.08, 0.08),
                      u(0.95, 1.05))
    params |= {
        "wall": float(u(200, 235)),
        "floor": float(u(150, 180)),
        "idle_phase": u(0.0, 2 * math.pi),
    }
    return params


def _camera(jitter: float, *drawn: float) -> dict[str, float]:
    """The trial's camera-only parameters: the drawn values scaled about their mid values by ``jitter``
    (the drawn values themselves at 1, so the default data stays bit-identical)."""
    names = ("yaw_deg", "elev_deg", "cam_dx", "cam_dz", "zoom")
    if jitter == 1:
        return dict(zip(names, drawn))
    mids = (-30.0, 13.0, 0.0, 0.0, 1.0)
    return {n: m + jitter * (v - m) for n, m, v in zip(names, mids, drawn)}


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return (int(r * 255), int(g * 255), int(b * 255))


# --------------------------------------------------------------------------------------------------
# kinematics


def _rot(axis: int, a: np.ndarray) -> np.ndarray:
    """Rotations by angles ``a`` (T,) about a coordinate axis: (T, 3, 3)."""
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    R = np.zeros(a.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    R[..., axis, axis] = 1.0
    R[..., i, i] = c
    R[..., j, j] = c
    R[..., i, j] = -s
    R[..., j, i] = s
    return R


def _smoothstep(x: np.ndarray) -> np.ndarray:
    """C2 smoothstep 6x^5 - 15x^4 + 10x^3 on [0, 1] (continuous acceleration)."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (x * (6 * x - 15) + 10)


_MIRROR = np.diag([-1.0, 1.0, 1.0])
_REST_ARM = {"flex": 0.0, "abd": 6.0, "horiz": 0.0, "twist": 0.0, "elbow": 8.0}
_REST_LEG = {"flex": 0.0, "abd": 3.0, "knee": 0.0}
_GUARD = {"flex": 45.0, "abd": 35.0, "horiz": 0.0, "twist": 0.0, "elbow": 120.0}
_JAB = {"flex": 90.0, "abd": 5.0, "horiz": -12.0, "twist": 0.0, "elbow": 5.0}
_CROSS = {"flex": 95.0, "abd": 0.0, "horiz": -35.0, "twist": 0.0, "elbow": 5.0}  # left punch across the body


@dataclass
class Performance:
    """One recording's motion as analytic functions of time (seconds from the recording's start).

    Anatomical frame: x to the figure's right, y forward, z up; the figure faces the camera, so
    world = ``Rz(yaw) @ diag(-1, -1, 1)`` anatomical. Angles are in degrees in the pose dicts.
    """

    action: str
    body: dict[str, Any]
    trial: dict[str, Any]
    coupling: float
    cue: float = 0.0

    # --- timing -------------------------------------------------------------------------------
    def envelope(self, t: np.ndarray) -> np.ndarray:
        """0 at rest, 1 while performing (C2 ramps in and out)."""
        tr = self.trial
        up = _smoothstep((t - tr["onset"]) / tr["ramp"])
        end = tr["duration"] - tr["tail"]
        down = _smoothstep((end - t) / tr["ramp"])
        return np.minimum(up, down)

    def phase(self, t: np.ndarray, base_hz: float, tempo_key: str = "tempo", phase_key: str = "phase") -> np.ndarray:
        """phi(t) = phi0 + 2 pi f (t + smooth warp), f = base * subject speed * trial tempo."""
        tr = self.trial
        f = base_hz * self.body["speed"] * tr[tempo_key]
        w, P, th = tr["warp"], tr["warp_period"], tr["warp_phase"]
        warp = -(w * P / (2 * math.pi)) * (np.cos(2 * math.pi * t / P + th) - math.cos(th))
        return tr[phase_key] + 2 * math.pi * f * (t + warp)

    # --- pose -------------------------------------------------------------------------------------
    def pose(self, t: np.ndarray) -> dict[str, Any]:
        """Joint angles (degrees) and pelvis offset (m, anatomical) at times ``t`` (T,)."""
        t = np.asarray(t, dtype=np.float64)
        e = self.envelope(t)
        zero = np.zeros_like(t)
        A = self.body["amplitude"] * self.trial["amp"]
        b = self.body
        c = self.coupling
        q = self.cue  # the pair's wrist cue (0 in the old presets)

        def limb(rest: dict[str, float], target: dict[str, Any]) -> dict[str, np.ndarray]:
            return {k: rest[k] + e * (np.asarray(target.get(k, rest[k])) - rest[k]) for k in rest}

        # idle left arm: hangs with a slight sway (not enveloped, independent of the class)
        idle = self.trial["idle_phase"] + 2 * math.pi * 0.35 * t
        arm_r = {k: v + zero for k, v in _REST_ARM.items()}
        arm_l = {**arm_r, "flex": 3.0 * np.sin(idle), "abd": 6.0 + 2.0 * np.cos(idle)}
        leg_r = {k: v + zero for k, v in _REST_LEG.items()}
        leg_l = {k: v + zero for k, v in _REST_LEG.items()}
        torso = {"lean": b["lean_deg"] + zero, "twist": zero.copy()}
        pelvis = np.zeros(t.shape + (3,))
        sf, sa, se = b["style_flex_deg"], b["style_abd_deg"], b["style_elbow_deg"]
        a = self.action

        if a in ("wave", "wave_march"):
            phi = self.phase(t, 1.6)
            arm_r = limb(_REST_ARM, {
                "flex": 10.0 + sf, "abd": 85.0 + sa + 6.0 * A * np.sin(phi), "twist": -90.0,
                "elbow": 70.0 + se + 24.0 * A * np.sin(phi),
            })  # fmt: skip
            if a == "wave_march":
                step = self.phase(t, 1.0, "tempo2", "phase2")
                hr, hl = ((1 + np.sin(step)) / 2) ** 2, ((1 - np.sin(step)) / 2) ** 2
                leg_r = limb(_REST_LEG, {"flex": 60.0 * A * hr, "knee": 80.0 * A * hr})
                leg_l = limb(_REST_LEG, {"flex": 60.0 * A * hl, "knee": 80.0 * A * hl})
                arm_l = {**arm_l, "flex": arm_l["flex"] + e * 18.0 * A * (hr - hl)}
                # coupling: the pelvis bobs twice per step cycle and sways once; the cue: 15 mm / 10 mm more
                pelvis[:, 2] = e * (c * 0.004 + q * 0.015) * (1 - np.cos(2 * step)) / 2
                pelvis[:, 0] = e * (c * 0.006 + q * 0.010) * np.sin(step)
        elif a == "clap":
            phi = self.phase(t, 1.8)
            opn = (1 + np.cos(phi)) / 2
            tgt = {"flex": 80.0 + sf, "abd": 5.0, "horiz": -18.0 + 43.0 * A * opn, "elbow": 20.0 + 0.5 * se}
            arm_r, arm_l = limb(_REST_ARM, tgt), limb(_REST_ARM, tgt)
        elif a == "jumping_jack":
            phi = self.phase(t, 0.8)
            opn = (1 - np.cos(phi)) / 2
            tgt = {"abd": 15.0 + 130.0 * min(A, 1.05) * opn, "flex": 5.0 + 0.5 * sf, "elbow": 10.0}
            arm_r, arm_l = limb(_REST_ARM, tgt), limb(_REST_ARM, tgt)
            leg_r = leg_l = limb(_REST_LEG, {"abd": 3.0 + 12.0 * A * opn})
            pelvis[:, 2] = e * 0.05 * A * (1 - np.cos(2 * phi)) / 2
        elif a in ("punch", "boxing"):
            phi = self.phase(t, 1.4)
            pr = ((1 - np.cos(phi)) / 2) ** 3 * min(A, 1.0)
            guard = {**_GUARD, "flex": _GUARD["flex"] + 0.5 * sf, "elbow": _GUARD["elbow"] + 0.5 * se}
            jab = dict(_JAB)
            if a == "boxing":  # the cue: the boxer's right punch hooks 20 deg further across the body
                jab["horiz"] = _JAB["horiz"] - 20.0 * q
            arm_r = limb(_REST_ARM, {k: guard[k] + pr * (jab[k] - guard[k]) for k in guard})
            if a == "boxing":
                pl = ((1 + np.cos(phi)) / 2) ** 3 * min(A, 1.0)
                arm_l = limb(_REST_ARM, {k: guard[k] + pl * (_CROSS[k] - guard[k]) for k in guard})
            else:  # the left arm hangs relaxed (idle sway)
                pl = zero
            # coupling: the torso turns into each punch (right punch: positive twist)
            torso["twist"] = e * c * 4.0 * (pr - pl)
        elif a in ("circle", "circle_seated"):
            phi = self.phase(t, 1.0)
            low = 15.0 * q if a == "circle_seated" else 0.0  # the cue: seated, the circle is drawn lower
            arm_r = limb(_REST_ARM, {
                "flex": 75.0 - low + sf + 22.0 * A * np.cos(phi), "horiz": -5.0 + 0.5 * sa - 22.0 * A * np.sin(phi),
                "elbow": 15.0 + 0.5 * se,
            })  # fmt: skip
            if a == "circle_seated":
                leg_r = {"flex": 90.0 + zero, "abd": 6.0 + zero, "knee": 90.0 + zero}
                leg_l = dict(leg_r)
                torso["lean"] = torso["lean"] - c * 2.0  # coupling: sits slightly reclined
        else:  # pragma: no cover - actions are validated
            raise ConfigError(f"synthetic action '{a}' unknown")
        return {"arm_r": arm_r, "arm_l": arm_l, "leg_r": leg_r, "leg_l": leg_l, "torso": torso, "pelvis": pelvis}

    # --- forward kinematics -------------------------------------------------------------------
    def kinematics(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Joint positions (T, J, 3) in the world frame (m) and the wrist sensor's rotation
        ``R`` (T, 3, 3), world-from-sensor, at times ``t``."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        P = self.pose(t)
        b = self.body
        T = t.shape[0]

        # legs (anatomical frame, relative to the hips); pelvis height from the standing leg length
        leg_len = b["thigh"] + b["shank"]
        seated = self.action == "circle_seated"
        base_h = (b["shank"] + 0.06) if seated else (leg_len + 0.06)
        pelvis = P["pelvis"] + np.array([0.0, 0.0, base_h])
        R_t = _rot(2, P["torso"]["twist"] * _DEG) @ _rot(0, -P["torso"]["lean"] * _DEG)

        def leg(ang: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
            R_h = _rot(1, -ang["abd"] * _DEG) @ _rot(0, ang["flex"] * _DEG)
            knee = R_h @ np.array([0.0, 0.0, -b["thigh"]])
            ankle = knee + (R_h @ _rot(0, -ang["knee"] * _DEG)) @ np.array([0.0, 0.0, -b["shank"]])
            return knee, ankle

        def arm(ang: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            R_s = (
                _rot(2, -ang["horiz"] * _DEG)
                @ _rot(1, -ang["abd"] * _DEG)
                @ _rot(0, ang["flex"] * _DEG)
                @ _rot(2, ang["twist"] * _DEG)
            )
            R_f = R_s @ _rot(0, ang["elbow"] * _DEG)
            elbow = R_s @ np.array([0.0, 0.0, -b["upper_arm"]])
            wrist = elbow + R_f @ np.array([0.0, 0.0, -b["forearm"]])
            return elbow, wrist, R_f

        anat = np.zeros((T, len(JOINT_NAMES), 3))
        anat[:, _J["pelvis"]] = pelvis
        for side, s in (("r", 1.0), ("l", -1.0)):
            M = np.eye(3) if s > 0 else _MIRROR
            # hips follow the pelvis (no torso twist below the waist)
            hip = pelvis + np.array([s * b["hip_half"], 0.0, 0.0])
            knee, ankle = leg(P[f"leg_{side}"])
            anat[:, _J[f"{side}_hip"]] = hip
            anat[:, _J[f"{side}_knee"]] = hip + knee @ M.T
            anat[:, _J[f"{side}_ankle"]] = hip + ankle @ M.T
        neck = pelvis + R_t @ np.array([0.0, 0.0, b["torso"]])
        anat[:, _J["neck"]] = neck
        anat[:, _J["head"]] = neck + R_t @ np.array([0.0, 0.0, b["neck"]])
        R_sensor_anat = None
        for side, s in (("r", 1.0), ("l", -1.0)):
            M = np.eye(3) if s > 0 else _MIRROR
            shoulder = neck + R_t @ np.array([s * b["shoulder_half"], 0.0, -0.04 * b["scale"]])
            elbow, wrist, R_f = arm(P[f"arm_{side}"])
            anat[:, _J[f"{side}_shoulder"]] = shoulder
            anat[:, _J[f"{side}_elbow"]] = shoulder + np.einsum("tij,tj->ti", R_t, elbow @ M.T)
            anat[:, _J[f"{side}_wrist"]] = shoulder + np.einsum("tij,tj->ti", R_t, wrist @ M.T)
            if s > 0:
                R_sensor_anat = R_t @ R_f @ _rot(2, np.full(T, b["strap_roll_deg"] * _DEG))

        W = _rot(2, np.full(T, self.trial["yaw_deg"] * _DEG)) @ np.diag([-1.0, -1.0, 1.0])  # world-from-anatomical
        joints = np.einsum("tij,tkj->tki", W, anat)
        assert R_sensor_anat is not None
        return joints, W @ R_sensor_anat

    # --- sensors --------------------------------------------------------------------------------
    def sensor_pose(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The sensor's position (T, 3) and frame ``R`` (T, 3, 3), world-from-sensor, at times ``t``.

        Without nuisance (``body`` has no ``sensor_*`` entries) this is the wrist joint and the
        forearm frame of :meth:`kinematics`. With it, the sensor sits ``sensor_offset_m`` up the
        forearm (along the frame's z, towards the elbow) and its case is turned by
        ``Rz(sensor_roll) Rx(tilt_x) Ry(tilt_y)`` within that frame.
        """
        joints, R = self.kinematics(t)
        p = joints[:, _J["r_wrist"]]
        b = self.body
        if "sensor_offset_m" not in b:
            return p, R
        p = p + b["sensor_offset_m"] * R[:, :, 2]
        n = R.shape[0]
        mount = (_rot(2, np.full(n, b["sensor_roll_deg"] * _DEG)) @ _rot(0, np.full(n, b["sensor_tilt_x_deg"] * _DEG))
                 @ _rot(1, np.full(n, b["sensor_tilt_y_deg"] * _DEG)))
        return p, R @ mount

    def imu(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Noise-free accelerometer (T, 3) in g and gyroscope (T, 3) in deg/s, sensor frame (see module
        doc), at :meth:`sensor_pose`; the accelerometer times its per-axis gain when ``body`` has one."""
        t = np.asarray(t, dtype=np.float64)
        h = _FD_STEP
        pm, Rm = self.sensor_pose(t - h)
        p0, R0 = self.sensor_pose(t)
        pp, Rp = self.sensor_pose(t + h)
        acc_world = (pp - 2 * p0 + pm) / (h * h)
        specific = acc_world - np.array([0.0, 0.0, -G0])
        acc = np.einsum("tji,tj->ti", R0, specific) / G0  # R^T f
        if "gain_x" in self.body:
            acc = acc * np.array([self.body["gain_x"], self.body["gain_y"], self.body["gain_z"]])
        Om = np.einsum("tji,tjk->tik", R0, (Rp - Rm) / (2 * h))  # R^T R' (skew)
        gyro = np.stack([Om[:, 2, 1] - Om[:, 1, 2], Om[:, 0, 2] - Om[:, 2, 0], Om[:, 1, 0] - Om[:, 0, 1]], axis=1) / 2
        return acc, np.degrees(gyro)


# --------------------------------------------------------------------------------------------------
# rendering

_BONES: tuple[tuple[str, str, float, str], ...] = (
    # (joint a, joint b, radius in m at scale 1, material)
    ("r_hip", "r_knee", 0.075, "trousers"),
    ("r_knee", "r_ankle", 0.06, "trousers"),
    ("l_hip", "l_knee", 0.075, "trousers"),
    ("l_knee", "l_ankle", 0.06, "trousers"),
    ("r_hip", "l_hip", 0.09, "trousers"),
    ("pelvis", "neck", 0.14, "shirt"),
    ("r_shoulder", "l_shoulder", 0.075, "shirt"),
    ("r_shoulder", "r_elbow", 0.068, "shirt"),
    ("l_shoulder", "l_elbow", 0.068, "shirt"),
    ("r_elbow", "r_wrist", 0.056, "skin"),
    ("l_elbow", "l_wrist", 0.056, "skin"),
    ("neck", "head", 0.05, "skin"),
)


#: distance (m) of the synthetic depth camera from the figure's origin
DEPTH_CAMERA_M = 2.5


def _render(
    joints: np.ndarray,
    body: dict[str, Any],
    trial: dict[str, Any],
    size: tuple[int, int],
    ss: int,
    rng: np.random.Generator,
    chair: bool = False,
    depth_camera: bool = False,
) -> np.ndarray:
    """Z-buffer rasterise the figure: joints (T, J, 3) world -> frames (T, H, W, 3) uint8.

    With ``depth_camera`` the same z-buffer is returned as a depth video instead, (T, H, W) uint16 in
    mm from a camera ``DEPTH_CAMERA_M`` in front of the figure, 0 where nothing is seen (the
    background, like a Kinect's out-of-range pixels), with 10 mm of sensor noise: what UTD-MHAD's
    depth camera gives the teacher, without clothing colours.

    Orthographic camera tilted down by ``elev`` about the x axis: a world point p maps to
    ``image right = p_x``, ``image up = p_z cos(elev) + p_y sin(elev)``, depth
    ``p_y cos(elev) - p_z sin(elev)``. Each bone is a capsule of radius r: a pixel at distance d < r
    from the projected segment sees the capsule's front surface at depth ``y(u) - sqrt(r^2 - d^2)``
    (u the closest point's position along the bone), shaded ``0.55 + 0.45 sqrt(1 - d^2 / r^2)``.
    Rendered at ``ss`` times the resolution and box-filtered (anti-aliasing).
    """
    H, W = size
    Hs, Ws = H * ss, W * ss
    T = joints.shape[0]
    ppm = Hs / (2.25 / trial["zoom"])  # pixels per metre: the image height covers 2.25 m / zoom
    el = trial["elev_deg"] * _DEG
    ce, se = math.cos(el), math.sin(el)
    cx, cz = trial["cam_dx"], 1.0 + trial["cam_dz"]

    s = body["scale"]

    def extend(a: str, b: str, length: float) -> np.ndarray:
        d = joints[:, _J[b]] - joints[:, _J[a]]
        return joints[:, _J[b]] + length * d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)

    # extra points drawn but not part of the skeleton: hands beyond the wrists, toes ahead of the ankles
    fwd = joints[:, _J["r_hip"]] - joints[:, _J["l_hip"]]
    fwd = np.stack([-fwd[:, 1], fwd[:, 0], np.zeros(T)], axis=1)  # figure's forward (horizontal)
    fwd /= np.maximum(np.linalg.norm(fwd, axis=1, keepdims=True), 1e-9)
    pts = {n: joints[:, i] for n, i in _J.items()}
    pts["r_hand"] = extend("r_elbow", "r_wrist", 0.06 * s)
    pts["l_hand"] = extend("l_elbow", "l_wrist", 0.06 * s)
    pts["r_toe"] = pts["r_ankle"] + 0.13 * s * fwd - np.array([0, 0, 0.03 * s])
    pts["l_toe"] = pts["l_ankle"] + 0.13 * s * fwd - np.array([0, 0, 0.03 * s])
    bones = list(_BONES) + [
        ("r_wrist", "r_hand", 0.052, "skin"),
        ("l_wrist", "l_hand", 0.052, "skin"),
        ("r_ankle", "r_toe", 0.045, "shoes"),
        ("l_ankle", "l_toe", 0.045, "shoes"),
        ("head", "head", 0.115, "skin"),
    ]
    if chair:  # a plain chair under a seated figure: two side rails, four legs, a backrest
        for side in ("r", "l"):
            hip = pts[f"{side}_hip"] + (pts[f"{side}_hip"] - pts["pelvis"]) * 0.6
            seat = hip - np.array([0.0, 0.0, 0.11 * s])
            pts[f"chair_{side}_back"] = seat - 0.1 * s * fwd
            pts[f"chair_{side}_front"] = seat + 0.3 * s * fwd
            pts[f"chair_{side}_back_foot"] = pts[f"chair_{side}_back"] * np.array([1.0, 1.0, 0.0])
            pts[f"chair_{side}_front_foot"] = pts[f"chair_{side}_front"] * np.array([1.0, 1.0, 0.0])
            pts[f"chair_{side}_top"] = pts[f"chair_{side}_back"] + np.array([0.0, 0.0, 0.5 * s])
            bones += [
                (f"chair_{side}_back", f"chair_{side}_front", 0.04, "chair"),
                (f"chair_{side}_back", f"chair_{side}_back_foot", 0.028, "chair"),
                (f"chair_{side}_front", f"chair_{side}_front_foot", 0.028, "chair"),
                (f"chair_{side}_back", f"chair_{side}_top", 0.028, "chair"),
            ]
        bones.append(("chair_r_top", "chair_l_top", 0.05, "chair"))
    # camera coordinates: column (pixels), row (pixels), depth (m)
    cam = {}
    for n, p in pts.items():
        up = p[:, 2] * ce + p[:, 1] * se
        cam[n] = ((p[:, 0] - cx) * ppm + Ws / 2, (cz - up) * ppm + Hs / 2, p[:, 1] * ce - p[:, 2] * se)
    materials = {
        "shirt": body["shirt"], "trousers": body["trousers"], "skin": body["skin"], "shoes": (40, 35, 35),
        "chair": (115, 80, 50),
    }  # fmt: skip
    mat_names = list(materials)
    palette = np.array([materials[m] for m in mat_names], dtype=np.float64)

    # background: wall above the floor line (the image row of z = 0 at the figure's depth), floor below
    horizon = (cz - 0.0) * ppm + Hs / 2
    rows = np.arange(Hs) + 0.5
    bg = np.where(rows < horizon, trial["wall"], trial["floor"])[:, None] * np.ones((1, Ws))
    background = np.stack([bg * 0.98, bg, bg * 1.02], axis=-1)

    cols_px = np.arange(Ws) + 0.5
    zbuf = np.full((T, Hs, Ws), np.inf)
    shade = np.zeros((T, Hs, Ws))
    mat = np.full((T, Hs, Ws), -1, dtype=np.int16)
    for a, bname, radius, m in bones:  # all frames at once, inside the bone's bounding box over time
        rp = radius * s * ppm  # radius in pixels
        (ax, ay, ad), (bx, by, bd) = cam[a], cam[bname]
        c0 = max(int(min(ax.min(), bx.min()) - rp), 0)
        c1 = min(int(max(ax.max(), bx.max()) + rp) + 2, Ws)
        r0 = max(int(min(ay.min(), by.min()) - rp), 0)
        r1 = min(int(max(ay.max(), by.max()) + rp) + 2, Hs)
        if c0 >= c1 or r0 >= r1:
            continue
        ax, ay, ad, bx, by, bd = (v[:, None, None] for v in (ax, ay, ad, bx, by, bd))
        px, py = cols_px[None, None, c0:c1], rows[None, r0:r1, None]
        dx, dy = bx - ax, by - ay
        den = dx * dx + dy * dy
        u = np.clip(((px - ax) * dx + (py - ay) * dy) / np.maximum(den, 1e-12), 0.0, 1.0)
        d2 = (px - ax - u * dx) ** 2 + (py - ay - u * dy) ** 2
        cover = np.sqrt(np.maximum(rp * rp - d2, 0.0))  # half-thickness of the capsule along the ray
        depth = ad + u * (bd - ad) - cover / ppm
        zb = zbuf[:, r0:r1, c0:c1]
        upd = (d2 < rp * rp) & (depth < zb)
        zbuf[:, r0:r1, c0:c1] = np.where(upd, depth, zb)
        shade[:, r0:r1, c0:c1] = np.where(upd, 0.55 + 0.45 * cover / rp, shade[:, r0:r1, c0:c1])
        mat[:, r0:r1, c0:c1] = np.where(upd, mat_names.index(m), mat[:, r0:r1, c0:c1])
    hit = mat >= 0
    if depth_camera:
        mm = np.where(hit, (zbuf + DEPTH_CAMERA_M) * 1000.0, 0.0)[:, ::ss, ::ss]  # nearest sub-pixel
        mm = np.where(mm > 0, mm + 10.0 * rng.standard_normal(mm.shape), 0.0)
        return np.clip(np.rint(mm), 0, 65535).astype(np.uint16)
    out = np.broadcast_to(background, (T, Hs, Ws, 3)).copy()
    out[hit] = palette[mat[hit]] * shade[hit][:, None]
    if ss > 1:  # box filter: mean of the ss x ss sub-pixels (strided sums are faster than reshape-mean)
        out = sum(out[:, i::ss, j::ss] for i in range(ss) for j in range(ss)) / (ss * ss)
    out += 2.0 * rng.standard_normal(out.shape, dtype=np.float32)  # sensor noise, 2 grey levels
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------------
# recordings


def performance(recording: Recording) -> Performance:
    """The analytic motion behind a synthetic recording (for checks: joints and sensor frame at any time)."""
    meta = recording.source("inertial").meta
    return Performance(meta["action_name"], dict(meta["body"]), dict(meta["trial"]), float(meta["coupling"]),
                       float(meta.get("cue", 0.0)))


def _cache_key(payload: dict[str, Any]) -> str:
    blob = json.dumps(payload, sort_keys=True, default=float).encode()
    return f"synthetic-v{GENERATOR_VERSION}-{hashlib.sha1(blob).hexdigest()[:20]}"


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, (np.floating, float)):
            out[k] = float(v)
        elif isinstance(v, (np.integer, int)):
            out[k] = int(v)
        elif isinstance(v, tuple):
            out[k] = [int(x) for x in v]
        else:
            out[k] = v
    return out


def _make_recording(cfg: SyntheticConfig, seed: int, preset: str, name: str) -> Callable[[int, int], Recording]:
    action_id = SYNTHETIC_ACTIONS.index(name) + 1
    label = cfg.actions.index(name)

    def build(subject: int, trial: int) -> Recording:
        key = RecordingKey(DATASET, action_id, subject, trial)
        body = _jsonable(_subject_params(seed, subject))
        if cfg.nuisance > 0:  # only then, so the old presets' meta (and cache keys) stay as they were
            sensor = _sensor_params(seed, subject, cfg.nuisance)
            body["speed"] = body["speed"] * sensor.pop("tempo_factor")
            body |= _jsonable(sensor)
        tr = _trial_params(seed, action_id, subject, trial, cfg)
        tr = _jsonable(tr)
        perf = Performance(name, body, tr, cfg.coupling, cfg.cue)
        duration = tr["duration"]
        n_in = int(round(duration * cfg.rate_hz))
        n_vid = int(round(duration * cfg.fps))
        common = {
            "generator": f"vskd.synthetic/{GENERATOR_VERSION}",
            "preset": preset,
            "seed": int(seed),
            "key": str(key),
            "action_name": name,
            "duration": duration,
            "coupling": float(cfg.coupling),
            **({"cue": float(cfg.cue), "nuisance": float(cfg.nuisance)} if cfg.cue or cfg.nuisance else {}),
            "body": body,
            "trial": tr,
        }
        noise_seed = [seed, 2, action_id, subject, trial]

        # The wrist and joint signals are small (a few KB) but cost a full kinematics pass to make, and a
        # training run reads each recording's wrist signal every epoch: each is made once per recording
        # object and handed out as a copy (so no caller can change what the next one reads).
        made: dict[str, Any] = {}

        def load_inertial() -> InertialSignal:
            if "inertial" not in made:
                made["inertial"] = make_inertial()
            sig = made["inertial"]
            return InertialSignal(sig.samples.copy(), sig.rate_hz, sig.channels)

        def make_inertial() -> InertialSignal:
            t = np.arange(n_in) / cfg.rate_hz
            acc, gyro = perf.imu(t)
            if cfg.noise > 0:
                rng = np.random.default_rng(noise_seed)
                acc = acc + rng.normal(0, 0.5 * cfg.noise, 3) + rng.normal(0, cfg.noise, acc.shape)
                gyro = gyro + rng.normal(0, 50 * cfg.noise, 3) + rng.normal(0, 50 * cfg.noise, gyro.shape)
            acc = np.clip(acc, -ACC_RANGE_G, ACC_RANGE_G)
            gyro = np.clip(gyro, -GYRO_RANGE_DPS, GYRO_RANGE_DPS)
            return InertialSignal(np.concatenate([acc, gyro], axis=1), float(cfg.rate_hz), INERTIAL_CHANNELS)

        def load_skeleton() -> np.ndarray:
            if "skeleton" not in made:
                made["skeleton"] = make_skeleton()
            return made["skeleton"].copy()

        def make_skeleton() -> np.ndarray:
            joints, _ = perf.kinematics(np.arange(n_vid) / cfg.fps)
            if cfg.skeleton_layout == "kinect":
                return kinect_skeleton(joints)  # (20, 3, T), UTD-MHAD's order and axes
            return np.ascontiguousarray(joints.transpose(1, 2, 0))  # (J, 3, T)

        def load_rgb() -> np.ndarray:
            joints, _ = perf.kinematics(np.arange(n_vid) / cfg.fps)
            rng = np.random.default_rng([seed, 3, action_id, subject, trial])
            return _render(joints, body, tr, cfg.frame_size, cfg.supersample, rng, chair=name == "circle_seated")

        metas = {
            "inertial": {"rate_hz": cfg.rate_hz, "num_samples": n_in, "noise": float(cfg.noise),
                         "channels": list(INERTIAL_CHANNELS), "sensor": "right wrist"},
            "rgb": {"fps": cfg.fps, "num_frames": n_vid, "frame_size": list(cfg.frame_size),
                    "supersample": cfg.supersample},
            "skeleton": {"fps": cfg.fps, "num_frames": n_vid, "joints": list(JOINT_NAMES),
                         "frame": "world: x camera-right, y depth, z up (m)"},
        }  # fmt: skip
        if cfg.skeleton_layout == "kinect":
            metas["skeleton"] |= {"joints": list(KINECT_JOINT_NAMES), "layout": "kinect",
                                  "frame": "Kinect v1: x camera-right, y up, z away from the camera (m)"}

        def load_depth() -> np.ndarray:
            joints, _ = perf.kinematics(np.arange(n_vid) / cfg.fps)
            rng = np.random.default_rng([seed, 4, action_id, subject, trial])
            return _render(joints, body, tr, cfg.frame_size, cfg.supersample, rng,
                           chair=name == "circle_seated", depth_camera=True)

        metas["depth"] = {"fps": cfg.fps, "num_frames": n_vid, "frame_size": list(cfg.frame_size),
                          "units": "mm", "camera_m": DEPTH_CAMERA_M}
        loaders = {"inertial": load_inertial, "rgb": load_rgb, "skeleton": load_skeleton, "depth": load_depth}
        sources = {}
        for modality, extra in metas.items():
            meta = {**common, **extra}
            meta["cache_key"] = _cache_key({"modality": modality, **meta})
            sources[modality] = Source(load=loaders[modality], path=None, meta=meta)
        return Recording(key=key, label=label, sources=sources)

    return build


def make_synthetic(preset: str = "demo", seed: int = 0, **overrides: Any) -> list[Recording]:
    """The synthetic dataset: one :class:`Recording` per (action, subject, trial), sorted by key.

    Args:
        preset: ``"demo"`` (8 classes, 8 subjects x 5 trials, 64x64 frames, 15 fps, 3 s +- 10%) or
            ``"tiny"`` (4 classes, 8 subjects x 2 trials, 32x32, 15 fps, 2.4 s). See :data:`PRESETS`.
        seed: generation seed; the same seed gives identical arrays, another seed other ones.
        **overrides: fields of :class:`SyntheticConfig` (``actions``, ``subjects``, ``trials``,
            ``frame_size``, ``duration``, ``duration_jitter``, ``fps``, ``rate_hz``, ``noise``,
            ``coupling``, ``supersample``) and ``num_classes``.

    Each recording has sources ``inertial`` (:class:`InertialSignal`, channels acc_x..gyro_z, acc
    in g, gyro in deg/s, ``rate_hz``), ``rgb`` ((T_v, H, W, 3) uint8 at ``fps``) and ``skeleton``
    ((15, 3, T_v) float64, world metres) covering the same duration; ``Source.path`` is None and
    ``Source.meta`` holds the generation parameters and a stable ``cache_key``. Nothing is
    synthesised until a source is loaded.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"synthetic option 'seed' = {seed!r}: expected an int >= 0")
    cfg = synthetic_config(preset, **overrides)
    recs = []
    for name in cfg.actions:
        build = _make_recording(cfg, int(seed), preset, name)
        for subject in cfg.subjects:
            for trial in range(1, cfg.trials + 1):
                recs.append(build(subject, trial))
    return sorted(recs, key=lambda r: r.key)



@register_dataset(DATASET)
class Synthetic(DatasetReader):
    """The synthetic dataset's declaration (:mod:`vskd.data.registry`). In a config its options are
    ``data.preset``, ``data.seed`` and the overrides in ``data.synthetic`` (or ``data.options``)."""

    description = "embedded synthetic set: an articulated figure (video, depth, skeleton) with a wrist IMU"
    reference = "vskd (docs/data.md, 'The synthetic dataset')"
    options = (
        Option("preset", "demo", (str,), f"generation preset, one of {', '.join(PRESETS)}"),
        Option("seed", 0, (int,), "generation seed (the same data for every training seed)"),
        Option("num_classes", None, (int,), "the first k of the preset's actions"),
        Option("actions", None, (list,), f"class names among {', '.join(SYNTHETIC_ACTIONS)}"),
        Option("subjects", None, (int, list), "n (subjects 1..n) or subject ids"),
        Option("trials", None, (int,), "trials per subject and action"),
        Option("frame_size", None, (int, list), "frame size: an int or (H, W)"),
        Option("duration", None, (float,), "nominal recording length, s"),
        Option("duration_jitter", None, (float,), "relative spread of the length"),
        Option("fps", None, (int,), "video frame rate, Hz"),
        Option("rate_hz", None, (int,), "inertial rate, Hz"),
        Option("noise", None, (float,), "accelerometer noise std, g"),
        Option("coupling", None, (float,), "torso coupling of confusable pairs"),
        Option("cue", None, (float,), "the pairs' wrist cue (preset cue: 1)"),
        Option("nuisance", None, (float,), "per-subject sensor nuisance (preset cue: 1)"),
        Option("skeleton_layout", None, (str,), "skeleton joints: figure (15) or kinect (UTD-MHAD's 20)"),
        Option("camera_jitter", None, (float,), "per-trial camera variation"),
        Option("supersample", None, (int,), "rasteriser supersampling"),
    )
    rate_hz = float(PRESETS["demo"].rate_hz)
    modalities = ("inertial", "depth", "skeleton", "rgb")

    def scan(self, root, preset="demo", seed=0, **overrides) -> ScanResult:
        return ScanResult(make_synthetic(preset=preset, seed=seed, **overrides))

    def sensor_rate(self, options) -> float:
        preset = PRESETS.get(options.get("preset", "demo"))
        return float(options.get("rate_hz") or getattr(preset, "rate_hz", self.rate_hz))

    def config_options(self, data) -> dict:
        out = {"preset": (data.preset, "data.preset"), "seed": (data.seed, "data.seed")}
        out.update({k: (v, f"data.synthetic.{k}") for k, v in (data.synthetic or {}).items()})
        out.update(super().config_options(data))
        return out
