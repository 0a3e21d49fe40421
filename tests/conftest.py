"""Shared fixtures.

Real-data tests take the ``utd_root`` fixture: the UTD-MHAD folder at ``../shared/data/utd-mhad``
(or ``$VSKD_UTD_MHAD``), or ``berkeley_root`` (``../shared/data/berkeley-mhad``, ``$VSKD_BERKELEY_MHAD``).
When it is absent they skip with the reason, unless ``VSKD_REQUIRE_DATA=1`` (set by ``.ci/run``), where
they fail instead.

``tiny_teacher``: one real video teacher (``vskd train-teacher`` on the tiny synthetic preset, one
epoch), trained once per session and shared by every test that distils from a teacher.

Test oracles (other libraries the tests compare against) come from fixtures, ``pyts_oracle``,
``torchdistill_losses`` and ``aeon_oracle``: without the library only the tests that use it skip.

Markers: ``slow`` marks the longest tests that are not needed for a quick check; ``pytest -m "not slow"``
is the quick local loop (``.ci/run`` runs everything).
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import settings

# CI runs the same hypothesis examples every time (no run can fail on a newly drawn example);
# locally, examples are random and the failures hypothesis finds are kept in .hypothesis/
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") or os.environ.get("VSKD_REQUIRE_DATA") == "1":
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parents[1]


def _candidates(env: str, folder: str) -> list[Path]:
    out = [Path(os.environ[env])] if os.environ.get(env) else []
    out.append(REPO.parent / "shared" / "data" / folder)
    return out


def _utd_candidates() -> list[Path]:
    return _candidates("VSKD_UTD_MHAD", "utd-mhad")


def _data_root(name: str, env: str, folder: str, marker: str) -> Path:
    for cand in _candidates(env, folder):
        if (cand / marker).is_dir():
            return cand
    msg = f"{name} not found (looked in {', '.join(map(str, _candidates(env, folder)))}; set {env})"
    if os.environ.get("VSKD_REQUIRE_DATA") == "1":
        pytest.fail(msg + " and VSKD_REQUIRE_DATA=1 requires it")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def utd_root() -> Path:
    return _data_root("UTD-MHAD", "VSKD_UTD_MHAD", "utd-mhad", "Inertial")


@pytest.fixture(scope="session")
def berkeley_root() -> Path:
    """The Berkeley-MHAD folder (at least its Accelerometer/ files)."""
    return _data_root("Berkeley-MHAD", "VSKD_BERKELEY_MHAD", "berkeley-mhad", "Accelerometer")


# ------------------------------------------------------------------------------ shared tiny teacher


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory) -> Path:
    """``best.pt`` of a real video teacher: ``vskd train-teacher`` with test_e2e's TINY overrides and one
    epoch (its run folder, with results.json and metrics.csv, is the checkpoint's parent)."""
    from test_e2e import TINY, sets

    from vskd.cli import main

    root = tmp_path_factory.mktemp("tiny-teacher")
    ov = [o for o in TINY if not o.startswith("teacher.train.epochs=")]
    ov += ["teacher.train.epochs=1", f"data.cache_dir={root / 'cache'}"]
    assert main(["train-teacher", *sets(ov), "--out", str(root / "teacher"), "--quiet"]) == 0
    return root / "teacher" / "best.pt"


# ------------------------------------------------------------------------------ test oracles


def load_pyts() -> SimpleNamespace:
    """pyts, the GAF oracle, imported with numba's JIT off while its modules are defined.

    pyts compiles its numba kernels eagerly at import (about 35 s on 2 cores for ``pyts.image``);
    with ``DISABLE_JIT`` the very same Python source runs in the interpreter, which is fast enough for
    the small inputs of the tests. Modules already imported elsewhere keep their compiled kernels. The
    benchmark (benchmarks/gaf.py) uses the compiled pyts. ``gaf(x, method, image_size, sample_range)``
    is pyts' GramianAngularField on ``x (..., T)`` in float64.
    """
    import numba
    import numpy as np

    saved = numba.config.DISABLE_JIT
    numba.config.DISABLE_JIT = True
    try:
        import pyts.image as image
        from pyts.approximation import PiecewiseAggregateApproximation
        from pyts.preprocessing import MinMaxScaler
        from pyts.utils import segmentation
    finally:
        numba.config.DISABLE_JIT = saved

    def gaf(x, method: str, image_size, sample_range):
        x = np.asarray(x, dtype=np.float64)
        flat = x.reshape(-1, x.shape[-1])
        size = 1.0 if image_size is None else image_size
        out = image.GramianAngularField(image_size=size, sample_range=sample_range, method=method).transform(flat)
        return out.reshape(*x.shape[:-1], *out.shape[-2:])

    return SimpleNamespace(image=image, gaf=gaf, PiecewiseAggregateApproximation=PiecewiseAggregateApproximation,
                           MinMaxScaler=MinMaxScaler, segmentation=segmentation)


@pytest.fixture(scope="session")
def pyts_oracle() -> SimpleNamespace:
    """:func:`load_pyts`; skips the test without pyts (or numba)."""
    pytest.importorskip("numba")
    pytest.importorskip("pyts")
    return load_pyts()


@pytest.fixture(scope="session")
def torchdistill_losses():
    """``torchdistill.losses.mid_level`` (the loss oracle); skips the test without torchdistill."""
    return pytest.importorskip("torchdistill.losses.mid_level")


@pytest.fixture(scope="session")
def aeon_oracle():
    """aeon (time-series oracle, where a test compares with it); skips the test without aeon."""
    return pytest.importorskip("aeon")
