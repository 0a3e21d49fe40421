"""Skeleton teachers, second round: input channels (joints, velocity, bones), the new augmentations
(shear, jitter, temporal crop), the ST-GCN teacher (graph, shapes, hooks), its config wiring and
checkpoints, and every distillation method on a skeleton teacher."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from vskd.config import config_to_dict, load_config
from vskd.data.paired import SkeletonSpec, skeleton_view
from vskd.data.recording import Recording, RecordingKey, Source
from vskd.data.skeleton import (
    HIP_CENTER,
    KINECT_V1_EDGES,
    KINECT_V1_PARENTS,
    SPINE,
    augment_skeleton,
    prepare_skeleton,
    random_span,
    skeleton_features,
)
from vskd.engine.checkpoints import CHECKPOINT_FORMAT, atomic_save, load_teacher
from vskd.engine.distiller import Distiller
from vskd.engine.pipeline import build_teacher
from vskd.errors import ConfigError
from vskd.losses import create_method, list_methods
from vskd.models import FeatureRecorder
from vskd.models.features import make_taps
from vskd.models.skeleton import SkeletonTeacher
from vskd.models.skeleton_gcn import SkeletonGCN, spatial_graph
from vskd.models.student import GAFStudent

torch.set_num_threads(1)

SKEL = ["teacher.arch=skeleton_gcn", "teacher.input.modality=skeleton"]


# ----------------------------------------------------------------------------- input channels

def test_features_joints_velocity_bones():
    x = torch.randn(2, 5, 20, 3)
    f = skeleton_features(x, ("joints", "velocity", "bones"))
    assert f.shape == (2, 5, 20, 9)
    torch.testing.assert_close(f[..., :3], x)
    assert torch.equal(f[:, 0, :, 3:6], torch.zeros(2, 20, 3))  # x_0 := 0
    torch.testing.assert_close(f[:, 1:, :, 3:6], x[:, 1:] - x[:, :-1])
    # bones: the left hand (7) hangs from the left wrist (6); the root's bone is zero
    torch.testing.assert_close(f[..., 7, 6:], x[..., 7, :] - x[..., 6, :])
    assert torch.equal(f[..., HIP_CENTER, 6:], torch.zeros(2, 5, 3))
    # order follows the list
    torch.testing.assert_close(skeleton_features(x, ("bones", "joints"))[..., 3:], x)
    for bad in ([], ["joints", "joints"], ["angles"]):
        with pytest.raises(ConfigError, match="skeleton features"):
            skeleton_features(x, bad)


def test_kinect_tree_is_a_tree_rooted_at_the_hip():
    assert len(KINECT_V1_PARENTS) == 20 and len(KINECT_V1_EDGES) == 19
    for j in range(20):  # every joint reaches the root by its parents
        seen = set()
        while KINECT_V1_PARENTS[j] != j:
            assert j not in seen
            seen.add(j)
            j = KINECT_V1_PARENTS[j]
        assert j == HIP_CENTER


def test_old_teacher_keeps_its_channel_order():
    """features=None (motion) is the first teacher's input: all positions, then all velocities, so its
    checkpoints mean what they meant."""
    torch.manual_seed(0)
    model = SkeletonTeacher(num_classes=4, hidden=8).eval()
    assert model.features == ("joints", "velocity")
    x = torch.randn(2, 6, 20, 3)
    seen = {}
    model.input_bn.register_forward_hook(lambda m, i, o: seen.setdefault("in", i[0]))
    model(x)
    seq = x.flatten(2)
    vel = torch.cat([torch.zeros_like(seq[:, :1]), seq[:, 1:] - seq[:, :-1]], dim=1)
    torch.testing.assert_close(seen["in"], torch.cat([seq, vel], dim=2).transpose(1, 2))
    assert SkeletonTeacher(4, hidden=8, features=("joints", "velocity", "bones")).input_bn.num_features == 180


# ----------------------------------------------------------------------------- augmentation

def test_shear_and_jitter():
    x = np.random.default_rng(0).normal(size=(8, 20, 3)).astype(np.float32)
    plain = augment_skeleton(x, np.random.default_rng(3))
    sheared = augment_skeleton(x, np.random.default_rng(3), shear=0.3)
    assert not np.allclose(plain, sheared)
    # a shear is one linear map for the whole sequence: solve for it and check its form
    m, *_ = np.linalg.lstsq(x.reshape(-1, 3), sheared.reshape(-1, 3), rcond=None)
    np.testing.assert_allclose(x.reshape(-1, 3) @ m, sheared.reshape(-1, 3), atol=1e-4)
    noisy = augment_skeleton(x, np.random.default_rng(3), jitter=0.05)
    assert 0.03 < float(np.std(noisy - plain)) < 0.07  # same rotation and scale (drawn first), plus noise
    # without shear and jitter the draws are those of the first teacher's augmentation
    np.testing.assert_array_equal(plain, augment_skeleton(x, np.random.default_rng(3), 30.0, (0.9, 1.1), 0.0, 0.0))


def test_temporal_crop_resamples_the_span():
    t = np.arange(11, dtype=np.float64)
    skel = np.zeros((20, 3, 11))
    skel[1, 1, :] = 1.0  # spine of length 1
    skel[7, 0, :] = t
    x = prepare_skeleton(skel, length=6, span=(0.5, 1.0))  # frames 5..10
    np.testing.assert_allclose(x[:, 7, 0], np.linspace(5, 10, 6) - 0.0, atol=1e-5)
    with pytest.raises(ConfigError, match="span"):
        prepare_skeleton(skel, length=6, span=(0.6, 0.5))
    rng = np.random.default_rng(0)
    spans = [random_span(rng, 0.7) for _ in range(200)]
    assert all(0 <= a < b <= 1 and b - a >= 0.7 - 1e-9 for a, b in spans)
    assert min(a for a, _ in spans) < 0.05 and max(b - a for a, b in spans) > 0.95
    assert random_span(rng, 1.0) == (0.0, 1.0)


def test_view_applies_the_configured_augmentation():
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(20, 3, 40)).cumsum(axis=2)
    raw[1] = raw[3] + np.array([[0.0], [0.4], [0.0]])
    rec = Recording(RecordingKey("toy", 0, 1, 1), 0, {"skeleton": Source(load=lambda: raw)})
    spec = SkeletonSpec(length=16, rotate=0.0, scale=0.0, crop=0.5)
    ev = skeleton_view(rec, spec, train=False, rng=None)
    tr = skeleton_view(rec, spec, train=True, rng=np.random.default_rng(1))
    np.testing.assert_allclose(ev.numpy(), prepare_skeleton(raw, 16), atol=1e-6)
    a, b = random_span(np.random.default_rng(1), 0.5)  # the view draws the span first
    np.testing.assert_allclose(tr.numpy(), prepare_skeleton(raw, 16, span=(a, b)), atol=1e-5)


def test_config_keys_are_validated():
    cfg = load_config(None, SKEL + ["teacher.input.skeleton_features=[joints,bones]",
                                    "teacher.input.skeleton_augment.shear=0.2", "teacher.width=8"])
    spec = __import__("vskd.engine.builders", fromlist=["clip_spec"]).clip_spec(cfg)
    assert spec.shear == 0.2 and spec.rotate == 30.0 and spec.crop == 1.0
    t = build_teacher(cfg, 5)
    assert isinstance(t, SkeletonGCN) and t.features == ("joints", "bones") and t.block1.gcn.out_channels == 24
    for bad, key in [("teacher.input.skeleton_features=[joints,speed]", "skeleton_features"),
                     ("teacher.input.skeleton_augment.crop=0", "skeleton_augment.crop"),
                     ("teacher.input.skeleton_augment.shear=-1", "skeleton_augment.shear"),
                     ("teacher.width=0", "teacher.width")]:
        with pytest.raises(ConfigError, match=key):
            load_config(None, SKEL + [bad])
    with pytest.raises(ConfigError, match="teacher.arch"):
        load_config(None, ["teacher.arch=skeleton_gcn"])  # needs the skeleton modality


# ----------------------------------------------------------------------------- the ST-GCN

def test_spatial_graph_partitions_the_neighbourhood():
    a = spatial_graph(20, KINECT_V1_EDGES, SPINE)
    assert a.shape == (3, 20, 20)
    np.testing.assert_allclose(a.sum(axis=(0, 1)), 1.0, atol=1e-6)  # each joint averages its neighbourhood
    assert (np.diagonal(a[0]) > 0).all()  # itself: subset 0
    # the left elbow (5) receives from the left shoulder (4, nearer the spine) and the left wrist (6)
    assert a[1, 4, 5] > 0 and a[2, 6, 5] > 0 and a[:, 0, 5].sum() == 0
    nonzero = (a.sum(0) > 0).sum()
    assert nonzero == 20 + 2 * 19
    with pytest.raises(ConfigError, match="not connected"):
        spatial_graph(4, [(0, 1)], 0)


def test_gcn_shapes_hooks_and_taps():
    torch.manual_seed(0)
    model = SkeletonGCN(num_classes=27, width=16).eval()
    x = torch.randn(3, 32, 20, 3)
    with FeatureRecorder(model, {"emb": "embedding", "fc0": "fc0", "b4": "block4", "logits": ""}) as rec:
        logits = model(x)
    assert logits.shape == (3, 27) and rec.features["emb"].shape == (3, 300)
    assert torch.equal(rec.features["emb"], rec.features["fc0"]) and (rec.features["emb"] < 0).any()
    assert rec.features["b4"].shape == (3, 32, 8, 20)
    taps = make_taps(model, ["logits", "emb", "pooled", "block1", "block3"], "teacher")
    with torch.no_grad():
        feats = taps.collect(model(x))
    taps.remove()
    assert feats["pooled"].shape == (3, 32) and feats["block1"].shape == (3, 16, 32, 20)
    assert feats["block3"].shape == (3, 32, 16, 20)
    torch.testing.assert_close(feats["logits"], logits)
    tcn = SkeletonTeacher(num_classes=5, hidden=8)
    taps = make_taps(tcn, ["pooled", "block2"], "teacher")
    with torch.no_grad():
        f = taps.collect(tcn.eval()(x))
    assert f["pooled"].shape == (3, 16) and f["block2"].shape == (3, 16, 1, 16)  # 1-D maps of height one
    with pytest.raises(ConfigError, match="frame_emb"):
        make_taps(model, ["frame_emb"], "teacher")


def test_gcn_learns_and_is_deterministic_in_eval():
    torch.manual_seed(0)
    model = SkeletonGCN(num_classes=4, width=8, dropout=0.0, features=("joints", "velocity", "bones"))
    x, y = torch.randn(8, 12, 20, 3), torch.arange(8) % 4
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(30):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        if step == 0:
            for name, p in model.named_parameters():
                assert p.grad is not None and p.grad.abs().sum() > 0, name
        opt.step()
    assert loss.item() < 0.1  # the batch is learnt (training mode: batch statistics)
    model.eval()
    with torch.no_grad():
        out = model(x)
        assert torch.equal(out, model(x))
        torch.testing.assert_close(model(x[3:4]), out[3:4])  # per sample
    for shape in [(2, 3, 20, 3), (2, 16, 15, 3), (2, 16, 60)]:
        with pytest.raises(ConfigError, match="SkeletonGCN expects"):
            model(torch.randn(*shape))
    with pytest.raises(ConfigError, match="temporal kernel"):
        SkeletonGCN(3, width=4, temporal_kernel=4)


def test_gcn_checkpoint_round_trip(tmp_path):
    """What train-teacher writes for skeleton_gcn is rebuilt by load_teacher (the fusion teacher's path)."""
    cfg = load_config(None, SKEL + ["teacher.width=8", "teacher.input.skeleton_features=[joints,velocity,bones]"])
    torch.manual_seed(0)
    model = build_teacher(cfg, 6).eval()
    meta = {"kind": "teacher", "num_classes": 6, "class_names": [f"c{i}" for i in range(6)],
            "config": config_to_dict(cfg)}
    atomic_save({"format": CHECKPOINT_FORMAT, "epoch": 1, "model": model.state_dict(), "history": [],
                 "best": {}, "meta": meta}, tmp_path / "best.pt")
    loaded, _ = load_teacher(tmp_path / "best.pt", 6)
    assert isinstance(loaded, SkeletonGCN) and loaded.features == ("joints", "velocity", "bones")
    x = torch.randn(2, 16, 20, 3)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


# ----------------------------------------------------------------------------- distillation

METHODS = [name for name, _, _ in list_methods()]
# the quick loop (pytest -m "not slow") runs these; every method runs in CI
QUICK_METHODS = ("dask", "fitnet", "simkd")
METHOD_PARAMS = [m if m in QUICK_METHODS else pytest.param(m, marks=pytest.mark.slow) for m in METHODS]
BATCH = {"student": torch.rand(4, 3, 32, 32), "teacher": torch.randn(4, 16, 20, 3),
         "index": torch.arange(4), "label": torch.tensor([0, 1, 2, 3])}


@pytest.fixture(scope="module")
def skeleton_teachers():
    torch.manual_seed(0)
    out = {"skeleton": SkeletonTeacher(5, hidden=8).eval(), "skeleton_gcn": SkeletonGCN(5, width=8).eval()}
    for t in out.values():
        for p in t.parameters():
            p.requires_grad_(False)
    return out


@pytest.mark.parametrize("arch", ["skeleton", "skeleton_gcn"])
@pytest.mark.parametrize("name", METHOD_PARAMS)
def test_every_method_runs_on_a_skeleton_teacher(skeleton_teachers, arch, name):
    """Every registered method sets up and takes a step with a skeleton teacher and a GAF student.
    Refused in one line: SimKD (it needs the TRN relation head and its segments) and, on the temporal
    CNN, which has three maps, the methods whose default wiring reads ``block4``."""
    torch.manual_seed(0)
    teacher, student, method = skeleton_teachers[arch], GAFStudent(5), create_method(name)
    missing = "frame_emb" if name == "simkd" else (
        "block4" if arch == "skeleton" and "block4" in method.teacher_uses else None)
    if missing:
        with pytest.raises(ConfigError, match=missing):
            d = Distiller(student, teacher, method)
            d.setup_method(BATCH, num_train=4, num_classes=5)
        return
    d = Distiller(student, teacher, method)
    d.setup_method(BATCH, num_train=4, num_classes=5)
    _, terms = d(BATCH)
    assert torch.isfinite(terms["loss"]) and len(terms) > 1, name
    terms["loss"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters()), name
    assert all(p.grad is None for p in teacher.parameters())
    d.close()
