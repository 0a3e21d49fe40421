"""Benchmarks: many runs over seeds from one spec file, resumable, summarised as tables and plots.

A benchmark spec (``configs/bench/*.yaml``) names a base experiment config, the seeds, the teachers
to train (once per seed, each with its own overrides) and the runs: the student alone, every
distillation method, ablations. Each run is ``seed<s>/<id>`` under the output folder, trained by the
same functions as the CLI (:mod:`vskd.engine.pipeline`). A run with ``results.json`` is finished and
reused; a run with only ``last.pt`` is resumed; so an interrupted benchmark continues where it
stopped. Model selection is always on the validation split; the test split is read once per run.

Spec format::

    name: utd-mhad-cpu
    base: ../utd-mhad/cpu.yaml          # relative to the spec file
    seeds: [0, 1, 2]
    set: []                              # overrides applied to every run
    teachers:                            # name -> overrides of train-teacher
      depth: []
    runs:
      - {id: student, job: student}
      - {id: dask, method: dask}                          # teacher: the first one listed
      - {id: dask-unpaired, method: dask, set: [distill.pairing=unpaired], group: ablation}
      - {id: dask-skeleton, method: dask, teacher: skeleton, group: teachers}
    figures: [teacher-depth, student, dask]   # optional: runs of the curves and confusion matrices
                                              # (default: the first teacher, student, dask)
    baseline: student                         # optional: the run every other run is compared with,
                                              # seed by seed (default: the run 'student', else the
                                              # first student job; none if the spec has none); a run
                                              # may name its own: {id: ..., baseline: student-60}

Every run is compared with the baseline on the seeds both finished: the paired difference of test
accuracy and macro-F1 (its mean, a 95 % Student-t interval over seeds, and on how many seeds the run
was higher). Pairing by seed removes what the seed does to both runs (the teacher, the split of the
data into batches), so a gain can be clear while the two runs' own spreads overlap; with 3 seeds the
interval is wide (t = 4.30), which is the point of printing it.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from vskd.config import load_config
from vskd.errors import ConfigError, VskdError


@dataclass
class RunSpec:
    id: str
    job: str = "distill"  # student | distill
    method: str | None = None
    teacher: str | None = None
    set: list[str] = field(default_factory=list)
    group: str = "main"
    label: str | None = None
    baseline: str | None = None  # compare with this run instead of the spec's baseline


@dataclass
class BenchSpec:
    name: str
    path: Path
    base: Path
    seeds: list[int]
    set: list[str]
    teachers: dict[str, list[str]]
    runs: list[RunSpec]
    figures: list[str] | None = None  # runs the curves / confusion matrices show ("teacher-<name>" for a teacher)
    baseline: str | None = None  # the run the others are compared with, seed by seed

    @property
    def main_teacher(self) -> str:
        return next(iter(self.teachers))


def load_spec(path: str | Path) -> BenchSpec:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"benchmark spec not found: {p}")
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"benchmark spec {p} is not valid YAML: {str(exc).splitlines()[0]}") from None
    known = {"name", "base", "seeds", "set", "teachers", "runs", "figures", "baseline"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"benchmark spec {p}: unknown key '{unknown[0]}' (valid: {', '.join(sorted(known))})")
    for key in ("base", "runs"):
        if key not in raw:
            raise ConfigError(f"benchmark spec {p}: missing key '{key}'")
    teachers = raw.get("teachers") or {"default": []}
    runs = []
    fields = set(RunSpec.__dataclass_fields__)
    for i, r in enumerate(raw["runs"]):
        if not isinstance(r, dict) or "id" not in r:
            raise ConfigError(f"benchmark spec {p}: runs[{i}] needs an 'id'")
        bad = sorted(set(r) - fields)
        if bad:
            raise ConfigError(f"benchmark spec {p}: runs[{i}] ({r['id']}): unknown key '{bad[0]}' "
                              f"(valid: {', '.join(sorted(fields))})")
        run = RunSpec(**r)
        if run.job not in ("student", "distill"):
            raise ConfigError(f"benchmark spec {p}: run '{run.id}': job must be student or distill, got '{run.job}'")
        if run.job == "distill" and not run.method:
            raise ConfigError(f"benchmark spec {p}: run '{run.id}': a distill run needs a 'method'")
        if run.teacher and run.teacher not in teachers:
            raise ConfigError(f"benchmark spec {p}: run '{run.id}': teacher '{run.teacher}' is not in teachers "
                              f"({', '.join(teachers)})")
        runs.append(run)
    ids = [r.id for r in runs]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ConfigError(f"benchmark spec {p}: duplicate run id '{dup[0]}'")
    figures = raw.get("figures")
    if figures is not None:
        known_ids = set(ids) | {f"teacher-{t}" for t in teachers}
        if not isinstance(figures, list) or not figures or any(f not in known_ids for f in figures):
            raise ConfigError(f"benchmark spec {p}: figures must list run ids or 'teacher-<name>' of this spec, "
                              f"got {figures!r}")
    baseline = raw.get("baseline")
    if baseline is None:
        students = [r.id for r in runs if r.job == "student"]
        baseline = "student" if "student" in students else (students[0] if students else None)
    for where, b in [("baseline", baseline)] + [(f"run '{r.id}': baseline", r.baseline) for r in runs if r.baseline]:
        if b is not None and b not in ids:
            raise ConfigError(f"benchmark spec {p}: {where} must be one of the run ids ({', '.join(ids)}), "
                              f"got {b!r}")
    return BenchSpec(name=raw.get("name", p.stem), path=p, base=(p.parent / raw["base"]).resolve(),
                     seeds=list(raw.get("seeds", [0])), set=list(raw.get("set") or []),
                     teachers={k: list(v or []) for k, v in teachers.items()}, runs=runs,
                     figures=list(figures) if figures else None, baseline=baseline)


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
        return load_config(self.spec.base, [*self.spec.set, *self.extra, f"seed={seed}", *overrides])

    def teacher_dir(self, seed: int, name: str) -> Path:
        return self.out / f"seed{seed}" / f"teacher-{name}"

    def plan(self) -> list[tuple[int, str, object]]:
        """(seed, kind, spec) in execution order: the teachers the runs need (every seed), then the runs,
        run-major (all seeds of the first run, then the next), so a benchmark stopped early has complete
        rows rather than one seed of everything."""
        steps: list[tuple[int, str, object]] = []
        runs = [r for r in self.spec.runs if not self.only or r.id in self.only]
        needed = {r.teacher or self.spec.main_teacher for r in runs if r.job == "distill"}
        for name in self.spec.teachers:
            if name in needed or not self.only:
                steps += [(seed, "teacher", name) for seed in self.spec.seeds]
        for r in runs:
            steps += [(seed, "run", r) for seed in self.spec.seeds]
        return steps

    def _teacher_of(self, seed: int, item) -> Path | None:
        if not isinstance(item, RunSpec) or item.job != "distill":
            return None
        return self.teacher_dir(seed, item.teacher or self.spec.main_teacher)

    def _run_dir(self, seed: int, kind: str, item) -> Path:
        return self.teacher_dir(seed, item) if kind == "teacher" else self.out / f"seed{seed}" / item.id

    def run(self, jobs: int = 1) -> dict:
        """Run every unfinished step; ``jobs`` > 1 runs that many steps at once in worker processes
        (each with ``cores // jobs`` torch threads), a distillation run starting once its teacher is done."""
        steps = [s for s in self.plan() if not (self._run_dir(*s) / "results.json").exists()]
        t0 = time.time()
        n = len(steps)
        if jobs <= 1:
            for k, (seed, kind, item) in enumerate(steps, 1):
                self._execute(k, n, seed, kind, item, t0)
            return self.summary()
        import multiprocessing as mp
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        threads = max(1, _cpu_count() // jobs)
        pending = list(enumerate(steps, 1))
        running: dict = {}
        with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                                 initargs=(threads,)) as pool:
            while pending or running:
                active = {self._run_dir(s, kd, it) for (_, s, kd, it) in running.values()}
                for entry in list(pending):
                    if len(running) >= jobs:
                        break
                    k, (seed, kind, item) = entry
                    tdir = self._teacher_of(seed, item)
                    if tdir is not None and (tdir in active or any(
                            self._run_dir(s, kd, it) == tdir for _, (s, kd, it) in pending)):
                        continue  # its teacher is still to be trained
                    pending.remove(entry)
                    fut = pool.submit(self._execute, k, n, seed, kind, item, t0)
                    running[fut] = (k, seed, kind, item)
                    active.add(self._run_dir(seed, kind, item))
                if not running:
                    break
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in done:
                    running.pop(fut)
                    fut.result()  # re-raise anything unexpected (a run's own failure is recorded, not raised)
        return self.summary()

    def _execute(self, k: int, n: int, seed: int, kind: str, item, t0: float) -> None:
        """Train one step (teacher or run) unless finished; a failure is written to ``failed.txt``."""
        from vskd.engine import pipeline

        run_dir = self._run_dir(seed, kind, item)
        if kind == "teacher":
            cfg = self.config(seed, self.spec.teachers[item])
            job, label = pipeline.train_teacher, f"teacher-{item}"
        else:
            ov = list(item.set)
            if item.job == "distill":
                tdir = self._teacher_of(seed, item)
                if not (tdir / "results.json").exists():
                    self._fail(run_dir, f"teacher {tdir} did not finish")
                    print(f"[bench] ({k}/{n}) seed {seed} {item.id} skipped: teacher {tdir.name} did not finish",
                          flush=True)
                    return
                ov = [f"distill.teacher_checkpoint={tdir / 'best.pt'}", f"distill.method={item.method}", *ov]
            cfg = self.config(seed, ov)
            job = pipeline.train_student if item.job == "student" else pipeline.distill
            label = item.id
        if (run_dir / "results.json").exists():
            return
        (run_dir / "failed.txt").unlink(missing_ok=True)
        started = time.time()
        print(f"[bench] ({k}/{n}) seed {seed} {label} ...", flush=True)
        try:
            res = job(cfg, run_dir, resume=(run_dir / "last.pt").exists(), progress=self.progress)
        except (VskdError, RuntimeError, ValueError) as exc:
            self._fail(run_dir, f"{exc.__class__.__name__}: {exc}\n{traceback.format_exc()}")
            print(f"[bench] ({k}/{n}) seed {seed} {label} FAILED: {exc}", flush=True)
            return
        print(f"[bench] ({k}/{n}) seed {seed} {label}: test acc {res['test']['accuracy']:.4f} "
              f"macro-F1 {res['test']['macro_f1']:.4f} (val {res['val']['accuracy']:.4f}) "
              f"in {time.time() - started:.0f} s; {time.time() - t0:.0f} s elapsed", flush=True)

    @staticmethod
    def _fail(run_dir: Path, message: str) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "failed.txt").write_text(message)

    # ------------------------------------------------------------------ summary
    def summary(self) -> dict:
        rows: dict[str, dict] = {}
        entries = [(f"teacher-{n}", "teacher", None, n, "teachers", f"teacher ({n})") for n in self.spec.teachers]
        entries += [(r.id, r.job, r.method, (r.teacher or self.spec.main_teacher) if r.job == "distill" else None,
                     r.group, r.label or r.id) for r in self.spec.runs]
        for rid, job, method, teacher, group, label in entries:
            seeds, failed = {}, {}
            for seed in self.spec.seeds:
                d = self.out / f"seed{seed}" / rid
                if (d / "results.json").exists():
                    res = json.loads((d / "results.json").read_text())
                    seeds[str(seed)] = {"test_accuracy": res["test"]["accuracy"], "test_macro_f1": res["test"]["macro_f1"],
                                        "val_accuracy": res["val"]["accuracy"], "best_epoch": res["best_epoch"],
                                        "wall_s": res.get("wall_s")}
                elif (d / "failed.txt").exists():
                    failed[str(seed)] = (d / "failed.txt").read_text().splitlines()[0]
            row = {"label": label, "job": job, "method": method, "teacher": teacher, "group": group,
                   "seeds": seeds, "failed": failed}
            for key in ("test_accuracy", "test_macro_f1", "val_accuracy"):
                vals = [s[key] for s in seeds.values()]
                row[key] = {"mean": statistics.fmean(vals) if vals else None,
                            "std": statistics.stdev(vals) if len(vals) > 1 else (0.0 if vals else None),
                            "n": len(vals)}
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


def paired_difference(run: dict[str, float], baseline: dict[str, float]) -> dict:
    """``run - baseline`` over the seeds both have: mean, sample std, 95 % Student-t interval, wins.

    With differences ``d_1..d_n``: ``mean = sum(d)/n``, ``std`` the sample standard deviation (n - 1),
    ``ci95 = mean -+ t_{0.975, n-1} * std / sqrt(n)`` (None below 2 seeds), ``wins`` the number of seeds
    with ``d > 0`` and ``losses`` with ``d < 0``.
    """
    from scipy.stats import t as student_t

    seeds = sorted(set(run) & set(baseline), key=lambda s: (len(s), s))
    d = [run[s] - baseline[s] for s in seeds]
    n = len(d)
    out = {"n": n, "seeds": seeds, "mean": statistics.fmean(d) if d else None,
           "std": statistics.stdev(d) if n > 1 else None, "ci95": None,
           "wins": sum(x > 0 for x in d), "losses": sum(x < 0 for x in d)}
    if n > 1:
        half = float(student_t.ppf(0.975, n - 1)) * out["std"] / n ** 0.5
        out["ci95"] = [out["mean"] - half, out["mean"] + half]
    return out


def _pm(stat: dict) -> str:
    if stat["mean"] is None:
        return "—"
    return f"{100 * stat['mean']:.1f} ± {100 * stat['std']:.1f}"


def format_difference(diff: dict | None) -> str:
    """``+2.3 [-2.8, +7.4], 2/3 higher`` (points of %), ``—`` without paired seeds."""
    if not diff or not diff["n"]:
        return "—"
    text = f"{100 * diff['mean']:+.1f}"
    if diff["ci95"]:
        lo, hi = diff["ci95"]
        text += f" [{100 * lo:+.1f}, {100 * hi:+.1f}]"
    return f"{text}, {diff['wins']}/{diff['n']} higher"


def _compared(summary: dict) -> bool:
    """Whether any run of the summary has a paired Δ against a baseline."""
    return any("vs_baseline" in row for row in summary["runs"].values())


def markdown_tables(summary: dict) -> str:
    groups: dict[str, list] = {}
    for rid, row in summary["runs"].items():
        groups.setdefault(row["group"], []).append((rid, row))
    compared = _compared(summary)
    delta = ["Δ acc (95% CI)", "Δ F1 (95% CI)", "vs"] if compared else []
    out = []
    for group, items in groups.items():
        head = ["run", "method", "teacher", "test acc (%)", "test macro-F1 (%)", "val acc (%)", "seeds", *delta]
        out += [f"### {group}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for rid, row in items:
            n = row["test_accuracy"]["n"]
            fail = f" ({len(row['failed'])} failed)" if row["failed"] else ""
            cells = [row["label"], row["method"] or row["job"], row["teacher"] or "—", _pm(row["test_accuracy"]),
                     _pm(row["test_macro_f1"]), _pm(row["val_accuracy"]), f"{n}{fail}"]
            if compared:
                vs = row.get("vs_baseline") or {}
                cells += [format_difference(vs.get("test_accuracy")), format_difference(vs.get("test_macro_f1")),
                          row.get("baseline") or "—"]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def bar_label(rid: str, row: dict, width: int = 28) -> str:
    """A bar's tick label: the run's label, or its id when the label is too long to fit under a bar
    ("VSKD defaults, augmentation, 60 epochs, ...")."""
    return row["label"] if len(row["label"]) <= width else rid


def plot_bars(summary: dict, path: Path, groups=("main",)) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = [(bar_label(rid, row), row["test_accuracy"]) for rid, row in summary["runs"].items()
             if row["group"] in groups and row["test_accuracy"]["mean"] is not None]
    if not items:
        return
    labels = [i[0] for i in items]
    means = [100 * i[1]["mean"] for i in items]
    stds = [100 * i[1]["std"] for i in items]
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(items) + 2), 4))
    ax.bar(range(len(items)), means, yerr=stds, capsize=3, color="#4c72b0")
    ax.set_xticks(range(len(items)), labels, rotation=60, ha="right")
    ax.set_ylabel("test accuracy (%)")
    lo = max(0, min(m - s for m, s in zip(means, stds)) - 5)
    ax.set_ylim(lo, min(100, max(m + s for m, s in zip(means, stds)) + 3))
    ax.set_title(f"{summary['benchmark']}: mean ± std over seeds {summary['seeds']}")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_curves(out: Path, seed: int, run_ids: list[str], path: Path) -> None:
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for rid in run_ids:
        f = out / f"seed{seed}" / rid / "metrics.csv"
        if not f.exists():
            continue
        rows = list(csv.DictReader(f.open()))
        ax.plot([int(r["epoch"]) for r in rows], [100 * float(r["val_accuracy"]) for r in rows], label=rid)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_results(bench: Bench, summary: dict, results_dir: str | Path, command: str, wall_s: float) -> Path:
    """``<name>.json``, ``<name>.md`` and plots under ``results_dir`` (e.g. docs/results)."""
    import shutil

    rd = Path(results_dir)
    img = rd / "img" / summary["benchmark"]
    img.mkdir(parents=True, exist_ok=True)
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {_cpu_count()} CPU cores, no GPU",
            "command": command, "wall_s_this_invocation": round(wall_s, 1),
            "wall_s_sum_of_runs": round(sum(s.get("wall_s") or 0 for r in summary["runs"].values()
                                            for s in r["seeds"].values()), 1)}
    summary = {**summary, **meta}
    (rd / f"{summary['benchmark']}.json").write_text(json.dumps(summary, indent=2))
    groups = {row["group"] for row in summary["runs"].values()}
    plot_bars(summary, img / "bars.png", groups=("main", "teachers") if "main" in groups else tuple(groups))
    first = bench.spec.seeds[0]
    shown = figure_runs(bench)
    plot_curves(bench.out, first, shown, img / "curves.png")
    for stale in img.glob("confusion_*.png"):  # from an earlier summary that showed other runs
        if stale.stem.removeprefix("confusion_") not in shown:
            stale.unlink()
    for rid in shown:
        src = bench.out / f"seed{first}" / rid / "test_confusion.png"
        if src.exists():
            shutil.copyfile(src, img / f"confusion_{rid}.png")
    md = [f"# {summary['benchmark']}", "",
          f"- date: {meta['date']}; machine: {meta['machine']}",
          f"- command: `{command}`",
          f"- spec: `{_relative(summary['spec'])}`; seeds {summary['seeds']}",
          f"- wall time: {meta['wall_s_sum_of_runs'] / 3600:.2f} h summed over runs",
          "", "Test top-1 accuracy and macro-F1 (%), mean ± std over seeds; every model selected on the "
          "validation split (held-out training subject), the test split read once per run."
          + (" Δ: the paired difference from the run named under 'vs', seed by seed, in points: mean "
             "[95 % Student-t interval over seeds], and on how many seeds the run was higher."
             if _compared(summary) else ""), "",
          markdown_tables(summary), "",
          f"![bars](img/{summary['benchmark']}/bars.png)", "",
          (f"Learning curves (seed {first}) and confusion matrices (`img/{summary['benchmark']}/confusion_*.png`) "
           f"of: {', '.join(f'`{r}`' for r in shown)}."), "",
          f"![curves](img/{summary['benchmark']}/curves.png)", ""]
    notes = rd / f"{summary['benchmark']}.notes.md"  # hand-written discussion, kept across re-runs
    if notes.exists():
        md += ["## Discussion", "", notes.read_text()]
    (rd / f"{summary['benchmark']}.md").write_text("\n".join(md))
    return rd / f"{summary['benchmark']}.json"


def figure_runs(bench: Bench) -> list[str]:
    """The runs the learning curves and confusion matrices show: the spec's ``figures``, else the main
    teacher and the runs called ``student`` and ``dask``."""
    if bench.spec.figures:
        return list(bench.spec.figures)
    return [f"teacher-{bench.spec.main_teacher}", "student", "dask"]


def _relative(path: str) -> str:
    p = Path(path).resolve()
    try:
        return p.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return p.as_posix()


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
