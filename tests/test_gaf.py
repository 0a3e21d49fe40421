"""Tests of vskd.gaf: equality with pyts, properties (hypothesis), images, the encoder, errors, golden.

The golden images under tests/data/gaf/ are produced by pyts (the oracle), not by vskd: regenerate
them with ``.venv/bin/python tests/test_gaf.py --regenerate-golden``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vskd.errors import VskdError
from vskd.gaf import GAFEncoder, gaf_image, gramian_angular_field, paa, paa_bounds, resolve_image_size


GOLDEN_DIR = Path(__file__).parent / "data" / "gaf"
GOLDEN_RECORDING = "a1_s1_t1_inertial.mat"
GOLDEN_SIZE = 64
GOLDEN_FILES = {"summation": "a1_s1_t1_acc_gasf_paa64.png", "difference": "a1_s1_t1_acc_gadf_authors_paa64.png"}

TOL = 1e-6
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def as_numpy(a) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


# --------------------------------------------------------------------------------------------------
# PAA
# --------------------------------------------------------------------------------------------------


def test_paa_bounds_equal_pyts_segmentation(pyts_oracle) -> None:
    for t in range(2, 70):
        for s in range(1, t + 1):
            start, end, size = pyts_oracle.segmentation(t, -(-t // s), overlapping=False, n_segments=s)
            bounds = paa_bounds(t, s)
            assert size == s
            assert bounds[:-1] == start.tolist() and bounds[1:] == end.tolist(), (t, s)


@pytest.mark.parametrize("output_size", [1, 4, 7, 33, 100, 0.25, 0.5, 1.0])
def test_paa_equals_pyts(pyts_oracle, output_size) -> None:
    x = np.random.default_rng(1).normal(size=(5, 100)) * 3 + 1
    ref = pyts_oracle.PiecewiseAggregateApproximation(window_size=None, output_size=output_size, overlapping=False).transform(x)
    got = paa(x, output_size)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    got_t = paa(torch.from_numpy(x).float(), output_size)
    assert isinstance(got_t, torch.Tensor) and got_t.dtype == torch.float32
    np.testing.assert_allclose(got_t.numpy(), ref, rtol=0, atol=1e-5)


# --------------------------------------------------------------------------------------------------
# equality with pyts
# --------------------------------------------------------------------------------------------------

T_MAIN = 100


@pytest.mark.parametrize("method", ["summation", "difference"])
@pytest.mark.parametrize("image_size", [None, 1, 2, 7, 30, 99, T_MAIN, 0.01, 0.3, 0.77, 1.0])
def test_equals_pyts_random(pyts_oracle, method: str, image_size) -> None:
    rng = np.random.default_rng(abs(hash((method, str(image_size)))) % 2**32)
    # batched leading dims (2, 3); offsets and scales of accelerometer-like and larger signals
    x = rng.normal(size=(2, 3, T_MAIN)) * rng.uniform(0.01, 50, size=(2, 3, 1)) + rng.normal(0, 5, size=(2, 3, 1))
    for sample_range in [(-1, 1), (0, 1), (-0.5, 0.25)]:
        for dtype in (np.float64, np.float32):
            xd = x.astype(dtype)
            ref = pyts_oracle.gaf(xd, method, image_size, sample_range)
            for kind in ("numpy", "torch"):
                inp = xd if kind == "numpy" else torch.from_numpy(xd)
                got = gramian_angular_field(inp, method=method, image_size=image_size, sample_range=sample_range)
                assert isinstance(got, np.ndarray if kind == "numpy" else torch.Tensor)
                assert str(got.dtype).endswith("float32" if dtype == np.float32 else "float64")
                assert got.shape == ref.shape
                np.testing.assert_allclose(as_numpy(got), ref, rtol=0, atol=TOL,
                                           err_msg=f"{kind} {dtype.__name__} {sample_range}")


@pytest.mark.parametrize("t", [1, 2, 3])
@pytest.mark.parametrize("method", ["summation", "difference"])
def test_short_series_equal_pyts(pyts_oracle, t: int, method: str) -> None:
    x = np.random.default_rng(t).normal(size=(4, t))
    x[0] = 0.5  # a constant one as well
    sizes = [None, *range(1, t + 1), 0.5, 1.0]
    for image_size in sizes:
        ref = pyts_oracle.gaf(x, method, image_size, (-1, 1))
        got = gramian_angular_field(x, method=method, image_size=image_size)
        np.testing.assert_allclose(got, ref, rtol=0, atol=TOL)


@pytest.mark.parametrize("sample_range", [(-1, 1), (0, 1), (-0.3, 0.9)])
@pytest.mark.parametrize("image_size", [None, 5, 0.4])
def test_constant_series_maps_to_lower_bound(pyts_oracle, sample_range, image_size) -> None:
    values = [0.0, 0.1, -7.77, 1234.567, 1e6, 1e-300, -3e300]
    x = np.repeat(np.asarray(values)[:, None], 23, axis=1)
    lo = sample_range[0]
    phi = np.arccos(lo)
    for method, expected in (("summation", np.cos(2 * phi)), ("difference", 0.0)):
        got = gramian_angular_field(x, method=method, image_size=image_size, sample_range=sample_range)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
        # pyts agrees where its own float64 sums do not overflow
        ok = np.abs(x[:, 0]) < 1e300
        np.testing.assert_allclose(got[ok], pyts_oracle.gaf(x[ok], method, image_size, sample_range), rtol=0, atol=TOL)


def test_sample_range_none_equals_pyts_and_checks_bounds(pyts_oracle) -> None:
    x = np.random.default_rng(3).uniform(-1, 1, size=(3, 40))
    x[0, :2] = (-1.0, 1.0)
    for method in ("summation", "difference"):
        for image_size in (None, 9, 0.5):
            ref = pyts_oracle.gaf(x, method, image_size, None)
            got = gramian_angular_field(torch.from_numpy(x), method=method, image_size=image_size, sample_range=None)
            np.testing.assert_allclose(got.numpy(), ref, rtol=0, atol=TOL)
    with pytest.raises(VskdError, match=r"sample_range=None.*\[-1, 1\]"):
        gramian_angular_field(x * 1.5, sample_range=None)


def test_tiny_range_follows_sklearn_rule(pyts_oracle) -> None:
    # a data range below 10 * eps64 counts as constant in pyts (sklearn's MinMaxScaler): ~ lower bound
    x = np.random.default_rng(4).normal(size=(2, 30)) * 1e-17
    ref = pyts_oracle.gaf(x, "summation", None, (-1, 1))
    np.testing.assert_allclose(gramian_angular_field(x), ref, rtol=0, atol=TOL)
    np.testing.assert_allclose(ref, 1.0, atol=1e-6)


def test_numpy_and_torch_dtypes_and_shapes(pyts_oracle) -> None:
    x = np.arange(12, dtype=np.int64).reshape(2, 6) ** 2
    got = gramian_angular_field(x)
    assert got.dtype == np.float64 and got.shape == (2, 6, 6)
    np.testing.assert_allclose(got, pyts_oracle.gaf(x, "summation", None, (-1, 1)), atol=TOL)
    got_t = gramian_angular_field(torch.from_numpy(x), image_size=3)
    assert got_t.dtype == torch.get_default_dtype() and got_t.shape == (2, 3, 3)
    # big-endian and non-contiguous arrays are read as they are
    np.testing.assert_array_equal(gramian_angular_field(x.astype(">f8")), got)
    np.testing.assert_array_equal(gramian_angular_field(np.asfortranarray(x.astype(float))[:, ::-1]),
                                  gramian_angular_field(np.ascontiguousarray(x[:, ::-1]).astype(float)))
    one = gramian_angular_field(np.array([1.0, 2.0, 4.0]))
    assert one.shape == (3, 3)
    assert gramian_angular_field(np.zeros((0, 5))).shape == (0, 5, 5)
    # the 's' / 'd' aliases of pyts
    np.testing.assert_array_equal(gramian_angular_field(x, method="d"), gramian_angular_field(x, method="difference"))


def test_reduced_precision_matmul_setting_is_not_used(pyts_oracle) -> None:
    # with TF32/bf16 matrix products allowed, the float32 fields fall back to elementwise products
    x = np.random.default_rng(7).normal(size=(3, 60)).astype(np.float32)
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("medium")
        for method in ("summation", "difference"):
            got = gramian_angular_field(torch.from_numpy(x), method=method, image_size=25)
            np.testing.assert_allclose(got.numpy(), pyts_oracle.gaf(x, method, 25, (-1, 1)), rtol=0, atol=TOL)
            assert (torch.diagonal(got, dim1=-2, dim2=-1) == 0).all() or method == "summation"
    finally:
        torch.set_float32_matmul_precision(before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_equals_cpu() -> None:
    x = torch.randn(4, 3, 50, generator=torch.Generator().manual_seed(0))
    for method in ("summation", "difference"):
        cpu = gramian_angular_field(x, method=method, image_size=20)
        gpu = gramian_angular_field(x.cuda(), method=method, image_size=20)
        assert gpu.device.type == "cuda"
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-6)
        torch.testing.assert_close(GAFEncoder(method, 20).cuda()(x.transpose(1, 2).cuda()).cpu(),
                                   gaf_image(x.transpose(1, 2), method, 20), rtol=0, atol=1e-5)


# --------------------------------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------------------------------

finite64 = st.floats(allow_nan=False, allow_infinity=False, width=64)
series = st.integers(1, 40).flatmap(lambda t: arrays(np.float64, (2, t), elements=finite64))


@st.composite
def series_and_size(draw):
    x = draw(st.one_of(
        series,
        # constant series, of any magnitude
        st.tuples(st.integers(1, 30), finite64).map(lambda tv: np.full((2, tv[0]), tv[1])),
        # tiny and huge magnitudes around an offset
        st.tuples(st.integers(1, 30), st.sampled_from([1e-300, 1e-30, 1e-9, 1.0, 1e9, 1e150, 1e300]),
                  st.floats(-1e300, 1e300), st.integers(0, 2**31))
        .map(lambda a: np.random.default_rng(a[3]).normal(size=(2, a[0])) * a[1] + a[2]),
    ))
    t = x.shape[-1]
    image_size = draw(st.one_of(st.none(), st.integers(1, t), st.floats(0.01, 1.0)))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    with np.errstate(over="ignore"):
        xd = x.astype(dtype)
    assume(np.isfinite(xd).all())
    return xd, image_size


@PROPS
@given(series_and_size(), st.sampled_from([(-1, 1), (0, 1), (-0.7, 0.2)]))
def test_property_gasf_symmetric_gadf_antisymmetric_bounded(data, sample_range) -> None:
    x, image_size = data
    eps = np.finfo(x.dtype).eps
    for kind in ("numpy", "torch"):
        inp = x if kind == "numpy" else torch.from_numpy(x)
        gasf = as_numpy(gramian_angular_field(inp, "summation", image_size, sample_range))
        gadf = as_numpy(gramian_angular_field(inp, "difference", image_size, sample_range))
        for g in (gasf, gadf):
            assert np.isfinite(g).all()
            assert g.min() >= -1.0 and g.max() <= 1.0
        # symmetric / antisymmetric up to the rounding of one product
        np.testing.assert_allclose(gasf, np.swapaxes(gasf, -1, -2), rtol=0, atol=4 * eps)
        np.testing.assert_allclose(gadf, -np.swapaxes(gadf, -1, -2), rtol=0, atol=4 * eps)
        assert (np.diagonal(gadf, axis1=-2, axis2=-1) == 0).all()
        s = gasf.shape[-1]
        assert gasf.shape == (2, s, s) and s == resolve_image_size(image_size, x.shape[-1])


@PROPS
@given(st.integers(2, 40).flatmap(lambda t: arrays(np.float64, (3, t), elements=st.floats(-1e3, 1e3))),
       st.sampled_from(["summation", "difference"]), st.data())
def test_property_equals_pyts(pyts_oracle, x, method, data) -> None:
    t = x.shape[-1]
    image_size = data.draw(st.one_of(st.none(), st.integers(1, t), st.floats(0.05, 1.0)))
    # pyts' own scaling (x * scale + offset) cancels badly when the range is tiny next to the
    # magnitude; compare where pyts itself is accurate
    size = resolve_image_size(image_size, t)
    rng_ = np.ptp(paa(x, size), axis=-1)
    assume(((rng_ == 0) | (rng_ > 1e-6 * (1 + np.abs(x).max(axis=-1)))).all())
    # pyts' PAA of a constant series can differ by one ulp between segments, which its min-max then
    # blows up to +-1; ours keeps the series constant (lower bound, as documented): not comparable
    assume(size == t or (np.ptp(x, axis=-1) > 0).all())
    ref = pyts_oracle.gaf(x, method, image_size, (-1, 1))
    np.testing.assert_allclose(gramian_angular_field(x, method, image_size), ref, rtol=0, atol=TOL)


# --------------------------------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------------------------------


def _window(t=50, c=3, seed=0, lead=()):
    g = torch.Generator().manual_seed(seed)
    return torch.cumsum(torch.randn(*lead, t, c, generator=g, dtype=torch.float64), dim=-2)


@pytest.mark.parametrize("method", ["summation", "difference"])
def test_gaf_image_minmax_shape_range(method: str) -> None:
    w = _window(lead=(2,))
    img = gaf_image(w, method=method)
    assert img.shape == (2, 3, 50, 50) and img.dtype == torch.float32
    flat = img.reshape(6, -1)
    torch.testing.assert_close(flat.min(1).values, torch.zeros(6))
    torch.testing.assert_close(flat.max(1).values, torch.ones(6))
    g = gramian_angular_field(w.transpose(-1, -2), method=method).float()
    lo, hi = g.amin((-2, -1), keepdim=True), g.amax((-2, -1), keepdim=True)
    torch.testing.assert_close(img, (g - lo) / (hi - lo), rtol=0, atol=1e-6)


def test_gaf_image_affine_and_numpy(pyts_oracle) -> None:
    w = _window(seed=1)
    img = gaf_image(w.numpy(), method="difference", scaling="affine", image_size=20)
    assert isinstance(img, np.ndarray) and img.dtype == np.float32 and img.shape == (3, 20, 20)
    ref = (pyts_oracle.gaf(w.numpy().T, "difference", 20, (-1, 1)) + 1) / 2
    np.testing.assert_allclose(img, ref, rtol=0, atol=1e-6)
    assert img.min() >= 0 and img.max() <= 1
    # affine keeps absolute values: GADF diagonal (0) maps to exactly 0.5
    np.testing.assert_array_equal(np.diagonal(img, axis1=-2, axis2=-1), 0.5)


def test_gaf_image_orientation(pyts_oracle) -> None:
    w = _window(seed=2)
    std = gaf_image(w, method="difference")
    authors = gaf_image(w, method="difference", orientation="authors")
    torch.testing.assert_close(authors, std.transpose(-1, -2), rtol=0, atol=1e-6)
    assert not torch.equal(authors, std)
    torch.testing.assert_close(gaf_image(w, orientation="authors"), gaf_image(w), rtol=0, atol=0)
    # the authors' formula: psi = arcsin(x_hat), GADF = sin(psi_i - psi_j)
    xh = pyts_oracle.MinMaxScaler(sample_range=(-1, 1)).transform(w.numpy().T)
    psi = np.arcsin(np.clip(xh, -1, 1))
    g = np.sin(psi[:, :, None] - psi[:, None, :])
    lo, hi = g.min((1, 2), keepdims=True), g.max((1, 2), keepdims=True)
    np.testing.assert_allclose(authors.numpy(), (g - lo) / (hi - lo), rtol=0, atol=1e-6)


def test_gaf_image_resize_and_constant_channel() -> None:
    w = _window(t=40, seed=3, lead=(2,))
    w[1, :, 2] = 9.81  # a flat axis
    img = gaf_image(w, image_size=0.5, out_size=64)
    assert img.shape == (2, 3, 64, 64)
    small = gaf_image(w, image_size=0.5)
    ref = F.interpolate(small, size=(64, 64), mode="bilinear", align_corners=False)
    torch.testing.assert_close(img, ref, rtol=0, atol=1e-6)
    assert torch.equal(img[1, 2], torch.zeros(64, 64))  # a constant image maps to 0
    assert img.min() >= 0 and img.max() <= 1


@pytest.mark.parametrize("method", ["summation", "difference"])
@pytest.mark.parametrize("options", [
    dict(), dict(image_size=24), dict(image_size=0.3, out_size=32), dict(scaling="affine", out_size=70),
    dict(orientation="authors", image_size=17),
])
def test_encoder_equals_gaf_image(method: str, options: dict) -> None:
    w = _window(t=60, seed=4, lead=(3,)).float()
    enc = GAFEncoder(method=method, **options)
    assert list(enc.parameters()) == []
    torch.testing.assert_close(enc(w), gaf_image(w, method=method, **options), rtol=0, atol=2e-6)


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::FutureWarning")
def test_encoder_traces_and_exports() -> None:
    # torch.jit.trace and torch.export (what the ONNX exporter builds on) both capture the forward
    enc = GAFEncoder("difference", image_size=30, out_size=48, orientation="authors")
    w1, w2 = _window(t=60, seed=5, lead=(2,)).float(), _window(t=60, seed=6, lead=(2,)).float()
    traced = torch.jit.trace(enc, w1, check_trace=False)
    torch.testing.assert_close(traced(w2), enc(w2), rtol=0, atol=0)
    assert traced(w2).shape == (2, 3, 48, 48)
    exported = torch.export.export(enc, (w1,)).module()
    torch.testing.assert_close(exported(w2), enc(w2), rtol=0, atol=1e-6)


# --------------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, match", [
    (dict(method="sum"), "method"),
    (dict(image_size=0), "image_size.*1 <= image_size <= T"),
    (dict(image_size=11), "image_size.*got 11"),
    (dict(image_size=0.0), "image_size.*0 < image_size <= 1"),
    (dict(image_size=1.5), "image_size.*fraction"),
    (dict(image_size="8"), "image_size"),
    (dict(image_size=True), "image_size"),
    (dict(sample_range=(-2, 1)), "sample_range.*-1 <= min < max <= 1"),
    (dict(sample_range=(0.5, 0.5)), "sample_range"),
    (dict(sample_range=(0,)), "sample_range.*2 values"),
    (dict(sample_range="ab"), "sample_range"),
])
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(VskdError, match=match):
        gramian_angular_field(np.ones((2, 10)), **kwargs)


def test_bad_inputs() -> None:
    x = np.random.default_rng(0).normal(size=(2, 10))
    x[1, 3] = np.nan
    with pytest.raises(VskdError, match="NaN"):
        gramian_angular_field(x)
    with pytest.raises(VskdError, match="NaN"):
        gaf_image(torch.from_numpy(x.T))
    with pytest.raises(VskdError, match="NaN"):
        GAFEncoder()(torch.from_numpy(x.T[None]).float())
    x[1, 3] = np.inf
    with pytest.raises(VskdError, match="infinite"):
        gramian_angular_field(torch.from_numpy(x))
    with pytest.raises(VskdError, match="at least 1 time step"):
        gramian_angular_field(np.zeros((3, 0)))
    with pytest.raises(VskdError, match=r"shape \(\.\.\., T\)"):
        gramian_angular_field(np.float64(1.0))
    with pytest.raises(VskdError, match="real numeric"):
        gramian_angular_field(np.array(["a", "b"]))
    with pytest.raises(VskdError, match="real numeric"):
        gramian_angular_field(torch.ones(4, dtype=torch.complex64))
    with pytest.raises(VskdError, match="NumPy array or a torch tensor"):
        gramian_angular_field({"a": 1})
    with pytest.raises(VskdError, match=r"\(\.\.\., T, C\)"):
        gaf_image(np.ones(10))
    with pytest.raises(VskdError, match="scaling"):
        gaf_image(np.ones((10, 3)), scaling="zscore")
    with pytest.raises(VskdError, match="orientation"):
        gaf_image(np.ones((10, 3)), orientation="transposed")
    with pytest.raises(VskdError, match="out_size"):
        gaf_image(np.ones((10, 3)), out_size=0)
    with pytest.raises(VskdError, match=r"\(B, T, C\)"):
        GAFEncoder()(torch.ones(10, 3))
    with pytest.raises(VskdError, match="image_size"):
        GAFEncoder(image_size=20)(torch.ones(1, 10, 3))
    with pytest.raises(VskdError, match="image_size"):
        GAFEncoder(image_size=-3)
    with pytest.raises(VskdError, match="method"):
        GAFEncoder(method="x")


# --------------------------------------------------------------------------------------------------
# golden images on a real UTD-MHAD recording (oracle: pyts)
# --------------------------------------------------------------------------------------------------


def _load_acc(utd_root: Path) -> np.ndarray:
    from scipy.io import loadmat

    return np.asarray(loadmat(str(utd_root / "Inertial" / GOLDEN_RECORDING))["d_iner"][:, :3], dtype=np.float64)


def _oracle_image(pyts_oracle, acc: np.ndarray, method: str) -> np.ndarray:
    """(3, 64, 64) in [0, 1] from pyts only: GASF, or the authors' arcsin GADF, then per-channel min-max."""
    if method == "summation":
        g = pyts_oracle.gaf(acc.T, "summation", GOLDEN_SIZE, (-1, 1))
    else:
        xr = pyts_oracle.PiecewiseAggregateApproximation(window_size=None, output_size=GOLDEN_SIZE, overlapping=False).transform(acc.T)
        psi = np.arcsin(np.clip(pyts_oracle.MinMaxScaler(sample_range=(-1, 1)).transform(xr), -1, 1))
        g = np.sin(psi[:, :, None] - psi[:, None, :])
    lo, hi = g.min((1, 2), keepdims=True), g.max((1, 2), keepdims=True)
    return (g - lo) / (hi - lo)


@pytest.mark.realdata
@pytest.mark.parametrize("method", ["summation", "difference"])
def test_golden_utd_mhad(utd_root: Path, method: str) -> None:
    from PIL import Image

    acc = _load_acc(utd_root)
    assert acc.shape == (160, 3)
    golden = np.asarray(Image.open(GOLDEN_DIR / GOLDEN_FILES[method]).convert("RGB"), dtype=np.float64) / 255.0
    orientation = "authors" if method == "difference" else "standard"
    img = gaf_image(acc, method=method, image_size=GOLDEN_SIZE, orientation=orientation)
    assert img.shape == (3, GOLDEN_SIZE, GOLDEN_SIZE)
    np.testing.assert_allclose(img.transpose(1, 2, 0), golden, rtol=0, atol=1 / 255)
    # torch path and the encoder give the same picture
    enc = GAFEncoder(method, GOLDEN_SIZE, orientation=orientation)(torch.from_numpy(acc)[None].float())[0]
    np.testing.assert_allclose(enc.numpy().transpose(1, 2, 0), golden, rtol=0, atol=1 / 255)


def regenerate_golden(utd_root: Path) -> None:
    from conftest import load_pyts

    pyts_oracle = load_pyts()
    from PIL import Image, PngImagePlugin

    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    acc = _load_acc(utd_root)
    for method, name in GOLDEN_FILES.items():
        rgb = np.rint(_oracle_image(pyts_oracle, acc, method).transpose(1, 2, 0) * 255).astype(np.uint8)
        info = PngImagePlugin.PngInfo()
        info.add_text("Description", f"UTD-MHAD Inertial/{GOLDEN_RECORDING} d_iner[:, :3] (acc x,y,z -> R,G,B); "
                      f"{method} GAF ({'authors arcsin orientation' if method == 'difference' else 'GASF'}), "
                      f"PAA to {GOLDEN_SIZE}, min-max (-1, 1), per-channel min-max to 0..255; oracle: pyts")
        Image.fromarray(rgb, "RGB").save(GOLDEN_DIR / name, pnginfo=info, optimize=True)
        print("wrote", GOLDEN_DIR / name)


if __name__ == "__main__":
    if "--regenerate-golden" in sys.argv:
        root = Path(__file__).resolve().parents[2] / "shared" / "data" / "utd-mhad"
        regenerate_golden(root)
