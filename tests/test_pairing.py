import numpy as np
import pytest
import torch

from vskd.engine.distiller import TeacherCache
from vskd.engine.pairing import ReassignedCache, reassign
from vskd.errors import ConfigError

LABELS = [0, 0, 0, 1, 1, 2, 2, 2, 2, 3]


def test_paired_is_identity():
    assert reassign(LABELS, "paired", 0, 0).tolist() == list(range(10))


def test_unpaired_never_returns_itself_and_changes_with_epoch():
    a = reassign(LABELS, "unpaired", 0, 0)
    b = reassign(LABELS, "unpaired", 0, 1)
    assert (a != np.arange(10)).all() and (b != np.arange(10)).all()
    assert not np.array_equal(a, b)
    assert np.array_equal(a, reassign(LABELS, "unpaired", 0, 0))  # reproducible
    assert a.min() >= 0 and a.max() < 10


def test_unpaired_is_uniform_over_others():
    counts = np.zeros((3, 3))
    for e in range(3000):
        m = reassign([0, 1, 2], "unpaired", 1, e)
        counts[np.arange(3), m] += 1
    assert counts.trace() == 0
    off = counts[~np.eye(3, dtype=bool)] / 3000
    assert np.allclose(off, 0.5, atol=0.05)


def test_class_shuffled_keeps_the_class_not_the_recording():
    labels = np.array(LABELS)
    for e in range(20):
        m = reassign(LABELS, "class-shuffled", 3, e)
        assert (labels[m] == labels).all()
        single = np.flatnonzero(np.bincount(labels)[labels] == 1)
        multi = np.setdiff1d(np.arange(10), single)
        assert (m[multi] != multi).all()
        assert (m[single] == single).all()  # class 3 has one recording: kept


def test_reassigned_cache_lookup():
    cache = TeacherCache({"emb": torch.arange(10.0).unsqueeze(1)})
    rc = ReassignedCache(cache, LABELS, "unpaired", seed=0)
    out = rc.lookup([0, 1, 2], ["emb"])["emb"].squeeze(1)
    assert (out != torch.tensor([0.0, 1.0, 2.0])).all()
    rc.set_epoch(5)
    assert torch.equal(rc.lookup([0, 1, 2], ["emb"])["emb"].squeeze(1),
                       torch.as_tensor(reassign(LABELS, "unpaired", 0, 5)[:3], dtype=torch.float))
    with pytest.raises(ConfigError, match="pairing"):
        reassign(LABELS, "bogus", 0, 0)
    with pytest.raises(ConfigError, match="training split"):
        ReassignedCache(cache, LABELS[:5], "unpaired", 0)
