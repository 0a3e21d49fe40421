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
* :func:`masked_cross_entropy` -- the supervised term on the labelled items of a batch only (unlabelled
  paired recordings, ``distill.unlabeled``); not a distillation loss, the trainers' cross-entropy.
* :func:`sp_loss` (Tung & Mori 2019), :func:`cc_loss` (Peng et al. 2019), :func:`pkt_loss`
  (Passalis & Tefas 2018), :func:`crd_loss` (Tian et al. 2020), :func:`simkd_loss` (Chen et al.
  2022): the losses of the baseline zoo's ``sp``, ``cc``, ``pkt``, ``crd`` and ``simkd`` methods.
* The feature-map methods' functions (``fitnet_loss``, ``at_loss``, ...) are defined in
  :mod:`vskd.losses.functional_maps` and re-exported here (see the end of this module).

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
    "cc_kernel",
    "cc_loss",
    "crd_loss",
    "crd_nce_loss",
    "crd_scores",
    "dask_loss",
    "kd_loss",
    "masked_cross_entropy",
    "pairwise_distances",
    "pkt_loss",
    "rkd_angle_loss",
    "rkd_angles",
    "rkd_distance_loss",
    "semantic_loss",
    "simkd_loss",
    "sp_loss",
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
def masked_cross_entropy(logits: Tensor, labels: Tensor, labeled: Tensor | None = None,
                         label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy averaged over the labelled items of a batch only.

    ``labeled`` (bool ``(B,)``; None: every item) selects the items whose ``labels`` are read; the
    others' labels (``-1`` from :class:`vskd.data.paired.PairedDataset`, or anything else) are never
    touched. A batch without a labelled item gives an exact zero connected to ``logits`` (no NaN, zero
    gradient), so a step on unlabelled pairs alone trains the distillation terms only.
    """
    labels = torch.as_tensor(labels, device=logits.device)
    if labeled is None:
        return F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    mask = torch.as_tensor(labeled, device=logits.device).bool()
    if mask.shape != labels.shape:
        raise ConfigError(f"masked_cross_entropy: mask of shape {_shape(mask)} for labels of shape {_shape(labels)}")
    if not bool(mask.any()):
        return _zero(logits)
    return F.cross_entropy(logits[mask], labels[mask], label_smoothing=label_smoothing)


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
        **unweighted**, ``total`` is the weighted sum. A term whose weight is 0 is turned off: it is
        neither computed nor returned (so ``w_semantic=0`` accepts embeddings of different widths, and
        ``w_*=0`` costs nothing: the authors' released configuration, whose DASK terms are commented
        out). This is exactly what the ``dask`` method runs (:mod:`vskd.losses.dask`).
    """
    fn = "dask_loss"
    weights = {
        "distance": _check_weight(fn, "w_distance", w_distance),
        "angle": _check_weight(fn, "w_angle", w_angle),
        "semantic": _check_weight(fn, "w_semantic", w_semantic),
    }
    terms = {"distance": rkd_distance_loss, "angle": rkd_angle_loss, "semantic": semantic_loss}
    out: dict[str, Tensor] = {}
    total = _zero(student_emb)
    for name, w in weights.items():
        if w != 0:
            out[name] = terms[name](student_emb, teacher_emb)
            total = total + w * out[name]
    return {"total": total, **out}


# ------------------------------------------------------------------------------------------- SP
def sp_loss(student: Tensor, teacher: Tensor) -> Tensor:
    r"""Similarity-preserving KD (Tung & Mori, "Similarity-Preserving Knowledge Distillation",
    ICCV 2019, eq. 2-4).

    .. math::

        G = A A^\top,\quad \tilde G_{[i,:]} = G_{[i,:]} / \lVert G_{[i,:]} \rVert_2,\qquad
        L_{SP} = \frac{1}{B^2} \lVert \tilde G^t - \tilde G^s \rVert_F^2

    where ``A`` is the ``(B, D)`` flattened activation of one side. Only the two ``B x B`` batch
    similarity matrices are compared, so the student and the teacher may have any (different)
    channel counts and map sizes: no alignment is needed.

    Args:
        student: ``(B, ...)`` student activations (flattened to ``(B, -1)``).
        teacher: ``(B, ...)`` teacher activations (detached here).

    Returns:
        0-d tensor >= 0 (``B = 0``: an exact zero on the student's graph). Each side is divided by
        its detached largest magnitude first (the row normalisation makes ``L_SP`` invariant to it),
        so large activations do not overflow the Gram matrix. Row normalisation as
        ``F.normalize(G, dim=1)`` (``eps = 1e-12``): an all-zero sample gives a zero row.
    """
    fn = "sp_loss"
    s, t = _prepare(fn, student, teacher)
    s, t = _flatten(fn, "student", s), _flatten(fn, "teacher", t)
    b = s.shape[0]
    if b == 0:
        return _zero(s)

    def gram(x: Tensor) -> Tensor:
        x = _rescale(x)
        return F.normalize(x @ x.t(), p=2, dim=1)

    with torch.no_grad():
        g_t = gram(t)
    g_s = gram(s)
    return (g_t - g_s).pow(2).sum() / (b * b)


# ------------------------------------------------------------------------------------------- CC
def cc_kernel(x: Tensor, gamma: float = 0.4, max_p: int = 2) -> Tensor:
    r"""CC's correlation matrix ``(B, B)``: the Gaussian RBF kernel by its order-``P`` Taylor expansion.

    For unit vectors :math:`\lVert x_i - x_j \rVert^2 = 2 - 2 x_i^\top x_j`, so

    .. math::

        k(x_i, x_j) = e^{-\gamma \lVert x_i - x_j \rVert^2}
        \approx e^{-2\gamma} \sum_{p=0}^{P} \frac{(2\gamma)^p}{p!} (x_i^\top x_j)^p

    (Peng et al. 2019, eq. 12; torchdistill's ``compute_cc_mat_by_gaussian_rbf``). ``x`` must already
    be L2-normalised row-wise for the expansion to approximate the RBF kernel.
    """
    dot = x @ x.t()
    out = torch.ones_like(dot)
    for p in range(1, max_p + 1):
        out = out + ((2.0 * gamma) ** p / math.factorial(p)) * dot.pow(p)
    return out * math.exp(-2.0 * gamma)


def cc_loss(student: Tensor, teacher: Tensor, gamma: float = 0.4, max_p: int = 2) -> Tensor:
    r"""Correlation congruence (Peng et al., "Correlation Congruence for Knowledge Distillation",
    ICCV 2019, eq. 8 and 12).

    .. math::

        \hat x = x / \lVert x \rVert_2,\qquad
        L_{CC} = \frac{1}{B^2} \big\lVert \psi(\hat F^s) - \psi(\hat F^t) \big\rVert_F^2

    with :math:`\psi` = :func:`cc_kernel` (Gaussian RBF, Taylor order ``max_p``, ``gamma``) on the
    row-normalised embeddings. Defaults ``gamma = 0.4``, ``max_p = 2`` as torchdistill's CCKD example.

    Args:
        student: ``(B, D_s)`` student embeddings (in the ``cc`` method, the output of its trainable
            embedding head).
        teacher: ``(B, D_t)`` teacher embeddings (detached here). The widths may differ: only the two
            ``B x B`` kernel matrices are compared.

    Returns:
        0-d tensor >= 0 (``B = 0``: exact zero). Rows are normalised with ``F.normalize`` (eps 1e-12).
    """
    fn = "cc_loss"
    if not (isinstance(gamma, (int, float)) and math.isfinite(gamma) and gamma > 0):
        raise ConfigError(f"{fn}: gamma must be a finite number > 0, got {gamma!r}")
    if isinstance(max_p, bool) or not isinstance(max_p, int) or max_p < 1:
        raise ConfigError(f"{fn}: max_p must be an integer >= 1, got {max_p!r}")
    s, t = _prepare(fn, student, teacher)
    s, t = _flatten(fn, "student", s), _flatten(fn, "teacher", t)
    b = s.shape[0]
    if b == 0:
        return _zero(s)
    k_s = cc_kernel(F.normalize(s, dim=1), gamma, max_p)
    k_t = cc_kernel(F.normalize(t, dim=1), gamma, max_p)
    return (k_s - k_t).pow(2).sum() / (b * b)


# ------------------------------------------------------------------------------------------ PKT
def pkt_loss(student: Tensor, teacher: Tensor, eps: float = 1e-7) -> Tensor:
    r"""Probabilistic knowledge transfer with the cosine kernel (Passalis & Tefas, "Learning Deep
    Representations with Probabilistic Knowledge Transfer", ECCV 2018, eq. 6-10).

    .. math::

        \hat x_i = \frac{x_i}{\lVert x_i \rVert_2 + \epsilon},\quad
        K_{ij} = \tfrac{1}{2}(\hat x_i^\top \hat x_j + 1),\quad
        p_{ij} = \frac{K_{ij}}{\sum_k K_{ik}}

        L_{PKT} = \frac{1}{B^2} \sum_{i,j} p^t_{ij} \log\frac{p^t_{ij} + \epsilon}{p^s_{ij} + \epsilon}

    i.e. the KL divergence between the teacher's and the student's conditional probability
    distributions (row ``i``: how sample ``i`` "chooses" its neighbours), as the authors' code and
    torchdistill's ``PKTLoss``: the diagonal (``j = i``) is included, and the mean runs over the
    ``B^2`` entries (not a per-row sum).

    Args:
        student: ``(B, D_s)`` student features (flattened to ``(B, -1)``).
        teacher: ``(B, D_t)`` teacher features (detached here); the widths may differ.
        eps: the authors' ``1e-7`` (norm and log stabiliser).

    Returns:
        0-d tensor (>= 0 up to the eps terms; ``B = 0``: exact zero). An all-zero row normalises to
        zero (cosines 0, kernel 1/2) instead of the reference's NaN-then-zero replacement.
    """
    fn = "pkt_loss"
    s, t = _prepare(fn, student, teacher)
    s, t = _flatten(fn, "student", s), _flatten(fn, "teacher", t)
    b = s.shape[0]
    if b == 0:
        return _zero(s)

    def probs(x: Tensor) -> Tensor:
        x = x / (torch.linalg.vector_norm(x, dim=1, keepdim=True) + eps)
        k = (x @ x.t() + 1.0) / 2.0
        return k / k.sum(dim=1, keepdim=True)

    with torch.no_grad():
        p_t = probs(t)
    p_s = probs(s)
    return (p_t * torch.log((p_t + eps) / (p_s + eps))).mean()


# ------------------------------------------------------------------------------------------ CRD
def crd_scores(anchor: Tensor, memory: Tensor, contrast_index: Tensor, temperature: float) -> Tensor:
    r"""Unnormalised CRD critic scores ``(B, 1 + k)``: :math:`\exp(\langle m_{c_{bj}}, a_b \rangle / \tau)`
    for the memory rows ``c_b = contrast_index[b]`` (column 0: the positive)."""
    rows = memory.detach().to(anchor.dtype)[contrast_index]  # (B, 1+k, D), memory never gets gradient
    return torch.exp(torch.bmm(rows, anchor.unsqueeze(2)).squeeze(2) / temperature)


def crd_nce_loss(scores: Tensor, num_data: int, eps: float = 1e-7) -> Tensor:
    r"""CRD's NCE loss on normalised scores ``(B, 1 + k)`` (column 0 the positive; Tian et al. eq. 17-18).

    .. math::

        h(x) = \frac{x}{x + k P_n},\quad P_n = \frac{1}{N},\qquad
        L = -\frac{1}{B}\sum_b \Big[\log h(x_{b0}) + \sum_{j=1}^{k} \log\big(1 - h(x_{bj})\big)\Big]

    computed as the reference: :math:`\log\frac{x_{b0}}{x_{b0} + kP_n + \epsilon}` and
    :math:`\log\frac{kP_n}{x_{bj} + kP_n + \epsilon}`.
    """
    b, k = scores.shape[0], scores.shape[1] - 1
    m_pn = k / float(num_data)
    pos = scores[:, 0]
    log_d1 = torch.log(pos / (pos + m_pn + eps))
    log_d0 = torch.log(m_pn / (scores[:, 1:] + m_pn + eps))
    return -(log_d1.sum() + log_d0.sum()) / b


def crd_loss(
    student_emb: Tensor,
    teacher_emb: Tensor,
    student_memory: Tensor,
    teacher_memory: Tensor,
    contrast_index: Tensor,
    temperature: float = 0.07,
    z_student: float | None = None,
    z_teacher: float | None = None,
    num_data: int | None = None,
    eps: float = 1e-7,
) -> dict[str, Tensor]:
    r"""Contrastive representation distillation, the NCE form of the reference code (Tian, Krishnan,
    Isola, "Contrastive Representation Distillation", ICLR 2020; RepDistiller ``crd/``).

    With unit embeddings :math:`s_b, t_b` (outputs of the method's trainable heads), memory banks
    :math:`M^s, M^t` ``(N, D)`` and contrast rows :math:`c_b = (i_b, n_{b1}, \dots, n_{bk})`
    (``i_b`` the sample's own index, then ``k`` negatives):

    .. math::

        x^s_{bj} = \frac{\exp(\langle M^t_{c_{bj}}, s_b\rangle / \tau)}{Z_s},\qquad
        x^t_{bj} = \frac{\exp(\langle M^s_{c_{bj}}, t_b\rangle / \tau)}{Z_t}

        L_{CRD} = L_{NCE}(x^s) + L_{NCE}(x^t)

    (student anchor against the teacher's memory, and the symmetric term that trains the teacher-side
    head), with :func:`crd_nce_loss`. ``Z`` is the reference's normalisation constant: when ``None`` it
    is estimated on this batch as :math:`N \cdot \mathrm{mean}(\exp(\cdot/\tau))` (the reference fixes
    it on the first batch; the ``crd`` method does too).

    Unlike the other functions, **neither embedding is detached**: both come from trainable heads
    (the teacher's *feature* is detached before its head). The memory banks never get gradient.

    Args:
        student_emb, teacher_emb: ``(B, D)`` L2-normalised embeddings.
        student_memory, teacher_memory: ``(N, D)`` memory banks.
        contrast_index: ``(B, 1 + k)`` long, column 0 the positives.
        temperature: ``tau`` (0.07 in the paper).
        z_student, z_teacher: normalisation constants, or ``None`` to estimate them here.
        num_data: ``N`` for the noise distribution ``P_n = 1/N`` (default: the memory's rows).

    Returns:
        ``{"total", "student", "teacher", "z_student", "z_teacher"}`` (0-d tensors; the ``z`` are the
        constants used, detached).
    """
    fn = "crd_loss"
    for name, x in (("student_emb", student_emb), ("teacher_emb", teacher_emb)):
        if not isinstance(x, Tensor) or x.dim() != 2 or not x.is_floating_point():
            raise ConfigError(f"{fn}: {name} must be a floating (B, D) tensor, got {getattr(x, 'shape', type(x))}")
    if student_emb.shape != teacher_emb.shape:
        raise ConfigError(f"{fn}: student_emb {_shape(student_emb)} and teacher_emb {_shape(teacher_emb)} differ")
    d = student_emb.shape[1]
    for name, m in (("student_memory", student_memory), ("teacher_memory", teacher_memory)):
        if m.dim() != 2 or m.shape[1] != d:
            raise ConfigError(f"{fn}: {name} must be (N, {d}), got {_shape(m)}")
    if contrast_index.dim() != 2 or contrast_index.shape[0] != student_emb.shape[0] or contrast_index.shape[1] < 2:
        raise ConfigError(f"{fn}: contrast_index must be (B={student_emb.shape[0]}, 1 + k) with k >= 1, "
                          f"got {_shape(contrast_index)}")
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ConfigError(f"{fn}: temperature must be a finite number > 0, got {temperature!r}")
    n = int(num_data if num_data is not None else student_memory.shape[0])
    teacher_emb = teacher_emb.to(student_emb.dtype)
    idx = contrast_index.long()
    out_s = crd_scores(student_emb, teacher_memory, idx, temperature)
    out_t = crd_scores(teacher_emb, student_memory, idx, temperature)
    zs = out_s.detach().mean() * n if z_student is None else torch.as_tensor(z_student, dtype=out_s.dtype)
    zt = out_t.detach().mean() * n if z_teacher is None else torch.as_tensor(z_teacher, dtype=out_t.dtype)
    l_s = crd_nce_loss(out_s / zs, n, eps)
    l_t = crd_nce_loss(out_t / zt, n, eps)
    return {"total": l_s + l_t, "student": l_s, "teacher": l_t, "z_student": zs, "z_teacher": zt}


# ---------------------------------------------------------------------------------------- SimKD
def simkd_loss(projected: Tensor, teacher: Tensor) -> Tensor:
    r"""SimKD's feature alignment (Chen, Mei, Wang, Feng, Chen, "Knowledge Distillation with the Reused
    Teacher Classifier", CVPR 2022, eq. 2): the mean squared error between the projected student
    feature and the teacher's feature that feeds its classifier,

    .. math::

        L_{SimKD} = \frac{1}{|f|} \lVert P(f^s) - f^t \rVert_2^2

    (mean over every element, the reference's ``nn.MSELoss()``).

    Args:
        projected: ``(B, ...)`` the student feature after SimKD's projector.
        teacher: the teacher feature, same shape (detached here).
    """
    fn = "simkd_loss"
    s, t = _prepare(fn, projected, teacher)
    if s.shape != t.shape:
        raise ConfigError(f"{fn}: projected student {_shape(s)} and teacher {_shape(t)} must have the same shape")
    if s.numel() == 0:
        return _zero(s)
    return F.mse_loss(s, t, reduction="mean")


# ----------------------------------------------------------------------- feature-map methods
# The functional forms of the feature-map methods (FitNet, AT, AB, FT, FSP, NST, VID, SemCKD) live
# in vskd.losses.functional_maps and are re-exported here. This import is at the very end so that
# functional_maps may import helpers from this module (it is then complete) without a cycle.
try:
    from vskd.losses import functional_maps as _functional_maps
    from vskd.losses.functional_maps import *  # noqa: E402,F401,F403

    __all__ += [n for n in getattr(_functional_maps, "__all__", []) if n not in __all__]
except ModuleNotFoundError as _exc:  # the module does not exist (yet)
    if _exc.name != "vskd.losses.functional_maps":
        raise


def __getattr__(name: str):
    """Names of functional_maps defined after a partial import (import-order safety net)."""
    try:
        from vskd.losses import functional_maps as fm
    except ModuleNotFoundError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    if name.startswith("_") or not hasattr(fm, name):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(fm, name)
