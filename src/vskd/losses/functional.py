"""Distillation losses as pure functions: student first, teacher detached.

Every function takes the **student** tensor first and the **teacher** tensor second. The teacher is
detached inside the function (no gradient ever reaches it) and cast to the student's dtype, so the
whole computation runs in the student's dtype (float64 inputs give float64 losses). Shape mismatches
raise :class:`vskd.errors.ConfigError` naming the function and both shapes.

Losses (see ``docs/losses.md`` for the conventions and where each default comes from):

* :func:`kd_loss` -- Hinton et al. 2015, ``T^2 * KL(softmax(z_t/T) || softmax(z_s/T))``, batch mean.
* :func:`rkd_distance_loss`, :func:`rkd_angle_loss` -- Park et al., CVPR 2019 (RKD), the distance
  (L_D) and angle (L_A) terms of VSKD's DASK.
* :func:`semantic_loss` -- VSKD's semantic term L_S, MSE between the two fc0 embeddings.
* :func:`dask_loss` -- VSKD's DASK (Ni et al., ICASSP 2022): weighted L_D + L_A + L_S.

Degenerate batches (fewer than 2 samples for L_D, fewer than 3 for L_A) have no pairs / triples: the
loss is an exact zero that is still connected to the student's graph (``backward()`` works and gives
zero gradient). No input of finite values produces NaN.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from vskd.errors import ConfigError

__all__ = [
    "PDIST_EPS",
    "dask_loss",
    "kd_loss",
    "pairwise_distances",
    "rkd_angle_loss",
    "rkd_angles",
    "rkd_distance_loss",
    "semantic_loss",
]

#: Clamp on squared distances and on difference-vector norms, as in the RKD reference code
#: (``pdist(e, squared=False, eps=1e-12)``).
PDIST_EPS = 1e-12


# --------------------------------------------------------------------------------------- helpers
def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _prepare(fn: str, student: Tensor, teacher: Tensor) -> tuple[Tensor, Tensor]:
    """Check both are tensors with a batch dimension, detach the teacher and cast it to the student."""
    for side, t in (("student", student), ("teacher", teacher)):
        if not isinstance(t, Tensor):
            raise ConfigError(f"{fn}: {side} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() < 1:
            raise ConfigError(f"{fn}: {side} needs a batch dimension, got shape {_shape(t)}")
        if not t.is_floating_point():
            raise ConfigError(f"{fn}: {side} must be floating point, got dtype {t.dtype}")
    if student.shape[0] != teacher.shape[0]:
        raise ConfigError(
            f"{fn}: student and teacher batch sizes differ: student {_shape(student)}, "
            f"teacher {_shape(teacher)}"
        )
    return student, teacher.detach().to(student.dtype)


def _flatten(fn: str, side: str, x: Tensor) -> Tensor:
    """``(B, ...)`` -> ``(B, D)``; a 1-d tensor has no feature dimension and is refused."""
    if x.dim() < 2:
        raise ConfigError(f"{fn}: {side} must be (B, D) or (B, ...), got shape {_shape(x)}")
    return x.flatten(1)


def _zero(student: Tensor) -> Tensor:
    """An exact 0-d zero in the student's dtype that stays on the student's graph (never NaN)."""
    return student.reshape(-1)[:0].sum()


def _rescale(x: Tensor) -> Tensor:
    """Divide by the (detached) largest magnitude.

    Normalised distances and angles are invariant to a positive scale, so this changes neither the
    loss nor its gradient; it keeps squared differences from overflowing (float32 above ~1e19,
    float16 above ~256).
    """
    s = x.detach().abs().amax()
    s = torch.where(s > 0, s, torch.ones_like(s))
    return x / s


def _eps(dtype: torch.dtype) -> float:
    return max(PDIST_EPS, torch.finfo(dtype).tiny)


# ------------------------------------------------------------------------------------------- KD
def kd_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 4.0) -> Tensor:
    r"""Soft-target knowledge distillation (Hinton, Vinyals, Dean 2015, "Distilling the Knowledge in
    a Neural Network").

    .. math::

        L_{KD} = T^2 \cdot \frac{1}{B} \sum_{b=1}^{B} \sum_{c=1}^{C}
                 p^t_{bc} \log \frac{p^t_{bc}}{p^s_{bc}},
        \qquad p^t = \mathrm{softmax}(z^t / T),\; p^s = \mathrm{softmax}(z^s / T)

    i.e. ``KL(teacher || student)`` with batch-mean reduction (sum over classes, mean over samples),
    times ``T^2`` so that the gradient magnitude does not shrink with ``T``.

    Args:
        student_logits: ``(B, C)`` student logits (receives the gradient).
        teacher_logits: ``(B, C)`` teacher logits (detached here).
        temperature: ``T > 0``; VSKD uses 4.

    Returns:
        0-d tensor in the student's dtype, >= 0, zero iff the softened distributions agree.
    """
    fn = "kd_loss"
    s, t = _prepare(fn, student_logits, teacher_logits)
    if s.dim() != 2 or s.shape != t.shape:
        raise ConfigError(
            f"{fn}: expected student and teacher logits of the same shape (B, C), got student "
            f"{_shape(s)}, teacher {_shape(t)}"
        )
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ConfigError(f"{fn}: temperature must be a finite number > 0, got {temperature!r}")
    if s.shape[0] == 0:
        return _zero(s)
    log_ps = F.log_softmax(s / temperature, dim=1)
    log_pt = F.log_softmax(t / temperature, dim=1)
    # kl_div(input=log q, target=log p, log_target=True) = sum p (log p - log q): KL(p || q).
    kl = F.kl_div(log_ps, log_pt, reduction="batchmean", log_target=True)
    return kl * (temperature**2)


# ------------------------------------------------------------------------------------------ RKD
def pairwise_distances(x: Tensor, eps: float = PDIST_EPS) -> Tensor:
    r"""Euclidean distance matrix ``(B, B)`` of the rows of ``x`` ``(B, D)``, as RKD's ``pdist``.

    :math:`d_{ij} = \sqrt{\max(\lVert x_i - x_j \rVert^2, \varepsilon)}` for :math:`i \ne j` and
    :math:`d_{ii} = 0` (``squared=False``, ``eps=1e-12``). Computed from the differences directly
    (not the Gram-matrix identity, which cancels catastrophically for large nearby vectors); the
    clamp keeps the square root's gradient finite, and coincident rows get zero gradient.
    """
    diff = x.unsqueeze(1) - x.unsqueeze(0)  # (B, B, D): x_i - x_j
    sq = diff.pow(2).sum(-1).clamp_min(max(eps, torch.finfo(x.dtype).tiny))
    off_diag = ~torch.eye(x.shape[0], dtype=torch.bool, device=x.device)
    return sq.sqrt() * off_diag


def _normalised_distances(x: Tensor) -> Tensor:
    """Distance matrix divided by its mean over the B(B-1) distinct ordered pairs (i != j)."""
    b = x.shape[0]
    d = pairwise_distances(_rescale(x), eps=_eps(x.dtype))
    mean = d.sum() / (b * (b - 1))  # the diagonal is 0; every i != j entry is >= sqrt(eps) > 0
    return d / mean


def rkd_distance_loss(student: Tensor, teacher: Tensor) -> Tensor:
    r"""RKD distance-wise loss L_D (Park, Kim, Lu, Cho, "Relational Knowledge Distillation",
    CVPR 2019, eq. 4-5), the distance term of VSKD's DASK.

    .. math::

        \psi_D(x_i, x_j) = \frac{\lVert x_i - x_j \rVert_2}{\mu},\qquad
        \mu = \frac{1}{B(B-1)} \sum_{i \ne j} \lVert x_i - x_j \rVert_2

        L_D = \frac{1}{B^2} \sum_{i,j} \ell_\delta\big(\psi_D(s_i, s_j) - \psi_D(t_i, t_j)\big)

    where :math:`\ell_\delta` is the smooth L1 (Huber) loss with :math:`\beta = 1`
    (:math:`0.5 x^2` for :math:`|x| < 1`, else :math:`|x| - 0.5`) and the mean runs over all
    :math:`B^2` entries of the two distance matrices (the diagonal is 0 on both sides, as in the
    reference code). Each side is normalised by its own mean distance, so the student and teacher
    may have different widths ``D``.

    Args:
        student: ``(B, D_s)`` student features (more dims are flattened to ``(B, -1)``).
        teacher: ``(B, D_t)`` teacher features (detached here).

    Returns:
        0-d tensor, >= 0. ``B < 2`` (no pair): an exact zero on the student's graph. All rows
        identical on one side: every distinct-pair distance is the clamp ``sqrt(1e-12)``, so that
        side's normalised matrix is 1 off the diagonal (the reference's behaviour); finite, and the
        collapsed side gets zero gradient.
    """
    fn = "rkd_distance_loss"
    s, t = _prepare(fn, student, teacher)
    s, t = _flatten(fn, "student", s), _flatten(fn, "teacher", t)
    if s.shape[0] < 2:
        return _zero(s)
    with torch.no_grad():
        t_d = _normalised_distances(t)
    s_d = _normalised_distances(s)
    return F.smooth_l1_loss(s_d, t_d, reduction="mean", beta=1.0)


def rkd_angles(x: Tensor, eps: float = PDIST_EPS) -> Tensor:
    r"""RKD angle potentials ``(B, B, B)``: entry ``[a, b, c]`` is the cosine of the angle at anchor
    ``x_a`` between ``x_b`` and ``x_c``,

    .. math::

        \psi_A(x_a, x_b, x_c) = \langle e^{ab}, e^{ac} \rangle,\qquad
        e^{ab} = \frac{x_b - x_a}{\lVert x_b - x_a \rVert_2}

    A difference vector of norm <= eps (``b == a``, or coincident points) is taken as the zero
    vector, so those entries are 0 as in the reference code (which divides by ``max(norm, eps)``);
    unlike the reference, their gradient is exactly zero instead of being scaled by ``1/eps``.
    """
    diff = x.unsqueeze(0) - x.unsqueeze(1)  # (B, B, D): diff[a, b] = x_b - x_a
    norm = torch.linalg.vector_norm(diff, dim=2, keepdim=True)
    ok = norm > max(eps, torch.finfo(x.dtype).tiny)
    safe = torch.where(ok, norm, torch.ones_like(norm))
    unit = torch.where(ok, diff / safe, torch.zeros_like(diff))
    return torch.bmm(unit, unit.transpose(1, 2))


def rkd_angle_loss(student: Tensor, teacher: Tensor) -> Tensor:
    r"""RKD angle-wise loss L_A (Park et al., CVPR 2019, eq. 6-7), the angle term of VSKD's DASK.

    .. math::

        L_A = \frac{1}{B^3} \sum_{a,b,c} \ell_\delta\big(\psi_A(s_a, s_b, s_c) - \psi_A(t_a, t_b, t_c)\big)

    with :math:`\psi_A` from :func:`rkd_angles` (all :math:`B^3` ordered triples, degenerate ones
    included as in the reference code) and :math:`\ell_\delta` the smooth L1 loss with
    :math:`\beta = 1`, mean reduction.

    Args:
        student: ``(B, D_s)`` student features (more dims are flattened).
        teacher: ``(B, D_t)`` teacher features (detached here).

    Returns:
        0-d tensor, >= 0. ``B < 3`` (no triple of distinct samples): an exact zero on the student's
        graph (the reference gives 0 up to rounding there too).
    """
    fn = "rkd_angle_loss"
    s, t = _prepare(fn, student, teacher)
    s, t = _flatten(fn, "student", s), _flatten(fn, "teacher", t)
    if s.shape[0] < 3:
        return _zero(s)
    with torch.no_grad():
        t_a = rkd_angles(_rescale(t), eps=_eps(t.dtype))
    s_a = rkd_angles(_rescale(s), eps=_eps(s.dtype))
    return F.smooth_l1_loss(s_a, t_a, reduction="mean", beta=1.0)


# ------------------------------------------------------------------------------------- semantic
def semantic_loss(student_emb: Tensor, teacher_emb: Tensor) -> Tensor:
    r"""VSKD's semantic term L_S: mean squared error between the student's and the teacher's fc0
    embeddings (both 300-d in VSKD),

    .. math::

        L_S = \frac{1}{B D} \sum_{b=1}^{B} \sum_{k=1}^{D} (s_{bk} - t_{bk})^2

    Args:
        student_emb: ``(B, D)`` student embedding.
        teacher_emb: ``(B, D)`` teacher embedding (detached here); must have the same shape.

    Returns:
        0-d tensor, >= 0. Raises :class:`~vskd.errors.ConfigError` when the shapes differ.
    """
    fn = "semantic_loss"
    s, t = _prepare(fn, student_emb, teacher_emb)
    if s.shape != t.shape:
        raise ConfigError(
            f"{fn}: student and teacher embeddings must have the same shape, got student "
            f"{_shape(s)}, teacher {_shape(t)} (VSKD's fc0 is 300-d on both sides)"
        )
    if s.numel() == 0:
        return _zero(s)
    return F.mse_loss(s, t, reduction="mean")


# ----------------------------------------------------------------------------------------- DASK
def _check_weight(fn: str, name: str, w: float) -> float:
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
        raise ConfigError(f"{fn}: {name} must be a finite number >= 0, got {w!r}")
    return float(w)


def dask_loss(
    student_emb: Tensor,
    teacher_emb: Tensor,
    w_distance: float = 1.0,
    w_angle: float = 1.0,
    w_semantic: float = 1.0,
) -> dict[str, Tensor]:
    r"""VSKD's distance-angle-semantic knowledge loss (Ni et al., "Cross-modal Knowledge
    Distillation for Vision-to-Sensor Action Recognition", ICASSP 2022) on the fc0 embeddings:

    .. math::

        L_{DASK} = w_D L_D + w_A L_A + w_S L_S

    with :math:`L_D` = :func:`rkd_distance_loss`, :math:`L_A` = :func:`rkd_angle_loss` and
    :math:`L_S` = :func:`semantic_loss`. Defaults 1/1/1 are the authors' code (RKD's own paper uses
    :math:`w_D = 25, w_A = 50`).

    Args:
        student_emb: ``(B, D)`` student fc0 embedding.
        teacher_emb: ``(B, D)`` teacher fc0 embedding (detached inside every term).
        w_distance, w_angle, w_semantic: non-negative weights.

    Returns:
        ``{"total", "distance", "angle", "semantic"}``: 0-d tensors; the three terms are
        **unweighted**, ``total`` is the weighted sum. A term whose weight is 0 is still computed
        (for logging) but does not enter ``total``.
    """
    fn = "dask_loss"
    w_d = _check_weight(fn, "w_distance", w_distance)
    w_a = _check_weight(fn, "w_angle", w_angle)
    w_s = _check_weight(fn, "w_semantic", w_semantic)
    distance = rkd_distance_loss(student_emb, teacher_emb)
    angle = rkd_angle_loss(student_emb, teacher_emb)
    semantic = semantic_loss(student_emb, teacher_emb)
    total = _zero(student_emb)
    for w, term in ((w_d, distance), (w_a, angle), (w_s, semantic)):
        if w != 0:
            total = total + w * term
    return {"total": total, "distance": distance, "angle": angle, "semantic": semantic}
