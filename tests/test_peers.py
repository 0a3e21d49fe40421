"""Time-series peers (aeon): the students' data, fitted on train only, results files, bench rows, no aeon."""

import json
import sys

import numpy as np
import pytest

from vskd.cli import main
from vskd.config import load_config
from vskd.errors import ConfigError

SYN = ["data.dataset=synthetic", "data.preset=tiny"]


def _flat(ov):
    return [x for o in ov for x in ("--set", o)]


@pytest.fixture(scope="module")
def aeon():
    return pytest.importorskip("aeon")


@pytest.fixture(scope="module")
def tiny_peer(aeon, tmp_path_factory):
    """``vskd peers`` on the tiny synthetic set: MiniRocket with 84 kernels (one per base kernel)."""
    out = tmp_path_factory.mktemp("peers")
    ov = SYN + [f"data.cache_dir={out / 'cache'}"]
    assert main(["peers", *_flat(ov), "--peer", "minirocket", "--option", "minirocket.n_kernels=84",
                 "--out", str(out)]) == 0
    return out, ov


def test_cli_peer_run_writes_a_finished_run(tiny_peer, capsys):
    out, ov = tiny_peer
    res = json.loads((out / "minirocket" / "results.json").read_text())
    assert res["kind"] == "peer" and res["peer"] == "minirocket" and "MiniRocketClassifier" in res["estimator"]
    assert res["params"]["n_kernels"] == 84 and res["params"]["random_state"] == 0  # the config's seed
    assert res["length"] == 180 and res["axes"] == ["acc_x", "acc_y", "acc_z"]
    assert res["fit_s"] > 0 and res["predict_s"] > 0
    assert 0.0 <= res["test"]["accuracy"] <= 1.0 and res["test"]["macro_f1"] <= 1.0
    test = json.loads((out / "minirocket" / "test.json").read_text())
    assert test["accuracy"] == res["test"]["accuracy"] and (out / "minirocket" / "config.yaml").exists()


def test_peer_fits_on_the_students_training_split_and_matches_aeon(tiny_peer):
    """Same recordings, split and axes as the students: the run equals aeon fitted by hand on the
    training split's windows (linearly resampled to 180 samples), and predicts the test split."""
    from aeon.classification.convolution_based import MiniRocketClassifier

    from vskd.data.paired import raw_window
    from vskd.engine.evaluate import classification_metrics
    from vskd.engine.pipeline import load_data

    out, ov = tiny_peer
    cfg = load_config(None, ov)
    _, splits, names = load_data(cfg)
    res = json.loads((out / "minirocket" / "results.json").read_text())
    assert res["num_train"] == len(splits.train) and res["num_test"] == len(splits.test)

    def windows(recs):
        xs = []
        for r in recs:
            w, _ = raw_window(r, cfg.student.input.axes)
            t = np.linspace(0, len(w) - 1, 180)
            xs.append(np.stack([np.interp(t, np.arange(len(w)), w[:, c]) for c in range(w.shape[1])]))
        return np.stack(xs).astype(np.float64), np.array([r.label for r in recs])

    clf = MiniRocketClassifier(n_kernels=84, random_state=0).fit(*windows(splits.train))
    x, y = windows(splits.test)
    expected = classification_metrics(y, clf.predict(x), len(names))
    assert res["test"]["accuracy"] == pytest.approx(expected["accuracy"])
    assert res["test"]["macro_f1"] == pytest.approx(expected["macro_f1"])


def test_windows_resample_or_crop(aeon):
    from vskd.data.paired import raw_window
    from vskd.data.datasets import load_recordings
    from vskd.engine.peers import peer_windows

    recs = load_recordings("synthetic", preset="tiny")[:3]
    axes = ("acc_x", "acc_y", "acc_z")
    x, y = peer_windows(recs, axes, 50)
    assert x.shape == (3, 3, 50) and x.dtype == np.float64 and list(y) == [r.label for r in recs]
    w, _ = raw_window(recs[0], axes)
    assert x[0, :, 0] == pytest.approx(w[0]) and x[0, :, -1] == pytest.approx(w[-1])  # ends kept
    xc, _ = peer_windows(recs, axes, 50, resample="crop")
    assert xc[1].T == pytest.approx(raw_window(recs[1], axes, 50)[0])


def test_bad_peer_options_are_one_line(aeon, capsys):
    from vskd.engine.peers import PeerSpec, build_peer

    with pytest.raises(ConfigError, match="unknown option 'kernels'.*n_kernels"):
        build_peer("minirocket", {"kernels": 10})
    with pytest.raises(ConfigError, match="random_state comes from the config's seed"):
        build_peer("rocket", {"random_state": 3})
    with pytest.raises(ConfigError, match="unknown peer 'inception'"):
        PeerSpec("inception")
    with pytest.raises(ConfigError, match="length must be an integer >= 9"):
        PeerSpec("rocket", length=4)
    assert main(["peers", "--peer", "minirocket", "--option", "n_kernels=10"]) == 2
    assert "--option expects PEER.KEY=VALUE" in capsys.readouterr().err


def test_without_aeon_the_command_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "aeon.classification.convolution_based", None)  # import fails
    assert main(["peers", *_flat(SYN)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "needs aeon" in err and "pip install 'vskd[peers]'" in err


BENCH = """
name: peer-bench
base: base.yaml
seeds: [0]
runs:
  - {{id: student, job: student}}
  - {{id: minirocket, kind: peer, peer: minirocket, options: {{n_kernels: 84}}, group: peers}}
set: {set}
"""


def test_peer_rows_in_bench_tables_and_plots(aeon, tmp_path):
    """A bench with a peer run: the peer is run (the student's finished run is reused), its row is in the
    summary with a Δ against the student, marked in the markdown table, and drawn in the bar plot."""
    from vskd.engine.bench import Bench, PEER_NOTE, load_spec, markdown_tables, write_results
    from vskd.engine.bench.report import bar_items

    (tmp_path / "base.yaml").write_text("name: tiny\ndata: {dataset: synthetic, preset: tiny}\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(BENCH.format(set=json.dumps([f"data.cache_dir={tmp_path / 'cache'}"])))
    b = Bench(load_spec(spec), tmp_path / "runs", only=["student", "minirocket"])  # no teacher needed
    student = tmp_path / "runs" / "seed0" / "student"  # a finished student run (not retrained)
    student.mkdir(parents=True)
    (student / "results.json").write_text(json.dumps({"kind": "student", "best_epoch": 3, "wall_s": 1.0,
                                                      "val": {"accuracy": 0.5, "macro_f1": 0.5},
                                                      "test": {"accuracy": 0.25, "macro_f1": 0.2}}))
    summary = b.run()
    row = summary["runs"]["minirocket"]
    res = json.loads((tmp_path / "runs" / "seed0" / "minirocket" / "results.json").read_text())
    assert row["job"] == "peer" and row["method"] == "minirocket" and row["teacher"] is None
    assert row["test_accuracy"]["mean"] == res["test"]["accuracy"] and "fit_s" in row["seeds"]["0"]
    assert row["vs_baseline"]["test_accuracy"]["mean"] == pytest.approx(res["test"]["accuracy"] - 0.25)
    table = markdown_tables(summary)
    assert f"| minirocket | peer: minirocket | {PEER_NOTE} |" in table
    assert "| student | student | — |" in table
    assert [i[2] for i in bar_items(summary, groups=("main",))] == [False, True]  # the peer, whatever its group
    write_results(b, summary, tmp_path / "results", "vskd bench peer-bench", 1.0)
    assert (tmp_path / "results" / "img" / "peer-bench" / "bars.png").exists()
    assert PEER_NOTE in (tmp_path / "results" / "peer-bench.md").read_text()


@pytest.mark.parametrize("run, needle", [
    ("{id: p, kind: peer}", "needs a 'peer'"),
    ("{id: p, kind: peer, peer: hivecote}", "unknown peer 'hivecote'"),
    ("{id: p, kind: peer, peer: rocket, method: kd}", "a peer run has no 'method'"),
    ("{id: p, kind: peer, peer: rocket, resample: fft}", "resample must be one of"),
    ("{id: p, kind: notebook}", "kind must be train or peer"),
    ("{id: p, job: student, peer: rocket}", "'peer' is for peer runs"),
])
def test_peer_spec_errors(tmp_path, run, needle):
    from vskd.engine.bench import load_spec

    p = tmp_path / "s.yaml"
    p.write_text(f"base: b.yaml\nruns: [{run}]\n")
    with pytest.raises(ConfigError, match=needle):
        load_spec(p)



_THREADS = """
import torch  # before numpy, as in a vskd worker: then numba and torch share one OpenMP runtime
import sys, numpy as np
torch.set_num_threads(1)
torch.get_num_threads()  # read once (vskd.threads does): after that, numba's pool launch overrides it
if sys.argv[1] == "bare":
    from aeon.classification.convolution_based import RocketClassifier
    RocketClassifier(n_kernels=50, random_state=0).fit(np.random.default_rng(0).normal(size=(12, 3, 40)), np.arange(12) % 3)
else:
    from vskd.config import load_config
    from vskd.engine.peers import PeerSpec, run_peer
    run_peer(load_config(None, ["data.preset=tiny"]), sys.argv[2], PeerSpec("rocket", {"n_kernels": 50}))
print(torch.get_num_threads())
"""


def test_a_peer_run_gives_torch_its_threads_back(aeon, tmp_path):
    """aeon's first fit in a process launches numba's OpenMP pool, which sets the process's OpenMP
    threads (torch's too, when torch loaded first and has read its count) to numba's (measured: torch
    1 -> 2 on the 2-core machine, inside a bench worker); run_peer must
    leave torch's count as it found it, or every torch step after a peer in a ``bench --jobs`` worker
    oversubscribes the cores. Fresh processes: the pool is launched once per process."""
    import os
    import subprocess

    from vskd.threads import cpu_count

    env = {**os.environ, "NUMBA_NUM_THREADS": "2", "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("OMP_NUM_THREADS", None)

    def threads(*args) -> int:
        out = subprocess.run([sys.executable, "-c", _THREADS, *args], env=env, capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        return int(out.stdout.strip().splitlines()[-1])

    assert threads("vskd", str(tmp_path / "rocket")) == 1
    if cpu_count() < 2:
        pytest.skip("one core: numba's pool has one thread, so the control cannot show the change")
    assert threads("bare") == 2  # the control: unguarded, aeon changed torch's threads
