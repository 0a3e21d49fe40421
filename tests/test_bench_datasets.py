"""The benchmark-v2 specs of the datasets that are not on this machine (MMAct) or have no camera here
(Berkeley-MHAD) run on the synthetic stand-in (issue 16): mmact-v2 end to end (every row, one seed,
tiny epochs, cross-validated selection, the tables and curves written); berkeley-mhad-v2, generated
with the same rows, planned and checked step by step."""

from __future__ import annotations

import json

import pytest

from test_e2e import TINY


def _standin(tmp_path) -> list[str]:
    ov = [*TINY, "data.dataset=synthetic", "data.root=null", "data.options={}", "student.train.epochs=1",
          "teacher.train.epochs=1", f"data.cache_dir={tmp_path / 'cache'}"]
    return [a for o in ov for a in ("--set", o)]


@pytest.mark.slow
def test_mmact_v2_spec_runs_on_the_synthetic_standin(tmp_path):
    from vskd.cli import main

    dataset = "mmact"
    out, results = tmp_path / "runs", tmp_path / "results"
    args = ["bench", dataset, "--preset", "v2", "--seeds", "0", "--out", str(out), "--results", str(results),
            *_standin(tmp_path)]
    assert main(args) == 0
    summary = json.loads((results / f"{dataset}-v2.json").read_text())
    rows = summary["runs"]
    assert summary["seeds"] == [0] and not any(r["failed"] for r in rows.values())
    assert all(set(r["seeds"]) == {"0"} for r in rows.values())  # every row and teacher finished, seed 0
    for rid in ("raw", "dask-rgb", "sp-rgb-watch1d", "dask-rgb-gaf", "dask-rgb-untrained"):
        res = json.loads((out / "seed0" / rid / "results.json").read_text())
        assert res["selection"] == "cv" and res["test"] is not None  # folds, a refit, test read once
    assert rows["dask-rgb-shuffled"]["baseline"] == "dask-rgb" and rows["dask-rgb"]["baseline"] == "raw-dask-recipe"
    md = (results / f"{dataset}-v2.md").read_text()
    assert "every student selected by cross-validation" in md and "## Where the time went" in md


def test_berkeley_v2_spec_plans_every_row_on_the_synthetic_standin(tmp_path, capsys):
    # the same generated rows as mmact-v2 (run end to end above); here every step's config is checked
    from vskd.cli import main

    assert main(["bench", "berkeley-mhad", "--preset", "v2", "--seeds", "0", "--dry-run", "--out",
                 str(tmp_path / "runs"), *_standin(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "31 steps planned" in out and "seed 0 dask-rgb-untrained: distill dask from rgb-untrained" in out
    assert "seed 0 rocket-ridge: student, cross-subject, selection cv" in out  # the rocket student's row
    assert "seed 1 " not in out  # --seeds 0: a 1-seed slice of the 5-seed spec
