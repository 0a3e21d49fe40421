"""A multimodal teacher: trained member models (depth video, skeleton, the wrist signal itself) fused.

Issue 15 items 5 and 6. Each member is a trained vskd model that reads its own view of the recording
(a :class:`~vskd.models.trn.VideoTeacher` its frames, a :class:`~vskd.models.skeleton.SkeletonTeacher`
its joints, a raw-signal or GAF student the wrist window) and has a clip embedding (``embedding`` on a
teacher, ``fc0`` on a student: ``(B, D_i)``, before any activation) and logits ``z_i`` ``(B, C)``.
:class:`FusionTeacher` takes the dict of views ``{member name: view batch}`` and fuses:

* ``ensemble`` (issue 15 item 6, a teacher ensemble): ``z = sum_i w_i z_i`` with the fixed weights
  ``w_i`` (the members' ``weight``, normalised to sum 1); nothing is trained. A mean of logits equals a
  mean of log-probabilities up to a per-sample constant, which softmax (classification, KD) ignores.
* ``late`` (late fusion): the same weighted mean with learnt weights ``w = softmax(a)`` (``a``
  initialised at the log of the members' weights, so training starts from the ensemble).
* ``feature`` (feature-level fusion): ``h = MLP([e_1, ..., e_M])`` (Linear -> ReLU -> dropout over the
  concatenated member embeddings), ``emb = fc0(h)`` (``embed_dim``, 300), ``z = fc1(ReLU(emb))``: the
  same head as the single-modality teachers', trained.

The embedding the distillation methods read (``embedding``, ``(B, embed_dim)``): for ``feature`` the
fused ``fc0``; for ``ensemble`` / ``late`` (which have no fused layer) the members' embeddings
concatenated, ``concat`` (width ``sum_i D_i``), or that concatenation mapped to ``embed_dim`` by a
fixed orthonormal projection ``P`` (``project``, the default; rows of ``P`` orthonormal, scaled by
``sqrt(sum D_i / embed_dim)`` so that squared norms are kept in expectation: a Johnson-Lindenstrauss
style random map, Dasgupta & Gupta 2003, which roughly keeps the pairwise distances and angles that
DASK's relational terms compare, and gives the semantic term a 300-wide target).

Members are frozen by default (``finetune=False``: no gradient, always in eval mode, so their
BatchNorm statistics and dropout never move); with ``finetune=True`` they train with the fusion
head. Only :data:`TEACHER_TAPS` features exist (``logits``, ``emb``, and ``pooled``, the same vector as
``emb``, for the methods that read a teacher's pooled feature: CRD, SP): the members' feature maps differ
in kind and size (frames, joints, 1-D windows), so a feature-map method is refused in one line
(:func:`vskd.models.features.teacher_taps`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vskd.errors import ConfigError
from vskd.models.hooks import FeatureRecorder

__all__ = ["FUSIONS", "FusionTeacher", "member_embedding_path"]

#: fusion mode -> what it does (teacher.fusion)
FUSIONS = {
    "ensemble": "fixed-weight mean of the members' logits (nothing trained)",
    "late": "learnt softmax weights on the members' logits",
    "feature": "members' embeddings concatenated -> MLP -> fc0 -> logits",
}


def member_embedding_path(model: nn.Module) -> str:
    """The module of a member whose output is its clip embedding: ``embedding`` (teachers) or ``fc0``
    (students)."""
    names = dict(model.named_modules())
    for path in ("embedding", "fc0"):
        if path in names:
            return path
    raise ConfigError(f"a fusion member ({type(model).__name__}) has neither an 'embedding' nor an 'fc0' module")


def _projection(in_dim: int, out_dim: int, seed: int) -> Tensor:
    """A fixed ``(out_dim, in_dim)`` map with orthonormal rows (columns when ``out_dim > in_dim``), scaled
    by ``sqrt(in_dim / out_dim)``: squared norms of isotropic inputs are kept in expectation."""
    g = torch.Generator().manual_seed(int(seed))
    a = torch.randn(max(in_dim, out_dim), min(in_dim, out_dim), generator=g, dtype=torch.float64)
    q, _ = torch.linalg.qr(a)  # orthonormal columns
    p = q.T if out_dim <= in_dim else q  # (out_dim, in_dim)
    return (p * math.sqrt(in_dim / out_dim)).float().contiguous()


class FusionTeacher(nn.Module):
    """Fuses trained members (module docstring). ``forward(views)``: ``views`` a mapping
    ``{member name: batch of that member's input}`` -> logits ``(B, C)``.

    Args:
        members: ``{name: model}`` in a fixed order; each returns logits ``(B, C)`` and has an
            ``embedding`` or ``fc0`` module (:func:`member_embedding_path`).
        num_classes: C (every member's logits must have it).
        fusion: ``"ensemble"``, ``"late"`` or ``"feature"``.
        weights: one positive weight per member (ensemble weights; late fusion's starting point).
        embed_dims: each member's embedding width ``D_i``.
        embed_dim: the fused embedding's width (``feature``: fc0; ``ensemble`` / ``late`` with
            ``embedding="project"``: the projection's).
        hidden: width of the feature-fusion MLP.
        dropout: after the MLP's ReLU (feature fusion).
        finetune: train the members too (default frozen).
        embedding: ``"project"`` or ``"concat"`` (ensemble / late only).
        seed: the projection's seed.
    """

    #: the features a distillation method may read on this teacher (features.teacher_taps uses it)
    #: ``pooled`` (what CRD and SP read from a single teacher: the vector before its classifier) is the
    #: same module as ``emb``: a fusion teacher has no separate pooled feature
    TEACHER_TAPS = {"logits": "", "emb": "embedding", "pooled": "embedding"}
    TAPS_NOTE = ("the fusion teacher has no feature maps (its members' maps are frames, joints or 1-D "
                 "windows of different sizes); use a method on logits / emb / pooled (kd, dask, rkd, crd, ...)")

    def __init__(self, members: Mapping[str, nn.Module], num_classes: int, fusion: str = "late",
                 weights: Sequence[float] | None = None, embed_dims: Sequence[int] | None = None,
                 embed_dim: int = 300, hidden: int = 512, dropout: float = 0.5, finetune: bool = False,
                 embedding: str = "project", seed: int = 0) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ConfigError(f"config key 'teacher.fusion': expected one of {', '.join(FUSIONS)}, got {fusion!r}")
        if embedding not in ("project", "concat"):
            raise ConfigError(f"config key 'teacher.fusion_embedding': expected project or concat, got {embedding!r}")
        if not members:
            raise ConfigError("a fusion teacher needs at least one member")
        self.names = tuple(members)
        self.members = nn.ModuleDict(dict(members))
        self.num_classes = int(num_classes)
        self.fusion = fusion
        self.finetune = bool(finetune)
        self.embedding_mode = embedding
        w = [1.0] * len(self.names) if weights is None else [float(x) for x in weights]
        if len(w) != len(self.names) or not all(math.isfinite(x) and x > 0 for x in w):
            raise ConfigError(f"fusion weights must be {len(self.names)} finite numbers > 0, got {list(w)}")
        w_t = torch.tensor(w, dtype=torch.float32) / sum(w)
        self.emb_paths = {n: member_embedding_path(m) for n, m in members.items()}
        dims = list(embed_dims) if embed_dims is not None else [self._infer_dim(m) for m in members.values()]
        self.embed_dims = tuple(int(d) for d in dims)
        total = sum(self.embed_dims)
        if fusion == "late":
            self.log_weights = nn.Parameter(w_t.log())
        else:
            self.register_buffer("fixed_weights", w_t)
        if fusion == "feature":
            self.mlp = nn.Sequential(nn.Linear(total, hidden), nn.ReLU(), nn.Dropout(dropout))
            self.fc0 = nn.Linear(hidden, embed_dim)
            self.embedding = nn.Identity()
            self.act = nn.ReLU()
            self.fc1 = nn.Linear(embed_dim, num_classes)
        else:
            self.embedding = nn.Identity()
            if embedding == "project":
                self.register_buffer("projection", _projection(total, embed_dim, seed))
        self.embed_dim = embed_dim if (fusion == "feature" or embedding == "project") else total
        if not self.finetune:
            for p in self.members.parameters():
                p.requires_grad_(False)
            self.members.eval()

    @staticmethod
    def _infer_dim(model: nn.Module) -> int:
        module = dict(model.named_modules())[member_embedding_path(model)]
        if isinstance(module, nn.Linear):
            return module.out_features
        dim = getattr(model, "embed_dim", None)
        if dim is None:
            raise ConfigError(f"cannot tell the embedding width of the fusion member {type(model).__name__}")
        return int(dim)

    def train(self, mode: bool = True) -> "FusionTeacher":
        """Train mode for the fusion head (and the members only when fine-tuned: frozen members stay in
        eval mode, their BatchNorm statistics and dropout fixed)."""
        super().train(mode)
        if not self.finetune:
            self.members.eval()
        return self

    def weights(self) -> Tensor:
        """The members' fusion weights ``(M,)`` summing to 1 (ensemble, late)."""
        if self.fusion == "late":
            return torch.softmax(self.log_weights, dim=0)
        return self.fixed_weights

    def member_outputs(self, views: Mapping[str, Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        """Each member's logits ``(B, C)`` and embedding ``(B, D_i)`` on its view."""
        if not isinstance(views, Mapping):
            raise ConfigError(f"the fusion teacher takes a dict of views {{{', '.join(self.names)}}}, got "
                              f"{type(views).__name__}")
        missing = [n for n in self.names if n not in views]
        if missing:
            raise ConfigError(f"the fusion teacher's input lacks the view of member {missing[0]!r} "
                              f"(has: {', '.join(views) or 'none'})")
        logits, embs = [], []
        grad = torch.is_grad_enabled() and self.finetune
        for name in self.names:
            member = self.members[name]
            # hooks for this call only (a deep copy of the teacher would not carry hooks held here)
            with torch.set_grad_enabled(grad), FeatureRecorder(member, {"emb": self.emb_paths[name]}) as rec:
                z = member(views[name])
            e = rec.features["emb"]
            if z.shape[-1] != self.num_classes:
                raise ConfigError(f"fusion member {name!r} gives {z.shape[-1]} logits, the teacher has "
                                  f"{self.num_classes} classes")
            logits.append(z)
            embs.append(e.flatten(1))
        return logits, embs

    def forward(self, views: Mapping[str, Tensor]) -> Tensor:
        logits, embs = self.member_outputs(views)
        cat = torch.cat(embs, dim=1)
        if self.fusion == "feature":
            emb = self.embedding(self.fc0(self.mlp(cat)))
            return self.fc1(self.act(emb))
        self.embedding(F.linear(cat, self.projection) if self.embedding_mode == "project" else cat)
        w = self.weights()
        return sum(w[i] * z for i, z in enumerate(logits))

    def extra_repr(self) -> str:
        return (f"members={list(self.names)}, fusion={self.fusion}, embed_dims={list(self.embed_dims)}, "
                f"finetune={self.finetune}")
