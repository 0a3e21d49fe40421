"""Experiment configuration: one YAML file per experiment, ``--set key=value`` overrides.

A config is a tree of dataclasses (:class:`Config`). :func:`load_config` reads YAML, applies
overrides such as ``--set student.train.lr=1e-3``, and validates every key: an unknown key or a value
of the wrong type raises :class:`~vskd.errors.ConfigError` naming the key path and what was expected.
The resolved config is written beside every run's results (``config.yaml``), so a run is reproducible
from that file and a command.

Defaults follow the VSKD paper and the authors' code (see ``docs/method.md``): teacher SGD lr 1e-3,
momentum 0.9, weight decay 5e-4, lr x0.1 at epoch 50 of 100, batch 16; student Adam lr 2e-4,
weight decay 1e-5, batch 16, 100 epochs; GAF images of 224 px; KD weight 0.01 at T = 4; DASK weights 1/1/1.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vskd.errors import ConfigError


@dataclass
class DataConfig:
    # a registered dataset reader (`vskd datasets`); the name, options and root are checked against the
    # registry by vskd.data.datasets.check_data_config (the data layer, above this module)
    dataset: str = "synthetic"
    root: str | None = None  # the reader's root: a dataset folder, or the manifest CSV
    options: dict[str, Any] = field(default_factory=dict)  # the reader's options (`vskd datasets --options`)
    preset: str = "demo"  # synthetic preset
    synthetic: dict[str, Any] = field(default_factory=dict)  # synthetic overrides (e.g. coupling, trials)
    seed: int = 0  # synthetic data seed (the same data for every training seed)
    protocol: str = "cross-subject"  # cross-subject | subject-specific | cross-view | cross-scene | cross-session
    val_subjects: list[int] | None = None  # cross-subject validation subjects (from the train side)
    val_trials: list[int] | None = None  # subject-specific validation trials (from the train side)
    val_groups: list[int] | None = None  # validation cameras / scenes / sessions (cross-view, -scene, -session)
    cache_dir: str | None = None  # decoded clips / GAF images; default ~/.cache/vskd or $VSKD_CACHE
    num_workers: int = 0


@dataclass
class AugmentConfig:
    """Strengths of the student's raw-signal augmentations (``student.input.augment``; the operator is
    :class:`vskd.data.augment.SignalAugment`, which documents each one); all 0 (``crop`` 1) is off.

    ``--set student.input.augment.rotate=15`` works; :meth:`check` validates it.
    """

    rotate: float = 0.0  # max rotation angle of each sensor triplet, degrees
    scale: float = 0.0  # std of the per-channel gain around 1
    time_warp: float = 0.0  # max relative speed change (0.2: speeds in [0.8, 1.2])
    warp_knots: int = 4  # speed values along the window (piecewise-linear speed curve)
    crop: float = 1.0  # smallest fraction of the window a random crop keeps (1: no crop)
    jitter: float = 0.0  # std of additive white noise, signal units

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise :class:`ConfigError` naming the ``student.input.augment`` key that is out of range."""
        for name in ("rotate", "scale", "time_warp", "jitter"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"config key 'student.input.augment.{name}': expected a number >= 0, got {v!r}")
        if self.rotate > 180:
            raise ConfigError(f"config key 'student.input.augment.rotate': expected degrees in 0..180, got {self.rotate!r}")
        if self.time_warp >= 1:
            raise ConfigError(f"config key 'student.input.augment.time_warp': expected a fraction in [0, 1), got {self.time_warp!r}")
        c = self.crop
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 < c <= 1:
            raise ConfigError(f"config key 'student.input.augment.crop': expected a fraction in (0, 1], got {c!r}")
        k = self.warp_knots
        if isinstance(k, bool) or not isinstance(k, int) or k < 2:
            raise ConfigError(f"config key 'student.input.augment.warp_knots': expected an integer >= 2, got {k!r}")


@dataclass
class GAFConfig:
    """The student's input: a GAF image of the inertial window (see :mod:`vskd.gaf`)."""

    method: str = "summation"  # summation (GASF) | difference (GADF)
    axes: list[str] = field(default_factory=lambda: ["acc_x", "acc_y", "acc_z"])
    image_size: int | None = None  # PAA length before the GAF (None: the recording's length)
    out_size: int = 224  # final square image size (bilinear)
    scaling: str = "minmax"  # minmax (authors' mat2gray) | affine ((v + 1) / 2)
    orientation: str = "standard"  # standard | authors (their GADF is the transpose)
    # training-only augmentation of the raw signal before the GAF (rotate, scale, time_warp, crop,
    # jitter; vskd.data.augment); all off by default, as in the paper
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class ClipConfig:
    """The teacher's input: TSN-sampled frames of the video."""

    modality: str = "depth"  # depth | rgb | skeleton (the skeleton teacher's joints)
    num_segments: int = 8
    frame_size: int = 256  # shorter side after resizing (cached at this size)
    crop_size: int = 224
    skeleton_length: int = 32  # frames the skeleton is resampled to (skeleton teacher)
    # TSN flips frames at random; off by default: UTD-MHAD (and the synthetic set) have classes that are
    # mirror images of each other (swipe left / right, clockwise / counter-clockwise, right / left arm)
    flip: bool = False


@dataclass
class OptimConfig:
    optimizer: str = "adam"  # adam | sgd
    lr: float = 2e-4
    weight_decay: float = 1e-5
    momentum: float = 0.9
    epochs: int = 100
    batch_size: int = 16
    lr_steps: list[int] = field(default_factory=list)  # epochs at which lr *= lr_gamma
    lr_gamma: float = 0.1
    grad_clip: float | None = None
    label_smoothing: float = 0.0  # cross-entropy label smoothing (a teacher-free control for KD's soft targets)
    micro_batches: int = 1  # split each batch by stride, accumulate gradients (less memory; DDP's 1-process twin)


def _teacher_optim() -> OptimConfig:
    return OptimConfig(optimizer="sgd", lr=1e-3, weight_decay=5e-4, momentum=0.9, epochs=100,
                       batch_size=16, lr_steps=[50], lr_gamma=0.1, grad_clip=20.0)


@dataclass
class TeacherConfig:
    arch: str = "trn"  # trn (video: TRN over a per-frame backbone) | skeleton (temporal CNN on joints)
    backbone: str = "bninception"  # bninception | resnet18 | resnet50 | efficientnet_lite0
    # local ImageNet weights file for the backbone; "package" for efficientnet_lite0's packaged weights
    pretrained: str | None = None
    embed_dim: int = 300
    dropout: float = 0.5
    partial_bn: bool = True
    subsets_per_scale: int = 3
    tsn_lr_multipliers: bool = False
    input: ClipConfig = field(default_factory=ClipConfig)
    train: OptimConfig = field(default_factory=_teacher_optim)


@dataclass
class StudentConfig:
    arch: str = "resnet18"
    pretrained: str | None = None  # local torchvision ImageNet state_dict
    embed_dim: int = 300
    input: GAFConfig = field(default_factory=GAFConfig)
    train: OptimConfig = field(default_factory=OptimConfig)


@dataclass
class DistillConfig:
    method: str = "dask"
    options: dict[str, Any] = field(default_factory=dict)  # method options, e.g. alpha, temperature
    ce_weight: float = 1.0
    teacher_checkpoint: str | None = None  # trained teacher (best.pt of train-teacher)
    teacher_cache: str = "auto"  # auto | on | off: cache teacher outputs (eval transform) once
    pairing: str = "paired"  # paired | unpaired | class-shuffled (controls; see vskd.engine.pairing)


@dataclass
class Config:
    name: str = "experiment"
    seed: int = 0
    out_dir: str = "runs"
    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)


# ----------------------------------------------------------------------------- building from dicts

def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Check/convert ``value`` to the annotated type ``tp``; raise ConfigError naming ``path``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"config key '{path}': expected {' or '.join(_type_name(a) for a in args)}, got {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{path}': expected a mapping of {tp.__name__} fields, got {value!r}")
        return _build(tp, value, path)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise ConfigError(f"config key '{path}': expected a list, got {value!r}")
        return [_coerce(v, item_tp, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{path}': expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{path}': expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{path}': expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML reads 1e-3 as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"config key '{path}': expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"config key '{path}': expected a string, got {value!r}")
    return value


def _build(cls: type, data: dict, prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in data if k not in names]
    if unknown:
        where = f"'{prefix}'" if prefix else "the top level"
        raise ConfigError(
            f"unknown config key '{_join(prefix, unknown[0])}' (valid keys at {where}: {', '.join(names)})"
        )
    obj = cls()
    for key, value in data.items():
        setattr(obj, key, _coerce(value, hints[key], _join(prefix, key)))
    return obj


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def config_from_dict(data: dict | None) -> Config:
    return _build(Config, data or {})


def config_to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``a.b.c=value`` (the value is read as YAML: numbers, lists, null, true/false)."""
    if "=" not in text:
        raise ConfigError(f"--set expects key=value (e.g. student.train.lr=1e-3), got '{text}'")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set '{text}': empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set '{text}': value is not valid YAML ({exc.__class__.__name__})") from None
    return key.split("."), value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    for text in overrides or []:
        keys, value = parse_override(text)
        node = data
        for k in keys[:-1]:
            nxt = node.get(k)
            if nxt is None:
                nxt = node[k] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"--set '{text}': '{k}' is not a section")
            node = nxt
        node[keys[-1]] = value
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config (or start from the defaults when ``path`` is None) and apply overrides."""
    data: dict = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {p} is not valid YAML: {str(exc).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {p}: expected a mapping at the top level, got {type(data).__name__}")
    data = apply_overrides(data, overrides or [])
    cfg = config_from_dict(data)
    validate(cfg)
    return cfg


_CHOICES = {
    "data.protocol": ("cross-subject", "subject-specific", "cross-view", "cross-scene", "cross-session"),
    "student.input.method": ("summation", "difference"),
    "student.input.scaling": ("minmax", "affine"),
    "student.input.orientation": ("standard", "authors"),
    "teacher.input.modality": ("depth", "rgb", "skeleton"),
    "teacher.arch": ("trn", "skeleton"),
    "teacher.train.optimizer": ("adam", "sgd"),
    "student.train.optimizer": ("adam", "sgd"),
    "distill.teacher_cache": ("auto", "on", "off"),
    "distill.pairing": ("paired", "unpaired", "class-shuffled"),
}


def _get(cfg: Any, path: str) -> Any:
    for k in path.split("."):
        cfg = getattr(cfg, k)
    return cfg


def validate(cfg: Config) -> None:
    """Check values that types alone cannot (choices, ranges); raise ConfigError naming the key.

    The ``data.dataset`` name, its ``data.options`` and ``data.root`` are checked by the dataset registry
    (:func:`vskd.data.datasets.check_data_config`), which the engine calls before a run starts: this
    module sits below the data layer and knows no readers.
    """
    for path, choices in _CHOICES.items():
        value = _get(cfg, path)
        if value not in choices:
            raise ConfigError(f"config key '{path}': expected one of {', '.join(choices)}, got {value!r}")
    for section in ("teacher.train", "student.train"):
        opt = _get(cfg, section)
        for key in ("epochs", "batch_size"):
            if getattr(opt, key) < 1:
                raise ConfigError(f"config key '{section}.{key}': expected >= 1, got {getattr(opt, key)}")
        if opt.lr <= 0:
            raise ConfigError(f"config key '{section}.lr': expected > 0, got {opt.lr}")
        if not 0 <= opt.label_smoothing < 1:
            raise ConfigError(f"config key '{section}.label_smoothing': expected a fraction in [0, 1), "
                              f"got {opt.label_smoothing}")
    if cfg.teacher.input.num_segments < 1:
        raise ConfigError(f"config key 'teacher.input.num_segments': expected >= 1, got {cfg.teacher.input.num_segments}")
    cfg.student.input.augment.check()
    if cfg.student.input.out_size < 16:
        raise ConfigError(f"config key 'student.input.out_size': expected >= 16, got {cfg.student.input.out_size}")
    if (cfg.teacher.arch == "skeleton") != (cfg.teacher.input.modality == "skeleton"):
        raise ConfigError("config keys 'teacher.arch' and 'teacher.input.modality': the skeleton teacher "
                          f"reads the skeleton modality (got arch {cfg.teacher.arch!r}, modality "
                          f"{cfg.teacher.input.modality!r})")
    if cfg.distill.pairing != "paired" and cfg.distill.teacher_cache == "off":
        raise ConfigError("config key 'distill.pairing': unpaired controls re-assign cached teacher outputs; "
                          "they need distill.teacher_cache on or auto")


def save_config(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
