r"""``cc``: correlation congruence (Peng et al., ICCV 2019).

Baoyun Peng, Xiao Jin, Jiaheng Liu, Dongsheng Li, Yichao Wu, Yu Liu, Shunfeng Zhou, Zhaoning Zhang,
"Correlation Congruence for Knowledge Distillation", ICCV 2019.

The student's correlation matrix between the samples of a batch is fitted to the teacher's, with the
Gaussian RBF kernel approximated by its Taylor series (the paper's generalised kernel):

.. math::

    k(x_i, x_j) \approx e^{-2\gamma}\sum_{p=0}^{P}\frac{(2\gamma)^p}{p!}(\hat x_i^\top \hat x_j)^p,
    \qquad L_{CC} = \frac{1}{B^2}\big\lVert \psi(\hat F^s) - \psi(\hat F^t)\big\rVert_F^2

(:func:`vskd.losses.functional.cc_loss`), ``hat x`` the L2-normalised embedding (the expansion equals
the RBF kernel's only for unit vectors), ``gamma = 0.4``, ``P = 2``. The paper's full objective also
has instance-level KD; here CC is the correlation term alone (combine with ``kd`` for the paper's).

Features: the fc0 embeddings ``"emb"`` on both sides (300-d).

Adapters: the student's embedding head ``Linear(D_s, 128)`` (trained with the student), as the
paper's and torchdistill's linear layer after the penultimate feature. The teacher side has **no**
trainable head: a head trained by this loss could move the teacher's correlation matrix towards the
student's (the loss then falls without the student learning anything; RepDistiller trains both heads,
but with a different, non-relational CC loss). The teacher's clip embedding is used directly;
the kernel compares ``B x B`` matrices, so the widths need not match.

Alignment: none needed (batch correlations).

Defaults: ``weight = 1`` (our choice: the term is a mean of squared kernel differences in [0, 1];
the paper's weight for it is not among our sources, and RepDistiller's ``-b 0.02`` is for its other
loss), ``gamma = 0.4`` and ``max_p = 2`` (torchdistill's CCKD example configuration, following the
paper). Returns ``{"cc": weight * L_CC}``.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from vskd.errors import ConfigError
from vskd.losses.functional import cc_loss
from vskd.losses.registry import DistillMethod, _check_float, register_method


@register_method("cc")
class CC(DistillMethod):
    """CC: match Taylor-expanded Gaussian-kernel correlation matrices of the embeddings."""

    description = "CC: squared distance between Gaussian-RBF (Taylor, P=2) correlation matrices of the embeddings (1)"
    reference = "Peng et al., Correlation Congruence for Knowledge Distillation, ICCV 2019"
    uses = ("emb",)

    def __init__(self, weight: float = 1.0, gamma: float = 0.4, max_p: int = 2, embed_dim: int = 128) -> None:
        super().__init__()
        self.weight = _check_float("cc", "weight", weight)
        self.gamma = _check_float("cc", "gamma", gamma, positive=True)
        for name, v in (("max_p", max_p), ("embed_dim", embed_dim)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"method 'cc': option {name} must be an integer >= 1, got {v!r}")
        self.max_p = max_p
        self.embed_dim = embed_dim
        self.embed: nn.Module | None = None

    def build(self, student_shapes, teacher_shapes) -> None:
        s = student_shapes["emb"]
        if len(s) != 1:
            raise ConfigError(f"method 'cc': student feature 'emb' must be a vector, got shape {s} "
                              f"(teacher 'emb' {teacher_shapes['emb']})")
        self.embed = nn.Linear(s[0], self.embed_dim)

    def forward(self, student_feats: Mapping[str, Tensor], teacher_feats: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if self.weight == 0:
            return {}
        s = self.embed(student_feats["emb"])
        return {"cc": self.weight * cc_loss(s, teacher_feats["emb"], self.gamma, self.max_p)}

    def extra_repr(self) -> str:
        return f"weight={self.weight}, gamma={self.gamma}, max_p={self.max_p}, embed_dim={self.embed_dim}"
