"""BN-Inception (Inception v1 with batch normalisation), laid out like the TSN/TRN ImageNet checkpoint.

Architecture: Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing
Internal Covariate Shift", ICML 2015 (the GoogLeNet of Szegedy et al. 2015 with BN after every
convolution, 5x5 branches replaced by two 3x3, and stride-2 "reduction" blocks 3c and 4e). The
ImageNet weights that TSN, TRN and VSKD start from were trained in Caffe by Y. Xiong and ported to
PyTorch by R. Cadene (``pretrainedmodels``; file ``bn_inception-52deb4733.pth``).

Parameter names and shapes are exactly those of Cadene's ``pretrainedmodels.models.bninception.
BNInception`` (``conv1_7x7_s2``, ``conv1_7x7_s2_bn``, ``inception_3a_1x1``, ...; nn.Module attribute
names make the ``state_dict`` keys), so that file loads unchanged; the module is built here from a
compact table instead of Cadene's unrolled code. Every unit is ``conv -> BN -> ReLU``; the inception
block concatenates four branches along channels:

    1x1 | 3x3_reduce -> 3x3 | double_3x3_reduce -> double_3x3_1 -> double_3x3_2 | pool -> pool_proj

Reduction blocks (3c, 4e) have no 1x1 branch and no pool projection; their 3x3 convs and max pool use
stride 2. Pools use ``ceil_mode=True`` as in Caffe, so a map entering 3c or 4e must have even height
and width (otherwise the strided conv and the ceil-mode pool disagree by one pixel): input sizes that
are multiples of 32 always work, the smallest being 32 x 32 (:data:`MIN_INPUT_SIZE`); 224 is what the
weights were trained on. :func:`check_input_size` says whether a size works.

Input convention of the checkpoint: BGR, 0..255, minus the mean (104, 117, 128) (B, G, R), std 1.
:meth:`BNInception.forward` takes RGB in [0, 1] and applies that conversion itself (module
``preprocess``, no parameters, no ``state_dict`` entries); :meth:`BNInception.features` takes the
checkpoint's own convention. The final global pool is adaptive (identical to Cadene's 7x7 average at
224 x 224 input).

The ImageNet classifier ``last_linear`` (Linear(1024, 1000)) exists only when ``num_classes`` is
given; the teacher builds the backbone without it, and :func:`load_bninception_weights` then drops the
file's ``last_linear.*`` entries, saying so. Everything else loads strictly.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vskd.models.weights import load_exact, read_state_dict
from vskd.errors import VskdError

#: Per-channel mean of the checkpoint's input, in its BGR channel order (0..255 scale).
BGR_MEAN = (104.0, 117.0, 128.0)
#: Dimension of the pooled feature (channels of ``inception_5b``).
FEATURE_DIM = 1024
#: Smallest square input size that runs (every multiple of 32 from here on works).
MIN_INPUT_SIZE = 32

# Stem: (name, in, out, kernel, stride, padding); max pools after conv1 and after conv2_3x3.
_STEM = (
    ("conv1_7x7_s2", 3, 64, 7, 2, 3),
    ("conv2_3x3_reduce", 64, 64, 1, 1, 0),
    ("conv2_3x3", 64, 192, 3, 1, 1),
)

# Inception blocks: (name, in, 1x1, (3x3_reduce, 3x3), (double_reduce, double_3x3), pool, pool_proj, stride)
# A 0 in "1x1" / "pool_proj" means the branch is absent (reduction blocks 3c and 4e).
_BLOCKS = (
    ("3a", 192, 64, (64, 64), (64, 96), "avg", 32, 1),
    ("3b", 256, 64, (64, 96), (64, 96), "avg", 64, 1),
    ("3c", 320, 0, (128, 160), (64, 96), "max", 0, 2),
    ("4a", 576, 224, (64, 96), (96, 128), "avg", 128, 1),
    ("4b", 576, 192, (96, 128), (96, 128), "avg", 128, 1),
    ("4c", 576, 160, (128, 160), (128, 160), "avg", 128, 1),
    ("4d", 608, 96, (128, 192), (160, 192), "avg", 128, 1),
    ("4e", 608, 0, (128, 192), (192, 256), "max", 0, 2),
    ("5a", 1056, 352, (192, 320), (160, 224), "avg", 128, 1),
    ("5b", 1024, 352, (192, 320), (192, 224), "max", 128, 1),
)


class CaffeBGRInput(nn.Module):
    """RGB in [0, 1] -> BGR in 0..255 minus :data:`BGR_MEAN` (the Caffe-trained checkpoint's input)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(BGR_MEAN).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(1) * 255.0 - self.mean


class BNInception(nn.Module):
    """BN-Inception feature extractor (optionally with the ImageNet classifier ``last_linear``).

    ``forward(x)``: ``x`` (N, 3, H, W) RGB in [0, 1] -> pooled features (N, 1024), or logits
    (N, num_classes) when ``num_classes`` is set. ``features(x_bgr)``: the checkpoint's input
    convention -> the ``inception_5b`` map (N, 1024, h, w). Each inception block's concatenated output
    passes through an ``nn.Identity`` named ``inception_<id>_output`` so forward hooks can take it.
    """

    feature_dim = FEATURE_DIM

    def __init__(self, num_classes: int | None = None) -> None:
        super().__init__()
        self.preprocess = CaffeBGRInput()
        # Registration order follows the checkpoint's key order.
        for i, (name, cin, cout, k, s, p) in enumerate(_STEM):
            self._unit(name, cin, cout, k, s, p)
            if i != 1:  # max pool after conv1 and after conv2_3x3
                pool = "pool1_3x3_s2" if i == 0 else "pool2_3x3_s2"
                setattr(self, pool, nn.MaxPool2d(3, stride=2, ceil_mode=True))
        for bid, cin, c1, (r3, c3), (rd, cd), pool, proj, stride in _BLOCKS:
            pre = f"inception_{bid}"
            if c1:
                self._unit(f"{pre}_1x1", cin, c1, 1, 1, 0)
            self._unit(f"{pre}_3x3_reduce", cin, r3, 1, 1, 0)
            self._unit(f"{pre}_3x3", r3, c3, 3, stride, 1)
            self._unit(f"{pre}_double_3x3_reduce", cin, rd, 1, 1, 0)
            self._unit(f"{pre}_double_3x3_1", rd, cd, 3, 1, 1)
            self._unit(f"{pre}_double_3x3_2", cd, cd, 3, stride, 1)
            if pool == "avg":
                layer: nn.Module = nn.AvgPool2d(3, stride=1, padding=1, ceil_mode=True, count_include_pad=True)
            elif stride == 2:
                layer = nn.MaxPool2d(3, stride=2, ceil_mode=True)
            else:
                layer = nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True)
            setattr(self, f"{pre}_pool", layer)
            if proj:
                self._unit(f"{pre}_pool_proj", cin, proj, 1, 1, 0)
            setattr(self, f"{pre}_output", nn.Identity())
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.num_classes = num_classes
        if num_classes is not None:
            self.last_linear = nn.Linear(FEATURE_DIM, num_classes)

    def _unit(self, name: str, cin: int, cout: int, k: int, s: int, p: int) -> None:
        setattr(self, name, nn.Conv2d(cin, cout, kernel_size=k, stride=s, padding=p))
        setattr(self, f"{name}_bn", nn.BatchNorm2d(cout))

    def _run(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return F.relu(getattr(self, f"{name}_bn")(getattr(self, name)(x)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) BGR, 0..255 minus mean -> (N, 1024, h, w) (``inception_5b`` output)."""
        x = self.pool1_3x3_s2(self._run("conv1_7x7_s2", x))
        x = self._run("conv2_3x3", self._run("conv2_3x3_reduce", x))
        x = self.pool2_3x3_s2(x)
        for bid, _cin, c1, _r, _d, _pool, proj, _stride in _BLOCKS:
            pre = f"inception_{bid}"
            branches = []
            if c1:
                branches.append(self._run(f"{pre}_1x1", x))
            branches.append(self._run(f"{pre}_3x3", self._run(f"{pre}_3x3_reduce", x)))
            d = self._run(f"{pre}_double_3x3_reduce", x)
            branches.append(self._run(f"{pre}_double_3x3_2", self._run(f"{pre}_double_3x3_1", d)))
            pooled = getattr(self, f"{pre}_pool")(x)
            branches.append(self._run(f"{pre}_pool_proj", pooled) if proj else pooled)
            sizes = {tuple(b.shape[-2:]) for b in branches}
            if len(sizes) != 1:
                raise VskdError(
                    f"BN-Inception: the map entering inception_{bid} is {tuple(x.shape[-2:])}, odd sizes "
                    f"cannot pass its stride-2 branches; use input sizes that are multiples of 32 (e.g. 224)")
            x = getattr(self, f"{pre}_output")(torch.cat(branches, 1))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) RGB in [0, 1] -> (N, 1024) pooled features, or logits if ``num_classes`` is set."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise VskdError(f"BN-Inception expects frames (N, 3, H, W), got {tuple(x.shape)}")
        if min(x.shape[-2:]) < MIN_INPUT_SIZE:
            raise VskdError(f"BN-Inception needs frames of at least {MIN_INPUT_SIZE} x {MIN_INPUT_SIZE} "
                            f"pixels, got {tuple(x.shape[-2:])}")
        feats = self.global_pool(self.features(self.preprocess(x))).flatten(1)
        if self.num_classes is not None:
            return self.last_linear(feats)
        return feats


def check_input_size(size: int) -> bool:
    """Whether a square ``size`` x ``size`` input runs through BN-Inception (see module docstring)."""

    def conv(n: int, k: int, s: int, p: int) -> int:
        return (n + 2 * p - k) // s + 1

    def ceil_pool(n: int, k: int = 3, s: int = 2) -> int:
        out = -(-(n - k) // s) + 1
        return out - 1 if (out - 1) * s >= n else out

    if size < MIN_INPUT_SIZE:
        return False
    n = ceil_pool(ceil_pool(conv(size, 7, 2, 3)))  # conv1 + pool1, pool2 (conv2 keeps the size)
    for _ in range(2):  # blocks 3c and 4e: strided conv vs ceil-mode pool
        if conv(n, 3, 2, 1) != ceil_pool(n):
            return False
        n = ceil_pool(n)
    return True


def load_bninception_weights(model: BNInception, path: str | Path) -> list[str]:
    """Load Cadene's ``bn_inception-52deb4733.pth`` (or any state_dict of the same layout) into ``model``.

    Strict, with three explicit exceptions, returned as a list of notes:

    * ``last_linear.*`` (the ImageNet classifier) is dropped when ``model`` has no ``last_linear``;
    * BN tensors stored as (1, C) by older ports of the Caffe weights are reshaped to (C,);
    * missing ``*.num_batches_tracked`` counters (files saved before PyTorch 0.4.1) keep the model's own.

    Raises :class:`~vskd.errors.DataError` naming the file when it is missing, unreadable, or its keys
    or shapes do not match.
    """
    path = Path(path)
    state = read_state_dict(path, "BN-Inception weights")
    own = model.state_dict()
    notes: list[str] = []
    state = dict(state)
    dropped = [k for k in state if k.startswith("last_linear.") and k not in own]
    for k in dropped:
        del state[k]
    if dropped:
        notes.append(f"dropped the ImageNet classifier ({', '.join(sorted(dropped))})")
    reshaped = 0
    for k, v in list(state.items()):
        if k in own and torch.is_tensor(v) and v.shape != own[k].shape and v.numel() == own[k].numel() \
                and v.squeeze().shape == own[k].squeeze().shape:
            state[k] = v.reshape(own[k].shape)
            reshaped += 1
    if reshaped:
        notes.append(f"reshaped {reshaped} legacy (1, C) tensors to (C,)")
    counters = [k for k in own if k.endswith("num_batches_tracked") and k not in state]
    for k in counters:
        state[k] = own[k]
    if counters:
        notes.append(f"kept the model's own num_batches_tracked for {len(counters)} BN layers (absent in file)")
    load_exact(model, state, path, "not a BN-Inception checkpoint of Cadene's layout")
    return notes
