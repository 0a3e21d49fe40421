"""Evaluation protocols: train / validation / test splits of a list of recordings.

Two protocols from the UTD-MHAD literature (Chen et al., ICIP 2015; also the VSKD authors' lists):

* ``cross-subject``: odd subjects train, even subjects test (UTD-MHAD: subjects 1,3,5,7 -> 431
  recordings, 2,4,6,8 -> 430). Validation is held out of the *training subjects*: by default the last
  odd subject (7 for UTD-MHAD), so model selection sees a subject the model was not trained on, as
  the test does, and never looks at a test subject.
* ``subject-specific``: the first half of the trials train, the rest test (UTD-MHAD: trials 1,2 -> 432,
  trials 3,4 -> 429). Validation is a held-out *training trial*: by default the last training trial (2).

The same odd/even and first-half/second-half rules apply to any dataset's numbering (synthetic,
manifest); explicit ``train_subjects``/``test_subjects``/``val_subjects`` (or ``*_trials``) override
them. The three parts are always disjoint, and validation always comes from the training side.

A dataset's reader declares the protocols it supports and their default groups
(:attr:`vskd.data.registry.DatasetReader.protocols`), e.g. the published subject splits of
Berkeley-MHAD (Ofli et al., WACV 2013: subjects 1-7 train, 8-12 test; validation: subject 7) and
MMAct (Kong et al., ICCV 2019: subjects 1-16 train, 17-20 test; validation: subject 16), whose other
protocols split on the ``camera`` / ``scene`` / ``session`` its sources carry in ``meta``:

* ``cross-view``: cameras 1-3 train, camera 4 tests (validation: camera 3);
* ``cross-scene``: scenes 1-3 train, scene 4 tests (validation: scene 3);
* ``cross-session``: the first half of the sessions train, the rest test (validation: the last training
  session).

A protocol the recordings' registered dataset does not declare is refused (DataError) before splitting;
recordings of an unregistered name (a manifest's own name) follow the generic rules.
(Without a dataset default, ``cross-view`` and ``cross-scene`` test on the highest group present.)
Explicit groups for any protocol: ``train_groups`` / ``test_groups`` / ``val_groups``.

Cross-validation folds (:func:`make_folds`): one fold per training group (leave-one-subject-out over the
training subjects for cross-subject, 4 folds on UTD-MHAD; leave-one-trial-out over the training trials
for subject-specific; leave-one-camera / scene / session-out for the others). Fold ``g`` holds group
``g`` out as its validation part and trains on the other training groups; its test part is the
protocol's test split, unchanged, and no fold ever validates on a test group.

(The VSKD authors select models on the test split every epoch; this module makes that impossible.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from vskd.data.recording import Recording
from vskd.data.registry import registered
from vskd.errors import ConfigError, DataError

PROTOCOLS = ("cross-subject", "subject-specific", "cross-view", "cross-scene", "cross-session")
#: protocol -> the unit it splits on (a RecordingKey field, or a key of the sources' ``meta``)
UNITS = {"cross-subject": "subject", "subject-specific": "trial", "cross-view": "camera",
         "cross-scene": "scene", "cross-session": "session"}  # fmt: skip
__all__ = ["PROTOCOLS", "UNITS", "Splits", "fold_groups", "group_of", "make_folds", "make_splits"]


@dataclass
class Splits:
    """Train / validation / test recordings (each sorted by key) and the groups that define them.

    ``groups`` maps ``train``/``val``/``test`` to the subjects (cross-subject), trials
    (subject-specific), cameras, scenes or sessions in each part. ``unlabeled`` holds the training
    recordings whose labels no loss may read (``distill.unlabeled``, :func:`vskd.data.labels.split_labeled`);
    empty unless asked for, and then ``train`` is the labelled part only.
    """

    train: list[Recording]
    val: list[Recording]
    test: list[Recording]
    protocol: str = "cross-subject"
    groups: dict[str, list[int]] = field(default_factory=dict)
    unlabeled: list[Recording] = field(default_factory=list)

    @property
    def train_and_val(self) -> list[Recording]:
        """The whole training side (train + validation), e.g. to refit once the epochs are chosen."""
        return sorted(self.train + self.val, key=lambda r: r.key)

    @property
    def paired_train(self) -> list[Recording]:
        """Every training recording, labelled and unlabelled (sorted by key): what a distilled student
        and the teacher's output cache see."""
        return sorted(self.train + self.unlabeled, key=lambda r: r.key)

    def sizes(self) -> dict[str, int]:
        out = {"train": len(self.train), "val": len(self.val), "test": len(self.test)}
        if self.unlabeled:
            out["unlabeled"] = len(self.unlabeled)
        return out

    def describe(self) -> str:
        what = UNITS.get(self.protocol, "group") + "s"
        text = f"{self.protocol}: " + ", ".join(
            f"{part} {len(getattr(self, part))} ({what} {self.groups.get(part, [])})" for part in ("train", "val", "test")
        )
        if self.unlabeled:
            text += f"; {len(self.unlabeled)} more training recordings unlabelled"
        return text


def _ints(name: str, values) -> list[int] | None:
    if values is None:
        return None
    if isinstance(values, int):
        values = [values]
    try:
        out = sorted({int(v) for v in values})
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected a list of integers, got {values!r}") from None
    return out


def group_of(rec: Recording, unit: str) -> int:
    """The ``unit`` (subject, trial, camera, scene, session) of a recording; DataError when it has none."""
    if unit in ("subject", "trial"):
        return getattr(rec.key, unit)
    for src in rec.sources.values():
        if unit in src.meta:
            return int(src.meta[unit])
    raise DataError(f"recording {rec.key} has no {unit} (the {unit}-based protocols need sources that carry a '{unit}' in meta, as MMAct's do)")


def make_splits(
    recordings: Sequence[Recording],
    protocol: str = "cross-subject",
    val: str | Sequence[int] | None = "auto",
    *,
    train_subjects: Sequence[int] | None = None,
    test_subjects: Sequence[int] | None = None,
    val_subjects: Sequence[int] | None = None,
    train_trials: Sequence[int] | None = None,
    test_trials: Sequence[int] | None = None,
    val_trials: Sequence[int] | None = None,
    train_groups: Sequence[int] | None = None,
    test_groups: Sequence[int] | None = None,
    val_groups: Sequence[int] | None = None,
) -> Splits:
    """Split ``recordings`` by ``protocol`` into train / validation / test.

    Args:
        recordings: the dataset's recordings.
        protocol: ``"cross-subject"`` (split on ``key.subject``) or ``"subject-specific"`` (``key.trial``).
        val: ``"auto"`` (the last training subject / trial), ``"none"`` (no validation part), or an
            explicit list of training subjects / trials to hold out.
        train_subjects, test_subjects: cross-subject groups (default: odd / even subjects present).
        val_subjects: cross-subject validation subjects (same as a list ``val``); must be training subjects.
        train_trials, test_trials, val_trials: the subject-specific counterparts (default: first half /
            second half of the trials present; validation the last training trial).
        train_groups, test_groups, val_groups: the groups of any protocol (subjects, trials, cameras,
            scenes or sessions), instead of the ``*_subjects`` / ``*_trials`` arguments.

    Raises:
        ConfigError: an unknown protocol, overlapping groups, validation outside the training side.
        DataError: a split that would be empty.
    """
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    if not recordings:
        raise DataError(f"{protocol} split: no recordings to split")
    unit = UNITS[protocol]
    cross = protocol == "cross-subject"
    specific = protocol == "subject-specific"
    if not specific and (train_trials is not None or test_trials is not None or val_trials is not None):
        raise ConfigError(f"train_trials/test_trials/val_trials apply to the subject-specific protocol, not {protocol}")
    if not cross and (train_subjects is not None or test_subjects is not None or val_subjects is not None):
        raise ConfigError(f"train_subjects/test_subjects/val_subjects apply to the cross-subject protocol, not {protocol}")
    own = {"subject": (train_subjects, test_subjects, val_subjects), "trial": (train_trials, test_trials, val_trials)}
    given = own.get(unit, (None, None, None))
    for name, a, b in zip(("train", "test", "val"), given, (train_groups, test_groups, val_groups)):
        if a is not None and b is not None:
            raise ConfigError(f"give the {name} {unit}s either as {name}_{unit}s or {name}_groups, not both")
    train_g = _ints(f"train_{unit}s", given[0] if given[0] is not None else train_groups)
    test_g = _ints(f"test_{unit}s", given[1] if given[1] is not None else test_groups)
    val_g = _ints(f"val_{unit}s", given[2] if given[2] is not None else val_groups)

    def group(rec: Recording) -> int:
        return group_of(rec, unit)

    standard = None
    datasets = {r.key.dataset for r in recordings}
    reader = registered(next(iter(datasets))) if len(datasets) == 1 else None
    if reader is not None:
        if protocol not in reader.protocols:
            raise DataError(f"{protocol}: dataset {reader.name!r} has no {unit}s to split on "
                            f"(its protocols: {', '.join(reader.protocols)})")
        standard = reader.default_groups(protocol)
    present = sorted({group(r) for r in recordings})
    if train_g is None and test_g is None:
        if standard is not None:
            train_g, test_g = list(standard[0]), list(standard[1])
        elif cross:
            train_g = [g for g in present if g % 2 == 1]
            test_g = [g for g in present if g % 2 == 0]
        elif protocol in ("cross-view", "cross-scene"):
            train_g, test_g = present[:-1], present[-1:]
        else:
            half = (len(present) + 1) // 2
            train_g, test_g = present[:half], present[half:]
    elif train_g is None:
        train_g = [g for g in present if g not in test_g]
    elif test_g is None:
        test_g = [g for g in present if g not in train_g]
    overlap = sorted(set(train_g) & set(test_g))
    if overlap:
        raise ConfigError(f"{protocol}: {unit}s {overlap} are in both train_{unit}s and test_{unit}s")

    # validation: held out of the training side only
    if val_g is not None and not (isinstance(val, str) and val == "auto"):
        raise ConfigError(f"give validation {unit}s either as val=[...] or val_{unit}s=[...], not both")
    if val_g is None:
        if val is None or (isinstance(val, str) and val == "none"):
            val_g = []
        elif isinstance(val, str):
            if val != "auto":
                raise ConfigError(f"val={val!r}: expected 'auto', 'none' or a list of training {unit}s")
            train_present = [g for g in train_g if g in present]
            val_g = train_present[-1:] if len(train_present) > 1 else []
            if len(train_present) <= 1:
                raise DataError(
                    f"{protocol}: cannot hold out a validation {unit}: the training side has {unit}s {train_present} only "
                    f"(pass val='none' to train without validation)"
                )
        else:
            val_g = _ints("val", val)
    outside = sorted(set(val_g) - set(train_g))
    if outside:
        raise ConfigError(
            f"{protocol}: validation {unit}s {outside} are not training {unit}s {train_g}; "
            f"validation must come from the training side, never from test"
        )
    fit_g = [g for g in train_g if g not in val_g]

    parts: dict[str, list[Recording]] = {"train": [], "val": [], "test": []}
    for rec in sorted(recordings, key=lambda r: r.key):
        g = group(rec)
        if g in val_g:
            parts["val"].append(rec)
        elif g in fit_g:
            parts["train"].append(rec)
        elif g in test_g:
            parts["test"].append(rec)
    groups = {"train": fit_g, "val": list(val_g), "test": list(test_g)}
    for name in ("train", "test") + (("val",) if val_g else ()):
        if not parts[name]:
            raise DataError(
                f"{protocol} split: the {name} part is empty ({name} {unit}s {groups[name]}; "
                f"{unit}s present in the data: {present})"
            )
    ids = [{id(r) for r in parts[n]} for n in ("train", "val", "test")]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2]), "splits overlap"
    keys = [{r.key for r in parts[n]} for n in ("train", "val", "test")]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2]), "splits share recording keys"
    return Splits(train=parts["train"], val=parts["val"], test=parts["test"], protocol=protocol, groups=groups)


_VAL_KEYS = ("val", "val_subjects", "val_trials", "val_groups")


def fold_groups(recordings: Sequence[Recording], protocol: str = "cross-subject", **groups) -> list[int]:
    """The training groups present in ``recordings`` (one cross-validation fold each, :func:`make_folds`).

    ``groups`` are :func:`make_splits`' ``train_*`` / ``test_*`` arguments; a validation choice among
    them is ignored (every training group is held out in turn). DataError when fewer than two training
    groups are present (nothing to hold out).
    """
    groups = {k: v for k, v in groups.items() if k not in _VAL_KEYS}
    whole = make_splits(recordings, protocol, val="none", **groups)
    unit = UNITS[protocol]
    present = sorted({group_of(r, unit) for r in whole.train})
    if len(present) < 2:
        raise DataError(f"{protocol}: cross-validation needs at least two training {unit}s to hold out in turn; "
                        f"the training side has {unit}s {present}")
    return present


def make_folds(recordings: Sequence[Recording], protocol: str = "cross-subject", **groups) -> list[Splits]:
    """Leave-one-group-out folds over the training side of ``protocol``: one :class:`Splits` per training
    group (:func:`fold_groups`), that group as validation, the other training groups as train, the
    protocol's test split as test (untouched by selection). The folds' validation parts are disjoint
    and together cover the training side exactly.
    """
    groups = {k: v for k, v in groups.items() if k not in _VAL_KEYS}
    return [make_splits(recordings, protocol, val=[g], **groups) for g in fold_groups(recordings, protocol, **groups)]
