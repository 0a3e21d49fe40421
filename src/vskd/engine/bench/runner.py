"""The benchmark runner: a :class:`~vskd.engine.bench.spec.BenchSpec` planned into steps, each step run
(by an executor of :mod:`vskd.engine.bench.executors`) and the finished runs summarised.

Each run is ``seed<s>/<id>`` under the output folder, trained by the same functions as the CLI
(:mod:`vskd.engine.jobs`; a peer run by :func:`vskd.engine.peers.run_peer`). A run with
``results.json`` is finished and reused; a run with only ``last.pt`` is resumed; so an interrupted
benchmark continues where it stopped. Model selection is always on the validation split (or, with
``data.selection: cv``, on the training groups' folds, then a refit: :mod:`vskd.engine.cv`; a run's
teacher still selects on its validation subject); the test split is read once per run.
"""

from __future__ import annotations

import json
import re
import time
import traceback
from pathlib import Path

from vskd.config import CLOSED_FORM_TEACHERS, load_config
from vskd.engine.bench.spec import BenchSpec, RunSpec
from vskd.engine.bench.stats import describe, paired_difference
from vskd.errors import ConfigError, VskdError
from vskd.threads import kept, worker_threads

__all__ = ["Bench"]


class Bench:
    """Runs a :class:`BenchSpec` into ``out`` and summarises it."""

    def __init__(self, spec: BenchSpec, out: str | Path, extra_set: list[str] | None = None,
                 only: list[str] | None = None, progress: bool = False):
        self.spec = spec
        self.out = Path(out)
        self.extra = list(extra_set or [])
        self.only = only
        self.progress = progress

    def config(self, seed: int, overrides: list[str]):
        """The config of one step; ``{seed}`` and ``{out}`` in an override become the seed and the output
        folder (a fusion teacher names its members as ``{out}/seed{seed}/<step>/best.pt``)."""
        return load_config(self.spec.base, [self._fill(o, seed) for o in
                                            [*self.spec.set, *self.extra, f"seed={seed}", *overrides]])

    def _fill(self, override: str, seed: int) -> str:
        return override.replace("{seed}", str(seed)).replace("{out}", self.out.as_posix())

    def _referenced(self, overrides: list[str]) -> list[str]:
        """The step folders (``teacher-<name>`` or a run id) that ``{out}/seed{seed}/<step>/`` names."""
        names = {f"teacher-{t}" for t in self.spec.teachers} | {r.id for r in self.spec.runs}
        found = re.findall(r"\{out\}/seed\{seed\}/([^/\s,\]}]+)/", " ".join(overrides))
        return [n for n in dict.fromkeys(found) if n in names]

    def teacher_dir(self, seed: int, name: str) -> Path:
        return self.out / f"seed{seed}" / f"teacher-{name}"

    def plan(self) -> list[tuple[int, str, object]]:
        """(seed, kind, spec) in execution order: the teachers the runs need (every seed), then the runs,
        run-major (all seeds of the first run, then the next), so a benchmark stopped early has complete
        rows rather than one seed of everything."""
        steps: list[tuple[int, str, object]] = []
        runs = [r for r in self.spec.runs if not self.only or r.id in self.only]
        needed = self.teachers_needed(runs)
        wanted = [n for n in self.spec.teachers if n in needed or (not self.only and self.spec.teachers_declared)]
        teachers: list[str] = []  # a fusion teacher after the teachers it is built from

        def add(name: str, path: tuple[str, ...] = ()) -> None:
            if name in teachers:
                return
            if name in path:
                raise ConfigError(f"benchmark spec {self.spec.path}: teacher '{name}' is built from itself "
                                  f"({' -> '.join([*path, name])})")
            for ref in self._referenced(self.spec.teachers[name]):
                if ref.startswith("teacher-") and ref[len("teacher-"):] in self.spec.teachers:
                    add(ref[len("teacher-"):], (*path, name))
            teachers.append(name)

        for name in wanted:
            add(name)
        # runs a teacher is built from (a fusion teacher's members), with every seed, before the teachers
        first = {ref for n in teachers for ref in self._referenced(self.spec.teachers[n])}
        members = [r for r in self.spec.runs if r.id in first]
        for r in members:
            steps += [(seed, "run", r) for seed in self.spec.seeds]
        for name in teachers:
            steps += [(seed, "teacher", name) for seed in self.spec.seeds]
        for r in runs:
            if r not in members:
                steps += [(seed, "run", r) for seed in self.spec.seeds]
        return steps

    def teachers_needed(self, runs) -> set[str]:
        """The teachers the distillation runs among ``runs`` are distilled from."""
        return {r.teacher or self.spec.main_teacher for r in runs if r.job == "distill"}

    def teacher_of(self, seed: int, item) -> Path | None:
        """The teacher folder a step waits for (a distillation run), else None."""
        if not isinstance(item, RunSpec) or item.job != "distill":
            return None
        return self.teacher_dir(seed, item.teacher or self.spec.main_teacher)

    def depends_on(self, seed: int, item) -> list[Path]:
        """The step folders a step waits for: a distillation run its teacher's; a teacher the steps its
        overrides name as ``{out}/seed{seed}/<step>/`` (a fusion teacher's members)."""
        if isinstance(item, RunSpec):
            t = self.teacher_of(seed, item)
            return [] if t is None else [t]
        return [self.out / f"seed{seed}" / n for n in self._referenced(self.spec.teachers[item])]

    def run_dir(self, seed: int, kind: str, item) -> Path:
        return self.teacher_dir(seed, item) if kind == "teacher" else self.out / f"seed{seed}" / item.id

    def pending(self) -> list[tuple[int, str, object]]:
        """The planned steps not finished yet (no ``results.json``): what every executor runs."""
        return [s for s in self.plan() if not (self.run_dir(*s) / "results.json").exists()]

    def check(self) -> list[str]:
        """Plan without training (``vskd bench --dry-run``): every step's config is built and validated (the
        data section against the dataset registry; a distillation run's method with its options, on the
        student it distils into, and on the features its teacher offers), and one line per step is
        returned. A mistake is one ConfigError naming the run."""
        from vskd.data.datasets import check_data_config
        from vskd.data.registry import get_dataset
        from vskd.engine.builders import build_student, method_options
        from vskd.errors import ConfigError
        from vskd.losses.registry import create_method
        from vskd.models.features import check_method_on_student

        lines, checked = [], set()
        teacher_features: dict[str, list[str]] = {}
        for seed, kind, item in self.plan():
            label = f"teacher-{item}" if kind == "teacher" else item.id
            done = (self.run_dir(seed, kind, item) / "results.json").exists()
            try:
                overrides = list(self.spec.teachers[item] if kind == "teacher" else item.set)
                if kind == "run" and item.job == "distill":
                    overrides = [f"distill.method={item.method}", *overrides]
                cfg = self.config(seed, overrides)
                check_data_config(cfg.data)
                if kind == "run" and item.job == "distill" and label not in checked:
                    method = create_method(cfg.distill.method, method_options(cfg))
                    classes = get_dataset(cfg.data.dataset).classes or ("a", "b")
                    check_method_on_student(method, build_student(cfg, len(classes)))
                    tname = item.teacher or self.spec.main_teacher
                    if tname not in teacher_features:
                        teacher_features[tname] = self._teacher_features(seed, tname, len(classes))
                    missing = [f for f in method.teacher_uses if f not in teacher_features[tname]]
                    if missing:
                        raise ConfigError(f"method '{cfg.distill.method}' reads the teacher's "
                                          f"{', '.join(repr(m) for m in missing)}, which the {tname} teacher does "
                                          f"not have (its features: {', '.join(teacher_features[tname])})")
                checked.add(label)
            except ConfigError as exc:
                raise ConfigError(f"benchmark spec {self.spec.path}: {label} (seed {seed}): {exc}") from None
            what = "teacher" if kind == "teacher" else ("peer " + item.peer if item.is_peer else item.job)
            extra = "" if kind == "teacher" else (f" {item.method} from {item.teacher or self.spec.main_teacher}"
                                                  if item.job == "distill" else "")
            lines.append(f"seed {seed} {label}: {what}{extra}, {cfg.data.protocol}, selection "
                         f"{'cv' if _cross_validated(kind, item, cfg) else 'val'}"
                         + (" (finished)" if done else ""))
        return lines

    def _teacher_features(self, seed: int, name: str, num_classes: int) -> list[str]:
        """The feature names the teacher ``name`` of this spec offers the methods, without its weights: a
        fusion teacher's fixed table (its members are checkpoints not made yet), else those of the network
        its config builds (untrained, no pretrained file read)."""
        from vskd.engine.builders import build_teacher
        from vskd.models.features import teacher_taps
        from vskd.models.fusion import FusionTeacher

        cfg = self.config(seed, list(self.spec.teachers[name]))
        if cfg.teacher.arch == "fusion":
            return list(FusionTeacher.TEACHER_TAPS)
        cfg.teacher.pretrained = None
        return list(teacher_taps(build_teacher(cfg, num_classes)))

    def run(self, jobs: int = 1, executor: str = "process", address: str | None = None) -> dict:
        """Run every unfinished step and return the summary.

        ``executor="process"`` (default): in this process, or with ``jobs`` > 1 that many steps at once
        in worker processes (torch threads each: ``vskd.threads.worker_threads``), a distillation run starting
        once its teacher is done. ``executor="ray"``: every step a Ray task (local Ray, or the cluster
        at ``address``) with as many CPUs as ``worker_threads(jobs)`` threads, a distillation task waiting for its teacher's task.
        """
        from vskd.engine.bench import executors

        steps = self.pending()
        t0 = time.time()
        if executor == "ray":
            executors.run_ray(self, steps, t0, threads=worker_threads(max(1, jobs)),
                              address=address)
        elif executor == "process":
            if jobs <= 1:
                executors.run_serial(self, steps, t0)
            else:
                executors.run_pool(self, steps, t0, jobs)
        else:
            raise VskdError(f"unknown executor '{executor}' (valid: process, ray)")
        return self.summary()

    def execute(self, k: int, n: int, seed: int, kind: str, item, t0: float) -> None:
        """Train one step (teacher or run) unless finished; a failure is written to ``failed.txt``."""
        from vskd.engine import jobs

        run_dir = self.run_dir(seed, kind, item)
        if kind == "teacher":
            missing = [d.name for d in self.depends_on(seed, item) if not (d / "results.json").exists()]
            if missing and not (run_dir / "results.json").exists():
                self._fail(run_dir, f"its members' steps did not finish: {', '.join(missing)}")
                print(f"[bench] ({k}/{n}) seed {seed} teacher-{item} skipped: {', '.join(missing)} did not finish",
                      flush=True)
                return
            cfg = self.config(seed, self.spec.teachers[item])
            job, label = jobs.train_teacher, f"teacher-{item}"
        elif item.is_peer:
            cfg = self.config(seed, list(item.set))
            if cfg.data.selection == "cv":  # nothing to select: fit on the whole training side, as the refits
                from vskd.engine.cv import refit_data

                cfg.data = refit_data(cfg.data)
            job, label = _peer_job(item), item.id
        else:
            ov = list(item.set)
            if item.job == "distill":
                tdir = self.teacher_of(seed, item)
                if not (tdir / "results.json").exists():
                    self._fail(run_dir, f"teacher {tdir} did not finish")
                    print(f"[bench] ({k}/{n}) seed {seed} {item.id} skipped: teacher {tdir.name} did not finish",
                          flush=True)
                    return
                ov = [f"distill.teacher_checkpoint={tdir / 'best.pt'}", f"distill.method={item.method}", *ov]
            cfg = self.config(seed, ov)
            job = jobs.train_student if item.job == "student" else jobs.distill
            label = item.id
        if (run_dir / "results.json").exists():
            return
        (run_dir / "failed.txt").unlink(missing_ok=True)
        started = time.time()
        print(f"[bench] ({k}/{n}) seed {seed} {label} ...", flush=True)
        resume = (run_dir / "last.pt").exists()
        if _cross_validated(kind, item, cfg):  # folds + refit (engine.cv)
            job, resume = _cv_job(job), resume or (run_dir / "cv").exists()
        try:
            with kept():  # a step that changes the process's threads (aeon does) does not change the next's
                res = job(cfg, run_dir, resume=resume, progress=self.progress)
        except (VskdError, RuntimeError, ValueError) as exc:
            self._fail(run_dir, f"{exc.__class__.__name__}: {exc}\n{traceback.format_exc()}")
            print(f"[bench] ({k}/{n}) seed {seed} {label} FAILED: {exc}", flush=True)
            return
        val = res["val"]["accuracy"]
        print(f"[bench] ({k}/{n}) seed {seed} {label}: test acc {res['test']['accuracy']:.4f} "
              f"macro-F1 {res['test']['macro_f1']:.4f} (val {'—' if val is None else f'{val:.4f}'}) "
              f"in {time.time() - started:.0f} s; {time.time() - t0:.0f} s elapsed", flush=True)

    @staticmethod
    def _fail(run_dir: Path, message: str) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "failed.txt").write_text(message)

    # ------------------------------------------------------------------ summary
    def summary(self) -> dict:
        rows: dict[str, dict] = {}
        needed = self.teachers_needed(self.spec.runs)
        entries = [(f"teacher-{n}", "teacher", None, n, "teachers", f"teacher ({n})") for n in self.spec.teachers
                   if self.spec.teachers_declared or n in needed]
        entries += [(r.id, r.job, r.peer if r.is_peer else r.method,
                     (r.teacher or self.spec.main_teacher) if r.job == "distill" else None,
                     r.group, r.label or r.id) for r in self.spec.runs]
        for rid, job, method, teacher, group, label in entries:
            seeds, failed, selection = {}, {}, set()
            for seed in self.spec.seeds:
                d = self.out / f"seed{seed}" / rid
                if (d / "results.json").exists():
                    res = json.loads((d / "results.json").read_text())
                    if job != "peer":
                        selection.add(res.get("selection", "val"))
                    seeds[str(seed)] = {"test_accuracy": res["test"]["accuracy"], "test_macro_f1": res["test"]["macro_f1"],
                                        "val_accuracy": res["val"]["accuracy"], "best_epoch": res["best_epoch"],
                                        # a cross-validated run: its refit plus its folds
                                        "wall_s": (round(res["wall_s"] + res.get("cv_wall_s", 0), 1)
                                                   if res.get("wall_s") is not None else None)}
                    for key in ("fit_s", "predict_s", "fit_cpu_s", "predict_cpu_s"):  # peers
                        if key in res:
                            seeds[str(seed)][key] = res[key]
                elif (d / "failed.txt").exists():
                    failed[str(seed)] = (d / "failed.txt").read_text().splitlines()[0]
            row = {"label": label, "job": job, "method": method, "teacher": teacher, "group": group,
                   "seeds": seeds, "failed": failed,
                   "selection": "/".join(sorted(selection)) or None}  # cv | val (None: a peer, or unfinished)
            for key in ("test_accuracy", "test_macro_f1", "val_accuracy"):
                row[key] = describe([s[key] for s in seeds.values() if s[key] is not None])
            rows[rid] = row
        own = {r.id: r.baseline for r in self.spec.runs if r.baseline}
        for rid, row in rows.items():
            ref = own.get(rid, self.spec.baseline)
            if ref is None or ref == rid or row["job"] == "teacher":
                continue
            base = rows[ref]
            row["baseline"] = ref
            row["vs_baseline"] = {key: paired_difference({s: v[key] for s, v in row["seeds"].items()},
                                                         {s: v[key] for s, v in base["seeds"].items()})
                                  for key in ("test_accuracy", "test_macro_f1")}
        return {"benchmark": self.spec.name, "spec": str(self.spec.path), "seeds": self.spec.seeds,
                "overrides": self.extra, "baseline": self.spec.baseline, "runs": rows}


def _cross_validated(kind: str, item, cfg) -> bool:
    """Whether a step runs :func:`vskd.engine.cv.cross_validate` under ``data.selection: cv``: the students
    and the closed-form teachers (fitted in seconds, so the row gets a CV accuracy and the fit sees every
    training group); the peers have nothing to select and the other teachers select on validation."""
    if cfg.data.selection != "cv":
        return False
    return cfg.teacher.arch in CLOSED_FORM_TEACHERS if kind == "teacher" else not item.is_peer


def _cv_job(job):
    """``job`` selected by cross-validation (:func:`vskd.engine.cv.cross_validate`: folds, epoch, refit)."""
    def run(cfg, run_dir, resume: bool = False, progress: bool = False) -> dict:
        from vskd.engine.cv import cross_validate

        return cross_validate(cfg, run_dir, job, resume=resume, progress=progress)

    return run


def _peer_job(item: RunSpec):
    """A peer run as a job like those of :mod:`vskd.engine.jobs` ``(cfg, run_dir, resume, progress) -> results``."""
    spec = item.peer_spec()

    def job(cfg, run_dir, resume: bool = False, progress: bool = False) -> dict:
        from vskd.engine.peers import run_peer

        return run_peer(cfg, run_dir, spec)

    return job
