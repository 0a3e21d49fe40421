"""A skeleton teacher in closed form: MiniRocket features of the joint sequences and a ridge classifier.

The skeleton is a multivariate time series (J joints x 3 coordinates per frame, plus what
:func:`vskd.data.skeleton.skeleton_features` derives: velocities, bones), so the time-series
classifier that is hard to beat on the wrist signal applies to it as well: MiniRocket's fixed dilated
convolutions and PPV pooling (Dempster, Schmidt, Webb, KDD 2021; :mod:`vskd.models.minirocket`, equal
to aeon's transform) over the ``G * J * 3`` channels, the features standardised with the training
statistics, and a ridge regression of the +-1 one-vs-rest targets with its penalty chosen by
leave-one-out CV (:func:`vskd.models.minirocket.ridge_head`, scikit-learn's ``RidgeClassifierCV``, as
aeon's ``MiniRocketClassifier``). Nothing is learnt by gradient: :meth:`SkeletonMiniRocket.fit` on the
(unaugmented) training sequences is the whole training, and ``train-teacher`` calls it before its
(one, near-zero learning-rate) epoch, which only records the fitted teacher in ``best.pt``.

Network, input (B, L, J, 3) prepared joints (:func:`vskd.data.skeleton.prepare_skeleton`):

=============  ===========================================================  ====================
module         what it does                                                 output
=============  ===========================================================  ====================
(features)     joints [, velocities] [, bones], group-major channels        (B, G*J*3, L)
               [, each standardised with training statistics: channel_norm]
``rocket``     MiniRocket transform (fitted; features cached per sequence)  (B, F), F = 9 996
``scale``      standardisation with the training features' statistics       (B, F)
``fc0``        Linear(F, 300): the ridge scores s and -s in its first 2 K     (B, 300)
               units, the rest random projections with no weight in fc1
``embedding``  identity on fc0: the clip embedding (DASK's teacher side)    (B, 300)
``act``        ReLU                                                         (B, 300)
``fc1``        [I, -I, 0]: ReLU(s) - ReLU(-s) = s, the ridge decision values (B, K) logits
=============  ===========================================================  ====================

As for the other teachers the module ``embedding`` outputs the (B, 300) embedding and ``""`` the
logits, and ``TAPS`` names the pooled feature (``scale``); there are no intermediate maps, so the
methods that read teacher maps refuse this teacher at setup.

Measured (docs/results/teachers-skeleton.md): on UTD-MHAD cross-subject it is far above the temporal CNN
and ST-GCN teachers trained by gradient, and it trains in seconds.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vskd.data.skeleton import skeleton_features
from vskd.errors import ConfigError, DataError

__all__ = ["CHANNEL_NORMS", "SkeletonMiniRocket", "SkeletonRocket"]

#: ``teacher.channel_norm`` values (SkeletonMiniRocket's ``channel_norm``)
CHANNEL_NORMS = ("none", "train", "group")


class SkeletonMiniRocket(nn.Module):
    """MiniRocket + ridge over skeleton sequences (module docstring); ``teacher.arch: skeleton_minirocket``.

    ``fit(x (N, L, J, 3), labels (N,))`` on the training sequences, then ``forward(x (B, L, J, 3))`` ->
    logits (B, K). L must be at least 9 (MiniRocket's kernel length).

    Args:
        num_classes: K.
        num_joints: J (20 for Kinect v1).
        embed_dim: width of ``fc0`` / ``embedding`` (300; at least 2 K for the ridge head).
        features: input channel groups (``joints``, ``velocity``, ``bones``).
        num_features: MiniRocket features (rounded down to a multiple of 84 by the transform).
        seed: MiniRocket's channel-combination and bias draws.
        head_init: ``ridge`` (the closed-form head) or ``random`` (fit() fits the transform and the
            standardisation only: the head keeps PyTorch's random initialisation; the untrained-teacher
            control, whose features are those of the fitted teacher).
        channel_norm: ``none`` (the channels as :func:`~vskd.data.skeleton.skeleton_features` gives them)
            or ``train``: each input channel c standardised with the training sequences' statistics,
            (x_c - mean_c) / std_c over all their frames, fitted once by fit(). Unlike per-window
            z-scoring this keeps a joint's level (one scale for every recording), and it puts the groups
            on one scale: a velocity is about 1/20 of a position, so without it a kernel that sums
            positions and velocities reads the positions only (Rocket's and MiniRocket's biases are drawn
            from the data, but per kernel, not per channel). ``group``: no centring, and one scale per
            channel group (the std of all its channels and frames together), so the groups meet on
            one scale while the geometry inside a group (the joints' relative positions) is kept.
    """

    arch = "skeleton_minirocket"
    TAPS = {"pooled": "scale"}
    #: PPV features are step functions of the input (vskd export then checks top-1 agreement)
    step_features = True

    def __init__(self, num_classes: int, num_joints: int = 20, embed_dim: int = 300,
                 features: tuple[str, ...] = ("joints", "bones"), num_features: int = 10_000, seed: int = 0,
                 head_init: str = "ridge", channel_norm: str = "none") -> None:
        super().__init__()
        from vskd.models.minirocket import FeatureMemo
        from vskd.models.raw_students import Standardize

        if num_classes < 1 or num_joints < 1:
            raise ConfigError(f"num_classes and num_joints must be >= 1, got {num_classes}, {num_joints}")
        if head_init not in ("ridge", "random"):
            raise ConfigError(f"config key 'teacher.head_init': expected ridge or random, got {head_init!r}")
        self.head_init = head_init
        if 2 * num_classes > embed_dim and head_init == "ridge":
            raise ConfigError(f"config key 'teacher.embed_dim': the {self.arch} teacher's ridge head needs "
                              f"at least 2 x {num_classes} classes = {2 * num_classes} units, got {embed_dim}")
        self.num_classes = num_classes
        self.num_joints = num_joints
        self.embed_dim = embed_dim
        self.features = tuple(features)
        skeleton_features(torch.zeros(1, 2, num_joints, 3), self.features)  # one ConfigError for bad names
        self.seed = int(seed)
        self.in_channels = num_joints * 3 * len(self.features)
        if channel_norm not in CHANNEL_NORMS:
            raise ConfigError(f"config key 'teacher.channel_norm': expected one of {', '.join(CHANNEL_NORMS)}, "
                              f"got {channel_norm!r}")
        self.channel_norm = channel_norm
        if channel_norm != "none":  # filled in by fit(); saved with the checkpoint
            self.register_buffer("channel_mean", torch.zeros(self.in_channels, 1))
            self.register_buffer("channel_std", torch.ones(self.in_channels, 1))
        #: the ridge penalty fit() chose, for the record
        self.ridge_alpha: float | None = None
        self.rocket = self._make_transform(self.in_channels, num_features)
        self.feature_dim = self.rocket.num_features
        self.scale = Standardize(self.feature_dim)
        self.fc0 = nn.Linear(self.feature_dim, embed_dim)
        self.embedding = nn.Identity()
        self.act = nn.ReLU()
        self.fc1 = nn.Linear(embed_dim, num_classes)
        self._cache = FeatureMemo(4096)

    def _make_transform(self, in_channels: int, num_features: int) -> nn.Module:
        from vskd.models.minirocket import MiniRocketFeatures

        return MiniRocketFeatures(in_channels, num_features)

    def channels(self, x: Tensor) -> Tensor:
        """(B, L, J, 3) prepared joints -> (B, G*J*3, L): the series MiniRocket reads, group-major (all
        positions, then all velocities / bones), as the temporal CNN teacher orders its input."""
        if x.ndim != 4 or x.shape[2] != self.num_joints or x.shape[3] != 3:
            raise DataError(f"the {self.arch} teacher expects joints (B, L, {self.num_joints}, 3), "
                            f"got {tuple(x.shape)}")
        if x.shape[1] < self.rocket.min_length:
            raise ConfigError(f"config key 'teacher.input.skeleton_length': {x.shape[1]} frames is shorter than "
                              f"the transform's kernels ({self.rocket.min_length} frames)")
        b, length, j, _ = x.shape
        feats = skeleton_features(x, self.features).reshape(b, length, j, len(self.features), 3)
        seq = feats.transpose(2, 3).flatten(2).transpose(1, 2).contiguous()
        if self.channel_norm != "none":
            seq = (seq - self.channel_mean) / self.channel_std
        return seq

    def fit(self, x: Tensor, labels: Tensor) -> None:
        """Fit the transform and the standardisation on training sequences ``x`` (N, L, J, 3) and the ridge
        head on their ``labels`` (N,) (-1: an unlabelled sequence, used by the standardisation only)."""
        from vskd.models.minirocket import ridge_head

        if labels is None or len(labels) != len(x):
            raise ConfigError(f"the {self.arch} teacher's fit() needs the training labels, one per sequence")
        with torch.no_grad():
            if self.channel_norm != "none":  # the channels unscaled, their statistics, then scaled
                self.channel_mean.zero_()
                self.channel_std.fill_(1.0)
            seq = self.channels(x)
            if self.channel_norm == "train":
                self.channel_mean.copy_(seq.mean(dim=(0, 2)).unsqueeze(1))
                std = seq.std(dim=(0, 2)).unsqueeze(1)
            elif self.channel_norm == "group":  # one scale per channel group, no centring
                g = len(self.features)
                std = seq.reshape(seq.shape[0], g, -1, seq.shape[2]).transpose(0, 1).reshape(g, -1).std(dim=1)
                std = std.repeat_interleave(self.in_channels // g).unsqueeze(1)
            if self.channel_norm != "none":
                # a constant channel (the root's bone is 0) keeps its scale: (x - mean) / 1 = 0
                self.channel_std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))
                seq = (seq - self.channel_mean) / self.channel_std
            self.rocket.fit(seq, seed=self.seed)
            feats = self.rocket(seq)  # in slices of windows (MiniRocketFeatures.CHUNK_ELEMENTS)
            self._cache.store(self.rocket, seq, feats)
            self.scale.fit(feats)
            if self.head_init == "random":
                return
            known = labels >= 0
            self.ridge_alpha = ridge_head(self.fc0, self.fc1, self.scale(feats)[known], labels[known])

    def transform(self, seq: Tensor) -> Tensor:
        """MiniRocket features of ``seq`` (B, C, L), kept per sequence while the transform is unchanged
        (:class:`~vskd.models.minirocket.FeatureMemo`: an unaugmented view is the same every epoch)."""
        return self._cache.features(self.rocket, seq)

    def forward(self, x: Tensor) -> Tensor:
        if not self.rocket.fitted:
            raise ConfigError("the skeleton_minirocket teacher is not fitted: fit() it on the training sequences "
                              "(train-teacher does) or load a trained checkpoint")
        z = self.embedding(self.fc0(self.scale(self.transform(self.channels(x)))))
        return self.fc1(self.act(z))


class SkeletonRocket(SkeletonMiniRocket):
    """Rocket in place of MiniRocket over the same joint channels (``teacher.arch: skeleton_rocket``):
    10 000 random kernels (:class:`vskd.models.rocket.RocketFeatures`, aeon's Rocket draw; each kernel
    reads a random subset of the channels), PPV and max of each response -> 20 000 features, then the
    same standardisation and ridge head. Unlike aeon's Rocket (and the rocket wrist student) the channels
    are not z-scored per window: the joints are already hip-centred and scaled by the body
    (:func:`vskd.data.skeleton.prepare_skeleton`), and their level is information. On the wrist, Rocket is 3.7 points above MiniRocket on UTD-MHAD
    cross-subject (docs/results/utd-mhad-v2-rocket/); whether that carries to the joints is measured in
    docs/results/teachers-skeleton.md section 6. ``num_features``: Rocket features (two per kernel)."""

    arch = "skeleton_rocket"

    def __init__(self, num_classes: int, num_joints: int = 20, embed_dim: int = 300,
                 features: tuple[str, ...] = ("joints", "bones"), num_features: int = 20_000, seed: int = 0,
                 head_init: str = "ridge", channel_norm: str = "none") -> None:
        super().__init__(num_classes, num_joints, embed_dim, features, num_features, seed, head_init, channel_norm)

    def _make_transform(self, in_channels: int, num_features: int) -> nn.Module:
        from vskd.models.rocket import RocketFeatures

        if num_features < 2 or num_features % 2:
            raise ConfigError(f"the skeleton_rocket teacher's num_features must be an even number >= 2 (two per "
                              f"kernel), got {num_features}")
        # no per-window z-scoring of each channel (aeon's Rocket default, kept by the wrist student): a joint
        # coordinate's level is where that joint is relative to the hip, which is what tells the actions
        # apart (two leave-one-subject-out folds of the training subjects, seed 0: 85.2 / 98.1 % with and
        # without it on fold 7; docs/results/teachers-skeleton.md section 6)
        return RocketFeatures(in_channels, num_features // 2, normalise=False)
