"""The benchmark runner: spec validation, a tiny benchmark end to end, resume without redoing work."""

import json

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
    return b, summary, root


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
    assert (tmp_path / "tiny-bench.md").read_text().count("| student |") == 1
    assert (tmp_path / "img" / "tiny-bench" / "bars.png").exists()
    assert (tmp_path / "img" / "tiny-bench" / "confusion_student.png").exists()


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
])
def test_spec_errors(tmp_path, text, needle):
    p = tmp_path / "s.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_spec(p)


def test_shipped_specs_load():
    from pathlib import Path

    for p in sorted((Path(__file__).resolve().parents[1] / "configs" / "bench").glob("*.yaml")):
        spec = load_spec(p)
        assert spec.base.is_file(), p
        assert any(r.method == "dask" for r in spec.runs)
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
    f.write_text(json.dumps({**json.loads(f.read_text()), "command": "vskd bench tiny --jobs 2"}))
    assert main(["bench", str(b.spec.path), "--out", str(b.out), "--summarise", "--results", str(tmp_path)]) == 0
    assert json.loads(f.read_text())["command"] == "vskd bench tiny --jobs 2"
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
