"""The configs shipped inside the package (``vskd/configs/``), found with :mod:`importlib.resources`.

The experiment and benchmark YAML files are package data, so an installed wheel finds them from any
folder (``pip install vskd && vskd demo``); in a checkout, the repository's ``configs`` is a symlink to
the same folder, so ``-c configs/utd-mhad/cpu.yaml`` works there too.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from vskd.errors import ConfigError


def configs_dir() -> Path:
    """The folder of the shipped configs as a file-system path.

    Bench specs name their base config relative to themselves (``base: ../utd-mhad/cpu.yaml``), so the
    configs must be real files; setuptools installs package data unzipped, which this checks.
    """
    root = files("vskd") / "configs"
    if not isinstance(root, Path) or not root.is_dir():
        raise ConfigError(f"vskd's shipped configs are not a folder on disk ({root}); reinstall vskd "
                          "from a wheel or a checkout")
    return root


def config_path(name: str) -> Path:
    """The shipped config ``name`` (e.g. ``"synthetic/demo.yaml"``); a one-line error when absent."""
    path = configs_dir() / name
    if not path.is_file():
        raise ConfigError(f"no shipped config '{name}' in {configs_dir()} (available: "
                          f"{', '.join(shipped_configs()) or 'none'})")
    return path


def shipped_configs() -> list[str]:
    """Every shipped YAML, as paths relative to the configs folder (``bench/synthetic-demo.yaml``, ...)."""
    root = configs_dir()
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.yaml"))
