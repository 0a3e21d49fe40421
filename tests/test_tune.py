"""``vskd tune``: search spaces, a tiny Optuna study on the synthetic set, resume, pruning, bad input."""

from __future__ import annotations

import csv
import json
import sys

import pytest

from test_cv import TINY_CV
from vskd.config import load_config
from vskd.errors import ConfigError, VskdError

optuna = pytest.importorskip("optuna")

from vskd.engine import tune as tune_mod  # noqa: E402
from vskd.engine.tune import check_space, load_space, trial_config, tune  # noqa: E402

SPACE = """
params:
  student.train.lr: {type: log, low: 1.0e-4, high: 1.0e-2}
  student.input.augment.rotate: {type: categorical, choices: [0, 15]}
"""


def space_file(tmp_path, text, name="space.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def base(tmp_path, *extra):
    return load_config(None, TINY_CV + [f"data.cache_dir={tmp_path / 'cache'}", *extra])


@pytest.mark.parametrize("text, needle", [
    ("params: {student.train.lr: {type: uniform, low: 0.1, high: 1}}", "params.student.train.lr.type"),
    ("params: {student.train.lr: {type: float, low: 1, high: 0.1}}", "params.student.train.lr: expected low < high"),
    ("params: {student.train.lr: {type: log, low: 0, high: 0.1}}", "params.student.train.lr.low"),
    ("params: {student.train.lr: {type: float, low: 0.1}}", "params.student.train.lr: missing 'high'"),
    ("params: {student.train.epochs: {type: int, low: 1.5, high: 4}}", "params.student.train.epochs.low"),
    ("params: {student.input.augment.rotate: {type: categorical, choices: []}}", "params.student.input.augment.rotate.choices"),
    ("params: {student.train.lr: {type: log, low: 1.0e-4, high: 1.0e-2, choices: [1]}}", "unknown key 'choices'"),
    ("params: {}", "params: expected a mapping"),
    ("trials: 3\nparams: {student.train.lr: {type: log, low: 1.0e-4, high: 1.0e-2}}", "unknown key 'trials'"),
    ("pruner: {patience: 2}\nparams: {student.train.lr: {type: log, low: 1.0e-4, high: 1.0e-2}}", "pruner: unknown key 'patience'"),
])
def test_bad_space_is_one_line_naming_the_key(tmp_path, text, needle):
    with pytest.raises(ConfigError) as exc:
        load_space(space_file(tmp_path, text))
    assert needle in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("text, needle", [
    ("params: {student.train.lrr: {type: log, low: 1.0e-4, high: 1.0e-2}}", "params.student.train.lrr"),
    ("params: {student.train.lr: {type: float, low: -1, high: 1}}", "params.student.train.lr = -1"),
    ("params: {student.input.augment.rotate: {type: categorical, choices: [0, 500]}}", "params.student.input.augment.rotate = 500"),
    ("params: {seed.x: {type: int, low: 1, high: 2}}", "params.seed.x"),
])
def test_space_paths_are_checked_against_the_config(tmp_path, text, needle):
    with pytest.raises(ConfigError) as exc:
        check_space(load_space(space_file(tmp_path, text)), load_config(None, []), "student")
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_distill_space_checks_the_method_options(tmp_path):
    sp = load_space(space_file(tmp_path, "params: {distill.options.kd.alphaa: {type: float, low: 0, high: 1}}"))
    with pytest.raises(ConfigError, match="params.distill.options.kd.alphaa"):
        check_space(sp, load_config(None, ["distill.method=kd"]), "distill")
    ok = load_space(space_file(tmp_path, "params: {distill.options.kd.weight: {type: float, low: 0, high: 1}}"))
    check_space(ok, load_config(None, ["distill.method=kd"]), "distill")


def test_trial_config_sets_params_and_the_study_seed():
    cfg = trial_config(load_config(None, []), {"student.train.lr": 0.003, "distill.options.dask.alpha": 0.5,
                                               "student.input.augment.rotate": 15}, seed=7)
    assert cfg.seed == 7 and cfg.student.train.lr == 0.003 and cfg.student.input.augment.rotate == 15
    assert cfg.distill.options["dask"]["alpha"] == 0.5


def test_cli_bad_space_and_missing_optuna(tmp_path, capsys, monkeypatch):
    from vskd.cli import main

    bad = space_file(tmp_path, "params: {student.train.lr: {type: log, low: -1, high: 1}}")
    assert main(["tune", "--space", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "params.student.train.lr.low" in err
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if vskd[tune] were not installed
    assert main(["tune", "--space", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pip install 'vskd[tune]'" in err


@pytest.mark.slow  # CI runs it: two real trials, then a third (about 10 s of CPU)
def test_tiny_study_runs_and_resumes_from_its_storage(tmp_path):
    sp = load_space(space_file(tmp_path, SPACE))
    out = tmp_path / "study"
    first = tune(base(tmp_path), sp, out, trials=2)
    assert [r["state"] for r in first["trials"]] == ["complete", "complete"]
    assert first["folds"] == [1, 3] and first["best"] is not None
    for r in first["trials"]:
        assert 0 <= r["cv_accuracy"] <= 1 and set(r["fold_accuracy"]) == {"1", "3"}
        assert (out / r["dir"] / "cv" / "fold-1" / "results.json").exists()
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("trials/*/cv/*/best.pt")}
    assert len(stamps) == 4
    md = (out / "trials.md").read_text()
    assert "| trial | state | CV accuracy |" in md and "`student.train.lr`" in md
    assert json.loads((out / "trials.json").read_text())["study"] == "student-watch1d"

    second = tune(base(tmp_path), sp, out, trials=3, results=tmp_path / "docs")  # one more trial, none redone
    assert len(second["trials"]) == 3
    assert [r["params"] for r in second["trials"][:2]] == [r["params"] for r in first["trials"]]
    assert [r["cv_accuracy"] for r in second["trials"][:2]] == [r["cv_accuracy"] for r in first["trials"]]
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # the first trials' folds untouched
    assert len(list(out.glob("trials/*/cv/*/best.pt"))) == 6
    assert (tmp_path / "docs" / "tune-student-watch1d.md").exists()
    with pytest.raises(ConfigError, match="seed"):  # the same storage with another study seed
        tune(base(tmp_path), sp, out, trials=3, seed=5)


# ------------------------------------------------------------------ pruning and interrupted trials
# A stand-in job (the folds' curves from the trial's learning rate) exercises Optuna's real pruner and
# storage without training: fold g's validation accuracy is lr * 100 at every epoch, lower on fold 3.


def fake_job(cfg, run_dir, resume=False, progress=False, test=True):
    run_dir.mkdir(parents=True, exist_ok=True)
    g = cfg.data.val_groups[0]
    acc = min(1.0, cfg.student.train.lr * 100) * (0.5 if g == 3 else 1.0)
    with (run_dir / "metrics.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["epoch", "val_accuracy", "val_macro_f1"])
        w.writeheader()
        w.writerows({"epoch": e, "val_accuracy": acc, "val_macro_f1": acc} for e in (1, 2))
    (run_dir / "results.json").write_text(json.dumps({"test": None, "wall_s": 0.0}))
    return {}


def test_median_pruner_stops_a_worse_trial_after_its_first_fold(tmp_path, monkeypatch):
    monkeypatch.setattr(tune_mod, "_job", lambda job: fake_job)
    sp = load_space(space_file(tmp_path, """
pruner: {startup_trials: 1, warmup_folds: 0}
params:
  student.train.lr: {type: categorical, choices: [0.008, 0.002]}
"""))
    out = tmp_path / "study"
    out.mkdir()
    study = optuna.create_study(study_name="student-watch1d", storage=f"sqlite:///{out.resolve()}/study.db",
                                direction="maximize")
    study.enqueue_trial({"student.train.lr": 0.008})
    study.enqueue_trial({"student.train.lr": 0.002})
    table = tune(base(tmp_path), sp, out, trials=2)
    good, bad = table["trials"]
    assert good["state"] == "complete" and good["cv_accuracy"] == pytest.approx(0.6)
    assert bad["state"] == "pruned" and bad["intermediate"] == {"0": pytest.approx(0.2)}
    assert not (out / bad["dir"] / "cv" / "fold-3").exists()  # its second fold was never trained


def test_an_interrupted_trial_is_queued_again(tmp_path, monkeypatch):
    monkeypatch.setattr(tune_mod, "_job", lambda job: fake_job)
    sp = load_space(space_file(tmp_path, "params: {student.train.lr: {type: log, low: 1.0e-3, high: 1.0e-2}}"))
    out = tmp_path / "study"
    tune(base(tmp_path), sp, out, trials=1)
    study = optuna.load_study(study_name="student-watch1d", storage=f"sqlite:///{out.resolve()}/study.db")
    stale = study.ask({"student.train.lr": optuna.distributions.FloatDistribution(1e-3, 1e-2, log=True)})
    lr = stale.params["student.train.lr"]  # left RUNNING, as by a process that was stopped
    table = tune(base(tmp_path), sp, out, trials=2)
    states = [r["state"] for r in table["trials"]]
    assert states == ["complete", "fail", "complete"]
    assert table["trials"][2]["params"]["student.train.lr"] == lr


def test_failed_trial_does_not_stop_the_study(tmp_path, monkeypatch):
    def diverging(cfg, run_dir, **kw):
        raise VskdError("training diverged at epoch 1")

    monkeypatch.setattr(tune_mod, "_job", lambda job: diverging)
    sp = load_space(space_file(tmp_path, "params: {student.train.lr: {type: log, low: 1.0e-3, high: 1.0e-2}}"))
    table = tune(base(tmp_path), sp, tmp_path / "study", trials=2)
    assert [r["state"] for r in table["trials"]] == ["fail", "fail"] and table["best"] is None
    assert "| fail |" in (tmp_path / "study" / "trials.md").read_text()
