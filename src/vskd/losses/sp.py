r"""``sp``: similarity-preserving knowledge distillation (Tung & Mori, ICCV 2019).

Frederick Tung, Greg Mori, "Similarity-Preserving Knowledge Distillation", ICCV 2019.

The student learns to make the same samples of a batch look alike as the teacher does:

.. math::

    G = A A^\top \in \mathbb R^{B\times B},\quad \tilde G_{[i,:]} = \frac{G_{[i,:]}}{\lVert G_{[i,:]}\rVert_2},
    \qquad L_{SP} = \frac{1}{B^2}\lVert \tilde G^t - \tilde G^s \rVert_F^2

(:func:`vskd.losses.functional.sp_loss`), ``A`` a side's activation flattened to ``(B, -1)``.

Features: student ``"layer4"`` (the last ResNet stage map, ``(512, h, w)``) and teacher ``"block4"``
(the backbone's last stage map, averaged over the K segments): the paper and RepDistiller take the
activation at the end of the last group of blocks (``feat[-2]``), before pooling. Options
``student_feature`` / ``teacher_feature`` select others (e.g. ``"pooled"``, ``"emb"``).

Adapters: none. Alignment: none needed. Only the two ``B x B`` similarity matrices are compared, so
channels and spatial sizes may differ freely (a GAF image's 2x2 map against a frame's 2x2 or 7x7
map); the spatial positions of the two maps are never put in correspondence.

Default weight: 3000, the paper's gamma for its CIFAR-10 experiments (also RepDistiller's ``-b 3000``).
Returns ``{"sp": weight * L_SP}``.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from vskd.errors import ConfigError
from vskd.losses.functional import sp_loss
from vskd.losses.registry import DistillMethod, _check_float, register_method
from vskd.models.features import STUDENT_FEATURES, TEACHER_FEATURES


def check_feature(method: str, option: str, value: object, table: Mapping[str, str]) -> str:
    """Validate a feature-name option against a side's feature table (``logits`` excluded)."""
    names = [n for n in table if n != "logits"]
    if value not in names:
        raise ConfigError(f"method '{method}': option {option} must be one of {', '.join(names)}, got {value!r}")
    return str(value)


@register_method("sp")
class SP(DistillMethod):
    """SP: match the row-normalised batch similarity matrices of one student and one teacher feature."""

    description = "SP: squared distance between row-normalised batch similarity (Gram) matrices (3000)"
    reference = "Tung & Mori, Similarity-Preserving Knowledge Distillation, ICCV 2019"
    uses = ("layer4",)

    def __init__(self, weight: float = 3000.0, student_feature: str = "layer4", teacher_feature: str = "block4") -> None:
        super().__init__()
        self.weight = _check_float("sp", "weight", weight)
        self.student_feature = check_feature("sp", "student_feature", student_feature, STUDENT_FEATURES)
        self.teacher_feature = check_feature("sp", "teacher_feature", teacher_feature, TEACHER_FEATURES)

    @property
    def student_uses(self) -> tuple[str, ...]:
        return (self.student_feature,)

    @property
    def teacher_uses(self) -> tuple[str, ...]:
        return (self.teacher_feature,)

    def forward(self, student_feats: Mapping[str, Tensor], teacher_feats: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if self.weight == 0:
            return {}
        return {"sp": self.weight * sp_loss(student_feats[self.student_feature], teacher_feats[self.teacher_feature])}

    def extra_repr(self) -> str:
        return f"weight={self.weight}, pair={self.student_feature}<-{self.teacher_feature}"
