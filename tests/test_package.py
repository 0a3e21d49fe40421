"""The package as users install it: configs shipped as package data, found without a checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from importlib.resources import files
from pathlib import Path

import pytest

from vskd.config import load_config
from vskd.engine.bench import load_spec
from vskd.errors import ConfigError
from vskd.resources import config_path, configs_dir, shipped_configs

REPO = Path(__file__).resolve().parents[1]


def test_resources_hold_the_demo_config_and_every_config_loads():
    demo = files("vskd") / "configs" / "synthetic" / "demo.yaml"
    assert demo.is_file() and config_path("synthetic/demo.yaml") == Path(str(demo))
    assert load_config(config_path("synthetic/demo.yaml")).name == "synthetic-demo"
    names = shipped_configs()
    assert {"synthetic/demo.yaml", "bench/utd-mhad-cpu.yaml", "utd-mhad/cpu.yaml"} <= set(names)
    for name in names:  # a bench spec's base is a sibling config, resolved inside the package
        if name.startswith("bench/"):
            assert configs_dir() in load_spec(config_path(name)).base.resolve().parents
        elif name.startswith("tune/"):  # search spaces (vskd tune), checked against the raw-signal config
            from vskd.engine.tune import check_space, load_space

            base = load_config(config_path("utd-mhad/raw-minirocket-trained.yaml"))
            check_space(load_space(config_path(name)), base, "distill" if "dask" in name else "student")
        else:
            load_config(config_path(name))


def test_checkout_configs_is_a_symlink_to_the_package_data():
    link = REPO / "configs"
    assert link.is_symlink() and os.readlink(link) == "src/vskd/configs"
    assert link.resolve() == configs_dir().resolve()


def test_unknown_shipped_config_is_one_line():
    with pytest.raises(ConfigError, match=r"no shipped config 'bench/nope-cpu.yaml' .*available: .*synthetic/demo.yaml"):
        config_path("bench/nope-cpu.yaml")


@pytest.mark.slow
def test_built_wheel_ships_every_config_and_runs_outside_a_checkout(tmp_path):
    """Build the wheel, unpack it, and run ``vskd demo --help`` and the demo's config lookup from a folder
    outside the checkout with only the unpacked wheel on the path (its dependencies: this venv's)."""
    out = tmp_path / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                            "-w", str(out), str(REPO)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = out.glob("vskd-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        shipped = {n for n in zf.namelist() if n.endswith(".yaml")}
        zf.extractall(tmp_path / "site")
    expected = {f"vskd/configs/{n}" for n in shipped_configs()}
    assert expected and shipped == expected
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    code = ("import vskd, vskd.resources as r; print(vskd.__file__); print(r.config_path('synthetic/demo.yaml'))")
    run = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    module, demo = run.stdout.split()
    assert Path(module).is_relative_to(tmp_path / "site") and Path(demo).is_relative_to(tmp_path / "site")
    helped = subprocess.run([sys.executable, "-m", "vskd", "demo", "--help"], cwd=elsewhere, env=env,
                            capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and "--quick" in helped.stdout, helped.stderr[-2000:]
