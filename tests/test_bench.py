"""The benchmark runner: spec validation, a tiny benchmark end to end, resume without redoing work."""

import json
import shutil

import pytest

from vskd.engine.bench import Bench, load_spec, markdown_tables, write_results
from vskd.errors import ConfigError

from test_e2e import TINY

SPEC = """
name: tiny-bench
base: {base}
seeds: [0]
set: {set}
teachers:
  rgb: []
runs:
  - {{id: student, job: student}}
  - {{id: dask, method: dask}}
  - {{id: dask-unpaired, method: dask, set: [distill.pairing=unpaired], group: ablation}}
"""


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    base = root / "base.yaml"
    base.write_text("name: tiny\ndata: {dataset: synthetic}\n")
    ov = TINY + [f"data.cache_dir={root / 'cache'}", "teacher.train.epochs=1", "student.train.epochs=1"]
    spec = root / "spec.yaml"
    spec.write_text(SPEC.format(base=base.name, set=json.dumps(ov)))
    b = Bench(load_spec(spec), root / "runs")
    summary = b.run()
    yield b, summary, root
    shutil.rmtree(root, ignore_errors=True)  # a module's runs, once its tests are done (disk)


def test_runs_and_summary(bench):
    b, summary, root = bench
    runs = summary["runs"]
    assert set(runs) == {"teacher-rgb", "student", "dask", "dask-unpaired"}
    for rid, row in runs.items():
        assert row["test_accuracy"]["n"] == 1, rid
        assert 0 <= row["test_accuracy"]["mean"] <= 1
        assert row["test_accuracy"]["std"] == 0.0
    assert runs["dask-unpaired"]["group"] == "ablation"
    res = json.loads((root / "runs" / "seed0" / "dask-unpaired" / "results.json").read_text())
    assert res["pairing"] == "unpaired"
    table = markdown_tables(summary)
    assert "| dask-unpaired | dask | rgb |" in table


def test_second_run_reuses_everything(bench, capsys):
    b, _, root = bench
    f = root / "runs" / "seed0" / "dask" / "results.json"
    before = f.stat().st_mtime_ns
    b.run()
    assert f.stat().st_mtime_ns == before
    assert "[bench]" not in capsys.readouterr().out  # nothing was trained again


def test_write_results(bench, tmp_path):
    b, summary, _ = bench
    path = write_results(b, summary, tmp_path, "vskd bench tiny", 1.0)
    data = json.loads(path.read_text())
    assert data["command"] == "vskd bench tiny" and "machine" in data and "date" in data
    assert (tmp_path / "tiny-bench.md").read_text().count("| student | student |") == 1
    assert (tmp_path / "img" / "tiny-bench" / "bars.png").exists()
    assert (tmp_path / "img" / "tiny-bench" / "confusion_student.png").exists()
    md = (tmp_path / "tiny-bench.md").read_text()
    assert "every model selected on the validation split" in md and "## Where the time went" in md
    assert summary["runs"]["student"]["selection"] == "val"


def _row(job, group, selection, walls):
    return {"job": job, "group": group, "selection": selection,
            "seeds": {str(i): {"wall_s": w} for i, w in enumerate(walls)}}


def test_selection_sentence_names_cv_and_validation_rows():
    from vskd.engine.bench.report import selection_sentence

    runs = {"t": _row("teacher", "teachers", "val", [1]), "s": _row("student", "cv", "cv", [1]),
            "p": _row("peer", "peers", None, [1])}
    text = selection_sentence({"runs": runs})
    assert text.startswith("every student selected by cross-validation") and "Teachers trained by gradient select" in text
    assert "Closed-form" not in text
    runs["c"] = _row("teacher", "teachers", "cv", [1])  # a closed-form teacher, cross-validated
    assert "Closed-form teachers (fitted, not trained) are cross-validated" in selection_sentence({"runs": runs})
    del runs["c"]
    runs["v"] = _row("student", "old", "val", [1])
    text = selection_sentence({"runs": runs})
    assert "`data.selection: cv` were selected by cross-validation" in text and "validation split" in text
    assert selection_sentence({"runs": {"v": runs["v"]}}).startswith("every model selected on the validation")


def test_time_breakdown_sums_by_group():
    from vskd.engine.bench.report import time_breakdown

    runs = {"a": _row("student", "g1", "cv", [60, 120, 180]), "b": _row("student", "g1", "cv", [600]),
            "c": _row("teacher", "teachers", "val", [3600]), "d": _row("student", "g2", None, [])}
    lines = time_breakdown({"runs": runs})
    assert "| teachers | 1 | 1.00 | 79 % | 60.0 |" in lines  # 3600 of 4560 s (79 %), the largest first
    assert "| g1 | 4 | 0.27 | 21 % | 2.5 |" in lines  # median of 60, 120, 180, 600 s
    assert lines.index("| teachers | 1 | 1.00 | 79 % | 60.0 |") < lines.index("| g1 | 4 | 0.27 | 21 % | 2.5 |")
    assert not any(line.startswith("| g2 ") for line in lines) and "| all | 5 | 1.27 | 100 % | — |" in lines
    assert time_breakdown({"runs": {"d": runs["d"]}}) == []


@pytest.mark.parametrize("text, needle", [
    ("base: b.yaml\n", "missing key 'runs'"),
    ("base: b.yaml\nruns: [{job: student}]\n", "needs an 'id'"),
    ("base: b.yaml\nruns: [{id: a, method: kd}, {id: a, job: student}]\n", "duplicate run id 'a'"),
    ("base: b.yaml\nruns: [{id: a}]\n", "needs a 'method'"),
    ("base: b.yaml\nruns: [{id: a, job: teach}]\n", "job must be"),
    ("base: b.yaml\nruns: [{id: a, method: kd, teacher: x}]\n", "teacher 'x'"),
    ("base: b.yaml\nruns: [{id: a, method: kd, colour: red}]\n", "unknown key 'colour'"),
    ("base: b.yaml\nrun: []\n", "unknown key 'run'"),
    ("base: b.yaml\nruns: [{id: a, job: student}]\nfigures: [b]\n", "figures must list run ids"),
    ("base: b.yaml\nruns: [{id: a, job: student}]\nbaseline: b\n", "baseline must be one of the run ids"),
    ("base: b.yaml\nruns: [{id: a, job: student}, {id: c, method: kd, baseline: d}]\n", "run 'c': baseline must"),
    ("base: b.yaml\nrecipes: {r: [a=1]}\nruns: [{id: a, job: student, recipe: q}]\n", "run 'a': recipe 'q' is not in"),
    ("base: b.yaml\nruns: [{id: a, job: student, recipe: q}]\n", "the spec has none"),
    ("base: b.yaml\nrecipes: {r: a=1}\nruns: [{id: a, job: student}]\n", "recipes must map names to lists"),
    ("base: b.yaml\nrecipes: {r: [a=1]}\nruns: [{id: a, job: student, recipe: {r: 1}}]\n", "recipe must be a name"),
])
def test_spec_errors(tmp_path, text, needle):
    p = tmp_path / "s.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_spec(p)


def test_recipes_expand_into_set_in_order(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("base: b.yaml\nrecipes: {fast: [student.train.epochs=2, student.train.lr=0.1], ss: [data.protocol=x]}\n"
                 "runs:\n  - {id: a, job: student, recipe: fast, set: [student.train.lr=0.2]}\n"
                 "  - {id: b, job: student, recipe: [fast, ss]}\n  - {id: c, job: student}\n")
    runs = {r.id: r for r in load_spec(p).runs}
    # the recipe's overrides come first, so a run's own set wins (load_config applies them in order)
    assert runs["a"].set == ["student.train.epochs=2", "student.train.lr=0.1", "student.train.lr=0.2"]
    assert runs["b"].set == ["student.train.epochs=2", "student.train.lr=0.1", "data.protocol=x"]
    assert runs["c"].set == [] and runs["b"].recipe == ["fast", "ss"]


def test_shipped_specs_load():
    from pathlib import Path

    for p in sorted((Path(__file__).resolve().parents[1] / "configs" / "bench").glob("*.yaml")):
        spec = load_spec(p)
        assert spec.base.is_file(), p
        assert spec.runs, p
        if any(r.job == "distill" for r in spec.runs):  # a students-and-peers spec distils nothing
            assert any(r.method == "dask" for r in spec.runs), p
        bench = Bench(spec, "unused")
        for r in spec.runs:  # every run's overrides give a valid config (a typo fails here, not hours in)
            bench.config(spec.seeds[0], list(r.set))


def test_bench_command_summarises_finished_runs(bench, tmp_path, capsys):
    from vskd.cli import main

    b, _, root = bench
    assert main(["bench", str(b.spec.path), "--out", str(b.out), "--summarise", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| student | student |" in out
    assert (tmp_path / "tiny-bench.json").exists()
    # a later summary keeps the command that trained the runs, not its own
    import json

    f = tmp_path / "tiny-bench.json"
    f.write_text(json.dumps({**json.loads(f.read_text()), "command": "vskd bench tiny --jobs 2",
                             "wall_s_this_invocation": 1234.5}))
    assert main(["bench", str(b.spec.path), "--out", str(b.out), "--summarise", "--results", str(tmp_path)]) == 0
    assert json.loads(f.read_text())["command"] == "vskd bench tiny --jobs 2"
    assert json.loads(f.read_text())["wall_s_this_invocation"] == 1234.5  # and its wall time
    assert "`vskd bench tiny --jobs 2`" in (tmp_path / "tiny-bench.md").read_text()
    capsys.readouterr()
    assert main(["bench", "nosuch", "--preset", "cpu"]) == 2
    assert "benchmark spec not found" in capsys.readouterr().err


def test_parallel_jobs_wait_for_their_teacher(bench, tmp_path):
    """--jobs 2: worker processes run the steps; a distillation run starts only after its teacher ended."""
    b, serial, root = bench
    par = Bench(b.spec, tmp_path / "runs")
    summary = par.run(jobs=2)
    assert {rid for rid, row in summary["runs"].items() if row["test_accuracy"]["n"] == 1} == set(serial["runs"])
    seed = tmp_path / "runs" / "seed0"
    teacher_done = (seed / "teacher-rgb" / "results.json").stat().st_mtime_ns
    for rid in ("dask", "dask-unpaired"):
        assert (seed / rid / "config.yaml").stat().st_mtime_ns >= teacher_done, rid
    # same seeds, same data: the student alone reaches what the serial run reached
    assert summary["runs"]["student"]["test_accuracy"]["mean"] == pytest.approx(
        serial["runs"]["student"]["test_accuracy"]["mean"], abs=0.1)


def test_figures_follow_the_spec_and_stale_ones_go(bench, tmp_path):
    import dataclasses

    from vskd.engine.bench import figure_runs

    b, summary, _ = bench
    assert figure_runs(b) == [f"teacher-{b.spec.main_teacher}", "student", "dask"]  # default
    chosen = Bench(dataclasses.replace(b.spec, figures=["dask-unpaired"]), b.out)
    (tmp_path / "img" / "tiny-bench").mkdir(parents=True)
    (tmp_path / "img" / "tiny-bench" / "confusion_student.png").write_bytes(b"stale")
    write_results(chosen, summary, tmp_path, "vskd bench tiny", 1.0)
    assert (tmp_path / "img" / "tiny-bench" / "confusion_dask-unpaired.png").exists()
    assert not (tmp_path / "img" / "tiny-bench" / "confusion_student.png").exists()  # stale figure removed
    assert "of: `dask-unpaired`." in (tmp_path / "tiny-bench.md").read_text()


def test_bar_labels_fall_back_to_the_run_id_when_too_long():
    from vskd.engine.bench import bar_label

    assert bar_label("student", {"label": "student alone (CE)"}) == "student alone (CE)"
    long = {"label": "VSKD defaults, augmentation, 60 epochs, same-class shuffled teacher targets"}
    assert bar_label("r3-dask-aug-60-shuffled", long) == "r3-dask-aug-60-shuffled"


def test_default_baseline_is_the_student_alone(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("base: b.yaml\nruns: [{id: kd, method: kd}, {id: s60, job: student}, {id: s30, job: student}]\n")
    assert load_spec(p).baseline == "s60"           # no run called 'student': the first student job
    p.write_text("base: b.yaml\nruns: [{id: kd, method: kd}]\n")
    assert load_spec(p).baseline is None


def test_paired_difference_by_hand_and_against_scipy():
    from scipy.stats import ttest_rel

    from vskd.engine.bench import format_difference, paired_difference

    run = {"0": 0.5, "1": 0.7, "2": 0.6, "3": 0.9}     # seed 3 has no baseline: left out
    base = {"0": 0.4, "1": 0.5, "2": 0.6}
    d = paired_difference(run, base)                    # differences 0.1, 0.2, 0.0
    assert d["n"] == 3 and d["seeds"] == ["0", "1", "2"]
    assert d["mean"] == pytest.approx(0.1) and d["std"] == pytest.approx(0.1)
    half = 4.302652729911275 * 0.1 / 3 ** 0.5          # t_{0.975, 2}
    assert d["ci95"] == pytest.approx([0.1 - half, 0.1 + half])
    assert (d["wins"], d["losses"]) == (2, 0)           # a tie is neither
    ci = ttest_rel([0.5, 0.7, 0.6], [0.4, 0.5, 0.6]).confidence_interval(0.95)
    assert d["ci95"] == pytest.approx([ci.low, ci.high])
    assert format_difference(d) == "+10.0 [-14.8, +34.8], 2/3 higher"
    one = paired_difference({"0": 0.3}, {"0": 0.5})
    assert one["ci95"] is None and one["losses"] == 1 and format_difference(one) == "-20.0, 0/1 higher"
    assert paired_difference({"1": 0.3}, {"0": 0.5})["n"] == 0 and format_difference(None) == "—"


def test_runs_are_compared_with_the_baseline_seed_by_seed(bench):
    b, summary, _ = bench
    assert b.spec.baseline == "student" and summary["baseline"] == "student"
    runs = summary["runs"]
    assert "vs_baseline" not in runs["student"] and "vs_baseline" not in runs["teacher-rgb"]
    vs = runs["dask"]["vs_baseline"]["test_accuracy"]
    assert vs["n"] == 1 and vs["mean"] == pytest.approx(
        runs["dask"]["test_accuracy"]["mean"] - runs["student"]["test_accuracy"]["mean"])
    table = markdown_tables(summary)
    assert "| Δ acc (95% CI) | Δ F1 (95% CI) | vs |" in table
    row = next(line for line in table.splitlines() if line.startswith("| dask |"))
    assert row.endswith("/1 higher | student |")
    # a spec without a student job has no baseline and no Δ columns
    import dataclasses

    plain = Bench(dataclasses.replace(b.spec, baseline=None), b.out).summary()
    assert plain["baseline"] is None and "Δ" not in markdown_tables(plain)
    # a run may name its own baseline
    runs = [dataclasses.replace(r, baseline="dask") if r.id == "dask-unpaired" else r for r in b.spec.runs]
    own = Bench(dataclasses.replace(b.spec, runs=runs), b.out).summary()["runs"]
    assert own["dask-unpaired"]["baseline"] == "dask" and own["dask"]["baseline"] == "student"
    assert own["dask-unpaired"]["vs_baseline"]["test_accuracy"]["mean"] == pytest.approx(
        own["dask-unpaired"]["test_accuracy"]["mean"] - own["dask"]["test_accuracy"]["mean"])


def test_a_spec_without_teachers_trains_none_unless_a_run_distils(tmp_path):
    """A students-and-peers spec (no 'teachers:' key) plans no teacher and shows no teacher row; a
    distillation run in it still gets the implicit 'default' teacher; declared teachers always train."""
    base = tmp_path / "base.yaml"
    base.write_text("name: tiny\ndata: {dataset: synthetic}\n")

    def plan(body: str):
        p = tmp_path / "spec.yaml"
        p.write_text(f"base: {base.name}\nseeds: [0, 1]\n{body}")
        b = Bench(load_spec(p), tmp_path / "runs")
        return [(seed, kind, item if kind == "teacher" else item.id) for seed, kind, item in b.plan()], b

    steps, b = plan("runs:\n  - {id: student, job: student}\n")
    assert [s for s in steps if s[1] == "teacher"] == []
    assert "teacher-default" not in b.summary()["runs"]
    steps, b = plan("runs:\n  - {id: student, job: student}\n  - {id: dask, method: dask}\n")
    assert [s for s in steps if s[1] == "teacher"] == [(0, "teacher", "default"), (1, "teacher", "default")]
    assert "teacher-default" in b.summary()["runs"]
    steps, _ = plan("teachers: {rgb: []}\nruns:\n  - {id: student, job: student}\n")
    assert [s for s in steps if s[1] == "teacher"] == [(0, "teacher", "rgb"), (1, "teacher", "rgb")]


def test_a_fusion_teacher_over_the_benchs_own_steps(tmp_path):
    # {out} and {seed} name a member trained by this bench: the member runs (every seed) before the
    # teacher, the pool waits for it, and the teacher's config points at that seed's checkpoint
    from vskd.engine.bench.executors import run_pool

    base = tmp_path / "base.yaml"
    base.write_text("name: tiny\ndata: {dataset: synthetic}\n")
    ov = TINY + [f"data.cache_dir={tmp_path / 'cache'}", "teacher.train.epochs=1", "student.train.epochs=1"]
    members = ("teacher.members=[{checkpoint: '{out}/seed{seed}/teacher-rgb/best.pt', name: video}, "
               "{checkpoint: '{out}/seed{seed}/wrist/best.pt', name: inertial}]")
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"base: {base.name}\nseeds: [0, 1]\nset: {json.dumps(ov)}\n"
                    "teachers:\n  rgb: []\n"
                    f"  fusion: [teacher.arch=fusion, teacher.fusion=ensemble, {json.dumps(members)}]\n"
                    "runs:\n  - {id: wrist, job: student, set: [student.arch=watch1d, student.input.length=64]}\n"
                    "  - {id: dask-fusion, method: dask, teacher: fusion}\n")
    b = Bench(load_spec(spec), tmp_path / "runs", only=["dask-fusion"])
    order = [(s, k, it if k == "teacher" else it.id) for s, k, it in b.plan()]
    assert order == [(0, "run", "wrist"), (1, "run", "wrist"), (0, "teacher", "rgb"), (1, "teacher", "rgb"),
                     (0, "teacher", "fusion"), (1, "teacher", "fusion"), (0, "run", "dask-fusion"),
                     (1, "run", "dask-fusion")]
    assert b.depends_on(1, "fusion") == [tmp_path / "runs" / "seed1" / "teacher-rgb", tmp_path / "runs" / "seed1" / "wrist"]
    cfg = b.config(1, b.spec.teachers["fusion"])
    assert [m.checkpoint for m in cfg.teacher.members] == [
        f"{(tmp_path / 'runs').as_posix()}/seed1/teacher-rgb/best.pt", f"{(tmp_path / 'runs').as_posix()}/seed1/wrist/best.pt"]
    # a member that did not finish: the teacher is skipped with a line naming it, not trained half-built
    b.execute(1, 1, 0, "teacher", "fusion", 0.0)
    assert "did not finish: teacher-rgb, wrist" in (tmp_path / "runs" / "seed0" / "teacher-fusion" / "failed.txt").read_text()
    run_pool(b, b.pending(), 0.0, jobs=2)
    res = json.loads((tmp_path / "runs" / "seed1" / "dask-fusion" / "results.json").read_text())
    assert res["test"] is not None
    t = json.loads((tmp_path / "runs" / "seed1" / "teacher-fusion" / "results.json").read_text())
    assert t["test"] is not None


def test_rows_without_a_finished_seed_are_one_line(bench):
    import dataclasses

    from vskd.engine.bench.spec import RunSpec

    b, _, _ = bench
    spec = dataclasses.replace(b.spec, runs=[*b.spec.runs, RunSpec(id="later", job="student", group="extra")])
    table = markdown_tables(Bench(spec, b.out).summary())
    assert "### extra" not in table and "| later |" not in table  # no empty group, no empty row
    assert table.rstrip().endswith("Not run yet (no finished seed, 1 of 5 rows): `later`.")
    assert "| dask |" in table


def test_a_pool_worker_ends_when_its_bench_is_gone():
    # a killed `vskd bench --jobs N` must not leave workers training the run folders a restart resumes
    import subprocess
    import sys
    import time

    code = ("import os, time\nfrom vskd.engine.bench.executors import exit_when_orphaned\n"
            "exit_when_orphaned(os.getppid() + 999999, poll_s=0.05)\ntime.sleep(30)\n")
    start = time.time()
    proc = subprocess.run([sys.executable, "-c", code], timeout=20)
    assert proc.returncode == 1 and time.time() - start < 15  # ended by the watcher, not the sleep


def test_a_teacher_built_from_itself_is_one_line(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("name: tiny\ndata: {dataset: synthetic}\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"base: {base.name}\nteachers:\n"
                    "  a: [\"teacher.members=[{checkpoint: '{out}/seed{seed}/teacher-b/best.pt'}]\"]\n"
                    "  b: [\"teacher.members=[{checkpoint: '{out}/seed{seed}/teacher-a/best.pt'}]\"]\n"
                    "runs:\n  - {id: d, method: dask, teacher: a}\n")
    with pytest.raises(ConfigError, match=r"teacher 'a' is built from itself \(a -> b -> a\)"):
        Bench(load_spec(spec), tmp_path / "runs").plan()
