"""Which teacher output a student sample is distilled from: paired, or one of two controls.

VSKD's premise is that the teacher and the student see the *same* recording. The authors' code
shuffled the two loaders independently, so each student sample met the teacher's output on some
other recording. To measure what pairing is worth (and how much of a "gain" is regularisation rather
than knowledge) the teacher targets can be re-assigned, per epoch, from the teacher-output cache:

``paired``          sample i gets the teacher's output on recording i (the method as intended);
``unpaired``        sample i gets the output on a uniformly random *other* recording, redrawn every
                    epoch — what independently shuffled loaders amount to;
``class-shuffled``  sample i gets the output on a random other recording *of the same class* (when
                    the class has one), redrawn every epoch: class-level knowledge is kept, the
                    recording-specific part is destroyed.

Re-assignment needs the cache (the teacher's outputs on every training recording); the draws depend
only on (seed, epoch), so runs are reproducible and resumable.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import torch

from vskd.errors import ConfigError

PAIRINGS = ("paired", "unpaired", "class-shuffled")


def reassign(labels: Sequence[int], mode: str, seed: int, epoch: int) -> np.ndarray:
    """Teacher index for every student index under ``mode`` (see module docstring)."""
    n = len(labels)
    if mode not in PAIRINGS:
        raise ConfigError(f"config key 'distill.pairing': expected one of {', '.join(PAIRINGS)}, got {mode!r}")
    idx = np.arange(n)
    if mode == "paired" or n < 2:
        return idx
    rng = np.random.default_rng([seed, epoch, 7919])
    if mode == "unpaired":
        # uniform over the n - 1 other recordings
        other = rng.integers(0, n - 1, size=n)
        return np.where(other >= idx, other + 1, other)
    labels = np.asarray(labels)
    out = idx.copy()
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < 2:
            continue
        pick = rng.integers(0, len(members) - 1, size=len(members))
        pos = np.arange(len(members))
        out[members] = members[np.where(pick >= pos, pick + 1, pick)]
    return out


class ReassignedCache:
    """A :class:`~vskd.engine.distiller.TeacherCache` seen through a per-epoch re-assignment."""

    def __init__(self, cache, labels: Sequence[int], mode: str, seed: int):
        self.cache = cache
        self.labels = list(labels)
        self.mode = mode
        self.seed = seed
        if len(self.labels) != cache.size:
            raise ConfigError(f"teacher cache holds {cache.size} recordings, the training split {len(self.labels)}")
        self.set_epoch(0)

    @property
    def size(self) -> int:
        return self.cache.size

    @property
    def features(self):
        return self.cache.features

    def set_epoch(self, epoch: int) -> None:
        self.mapping = torch.as_tensor(reassign(self.labels, self.mode, self.seed, epoch))

    def lookup(self, index, names: Iterable[str]):
        idx = torch.as_tensor(index, dtype=torch.long)
        return self.cache.lookup(self.mapping[idx], names)


class ReassignedViews:
    """A paired training dataset whose teacher views come from the re-assigned recording.

    Item ``i`` keeps its own student window, label and index, and takes ``teacher`` from item
    ``reassign(labels, mode, seed, epoch)[i]``: the controls of a teacher that reads the recording batch
    by batch rather than through the cache (the skeleton or camera members of a multimodal teacher whose
    wrist members read the student's window, ``distill.teacher_view: student``). ``set_epoch`` forwards to
    the wrapped dataset and redraws the mapping."""

    def __init__(self, dataset, labels: Sequence[int], mode: str, seed: int):
        self.dataset = dataset
        self.labels = list(labels)
        self.mode = mode
        self.seed = seed
        if len(self.labels) != len(dataset):
            raise ConfigError(f"{len(self.labels)} labels for a dataset of {len(dataset)} recordings")
        self.set_epoch(0)

    def __len__(self) -> int:
        return len(self.dataset)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        self.mapping = reassign(self.labels, self.mode, self.seed, epoch)

    def __getitem__(self, index: int) -> dict:
        item = self.dataset[index]
        j = int(self.mapping[int(index) % len(self)])
        if j != int(index) % len(self):
            item["teacher"] = self.dataset[j]["teacher"]
        return item
