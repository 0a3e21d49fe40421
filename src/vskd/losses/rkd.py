"""``rkd``: relational knowledge distillation on the embeddings (Park et al., CVPR 2019)."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from vskd.losses.functional import rkd_angle_loss, rkd_distance_loss
from vskd.losses.registry import DistillMethod, _check_float, register_method


@register_method("rkd")
class RKD(DistillMethod):
    r"""Relational KD: ``w_distance * L_D + w_angle * L_A`` on the ``"emb"`` features.

    Wonpyo Park, Dongju Kim, Yan Lu, Minsu Cho, "Relational Knowledge Distillation", CVPR 2019.
    ``L_D`` and ``L_A`` are :func:`~vskd.losses.functional.rkd_distance_loss` and
    :func:`~vskd.losses.functional.rkd_angle_loss` (smooth L1, distances normalised by their mean
    over distinct pairs, cosines over all ``B^3`` triples).

    Options:
        w_distance: weight of L_D (default 25, the RKD paper's lambda_D).
        w_angle: weight of L_A (default 50, the RKD paper's lambda_A).

    Features: ``"emb"`` ``(B, D_s)`` / ``(B, D_t)`` (widths may differ: each side is compared with
    itself). Returns ``{"distance": ..., "angle": ...}`` (weighted; a zero-weight term is omitted).
    """

    description = "RKD: distance-wise (25) and angle-wise (50) relational losses on the embeddings"
    reference = "Park, Kim, Lu, Cho, Relational Knowledge Distillation, CVPR 2019"
    uses = ("emb",)

    def __init__(self, w_distance: float = 25.0, w_angle: float = 50.0) -> None:
        super().__init__()
        self.w_distance = _check_float("rkd", "w_distance", w_distance)
        self.w_angle = _check_float("rkd", "w_angle", w_angle)

    def forward(self, student_feats: Mapping[str, Tensor], teacher_feats: Mapping[str, Tensor]) -> dict[str, Tensor]:
        s, t = student_feats["emb"], teacher_feats["emb"]
        out: dict[str, Tensor] = {}
        if self.w_distance:
            out["distance"] = self.w_distance * rkd_distance_loss(s, t)
        if self.w_angle:
            out["angle"] = self.w_angle * rkd_angle_loss(s, t)
        return out

    def extra_repr(self) -> str:
        return f"w_distance={self.w_distance}, w_angle={self.w_angle}"
