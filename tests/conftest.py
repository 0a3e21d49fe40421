"""Shared fixtures.

Real-data tests take the ``utd_root`` fixture: the UTD-MHAD folder at ``../shared/data/utd-mhad``
(or ``$VSKD_UTD_MHAD``). When it is absent they skip with the reason, unless ``VSKD_REQUIRE_DATA=1``
(set by ``.ci/run``), where they fail instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs the same hypothesis examples every time (no run can fail on a newly drawn example);
# locally, examples are random and the failures hypothesis finds are kept in .hypothesis/
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") or os.environ.get("VSKD_REQUIRE_DATA") == "1":
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parents[1]


def _utd_candidates() -> list[Path]:
    env = os.environ.get("VSKD_UTD_MHAD")
    out = [Path(env)] if env else []
    out.append(REPO.parent / "shared" / "data" / "utd-mhad")
    return out


@pytest.fixture(scope="session")
def utd_root() -> Path:
    for cand in _utd_candidates():
        if (cand / "Inertial").is_dir():
            return cand
    msg = f"UTD-MHAD not found (looked in {', '.join(map(str, _utd_candidates()))}; set VSKD_UTD_MHAD)"
    if os.environ.get("VSKD_REQUIRE_DATA") == "1":
        pytest.fail(msg + " and VSKD_REQUIRE_DATA=1 requires it")
    pytest.skip(msg)
