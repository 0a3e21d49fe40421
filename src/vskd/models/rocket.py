"""Rocket in torch: random dilated convolutional kernels + PPV and max pooling, and a student on them.

ROCKET (Dempster, Petitjean, Webb, "ROCKET: exceptionally fast and accurate time series classification
using random convolutional kernels", Data Mining and Knowledge Discovery 34, 2020) convolves each
(per-window, per-channel standardised) series with ``K`` random kernels and keeps two features of each
response: the proportion of positive values and the maximum.  Kernel ``k`` has a length
:math:`L_k \\in \\{7, 9, 11\\}`, a set :math:`S_k` of channels, weights :math:`w_{k,c,j}`, a bias
:math:`b_k`, a dilation :math:`d_k` and a padding :math:`p_k`:

.. math::

    C_k(t) = b_k + \\sum_{c \\in S_k} \\sum_{j=0}^{L_k - 1} w_{k,c,j}\\, x_c(t + j d_k), \\qquad
    t = -p_k, \\dots, T + p_k - (L_k - 1) d_k - 1

(zero outside the series), and

.. math::

    \\mathrm{PPV}_k = \\frac{1}{|T_k|} \\sum_t [C_k(t) > 0], \\qquad \\mathrm{MAX}_k = \\max_t C_k(t).

*Fitting* draws the kernels from the series length alone (the paper's sec. 3.1, as aeon draws them):
lengths uniformly from {7, 9, 11}; :math:`|S_k| = \\lfloor 2^{u} \\rfloor`, :math:`u \\sim U(0,
\\log_2(\\min(C, L_k) + 1))` channels without replacement; weights :math:`N(0, 1)`, mean-centred per
channel; :math:`b_k \\sim U(-1, 1)`; :math:`d_k = \\lfloor 2^{u} \\rfloor`, :math:`u \\sim U(0, \\log_2
\\frac{T - 1}{L_k - 1})`; :math:`p_k = (L_k - 1) d_k / 2` (integer division) with probability ½, else 0.

This module follows aeon's ``Rocket`` (``aeon.transformations.collection.convolution_based``, aeon 1.x):
:meth:`RocketFeatures.fit` draws in aeon's order from ``np.random.RandomState(seed)``; numba's generator,
which aeon's code draws from, is the same Mersenne Twister with the same algorithms, so the same seed gives
aeon's kernels exactly (tested), and with the ridge head the student predicts what aeon's
``RocketClassifier(random_state=seed)`` predicts;
:meth:`RocketFeatures.from_aeon` takes a fitted aeon ``Rocket``'s kernels, and then the features equal
aeon's transform up to float32 rounding (``tests/test_rocket_student.py``): the maxima to 1e-4, the PPVs
except where a response rounds across zero. The forward pass is one ``conv1d`` per (length, dilation,
padding) group of kernels; the features are in aeon's order (``[ppv_0, max_0, ppv_1, max_1, ...]``).
Input ``(B, C, T)``.

:class:`RocketStudent` is :class:`vskd.models.minirocket.MiniRocketStudent` on these 20 000 features:
standardisation with the training statistics, ``fc0 = Linear(F, 300)`` (the embedding), ReLU, ``fc1``;
``student.head_init: ridge`` writes the closed-form ridge classifier into the head, which is what aeon's
``RocketClassifier`` is (Rocket -> ``StandardScaler`` -> ``RidgeClassifierCV(logspace(-3, 3, 10))``:
centring or not does not change a ridge fit with an intercept).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from vskd.errors import ConfigError, DataError
from vskd.models.minirocket import MiniRocketStudent

__all__ = ["CANDIDATE_LENGTHS", "RocketFeatures", "RocketStudent", "draw_rocket_kernels"]

#: the kernel lengths Rocket draws from
CANDIDATE_LENGTHS = (7, 9, 11)
_LMAX = max(CANDIDATE_LENGTHS)


def draw_rocket_kernels(n_timepoints: int, n_kernels: int, n_channels: int, seed: int | None = 0) -> tuple:
    """Rocket's random kernels for series of ``n_timepoints`` samples and ``n_channels`` channels, in aeon's
    layout: ``(weights, lengths, biases, dilations, paddings, num_channel_indices, channel_indices)``
    (``weights`` flat, kernel by kernel, each ``(num_channel_indices, length)`` row-major)."""
    if n_timepoints < _LMAX:
        raise DataError(f"Rocket needs windows of at least {_LMAX} samples (its longest kernel), got {n_timepoints}")
    if n_kernels < 1 or n_channels < 1:
        raise ConfigError(f"Rocket needs n_kernels >= 1 and n_channels >= 1, got {n_kernels} and {n_channels}")
    rng = np.random.RandomState(seed)
    lengths = rng.choice(np.array(CANDIDATE_LENGTHS, dtype=np.int32), n_kernels).astype(np.int32)
    num_channel_indices = np.array([int(2 ** rng.uniform(0, np.log2(min(n_channels, int(L)) + 1)))
                                    for L in lengths], dtype=np.int32)
    weights, channel_indices = [], []
    biases = np.zeros(n_kernels, dtype=np.float32)
    dilations = np.zeros(n_kernels, dtype=np.int32)
    paddings = np.zeros(n_kernels, dtype=np.int32)
    for i, (L, n) in enumerate(zip(lengths, num_channel_indices)):
        w = rng.normal(0, 1, (n, L)).astype(np.float32)
        weights.append((w - w.mean(axis=1, keepdims=True)).ravel())
        channel_indices.append(rng.choice(n_channels, n, replace=False).astype(np.int32))
        biases[i] = rng.uniform(-1, 1)
        dilations[i] = int(2 ** rng.uniform(0, np.log2((n_timepoints - 1) / (L - 1))))
        paddings[i] = ((L - 1) * dilations[i]) // 2 if rng.randint(2) == 1 else 0
    return (np.concatenate(weights).astype(np.float32), lengths, biases, dilations, paddings,
            num_channel_indices, np.concatenate(channel_indices).astype(np.int32))


class RocketFeatures(nn.Module):
    """Rocket's transform of ``(B, C, T)`` windows into ``(B, 2 K)`` features (see the module docstring).

    Built unfitted for ``in_channels`` and ``num_kernels``; :meth:`fit` (or :meth:`from_aeon`) sets the
    kernels, kept as buffers (``state_dict`` carries them): ``weight`` ``(K, C, 11)`` (zero for the
    channels a kernel does not use and past its length), ``lengths``, ``biases``, ``dilations``,
    ``paddings``. ``normalise`` standardises each window's channels by their own mean and (population)
    standard deviation first, as aeon's ``Normalizer`` (a constant channel keeps scale 1). ``min_length``
    is the shortest window every kernel fits: :math:`\\max_k ((L_k - 1) d_k + 1 - 2 p_k)`.
    """

    #: windows convolved at a time (the response of one group of kernels is (B, n, T))
    CHUNK_WINDOWS = 64

    def __init__(self, in_channels: int, num_kernels: int = 10_000, normalise: bool = True) -> None:
        super().__init__()
        if in_channels < 1:
            raise ConfigError(f"Rocket in_channels must be >= 1, got {in_channels}")
        if num_kernels < 1:
            raise ConfigError(f"Rocket num_kernels must be >= 1, got {num_kernels}")
        self.in_channels = int(in_channels)
        self.num_kernels = int(num_kernels)
        self.num_features = 2 * self.num_kernels
        self.normalise = bool(normalise)
        self.register_buffer("weight", torch.zeros(0, self.in_channels, _LMAX))
        self.register_buffer("lengths", torch.zeros(0, dtype=torch.long))
        self.register_buffer("biases", torch.zeros(0))
        self.register_buffer("dilations", torch.zeros(0, dtype=torch.long))
        self.register_buffer("paddings", torch.zeros(0, dtype=torch.long))
        self.register_buffer("fit_length", torch.tensor(0, dtype=torch.long))
        self._groups: list[tuple[int, int, int, Tensor]] = []
        self._sliced: dict = {}
        self.register_buffer("_order", torch.zeros(0, dtype=torch.long), persistent=False)

    @property
    def fitted(self) -> bool:
        return len(self.lengths) == self.num_kernels

    @property
    def min_length(self) -> int:
        if not self.fitted:
            return _LMAX
        return int(((self.lengths - 1) * self.dilations + 1 - 2 * self.paddings).max())

    def fit(self, x: Tensor | np.ndarray, seed: int | None = 0) -> "RocketFeatures":
        """Draw the kernels for training windows ``x`` ``(N, C, T)`` (only ``C`` and ``T`` matter)."""
        shape = tuple(x.shape)
        if len(shape) != 3 or shape[0] < 1 or shape[1] != self.in_channels:
            raise DataError(f"Rocket fit expects training windows (N, {self.in_channels}, T) with N >= 1, got {shape}")
        return self.set_kernels(draw_rocket_kernels(shape[2], self.num_kernels, self.in_channels, seed),
                                fit_length=shape[2])

    @classmethod
    def from_aeon(cls, rocket, in_channels: int) -> "RocketFeatures":
        """The transform of a fitted aeon ``Rocket`` (its ``kernels`` and ``normalise``)."""
        kernels = rocket.kernels
        return cls(in_channels, len(kernels[1]), normalise=bool(rocket.normalise)).set_kernels(kernels)

    def set_kernels(self, kernels: tuple, fit_length: int = 0) -> "RocketFeatures":
        """Set the kernels from aeon's 7-tuple (see :func:`draw_rocket_kernels`)."""
        weights, lengths, biases, dilations, paddings, n_chan, chans = (np.asarray(k) for k in kernels)
        k = len(lengths)
        if k != self.num_kernels or not (len(biases) == len(dilations) == len(paddings) == len(n_chan) == k) \
                or len(chans) != int(n_chan.sum()) or len(weights) != int(np.dot(lengths, n_chan)):
            raise ConfigError(f"Rocket kernels are inconsistent: expected {self.num_kernels} kernels with matching "
                              f"weights, biases, dilations, paddings and channel indices")
        if len(chans) and (chans.min() < 0 or chans.max() >= self.in_channels):
            raise ConfigError(f"Rocket kernels use channel {int(chans.max())}, the module has {self.in_channels}")
        if lengths.min() < 1 or lengths.max() > _LMAX:
            raise ConfigError(f"Rocket kernel lengths must lie in 1..{_LMAX}, got {lengths.min()}..{lengths.max()}")
        w = torch.zeros(k, self.in_channels, _LMAX)
        a1 = a2 = 0
        for i in range(k):
            n, L = int(n_chan[i]), int(lengths[i])
            block = torch.from_numpy(np.asarray(weights[a1:a1 + n * L], dtype=np.float32).reshape(n, L))
            w[i, torch.as_tensor(chans[a2:a2 + n], dtype=torch.long), :L] = block
            a1, a2 = a1 + n * L, a2 + n
        self.weight = w
        self.lengths = torch.as_tensor(lengths, dtype=torch.long)
        self.biases = torch.as_tensor(biases, dtype=torch.float32).clone()
        self.dilations = torch.as_tensor(dilations, dtype=torch.long)
        self.paddings = torch.as_tensor(paddings, dtype=torch.long)
        self.fit_length = torch.tensor(int(fit_length), dtype=torch.long)
        self._sync()
        return self

    def _sync(self) -> None:
        """Group the kernels by (length, dilation, padding): one conv1d each."""
        keys = torch.stack([self.lengths, self.dilations, self.paddings], dim=1).tolist() if self.fitted else []
        groups: dict[tuple[int, int, int], list[int]] = {}
        for i, key in enumerate(keys):
            groups.setdefault(tuple(key), []).append(i)
        self._groups = [(L, d, p, torch.as_tensor(idx, dtype=torch.long)) for (L, d, p), idx in sorted(groups.items())]
        if self._groups:
            order = torch.cat([g[3] for g in self._groups])  # kernel at each position of the concatenation
            pos = torch.empty_like(order)
            pos[order] = torch.arange(len(order))
            # feature 2k + f (f = 0 ppv, 1 max) sits at 2 pos[k] + f of the concatenated group outputs
            self._order = torch.stack([2 * pos, 2 * pos + 1], dim=1).reshape(-1)
        else:
            self._order = torch.zeros(0, dtype=torch.long)
        self._sliced: dict = {}  # per device: each group's (weights, biases), cut once (see _group_weights)

    def _group_weights(self, device: torch.device) -> list:
        """Each group's ``(weight (k, C, L), bias (k,))``, contiguous, on ``device``: cut from the padded
        buffers once per device rather than on every forward (7 % of a forward on one core, 2026-12-04,
        benchmarks/rocket_forward.py). Rebuilt whenever the kernels change: refitted, loaded (:meth:`_sync`),
        moved, or edited in place."""
        # replaced (data_ptr) or modified in place (_version, torch's in-place counter): cut again
        key = (str(device), self.weight.data_ptr(), self.weight._version, self.biases.data_ptr(), self.biases._version)
        if key not in self._sliced:
            self._sliced = {key: [(self.weight[idx.to(self.weight.device), :, :L].contiguous().to(device),
                                   self.biases[idx.to(self.biases.device)].contiguous().to(device))
                                  for L, _, _, idx in self._groups]}
        return self._sliced[key]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in ("weight", "lengths", "biases", "dilations", "paddings"):
            key = prefix + name
            if key in state_dict:  # the fitted buffers' shapes depend on the fit: take the stored ones
                setattr(self, name, torch.empty_like(state_dict[key]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._sync()

    # ------------------------------------------------------------------------------ transform
    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, T)`` -> ``(B, 2 K)`` float32 features ``[ppv_0, max_0, ppv_1, ...]`` (aeon's order)."""
        if not self.fitted:
            raise ConfigError("Rocket features are not fitted: call fit(training windows) first")
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise DataError(f"Rocket expects windows (B, {self.in_channels}, T), got {tuple(x.shape)}")
        exporting = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
        if not exporting and x.shape[2] < self.min_length:
            raise DataError(f"window of {x.shape[2]} samples is shorter than the Rocket student's receptive field "
                            f"({self.min_length} samples)")
        if x.shape[0] > self.CHUNK_WINDOWS and not exporting:
            return torch.cat([self._features(x[i:i + self.CHUNK_WINDOWS])
                              for i in range(0, x.shape[0], self.CHUNK_WINDOWS)])
        return self._features(x)

    def _features(self, x: Tensor) -> Tensor:
        x = x.float()
        if self.normalise:  # aeon's Normalizer: per window and channel, population std, 0 -> 1
            mean = x.mean(dim=2, keepdim=True)
            std = x.std(dim=2, keepdim=True, unbiased=False)
            x = (x - mean) / torch.where(std == 0, torch.ones_like(std), std)
        parts = []
        exporting = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
        sliced = None if exporting else self._group_weights(x.device)
        for g, (L, d, p, idx) in enumerate(self._groups):
            if sliced is None:  # tracing (ONNX export): the slices as graph operations on the buffers
                idx = idx.to(x.device)
                w, b = self.weight[idx, :, :L], self.biases[idx]
            else:
                w, b = sliced[g]
            resp = nn.functional.conv1d(x, w, b, padding=p, dilation=d)
            ppv = (resp > 0).float().mean(dim=2)
            parts.append(torch.stack([ppv, resp.amax(dim=2)], dim=2).reshape(x.shape[0], -1))
        return torch.cat(parts, dim=1).index_select(1, self._order.to(x.device))


class RocketStudent(MiniRocketStudent):
    """Rocket features (:class:`RocketFeatures`, 10 000 kernels: 20 000 features) -> standardisation ->
    ``fc0`` (embedding) -> ReLU -> ``fc1``; everything else (``fit``, the feature cache, the ridge head,
    the ``pooled`` tap at ``scale``) is :class:`~vskd.models.minirocket.MiniRocketStudent`'s."""

    ARCH = "rocket"
    #: most windows whose features are kept (80 KB each: 160 MB at most)
    CACHE_ITEMS = 2048

    def __init__(self, num_classes: int, in_channels: int = 3, embed_dim: int = 300, num_features: int = 20_000,
                 normalize: str = "none", seed: int = 0, cache_features: bool = True,
                 head_init: str = "random") -> None:
        super().__init__(num_classes, in_channels, embed_dim, num_features, normalize, seed, cache_features,
                         head_init)

    def _make_features(self, in_channels: int, num_features: int) -> nn.Module:
        if num_features < 2 or num_features % 2:
            raise ConfigError(f"the rocket student's num_features must be an even number >= 2 (two per kernel), "
                              f"got {num_features}")
        return RocketFeatures(in_channels, num_features // 2)
