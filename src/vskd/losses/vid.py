r"""``vid``: variational information distillation with learned per-channel variances (Ahn et al. 2019).

Sungsoo Ahn, Shell Xu Hu, Andreas Damianou, Neil D. Lawrence, Zhenwen Dai, "Variational Information
Distillation for Knowledge Transfer", CVPR 2019.

For each layer pair a regressor gives the mean :math:`\mu = r(s)` of a Gaussian over the teacher's map
and a learned variance per teacher channel :math:`\sigma_c^2 = \mathrm{softplus}(\alpha_c) + \epsilon`;
the loss is the negative log-likelihood of the teacher map (eq. 5-6, constant dropped):

.. math::

    L_{VID} = \lambda \sum_j \frac{1}{B C H W}\sum \frac12\Big(\frac{(t - \mu)^2}{\sigma_c^2} + \log\sigma_c^2\Big)

(:func:`vskd.losses.functional_maps.vid_loss`). Maximising this likelihood maximises a variational
lower bound on the mutual information between the teacher's and the student's layers.

Features: student ``layer1..layer4`` paired with teacher ``block1..block4`` (every stage, as
RepDistiller's ``feat[1:-1]`` and torchdistill's sample config); teacher maps are segment means.

Adapters (per pair, trained with the student): the regressor ``Conv1x1(C_s, C_m) -> ReLU ->
Conv1x1(C_m, C_m) -> ReLU -> Conv1x1(C_m, C_t)`` without biases, ``C_m = C_t`` (RepDistiller's
``VIDLoss(s, t, t)``), and the variance parameters :math:`\alpha` (``C_t`` numbers) initialised so that
:math:`\sigma^2 = 5` (``init_pred_var = 5``, ``eps = 1e-5``: RepDistiller's ``VIDLoss`` defaults,
taken from the authors' code).

Alignment: the larger map is adaptively average-pooled to the smaller size before the regressor
(RepDistiller); channels are mapped by the 1x1 regressor.

Default weight ``lambda = 1`` (RepDistiller's ``-b 1`` for ``vid``). Returns ``{"vid": ...}``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vskd.errors import ConfigError
from vskd.losses.functional_maps import check_map_pairs, layer_names, match_spatial, vid_loss
from vskd.losses.registry import LayerPairsMethod, _check_float, register_method

DEFAULT_STUDENT = ("layer1", "layer2", "layer3", "layer4")
DEFAULT_TEACHER = ("block1", "block2", "block3", "block4")


class VIDRegressor(nn.Module):
    """Mean regressor (three bias-free 1x1 convs) + per-channel variance ``softplus(alpha) + eps``."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, init_pred_var: float, eps: float):
        super().__init__()
        self.regressor = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, 1, bias=False), nn.ReLU(),
            nn.Conv2d(mid_channels, mid_channels, 1, bias=False), nn.ReLU(),
            nn.Conv2d(mid_channels, out_channels, 1, bias=False),
        )
        # softplus^{-1}(init_pred_var - eps), so that the initial variance is init_pred_var
        alpha0 = math.log(math.expm1(init_pred_var - eps))
        self.log_scale = nn.Parameter(torch.full((out_channels,), alpha0))
        self.eps = eps

    def variance(self) -> Tensor:
        return F.softplus(self.log_scale) + self.eps

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.regressor(x), self.variance()


@register_method("vid")
class VID(LayerPairsMethod):
    """VID: Gaussian NLL of the teacher maps given regressed student maps and learned variances."""

    description = "VID: Gaussian NLL of teacher maps under regressed student means and learned variances (1)"
    reference = ("Ahn, Hu, Damianou, Lawrence, Dai, Variational Information Distillation for Knowledge "
                 "Transfer, CVPR 2019")
    uses = DEFAULT_STUDENT

    def __init__(
        self,
        weight: float = 1.0,
        student_layers: Sequence[str] = DEFAULT_STUDENT,
        teacher_layers: Sequence[str] = DEFAULT_TEACHER,
        init_pred_var: float = 5.0,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.weight = _check_float("vid", "weight", weight)
        self.student_layers = layer_names("vid", "student_layers", student_layers)
        self.teacher_layers = layer_names("vid", "teacher_layers", teacher_layers)
        self.eps = _check_float("vid", "eps", eps, positive=True)
        self.init_pred_var = _check_float("vid", "init_pred_var", init_pred_var, positive=True)
        if self.init_pred_var <= self.eps:
            raise ConfigError(f"method 'vid': option init_pred_var ({init_pred_var}) must exceed eps ({eps})")
        self.regressors = nn.ModuleList()

    def build(self, student_shapes, teacher_shapes) -> None:
        pairs = check_map_pairs("vid", student_shapes, teacher_shapes, self.student_layers, self.teacher_layers)
        self.regressors = nn.ModuleList(
            VIDRegressor(ss[0], ts[0], ts[0], self.init_pred_var, self.eps) for ss, ts in pairs
        )

    def forward(self, student_feats: Mapping[str, Tensor], teacher_feats: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if self.weight == 0:
            return {}
        total = 0
        for reg, s_name, t_name in zip(self.regressors, self.student_layers, self.teacher_layers):
            s, t = match_spatial(student_feats[s_name], teacher_feats[t_name].detach(), "pool")
            mean, var = reg(s)
            total = total + vid_loss(mean, var, t)
        return {"vid": self.weight * total}

    def extra_repr(self) -> str:
        pairs = ", ".join(f"{s}<-{t}" for s, t in zip(self.student_layers, self.teacher_layers))
        return f"weight={self.weight}, init_pred_var={self.init_pred_var}, eps={self.eps}, pairs=[{pairs}]"
