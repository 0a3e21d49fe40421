r"""Feature-map distillation losses as pure functions: student first, teacher detached.

The functional forms of the feature-map methods of the baseline zoo (FitNet, AT, AB, FT, FSP, NST,
VID, SemCKD). Same conventions as :mod:`vskd.losses.functional`: the **student** tensor comes
first, the **teacher** is detached inside the function and cast to the student's dtype (float64 in,
float64 out), and a wrong shape raises :class:`vskd.errors.ConfigError` naming the function and
both shapes. Maps are ``(B, C, H, W)``.

Spatial alignment (no silent broadcasting). The teacher's maps are per-frame maps averaged over the
K segments, the student's come from one GAF image, so sizes can differ (e.g. 16x16 vs 14x14).
:func:`match_spatial` makes two maps the same size explicitly:

* ``"pool"`` (default of every loss but AT, RepDistiller's choice): the larger map is adaptively
  average-pooled to the smaller size, per dimension (``(min(H_s, H_t), min(W_s, W_t))``); never
  upsamples, so no information is invented;
* ``"interpolate"`` (AT's default): the *teacher* map is bilinearly resized (``align_corners=False``,
  antialiased when shrinking) to the student's size; the student's map keeps its resolution.

Channel counts are never aligned here: the methods own their 1x1 adapters (regressors, connectors,
translators) and the functions check that the channels they compare agree.

Functions (``B`` batch, maps ``(B, C, H, W)``):

* :func:`fitnet_loss` -- FitNets hint (Romero et al. 2015): MSE between regressed student map and
  the teacher's hint map.
* :func:`attention_map`, :func:`at_loss` -- attention transfer (Zagoruyko & Komodakis 2017).
* :func:`ab_loss` -- activation-boundary transfer (Heo et al. 2019), the alternative L2 loss.
* :func:`ft_loss` -- factor transfer (Kim et al. 2018), distance between L2-normalised factors.
* :func:`fsp_matrix`, :func:`fsp_loss` -- flow of solution procedure (Yim et al. 2017).
* :func:`nst_loss` -- neuron selectivity transfer (Huang & Wang 2017), polynomial-kernel MMD.
* :func:`vid_loss` -- variational information distillation (Ahn et al. 2019), Gaussian NLL.
* :func:`semckd_loss` -- semantic calibration (Chen et al. 2021), attention-weighted MSE.

:func:`run_stage1` is the stage-1 (pre-training) loop shared by AB, FT and FSP.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vskd.errors import ConfigError

__all__ = [
    "ab_loss",
    "at_loss",
    "attention_map",
    "fitnet_loss",
    "fsp_loss",
    "fsp_matrix",
    "ft_loss",
    "match_spatial",
    "nst_loss",
    "semckd_loss",
    "vid_loss",
]

ALIGN_MODES = ("pool", "interpolate")


# --------------------------------------------------------------------------------------- helpers
def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _check_map(fn: str, side: str, x: object) -> Tensor:
    if not isinstance(x, Tensor):
        raise ConfigError(f"{fn}: {side} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ConfigError(f"{fn}: {side} must be floating point, got dtype {x.dtype}")
    if x.dim() != 4:
        raise ConfigError(f"{fn}: {side} must be a feature map (B, C, H, W), got shape {_shape(x)}")
    return x


def _prepare_maps(fn: str, student: Tensor, teacher: Tensor) -> tuple[Tensor, Tensor]:
    """Check two ``(B, C, H, W)`` maps with equal batch sizes; detach + cast the teacher."""
    _check_map(fn, "student", student)
    _check_map(fn, "teacher", teacher)
    if student.shape[0] != teacher.shape[0]:
        raise ConfigError(
            f"{fn}: student and teacher batch sizes differ: student {_shape(student)}, teacher {_shape(teacher)}"
        )
    return student, teacher.detach().to(student.dtype)


def _same_channels(fn: str, s: Tensor, t: Tensor, what: str = "maps") -> None:
    if s.shape[1] != t.shape[1]:
        raise ConfigError(
            f"{fn}: student and teacher {what} must have the same channels (use the method's 1x1 "
            f"adapter): student {_shape(s)}, teacher {_shape(t)}"
        )


def _zero(student: Tensor) -> Tensor:
    """An exact 0-d zero in the student's dtype that stays on the student's graph."""
    return student.reshape(-1)[:0].sum()


def _pool_to(x: Tensor, size: tuple[int, int]) -> Tensor:
    return x if tuple(x.shape[-2:]) == size else F.adaptive_avg_pool2d(x, size)


def match_spatial(student: Tensor, teacher: Tensor, mode: str = "pool") -> tuple[Tensor, Tensor]:
    """Bring two ``(..., H, W)`` maps to one spatial size (see the module docstring).

    ``mode="pool"``: adaptive average pooling of the larger map (per dimension) to
    ``(min(H_s, H_t), min(W_s, W_t))``. ``mode="interpolate"``: the teacher map is bilinearly
    resized to the student's ``(H_s, W_s)``. Equal sizes are returned unchanged.
    """
    if mode not in ALIGN_MODES:
        raise ConfigError(f"match_spatial: align must be one of {', '.join(ALIGN_MODES)}, got {mode!r}")
    hs, ws = student.shape[-2:]
    ht, wt = teacher.shape[-2:]
    if (hs, ws) == (ht, wt):
        return student, teacher
    if mode == "pool":
        size = (min(hs, ht), min(ws, wt))
        return _pool_to(student, size), _pool_to(teacher, size)
    lead = teacher.shape[:-2]
    t4 = teacher.reshape(-1, 1, ht, wt)
    antialias = hs < ht or ws < wt
    t4 = F.interpolate(t4, size=(hs, ws), mode="bilinear", align_corners=False, antialias=antialias)
    return student, t4.reshape(*lead, hs, ws)


# ---------------------------------------------------------------------------------------- FitNet
def fitnet_loss(student: Tensor, teacher: Tensor, align: str = "pool") -> Tensor:
    r"""FitNets hint loss (Romero et al., "FitNets: Hints for Thin Deep Nets", ICLR 2015, eq. 3).

    .. math:: L_{HT} = \frac{1}{B C H W} \sum_{b,c,h,w} \big(r(s)_{bchw} - t_{bchw}\big)^2

    i.e. ``F.mse_loss`` (mean over all elements; the paper writes ``1/2 ||.||^2`` summed, which is
    this times ``B C H W / 2``: a constant absorbed by the weight, as in RepDistiller's ``HintLoss``).

    Args:
        student: ``(B, C, H_s, W_s)`` the student's guided map **after** the method's regressor
            ``r`` (same channels as the teacher).
        teacher: ``(B, C, H_t, W_t)`` the hint map (detached here).
        align: spatial alignment (:func:`match_spatial`), ``"pool"`` by default.
    """
    fn = "fitnet_loss"
    s, t = _prepare_maps(fn, student, teacher)
    _same_channels(fn, s, t)
    s, t = match_spatial(s, t, align)
    if s.numel() == 0:
        return _zero(s)
    return F.mse_loss(s, t, reduction="mean")


# -------------------------------------------------------------------------------------------- AT
def attention_map(feature: Tensor, p: float = 2.0) -> Tensor:
    r"""Activation-based spatial attention map :math:`Q = \frac{1}{C}\sum_c |A_c|^p`, ``(B, H, W)``.

    Zagoruyko & Komodakis 2017, section 3.1 (``F^p_mean``); the mean over channels (not the sum) is
    what their code and RepDistiller use -- after L2 normalisation (:func:`at_loss`) the two agree.
    """
    _check_map("attention_map", "feature", feature)
    return feature.abs().pow(p).mean(1)


def at_loss(student: Tensor, teacher: Tensor, p: float = 2.0, align: str = "interpolate") -> Tensor:
    r"""Attention-transfer loss for one pair of maps (Zagoruyko & Komodakis, "Paying More Attention
    to Attention", ICLR 2017, eq. 2), in the form of the authors' code and RepDistiller:

    .. math::

        q = \frac{\mathrm{vec}(Q)}{\lVert \mathrm{vec}(Q) \rVert_2},\qquad
        L_{AT} = \frac{1}{B\,HW} \sum_{b} \lVert q^s_b - q^t_b \rVert_2^2

    with :math:`Q` from :func:`attention_map`. Squared differences averaged over the batch and the
    ``HW`` positions; the paper's eq. 2 instead sums the (non-squared) norm per sample, which
    torchdistill's ``ATLoss(mode="paper")`` follows. The weight ``beta/2`` (beta = 1000) sits in the
    method. Channel counts may differ (each side is averaged over its own channels).

    Args:
        student: ``(B, C_s, H_s, W_s)``.
        teacher: ``(B, C_t, H_t, W_t)`` (detached here).
        p: exponent (2 in the paper).
        align: ``"interpolate"`` (default): the teacher's attention map ``Q_t`` is bilinearly resized
            to the student's ``H_s x W_s`` before normalisation; ``"pool"``: the larger ``Q`` is
            average-pooled to the smaller size.
    """
    fn = "at_loss"
    s, t = _prepare_maps(fn, student, teacher)
    if not (isinstance(p, (int, float)) and math.isfinite(p) and p > 0):
        raise ConfigError(f"{fn}: p must be a finite number > 0, got {p!r}")
    qs, qt = match_spatial(attention_map(s, p), attention_map(t, p), align)
    if qs.numel() == 0:
        return _zero(s)
    qs = F.normalize(qs.flatten(1), dim=1)
    qt = F.normalize(qt.flatten(1), dim=1)
    return (qs - qt).pow(2).mean()


# -------------------------------------------------------------------------------------------- AB
def ab_loss(student: Tensor, teacher: Tensor, margin: float = 1.0, align: str = "pool") -> Tensor:
    r"""Activation-boundary transfer loss (Heo, Lee, Yun, Choi, "Knowledge Transfer via Distillation
    of Activation Boundaries Formed by Hidden Neurons", AAAI 2019, eq. 7: the alternative L2 loss).

    .. math::

        L_{AB} = \frac{1}{B} \sum_{b,c,h,w}
          (s + \mu)^2\, \mathbb 1[s > -\mu \wedge t \le 0] + (s - \mu)^2\, \mathbb 1[s \le \mu \wedge t > 0]

    where ``s`` is the student map after the connector and ``t`` the teacher's map: a student neuron
    is pushed past the margin ``mu`` on the side of the boundary where the teacher's neuron is
    (active: ``t > 0``). Summed over neurons and positions, divided by the batch size (RepDistiller's
    ``criterion_alternative_l2 / bsz`` and torchdistill's ``AltActTransferLoss`` with
    ``reduction="mean"``). Only the *sign* of ``t`` matters, so a post-ReLU map gives the same
    loss as the pre-activation the paper uses.

    Args:
        student: ``(B, C, H_s, W_s)`` connector output (same channels as the teacher).
        teacher: ``(B, C, H_t, W_t)`` (detached here).
        margin: ``mu > 0`` (1.0 in the paper and RepDistiller).
        align: spatial alignment (:func:`match_spatial`).
    """
    fn = "ab_loss"
    s, t = _prepare_maps(fn, student, teacher)
    _same_channels(fn, s, t)
    if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin > 0):
        raise ConfigError(f"{fn}: margin must be a finite number > 0, got {margin!r}")
    s, t = match_spatial(s, t, align)
    if s.shape[0] == 0:
        return _zero(s)
    on = t > 0
    loss = (s + margin).pow(2) * ((s > -margin) & ~on) + (s - margin).pow(2) * ((s <= margin) & on)
    return loss.sum() / s.shape[0]


# -------------------------------------------------------------------------------------------- FT
def ft_loss(student_factor: Tensor, teacher_factor: Tensor, p: float = 1.0, reduction: str = "mean") -> Tensor:
    r"""Factor-transfer loss (Kim, Park, Kwak, "Paraphrasing Complex Network: Network Compression
    via Factor Transfer", NeurIPS 2018, eq. 3).

    .. math::

        u = \frac{\mathrm{vec}(F)}{\lVert \mathrm{vec}(F) \rVert_2},\qquad
        L_{FT} = \lVert u^s - u^t \rVert_p

    where :math:`F^t` is the paraphraser's factor of the teacher map and :math:`F^s` the
    translator's output on the student map, flattened per sample.

    Args:
        student_factor: ``(B, ...)`` translator output.
        teacher_factor: ``(B, ...)`` paraphraser factor (detached here), same shape.
        p: norm order (1 in the paper).
        reduction: ``"mean"`` (default): :math:`\frac{1}{BD}\sum |u^s - u^t|^p`, the mean over all
            ``B*D`` elements, which for ``p = 1`` is torchdistill's ``FTLoss(p=1,
            reduction="mean")`` (an L1 loss) and RepDistiller's ``.abs().mean()``;
            ``"batchmean"``: the paper's :math:`\frac{1}{B}\sum_b \lVert u^s_b - u^t_b\rVert_p`
            (torchdistill's ``FTLoss`` for ``p != 1``).
    """
    fn = "ft_loss"
    for side, x in (("student", student_factor), ("teacher", teacher_factor)):
        if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 2:
            raise ConfigError(f"{fn}: {side} factor must be a floating (B, ...) tensor, got "
                              f"{_shape(x) if isinstance(x, Tensor) else type(x).__name__}")
    s, t = student_factor, teacher_factor.detach().to(student_factor.dtype)
    if s.shape != t.shape:
        raise ConfigError(f"{fn}: student and teacher factors must have the same shape: student {_shape(s)}, "
                          f"teacher {_shape(t)}")
    if not (isinstance(p, (int, float)) and math.isfinite(p) and p > 0):
        raise ConfigError(f"{fn}: p must be a finite number > 0, got {p!r}")
    if reduction not in ("mean", "batchmean"):
        raise ConfigError(f"{fn}: reduction must be 'mean' or 'batchmean', got {reduction!r}")
    if s.numel() == 0:
        return _zero(s)
    us = F.normalize(s.flatten(1), dim=1)
    ut = F.normalize(t.flatten(1), dim=1)
    d = (us - ut).abs()
    if reduction == "mean":
        return d.pow(p).mean()
    return torch.linalg.vector_norm(d, ord=p, dim=1).mean()


# ------------------------------------------------------------------------------------------- FSP
def fsp_matrix(first: Tensor, second: Tensor) -> Tensor:
    r"""FSP (Gram) matrix between two maps of one network (Yim, Joo, Bae, Kim, "A Gift from Knowledge
    Distillation", CVPR 2017, eq. 1):

    .. math:: G_{ij} = \frac{1}{h w} \sum_{x=1}^{h}\sum_{y=1}^{w} F^1_{i,x,y} F^2_{j,x,y}

    ``first`` ``(B, C_1, H_1, W_1)``, ``second`` ``(B, C_2, H_2, W_2)`` -> ``(B, C_1, C_2)``. When the
    spatial sizes differ, the larger map is average-pooled to the smaller size
    (:func:`match_spatial`, as RepDistiller; torchdistill max-pools).
    """
    fn = "fsp_matrix"
    _check_map(fn, "first", first)
    _check_map(fn, "second", second)
    if first.shape[0] != second.shape[0]:
        raise ConfigError(f"{fn}: batch sizes differ: first {_shape(first)}, second {_shape(second)}")
    a, b = match_spatial(first, second, "pool")
    hw = a.shape[-1] * a.shape[-2]
    return torch.bmm(a.flatten(2), b.flatten(2).transpose(1, 2)) / hw


def fsp_loss(
    student_maps: Sequence[Tensor], teacher_maps: Sequence[Tensor], weights: Sequence[float] | None = None
) -> Tensor:
    r"""FSP loss over the consecutive pairs of a list of maps (Yim et al. 2017, eq. 2):

    .. math::

        L_{FSP} = \sum_{i=1}^{n-1} \lambda_i \frac{1}{B C_i C_{i+1}} \sum_{b}
            \lVert G^s_i(b) - G^t_i(b) \rVert_F^2,\qquad
        G_i = \mathrm{fsp\_matrix}(F_i, F_{i+1})

    The mean over the matrix entries is RepDistiller's ``(s - t).pow(2).mean()``; the paper sums the
    entries (a factor ``C_i C_{i+1}`` per pair). ``lambda_i`` = ``weights`` (default all 1, as the
    paper). Student and teacher map ``i`` must have the same channels (spatial sizes may differ).

    Args:
        student_maps: ``n >= 2`` student maps ``(B, C_i, H, W)``, in network order.
        teacher_maps: ``n`` teacher maps (detached here).
        weights: ``n - 1`` non-negative numbers.
    """
    fn = "fsp_loss"
    student_maps, teacher_maps = list(student_maps), list(teacher_maps)
    n = len(student_maps)
    if n < 2 or len(teacher_maps) != n:
        raise ConfigError(f"{fn}: needs the same number (>= 2) of student and teacher maps, got "
                          f"{n} and {len(teacher_maps)}")
    weights = [1.0] * (n - 1) if weights is None else [float(w) for w in weights]
    if len(weights) != n - 1:
        raise ConfigError(f"{fn}: needs {n - 1} weights (one per consecutive pair), got {len(weights)}")
    pairs = [_prepare_maps(fn, s, t) for s, t in zip(student_maps, teacher_maps)]
    for i, (s, t) in enumerate(pairs):
        if s.shape[1] != t.shape[1]:
            raise ConfigError(f"{fn}: student map {i} {_shape(s)} and teacher map {i} {_shape(t)} must have "
                              f"the same channels (the FSP matrices are compared entry by entry)")
    total = _zero(pairs[0][0])
    if pairs[0][0].shape[0] == 0:
        return total
    for i in range(n - 1):
        gs = fsp_matrix(pairs[i][0], pairs[i + 1][0])
        with torch.no_grad():
            gt = fsp_matrix(pairs[i][1], pairs[i + 1][1])
        total = total + weights[i] * (gs - gt).pow(2).mean()
    return total


# ------------------------------------------------------------------------------------------- NST
def _poly_gram(a: Tensor, b: Tensor, degree: int, c: float) -> Tensor:
    """``(B, Ca, Cb)`` matrix of ``(<a_i, b_j> + c)^degree``."""
    return (torch.bmm(a, b.transpose(1, 2)) + c).pow(degree)


def nst_loss(student: Tensor, teacher: Tensor, degree: int = 2, c: float = 0.0, align: str = "pool") -> Tensor:
    r"""Neuron-selectivity-transfer loss (Huang & Wang, "Like What You Like: Knowledge Distill via
    Neuron Selectivity Transfer", arXiv 1707.01219, 2017, eq. 6-7 with a polynomial kernel).

    Each channel's spatial pattern is one sample of the layer's "neuron selectivity" distribution:
    :math:`f_{i} = F_{i,:}/\lVert F_{i,:}\rVert_2` over the ``HW`` positions. With
    :math:`k(x, y) = (x^\top y + c)^d`,

    .. math::

        L_{MMD^2} = \frac{1}{C_t^2}\sum_{i,i'} k(f^t_i, f^t_{i'})
                  + \frac{1}{C_s^2}\sum_{j,j'} k(f^s_j, f^s_{j'})
                  - \frac{2}{C_s C_t}\sum_{i,j} k(f^s_j, f^t_i)

    averaged over the batch (RepDistiller's ``nst_loss`` with ``full_loss=True``; the teacher-only
    term is a constant kept so the loss is the MMD). Channel counts may differ; the spatial sizes
    are aligned first (:func:`match_spatial`; the per-channel vectors must have the same length).

    Args:
        student: ``(B, C_s, H_s, W_s)``; teacher: ``(B, C_t, H_t, W_t)`` (detached here).
        degree, c: polynomial kernel ``d = 2, c = 0`` (the paper's choice).
    """
    fn = "nst_loss"
    s, t = _prepare_maps(fn, student, teacher)
    if not (isinstance(degree, int) and degree >= 1):
        raise ConfigError(f"{fn}: degree must be an integer >= 1, got {degree!r}")
    s, t = match_spatial(s, t, align)
    if s.shape[0] == 0:
        return _zero(s)
    fs = F.normalize(s.flatten(2), dim=2)
    ft = F.normalize(t.flatten(2), dim=2)
    tt = _poly_gram(ft, ft, degree, c).mean()
    return tt + _poly_gram(fs, fs, degree, c).mean() - 2 * _poly_gram(fs, ft, degree, c).mean()


# ------------------------------------------------------------------------------------------- VID
def vid_loss(pred_mean: Tensor, pred_var: Tensor, teacher: Tensor) -> Tensor:
    r"""Variational information distillation loss (Ahn, Hu, Damianou, Lawrence, Dai, "Variational
    Information Distillation for Knowledge Transfer", CVPR 2019, eq. 5-6): the negative
    log-likelihood of the teacher map under a Gaussian with a mean regressed from the student and a
    learned per-channel (heteroscedastic over channels) variance, without the constant
    :math:`\frac12\log 2\pi`:

    .. math::

        L_{VID} = \frac{1}{B C H W} \sum_{b,c,h,w} \frac12\left(
            \frac{(t_{bchw} - \mu_{bchw})^2}{\sigma_c^2} + \log \sigma_c^2 \right)

    Same as RepDistiller's ``VIDLoss`` and torchdistill's ``VIDLoss`` (mean over all elements).

    Args:
        pred_mean: ``(B, C, H, W)`` regressor output :math:`\mu` (student side).
        pred_var: ``(C,)`` per-channel variance :math:`\sigma_c^2 > 0` (or ``pred_mean``'s shape).
        teacher: ``(B, C, H, W)`` target (detached here); same shape as ``pred_mean`` (align first).
    """
    fn = "vid_loss"
    s, t = _prepare_maps(fn, pred_mean, teacher)
    if s.shape != t.shape:
        raise ConfigError(f"{fn}: pred_mean {_shape(s)} and teacher {_shape(t)} must have the same shape")
    if not isinstance(pred_var, Tensor) or not pred_var.is_floating_point():
        raise ConfigError(f"{fn}: pred_var must be a floating tensor")
    if pred_var.shape == (s.shape[1],):
        var = pred_var.view(1, -1, 1, 1)
    elif pred_var.shape == s.shape:
        var = pred_var
    else:
        raise ConfigError(f"{fn}: pred_var must have shape ({s.shape[1]},) (per channel) or {_shape(s)}, "
                          f"got {_shape(pred_var)}")
    if s.numel() == 0:
        return _zero(s) + 0 * pred_var.sum()
    return (0.5 * ((s - t).pow(2) / var + torch.log(var))).mean()


# ---------------------------------------------------------------------------------------- SemCKD
def semckd_loss(
    projected: Sequence[Sequence[Tensor]], targets: Sequence[Sequence[Tensor]], attention: Tensor
) -> Tensor:
    r"""SemCKD loss (Chen, Mei, Zhang, Wang, Wang, Feng, Chen, "Cross-Layer Distillation with
    Semantic Calibration", AAAI 2021, eq. 4-6).

    For student layer ``i`` and teacher layer ``j``, :math:`\hat s_{ij}` is the student map ``i``
    projected to teacher layer ``j``'s channels (and spatially aligned), :math:`t_j` the (aligned)
    teacher map, and :math:`\alpha_{b,i,j}` the attention of sample ``b``'s student layer ``i`` on
    teacher layer ``j`` (softmax over ``j``):

    .. math::

        L_{SemCKD} = \frac{1}{B\, n_s} \sum_{b}\sum_{i=1}^{n_s}\sum_{j=1}^{n_t}
            \alpha_{b,i,j}\, \frac{1}{C_j H W}\lVert \hat s_{ij}(b) - t_{ij}(b) \rVert_2^2

    (the reference ``SemCKDLoss``: per-sample MSE weighted by the attention, summed, divided by
    ``bsz * num_stu``). The attention is *not* detached: it is learned through this loss.

    Args:
        projected: ``n_s`` lists of ``n_t`` tensors ``(B, C_j, H_ij, W_ij)``.
        targets: the same structure, teacher maps (detached here).
        attention: ``(B, n_s, n_t)``.
    """
    fn = "semckd_loss"
    ns = len(projected)
    if ns == 0 or len(targets) != ns:
        raise ConfigError(f"{fn}: projected and targets need the same number (>= 1) of student layers, got "
                          f"{ns} and {len(targets)}")
    nt = len(projected[0])
    if not isinstance(attention, Tensor) or attention.dim() != 3:
        raise ConfigError(f"{fn}: attention must be a (B, n_s, n_t) tensor, got "
                          f"{_shape(attention) if isinstance(attention, Tensor) else type(attention).__name__}")
    b = attention.shape[0]
    if tuple(attention.shape[1:]) != (ns, nt):
        raise ConfigError(f"{fn}: attention has shape {_shape(attention)} but there are {ns} student and {nt} "
                          f"teacher layers")
    rows = []
    for i in range(ns):
        if len(projected[i]) != nt or len(targets[i]) != nt:
            raise ConfigError(f"{fn}: student layer {i} needs {nt} projections and targets, got "
                              f"{len(projected[i])} and {len(targets[i])}")
        cols = []
        for j in range(nt):
            s, t = _prepare_maps(fn, projected[i][j], targets[i][j])
            if s.shape != t.shape or s.shape[0] != b:
                raise ConfigError(f"{fn}: projection [{i}][{j}] {_shape(s)} and target {_shape(t)} must have the "
                                  f"same shape with batch {b}")
            cols.append((s - t).pow(2).flatten(1).mean(1))  # (B,)
        rows.append(torch.stack(cols, dim=1))  # (B, n_t)
    ind = torch.stack(rows, dim=1)  # (B, n_s, n_t)
    if b == 0:
        return _zero(ind) + 0 * attention.sum()
    return (attention.to(ind.dtype) * ind).sum() / (b * ns)


# ------------------------------------------------------------------------------- stage-1 training
def pretrain_trunk(method: nn.Module, name: str, distiller: object, loader: Iterable[dict], adapters: nn.Module,
                   step_loss: Callable[[dict[str, Tensor] | None, dict[str, Tensor]], Tensor],
                   progress: bool = True) -> list[float]:
    """Stage 1 of AB and FSP: ``method.pretrain_epochs`` of ``step_loss`` on the method's ``adapters``
    and the student's trunk (its head untouched), both in train mode; previous modes restored after."""
    trunk = student_trunk(distiller)
    was = distiller.student.training, method.training
    distiller.student.train()
    method.train()
    try:
        return run_stage1(name, distiller, loader, list(adapters.parameters()) + list(trunk.parameters()), step_loss,
                          epochs=method.pretrain_epochs, lr=method.pretrain_lr, progress=progress)
    finally:
        distiller.student.train(was[0])
        method.train(was[1])


def run_stage1(
    name: str,
    distiller: object,
    loader: Iterable[dict],
    params: Iterable[nn.Parameter],
    step_loss: Callable[[dict[str, Tensor] | None, dict[str, Tensor]], Tensor],
    *,
    epochs: int,
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    needs_student: bool = True,
    progress: bool = True,
) -> list[float]:
    """Stage-1 loop of AB, FT and FSP (RepDistiller's ``helper/pretrain.py::init``).

    ``epochs`` passes over ``loader``; each batch: student features (``distiller.student_features
    (batch["student"])``, skipped when ``needs_student`` is False), frozen teacher features
    (``distiller.teacher_features(batch)``, no gradient), ``loss = step_loss(s, t)``, one step of
    ``SGD(params, lr, momentum=0.9, weight_decay=5e-4)`` (RepDistiller's optimizer for this stage).
    Only ``params`` change (the caller leaves the student's head out). Returns the mean loss of
    every epoch. A non-finite loss raises :class:`~vskd.errors.VskdError` naming the method.
    """
    from tqdm.auto import tqdm

    from vskd.errors import VskdError

    params = [p for p in params if p.requires_grad]
    if epochs <= 0 or not params:
        return []
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    device = params[0].device
    history: list[float] = []
    for epoch in range(epochs):
        sampler = getattr(loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):  # a fresh shuffle each stage-1 epoch (EpochShuffleSampler)
            sampler.set_epoch(epoch)
        total, count = 0.0, 0
        for batch in tqdm(loader, desc=f"{name} stage 1 ({epoch + 1}/{epochs})", leave=False, disable=not progress):
            s = None
            if needs_student:
                s = distiller.student_features(torch.as_tensor(batch["student"]).to(device))
            with torch.no_grad():
                t = {k: v.to(device) for k, v in distiller.teacher_features(batch).items()}
            loss = step_loss(s, t)
            if not torch.isfinite(loss):
                raise VskdError(f"method '{name}': stage-1 loss became {loss.item()} at epoch {epoch + 1}; "
                                f"lower pretrain_lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n = len(batch["student"]) if "student" in batch else 1
            total += float(loss.detach()) * n
            count += n
        history.append(total / max(count, 1))
    return history


# ------------------------------------------------------------------------ wiring checks (methods)
def layer_names(method: str, option: str, value: object) -> tuple[str, ...]:
    """Normalise a layer option (a name or a list of names) to a non-empty tuple of strings."""
    names = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, (list, tuple)) else None
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"method '{method}': option {option} must be a feature name or a non-empty list of "
                          f"names, got {value!r}")
    return names


def check_map_pairs(
    method: str,
    student_shapes: dict[str, tuple[int, ...]],
    teacher_shapes: dict[str, tuple[int, ...]],
    student_layers: Sequence[str],
    teacher_layers: Sequence[str],
) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Check that each (student, teacher) pair names two maps ``(C, H, W)``; return their shapes.

    Raises :class:`ConfigError` naming both features and both shapes when a feature is not a map
    (e.g. ``"pooled"`` ``(512,)`` given where a block map is needed), or when the two lists have
    different lengths.
    """
    if len(student_layers) != len(teacher_layers):
        raise ConfigError(
            f"method '{method}': {len(student_layers)} student layer(s) {list(student_layers)} but "
            f"{len(teacher_layers)} teacher layer(s) {list(teacher_layers)}; they are paired one to one"
        )
    out = []
    for s_name, t_name in zip(student_layers, teacher_layers):
        ss, ts = tuple(student_shapes[s_name]), tuple(teacher_shapes[t_name])
        if len(ss) != 3 or len(ts) != 3 or min(ss + ts) < 1:
            raise ConfigError(
                f"method '{method}': student feature '{s_name}' has shape {ss} and teacher feature "
                f"'{t_name}' has shape {ts}; both must be feature maps (C, H, W)"
            )
        out.append((ss, ts))
    return out


def check_maps(method: str, side: str, shapes: dict[str, tuple[int, ...]], names: Sequence[str]) -> None:
    """Every named feature of one side must be a map ``(C, H, W)``."""
    for n in names:
        if len(shapes[n]) != 3:
            raise ConfigError(f"method '{method}': {side} feature '{n}' has shape {tuple(shapes[n])}; "
                              f"a feature map (C, H, W) is needed")


def pooled_size(s_shape: Sequence[int], t_shape: Sequence[int]) -> tuple[int, int]:
    """Spatial size both maps have after ``match_spatial(..., "pool")``."""
    return min(s_shape[-2], t_shape[-2]), min(s_shape[-1], t_shape[-1])


def check_epochs(method: str, value: object, option: str = "pretrain_epochs") -> int:
    """Validate an epoch-count option (an integer >= 0)."""
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        raise ConfigError(f"method '{method}': option {option} must be an integer >= 0, got {value!r}")
    return value


def student_trunk(distiller: object) -> nn.Module:
    """The student's convolutional trunk (``student.trunk``: everything but the head ``fc0``/``fc1``)."""
    student = distiller.student
    return getattr(student, "trunk", student)
