"""MiniRocket in torch: fixed dilated convolutions + PPV pooling, fitted on training windows.

MiniRocket (Dempster, Schmidt, Webb, "MINIROCKET: A Very Fast (Almost) Deterministic Transform for
Time Series Classification", KDD 2021) convolves each series with 84 fixed kernels of length 9 whose
weights are -1 except 2 at three of the nine positions (the ``C(9, 3) = 84`` choices):

.. math::

    C_k(t) = \\sum_{c \\in S_{k,d}} \\sum_{j=0}^{8} w_{k,j}\\, x_c(t + (j - 4) d),
    \\qquad w_{k,j} = -1 + 3\\,[j \\in I_k]

for each dilation ``d`` (zero padding ``4d`` on both sides; ``S_{k,d}`` the channel combination of
kernel ``k`` at dilation ``d``), and pools each response into PPV features (proportion of positive
values) against biases ``b``:

.. math::

    \\text{PPV}_{k,d,b} = \\frac{1}{|T'|} \\sum_{t \\in T'} [C_k(t) > b]

where ``T'`` is every position or, for every other (dilation, kernel) pair, the positions not touched
by the padding (``C[4d : -4d]``), as in the reference. *Fitting* chooses the dilations from the series
length, the channel combinations at random, and the biases as quantiles (low-discrepancy
``(i * phi) mod 1``) of the response of one random training window per (dilation, kernel).

This module follows aeon's ``MiniRocket`` (``aeon.transformations.collection.convolution_based``,
aeon 1.x, itself adapted from the authors' code) exactly: :func:`fit_minirocket` is its
``_static_fit`` (same dilation/feature layout, same channel draws from ``np.random.seed(seed)``; the
training window of each bias is drawn with NumPy where aeon's numba code draws with numba's
generator), :class:`MiniRocketFeatures` is its ``_static_transform_multi`` as batched torch operations
(``conv1d`` + a channel-combination matrix + comparisons), so for the same parameters
(:meth:`MiniRocketFeatures.from_aeon`) the features equal aeon's transform (tested to 1e-5;
``tests/test_raw_students.py``). Input ``(B, C, T)``, the layout aeon and ``conv1d`` use.

:class:`MiniRocketStudent` puts a trainable head after the fixed features: standardisation with the
training features' mean and standard deviation (fitted with the transform; MiniRocket's own
classifier standardises before its ridge), ``fc0 = Linear(F, 300)`` (the embedding), ReLU, ``fc1``.
Features of the same input are the same once fitted, so the module keeps them in an in-memory cache
keyed by the window's bytes (training without augmentation computes each window's features once; the
training windows' features computed by :meth:`MiniRocketStudent.fit` are kept there too).

**Closed-form head** (``head_init="ridge"``, config ``student.head_init: ridge``): MiniRocket's own
classifier is a ridge regression of the :math:`\\pm 1` one-vs-rest targets on the standardised
features, :math:`\\hat W = \\arg\\min_W \\lVert Y - Z W^\\top - b \\rVert^2 + \\alpha \\lVert W \\rVert^2`
with :math:`\\alpha` chosen by leave-one-out cross-validation among ``logspace(-3, 3, 10)``
(scikit-learn's ``RidgeClassifierCV``, aeon's ``MiniRocketClassifier`` default; Dempster et al. 2021,
sec. 3). :func:`ridge_head` fits it on the training features and writes it into the trainable head
without breaking the distillable contract (``fc0`` a 300-d embedding, ReLU, ``fc1`` the logits): with
:math:`s = \\hat W z + b` the ridge scores of the ``K`` classes, ``fc0``'s first ``2K`` units are
:math:`s` and :math:`-s`, and ``fc1 = [I, -I, 0]``, so that :math:`\\mathrm{ReLU}(s) -
\\mathrm{ReLU}(-s) = s`: before training the student's logits *are* the ridge classifier's decision
values (its predictions exactly). The other ``300 - 2K`` embedding units keep PyTorch's random
initialisation and start with zero weight in ``fc1``; training (cross-entropy, distillation) then starts
from the ridge solution.
"""

from __future__ import annotations

import hashlib
from itertools import combinations

import numpy as np
import torch
from torch import Tensor, nn

from vskd.errors import ConfigError, DataError

__all__ = ["KERNEL_INDICES", "RIDGE_ALPHAS", "FeatureMemo", "MiniRocketFeatures", "MiniRocketStudent", "fit_minirocket", "ridge_head"]

#: the ridge penalties RidgeClassifierCV chooses among (aeon's MiniRocketClassifier default)
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 10))

#: positions of the weight 2 in each of the 84 kernels (aeon's ``MiniRocket._indices``)
KERNEL_INDICES = np.array(list(combinations(range(9), 3)), dtype=np.int64)
NUM_KERNELS = 84


def _kernel_weights() -> Tensor:
    w = -torch.ones(NUM_KERNELS, 9)
    for k, idx in enumerate(KERNEL_INDICES):
        w[k, idx] = 2.0
    return w


def _fit_dilations(n_timepoints: int, n_features: int, max_dilations_per_kernel: int):
    """aeon's ``_fit_dilations``: dilations 2^(0..log2((T-1)/8)) and the features each gets."""
    n_features_per_kernel = n_features // NUM_KERNELS
    true_max = min(n_features_per_kernel, max_dilations_per_kernel)
    multiplier = n_features_per_kernel / true_max
    max_exponent = np.log2((n_timepoints - 1) / (9 - 1))
    dilations, counts = np.unique(np.logspace(0, max_exponent, true_max, base=2).astype(np.int32),
                                  return_counts=True)
    per_dilation = (counts * multiplier).astype(np.int32)
    remainder = n_features_per_kernel - np.sum(per_dilation)
    i = 0
    while remainder > 0:
        per_dilation[i] += 1
        remainder -= 1
        i = (i + 1) % len(per_dilation)
    return dilations, per_dilation


def _quantiles(n: int) -> np.ndarray:
    return np.array([(i * ((np.sqrt(5) + 1) / 2)) % 1 for i in range(1, n + 1)], dtype=np.float32)


def fit_minirocket(x: np.ndarray, num_features: int = 10_000, max_dilations_per_kernel: int = 32,
                   seed: int | None = 0) -> tuple[np.ndarray, ...]:
    """Fit MiniRocket on training windows ``x`` ``(N, C, T)``: aeon's parameter tuple
    ``(n_channels_per_combination, channel_indices, dilations, n_features_per_dilation, biases)``."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3 or x.shape[0] < 1:
        raise DataError(f"MiniRocket fit expects training windows (N, C, T) with N >= 1, got {x.shape}")
    n_cases, n_channels, n_timepoints = x.shape
    if n_timepoints < 9:
        raise DataError(f"MiniRocket needs windows of at least 9 samples (its kernel length), got {n_timepoints}")
    rng = np.random.RandomState(seed)
    dilations, per_dilation = _fit_dilations(n_timepoints, num_features, max_dilations_per_kernel)
    quantiles = _quantiles(NUM_KERNELS * int(np.sum(per_dilation)))
    n_comb = NUM_KERNELS * len(dilations)
    max_exponent = np.log2(min(n_channels, 9) + 1)
    per_comb = (2 ** rng.uniform(0, max_exponent, n_comb)).astype(np.int32)
    channel_indices = np.zeros(per_comb.sum(), dtype=np.int32)
    start = 0
    for c in range(n_comb):
        channel_indices[start:start + per_comb[c]] = rng.choice(n_channels, per_comb[c], replace=False)
        start += per_comb[c]
    # biases: quantiles of one random training window's response per (dilation, kernel)
    weights = _kernel_weights()
    biases = np.zeros(NUM_KERNELS * int(np.sum(per_dilation)), dtype=np.float32)
    f0 = comb = ch0 = 0
    xt = torch.from_numpy(x)
    for d, nf in zip(dilations, per_dilation):
        d = int(d)
        picks = [rng.randint(n_cases) for _ in range(NUM_KERNELS)]
        resp = nn.functional.conv1d(xt[picks].reshape(NUM_KERNELS * n_channels, 1, n_timepoints),
                                    weights.unsqueeze(1), padding=4 * d, dilation=d)
        # resp[(k * C + c), k', t]: window of kernel k, channel c, every kernel k'
        resp = resp.reshape(NUM_KERNELS, n_channels, NUM_KERNELS, n_timepoints).numpy()
        for k in range(NUM_KERNELS):
            chans = channel_indices[ch0:ch0 + per_comb[comb]]
            c_k = resp[k, chans, k].sum(axis=0)
            biases[f0:f0 + nf] = np.quantile(c_k, quantiles[f0:f0 + nf])
            f0 += nf
            ch0 += per_comb[comb]
            comb += 1
    return per_comb, channel_indices, dilations.astype(np.int32), per_dilation.astype(np.int32), biases


def _shift(v: Tensor, s: int) -> Tensor:
    """``out[..., t] = v[..., t + s]``, zero where ``t + s`` falls outside the window."""
    if s > 0:
        return nn.functional.pad(v[..., s:], (0, s))
    if s < 0:
        return nn.functional.pad(v[..., :s], (-s, 0))
    return v


class MiniRocketFeatures(nn.Module):
    """MiniRocket's transform of ``(B, C, T)`` windows into ``(B, F)`` PPV features (see the module docstring).

    Built unfitted for ``in_channels`` and ``num_features`` (rounded down to a multiple of 84: 9 996 for
    10 000); :meth:`fit` (or :meth:`from_aeon`) sets the parameters, kept as buffers (so ``state_dict``
    carries them; loading a state dict resizes them to the stored fit). ``min_length`` is the receptive
    field of the largest dilation, ``8 d_max + 1`` samples. The forward pass takes at most
    ``CHUNK_ELEMENTS / (84 C T)`` windows at a time (the same features, in less memory).
    """

    #: the most elements of one (84, B, C, T) temporary (benchmarks/minirocket_chunks.py)
    CHUNK_ELEMENTS = 1 << 20

    def __init__(self, in_channels: int, num_features: int = 10_000, max_dilations_per_kernel: int = 32) -> None:
        super().__init__()
        if in_channels < 1:
            raise ConfigError(f"MiniRocket in_channels must be >= 1, got {in_channels}")
        if num_features < NUM_KERNELS:
            raise ConfigError(f"MiniRocket num_features must be >= {NUM_KERNELS}, got {num_features}")
        self.in_channels = int(in_channels)
        self.requested_features = int(num_features)
        self.num_features = NUM_KERNELS * (int(num_features) // NUM_KERNELS)
        self.max_dilations_per_kernel = int(max_dilations_per_kernel)
        self.register_buffer("weight", _kernel_weights().unsqueeze(1), persistent=False)  # (84, 1, 9)
        self.register_buffer("dilations", torch.zeros(0, dtype=torch.long))
        self.register_buffer("features_per_dilation", torch.zeros(0, dtype=torch.long))
        # channels of each (dilation, kernel) combination in aeon's order, padded: (D, 84, M) and its 0/1 mask
        self.register_buffer("channel_order", torch.zeros(0, NUM_KERNELS, 1, dtype=torch.long))
        self.register_buffer("channel_valid", torch.zeros(0, NUM_KERNELS, 1))
        self.register_buffer("biases", torch.zeros(self.num_features))
        self.register_buffer("fit_length", torch.zeros((), dtype=torch.long))
        self._layout: tuple[list[int], list[int]] = ([], [])

    # ------------------------------------------------------------------------------ parameters
    @property
    def fitted(self) -> bool:
        return bool(self._layout[0])

    @property
    def min_length(self) -> int:
        return 8 * max(self._layout[0]) + 1 if self.fitted else 9

    def _sync(self) -> None:
        # the fitted layout as Python ints: the forward's loop (and an exported graph) is unrolled over it
        self._layout = ([int(d) for d in self.dilations], [int(n) for n in self.features_per_dilation])

    def fit(self, x: Tensor | np.ndarray, seed: int | None = 0) -> "MiniRocketFeatures":
        """Fit on training windows ``(N, C, T)`` (:func:`fit_minirocket`)."""
        x = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise DataError(f"MiniRocket fit expects windows (N, {self.in_channels}, T), got {tuple(x.shape)}")
        params = fit_minirocket(x, self.requested_features, self.max_dilations_per_kernel, seed)
        return self.set_parameters(params, x.shape[2])

    @classmethod
    def from_aeon(cls, transformer) -> "MiniRocketFeatures":
        """The torch twin of a fitted aeon ``MiniRocket`` (its ``parameters`` tuple)."""
        params = transformer.parameters
        n_channels = int(transformer.n_channels_) if hasattr(transformer, "n_channels_") else \
            int(max(params[1]) + 1)
        m = cls(n_channels, int(transformer.n_kernels_), int(transformer.max_dilations_per_kernel))
        return m.set_parameters(params, int(getattr(transformer, "n_timepoints_", 0)))

    def set_parameters(self, params, fit_length: int = 0) -> "MiniRocketFeatures":
        per_comb, channel_indices, dilations, per_dilation, biases = (np.asarray(p) for p in params)
        n_dil = len(dilations)
        if len(per_comb) != NUM_KERNELS * n_dil or len(biases) != NUM_KERNELS * int(per_dilation.sum()):
            raise ConfigError("MiniRocket parameters are inconsistent (combinations, dilations and biases "
                              "do not match 84 kernels)")
        if len(biases) != self.num_features:
            raise ConfigError(f"MiniRocket parameters have {len(biases)} features, this module {self.num_features}")
        width = int(per_comb.max()) if len(per_comb) else 1
        order = torch.zeros(n_dil, NUM_KERNELS, width, dtype=torch.long)
        valid = torch.zeros(n_dil, NUM_KERNELS, width)
        start = 0
        for i, n in enumerate(per_comb):
            chans = channel_indices[start:start + n]
            if len(chans) and chans.max() >= self.in_channels:
                raise ConfigError(f"MiniRocket parameters use channel {int(chans.max())}, the module has "
                                  f"{self.in_channels}")
            order[i // NUM_KERNELS, i % NUM_KERNELS, :n] = torch.as_tensor(chans, dtype=torch.long)
            valid[i // NUM_KERNELS, i % NUM_KERNELS, :n] = 1.0
            start += n
        self.channel_order = order
        self.channel_valid = valid
        self.dilations = torch.as_tensor(dilations, dtype=torch.long)
        self.features_per_dilation = torch.as_tensor(per_dilation, dtype=torch.long)
        self.biases = torch.as_tensor(biases, dtype=torch.float32).clone()
        self.fit_length = torch.tensor(int(fit_length), dtype=torch.long)
        self._sync()
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # the fitted buffers' shapes depend on the fit: take the stored ones
        for name in ("dilations", "features_per_dilation", "channel_order", "channel_valid", "biases"):
            key = prefix + name
            if key in state_dict:
                setattr(self, name, torch.empty_like(state_dict[key]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._sync()

    # ------------------------------------------------------------------------------ transform
    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, T)`` -> PPV features ``(B, F)`` float32 (aeon's feature order: dilation, kernel, bias)."""
        if not self.fitted:
            raise ConfigError("MiniRocket features are not fitted: call fit(training windows) first")
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise DataError(f"MiniRocket expects windows (B, {self.in_channels}, T), got {tuple(x.shape)}")
        if not torch.jit.is_tracing() and not torch.onnx.is_in_onnx_export() and x.shape[2] < self.min_length:
            raise DataError(f"window of {x.shape[2]} samples is shorter than the MiniRocket student's receptive "
                            f"field ({self.min_length} samples, largest dilation {max(self._layout[0])})")
        b, c, t = x.shape
        per_window = NUM_KERNELS * c * t  # elements of the (84, B, C, T) response below, per window
        chunk = max(1, self.CHUNK_ELEMENTS // per_window)
        if b > chunk and not torch.jit.is_tracing() and not torch.onnx.is_in_onnx_export():
            # windows are independent: in slices the temporaries stay small (large ones cost more in page
            # faults than in arithmetic; benchmarks/minirocket_chunks.py)
            return torch.cat([self._features(x[i:i + chunk]) for i in range(0, b, chunk)])
        return self._features(x)

    def _features(self, x: Tensor) -> Tensor:
        b, c, t = x.shape
        x = x.float()
        a, g = -x, 3 * x
        i0, i1, i2 = (torch.as_tensor(KERNEL_INDICES[:, i], device=x.device) for i in range(3))
        out = []
        f0 = 0
        for j, (d, nf) in enumerate(zip(*self._layout)):
            pad = 4 * d
            # the reference's order of float32 additions, so that PPV comparisons round the same way:
            # alpha part = -x + its shifts by -4d..-d, then +d..+4d; then + the three gamma (3x) terms
            ca = a
            for s in (-4, -3, -2, -1, 1, 2, 3, 4):
                ca = ca + _shift(a, s * d)
            gs = torch.stack([_shift(g, (i - 4) * d) for i in range(9)])  # (9, B, C, T)
            ck = ((ca.unsqueeze(0) + gs[i0]) + gs[i1]) + gs[i2]  # (84, B, C, T) every kernel, every channel
            order, valid = self.channel_order[j], self.channel_valid[j]  # (84, M)
            resp = None
            for m in range(order.shape[1]):  # channel sum in the combination's own order
                idx = order[:, m].reshape(NUM_KERNELS, 1, 1, 1).expand(NUM_KERNELS, b, 1, t)
                part = torch.gather(ck, 2, idx).squeeze(2)  # (84, B, T)
                resp = part if resp is None else resp + part * valid[:, m].reshape(NUM_KERNELS, 1, 1)
            bias = self.biases[f0:f0 + NUM_KERNELS * nf].reshape(NUM_KERNELS, 1, 1, nf)
            hit = (resp.unsqueeze(-1) > bias).float()  # (84, B, T, nf)
            full = hit.mean(dim=2)
            inner = hit[:, :, pad:t - pad].mean(dim=2)
            # kernels with (j + k) odd pool only the positions the padding does not reach
            odd = ((torch.arange(NUM_KERNELS, device=x.device) + j) % 2 == 1).reshape(NUM_KERNELS, 1, 1)
            out.append(torch.where(odd, inner, full).permute(1, 0, 2).reshape(b, NUM_KERNELS * nf))
            f0 += NUM_KERNELS * nf
        return torch.cat(out, dim=1)


class FeatureMemo:
    """The fixed features of windows already seen, keyed by the window's bytes and valid for one fitted
    transform: a digest of the transform's buffers (:meth:`tag`) goes with them, so reloading a
    checkpoint of the same fit (``best.pt`` before the test) keeps them and loading another fit drops
    them. At most ``limit`` windows are kept (then it starts afresh). Bypassed while tracing, exporting or
    when the input needs a gradient."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = int(limit)
        self._items: dict[bytes, Tensor] = {}
        self._tag: bytes | None = None
        self._seen: list | None = None

    def __len__(self) -> int:
        return len(self._items)

    @staticmethod
    def key(row: Tensor) -> bytes:
        return hashlib.blake2b(row.detach().cpu().numpy().tobytes(), digest_size=16).digest()

    @staticmethod
    def tag(transform: nn.Module) -> bytes:
        """A digest of ``transform``'s buffers (its fitted parameters)."""
        h = hashlib.blake2b(digest_size=16)
        for name, buf in transform.named_buffers():
            h.update(name.encode())
            h.update(buf.detach().cpu().numpy().tobytes())
        return h.digest()

    def _check(self, transform: nn.Module) -> None:
        # the digest costs a pass over every buffer (Rocket's 330 k weights), so it is taken again only when
        # a buffer was replaced (another object; the seen ones are held, so no address is reused) or
        # modified in place (its version counter moved: load_state_dict, copy_)
        seen = [(name, buf, buf._version) for name, buf in transform.named_buffers()]
        if self._seen is not None and len(seen) == len(self._seen) and all(
                a[0] == b[0] and a[1] is b[1] and a[2] == b[2] for a, b in zip(seen, self._seen)):
            return
        self._seen = seen
        tag = self.tag(transform)
        if tag != self._tag:  # another transform: start afresh
            self._items.clear()
            self._tag = tag

    def store(self, transform: nn.Module, x: Tensor, feats: Tensor) -> None:
        """Keep ``feats`` (B, F), the features ``transform`` gave ``x`` (B, ...) (when they fit)."""
        self._check(transform)
        if len(self._items) + len(x) > self.limit:
            return
        for row, f in zip(x, feats.detach().cpu()):
            self._items[self.key(row)] = f

    def features(self, transform: nn.Module, x: Tensor) -> Tensor:
        """``transform(x)``, computed only for the rows not seen with this transform."""
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.is_grad_enabled() and x.requires_grad:
            return transform(x)
        self._check(transform)
        keys = [self.key(row) for row in x]
        missing = [i for i, k in enumerate(keys) if k not in self._items]
        if missing:
            with torch.no_grad():
                new = transform(x[missing])
            if len(self._items) + len(missing) > self.limit:
                self._items.clear()
            for i, row in zip(missing, new.cpu()):
                self._items[keys[i]] = row
        # kept on the CPU (features fitted there and features computed on a GPU mix in one memo), returned
        # where the input is
        return torch.stack([self._items[k] for k in keys]).to(x.device)


def ridge_head(fc0: nn.Linear, fc1: nn.Linear, features: Tensor, labels: Tensor) -> float:
    """Initialise ``fc0 -> ReLU -> fc1`` so that it computes the ridge classifier of ``features``
    ``(N, F)`` (already standardised) and ``labels`` ``(N,)`` (see the module docstring); returns the
    penalty :math:`\\alpha` leave-one-out cross-validation chose. A class absent from ``labels`` gets
    the score a ridge fit gives it (weights 0, intercept -1: all its targets are -1)."""
    from sklearn.linear_model import RidgeClassifierCV

    k, e = fc1.out_features, fc0.out_features
    if 2 * k > e:
        raise ConfigError(f"config key 'student.head_init': ridge needs an embedding of at least 2 x {k} classes "
                          f"= {2 * k} units (student.embed_dim is {e})")
    y = labels.detach().cpu().numpy().astype(np.int64)
    if len(np.unique(y)) < 2:
        raise DataError(f"student.head_init ridge: the training split has {len(np.unique(y))} class; a ridge "
                        f"classifier needs at least 2")
    if y.min() < 0 or y.max() >= k:
        raise DataError(f"student.head_init ridge: training labels must lie in 0..{k - 1}, got {y.min()}..{y.max()}")
    z = features.detach().cpu().double().numpy()
    ridge = RidgeClassifierCV(alphas=RIDGE_ALPHAS).fit(z, y)
    coef, icpt = np.atleast_2d(ridge.coef_), np.atleast_1d(ridge.intercept_)
    if len(ridge.classes_) == 2:  # binary: one decision d, class 1 when d > 0; scores (-d, d)
        coef, icpt = np.concatenate([-coef, coef]), np.concatenate([-icpt, icpt])
    w = torch.zeros(k, fc0.in_features, dtype=torch.float64)
    b = torch.full((k,), -1.0, dtype=torch.float64)
    cls = torch.as_tensor(ridge.classes_, dtype=torch.long)
    w[cls] = torch.from_numpy(coef)
    b[cls] = torch.from_numpy(icpt)
    with torch.no_grad():
        fc0.weight[:k] = w.float()
        fc0.weight[k:2 * k] = -w.float()
        fc0.bias[:k] = b.float()
        fc0.bias[k:2 * k] = -b.float()
        fc1.weight.zero_()
        eye = torch.eye(k)
        fc1.weight[:, :k] = eye
        fc1.weight[:, k:2 * k] = -eye
        fc1.bias.zero_()
    return float(ridge.alpha_)


class MiniRocketStudent(nn.Module):
    """MiniRocket features -> standardisation -> ``fc0`` (embedding) -> ReLU -> ``fc1`` (logits).

    ``forward(window (B, C, T))``, after :meth:`fit` on the training windows (the transform, then the
    features' mean and standard deviation; with ``head_init="ridge"`` and the training labels, the
    head's closed-form initialisation, :func:`ridge_head`). Submodules: ``norm`` (input normalisation,
    :class:`vskd.models.raw_students.InputNorm`), ``features`` (:class:`MiniRocketFeatures`), ``scale``
    (the standardisation; its output is the ``pooled`` feature), ``fc0``, ``act``, ``fc1``. It has no
    intermediate maps.
    """

    family = "raw"
    #: ``student.arch`` (a subclass with other fixed features sets its own: vskd.models.rocket)
    ARCH = "minirocket"
    #: most windows whose features are kept (about 40 KB each: 160 MB at most)
    CACHE_ITEMS = 4096
    MAPS: dict[str, str] = {}
    POOLED = "scale"
    #: PPV features are step functions of the input (vskd export then checks top-1 agreement)
    step_features = True

    def __init__(self, num_classes: int, in_channels: int = 3, embed_dim: int = 300, num_features: int = 10_000,
                 normalize: str = "none", seed: int = 0, cache_features: bool = True,
                 head_init: str = "random") -> None:
        super().__init__()
        from vskd.models.raw_students import InputNorm, Standardize

        if num_classes < 1:
            raise ConfigError(f"num_classes must be >= 1, got {num_classes}")
        if head_init not in ("random", "ridge"):
            raise ConfigError(f"config key 'student.head_init': expected random or ridge, got {head_init!r}")
        if head_init == "ridge" and 2 * num_classes > embed_dim:
            raise ConfigError(f"config key 'student.head_init': ridge needs an embedding of at least 2 x "
                              f"{num_classes} classes = {2 * num_classes} units (student.embed_dim is {embed_dim})")
        self.arch = self.ARCH
        self.head_init = head_init
        #: the ridge penalty chosen by fit() (head_init ridge), for the record
        self.ridge_alpha: float | None = None
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.embed_dim = embed_dim
        self.seed = int(seed)
        self.norm = InputNorm(in_channels, normalize)
        self.features = self._make_features(in_channels, num_features)
        self.scale = Standardize(self.features.num_features)
        self.fc0 = nn.Linear(self.features.num_features, embed_dim)
        self.act = nn.ReLU()
        self.fc1 = nn.Linear(embed_dim, num_classes)
        self.cache_features = cache_features
        self._cache = FeatureMemo(self.CACHE_ITEMS)

    def _make_features(self, in_channels: int, num_features: int) -> nn.Module:
        """The fixed transform: ``fit(x, seed)``, ``num_features``, ``min_length``, ``(B, C, T) -> (B, F)``."""
        return MiniRocketFeatures(in_channels, num_features)

    @property
    def min_length(self) -> int:
        return self.features.min_length

    def fit(self, windows: Tensor, labels: Tensor | None = None) -> None:
        """Fit the input normalisation, the transform and the standardisation on training windows ``(N, C, T)``;
        with ``head_init="ridge"``, initialise the head from ``labels`` ``(N,)`` (:func:`ridge_head`; a label
        of -1 marks an unlabelled window: its features serve the standardisation, not the ridge fit)."""
        if self.head_init == "ridge" and (labels is None or len(labels) != len(windows)):
            raise ConfigError("student.head_init ridge: fit() needs the training labels, one per window")
        self.norm.fit(windows)
        with torch.no_grad():
            x = self.norm(windows)
            self.features.fit(x, seed=self.seed)
            feats = self.features(x)  # in slices of windows (MiniRocketFeatures.CHUNK_ELEMENTS)
            if self.cache_features:  # training reads these windows again
                self._cache.store(self.features, x, feats)
        self.scale.fit(feats)
        if self.head_init == "ridge":
            with torch.no_grad():
                known = labels >= 0
                self.ridge_alpha = ridge_head(self.fc0, self.fc1, self.scale(feats)[known], labels[known])

    def transform(self, window: Tensor) -> Tensor:
        """The fixed features of ``window`` (cached per window while not exporting)."""
        x = self.norm(window)
        if not self.cache_features:
            return self.features(x)
        return self._cache.features(self.features, x)

    def forward(self, window: Tensor) -> Tensor:
        if window.ndim != 3 or window.shape[1] != self.in_channels:
            raise DataError(f"the {self.arch} student expects windows (B, {self.in_channels}, T), "
                            f"got {tuple(window.shape)}")
        return self.fc1(self.act(self.fc0(self.scale(self.transform(window)))))
