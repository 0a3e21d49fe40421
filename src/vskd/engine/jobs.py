"""The jobs: from a :class:`~vskd.config.Config` to trained models and results.

The three jobs of the method, each one function and one CLI command, and the evaluation of a checkpoint:

* :func:`train_teacher` — the video teacher (TRN) with cross-entropy (``vskd train-teacher``);
* :func:`train_student` — the sensor-only student, the no-KD baseline (``vskd train-student``);
* :func:`distill` — the student with a frozen teacher and a distillation method (``vskd distill``);
* :func:`evaluate_checkpoint` — a trained checkpoint on a split of its dataset (``vskd evaluate``).

Each training job writes into its run folder: ``config.yaml`` (the resolved config), ``last.pt``/``best.pt``,
``metrics.csv``, TensorBoard logs, and — once training has ended — ``test.json`` and
``test_confusion.png`` from the best-on-validation checkpoint, and ``results.json`` (validation and
test figures). Model selection only ever looks at the validation split. A split without a validation
part (``data.val_subjects: []`` and the like: the refit of cross-validation) trains for the configured
epochs and keeps the last (the trainer's refit mode); ``test=False`` (a cross-validation fold,
:mod:`vskd.engine.cv`) leaves the test split unread (``results.json``'s ``test`` is None).

A job's run folder and its start time travel together as a :class:`RunDir` (made by :func:`_prepare_run`,
taken by :func:`_finish`); this module keeps no state between calls. What the jobs build from the
config comes from :mod:`vskd.engine.builders`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vskd.config import Config, config_from_dict, config_to_dict, save_config
from vskd.engine import dist
from vskd.engine.builders import (build_student, build_teacher, clip_spec, collate, epoch_hook, feature_datasets,
                                  fit_student, fit_teacher, load_data, loader, make_optimizer, make_scheduler,
                                  method_options, paired, student_spec)
from vskd.engine.checkpoints import fusion_teacher, load_checkpoint, load_student, load_teacher, validate_checkpoint
from vskd.engine.device import to_device
from vskd.engine.distiller import Distiller, TeacherCache, file_digest, method_features
from vskd.engine.evaluate import classification_metrics, predict, write_report
from vskd.engine.pairing import ReassignedCache, ReassignedViews
from vskd.engine.trainer import Trainer
from vskd.errors import ConfigError, VskdError
from vskd.seed import seed_everything

__all__ = ["RunDir", "distill", "evaluate_checkpoint", "train_student", "train_teacher"]


@dataclass(frozen=True)
class RunDir:
    """A job's run folder and when this process started the job (``time.time()``, for ``wall_s``)."""

    path: Path
    started: float = field(default_factory=time.time)

    def __truediv__(self, name: str) -> Path:
        """``run / "best.pt"``: a file of the run folder."""
        return self.path / name


# ----------------------------------------------------------------------------- helpers

def _evaluator(forward, num_classes: int):
    """``evaluate(batches) -> metrics`` of ``forward`` for the :class:`~vskd.engine.trainer.Trainer`."""
    def evaluate(batches) -> dict:
        y, p, _ = predict(forward, batches)
        return classification_metrics(y, p, num_classes)
    return evaluate


def _device(cfg: Config, opt, kind: str) -> torch.device:
    """The run's device (``cfg.device``) with its section's ``amp`` checked against it (fp16: GPU only)."""
    from vskd.engine.device import check_amp, resolve_device

    dev = resolve_device(cfg.device)
    check_amp(opt.amp, dev, f"{kind}.train")
    return dev


def _prepare_run(cfg: Config, run_dir: str | Path, resume: bool) -> RunDir:
    """Check the data section and the run folder, join the process group, write ``config.yaml`` (rank 0),
    seed everything; the run folder with its start time."""
    from vskd.data.datasets import check_data_config

    check_data_config(cfg.data)  # dataset name, options, root: refused before anything is written
    dist.init()  # under torchrun: join the process group (no-op otherwise)
    path = Path(run_dir)
    if path.exists() and (path / "last.pt").exists() and not resume:
        raise VskdError(f"run folder {path} already holds a run (last.pt); pass --resume to continue it "
                        f"or choose another --out")
    dist.barrier()  # every rank has checked before rank 0 writes
    run = RunDir(path, time.time())
    if dist.is_main():
        path.mkdir(parents=True, exist_ok=True)
        save_config(cfg, path / "config.yaml")
    seed_everything(cfg.seed)
    return run


def _finish(run: RunDir, kind: str, forward_of_model, model: nn.Module, test_loader, class_names, result,
            extra: dict | None = None) -> dict:
    """Reload best.pt, evaluate on test once (``test_loader`` None: not at all, a cross-validation fold),
    write test report and results.json (rank 0; the other ranks of a distributed run return the summary
    rank 0 wrote)."""
    if not dist.is_main():
        dist.barrier()
        return json.loads((run / "results.json").read_text())
    test = None
    if test_loader is not None:
        best = load_checkpoint(run / "best.pt")
        model.load_state_dict(best["model"])
        model.eval()
        y, p, _ = predict(forward_of_model, test_loader)
        test = classification_metrics(y, p, len(class_names))
        write_report(test, class_names, run.path, "test", title=f"{kind}: test")
    summary = {
        "kind": kind,
        "wall_s": round(time.time() - run.started, 1),
        "best_epoch": result.best_epoch + 1,
        "val": {"accuracy": result.best_val["accuracy"], "macro_f1": result.best_val["macro_f1"]},
        "test": None if test is None else {"accuracy": test["accuracy"], "macro_f1": test["macro_f1"]},
        **(extra or {}),
    }
    if dist.active():
        summary["world_size"] = dist.world()
    # results.json marks a finished run (vskd bench reuses it): written atomically, last
    tmp = run / ".results.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(run / "results.json")
    dist.barrier()
    return summary


def _label_counts(splits) -> dict:
    """``{"labels": {"labeled": n, "unlabeled": m}}`` for results.json when a run has unlabelled
    recordings (``distill.unlabeled``), else nothing."""
    if not splits.unlabeled:
        return {}
    return {"labels": {"labeled": len(splits.train), "unlabeled": len(splits.unlabeled)}}


def _distill_counts(cfg: Config, splits) -> dict:
    """:func:`_label_counts` plus whether the unlabelled pairs were distilled (``unlabeled_pairs``)."""
    out = _label_counts(splits)
    if out:
        out["labels"]["unlabeled_pairs"] = bool(cfg.distill.unlabeled.pairs)
    return out


def label_keys(train, model: nn.Module | None = None) -> list[str] | None:
    """The names of the recordings whose labels a model trained on ``train`` (the labelled training
    recordings) has read, for its checkpoint's ``train_keys``: ``train``'s, plus, for a fusion teacher,
    its members' (``member_train_keys``, :func:`vskd.engine.checkpoints.fusion_teacher`). ``None`` when a
    member's checkpoint does not record them (then nobody can check it)."""
    keys = {r.name for r in train}
    members = getattr(model, "member_train_keys", ())
    if members is None:
        return None
    return sorted(keys | set(members))


def _check_teacher_labels(splits, tmeta: dict, path) -> None:
    """Refuse a teacher trained on the labels of this run's unlabelled recordings (its checkpoint's
    ``train_keys``); warn when an older checkpoint does not say what it was trained on."""
    from vskd.errors import warn

    seen = tmeta.get("train_keys")
    if seen is None:
        warn(f"teacher {path} does not record its training recordings (a checkpoint from before "
             f"distill.unlabeled, or a fusion teacher with such a member): vskd cannot check that it never "
             f"saw an unlabelled recording's label")
        return
    leak = sorted(set(seen) & {r.name for r in splits.unlabeled})
    if leak:
        raise ConfigError(f"config key 'distill.teacher_checkpoint': teacher {path} was trained on the labels of "
                          f"{len(leak)} of this run's unlabelled recordings (e.g. {leak[0]}); train it with "
                          f"the same distill.unlabeled so that no unlabelled recording's label reaches any model")


def _meta(cfg: Config, kind: str, class_names: list[str]) -> dict:
    """The ``meta`` of a checkpoint (:mod:`vskd.engine.checkpoints`)."""
    return {"kind": kind, "config": config_to_dict(cfg), "class_names": list(class_names),
            "num_classes": len(class_names)}


# ----------------------------------------------------------------------------- jobs

def _eval_loader(cfg: Config, recordings, batch_size: int, **views):
    """An evaluation loader of ``recordings`` (None for an empty part: no validation split, an unread test)."""
    if not recordings:
        return None
    return loader(paired(cfg, recordings, train=False, **views), batch_size, False, cfg.seed, cfg.data.num_workers)


def _train_supervised(cfg: Config, run: RunDir, data, model: nn.Module, kind: str, params, opt, resume: bool,
                      progress: bool, test: bool = True, datasets=None, extra: dict | None = None) -> dict:
    """Cross-entropy training of ``model`` on its own view (``kind``: "teacher" or "student"); ``datasets``
    (train, val, test) replaces the paired datasets (a frozen-backbone teacher's cached features)."""
    _, splits, names = data
    views = {"student": kind == "student", "teacher": kind == "teacher"}
    if datasets is None:
        tr = paired(cfg, splits.train, train=True, **views)
        vl = _eval_loader(cfg, splits.val, opt.batch_size, **views)
        test_l = _eval_loader(cfg, splits.test if test else [], opt.batch_size, **views)
    else:
        tr, va, te = datasets
        vl, test_l = (loader(ds, opt.batch_size, False, cfg.seed, cfg.data.num_workers) if ds is not None and len(ds)
                      else None for ds in (va, te if test else None))
    tl = loader(tr, opt.batch_size, True, cfg.seed, cfg.data.num_workers)
    dev = _device(cfg, opt, kind)
    model.to(dev)  # before the optimizer's state exists (Adam's moments are made on the parameters' device)
    optimizer = make_optimizer(params, opt)
    runner = dist.wrap(model)  # DistributedDataParallel under torchrun, the model itself otherwise

    def forward(batch):
        return model(to_device(batch[kind], dev))

    def step(batch):  # the Trainer has moved the batch to dev
        return {"loss": F.cross_entropy(runner(batch[kind]), torch.as_tensor(batch["label"], device=dev),
                                        label_smoothing=opt.label_smoothing)}

    meta = _meta(cfg, kind, names)
    # whose labels it read: distill refuses a teacher (a fusion teacher, through its members) that saw
    # the labels of its unlabelled recordings
    meta["train_keys"] = label_keys(splits.train, model)
    trainer = Trainer(run.path, model, optimizer, step, _evaluator(forward, len(names)), opt.epochs,
                      scheduler=make_scheduler(optimizer, opt), meta=meta,
                      on_epoch_start=epoch_hook([tr], [tl]), grad_clip=opt.grad_clip, progress=progress,
                      micro_batches=opt.micro_batches, device=dev, amp=opt.amp)
    result = trainer.fit(tl, vl, resume=resume)
    return _finish(run, kind, forward, model, test_l, names, result, extra={**_label_counts(splits), **(extra or {})})


def train_teacher(cfg: Config, run_dir: str | Path, resume: bool = False, progress: bool = True,
                  test: bool = True) -> dict:
    """Train the video teacher with cross-entropy; select on validation; report test (unless ``test`` is
    False)."""
    run = _prepare_run(cfg, run_dir, resume)
    data = load_data(cfg)
    if cfg.teacher.arch == "fusion":  # trained members, read (and their configs recorded) before training
        teacher = fusion_teacher(cfg, list(data[2]))
        if dist.is_main():
            save_config(cfg, run / "config.yaml")
    else:
        teacher = build_teacher(cfg, len(data[2]))
        # a closed-form teacher (skeleton_minirocket, dmm_ridge) is fitted here
        fit_teacher(teacher, cfg, data[1].train, progress=progress)
    opt = cfg.teacher.train
    if not any(p.requires_grad for p in teacher.parameters()):  # a teacher ensemble, dmm_ridge: nothing to train
        return _untrained(cfg, run, data, teacher, progress, test)
    if cfg.teacher.tsn_lr_multipliers:
        from vskd.models.trn import tsn_param_groups

        params = tsn_param_groups(teacher, opt.lr, opt.weight_decay)
    else:
        params = [p for p in teacher.parameters() if p.requires_grad]
    datasets, extra = None, None
    teacher.to(_device(cfg, opt, "teacher"))  # the frozen backbone extracts its features there too
    if cfg.teacher.features.cache:  # frozen backbone: its features once, then epochs of the head only
        splits = data[1]
        wanted = {"train": splits.train, "val": splits.val, **({"test": splits.test} if test else {})}
        parts, stats = feature_datasets(cfg, teacher, wanted, progress=progress)
        datasets = (parts["train"], parts["val"], parts.get("test"))
        extra = {"feature_extraction": stats}
    return _train_supervised(cfg, run, data, teacher, "teacher", params, opt, resume, progress, test,
                             datasets=datasets, extra=extra)


def _untrained(cfg: Config, run: RunDir, data, teacher: nn.Module, progress: bool, test: bool = True) -> dict:
    """A teacher with no trainable parameter (``teacher.fusion: ensemble``, the closed-form ``dmm_ridge``):
    ``best.pt`` is written as it
    is (epoch 1, no training), after one validation pass (none without a validation split), with a one-row
    ``metrics.csv``, so that a cross-validation fold reads its accuracy; test is read once, as for a
    trained one (unless ``test`` is False)."""
    from vskd.engine.checkpoints import CHECKPOINT_FORMAT, atomic_save
    from vskd.engine.trainer import TrainResult

    _, splits, names = data
    size = cfg.teacher.train.batch_size
    vl = _eval_loader(cfg, splits.val, size, student=False, teacher=True)
    test_l = _eval_loader(cfg, splits.test if test else [], size, student=False, teacher=True)
    dev = _device(cfg, cfg.teacher.train, "teacher")
    teacher.to(dev)
    teacher.eval()

    def forward(batch):
        return teacher(to_device(batch["teacher"], dev))

    val = {"accuracy": None, "macro_f1": None} if vl is None else _evaluator(forward, len(names))(vl)
    best = {"epoch": 0, "accuracy": val["accuracy"], "macro_f1": val["macro_f1"]}
    history = [{"epoch": 1, "val_accuracy": val["accuracy"], "val_macro_f1": val["macro_f1"]}]
    meta = _meta(cfg, "teacher", names)
    meta["train_keys"] = label_keys(splits.train, teacher)
    if dist.is_main():
        atomic_save({"format": CHECKPOINT_FORMAT, "epoch": 0, "model": teacher.state_dict(), "history": history,
                     "best": best, "meta": meta}, run / "best.pt")
        # the one-row validation curve, as a trained run's metrics.csv (a cross-validation fold reads it)
        with (run / "metrics.csv").open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(history[0]))
            w.writeheader()
            w.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in history)
    if progress and dist.is_main() and vl is not None:
        what = f"{cfg.teacher.fusion} teacher" if cfg.teacher.arch == "fusion" else f"{cfg.teacher.arch} teacher (fitted)"
        print(f"[vskd] {what}: nothing to train; val acc {val['accuracy']:.3f} "
              f"f1 {val['macro_f1']:.3f}", flush=True)
    dist.barrier()
    result = TrainResult(best_epoch=0, best_val=best, history=history)
    return _finish(run, "teacher", forward, teacher, test_l, names, result,
                   extra={"trained": False, **_label_counts(splits)})


def train_student(cfg: Config, run_dir: str | Path, resume: bool = False, progress: bool = True,
                  test: bool = True) -> dict:
    """Train the student alone with cross-entropy (the no-KD baseline); ``test`` as :func:`train_teacher`."""
    run = _prepare_run(cfg, run_dir, resume)
    data = load_data(cfg)
    student = build_student(cfg, len(data[2]))
    fit_student(student, cfg, data[1].train)
    return _train_supervised(cfg, run, data, student, "student", student.parameters(), cfg.student.train,
                             resume, progress, test)


def _teacher_cache(cfg: Config, teacher: nn.Module, teacher_ckpt: Path, recordings, names_needed,
                   progress: bool) -> TeacherCache:
    """The frozen teacher's outputs on the training recordings, built once per (checkpoint, recordings,
    clip view, features) and read from the cache folder afterwards."""
    from vskd.data.cache import default_cache_dir

    ident = {
        "teacher": file_digest(teacher_ckpt),
        "recordings": [r.name for r in recordings],
        "clip": config_to_dict(cfg)["teacher"]["input"],
        "features": sorted(names_needed),
        "version": 1,
    }
    if cfg.teacher.features.cache:
        ident["frame_features"] = config_to_dict(cfg)["teacher"]["features"]
    key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]
    root = Path(cfg.data.cache_dir) if cfg.data.cache_dir else default_cache_dir()
    path = root / "teacher-outputs" / f"{key}.pt"
    from_features = _reads_features(cfg, names_needed)
    if not dist.is_main():  # rank 0 builds (or loads) it; the others read its file
        dist.barrier()
        return TeacherCache.load(path)
    if path.exists():
        try:
            cache = TeacherCache.load(path)
            dist.barrier()
            return cache
        except VskdError:
            path.unlink()
    if from_features:  # the teacher's own cached view (a person crop exists only there)
        ds = feature_datasets(cfg, teacher, {"train": recordings}, progress=progress, train_split="")[0]["train"]
    else:
        ds = paired(cfg, recordings, train=False, student=False, teacher=True)
    cache = TeacherCache.build(teacher, loader(ds, cfg.teacher.train.batch_size, False, cfg.seed,
                                               cfg.data.num_workers), names_needed, progress=progress)
    cache.save(path)
    dist.barrier()
    return cache


#: teacher features a frozen-backbone teacher computes from its cached backbone features
FEATURE_TEACHER_TAPS = ("logits", "emb", "frame_emb")


def _reads_features(cfg: Config, names_needed) -> bool:
    """Whether the teacher-output cache is built from the teacher's cached frame features: a teacher
    trained on them (``teacher.features.cache``) whose outputs the method reads are all computed after the
    backbone. A centre-crop teacher can also run on clips (the same view), so a method reading backbone
    maps uses those; a person-crop one cannot (one line naming the features)."""
    f = cfg.teacher.features
    if not f.cache:
        return False
    other = sorted(set(names_needed) - set(FEATURE_TEACHER_TAPS))
    if not other:
        return True
    if f.crop == "centre":
        return False
    raise ConfigError(f"config key 'distill.method': the method reads teacher features {', '.join(other)}, which a "
                      f"teacher trained on cached person-crop features (teacher.features.crop person) does not "
                      f"compute (it gives {', '.join(FEATURE_TEACHER_TAPS)}); choose a method on those, or a "
                      f"teacher with teacher.features.crop centre")


def _student_view(cfg: Config) -> "tuple[bool | tuple[str, ...], object]":
    """``distill.teacher_view``: ``(False, None)`` (own view), else ``(names, rest)``: the teacher's member
    names fed the student's window (True for a single-view teacher), and ``rest``, the
    :class:`~vskd.data.paired.MultiViewSpec` of the members that read the recording itself (a skeleton or
    camera member of a multimodal teacher; None when every member reads the wrist). Refused in one line
    unless at least one member reads the student's own raw window, and every wrist member reads exactly
    it (same axes, same length); ``distill.pairing`` controls need a member that reads the recording."""
    if cfg.distill.teacher_view != "student":
        return False, None
    from vskd.data.paired import GAFSpec, MultiViewSpec, RawSpec

    mine = student_spec(cfg)
    where = f"config key 'distill.teacher_view': teacher {cfg.distill.teacher_checkpoint}"
    if not isinstance(mine, RawSpec):
        raise ConfigError(f"{where}: 'student' feeds the student's raw window to the teacher; the student "
                          f"{cfg.student.arch!r} reads a GAF image")
    views = clip_spec(cfg)
    if not isinstance(views, MultiViewSpec):
        raise ConfigError(f"{where} reads {getattr(views, 'modality', 'its own view')}, not the wrist window; "
                          f"'student' needs a teacher of wrist students (teacher.arch fusion over student "
                          f"checkpoints, optionally with skeleton or camera members)")
    wrist, rest = [], []
    for (name, view), augment in zip(views.views, views.augments):
        if isinstance(view, (RawSpec, GAFSpec)):
            if view != mine:
                raise ConfigError(f"{where}: member {name!r} reads {view}, the student reads {mine}; 'student' "
                                  f"needs every wrist member to read the student's own window")
            wrist.append(name)
        else:
            rest.append(((name, view), augment))
    if not wrist:
        raise ConfigError(f"{where}: no member reads the wrist window (members: {', '.join(views.names)}); "
                          f"'student' needs at least one wrist-student member")
    if cfg.distill.pairing != "paired" and not rest:
        raise ConfigError(f"config key 'distill.pairing': {cfg.distill.pairing!r} re-assigns the recordings a "
                          f"teacher reads; with distill.teacher_view student every member of this teacher reads "
                          f"the student's own window, so there is no pairing to break")
    if not rest:
        return tuple(wrist), None
    return tuple(wrist), MultiViewSpec(tuple(v for v, _ in rest), tuple(a for _, a in rest))


def distill(cfg: Config, run_dir: str | Path, resume: bool = False, progress: bool = True,
            test: bool = True) -> dict:
    """Train the student with a frozen teacher and ``cfg.distill.method``; ``test`` as :func:`train_teacher`.

    With ``distill.unlabeled`` the student trains on every training recording: cross-entropy on the
    labelled ones (``splits.train``), the method's terms on labelled and unlabelled pairs alike
    (``splits.paired_train``); the teacher cache covers both; the teacher must not have been trained on
    an unlabelled recording (:func:`_check_teacher_labels`)."""
    from vskd.losses.registry import create_method

    if not cfg.distill.teacher_checkpoint:
        raise ConfigError("config key 'distill.teacher_checkpoint': distillation needs a trained teacher "
                          "(best.pt from vskd train-teacher)")
    run = _prepare_run(cfg, run_dir, resume)
    _, splits, names = load_data(cfg)
    teacher, tmeta = load_teacher(cfg.distill.teacher_checkpoint, len(names))
    # the teacher sees what it was trained on: its architecture and input view come from its checkpoint
    cfg.teacher = config_from_dict(tmeta["config"]).teacher
    save_config(cfg, run / "config.yaml")
    student = build_student(cfg, len(names))
    method = create_method(cfg.distill.method, method_options(cfg))
    from vskd.models.features import check_method_on_student

    check_method_on_student(method, student)  # a method the student cannot take: one line, before any work
    hidden = None  # keys of the unlabelled recordings (distill.unlabeled), whose labels the items hide
    train_recs = splits.train
    if splits.unlabeled and cfg.distill.unlabeled.pairs:
        from vskd.data.labels import require_modality

        if "label" in method.batch_uses:
            raise ConfigError(f"config key 'distill.unlabeled': method '{cfg.distill.method}' reads the batch's "
                              f"labels, which unlabelled recordings do not have")
        require_modality(splits.unlabeled, cfg.teacher.input.modality)
        _check_teacher_labels(splits, tmeta, cfg.distill.teacher_checkpoint)
        hidden = {r.key for r in splits.unlabeled}
        train_recs = splits.paired_train
    elif splits.unlabeled:  # the control (distill.unlabeled.pairs false): the labelled pairs only
        _check_teacher_labels(splits, tmeta, cfg.distill.teacher_checkpoint)
    # inputs (statistics, MiniRocket's biases) of every training recording; labels (student.head_init
    # ridge) of the labelled ones only
    fit_student(student, cfg, train_recs, hidden=hidden)
    dev = _device(cfg, cfg.student.train, "student")
    student.to(dev)  # before setup_method: the method's adapters are made on the student's device
    teacher.to(dev)
    _, t_names = method_features(method)
    # distill.teacher_view student: the teacher's wrist members read the student's window; its other
    # members (skeleton, camera) read the recording (``recording_views``), re-assigned by distill.pairing
    student_view, recording_views = _student_view(cfg)
    use_cache = cfg.distill.teacher_cache in ("auto", "on") and student_view is False
    if not use_cache and cfg.teacher.features.cache and cfg.teacher.features.crop == "person":
        raise ConfigError("config key 'distill.teacher_cache': a teacher trained on cached person-crop features "
                          "sees its frames only through that cache; set distill.teacher_cache auto or on")
    opt = cfg.student.train
    tr = paired(cfg, train_recs, train=True, teacher=not use_cache and student_view is False, unlabeled=hidden,
                teacher_spec=recording_views)
    if recording_views is not None and cfg.distill.pairing != "paired":
        tr = ReassignedViews(tr, tr.labels, cfg.distill.pairing, cfg.seed)
    cache = None
    if use_cache:
        cache = _teacher_cache(cfg, teacher, Path(cfg.distill.teacher_checkpoint), train_recs, t_names, progress)
        if cfg.distill.pairing != "paired":  # tr.labels: -1 for an unlabelled recording (never its label)
            cache = ReassignedCache(cache, tr.labels, cfg.distill.pairing, cfg.seed)
    distiller = Distiller(student, teacher, method, ce_weight=cfg.distill.ce_weight, teacher_cache=cache,
                          label_smoothing=cfg.student.train.label_smoothing, student_view=student_view,
                          mixup=cfg.distill.mixup, mixup_views=cfg.distill.mixup_views)
    # the per-sample feature shapes of both sides, once, and what the method may need to know about the
    # data (CRD's memory bank: the training set's size): wiring errors fail here, at build time
    distiller.setup_method(collate()([tr[0]]), num_train=len(tr), num_classes=len(names))
    tl = loader(tr, opt.batch_size, True, cfg.seed, cfg.data.num_workers)
    resuming = resume and (run / "last.pt").exists()
    if not resuming:  # stage 1 of AB / FT / FSP (a no-op for other methods): fit the method's own modules
        method.pretrain(distiller, tl, progress=progress)
    vl = _eval_loader(cfg, splits.val, opt.batch_size)
    test_l = _eval_loader(cfg, splits.test if test else [], opt.batch_size)
    optimizer = make_optimizer([p for p in distiller.trainable.parameters() if p.requires_grad], opt)

    def forward(batch):  # the student's logits (SimKD: through the copied teacher classifier)
        return distiller.predict(batch["student"])

    runner = dist.wrap(distiller)  # DDP over the student + the method's adapters (the teacher is not in it)

    def step(batch):
        return runner(batch)[1]

    # a method that classifies for the student (SimKD: the teacher's head on projected features) is
    # part of the deployed model: best.pt then holds student + method, and so does the evaluation
    deployed = distiller.trainable if method.classifies else student
    meta = _meta(cfg, "student", names)
    meta["method_classifies"] = deployed is not student
    # the labels that reached it: its labelled training recordings' and, through the teacher, the teacher's
    seen = tmeta.get("train_keys")
    meta["train_keys"] = None if seen is None else sorted({r.name for r in splits.train} | set(seen))
    trainer = Trainer(run.path, distiller.trainable, optimizer, step, _evaluator(forward, len(names)), opt.epochs,
                      scheduler=make_scheduler(optimizer, opt), meta=meta,
                      export=deployed.state_dict, on_epoch_start=epoch_hook([tr, cache], [tl]),
                      grad_clip=opt.grad_clip, progress=progress, micro_batches=opt.micro_batches,
                      device=dev, amp=opt.amp)
    result = trainer.fit(tl, vl, resume=resume)
    return _finish(run, "student", forward, deployed, test_l, names, result,
                   extra={"method": cfg.distill.method, "pairing": cfg.distill.pairing,
                          "teacher_checkpoint": str(cfg.distill.teacher_checkpoint), **_distill_counts(cfg, splits)})


def evaluate_checkpoint(path: str | Path, split: str = "test", out_dir: str | Path | None = None,
                        data_root: str | None = None) -> dict:
    """Evaluate a student or teacher checkpoint on a split of the dataset it was trained on."""
    meta = validate_checkpoint(load_checkpoint(path), path)
    cfg = config_from_dict(meta["config"])
    if data_root:
        cfg.data.root = data_root
    _, splits, names = load_data(cfg)
    if split not in ("train", "val", "test"):
        raise ConfigError(f"--split: expected train, val or test, got '{split}'")
    recs = getattr(splits, split)
    kind = meta.get("kind")
    if kind == "teacher":
        model = load_teacher(path)[0]
        if cfg.teacher.features.cache:  # its own view: the cached frame features (extracted if missing)
            ds = feature_datasets(cfg, model, {split: recs}, progress=False, train_split="")[0][split]
        else:
            ds = paired(cfg, recs, train=False, student=False, teacher=True)
        key = "teacher"
    else:
        model = load_student(path, "vskd evaluate")[0]
        ds = paired(cfg, recs, train=False)
        key = "student"
    y, p, _ = predict(lambda b: model(b[key]), loader(ds, 32, False, cfg.seed))
    metrics = classification_metrics(y, p, meta["num_classes"])
    out = Path(out_dir) if out_dir else Path(path).parent
    write_report(metrics, names, out, f"eval_{split}", title=f"{kind}: {split}")
    return metrics
