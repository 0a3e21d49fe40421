"""The Rocket-feature student (issue 14): torch Rocket == aeon's transform, its kernel draws, its ridge head
== aeon's RocketClassifier on the same kernels, its state, runs and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vskd.errors import ConfigError, DataError
from vskd.models.registry import build_student_model
from vskd.models.rocket import RocketFeatures, RocketStudent, draw_rocket_kernels


@pytest.fixture(scope="module")
def aeon_rocket():
    mod = pytest.importorskip("aeon.transformations.collection.convolution_based")
    return mod.Rocket


def _windows(n_per_class: int, classes: int, seed: int = 0, length: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy sinusoids whose frequency names the class: (N, 3, length) windows and labels."""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, length)
    xs, ys = [], []
    for c in range(classes):
        for _ in range(n_per_class):
            phase = torch.rand(3, 1, generator=g) * 6.28
            xs.append(torch.sin(2 * 3.1416 * (c + 1) * t + phase) + 0.5 * torch.randn(3, length, generator=g))
            ys.append(c)
    return torch.stack(xs), torch.tensor(ys)


@pytest.mark.parametrize("channels,length,normalise", [(3, 180, True), (1, 97, True), (3, 60, False)])
def test_torch_rocket_equals_aeon_on_aeon_kernels(aeon_rocket, channels, length, normalise):
    rng = np.random.default_rng(length)
    x_fit = rng.normal(size=(4, channels, length)).astype(np.float32)
    x = (rng.normal(size=(6, channels, length)) * 2 + np.linspace(0, 3, length)).astype(np.float32)
    aeon = aeon_rocket(n_kernels=600, normalise=normalise, random_state=3).fit(x_fit)
    ours = RocketFeatures.from_aeon(aeon, channels)
    ref = aeon.transform(x)
    got = ours(torch.from_numpy(x)).numpy()
    assert got.shape == ref.shape == (6, 1200)
    np.testing.assert_allclose(got[:, 1::2], ref[:, 1::2], atol=1e-4, rtol=1e-5)  # maxima
    # PPVs: equal, but for a response that float32 rounds across zero (one position of one kernel)
    ppv = np.abs(got[:, 0::2] - ref[:, 0::2])
    assert (ppv > 1e-6).mean() < 1e-3 and ppv.max() <= 1.0 / 50
    # any batch size gives the same features (windows convolved CHUNK_WINDOWS at a time)
    ours.CHUNK_WINDOWS = 4
    assert torch.equal(ours(torch.from_numpy(x)), torch.from_numpy(got))


def test_our_draw_is_aeons_for_the_same_seed(aeon_rocket):
    """numba's np.random (aeon's) and NumPy's RandomState are the same Mersenne Twister: the same kernels."""
    x = np.random.default_rng(0).normal(size=(3, 3, 180)).astype(np.float32)
    for seed in (0, 7):
        ref = aeon_rocket(n_kernels=300, random_state=seed).fit(x).kernels
        ours = draw_rocket_kernels(180, 300, 3, seed=seed)
        for a, b in zip(ref, ours):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, atol=1e-6)


def test_kernel_draws_follow_the_paper():
    k = 3000
    w, lengths, biases, dilations, paddings, n_chan, chans = draw_rocket_kernels(180, k, 3, seed=0)
    assert set(np.unique(lengths)) == {7, 9, 11}
    assert (n_chan >= 1).all() and (n_chan <= np.minimum(3, lengths)).all() and set(np.unique(n_chan)) == {1, 2, 3}
    assert (biases >= -1).all() and (biases < 1).all()
    assert (dilations >= 1).all() and ((lengths - 1) * dilations <= 179).all() and dilations.max() > 16
    assert set(np.unique(paddings[paddings > 0] - ((lengths - 1) * dilations // 2)[paddings > 0])) == {0}
    assert 0.4 < (paddings > 0).mean() < 0.6
    a1 = 0
    for L, n in zip(lengths[:50], n_chan[:50]):  # weights N(0, 1) centred per channel
        block = w[a1:a1 + n * L].reshape(n, L)
        np.testing.assert_allclose(block.mean(axis=1), 0, atol=1e-6)
        a1 += n * L
    assert len(w) == int(np.dot(lengths, n_chan)) and len(chans) == n_chan.sum()
    again = draw_rocket_kernels(180, k, 3, seed=0)
    other = draw_rocket_kernels(180, k, 3, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(again, (w, lengths, biases, dilations, paddings, n_chan, chans)))
    assert not np.array_equal(other[2], biases)


def test_rocket_state_dict_round_trip_resizes_fitted_buffers():
    x = torch.randn(5, 3, 120)
    a = RocketFeatures(3, 300).fit(x, seed=2)
    b = RocketFeatures(3, 300)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a(x), b(x)) and b.min_length == a.min_length <= 120
    s = build_student_model("rocket", 4, 3, seed=1)
    assert isinstance(s, RocketStudent) and s.features.num_kernels == 10_000 and s.fc0.in_features == 20_000


def test_ridge_head_reproduces_aeons_rocket_classifier_on_the_same_kernels():
    """The oracle: aeon's RocketClassifier (Rocket -> StandardScaler -> RidgeClassifierCV); the student is
    given the same kernels, and its closed-form head then predicts what the classifier predicts."""
    conv = pytest.importorskip("aeon.classification.convolution_based")
    x, y = _windows(10, 4)
    xt, yt = _windows(6, 4, seed=1)
    clf = conv.RocketClassifier(n_kernels=2000, random_state=0).fit(x.numpy(), y.numpy())
    kernels = clf.pipeline_.steps[0][1].kernels
    m = RocketStudent(num_classes=4, in_channels=3, num_features=4000, head_init="ridge")
    m.features.fit = lambda windows, seed=0: m.features.set_kernels(kernels)  # aeon's kernels, not our draw
    m.fit(x, labels=y)
    m.eval()
    with torch.no_grad():
        ours = m(xt).argmax(1).numpy()
    ref = clf.predict(xt.numpy()).astype(int)
    # the same classifier up to the scaler's ddof (ours divides by the n - 1 std: the penalty grid moves by
    # n / (n - 1)) and float32 rounding: at most one of 24 unseen windows differs
    assert (ours != ref).sum() <= 1
    assert (ours == yt.numpy()).mean() > 0.5  # and it learnt the classes
    assert m.ridge_alpha == pytest.approx(clf.pipeline_.steps[-1][1].alpha_)  # the same penalty chosen


def test_rocket_student_caches_fixed_features_and_seeds_its_kernels():
    x, y = _windows(3, 2)
    a = RocketStudent(num_classes=2, in_channels=3, num_features=800, seed=4)
    a.fit(x, labels=y)
    assert len(a._cache) == len(x)
    calls = []
    hook = a.features.register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        a(x)
    assert not calls  # every training window's features came from the cache
    hook.remove()
    b = RocketStudent(num_classes=2, in_channels=3, num_features=800, seed=4)
    b.fit(x)
    c = RocketStudent(num_classes=2, in_channels=3, num_features=800, seed=5)
    c.fit(x)
    assert torch.equal(a.features.weight, b.features.weight) and not torch.equal(a.features.weight, c.features.weight)


def test_rocket_bad_input_is_one_line():
    with pytest.raises(ConfigError, match="not fitted"):
        RocketFeatures(3, 10)(torch.randn(2, 3, 50))
    f = RocketFeatures(3, 50).fit(torch.randn(2, 3, 180), seed=0)
    with pytest.raises(DataError, match=r"Rocket expects windows \(B, 3, T\)"):
        f(torch.randn(2, 2, 180))
    with pytest.raises(DataError, match=r"window of 20 samples is shorter than the Rocket student's receptive field"):
        f(torch.randn(2, 3, 20))
    with pytest.raises(DataError, match="at least 11 samples"):
        RocketFeatures(3, 10).fit(torch.randn(2, 3, 8))
    with pytest.raises(DataError, match=r"Rocket fit expects training windows \(N, 3, T\)"):
        RocketFeatures(3, 10).fit(torch.randn(2, 4, 80))
    with pytest.raises(ConfigError, match="inconsistent"):
        RocketFeatures(3, 10).set_kernels(draw_rocket_kernels(80, 9, 3))
    with pytest.raises(ConfigError, match="use channel 2, the module has 2"):
        RocketFeatures(2, 10).set_kernels(draw_rocket_kernels(80, 10, 3, seed=0))
    with pytest.raises(ConfigError, match="num_features must be an even number"):
        RocketStudent(num_classes=2, num_features=801)
    m = build_student_model("rocket", 3, 3)
    with pytest.raises(DataError, match=r"the rocket student expects windows \(B, 3, T\)"):
        m(torch.randn(2, 6, 90))


def test_feature_cache_notices_a_changed_transform():
    """The cache's digest of the fitted buffers is retaken when one is modified in place or replaced."""
    x, y = _windows(3, 2)
    m = RocketStudent(num_classes=2, in_channels=3, num_features=400, seed=0)
    m.fit(x)
    first = m.transform(x)
    with torch.no_grad():
        m.features.biases.add_(0.5)  # in place
    moved = m.transform(x)
    assert not torch.equal(moved, first) and torch.equal(moved, m.features(x))
    m.features.set_kernels(draw_rocket_kernels(64, 200, 3, seed=9))  # replaced
    assert torch.equal(m.transform(x), m.features(x)) and not torch.equal(m.transform(x), moved)


def test_the_kernels_cut_once_follow_every_change_of_the_buffers():
    """RocketFeatures keeps each group's kernels cut from the padded buffers: an in-place edit of the
    weights, a reload and a refit are seen (the forward equals the one computed from the buffers)."""
    from vskd.models.rocket import RocketFeatures

    x, _ = _windows(3, 2)
    r = RocketFeatures(3, 50)
    r.fit(x, seed=0)

    def from_buffers(v):
        v = (v - v.mean(2, keepdim=True)) / v.std(2, keepdim=True, unbiased=False).clamp_min(1e-12)
        out = []
        for L, d, p, idx in r._groups:
            resp = torch.nn.functional.conv1d(v, r.weight[idx, :, :L], r.biases[idx], padding=p, dilation=d)
            out.append(torch.stack([(resp > 0).float().mean(2), resp.amax(2)], 2).reshape(v.shape[0], -1))
        return torch.cat(out, 1).index_select(1, r._order)

    first = r(x)
    assert torch.allclose(first, from_buffers(x), atol=1e-5)
    with torch.no_grad():
        r.weight.mul_(-1.0)  # in place: every response flips sign
    flipped = r(x)
    assert not torch.allclose(flipped, first) and torch.allclose(flipped, from_buffers(x), atol=1e-5)
    r.load_state_dict(RocketFeatures(3, 50).fit(x, seed=0).state_dict())  # reloaded: the first kernels again
    assert torch.allclose(r(x), first, atol=1e-6)
    r.fit(x, seed=5)  # refitted: other kernels
    assert torch.allclose(r(x), from_buffers(x), atol=1e-5) and not torch.allclose(r(x), first)


@pytest.mark.slow
def test_rocket_student_exports_to_onnx_fp32_and_int8_and_streams(tmp_path, capsys):
    """The best wrist student on the watch: vskd export (self-checked against torch) and vskd stream."""
    pytest.importorskip("onnxruntime")
    import json

    from vskd.cli import main

    ov = ["data.preset=tiny", "student.arch=rocket", "student.head_init=ridge", "student.train.epochs=1",
          "student.input.length=96"]
    args = [a for o in ov for a in ("--set", o)]
    assert main(["train-student", *args, "--out", str(tmp_path / "s"), "--quiet"]) == 0
    assert main(["export", str(tmp_path / "s" / "best.pt"), "--int8", "--out", str(tmp_path / "x")]) == 0
    report = json.loads((tmp_path / "x" / "export.json").read_text())
    assert report["check"]["max_abs_diff"] < 1e-4  # ONNX fp32 == torch
    out = capsys.readouterr().out
    assert "onnx int8" in out and "top-1 agreement with fp32" in out
    csv = tmp_path / "s.csv"
    t = np.arange(400) / 50.0
    csv.write_text("\n".join(f"{a:.3f},{b:.4f},{c:.4f},{d:.4f}" for a, (b, c, d) in
                             zip(t, np.random.default_rng(1).normal(size=(400, 3)))))
    assert main(["stream", str(tmp_path / "x" / "student_int8.onnx"), "--input", str(csv), "--jsonl"]) == 0
    assert [x for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
