"""Gramian Angular Fields (GAF): time series to images, on NumPy arrays and torch tensors.

The student of VSKD (Ni et al., ICASSP 2022) sees each accelerometer recording as a 3-channel image:
every axis is encoded as a Gramian Angular Field (Wang & Oates, "Encoding Time Series as Images for
Visual Inspection and Classification Using Tiled Convolutional Neural Networks", AAAI Workshops 2015)
and the three fields become the R, G and B channels.

For a univariate series :math:`x = (x_1, \\dots, x_T)` and an image size :math:`S \\le T`:

1. **Piecewise aggregate approximation (PAA)** (Keogh et al., KAIS 2001), only when :math:`S < T`.
   The series is cut into :math:`S` non-overlapping segments with bounds
   :math:`b_k = \\lfloor k \\cdot (T / S) \\rfloor` for :math:`k < S` and :math:`b_S = T` (exactly
   ``np.linspace(0, T, S + 1).astype(int)``, pyts' ``segmentation(..., overlapping=False)``), and
   each segment is replaced by its mean
   :math:`\\tilde x_k = \\frac{1}{b_{k+1} - b_k} \\sum_{t = b_k}^{b_{k+1} - 1} x_t`.
   Segment lengths differ by at most one when :math:`S` does not divide :math:`T`.
2. **Min-max scaling** of each series to ``sample_range`` :math:`= (a, b)`, :math:`-1 \\le a < b \\le 1`:
   :math:`\\hat x_k = a + (b - a) (\\tilde x_k - \\min \\tilde x) / (\\max \\tilde x - \\min \\tilde x)`.
   As in scikit-learn's ``MinMaxScaler`` (which pyts uses), a range below :math:`10\\,\\epsilon_{64}`
   (about 2.2e-15) is replaced by 1, so a constant series maps to the lower bound :math:`a`.
   With ``sample_range=None`` no scaling is done and every value must already lie in [-1, 1].
3. **Polar encoding**: :math:`\\phi_k = \\arccos \\hat x_k \\in [0, \\pi]`.
4. **Gramian fields** (:math:`S \\times S`):

   * summation (GASF): :math:`G_{ij} = \\cos(\\phi_i + \\phi_j)
     = \\hat x_i \\hat x_j - \\sqrt{1 - \\hat x_i^2}\\sqrt{1 - \\hat x_j^2}` (symmetric);
   * difference (GADF): :math:`G_{ij} = \\sin(\\phi_i - \\phi_j)
     = \\sqrt{1 - \\hat x_i^2}\\,\\hat x_j - \\hat x_i \\sqrt{1 - \\hat x_j^2}` (antisymmetric, zero
     diagonal).

These are exactly the semantics of ``pyts.image.GramianAngularField(image_size, sample_range,
method, overlapping=False)``; :func:`gramian_angular_field` agrees with it to 1e-6 (float32) and
about 1e-7 (float64; the difference is pyts' own rounding near ``|x| = 1``, amplified by the square
root). The trigonometric identities avoid ``arccos``; :math:`1 \\pm \\hat x` are
computed from the distances to the series' minimum and maximum (no cancellation near
:math:`\\phi = 0, \\pi`), the PAA/scaling stage always runs in float64, and the result is clamped to
[-1, 1] so it is always finite and in range.

:func:`gaf_image` and :class:`GAFEncoder` turn a multi-axis window ``(T, C)`` into a ``(C, S, S)``
float32 image in [0, 1] (see ``docs/gaf.md`` for the authors' conventions versus ours).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Literal, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vskd.errors import VskdError
from vskd.limits import MAX_GAF_SIDE, MAX_OUT_SIZE, gaf_bytes, human_bytes  # re-exported

__all__ = [
    "MAX_GAF_SIDE",
    "MAX_OUT_SIZE",
    "GAFEncoder",
    "check_gaf_side",
    "gaf_bytes",
    "human_bytes",
    "gaf_image",
    "gramian_angular_field",
    "paa",
    "paa_bounds",
    "resolve_image_size",
]

ArrayLike = TypeVar("ArrayLike", np.ndarray, Tensor)
Method = Literal["summation", "difference"]
#: an image's method: one field, or ``both`` (GASF channels, then GADF channels: 2C channels)
ImageMethod = Literal["summation", "difference", "both"]
Scaling = Literal["minmax", "affine"]
Orientation = Literal["standard", "authors"]

_METHODS = {"summation": "summation", "s": "summation", "difference": "difference", "d": "difference"}
_SCALINGS = ("minmax", "affine")
_ORIENTATIONS = ("standard", "authors")
#: scikit-learn's MinMaxScaler treats a (float64) data range below this as zero (pyts inherits it).
_CONSTANT_RANGE = 10 * float(np.finfo(np.float64).eps)


# --------------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------------


def _check_method(method: str) -> str:
    if not isinstance(method, str) or method not in _METHODS:
        raise VskdError(
            f"GAF option 'method' must be 'summation' (or 's') or 'difference' (or 'd'), got {method!r}"
        )
    return _METHODS[method]


def _check_image_method(method: str) -> str:
    """An image's method: a field's (:func:`_check_method`) or ``both`` (GASF and GADF stacked)."""
    if method == "both":
        return "both"
    if not isinstance(method, str) or method not in _METHODS:
        raise VskdError(
            f"GAF option 'method' must be 'summation' (or 's'), 'difference' (or 'd') or 'both' "
            f"(GASF and GADF channels), got {method!r}"
        )
    return _METHODS[method]


def _check_sample_range(sample_range: Sequence[float] | None) -> tuple[float, float] | None:
    if sample_range is None:
        return None
    if isinstance(sample_range, (str, bytes)) or not isinstance(sample_range, (Sequence, np.ndarray)):
        raise VskdError(
            f"GAF option 'sample_range' must be None or a pair (min, max), got {sample_range!r}"
        )
    if len(sample_range) != 2:
        raise VskdError(
            f"GAF option 'sample_range' must have 2 values (min, max), got {len(sample_range)}"
        )
    try:
        lo, hi = float(sample_range[0]), float(sample_range[1])
    except (TypeError, ValueError):
        raise VskdError(f"GAF option 'sample_range' must hold two numbers, got {sample_range!r}") from None
    if not -1.0 <= lo < hi <= 1.0:
        raise VskdError(
            f"GAF option 'sample_range' must satisfy -1 <= min < max <= 1, got ({lo:g}, {hi:g})"
        )
    return lo, hi


def resolve_image_size(image_size: int | float | None, n_timestamps: int) -> int:
    """The GAF image side ``S`` for a series of length ``n_timestamps`` (pyts' rules).

    ``None`` gives ``S = T`` (no PAA); an integer must satisfy ``1 <= S <= T``; a float is a fraction
    of the length, ``0 < f <= 1``, and gives ``S = ceil(f * T)``.
    """
    if n_timestamps < 1:
        raise VskdError(f"GAF input must have at least 1 time step, got {n_timestamps}")
    if image_size is None:
        return n_timestamps
    if isinstance(image_size, (bool, np.bool_)):
        raise VskdError(f"GAF option 'image_size' must be None, an integer or a float, got {image_size!r}")
    if isinstance(image_size, (int, np.integer)):
        if not 1 <= image_size <= n_timestamps:
            raise VskdError(
                "GAF option 'image_size' as an integer must satisfy 1 <= image_size <= T "
                f"(the series length, {n_timestamps}), got {int(image_size)}"
            )
        return int(image_size)
    if isinstance(image_size, (float, np.floating)):
        if not 0.0 < image_size <= 1.0:
            raise VskdError(
                "GAF option 'image_size' as a float is a fraction of the series length and must "
                f"satisfy 0 < image_size <= 1, got {float(image_size)!r}"
            )
        return math.ceil(float(image_size) * n_timestamps)
    raise VskdError(f"GAF option 'image_size' must be None, an integer or a float, got {image_size!r}")


def check_gaf_side(size: int, channels: int = 3, what: str = "GAF input") -> None:
    """Refuse a GAF side above :data:`MAX_GAF_SIDE` before allocating it, stating the memory it needs."""
    if size > MAX_GAF_SIDE:
        raise VskdError(
            f"{what}: a GAF of {size} time steps is {size} x {size} per channel and needs "
            f"{human_bytes(gaf_bytes(size, channels))} for {channels} channel(s); at most {MAX_GAF_SIDE} time steps "
            f"are allowed (reduce them with a PAA image_size, or use a shorter window)"
        )


def _check_out_size(out_size: int | None) -> int | None:
    if out_size is None:
        return None
    if isinstance(out_size, (bool, np.bool_)) or not isinstance(out_size, (int, np.integer)) or out_size < 1:
        raise VskdError(f"GAF option 'out_size' must be None or a positive integer, got {out_size!r}")
    if out_size > MAX_GAF_SIDE:
        raise VskdError(f"GAF option 'out_size' = {int(out_size)} needs {human_bytes(gaf_bytes(out_size))} per 3-channel "
                        f"image; at most {MAX_GAF_SIDE} is allowed")
    return int(out_size)


def _check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise VskdError(f"GAF option {name!r} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _to_tensor(x: np.ndarray | Tensor, name: str) -> tuple[Tensor, bool, torch.dtype]:
    """(tensor view of x, whether x was NumPy, dtype of the result)."""
    if isinstance(x, Tensor):
        t = x
        if t.is_complex() or t.dtype == torch.bool:
            raise VskdError(f"GAF input {name!r} must be a real numeric tensor, got dtype {t.dtype}")
        out_dtype = t.dtype if t.is_floating_point() else torch.get_default_dtype()
        return t, False, out_dtype
    if isinstance(x, np.ndarray) or np.isscalar(x) or isinstance(x, (list, tuple)):
        a = np.asarray(x)
        if a.dtype.kind not in "fiu":
            raise VskdError(f"GAF input {name!r} must be a real numeric array, got dtype {a.dtype}")
        out_dtype = torch.float32 if a.dtype == np.float32 else torch.float64
        if a.dtype.kind == "f" and a.dtype not in (np.float32, np.float64):
            a = a.astype(np.float64)
        if not a.dtype.isnative:
            a = a.astype(a.dtype.newbyteorder("="))
        if a.ndim > 0 and not a.flags.c_contiguous:
            a = np.ascontiguousarray(a)
        return torch.from_numpy(a), True, out_dtype
    raise VskdError(f"GAF input {name!r} must be a NumPy array or a torch tensor, got {type(x).__name__}")


def _check_finite(x: Tensor, name: str) -> None:
    if x.is_floating_point() and x.numel() > 0 and not bool(torch.isfinite(x).all()):
        n_nan = int(torch.isnan(x).sum())
        if n_nan:
            raise VskdError(f"GAF input {name!r} contains NaN ({n_nan} values); fill or drop missing samples first")
        raise VskdError(f"GAF input {name!r} contains infinite values; expected finite numbers")


def _tracing() -> bool:
    return (torch.jit.is_tracing() or torch.jit.is_scripting() or torch.onnx.is_in_onnx_export()
            or torch.compiler.is_compiling())


# --------------------------------------------------------------------------------------------------
# PAA
# --------------------------------------------------------------------------------------------------


def paa_bounds(n_timestamps: int, output_size: int) -> list[int]:
    """Segment bounds ``b_0 = 0 < b_1 < ... < b_S = T`` of pyts' non-overlapping PAA.

    Identical to ``np.linspace(0, T, S + 1).astype('int64')`` (what ``pyts.utils.segmentation``
    returns with ``overlapping=False``): ``b_k = int(k * (T / S))`` in float64, ``b_S = T``.
    """
    step = n_timestamps / output_size
    return [int(k * step) for k in range(output_size)] + [n_timestamps]


@functools.lru_cache(maxsize=64)
def _paa_matrix(n_timestamps: int, output_size: int, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """(T, S) 0/1 segment-membership matrix and the (S,) segment lengths (cached; never modified)."""
    b = paa_bounds(n_timestamps, output_size)
    t = torch.arange(n_timestamps, device=device).unsqueeze(1)
    lo = torch.tensor(b[:-1], device=device).unsqueeze(0)
    hi = torch.tensor(b[1:], device=device).unsqueeze(0)
    member = ((t >= lo) & (t < hi)).to(dtype)
    counts = (hi - lo).to(dtype).squeeze(0)
    return member, counts


def _paa_torch(x: Tensor, output_size: int) -> Tensor:
    """Segment means of ``x`` (..., T) -> (..., S) as one matrix product (sums, then / lengths)."""
    n = x.shape[-1]
    if output_size == n:
        return x
    member, counts = _paa_matrix(n, output_size, x.dtype, x.device)
    return torch.matmul(x, member) / counts


def paa(x: ArrayLike, output_size: int | float) -> ArrayLike:
    """Piecewise aggregate approximation of ``x`` (..., T) to (..., S), pyts' non-overlapping segments.

    ``output_size`` follows :func:`resolve_image_size` (integer ``1..T`` or a fraction ``(0, 1]``).
    Returns the same kind as ``x`` (float64 for NumPy input unless float32; floating torch input keeps
    its dtype). Equals ``pyts.approximation.PiecewiseAggregateApproximation(window_size=None,
    output_size=S, overlapping=False)``.
    """
    t, is_numpy, out_dtype = _to_tensor(x, "x")
    if t.ndim < 1:
        raise VskdError(f"PAA input must have shape (..., T), got a {t.ndim}-d input")
    _check_finite(t, "x")
    s = resolve_image_size(output_size, t.shape[-1])
    out = _paa_torch(t.to(torch.float64), s).to(out_dtype)
    return out.numpy() if is_numpy else out


# --------------------------------------------------------------------------------------------------
# GAF core
# --------------------------------------------------------------------------------------------------


def _polar(x: Tensor, size: int, sample_range: tuple[float, float] | None) -> tuple[Tensor, Tensor]:
    """cos(phi) and sin(phi) (float64, (N, S)) of the PAA-reduced, min-max-scaled series ``x`` (N, T)."""
    x = x.to(torch.float64)
    if sample_range is None:
        c = _paa_torch(x, size)
        if c.numel() > 0 and not _tracing():
            lo, hi = float(c.min()), float(c.max())
            if lo < -1.0 or hi > 1.0:
                raise VskdError(
                    "GAF option sample_range=None requires every (PAA-reduced) value to lie in [-1, 1], "
                    f"got values in [{lo:g}, {hi:g}]; pass sample_range=(-1, 1) to rescale"
                )
        c = c.clamp(-1.0, 1.0)
        s = ((1.0 - c) * (1.0 + c)).clamp(0.0, 1.0).sqrt()
        return c, s
    a, b = sample_range
    # Divide by the largest magnitude first: sums over PAA segments and max - min cannot overflow, and
    # a constant series becomes exactly +-1 (or 0), so its PAA is exactly constant too.
    mag = x.abs().amax(dim=-1, keepdim=True)
    mag = torch.where(mag > 0, mag, torch.ones_like(mag))
    y = _paa_torch(x / mag, size)
    ymin = y.amin(dim=-1, keepdim=True)
    ymax = y.amax(dim=-1, keepdim=True)
    r = ymax - ymin
    # sklearn: a data range (in x's units, r * mag) below 10 eps counts as 1, i.e. r as 1 / mag
    const = r * mag < _CONSTANT_RANGE
    denom = torch.where(const, 1.0 / mag, r)
    u = (y - ymin) / denom  # (x - min) / range, in [0, 1]
    # (max - x) / range = 1 - u, without cancellation near u = 1 (for "constant" rows: 1 - u, ~1)
    w = torch.where(const, 1.0 - u, (ymax - y) / denom)
    c = (a + (b - a) * u).clamp(-1.0, 1.0)
    one_plus = (1.0 + a) + (b - a) * u
    one_minus = (1.0 - b) + (b - a) * w
    s = (one_plus * one_minus).clamp(0.0, 1.0).sqrt()
    return c, s


def _matmul_is_exact(dtype: torch.dtype) -> bool:
    """Whether a float matrix product in ``dtype`` is computed in full precision (no TF32/bf16)."""
    return dtype == torch.float64 or (dtype == torch.float32 and torch.get_float32_matmul_precision() == "highest")


def _fields(c: Tensor, s: Tensor, kind: str, dtype: torch.dtype, eager: bool) -> Tensor:
    """(N, S, S) fields from cos/sin (N, S), clamped to [-1, 1].

    ``kind``: ``summation`` :math:`c_i c_j - s_i s_j`; ``difference`` :math:`s_i c_j - c_i s_j`;
    ``difference_t`` :math:`c_i s_j - s_i c_j` (the transposed GADF, the authors' orientation).

    Traced/module use (``eager=False``): broadcast outer products, out-of-place (exactly symmetric or
    antisymmetric). Eager use: on CPU the output buffer comes from NumPy, which asks the OS for
    transparent huge pages (half the page-fault cost of a large fresh tensor); when full-precision
    matrix products are guaranteed (float64, or float32 with ``torch.get_float32_matmul_precision() ==
    'highest'``) the field is one batched rank-2 product ``[c, s] [c, -s]^T`` (one pass over the
    output; the GADF diagonal is then set to exactly 0), otherwise two broadcast products; clamping is
    in place.
    """
    c = c.to(dtype)
    s = s.to(dtype)
    if kind == "summation":
        p, q, r, t = c, c, s, s  # field_ij = p_i q_j - r_i t_j
    elif kind == "difference":
        p, q, r, t = s, c, c, s
    else:
        p, q, r, t = c, s, s, c
    if not eager or c.requires_grad or s.requires_grad:
        return (p.unsqueeze(-1) * q.unsqueeze(-2) - r.unsqueeze(-1) * t.unsqueeze(-2)).clamp(-1.0, 1.0)
    n, size = c.shape
    if c.device.type == "cpu":
        out = torch.from_numpy(np.empty((n, size, size), dtype=np.float32 if dtype == torch.float32 else np.float64))
    else:
        out = torch.empty((n, size, size), dtype=dtype, device=c.device)
    if _matmul_is_exact(dtype):
        torch.bmm(torch.stack((p, r), dim=-1), torch.stack((q, -t), dim=-2), out=out)
        if kind != "summation":  # a fused multiply-add may leave a last-bit residue on the diagonal
            torch.diagonal(out, dim1=-2, dim2=-1).zero_()
    else:
        torch.mul(p.unsqueeze(-1), q.unsqueeze(-2), out=out)
        out.sub_(r.unsqueeze(-1) * t.unsqueeze(-2))
    return out.clamp_(-1.0, 1.0)


def _gaf_tensor(x: Tensor, kind: str, size: int, sample_range: tuple[float, float] | None,
                dtype: torch.dtype, eager: bool) -> Tensor:
    lead = x.shape[:-1]
    flat = x.reshape(-1, x.shape[-1])
    c, s = _polar(flat, size, sample_range)
    return _fields(c, s, kind, dtype, eager).reshape(*lead, size, size)


def gramian_angular_field(
    x: ArrayLike,
    method: Method = "summation",
    image_size: int | float | None = None,
    sample_range: tuple[float, float] | None = (-1, 1),
) -> ArrayLike:
    """Gramian Angular Field of every series in ``x`` (..., T) -> (..., S, S).

    Parameters
    ----------
    x : numpy.ndarray or torch.Tensor, shape (..., T)
        One or more univariate time series along the last axis (any leading batch dimensions).
        Must be finite (NaN or inf raise :class:`~vskd.errors.VskdError`).
    method : 'summation' or 'difference'
        GASF :math:`\\cos(\\phi_i + \\phi_j)` or GADF :math:`\\sin(\\phi_i - \\phi_j)`
        (``'s'`` and ``'d'`` are accepted, as in pyts).
    image_size : None, int or float
        Side ``S`` of the output. ``None``: ``S = T`` (no PAA). int: ``1 <= S <= T``; the series is
        first reduced to ``S`` values by piecewise aggregate approximation (non-overlapping segments,
        lengths ``floor(T / S)`` or ``ceil(T / S)``). float in ``(0, 1]``: ``S = ceil(image_size * T)``.
    sample_range : (min, max) or None
        Each (reduced) series is min-max scaled to ``[min, max]`` with ``-1 <= min < max <= 1``; a
        constant series maps to ``min``. ``None``: no scaling, values must already lie in [-1, 1].
        (A list is accepted as well as a tuple, so values from YAML configs work.)

    Returns
    -------
    Same kind as ``x`` (NumPy array or torch tensor on ``x``'s device), shape (..., S, S), every value
    finite and in [-1, 1]. dtype: float32 stays float32, float64 stays float64 (other floating torch
    dtypes are kept too); integer input gives float64 (NumPy) or torch's default dtype (torch).

    Notes
    -----
    Semantics are those of ``pyts.image.GramianAngularField(image_size=S, sample_range=sample_range,
    method=method)`` applied to ``x.reshape(-1, T)``; the PAA and scaling run in float64, the
    S x S products in the output dtype, so results agree with pyts to about 1e-7 (float32 and float64
    alike: near :math:`\\hat x = \\pm 1` pyts' own last-bit rounding of :math:`1 - \\hat x^2` is
    amplified by the square root to ~1e-8; ours computes :math:`(1 - \\hat x)(1 + \\hat x)` from the
    distances to the series' extremes instead). GASF is symmetric and GADF antisymmetric up to the
    rounding of one product; the GADF diagonal is exactly 0. Vectorised over the batch: PAA is a matrix product, the fields a
    batched rank-2 product ``[c, s] [c, -s]^T`` (GASF) or ``[s, -c] [c, s]^T`` (GADF).

    Examples
    --------
    >>> import numpy as np
    >>> g = gramian_angular_field(np.array([0.0, 1.0, 2.0]))
    >>> g.shape, float(g[0, 0]), float(g[2, 2])
    ((3, 3), 1.0, 1.0)
    """
    m = _check_method(method)
    sr = _check_sample_range(sample_range)
    t, is_numpy, out_dtype = _to_tensor(x, "x")
    if t.ndim < 1:
        raise VskdError(f"GAF input 'x' must have shape (..., T), got a {t.ndim}-d input")
    size = resolve_image_size(image_size, t.shape[-1])
    check_gaf_side(size, max(int(np.prod(t.shape[:-1])), 1), "GAF input 'x'")
    _check_finite(t, "x")
    exact_dtype = out_dtype if out_dtype in (torch.float32, torch.float64) else torch.float32
    out = _gaf_tensor(t, m, size, sr, exact_dtype, eager=True).to(out_dtype)
    return out.numpy() if is_numpy else out


# --------------------------------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------------------------------


def _image_from_window(window: Tensor, method: str, image_size: int | float | None, out_size: int | None,
                       scaling: str, orientation: str, eager: bool) -> Tensor:
    """(..., T, C) float tensor -> (..., C, S', S') float32 in [0, 1]; the shared body of gaf_image/GAFEncoder.

    ``method='both'``: the GASF image's C channels, then the GADF image's C channels (..., 2C, S', S').
    ``eager`` (gaf_image) scales the freshly computed field in place; the module path is out-of-place.
    """
    if method == "both":
        return torch.cat([_image_from_window(window, m, image_size, out_size, scaling, orientation, eager)
                          for m in ("summation", "difference")], dim=-3)
    series = window.transpose(-1, -2)  # (..., C, T)
    size = resolve_image_size(image_size, series.shape[-1])
    kind = "difference_t" if (method == "difference" and orientation == "authors") else method
    v = _gaf_tensor(series, kind, size, (-1.0, 1.0), torch.float32, eager)  # (..., C, S, S)
    if eager:
        flat = v.view(-1, size * size)
        if scaling == "affine":
            flat.add_(1.0).mul_(0.5)
        else:  # per-channel min-max (MATLAB mat2gray); a constant image maps to 0
            vmin, vmax = flat.amin(dim=-1, keepdim=True), flat.amax(dim=-1, keepdim=True)  # (aminmax is slower)
            rng = vmax - vmin
            inv = torch.where(rng > 0, 1.0 / torch.where(rng > 0, rng, torch.ones_like(rng)), torch.zeros_like(rng))
            flat.sub_(vmin).mul_(inv)
        img = v.clamp_(0.0, 1.0)
    else:
        if scaling == "affine":
            img = (v + 1.0) * 0.5
        else:
            vmin = v.amin(dim=(-2, -1), keepdim=True)
            vmax = v.amax(dim=(-2, -1), keepdim=True)
            rng = vmax - vmin
            inv = torch.where(rng > 0, 1.0 / torch.where(rng > 0, rng, torch.ones_like(rng)), torch.zeros_like(rng))
            img = (v - vmin) * inv
        img = img.clamp(0.0, 1.0)
    if out_size is not None and out_size != size:
        lead = img.shape[:-2]
        flat = img.reshape(-1, img.shape[-3], size, size)
        flat = F.interpolate(flat, size=(out_size, out_size), mode="bilinear", align_corners=False)
        img = flat.reshape(*lead, out_size, out_size).clamp(0.0, 1.0)
    return img


def gaf_image(
    window: ArrayLike,
    method: ImageMethod = "summation",
    image_size: int | float | None = None,
    out_size: int | None = None,
    scaling: Scaling = "minmax",
    orientation: Orientation = "standard",
) -> ArrayLike:
    """Encode a multi-axis window (..., T, C) as a C-channel GAF image (..., C, S, S), float32 in [0, 1].

    Each channel ``c`` is :func:`gramian_angular_field` of ``window[..., :, c]`` with
    ``sample_range=(-1, 1)`` (PAA to ``image_size`` first, see there), then:

    * ``scaling='minmax'``: :math:`(v - \\min v) / (\\max v - \\min v)` over that channel's image, as
      the VSKD authors' MATLAB ``mat2gray`` does (a constant image maps to 0);
      ``scaling='affine'``: :math:`(v + 1) / 2`, a fixed map that keeps absolute angles comparable
      across recordings.
    * ``orientation='authors'``: the authors compute GADF with :math:`\\psi = \\arcsin \\hat x
      = \\pi/2 - \\phi`, so their :math:`\\sin(\\psi_i - \\psi_j) = \\sin(\\phi_j - \\phi_i)` is the
      transpose of the standard GADF; for GASF both orientations are identical.
    * ``out_size``: optional bilinear resize to ``out_size x out_size`` with
      ``torch.nn.functional.interpolate(mode='bilinear', align_corners=False, antialias=False)``
      (pixel-centre alignment, as PIL/torchvision resizing; no antialiasing filter, so the operation
      exports to ONNX as a plain ``Resize``), applied after scaling, as the authors resize their saved
      images; bilinear interpolation keeps values in [0, 1].

    * ``method='both'``: the GASF image's C channels followed by the GADF image's C channels,
      ``(..., 2C, S, S)`` (each scaled on its own, as above).

    Returns the same kind as ``window`` (NumPy or torch on the same device), always float32.
    """
    m = _check_image_method(method)
    _check_choice("scaling", scaling, _SCALINGS)
    _check_choice("orientation", orientation, _ORIENTATIONS)
    osz = _check_out_size(out_size)
    t, is_numpy, _ = _to_tensor(window, "window")
    if t.ndim < 2:
        raise VskdError(f"GAF image input 'window' must have shape (..., T, C), got shape {tuple(t.shape)}")
    check_gaf_side(resolve_image_size(image_size, t.shape[-2]), t.shape[-1] * (2 if m == "both" else 1),
                   "GAF image input 'window'")
    _check_finite(t, "window")
    img = _image_from_window(t, m, image_size, osz, scaling, orientation, eager=True)
    return img.numpy() if is_numpy else img


class GAFEncoder(nn.Module):
    """:func:`gaf_image` as a module: ``(B, T, C)`` float tensor -> ``(B, C, S, S)`` float32 in [0, 1].

    Same options and maths as :func:`gaf_image` (PAA to ``image_size``, min-max to [-1, 1],
    GASF :math:`\\cos(\\phi_i + \\phi_j)` or GADF :math:`\\sin(\\phi_i - \\phi_j)` per channel,
    ``minmax`` or ``affine`` scaling to [0, 1], optional bilinear resize to ``out_size``). The forward
    pass uses out-of-place torch operations only (matmul, min/max, where, sqrt, interpolate), so it
    traces with ``torch.jit.trace`` and exports to ONNX; the traced graph is specific to the traced
    window length ``T`` (the PAA matrix is a constant). Input validation (shape, NaN, inf) runs in
    eager mode only. It has no parameters.
    """

    def __init__(
        self,
        method: ImageMethod = "summation",
        image_size: int | float | None = None,
        out_size: int | None = None,
        scaling: Scaling = "minmax",
        orientation: Orientation = "standard",
    ) -> None:
        super().__init__()
        self.method = _check_image_method(method)
        if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, (bool, np.bool_)):
            resolve_image_size(image_size, max(int(image_size), 1))  # 1 <= S (S <= T is checked per call)
        elif image_size is not None:
            resolve_image_size(image_size, 1)
        self.image_size = image_size
        self.out_size = _check_out_size(out_size)
        self.scaling = _check_choice("scaling", scaling, _SCALINGS)
        self.orientation = _check_choice("orientation", orientation, _ORIENTATIONS)

    def extra_repr(self) -> str:
        return (f"method={self.method!r}, image_size={self.image_size!r}, out_size={self.out_size!r}, "
                f"scaling={self.scaling!r}, orientation={self.orientation!r}")

    def forward(self, window: Tensor) -> Tensor:
        if not _tracing():
            if not isinstance(window, Tensor) or window.ndim != 3 or not window.is_floating_point():
                shape = tuple(window.shape) if isinstance(window, Tensor) else type(window).__name__
                raise VskdError(f"GAFEncoder expects a float tensor (B, T, C), got {shape}")
            check_gaf_side(resolve_image_size(self.image_size, window.shape[1]),
                           window.shape[2] * (2 if self.method == "both" else 1), "GAFEncoder input")
            _check_finite(window, "window")
        return _image_from_window(window, self.method, self.image_size, self.out_size, self.scaling,
                                  self.orientation, eager=False)
