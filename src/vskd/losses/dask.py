"""``dask``: VSKD's objective minus cross-entropy: alpha * KD on the logits + DASK on fc0."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from vskd.losses.functional import dask_loss, kd_loss
from vskd.losses.registry import DistillMethod, _check_float, register_method


@register_method("dask")
class DASK(DistillMethod):
    r"""VSKD: ``alpha * L_KD + w_distance * L_D + w_angle * L_A + w_semantic * L_S``.

    Jianyuan Ni, Raunak Sarbajna, Yang Liu, Anne H.H. Ngu, Yan Yan, "Cross-modal Knowledge
    Distillation for Vision-to-Sensor Action Recognition", ICASSP 2022 (arXiv 2112.01849). The
    full training objective is ``CE + alpha * KD + DASK``; the distiller adds the CE.

    * ``L_KD`` = :func:`~vskd.losses.functional.kd_loss` on ``"logits"`` (temperature ``T``);
    * ``L_D``, ``L_A``, ``L_S`` = :func:`~vskd.losses.functional.dask_loss` on the fc0 embeddings
      ``"emb"`` (RKD distance / angle losses and the semantic MSE): the one implementation of DASK.

    Options (defaults from the authors' code): ``alpha=0.01``, ``temperature=4``,
    ``w_distance=1``, ``w_angle=1``, ``w_semantic=1``. A weight of 0 turns its term off (it is
    neither computed nor returned); ``alpha=0, w_*=1`` is DASK alone, ``w_*=0`` is the authors'
    released configuration (CE + 0.01 KD).

    Features: ``"logits"`` ``(B, C)`` and ``"emb"`` ``(B, 300)`` on both sides. Returns the
    weighted terms ``{"kd", "distance", "angle", "semantic"}``.
    """

    description = "VSKD: alpha*KD on logits + DASK (distance, angle, semantic) on the fc0 embeddings"
    reference = (
        "Ni, Sarbajna, Liu, Ngu, Yan, Cross-modal Knowledge Distillation for Vision-to-Sensor "
        "Action Recognition, ICASSP 2022"
    )
    uses = ("logits", "emb")

    def __init__(
        self,
        alpha: float = 0.01,
        temperature: float = 4.0,
        w_distance: float = 1.0,
        w_angle: float = 1.0,
        w_semantic: float = 1.0,
    ) -> None:
        super().__init__()
        self.alpha = _check_float("dask", "alpha", alpha)
        self.temperature = _check_float("dask", "temperature", temperature, positive=True)
        self.w_distance = _check_float("dask", "w_distance", w_distance)
        self.w_angle = _check_float("dask", "w_angle", w_angle)
        self.w_semantic = _check_float("dask", "w_semantic", w_semantic)

    def build(self, student_shapes, teacher_shapes) -> None:
        if self.alpha:
            self.require_same_shape(student_shapes, teacher_shapes, "logits", why="same classes on both sides")
        if self.w_semantic:
            self.require_same_shape(
                student_shapes, teacher_shapes, "emb", why="the semantic term compares the fc0 vectors"
            )

    def forward(self, student_feats: Mapping[str, Tensor], teacher_feats: Mapping[str, Tensor]) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        if self.alpha:
            out["kd"] = self.alpha * kd_loss(student_feats["logits"], teacher_feats["logits"], self.temperature)
        weights = {"distance": self.w_distance, "angle": self.w_angle, "semantic": self.w_semantic}
        terms = dask_loss(student_feats["emb"], teacher_feats["emb"], self.w_distance, self.w_angle, self.w_semantic)
        # the weighted terms, for logging; their sum is terms["total"] (zero-weight terms are absent)
        out.update((name, weights[name] * value) for name, value in terms.items() if name != "total")
        return out

    def extra_repr(self) -> str:
        return (
            f"alpha={self.alpha}, temperature={self.temperature}, w_distance={self.w_distance}, "
            f"w_angle={self.w_angle}, w_semantic={self.w_semantic}"
        )
