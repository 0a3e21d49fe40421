"""The relational / contrastive / projector methods of the zoo: sp, cc, pkt, crd, simkd (+ kd, rkd wiring).

Every loss is pinned to a value on fixed float64 tensors, checked against an independent
straightforward implementation (plain Python loops, below) and, where torchdistill 1.1.5 has the
method with the same conventions, against torchdistill. Differences from torchdistill:

* SP (``SPKDLoss``, batchmean): torchdistill's ``normalize(G, 1)`` passes 1 as ``p``, so it
  normalises the Gram rows by their L1 norm; the paper (eq. 3) and RepDistiller use the L2 norm, as
  we do. Otherwise identical (squared Frobenius / B^2); the test pins both.
* PKT (``PKTLoss``): identical.
* CC (``CCKDLoss``, gaussian kernel): torchdistill returns the Frobenius *norm* of the kernel
  difference divided by B^2; ours is the *squared* norm / B^2 (the paper's L2 loss). Its linear
  heads do not normalise; ours normalise the rows first (the Taylor expansion is the RBF kernel only
  for unit vectors). On unit rows: ours = (torchdistill * B^2)^2 / B^2.
* CRD (``CRDLoss``): identical given the same memory, contrast indices and Z. It stores Z in a float32
  buffer (so Z is rounded to float32) and samples negatives that may include the positive; ours keeps
  Z in float64 and never samples the positive (tests below).
"""

from __future__ import annotations

import math
import types

import pytest
import torch
import torch.nn.functional as F

from vskd.errors import ConfigError, VskdError
from vskd.losses import MethodSetup, create_method
from vskd.losses.functional import cc_loss, crd_loss, pkt_loss, simkd_loss, sp_loss
from vskd.models.trn import MultiScaleRelation

F64 = torch.float64


def data():
    g = torch.Generator().manual_seed(1234)
    s = torch.randn(5, 2, 3, 2, generator=g, dtype=F64)  # student (B, 12) after flattening
    t = torch.randn(5, 4, 2, 2, generator=g, dtype=F64)  # teacher (B, 16): other widths
    return s, t


def crd_data():
    g = torch.Generator().manual_seed(7)
    vs, vt, ms, mt = (F.normalize(torch.randn(n, 4, generator=g, dtype=F64), dim=1) for n in (3, 3, 6, 6))
    contrast = torch.tensor([[0, 1, 2, 5], [3, 0, 4, 1], [5, 2, 3, 0]])
    return vs, vt, ms, mt, contrast


# ------------------------------------------------------------------ independent implementations
def _rows(x):
    return x.reshape(x.shape[0], -1).tolist()


def _dot(a, b):
    return sum(p * q for p, q in zip(a, b))


def ref_sp(s, t, p=2):
    def g(x):
        x = _rows(x)
        G = [[_dot(x[i], x[j]) for j in range(len(x))] for i in range(len(x))]
        return [[v / sum(abs(w) ** p for w in row) ** (1 / p) for v in row] for row in G]
    gs, gt = g(s), g(t)
    b = len(gs)
    return sum((gt[i][j] - gs[i][j]) ** 2 for i in range(b) for j in range(b)) / b ** 2


def ref_cc(s, t, gamma=0.4, P=2):
    def k(x):
        x = [[v / math.sqrt(sum(w * w for w in r)) for v in r] for r in _rows(x)]
        return [[math.exp(-2 * gamma) * sum((2 * gamma) ** p / math.factorial(p) * _dot(a, c) ** p
                                            for p in range(P + 1)) for c in x] for a in x]
    ks, kt = k(s), k(t)
    b = len(ks)
    return sum((ks[i][j] - kt[i][j]) ** 2 for i in range(b) for j in range(b)) / b ** 2


def ref_pkt(s, t, eps=1e-7):
    def p(x):
        x = [[v / (math.sqrt(sum(w * w for w in r)) + eps) for v in r] for r in _rows(x)]
        K = [[(_dot(a, c) + 1) / 2 for c in x] for a in x]
        return [[v / sum(row) for v in row] for row in K]
    ps, pt = p(s), p(t)
    b = len(ps)
    return sum(pt[i][j] * math.log((pt[i][j] + eps) / (ps[i][j] + eps)) for i in range(b) for j in range(b)) / b ** 2


def ref_crd(vs, vt, ms, mt, contrast, tau, zs=None, zt=None, eps=1e-7):
    n = ms.shape[0]
    vs, vt, ms, mt, c = vs.tolist(), vt.tolist(), ms.tolist(), mt.tolist(), contrast.tolist()
    b, k = len(c), len(c[0]) - 1

    def scores(anchor, mem):
        return [[math.exp(_dot(mem[j], anchor[i]) / tau) for j in c[i]] for i in range(b)]

    def nce(x, z):
        pn = k / n
        tot = 0.0
        for row in x:
            row = [v / z for v in row]
            tot += math.log(row[0] / (row[0] + pn + eps)) + sum(math.log(pn / (v + pn + eps)) for v in row[1:])
        return -tot / b

    xs, xt = scores(vs, mt), scores(vt, ms)
    zs = zs or sum(map(sum, xs)) / (b * (k + 1)) * n
    zt = zt or sum(map(sum, xt)) / (b * (k + 1)) * n
    return nce(xs, zs) + nce(xt, zt)


# ------------------------------------------------------------------ pinned values
def test_sp_pinned():
    s, t = data()
    assert sp_loss(s, t).dtype == F64
    assert float(sp_loss(s, t)) == pytest.approx(0.11120802376915533, rel=1e-13)
    assert float(sp_loss(s, t)) == pytest.approx(ref_sp(s, t), rel=1e-12)
    assert float(sp_loss(t, t)) == 0.0
    # invariant to a positive scale of either side (row normalisation), even a huge one in float32
    assert float(sp_loss(s.float() * 1e25, t.float())) == pytest.approx(0.11120802376915533, rel=1e-5)


def test_cc_pinned():
    s, t = data()
    assert float(cc_loss(s, t)) == pytest.approx(0.013813598997384975, rel=1e-13)
    assert float(cc_loss(s, t)) == pytest.approx(ref_cc(s, t), rel=1e-12)
    assert float(cc_loss(s, t, gamma=1.0, max_p=3)) == pytest.approx(ref_cc(s, t, 1.0, 3), rel=1e-12)
    # for unit vectors and high order the expansion is the RBF kernel itself
    x = F.normalize(s.flatten(1), dim=1)
    from vskd.losses.functional import cc_kernel

    rbf = torch.exp(-0.4 * torch.cdist(x, x) ** 2)
    torch.testing.assert_close(cc_kernel(x, 0.4, 12), rbf, rtol=0, atol=1e-10)
    with pytest.raises(ConfigError, match="max_p"):
        cc_loss(s, t, max_p=0)


def test_pkt_pinned():
    s, t = data()
    assert float(pkt_loss(s, t)) == pytest.approx(0.010318847863980683, rel=1e-13)
    assert float(pkt_loss(s, t)) == pytest.approx(ref_pkt(s, t), rel=1e-12)
    assert abs(float(pkt_loss(t, t))) < 1e-15


def test_crd_pinned():
    vs, vt, ms, mt, contrast = crd_data()
    out = crd_loss(vs, vt, ms, mt, contrast, temperature=0.5)
    assert float(out["total"]) == pytest.approx(4.915373327788494, rel=1e-13)
    assert float(out["total"]) == pytest.approx(ref_crd(vs, vt, ms, mt, contrast, 0.5), rel=1e-12)
    assert float(out["z_student"]) == pytest.approx(6.812116643340056, rel=1e-13)
    assert float(out["z_teacher"]) == pytest.approx(6.669095792997604, rel=1e-13)
    assert float(out["student"] + out["teacher"]) == pytest.approx(float(out["total"]), rel=1e-15)
    fixed = crd_loss(vs, vt, ms, mt, contrast, 0.5, z_student=3.0, z_teacher=4.0)["total"]
    assert float(fixed) == pytest.approx(5.047472541219214, rel=1e-13)
    assert float(fixed) == pytest.approx(ref_crd(vs, vt, ms, mt, contrast, 0.5, 3.0, 4.0), rel=1e-12)


def test_simkd_pinned():
    a = torch.arange(12, dtype=F64).view(2, 3, 2)
    assert float(simkd_loss(a, torch.ones(2, 3, 2, dtype=F64))) == pytest.approx(386 / 12, rel=1e-15)
    with pytest.raises(ConfigError, match=r"simkd_loss.*\(2, 3, 2\).*\(2, 6\)"):
        simkd_loss(a, torch.ones(2, 6, dtype=F64))


def test_degenerate_batches_are_finite():
    for fn in (sp_loss, cc_loss, pkt_loss):
        for b in (0, 1, 2):
            s = torch.randn(b, 6, dtype=F64, requires_grad=True)
            v = fn(s, torch.randn(b, 4, dtype=F64))
            assert torch.isfinite(v)
            v.backward()
        z = fn(torch.zeros(3, 5, dtype=F64), torch.randn(3, 5, dtype=F64))  # an all-zero side
        assert torch.isfinite(z)


# ------------------------------------------------------------------ torchdistill equality


def _io(x):
    return {"f": {"output": x}}


def test_sp_differs_from_torchdistill_only_by_its_l1_row_norm(torchdistill_losses):
    s, t = data()
    ref = float(torchdistill_losses.SPKDLoss("f", "f", reduction="batchmean")(_io(s), _io(t)))
    # torchdistill calls normalize(G, 1): the 1 is p, so its rows are L1-normalised; the paper (eq. 3)
    # and RepDistiller use the L2 norm, as we do. Everything else (Frobenius^2 / B^2) agrees.
    assert ref == pytest.approx(ref_sp(s, t, p=1), rel=1e-12)
    assert float(sp_loss(s, t)) == pytest.approx(ref_sp(s, t, p=2), rel=1e-12)
    assert abs(float(sp_loss(s, t)) - ref) > 0.01


def test_pkt_equals_torchdistill(torchdistill_losses):
    s, t = data()
    ref = torchdistill_losses.PKTLoss("f", "output", "f", "output")({"f": {"output": s.flatten(1)}}, {"f": {"output": t.flatten(1)}})
    assert float(pkt_loss(s, t)) == pytest.approx(float(ref), rel=1e-12)


def test_cc_equals_torchdistill_squared_on_unit_rows(torchdistill_losses):
    s, t = data()
    s, t = F.normalize(s.flatten(1), dim=1), F.normalize(t.flatten(1), dim=1)
    loss = torchdistill_losses.CCKDLoss("f", "f", {"type": "gaussian", "gamma": 0.4, "max_p": 2}, "batchmean")
    ref = float(loss(_io(s), _io(t)))
    b = s.shape[0]
    assert float(cc_loss(s, t)) == pytest.approx((ref * b * b) ** 2 / b ** 2, rel=1e-12)


def test_crd_equals_torchdistill(torchdistill_losses):
    vs, vt, ms, mt, contrast = crd_data()
    n, d = ms.shape
    ref = torchdistill_losses.CRDLoss("s", "empty", "t", input_size=d, output_size=n, num_negative_samples=contrast.shape[1] - 1,
                     num_samples=n, temperature=0.5, momentum=0.5)
    ref.memory_v1, ref.memory_v2 = ms.clone(), mt.clone()  # v1: student side, v2: teacher side
    s_io = {"s": {"output": vs}, "empty": {"input": {"pos_idx": contrast[:, 0], "contrast_idx": contrast}}}
    value = float(ref(s_io, {"t": {"output": vt}}))
    z_s, z_t = float(ref.params[2]), float(ref.params[3])  # its Z, rounded to float32
    ours = crd_loss(vs, vt, ms, mt, contrast, 0.5, z_student=z_s, z_teacher=z_t)["total"]
    assert float(ours) == pytest.approx(value, rel=1e-10)
    # and its memory update is ours: normalise(0.5 * M[i] + 0.5 * v)
    torch.testing.assert_close(ref.memory_v1[contrast[:, 0]], F.normalize(0.5 * ms[contrast[:, 0]] + 0.5 * vs, dim=1))


# ------------------------------------------------------------------ methods: wiring and gradients
def _teacher_stub(k=4, dim=300, classes=5):
    torch.manual_seed(0)
    return types.SimpleNamespace(relation=MultiScaleRelation(k, dim, classes), num_segments=k, embed_dim=dim)


S_SHAPES = {"logits": (5,), "emb": (300,), "pooled": (512,), "layer4": (512, 2, 2)}
T_SHAPES = {"logits": (5,), "emb": (300,), "pooled": (256,), "block4": (256, 3, 3), "frame_emb": (4, 300)}


def _method(name, **opts):
    m = create_method(name, opts)
    m.setup(MethodSetup(S_SHAPES, T_SHAPES, num_train=10, teacher=_teacher_stub() if name == "simkd" else None))
    return m.double()


def _feats(shapes, b, requires_grad, seed):
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(b, *v, generator=g, dtype=F64).requires_grad_(requires_grad) for k, v in shapes.items()}


@pytest.mark.parametrize("name", ["kd", "rkd", "sp", "cc", "pkt", "crd", "simkd"])
def test_gradient_reaches_student_and_adapters_never_teacher(name):
    m = _method(name)
    s = _feats(S_SHAPES, 6, True, 1)
    t = _feats(T_SHAPES, 6, True, 2)
    s["index"] = torch.tensor([0, 3, 5, 9, 2, 7])
    terms = m(s, t)
    assert terms and all(v.dim() == 0 and torch.isfinite(v) for v in terms.values())
    total = sum(terms.values())
    if m.classifies:
        total = total + F.cross_entropy(m.classify(s), torch.tensor([0, 1, 2, 3, 4, 0]))
    total.backward()
    assert all(v.grad is None for v in t.values())  # the teacher never receives gradient
    used = [s[n] for n in m.student_uses]
    assert all(x.grad is not None and x.grad.abs().sum() > 0 for x in used)
    trainable = [(n, p) for n, p in m.named_parameters() if p.requires_grad]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for _, p in trainable), \
        [n for n, p in trainable if p.grad is None]
    assert all(p.grad is None for p in m.parameters() if not p.requires_grad)
    if name in ("cc", "crd", "simkd"):
        assert trainable  # these own adapters


def test_sp_feature_options():
    m = _method("sp", student_feature="pooled", teacher_feature="emb")
    assert m.student_uses == ("pooled",) and m.teacher_uses == ("emb",)
    with pytest.raises(ConfigError, match="teacher_feature must be one of"):
        create_method("sp", {"teacher_feature": "layer4"})


def test_crd_negatives_exclude_the_positive_and_cap_at_num_train():
    m = create_method("crd")
    m.setup(MethodSetup({"pooled": (8,)}, {"pooled": (6,)}, num_train=7))
    assert m.k == 6  # 16384 capped at num_train - 1: every other sample, no sampling
    idx = torch.tensor([0, 4, 6])
    neg = m.negatives(idx)
    assert neg.tolist() == [[1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 5, 6], [0, 1, 2, 3, 4, 5]]
    small = create_method("crd", {"num_negatives": 3, "seed": 5})
    small.setup(MethodSetup({"pooled": (8,)}, {"pooled": (6,)}, num_train=50))
    idx = torch.arange(50)
    draws = [small.negatives(idx) for _ in range(20)]
    for neg in draws:
        assert neg.shape == (50, 3)
        assert not (neg == idx.unsqueeze(1)).any()
        assert all(len(set(r)) == 3 for r in neg.tolist())  # without replacement
    again = create_method("crd", {"num_negatives": 3, "seed": 5})
    again.setup(MethodSetup({"pooled": (8,)}, {"pooled": (6,)}, num_train=50))
    assert torch.equal(again.negatives(idx), draws[0])  # deterministic given the seed
    torch.testing.assert_close(again.memory_student, small.memory_student)


def test_crd_memory_update_and_fixed_z():
    m = _method("crd", momentum=0.5)
    s, t = _feats(S_SHAPES, 4, False, 3), _feats(T_SHAPES, 4, False, 4)
    s["index"] = torch.tensor([1, 2, 8, 4])
    before = m.memory_student.clone()
    with torch.no_grad():
        m(s, t)
        v_s = F.normalize(m.embed_student(s["pooled"]), dim=1)
    z = m.z.clone()
    assert (z > 0).all()
    expected = F.normalize(0.5 * before[s["index"]] + 0.5 * v_s.to(before.dtype), dim=1)
    torch.testing.assert_close(m.memory_student[s["index"]], expected)
    untouched = [i for i in range(10) if i not in s["index"].tolist()]
    torch.testing.assert_close(m.memory_student[untouched], before[untouched], rtol=0, atol=0)
    with torch.no_grad():
        m(s, t)
    torch.testing.assert_close(m.z, z, rtol=0, atol=0)  # Z is fixed on the first batch
    s["index"] = torch.tensor([1, 2, 10, 4])
    with pytest.raises(VskdError, match="index 10 outside the memory bank of 10"):
        m(s, t)


def test_crd_needs_num_train():
    m = create_method("crd")
    with pytest.raises(ConfigError, match="num_train"):
        m.setup(MethodSetup({"pooled": (8,)}, {"pooled": (6,)}))


def test_simkd_reuses_the_frozen_teacher_head():
    teacher = _teacher_stub()
    m = create_method("simkd")
    m.setup(MethodSetup(S_SHAPES, T_SHAPES, teacher=teacher))
    m.eval()
    feats = {k: v.float() for k, v in _feats(S_SHAPES, 3, False, 5).items()}
    z = m.project(feats["layer4"])
    assert z.shape == (3, 4, 300)
    teacher.relation.eval()
    torch.testing.assert_close(m.classify(feats), teacher.relation(z), rtol=0, atol=1e-6)
    sd = m.state_dict()
    assert any(k.startswith("classifier.head.fc_fusion_scales") for k in sd)  # self-contained
    assert all(not p.requires_grad for p in m.classifier.parameters())
    m.train()
    assert not m.classifier.head.training
    with pytest.raises(ConfigError, match="frame_emb"):
        bad = create_method("simkd")
        bad.setup(MethodSetup(S_SHAPES, {**T_SHAPES, "frame_emb": (8, 300)}, teacher=teacher))
    with pytest.raises(ConfigError, match="needs the teacher model"):
        create_method("simkd").setup(MethodSetup(S_SHAPES, T_SHAPES))


# ------------------------------------------------------------------ the `vskd methods` command
def test_methods_command_lists_every_method_with_its_paper(capsys):
    import json

    from vskd.cli import main
    from vskd.losses import list_methods

    assert main(["methods", "--names"]) == 0
    names = capsys.readouterr().out.split()
    assert names == [n for n, _, _ in list_methods()]
    assert {"sp", "cc", "pkt", "crd", "simkd", "kd", "rkd", "dask"} <= set(names)
    assert main(["methods"]) == 0
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    for name, desc, ref in list_methods():
        i = next(i for i, line in enumerate(lines) if line.split()[:1] == [name])
        assert lines[i].endswith(desc) and lines[i + 1] == ref
    assert main(["methods", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["crd"]["uses"] == {"student": ["pooled"], "teacher": ["pooled"], "batch": ["index"]}
    assert rows["simkd"]["uses"]["teacher"] == ["frame_emb"]
