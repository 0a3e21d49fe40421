"""Training augmentation of the raw inertial window, before the GAF encodes it.

The paper trains the student on fixed GAF images, one per recording. On a dataset as small as
UTD-MHAD (three training subjects) the student then sees each recording the same way every epoch.
:class:`SignalAugment` perturbs the *signal* instead, in the ways a wrist sensor really varies from
one wearer or one trial to the next, and the GAF image is computed from the perturbed window:

* ``rotate``: the watch sits a little differently on each wrist. Every complete ``x, y, z`` triplet
  of one sensor (``acc_*``, ``gyro_*``) is multiplied by one random rotation
  :math:`R = \\exp(\\theta [u]_\\times)`, axis :math:`u` uniform on the sphere, angle
  :math:`\\theta \\sim U(-\\text{rotate}, \\text{rotate})` degrees; accelerometer and gyroscope of
  one recording share :math:`R` (they sit in one case). Axes not part of a full triplet are left
  as they are.
* ``scale``: sensor gain and movement amplitude: each channel times :math:`g_c \\sim N(1, \\text{scale}^2)`.
* ``time_warp``: people move at uneven speeds. The playback speed is a piecewise-linear curve through
  ``warp_knots`` values drawn from :math:`U(1 - w, 1 + w)`; its integral, rescaled to the window's
  span, gives the sample times read by linear interpolation (the length stays ``T``; start and end
  stay in place).
* ``crop``: a random contiguous part of the window of length :math:`\\lceil f T \\rceil`,
  :math:`f \\sim U(\\text{crop}, 1)` (``crop=1``: off). The GAF's PAA brings any length to the
  image size.
* ``jitter``: additive white noise, :math:`N(0, \\text{jitter}^2)` in the signal's units (g for the
  accelerometer).

The order is rotate, scale, time warp, crop, jitter. Every draw comes from the item's generator,
seeded by ``(seed, epoch, index)`` (:meth:`vskd.data.paired.PairedDataset.item_rng`), so an epoch's
augmented images are the same whatever the number of workers. Evaluation never augments, and a
:class:`SignalAugment` with all strengths zero (the default) is the identity, so the paper's recipe
is unchanged unless a config asks for augmentation (``student.input.augment``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vskd.config import AugmentConfig

__all__ = ["SignalAugment", "rotation_matrix", "time_warp"]


@dataclass
class SignalAugment(AugmentConfig):
    """The raw-signal augmentation (see the module docstring) for the strengths of an
    :class:`~vskd.config.AugmentConfig` (the config section ``student.input.augment``); all 0
    (``crop`` 1) is off. ``SignalAugment(rotate=15)`` or :meth:`from_config`.
    """

    @classmethod
    def from_config(cls, options: AugmentConfig) -> "SignalAugment":
        """The augmentation for the config section's strengths."""
        return cls(**dataclasses.asdict(options))

    @property
    def active(self) -> bool:
        """False when every strength is off (the identity)."""
        return bool(self.rotate or self.scale or self.time_warp or self.jitter or self.crop < 1)

    def __call__(self, window: np.ndarray, axes: Sequence[str], rng: np.random.Generator) -> np.ndarray:
        """Augment a ``(T, C)`` window whose columns are ``axes``; returns a new float64 ``(T', C)`` array
        (``T' = T`` unless cropped)."""
        x = np.array(window, dtype=np.float64, copy=True)
        if x.ndim != 2 or x.shape[1] != len(axes):
            raise ValueError(f"window of shape {x.shape} does not match the {len(axes)} axes {list(axes)}")
        if self.rotate:
            r = rotation_matrix(rng, self.rotate)
            for cols in _triplets(axes):
                x[:, cols] = x[:, cols] @ r.T
        if self.scale:
            x *= rng.normal(1.0, self.scale, size=(1, x.shape[1]))
        if self.time_warp and x.shape[0] > 2:
            x = time_warp(x, rng, self.time_warp, self.warp_knots)
        if self.crop < 1 and x.shape[0] > 2:
            t = x.shape[0]
            keep = max(2, min(t, math.ceil(rng.uniform(self.crop, 1.0) * t)))
            start = int(rng.integers(0, t - keep + 1))
            x = x[start : start + keep]
        if self.jitter:
            x = x + rng.normal(0.0, self.jitter, size=x.shape)
        return x


def _triplets(axes: Sequence[str]) -> list[list[int]]:
    """Column indices ``[x, y, z]`` of every sensor whose three axes are all present."""
    pos = {a: i for i, a in enumerate(axes)}
    prefixes = sorted({a.rsplit("_", 1)[0] for a in axes if "_" in a})
    out = []
    for p in prefixes:
        names = [f"{p}_x", f"{p}_y", f"{p}_z"]
        if all(n in pos for n in names):
            out.append([pos[n] for n in names])
    return out


def rotation_matrix(rng: np.random.Generator, max_deg: float) -> np.ndarray:
    """A random 3x3 rotation: axis uniform on the sphere, angle uniform in ``[-max_deg, max_deg]`` degrees
    (SciPy's ``Rotation.from_rotvec`` of angle times axis)."""
    from scipy.spatial.transform import Rotation

    u = rng.normal(size=3)
    u /= np.linalg.norm(u) or 1.0
    theta = math.radians(rng.uniform(-max_deg, max_deg))
    return Rotation.from_rotvec(theta * u).as_matrix()


def time_warp(x: np.ndarray, rng: np.random.Generator, strength: float, knots: int = 4) -> np.ndarray:
    """Resample ``(T, C)`` along a random monotone time map (see :class:`SignalAugment`)."""
    t = x.shape[0]
    speeds = rng.uniform(1.0 - strength, 1.0 + strength, size=knots)
    speed = np.interp(np.linspace(0.0, 1.0, t), np.linspace(0.0, 1.0, knots), speeds)
    cum = np.concatenate([[0.0], np.cumsum((speed[1:] + speed[:-1]) / 2.0)])
    src = cum / cum[-1] * (t - 1)  # monotone, src[0] = 0, src[-1] = T - 1
    grid = np.arange(t, dtype=np.float64)
    return np.stack([np.interp(src, grid, x[:, c]) for c in range(x.shape[1])], axis=1)
