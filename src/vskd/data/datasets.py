"""Load a dataset by name: ``load_recordings(name, root=None, **options) -> list[Recording]``.

The name is looked up in the dataset registry (:mod:`vskd.data.registry`); each reader declares its
root and options there (``vskd datasets`` lists them, ``docs/data.md`` describes each layout). This
module holds what the rest of vskd calls, and no dataset names:

* :func:`load_recordings`: the recordings of a dataset (options checked, defaults filled);
* :func:`class_names`: class names in label order;
* :func:`check_data_config`: the checks of a config's ``data`` section that need the readers (the
  dataset name, its options, its root), naming the config key. :mod:`vskd.config` sits below the data
  layer and cannot know the readers, so the engine calls this where a config becomes a run
  (:func:`vskd.engine.jobs`, through :func:`load_splits`) and the commands call it right after loading
  a config;
* :func:`load_splits`: a config's ``data`` section -> recordings, protocol splits and class names (what
  the training jobs, the peers and ``vskd export``'s calibration windows read).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vskd.data.protocols import Splits, make_splits
from vskd.data.recording import Recording
from vskd.data.registry import dataset_names, get_dataset

__all__ = ["check_data_config", "class_names", "dataset_names", "load_recordings", "load_splits"]


def load_recordings(name: str, root: str | Path | None = None, **options: Any) -> list[Recording]:
    """Recordings of dataset ``name``, sorted by key (``vskd datasets`` lists names, roots and options).

    Raises:
        ConfigError: an unknown dataset (the message lists the known ones), an unknown option or one of
            the wrong type, a missing root.
        DataError: a missing root folder or file, the first bad file, no recordings at all.
    """
    return get_dataset(name).load(root, **options)


def class_names(name: str, recordings: list[Recording]) -> list[str]:
    """Class names in label order for recordings of dataset ``name``: the reader's declared classes
    (UTD-MHAD's 27 actions, ...) or, for a reader whose classes come from the data (a manifest, the
    synthetic set), the names its sources carry in ``meta``; a label without a name is named by its number."""
    return get_dataset(name).class_names(recordings)


def check_data_config(data: Any) -> tuple[str, Path | None, dict[str, Any]]:
    """Check a config's ``data`` section (:class:`vskd.config.DataConfig`) against the registry.

    Returns ``(name, root, options)``, the arguments of :func:`load_recordings` with the defaults
    filled. Raises :class:`~vskd.errors.ConfigError` naming the key: ``data.dataset`` (unknown, with
    the known names), ``data.options.KEY`` (unknown or of the wrong type; the synthetic set's options
    may also come from ``data.preset``, ``data.seed``, ``data.synthetic.KEY``), ``data.root`` (missing).
    """
    reader = get_dataset(data.dataset, where="config key 'data.dataset': ")
    given = reader.config_options(data)
    keys = {name: key for name, (_, key) in given.items()}
    options = reader.resolve_options({name: value for name, (value, _) in given.items()},
                                     where=lambda o: f"config key {keys.get(o, 'data.options.' + o)!r}")
    root = reader.require_root(data.root, how="a root path (config key 'data.root')")
    return reader.name, root, options


def load_splits(data: Any) -> tuple[list[Recording], Splits, list[str]]:
    """``(recordings, splits, class_names)`` for a config's ``data`` section (:class:`vskd.config.DataConfig`).

    The section is checked first (:func:`check_data_config`); the splits are those of ``data.protocol``
    (:func:`vskd.data.protocols.make_splits`) with the validation choice ``data.val_subjects`` /
    ``val_trials`` / ``val_groups`` where set (the protocol's default otherwise).
    """
    name, root, options = check_data_config(data)  # the reader's options, named by their config keys
    recordings = load_recordings(name, root, **options)
    split_opts: dict[str, Any] = {}
    for key in ("val_subjects", "val_trials", "val_groups"):
        if getattr(data, key) is not None:
            split_opts[key] = getattr(data, key)
    splits = make_splits(recordings, data.protocol, **split_opts)
    return recordings, splits, class_names(data.dataset, recordings)
