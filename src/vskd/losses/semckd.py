r"""``semckd``: cross-layer distillation with semantic calibration (Chen et al., AAAI 2021).

Defang Chen, Jian-Ping Mei, Yuan Zhang, Can Wang, Zhe Wang, Yan Feng, Chun Chen, "Cross-Layer
Distillation with Semantic Calibration", AAAI 2021.

Every student layer ``i`` may learn from every teacher layer ``j``; a per-sample attention
:math:`\alpha_{b,i,\cdot} = \mathrm{softmax}_j(q_{b,i}^\top k_{b,j})` decides how much (eq. 3), and the
loss is the attention-weighted MSE between the projected student map and the teacher map (eq. 4-6,
:func:`vskd.losses.functional_maps.semckd_loss`):

.. math::

    L_{SemCKD} = \beta\,\frac{1}{B n_s}\sum_b\sum_i\sum_j \alpha_{b,i,j}\,
        \mathrm{MSE}\big(r_{ij}(s_i(b)),\, t_j(b)\big)

Features: student ``layer1..layer3`` and teacher ``block1..block3`` (``n_s = n_t = 3``, as the
three stages of RepDistiller's CIFAR ResNets the reference distils). The last stage is left out by
default for cost: the method's parameters (measured at 224 px) are 10.6M with a ResNet18 teacher and
59.6M with BN-Inception (192/320/608 channels) for stages 1-3, but 55.6M and 242M with all four
stages (the student has 11.7M); list ``layer4``/``block4`` to use it, and ``mid_channels`` to cap the
regressors. Teacher maps are segment means.

Adapters (trained with the student):

* a regressor ``r_ij`` per (student, teacher) layer pair: ``Conv1x1(C_si -> m) + BN + ReLU +
  Conv3x3(m -> m) + BN + ReLU + Conv1x1(m -> C_tj)``, ``m = 2 C_tj`` (the reference's ``AAEmbed``;
  ``mid_channels`` caps ``m``);
* query MLPs (one per student layer) and key MLPs (one per teacher layer):
  ``Linear(C, 2d) + ReLU + Linear(2d, d)``, L2-normalised, ``d = embed_dim = 128``.

**Batch-size independence (deviation from the reference).** The reference builds its query/key MLPs
on each sample's row of the batch similarity matrix ``F F^T`` (``B x B``), so their input width *is*
the batch size: the parameters' shapes depend on it and a last short batch crashes. Here the query of
student layer ``i`` for sample ``b`` is computed from the global-average-pooled map
:math:`\bar s_i(b) \in \mathbb R^{C_{si}}` and the key of teacher layer ``j`` from
:math:`\bar t_j(b) \in \mathbb R^{C_{tj}}`: per-sample, any batch size works and nothing depends on
the batch composition. The attention is learned through the distillation loss (not detached), as in
the reference.

Alignment: for each pair the larger map is adaptively average-pooled to the smaller size (the
reference pools the same way) before the regressor; channels by the regressor.

Default weight ``beta = 400`` (the SemCKD repository's CIFAR-100 command, ``-b 400``; its ImageNet
command uses 50; both runs also add Hinton KD with weight 1, ``-a 1``, which this
method does not). Not in torchdistill 1.1.5; the loss is checked against the reference ``SemCKDLoss``
formula in the tests. Returns ``{"semckd": ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vskd.errors import ConfigError
from vskd.losses.functional_maps import check_maps, layer_names, match_spatial, semckd_loss
from vskd.losses.registry import LayerPairsMethod, _check_float, register_method

DEFAULT_STUDENT = ("layer1", "layer2", "layer3")
DEFAULT_TEACHER = ("block1", "block2", "block3")


class MLPEmbed(nn.Module):
    """``Linear(C, 2d) -> ReLU -> Linear(2d, d) -> L2 normalise`` on a pooled map."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.linear1 = nn.Linear(dim_in, 2 * dim_out)
        self.linear2 = nn.Linear(2 * dim_out, dim_out)

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(self.linear2(F.relu(self.linear1(x))), dim=1)


def regressor(c_in: int, c_out: int, mid: int) -> nn.Sequential:
    """The reference's ``AAEmbed``: 1x1 -> BN -> ReLU -> 3x3 -> BN -> ReLU -> 1x1, no biases."""
    return nn.Sequential(
        nn.Conv2d(c_in, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
        nn.Conv2d(mid, mid, 3, padding=1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
        nn.Conv2d(mid, c_out, 1, bias=False),
    )


@register_method("semckd")
class SemCKD(LayerPairsMethod):
    """SemCKD: attention-weighted cross-layer feature regression (batch-size independent attention)."""

    description = "SemCKD: per-sample attention over teacher layers for each student layer, weighted MSE (400)"
    reference = ("Chen, Mei, Zhang, Wang, Wang, Feng, Chen, Cross-Layer Distillation with Semantic "
                 "Calibration, AAAI 2021")
    uses = DEFAULT_STUDENT

    def __init__(
        self,
        weight: float = 400.0,
        student_layers: Sequence[str] = DEFAULT_STUDENT,
        teacher_layers: Sequence[str] = DEFAULT_TEACHER,
        embed_dim: int = 128,
        mid_channels: int | None = None,
    ) -> None:
        super().__init__()
        self.weight = _check_float("semckd", "weight", weight)
        self.student_layers = layer_names("semckd", "student_layers", student_layers)
        self.teacher_layers = layer_names("semckd", "teacher_layers", teacher_layers)
        for opt, v in (("embed_dim", embed_dim), ("mid_channels", mid_channels)):
            if v is None and opt == "mid_channels":
                continue
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
                raise ConfigError(f"method 'semckd': option {opt} must be an integer >= 1, got {v!r}")
        self.embed_dim = embed_dim
        self.mid_channels = mid_channels
        self.queries = nn.ModuleList()
        self.keys = nn.ModuleList()
        self.regressors = nn.ModuleList()  # flattened [i * n_t + j]

    def build(self, student_shapes, teacher_shapes) -> None:
        check_maps("semckd", "student", student_shapes, self.student_layers)
        check_maps("semckd", "teacher", teacher_shapes, self.teacher_layers)
        cs = [student_shapes[n][0] for n in self.student_layers]
        ct = [teacher_shapes[n][0] for n in self.teacher_layers]
        self.queries = nn.ModuleList(MLPEmbed(c, self.embed_dim) for c in cs)
        self.keys = nn.ModuleList(MLPEmbed(c, self.embed_dim) for c in ct)
        mid = (lambda c: 2 * c) if self.mid_channels is None else (lambda c: min(2 * c, self.mid_channels))
        self.regressors = nn.ModuleList(regressor(a, b, mid(b)) for a in cs for b in ct)

    def attention(self, s_maps: Sequence[Tensor], t_maps: Sequence[Tensor]) -> Tensor:
        """``(B, n_s, n_t)``: softmax over teacher layers of query . key (per sample)."""
        q = torch.stack([m(x.mean((2, 3))) for m, x in zip(self.queries, s_maps)], dim=1)  # (B, n_s, d)
        k = torch.stack([m(x.mean((2, 3))) for m, x in zip(self.keys, t_maps)], dim=1)  # (B, n_t, d)
        return F.softmax(torch.bmm(q, k.transpose(1, 2)), dim=-1)

    def forward(self, student_feats: Mapping[str, Tensor], teacher_feats: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if self.weight == 0:
            return {}
        s_maps = [student_feats[n] for n in self.student_layers]
        t_maps = [teacher_feats[n].detach() for n in self.teacher_layers]
        nt = len(t_maps)
        projected, targets = [], []
        for i, s in enumerate(s_maps):
            row_p, row_t = [], []
            for j, t in enumerate(t_maps):
                s_al, t_al = match_spatial(s, t, "pool")
                row_p.append(self.regressors[i * nt + j](s_al))
                row_t.append(t_al)
            projected.append(row_p)
            targets.append(row_t)
        att = self.attention(s_maps, t_maps)
        return {"semckd": self.weight * semckd_loss(projected, targets, att)}

    def extra_repr(self) -> str:
        return (f"weight={self.weight}, student_layers={list(self.student_layers)}, "
                f"teacher_layers={list(self.teacher_layers)}, embed_dim={self.embed_dim}")
