r"""``nst``: neuron selectivity transfer, polynomial-kernel MMD between channel patterns (Huang & Wang 2017).

Zehao Huang, Naiyan Wang, "Like What You Like: Knowledge Distill via Neuron Selectivity Transfer",
arXiv 1707.01219 (2017).

Each channel's spatial activation pattern, L2-normalised over the ``HW`` positions, is one sample of
the layer's neuron-selectivity distribution; the loss is the squared MMD between the student's and
the teacher's distributions with the polynomial kernel ``k(x, y) = (x^T y + c)^d``, ``d = 2``,
``c = 0`` (:func:`vskd.losses.functional_maps.nst_loss`), summed over the layer pairs:

.. math:: L_{NST} = \lambda \sum_j \mathrm{MMD}^2\big(\{f^s_{j,i}\}_{i \le C_s}, \{f^t_{j,i}\}_{i \le C_t}\big)

Features: student ``layer1..layer4`` paired with teacher ``block1..block4`` (every stage, as
RepDistiller's ``feat[1:-1]``); teacher maps are the segment means.

Adapters: none. The MMD compares two sets of vectors, so the channel counts (set sizes) may differ.

Alignment: the vectors must have the same length ``HW``, so the larger map is adaptively
average-pooled to the smaller size (RepDistiller's choice; ``align="interpolate"`` resizes the
teacher to the student instead).

Default weight ``lambda = 50`` (RepDistiller's ``-b 50`` for ``nst``). Not in torchdistill 1.1.5;
checked against RepDistiller's ``NSTLoss`` formula in the tests. Returns ``{"nst": ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor

from vskd.errors import ConfigError
from vskd.losses.functional_maps import ALIGN_MODES, check_map_pairs, layer_names, nst_loss
from vskd.losses.registry import LayerPairsMethod, _check_float, register_method

DEFAULT_STUDENT = ("layer1", "layer2", "layer3", "layer4")
DEFAULT_TEACHER = ("block1", "block2", "block3", "block4")


@register_method("nst")
class NST(LayerPairsMethod):
    """NST: squared MMD (polynomial kernel) between normalised channel activation patterns."""

    description = "NST: polynomial-kernel MMD between channel-wise normalised activation patterns (50)"
    reference = "Huang & Wang, Like What You Like: Knowledge Distill via Neuron Selectivity Transfer, arXiv 1707.01219"
    uses = DEFAULT_STUDENT

    def __init__(
        self,
        weight: float = 50.0,
        student_layers: Sequence[str] = DEFAULT_STUDENT,
        teacher_layers: Sequence[str] = DEFAULT_TEACHER,
        degree: int = 2,
        c: float = 0.0,
        align: str = "pool",
    ) -> None:
        super().__init__()
        self.weight = _check_float("nst", "weight", weight)
        self.student_layers = layer_names("nst", "student_layers", student_layers)
        self.teacher_layers = layer_names("nst", "teacher_layers", teacher_layers)
        if not (isinstance(degree, int) and not isinstance(degree, bool) and degree >= 1):
            raise ConfigError(f"method 'nst': option degree must be an integer >= 1, got {degree!r}")
        self.degree = degree
        self.c = _check_float("nst", "c", c)
        if align not in ALIGN_MODES:
            raise ConfigError(f"method 'nst': option align must be one of {', '.join(ALIGN_MODES)}, got {align!r}")
        self.align = align

    def build(self, student_shapes, teacher_shapes) -> None:
        check_map_pairs("nst", student_shapes, teacher_shapes, self.student_layers, self.teacher_layers)

    def forward(self, student_feats: Mapping[str, Tensor], teacher_feats: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if self.weight == 0:
            return {}
        total = sum(
            nst_loss(student_feats[s], teacher_feats[t], degree=self.degree, c=self.c, align=self.align)
            for s, t in zip(self.student_layers, self.teacher_layers)
        )
        return {"nst": self.weight * total}

    def extra_repr(self) -> str:
        pairs = ", ".join(f"{s}<-{t}" for s, t in zip(self.student_layers, self.teacher_layers))
        return f"weight={self.weight}, degree={self.degree}, c={self.c}, pairs=[{pairs}]"
