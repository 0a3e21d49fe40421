"""scripts/paired.py: seed-by-seed differences between run folders (docs/results pages cite it)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest


def _script():
    path = Path(__file__).resolve().parents[1] / "scripts" / "paired.py"
    spec = importlib.util.spec_from_file_location("paired_script", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_pairs_only_the_seeds_both_runs_finished(tmp_path, capsys):
    for run, accs in {"a": [0.80, 0.82, 0.90], "b": [0.78, 0.81, None]}.items():
        for seed, acc in enumerate(accs):
            if acc is not None:
                d = tmp_path / f"seed{seed}" / run
                d.mkdir(parents=True)
                (d / "results.json").write_text(json.dumps({"test": {"accuracy": acc}}))
    pat = str(tmp_path / "seed{seed}")
    assert _script().main([f"{pat}/a:{pat}/b", "--seeds", "0", "1", "2"]) == 0
    row = capsys.readouterr().out.strip().splitlines()[-1]
    # seeds 0 and 1 only: differences +2 and +1 points, mean +1.5, both higher
    assert "| +1.5 [" in row and row.endswith("| 2/2 |")


def test_a_pair_without_a_colon_is_one_line(capsys):
    with pytest.raises(SystemExit):
        _script().main(["runs/only-one"])
    assert "expected A:B" in capsys.readouterr().err


def test_a_side_can_be_a_committed_bench_summary(tmp_path, capsys):
    for seed, acc in enumerate([0.90, 0.88, 0.91]):
        d = tmp_path / f"seed{seed}" / "a"
        d.mkdir(parents=True)
        (d / "results.json").write_text(json.dumps({"test": {"accuracy": acc}}))
    summary = tmp_path / "bench.json"
    summary.write_text(json.dumps({"runs": {"b": {"seeds": {"0": {"test_accuracy": 0.89},
                                                            "1": {"test_accuracy": 0.89},
                                                            "2": {"test_accuracy": None}}}}}))
    pat = str(tmp_path / "seed{seed}")
    assert _script().main([f"{pat}/a:{summary}#b", "--seeds", "0", "1", "2"]) == 0
    row = capsys.readouterr().out.strip().splitlines()[-1]
    # seeds 0 and 1 (seed 2 has no figure in the summary): +1 and -1 points, mean 0, one higher
    assert "| +0.0 [" in row and row.endswith("| 1/2 |")
    with pytest.raises(SystemExit, match="no run 'c'"):
        _script().main([f"{pat}/a:{summary}#c"])
    with pytest.raises(SystemExit, match="not a vskd bench summary"):
        _script().main([f"{pat}/a:{tmp_path / 'missing.json'}#b"])


def test_split_val_pairs_the_cross_validation_accuracies(tmp_path, capsys):
    for run, (val, test) in {"a": (0.96, 0.90), "b": (0.95, 0.93)}.items():
        d = tmp_path / "seed0" / run
        d.mkdir(parents=True)
        (d / "results.json").write_text(json.dumps({"val": {"accuracy": val}, "test": {"accuracy": test}}))
    pat = str(tmp_path / "seed{seed}")
    assert _script().main([f"{pat}/a:{pat}/b", "--seeds", "0", "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert "A val acc" in out and out.strip().splitlines()[-1].endswith("| +1.0 | 1/1 |")
    assert _script().main([f"{pat}/a:{pat}/b", "--seeds", "0"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].endswith("| -3.0 | 0/1 |")
    with pytest.raises(SystemExit, match="test accuracies only"):
        _script().main([f"{pat}/a:{tmp_path / 'bench.json'}#b", "--split", "val"])
