"""From a :class:`~vskd.config.Config` to the things a job trains with: data, models, optimisers.

Each function translates one section of the config into the plain arguments of a lower layer and
builds the object; none of them writes anything or keeps state:

* data: :func:`load_data` (recordings, protocol splits, class names), :func:`student_spec` /
  :func:`gaf_spec` / :func:`clip_spec` (the two views), :func:`paired` (a
  :class:`~vskd.data.paired.PairedDataset`), :func:`loader` (a DataLoader, sharded under torchrun),
  :func:`epoch_hook` (per-epoch reseeding of datasets and samplers);
* frozen-backbone features: :func:`feature_spec`, :func:`feature_datasets` (extract once, then
  TSN-sampled cached features, :mod:`vskd.data.features`);
* models: :func:`build_teacher`, :func:`build_student` (untrained), :func:`fit_student` (what a
  raw-signal student fits on the training windows), :func:`fit_teacher` (a closed-form teacher's fit);
* training: :func:`make_optimizer`, :func:`make_scheduler`, :func:`method_options` (the chosen
  distillation method's options).

The jobs that use them are in :mod:`vskd.engine.jobs`; :mod:`vskd.engine.checkpoints` rebuilds trained
models with :func:`build_teacher` / :func:`build_student`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from vskd.config import Config
from vskd.engine import dist
from vskd.engine.device import module_device, to_device
from vskd.errors import ConfigError

__all__ = ["build_fusion_teacher", "build_student", "build_teacher", "clip_spec", "epoch_hook", "feature_datasets",
           "feature_spec", "fit_student", "fit_teacher", "fusion_views", "gaf_spec", "load_data", "loader", "make_optimizer",
           "make_scheduler", "member_configs", "method_options", "paired", "student_spec"]


# ----------------------------------------------------------------------------- data

def load_data(cfg: Config):
    """Recordings, splits (train/val/test) and class names for ``cfg.data``
    (:func:`vskd.data.datasets.load_splits`). With ``distill.unlabeled`` set, ``splits.train`` is the
    labelled part of the training recordings and ``splits.unlabeled`` the rest
    (:func:`vskd.data.labels.split_labeled`): every job that fits on ``splits.train`` (the teacher, the
    student alone, the peers) then sees the labelled part only."""
    from vskd.data.datasets import load_splits

    recordings, splits, names = load_splits(cfg.data)
    u = cfg.distill.unlabeled
    if u is not None:
        from vskd.data.labels import split_labeled

        splits = split_labeled(splits, fraction=u.fraction, trials=u.trials, subjects=u.subjects, seed=u.seed,
                               class_names=names)
    return recordings, splits, names


def student_spec(cfg: Config):
    """The student's view: :class:`~vskd.data.paired.GAFSpec` for a GAF student, :class:`~vskd.data.paired.RawSpec`
    (the window resampled to ``student.input.length``) for a raw-signal one (``student.arch``)."""
    from vskd.models.registry import is_raw

    if is_raw(cfg.student.arch):
        from vskd.data.paired import RawSpec

        return RawSpec.from_config(cfg.student.input)
    return gaf_spec(cfg)


def gaf_spec(cfg: Config):
    """The GAF view of ``cfg.student.input`` (:meth:`vskd.data.paired.GAFSpec.from_config`)."""
    from vskd.data.paired import GAFSpec

    return GAFSpec.from_config(cfg.student.input)


def clip_spec(cfg: Config):
    """The teacher's view of ``cfg.teacher.input``: a :class:`~vskd.data.frames.ClipSpec` (depth / RGB
    frames) or a :class:`~vskd.data.paired.SkeletonSpec`."""
    from vskd.data.paired import ClipSpec, SkeletonSpec

    if cfg.teacher.arch == "fusion":
        return fusion_views(cfg)
    c = cfg.teacher.input
    if c.modality == "skeleton":
        a = c.skeleton_augment
        return SkeletonSpec(length=c.skeleton_length, rotate=a.rotate, scale=a.scale, shear=a.shear,
                            jitter=a.jitter, crop=a.crop)
    return ClipSpec(modality=c.modality, num_segments=c.num_segments, frame_size=c.frame_size,
                    crop_size=c.crop_size, flip=c.flip, person_crop=c.person_crop, crop_margin=c.crop_margin,
                    crop_trim=c.crop_trim, crop_box=tuple(c.crop_box) if c.crop_box is not None else None,
                    camera=tuple(c.camera) if c.camera is not None else None, motion=c.motion,
                    dmm_bins=c.dmm_bins,
                    dmm_segments=tuple(c.dmm_segments) if c.dmm_segments is not None else None)


def member_configs(cfg: Config) -> list[tuple[str, str, Config]]:
    """``[(name, kind, member config)]`` of a fusion teacher's members (``teacher.members``, whose
    ``kind`` and ``config`` the engine filled in from the checkpoints, :mod:`vskd.engine.checkpoints`).
    A member without a name takes its view's modality (``skeleton``, ``depth``, ``inertial``, ...;
    ``_2``, ``_3`` on repeats)."""
    from vskd.config import config_from_dict

    out, taken = [], set()
    for i, m in enumerate(cfg.teacher.members):
        if m.config is None or m.kind is None:
            raise ConfigError(f"config key 'teacher.members[{i}]': the member {m.checkpoint} was not read yet "
                              f"(vskd reads its checkpoint when the fusion teacher is trained)")
        mcfg = config_from_dict(m.config)
        name = m.name
        if name is None:
            base = mcfg.teacher.input.modality if m.kind == "teacher" else "inertial"
            name, k = base, 2
            while name in taken or any(o.name == name for o in cfg.teacher.members):
                name, k = f"{base}_{k}", k + 1
        taken.add(name)
        out.append((name, m.kind, mcfg))
    return out


def fusion_views(cfg: Config):
    """The fusion teacher's view: a :class:`~vskd.data.paired.MultiViewSpec` of each member's own view
    (a teacher member's ``teacher.input``, a student member's ``student.input`` with its training
    augmentation)."""
    from vskd.data.augment import SignalAugment
    from vskd.data.paired import MultiViewSpec

    views, augments = [], []
    for name, kind, mcfg in member_configs(cfg):
        if kind == "teacher":
            if mcfg.teacher.arch == "fusion":
                raise ConfigError(f"config key 'teacher.members': member {name!r} is itself a fusion teacher; "
                                  f"list its members instead")
            views.append((name, clip_spec(mcfg)))
            augments.append(None)
        else:
            views.append((name, student_spec(mcfg)))
            augments.append(SignalAugment.from_config(mcfg.student.input.augment))
    return MultiViewSpec(tuple(views), tuple(augments))


def paired(cfg: Config, recordings, train: bool, student: bool = True, teacher: bool = False, unlabeled=None,
           teacher_spec=None):
    """A :class:`~vskd.data.paired.PairedDataset` of ``recordings`` with the student view (augmented
    when ``train``) and/or the teacher view (``teacher_spec``, when given, in place of the teacher's
    own: e.g. only the members of a fusion teacher that read the recording); ``unlabeled``: keys of
    the recordings whose labels the items hide (``label`` -1, ``labeled`` False)."""
    from vskd.data.augment import SignalAugment
    from vskd.data.paired import PairedDataset

    augment = SignalAugment.from_config(cfg.student.input.augment) if (student and train) else None
    return PairedDataset(recordings, student=student_spec(cfg) if student else None,
                         teacher=teacher_spec if teacher_spec is not None else clip_spec(cfg) if teacher else None,
                         train=train,
                         cache_dir=cfg.data.cache_dir, seed=cfg.seed, student_augment=augment,
                         unlabeled=unlabeled)


def loader(dataset, batch_size: int, shuffle: bool, seed: int, num_workers: int = 0) -> DataLoader:
    """A training loader (``shuffle``: reproducible per-epoch order; under torchrun each rank takes its
    shard and ``batch_size`` is the *global* batch, split evenly over the ranks) or an evaluation one."""
    from vskd.engine.trainer import EpochShuffleSampler

    sampler = None
    if shuffle:
        world = dist.world()
        if batch_size % world:
            raise ConfigError(f"batch_size {batch_size} must be a multiple of the number of processes ({world})")
        batch_size //= world
        sampler = EpochShuffleSampler(len(dataset), seed, rank=dist.rank(), world=world)
    # a training batch of one breaks BatchNorm in training mode: drop such a last batch (only then)
    n = len(sampler) if sampler is not None else len(dataset)
    drop_last = shuffle and n % batch_size == 1 and n > 1
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, shuffle=False,
                      num_workers=num_workers, drop_last=drop_last, collate_fn=collate())


def collate():
    """The collate function of paired samples (:func:`vskd.data.paired.collate`)."""
    from vskd.data.paired import collate

    return collate


def epoch_hook(datasets, loaders):
    """``hook(epoch)`` for :class:`~vskd.engine.trainer.Trainer`'s ``on_epoch_start``: sets the epoch of
    every dataset (their per-item generators) and of every loader's epoch-shuffle sampler."""
    from vskd.engine.trainer import EpochShuffleSampler

    def hook(epoch: int) -> None:
        for ds in datasets:
            if hasattr(ds, "set_epoch"):
                ds.set_epoch(epoch)
        for ld in loaders:
            if isinstance(ld.sampler, EpochShuffleSampler):
                ld.sampler.set_epoch(epoch)
    return hook


def feature_spec(cfg: Config, teacher: nn.Module):
    """The :class:`~vskd.data.features.FeatureSpec` of ``cfg.teacher.features`` for ``teacher``'s frozen
    backbone (its name, a digest of its weights and its feature width key the cache)."""
    from vskd.data.features import FeatureSpec
    from vskd.models.weights import state_digest

    f = cfg.teacher.features
    encoder = {"backbone": teacher.backbone_name, "weights": state_digest(teacher.backbone),
               "feature_dim": int(teacher.feature_dim)}
    return FeatureSpec(encoder=encoder, stride=f.stride, per_segment=f.per_segment, crop=f.crop, margin=f.margin)


def feature_datasets(cfg: Config, teacher: nn.Module, splits, progress: bool = True, train_split: str = "train"):
    """Extract (or find in the cache) the frozen backbone's features of every recording of ``splits``
    (a mapping or object with lists of recordings), then one
    :class:`~vskd.data.features.FeatureDataset` per split: ``(datasets, extraction stats)``; the split
    named ``train_split`` samples at random, the others take segment centres."""
    from vskd.data.cache import ArrayCache
    from vskd.data.features import FeatureDataset, extract_features

    spec = feature_spec(cfg, teacher)
    clip = clip_spec(cfg)
    cache = ArrayCache(cfg.data.cache_dir, compress=False)
    parts = splits if isinstance(splits, dict) else {n: getattr(splits, n) for n in ("train", "val", "test")}
    everything = [r for recs in parts.values() for r in recs]
    backbone = teacher.backbone
    was_training = backbone.training
    backbone.eval()
    dev = module_device(backbone)  # frames are read on the CPU and encoded where the backbone is

    def encode(frames):
        return backbone(to_device(frames, dev))

    try:
        stats = extract_features(everything, clip, spec, encode, cache, cfg.teacher.features.batch_size,
                                 progress=progress)
    finally:
        backbone.train(was_training)
    datasets = {n: FeatureDataset(recs, clip, spec, cache, train=n == train_split, seed=cfg.seed)
                for n, recs in parts.items()}
    return datasets, stats


# ----------------------------------------------------------------------------- models

def build_teacher(cfg: Config, num_classes: int) -> nn.Module:
    """The teacher ``cfg.teacher.arch`` (a TRN video teacher, or a skeleton teacher: the temporal CNN
    ``skeleton``, the ST-GCN ``skeleton_gcn`` or the closed-form ``skeleton_minirocket`` / ``skeleton_rocket``), untrained
    (the last one unfitted: :func:`fit_teacher`)."""
    from vskd.models.trn import VideoTeacher

    t = cfg.teacher
    if t.arch == "fusion":
        return build_fusion_teacher(cfg, num_classes)
    features = tuple(t.input.skeleton_features)
    if t.arch == "skeleton":
        from vskd.models.skeleton import SkeletonTeacher

        return SkeletonTeacher(num_classes=num_classes, embed_dim=t.embed_dim, dropout=t.dropout,
                               hidden=t.width or 128, features=features)
    if t.arch in ("skeleton_minirocket", "skeleton_rocket"):
        from vskd.models.skeleton_rocket import SkeletonMiniRocket, SkeletonRocket

        cls = SkeletonMiniRocket if t.arch == "skeleton_minirocket" else SkeletonRocket
        return cls(num_classes=num_classes, embed_dim=t.embed_dim, features=features, seed=cfg.seed,
                   head_init=t.head_init, channel_norm=t.channel_norm)
    if t.arch == "dmm_ridge":
        from vskd.data.cache import ArrayCache
        from vskd.models.dmm_ridge import DMMRidgeTeacher

        teacher = DMMRidgeTeacher(num_classes=num_classes, num_images=clip_spec(cfg).num_images,
                                  backbone=t.backbone, pretrained=t.pretrained, embed_dim=t.embed_dim,
                                  head_init=t.head_init, seed=cfg.seed)
        teacher.feature_store = ArrayCache(cfg.data.cache_dir)  # its backbone features, once per clip
        return teacher
    if t.arch == "skeleton_gcn":
        from vskd.models.skeleton_gcn import SkeletonGCN

        return SkeletonGCN(num_classes=num_classes, embed_dim=t.embed_dim, dropout=t.dropout,
                           width=t.width or 64, features=features)
    return VideoTeacher(num_classes=num_classes, backbone=t.backbone, num_segments=t.input.num_segments,
                        embed_dim=t.embed_dim, dropout=t.dropout, subsets_per_scale=t.subsets_per_scale,
                        partial_bn=t.partial_bn, pretrained=t.pretrained, seed=cfg.seed,
                        frozen_backbone=t.frozen_backbone or t.features.cache)


def build_fusion_teacher(cfg: Config, num_classes: int, members: dict[str, nn.Module] | None = None) -> nn.Module:
    """The fusion teacher (:class:`~vskd.models.fusion.FusionTeacher`) of ``teacher.members``: the given
    trained ``members`` (``{name: model}``), or, rebuilding a saved fusion teacher, untrained members
    of the architectures their configs describe (the weights then come from the fusion checkpoint)."""
    from vskd.models.fusion import FusionTeacher

    t = cfg.teacher
    specs = member_configs(cfg)
    if members is None:
        members = {}
        for name, kind, mcfg in specs:
            if kind == "teacher":
                mcfg.teacher.pretrained = None
                members[name] = build_teacher(mcfg, num_classes)
            else:
                mcfg.student.pretrained = None
                members[name] = build_student(mcfg, num_classes)
    return FusionTeacher(members, num_classes, fusion=t.fusion, weights=[m.weight for m in t.members],
                         embed_dim=t.embed_dim, hidden=t.fusion_hidden, dropout=t.dropout,
                         finetune=t.finetune_members, embedding=t.fusion_embedding, seed=cfg.seed)


def build_student(cfg: Config, num_classes: int) -> nn.Module:
    """The student ``cfg.student.arch`` from the registry (:mod:`vskd.models.registry`), untrained."""
    from vskd.models.registry import build_student_model

    s = cfg.student
    return build_student_model(s.arch, num_classes, in_channels=student_spec(cfg).channels, embed_dim=s.embed_dim,
                               pretrained=s.pretrained, normalize=s.input.normalize, seed=cfg.seed,
                               head_init=s.head_init)


def fit_teacher(teacher: nn.Module, cfg: Config, train_recordings, progress: bool = True) -> None:
    """Fit what a closed-form teacher fits (``teacher.arch: skeleton_minirocket`` / ``skeleton_rocket``: the transform,
    the standardisation and the ridge head; ``dmm_ridge``: the standardisation and the ridge head over its
    frozen backbone's features) on the unaugmented teacher views of the training recordings and their
    labels; the teachers trained by gradient have nothing to fit."""
    if not hasattr(teacher, "fit"):
        return
    from vskd.data.paired import skeleton_view

    spec = clip_spec(cfg)
    if getattr(teacher, "arch", None) == "dmm_ridge":
        ds = paired(cfg, train_recordings, train=False, student=False, teacher=True)
        dl = loader(ds, 8, False, cfg.seed, cfg.data.num_workers)
        from tqdm.auto import tqdm

        batches = (b["teacher"] for b in tqdm(dl, desc="dmm_ridge teacher: backbone features of the training clips",
                                              unit="batch", disable=not progress))
        labels = torch.tensor([r.label for r in train_recordings], dtype=torch.long)
        teacher.fit(batches, labels)
        return
    x = torch.stack([skeleton_view(r, spec, train=False, rng=None) for r in train_recordings])
    labels = torch.tensor([r.label for r in train_recordings], dtype=torch.long)
    teacher.fit(x, labels)


def fit_student(student: nn.Module, cfg: Config, train_recordings, hidden=None) -> None:
    """Fit what a raw-signal student fits on the (unaugmented) training windows and their labels: its input
    statistics and, for MiniRocket, its transform (and with ``student.head_init: ridge`` its head's
    closed-form initialisation). ``hidden``: keys of recordings whose labels must not be read
    (``distill.unlabeled``): they pass label -1, which the ridge head skips. GAF students have nothing to fit."""
    if not hasattr(student, "fit"):
        return
    from vskd.data.paired import student_signal

    spec = student_spec(cfg)
    if spec.length < student.min_length:
        raise ConfigError(f"config key 'student.input.length': {spec.length} samples is shorter than the "
                          f"{cfg.student.arch} student's receptive field ({student.min_length} samples)")
    windows = torch.stack([torch.from_numpy(student_signal(r, spec)) for r in train_recordings])
    hidden = hidden or set()
    labels = torch.tensor([-1 if r.key in hidden else r.label for r in train_recordings], dtype=torch.long)
    student.fit(windows, labels=labels)


# ----------------------------------------------------------------------------- training

def make_optimizer(params, opt) -> torch.optim.Optimizer:
    """Adam or SGD (with momentum) for a config's ``train`` section.

    ``foreach=True``: torch's multi-tensor implementation, which torch picks by default on CUDA only. On
    the CPU it gives bit-identical parameters (tests/test_trainer.py) and takes the minirocket student's
    Adam step (3 M head parameters) from 19 to about 15 ms under cProfile (benchmarks/fit_cost.py: whole fits)."""
    if opt.optimizer == "adam":
        return torch.optim.Adam(params, lr=opt.lr, weight_decay=opt.weight_decay, foreach=True)
    return torch.optim.SGD(params, lr=opt.lr, momentum=opt.momentum, weight_decay=opt.weight_decay, foreach=True)


def make_scheduler(optimizer, opt):
    """The step-decay schedule of a ``train`` section (``lr_steps``, ``lr_gamma``); None without steps."""
    if not opt.lr_steps:
        return None
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(opt.lr_steps), gamma=opt.lr_gamma)


def method_options(cfg: Config) -> dict[str, Any]:
    """Options of the chosen method: ``distill.options`` keyed by method name (``{dask: {...}, kd: {...}}``),
    or a flat mapping that applies to whichever method is chosen."""
    from vskd.losses.registry import list_methods

    opts = cfg.distill.options or {}
    names = {m[0] for m in list_methods()}
    if opts and all(k in names and isinstance(v, dict) for k, v in opts.items()):
        return dict(opts.get(cfg.distill.method) or {})
    return dict(opts)
