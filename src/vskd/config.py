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
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vskd.errors import ConfigError
from vskd.limits import MAX_GAF_SIDE, MAX_OUT_SIZE, gaf_bytes, human_bytes


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
    # model selection of the student jobs: val (one held-out validation group, the val_* keys above; an
    # empty list, e.g. val_subjects: [], trains on the whole training side for the configured epochs
    # and keeps the last) | cv (leave-one-group-out folds over the training groups, the epoch of the
    # best mean validation curve, then a refit on the whole training side; vskd.engine.cv, docs/tune.md)
    selection: str = "val"
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
    """The student's input: a GAF image of the inertial window (see :mod:`vskd.gaf`), or for the
    raw-signal students (``student.arch`` inception1d / minirocket / watch1d) the window resampled to
    ``length`` samples and normalised by the student (``normalize``); ``axes`` and ``augment`` serve both."""

    method: str = "summation"  # summation (GASF) | difference (GADF) | both (GASF and GADF: 2 channels per axis)
    axes: list[str] = field(default_factory=lambda: ["acc_x", "acc_y", "acc_z"])
    image_size: int | None = None  # PAA length before the GAF (None: the recording's length)
    out_size: int = 224  # final square image size (bilinear)
    scaling: str = "minmax"  # minmax (authors' mat2gray) | affine ((v + 1) / 2)
    orientation: str = "standard"  # standard | authors (their GADF is the transpose)
    # training-only augmentation of the raw signal before the GAF (rotate, scale, time_warp, crop,
    # jitter; vskd.data.augment); all off by default, as in the paper
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # raw-signal students only (vskd.data.paired.RawSpec, vskd.models.raw_students.InputNorm):
    length: int = 180  # samples each recording is linearly resampled to (UTD-MHAD practice)
    normalize: str = "none"  # none | recording (per-window z-score) | dataset (training split's statistics)


@dataclass
class SkeletonAugmentConfig:
    """Training augmentation of a skeleton teacher's joints (``teacher.input.skeleton_augment``;
    :func:`vskd.data.skeleton.augment_skeleton` and :func:`~vskd.data.skeleton.random_span`). The
    defaults are the first skeleton teacher's (rotation and scale only); 0 (``crop`` 1) is off."""

    rotate: float = 30.0  # max rotation about the vertical axis, degrees
    scale: float = 0.1  # global scale uniform in [1 - scale, 1 + scale]
    shear: float = 0.0  # off-diagonal shear entries uniform in +-shear
    jitter: float = 0.0  # std of Gaussian noise on every coordinate, body-size (spine) units
    crop: float = 1.0  # smallest fraction of the sequence a random temporal crop keeps (resampled to the length)

    def check(self) -> None:
        """Raise :class:`ConfigError` naming the ``teacher.input.skeleton_augment`` key out of range."""
        key = "config key 'teacher.input.skeleton_augment"
        for name, hi in (("rotate", 180.0), ("scale", 0.99), ("shear", 1.0), ("jitter", 1.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= hi:
                raise ConfigError(f"{key}.{name}': expected a number in [0, {hi:g}], got {v!r}")
        if isinstance(self.crop, bool) or not isinstance(self.crop, (int, float)) or not 0 < self.crop <= 1:
            raise ConfigError(f"{key}.crop': expected a fraction in (0, 1], got {self.crop!r}")


#: input channel groups of the skeleton teachers (vskd.data.skeleton.SKELETON_FEATURES)
SKELETON_FEATURE_NAMES = ("joints", "velocity", "bones")
#: teacher.arch values that read the skeleton modality
SKELETON_ARCHS = ("skeleton", "skeleton_gcn", "skeleton_minirocket", "skeleton_rocket")
#: teacher.arch values fitted in closed form (nothing trained by gradient): a bench selects them by CV too
CLOSED_FORM_TEACHERS = ("skeleton_minirocket", "skeleton_rocket", "dmm_ridge")


@dataclass
class ClipConfig:
    """The teacher's input: TSN-sampled frames of the video."""

    modality: str = "depth"  # depth | rgb | skeleton (the skeleton teacher's joints)
    num_segments: int = 8
    frame_size: int = 256  # shorter side after resizing (cached at this size)
    crop_size: int = 224
    skeleton_length: int = 32  # frames the skeleton is resampled to (skeleton teacher)
    # input channel groups of a skeleton teacher: joints | velocity | bones (vskd.data.skeleton.skeleton_features)
    skeleton_features: list[str] = field(default_factory=lambda: ["joints", "velocity"])
    skeleton_augment: SkeletonAugmentConfig = field(default_factory=SkeletonAugmentConfig)
    # TSN flips frames at random; off by default: UTD-MHAD (and the synthetic set) have classes that are
    # mirror images of each other (swipe left / right, clockwise / counter-clockwise, right / left arm)
    flip: bool = False
    # person-centred frames (vskd.data.crops, docs/paired.md): none | foreground (depth: the non-zero
    # pixels' box over the clip) | box (crop_box) | skeleton (the paired joints through camera)
    person_crop: str = "none"
    crop_margin: float = 0.1  # padding of the square box on each side, fraction of its longer side
    crop_trim: float = 0.002  # fraction of foreground pixel-frames ignored on each side (noise pixels)
    crop_box: list[int] | None = None  # [y0, x0, y1, x1], pixels of the full-resolution frame
    camera: list[float] | None = None  # [f_x, f_y, c_x, c_y], pixels of the full-resolution frame
    # motion-aware input (vskd.data.motion): none | diff (frame, |backward|, |forward| difference as the
    # 3 channels) | dmm (depth: per-segment depth motion maps front / side / top as the 3 channels)
    motion: str = "none"
    dmm_bins: int = 16  # depth bins of the DMM side and top projections (Kinect v1: ~35 distinct depths on a body)
    # motion dmm only: a temporal pyramid of DMM segmentations, e.g. [3, 5, 8] (the maps over 3, 5 and 8
    # segments, concatenated: 16 images; the dmm_ridge teacher's input); null: [num_segments]
    dmm_segments: list[int] | None = None


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
    amp: str = "off"  # mixed precision of the training step: off | bf16 (CPU or GPU) | fp16 (GPU, loss scaling)


@dataclass
class FeatureCacheConfig:
    """``teacher.features``: train the video teacher's head on per-frame features of a frozen backbone,
    extracted once and cached on disk (:mod:`vskd.data.features`; docs/models.md, "Frozen backbones").

    ``cache: true`` implies ``teacher.frozen_backbone``. The frames fed to the backbone are every
    ``stride``-th frame of the clip (or ``per_segment`` frames of each TSN segment) at
    ``teacher.input.crop_size`` px, either the evaluation view of
    the uncached teacher (``crop: centre``: shorter side resized to ``frame_size``, centre crop) or a
    square box around the person (``crop: person``: the depth's non-zero pixels over the whole clip,
    ``margin`` of its side added around it, cut from the full-resolution frame).
    """

    cache: bool = False
    stride: int = 1  # cache every stride-th frame (TSN samples among the cached frames)
    # or cache n evenly spaced frames of each of the K TSN segments (1: the segment centres only)
    per_segment: int | None = None
    crop: str = "centre"  # centre (the uncached teacher's eval view) | person (box of the depth's foreground)
    margin: float = 0.1  # person crop: fraction of the box side added on each side
    batch_size: int = 64  # frames per backbone forward during extraction


def _teacher_optim() -> OptimConfig:
    return OptimConfig(optimizer="sgd", lr=1e-3, weight_decay=5e-4, momentum=0.9, epochs=100,
                       batch_size=16, lr_steps=[50], lr_gamma=0.1, grad_clip=20.0)


@dataclass
class MemberConfig:
    """One member of a multimodal teacher (``teacher.arch: fusion``, ``teacher.members``): a trained
    checkpoint, a teacher's (``vskd train-teacher``) or a student's (``vskd train-student``: the wrist
    signal itself), read with its own input view. ``kind`` and ``config`` are filled in by vskd from
    the checkpoint when the fusion teacher is trained (so the fusion checkpoint rebuilds alone); leave
    them out."""

    checkpoint: str | None = None  # best.pt of the member
    name: str | None = None  # its view's key in the teacher's input dict (default: its modality)
    weight: float = 1.0  # ensemble weight / initial late-fusion weight (normalised over the members)
    kind: str | None = None  # filled in: "teacher" | "student"
    config: dict[str, Any] | None = None  # filled in: the member's training config


@dataclass
class TeacherConfig:
    # trn (video: TRN over a per-frame backbone) | skeleton (temporal CNN on joints) | skeleton_gcn (ST-GCN on
    # joints) | skeleton_minirocket (MiniRocket features of the joints + a closed-form ridge head,
    # vskd.models.skeleton_rocket: fitted, not trained) | skeleton_rocket (the same with Rocket's 10 000
    # random kernels) | dmm_ridge (depth: frozen ImageNet features of each depth motion map + a closed-form
    # ridge head, vskd.models.dmm_ridge: fitted, not trained) | fusion (a multimodal teacher over trained
    # member checkpoints, vskd.models.fusion)
    arch: str = "trn"
    width: int | None = None  # skeleton teachers' first-layer channels (null: skeleton 128, skeleton_gcn 64)
    # skeleton_minirocket / skeleton_rocket only: ridge (the closed-form head) | random (PyTorch's initialisation, no fit of
    # the head: the "untrained teacher" control of a closed-form teacher)
    head_init: str = "ridge"
    # skeleton_minirocket / skeleton_rocket only: none | train (each input channel standardised with the training
    # sequences' mean and std over all frames, fitted with the transform: one scale for all recordings, so a
    # joint's level stays information while positions, velocities and bones share a scale) | group (no centring,
    # one scale per channel group: the groups share a scale, each group's geometry is kept)
    channel_norm: str = "none"
    backbone: str = "bninception"  # bninception | resnet18 | resnet50 | efficientnet_lite0
    # local ImageNet weights file for the backbone; "package" for efficientnet_lite0's packaged weights
    pretrained: str | None = None
    embed_dim: int = 300
    dropout: float = 0.5
    partial_bn: bool = True
    subsets_per_scale: int = 3
    tsn_lr_multipliers: bool = False
    # the backbone stays frozen (eval mode, no gradient): only fc0 and the relation head train
    frozen_backbone: bool = False
    features: FeatureCacheConfig = field(default_factory=FeatureCacheConfig)
    input: ClipConfig = field(default_factory=ClipConfig)
    train: OptimConfig = field(default_factory=_teacher_optim)
    # teacher.arch fusion only (vskd.models.fusion.FusionTeacher): the members, how they are fused
    # (ensemble: fixed-weight mean of logits, nothing trained | late: learnt weights on the logits |
    # feature: concatenated embeddings -> MLP -> fc0 -> logits), the feature MLP's width, whether the
    # members are fine-tuned (default frozen), and the embedding an ensemble / late teacher gives the
    # methods (project: the members' embeddings concatenated and projected to embed_dim by a fixed
    # orthonormal map | concat: concatenated)
    members: list[MemberConfig] = field(default_factory=list)
    fusion: str = "late"
    fusion_hidden: int = 512
    finetune_members: bool = False
    fusion_embedding: str = "project"


@dataclass
class StudentConfig:
    # GAF students: resnet18 | resnet34 | resnet50 | mobilenet_v3_small; raw-signal students:
    # inception1d | minirocket | rocket | watch1d (vskd.models.registry.STUDENTS)
    arch: str = "resnet18"
    pretrained: str | None = None  # local torchvision ImageNet state_dict
    embed_dim: int = 300
    # the head's initialisation: random (PyTorch's default) | ridge (the minirocket and rocket students only:
    # fc0/fc1 reproduce a RidgeClassifierCV fitted on the standardised training features; vskd.models.minirocket)
    head_init: str = "random"
    input: GAFConfig = field(default_factory=GAFConfig)
    train: OptimConfig = field(default_factory=OptimConfig)


@dataclass
class UnlabeledConfig:
    """Which training recordings keep their labels (``distill.unlabeled``; the split is
    :func:`vskd.data.labels.split_labeled`): the rest are *unlabelled paired recordings*, whose labels
    no loss sees. Exactly one of ``fraction`` / ``trials`` / ``subjects``; validation and test stay
    labelled. The teacher (``train-teacher``), the student alone (``train-student``) and the peers train
    on the labelled part; a distilled student takes cross-entropy on the labelled part and the
    distillation terms on both (docs/methods.md, "Unlabelled paired recordings")."""

    fraction: float | None = None  # fraction of each class's training recordings that stay labelled, in (0, 1)
    trials: list[int] | None = None  # the trials that stay labelled (every subject and class)
    subjects: list[int] | None = None  # the training subjects that stay labelled
    seed: int = 0  # which recordings a fraction labels (independent of the training seed)
    # distill only: the unlabelled pairs take the distillation terms (true, the method); false, the
    # control: distil on the labelled pairs only (the unlabelled recordings are left out altogether)
    pairs: bool = True

    def check(self) -> None:
        """Raise :class:`ConfigError` naming the ``distill.unlabeled`` key that is wrong."""
        given = [k for k in ("fraction", "trials", "subjects") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ConfigError("config key 'distill.unlabeled': expected exactly one of fraction, trials, subjects "
                              f"(which training recordings stay labelled), got {', '.join(given) or 'none'}")
        f = self.fraction
        if f is not None and not (math.isfinite(f) and 0 < f < 1):
            raise ConfigError(f"config key 'distill.unlabeled.fraction': expected a fraction in (0, 1) (the share "
                              f"of each class's training recordings that stay labelled), got {f!r}")
        for key in ("trials", "subjects"):
            values = getattr(self, key)
            if values is not None and not values:
                raise ConfigError(f"config key 'distill.unlabeled.{key}': expected a non-empty list of {key} "
                                  f"that stay labelled, got []")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"config key 'distill.unlabeled.seed': expected a seed in [0, 2**32 - 1], "
                              f"got {self.seed}")


@dataclass
class DistillConfig:
    method: str = "dask"
    options: dict[str, Any] = field(default_factory=dict)  # method options, e.g. alpha, temperature
    ce_weight: float = 1.0
    teacher_checkpoint: str | None = None  # trained teacher (best.pt of train-teacher)
    teacher_cache: str = "auto"  # auto | on | off: cache teacher outputs (eval transform) once
    pairing: str = "paired"  # paired | unpaired | class-shuffled (controls; see vskd.engine.pairing)
    # own: the teacher reads its own view of the recording (frames, joints, its wrist view, or the cache);
    # student: it reads the student's augmented window itself, batch by batch ("consistent teaching",
    # Beyer et al., CVPR 2022): for a teacher whose every wrist view is the student's raw window; the
    # skeleton / camera members of a multimodal teacher then read the recording (see mixup_views)
    teacher_view: str = "own"
    # > 0 (needs teacher_view student): the Beta(mixup, mixup) mixup of the student's windows within a
    # batch, which the teacher then labels ("function matching"); 0: off
    mixup: float = 0.0
    # with mixup, what a multimodal teacher's skeleton / camera members give for a mixed pair (a, b):
    # output: lam T(a) + (1 - lam) T(b) over their views (the teacher runs on both, the wrist members on
    # the mixed window each time; exact for a fixed ensemble, and each recording's features are computed
    # once); input: the members read lam v(a) + (1 - lam) v(b), mixed joints or frames (a new input every
    # batch: the skeleton MiniRocket's transform then runs on every batch, about 3x the cost)
    mixup_views: str = "output"
    # None: every training recording is labelled; else which stay labelled (UnlabeledConfig). Read by
    # train-teacher, train-student, peers and distill alike, so one config describes one label budget
    unlabeled: UnlabeledConfig | None = None


@dataclass
class Config:
    name: str = "experiment"
    seed: int = 0
    # where training runs: cpu (default, bit-reproducible) | cuda | cuda:N | auto (cuda when torch sees a GPU);
    # vskd.engine.device, docs/distributed.md
    device: str = "cpu"
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
            if dataclasses.is_dataclass(arg) and isinstance(value, dict):
                return _build(arg, value, path)  # a section: its own message (an unknown key, a bad value)
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


#: config files larger than this are refused before parsing (real configs are a few kB)
MAX_CONFIG_BYTES = 1 << 20


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader without anchors/aliases.

    Aliases let a few hundred bytes expand to billions of nodes when the tree is walked or dumped (the
    "billion laughs" attack), and a vskd config has no use for them, so the composer refuses the first
    anchor or alias it meets, before anything expands.
    """

    where = "YAML"

    def compose_node(self, parent, index):  # noqa: ANN001 - PyYAML's signature
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if isinstance(event, yaml.AliasEvent) or anchor is not None:
            line = event.start_mark.line + 1
            raise ConfigError(f"{self.where}: line {line}: YAML anchors and aliases (&{anchor} / *{anchor}) are not "
                              f"allowed in vskd configs; write the values out")
        return super().compose_node(parent, index)


def safe_yaml(text: str, where: str) -> Any:
    """``yaml.safe_load`` without anchors/aliases; every parse failure becomes one ConfigError line."""
    loader = None
    try:
        loader = _NoAliasLoader(text)  # the reader refuses control characters already here
        loader.where = where
        return loader.get_single_data()
    except ConfigError:
        raise
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is not valid YAML: {str(exc).splitlines()[0]}") from None
    except (ValueError, OverflowError, RecursionError, TypeError) as exc:  # e.g. a timestamp 2020-13-45
        raise ConfigError(f"{where}: a value cannot be read ({type(exc).__name__}: {str(exc)[:80]})") from None
    finally:
        if loader is not None:
            loader.dispose()


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``a.b.c=value`` (the value is read as YAML: numbers, lists, null, true/false)."""
    if "=" not in text:
        raise ConfigError(f"--set expects key=value (e.g. student.train.lr=1e-3), got '{text}'")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set '{text}': empty key")
    if any(not k.strip() for k in key.split(".")):
        raise ConfigError(f"--set '{text}': empty part in key '{key}'")
    value = safe_yaml(raw, f"--set '{text}': the value") if raw.strip() else ""
    return key.split("."), value


def set_path(data: dict, keys: list[str], value: Any, where: str) -> None:
    """Set ``data[k0][k1]...[kn] = value`` in a raw config dict, making missing sections; a key on the
    way that holds a value, not a section, is a :class:`ConfigError` naming ``where`` and that key."""
    node = data
    for i, k in enumerate(keys[:-1]):
        nxt = node.get(k)
        if nxt is None:
            nxt = node[k] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"{where}: '{'.'.join(keys[:i + 1])}' is not a section")
        node = nxt
    node[keys[-1]] = value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    for text in overrides or []:
        keys, value = parse_override(text)
        set_path(data, keys, value, f"--set '{text}'")
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config (or start from the defaults when ``path`` is None) and apply overrides."""
    data: dict = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            size = p.stat().st_size
            if size > MAX_CONFIG_BYTES:
                raise ConfigError(f"config file {p} is {size} bytes; a config is at most {MAX_CONFIG_BYTES} bytes")
            raw = p.read_bytes()
        except OSError as exc:
            raise ConfigError(f"config file {p} is unreadable ({exc.strerror or exc})") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {p} is not a YAML text file (not UTF-8 at byte {exc.start})") from None
        if "\x00" in text:
            raise ConfigError(f"config file {p} is not a YAML text file (it holds NUL bytes)")
        data = safe_yaml(text, f"config file {p}") or {}
        if not isinstance(data, dict):
            raise ConfigError(f"config file {p}: expected a mapping at the top level, got {type(data).__name__}")
    data = apply_overrides(data, overrides or [])
    cfg = config_from_dict(data)
    validate(cfg)
    return cfg


_CHOICES = {
    "data.protocol": ("cross-subject", "subject-specific", "cross-view", "cross-scene", "cross-session"),
    "data.selection": ("val", "cv"),
    "student.input.method": ("summation", "difference", "both"),
    "student.input.normalize": ("none", "recording", "dataset"),
    "student.head_init": ("random", "ridge"),
    "teacher.head_init": ("random", "ridge"),
    "teacher.channel_norm": ("none", "train", "group"),
    "student.input.scaling": ("minmax", "affine"),
    "student.input.orientation": ("standard", "authors"),
    "teacher.input.modality": ("depth", "rgb", "skeleton"),
    "teacher.input.person_crop": ("none", "foreground", "box", "skeleton"),
    "teacher.input.motion": ("none", "diff", "dmm"),
    "teacher.arch": ("trn", *SKELETON_ARCHS, "dmm_ridge", "fusion"),
    "teacher.fusion": ("ensemble", "late", "feature"),
    "teacher.fusion_embedding": ("project", "concat"),
    "teacher.train.optimizer": ("adam", "sgd"),
    "teacher.features.crop": ("centre", "person"),
    "student.train.optimizer": ("adam", "sgd"),
    "distill.teacher_cache": ("auto", "on", "off"),
    "distill.pairing": ("paired", "unpaired", "class-shuffled"),
    "distill.teacher_view": ("own", "student"),
    "distill.mixup_views": ("output", "input"),
}


def _get(cfg: Any, path: str) -> Any:
    for k in path.split("."):
        cfg = getattr(cfg, k)
    return cfg


def _validate_student_input(cfg: Config) -> None:
    """``student.input.length`` (the raw-signal students' window) is at least 2 samples. The
    ``student.arch`` name is checked by the student registry (:mod:`vskd.models.registry`) when the
    engine builds the student: this module sits below the models and knows none."""
    if cfg.student.input.length < 2:
        raise ConfigError(f"config key 'student.input.length': expected >= 2, got {cfg.student.input.length}")


def _check_skeleton(cfg: Config) -> None:
    """``teacher.input.skeleton_features`` (distinct known groups), ``skeleton_augment`` and ``teacher.width``."""
    names = cfg.teacher.input.skeleton_features
    if not names or len(set(names)) != len(names) or any(n not in SKELETON_FEATURE_NAMES for n in names):
        raise ConfigError(f"config key 'teacher.input.skeleton_features': expected distinct names among "
                          f"{', '.join(SKELETON_FEATURE_NAMES)}, got {names!r}")
    cfg.teacher.input.skeleton_augment.check()
    w = cfg.teacher.width
    if w is not None and not 1 <= w <= 4096:
        raise ConfigError(f"config key 'teacher.width': expected null or an integer in [1, 4096], got {w}")


def validate(cfg: Config) -> None:
    """Check values that types alone cannot (choices, ranges); raise ConfigError naming the key.

    The ``data.dataset`` name, its ``data.options`` and ``data.root`` are checked by the dataset registry
    (:func:`vskd.data.datasets.check_data_config`), which the engine calls before a run starts: this
    module sits below the data layer and knows no readers.
    """
    _validate_student_input(cfg)
    for path, choices in _CHOICES.items():
        value = _get(cfg, path)
        if value not in choices:
            raise ConfigError(f"config key '{path}': expected one of {', '.join(choices)}, got {value!r}")
    for section in ("teacher.train", "student.train"):
        opt = _get(cfg, section)
        for key in ("epochs", "batch_size"):
            if getattr(opt, key) < 1:
                raise ConfigError(f"config key '{section}.{key}': expected >= 1, got {getattr(opt, key)}")
        _check_optim(section, opt)
        if not 0 <= opt.label_smoothing < 1:
            raise ConfigError(f"config key '{section}.label_smoothing': expected a fraction in [0, 1), "
                              f"got {opt.label_smoothing}")
    _check_finite(cfg, "")
    _check_values(cfg)
    if cfg.teacher.input.num_segments < 1:
        raise ConfigError(f"config key 'teacher.input.num_segments': expected >= 1, got {cfg.teacher.input.num_segments}")
    cfg.student.input.augment.check()
    if cfg.student.input.out_size < 16:
        raise ConfigError(f"config key 'student.input.out_size': expected >= 16, got {cfg.student.input.out_size}")
    _check_image_sizes(cfg)
    _validate_members(cfg)
    _check_skeleton(cfg)
    _check_teacher_crop(cfg.teacher.input)
    if cfg.teacher.head_init != "ridge" and cfg.teacher.arch not in CLOSED_FORM_TEACHERS:
        raise ConfigError(f"config key 'teacher.head_init': {cfg.teacher.head_init!r} applies to the closed-form "
                          f"teachers ({', '.join(CLOSED_FORM_TEACHERS)}) only; teacher.arch is {cfg.teacher.arch!r}")
    if cfg.teacher.arch == "dmm_ridge" and (cfg.teacher.input.modality != "depth" or cfg.teacher.input.motion != "dmm"):
        raise ConfigError(f"config key 'teacher.arch': the dmm_ridge teacher reads depth motion maps; set "
                          f"teacher.input.modality depth and teacher.input.motion dmm (got "
                          f"{cfg.teacher.input.modality!r}, {cfg.teacher.input.motion!r})")
    if cfg.teacher.input.dmm_segments is not None and cfg.teacher.arch not in ("dmm_ridge", "fusion"):
        raise ConfigError(f"config key 'teacher.input.dmm_segments': a pyramid of depth motion maps is the dmm_ridge "
                          f"teacher's input; the {cfg.teacher.arch} teacher reads num_segments images")
    if cfg.teacher.channel_norm != "none" and cfg.teacher.arch not in ("skeleton_minirocket", "skeleton_rocket"):
        raise ConfigError(f"config key 'teacher.channel_norm': {cfg.teacher.channel_norm!r} applies to the "
                          f"closed-form skeleton teachers (skeleton_minirocket, skeleton_rocket) only; teacher.arch is "
                          f"{cfg.teacher.arch!r}")
    if (cfg.teacher.arch in SKELETON_ARCHS) != (cfg.teacher.input.modality == "skeleton"):
        raise ConfigError("config keys 'teacher.arch' and 'teacher.input.modality': the skeleton teachers "
                          f"reads the skeleton modality (got arch {cfg.teacher.arch!r}, modality "
                          f"{cfg.teacher.input.modality!r})")
    if cfg.distill.unlabeled is not None:
        cfg.distill.unlabeled.check()
        if cfg.distill.pairing == "class-shuffled" and cfg.distill.unlabeled.pairs:
            raise ConfigError("config key 'distill.pairing': the class-shuffled control draws teacher outputs "
                              "of the same class, which needs every training recording's label; with "
                              "unlabelled pairs (distill.unlabeled) use pairing 'unpaired', or "
                              "distill.unlabeled.pairs false")
    _check_teacher_view(cfg.distill)
    if cfg.distill.pairing != "paired" and cfg.distill.teacher_cache == "off" and cfg.distill.teacher_view != "student":
        raise ConfigError("config key 'distill.pairing': unpaired controls re-assign cached teacher outputs; "
                          "they need distill.teacher_cache on or auto")


def _check_teacher_view(d: DistillConfig) -> None:
    """``distill.teacher_view`` / ``distill.mixup``: the combinations that mean something (the part that
    needs the teacher's checkpoint, that its wrist views are the student's and that a ``distill.pairing``
    control has a member reading the recording, is checked when distilling)."""
    if not (isinstance(d.mixup, (int, float)) and 0 <= d.mixup <= 10):
        raise ConfigError(f"config key 'distill.mixup': expected the Beta parameter in [0, 10] (0: off), got {d.mixup!r}")
    if d.mixup_views != "output" and not d.mixup > 0:
        raise ConfigError(f"config key 'distill.mixup_views': {d.mixup_views!r} says how a multimodal teacher's "
                          f"skeleton / camera members see a mixed pair; it needs distill.mixup > 0")
    if d.mixup > 0 and d.teacher_view != "student":
        raise ConfigError("config key 'distill.mixup': mixed windows need a teacher that labels them; set "
                          "distill.teacher_view student (a teacher that reads the student's wrist window)")
    if d.teacher_view != "student":
        return
    if d.teacher_cache == "on":
        raise ConfigError("config key 'distill.teacher_cache': with distill.teacher_view student the teacher "
                          "reads each augmented batch, so its outputs cannot be cached; set auto or off")


def _validate_members(cfg: Config) -> None:
    """``teacher.members`` (read by ``teacher.arch: fusion`` only): at least one, each with a checkpoint
    (or, in a saved fusion config, the member's own config), unique names, finite weights > 0."""
    t = cfg.teacher
    if t.arch != "fusion":
        if t.members:
            raise ConfigError(f"config key 'teacher.members': members are read by teacher.arch 'fusion' only "
                              f"(got arch {t.arch!r})")
        return
    if not t.members:
        raise ConfigError("config key 'teacher.members': a fusion teacher needs at least one member "
                          "(a list of {checkpoint: best.pt of vskd train-teacher or train-student})")
    names = []
    for i, m in enumerate(t.members):
        where = f"teacher.members[{i}]"
        if not m.checkpoint and m.config is None:
            raise ConfigError(f"config key '{where}.checkpoint': expected the path of a trained member "
                              f"(best.pt of vskd train-teacher or vskd train-student)")
        if m.kind is not None and m.kind not in ("teacher", "student"):
            raise ConfigError(f"config key '{where}.kind': expected teacher or student, got {m.kind!r}")
        if not (math.isfinite(m.weight) and m.weight > 0):
            raise ConfigError(f"config key '{where}.weight': expected a finite number > 0, got {m.weight}")
        if m.name is not None:
            if not m.name or not m.name.replace("_", "").replace("-", "").isalnum():
                raise ConfigError(f"config key '{where}.name': expected letters, digits, '-' or '_', got {m.name!r}")
            if m.name in names:
                raise ConfigError(f"config key '{where}.name': the name {m.name!r} is given twice")
            names.append(m.name)
    if not 1 <= t.fusion_hidden <= MAX_EMBED_DIM:
        raise ConfigError(f"config key 'teacher.fusion_hidden': expected an integer in [1, {MAX_EMBED_DIM}], "
                          f"got {t.fusion_hidden}")


# ----------------------------------------------------------------------------- value ranges

#: NumPy's seeds (``np.random.seed``, ``default_rng`` of one word) are unsigned 32-bit integers
MAX_SEED = 2**32 - 1
#: the largest teacher frame side (``teacher.input.frame_size`` / ``crop_size``)
MAX_FRAME_SIZE = 1024
#: the largest embedding / hidden width (``*.embed_dim``)
MAX_EMBED_DIM = 65536
#: the values of ``*.train.amp`` (mixed precision of the training step; vskd.engine.device)
AMP_MODES = ("off", "bf16", "fp16")
#: the form of the config key ``device`` (whether the GPU is there is checked when a run starts)
_DEVICE = re.compile(r"(cpu|auto|cuda(:[0-9]+)?)")
#: upper bounds of counts that only a typo makes large
_MAX_COUNTS = {"epochs": 100_000, "batch_size": 65_536, "micro_batches": 4096}


def _check_finite(node: Any, path: str) -> None:
    """Refuse NaN/Inf anywhere in the config (dataclass fields and the free-form option mappings)."""
    if dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            _check_finite(getattr(node, f.name), _join(path, f.name))
    elif isinstance(node, dict):
        for k, v in node.items():
            _check_finite(v, _join(path, str(k)))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            _check_finite(v, f"{path}[{i}]")
    elif isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(f"config key '{path}': expected a finite number, got {node}")


def _check_optim(section: str, opt: OptimConfig) -> None:
    """Ranges of one optimiser section (lr, weight decay, momentum, gradient clipping, counts)."""
    for key, hi in _MAX_COUNTS.items():
        value = getattr(opt, key)
        if not 1 <= value <= hi:
            raise ConfigError(f"config key '{section}.{key}': expected an integer in [1, {hi}], got {value}")
    if not (math.isfinite(opt.lr) and opt.lr > 0):
        raise ConfigError(f"config key '{section}.lr': expected a finite number > 0, got {opt.lr}")
    if not (math.isfinite(opt.weight_decay) and opt.weight_decay >= 0):
        raise ConfigError(f"config key '{section}.weight_decay': expected a finite number >= 0, got {opt.weight_decay}")
    if not 0 <= opt.momentum < 1:
        raise ConfigError(f"config key '{section}.momentum': expected a number in [0, 1), got {opt.momentum}")
    if not (math.isfinite(opt.lr_gamma) and opt.lr_gamma > 0):
        raise ConfigError(f"config key '{section}.lr_gamma': expected a finite number > 0, got {opt.lr_gamma}")
    if opt.grad_clip is not None and not (math.isfinite(opt.grad_clip) and opt.grad_clip >= 0):
        raise ConfigError(f"config key '{section}.grad_clip': expected null (no clipping) or a finite number >= 0 "
                          f"(0 also means no clipping), got {opt.grad_clip}")
    if opt.amp not in AMP_MODES:
        raise ConfigError(f"config key '{section}.amp': expected one of {', '.join(AMP_MODES)}, got {opt.amp!r}")
    bad_steps = [s for s in opt.lr_steps if s < 0]
    if bad_steps:
        raise ConfigError(f"config key '{section}.lr_steps': expected epochs >= 0, got {bad_steps[0]}")


def _check_values(cfg: Config) -> None:
    """Seeds, workers, widths and weights: the ranges torch/NumPy would otherwise reject with a traceback
    (or accept and train something meaningless, e.g. an embedding of width 0)."""
    if not isinstance(cfg.device, str) or not _DEVICE.fullmatch(cfg.device.strip().lower()):
        raise ConfigError(f"config key 'device': expected cpu, cuda, cuda:N or auto, got {cfg.device!r}")
    for path in ("seed", "data.seed"):
        value = _get(cfg, path)
        if not 0 <= value <= MAX_SEED:
            raise ConfigError(f"config key '{path}': expected a seed in [0, 2**32 - 1] (NumPy's limit), got {value}")
    if not 0 <= cfg.data.num_workers <= 256:
        raise ConfigError(f"config key 'data.num_workers': expected an integer in [0, 256] (0: load in the main "
                          f"process), got {cfg.data.num_workers}")
    for path in ("student.embed_dim", "teacher.embed_dim"):
        value = _get(cfg, path)
        if not 1 <= value <= MAX_EMBED_DIM:
            raise ConfigError(f"config key '{path}': expected an integer in [1, {MAX_EMBED_DIM}] (the embedding "
                              f"width; 0 leaves the classifier only its bias), got {value}")
    if not 0 <= cfg.teacher.dropout < 1:
        raise ConfigError(f"config key 'teacher.dropout': expected a probability in [0, 1), got {cfg.teacher.dropout}")
    if not cfg.distill.ce_weight >= 0:
        raise ConfigError(f"config key 'distill.ce_weight': expected a number >= 0, got {cfg.distill.ce_weight}")
    if not 1 <= cfg.teacher.subsets_per_scale <= 1000:
        raise ConfigError(f"config key 'teacher.subsets_per_scale': expected an integer in [1, 1000], "
                          f"got {cfg.teacher.subsets_per_scale}")
    _check_features(cfg)


def _check_features(cfg: Config) -> None:
    """``teacher.features``: ranges, and a feature cache only for a video teacher."""
    f = cfg.teacher.features
    for key, hi in (("stride", 1000), ("batch_size", 65_536)):
        value = getattr(f, key)
        if not 1 <= value <= hi:
            raise ConfigError(f"config key 'teacher.features.{key}': expected an integer in [1, {hi}], got {value}")
    if f.per_segment is not None and not 1 <= f.per_segment <= 1000:
        raise ConfigError(f"config key 'teacher.features.per_segment': expected null or an integer in [1, 1000], "
                          f"got {f.per_segment}")
    if not 0 <= f.margin <= 2:
        raise ConfigError(f"config key 'teacher.features.margin': expected a fraction of the box side in [0, 2], "
                          f"got {f.margin}")
    if f.cache and cfg.teacher.arch != "trn":
        raise ConfigError(f"config key 'teacher.features.cache': a feature cache is for the video teacher "
                          f"(teacher.arch trn), got teacher.arch {cfg.teacher.arch!r}")
    if f.crop == "person" and cfg.teacher.input.modality != "depth":
        raise ConfigError(f"config key 'teacher.features.crop': the person crop reads the depth's foreground "
                          f"(teacher.input.modality depth), got {cfg.teacher.input.modality!r}")


def _check_image_sizes(cfg: Config) -> None:
    """Bound every image side a user can set, stating what the request would need in memory."""
    gaf = cfg.student.input
    channels = max(len(gaf.axes), 1)
    size = gaf.out_size
    if size > MAX_OUT_SIZE:
        raise ConfigError(f"config key 'student.input.out_size': student.input.out_size={size} needs "
                          f"{human_bytes(gaf_bytes(size, channels))} per image; at most {MAX_OUT_SIZE} is allowed")
    if gaf.image_size is not None and not 1 <= gaf.image_size <= MAX_GAF_SIDE:
        need = f" needs {human_bytes(gaf_bytes(gaf.image_size, channels))} per image;" if gaf.image_size > 0 else ""
        raise ConfigError(f"config key 'student.input.image_size': student.input.image_size={gaf.image_size}{need} "
                          f"expected null (the recording's length) or an integer in [1, {MAX_GAF_SIDE}]")
    clip = cfg.teacher.input
    for key in ("frame_size", "crop_size"):
        value = getattr(clip, key)
        if not 1 <= value <= MAX_FRAME_SIZE:
            need = (f" needs {human_bytes(clip.num_segments * 3 * value * value * 4)} per clip;"
                    if value > MAX_FRAME_SIZE else "")
            raise ConfigError(f"config key 'teacher.input.{key}': teacher.input.{key}={value}{need} expected an "
                              f"integer in [1, {MAX_FRAME_SIZE}]")
    if not 1 <= clip.num_segments <= 256:
        raise ConfigError(f"config key 'teacher.input.num_segments': expected an integer in [1, 256], "
                          f"got {clip.num_segments}")
    if not 1 <= clip.skeleton_length <= 100_000:
        raise ConfigError(f"config key 'teacher.input.skeleton_length': expected an integer in [1, 100000], "
                          f"got {clip.skeleton_length}")


def _check_teacher_crop(clip: ClipConfig) -> None:
    """The person-crop and motion options fit the modality (the same rules as ``vskd.data.frames.ClipSpec``,
    checked here too so that a run refuses them before it writes anything)."""
    key = "config key 'teacher.input"
    if clip.person_crop == "foreground" and clip.modality == "rgb":
        raise ConfigError(f"{key}.person_crop': 'foreground' needs a depth video (its background is 0); "
                          f"for rgb use 'box' or 'skeleton'")
    if clip.motion == "dmm" and clip.modality == "rgb":
        raise ConfigError(f"{key}.motion': 'dmm' (depth motion maps) needs a depth video, got rgb")
    if clip.person_crop == "box" and clip.crop_box is None:
        raise ConfigError(f"{key}.crop_box': person_crop 'box' needs crop_box = [y0, x0, y1, x1] "
                          f"(pixels of the full-resolution frame)")
    b = clip.crop_box
    if b is not None and not (len(b) == 4 and b[0] < b[2] and b[1] < b[3]):
        raise ConfigError(f"{key}.crop_box': expected [y0, x0, y1, x1] with y0 < y1 and x0 < x1, got {b}")
    c = clip.camera
    if c is not None and not (len(c) == 4 and c[0] > 0 and c[1] > 0):
        raise ConfigError(f"{key}.camera': expected [f_x, f_y, c_x, c_y] (pixels, f_x, f_y > 0), got {c}")
    if not 0.0 <= clip.crop_margin <= 1.0:
        raise ConfigError(f"{key}.crop_margin': expected a fraction in [0, 1], got {clip.crop_margin}")
    if not 0.0 <= clip.crop_trim < 0.25:
        raise ConfigError(f"{key}.crop_trim': expected a fraction in [0, 0.25), got {clip.crop_trim}")
    if not 2 <= clip.dmm_bins <= 255:
        raise ConfigError(f"{key}.dmm_bins': expected an integer in [2, 255], got {clip.dmm_bins}")
    seg = clip.dmm_segments
    if seg is not None:
        if clip.motion != "dmm":
            raise ConfigError(f"{key}.dmm_segments': a pyramid of depth motion maps needs motion dmm, got "
                              f"motion {clip.motion!r}")
        if (not isinstance(seg, list) or not seg
                or any(isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 64 for k in seg)):
            raise ConfigError(f"{key}.dmm_segments': expected a non-empty list of segment counts in 1..64, "
                              f"e.g. [3, 5, 8], got {seg!r}")


def save_config(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
