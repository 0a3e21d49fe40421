r"""``at``: attention transfer on pairs of block maps (Zagoruyko & Komodakis, ICLR 2017).

Sergey Zagoruyko, Nikos Komodakis, "Paying More Attention to Attention: Improving the Performance of
Convolutional Neural Networks via Attention Transfer", ICLR 2017.

.. math::

    Q = \frac{1}{C}\sum_c |A_c|^p,\quad q = \frac{\mathrm{vec}(Q)}{\lVert\mathrm{vec}(Q)\rVert_2},\qquad
    L_{AT} = \frac{\beta}{2}\sum_{j} \frac{1}{B\,HW}\sum_b \lVert q^s_{j,b} - q^t_{j,b}\rVert_2^2

(:func:`vskd.losses.functional_maps.at_loss` per pair; ``p = 2``).

Features: student ``layer1..layer4`` paired with teacher ``block1..block4`` (every stage, as
RepDistiller's ``feat[1:-1]``); the teacher's maps are already averaged over the K segments, so its
attention is the channel mean of the squared segment-averaged activations.

Adapters: none (the attention map averages over each side's own channels, so channel counts may
differ: 192/576/1056/1024 for BN-Inception against 64..512).

Alignment: the teacher's attention map is bilinearly interpolated (antialiased when shrinking) to
the student's spatial size before L2 normalisation (``align="interpolate"``, default), so the
student's map keeps its resolution; ``align="pool"`` average-pools the larger map instead
(RepDistiller's choice). torchdistill's ``ATLoss`` requires equal sizes.

Default weight: ``beta / 2 = 500`` with ``beta = 1000``: the paper's eq. 2 puts ``beta/2`` in front
of the sum and sets ``beta = 10^3``. The authors' released code (``cifar.py``: ``opt.beta *
sum(loss_groups)``, README ``--beta 1e+3``) and RepDistiller (``-b 1000``) multiply the same sum of
``at_loss`` values by ``beta = 1000`` directly, i.e. twice this default; set ``weight: 1000`` to
reproduce them. Returns ``{"attention": ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor

from vskd.errors import ConfigError
from vskd.losses.functional_maps import ALIGN_MODES, at_loss, check_map_pairs, layer_names
from vskd.losses.registry import LayerPairsMethod, _check_float, register_method

DEFAULT_STUDENT = ("layer1", "layer2", "layer3", "layer4")
DEFAULT_TEACHER = ("block1", "block2", "block3", "block4")


@register_method("at")
class AT(LayerPairsMethod):
    """AT: match L2-normalised spatial attention maps of paired student/teacher blocks."""

    description = "AT: squared distance between normalised spatial attention maps of paired blocks (beta/2=500)"
    reference = ("Zagoruyko & Komodakis, Paying More Attention to Attention: Improving the Performance of "
                 "Convolutional Neural Networks via Attention Transfer, ICLR 2017")
    uses = DEFAULT_STUDENT

    def __init__(
        self,
        weight: float = 500.0,
        p: float = 2.0,
        student_layers: Sequence[str] = DEFAULT_STUDENT,
        teacher_layers: Sequence[str] = DEFAULT_TEACHER,
        align: str = "interpolate",
    ) -> None:
        super().__init__()
        self.weight = _check_float("at", "weight", weight)
        self.p = _check_float("at", "p", p, positive=True)
        self.student_layers = layer_names("at", "student_layers", student_layers)
        self.teacher_layers = layer_names("at", "teacher_layers", teacher_layers)
        if align not in ALIGN_MODES:
            raise ConfigError(f"method 'at': option align must be one of {', '.join(ALIGN_MODES)}, got {align!r}")
        self.align = align

    def build(self, student_shapes, teacher_shapes) -> None:
        check_map_pairs("at", student_shapes, teacher_shapes, self.student_layers, self.teacher_layers)

    def forward(self, student_feats: Mapping[str, Tensor], teacher_feats: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if self.weight == 0:
            return {}
        total = sum(
            at_loss(student_feats[s], teacher_feats[t], p=self.p, align=self.align)
            for s, t in zip(self.student_layers, self.teacher_layers)
        )
        return {"attention": self.weight * total}

    def extra_repr(self) -> str:
        pairs = ", ".join(f"{s}<-{t}" for s, t in zip(self.student_layers, self.teacher_layers))
        return f"weight={self.weight}, p={self.p}, align={self.align!r}, pairs=[{pairs}]"
