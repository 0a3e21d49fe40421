"""The thread policy (vskd.threads) and the global ``--threads`` option."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from vskd import threads
from vskd.cli import main
from vskd.errors import ConfigError


@pytest.fixture
def clean_env(monkeypatch):
    """No thread settings in the environment; torch's thread count restored afterwards."""
    for name in ("VSKD_THREADS", "OMP_NUM_THREADS", "LOCAL_WORLD_SIZE", threads._OURS):
        monkeypatch.delenv(name, raising=False)
    n = torch.get_num_threads()
    yield monkeypatch
    torch.set_num_threads(n)
    for name in ("VSKD_THREADS", threads._OURS):  # written by the code under test, absent before
        os.environ.pop(name, None)


@pytest.mark.parametrize("cores, jobs, local, expected", [
    (1, 1, 1, 1), (2, 1, 1, 1), (4, 1, 1, 3), (16, 1, 1, 15), (16, 2, 1, 7), (16, 1, 4, 3), (16, 2, 4, 1),
    (8, 8, 1, 1),
])
def test_policy_keeps_one_core_and_shares_the_rest(clean_env, cores, jobs, local, expected):
    if local > 1:
        clean_env.setenv("LOCAL_WORLD_SIZE", str(local))
    assert threads.policy(jobs, cores=cores) == expected


def test_who_decides(clean_env):
    n, why = threads.resolve()
    assert n == threads.policy() and why.startswith("policy")
    clean_env.setenv("OMP_NUM_THREADS", "3")  # the user's
    assert threads.resolve() == (3, "OMP_NUM_THREADS")
    assert threads.worker_threads(4) == 3  # each bench worker: the user's setting, not divided
    clean_env.setenv("VSKD_THREADS", "2")
    assert threads.resolve() == (2, "VSKD_THREADS")
    assert threads.resolve(5) == (5, "--threads")


def test_an_omp_setting_the_policy_wrote_is_not_taken_for_the_users(clean_env):
    clean_env.setenv("OMP_NUM_THREADS", "1")
    clean_env.setenv(threads._OURS, "1")
    clean_env.setenv("LOCAL_WORLD_SIZE", "1")
    assert threads.resolve(jobs=2)[1].startswith("policy")


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_bad_thread_counts_are_one_line(clean_env, value):
    clean_env.setenv("VSKD_THREADS", value)
    with pytest.raises(ConfigError, match="VSKD_THREADS must be a whole number of threads >= 1"):
        threads.resolve()


def test_cli_threads_option_sets_torch_and_the_workers(clean_env, capsys):
    assert main(["--threads", "1", "methods"]) == 0
    assert torch.get_num_threads() == 1
    assert os.environ["VSKD_THREADS"] == "1" and threads.worker_threads(3) == 1  # bench workers inherit it
    assert main(["--threads", "0", "methods"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["vskd methods: error: --threads must be a whole number of threads >= 1, got 0"]


def test_policy_reaches_torch_in_a_fresh_process(tmp_path):
    """Without any setting, a vskd process runs torch with the policy's threads, set before torch loads."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "VSKD_THREADS", "LOCAL_WORLD_SIZE")}
    code = ("from vskd import threads; n = threads.apply(); import torch; "
            "print(n, threads.policy(), torch.get_num_threads())")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    applied, policy, used = map(int, r.stdout.split())
    assert applied == policy == used
