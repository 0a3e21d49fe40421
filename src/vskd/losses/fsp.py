r"""``fsp``: flow-of-solution-procedure matrices, stage-1 initialisation (Yim et al., CVPR 2017).

Junho Yim, Donggyu Joo, Jihoon Bae, Junmo Kim, "A Gift from Knowledge Distillation: Fast
Optimization, Network Minimization and Transfer Learning", CVPR 2017.

The FSP matrix of two maps of one network, :math:`G_{ij} = \frac{1}{hw}\sum_{x,y} F^1_{i,x,y}F^2_{j,x,y}`
(:func:`vskd.losses.functional_maps.fsp_matrix`), describes how one stage transforms the previous
one's features. The student is initialised to reproduce the teacher's FSP matrices of consecutive
stages:

.. math::

    L_{FSP} = \sum_{i=1}^{n-1} \frac{1}{B C_i C_{i+1}} \sum_b
        \lVert G^s_i(b) - G^t_i(b) \rVert_F^2,\qquad G_i = G(F_i, F_{i+1})

(:func:`vskd.losses.functional_maps.fsp_loss`, RepDistiller's mean over matrix entries, all pair
weights 1 as in the paper).

Features: student ``layer1..layer4`` and teacher ``block1..block4`` (consecutive pairs (1,2), (2,3),
(3,4) on each side; RepDistiller also uses the stem output, which is not a recorded feature here).
Teacher maps are the segment means.

Alignment: inside each pair of one side, the larger map is adaptively average-pooled to the smaller
size (RepDistiller; torchdistill max-pools). Between the sides nothing spatial needs aligning (the
matrices are ``C_i x C_{i+1}``). Channels must agree stage by stage: with a ResNet18 teacher they do
(64/128/256/512) and no adapter is created (the paper's method exactly); where they differ (e.g.
BN-Inception's 192/576/1056/1024) ``adapt_channels=True`` (default) adds a bias-free 1x1 conv
``C_s -> C_t`` on that student map, trained in stage 1; ``adapt_channels=False`` makes it a
:class:`~vskd.errors.ConfigError` naming both features and shapes.

Two stages (the paper; RepDistiller's ``fsp`` + ``init``):

1. :meth:`FSP.pretrain`: ``pretrain_epochs`` (default 5; RepDistiller 30) epochs of ``L_FSP`` alone,
   optimising the student's trunk (``student.trunk``; the head ``fc0``/``fc1`` is untouched) and the
   adapters with ``SGD(lr=pretrain_lr=0.05, momentum=0.9, weight_decay=5e-4)``, student in train mode.
2. Training: CE (added by the distiller) ``+ weight * L_FSP`` with ``weight`` default 0: the paper
   and RepDistiller (``loss_kd = 0``) train the initialised student on the main task only.

Returns ``{"fsp": weight * L_FSP}`` when ``weight > 0``, else ``{}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor, nn

from vskd.errors import ConfigError
from vskd.losses.functional_maps import (
    check_epochs,
    check_map_pairs,
    fsp_loss,
    layer_names,
    pretrain_trunk,
)
from vskd.losses.registry import LayerPairsMethod, _check_float, register_method

DEFAULT_STUDENT = ("layer1", "layer2", "layer3", "layer4")
DEFAULT_TEACHER = ("block1", "block2", "block3", "block4")


@register_method("fsp")
class FSP(LayerPairsMethod):
    """FSP: stage-1 initialisation of the student by matching the teacher's FSP matrices."""

    description = "FSP: stage-1 matching of FSP (Gram) matrices of consecutive blocks, then CE"
    reference = ("Yim, Joo, Bae, Kim, A Gift from Knowledge Distillation: Fast Optimization, Network "
                 "Minimization and Transfer Learning, CVPR 2017")
    uses = DEFAULT_STUDENT

    def __init__(
        self,
        weight: float = 0.0,
        student_layers: Sequence[str] = DEFAULT_STUDENT,
        teacher_layers: Sequence[str] = DEFAULT_TEACHER,
        adapt_channels: bool = True,
        pretrain_epochs: int = 5,
        pretrain_lr: float = 0.05,
    ) -> None:
        super().__init__()
        self.weight = _check_float("fsp", "weight", weight)
        self.student_layers = layer_names("fsp", "student_layers", student_layers)
        self.teacher_layers = layer_names("fsp", "teacher_layers", teacher_layers)
        if len(self.student_layers) < 2:
            raise ConfigError(f"method 'fsp': option student_layers needs at least 2 layers (FSP matrices join "
                              f"consecutive layers), got {list(self.student_layers)}")
        if not isinstance(adapt_channels, bool):
            raise ConfigError(f"method 'fsp': option adapt_channels must be true or false, got {adapt_channels!r}")
        self.adapt_channels = adapt_channels
        self.pretrain_epochs = check_epochs("fsp", pretrain_epochs)
        self.pretrain_lr = _check_float("fsp", "pretrain_lr", pretrain_lr, positive=True)
        self.adapters = nn.ModuleList()
        self.pretrain_history: list[float] = []

    def build(self, student_shapes, teacher_shapes) -> None:
        pairs = check_map_pairs("fsp", student_shapes, teacher_shapes, self.student_layers, self.teacher_layers)
        adapters = []
        for (ss, ts), s_name, t_name in zip(pairs, self.student_layers, self.teacher_layers):
            if ss[0] == ts[0]:
                adapters.append(nn.Identity())
            elif self.adapt_channels:
                adapters.append(nn.Conv2d(ss[0], ts[0], kernel_size=1, bias=False))
            else:
                raise ConfigError(
                    f"method 'fsp': student feature '{s_name}' has shape {ss} and teacher feature '{t_name}' has "
                    f"shape {ts}; FSP matrices need the same channels on both sides (set adapt_channels: true)"
                )
        self.adapters = nn.ModuleList(adapters)

    def fsp_total(self, student_feats: Mapping[str, Tensor], teacher_feats: Mapping[str, Tensor]) -> Tensor:
        s = [a(student_feats[n]) for a, n in zip(self.adapters, self.student_layers)]
        t = [teacher_feats[n].detach() for n in self.teacher_layers]
        return fsp_loss(s, t)

    def forward(self, student_feats: Mapping[str, Tensor], teacher_feats: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if self.weight == 0:
            return {}
        return {"fsp": self.weight * self.fsp_total(student_feats, teacher_feats)}

    def pretrain(self, distiller, train_loader, progress: bool = True) -> list[float]:
        """Stage 1: ``pretrain_epochs`` of ``L_FSP`` on the student's trunk (and adapters)."""
        self.pretrain_history = pretrain_trunk(self, "fsp", distiller, train_loader, self.adapters,
                                               lambda s, t: self.fsp_total(s, t), progress)
        return self.pretrain_history

    def extra_repr(self) -> str:
        return (f"weight={self.weight}, student_layers={list(self.student_layers)}, "
                f"teacher_layers={list(self.teacher_layers)}, pretrain_epochs={self.pretrain_epochs}")
