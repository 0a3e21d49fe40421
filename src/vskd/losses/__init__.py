"""Distillation losses: pure functions (:mod:`vskd.losses.functional`) and registered methods.

Importing this package registers every method: each public module of the package other than
``functional*`` and ``registry`` (``kd``, ``rkd``, ``dask``, ``sp``, ``crd``, ...) is imported
automatically, and registers itself with ``@register_method``. Adding a method is adding one module;
see :mod:`vskd.losses.registry` for the :class:`DistillMethod` contract, ``docs/losses.md`` and
``docs/methods.md``.
"""

from __future__ import annotations

import importlib
import pkgutil

from vskd.losses.functional import (
    dask_loss,
    kd_loss,
    rkd_angle_loss,
    rkd_distance_loss,
    semantic_loss,
)
from vskd.losses.registry import (
    Collectives,
    DistillMethod,
    MethodSetup,
    create_method,
    get_method,
    list_methods,
    register_method,
)

#: modules of this package that are not methods
_NOT_METHODS = ("registry",)


def _method_modules() -> list[str]:
    return sorted(
        info.name for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_") and not info.name.startswith("functional")
        and info.name not in _NOT_METHODS
    )


# Methods register themselves on import.
for _name in _method_modules():
    importlib.import_module(f"{__name__}.{_name}")

__all__ = [
    "Collectives",
    "DistillMethod",
    "MethodSetup",
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
