"""Tests of the feature-map methods of the zoo (FitNet, AT, AB, FT, FSP, NST, VID, SemCKD).

For each: the functional loss pinned to hand-derived values on small float64 tensors (derivations in
comments), agreement with torchdistill 1.1.5 where it has the method and the conventions agree (and a
check of the documented difference where they do not), gradient reaching the student features and
the method's adapters but never the teacher, wiring errors at setup naming both features and shapes,
SemCKD with a last short batch, and the stage-1 ``pretrain`` of AB / FT / FSP on tiny real models.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vskd.errors import ConfigError
from vskd.losses.functional_maps import (
    ab_loss,
    at_loss,
    attention_map,
    fitnet_loss,
    fsp_loss,
    fsp_matrix,
    ft_loss,
    match_spatial,
    nst_loss,
    semckd_loss,
    vid_loss,
)
from vskd.losses.registry import MethodSetup, create_method

# the modules register their methods on import (vskd.losses imports them all; explicit here)
from vskd.losses import ab, at, fitnet, fsp, ft, nst, semckd, vid  # noqa: E402,F401

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one intra-op thread is faster, and far faster on a shared, loaded machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def t64(x) -> torch.Tensor:
    return torch.tensor(x, dtype=F64)


def randn(*shape, seed=0, requires_grad=False) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=F64).requires_grad_(requires_grad)


def io(**maps):
    """torchdistill's io_dict: {path: {"output": tensor}}."""
    return {k: {"output": v} for k, v in maps.items()}


# ------------------------------------------------------------------------------- alignment helper
def test_match_spatial_pool_and_interpolate():
    s = randn(2, 3, 16, 16)
    t = randn(2, 5, 14, 14, seed=1)
    ps, pt = match_spatial(s, t, "pool")
    assert ps.shape == (2, 3, 14, 14) and pt is t  # only the larger one is pooled
    torch.testing.assert_close(ps, F.adaptive_avg_pool2d(s, (14, 14)))
    is_, it = match_spatial(s, t, "interpolate")
    assert is_ is s and it.shape == (2, 5, 16, 16)  # the teacher goes to the student's size
    # per-dimension minimum for non-square maps
    a, b = match_spatial(randn(1, 1, 8, 2), randn(1, 1, 4, 4), "pool")
    assert a.shape[-2:] == b.shape[-2:] == (4, 2)
    with pytest.raises(ConfigError, match="align"):
        match_spatial(s, t, "nearest")


# -------------------------------------------------------------------------------------------- AT
def test_at_loss_hand_value():
    # student (B=1, C=2, 1x2): channel 0 = [1, 2], channel 1 = [3, 0]
    #   Q_s = mean_c A^2 = [(1+9)/2, (4+0)/2] = [5, 2];   q_s = [5, 2]/sqrt(29)
    # teacher (C=1, 1x2): [2, 2] -> Q_t = [4, 4];       q_t = [1, 1]/sqrt(2)
    # L = mean over the 2 positions of (q_s - q_t)^2 = (|q_s|^2 + |q_t|^2 - 2 q_s.q_t)/2
    #   = (2 - 2 * 7/sqrt(58)) / 2 = 1 - 7/sqrt(58)
    s = t64([[[[1.0, 2.0]], [[3.0, 0.0]]]])
    t = t64([[[[2.0, 2.0]]]])
    torch.testing.assert_close(attention_map(s)[0, 0], t64([5.0, 2.0]))
    out = at_loss(s, t)
    assert out.dtype == F64
    assert out.item() == pytest.approx(1 - 7 / math.sqrt(58), abs=1e-15)


def test_at_loss_interpolation_is_explicit():
    # teacher attention map 2x2 resized (bilinear) to the student's 4x4, then normalised
    s, t = randn(2, 3, 4, 4), randn(2, 6, 2, 2, seed=1)
    qs = s.pow(2).mean(1)
    qt = F.interpolate(t.pow(2).mean(1, keepdim=True), size=(4, 4), mode="bilinear", align_corners=False)[:, 0]
    want = (F.normalize(qs.flatten(1), dim=1) - F.normalize(qt.flatten(1), dim=1)).pow(2).mean()
    torch.testing.assert_close(at_loss(s, t), want, rtol=0, atol=1e-14)
    # pooling instead: the student's 4x4 attention map is averaged down to 2x2
    qs_p = F.adaptive_avg_pool2d(qs[:, None], (2, 2))[:, 0]
    want_p = (F.normalize(qs_p.flatten(1), dim=1) - F.normalize(t.pow(2).mean(1).flatten(1), dim=1)).pow(2).mean()
    torch.testing.assert_close(at_loss(s, t, align="pool"), want_p, rtol=0, atol=1e-14)


def test_at_matches_torchdistill_code_mode(torchdistill_losses):
    s1, t1 = randn(4, 8, 6, 6), randn(4, 16, 6, 6, seed=1)
    s2, t2 = randn(4, 16, 3, 3, seed=2), randn(4, 32, 3, 3, seed=3)
    pairs = {f"p{i}": {"student": {"io": "output", "path": f"s{i}"}, "teacher": {"io": "output", "path": f"t{i}"},
                       "weight": 1} for i in (1, 2)}
    ref = torchdistill_losses.ATLoss(pairs, mode="code")(io(s1=s1, s2=s2), io(t1=t1, t2=t2))
    ours = at_loss(s1, t1) + at_loss(s2, t2)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=0)


# ---------------------------------------------------------------------------------------- FitNet
def test_fitnet_loss_hand_values():
    # same size: student [[1,2],[3,4]], teacher 0 -> mean of squares = 30/4
    s = t64([[[[1.0, 2.0], [3.0, 4.0]]]])
    assert fitnet_loss(s, torch.zeros_like(s)).item() == 7.5
    # student 2x2 pooled to the teacher's 1x1: mean 2.5, teacher 1 -> (2.5 - 1)^2
    assert fitnet_loss(s, t64([[[[1.0]]]])).item() == 2.25
    with pytest.raises(ConfigError, match=r"same channels.*\(1, 2, 2, 2\).*\(1, 1, 2, 2\)"):
        fitnet_loss(torch.zeros(1, 2, 2, 2, dtype=F64), torch.zeros(1, 1, 2, 2, dtype=F64))


# -------------------------------------------------------------------------------------------- AB
def test_ab_loss_hand_value_and_torchdistill(torchdistill_losses):
    # margin 1; sample 0, positions s/t:
    #   s=-2,  t=0 : inactive teacher, s > -1? no            -> 0
    #   s=-.5, t=0 : inactive teacher, s > -1 -> (s+1)^2     = 0.25
    #   s=.5,  t=1 : active teacher,   s <= 1 -> (s-1)^2     = 0.25
    #   s=2,   t=1 : active teacher,   s <= 1? no            -> 0          sum 0.5
    # sample 1: s = 0 everywhere, t = [-1, 0, 3, 3] -> 1 + 1 + 1 + 1 = 4
    # loss = (0.5 + 4) / B = 2.25
    s = t64([[[[-2.0, -0.5, 0.5, 2.0]]], [[[0.0, 0.0, 0.0, 0.0]]]])
    t = t64([[[[0.0, 0.0, 1.0, 1.0]]], [[[-1.0, 0.0, 3.0, 3.0]]]])
    assert ab_loss(s, t).item() == 2.25
    s2, t2 = randn(3, 4, 5, 5), randn(3, 4, 5, 5, seed=1)
    pairs = {"p": {"student": {"io": "output", "path": "s"}, "teacher": {"io": "output", "path": "t"}, "weight": 1}}
    ref = torchdistill_losses.AltActTransferLoss(pairs, margin=1.0, reduction="mean")(io(s=s2), io(t=t2))
    torch.testing.assert_close(ab_loss(s2, t2), ref, rtol=1e-12, atol=0)
    # only the teacher's sign matters: ReLU(t) gives the same loss (post-ReLU maps are fine)
    torch.testing.assert_close(ab_loss(s2, t2), ab_loss(s2, t2.relu()), rtol=0, atol=0)


# -------------------------------------------------------------------------------------------- FT
def test_ft_loss_hand_values_and_torchdistill(torchdistill_losses):
    # student factor [3, 4] -> u_s = [0.6, 0.8]; teacher [1, 0] -> u_t = [1, 0]; |u_s - u_t| = [0.4, 0.8]
    s, t = t64([[3.0, 4.0]]), t64([[1.0, 0.0]])
    assert ft_loss(s, t).item() == pytest.approx(0.6, abs=1e-15)  # mean over D = 2
    assert ft_loss(s, t, reduction="batchmean").item() == pytest.approx(1.2, abs=1e-15)  # paper: ||.||_1
    assert ft_loss(s, t, p=2, reduction="batchmean").item() == pytest.approx(math.sqrt(0.8), abs=1e-15)
    fs, ft_ = randn(4, 6, 3, 3), randn(4, 6, 3, 3, seed=1)
    st, tt = io(translator=fs), io(paraphraser=ft_)
    # p = 1, mean: torchdistill's L1 mean over elements == ours
    torch.testing.assert_close(ft_loss(fs, ft_), torchdistill_losses.FTLoss(p=1, reduction="mean")(st, tt), rtol=1e-12, atol=0)
    # p = 2: torchdistill takes the per-sample norm (the paper's form) == our "batchmean"
    torch.testing.assert_close(ft_loss(fs, ft_, p=2, reduction="batchmean"),
                               torchdistill_losses.FTLoss(p=2, reduction="mean")(st, tt), rtol=1e-12, atol=0)


# ------------------------------------------------------------------------------------------- FSP
def test_fsp_hand_values():
    # first (C=2, 1x2): c0 = [1, 2], c1 = [0, 1]; second (C=1, 1x2): [3, 4]
    # G = (1/hw) F1 F2^T = [[(1*3 + 2*4)/2], [(0*3 + 1*4)/2]] = [[5.5], [2]]
    first = t64([[[[1.0, 2.0]], [[0.0, 1.0]]]])
    second = t64([[[[3.0, 4.0]]]])
    torch.testing.assert_close(fsp_matrix(first, second), t64([[[5.5], [2.0]]]), rtol=0, atol=0)
    # teacher maps all zero -> G_t = 0 -> mean((5.5^2 + 2^2) / 2) = 17.125
    loss = fsp_loss([first, second], [torch.zeros_like(first), torch.zeros_like(second)])
    assert loss.item() == 17.125
    # different spatial sizes in a pair: the larger map is average-pooled (4x4 -> 2x2)
    big, small = randn(2, 3, 4, 4), randn(2, 5, 2, 2, seed=1)
    want = torch.einsum("bihw,bjhw->bij", F.adaptive_avg_pool2d(big, 2), small) / 4
    torch.testing.assert_close(fsp_matrix(big, small), want, rtol=0, atol=1e-14)


def test_fsp_matches_torchdistill_matrices_loss_reduction_differs(torchdistill_losses):
    s = [randn(3, 4, 4, 4), randn(3, 6, 4, 4, seed=1), randn(3, 8, 4, 4, seed=2)]
    t = [randn(3, 4, 4, 4, seed=3), randn(3, 6, 4, 4, seed=4), randn(3, 8, 4, 4, seed=5)]
    for a, b in ((0, 1), (1, 2)):  # same matrix (equal spatial sizes, where max- vs avg-pool cannot differ)
        torch.testing.assert_close(fsp_matrix(s[a], s[b]), torchdistill_losses.FSPLoss.compute_fsp_matrix(s[a], s[b]),
                                   rtol=1e-12, atol=0)
    pairs = {f"p{i}": {"student_first": {"io": "output", "path": f"s{i}"},
                       "student_second": {"io": "output", "path": f"s{i + 1}"},
                       "teacher_first": {"io": "output", "path": f"t{i}"},
                       "teacher_second": {"io": "output", "path": f"t{i + 1}"}, "weight": 1} for i in (0, 1)}
    ref = torchdistill_losses.FSPLoss(pairs)(io(s0=s[0], s1=s[1], s2=s[2]), io(t0=t[0], t1=t[1], t2=t[2]))
    # torchdistill: sum_b sum_j ||G_s[b,:,j] - G_t[b,:,j]||_2 / B (non-squared norm over one axis);
    # ours (RepDistiller): mean of squared entries. Same matrices, different reduction:
    diffs = [fsp_matrix(s[i], s[i + 1]) - fsp_matrix(t[i], t[i + 1]) for i in (0, 1)]
    torch.testing.assert_close(sum(d.norm(dim=1).sum() for d in diffs) / 3, ref, rtol=1e-12, atol=0)
    torch.testing.assert_close(fsp_loss(s, t), sum(d.pow(2).mean() for d in diffs), rtol=1e-12, atol=0)
    assert abs(fsp_loss(s, t).item() - ref.item()) > 1e-3


# ------------------------------------------------------------------------------------------- NST
def test_nst_loss_hand_value():
    # student channels (1x2): [1, 0] and [0, 1] (already unit); teacher one channel [1, 1]/sqrt(2)
    # k(x, y) = (x.y)^2: k_ss = I -> mean 1/2; k_tt = 1; k_st = (1/sqrt2)^2 = 1/2 each -> mean 1/2
    # MMD^2 = 1 + 1/2 - 2 * 1/2 = 1/2
    s = t64([[[[1.0, 0.0]], [[0.0, 1.0]]]])
    t = t64([[[[5.0, 5.0]]]])  # the scale is normalised away
    assert nst_loss(s, t).item() == pytest.approx(0.5, abs=1e-15)


def test_nst_matches_repdistiller_formula():
    # RepDistiller's nst_loss (full_loss=True), written out independently
    def poly(a, b):
        return (a.unsqueeze(1) * b.unsqueeze(2)).sum(-1).pow(2)

    s, t = randn(3, 4, 4, 4), randn(3, 7, 4, 4, seed=1)
    fs = F.normalize(s.view(3, 4, -1), dim=2)
    ft_ = F.normalize(t.view(3, 7, -1), dim=2)
    ref = poly(ft_, ft_).mean() + poly(fs, fs).mean() - 2 * poly(fs, ft_).mean()
    torch.testing.assert_close(nst_loss(s, t), ref, rtol=1e-12, atol=0)
    assert nst_loss(s, s.clone()).item() == pytest.approx(0.0, abs=1e-14)


# ------------------------------------------------------------------------------------------- VID
def test_vid_loss_hand_value_and_torchdistill(torchdistill_losses):
    # mu = [0, 2], t = [1, 1], sigma^2 = 2: each element 0.5 * (1/2 + ln 2); mean the same
    mean, t, var = t64([[[[0.0, 2.0]]]]), t64([[[[1.0, 1.0]]]]), t64([2.0])
    assert vid_loss(mean, var, t).item() == pytest.approx(0.25 + 0.5 * math.log(2), abs=1e-15)
    m2, t2 = randn(3, 5, 4, 4), randn(3, 5, 4, 4, seed=1)
    v2 = F.softplus(randn(5, seed=2)) + 1e-5
    pairs = {"p": {"student": {"io": "output", "path": "r"}, "teacher": {"io": "output", "path": "t"}, "weight": 1}}
    ref = torchdistill_losses.VIDLoss(pairs)(io(r=(m2, v2.view(1, -1, 1, 1))), io(t=t2))
    torch.testing.assert_close(vid_loss(m2, v2, t2), ref, rtol=1e-12, atol=0)


def test_vid_regressor_initial_variance():
    m = create_method("vid", {"student_layers": ["layer1"], "teacher_layers": ["block1"]})
    m.setup(MethodSetup({"layer1": (4, 4, 4)}, {"block1": (6, 4, 4)}))
    torch.testing.assert_close(m.regressors[0].variance(), torch.full((6,), 5.0), rtol=1e-6, atol=0)


# ---------------------------------------------------------------------------------------- SemCKD
def test_semckd_loss_hand_value_and_reference():
    # n_s = 1, n_t = 2, B = 2; per-sample MSEs: pair (0,0): [1, 4], pair (0,1): [9, 0]
    # attention: sample 0 [0.25, 0.75], sample 1 [0.5, 0.5]
    # loss = (0.25*1 + 0.75*9 + 0.5*4 + 0.5*0) / (B * n_s) = 9 / 2 = 4.5
    p00, t00 = t64([[[[1.0]]], [[[2.0]]]]), torch.zeros(2, 1, 1, 1, dtype=F64)
    p01, t01 = t64([[[[3.0, 3.0]]], [[[5.0, 5.0]]]]), t64([[[[0.0, 0.0]]], [[[5.0, 5.0]]]])
    att = t64([[[0.25, 0.75]], [[0.5, 0.5]]])
    assert semckd_loss([[p00, p01]], [[t00, t01]], att).item() == 4.5
    # the reference SemCKDLoss (without .cuda()), written out
    proj = [[randn(3, 4, 2, 2, seed=i * 2 + j) for j in range(2)] for i in range(2)]
    tgt = [[randn(3, 4, 2, 2, seed=10 + i * 2 + j) for j in range(2)] for i in range(2)]
    w = torch.softmax(randn(3, 2, 2, seed=20), -1)
    ind = torch.zeros(3, 2, 2, dtype=F64)
    for i in range(2):
        for j in range(2):
            ind[:, i, j] = F.mse_loss(proj[i][j], tgt[i][j], reduction="none").reshape(3, -1).mean(-1)
    torch.testing.assert_close(semckd_loss(proj, tgt, w), (w * ind).sum() / (3 * 2), rtol=1e-12, atol=0)


# ------------------------------------------------------------------------------ methods: wiring
S_SHAPES = {"layer1": (8, 8, 8), "layer2": (16, 4, 4), "layer3": (32, 2, 2), "layer4": (64, 2, 2),
            "pooled": (64,), "emb": (300,), "logits": (5,)}
T_SHAPES = {"block1": (12, 7, 7), "block2": (24, 4, 4), "block3": (40, 3, 3), "block4": (48, 2, 2),
            "pooled": (48,), "emb": (300,), "logits": (5,)}
ALL = {"student_layers": ["layer1", "layer2", "layer3", "layer4"],
       "teacher_layers": ["block1", "block2", "block3", "block4"]}
# every method with a non-zero stage-2 weight so that its term is computed
METHODS = {
    "fitnet": {},
    "at": {},
    "nst": {},
    "vid": {},
    "ab": {"weight": 1.0},
    "ft": {},
    "fsp": {"weight": 1.0},
    "semckd": {"student_layers": ["layer2", "layer3"], "teacher_layers": ["block1", "block3"], "embed_dim": 8},
}


def built(name: str, **extra):
    m = create_method(name, {**METHODS[name], **extra})
    m.setup(MethodSetup(S_SHAPES, T_SHAPES))
    return m.double()


def feats(shapes, b, seed, requires_grad):
    return {k: randn(b, *v, seed=seed + i, requires_grad=requires_grad) for i, (k, v) in enumerate(shapes.items())}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_gradient_reaches_student_and_adapters_never_teacher(name):
    torch.manual_seed(0)
    m = built(name)
    m.train()
    s, t = feats(S_SHAPES, 4, 0, True), feats(T_SHAPES, 4, 100, True)
    terms = m(s, t)
    assert terms and all(v.dim() == 0 and torch.isfinite(v) for v in terms.values())
    sum(terms.values()).backward()
    for k in m.student_uses:
        assert s[k].grad is not None and s[k].grad.abs().sum() > 0, f"{name}: no gradient on student {k}"
    assert all(v.grad is None for v in t.values()), f"{name}: gradient reached the teacher"
    trainable = [p for p in m.parameters() if p.requires_grad]
    if name in ("at", "nst"):
        assert not trainable  # no adapters
    else:
        assert trainable
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable)
        if name == "fsp":  # the channel adapters are 1x1 convs: every one gets gradient
            assert all(p.grad is not None for p in trainable)
    if name == "ft":  # the paraphraser is frozen outside stage 1
        assert all(not p.requires_grad and p.grad is None for p in m.paraphraser.parameters())
        assert all(p.grad is not None for p in m.translator.parameters())
    if name == "semckd":  # queries, keys (attention) and every regressor learn
        for mod in (*m.queries, *m.keys, *m.regressors):
            assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in mod.parameters())


@pytest.mark.parametrize("name", ["ab", "fsp"])
def test_two_stage_methods_add_nothing_in_stage2_by_default(name):
    m = create_method(name)
    m.setup(MethodSetup(S_SHAPES, T_SHAPES))
    assert m(feats(S_SHAPES, 2, 0, False), feats(T_SHAPES, 2, 9, False)) == {}


def test_ab_optional_kd_term_reads_logits():
    m = create_method("ab", {"kd_weight": 0.5})
    assert "logits" in m.student_uses and "logits" in m.teacher_uses
    m.setup(MethodSetup(S_SHAPES, T_SHAPES))
    out = m.double()(feats(S_SHAPES, 3, 0, False), feats(T_SHAPES, 3, 9, False))
    assert set(out) == {"kd"} and out["kd"].item() > 0


@pytest.mark.parametrize("name", sorted(METHODS))
def test_wiring_error_names_both_features_and_shapes(name):
    opts = dict(METHODS[name])
    if name in ("fitnet", "ft"):
        opts.update(student_layer="layer3", teacher_layer="pooled")
        pattern = r"'layer3'.*\(32, 2, 2\).*'pooled'.*\(48,\)"
    elif name == "semckd":
        opts.update(student_layers=["layer2", "emb"], teacher_layers=["block1"])
        pattern = r"student feature 'emb' has shape \(300,\)"
    else:
        opts.update(student_layers=["layer1", "layer2"], teacher_layers=["block1", "pooled"])
        pattern = r"'layer2'.*\(16, 4, 4\).*'pooled'.*\(48,\)"
    m = create_method(name, opts)
    with pytest.raises(ConfigError, match=pattern):
        m.setup(MethodSetup(S_SHAPES, T_SHAPES))


def test_wiring_errors_counts_channels_and_missing_features():
    with pytest.raises(ConfigError, match=r"2 student layer\(s\).*1 teacher layer\(s\)"):
        create_method("at", {"student_layers": ["layer1", "layer2"], "teacher_layers": ["block1"]}).setup(MethodSetup(
            S_SHAPES, T_SHAPES))
    with pytest.raises(ConfigError, match=r"'layer1' has shape \(8, 8, 8\).*'block1' has shape \(12, 7, 7\)"
                                          r".*adapt_channels"):
        create_method("fsp", {"adapt_channels": False}).setup(MethodSetup(S_SHAPES, T_SHAPES))
    with pytest.raises(ConfigError, match="needs teacher feature.*'block1'"):
        create_method("nst").setup(MethodSetup(S_SHAPES, {"pooled": (48,)}))
    with pytest.raises(ConfigError, match="at least 2"):
        create_method("fsp", {"student_layers": ["layer1"], "teacher_layers": ["block1"]})
    with pytest.raises(ConfigError, match="pretrain_epochs"):
        create_method("ab", {"pretrain_epochs": -1})
    # FSP with equal channels (a ResNet18 teacher) creates no adapter: the paper's method exactly
    same = {k.replace("layer", "block"): v for k, v in S_SHAPES.items() if k.startswith("layer")}
    m = create_method("fsp")
    m.setup(MethodSetup(S_SHAPES, same))
    assert all(isinstance(a, nn.Identity) for a in m.adapters)


def test_semckd_parameters_do_not_depend_on_batch_size():
    m = built("semckd")
    m.train()
    shapes_before = [tuple(p.shape) for p in m.parameters()]
    for b in (8, 3):  # built and trained with 8, then a last short batch of 3
        s, t = feats(S_SHAPES, b, b, True), feats(T_SHAPES, b, 50 + b, False)
        out = m(s, t)["semckd"]
        out.backward()
        assert torch.isfinite(out) and s["layer2"].grad is not None
        att = m.attention([s[n] for n in m.student_layers], [t[n] for n in m.teacher_layers])
        assert att.shape == (b, 2, 2)
        torch.testing.assert_close(att.sum(-1), torch.ones(b, 2, dtype=F64))
    assert [tuple(p.shape) for p in m.parameters()] == shapes_before


def test_ft_paraphraser_stays_frozen_in_train_mode():
    m = built("ft")
    m.train()
    assert not m.paraphraser.training and m.translator.training
    assert not any(p.requires_grad for p in m.paraphraser.parameters())


# ------------------------------------------------------------------ real Distiller, tiny models
@pytest.fixture(scope="module")
def tiny():
    """GAFStudent (ResNet18, 32 px GAF) and VideoTeacher (ResNet18 backbone, 4 segments, 32 px)."""
    from vskd.models import GAFStudent, VideoTeacher

    torch.manual_seed(0)
    student = GAFStudent(num_classes=3)
    teacher = VideoTeacher(num_classes=3, backbone="resnet18", num_segments=4, embed_dim=16)
    g = torch.Generator().manual_seed(1)
    batch = {"student": torch.rand(4, 3, 32, 32, generator=g), "teacher": torch.rand(4, 4, 3, 32, 32, generator=g),
             "label": torch.tensor([0, 1, 2, 0]), "index": torch.arange(4)}
    return student, teacher, batch


def _distiller(tiny, name, options=None):
    from vskd.engine.distiller import Distiller

    student, teacher, batch = tiny
    m = create_method(name, options or {})
    d = Distiller(student, teacher, m)
    d.setup_method(batch)
    return d, m


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items() if isinstance(v, torch.Tensor)}


def _changed(before, module, prefix=""):
    after = module.state_dict()
    return {k for k in before if k.startswith(prefix) and not torch.equal(before[k], after[k])}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_real_distiller_wiring_and_backward(tiny, name):
    student, teacher, batch = tiny
    opts = {k: v for k, v in METHODS[name].items() if k != "teacher_layers" and k != "student_layers"}
    d, m = _distiller(tiny, name, opts)
    # the teacher's segment-averaged block maps at 32 px: ResNet18 stages 8x8 .. 1x1
    assert m.teacher_shapes.get("block1", (64, 8, 8)) == (64, 8, 8)
    before = _snapshot(student)
    d.trainable.train()
    _, losses = d(batch)
    terms = set(losses) - {"loss", "ce"}
    assert terms and torch.isfinite(losses["loss"])
    losses["loss"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.trunk.parameters())
    assert all(p.grad is None for p in teacher.parameters())
    student.zero_grad(set_to_none=True)
    student.load_state_dict(before)  # BatchNorm statistics moved in the forward


@pytest.mark.parametrize("name", ["ab", "fsp", "ft"])
def test_pretrain_stage1_with_real_distiller(tiny, name):
    student, teacher, batch = tiny
    opts = {"pretrain_epochs": 3, "pretrain_lr": 0.01}
    if name == "ft":  # the 256-channel stage keeps the paraphraser 4x smaller than on block4 (CPU time)
        opts.update(student_layer="layer3", teacher_layer="block3")
    d, m = _distiller(tiny, name, opts)
    student_before, teacher_before, method_before = _snapshot(student), _snapshot(teacher), _snapshot(m)
    try:
        history = m.pretrain(d, [batch, batch], progress=False)
        assert len(history) == 3 and all(math.isfinite(h) for h in history)
        assert history[-1] < history[0], history  # the stage-1 objective goes down
        assert not _changed(teacher_before, teacher)
        assert not _changed(student_before, student, "fc")  # the head (fc0, fc1) is never touched
        if name == "ft":  # only the paraphraser learns (the student is not run); then it is frozen again
            assert not _changed(student_before, student)
            assert _changed(method_before, m, "paraphraser.") and not _changed(method_before, m, "translator.")
            assert not any(p.requires_grad for p in m.paraphraser.parameters())
        else:  # the trunk (and AB's connectors) learn
            assert _changed(student_before, student, "trunk.layer1.")
            if name == "ab":
                assert _changed(method_before, m, "connectors.")
    finally:
        student.load_state_dict(student_before)
