"""``vskd data check``: the report object (vskd.data.check) and the CLI's output and exit codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from vskd.cli import main
from vskd.data.check import check_dataset, peek_mat
from vskd.errors import ConfigError, DataError

SUBSET = ["a1_s1_t1", "a2_s2_t3", "a22_s5_t2", "a27_s8_t1"]


def make_subset(utd_root: Path, dest: Path, names=SUBSET) -> Path:
    """A small UTD-MHAD root: symlinks to a few real files (the data are never copied into the repo)."""
    for folder, suffix in (("Inertial", "inertial"), ("Depth", "depth"), ("Skeleton", "skeleton")):
        (dest / folder).mkdir(parents=True)
        for name in names:
            (dest / folder / f"{name}_{suffix}.mat").symlink_to(utd_root / folder / f"{name}_{suffix}.mat")
    return dest


@pytest.mark.realdata
def test_quick_check_of_the_whole_release(utd_root: Path) -> None:
    report = check_dataset("utd-mhad", utd_root, quick=True)
    assert report.ok and report.errors == [] and report.warnings == []
    assert report.recordings == 861
    assert report.counts == {"inertial": 861, "depth": 861, "skeleton": 861, "rgb": 0}
    assert report.lengths["inertial"] == (107, 326) and report.lengths["depth"] == (41, 125)
    assert report.lengths["skeleton"] == report.lengths["depth"]
    assert report.notes == ["3 recording(s) never released by the authors: a8_s1_t4, a23_s6_t4, a27_s8_t4"]


@pytest.mark.realdata
def test_peek_mat_agrees_with_loadmat(utd_root: Path) -> None:
    for folder, suffix, var in (("Inertial", "inertial", "d_iner"), ("Depth", "depth", "d_depth"),
                                ("Skeleton", "skeleton", "d_skel")):
        path = utd_root / folder / f"a9_s3_t2_{suffix}.mat"
        name, shape, _, storage = peek_mat(path)
        arr = scipy.io.loadmat(str(path))[var]
        assert (name, shape, storage) == (var, arr.shape, str(arr.dtype).replace("float64", "double"))


@pytest.mark.realdata
def test_full_check_of_a_few_real_files_and_cli(utd_root: Path, tmp_path: Path, capsys) -> None:
    root = make_subset(utd_root, tmp_path / "utd")
    report = check_dataset("utd-mhad", root)  # reads every file
    assert report.ok and report.recordings == 4 and not report.quick
    assert report.counts["depth"] == 4 and report.lengths["inertial"][0] >= 107
    assert main(["data", "check", "--dataset", "utd-mhad", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "4 recordings (full check" in out and "inertial      4 files" in out and out.strip().endswith(
        "usable: 0 error(s), 0 warning(s)")
    # thresholds are options: every real recording is shorter than 1000 samples
    assert main(["data", "check", "--dataset", "utd-mhad", "--root", str(root), "--min-samples", "1000"]) == 1
    out = capsys.readouterr().out
    assert out.count("error: ") == 4 and "fewer than the minimum 1000" in out and "NOT usable: 4 error(s)" in out


def test_problems_one_line_each(tmp_path: Path, capsys) -> None:
    root = tmp_path / "utd"
    for sub in ("Inertial", "Depth", "Skeleton"):
        (root / sub).mkdir(parents=True)
    ok_iner = np.random.default_rng(0).normal(size=(60, 6))
    for name in ("a1_s1_t1", "a1_s2_t1", "a2_s1_t1", "a3_s1_t1", "a4_s1_t1"):
        scipy.io.savemat(root / "Inertial" / f"{name}_inertial.mat", {"d_iner": ok_iner})
        scipy.io.savemat(root / "Skeleton" / f"{name}_skeleton.mat", {"d_skel": np.ones((20, 3, 12))})
        if name != "a1_s2_t1":  # this one misses its depth file
            scipy.io.savemat(root / "Depth" / f"{name}_depth.mat", {"d_depth": np.ones((240, 320, 12), np.uint16)},
                             do_compression=True)
    nan = ok_iner.copy()
    nan[3, 3] = np.nan
    scipy.io.savemat(root / "Inertial" / "a2_s1_t1_inertial.mat", {"d_iner": nan})  # NaN
    scipy.io.savemat(root / "Inertial" / "a3_s1_t1_inertial.mat", {"d_iner": ok_iner[:5]})  # too short
    scipy.io.savemat(root / "Skeleton" / "a4_s1_t1_skeleton.mat", {"skel": np.ones((20, 3, 12))})  # wrong name
    depth = (root / "Depth" / "a1_s1_t1_depth.mat").read_bytes()
    (root / "Depth" / "a1_s1_t1_depth.mat").write_bytes(depth[: len(depth) // 3])  # truncated
    (root / "Depth" / "a1_s1_t1_depth (copy).mat").write_bytes(depth)  # unparsable name
    (root / "Skeleton" / "Skeleton_joint_order.txt").write_text("1. head;")

    full = check_dataset("utd-mhad", root)
    assert not full.ok
    text = "\n".join(full.errors)
    assert len(full.errors) == 5, full.errors
    assert "a1_s1_t1_depth (copy).mat: file name not in UTD-MHAD form" in text
    assert "a2_s1_t1_inertial.mat: 'd_iner' has 1 NaN/Inf value(s), first at sample 3" in text
    assert "a3_s1_t1_inertial.mat: inertial has 5 samples, fewer than the minimum 8" in text
    assert "a4_s1_t1_skeleton.mat: variable 'd_skel' not found" in text
    assert "a1_s1_t1_depth.mat: unreadable .mat file" in text
    assert full.warnings == ["utd-mhad/a1_s2_t1: no depth file (other recordings have one)"]
    assert full.missing["depth"] == ["utd-mhad/a1_s2_t1"]

    quick = check_dataset("utd-mhad", root, quick=True)  # headers only: no NaN scan, but truncation is seen
    qtext = "\n".join(quick.errors)
    assert "truncated .mat file" in qtext and "variable 'd_skel' expected first, found 'skel'" in qtext
    assert "NaN" not in qtext and len(quick.errors) == 4

    required = check_dataset("utd-mhad", root, quick=True, require=["depth"])
    assert "utd-mhad/a1_s2_t1: no depth file (other recordings have one)" in required.errors
    assert len(required.errors) == 5 and required.warnings == []

    code = main(["data", "check", "--dataset", "utd-mhad", "--root", str(root), "--quick"])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert sum(line.startswith("error: ") for line in out) == 4
    assert sum(line.startswith("warning: ") for line in out) == 1
    assert out[-1] == "NOT usable: 4 error(s), 1 warning(s)"


def test_manifest_and_synthetic_checks(tmp_path: Path, capsys) -> None:
    t = np.arange(30) / 50
    (tmp_path / "ok.csv").write_text("t,x,y,z\n" + "\n".join(f"{v},{np.sin(v)},1,2" for v in t) + "\n")
    (tmp_path / "short.csv").write_text("t,x,y,z\n0,1,2,3\n0.02,1,2,3\n")
    (tmp_path / "bad.csv").write_text("t,x,y,z\n0,1,2,3\n0,1,2,3\n")
    m = tmp_path / "m.csv"
    m.write_text("id,label,subject,trial,sensor\nr1,a,1,1,ok.csv\nr2,a,2,1,short.csv\nr3,b,1,1,bad.csv\n"
                 "r4,b,x,1,ok.csv\n")
    report = check_dataset("manifest", m)
    assert report.recordings == 3 and report.counts["inertial"] == 3
    assert len(report.errors) == 3
    assert "row 5 (r4): subject must be an integer" in report.errors[0]
    assert any("short.csv: inertial has 2 samples" in e for e in report.errors)
    assert any("bad.csv: timestamps must be strictly increasing" in e for e in report.errors)
    assert main(["data", "check", "--dataset", "manifest", "--root", str(m)]) == 1
    capsys.readouterr()

    syn = check_dataset("synthetic", preset="tiny", seed=0)
    assert syn.ok and syn.recordings == 64 and syn.counts["rgb"] == 64 and syn.counts["inertial"] == 64
    assert main(["data", "check", "--dataset", "synthetic", "--preset", "tiny", "--quick"]) == 0
    assert "synthetic: 64 recordings" in capsys.readouterr().out


def test_bad_invocations(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("VSKD_UTD_MHAD", raising=False)  # else utd-mhad's root defaults to it
    with pytest.raises(DataError, match="UTD-MHAD root not found"):
        check_dataset("utd-mhad", tmp_path / "nope")
    with pytest.raises(ConfigError, match="unknown modality"):
        check_dataset("synthetic", require=["sound"])
    with pytest.raises(ConfigError, match="known datasets"):
        check_dataset("kinetics")
    assert main(["data", "check", "--dataset", "utd-mhad", "--root", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vskd data: error: ") and "UTD-MHAD root not found" in err[0]
    assert main(["data", "check", "--dataset", "utd-mhad"]) == 2
    assert "needs --root" in capsys.readouterr().err
    assert main(["data", "check", "--dataset", "nope"]) == 2  # the registry's one line, not argparse's choices
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown dataset 'nope'; known datasets: berkeley-mhad, manifest" in err[0]
