"""Multi-scale Temporal Relation Network (TRN) head and the VSKD video teacher.

Zhou, Andonian, Oliva, Torralba, "Temporal Relational Reasoning in Videos", ECCV 2018; reference code
``TRNmodule.py`` (``RelationModuleMultiScale``) of zhoubolei/TRN-pytorch, on the TSN training recipe
(Wang et al., "Temporal Segment Networks", ECCV 2016).

For K segment features f_1..f_K (each ``embed_dim``-d, in temporal order), the multi-scale relation is

    T(V) = sum_{k=K..2} sum_{(i_1 < ... < i_k) in S_k} g_k([f_{i_1}; ...; f_{i_k}])

with one MLP per scale, g_k = Linear(256, C) . ReLU . Linear(k * embed_dim, 256) . ReLU (the leading
ReLU acts on the fc0 features, which have none). S_K is the one full tuple; for k < K, S_k holds
m = min(``subsets_per_scale``, C(K, k)) of the C(K, k) ordered subsets. TRN redraws S_k at random on
every forward pass; so do we in training, from the head's own seeded ``torch.Generator``.

Evaluation is deterministic: it uses *every* subset, each scale weighted by m / C(K, k),

    T_eval(V) = sum_k (m_k / C(K, k)) sum_{all k-subsets s} g_k(f_s) = E_{S_k}[ T(V) ],

the exact expectation of the training-time output over the random draws (like dropout's rescaling at
test time). It uses all the relations the clip has, keeps logits on the scale seen in training (which
matters for KD with temperature), and depends on nothing random. The authors redraw at test time too,
which makes their test accuracy random; summing all subsets unweighted would inflate scale k by
C(K, k) / m. For K = 8 evaluation costs 247 small MLP rows per clip instead of 19.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from vskd.errors import ConfigError
from vskd.models.backbones import build_backbone

#: Hidden width of each scale's MLP (TRN's ``num_bottleneck``).
RELATION_HIDDEN = 256


class SegmentMean(nn.Module):
    """(B, K, D) -> (B, D): the mean over segments (the teacher's clip embedding, hookable by name)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1)


class MultiScaleRelation(nn.Module):
    """Multi-scale TRN head: (B, K, D) segment features -> (B, C) logits (see module docstring).

    Attributes: ``scales`` (K, K-1, ..., 2), ``draws`` (m_k per scale), ``fc_fusion_scales`` (one
    ``Sequential(ReLU, Linear, ReLU, Linear)`` per scale, TRN's naming), ``generator`` (seeded with
    ``seed``; :meth:`reseed` restarts it) and ``last_relations`` (the subsets the last forward used, per
    scale: drawn ones in training, all of them in evaluation).
    """

    def __init__(self, num_segments: int, in_dim: int, num_classes: int, hidden_dim: int = RELATION_HIDDEN,
                 subsets_per_scale: int = 3, seed: int = 0) -> None:
        super().__init__()
        if num_segments < 2:
            raise ConfigError(f"num_segments must be >= 2 for a temporal relation head, got {num_segments}")
        if subsets_per_scale < 1:
            raise ConfigError(f"subsets_per_scale must be >= 1, got {subsets_per_scale}")
        self.num_segments = num_segments
        self.in_dim = in_dim
        self.num_classes = num_classes
        self.scales = list(range(num_segments, 1, -1))
        self.draws: list[int] = []
        self.fc_fusion_scales = nn.ModuleList()
        for k in self.scales:
            subsets = torch.tensor(list(itertools.combinations(range(num_segments), k)), dtype=torch.long)
            self.register_buffer(f"subsets_{k}", subsets, persistent=False)
            self.draws.append(1 if k == num_segments else min(subsets_per_scale, subsets.shape[0]))
            self.fc_fusion_scales.append(nn.Sequential(
                nn.ReLU(), nn.Linear(k * in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, num_classes)))
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.last_relations: list[list[tuple[int, ...]]] = []

    def reseed(self, seed: int | None = None) -> None:
        """Restart the subset generator (from ``seed``, default the construction seed)."""
        self.generator.manual_seed(self.seed if seed is None else seed)

    def get_extra_state(self) -> dict:
        """The subset generator's state travels in the state_dict, so a resumed run draws as an uninterrupted one."""
        return {"generator": self.generator.get_state()}

    def set_extra_state(self, state: dict) -> None:
        if isinstance(state, dict) and "generator" in state:
            self.generator.set_state(state["generator"])

    def subsets(self, k: int) -> torch.Tensor:
        """All C(K, k) ordered k-subsets of segment indices, (C(K, k), k)."""
        return getattr(self, f"subsets_{k}")

    def relations_per_forward(self) -> int:
        """Relations summed in one training forward: 1 + sum over scales k < K of m_k."""
        return sum(self.draws)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[1] != self.num_segments or x.shape[2] != self.in_dim:
            raise ConfigError(f"relation head expects (B, {self.num_segments}, {self.in_dim}) segment features, "
                              f"got {tuple(x.shape)}")
        out = x.new_zeros(x.shape[0], self.num_classes)
        used: list[list[tuple[int, ...]]] = []
        for k, m, mlp in zip(self.scales, self.draws, self.fc_fusion_scales):
            subsets = self.subsets(k)
            n = subsets.shape[0]
            weight = 1.0
            if self.training and n > m:
                pick = torch.randperm(n, generator=self.generator)[:m].sort().values
                subsets = subsets[pick.to(subsets.device)]
            elif not self.training:
                weight = m / n
            rel = x[:, subsets].flatten(2)  # (B, s, k * D), each row one ordered k-subset concatenated
            out = out + weight * mlp(rel).sum(dim=1)
            used.append([tuple(int(i) for i in s) for s in subsets.tolist()])
        self.last_relations = used
        return out


class VideoTeacher(nn.Module):
    """The VSKD teacher: per-frame backbone -> dropout -> fc0 -> multi-scale TRN.

    ``forward(clip)``: clip (B, K, 3, H, W) RGB in [0, 1] -> logits (B, num_classes). Submodules:
    ``backbone`` (per-frame, its own input normalisation, output (B*K, feature_dim)), ``dropout``,
    ``fc0`` (``Linear(feature_dim, embed_dim)`` per frame, init N(0, 0.001^2), bias 0, output
    (B*K, embed_dim)), ``embedding`` (mean of fc0 over segments, (B, embed_dim), the clip embedding
    DASK uses; it does not feed the logits) and ``relation`` (:class:`MultiScaleRelation`).

    Partial BN (TSN): with ``partial_bn`` every BatchNorm of the backbone except the first stays in
    eval mode (running statistics frozen) and its affine parameters have ``requires_grad=False``
    while the model trains; see :meth:`train`. ``pretrained`` is a local weights file for the backbone
    (see :mod:`vskd.models.backbones`); ``seed`` seeds the relation-subset generator.

    Relations: in training each scale k < K draws ``subsets_per_scale`` random ordered subsets per
    forward from the head's seeded generator; in evaluation every subset is used with weight
    m / C(K, k), the expectation of the training output, so eval is deterministic (module docstring).

    Frozen backbone (``frozen_backbone``): the backbone's parameters get ``requires_grad=False`` and
    it stays in eval mode (BatchNorm running statistics, no dropout) whatever :meth:`train` is asked;
    only ``fc0`` and ``relation`` train. Its per-frame features are then a fixed function of the
    frame, so they can be computed once and cached (:mod:`vskd.data.features`): ``forward`` also
    takes such features, ``(B, K, feature_dim)``, and runs only dropout -> fc0 -> TRN on them
    (:meth:`forward_features`), the same computation as on the frames they came from.
    """

    def __init__(self, num_classes: int, backbone: str = "bninception", num_segments: int = 8,
                 embed_dim: int = 300, dropout: float = 0.5, subsets_per_scale: int = 3,
                 partial_bn: bool = True, pretrained: str | Path | None = None, seed: int = 0,
                 frozen_backbone: bool = False) -> None:
        super().__init__()
        if num_classes < 1:
            raise ConfigError(f"num_classes must be >= 1, got {num_classes}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
        self.num_classes = num_classes
        self.num_segments = num_segments
        self.embed_dim = embed_dim
        self.backbone_name = backbone
        self.backbone, self.feature_dim = build_backbone(backbone, pretrained)
        self.dropout = nn.Dropout(dropout)
        self.fc0 = nn.Linear(self.feature_dim, embed_dim)
        nn.init.normal_(self.fc0.weight, 0.0, 0.001)
        nn.init.zeros_(self.fc0.bias)
        self.embedding = SegmentMean()
        self.relation = MultiScaleRelation(num_segments, embed_dim, num_classes,
                                           subsets_per_scale=subsets_per_scale, seed=seed)
        self.partial_bn = partial_bn
        # the BatchNorm layers that train (the first one under partial BN, all otherwise) re-estimate
        # their statistics with PyTorch's momentum 0.1. EfficientNet's own 0.01 (TensorFlow's decay
        # 0.99) keeps the ImageNet statistics in the running averages for thousands of steps: after a
        # short fine-tuning on depth frames the teacher was at chance in eval mode (measured on UTD-MHAD).
        for bn in self.batchnorms():
            bn.momentum = 0.1
        self.frozen_backbone = bool(frozen_backbone)
        if self.frozen_backbone:
            self.backbone.requires_grad_(False)
        self.train(True)

    def batchnorms(self) -> list[nn.modules.batchnorm._BatchNorm]:
        """The backbone's BatchNorm layers in registration order (the first is the one partial BN trains)."""
        return [m for m in self.backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def set_partial_bn(self, enabled: bool) -> None:
        """Switch partial BN; disabling gives the frozen layers their ``requires_grad`` back."""
        self.partial_bn = enabled
        if not enabled:
            for bn in self.batchnorms():
                for p in bn.parameters():
                    p.requires_grad_(True)
        self.train(self.training)

    def train(self, mode: bool = True) -> "VideoTeacher":
        """``nn.Module.train``, then (partial BN, training) freeze every backbone BN except the first;
        a frozen backbone stays in eval mode."""
        super().train(mode)
        if getattr(self, "frozen_backbone", False):
            self.backbone.eval()
            return self
        if self.partial_bn and mode:
            for bn in self.batchnorms()[1:]:
                bn.eval()
                for p in bn.parameters():
                    p.requires_grad_(False)
        return self

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        """Clip ``(B, K, 3, H, W)`` RGB in [0, 1] -> logits; or per-frame backbone features ``(B, K, D)``
        (a frozen backbone's cached output) -> the same logits through :meth:`forward_features`."""
        if clip.ndim == 3:
            return self.forward_features(clip)
        if clip.ndim != 5 or clip.shape[1] != self.num_segments or clip.shape[2] != 3:
            raise ConfigError(f"VideoTeacher expects clips (B, num_segments={self.num_segments}, 3, H, W) or "
                              f"backbone features (B, {self.num_segments}, {self.feature_dim}), got {tuple(clip.shape)}")
        b, k = clip.shape[:2]
        feats = self.backbone(clip.flatten(0, 1))  # (B*K, feature_dim)
        return self._head(feats, b, k)

    def forward_features(self, feats: torch.Tensor) -> torch.Tensor:
        """Per-frame backbone features ``(B, K, feature_dim)`` -> logits: dropout -> fc0 -> TRN (the part
        of :meth:`forward` after the backbone). The ``embedding`` and ``fc0`` hooks fire as on clips."""
        if feats.ndim != 3 or feats.shape[1] != self.num_segments or feats.shape[2] != self.feature_dim:
            raise ConfigError(f"VideoTeacher expects backbone features (B, {self.num_segments}, {self.feature_dim}), "
                              f"got {tuple(feats.shape)}")
        b, k = feats.shape[:2]
        return self._head(feats.flatten(0, 1), b, k)

    def _head(self, feats: torch.Tensor, b: int, k: int) -> torch.Tensor:
        z = self.fc0(self.dropout(feats)).view(b, k, self.embed_dim)
        self.embedding(z)  # computed for hooks (DASK's clip embedding); the logits come from the relations
        return self.relation(z)


def tsn_param_groups(model: nn.Module, lr: float, weight_decay: float, fc_lr5: bool = False,
                     new_modules: Sequence[str] = ("fc0", "relation")) -> list[dict]:
    """Optimizer parameter groups with TSN's learning-rate and weight-decay multipliers.

    ======================  =======  =========  ===============================================
    group                   lr mult  decay mult  parameters
    ======================  =======  =========  ===============================================
    ``first_conv_weight``   1        1          weight of the first convolution
    ``first_conv_bias``     2        0          its bias
    ``normal_weight``       1        1          other conv / linear weights
    ``normal_bias``         2        0          other conv / linear biases
    ``bn``                  1        0          trainable norm-layer affine parameters
    ``new_weight``          5        1          weights under ``new_modules``, only if ``fc_lr5``
    ``new_bias``            10       0          biases under ``new_modules``, only if ``fc_lr5``
    ======================  =======  =========  ===============================================

    This is ``get_optim_policies`` of TSN and TRN (their RGB models): the new layers (fc0 and the
    relation MLPs) count as normal layers, so TRN and VSKD train them at x1 / x2. The x5 / x10 option
    for new layers is TSM's ``--fc_lr5`` (fine-tuning from a video-pretrained backbone), off by default.
    Parameters with ``requires_grad=False`` (partial BN's frozen layers) are left out, as in TSN.
    Each group carries ``name``, ``lr``, ``weight_decay``, ``lr_mult`` and ``decay_mult``; empty groups
    are omitted.
    """
    spec = {"first_conv_weight": (1, 1), "first_conv_bias": (2, 0), "normal_weight": (1, 1),
            "normal_bias": (2, 0), "bn": (1, 0), "new_weight": (5, 1), "new_bias": (10, 0)}
    groups: dict[str, list[nn.Parameter]] = {name: [] for name in spec}
    norm_types = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)
    seen_conv = False
    for mod_name, mod in model.named_modules():
        is_conv = isinstance(mod, nn.modules.conv._ConvNd)
        first = is_conv and not seen_conv
        seen_conv = seen_conv or is_conv
        new = fc_lr5 and any(mod_name == n or mod_name.startswith(n + ".") for n in new_modules)
        for p_name, p in mod.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            is_bias = p_name == "bias" or p.ndim == 1
            if isinstance(mod, norm_types):
                groups["bn"].append(p)
            elif first:
                groups["first_conv_bias" if is_bias else "first_conv_weight"].append(p)
            elif new:
                groups["new_bias" if is_bias else "new_weight"].append(p)
            else:
                groups["normal_bias" if is_bias else "normal_weight"].append(p)
    out = []
    for name, params in groups.items():
        if params:
            lr_mult, decay_mult = spec[name]
            out.append({"name": name, "params": params, "lr": lr * lr_mult,
                        "weight_decay": weight_decay * decay_mult, "lr_mult": lr_mult, "decay_mult": decay_mult})
    return out


def relation_count(num_segments: int, subsets_per_scale: int = 3) -> tuple[int, int]:
    """(relations per training forward, relations evaluated at test time) for K = ``num_segments``."""
    train = 1 + sum(min(subsets_per_scale, math.comb(num_segments, k)) for k in range(num_segments - 1, 1, -1))
    return train, sum(math.comb(num_segments, k) for k in range(num_segments, 1, -1))
