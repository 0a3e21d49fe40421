"""Unlabelled paired recordings: which training recordings keep their labels.

A lab records many paired camera + watch sessions but labels only a few. ``distill.unlabeled``
(:class:`vskd.config.UnlabeledConfig`) simulates that on a labelled dataset by dividing the *training
part* of a protocol split (:class:`vskd.data.protocols.Splits`) into a labelled part, which stays
``splits.train``, and an unlabelled part, ``splits.unlabeled``. Validation and test are untouched
(and stay labelled): model selection and the test read labels as before. Three ways to choose:

* ``fraction``: in each class, ``round(fraction * n)`` of its ``n`` training recordings stay labelled
  (stratified per class), chosen by a generator seeded by ``(seed, class)`` only, so the choice does
  not depend on the training seed, on the other classes, or on the order of the recordings;
* ``trials``: the recordings of these trials stay labelled (every subject, every class);
* ``subjects``: the recordings of these training subjects stay labelled. The validation subjects are
  labelled whatever the list says (they are not in the training part); naming one is allowed.

The division reads the labels of every training recording (to stratify a fraction, to check that each
class keeps a labelled recording): it is the simulation of a labelling budget, not a model. Nothing
downstream reads an unlabelled recording's label: :class:`vskd.data.paired.PairedDataset` replaces it
by ``-1`` (``labeled`` False) for the recordings it is told are unlabelled.

Bad input is one line: a class left without a labelled recording (:class:`~vskd.errors.DataError`,
naming the class and the option), trials or subjects the training side does not have
(:class:`~vskd.errors.ConfigError`), an unlabelled recording without the teacher's modality
(:func:`require_modality`, DataError).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from vskd.data.protocols import Splits
from vskd.data.recording import Recording
from vskd.errors import ConfigError, DataError

__all__ = ["OPTION", "require_modality", "split_labeled"]

#: the config section the messages name
OPTION = "distill.unlabeled"


def _class_name(label: int, class_names: Sequence[str] | None) -> str:
    if class_names is not None and 0 <= label < len(class_names):
        return f"class {label} ({class_names[label]})"
    return f"class {label}"


def _fraction_labeled(train: Sequence[Recording], fraction: float, seed: int,
                      class_names: Sequence[str] | None) -> set:
    """Keys of the labelled recordings: ``round(fraction * n)`` per class (half up), seeded per class."""
    keys: set = set()
    by_class: dict[int, list[Recording]] = {}
    for rec in train:
        by_class.setdefault(int(rec.label), []).append(rec)
    for label in sorted(by_class):
        members = sorted(by_class[label], key=lambda r: r.key)
        k = int(math.floor(fraction * len(members) + 0.5))
        if k == 0:
            raise DataError(f"config key '{OPTION}.fraction': {fraction} of the {len(members)} training recordings "
                            f"of {_class_name(label, class_names)} labels none of them; expected a fraction "
                            f">= {0.5 / len(members):.3g} so that every class keeps a labelled recording")
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), label, 0x1ABE1]))
        for i in rng.permutation(len(members))[:k]:
            keys.add(members[int(i)].key)
    return keys


def _group_labeled(splits: Splits, unit: str, values: Sequence[int]) -> set:
    """Keys of the training recordings whose ``unit`` (trial / subject) is in ``values``."""
    wanted = {int(v) for v in values}
    side = {getattr(r.key, unit) for r in splits.train} | {getattr(r.key, unit) for r in splits.val}
    unknown = sorted(wanted - side)
    if unknown:
        raise ConfigError(f"config key '{OPTION}.{unit}s': {unit}s {unknown} are not on the training side of "
                          f"the {splits.protocol} split (its {unit}s: {sorted(side)})")
    return {r.key for r in splits.train if getattr(r.key, unit) in wanted}


def split_labeled(splits: Splits, *, fraction: float | None = None, trials: Sequence[int] | None = None,
                  subjects: Sequence[int] | None = None, seed: int = 0,
                  class_names: Sequence[str] | None = None) -> Splits:
    """``splits`` with its training part divided: ``train`` the labelled recordings, ``unlabeled`` the rest.

    Exactly one of ``fraction`` (in (0, 1), per class), ``trials`` or ``subjects`` chooses the labelled
    recordings (module docstring); ``seed`` fixes a fraction's choice. ``val`` and ``test`` are returned
    as they are. Both parts stay sorted by key.

    Raises:
        ConfigError: none or several of the three options, a fraction outside (0, 1), trials or subjects
            that the training side does not have.
        DataError: a class of the training part left without a labelled recording.
    """
    given = [name for name, v in (("fraction", fraction), ("trials", trials), ("subjects", subjects)) if v is not None]
    if len(given) != 1:
        raise ConfigError(f"config key '{OPTION}': expected exactly one of fraction, trials, subjects, "
                          f"got {', '.join(given) or 'none'}")
    if splits.unlabeled:
        raise ConfigError(f"config key '{OPTION}': these splits are divided already")
    if fraction is not None:
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not (
                math.isfinite(fraction) and 0 < fraction < 1):
            raise ConfigError(f"config key '{OPTION}.fraction': expected a fraction in (0, 1), got {fraction!r}")
        labeled = _fraction_labeled(splits.train, float(fraction), seed, class_names)
        how = f"fraction={fraction}"
    elif trials is not None:
        labeled = _group_labeled(splits, "trial", trials)
        how = f"trials={sorted(set(trials))}"
    else:
        labeled = _group_labeled(splits, "subject", subjects)
        how = f"subjects={sorted(set(subjects))}"
    kept = [r for r in splits.train if r.key in labeled]
    rest = [r for r in splits.train if r.key not in labeled]
    classes = sorted({int(r.label) for r in splits.train})
    have = {int(r.label) for r in kept}
    missing = [c for c in classes if c not in have]
    if missing:
        n = sum(1 for r in splits.train if int(r.label) == missing[0])
        raise DataError(f"config key '{OPTION}' ({how}) leaves {_class_name(missing[0], class_names)} without a "
                        f"labelled training recording (its {n} training recordings would all be unlabelled"
                        f"{f'; {len(missing)} classes in all' if len(missing) > 1 else ''}); every class needs one")
    return dataclasses.replace(splits, train=kept, unlabeled=rest)


def require_modality(recordings: Sequence[Recording], modality: str) -> None:
    """Refuse (DataError, one line) unlabelled recordings without ``modality``, the teacher's view: an
    unlabelled recording is worth something only through the teacher's output on it."""
    lacking = [r for r in recordings if modality not in r.sources]
    if lacking:
        raise DataError(f"config key '{OPTION}': {len(lacking)} unlabelled recording(s) have no {modality} "
                        f"(the teacher's modality), e.g. {lacking[0].key}; an unlabelled recording needs the "
                        f"teacher's view, which is all that labels it")
