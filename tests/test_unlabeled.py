"""Unlabelled paired recordings (``distill.unlabeled``, issue 18): the split, the masked cross-entropy,
the jobs, the label-poisoning test, bad input and the bench spec.

The poisoning tests run a tiny job twice, the second time with every *unlabelled* recording's label
replaced by another class, and require the trained weights and the logged losses to be bit-equal; a
control poisons a *labelled* recording instead and requires them to differ (so the comparison can fail).
The jobs run on the tiny synthetic preset (4 classes, subjects 1, 3, 5 train, 7 validation; trial 1
labelled, trial 2 not): a depth-video teacher of one epoch, shared by the module, and a watch1d student.
The tests that train are marked ``slow`` (about 3-5 CPU seconds each, plus 8 for the shared teacher).
"""

from __future__ import annotations

import dataclasses
import math
import shutil

import pytest
import torch

from vskd.config import load_config
from vskd.data.datasets import load_splits
from vskd.data.labels import require_modality, split_labeled
from vskd.engine import builders, jobs
from vskd.errors import ConfigError, DataError, VskdWarning
from vskd.losses.functional import masked_cross_entropy

from test_bad_input import assert_one_line_error, run_cli, sets

BASE = ["data.preset=tiny", "teacher.backbone=resnet18", "teacher.partial_bn=false", "teacher.input.modality=depth",
        "teacher.input.num_segments=2", "teacher.input.frame_size=32", "teacher.input.crop_size=32",
        "teacher.train.epochs=1", "teacher.train.batch_size=8", "teacher.train.lr_steps=[]",
        "student.arch=watch1d", "student.input.length=64", "student.train.epochs=2", "student.train.batch_size=8"]
TRIAL1 = ["distill.unlabeled.trials=[1]"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """(root, overrides with the module's cache folder)."""
    root = tmp_path_factory.mktemp("unlabeled")
    yield root, BASE + [f"data.cache_dir={root / 'cache'}"]
    shutil.rmtree(root, ignore_errors=True)  # a module's runs, once its tests are done (disk)


@pytest.fixture(scope="module")
def teacher(work):
    """best.pt of a one-epoch depth teacher trained on the labelled part (trial 1) only."""
    root, ov = work
    res = jobs.train_teacher(load_config(None, ov + TRIAL1), root / "teacher", progress=False)
    assert res["labels"] == {"labeled": 12, "unlabeled": 12}
    return root / "teacher" / "best.pt"


def tiny_splits(ov=()):
    cfg = load_config(None, ["data.preset=tiny", *ov])
    return builders.load_data(cfg)


# ------------------------------------------------------------------------------------------ the split

def test_trials_subjects_split_the_training_part_only():
    _, full, names = load_splits(load_config(None, ["data.preset=tiny"]).data)
    _, by_trial, _ = tiny_splits(TRIAL1)
    assert {r.key.trial for r in by_trial.train} == {1} and {r.key.trial for r in by_trial.unlabeled} == {2}
    assert sorted(r.key for r in by_trial.train + by_trial.unlabeled) == [r.key for r in full.train]
    assert [r.key for r in by_trial.val] == [r.key for r in full.val]  # validation and test untouched
    assert [r.key for r in by_trial.test] == [r.key for r in full.test]
    assert [r.key for r in by_trial.paired_train] == [r.key for r in full.train]
    assert by_trial.sizes() == {"train": 12, "val": 8, "test": 32, "unlabeled": 12}
    _, by_subject, _ = tiny_splits(["distill.unlabeled.subjects=[1, 3]"])
    assert {r.key.subject for r in by_subject.train} == {1, 3}
    assert {r.key.subject for r in by_subject.unlabeled} == {5}
    # a validation subject may be named (it is labelled anyway); it adds nothing to the training part
    _, with_val, _ = tiny_splits(["distill.unlabeled.subjects=[1, 7]"])
    assert {r.key.subject for r in with_val.train} == {1}
    assert [r.key for r in with_val.val] == [r.key for r in full.val]


def test_fraction_is_stratified_and_fixed_by_its_own_seed():
    _, full, _ = load_splits(load_config(None, ["data.preset=tiny"]).data)
    a = split_labeled(full, fraction=0.5, seed=0)
    for c in range(4):  # 6 training recordings per class: 3 labelled each
        assert sum(r.label == c for r in a.train) == 3 and sum(r.label == c for r in a.unlabeled) == 3
    again = split_labeled(full, fraction=0.5, seed=0)
    assert [r.key for r in again.train] == [r.key for r in a.train]
    others = {tuple(r.key for r in split_labeled(full, fraction=0.5, seed=s).train) for s in range(1, 6)}
    assert len(others | {tuple(r.key for r in a.train)}) > 1  # the seed chooses
    # the training seed does not: two configs that differ in seed only label the same recordings
    _, s0, _ = tiny_splits(["distill.unlabeled.fraction=0.5", "seed=0"])
    _, s9, _ = tiny_splits(["distill.unlabeled.fraction=0.5", "seed=9"])
    assert [r.key for r in s0.train] == [r.key for r in s9.train]
    # round half up, per class: 0.25 of 6 is 1.5 -> 2
    assert len(split_labeled(full, fraction=0.25, seed=0).train) == 8


def test_dataset_hides_unlabelled_labels():
    _, splits, _ = tiny_splits(TRIAL1)
    cfg = load_config(None, ["data.preset=tiny", "student.arch=watch1d", "student.input.length=64"])
    hidden = {r.key for r in splits.unlabeled}
    ds = builders.paired(cfg, splits.paired_train, train=True, unlabeled=hidden)
    for i, rec in enumerate(ds.recordings):
        item = ds[i]
        if rec.key in hidden:
            assert item["label"] == -1 and item["labeled"] is False
        else:
            assert item["label"] == rec.label and item["labeled"] is True
    assert ds.labels.count(-1) == 12
    assert "labeled" not in builders.paired(cfg, splits.train, train=False)[0]  # no mask asked: no key


def test_masked_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(6, 4, requires_grad=True)
    labels = torch.tensor([0, 1, -1, 3, -1, 2])
    mask = labels >= 0
    ce = masked_cross_entropy(logits, labels, mask)
    assert torch.equal(ce, torch.nn.functional.cross_entropy(logits[mask], labels[mask]))
    garbage = torch.where(mask, labels, torch.tensor([7, 7, 2, 7, 0, 7]))  # other unlabelled values
    assert torch.equal(masked_cross_entropy(logits, garbage, mask), ce)
    none = masked_cross_entropy(logits, labels, torch.zeros(6, dtype=torch.bool))
    assert none.item() == 0.0 and math.isfinite(none.item())
    none.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))
    assert torch.equal(masked_cross_entropy(logits, labels.clamp(min=0)),
                       torch.nn.functional.cross_entropy(logits, labels.clamp(min=0)))


# ------------------------------------------------------------------------------------------ poisoning

def _poisoning_load_data(monkeypatch, which: str):
    """Patch the jobs' load_data: the labels of the unlabelled (``which="unlabeled"``) or of one labelled
    (``"labeled"``) training recording become another class."""
    real = builders.load_data

    def poisoned(cfg):
        recordings, splits, names = real(cfg)
        if which == "unlabeled":
            c = len(names)
            bad = [dataclasses.replace(r, label=(r.label + 1 + i % (c - 1)) % c) for i, r in enumerate(splits.unlabeled)]
            assert all(b.label != r.label for b, r in zip(bad, splits.unlabeled))
            splits = dataclasses.replace(splits, unlabeled=bad)
        else:
            first = splits.train[0]
            wrong = dataclasses.replace(first, label=(first.label + 1) % len(names))
            splits = dataclasses.replace(splits, train=[wrong, *splits.train[1:]])
        return recordings, splits, names

    monkeypatch.setattr(jobs, "load_data", poisoned)


def _trained(run):
    ckpt = torch.load(run / "last.pt", weights_only=True)
    losses = [{k: v for k, v in row.items() if k.startswith("train_") or k.startswith("val_")}
              for row in ckpt["history"]]
    return ckpt["trainable"] if "trainable" in ckpt else ckpt["model"], losses, (run / "metrics.csv").read_text()


def _same(a, b) -> bool:
    sa, la, ca = a
    sb, lb, cb = b
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa) and la == lb and ca == cb


@pytest.mark.slow  # trains tiny models (a few CPU seconds each)
def test_distillation_never_reads_an_unlabelled_label(work, teacher, monkeypatch):
    root, ov = work
    cfg = ov + TRIAL1 + [f"distill.teacher_checkpoint={teacher}", "distill.method=dask"]
    clean = jobs.distill(load_config(None, cfg), root / "dask-clean", progress=False)
    assert clean["labels"] == {"labeled": 12, "unlabeled": 12, "unlabeled_pairs": True}
    _poisoning_load_data(monkeypatch, "unlabeled")
    jobs.distill(load_config(None, cfg), root / "dask-poisoned", progress=False)
    a, b = _trained(root / "dask-clean"), _trained(root / "dask-poisoned")
    assert _same(a, b)
    assert a[1][0]["train_distance"] > 0  # the distillation terms ran (on all 24 pairs)


@pytest.mark.slow  # trains tiny models (a few CPU seconds each)
def test_the_labelled_pairs_control_is_the_labelled_subset(work, teacher, monkeypatch):
    """distill.unlabeled.pairs false: the same run as one whose data hold the labelled recordings only."""
    root, ov = work
    cfg = ov + [f"distill.teacher_checkpoint={teacher}", "distill.method=dask", "student.train.epochs=1"]
    res = jobs.distill(load_config(None, cfg + TRIAL1 + ["distill.unlabeled.pairs=false"]), root / "dask-lab",
                       progress=False)
    assert res["labels"] == {"labeled": 12, "unlabeled": 12, "unlabeled_pairs": False}
    real = builders.load_data
    monkeypatch.setattr(jobs, "load_data", lambda c: (lambda r, s, n: (r, dataclasses.replace(s, unlabeled=[]), n))(
        *real(load_config(None, ov + TRIAL1))))
    jobs.distill(load_config(None, cfg), root / "dask-subset", progress=False)
    assert _same(_trained(root / "dask-lab"), _trained(root / "dask-subset"))


@pytest.mark.slow  # trains tiny models (a few CPU seconds each)
def test_student_alone_is_the_labelled_subset(work, monkeypatch):
    root, ov = work
    ov = ov + ["student.train.epochs=1"]
    jobs.train_student(load_config(None, ov + TRIAL1), root / "student", progress=False)
    # the same run with the unlabelled part simply absent from the data: bit-equal
    real = builders.load_data

    def subset(cfg):
        recordings, splits, names = real(load_config(None, ov + TRIAL1))
        return recordings, dataclasses.replace(splits, unlabeled=[]), names

    with monkeypatch.context() as m:
        m.setattr(jobs, "load_data", subset)
        jobs.train_student(load_config(None, ov), root / "student-subset", progress=False)
    assert _same(_trained(root / "student"), _trained(root / "student-subset"))
    with monkeypatch.context() as m:
        _poisoning_load_data(m, "unlabeled")
        jobs.train_student(load_config(None, ov + TRIAL1), root / "student-poisoned", progress=False)
    assert _same(_trained(root / "student"), _trained(root / "student-poisoned"))
    with monkeypatch.context() as m:  # control: a labelled label does reach the loss
        _poisoning_load_data(m, "labeled")
        jobs.train_student(load_config(None, ov + TRIAL1), root / "student-control", progress=False)
    assert not _same(_trained(root / "student"), _trained(root / "student-control"))


@pytest.mark.slow  # trains tiny models (a few CPU seconds each)
def test_a_batch_of_unlabelled_pairs_gives_zero_ce(work, teacher):
    """The distiller on a batch without a labelled item: ce is 0 (not NaN), the method's terms are not."""
    from vskd.data.paired import collate
    from vskd.engine.checkpoints import load_teacher
    from vskd.engine.distiller import Distiller
    from vskd.losses.registry import create_method

    _, ov = work
    cfg = load_config(None, ov + TRIAL1)
    _, splits, names = builders.load_data(cfg)
    t, tmeta = load_teacher(teacher, len(names))
    cfg.teacher = load_config(None, ov).teacher
    student = builders.build_student(cfg, len(names))
    builders.fit_student(student, cfg, splits.paired_train)
    ds = builders.paired(cfg, splits.unlabeled, train=True, teacher=True, unlabeled={r.key for r in splits.unlabeled})
    batch = collate([ds[i] for i in range(4)])
    d = Distiller(student, t, create_method("dask", {}))
    d.setup_method(collate([ds[0]]), num_train=len(ds), num_classes=len(names))
    _, losses = d(batch)
    assert losses["ce"].item() == 0.0 and torch.isfinite(losses["loss"]) and losses["loss"].item() > 0


# ------------------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("ov, needle", [
    (["distill.unlabeled.fraction=1.0"], "config key 'distill.unlabeled.fraction': expected a fraction in (0, 1)"),
    (["distill.unlabeled.fraction=0"], "config key 'distill.unlabeled.fraction': expected a fraction in (0, 1)"),
    (["distill.unlabeled.fraction=-0.5"], "config key 'distill.unlabeled.fraction'"),
    (["distill.unlabeled.labelled=[1]"], "unknown config key 'distill.unlabeled.labelled' (valid keys at "
                                         "'distill.unlabeled': fraction, trials, subjects, seed, pairs)"),
    (["distill.unlabeled.seed=3"],
     "config key 'distill.unlabeled': expected exactly one of fraction, trials, subjects"),
    (["distill.unlabeled.trials=[1]", "distill.unlabeled.subjects=[1]"], "got trials, subjects"),
    (["distill.unlabeled.trials=[]"], "config key 'distill.unlabeled.trials': expected a non-empty list"),
    (["distill.unlabeled.trials=[1]", "distill.pairing=class-shuffled"], "config key 'distill.pairing'"),
])
def test_bad_options_are_one_config_line(ov, needle):
    with pytest.raises(ConfigError) as exc:
        load_config(None, ["data.preset=tiny", *ov])
    assert needle in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("ov, kind, needle", [
    # 0.05 of a class's 6 training recordings is none of them
    (["distill.unlabeled.fraction=0.05"], DataError, "config key 'distill.unlabeled.fraction': 0.05 of the 6 "
                                                      "training recordings of class 0"),
    # subject 7 is the validation subject: no training recording stays labelled
    (["distill.unlabeled.subjects=[7]"], DataError, "config key 'distill.unlabeled' (subjects=[7]) leaves class 0"),
    (["distill.unlabeled.trials=[3]"], ConfigError, "config key 'distill.unlabeled.trials': trials [3] are not on "
                                                    "the training side"),
    (["distill.unlabeled.subjects=[2]"], ConfigError, "subjects [2] are not on the training side"),
])
def test_protocols_without_labels_are_one_line(ov, kind, needle):
    with pytest.raises(kind) as exc:
        tiny_splits(ov)
    assert needle in str(exc.value) and "\n" not in str(exc.value), str(exc.value)


def test_cli_refuses_a_class_without_labels(capsys, tmp_path):
    rc, _, err = run_cli(["train-student", *sets(BASE + ["distill.unlabeled.subjects=[7]"]),
                          "--out", str(tmp_path / "s"), "--quiet"], capsys)
    assert rc == 2
    assert_one_line_error(rc, err, "distill.unlabeled", "without a labelled training recording")


@pytest.mark.slow  # trains tiny models (a few CPU seconds each)
def test_unlabelled_recordings_need_the_teachers_modality(work, teacher, monkeypatch):
    _, splits, _ = tiny_splits(TRIAL1)
    require_modality(splits.unlabeled, "depth")
    stripped = [dataclasses.replace(r, sources={k: v for k, v in r.sources.items() if k != "depth"})
                for r in splits.unlabeled]
    with pytest.raises(DataError, match=r"distill.unlabeled.*12 unlabelled recording\(s\) have no depth"):
        require_modality(stripped, "depth")
    root, ov = work
    real = builders.load_data
    def without_depth(cfg):
        recordings, splits, names = real(cfg)
        return recordings, dataclasses.replace(splits, unlabeled=stripped), names

    monkeypatch.setattr(jobs, "load_data", without_depth)
    with pytest.raises(DataError, match="have no depth"):
        jobs.distill(load_config(None, ov + TRIAL1 + [f"distill.teacher_checkpoint={teacher}"]), root / "no-depth",
                     progress=False)
    assert not (root / "no-depth" / "last.pt").exists()


def test_a_teacher_that_saw_the_unlabelled_labels_is_refused():
    _, splits, _ = tiny_splits(TRIAL1)
    every = [r.name for r in splits.paired_train]
    with pytest.raises(ConfigError, match=r"distill.teacher_checkpoint.*trained on the labels of 12 of this run's"):
        jobs._check_teacher_labels(splits, {"train_keys": every}, "t/best.pt")
    jobs._check_teacher_labels(splits, {"train_keys": [r.name for r in splits.train]}, "t/best.pt")
    with pytest.warns(VskdWarning, match="does not record its training recordings"):
        jobs._check_teacher_labels(splits, {}, "old/best.pt")


@pytest.mark.slow  # trains tiny models (a few CPU seconds each)
def test_teacher_checkpoint_records_its_labelled_recordings(teacher):
    from vskd.engine.checkpoints import load_checkpoint

    meta = load_checkpoint(teacher)["meta"]
    _, splits, _ = tiny_splits(TRIAL1)
    assert meta["train_keys"] == sorted(r.name for r in splits.train)
    assert meta["config"]["distill"]["unlabeled"]["trials"] == [1]


# ------------------------------------------------------------------------------------------ peers, bench

def test_peers_fit_on_the_labelled_part(monkeypatch, tmp_path):
    """run_peer fits on splits.train of builders.load_data: the labelled part (the estimator is replaced
    by a recorder, so the test needs no aeon)."""
    from vskd.engine import peers

    seen = {}

    class Recorder:
        def fit(self, x, y):
            seen["n"], seen["y"] = len(x), list(y)

        def predict(self, x):
            return [0] * len(x)

        def get_params(self):
            return {}

    monkeypatch.setattr(peers, "build_peer", lambda name, options, seed: Recorder())
    import sys
    import types

    monkeypatch.setitem(sys.modules, "aeon", types.SimpleNamespace(__version__="test"))
    res = peers.run_peer(load_config(None, ["data.preset=tiny", "student.input.length=64", *TRIAL1]), tmp_path / "p",
                         peers.PeerSpec("minirocket"))
    _, splits, _ = tiny_splits(TRIAL1)
    assert seen["n"] == res["num_train"] == 12 and seen["y"] == [r.label for r in splits.train]


def test_label_scarce_bench_spec_resolves():
    from vskd.engine.bench import Bench, load_spec
    from vskd.resources import config_path

    spec = load_spec(config_path("bench/utd-mhad-label-scarce.yaml"))
    bench = Bench(spec, "/nonexistent")
    assert len(spec.seeds) == 5
    def budget(u):
        return None if u is None else (u.fraction, u.trials, u.subjects, u.seed)

    settings = {name: bench.config(0, ov).distill.unlabeled for name, ov in spec.teachers.items()}
    assert settings["full"] is None and settings["trial1"].trials == [1] and settings["subj13"].subjects == [1, 3]
    for run in spec.runs:
        u = bench.config(0, list(run.set)).distill.unlabeled
        if run.job == "distill":  # its teacher was trained on the same labelled part
            assert budget(u) == budget(settings[run.teacher]), run.id
        assert (u is None) == (run.group == "full-labels"), run.id
        if run.id.endswith("labeled-pairs"):
            assert u.pairs is False
