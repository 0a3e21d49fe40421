"""Benchmark specs: the YAML file parsed and validated into :class:`BenchSpec` (one :class:`RunSpec` per run).

Spec format::

    name: utd-mhad-cpu
    base: ../utd-mhad/cpu.yaml          # relative to the spec file
    seeds: [0, 1, 2]
    set: []                              # overrides applied to every run
    teachers:                            # name -> overrides of train-teacher
      depth: []
      # {out} and {seed} in any override: the output folder and the step's seed; a teacher that names
      # this bench's own steps as {out}/seed{seed}/<step>/ (a fusion teacher's members: a teacher-<name>
      # or a run id) runs after them (vskd.engine.bench.runner.Bench.plan / depends_on)
      fusion: [teacher.arch=fusion, "teacher.members=[{checkpoint: '{out}/seed{seed}/teacher-depth/best.pt'},
               {checkpoint: '{out}/seed{seed}/student/best.pt'}]"]
    runs:
      - {id: student, job: student}
      - {id: dask, method: dask}                          # teacher: the first one listed
      - {id: dask-unpaired, method: dask, set: [distill.pairing=unpaired], group: ablation}
      - {id: dask-skeleton, method: dask, teacher: skeleton, group: teachers}
      - {id: minirocket, kind: peer, peer: minirocket, group: peers}   # aeon, no camera (vskd.engine.peers)
      - {id: rocket-small, kind: peer, peer: rocket, options: {n_kernels: 2000}, length: 180, group: peers}
    recipes:                             # optional: named override lists a run takes with 'recipe'
      tuned: [student.train.lr=1.56e-4, student.train.weight_decay=1.18e-2]
    # - {id: kd-tuned, method: kd, recipe: tuned}            # set = the recipe's overrides, then its own
    # - {id: kd-tuned-ss, method: kd, recipe: [tuned, ss]}   # several recipes, in order
    figures: [teacher-depth, student, dask]   # optional: runs of the curves and confusion matrices
                                              # (default: the first teacher, student, dask)
    baseline: student                         # optional: the run every other run is compared with,
                                              # seed by seed (default: the run 'student', else the
                                              # first student job; none if the spec has none); a run
                                              # may name its own: {id: ..., baseline: student-60}

A run's ``kind`` is ``train`` (default: ``job`` student or distill, trained by :mod:`vskd.engine.jobs`) or
``peer`` (an aeon time-series classifier on the students' data: ``peer`` names it, ``options`` are its
aeon parameters, ``length`` / ``resample`` how windows are brought to one length; see
:mod:`vskd.engine.peers`). Peer rows are marked "no camera, not distillable" in tables and plots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vskd.errors import ConfigError

__all__ = ["BenchSpec", "RunSpec", "load_spec"]

KINDS = ("train", "peer")


@dataclass
class RunSpec:
    id: str
    job: str = "distill"  # student | distill (kind train); "peer" for a peer run
    method: str | None = None
    teacher: str | None = None
    set: list[str] = field(default_factory=list)
    group: str = "main"
    label: str | None = None
    baseline: str | None = None  # compare with this run instead of the spec's baseline
    kind: str = "train"  # train | peer
    peer: str | None = None  # kind peer: minirocket | multirocket-hydra | rocket
    options: dict[str, Any] = field(default_factory=dict)  # kind peer: aeon parameters
    length: int | None = None  # kind peer: samples per window (None: the config's, else 180)
    resample: str = "linear"  # kind peer: linear | crop
    recipe: str | list[str] | None = None  # names in the spec's ``recipes``, applied before ``set``

    @property
    def is_peer(self) -> bool:
        return self.kind == "peer"

    def peer_spec(self):
        """The :class:`vskd.engine.peers.PeerSpec` of a peer run."""
        from vskd.engine.peers import PeerSpec

        return PeerSpec(self.peer, dict(self.options or {}), self.length, self.resample)


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
    #: False when the spec has no ``teachers:`` key: its implicit ``default`` teacher is trained only
    #: for the distillation runs that need it (a students-and-peers spec trains no teacher)
    teachers_declared: bool = True

    @property
    def main_teacher(self) -> str:
        return next(iter(self.teachers))


def _with_recipes(p: Path, r: dict, recipes: dict) -> dict:
    """``r`` with its ``recipe`` names expanded into ``set`` (the recipes' overrides first, in order)."""
    names = r.get("recipe")
    if names is None:
        return r
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"benchmark spec {p}: run '{r['id']}': recipe must be a name or a list of names "
                          f"from 'recipes', got {names!r}")
    unknown = [n for n in names if n not in recipes]
    if unknown:
        raise ConfigError(f"benchmark spec {p}: run '{r['id']}': recipe '{unknown[0]}' is not in recipes "
                          f"({', '.join(recipes) or 'the spec has none'})")
    return {**r, "set": [o for n in names for o in recipes[n]] + list(r.get("set") or [])}


def _run_spec(p: Path, i: int, r, teachers: dict, recipes: dict | None = None) -> RunSpec:
    fields = set(RunSpec.__dataclass_fields__)
    if not isinstance(r, dict) or "id" not in r:
        raise ConfigError(f"benchmark spec {p}: runs[{i}] needs an 'id'")
    bad = sorted(set(r) - fields)
    if bad:
        raise ConfigError(f"benchmark spec {p}: runs[{i}] ({r['id']}): unknown key '{bad[0]}' "
                          f"(valid: {', '.join(sorted(fields))})")
    r = _with_recipes(p, r, recipes or {})
    kind = r.get("kind", "train")
    if kind not in KINDS:
        raise ConfigError(f"benchmark spec {p}: run '{r['id']}': kind must be train or peer, got '{kind}'")
    if kind == "peer":
        misplaced = sorted({"job", "method", "teacher"} & set(r))
        if misplaced:
            raise ConfigError(f"benchmark spec {p}: run '{r['id']}': a peer run has no '{misplaced[0]}' "
                              f"(it trains no network and uses no teacher)")
        if not r.get("peer"):
            raise ConfigError(f"benchmark spec {p}: run '{r['id']}': a peer run needs a 'peer' "
                              f"(minirocket, multirocket-hydra or rocket)")
        run = RunSpec(**{**r, "job": "peer"})
        try:
            run.peer_spec()
        except ConfigError as exc:
            raise ConfigError(f"benchmark spec {p}: run '{run.id}': {exc}") from None
        return run
    extra = sorted({"peer", "options", "length", "resample"} & set(r))
    if extra:
        raise ConfigError(f"benchmark spec {p}: run '{r['id']}': '{extra[0]}' is for peer runs (kind: peer)")
    run = RunSpec(**r)
    if run.job not in ("student", "distill"):
        raise ConfigError(f"benchmark spec {p}: run '{run.id}': job must be student or distill, got '{run.job}'")
    if run.job == "distill" and not run.method:
        raise ConfigError(f"benchmark spec {p}: run '{run.id}': a distill run needs a 'method'")
    if run.teacher and run.teacher not in teachers:
        raise ConfigError(f"benchmark spec {p}: run '{run.id}': teacher '{run.teacher}' is not in teachers "
                          f"({', '.join(teachers)})")
    return run


def load_spec(path: str | Path) -> BenchSpec:
    """Parse and validate a benchmark spec; every mistake is one :class:`ConfigError` line naming the key."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"benchmark spec not found: {p}")
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"benchmark spec {p} is not valid YAML: {str(exc).splitlines()[0]}") from None
    known = {"name", "base", "seeds", "set", "teachers", "runs", "figures", "baseline", "recipes"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"benchmark spec {p}: unknown key '{unknown[0]}' (valid: {', '.join(sorted(known))})")
    for key in ("base", "runs"):
        if key not in raw:
            raise ConfigError(f"benchmark spec {p}: missing key '{key}'")
    teachers_declared = bool(raw.get("teachers"))
    teachers = raw.get("teachers") or {"default": []}
    recipes = raw.get("recipes") or {}
    if not isinstance(recipes, dict) or not all(isinstance(v, list) for v in recipes.values()):
        raise ConfigError(f"benchmark spec {p}: recipes must map names to lists of KEY=VALUE overrides, "
                          f"got {recipes!r}")
    runs = [_run_spec(p, i, r, teachers, recipes) for i, r in enumerate(raw["runs"])]
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
                     figures=list(figures) if figures else None, baseline=baseline,
                     teachers_declared=teachers_declared)
