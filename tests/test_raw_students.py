"""Raw-signal students (issue 14): torch MiniRocket == aeon, the 1-D students, their runs, export, bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from vskd.cli import main
from vskd.config import load_config
from vskd.data.paired import PairedDataset, RawSpec, resample_linear, student_signal
from vskd.engine.distiller import Distiller
from vskd.models.features import check_method_on_student, make_taps
from vskd.engine.pipeline import build_student, fit_student, load_data, load_teacher, paired
from vskd.errors import ConfigError, DataError
from vskd.losses import create_method, list_methods
from vskd.models.minirocket import MiniRocketFeatures, fit_minirocket
from vskd.models.registry import STUDENTS, build_student_model, is_raw

from test_e2e import TINY as E2E_TINY, sets

RAW = [name for name, e in STUDENTS.items() if e.view == "raw"]
TINY = [o for o in E2E_TINY if ".train.epochs=" not in o] + ["teacher.train.epochs=1", "student.train.epochs=1"]


@pytest.fixture(scope="module")
def aeon_minirocket():
    mod = pytest.importorskip("aeon.transformations.collection.convolution_based")
    return mod.MiniRocket


def test_registry_lists_gaf_and_raw_students():
    assert set(RAW) == {"inception1d", "minirocket", "rocket", "watch1d"}
    assert not is_raw("resnet18") and is_raw("watch1d")


@pytest.mark.parametrize("length", [180, 97])
def test_torch_minirocket_equals_aeon_on_aeon_parameters(aeon_minirocket, length):
    rng = np.random.default_rng(length)
    x_fit = rng.normal(size=(12, 3, length)).astype(np.float32)
    x = (rng.normal(size=(6, 3, length)) + np.linspace(0, 2, length)).astype(np.float32)
    aeon = aeon_minirocket(random_state=3).fit(x_fit)
    ours = MiniRocketFeatures.from_aeon(aeon)
    ref = aeon.transform(x)
    got = ours(torch.from_numpy(x)).numpy()
    assert got.shape == ref.shape == (6, 9996)
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)
    # features of the fitted training windows too (biases are quantiles of these very responses)
    np.testing.assert_allclose(ours(torch.from_numpy(x_fit)).numpy(), aeon.transform(x_fit), atol=1e-5, rtol=0)


def test_our_fit_follows_aeons_layout_and_channel_draws(aeon_minirocket):
    x = np.random.default_rng(0).normal(size=(10, 3, 180)).astype(np.float32)
    aeon = aeon_minirocket(random_state=5).fit(x)
    ours = fit_minirocket(x, seed=5)
    for a, b in zip(ours[:4], aeon.parameters[:4]):  # combinations, channels, dilations, features/dilation
        np.testing.assert_array_equal(a, b)
    assert ours[4].shape == aeon.parameters[4].shape and np.isfinite(ours[4]).all()


def test_minirocket_state_dict_round_trip_resizes_fitted_buffers():
    x = torch.randn(8, 3, 120)
    a = MiniRocketFeatures(3).fit(x, seed=1)
    b = MiniRocketFeatures(3)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a(x), b(x)) and b.min_length == a.min_length <= 120


def test_watch1d_is_watch_class():
    m = build_student_model("watch1d", 27, 3)
    assert sum(p.numel() for p in m.parameters()) <= 200_000


@pytest.mark.parametrize("arch", RAW)
def test_raw_student_shapes_embedding_and_maps(arch):
    torch.manual_seed(0)
    m = build_student_model(arch, 5, 3, normalize="dataset")
    x = torch.randn(4, 3, 180) * 2 + 1
    m.fit(x)
    m.eval()
    taps = make_taps(m, ["logits", "emb", "pooled", *m.MAPS], "student")
    feats = taps.collect(m(x))
    assert feats["logits"].shape == (4, 5) and feats["emb"].shape == (4, 300)
    assert torch.allclose(m.fc1(m.act(feats["emb"])), feats["logits"], atol=1e-5)
    for name in m.MAPS:  # 1-D maps, given to the methods as maps of height one
        assert feats[name].ndim == 4 and feats[name].shape[0] == 4 and feats[name].shape[2] == 1
    if arch not in ("minirocket", "rocket"):
        assert m.MAPS
    # dataset normalisation comes from the training windows
    assert torch.allclose(m.norm.mean, x.mean(dim=(0, 2)), atol=1e-5)


def test_minirocket_student_caches_fixed_features():
    m = build_student_model("minirocket", 3, 3)
    x = torch.randn(5, 3, 100)
    m.fit(x)
    first = m.transform(x)
    assert len(m._cache) == 5
    again = m.transform(x)
    assert torch.equal(first, again) and torch.equal(first, m.features(x))
    # reloading the same fit (best.pt before the test) keeps the cache; another fit's state drops it
    m.load_state_dict(m.state_dict())
    assert len(m._cache) == 5 and torch.equal(m.transform(x), first)
    other = build_student_model("minirocket", 3, 3)
    other.fit(torch.randn(5, 3, 100) * 3)
    m.load_state_dict(other.state_dict())
    y = m.transform(x)
    assert len(m._cache) == 5 and torch.equal(y, other.features(x)) and not torch.equal(y, first)


def test_raw_view_resamples_whole_recording_channels_first():
    cfg = load_config(None, ["data.preset=tiny", "student.arch=watch1d", "student.input.length=64"])
    recs, splits, _ = load_data(cfg)
    ds = paired(cfg, splits.train, train=False)
    item = ds[0]
    assert item["student"].shape == (3, 64) and item["student"].dtype == torch.float32
    raw = recs[0].load("inertial").select(("acc_x", "acc_y", "acc_z"))
    rec0 = splits.train[0]
    expected = resample_linear(np.asarray(rec0.load("inertial").select(("acc_x", "acc_y", "acc_z")), np.float64), 64)
    np.testing.assert_allclose(item["student"].numpy(), expected.T, rtol=1e-6, atol=1e-6)
    assert raw.shape[1] == 3


def test_raw_view_augments_training_items_only():
    cfg = load_config(None, ["data.preset=tiny", "student.arch=watch1d", "student.input.augment.jitter=0.05"])
    _, splits, _ = load_data(cfg)
    tr = paired(cfg, splits.train, train=True)
    ev = paired(cfg, splits.train, train=False)
    assert not torch.equal(tr[0]["student"], ev[0]["student"])
    assert torch.equal(ev[0]["student"], torch.from_numpy(student_signal(splits.train[0], RawSpec())))


# ------------------------------------------------------------------------------------------ runs
@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    ov = TINY + [f"data.cache_dir={root / 'cache'}"]
    assert main(["train-teacher", *sets(ov), "--out", str(root / "teacher"), "--quiet"]) == 0
    yield root, ov
    shutil.rmtree(root, ignore_errors=True)  # a module's runs, once its tests are done (disk)


@pytest.mark.parametrize("arch", RAW)
def test_train_student_and_distill_each_raw_arch(zoo, arch, capsys):
    root, ov = zoo
    ov = ov + [f"student.arch={arch}", "student.input.normalize=dataset", "student.input.length=96"]
    assert main(["train-student", *sets(ov), "--out", str(root / f"s-{arch}"), "--quiet"]) == 0, \
        capsys.readouterr().err
    assert main(["distill", "--method", "dask", "--teacher", str(root / "teacher" / "best.pt"), *sets(ov),
                 "--out", str(root / f"d-{arch}"), "--quiet"]) == 0, capsys.readouterr().err
    for run in (f"s-{arch}", f"d-{arch}"):
        res = json.loads((root / run / "results.json").read_text())
        assert 0.0 <= res["test"]["accuracy"] <= 1.0
        assert json.loads(json.dumps(res))["kind"] == "student"


@pytest.mark.slow
@pytest.mark.parametrize("arch", RAW)
def test_every_method_runs_or_refuses_in_one_line(zoo, arch):
    """A distill step per zoo method on the raw student, or a build-time ConfigError naming the method."""
    root, ov = zoo
    cfg = load_config(None, ov + [f"student.arch={arch}", "student.input.length=64"])
    _, splits, names = load_data(cfg)
    teacher, _ = load_teacher(root / "teacher" / "best.pt", len(names))
    ds = paired(cfg, splits.train, train=False, teacher=True)
    from vskd.data.paired import collate

    batch = collate([ds[i] for i in range(min(8, len(ds)))])
    ran, refused = [], []
    for name, _, _ in list_methods():
        torch.manual_seed(0)
        student = build_student(cfg, len(names))
        fit_student(student, cfg, splits.train)
        method = create_method(name, {})
        method.dataset_size, method.num_classes = len(ds), len(names)
        try:
            check_method_on_student(method, student)
        except ConfigError as exc:
            msg = str(exc)
            assert "\n" not in msg and f"'{name}'" in msg and arch in msg
            refused.append(name)
            continue
        d = Distiller(student, teacher, method)
        if hasattr(method, "setup"):
            d.setup_method(batch, num_train=len(ds), num_classes=len(names))
        _, terms = d(batch)
        assert torch.isfinite(terms["loss"])
        terms["loss"].backward()
        assert any(p.grad is not None for p in student.parameters())
        d.close()
        ran.append(name)
    # embedding/logit methods run on every raw student; map methods on those with the maps they read
    assert {"kd", "dask", "rkd", "pkt", "cc", "crd"} <= set(ran)
    if arch == "watch1d":
        assert not refused
    if arch in ("minirocket", "rocket"):
        assert {"at", "fitnet", "ab", "vid"} <= set(refused)


# ------------------------------------------------------------------------------------------ deploy
@pytest.mark.slow
def test_export_onnx_fp32_int8_and_stream_a_raw_student(zoo, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    root, ov = zoo
    ov = ov + ["student.arch=watch1d", "student.input.normalize=dataset"]
    run = tmp_path / "w"
    assert main(["train-student", *sets(ov), "--out", str(run), "--quiet"]) == 0
    assert main(["export", str(run / "best.pt"), "--int8", "--out", str(tmp_path / "x")]) == 0
    report = json.loads((tmp_path / "x" / "export.json").read_text())
    assert report["check"]["max_abs_diff"] < 1e-4 and report["info"]["extra"]["view"] == "raw"
    from vskd.deploy.model import load_checkpoint_model
    from vskd.deploy.runtime import load_predictor

    model, info, _ = load_checkpoint_model(run / "best.pt")
    pred = load_predictor(tmp_path / "x" / "student.onnx", threads=1)
    w = np.random.default_rng(0).normal(size=(130, 3)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(w)[None]).numpy()[0]
    np.testing.assert_allclose(pred.predict_window(w), ref, atol=1e-4, rtol=1e-4)
    # a channel count that does not match the checkpoint: one line
    with pytest.raises(DataError, match=r"\(T, 3\)"):
        pred.predict_window(w[:, :2])
    # stream over a CSV of t,x,y,z
    csv = tmp_path / "s.csv"
    t = np.arange(400) / 50.0
    csv.write_text("\n".join(f"{a:.3f},{b:.4f},{c:.4f},{d:.4f}" for a, (b, c, d) in
                             zip(t, np.random.default_rng(1).normal(size=(400, 3)))))
    capsys.readouterr()
    assert main(["stream", str(tmp_path / "x" / "student_int8.onnx"), "--input", str(csv), "--jsonl"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert lines


# ------------------------------------------------------------------------------------------ bad input
def test_unknown_student_arch_lists_the_known_ones(capsys, tmp_path):
    with pytest.raises(ConfigError, match="known: resnet18.*inception1d.*minirocket.*watch1d"):
        build_student(load_config(None, ["student.arch=lstm"]), 3)
    assert main(["train-student", "--set", "student.arch=lstm", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "student.arch" in err[0] and "watch1d" in err[0]


@pytest.mark.parametrize("arch,length", [("inception1d", 20), ("watch1d", 8)])
def test_window_shorter_than_receptive_field(arch, length):
    m = build_student_model(arch, 3, 3)
    with pytest.raises(DataError, match=f"window of {length} samples is shorter than the {arch} student's "
                                        r"receptive field \(\d+ samples\)"):
        m(torch.randn(2, 3, length))


def test_configured_length_shorter_than_receptive_field_is_one_line(capsys, tmp_path):
    code = main(["train-student", "--set", "data.preset=tiny", "--set", "student.arch=inception1d",
                 "--set", "student.input.length=20", "--out", str(tmp_path / "short"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "student.input.length" in err[0] and "receptive field (39 samples)" in err[0]


def test_minirocket_window_shorter_than_its_fitted_dilations():
    m = build_student_model("minirocket", 3, 3)
    m.fit(torch.randn(6, 3, 180))
    with pytest.raises(DataError, match=r"shorter than the MiniRocket student's receptive field \(177 samples"):
        m(torch.randn(2, 3, 100))


@pytest.mark.parametrize("arch", RAW)
def test_channel_count_that_does_not_match(arch):
    m = build_student_model(arch, 3, 3)
    if arch in ("minirocket", "rocket"):
        m.fit(torch.randn(4, 3, 90))
    with pytest.raises(DataError, match=r"expects windows \(B, 3, T\)"):
        m(torch.randn(2, 6, 90))


def test_bad_raw_input_config_keys():
    with pytest.raises(ConfigError, match="student.input.normalize"):
        load_config(None, ["student.arch=watch1d", "student.input.normalize=zscore"])
    with pytest.raises(ConfigError, match="student.input.length"):
        load_config(None, ["student.arch=watch1d", "student.input.length=1"])
    with pytest.raises(ConfigError, match="student.pretrained"):
        build_student(load_config(None, ["student.arch=watch1d", "student.pretrained=x.pth"]), 3)
