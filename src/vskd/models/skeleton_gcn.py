"""A compact spatial-temporal graph convolutional network (ST-GCN) teacher on Kinect joints.

ST-GCN (Yan, Xiong and Lin, "Spatial Temporal Graph Convolutional Networks for Skeleton-Based Action
Recognition", AAAI 2018) convolves over the skeleton graph within each frame and along time for each
joint. This is its compact form for UTD-MHAD's Kinect v1 skeleton (20 joints, the 19 bones of
:data:`vskd.data.skeleton.KINECT_V1_EDGES`), registered as ``teacher.arch: skeleton_gcn`` beside the
temporal CNN (``skeleton``). Input: the same prepared (B, L, J, 3) joints
(:func:`vskd.data.skeleton.prepare_skeleton`), so checkpoints, views and caches are shared.

**Graph** (:func:`spatial_graph`): the spatial-configuration partitioning of the paper, K = 3 subsets
of each joint's 1-neighbourhood (itself included) by hop distance r to the centre joint (the spine):
the neighbours at the same distance as the joint (the joint itself), those nearer the centre
(centripetal) and those farther (centrifugal). Each A_k is normalised as in the reference code,
(``A D^{-1}``: divided by the degree of the sending joint in the 1-neighbourhood, self-loop included), and multiplied
element-wise by a learnt edge-importance mask M_k (initialised to 1).

**Unit** (:class:`STGCNUnit`), x (B, C, T, V):
``gcn``: 1x1 conv to K*C' channels, then y_w = sum_k sum_v x_{k,v} (A_k ∘ M_k)_{v,w};
``tcn``: BN, ReLU, Conv (k_t x 1, stride s along time), BN, dropout; plus a residual (identity, or a
1x1 conv with stride s and BN when the shape changes; none in the first unit); ReLU.

**Network** (:class:`SkeletonGCN`), width w:

==============  ==============================================================  ==================
module          what it does                                                    output
==============  ==============================================================  ==================
(features)      joints [, velocities, bones] (:func:`skeleton_features`)          (B, 3G, L, J)
``data_bn``     BatchNorm1d over the J*3G channels (ST-GCN's data BN)            (B, 3G, L, J)
``block1``      ST-GCN unit, w channels, no residual                            (B, w, L, J)
``block2``      ST-GCN unit, w channels                                         (B, w, L, J)
``block3``      ST-GCN unit, 2w channels, stride 2                              (B, 2w, L/2, J)
``block4``      ST-GCN unit, 2w channels, stride 2                              (B, 2w, L/4, J)
``pool``        mean over time and joints                                       (B, 2w, 1, 1)
``dropout``     p = dropout                                                     (B, 2w)
``fc0``         Linear(2w, 300), no activation: the embedding                   (B, 300)
``embedding``   identity on fc0 (DASK's teacher side)                           (B, 300)
``act``, ``fc1``  ReLU, Linear(300, C)                                           (B, C) logits
==============  ==============================================================  ==================

The teacher contract is :class:`~vskd.models.skeleton.SkeletonTeacher`'s: ``embedding`` (B, 300) before
any activation, ``""`` the logits; ``pooled`` and the maps ``block1..4`` ((B, C, T, J): time x joints, a
2-D map the feature-map methods take as they take a CNN's) are named in :attr:`SkeletonGCN.TAPS`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from vskd.data.skeleton import DEFAULT_FEATURES, KINECT_V1_EDGES, SPINE, skeleton_features
from vskd.errors import ConfigError

__all__ = ["STGCNUnit", "SkeletonGCN", "spatial_graph"]


def spatial_graph(num_joints: int, edges: Sequence[tuple[int, int]], centre: int) -> np.ndarray:
    """ST-GCN's spatial-configuration adjacency, (3, J, J) float32 (module docstring): ``[0]`` the
    joints at the same hop distance to ``centre`` as the receiving joint (itself), ``[1]`` the nearer
    ones, ``[2]`` the farther ones; entry (v, w) is what joint v sends to joint w, normalised by the
    degree of v (self-loop included).

    Raises:
        ConfigError: an edge or the centre out of range, or a graph in which some joint cannot be reached
            from the centre.
    """
    adj = np.eye(num_joints)
    for a, b in edges:
        if not (0 <= a < num_joints and 0 <= b < num_joints):
            raise ConfigError(f"skeleton graph edge {(a, b)} out of range for {num_joints} joints")
        adj[a, b] = adj[b, a] = 1.0
    if not 0 <= centre < num_joints:
        raise ConfigError(f"skeleton graph centre {centre} out of range for {num_joints} joints")
    hop = np.full(num_joints, np.inf)
    hop[centre], frontier, d = 0, [centre], 0
    while frontier:  # breadth-first hop distances
        d += 1
        nxt = [w for v in frontier for w in np.flatnonzero(adj[v]) if hop[w] == np.inf]
        for w in nxt:
            hop[w] = d
        frontier = list(dict.fromkeys(nxt))
    if np.isinf(hop).any():
        raise ConfigError(f"skeleton graph: joints {np.flatnonzero(np.isinf(hop)).tolist()} are not connected "
                          f"to the centre joint {centre}")
    norm = adj / adj.sum(axis=0, keepdims=True)  # A D^{-1}: column w divided by w's degree (symmetric A)
    out = np.zeros((3, num_joints, num_joints))
    for v in range(num_joints):
        for w in range(num_joints):
            if adj[v, w]:
                k = 0 if hop[v] == hop[w] else (1 if hop[v] < hop[w] else 2)
                out[k, v, w] = norm[v, w]
    return out.astype(np.float32)


class STGCNUnit(nn.Module):
    """One spatial graph convolution followed by one temporal convolution, with a residual (module
    docstring). ``forward(x)``: (B, C_in, T, V) -> (B, C_out, ceil(T / stride), V)."""

    def __init__(self, in_ch: int, out_ch: int, graph: torch.Tensor, kernel: int = 9, stride: int = 1,
                 dropout: float = 0.0, residual: bool = True) -> None:
        super().__init__()
        if kernel < 1 or kernel % 2 == 0:
            raise ConfigError(f"ST-GCN temporal kernel must be odd and >= 1, got {kernel}")
        self.num_subsets = graph.shape[0]
        self.register_buffer("graph", graph.clone(), persistent=False)
        self.importance = nn.Parameter(torch.ones_like(graph))
        self.gcn = nn.Conv2d(in_ch, out_ch * self.num_subsets, 1)
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_ch),
            nn.ReLU(),
            nn.Conv2d(out_ch, out_ch, (kernel, 1), stride=(stride, 1), padding=(kernel // 2, 0)),
            nn.BatchNorm2d(out_ch),
            nn.Dropout(dropout),
        )
        if not residual:
            self.residual = None
        elif in_ch == out_ch and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=(stride, 1)), nn.BatchNorm2d(out_ch))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, t, v = x.shape
        y = self.gcn(x).view(b, self.num_subsets, -1, t, v)
        y = torch.einsum("bkctv,kvw->bctw", y, self.graph * self.importance)
        y = self.tcn(y)
        if self.residual is not None:
            y = y + self.residual(x)
        return self.relu(y)


class SkeletonGCN(nn.Module):
    """Compact ST-GCN teacher (module docstring).

    ``forward(x)``: x (B, L, J, 3) prepared joints -> logits (B, C); any L >= 4 (two stride-2 units).

    Args:
        num_classes: C.
        num_joints: J (20 for Kinect v1; ``edges`` must match).
        embed_dim: width of ``fc0`` / ``embedding`` (300).
        width: channels w of ``block1`` / ``block2`` (``block3`` / ``block4``: 2w).
        dropout: before ``fc0``; ``unit_dropout`` inside each unit's temporal convolution.
        features: input channel groups (:func:`vskd.data.skeleton.skeleton_features`).
        temporal_kernel: odd k_t of the temporal convolutions (ST-GCN: 9).
        edges, centre: the skeleton graph (Kinect v1 bones, spine as the centre).
    """

    arch = "skeleton_gcn"
    #: feature name -> module path (:func:`vskd.models.features.teacher_taps`)
    TAPS = {"pooled": "pool", "block1": "block1", "block2": "block2", "block3": "block3", "block4": "block4"}

    def __init__(self, num_classes: int, num_joints: int = 20, embed_dim: int = 300, width: int = 64,
                 dropout: float = 0.5, features: Sequence[str] = DEFAULT_FEATURES, temporal_kernel: int = 9,
                 unit_dropout: float = 0.0, edges: Sequence[tuple[int, int]] = KINECT_V1_EDGES,
                 centre: int = SPINE) -> None:
        super().__init__()
        if num_classes < 1:
            raise ConfigError(f"num_classes must be >= 1, got {num_classes}")
        for name, p in (("dropout", dropout), ("unit_dropout", unit_dropout)):
            if not 0.0 <= p < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {p}")
        if width < 1 or embed_dim < 1 or num_joints < 1:
            raise ConfigError(f"width, embed_dim and num_joints must be >= 1, got {width}, {embed_dim}, {num_joints}")
        self.num_classes, self.num_joints, self.embed_dim = num_classes, num_joints, embed_dim
        self.features = tuple(features)
        skeleton_features(torch.zeros(1, 2, num_joints, 3), self.features)  # one ConfigError for bad names
        in_ch = 3 * len(self.features)
        graph = torch.from_numpy(spatial_graph(num_joints, edges, centre))
        self.data_bn = nn.BatchNorm1d(in_ch * num_joints)
        k, p = temporal_kernel, unit_dropout
        self.block1 = STGCNUnit(in_ch, width, graph, k, 1, p, residual=False)
        self.block2 = STGCNUnit(width, width, graph, k, 1, p)
        self.block3 = STGCNUnit(width, 2 * width, graph, k, 2, p)
        self.block4 = STGCNUnit(2 * width, 2 * width, graph, k, 2, p)
        self.feature_dim = 2 * width
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc0 = nn.Linear(self.feature_dim, embed_dim)
        self.embedding = nn.Identity()
        self.act = nn.ReLU()
        self.fc1 = nn.Linear(embed_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[2] != self.num_joints or x.shape[3] != 3 or x.shape[1] < 4:
            raise ConfigError(f"SkeletonGCN expects joints (B, L >= 4, {self.num_joints}, 3), got {tuple(x.shape)}")
        f = skeleton_features(x, self.features)  # (B, L, J, C)
        b, t, v, c = f.shape
        f = self.data_bn(f.permute(0, 2, 3, 1).reshape(b, v * c, t))  # channels (joint, coordinate)
        h = f.view(b, v, c, t).permute(0, 2, 3, 1).contiguous()  # (B, C, T, V)
        h = self.block4(self.block3(self.block2(self.block1(h))))
        z = self.embedding(self.fc0(self.dropout(self.pool(h).flatten(1))))
        return self.fc1(self.act(z))
