"""A depth teacher in closed form: frozen ImageNet features of depth motion maps and a ridge classifier.

The depth video of a clip, cut to the person's box (``teacher.input.person_crop: foreground``), becomes
a temporal pyramid of depth motion maps (:func:`vskd.data.motion.depth_motion_maps`, Chen et al.;
``teacher.input.dmm_segments``, e.g. ``[3, 5, 8]``: the maps of 3, 5 and 8 equal segments, 16 images
of 3 views each). Each view of each image -- front, side, top; one grey picture of where the body
moved in that segment -- goes through a frozen ImageNet backbone (EfficientNet-Lite0 from the wheel by
default; grey repeated to RGB), whose pooled features (1280-d) are concatenated in order
(image-major, then view) into one vector of ``F = 3 * N * D`` features (61 440 for 16 images). The
rest is the closed-form head of the skeleton teacher (:mod:`vskd.models.skeleton_rocket`): the
features standardised with the training statistics, and a ridge regression of the +-1 one-vs-rest
targets with its penalty chosen by leave-one-out CV (:func:`vskd.models.minirocket.ridge_head`,
scikit-learn's ``RidgeClassifierCV``). Nothing is learnt by gradient: :meth:`DMMRidgeTeacher.fit` on
the training clips is the whole training; ``train-teacher`` then writes the checkpoint after one
validation pass (no parameter has a gradient).

This is the probe of docs/results/teachers-depth-dmm.md made a vskd teacher (``teacher.arch:
dmm_ridge``): there it reached CV 79.1 % and test 84.2 % on UTD-MHAD cross-subject with ``[3, 5, 8]``
at 160 px, where the cached frame-feature TRN teacher reached 58.3 %.

=============  ===========================================================  ====================
module         what it does                                                 output
=============  ===========================================================  ====================
``backbone``   frozen per-view CNN (eval mode), each of the 3 N grey views  (B * 3 N, D)
               (features cached on disk per clip: ``feature_store``)
``scale``      standardisation with the training features' statistics       (B, F), F = 3 N D
``fc0``        Linear(F, 300): the ridge scores s and -s in its first 2 K     (B, 300)
               units, the rest random projections with no weight in fc1
``embedding``  identity on fc0: the clip embedding (DASK's teacher side)    (B, 300)
``act``        ReLU                                                         (B, 300)
``fc1``        [I, -I, 0]: ReLU(s) - ReLU(-s) = s, the ridge decision values (B, K) logits
=============  ===========================================================  ====================

**Feature cache.** The backbone is the expensive part (48 views a clip at 160 px: about 1 s on one
core). With ``feature_store`` set (an :class:`~vskd.data.cache.ArrayCache`; the engine sets it from
``data.cache_dir``) the ``(3 N, D)`` features of each clip are stored under ``"dmm-features"``, keyed
by a digest of the clip's input bytes and of the backbone (name, a digest of its weights,
:func:`vskd.models.weights.state_digest`, feature width): the fit, the validation and test passes,
every cross-validation fold and the teacher-output cache of ``distill`` encode each clip once, and
features of other weights, another backbone or other maps are never read. An in-memory memo keeps
the clips of the current process as well.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor, nn

from vskd.errors import ConfigError, DataError

__all__ = ["DMMRidgeTeacher", "FEATURE_NAMESPACE"]

#: the cache namespace of the backbone features (one entry per clip)
FEATURE_NAMESPACE = "dmm-features"
#: bumped whenever the features an entry holds change for the same key
FEATURES_VERSION = 1
#: clips whose features the in-memory memo keeps (about 0.25 MB each for 16 maps of EfficientNet-Lite0)
MEMO_CLIPS = 1024


class DMMRidgeTeacher(nn.Module):
    """Frozen backbone over depth motion maps + standardisation + ridge head (module docstring);
    ``teacher.arch: dmm_ridge``.

    ``fit(batches, labels)`` with the training clips' unaugmented views (an iterable of float
    ``(B, N, 3, S, S)`` tensors in [0, 1], or one such tensor), then ``forward(x (B, N, 3, S, S))`` ->
    logits (B, K).

    Args:
        num_classes: K.
        num_images: N, DMM images per clip (``sum(teacher.input.dmm_segments)``).
        backbone: a name of :func:`vskd.models.backbones.build_backbone`.
        pretrained: its ImageNet weights (``"package"`` for EfficientNet-Lite0, else a local file; None:
            random weights, a control).
        embed_dim: width of ``fc0`` / ``embedding`` (at least 2 K for the ridge head).
        head_init: ``ridge`` (the closed-form head) or ``random`` (fit() fits the standardisation only;
            the head keeps PyTorch's random initialisation: the untrained-teacher control).
        seed: the random initialisation of ``fc0``'s unused units and of a ``random`` head.
        chunk: views per backbone forward (memory).
    """

    arch = "dmm_ridge"
    TAPS = {"pooled": "scale"}

    def __init__(self, num_classes: int, num_images: int, backbone: str = "efficientnet_lite0",
                 pretrained: str | None = "package", embed_dim: int = 300, head_init: str = "ridge",
                 seed: int = 0, chunk: int = 96) -> None:
        super().__init__()
        from vskd.models.backbones import build_backbone
        from vskd.models.raw_students import Standardize

        if num_classes < 1 or num_images < 1:
            raise ConfigError(f"num_classes and num_images must be >= 1, got {num_classes}, {num_images}")
        if head_init not in ("ridge", "random"):
            raise ConfigError(f"config key 'teacher.head_init': expected ridge or random, got {head_init!r}")
        if 2 * num_classes > embed_dim and head_init == "ridge":
            raise ConfigError(f"config key 'teacher.embed_dim': the {self.arch} teacher's ridge head needs "
                              f"at least 2 x {num_classes} classes = {2 * num_classes} units, got {embed_dim}")
        self.num_classes, self.num_images, self.embed_dim = num_classes, num_images, embed_dim
        self.head_init, self.chunk = head_init, int(chunk)
        self.backbone_name = backbone
        net, dim = build_backbone(backbone, pretrained)
        self.backbone = net.eval().requires_grad_(False)
        self.view_dim = int(dim)
        self.feature_dim = 3 * num_images * self.view_dim
        self.scale = Standardize(self.feature_dim)
        gen = torch.Generator().manual_seed(int(seed))
        self.fc0 = nn.Linear(self.feature_dim, embed_dim)
        self.embedding = nn.Identity()
        self.act = nn.ReLU()
        self.fc1 = nn.Linear(embed_dim, num_classes)
        with torch.no_grad():  # seeded, independent of the global generator
            for layer in (self.fc0, self.fc1):
                bound = 1.0 / layer.in_features ** 0.5
                layer.weight.uniform_(-bound, bound, generator=gen)
                layer.bias.uniform_(-bound, bound, generator=gen)
        for p in self.parameters():  # nothing trains by gradient
            p.requires_grad_(False)
        #: set by the engine: an ArrayCache for the per-clip backbone features (module docstring)
        self.feature_store = None
        self.fitted = False
        #: the ridge penalty fit() chose, for the record
        self.ridge_alpha: float | None = None
        self._memo: dict[str, Tensor] = {}
        self._encoder: tuple[tuple, str] | None = None

    def train(self, mode: bool = True) -> "DMMRidgeTeacher":
        super().train(mode)
        self.backbone.eval()  # frozen: its batch norms keep their ImageNet statistics
        return self

    # ------------------------------------------------------------------------------ features
    def encoder_digest(self) -> str:
        """Digest of the backbone (name, weights, width), recomputed when a weight was replaced or changed."""
        from vskd.models.weights import state_digest

        seen = tuple((name, id(t), t._version) for name, t in self.backbone.state_dict(keep_vars=True).items())
        if self._encoder is None or self._encoder[0] != seen:
            digest = hashlib.sha256(f"{self.backbone_name}|{state_digest(self.backbone)}|{self.view_dim}|"
                                    f"{FEATURES_VERSION}".encode()).hexdigest()[:32]
            if self._encoder is not None and self._encoder[1] != digest:
                self._memo.clear()
            self._encoder = (seen, digest)
        return self._encoder[1]

    def _check(self, x: Tensor) -> None:
        if x.ndim != 5 or x.shape[1] != self.num_images or x.shape[2] != 3:
            raise DataError(f"the {self.arch} teacher expects depth motion maps (B, {self.num_images}, 3, S, S) "
                            f"(teacher.input.dmm_segments summing to {self.num_images}), got {tuple(x.shape)}")

    @torch.no_grad()
    def _encode(self, views: Tensor) -> Tensor:
        """(M, S, S) grey views in [0, 1] -> (M, D) backbone features, in chunks of ``chunk``."""
        out = []
        for i in range(0, len(views), self.chunk):
            v = views[i:i + self.chunk].unsqueeze(1).expand(-1, 3, -1, -1).contiguous()
            out.append(self.backbone(v).float())
        return torch.cat(out)

    def view_features(self, x: Tensor) -> Tensor:
        """(B, N, 3, S, S) maps -> (B, F) concatenated backbone features (memo and ``feature_store`` first)."""
        self._check(x)
        digest = self.encoder_digest()
        b = x.shape[0]
        keys = [hashlib.sha256(row.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:32] for row in x]
        feats: list[Tensor | None] = [self._memo.get(f"{digest}:{k}") for k in keys]
        store = self.feature_store
        for i, k in enumerate(keys):
            if feats[i] is None and store is not None:
                hit = store.get(FEATURE_NAMESPACE, self._store_key(digest, k))
                if hit is not None and hit.shape == (3 * self.num_images, self.view_dim):
                    feats[i] = torch.from_numpy(np.asarray(hit, dtype=np.float32))
        missing = [i for i in range(b) if feats[i] is None]
        if missing:
            sub = x[missing].to(torch.float32)
            enc = self._encode(sub.reshape(-1, *sub.shape[-2:]))  # image-major, then view (front, side, top)
            enc = enc.reshape(len(missing), 3 * self.num_images, self.view_dim).cpu()
            for j, i in enumerate(missing):
                feats[i] = enc[j]
                if store is not None:
                    store.put(FEATURE_NAMESPACE, self._store_key(digest, keys[i]), enc[j].numpy(),
                              meta={"namespace": FEATURE_NAMESPACE, "encoder": digest,
                                    "backbone": self.backbone_name}, compress=False)
        if len(self._memo) < MEMO_CLIPS:
            for k, f in zip(keys, feats):
                self._memo[f"{digest}:{k}"] = f
        return torch.stack([f.reshape(-1) for f in feats]).to(x.device)

    @staticmethod
    def _store_key(digest: str, content: str) -> str:
        return hashlib.sha256(f"{FEATURE_NAMESPACE}|{digest}|{content}".encode()).hexdigest()

    # ------------------------------------------------------------------------------ fit / forward
    def fit(self, batches: Tensor | Iterable[Tensor], labels: Tensor) -> None:
        """Fit the standardisation on the training clips' features and the ridge head on their ``labels``
        (N,) (-1: an unlabelled clip, used by the standardisation only). ``batches``: the clips' maps,
        one ``(N, n, 3, S, S)`` tensor or an iterable of ``(B, n, 3, S, S)`` batches in label order."""
        from vskd.models.minirocket import ridge_head

        if labels is None:
            raise ConfigError(f"the {self.arch} teacher's fit() needs the training labels, one per clip")
        feats = torch.cat([self.view_features(x).cpu() for x in ([batches] if isinstance(batches, Tensor) else batches)])
        if len(labels) != len(feats):
            raise ConfigError(f"the {self.arch} teacher's fit() needs the training labels, one per clip "
                              f"(got {len(labels)} labels for {len(feats)} clips)")
        with torch.no_grad():
            self.scale.fit(feats)
            self.fitted = True
            if self.head_init == "random":
                return
            known = labels >= 0
            self.ridge_alpha = ridge_head(self.fc0, self.fc1, self.scale(feats)[known], labels[known])

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self.fitted = True  # a checkpoint of this teacher holds its fit

    def forward(self, x: Tensor) -> Tensor:
        if not self.fitted:
            raise ConfigError(f"the {self.arch} teacher is not fitted: fit() it on the training clips "
                              f"(train-teacher does) or load a trained checkpoint")
        z = self.embedding(self.fc0(self.scale(self.view_features(x))))
        return self.fc1(self.act(z))
