r"""``crd``: contrastive representation distillation (Tian, Krishnan, Isola, ICLR 2020).

Yonglong Tian, Dilip Krishnan, Phillip Isola, "Contrastive Representation Distillation", ICLR 2020;
reference code RepDistiller ``crd/`` (``CRDLoss``, ``ContrastMemory``), also torchdistill's ``CRDLoss``.

Both sides are embedded into a shared unit sphere by trainable heads, and each student embedding
must pick its own teacher sample out of ``k`` others (and vice versa), scored against memory banks
of past embeddings of the whole training set:

.. math::

    s_b = \frac{W_s f^s_b}{\lVert W_s f^s_b\rVert},\quad t_b = \frac{W_t f^t_b}{\lVert W_t f^t_b\rVert},
    \qquad h(x) = \frac{x}{x + k/N},\quad x_{bj} = \frac{e^{\langle M_{c_{bj}}, \cdot_b\rangle/\tau}}{Z}

    L_{CRD} = -\frac1B\sum_b\Big[\log h(x^s_{b,i_b}) + \sum_{j=1}^{k}\log(1 - h(x^s_{b,n_{bj}}))\Big]
              + (\text{same with } s \leftrightarrow t)

(:func:`vskd.losses.functional.crd_loss`), ``x^s`` scoring the student anchor against the teacher's
memory ``M^t`` and ``x^t`` the teacher anchor against ``M^s``.

Features: ``"pooled"`` on both sides (the student's trunk output, 512-d; the teacher's pooled
backbone features averaged over the K segments), as the reference's ``feat[-1]``, the representation
before the classifier's own layers. Batch field: ``"index"``, the paired dataset's stable position of
each sample, which addresses the memory banks.

Adapters: ``embed_student = Linear(D_s, 128)`` and ``embed_teacher = Linear(D_t, 128)`` (+ L2
normalisation), both trained with the student (the teacher's *features* are detached before its head;
the contrast against negatives keeps the heads from collapsing). Alignment: none beyond the heads.

Memory banks (buffers, in the checkpoint): ``memory_student``, ``memory_teacher``, each
``(num_train, 128)``, initialised uniform in ``[-1/sqrt(128/3), 1/sqrt(128/3)]`` from ``seed``, updated
after each step with momentum 0.5 (``M_i <- normalise(0.5 M_i + 0.5 v_i)``) at the batch's indices.
``Z`` is fixed on the first batch (``N * mean score``), as the reference; it is a buffer too.
Everything runs on the inputs' device (CPU included); the reference hard-codes CUDA.

Negatives: drawn over the stable indices of the paired training set, **never the sample's own
index** (the reference's uniform draw may return it). ``k = min(num_negatives, num_train - 1)``:

* ``k = num_train - 1`` (always on UTD-MHAD: its cross-subject training split has 323
  recordings with ``configs/utd-mhad/cpu.yaml``, so k = 322, far below 16384): every other training recording is a negative of every sample,
  in index order, with no randomness at all;
* otherwise ``k`` distinct indices per sample, uniformly without replacement, from a generator seeded
  with ``seed`` (deterministic given the seed and the order of batches); its state is the module's
  extra state (``get_extra_state``), saved in ``last.pt`` and restored by ``--resume``.

The reference (CIFAR) additionally draws negatives from other *classes* only (``mode='exact'``); with
instance negatives as in the paper's objective, about 1/C of ours share the anchor's class.

Defaults: ``weight = 0.8`` (RepDistiller's ``-b 0.8``, the paper's CRD setting), ``embed_dim = 128``,
``num_negatives = 16384``, ``temperature = 0.07``, ``momentum = 0.5`` (all the paper's / reference's).
Needs the training set's size, ``num_train`` of the setup context (:class:`~vskd.losses.registry.MethodSetup`);
under torchrun the context's collectives all-gather each step's embeddings and average Z over the processes.
Returns ``{"crd": weight * L_CRD}``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vskd.errors import ConfigError, VskdError
from vskd.losses.functional import crd_loss
from vskd.losses.registry import DistillMethod, _check_float, register_method


def _check_int(option: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"method 'crd': option {option} must be an integer >= {minimum}, got {value!r}")
    return value


@register_method("crd")
class CRD(DistillMethod):
    """CRD: NCE contrast of student/teacher embeddings against momentum memory banks over the dataset."""

    description = "CRD: NCE contrast of 128-d student/teacher embeddings against memory banks over the dataset (0.8)"
    reference = "Tian, Krishnan, Isola, Contrastive Representation Distillation, ICLR 2020"
    uses = ("pooled",)
    batch_uses = ("index",)

    def __init__(self, weight: float = 0.8, embed_dim: int = 128, num_negatives: int = 16384,
                 temperature: float = 0.07, momentum: float = 0.5, seed: int = 0) -> None:
        super().__init__()
        self.weight = _check_float("crd", "weight", weight)
        self.embed_dim = _check_int("embed_dim", embed_dim, 1)
        self.num_negatives = _check_int("num_negatives", num_negatives, 1)
        self.temperature = _check_float("crd", "temperature", temperature, positive=True)
        self.momentum = _check_float("crd", "momentum", momentum)
        if self.momentum >= 1:
            raise ConfigError(f"method 'crd': option momentum must be in [0, 1), got {momentum!r}")
        self.seed = _check_int("seed", seed, 0)
        self.k = 0

    def build(self, student_shapes, teacher_shapes) -> None:
        n = self.context.num_train
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ConfigError(f"method 'crd' needs num_train (the paired training set's length, >= 2) "
                              f"in its setup context, got {n!r}")
        self.collectives = self.context.collectives
        for side, shapes in (("student", student_shapes), ("teacher", teacher_shapes)):
            if len(shapes["pooled"]) != 1:
                raise ConfigError(f"method 'crd': {side} feature 'pooled' must be a vector, got student "
                                  f"'pooled' {student_shapes['pooled']}, teacher 'pooled' {teacher_shapes['pooled']}")
        self.num_data = n
        self.k = min(self.num_negatives, n - 1)
        self.embed_student = nn.Linear(student_shapes["pooled"][0], self.embed_dim)
        self.embed_teacher = nn.Linear(teacher_shapes["pooled"][0], self.embed_dim)
        gen = torch.Generator().manual_seed(self.seed)
        stdv = 1.0 / math.sqrt(self.embed_dim / 3)
        for name in ("memory_student", "memory_teacher"):
            self.register_buffer(name, torch.rand(n, self.embed_dim, generator=gen).mul_(2 * stdv).sub_(stdv))
        self.register_buffer("z", torch.full((2,), -1.0, dtype=torch.float64))  # (Z_student, Z_teacher)
        self.generator = torch.Generator().manual_seed(self.seed + 1)

    def get_extra_state(self) -> dict:
        """The negative-sampling generator's state (a uint8 tensor) travels in the state dict, hence in
        ``last.pt``: a resumed run draws the negatives an uninterrupted one draws."""
        gen = getattr(self, "generator", None)
        return {"generator": gen.get_state()} if gen is not None else {}

    def set_extra_state(self, state: dict) -> None:
        if isinstance(state, dict) and isinstance(state.get("generator"), Tensor):
            if getattr(self, "generator", None) is None:
                self.generator = torch.Generator()
            self.generator.set_state(state["generator"])

    def negatives(self, index: Tensor) -> Tensor:
        """``(B, k)`` negative indices for the positives ``index`` ``(B,)``, never the positive itself."""
        b, n, k = index.shape[0], self.num_data, self.k
        idx = index.detach().long().cpu()
        if k == n - 1:  # every other sample, in index order
            j = torch.arange(n - 1).expand(b, n - 1)
            return j + (j >= idx.unsqueeze(1)).long()
        scores = torch.rand(b, n, generator=self.generator)
        scores[torch.arange(b), idx] = 2.0  # above every uniform draw: never among the k smallest
        return scores.topk(k, dim=1, largest=False).indices

    def forward(self, student_feats: Mapping[str, Tensor], teacher_feats: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if self.weight == 0:
            return {}
        index = torch.as_tensor(student_feats["index"]).long().reshape(-1)
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= self.num_data):
            raise VskdError(f"crd: sample index {int(index.max())} outside the memory bank of "
                            f"{self.num_data} entries (num_train)")
        v_s = F.normalize(self.embed_student(student_feats["pooled"].flatten(1)), dim=1)
        f_t = teacher_feats["pooled"].detach().flatten(1).to(v_s.dtype)
        v_t = F.normalize(self.embed_teacher(f_t), dim=1)
        contrast = torch.cat([index.unsqueeze(1), self.negatives(index)], dim=1).to(v_s.device)
        z_s, z_t = (float(z) if z > 0 else None for z in self.z.tolist())
        out = crd_loss(v_s, v_t, self.memory_student, self.memory_teacher, contrast, self.temperature,
                       z_s, z_t, num_data=self.num_data)
        with torch.no_grad():
            if z_s is None:
                self.z[0] = float(out["z_student"])
            if z_t is None:
                self.z[1] = float(out["z_teacher"])
            if z_s is None or z_t is None:  # under torchrun: one Z for every rank (their mean)
                c = self.collectives
                self.z.copy_(torch.tensor(c.all_reduce_sum(self.z.tolist()), dtype=self.z.dtype) / c.world)
            # under torchrun every rank writes every rank's samples: the banks stay identical
            index, v_s, v_t = self._gathered(index, v_s, v_t)
            self._update(self.memory_student, index, v_s)
            self._update(self.memory_teacher, index, v_t)
        return {"crd": self.weight * out["total"]}

    def _gathered(self, index: Tensor, v_s: Tensor, v_t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        c = self.collectives
        if c.world == 1:
            return index, v_s, v_t
        return c.all_gather_cat(index.to(v_s.device)), c.all_gather_cat(v_s.detach()), c.all_gather_cat(v_t.detach())

    def _update(self, memory: Tensor, index: Tensor, v: Tensor) -> None:
        idx = index.to(memory.device)
        rows = memory[idx] * self.momentum + v.detach().to(memory.dtype) * (1 - self.momentum)
        memory.index_copy_(0, idx, F.normalize(rows, dim=1))

    def extra_repr(self) -> str:
        return (f"weight={self.weight}, embed_dim={self.embed_dim}, negatives={self.k or self.num_negatives}, "
                f"temperature={self.temperature}, momentum={self.momentum}, seed={self.seed}")
