"""Cross-subject / subject-specific splits; validation always from the training side."""

from __future__ import annotations

from pathlib import Path

import pytest

from vskd.data.protocols import Splits, make_splits
from vskd.data.recording import Recording, RecordingKey
from vskd.data.utd_mhad import list_recordings
from vskd.errors import ConfigError, DataError


def fake(subjects=range(1, 9), trials=range(1, 5), actions=range(1, 4), dataset="fake") -> list[Recording]:
    return [Recording(RecordingKey(dataset, a, s, t), a - 1) for a in actions for s in subjects for t in trials]


def assert_disjoint(sp: Splits) -> None:
    keys = [{r.key for r in part} for part in (sp.train, sp.val, sp.test)]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])


@pytest.fixture(scope="module")
def utd(utd_root: Path) -> list[Recording]:
    return list_recordings(utd_root, modalities=["inertial"])


@pytest.mark.realdata
def test_utd_cross_subject(utd) -> None:
    sp = make_splits(utd, "cross-subject")
    assert len(sp.train) + len(sp.val) == 431 and len(sp.test) == 430
    assert {r.key.subject for r in sp.val} == {7}
    assert {r.key.subject for r in sp.train} == {1, 3, 5}
    assert {r.key.subject for r in sp.test} == {2, 4, 6, 8}
    assert len(sp.train_and_val) == 431
    assert sp.groups == {"train": [1, 3, 5], "val": [7], "test": [2, 4, 6, 8]}
    assert_disjoint(sp)
    # explicit validation subjects, still from the training side
    sp2 = make_splits(utd, "cross-subject", val_subjects=[1])
    assert {r.key.subject for r in sp2.val} == {1} and len(sp2.train) + len(sp2.val) == 431
    assert {r.key.subject for r in make_splits(utd, "cross-subject", val=[3, 5]).val} == {3, 5}


@pytest.mark.realdata
def test_utd_subject_specific(utd) -> None:
    sp = make_splits(utd, "subject-specific")
    assert len(sp.train) + len(sp.val) == 432 and len(sp.test) == 429
    assert {r.key.trial for r in sp.val} == {2} and {r.key.trial for r in sp.train} == {1}
    assert {r.key.trial for r in sp.test} == {3, 4}
    assert_disjoint(sp)
    sp1 = make_splits(utd, "subject-specific", val_trials=[1])
    assert {r.key.trial for r in sp1.train} == {2} and {r.key.trial for r in sp1.val} == {1}


def test_validation_never_from_test() -> None:
    recs = fake()
    with pytest.raises(ConfigError, match=r"validation subjects \[2\] are not training subjects.*never from test"):
        make_splits(recs, "cross-subject", val_subjects=[2])
    with pytest.raises(ConfigError, match=r"validation trials \[3\]"):
        make_splits(recs, "subject-specific", val=[3])


def test_no_validation_and_explicit_groups() -> None:
    recs = fake()
    sp = make_splits(recs, "cross-subject", val="none")
    assert sp.val == [] and len(sp.train) == len(sp.test) == 48
    sp = make_splits(recs, "cross-subject", train_subjects=[1, 2, 3, 4, 5, 6], test_subjects=[7, 8], val_subjects=[6])
    assert {r.key.subject for r in sp.train} == {1, 2, 3, 4, 5}
    assert {r.key.subject for r in sp.val} == {6} and {r.key.subject for r in sp.test} == {7, 8}
    sp = make_splits(recs, "cross-subject", test_subjects=[8])  # train = every other subject
    assert {r.key.subject for r in sp.train} == {1, 2, 3, 4, 5, 6} and {r.key.subject for r in sp.val} == {7}
    sp = make_splits(recs, "subject-specific", train_trials=[1, 2, 3], test_trials=[4])
    assert {r.key.trial for r in sp.val} == {3} and {r.key.trial for r in sp.train} == {1, 2}
    assert_disjoint(sp)
    # splits are sorted by key whatever the input order
    shuffled = list(reversed(recs))
    assert [r.key for r in make_splits(shuffled).test] == sorted(r.key for r in make_splits(shuffled).test)


def test_other_numbering_uses_odd_even_and_halves() -> None:
    recs = fake(subjects=[10, 11, 12, 13, 14], trials=[1, 2, 3, 4, 5])
    sp = make_splits(recs)
    assert sp.groups == {"train": [11], "val": [13], "test": [10, 12, 14]}
    sp = make_splits(recs, "subject-specific")
    assert sp.groups == {"train": [1, 2], "val": [3], "test": [4, 5]}


def test_errors() -> None:
    recs = fake()
    with pytest.raises(ConfigError, match="unknown protocol 'leave-one-out'"):
        make_splits(recs, "leave-one-out")
    with pytest.raises(ConfigError, match=r"subjects \[3\] are in both"):
        make_splits(recs, train_subjects=[1, 3], test_subjects=[3, 4])
    with pytest.raises(ConfigError, match="apply to the subject-specific protocol"):
        make_splits(recs, "cross-subject", val_trials=[2])
    with pytest.raises(ConfigError, match="apply to the cross-subject protocol"):
        make_splits(recs, "subject-specific", val_subjects=[1])
    with pytest.raises(ConfigError, match="either as val"):
        make_splits(recs, val=[1], val_subjects=[3])
    with pytest.raises(ConfigError, match="expected 'auto', 'none'"):
        make_splits(recs, val="random")
    with pytest.raises(DataError, match="test part is empty"):
        make_splits(fake(subjects=[1, 3, 5]))
    with pytest.raises(DataError, match="cannot hold out a validation subject"):
        make_splits(fake(subjects=[1, 2]))
    assert make_splits(fake(subjects=[1, 2]), val="none").val == []
    with pytest.raises(DataError, match="train part is empty"):
        make_splits(recs, train_subjects=[20], test_subjects=[2], val="none")
    with pytest.raises(DataError, match="no recordings"):
        make_splits([])
