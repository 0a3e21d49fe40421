"""The skeleton teacher's view in the paired dataset, and its config wiring."""

import pytest
import torch

from vskd.config import load_config
from vskd.data.paired import PairedDataset, SkeletonSpec
from vskd.data.utd_mhad import list_recordings
from vskd.errors import ConfigError


def test_skeleton_view_on_real_recordings(utd_root):
    recs = [r for r in list_recordings(utd_root) if r.key.subject == 1 and r.key.trial == 1][:2]
    ev = PairedDataset(recs, student=None, teacher=SkeletonSpec(length=24), train=False, cache_dir=False)
    tr = PairedDataset(recs, student=None, teacher=SkeletonSpec(length=24), train=True, cache_dir=False)
    a = ev[0]["teacher"]
    assert a.shape == (24, 20, 3) and a.dtype == torch.float32 and torch.isfinite(a).all()
    assert torch.equal(a, ev[0]["teacher"])  # evaluation is deterministic
    b = tr[0]["teacher"]
    assert not torch.allclose(a, b)  # training view is augmented (rotation, scale) ...
    # ... by a rotation about the vertical axis and a scale: per-frame vertical coordinates scale only
    ratio = b[..., 1].abs().sum() / a[..., 1].abs().sum()
    assert 0.85 < float(ratio) < 1.15
    assert ev[1]["label"] == recs[1].label


def test_skeleton_arch_needs_skeleton_modality():
    with pytest.raises(ConfigError, match="teacher.arch"):
        load_config(None, ["teacher.arch=skeleton"])
    cfg = load_config(None, ["teacher.arch=skeleton", "teacher.input.modality=skeleton"])
    from vskd.engine.pipeline import build_teacher, clip_spec

    assert isinstance(clip_spec(cfg), SkeletonSpec)
    t = build_teacher(cfg, 5)
    out = t(torch.randn(2, 32, 20, 3))
    assert out.shape == (2, 5)
