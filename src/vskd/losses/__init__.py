"""Distillation losses: pure functions (:mod:`vskd.losses.functional`) and registered methods.

Importing this package registers the built-in methods ``kd``, ``rkd`` and ``dask``; see
:mod:`vskd.losses.registry` for the :class:`DistillMethod` contract and ``docs/losses.md``.
"""

from __future__ import annotations

from vskd.losses.functional import (
    dask_loss,
    kd_loss,
    rkd_angle_loss,
    rkd_distance_loss,
    semantic_loss,
)
from vskd.losses.registry import (
    DistillMethod,
    create_method,
    get_method,
    list_methods,
    register_method,
)

# Built-in methods register themselves on import.
from vskd.losses import dask as _dask  # noqa: E402,F401
from vskd.losses import kd as _kd  # noqa: E402,F401
from vskd.losses import rkd as _rkd  # noqa: E402,F401

__all__ = [
    "DistillMethod",
    "create_method",
    "dask_loss",
    "get_method",
    "kd_loss",
    "list_methods",
    "register_method",
    "rkd_angle_loss",
    "rkd_distance_loss",
    "semantic_loss",
]
