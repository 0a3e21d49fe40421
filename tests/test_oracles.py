"""Test oracles come from fixtures (tests/conftest.py): without one, only the tests that use it skip."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


@pytest.mark.slow
def test_a_missing_torchdistill_skips_only_its_comparisons(tmp_path):
    fake = tmp_path / "blocked" / "torchdistill"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError('torchdistill blocked by the test', name='torchdistill')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                        str(TESTS / "test_zoo.py"), "-k", "torchdistill or degenerate"],
                       cwd=TESTS.parent, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    m = re.search(r"(\d+) passed, (\d+) skipped", r.stdout)
    assert m, r.stdout[-2000:]
    passed, skipped = map(int, m.groups())
    assert passed >= 1 and skipped == 4  # the degenerate-batch test ran; the four torchdistill ones skipped
    assert "torchdistill blocked by the test" in r.stdout
