"""``vskd bench --executor ray``: one local Ray session (module-scoped), a teacher and a student that
depends on it; the same results files as the process executor, the teacher first, finished runs skipped."""

import json
import shutil
import sys
import time

import pytest

from vskd.engine.bench import Bench, load_spec
from vskd.errors import VskdError

from test_e2e import TINY

SPEC = """
name: ray-bench
base: base.yaml
seeds: [0]
set: {set}
teachers:
  rgb: []
runs:
  - {{id: dask, method: dask}}
"""


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    t0 = time.time()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    print(f"\n[ray] local session started in {time.time() - t0:.1f} s")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    root = tmp_path_factory.mktemp("raybench")
    (root / "base.yaml").write_text("name: tiny\ndata: {dataset: synthetic}\n")
    ov = TINY + [f"data.cache_dir={root / 'cache'}", "teacher.train.epochs=1", "student.train.epochs=1"]
    (root / "spec.yaml").write_text(SPEC.format(set=json.dumps(ov)))
    yield load_spec(root / "spec.yaml"), root
    shutil.rmtree(root, ignore_errors=True)  # a module's runs, once its tests are done (disk)


def _files(run_root):
    return sorted(p.relative_to(run_root).as_posix() for p in run_root.rglob("*")
                  if p.is_file() and "tensorboard" not in p.parts and not p.name.startswith("events."))


@pytest.mark.slow
def test_ray_runs_the_same_steps_as_the_process_executor(ray_session, spec):
    b_spec, root = spec
    serial = Bench(b_spec, root / "serial").run()
    t0 = time.time()
    ray_bench = Bench(b_spec, root / "ray")
    summary = ray_bench.run(jobs=2, executor="ray")
    print(f"[ray] two steps in {time.time() - t0:.1f} s")
    assert _files(root / "ray") == _files(root / "serial")
    for rid in ("teacher-rgb", "dask"):
        assert summary["runs"][rid]["test_accuracy"]["n"] == 1, rid
    assert summary["runs"]["dask"]["test_accuracy"]["mean"] == pytest.approx(
        serial["runs"]["dask"]["test_accuracy"]["mean"], abs=0.1)
    seed = root / "ray" / "seed0"  # the student started after its teacher had finished
    assert (seed / "dask" / "config.yaml").stat().st_mtime_ns >= (seed / "teacher-rgb" / "results.json").stat().st_mtime_ns
    # a second run resumes: every step is finished, nothing is submitted or rewritten
    before = (seed / "dask" / "results.json").stat().st_mtime_ns
    assert ray_bench.pending() == []
    ray_bench.run(executor="ray")
    assert (seed / "dask" / "results.json").stat().st_mtime_ns == before


def test_ray_resources_and_dependencies(ray_session, spec, monkeypatch):
    """Each step a task with num_cpus = its threads; the student's task gets its teacher's ObjectRef."""
    from vskd.engine.bench import executors

    b_spec, root = spec
    b = Bench(b_spec, root / "deps")
    seen = []

    def fake_step(bench, k, n, seed, kind, item, t0, threads, *after):
        return (kind, threads, len(after))

    monkeypatch.setattr(executors, "_ray_step", fake_step)
    out = executors.run_ray(b, b.pending(), time.time(), threads=2)
    seen = [tuple(o) for o in out]
    assert seen == [("teacher", 2, 0), ("run", 2, 1)]
    assert executors.step_resources(b, 0, "teacher", "rgb", 3) == {"num_cpus": 3, "num_gpus": 0}


def test_without_ray_the_executor_says_how_to_install_it(monkeypatch, spec, capsys):
    from vskd.cli import main

    b_spec, root = spec
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(VskdError, match=r"pip install 'vskd\[ray\]'"):
        Bench(b_spec, root / "noray").run(executor="ray")
    assert main(["bench", str(b_spec.path), "--out", str(root / "noray"), "--executor", "ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "needs Ray" in err
    assert main(["bench", str(b_spec.path), "--address", "ray://x:10001"]) == 2
    assert "--address is for --executor ray" in capsys.readouterr().err
