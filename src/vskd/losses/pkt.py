r"""``pkt``: probabilistic knowledge transfer with the cosine kernel (Passalis & Tefas, ECCV 2018).

Nikolaos Passalis, Anastasios Tefas, "Learning Deep Representations with Probabilistic Knowledge
Transfer", ECCV 2018.

Each side's batch is turned into conditional probabilities over neighbours with the cosine kernel,
and the student's are fitted to the teacher's by KL divergence:

.. math::

    K_{ij} = \tfrac12\big(\cos(x_i, x_j) + 1\big),\quad p_{ij} = \frac{K_{ij}}{\sum_k K_{ik}},\qquad
    L_{PKT} = \frac{1}{B^2}\sum_{i,j} p^t_{ij}\log\frac{p^t_{ij} + \epsilon}{p^s_{ij} + \epsilon}

(:func:`vskd.losses.functional.pkt_loss`, ``epsilon = 1e-7`` as the authors' code).

Features: the fc0 embeddings ``"emb"`` on both sides (300-d; the teacher's is the clip embedding,
the mean of its per-frame fc0 over segments). PKT's reference transfers the penultimate
representation, the one the classifier reads: fc0 is it for both models here (the student's
classifier reads ReLU(fc0), the teacher's relation head reads its per-frame fc0).

Adapters: none (the kernel compares samples within a side; the widths could even differ).
Alignment: none needed.

Default weight: 30000, RepDistiller's ``-b 30000`` for PKT (the paper, on retrieval, trains with the
PKT loss alone). Returns ``{"pkt": weight * L_PKT}``.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from vskd.losses.functional import pkt_loss
from vskd.losses.registry import DistillMethod, _check_float, register_method


@register_method("pkt")
class PKT(DistillMethod):
    """PKT: KL between cosine-kernel neighbour distributions of the student's and teacher's embeddings."""

    description = "PKT: KL between cosine-kernel conditional probability distributions of the embeddings (30000)"
    reference = ("Passalis & Tefas, Learning Deep Representations with Probabilistic Knowledge Transfer, "
                 "ECCV 2018")
    uses = ("emb",)

    def __init__(self, weight: float = 30000.0, eps: float = 1e-7) -> None:
        super().__init__()
        self.weight = _check_float("pkt", "weight", weight)
        self.eps = _check_float("pkt", "eps", eps, positive=True)

    def forward(self, student_feats: Mapping[str, Tensor], teacher_feats: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if self.weight == 0:
            return {}
        return {"pkt": self.weight * pkt_loss(student_feats["emb"], teacher_feats["emb"], self.eps)}

    def extra_repr(self) -> str:
        return f"weight={self.weight}, eps={self.eps}"
