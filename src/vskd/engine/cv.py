"""Cross-validated model selection: leave-one-group-out folds, the chosen epoch, a refit on all of train.

``data.selection: cv`` (or :func:`cross_validate` directly) replaces the single validation subject by
every training group in turn (:func:`vskd.data.protocols.make_folds`: 4 leave-one-subject-out folds over
UTD-MHAD's training subjects 1, 3, 5, 7 for cross-subject; leave-one-trial-out for subject-specific;
leave-one-camera / scene / session-out for the others):

1. **folds**: the job (``train_student``, ``distill``, or ``train_teacher``) trains on each fold with the
   configured ``epochs`` and records its validation accuracy after every epoch (``metrics.csv``); the
   folds never read the test split. Fold ``g`` is ``<run>/cv/fold-<g>/``; a fold with ``results.json``
   is finished and skipped, one with ``last.pt`` is resumed. A finished fold's ``last.pt`` (the resume
   state: weights, optimizer moments, adapters; often 2-3x ``best.pt``) is deleted, since nothing reads it
   again; its ``best.pt``, ``metrics.csv`` and ``results.json`` stay.
2. **the chosen number of epochs** (:func:`choose_epoch`): with ``a_k(e)`` fold ``k``'s validation
   accuracy after epoch ``e``, the mean curve is ``m(e) = (1/K) sum_k a_k(e)`` and the chosen epoch
   ``e* = argmax_e m(e)``, the earliest on ties (as the single-split trainer keeps the earlier epoch).
   ``m(e*)`` is the **CV accuracy** of the configuration, the figure that ranks configurations (one
   epoch shared by every fold, so it is not the optimistic mean of per-fold maxima).
3. **refit**: the same job on the whole training side (no validation part: the trainer's refit mode)
   for ``e*`` epochs, keeping the last; the same learning-rate schedule, so the refit follows the
   folds' trajectory up to ``e*``. Its ``best.pt`` is the run's model, read once on test.

The run folder then looks like one run of the job (``best.pt``, ``config.yaml``, ``test.json``,
``results.json``) plus ``cv/`` and ``cv.json``; ``results.json`` adds ``selection: "cv"``, ``cv`` (per-fold
accuracy at ``e*``, the mean and std, the mean curve) and reports the CV accuracy as its ``val``.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Callable

from vskd.config import Config, config_from_dict, config_to_dict
from vskd.errors import ConfigError, DataError, VskdError

__all__ = ["FoldCurve", "choose_epoch", "cross_validate", "fold_config", "fold_groups_of", "refit_config",
           "refit_data", "summarise", "train_folds"]

#: the job a cross-validation runs: ``job(cfg, run_dir, resume=..., progress=..., test=...) -> results``
Job = Callable[..., dict]

FoldCurve = list[float]


def _copy(cfg: Config) -> Config:
    return config_from_dict(config_to_dict(cfg))


def _train_section(cfg: Config, job: Job):
    return cfg.teacher.train if getattr(job, "__name__", "") == "train_teacher" else cfg.student.train


def fold_groups_of(cfg: Config) -> list[int]:
    """The training groups of ``cfg.data`` (one fold each), from the protocol code."""
    from vskd.data.datasets import check_data_config, load_recordings
    from vskd.data.protocols import fold_groups

    name, root, options = check_data_config(cfg.data)
    return fold_groups(load_recordings(name, root, **options), cfg.data.protocol)


def fold_config(cfg: Config, group: int, job: Job | None = None) -> Config:
    """The config of the fold that validates on training group ``group`` (the other training groups train).

    For a fusion teacher (``job`` ``train_teacher``, ``teacher.arch: fusion``) each member's checkpoint
    ``<member run>/best.pt`` becomes that member's model of the same fold, ``<member run>/cv/fold-<group>/
    best.pt`` (which a member trained with ``data.selection: cv`` keeps): a member fitted on the whole
    training side has seen the fold's validation group, so its fold accuracy would be optimistic.
    """
    out = _copy(cfg)
    out.data = replace(out.data, val_subjects=None, val_trials=None, val_groups=[group], selection="val")
    if getattr(job, "__name__", "") == "train_teacher" and out.teacher.arch == "fusion":
        out.teacher = replace(out.teacher, members=[replace(m, checkpoint=_fold_member(i, m.checkpoint, group))
                                                    for i, m in enumerate(out.teacher.members)])
    return out


def _fold_member(i: int, checkpoint: str | None, group: int) -> str:
    """The fold-``group`` model beside a fusion member's ``best.pt`` (:func:`fold_config`), or one clear error."""
    if not checkpoint:
        raise ConfigError(f"config key 'teacher.members[{i}].checkpoint': expected a trained member's best.pt")
    fold = Path(checkpoint).parent / "cv" / f"fold-{group}" / "best.pt"
    if not fold.is_file():
        raise ConfigError(f"config key 'teacher.members[{i}].checkpoint': cross-validating a fusion teacher "
                          f"needs each member's model of fold {group}, {fold}, which is missing; train the "
                          f"member {checkpoint} with data.selection: cv (it keeps cv/fold-<group>/best.pt), "
                          f"or select the fusion teacher with data.selection: val")
    return str(fold)


def refit_data(data):
    """A ``data`` section without a validation part: the whole training side trains (``val_groups: []``)."""
    return replace(data, val_subjects=None, val_trials=None, val_groups=[], selection="val")


def refit_config(cfg: Config, epochs: int, job: Job) -> Config:
    """The config of the final fit: the whole training side (no validation part) for ``epochs`` epochs."""
    out = _copy(cfg)
    out.data = refit_data(out.data)
    _train_section(out, job).epochs = epochs
    return out


def read_curve(run_dir: Path) -> FoldCurve:
    """Validation accuracy after each epoch of a finished fold (its ``metrics.csv``)."""
    path = Path(run_dir) / "metrics.csv"
    try:
        with path.open() as fh:
            rows = list(csv.DictReader(fh))
        return [float(r["val_accuracy"]) for r in sorted(rows, key=lambda r: int(r["epoch"]))]
    except (OSError, KeyError, ValueError) as exc:
        raise VskdError(f"cross-validation fold {run_dir}: cannot read its validation curve from {path} "
                        f"({exc.__class__.__name__}: {exc})") from None


def choose_epoch(curves: list[FoldCurve]) -> tuple[int, list[float]]:
    """``(e*, m)``: the 1-based epoch maximising the mean validation curve ``m`` over the folds, the
    earliest on ties, and ``m`` itself (``m[e - 1]`` is the mean after epoch ``e``).

    The folds share their number of epochs; a fold with a shorter curve (an unfinished one) is an error.
    """
    if not curves or not curves[0]:
        raise VskdError("cross-validation: no fold has a validation curve to choose an epoch from")
    n = len(curves[0])
    if any(len(c) != n for c in curves):
        raise VskdError(f"cross-validation: the folds' curves differ in length ({[len(c) for c in curves]} epochs); "
                        f"every fold trains the same number of epochs")
    mean = [sum(c[e] for c in curves) / len(curves) for e in range(n)]
    best = max(range(n), key=lambda e: (mean[e], -e))  # highest mean, earliest on ties
    return best + 1, mean


def train_folds(cfg: Config, run_dir: str | Path, job: Job, resume: bool = True, progress: bool = True,
                groups: list[int] | None = None,
                after_fold: Callable[[int, list[FoldCurve]], None] | None = None) -> dict[int, FoldCurve]:
    """Train ``job`` on each fold (under ``run_dir/cv/fold-<g>``) and return ``{group: curve}``.

    Finished folds (``results.json``) are skipped; an unfinished one resumes from its ``last.pt`` when
    ``resume``. ``after_fold(k, curves)`` is called after each fold with the curves so far (``vskd tune``
    reports them to its pruner, which may stop the trial by raising).
    """
    from vskd.engine import dist

    root = Path(run_dir) / "cv"
    groups = fold_groups_of(cfg) if groups is None else groups
    curves: dict[int, FoldCurve] = {}
    for k, g in enumerate(groups):
        fold = root / f"fold-{g}"
        if not (fold / "results.json").exists():
            if progress:
                print(f"[vskd cv] fold {k + 1}/{len(groups)}: validation group {g}", flush=True)
            job(fold_config(cfg, g, job), fold, resume=resume and (fold / "last.pt").exists(), progress=progress,
                test=False)
        if (fold / "results.json").exists() and dist.is_main():  # finished: its resume state is dead weight
            (fold / "last.pt").unlink(missing_ok=True)
        curves[g] = read_curve(fold)
        if after_fold is not None:
            after_fold(k, list(curves.values()))
    return curves


def summarise(curves: dict[int, FoldCurve]) -> dict:
    """The selection figures of finished folds: chosen epoch, per-fold and mean CV accuracy, mean curve."""
    epoch, mean = choose_epoch(list(curves.values()))
    per_fold = {str(g): c[epoch - 1] for g, c in curves.items()}
    values = list(per_fold.values())
    return {
        "rule": "argmax over epochs of the mean validation accuracy over folds (earliest on ties)",
        "folds": sorted(curves),
        "chosen_epoch": epoch,
        "accuracy": mean[epoch - 1],
        "accuracy_std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "fold_accuracy": per_fold,
        "fold_best": {str(g): max(c) for g, c in curves.items()},
        "mean_curve": mean,
    }


def cross_validate(cfg: Config, run_dir: str | Path, job: Job, resume: bool = False, progress: bool = True) -> dict:
    """Folds, chosen epoch, refit on the whole training side, test once (the module docstring's steps).

    Returns the refit's ``results.json`` summary with ``selection``, ``cv`` and the CV accuracy as ``val``.
    Without ``resume``, a run folder that already holds folds or a refit is refused (as a single run is).
    """
    run = Path(run_dir)
    started = [p for p in [run / "last.pt", *sorted((run / "cv").glob("fold-*/last.pt")),
                           *sorted((run / "cv").glob("fold-*/results.json"))] if p.exists()]
    if started and not resume:
        raise VskdError(f"run folder {run} already holds a cross-validation ({started[0]}); pass --resume to "
                        f"continue it (finished folds are kept) or choose another --out")
    if (run / "results.json").exists():
        done = json.loads((run / "results.json").read_text())
        if done.get("selection") == "cv":
            return done
    from vskd.engine import dist

    curves = train_folds(cfg, run, job, resume=resume, progress=progress)
    cv = summarise(curves)
    main = dist.is_main()  # under torchrun every rank trains; rank 0 writes
    if main:
        (run / "cv.json").write_text(json.dumps({"curves": {str(g): c for g, c in curves.items()}, **cv}, indent=2))
    if progress and main:
        print(f"[vskd cv] chosen epoch {cv['chosen_epoch']}: CV accuracy {cv['accuracy']:.4f} "
              f"(folds {', '.join(f'{v:.3f}' for v in cv['fold_accuracy'].values())}); refit on all training groups",
              flush=True)
    if not (run / "results.json").exists():
        job(refit_config(cfg, cv["chosen_epoch"], job), run, resume=resume or (run / "last.pt").exists(),
            progress=progress)
    res = json.loads((run / "results.json").read_text())
    # the refit keeps its last epoch, which is e* (a teacher with nothing to train has none: a fusion ensemble)
    if res.get("trained", True) and res.get("best_epoch") != cv["chosen_epoch"]:
        raise DataError(f"{run}: the refit's results.json reports epoch {res.get('best_epoch')}, not the chosen "
                        f"{cv['chosen_epoch']}")
    acc_f1 = None
    f1 = [_f1_at(run / "cv" / f"fold-{g}", cv["chosen_epoch"]) for g in curves]
    if all(v is not None and math.isfinite(v) for v in f1):
        acc_f1 = sum(f1) / len(f1)
    folds_s = [json.loads((run / "cv" / f"fold-{g}" / "results.json").read_text()).get("wall_s") for g in curves]
    res.update(selection="cv", val={"accuracy": cv["accuracy"], "macro_f1": acc_f1},
               cv={k: v for k, v in cv.items() if k != "mean_curve"},
               cv_wall_s=round(sum(s for s in folds_s if s), 1))
    if main:
        tmp = run / ".results.json.tmp"
        tmp.write_text(json.dumps(res, indent=2))
        tmp.replace(run / "results.json")
    dist.barrier()
    return res


def _f1_at(fold: Path, epoch: int) -> float | None:
    with (fold / "metrics.csv").open() as fh:
        for r in csv.DictReader(fh):
            if int(r["epoch"]) == epoch and r.get("val_macro_f1"):
                return float(r["val_macro_f1"])
    return None
