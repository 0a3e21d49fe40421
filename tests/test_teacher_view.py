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
    ({"teacher_view": "camera"}, "distill.teacher_view"),
    ({"teacher_view": "student", "mixup_views": "input"}, "distill.mixup_views"),  # no mixup to see
    ({"teacher_view": "student", "mixup": 1.0, "mixup_views": "labels"}, "distill.mixup_views"),
])
def test_config_refuses_meaningless_combinations_in_one_line(distill, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as e:
        validate(_cfg(**distill))
    assert "\n" not in str(e.value)


def test_config_accepts_function_matching():
    validate(_cfg(teacher_view="student", mixup=1.0))  # teacher_cache auto: the engine skips the cache
    validate(_cfg(teacher_view="student"))
    # a control re-assigns what a skeleton / camera member reads: whether the teacher has one is known
    # only from its checkpoint (refused when distilling otherwise, below)
    validate(_cfg(teacher_view="student", pairing="class-shuffled", teacher_cache="off"))
    validate(_cfg(teacher_view="student", mixup=1.0, mixup_views="input"))


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


# ----------------------------------------------------------------------------- a multimodal teacher

class _Linear(torch.nn.Module):
    """A member whose logits move with its input (an untrained watch1d's barely do)."""

    def __init__(self, numel):
        super().__init__()
        self.fc0, self.fc1 = torch.nn.Linear(numel, 8), torch.nn.Linear(8, C)

    def forward(self, x):
        return self.fc1(torch.relu(self.fc0(x.flatten(1))))


def _multimodal_pair():
    torch.manual_seed(0)
    teacher = FusionTeacher({"skeleton": _Linear(4 * 32).eval(),
                             "inertial": build_student_model("watch1d", C, in_channels=3).eval()}, C,
                            fusion="ensemble").eval()
    student = build_student_model("watch1d", C, in_channels=3)
    g = torch.Generator().manual_seed(1)
    x, v = torch.randn(6, 3, 64, generator=g), torch.randn(6, 4, 32, generator=g)
    return teacher, student, x, v, {"student": x, "teacher": {"skeleton": v}, "label": torch.tensor([0, 1, 2, 3, 4, 0])}


def test_a_recording_member_reads_the_batch_view():
    """Wrist member: the student's window; the other member ("skeleton", here any model of its view):
    ``batch["teacher"]["skeleton"]``."""
    teacher, student, x, v, batch = _multimodal_pair()
    plain = Distiller(student, teacher, create_method("kd"), student_view=("inertial",))
    with torch.no_grad():
        want = teacher({"skeleton": v, "inertial": x})
    assert torch.allclose(plain.teacher_features(batch)["logits"], want)


def test_mixup_views_output_mixes_the_recording_members_outputs():
    """The default: the teacher runs on the mixed window with each recording's own view and the pair's
    partner's, and the two outputs are mixed with lam; for the fixed ensemble that is the wrist member on
    the mixed window plus the skeleton member's logits mixed like labels."""
    teacher, student, x, v, batch = _multimodal_pair()
    mixed = Distiller(student, teacher, create_method("kd"), student_view=("inertial",), mixup=1.0)
    torch.manual_seed(5)
    out, perm, lam = mixed._mix(batch)
    assert perm is not None and 0 < lam < 1 and not torch.equal(perm, torch.arange(6))
    assert torch.allclose(out["student"], lam * x + (1 - lam) * x[perm])
    assert torch.equal(out["teacher"]["skeleton"], v)  # the view itself is not mixed
    got = mixed.teacher_features(out, mix=(perm, lam))["logits"]
    xm = lam * x + (1 - lam) * x[perm]
    with torch.no_grad():
        want = lam * teacher({"skeleton": v, "inertial": xm}) + (1 - lam) * teacher({"skeleton": v[perm], "inertial": xm})
        wrist, skel = teacher.members["inertial"](xm), teacher.members["skeleton"]
        w = teacher.weights()
        by_member = w[1] * wrist + w[0] * (lam * skel(v) + (1 - lam) * skel(v[perm]))
    assert torch.allclose(got, want, atol=1e-6) and torch.allclose(got, by_member, atol=1e-5)
    with torch.no_grad():  # and not the unmixed-partner output (the control of the assertion above)
        assert not torch.allclose(got, teacher({"skeleton": v, "inertial": xm}), atol=1e-4)


def test_mixup_views_input_mixes_the_recording_members_views_with_the_same_draws():
    teacher, student, x, v, batch = _multimodal_pair()
    mixed = Distiller(student, teacher, create_method("kd"), student_view=("inertial",), mixup=1.0,
                      mixup_views="input")
    torch.manual_seed(5)
    out, perm, lam = mixed._mix(batch)
    assert torch.allclose(out["teacher"]["skeleton"], lam * v + (1 - lam) * v[perm])
    assert torch.allclose(out["student"], lam * x + (1 - lam) * x[perm])
    with torch.no_grad():
        want = teacher({"skeleton": lam * v + (1 - lam) * v[perm], "inertial": lam * x + (1 - lam) * x[perm]})
    assert torch.allclose(mixed.teacher_features(out, mix=(perm, lam))["logits"], want)
    assert torch.equal(batch["teacher"]["skeleton"], v)  # the caller's batch is not mixed in place
    with pytest.raises(ConfigError, match="mixup_views"):
        Distiller(student, teacher, create_method("kd"), student_view=("inertial",), mixup=1.0, mixup_views="both")


class _Items:
    """A stand-in paired dataset: item i's student is i, its teacher view 100 + i (+ 1000 × epoch)."""

    def __init__(self, n):
        self.n, self.epoch = n, 0

    def __len__(self):
        return self.n

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __getitem__(self, i):
        return {"index": i, "student": torch.tensor(float(i)),
                "teacher": {"skeleton": torch.tensor(100.0 + i + 1000 * self.epoch)}}


@pytest.mark.parametrize("mode", ["class-shuffled", "unpaired"])
def test_reassigned_views_swap_only_the_teacher_view(mode):
    from vskd.engine.pairing import ReassignedViews, reassign

    labels = [0, 0, 0, 1, 1, 1, 2, 2]
    ds = ReassignedViews(_Items(8), labels, mode, seed=3)
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        want = reassign(labels, mode, 3, epoch)
        for i in range(8):
            item = ds[i]
            j = int(item["teacher"]["skeleton"]) - 100 - 1000 * epoch
            assert item["index"] == i and float(item["student"]) == i  # the student keeps its own window
            assert j == want[i] and j != i  # the teacher's from another recording ...
            if mode == "class-shuffled":
                assert labels[j] == labels[i]  # ... of the same class
    assert not (reassign(labels, mode, 3, 0) == reassign(labels, mode, 3, 1)).all()  # redrawn per epoch


SKEL = ["data.synthetic={skeleton_layout: kinect}", "student.arch=minirocket", "student.input.augment={}",
        "student.train.epochs=1", "student.train.batch_size=8"]


@pytest.fixture(scope="module")
def multimodal(tmp_path_factory):
    """A closed-form skeleton teacher, a ridge wrist student and their fixed ensemble (tiny synthetic)."""
    root = tmp_path_factory.mktemp("teacher-view-mm")
    base = ["data.preset=tiny", "student.input.length=64", f"data.cache_dir={root / 'cache'}"] + SKEL
    skr = base + ["teacher.arch=skeleton_minirocket", "teacher.input.modality=skeleton",
                  "teacher.input.skeleton_length=24", "teacher.input.skeleton_augment.rotate=0",
                  "teacher.input.skeleton_augment.scale=0", "teacher.train.epochs=1", "teacher.train.lr=1e-8"]
    assert main(["train-teacher", *_sets(skr), "--out", str(root / "skr"), "--quiet"]) == 0
    assert main(["train-student", *_sets(base + ["student.head_init=ridge"]), "--out", str(root / "wrist"),
                 "--quiet"]) == 0
    members = (f"teacher.members=[{{checkpoint: {root / 'skr' / 'best.pt'}, name: skeleton}}, "
               f"{{checkpoint: {root / 'wrist' / 'best.pt'}, name: inertial}}]")
    assert main(["train-teacher", *_sets(base + ["teacher.arch=fusion", "teacher.fusion=ensemble", members]),
                 "--out", str(root / "fusion"), "--quiet"]) == 0
    for name, member in (("solo", "wrist"), ("skeleton-only", "skr")):  # one-member ensembles
        solo = f"teacher.members=[{{checkpoint: {root / member / 'best.pt'}, name: {member}}}]"
        assert main(["train-teacher", *_sets(base + ["teacher.arch=fusion", "teacher.fusion=ensemble", solo]),
                     "--out", str(root / name), "--quiet"]) == 0
    yield root, base
    shutil.rmtree(root, ignore_errors=True)


def test_function_matching_from_a_skeleton_and_wrist_teacher_with_its_controls(multimodal):
    """The skeleton member reads the recording, the wrist member the student's mixed window; the
    class-shuffled control re-assigns the skeleton's recording. A rerun of the paired run gives the same
    student to the last bit; the control, whose only difference is the teacher's targets, does not."""
    root, base = multimodal
    teacher = str(root / "fusion" / "best.pt")
    weights = {}
    for name, pairing in (("paired", "paired"), ("again", "paired"), ("shuffled", "class-shuffled")):
        out = root / f"fm-{name}"
        sets = base + ["distill.teacher_view=student", "distill.mixup=1.0", f"distill.pairing={pairing}",
                       "student.train.epochs=2"]
        assert main(["distill", "--method", "kd", "--teacher", teacher, *_sets(sets), "--out", str(out),
                     "--quiet"]) == 0
        assert json.loads((out / "results.json").read_text())["pairing"] == pairing
        weights[name] = torch.load(out / "best.pt", map_location="cpu", weights_only=False)["model"]
    assert not (root / "cache" / "teacher-outputs").exists()  # read batch by batch, never cached
    same = lambda a, b: all(torch.equal(a[k], b[k]) for k in a)  # noqa: E731
    assert same(weights["paired"], weights["again"])
    assert not same(weights["paired"], weights["shuffled"])


def test_a_pairing_control_needs_a_member_that_reads_the_recording(multimodal, tmp_path, capsys):
    root, base = multimodal
    code = main(["distill", "--method", "kd", "--teacher", str(root / "solo" / "best.pt"),
                 *_sets(base + ["distill.teacher_view=student", "distill.pairing=unpaired"]),
                 "--out", str(tmp_path / "x"), "--quiet"])
    err = capsys.readouterr().err
    assert code != 0 and "distill.pairing" in err and "no pairing to break" in err and "Traceback" not in err, err


def test_student_view_needs_a_member_that_reads_the_wrist(multimodal, tmp_path, capsys):
    root, base = multimodal
    code = main(["distill", "--method", "kd", "--teacher", str(root / "skeleton-only" / "best.pt"),
                 *_sets(base + ["distill.teacher_view=student"]), "--out", str(tmp_path / "x"), "--quiet"])
    err = capsys.readouterr().err
    assert code != 0 and "no member reads the wrist window" in err and "Traceback" not in err, err
