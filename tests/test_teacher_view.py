"""``distill.teacher_view: student`` and ``distill.mixup`` (issue 14 goal 2, "function matching", Beyer et al.
CVPR 2022): the config's refusals, the distiller feeding the student's (mixed) window to a wrist teacher,
the mixed cross-entropy, and one synthetic distillation end to end."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import torch.nn.functional as F

from vskd.cli import main
from vskd.config import Config, validate
from vskd.engine.distiller import Distiller
from vskd.errors import ConfigError
from vskd.losses import kd_loss
from vskd.losses.registry import create_method
from vskd.models.fusion import FusionTeacher
from vskd.models.registry import build_student_model

torch.set_num_threads(1)

C = 5


def _cfg(**distill) -> Config:
    cfg = Config()
    for k, v in distill.items():
        setattr(cfg.distill, k, v)
    return cfg


@pytest.mark.parametrize("distill, key", [
    ({"mixup": 1.0}, "distill.mixup"),  # mixup needs the teacher to read the mixed window
    ({"mixup": -0.5, "teacher_view": "student"}, "distill.mixup"),
    ({"mixup": "lots", "teacher_view": "student"}, "distill.mixup"),
    ({"teacher_view": "student", "teacher_cache": "on"}, "distill.teacher_cache"),
    ({"teacher_view": "student", "pairing": "class-shuffled"}, "distill.pairing"),
    ({"teacher_view": "camera"}, "distill.teacher_view"),
])
def test_config_refuses_meaningless_combinations_in_one_line(distill, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as e:
        validate(_cfg(**distill))
    assert "\n" not in str(e.value)


def test_config_accepts_function_matching():
    validate(_cfg(teacher_view="student", mixup=1.0))  # teacher_cache auto: the engine skips the cache
    validate(_cfg(teacher_view="student"))


def _wrist_pair(seed: int = 0):
    torch.manual_seed(seed)
    teacher = FusionTeacher({"inertial": build_student_model("watch1d", C, in_channels=3).eval()}, C,
                            fusion="ensemble").eval()
    student = build_student_model("watch1d", C, in_channels=3)
    g = torch.Generator().manual_seed(seed + 1)
    batch = {"student": torch.randn(6, 3, 64, generator=g), "label": torch.tensor([0, 1, 2, 3, 4, 0])}
    return student, teacher, batch


def test_the_teacher_reads_the_students_window():
    student, teacher, batch = _wrist_pair()
    d = Distiller(student, teacher, create_method("kd"), student_view=("inertial",))
    t = d.teacher_features(batch)  # no batch["teacher"]: the student's window is what it reads
    with torch.no_grad():
        torch.testing.assert_close(t["logits"], teacher({"inertial": batch["student"]}))
    d.close()


def test_mixup_mixes_the_window_both_models_read_and_weights_the_two_labels():
    student, teacher, batch = _wrist_pair()
    d = Distiller(student, teacher, create_method("kd"), student_view=("inertial",), mixup=1.0)
    d.train()
    torch.manual_seed(7)
    logits, losses = d(batch)
    torch.manual_seed(7)  # the same draws: lam ~ Beta(1, 1), then the permutation
    lam = float(torch.distributions.Beta(1.0, 1.0).sample())
    perm = torch.randperm(6)
    assert 0.0 < lam < 1.0 and not torch.equal(perm, torch.arange(6))
    x = lam * batch["student"] + (1 - lam) * batch["student"][perm]
    with torch.no_grad():
        s = student(x)
        t = teacher({"inertial": x})
    torch.testing.assert_close(logits.detach(), s)
    y = batch["label"]
    ce = lam * F.cross_entropy(s, y) + (1 - lam) * F.cross_entropy(s, y[perm])
    torch.testing.assert_close(losses["ce"].detach(), ce)
    torch.testing.assert_close(losses["kd"].detach(), kd_loss(s, t, 4.0))
    d.close()


def test_the_distiller_refuses_student_view_with_a_cache_or_mixup_alone():
    student, teacher, _ = _wrist_pair()
    with pytest.raises(ConfigError, match="distill.mixup"):
        Distiller(student, teacher, create_method("kd"), mixup=1.0)
    with pytest.raises(ConfigError, match="distill.mixup"):  # CRD reads each recording's index
        Distiller(student, teacher, create_method("crd"), student_view=True, mixup=1.0)
    with pytest.raises(ConfigError, match="teacher_view"):
        Distiller(student, None, create_method("kd"), student_view=True, teacher_cache=object())


# ----------------------------------------------------------------------------- end to end (tiny synthetic)

TINY = ["data.preset=tiny", "student.arch=watch1d", "student.input.length=64", "student.train.epochs=1",
        "student.train.batch_size=8", "student.input.augment.rotate=10"]


def _sets(ov):
    return [x for o in ov for x in ("--set", o)]


@pytest.fixture(scope="module")
def wrist(tmp_path_factory):
    """A watch1d student (1 epoch) and the one-member ensemble teacher over it."""
    root = tmp_path_factory.mktemp("teacher-view")
    ov = TINY + [f"data.cache_dir={root / 'cache'}"]
    assert main(["train-student", *_sets(ov), "--out", str(root / "wrist"), "--quiet"]) == 0
    fus = ov + ["teacher.arch=fusion", "teacher.fusion=ensemble",
                f"teacher.members=[{{checkpoint: {root / 'wrist' / 'best.pt'}, name: inertial}}]"]
    assert main(["train-teacher", *_sets(fus), "--out", str(root / "teacher"), "--quiet"]) == 0
    yield root, ov
    shutil.rmtree(root, ignore_errors=True)


def test_function_matching_distils_end_to_end_without_a_teacher_cache(wrist):
    root, ov = wrist
    out = root / "fm"
    sets = ov + ["distill.teacher_view=student", "distill.mixup=1.0"]
    assert main(["distill", "--method", "kd", "--teacher", str(root / "teacher" / "best.pt"), *_sets(sets),
                 "--out", str(out), "--quiet"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["method"] == "kd" and 0.0 <= res["test"]["accuracy"] <= 1.0
    assert not (root / "cache" / "teacher-outputs").exists()  # read batch by batch, never cached


def test_student_view_refuses_a_teacher_that_does_not_read_the_students_window(wrist, tmp_path, capsys):
    root, ov = wrist
    teacher = str(root / "teacher" / "best.pt")
    cases = [  # a GAF student; a student of another length than the member's
        (["student.arch=resnet18", "student.input.length=180"], "reads a GAF image"),
        (["student.input.length=96"], "member 'inertial' reads"),
    ]
    for extra, msg in cases:
        code = main(["distill", "--method", "kd", "--teacher", teacher,
                     *_sets(ov + extra + ["distill.teacher_view=student"]), "--out", str(tmp_path / "x"), "--quiet"])
        err = capsys.readouterr().err
        assert code != 0 and msg in err and "Traceback" not in err, err


def test_student_view_refuses_a_camera_teacher(wrist, tiny_teacher, tmp_path, capsys):
    root, ov = wrist
    code = main(["distill", "--method", "kd", "--teacher", str(tiny_teacher),
                 *_sets(ov + ["distill.teacher_view=student"]), "--out", str(tmp_path / "x"), "--quiet"])
    err = capsys.readouterr().err
    assert code != 0 and "not the wrist window" in err and "Traceback" not in err, err
