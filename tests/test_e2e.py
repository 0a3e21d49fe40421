"""End to end on the tiny synthetic preset: teacher, student, DASK distillation, evaluate; the demo (cue preset)."""

import json
import shutil

import pytest
import torch

from vskd.cli import main
from vskd.config import load_config

TINY = [
    "data.preset=tiny",
    "teacher.backbone=resnet18",
    "teacher.partial_bn=false",
    "teacher.input.modality=rgb",
    "teacher.input.num_segments=4",
    "teacher.input.frame_size=32",
    "teacher.input.crop_size=32",
    "teacher.train.epochs=2",
    "teacher.train.batch_size=8",
    "teacher.train.lr_steps=[]",
    "student.input.out_size=32",
    "student.train.epochs=2",
    "student.train.batch_size=8",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_teacher):
    """The session's tiny teacher (``vskd train-teacher``, tests/conftest.py) linked in as ``teacher/``,
    a student and a DASK student distilled from it."""
    root = tmp_path_factory.mktemp("e2e")
    (root / "teacher").symlink_to(tiny_teacher.parent, target_is_directory=True)
    ov = TINY + [f"data.cache_dir={root / 'cache'}"]
    assert main(["train-student", "--set", *_flat(ov), "--out", str(root / "student"), "--quiet"]) == 0
    assert main(["distill", "--method", "dask", "--teacher", str(root / "teacher" / "best.pt"),
                 "--set", *_flat(ov), "--out", str(root / "dask"), "--quiet"]) == 0
    yield root, ov
    shutil.rmtree(root, ignore_errors=True)  # a module's runs, once its tests are done (disk)


def sets(ov):
    """``--set k=v --set k2=v2 ...`` for a list of overrides (shared by the CLI-driven tests)."""
    out = []
    for o in ov:
        out += ["--set", o]
    return out


def _flat(ov):
    # argparse: --set k=v --set k2=v2 ...; "--set" is given once before the list in the calls above,
    # so interleave it for the others
    out = []
    for i, o in enumerate(ov):
        if i:
            out.append("--set")
        out.append(o)
    return out


def test_each_job_writes_its_results(runs):
    root, _ = runs
    for job, epochs in (("teacher", 1), ("student", 2), ("dask", 2)):  # the shared teacher: one epoch
        res = json.loads((root / job / "results.json").read_text())
        assert 0.0 <= res["test"]["accuracy"] <= 1.0
        assert 0.0 <= res["val"]["accuracy"] <= 1.0
        assert (root / job / "config.yaml").exists()
        assert (root / job / "test_confusion.png").stat().st_size > 1000
        rows = (root / job / "metrics.csv").read_text().splitlines()
        assert len(rows) == 1 + epochs  # header + one row per epoch
    dask = json.loads((root / "dask" / "results.json").read_text())
    assert dask["method"] == "dask"
    header = (root / "dask" / "metrics.csv").read_text().splitlines()[0]
    for term in ("train_ce", "train_loss"):
        assert term in header


def test_teacher_cache_is_written_once_and_reused(runs):
    root, ov = runs
    files = list((root / "cache" / "teacher-outputs").glob("*.pt"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns
    assert main(["distill", "--teacher", str(root / "teacher" / "best.pt"), "--set", *_flat(ov),
                 "--set", "student.train.epochs=1", "--out", str(root / "dask2"), "--quiet"]) == 0
    assert files[0].stat().st_mtime_ns == mtime


def test_student_checkpoint_holds_only_the_student(runs):
    root, _ = runs
    ckpt = torch.load(root / "dask" / "best.pt", weights_only=True)
    assert all(not k.startswith("teacher") for k in ckpt["model"])
    assert ckpt["meta"]["kind"] == "student"


def test_evaluate_command_reproduces_the_test_figure(runs, capsys):
    root, _ = runs
    assert main(["evaluate", str(root / "student" / "best.pt"), "--out", str(root / "eval")]) == 0
    report = json.loads((root / "eval" / "eval_test.json").read_text())
    res = json.loads((root / "student" / "results.json").read_text())
    assert report["accuracy"] == pytest.approx(res["test"]["accuracy"])
    assert len(report["per_class_accuracy"]) == len(report["class_names"])


def test_user_errors_are_one_line(runs, capsys, tmp_path):
    root, ov = runs
    assert main(["distill", "--set", *_flat(ov), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "teacher_checkpoint" in err[0]
    assert main(["distill", "--teacher", str(root / "student" / "best.pt"), "--set", *_flat(ov),
                 "--out", str(tmp_path / "y")]) == 2
    assert "expected a teacher" in capsys.readouterr().err
    assert main(["train-student", "--set", *_flat(ov), "--out", str(root / "student")]) == 2
    assert "--resume" in capsys.readouterr().err


@pytest.mark.slow  # four jobs per setting; CI also runs the installed wheel's demo (.ci/run)
def test_demo_prints_the_table(tmp_path, capsys):
    from vskd.commands.demo import label_scarce_supported

    ov = [f"data.cache_dir={tmp_path / 'cache'}"]
    assert main(["demo", "--quick", "--out", str(tmp_path / "demo"), "--quiet", "--set", *_flat(ov)]) == 0
    out = capsys.readouterr().out
    settings = 2 if label_scarce_supported() else 1
    table = (tmp_path / "demo" / "demo.md").read_text()
    assert table.count("\n") == 2 + 4 * settings  # header, rule, peer / student / teacher / distilled per setting
    assert table in out + "\n"  # printed as written
    rows = json.loads((tmp_path / "demo" / "demo.json").read_text())
    full = rows["full"]
    assert full["peer"]["kind"] == "peer" and full["teacher"]["kind"] == "teacher"
    delta = 100 * (full["distilled"]["test"]["accuracy"] - full["student"]["test"]["accuracy"])
    assert f"{delta:+.1f} |" in [line for line in table.splitlines() if "distilled student" in line][0]
    for png in ("demo.png", "demo_confusion.png"):
        assert (tmp_path / "demo" / png).stat().st_size > 10_000
    # a second call reuses the finished runs
    assert main(["demo", "--quick", "--out", str(tmp_path / "demo"), "--quiet", "--set", *_flat(ov)]) == 0
    assert "reusing the finished run" in capsys.readouterr().out


def test_demo_table_rows_and_deltas():
    from vskd.commands.demo import format_table

    def res(acc, f1):
        return {"test": {"accuracy": acc, "macro_f1": f1}}

    rows = {"full": {"peer": res(0.9, 0.89), "student": res(0.8, 0.75), "teacher": res(0.99, 0.99),
                     "distilled": res(0.78, 0.77), "method": "dask"},
            "scarce": {"peer": res(0.6, 0.5), "student": res(0.55, 0.5), "teacher": res(0.9, 0.9),
                       "distilled": res(0.7, 0.65), "method": "dask"}}
    lines = format_table(rows).splitlines()
    assert len(lines) == 10 and lines[2].startswith("| all labels | MiniRocket peer")
    assert lines[5] == "| all labels | distilled student (dask) | 78.0 | 77.0 | -2.0 | +2.0 |"
    assert lines[9] == "| 25 % labelled | distilled student (dask) | 70.0 | 65.0 | +15.0 | +15.0 |"
    assert format_table({"full": rows["full"]}).count("\n") == 5


def test_config_files_load():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "configs"
    # bench specs: test_bench; search spaces (vskd tune): test_package
    paths = [p for p in sorted(root.glob("**/*.yaml")) if "bench" not in p.parts and "tune" not in p.parts]
    assert len(paths) >= 3
    for path in paths:
        load_config(path)
