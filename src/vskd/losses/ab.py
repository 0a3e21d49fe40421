r"""``ab``: activation-boundary distillation with connectors and a stage-1 initialisation (Heo et al. 2019).

Byeongho Heo, Minsik Lee, Sangdoo Yun, Jin Young Choi, "Knowledge Transfer via Distillation of
Activation Boundaries Formed by Hidden Neurons", AAAI 2019.

The student learns *where* the teacher's neurons switch on: for each layer pair a connector maps the
student's map to the teacher's channels and the alternative L2 loss
(:func:`vskd.losses.functional_maps.ab_loss`, margin ``mu = 1``) pushes each connector output beyond
``+mu`` where the teacher's neuron is active and below ``-mu`` where it is not:

.. math::

    L_{AB} = \frac{3}{1000}\sum_{i=1}^{n} 2^{\,i-n}\;
      \frac1B\sum \Big[(c_i(s) + \mu)^2\,\mathbb 1[c_i(s) > -\mu \wedge t \le 0]
                   + (c_i(s) - \mu)^2\,\mathbb 1[c_i(s) \le \mu \wedge t > 0]\Big]

with RepDistiller's layer weights ``2^(i-n)`` (the deepest pair weighs 1, each shallower one half as
much) and its ``3/1000`` scale (``ABLoss``).

Features: student ``layer1..layer4`` paired with teacher ``block1..block4``. The paper reads
pre-activations; our block maps are post-ReLU, which changes nothing for the teacher side (only the
sign of ``t`` enters and ``ReLU(x) > 0`` iff ``x > 0``). The teacher's maps are segment means of
post-ReLU maps, so a teacher neuron counts as active for a clip when it is active in at least one
segment.

Adapters: one connector per pair, ``Conv1x1(C_s -> C_t, no bias) + BatchNorm`` (RepDistiller's
``Connector``), trained in stage 1 (and with the student in stage 2 when ``weight > 0``).

Alignment: channels by the connector; space by adaptive average pooling of the larger map to the
smaller size before the connector.

Two stages (RepDistiller's ``abound`` + ``init`` pattern, the paper's "initialisation by AB"):

1. :meth:`AB.pretrain` (run by ``vskd.engine.jobs.distill`` before training): ``pretrain_epochs``
   (default 5, kept small so the stage costs a fraction of the student's training; RepDistiller
   runs 30 ``init_epochs``) epochs of ``L_AB`` alone, optimising the connectors and the student's
   trunk (``student.trunk``: the convolutional layers; ``fc0``/``fc1``, the head, are left
   untouched) with ``SGD(lr=pretrain_lr=0.05, momentum=0.9, weight_decay=5e-4)`` (RepDistiller's
   ``init``). The
   student is in train mode (RepDistiller keeps it in eval mode; train mode lets its BatchNorm
   statistics follow the GAF data whose layers are being changed).
2. Training: CE (added by the distiller) ``+ weight * L_AB + kd_weight * L_KD``. ``weight`` defaults
   to 0, as RepDistiller's stage 2 (``loss_kd = 0``; the paper trains the AB-initialised student on
   its task loss). ``kd_weight`` (default 0) adds Hinton KD on the logits at ``temperature`` 4
   (:func:`vskd.losses.functional.kd_loss`), RepDistiller's ``-a`` option for combining the
   initialisation with KD; with ``kd_weight > 0`` the method also reads ``"logits"``.

Returns ``{"ab": ..., "kd": ...}`` in stage 2, each term only when its weight is > 0 (``{}`` by default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor, nn

from vskd.losses.functional import kd_loss
from vskd.losses.functional_maps import (
    ab_loss,
    check_epochs,
    check_map_pairs,
    layer_names,
    match_spatial,
    pretrain_trunk,
)
from vskd.losses.registry import DistillMethod, _check_float, register_method

DEFAULT_STUDENT = ("layer1", "layer2", "layer3", "layer4")
DEFAULT_TEACHER = ("block1", "block2", "block3", "block4")
#: RepDistiller's ABLoss scale: ``loss / 1000 * 3``
AB_SCALE = 3.0 / 1000.0


@register_method("ab")
class AB(DistillMethod):
    """AB: stage-1 initialisation of the student by activation-boundary transfer through connectors."""

    description = "AB: stage-1 activation-boundary transfer (connectors + trunk), then CE (+ weight * AB)"
    reference = ("Heo, Lee, Yun, Choi, Knowledge Transfer via Distillation of Activation Boundaries Formed "
                 "by Hidden Neurons, AAAI 2019")
    uses = DEFAULT_STUDENT

    def __init__(
        self,
        weight: float = 0.0,
        margin: float = 1.0,
        student_layers: Sequence[str] = DEFAULT_STUDENT,
        teacher_layers: Sequence[str] = DEFAULT_TEACHER,
        pretrain_epochs: int = 5,
        pretrain_lr: float = 0.05,
        kd_weight: float = 0.0,
        temperature: float = 4.0,
    ) -> None:
        super().__init__()
        self.weight = _check_float("ab", "weight", weight)
        self.margin = _check_float("ab", "margin", margin, positive=True)
        self.student_layers = layer_names("ab", "student_layers", student_layers)
        self.teacher_layers = layer_names("ab", "teacher_layers", teacher_layers)
        self.pretrain_epochs = check_epochs("ab", pretrain_epochs)
        self.pretrain_lr = _check_float("ab", "pretrain_lr", pretrain_lr, positive=True)
        self.kd_weight = _check_float("ab", "kd_weight", kd_weight)
        self.temperature = _check_float("ab", "temperature", temperature, positive=True)
        n = len(self.student_layers)
        self.layer_weights = [2.0 ** (i - n + 1) for i in range(n)]
        self.connectors = nn.ModuleList()
        self.pretrain_history: list[float] = []

    @property
    def student_uses(self) -> tuple[str, ...]:
        return self.student_layers + (("logits",) if self.kd_weight else ())

    @property
    def teacher_uses(self) -> tuple[str, ...]:
        return self.teacher_layers + (("logits",) if self.kd_weight else ())

    def build(self, student_shapes, teacher_shapes) -> None:
        if self.kd_weight:
            self.require_same_shape(student_shapes, teacher_shapes, "logits", why="KD compares the class scores")
        pairs = check_map_pairs("ab", student_shapes, teacher_shapes, self.student_layers, self.teacher_layers)
        self.connectors = nn.ModuleList(
            nn.Sequential(nn.Conv2d(ss[0], ts[0], kernel_size=1, bias=False), nn.BatchNorm2d(ts[0]))
            for ss, ts in pairs
        )

    def ab_total(self, student_feats: Mapping[str, Tensor], teacher_feats: Mapping[str, Tensor]) -> Tensor:
        """``L_AB`` (layer weights and 3/1000 scale included, ``weight`` not)."""
        total = 0
        pairs = zip(self.layer_weights, self.connectors, self.student_layers, self.teacher_layers)
        for w, conn, s_name, t_name in pairs:
            s, t = match_spatial(student_feats[s_name], teacher_feats[t_name].detach(), "pool")
            total = total + w * ab_loss(conn(s), t, margin=self.margin)
        return AB_SCALE * total

    def forward(self, student_feats: Mapping[str, Tensor], teacher_feats: Mapping[str, Tensor]) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        if self.weight:
            out["ab"] = self.weight * self.ab_total(student_feats, teacher_feats)
        if self.kd_weight:
            out["kd"] = self.kd_weight * kd_loss(student_feats["logits"], teacher_feats["logits"], self.temperature)
        return out

    def pretrain(self, distiller, train_loader, progress: bool = True) -> list[float]:
        """Stage 1: ``pretrain_epochs`` of ``L_AB`` on the connectors and the student's trunk."""
        self.pretrain_history = pretrain_trunk(self, "ab", distiller, train_loader, self.connectors,
                                               lambda s, t: self.ab_total(s, t), progress)
        return self.pretrain_history

    def extra_repr(self) -> str:
        pairs = ", ".join(f"{s}<-{t}" for s, t in zip(self.student_layers, self.teacher_layers))
        return (f"weight={self.weight}, margin={self.margin}, pretrain_epochs={self.pretrain_epochs}, "
                f"pretrain_lr={self.pretrain_lr}, pairs=[{pairs}]")
