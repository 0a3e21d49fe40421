"""Cross-validated selection: leave-one-group-out folds, the chosen-epoch rule, the refit on all of train."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_protocols import fake
from vskd.data.protocols import fold_groups, make_folds, make_splits
from vskd.data.recording import Recording, RecordingKey, Source
from vskd.engine.cv import choose_epoch, fold_config, refit_config, summarise
from vskd.errors import ConfigError, DataError, VskdError

#: a raw-signal student on 4 synthetic subjects (2 training subjects: 2 folds), a few seconds per fit
TINY_CV = ["data.preset=tiny", "data.synthetic={subjects: 4}", "student.arch=watch1d", "student.input.length=48",
           "student.train.epochs=2", "student.train.batch_size=8"]


def check_folds(recs, folds, protocol, unit):
    whole = make_splits(recs, protocol, val="none")
    train_keys = {r.key for r in whole.train}
    test_keys = {r.key for r in whole.test}
    vals = [{r.key for r in f.val} for f in folds]
    for f, v in zip(folds, vals):
        assert v and {r.key for r in f.train} | v == train_keys  # each fold covers the training side
        assert not ({r.key for r in f.train} & v)  # ... with its held-out group apart
        assert {r.key for r in f.test} == test_keys  # test untouched, never in train or validation
        assert not (({r.key for r in f.train} | v) & test_keys)
        assert len(f.groups["val"]) == 1
    assert sum(len(v) for v in vals) == len(train_keys) and set().union(*vals) == train_keys  # disjoint cover
    return [f.groups["val"][0] for f in folds]


def test_leave_one_subject_out_on_synthetic_numbering():
    recs = fake()
    folds = make_folds(recs, "cross-subject")
    assert check_folds(recs, folds, "cross-subject", "subject") == [1, 3, 5, 7]
    assert all(not any(r.key.subject % 2 == 0 for r in f.train + f.val) for f in folds)


def test_leave_one_trial_out_for_subject_specific():
    recs = fake()
    folds = make_folds(recs, "subject-specific")
    assert check_folds(recs, folds, "subject-specific", "trial") == [1, 2]


def test_leave_one_camera_out_for_cross_view():
    recs = [Recording(RecordingKey("fake-views", a, s, c), a - 1,
                      {"inertial": Source(lambda: None, meta={"camera": c})})
            for a in (1, 2) for s in (1, 2) for c in (1, 2, 3, 4)]
    folds = make_folds(recs, "cross-view")
    assert check_folds(recs, folds, "cross-view", "camera") == [1, 2, 3]  # camera 4 tests


def test_validation_choice_is_ignored_and_one_group_is_refused():
    recs = fake()
    assert fold_groups(recs, "cross-subject", val_subjects=[7]) == [1, 3, 5, 7]
    with pytest.raises(DataError, match="at least two training subjects"):
        make_folds(fake(subjects=[1, 2]), "cross-subject")


@pytest.mark.realdata
def test_utd_mhad_folds_are_the_four_training_subjects(utd_root: Path):
    from vskd.data.utd_mhad import list_recordings

    recs = list_recordings(utd_root, modalities=["inertial"])
    folds = make_folds(recs, "cross-subject")
    assert check_folds(recs, folds, "cross-subject", "subject") == [1, 3, 5, 7]
    assert sum(len(f.val) for f in folds) == 431  # subjects 1, 3, 5, 7
    assert all({r.key.subject for r in f.test} == {2, 4, 6, 8} for f in folds)
    assert all(len(f.test) == 430 for f in folds)
    assert make_folds(recs, "subject-specific")[0].groups["val"] == [1]


def test_chosen_epoch_is_the_argmax_of_the_mean_curve():
    # per-fold maxima (epochs 2 and 3) differ from the best common epoch
    curves = [[0.5, 0.9, 0.6], [0.6, 0.5, 0.9], [0.7, 0.8, 0.7]]
    epoch, mean = choose_epoch(curves)
    assert mean == pytest.approx([0.6, 0.7333333, 0.7333333])
    assert epoch == 2  # tie between epochs 2 and 3: the earlier one
    cv = summarise({1: curves[0], 3: curves[1], 5: curves[2]})
    assert cv["chosen_epoch"] == 2 and cv["accuracy"] == pytest.approx(0.7333333)
    assert cv["fold_accuracy"] == {"1": 0.9, "3": 0.5, "5": 0.8}
    assert choose_epoch([[0.1, 0.2, 0.3]]) == (3, [0.1, 0.2, 0.3])
    with pytest.raises(VskdError, match="differ in length"):
        choose_epoch([[0.1, 0.2], [0.3]])


def test_fold_and_refit_configs():
    from vskd.config import load_config
    from vskd.data.datasets import load_splits
    from vskd.engine import jobs

    cfg = load_config(None, TINY_CV + ["data.val_subjects=[3]", "data.selection=cv"])
    fold = fold_config(cfg, 1)
    _, sp, _ = load_splits(fold.data)
    assert {r.key.subject for r in sp.val} == {1} and {r.key.subject for r in sp.train} == {3}
    refit = refit_config(cfg, 7, jobs.train_student)
    assert refit.student.train.epochs == 7 and cfg.student.train.epochs == 2  # the original is untouched
    _, sp, _ = load_splits(refit.data)
    assert sp.val == [] and {r.key.subject for r in sp.train} == {1, 3}  # every training subject
    assert refit_config(cfg, 5, jobs.train_teacher).teacher.train.epochs == 5


def test_selection_choice_is_checked():
    from vskd.config import load_config

    with pytest.raises(ConfigError, match="data.selection"):
        load_config(None, ["data.selection=folds"])


# ------------------------------------------------------------------ end to end (real training)


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory):
    from test_e2e import sets

    from vskd.cli import main

    root = tmp_path_factory.mktemp("cv")
    ov = TINY_CV + ["student.train.epochs=3", "data.selection=cv", f"data.cache_dir={root / 'cache'}"]
    assert main(["train-student", *sets(ov), "--out", str(root / "run"), "--quiet"]) == 0
    return root / "run", ov


@pytest.mark.slow
def test_cv_run_folds_refit_and_test_once(cv_run):
    run, _ = cv_run
    res = json.loads((run / "results.json").read_text())
    cv = json.loads((run / "cv.json").read_text())
    assert res["selection"] == "cv" and res["cv"]["folds"] == [1, 3]
    curves = [cv["curves"]["1"], cv["curves"]["3"]]
    assert all(len(c) == 3 for c in curves)
    assert res["cv"]["chosen_epoch"] == choose_epoch(curves)[0] == res["best_epoch"]
    assert res["val"]["accuracy"] == pytest.approx(choose_epoch(curves)[1][res["best_epoch"] - 1])
    assert res["test"]["accuracy"] is not None and (run / "test.json").exists()
    for g in (1, 3):  # the folds never read the test split
        fold = run / "cv" / f"fold-{g}"
        assert json.loads((fold / "results.json").read_text())["test"] is None
        assert not (fold / "test.json").exists()


@pytest.mark.slow
def test_refit_trains_on_all_training_subjects_for_the_chosen_epochs(cv_run):
    import torch

    from vskd.config import load_config
    from vskd.data.datasets import load_splits

    run, _ = cv_run
    res = json.loads((run / "results.json").read_text())
    cfg = load_config(run / "config.yaml")
    assert cfg.student.train.epochs == res["cv"]["chosen_epoch"]
    _, sp, _ = load_splits(cfg.data)
    assert {r.key.subject for r in sp.train} == {1, 3} and sp.val == []
    rows = (run / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + res["cv"]["chosen_epoch"]  # refit: no validation, every epoch logged
    best = torch.load(run / "best.pt", weights_only=True)
    assert best["epoch"] + 1 == res["cv"]["chosen_epoch"]  # the last epoch is kept
    assert best["history"][-1]["val_accuracy"] is None


@pytest.mark.slow
def test_cv_resumes_without_retraining_finished_folds(cv_run, capsys):
    from test_e2e import sets

    from vskd.cli import main

    run, ov = cv_run
    stamp = (run / "cv" / "fold-1" / "best.pt").stat().st_mtime_ns
    # a finished fold keeps its model and curve, not its resume state (nothing reads it again)
    folds = list((run / "cv").glob("fold-*"))
    assert len(folds) > 1 and all((f / "best.pt").exists() and not (f / "last.pt").exists() for f in folds)
    assert main(["train-student", *sets(ov), "--out", str(run), "--quiet"]) == 2  # without --resume: refused
    assert "--resume" in capsys.readouterr().err
    (run / "results.json").unlink()  # as if stopped before the refit finished
    (run / "last.pt").unlink()
    # finished folds alone (no refit yet) still mark the folder as started
    assert main(["train-student", *sets(ov), "--out", str(run), "--quiet"]) == 2
    assert "fold-1/results.json" in capsys.readouterr().err
    assert main(["train-student", *sets(ov), "--out", str(run), "--quiet", "--resume"]) == 0
    assert (run / "cv" / "fold-1" / "best.pt").stat().st_mtime_ns == stamp  # the finished fold is skipped
    assert json.loads((run / "results.json").read_text())["selection"] == "cv"


@pytest.mark.slow
def test_distill_with_cv(tmp_path, tiny_teacher):
    from vskd.config import load_config
    from vskd.engine import jobs
    from vskd.engine.cv import cross_validate

    cfg = load_config(None, ["data.preset=tiny", "data.synthetic={subjects: 4}", "student.input.out_size=32",
                             "student.train.epochs=1", "student.train.batch_size=8", "distill.method=kd",
                             f"distill.teacher_checkpoint={tiny_teacher}", f"data.cache_dir={tmp_path / 'cache'}"])
    res = cross_validate(cfg, tmp_path / "run", jobs.distill, progress=False)
    assert res["method"] == "kd" and res["cv"]["folds"] == [1, 3] and res["best_epoch"] == 1


# ------------------------------------------------------------------ benchmarks: --dry-run, cv runs


def _spec(tmp_path, runs: str, teachers: str = "") -> Path:
    from test_e2e import TINY

    base = tmp_path / "base.yaml"
    base.write_text("name: tiny\ndata: {dataset: synthetic}\n")
    ov = TINY + TINY_CV[1:] + ["data.selection=cv", f"data.cache_dir={tmp_path / 'cache'}", "student.train.epochs=2"]
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: tiny-cv\nbase: base.yaml\nseeds: [0]\nset: {json.dumps(ov)}\n{teachers}runs:\n{runs}")
    return spec


def test_dry_run_checks_every_step_and_trains_nothing(tmp_path, capsys):
    from vskd.cli import main

    spec = _spec(tmp_path, "  - {id: student, job: student}\n  - {id: kd, method: kd}\n",
                 "teachers:\n  rgb: []\n")
    assert main(["bench", str(spec), "--out", str(tmp_path / "runs"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "seed 0 teacher-rgb: teacher" in out and "seed 0 kd: distill kd from rgb, cross-subject, selection cv" in out
    assert "3 steps planned, 3 to run" in out and not (tmp_path / "runs").exists()
    bad = _spec(tmp_path, "  - {id: fitnet-raw, method: fitnet, set: [student.arch=minirocket]}\n",
                "teachers:\n  rgb: []\n")
    assert main(["bench", str(bad), "--out", str(tmp_path / "runs"), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert "fitnet-raw (seed 0)" in err and "cannot distil into the minirocket student" in err and "\n" not in err
    # the teacher's side too: the temporal-CNN skeleton teacher has maps block1..3, no block4 (SP's default)
    skel = _spec(tmp_path, "  - {id: sp-skel, method: sp, teacher: skel, set: [student.arch=watch1d]}\n",
                 "teachers:\n  skel: [teacher.arch=skeleton, teacher.input.modality=skeleton, "
                 "'data.synthetic={subjects: 4, skeleton_layout: kinect}']\n")
    assert main(["bench", str(skel), "--out", str(tmp_path / "runs"), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert "sp-skel (seed 0)" in err and "method 'sp' reads the teacher's 'block4'" in err and "\n" not in err
    assert "the skel teacher does not have (its features: logits, emb, pooled, block1, block2, block3)" in err


@pytest.mark.slow
def test_bench_run_with_cv_selection(tmp_path):
    from vskd.engine.bench import Bench, load_spec

    b = Bench(load_spec(_spec(tmp_path, "  - {id: student, job: student}\n")), tmp_path / "runs")
    summary = b.run()
    row = summary["runs"]["student"]
    res = json.loads((tmp_path / "runs" / "seed0" / "student" / "results.json").read_text())
    assert res["selection"] == "cv" and res["cv"]["folds"] == [1, 3]
    assert row["val_accuracy"]["mean"] == pytest.approx(res["cv"]["accuracy"])  # the CV accuracy ranks runs
    assert row["seeds"]["0"]["best_epoch"] == res["cv"]["chosen_epoch"]
    assert row["seeds"]["0"]["wall_s"] == pytest.approx(res["wall_s"] + res["cv_wall_s"])  # folds counted


@pytest.mark.slow
@pytest.mark.realdata
def test_v2_spec_validates(utd_root, capsys, tmp_path, monkeypatch):
    from vskd.cli import main

    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the spec's data.root is relative to a checkout
    assert main(["bench", "utd-mhad", "--preset", "v2", "--dry-run", "--out", str(tmp_path / "v2"),
                 "--set", f"data.root={utd_root}"]) == 0
    out = capsys.readouterr().out
    assert "subject-specific, selection cv" in out and "cross-subject, selection cv" in out
    assert "seed 4 dask-skeleton-untrained-ss" in out and "peer rocket" in out
