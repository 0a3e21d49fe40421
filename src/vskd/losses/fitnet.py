r"""``fitnet``: FitNets hint learning on one pair of block maps (Romero et al., ICLR 2015).

Adriana Romero, Nicolas Ballas, Samira Ebrahimi Kahou, Antoine Chassang, Carlo Gatta, Yoshua Bengio,
"FitNets: Hints for Thin Deep Nets", ICLR 2015.

.. math::

    L_{HT} = \frac{1}{B C_t H W}\sum \big(r(\mathrm{pool}(s)) - \mathrm{pool}(t)\big)^2,
    \qquad r = \mathrm{ReLU} \circ \mathrm{BN} \circ \mathrm{Conv}_{1\times1}(C_s \to C_t)

Features: one student block map (``student_layer``, default ``"layer3"``) and one teacher block map
(``teacher_layer``, default ``"block3"``; the teacher's maps are already averaged over the K
segments). FitNets takes the hint from the teacher's middle and guides the student's middle layer
(deeper guided layers over-regularise, section 2.2); of ResNet18's four stages, stage 3 is the
middle-to-late one whose 4x4 maps (64 px input) still carry spatial layout, and the same stage on a
ResNet18 teacher has the same channels, so the regressor starts from a like-for-like map.

Adapter: the regressor ``r`` (1x1 conv ``C_s -> C_t`` + BatchNorm + ReLU, RepDistiller's ``ConvReg``
without its spatial kernels: alignment is done by pooling instead; the ReLU matches the teacher's
post-ReLU block output, FitNets' rule that the regressor has the hint layer's non-linearity).
Trained with the student.

Alignment: channels by the 1x1 regressor; space by adaptive average pooling of the larger of the
two maps to the smaller size, before the regressor (e.g. 16x16 vs 14x14 -> 14x14).

Default weight: 100 (RepDistiller's ``-b 100`` for ``hint``). Stage 1: the paper's separate
hint-training stage is **not** run; like RepDistiller, the hint term is added to the cross-entropy in
one stage. Returns ``{"hint": weight * L_HT}``.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from vskd.losses.functional_maps import check_map_pairs, fitnet_loss, layer_names, match_spatial
from vskd.losses.registry import DistillMethod, _check_float, register_method


@register_method("fitnet")
class FitNet(DistillMethod):
    """FitNet: MSE between a 1x1-regressed student block map and the teacher's hint map."""

    description = "FitNet: MSE between a 1x1-regressed student block map and a teacher block map (hint)"
    reference = "Romero et al., FitNets: Hints for Thin Deep Nets, ICLR 2015"
    uses = ("layer3",)

    def __init__(self, weight: float = 100.0, student_layer: str = "layer3", teacher_layer: str = "block3") -> None:
        super().__init__()
        self.weight = _check_float("fitnet", "weight", weight)
        (self.student_layer,) = layer_names("fitnet", "student_layer", [student_layer])
        (self.teacher_layer,) = layer_names("fitnet", "teacher_layer", [teacher_layer])
        self.regressor: nn.Module | None = None

    @property
    def student_uses(self) -> tuple[str, ...]:
        return (self.student_layer,)

    @property
    def teacher_uses(self) -> tuple[str, ...]:
        return (self.teacher_layer,)

    def build(self, student_shapes, teacher_shapes) -> None:
        ((ss, ts),) = check_map_pairs(
            "fitnet", student_shapes, teacher_shapes, [self.student_layer], [self.teacher_layer]
        )
        self.regressor = nn.Sequential(
            nn.Conv2d(ss[0], ts[0], kernel_size=1, bias=False), nn.BatchNorm2d(ts[0]), nn.ReLU()
        )

    def forward(self, student_feats: Mapping[str, Tensor], teacher_feats: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if self.weight == 0:
            return {}
        s, t = match_spatial(student_feats[self.student_layer], teacher_feats[self.teacher_layer].detach(), "pool")
        return {"hint": self.weight * fitnet_loss(self.regressor(s), t)}

    def extra_repr(self) -> str:
        return f"weight={self.weight}, pair={self.student_layer}<-{self.teacher_layer}"
