r"""``ft``: factor transfer through a paraphraser (teacher) and a translator (student) (Kim et al. 2018).

Jangho Kim, Seonguk Park, Nojun Kwak, "Paraphrasing Complex Network: Network Compression via Factor
Transfer", NeurIPS 2018.

A paraphraser (convolutional autoencoder) is first trained to reconstruct the teacher's map; its
encoder output is the teacher's *factor* :math:`F_T`. A translator on the student's map gives
:math:`F_S`, trained to match it (eq. 3, :func:`vskd.losses.functional_maps.ft_loss`):

.. math::

    L_{rec} = \frac{1}{N}\lVert x - P(x)\rVert_2^2,\qquad
    L_{FT} = \beta\; \frac{1}{B D}\sum_b\Big\lVert \frac{F_T(b)}{\lVert F_T(b)\rVert_2}
            - \frac{F_S(b)}{\lVert F_S(b)\rVert_2}\Big\rVert_1

(``p = 1``; ``reduction="mean"`` averages over the ``D`` factor entries as torchdistill's
``FTLoss(p=1)`` and RepDistiller; ``reduction="batchmean"`` is the paper's per-sample norm.)

Features: student ``layer4`` and teacher ``block4`` (the last convolutional stage, as the paper and
RepDistiller's ``feat[-2]``); teacher maps are segment means.

Adapters: the paraphraser ``P`` on the teacher map (encoder: three 3x3 convs ``C_t -> C_t -> kC_t ->
kC_t`` with LeakyReLU(0.1); decoder: three 3x3 transposed convs back; ``k = 0.5``, the paper's
paraphrase rate; no BatchNorm, RepDistiller's default) -- trained in stage 1 only, then frozen
(``requires_grad=False``, eval mode) -- and the translator on the student map (three 3x3 convs
``C_s -> C_s -> kC_t -> kC_t`` with BatchNorm + LeakyReLU(0.1), "the same three convolution layers as
the paraphraser"), trained with the student in stage 2. Size (224 px): 12.4M parameters with a
ResNet18 teacher (512-channel ``block4``), 40.1M with BN-Inception (1024 channels), most of it the
frozen paraphraser.

Alignment: channels by the translator (its output has the factor's ``kC_t`` channels); space by
adaptive average pooling of the larger factor to the smaller size.

Two stages (RepDistiller's ``factor`` + ``init``):

1. :meth:`FT.pretrain`: ``pretrain_epochs`` (default 5; RepDistiller 30) epochs of the
   reconstruction loss (MSE) on the teacher's maps, optimising only the paraphraser with
   ``SGD(lr=pretrain_lr=0.01, momentum=0.9, weight_decay=5e-4)`` (RepDistiller's rate for ResNet
   students). No student forward pass.
2. Training: CE (distiller) ``+ weight * L_FT``, ``weight = 200`` (RepDistiller's ``-b 200``).

Returns ``{"factor": weight * L_FT}``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vskd.errors import ConfigError
from vskd.losses.functional_maps import (
    check_epochs,
    check_map_pairs,
    ft_loss,
    layer_names,
    match_spatial,
    run_stage1,
)
from vskd.losses.registry import DistillMethod, _check_float, register_method


def _block(conv: nn.Module, channels: int, bn: bool) -> list[nn.Module]:
    return [conv, *([nn.BatchNorm2d(channels)] if bn else []), nn.LeakyReLU(0.1)]


class Paraphraser(nn.Module):
    """Convolutional autoencoder on the teacher map; ``encoder`` gives the factor."""

    def __init__(self, channels: int, factor_channels: int, bn: bool = False) -> None:
        super().__init__()
        c, f = channels, factor_channels
        self.encoder = nn.Sequential(
            *_block(nn.Conv2d(c, c, 3, padding=1), c, bn),
            *_block(nn.Conv2d(c, f, 3, padding=1), f, bn),
            *_block(nn.Conv2d(f, f, 3, padding=1), f, bn),
        )
        self.decoder = nn.Sequential(
            *_block(nn.ConvTranspose2d(f, f, 3, padding=1), f, bn),
            *_block(nn.ConvTranspose2d(f, c, 3, padding=1), c, bn),
            *_block(nn.ConvTranspose2d(c, c, 3, padding=1), c, bn),
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        factor = self.encoder(x)
        return factor, self.decoder(factor)


def translator(in_channels: int, factor_channels: int) -> nn.Sequential:
    """Three 3x3 convs with BatchNorm + LeakyReLU(0.1): ``C_s -> C_s -> f -> f``."""
    c, f = in_channels, factor_channels
    return nn.Sequential(
        *_block(nn.Conv2d(c, c, 3, padding=1), c, True),
        *_block(nn.Conv2d(c, f, 3, padding=1), f, True),
        *_block(nn.Conv2d(f, f, 3, padding=1), f, True),
    )


@register_method("ft")
class FT(DistillMethod):
    """FT: match normalised factors of a stage-1-trained teacher paraphraser and a student translator."""

    description = "FT: L1 between normalised paraphraser (teacher, stage 1) and translator (student) factors (200)"
    reference = "Kim, Park, Kwak, Paraphrasing Complex Network: Network Compression via Factor Transfer, NeurIPS 2018"
    uses = ("layer4",)

    def __init__(
        self,
        weight: float = 200.0,
        student_layer: str = "layer4",
        teacher_layer: str = "block4",
        k: float = 0.5,
        p: float = 1.0,
        reduction: str = "mean",
        paraphraser_bn: bool = False,
        pretrain_epochs: int = 5,
        pretrain_lr: float = 0.01,
    ) -> None:
        super().__init__()
        self.weight = _check_float("ft", "weight", weight)
        (self.student_layer,) = layer_names("ft", "student_layer", [student_layer])
        (self.teacher_layer,) = layer_names("ft", "teacher_layer", [teacher_layer])
        self.k = _check_float("ft", "k", k, positive=True)
        self.p = _check_float("ft", "p", p, positive=True)
        if reduction not in ("mean", "batchmean"):
            raise ConfigError(f"method 'ft': option reduction must be 'mean' or 'batchmean', got {reduction!r}")
        self.reduction = reduction
        self.paraphraser_bn = bool(paraphraser_bn)
        self.pretrain_epochs = check_epochs("ft", pretrain_epochs)
        self.pretrain_lr = _check_float("ft", "pretrain_lr", pretrain_lr, positive=True)
        self.paraphraser: Paraphraser | None = None
        self.translator: nn.Module | None = None
        self.pretrain_history: list[float] = []
        self._in_stage1 = False

    @property
    def student_uses(self) -> tuple[str, ...]:
        return (self.student_layer,)

    @property
    def teacher_uses(self) -> tuple[str, ...]:
        return (self.teacher_layer,)

    def build(self, student_shapes, teacher_shapes) -> None:
        ((ss, ts),) = check_map_pairs("ft", student_shapes, teacher_shapes, [self.student_layer], [self.teacher_layer])
        factor = max(1, int(ts[0] * self.k))
        self.paraphraser = Paraphraser(ts[0], factor, bn=self.paraphraser_bn)
        self.paraphraser.requires_grad_(False)  # trained in stage 1 only
        self.paraphraser.eval()
        self.translator = translator(ss[0], factor)

    def train(self, mode: bool = True) -> "FT":
        super().train(mode)
        if self.paraphraser is not None and not self._in_stage1:
            self.paraphraser.eval()  # frozen outside stage 1, whatever mode the trainer sets
        return self

    def factors(
        self, student_feats: Mapping[str, Tensor], teacher_feats: Mapping[str, Tensor]
    ) -> tuple[Tensor, Tensor]:
        """(student factor, teacher factor), spatially aligned."""
        t = teacher_feats[self.teacher_layer].detach()
        with torch.no_grad():
            f_t = self.paraphraser.encoder(t.to(next(self.paraphraser.parameters()).dtype))
        f_s = self.translator(student_feats[self.student_layer])
        return match_spatial(f_s, f_t, "pool")

    def forward(self, student_feats: Mapping[str, Tensor], teacher_feats: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if self.weight == 0:
            return {}
        f_s, f_t = self.factors(student_feats, teacher_feats)
        return {"factor": self.weight * ft_loss(f_s, f_t, p=self.p, reduction=self.reduction)}

    def reconstruction_loss(self, teacher_feats: Mapping[str, Tensor]) -> Tensor:
        """Stage-1 loss: MSE between the teacher map and its reconstruction ``P(t)``."""
        t = teacher_feats[self.teacher_layer].detach()
        _, rec = self.paraphraser(t)
        return F.mse_loss(rec, t)

    def pretrain(self, distiller, train_loader, progress: bool = True) -> list[float]:
        """Stage 1: fit the paraphraser to reconstruct the teacher's maps; then freeze it."""
        self.paraphraser.requires_grad_(True)
        self._in_stage1 = True
        self.paraphraser.train()
        try:
            self.pretrain_history = run_stage1(
                "ft", distiller, train_loader, list(self.paraphraser.parameters()),
                lambda s, t: self.reconstruction_loss(t), epochs=self.pretrain_epochs, lr=self.pretrain_lr,
                needs_student=False, progress=progress,
            )
        finally:
            self.paraphraser.requires_grad_(False)
            self._in_stage1 = False
            self.paraphraser.eval()
        return self.pretrain_history

    def extra_repr(self) -> str:
        return (f"weight={self.weight}, pair={self.student_layer}<-{self.teacher_layer}, k={self.k}, p={self.p}, "
                f"reduction={self.reduction!r}, pretrain_epochs={self.pretrain_epochs}")
