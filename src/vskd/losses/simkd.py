r"""``simkd``: knowledge distillation with the reused teacher classifier (Chen et al., CVPR 2022).

Defang Chen, Jian-Ping Mei, Hailin Zhang, Can Wang, Yan Feng, Chun Chen, "Knowledge Distillation with
the Reused Teacher Classifier", CVPR 2022; reference code DefangChen/SimKD (``SimKD`` in
``models/util.py``).

A projector ``P`` maps the student's last feature into the teacher's classifier input space; the
loss is the squared error to the teacher's feature, and the student **is classified by the teacher's
own (frozen) classifier** applied to ``P(f^s)``:

.. math::

    L_{SimKD} = \frac{1}{|f^t|}\lVert P(f^s) - f^t\rVert_2^2,\qquad
    \hat y = \mathrm{softmax}\big(g^t(P(f^s))\big)

(:func:`vskd.losses.functional.simkd_loss`).

What "the teacher's classifier" is for the TRN teacher. The teacher's classifier is the multi-scale
relation head ``g^t``; it does not read one vector but the K per-frame fc0 embeddings of a clip,
``(K, 300)``. We therefore take the teacher feature to be exactly that input, ``"frame_emb"``
``(B, K, 300)``, and let the projector predict all K segment embeddings from the GAF image:
``P(f^s)`` is ``(B, K, 300)``, and the classifier is the teacher's relation head unchanged
(:class:`vskd.models.features.TeacherClassifier`, deterministic evaluation form). This keeps SimKD's
defining property: a student whose projection equals the teacher's feature gets the teacher's logits
exactly. The alternative, one 300-d clip vector repeated as every segment's input, would feed the
head constant sequences it never saw in training, so even a perfect match of the clip embedding
would not reproduce the teacher's predictions. (The GAF image spans the whole recording, so its
features can carry the per-segment information the projector needs.)

Features: student ``"layer4"`` (the last stage map, the reference's ``feat_s[-2]``); teacher
``"frame_emb"`` ``(K, 300)`` (per-frame fc0, not averaged over segments: the head needs the K
vectors in temporal order).

Adapter: the projector, as the reference's (factor 2) but ending in the teacher's feature space
without an activation (the reference's teacher features are post-ReLU, fc0's are not):
``Conv1x1(C_s -> m) BN ReLU, Conv3x3(m -> m) BN ReLU, Conv1x1(m -> K*300)``, ``m = K*300 / factor``,
then a spatial average pool and a reshape to ``(K, 300)`` (the reference pools after projecting, too).
Alignment: channels by the projector; space by the average pool (the target has none); time: the
projector outputs the K segments.

The reused classifier: a frozen copy of the teacher's relation head, owned by the method
(``classifier``, ``requires_grad=False``, always in eval mode), copied in ``build`` from the setup
context's teacher (:class:`vskd.losses.registry.MethodSetup`). The distiller computes the
cross-entropy on ``classify(student_feats) = g^t(P(f^s))`` and evaluates with it (``classifies = True``), so the student's own ``fc1`` is **not** used by a SimKD student. A SimKD student
is the student trunk + projector + copied head: ``Distiller.trainable`` (student + method, with the
head's weights in the method's ``state_dict``) is the self-contained model.

Defaults: ``weight = 1`` (the reference trains with this loss alone, weight 1), ``factor = 2``
(reference). The paper uses no cross-entropy (``-c 0``); the distiller adds ``distill.ce_weight``
(default 1) times the CE on the reused-classifier logits; set ``distill.ce_weight=0`` for the
paper's objective. Returns ``{"simkd": weight * L_SimKD}``.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from vskd.errors import ConfigError
from vskd.losses.functional import simkd_loss
from vskd.losses.registry import DistillMethod, _check_float, register_method
from vskd.models.features import teacher_classifier


@register_method("simkd")
class SimKD(DistillMethod):
    """SimKD: project the student's last map to the teacher's K segment embeddings; reuse the teacher's head."""

    description = ("SimKD: MSE of a projected student map to the teacher's K segment embeddings; "
                   "classified by the teacher's frozen relation head (1)")
    reference = "Chen et al., Knowledge Distillation with the Reused Teacher Classifier, CVPR 2022"
    uses = ("layer4",)
    classifies = True

    def __init__(self, weight: float = 1.0, factor: int = 2) -> None:
        super().__init__()
        self.weight = _check_float("simkd", "weight", weight)
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
            raise ConfigError(f"method 'simkd': option factor must be an integer >= 1, got {factor!r}")
        self.factor = factor
        self.classifier: nn.Module | None = None
        self.projector: nn.Module | None = None
        self._memo: tuple[Tensor, Tensor] | None = None

    @property
    def teacher_uses(self) -> tuple[str, ...]:
        return ("frame_emb",)

    def build(self, student_shapes, teacher_shapes) -> None:
        s, t = student_shapes["layer4"], teacher_shapes["frame_emb"]
        if len(s) != 3 or len(t) != 2:
            raise ConfigError(f"method 'simkd': student feature 'layer4' must be a map (C, H, W) and teacher "
                              f"feature 'frame_emb' segment vectors (K, D); got {s} and {t}")
        teacher = self.context.teacher
        if teacher is None:
            raise ConfigError("method 'simkd' needs the teacher model (its classifier), not only a teacher-output "
                              "cache: the setup context has no teacher")
        self.classifier = teacher_classifier(teacher)  # a frozen copy of the teacher's relation head
        if (self.classifier.num_segments, self.classifier.in_dim) != tuple(t):
            raise ConfigError(f"method 'simkd': teacher feature 'frame_emb' {t} does not match the teacher "
                              f"classifier's input ({self.classifier.num_segments}, {self.classifier.in_dim})")
        self.segments, self.dim = t
        out = t[0] * t[1]
        mid = max(out // self.factor, 1)
        self.projector = nn.Sequential(
            nn.Conv2d(s[0], mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
            nn.Conv2d(mid, mid, 3, padding=1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
            nn.Conv2d(mid, out, 1),
        )

    def project(self, student_map: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, K, D)``: the student's prediction of the teacher's segment embeddings."""
        if self._memo is not None and self._memo[0] is student_map:
            return self._memo[1]
        z = self.projector(student_map).mean(dim=(2, 3)).view(student_map.shape[0], self.segments, self.dim)
        self._memo = (student_map, z)
        return z

    def forward(self, student_feats: Mapping[str, Tensor], teacher_feats: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if self.weight == 0:
            return {}
        z = self.project(student_feats["layer4"])
        return {"simkd": self.weight * simkd_loss(z, teacher_feats["frame_emb"])}

    def classify(self, student_feats: Mapping[str, Tensor]) -> Tensor:
        """Logits of the SimKD student: the teacher's frozen classifier on the projected feature."""
        z = self.project(student_feats["layer4"])
        self._memo = None  # one forward pass: the projection is reused once, then released
        return self.classifier(z)

    def extra_repr(self) -> str:
        return f"weight={self.weight}, factor={self.factor}"
