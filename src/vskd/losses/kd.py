"""``kd``: soft-target knowledge distillation on the logits (Hinton et al. 2015)."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from vskd.losses.functional import kd_loss
from vskd.losses.registry import DistillMethod, _check_float, register_method


@register_method("kd")
class KD(DistillMethod):
    r"""Hinton KD: ``weight * T^2 * KL(softmax(z_t/T) || softmax(z_s/T))`` (batch mean).

    Geoffrey Hinton, Oriol Vinyals, Jeff Dean, "Distilling the Knowledge in a Neural Network",
    NIPS 2014 Deep Learning Workshop (arXiv 1503.02531). See :func:`vskd.losses.functional.kd_loss`.

    Options:
        weight: multiplier of the KD term (default 1.0; the usual KD baseline, whose ``T^2``
            factor keeps the soft-target gradients on the scale of the cross-entropy's).
        temperature: softening temperature ``T`` (default 4, as in VSKD's code).

    Features: ``"logits"`` ``(B, C)`` on both sides (same ``C``). Returns ``{"kd": ...}``.
    """

    description = "Hinton KD: T^2-scaled KL divergence between temperature-softened logits"
    reference = "Hinton, Vinyals, Dean, Distilling the Knowledge in a Neural Network, arXiv 1503.02531 (2015)"
    uses = ("logits",)

    def __init__(self, weight: float = 1.0, temperature: float = 4.0) -> None:
        super().__init__()
        self.weight = _check_float("kd", "weight", weight)
        self.temperature = _check_float("kd", "temperature", temperature, positive=True)

    def build(self, student_shapes, teacher_shapes) -> None:
        self.require_same_shape(student_shapes, teacher_shapes, "logits", why="same classes on both sides")

    def forward(self, student_feats: Mapping[str, Tensor], teacher_feats: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if self.weight == 0:
            return {}
        return {"kd": self.weight * kd_loss(student_feats["logits"], teacher_feats["logits"], self.temperature)}

    def extra_repr(self) -> str:
        return f"weight={self.weight}, temperature={self.temperature}"
