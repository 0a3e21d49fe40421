"""Load a dataset by name: ``load_recordings(name, root=None, **options) -> list[Recording]``.

=============  ==================================  =============================================
name           ``root``                            options
=============  ==================================  =============================================
``utd-mhad``   the dataset folder (``Inertial/``,  ``modalities`` (default: all found)
               ``Depth/``, ...); default
               ``$VSKD_UTD_MHAD``
``manifest``   the manifest CSV                    ``dataset_name``, ``classes``, ``rate_hz``
               (see :mod:`vskd.data.manifest`)
``synthetic``  unused                              ``preset`` (default ``"demo"``), ``seed`` (0)
``berkeley-    the folder holding ``Accelerometer/``  ``accelerometer`` (1..6, default 1), ``cluster``,
mhad``         ``Camera/``, ``Time_stamps/``        ``camera`` (1), ``rate_hz`` (30), ``modalities``
``mmact``      the folder holding the ``*_clip``    ``sensors`` (``["acc_watch"]``), ``cameras`` (all),
               sensor folders and ``video/``        ``rate_hz`` (100), ``modalities``
=============  ==================================  =============================================
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vskd.data.recording import Recording
from vskd.errors import ConfigError

DATASETS = ("utd-mhad", "manifest", "synthetic", "berkeley-mhad", "mmact")
_OPTIONS = {
    "utd-mhad": {"modalities"},
    "berkeley-mhad": {"accelerometer", "cluster", "camera", "rate_hz", "modalities"},
    "mmact": {"sensors", "cameras", "rate_hz", "modalities"},
    "manifest": {"dataset_name", "classes", "rate_hz"},
    # preset, seed, and make_synthetic's overrides
    "synthetic": {"preset", "seed", "num_classes", "actions", "subjects", "trials", "frame_size", "duration",
                  "duration_jitter", "fps", "rate_hz", "noise", "coupling", "camera_jitter", "supersample"},
}

__all__ = ["DATASETS", "class_names", "load_recordings"]


def _check_name(name: str) -> str:
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    return name


def load_recordings(name: str, root: str | Path | None = None, **options: Any) -> list[Recording]:
    """Recordings of dataset ``name``, sorted by key (see the module docstring for roots and options)."""
    _check_name(name)
    unknown = sorted(set(options) - _OPTIONS[name])
    if unknown:
        raise ConfigError(
            f"dataset {name!r} has no option(s) {', '.join(unknown)}; it takes: {', '.join(sorted(_OPTIONS[name]))}"
        )
    if name == "utd-mhad":
        from vskd.data.utd_mhad import list_recordings

        root = root or os.environ.get("VSKD_UTD_MHAD")
        if not root:
            raise ConfigError("dataset 'utd-mhad' needs a root: the folder holding Inertial/, Depth/, Skeleton/ (or set $VSKD_UTD_MHAD)")
        recordings = list_recordings(root, modalities=options.get("modalities"))
        if not recordings:
            from vskd.errors import DataError

            raise DataError(f"{root}: no UTD-MHAD recordings found")
        return recordings
    if name == "manifest":
        from vskd.data.manifest import read_manifest

        if not root:
            raise ConfigError("dataset 'manifest' needs a root: the manifest CSV (columns id,label,subject,trial,sensor,video)")
        opts = dict(options)
        return read_manifest(root, name=opts.pop("dataset_name", None), **opts)
    if name in ("berkeley-mhad", "mmact"):
        if not root:
            raise ConfigError(f"dataset {name!r} needs a root: the dataset folder (see docs/data.md for its layout)")
        if name == "berkeley-mhad":
            from vskd.data.berkeley_mhad import list_recordings as list_berkeley

            recordings = list_berkeley(root, **options)
        else:
            from vskd.data.mmact import list_recordings as list_mmact

            recordings = list_mmact(root, **options)
        if not recordings:
            from vskd.errors import DataError

            raise DataError(f"{root}: no {name} recordings found")
        return recordings
    from vskd.data.synthetic import make_synthetic  # written alongside; imported only when used

    opts = dict(options)
    return make_synthetic(preset=opts.pop("preset", "demo"), seed=opts.pop("seed", 0), **opts)


def class_names(name: str, recordings: list[Recording]) -> list[str]:
    """Class names in label order for recordings of dataset ``name``.

    UTD-MHAD: its 27 action names (:data:`vskd.data.utd_mhad.ACTIONS`). Manifest: its class list
    (``meta["classes"]`` of the sources). Synthetic and others: the ``class_name`` / ``action_name``
    the sources carry in ``meta`` (synthetic falls back on ``SYNTHETIC_ACTIONS`` in action order); a
    label without a name is named by its number.
    """
    _check_name(name)
    if name in ("utd-mhad", "berkeley-mhad", "mmact"):
        module = {"utd-mhad": "utd_mhad", "berkeley-mhad": "berkeley_mhad", "mmact": "mmact"}[name]
        import importlib

        return list(importlib.import_module(f"vskd.data.{module}").ACTIONS)
    found: dict[int, str] = {}
    for rec in recordings:
        for src in rec.sources.values():
            if "classes" in src.meta:  # the manifest's full class list, in label order
                return [str(c) for c in src.meta["classes"]]
            cname = src.meta.get("class_name", src.meta.get("action_name"))
            if cname is not None:
                found.setdefault(rec.label, str(cname))
    fallback: tuple[str, ...] = ()
    if name == "synthetic":
        from vskd.data.synthetic import SYNTHETIC_ACTIONS as fallback
    num = max([rec.label for rec in recordings] + list(found), default=-1) + 1
    return [found.get(k, fallback[k] if k < len(fallback) else str(k)) for k in range(num)]
