"""Tests of vskd.losses: hand-computed values, torchdistill agreement, direction, gradients,
degenerate batches, registry, and properties (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vskd.errors import ConfigError
from vskd.losses import (
    DistillMethod,
    MethodSetup,
    create_method,
    dask_loss,
    get_method,
    kd_loss,
    list_methods,
    register_method,
    rkd_angle_loss,
    rkd_distance_loss,
    semantic_loss,
)
from vskd.losses import registry as registry_module
from vskd.losses.functional import rkd_angles

F64 = torch.float64


def t64(x) -> torch.Tensor:
    return torch.tensor(x, dtype=F64)


# Hand-worked example, B=3, D=2.
#   student S: s0=(0,0), s1=(3,0), s2=(0,4)  -- a 3-4-5 right triangle (right angle at s0)
#   teacher T: t0=(0,0), t1=(1,0), t2=(2,0)  -- collinear
S_PTS = [[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]]
T_PTS = [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]


def huber(x: float) -> float:
    """Smooth L1 with beta 1."""
    return 0.5 * x * x if abs(x) < 1 else abs(x) - 0.5


# ------------------------------------------------------------------------------ hand values
def test_distance_hand_value():
    # Student distances d01=3, d02=4, d12=5; mean over the 6 ordered distinct pairs = (2*12)/6 = 4
    #   -> normalised 0.75, 1.0, 1.25.
    # Teacher distances d01=1, d02=2, d12=1; mean = (2*4)/6 = 4/3 -> normalised 0.75, 1.5, 0.75.
    # Differences: (0,1): 0, (0,2): -0.5, (1,2): 0.5, each appearing twice (i,j) and (j,i); the
    # diagonal is 0 on both sides. Smooth L1 (beta 1): 0.5*0.25 = 0.125 for each of the 4 nonzero
    # entries -> sum 0.5, mean over the B^2 = 9 entries -> 1/18.
    loss = rkd_distance_loss(t64(S_PTS), t64(T_PTS))
    expected = (2 * huber(0.0) + 2 * huber(-0.5) + 2 * huber(0.5)) / 9
    assert expected == pytest.approx(1 / 18)
    assert loss.item() == pytest.approx(1 / 18, abs=1e-15)
    assert loss.dtype == F64


def test_angle_hand_value():
    # psi[a,b,c] = cos of the angle at anchor a between b and c; 0 when b==a or c==a (zero vector),
    # 1 when b==c!=a. For B=3 each anchor a has 4 entries with b,c != a: (b,b), (c,c) -> 1 on both
    # sides (difference 0) and (b,c), (c,b) -> cos(angle at a). The other 15 of 27 entries are 0.
    # Student angles: at s0 90deg -> cos 0; at s1 between (-3,0) and (-3,4): 9/(3*5) = 3/5;
    #   at s2 between (0,-4) and (3,-4): 16/(4*5) = 4/5.
    # Teacher (collinear): at t0 cos 1; at t1 between (-1,0) and (1,0): cos -1; at t2: cos 1.
    # Differences: 0-1 = -1 -> |x|-0.5 = 0.5 (linear branch); 0.6+1 = 1.6 -> 1.1 (linear);
    #   0.8-1 = -0.2 -> 0.5*0.04 = 0.02 (quadratic). Each twice: 2*(0.5+1.1+0.02) = 3.24; /27 = 0.12.
    s_psi = rkd_angles(t64(S_PTS))
    assert s_psi[0, 1, 2].item() == pytest.approx(0.0, abs=1e-15)
    assert s_psi[1, 0, 2].item() == pytest.approx(3 / 5)
    assert s_psi[2, 0, 1].item() == pytest.approx(4 / 5)
    assert s_psi[1, 0, 0].item() == pytest.approx(1.0) and s_psi[0, 0, 1].item() == 0.0
    loss = rkd_angle_loss(t64(S_PTS), t64(T_PTS))
    expected = 2 * (huber(0 - 1) + huber(0.6 + 1) + huber(0.8 - 1)) / 27
    assert expected == pytest.approx(0.12)
    assert loss.item() == pytest.approx(0.12, abs=1e-15)


def test_semantic_hand_value_and_dim_error():
    # Differences (0,0), (2,0), (-2,4) -> squares 0+0+4+0+4+16 = 24, mean over 6 elements = 4.
    assert semantic_loss(t64(S_PTS), t64(T_PTS)).item() == pytest.approx(4.0)
    with pytest.raises(ConfigError, match=r"semantic_loss.*\(3, 300\).*\(3, 256\)"):
        semantic_loss(torch.zeros(3, 300), torch.zeros(3, 256))


def test_kd_hand_value_batchmean_and_t_squared():
    # T=2. Row 0: student logits (0,0) -> p_s = (1/2, 1/2); teacher logits (2 ln 3, 0)/2 = (ln 3, 0)
    #   -> p_t = (3/4, 1/4). KL(p_t || p_s) = 3/4 ln(3/2) + 1/4 ln(1/2).
    # Row 1: identical logits -> KL 0. Batch mean: (KL_0 + 0)/2, times T^2 = 4.
    s = t64([[0.0, 0.0], [1.0, -1.0]])
    t = t64([[2 * math.log(3), 0.0], [1.0, -1.0]])
    kl0 = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert kd_loss(s, t, temperature=2.0).item() == pytest.approx(4 * kl0 / 2, rel=1e-14)
    # Direction: swapping the arguments gives KL(p_s || p_t) = 1/2 ln(2/3) + 1/2 ln 2 instead.
    kl_rev = 0.5 * math.log(2 / 3) + 0.5 * math.log(2)
    assert kd_loss(t, s, temperature=2.0).item() == pytest.approx(4 * kl_rev / 2, rel=1e-14)
    assert abs(kl0 - kl_rev) > 1e-3


def test_dask_loss_dict_hand_values():
    out = dask_loss(t64(S_PTS), t64(T_PTS), w_distance=2.0, w_angle=3.0, w_semantic=0.5)
    assert set(out) == {"total", "distance", "angle", "semantic"}
    assert out["distance"].item() == pytest.approx(1 / 18)
    assert out["angle"].item() == pytest.approx(0.12)
    assert out["semantic"].item() == pytest.approx(4.0)
    assert out["total"].item() == pytest.approx(2 / 18 + 3 * 0.12 + 0.5 * 4.0)
    # Zero weight: the term is off, neither computed (embeddings of other widths are accepted) nor
    # reported, and not in the total; as the dask method runs it.
    out0 = dask_loss(t64(S_PTS), t64(T_PTS), w_semantic=0.0)
    assert set(out0) == {"total", "distance", "angle"}
    assert out0["total"].item() == pytest.approx(1 / 18 + 0.12)
    wide = dask_loss(t64(S_PTS), t64([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0]]), w_semantic=0.0)
    assert torch.isfinite(wide["total"])
    assert set(dask_loss(t64(S_PTS), t64(T_PTS), 0.0, 0.0, 0.0)) == {"total"}
    for bad in (-1.0, float("nan"), float("inf"), "1"):
        with pytest.raises(ConfigError, match="w_angle"):
            dask_loss(t64(S_PTS), t64(T_PTS), w_angle=bad)


# ------------------------------------------------------------------------- torchdistill oracle


def _io(x: torch.Tensor) -> dict:
    return {"m": {"output": x}}


def test_kd_matches_torchdistill(torchdistill_losses):
    g = torch.Generator().manual_seed(0)
    s = torch.randn(7, 5, generator=g, dtype=F64) * 3
    t = torch.randn(7, 5, generator=g, dtype=F64) * 3
    for temp in (1.0, 4.0):
        # torchdistill's KDLoss with alpha 0 (or without targets) returns the bare batch-mean KL (no T^2 factor) ...
        soft = torchdistill_losses.KDLoss("m", "output", "m", "output", temperature=temp, alpha=0.0)(_io(s), _io(t))
        assert kd_loss(s, t, temp).item() == pytest.approx(temp**2 * soft.item(), rel=1e-12)
        # ... and with targets: alpha * CE + beta * T^2 * KL.
        y = torch.tensor([0, 1, 2, 3, 4, 0, 1])
        full = torchdistill_losses.KDLoss("m", "output", "m", "output", temperature=temp, alpha=0.3, beta=0.7)(
            _io(s), _io(t), targets=y
        )
        ours = 0.3 * F.cross_entropy(s, y) + 0.7 * kd_loss(s, t, temp)
        assert ours.item() == pytest.approx(full.item(), rel=1e-12)


@pytest.mark.parametrize(
    "shape_s, shape_t, dup",
    [((8, 5), (8, 5), False), ((8, 4, 2, 2), (8, 7), False), ((6, 3), (6, 9), True)],
)
def test_rkd_matches_torchdistill(torchdistill_losses, shape_s, shape_t, dup):
    g = torch.Generator().manual_seed(1)
    s = torch.randn(*shape_s, generator=g, dtype=F64)
    t = torch.randn(*shape_t, generator=g, dtype=F64) * 10 + 3
    if dup:  # a repeated row on each side: distance sqrt(eps) / zero difference vectors
        s[1] = s[0]
        t[4] = t[2]
    dist = torchdistill_losses.RKDLoss("m", "m", dist_factor=1.0, angle_factor=0.0, reduction="mean")(_io(s), _io(t))
    ang = torchdistill_losses.RKDLoss("m", "m", dist_factor=0.0, angle_factor=1.0, reduction="mean")(_io(s), _io(t))
    # A coincident pair sits at the clamp sqrt(1e-12): in absolute units in torchdistill, in units of
    # the largest magnitude here (scale-invariant); that moves the value by ~1e-6 relative only.
    rel = 1e-5 if dup else 1e-10
    assert rkd_distance_loss(s, t).item() == pytest.approx(dist.item(), rel=rel, abs=1e-14)
    assert rkd_angle_loss(s, t).item() == pytest.approx(ang.item(), rel=1e-10, abs=1e-14)
    both = torchdistill_losses.RKDLoss("m", "m", dist_factor=25.0, angle_factor=50.0, reduction="mean")(_io(s), _io(t))
    rkd = create_method("rkd")
    total = sum(rkd({"emb": s}, {"emb": t}).values())
    assert total.item() == pytest.approx(both.item(), rel=rel)


def test_duplicate_rows_bounded_gradient_where_reference_explodes(torchdistill_losses):
    # A coincident student pair: the value matches the reference (checked above), but our gradient
    # stays O(1) where the reference's normalize(max(norm, 1e-12)) scales it by 1e12.
    g = torch.Generator().manual_seed(2)
    base = torch.randn(5, 4, generator=g, dtype=F64)
    base[3] = base[1]
    t = torch.randn(5, 4, generator=g, dtype=F64)
    s = base.clone().requires_grad_(True)
    (rkd_angle_loss(s, t) + rkd_distance_loss(s, t)).backward()
    assert torch.isfinite(s.grad).all() and s.grad.abs().max() < 10
    s_ref = base.clone().requires_grad_(True)
    torchdistill_losses.RKDLoss("m", "m", 0.0, 1.0, "mean")(_io(s_ref), _io(t)).backward()
    assert s_ref.grad.abs().max() > 1e6  # the reference's artefact (documented in docs/losses.md)


# ------------------------------------------------------------------------------ gradients
def _pair(seed: int, b: int = 6, d: int = 5, c: int = 4):
    g = torch.Generator().manual_seed(seed)
    mk = lambda *shape: torch.randn(*shape, generator=g, dtype=F64).requires_grad_(True)  # noqa: E731
    return mk(b, d), mk(b, d), mk(b, c), mk(b, c)


@pytest.mark.parametrize("term", ["distance", "angle", "semantic", "kd"])
def test_student_gets_gradient_teacher_none(term):
    s_emb, t_emb, s_log, t_log = _pair(3)
    fn = {
        "distance": lambda: rkd_distance_loss(s_emb, t_emb),
        "angle": lambda: rkd_angle_loss(s_emb, t_emb),
        "semantic": lambda: semantic_loss(s_emb, t_emb),
        "kd": lambda: kd_loss(s_log, t_log),
    }[term]
    loss = fn()
    assert loss.grad_fn is not None
    loss.backward()
    student, teacher = (s_log, t_log) if term == "kd" else (s_emb, t_emb)
    assert student.grad is not None and torch.isfinite(student.grad).all()
    assert student.grad.abs().sum() > 0
    assert teacher.grad is None


def test_dask_method_every_term_reaches_student_only():
    s_emb, t_emb, s_log, t_log = _pair(4)
    method = create_method("dask")
    method.setup(MethodSetup({"logits": (4,), "emb": (5,)}, {"logits": (4,), "emb": (5,)}))
    terms = method({"logits": s_log, "emb": s_emb}, {"logits": t_log, "emb": t_emb})
    assert set(terms) == {"kd", "distance", "angle", "semantic"}
    for name, value in terms.items():
        (gs_emb, gs_log) = torch.autograd.grad(value, (s_emb, s_log), allow_unused=True, retain_graph=True)
        g = gs_log if name == "kd" else gs_emb
        assert g is not None and g.abs().sum() > 0, name
    sum(terms.values()).backward()
    assert t_emb.grad is None and t_log.grad is None


# --------------------------------------------------------------------- dtype and degenerate
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_dtype_preserved(dtype):
    s = torch.randn(4, 3, dtype=dtype)
    t = torch.randn(4, 3, dtype=F64)  # the teacher is cast to the student's dtype
    for fn in (rkd_distance_loss, rkd_angle_loss, semantic_loss, kd_loss):
        assert fn(s, t).dtype == dtype
    assert all(v.dtype == dtype for v in dask_loss(s, t).values())


def test_float64_precision_kept():
    # A perturbation of 1e-12 in the logits is visible in float64 (it would vanish in float32).
    s = t64([[0.0, 1e-6]])
    t = t64([[0.0, 0.0]])
    # Small-difference expansion: KL ~ T^2 * (dz/T)^2 / 8 = dz^2/8 for two classes.
    assert kd_loss(s, t, 4.0).item() == pytest.approx(1e-12 / 8, rel=1e-5)


@pytest.mark.parametrize("b", [0, 1, 2])
def test_small_batches_give_zero_with_graph(b):
    s = torch.randn(b, 4, dtype=F64, requires_grad=True)
    t = torch.randn(b, 4, dtype=F64)
    losses = [rkd_angle_loss(s, t)]
    if b < 2:
        losses.append(rkd_distance_loss(s, t))
    for loss in losses:
        assert loss.item() == 0.0 and loss.grad_fn is not None
        loss.backward()
        assert torch.equal(s.grad, torch.zeros_like(s))
    out = dask_loss(s, t)
    assert all(torch.isfinite(v) for v in out.values())
    if b:
        assert torch.isfinite(kd_loss(s, t))


@pytest.mark.parametrize("side", ["student", "teacher", "both"])
def test_identical_rows_no_nan(side):
    g = torch.Generator().manual_seed(5)
    s = torch.randn(5, 3, generator=g, dtype=F64)
    t = torch.randn(5, 3, generator=g, dtype=F64)
    if side in ("student", "both"):
        s = s[:1].expand(5, 3).clone()
    if side in ("teacher", "both"):
        t = t[:1].expand(5, 3).clone()
    s.requires_grad_(True)
    out = dask_loss(s, t)
    assert all(torch.isfinite(v) for v in out.values())
    out["total"].backward()
    assert torch.isfinite(s.grad).all()
    if side == "both":  # both collapsed: same (trivial) structure, no relational loss
        assert out["distance"].item() == 0.0 and out["angle"].item() == 0.0


@pytest.mark.parametrize("dtype, scale", [(F64, 1e150), (torch.float32, 1e25), (torch.float32, 1e-25)])
def test_extreme_magnitudes_no_nan(dtype, scale):
    g = torch.Generator().manual_seed(6)
    base_s = torch.randn(6, 4, generator=g, dtype=F64)
    base_t = torch.randn(6, 4, generator=g, dtype=F64)
    ref_d = rkd_distance_loss(base_s, base_t).item()
    ref_a = rkd_angle_loss(base_s, base_t).item()
    s = (base_s * scale).to(dtype).requires_grad_(True)
    t = (base_t * scale).to(dtype)
    d, a = rkd_distance_loss(s, t), rkd_angle_loss(s, t)
    # Scale invariance of the relational terms holds at any magnitude.
    assert d.item() == pytest.approx(ref_d, rel=1e-4)
    assert a.item() == pytest.approx(ref_a, rel=1e-4)
    (d + a).backward()
    assert torch.isfinite(s.grad).all()
    k = kd_loss(s, t)
    assert torch.isfinite(k) and k.item() >= 0


def test_kd_huge_logits_finite():
    s = t64([[1e300, -1e300, 0.0], [0.0, 0.0, 0.0]]).requires_grad_(True)
    t = t64([[-1e300, 1e300, 0.0], [0.0, 0.0, 0.0]])
    loss = kd_loss(s, t)
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(s.grad).all()


def test_shape_and_option_errors():
    with pytest.raises(ConfigError, match=r"batch sizes differ.*\(4, 3\).*\(5, 3\)"):
        rkd_distance_loss(torch.zeros(4, 3), torch.zeros(5, 3))
    with pytest.raises(ConfigError, match=r"rkd_angle_loss.*\(4,\)"):
        rkd_angle_loss(torch.zeros(4), torch.zeros(4))
    with pytest.raises(ConfigError, match=r"kd_loss.*\(4, 3\).*\(4, 5\)"):
        kd_loss(torch.zeros(4, 3), torch.zeros(4, 5))
    with pytest.raises(ConfigError, match="temperature"):
        kd_loss(torch.zeros(4, 3), torch.zeros(4, 3), temperature=0.0)
    with pytest.raises(ConfigError, match="floating point"):
        semantic_loss(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3))


def test_invariances():
    g = torch.Generator().manual_seed(7)
    x = torch.randn(6, 4, generator=g, dtype=F64)
    # Relational terms: invariant to scaling and translating one side.
    assert rkd_distance_loss(x, 3.5 * x + 2.0).item() == pytest.approx(0.0, abs=1e-14)
    assert rkd_angle_loss(x, 3.5 * x + 2.0).item() == pytest.approx(0.0, abs=1e-14)
    # KD: invariant to a per-sample shift of the logits.
    z = torch.randn(6, 5, generator=g, dtype=F64)
    assert kd_loss(z + torch.arange(6, dtype=F64)[:, None], z).item() == pytest.approx(0.0, abs=1e-12)


# ----------------------------------------------------------------------------- hypothesis
finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def pairs(draw, min_b=1, max_b=6):
    b = draw(st.integers(min_b, max_b))
    d = draw(st.integers(1, 5))
    s = draw(arrays(np.float64, (b, d), elements=finite))
    t = draw(arrays(np.float64, (b, d), elements=finite))
    return torch.from_numpy(s), torch.from_numpy(t)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(pairs())
def test_property_nonnegative_finite(st_pair):
    s, t = st_pair
    out = dask_loss(s, t)
    for name, v in out.items():
        assert torch.isfinite(v) and v.item() >= 0, name
    k = kd_loss(s, t)
    assert torch.isfinite(k) and k.item() >= -1e-12  # KL >= 0 up to rounding


@settings(max_examples=60, deadline=None, derandomize=True)
@given(pairs())
def test_property_zero_when_identical(st_pair):
    s, _ = st_pair
    out = dask_loss(s, s.clone())
    for name, v in out.items():
        assert v.item() == 0.0, name
    assert kd_loss(s, s.clone()).item() == pytest.approx(0.0, abs=1e-12)
    method = create_method("dask")
    terms = method({"logits": s, "emb": s}, {"logits": s.clone(), "emb": s.clone()})
    assert sum(terms.values()).item() == pytest.approx(0.0, abs=1e-12)


# ----------------------------------------------------------------------------- registry
def test_registry_lists_builtins():
    methods = {name: (desc, ref) for name, desc, ref in list_methods()}
    assert {"kd", "rkd", "dask"} <= set(methods)
    assert [n for n, _, _ in list_methods()] == sorted(n for n, _, _ in list_methods())
    assert "Park" in methods["rkd"][1] and "Hinton" in methods["kd"][1] and "Ni" in methods["dask"][1]
    assert all(desc and "\n" not in desc for desc, _ in methods.values())
    assert get_method("dask").uses == ("logits", "emb")
    assert get_method("kd").uses == ("logits",) and get_method("rkd").uses == ("emb",)
    assert issubclass(get_method("kd"), DistillMethod)


def test_unknown_method_lists_known():
    with pytest.raises(ConfigError, match=r"unknown distillation method 'fitnett'; known methods: .*dask.*kd.*rkd"):
        get_method("fitnett")
    with pytest.raises(ConfigError, match=r"method 'dask': unknown option\(s\) 'beta'.*alpha"):
        create_method("dask", {"beta": 1.0})
    with pytest.raises(ConfigError, match=r"method 'kd': option temperature must be .* > 0"):
        create_method("kd", {"temperature": -1})


def test_defaults():
    d = create_method("dask")
    assert (d.alpha, d.temperature, d.w_distance, d.w_angle, d.w_semantic) == (0.01, 4.0, 1.0, 1.0, 1.0)
    r = create_method("rkd")
    assert (r.w_distance, r.w_angle) == (25.0, 50.0)
    k = create_method("kd")
    assert (k.weight, k.temperature) == (1.0, 4.0)


def test_dask_total_equals_weighted_terms():
    s_emb, t_emb, s_log, t_log = _pair(8)
    method = create_method("dask", {"alpha": 0.01, "temperature": 4.0})
    terms = method({"logits": s_log, "emb": s_emb}, {"logits": t_log, "emb": t_emb})
    expected = (
        0.01 * kd_loss(s_log, t_log, 4.0)
        + rkd_distance_loss(s_emb, t_emb)
        + rkd_angle_loss(s_emb, t_emb)
        + semantic_loss(s_emb, t_emb)
    )
    assert sum(terms.values()).item() == pytest.approx(expected.item(), rel=1e-14)
    assert terms["kd"].item() == pytest.approx(0.01 * kd_loss(s_log, t_log).item(), rel=1e-14)
    # Each term can be turned off; it is then absent.
    off = create_method("dask", {"alpha": 0.0, "w_angle": 0.0})
    assert set(off({"logits": s_log, "emb": s_emb}, {"logits": t_log, "emb": t_emb})) == {"distance", "semantic"}
    # The functional dask_loss agrees with the module's DASK part.
    fn_total = dask_loss(s_emb, t_emb)["total"]
    assert fn_total.item() == pytest.approx((sum(terms.values()) - terms["kd"]).item(), rel=1e-14)


def test_kd_method_weight_and_temperature():
    _, _, s_log, t_log = _pair(9)
    m = create_method("kd", {"weight": 0.5, "temperature": 2.0})
    out = m({"logits": s_log}, {"logits": t_log})
    assert set(out) == {"kd"}
    assert out["kd"].item() == pytest.approx(0.5 * kd_loss(s_log, t_log, 2.0).item(), rel=1e-14)


def test_setup_validates_wiring():
    m = create_method("dask")
    with pytest.raises(ConfigError, match=r"student feature 'emb' has shape \(300,\).*teacher feature 'emb' has shape \(256,\)"):
        m.setup(MethodSetup({"logits": (27,), "emb": (300,)}, {"logits": (27,), "emb": (256,)}))
    with pytest.raises(ConfigError, match=r"'logits' has shape \(27,\).*\(10,\)"):
        create_method("kd").setup(MethodSetup({"logits": (27,)}, {"logits": (10,)}))
    with pytest.raises(ConfigError, match=r"needs teacher feature\(s\) 'emb'"):
        m.setup(MethodSetup({"logits": (27,), "emb": (300,)}, {"logits": (27,)}))
    # Relational-only wiring tolerates different widths; DASK with semantic off too.
    create_method("rkd").setup(MethodSetup({"emb": (300,)}, {"emb": (256,)}))
    ok = create_method("dask", {"w_semantic": 0.0})
    ok.setup(MethodSetup({"logits": (27,), "emb": (300,)}, {"logits": (27,), "emb": (256,)}))
    assert ok.is_setup and ok.teacher_shapes == {"logits": (27,), "emb": (256,)}


def test_custom_method_with_adapter_registers_and_trains():
    @register_method("test-linear-hint")
    class LinearHint(DistillMethod):
        """Test-only FitNet-like method with a trainable adapter."""

        reference = "test"
        uses = ("emb",)

        def build(self, student_shapes, teacher_shapes):
            self.adapter = torch.nn.Linear(student_shapes["emb"][0], teacher_shapes["emb"][0]).double()

        def forward(self, student_feats, teacher_feats):
            return {"hint": F.mse_loss(self.adapter(student_feats["emb"]), teacher_feats["emb"].detach())}

    try:
        assert ("test-linear-hint", "Test-only FitNet-like method with a trainable adapter.", "test") in list_methods()
        m = create_method("test-linear-hint")
        assert len(list(m.parameters())) == 0
        m.setup(MethodSetup({"emb": (5,)}, {"emb": (3,)}))
        assert len(list(m.parameters())) == 2  # adapter parameters join the student's optimizer
        s = torch.randn(4, 5, dtype=F64, requires_grad=True)
        out = m({"emb": s}, {"emb": torch.randn(4, 3, dtype=F64)})
        out["hint"].backward()
        assert s.grad is not None and m.adapter.weight.grad is not None
        with pytest.raises(ValueError, match="already registered"):
            register_method("test-linear-hint")(type("Other", (DistillMethod,), {"reference": "x"}))
        with pytest.raises(TypeError):
            register_method("not-a-method")(torch.nn.Linear)
    finally:
        registry_module._REGISTRY.pop("test-linear-hint", None)
