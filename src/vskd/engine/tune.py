"""``vskd tune``: a recipe search with Optuna on the cross-validation folds of :mod:`vskd.engine.cv`.

One study per student / method (``job`` student or distill). Each trial samples the parameters of a
search space (:func:`load_space`), trains the job on every fold of the training side and scores the
configuration by its **CV accuracy** (:func:`vskd.engine.cv.choose_epoch`: the mean validation accuracy
over the folds at the best common epoch). The test split is never read here: the chosen recipe is run
afterwards (``data.selection: cv``: folds, chosen epoch, refit, test once).

* **Storage and resume**: the study lives in ``<out>/study.db`` (SQLite). ``--trials N`` is the study's
  target of finished (complete or pruned) trials: a second call with a larger N adds trials and redoes
  none. A trial's folds are trained under ``<out>/trials/<digest>/cv/fold-<g>``, the digest being that
  of the trial's resolved config; a trial interrupted by a stopped process is marked failed and its
  parameters queued again, and its finished folds are reused.
* **Pruning**: after fold ``k`` the trial reports the CV accuracy of its first ``k + 1`` folds; Optuna's
  ``MedianPruner`` stops a trial whose value is below the median of the earlier trials at that fold
  (after ``pruner.startup_trials`` trials, from fold ``pruner.warmup_folds + 1`` on).
* **Seeds**: every trial trains with ``seed`` = the study seed, so a trial is deterministic given its
  parameters and the study seed; the sampler (TPE) is seeded with the study seed plus the number of
  trials already in the study, so a resumed study does not replay the first proposals.

Search space file::

    name: dask-watch1d                 # optional: the study name (default: <job>-<arch>[-<method>])
    set: [student.train.epochs=40]     # optional: fixed overrides of every trial
    pruner: {startup_trials: 3, warmup_folds: 1}   # optional (these defaults)
    params:                            # config path -> distribution
      student.train.lr: {type: log, low: 1.0e-4, high: 1.0e-2}
      student.train.weight_decay: {type: log, low: 1.0e-6, high: 1.0e-1}
      student.train.epochs: {type: int, low: 20, high: 60, step: 10}
      distill.options.dask.alpha: {type: float, low: 0.0, high: 1.0}
      distill.options.dask.w_angle: {type: float, low: 0.0, high: 2.0, step: 0.5}
      student.input.augment.rotate: {type: categorical, choices: [0, 15, 30]}

Types: ``float`` (``low``, ``high``, optional ``step``), ``log`` (log-uniform float, ``0 < low < high``),
``int`` (``low``, ``high``, optional ``step``), ``categorical`` (``choices``: a list of numbers,
strings, booleans or null). Every path is checked against the config schema (and, for ``distill``, the
method's options) with its ``low`` / ``high`` / every choice before a trial runs; a mistake is one
:class:`~vskd.errors.ConfigError` naming the key.

Optuna is the optional extra ``vskd[tune]`` (``pip install 'vskd[tune]'``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vskd.config import Config, config_from_dict, config_to_dict, safe_yaml, set_path, validate
from vskd.errors import ConfigError, VskdError

__all__ = ["Param", "SearchSpace", "TYPES", "import_optuna", "load_space", "trial_config", "tune"]

TYPES = ("float", "log", "int", "categorical")
_SPACE_KEYS = ("name", "set", "pruner", "params")
_PRUNER_KEYS = {"startup_trials": 3, "warmup_folds": 1}


def import_optuna():
    """Optuna, or one line saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise VskdError("vskd tune needs Optuna: pip install 'vskd[tune]' (or pip install optuna)") from None
    return optuna


@dataclass(frozen=True)
class Param:
    """One search dimension: a config path and its distribution."""

    path: str
    type: str
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    choices: tuple = ()

    def suggest(self, trial) -> Any:
        if self.type == "categorical":
            return trial.suggest_categorical(self.path, list(self.choices))
        if self.type == "int":
            return trial.suggest_int(self.path, int(self.low), int(self.high), step=int(self.step or 1))
        return trial.suggest_float(self.path, float(self.low), float(self.high), log=self.type == "log",
                                   step=None if self.step is None else float(self.step))

    def probes(self) -> list:
        """Values that must all be valid config values (the ends of a range, every choice)."""
        return list(self.choices) if self.type == "categorical" else [self.low, self.high]


@dataclass
class SearchSpace:
    params: list[Param]
    name: str | None = None
    set: list[str] = field(default_factory=list)
    startup_trials: int = 3
    warmup_folds: int = 1
    path: Path | None = None


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _param(where: str, path: str, body) -> Param:
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: params.{path}: expected a mapping such as {{type: log, low: 1.0e-4, high: 1.0e-2}}, "
                          f"got {body!r}")
    kind = body.get("type")
    if kind not in TYPES:
        raise ConfigError(f"{where}: params.{path}.type: expected one of {', '.join(TYPES)}, got {kind!r}")
    allowed = {"type", "choices"} if kind == "categorical" else {"type", "low", "high", "step"}
    extra = sorted(set(body) - allowed)
    if extra:
        raise ConfigError(f"{where}: params.{path}: unknown key '{extra[0]}' for type {kind} "
                          f"(valid: {', '.join(sorted(allowed))})")
    if kind == "categorical":
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}: params.{path}.choices: expected a non-empty list, got {choices!r}")
        for c in choices:
            if not (c is None or isinstance(c, (str, bool)) or _number(c)):
                raise ConfigError(f"{where}: params.{path}.choices: expected numbers, strings, booleans or null, "
                                  f"got {c!r}")
        return Param(path, kind, choices=tuple(choices))
    for key in ("low", "high"):
        if key not in body:
            raise ConfigError(f"{where}: params.{path}: missing '{key}'")
    low, high, step = body["low"], body["high"], body.get("step")
    def num(v):  # YAML 1.1 reads 1e-3 (no dot) as a string
        try:
            return float(v) if isinstance(v, str) and kind != "int" else v
        except ValueError:
            return v

    low, high, step = num(low), num(high), num(step)
    for key, v in (("low", low), ("high", high)) + ((("step", step),) if step is not None else ()):
        if not _number(v):
            raise ConfigError(f"{where}: params.{path}.{key}: expected a finite number, got {v!r}")
        if kind == "int" and not isinstance(v, int):
            raise ConfigError(f"{where}: params.{path}.{key}: expected an integer for type int, got {v!r}")
    if not low < high:
        raise ConfigError(f"{where}: params.{path}: expected low < high, got low {low}, high {high}")
    if kind == "log" and low <= 0:
        raise ConfigError(f"{where}: params.{path}.low: a log range needs low > 0, got {low}")
    if kind == "log" and step is not None:
        raise ConfigError(f"{where}: params.{path}.step: a log range has no step")
    if step is not None and not step > 0:
        raise ConfigError(f"{where}: params.{path}.step: expected a number > 0, got {step}")
    return Param(path, kind, low, high, step)


def load_space(path: str | Path) -> SearchSpace:
    """Read and check the form of a search-space YAML file (one ConfigError line per mistake, naming the key).

    The config paths themselves are checked against a config by :func:`check_space`.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"search space file not found: {p}")
    where = f"search space {p}"
    raw = safe_yaml(p.read_text(errors="replace"), where) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(_SPACE_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}' (valid: {', '.join(_SPACE_KEYS)})")
    params = raw.get("params")
    if not isinstance(params, dict) or not params:
        raise ConfigError(f"{where}: params: expected a mapping of config paths to distributions "
                          f"(e.g. student.train.lr: {{type: log, low: 1.0e-4, high: 1.0e-2}}), got {params!r}")
    for key in params:
        if not isinstance(key, str) or not key or any(not k for k in key.split(".")):
            raise ConfigError(f"{where}: params: {key!r} is not a config path such as student.train.lr")
    fixed = raw.get("set") or []
    if not isinstance(fixed, list) or not all(isinstance(s, str) for s in fixed):
        raise ConfigError(f"{where}: set: expected a list of KEY=VALUE overrides, got {fixed!r}")
    pruner = raw.get("pruner") or {}
    if not isinstance(pruner, dict):
        raise ConfigError(f"{where}: pruner: expected a mapping ({', '.join(_PRUNER_KEYS)}), got {pruner!r}")
    bad = sorted(set(pruner) - set(_PRUNER_KEYS))
    if bad:
        raise ConfigError(f"{where}: pruner: unknown key '{bad[0]}' (valid: {', '.join(_PRUNER_KEYS)})")
    opts = {**_PRUNER_KEYS, **pruner}
    for key, v in opts.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError(f"{where}: pruner.{key}: expected an integer >= 0, got {v!r}")
    name = raw.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConfigError(f"{where}: name: expected a study name, got {name!r}")
    return SearchSpace(params=[_param(where, k, v) for k, v in params.items()], name=name, set=list(fixed),
                       startup_trials=opts["startup_trials"], warmup_folds=opts["warmup_folds"], path=p)


def trial_config(base: Config, params: dict[str, Any], seed: int, where: str = "search space") -> Config:
    """``base`` with the trial's ``params`` (config path -> value) and ``seed``; validated like any config."""
    data = copy.deepcopy(config_to_dict(base))
    for path, value in params.items():
        set_path(data, path.split("."), value, f"{where}: params.{path}")
    data["seed"] = seed
    cfg = config_from_dict(data)
    validate(cfg)
    return cfg


def check_space(space: SearchSpace, base: Config, job: str) -> None:
    """Every parameter at its ends (every choice) gives a valid config (and, distilling, valid method
    options); else one ConfigError naming ``params.<path>``."""
    from vskd.engine.builders import method_options

    where = f"search space {space.path}" if space.path else "search space"
    for param in space.params:
        for value in param.probes():
            try:
                cfg = trial_config(base, {param.path: value}, base.seed, where)
                if job == "distill":
                    from vskd.losses.registry import create_method

                    create_method(cfg.distill.method, method_options(cfg))
            except ConfigError as exc:
                raise ConfigError(f"{where}: params.{param.path} = {value!r}: {exc}") from None


def _digest(cfg: Config) -> str:
    return hashlib.sha256(json.dumps(config_to_dict(cfg), sort_keys=True, default=str).encode()).hexdigest()[:16]


def _job(job: str):
    from vskd.engine import jobs

    if job not in ("student", "distill"):
        raise ConfigError(f"--job: expected student or distill, got {job!r}")
    return jobs.train_student if job == "student" else jobs.distill


def study_name(space: SearchSpace, cfg: Config, job: str) -> str:
    """The study name: the space's ``name``, else ``<job>-<student arch>[-<method>]``."""
    if space.name:
        return space.name
    return f"{job}-{cfg.student.arch}" + (f"-{cfg.distill.method}" if job == "distill" else "")


def tune(base: Config, space: SearchSpace, out: str | Path, job: str = "student", trials: int = 10,
         seed: int | None = None, progress: bool = False, results: str | Path | None = None) -> dict:
    """Run (or continue) the study of ``space`` on ``base``'s cross-validation folds until it holds
    ``trials`` finished trials; write ``trials.md`` / ``trials.json`` in ``out`` (and ``tune-<study>.md`` /
    ``.json`` in ``results`` when given); return the table's data."""
    optuna = import_optuna()
    from vskd.config import apply_overrides
    from vskd.engine.cv import summarise, train_folds

    if trials < 1:
        raise ConfigError(f"--trials must be >= 1, got {trials}")
    job_fn = _job(job)
    if job == "distill" and not base.distill.teacher_checkpoint:
        raise ConfigError("config key 'distill.teacher_checkpoint': a distill study needs a trained teacher "
                          "(--teacher best.pt)")
    if space.set:
        base = config_from_dict(apply_overrides(config_to_dict(base), space.set))
        validate(base)
    study_seed = base.seed if seed is None else seed
    check_space(space, base, job)
    from vskd.engine.cv import fold_groups_of

    groups = fold_groups_of(base)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    name = study_name(space, base, job)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{(out / 'study.db').resolve()}"
    TrialState = optuna.trial.TrialState
    probe = optuna.load_study(study_name=name, storage=storage) if _exists(optuna, name, storage) else None
    n_before = len(probe.trials) if probe is not None else 0
    study = optuna.create_study(
        study_name=name, storage=storage, load_if_exists=True, direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=study_seed + n_before),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=space.startup_trials,
                                           n_warmup_steps=space.warmup_folds))
    attrs = study.user_attrs
    if attrs.get("seed", study_seed) != study_seed or attrs.get("job", job) != job:
        raise ConfigError(f"study '{name}' in {out / 'study.db'} was run with job {attrs.get('job')} and seed "
                          f"{attrs.get('seed')}; use its settings or another --out")
    study.set_user_attr("seed", study_seed)
    study.set_user_attr("job", job)
    study.set_user_attr("folds", groups)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        # left RUNNING by a stopped process (one process per study): failed, its parameters queued again
        study.tell(t.number, state=TrialState.FAIL)
        study.enqueue_trial(t.params)
    done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))

    def objective(trial) -> float:
        params = {p.path: p.suggest(trial) for p in space.params}
        cfg = trial_config(base, params, study_seed)
        run = out / "trials" / _digest(cfg)
        trial.set_user_attr("dir", str(run.relative_to(out)))
        started = time.time()

        def report(k: int, curves) -> None:
            value = summarise(dict(enumerate(curves)))["accuracy"]
            trial.report(value, k)
            if trial.should_prune():
                trial.set_user_attr("pruned_after_folds", k + 1)
                raise optuna.TrialPruned(f"CV accuracy {value:.4f} after {k + 1} fold(s) below the median")

        curves = train_folds(cfg, run, job_fn, resume=True, progress=progress, groups=groups, after_fold=report)
        cv = summarise(curves)
        trial.set_user_attr("chosen_epoch", cv["chosen_epoch"])
        trial.set_user_attr("fold_accuracy", cv["fold_accuracy"])
        trial.set_user_attr("accuracy_std", cv["accuracy_std"])
        trial.set_user_attr("train_s", round(time.time() - started, 1))
        return cv["accuracy"]

    todo = max(0, trials - done)
    if todo:
        study.optimize(objective, n_trials=todo, catch=(VskdError,))
    table = trials_table(study, optuna)
    table.update(study=name, job=job, seed=study_seed, folds=groups, protocol=base.data.protocol,
                 dataset=base.data.dataset, space=str(space.path) if space.path else None,
                 params=[p.path for p in space.params])
    write_table(table, out / "trials")
    if results:
        write_table(table, Path(results) / f"tune-{name}")
    return table


def _exists(optuna, name: str, storage: str) -> bool:
    try:
        return name in optuna.study.get_all_study_names(storage=storage)
    except Exception:  # a fresh storage file
        return False


def trials_table(study, optuna) -> dict:
    """The study's trials as plain data (number, state, CV accuracy, chosen epoch, per-fold, params)."""
    rows = []
    for t in study.trials:
        rows.append({"number": t.number, "state": t.state.name.lower(), "cv_accuracy": t.value,
                     "chosen_epoch": t.user_attrs.get("chosen_epoch"),
                     "fold_accuracy": t.user_attrs.get("fold_accuracy"),
                     "accuracy_std": t.user_attrs.get("accuracy_std"),
                     "intermediate": {str(k): v for k, v in sorted(t.intermediate_values.items())},
                     "params": dict(t.params), "dir": t.user_attrs.get("dir"),
                     "train_s": t.user_attrs.get("train_s")})
    complete = [r for r in rows if r["state"] == "complete"]
    best = max(complete, key=lambda r: (r["cv_accuracy"], -r["number"])) if complete else None
    return {"trials": rows, "best": best}


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def write_table(table: dict, stem: Path) -> Path:
    """``<stem>.json`` and ``<stem>.md``: every trial, best first by CV accuracy."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(table, indent=2))
    names = table.get("params") or sorted({k for r in table["trials"] for k in r["params"]})
    lines = [f"# vskd tune: study `{table.get('study')}`", "",
             f"Job `{table.get('job')}` on {table.get('dataset')} ({table.get('protocol')}), cross-validation folds "
             f"(held-out training groups) {table.get('folds')}, study seed {table.get('seed')}. CV accuracy: the mean "
             f"validation accuracy over the folds at the best common epoch; the test split is not read.", ""]
    best = table.get("best")
    if best:
        lines += [f"Best: trial {best['number']}, CV accuracy {best['cv_accuracy']:.4f} at epoch "
                  f"{best['chosen_epoch']}: " + ", ".join(f"`{k}` = {_fmt(v)}" for k, v in best["params"].items()), ""]
    lines += ["| trial | state | CV accuracy | epoch | per fold | " + " | ".join(f"`{n}`" for n in names) + " |",
              "|---|---|---|---|---|" + "---|" * len(names)]
    order = sorted(table["trials"], key=lambda r: (r["cv_accuracy"] is None, -(r["cv_accuracy"] or 0), r["number"]))
    for r in order:
        folds = r["fold_accuracy"] or {}
        per = " / ".join(f"{v:.3f}" for v in folds.values()) if folds else \
            (" / ".join(f"{v:.3f}" for v in r["intermediate"].values()) + " (running mean)" if r["intermediate"] else "—")
        acc = "—" if r["cv_accuracy"] is None else f"{r['cv_accuracy']:.4f}"
        lines.append(f"| {r['number']} | {r['state']} | {acc} | {r['chosen_epoch'] or '—'} | {per} | "
                     + " | ".join(_fmt(r["params"].get(n, "—")) for n in names) + " |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return stem.with_suffix(".md")
