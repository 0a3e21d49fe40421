"""The multimodal (fusion) teacher and teacher ensembles (issue 15 items 5-6): the model's fusion rules,
the multi-view paired items, member checkpoints (and their bad forms), and distillation through the
teacher cache."""

from __future__ import annotations

import copy
import json
import shutil

import numpy as np
import pytest
import torch

from vskd.cli import main
from vskd.config import load_config
from vskd.data.paired import MultiViewSpec, PairedDataset, RawSpec, SkeletonSpec, collate
from vskd.errors import ConfigError, DataError, VskdError
from vskd.models.features import make_taps
from vskd.models.fusion import FusionTeacher
from vskd.models.registry import build_student_model
from vskd.models.skeleton import SkeletonTeacher

torch.set_num_threads(1)

C = 5


def _members(seed: int = 0) -> dict:
    torch.manual_seed(seed)
    return {"skeleton": SkeletonTeacher(C, hidden=8).eval(),
            "inertial": build_student_model("watch1d", C, in_channels=3).eval()}


def _views(b: int = 4) -> dict:
    g = torch.Generator().manual_seed(1)
    return {"skeleton": torch.randn(b, 16, 20, 3, generator=g), "inertial": torch.randn(b, 3, 64, generator=g)}


# ----------------------------------------------------------------------------- the model

def test_ensemble_is_the_weighted_mean_of_the_members_logits():
    members = _members()
    views = _views()
    with torch.no_grad():
        z = {n: m(views[n]) for n, m in members.items()}
        t = FusionTeacher(copy.deepcopy(members), C, fusion="ensemble", weights=[3.0, 1.0]).eval()
        out = t(views)
    torch.testing.assert_close(out, 0.75 * z["skeleton"] + 0.25 * z["inertial"])
    assert not any(p.requires_grad for p in t.parameters())  # nothing to train


def test_late_fusion_learns_only_its_weights_and_starts_at_the_ensemble():
    members = _members()
    views = _views()
    late = FusionTeacher(copy.deepcopy(members), C, fusion="late", weights=[1.0, 1.0])
    ens = FusionTeacher(copy.deepcopy(members), C, fusion="ensemble").eval()
    late.train()
    assert all(not m.training for m in late.members.modules())  # frozen members stay in eval mode
    trainable = [n for n, p in late.named_parameters() if p.requires_grad]
    assert trainable == ["log_weights"]
    torch.testing.assert_close(late.weights(), torch.tensor([0.5, 0.5]))
    out = late(views)
    with torch.no_grad():
        torch.testing.assert_close(out, ens(views))
    out.logsumexp(1).sum().backward()
    assert late.log_weights.grad is not None and late.log_weights.grad.abs().sum() > 0


def test_feature_fusion_head_and_finetuning():
    views = _views()
    t = FusionTeacher(_members(), C, fusion="feature", hidden=32, embed_dim=300)
    rec = make_taps(t, ("logits", "emb"), "teacher")
    feats = rec.collect(t(views))
    assert feats["logits"].shape == (4, C) and feats["emb"].shape == (4, 300)
    feats["logits"].sum().backward()
    assert all(p.grad is None for p in t.members.parameters())  # frozen by default
    assert t.fc0.weight.grad is not None and t.mlp[0].weight.shape == (32, sum(t.embed_dims))
    ft = FusionTeacher(_members(), C, fusion="feature", hidden=32, finetune=True).train()
    assert all(m.training for m in ft.members.modules())
    ft(views).sum().backward()
    assert ft.members["skeleton"].fc0.weight.grad is not None and ft.members["inertial"].fc0.weight.grad is not None
    rec.remove()


def test_ensemble_embedding_projected_or_concatenated():
    views = _views()
    members = _members()
    with torch.no_grad():
        embs = FusionTeacher(copy.deepcopy(members), C, fusion="ensemble").member_outputs(views)[1]
    cat = torch.cat(embs, 1)
    t = FusionTeacher(copy.deepcopy(members), C, fusion="ensemble", embedding="concat").eval()
    taps = make_taps(t, ("emb",), "teacher")
    with torch.no_grad():
        torch.testing.assert_close(taps.collect(t(views))["emb"], cat)
    taps.remove()
    p = FusionTeacher(copy.deepcopy(members), C, fusion="ensemble", embed_dim=300).eval()
    d = cat.shape[1]
    # rows orthonormal up to the norm-keeping scale: P P^T = (D / 300) I
    torch.testing.assert_close(p.projection @ p.projection.T, torch.eye(300) * d / 300, atol=1e-4, rtol=1e-4)
    taps = make_taps(p, ("emb",), "teacher")
    with torch.no_grad():
        emb = taps.collect(p(views))["emb"]
    torch.testing.assert_close(emb, cat @ p.projection.T)
    taps.remove()


def test_feature_map_methods_are_refused_in_one_line():
    t = FusionTeacher(_members(), C, fusion="late")
    with pytest.raises(ConfigError, match="no feature maps") as exc:
        make_taps(t, ("block3",), "teacher")
    assert "\n" not in str(exc.value)


def test_missing_view_and_wrong_input_are_one_line():
    t = FusionTeacher(_members(), C, fusion="ensemble").eval()
    with pytest.raises(ConfigError, match="member 'inertial'"):
        t({"skeleton": _views()["skeleton"]})
    with pytest.raises(ConfigError, match="dict of views"):
        t(torch.zeros(2, 3))


def test_state_dict_round_trip_and_deepcopy():
    views = _views()
    a = FusionTeacher(_members(0), C, fusion="feature", hidden=16).eval()
    b = FusionTeacher(_members(1), C, fusion="feature", hidden=16).eval()
    b.load_state_dict(a.state_dict())
    c = copy.deepcopy(a)
    with torch.no_grad():
        torch.testing.assert_close(a(views), b(views))
        torch.testing.assert_close(a(views), c(views))


# ----------------------------------------------------------------------------- config

def test_config_refuses_bad_members(tmp_path):
    with pytest.raises(ConfigError, match="teacher.members.*at least one member"):
        load_config(None, ["teacher.arch=fusion"])
    with pytest.raises(ConfigError, match="read by teacher.arch 'fusion' only"):
        load_config(None, ["teacher.members=[{checkpoint: a.pt}]"])
    with pytest.raises(ConfigError, match=r"teacher.members\[1\].weight"):
        load_config(None, ["teacher.arch=fusion", "teacher.members=[{checkpoint: a.pt}, {checkpoint: b.pt, weight: 0}]"])
    with pytest.raises(ConfigError, match="given twice"):
        load_config(None, ["teacher.arch=fusion", "teacher.members=[{checkpoint: a, name: x}, {checkpoint: b, name: x}]"])
    with pytest.raises(ConfigError, match="teacher.fusion"):
        load_config(None, ["teacher.arch=fusion", "teacher.members=[{checkpoint: a}]", "teacher.fusion=max"])
    cfg = load_config("configs/utd-mhad/fusion-teacher.yaml")
    assert cfg.teacher.arch == "fusion" and [m.name for m in cfg.teacher.members] == ["skeleton", "inertial"]


# ----------------------------------------------------------------------------- paired views (real data)

def _utd(utd_root, subjects=(1,), actions=(1, 2)):
    from vskd.data.datasets import load_recordings

    recs = load_recordings("utd-mhad", utd_root)
    return [r for r in recs if r.key.subject in subjects and r.key.action in actions and r.key.trial <= 2]


@pytest.mark.realdata
def test_multiview_items_on_real_recordings(utd_root):
    recs = _utd(utd_root)
    spec = MultiViewSpec((("skeleton", SkeletonSpec(length=32)), ("inertial", RawSpec(length=180))))
    ds = PairedDataset(recs, student=RawSpec(length=180), teacher=spec, train=False, cache_dir=False)
    item = ds[0]
    assert set(item["teacher"]) == {"skeleton", "inertial"}
    assert item["teacher"]["skeleton"].shape == (32, 20, 3) and item["teacher"]["inertial"].shape == (3, 180)
    # the inertial member sees the student's own window (same view, same recording)
    torch.testing.assert_close(item["teacher"]["inertial"], item["student"])
    single = PairedDataset(recs, student=None, teacher=SkeletonSpec(length=32), train=False, cache_dir=False)
    torch.testing.assert_close(item["teacher"]["skeleton"], single[0]["teacher"])  # single-view items unchanged
    batch = collate([ds[i] for i in range(3)])
    assert batch["teacher"]["skeleton"].shape == (3, 32, 20, 3) and batch["teacher"]["inertial"].shape == (3, 3, 180)
    # training items: reproducible per (seed, epoch, index), members drawn from distinct streams
    tr = PairedDataset(recs, student=None, teacher=spec, train=True, cache_dir=False)
    a, b = tr[1]["teacher"], tr[1]["teacher"]
    torch.testing.assert_close(a["skeleton"], b["skeleton"])
    assert not torch.equal(a["skeleton"], single[1]["teacher"])  # augmented


@pytest.mark.realdata
def test_missing_modality_names_the_recording_and_the_modality(utd_root):
    recs = _utd(utd_root)
    broken = copy.copy(recs[1])
    broken.sources = {k: v for k, v in recs[1].sources.items() if k != "skeleton"}
    spec = MultiViewSpec((("inertial", RawSpec()), ("joints", SkeletonSpec())))
    with pytest.raises(DataError) as exc:
        PairedDataset([recs[0], broken], student=None, teacher=spec, cache_dir=False)
    msg = str(exc.value)
    assert str(broken.key) in msg and "'skeleton'" in msg and "'joints'" in msg and "\n" not in msg


# ----------------------------------------------------------------------------- members, training, distillation

TINY = ["data.preset=tiny", "student.arch=watch1d", "student.input.length=64", "student.train.epochs=1",
        "student.train.batch_size=8", "student.input.augment.rotate=10"]


def _sets(ov):
    return [x for o in ov for x in ("--set", o)]


@pytest.fixture(scope="module")
def fused(tmp_path_factory, tiny_teacher):
    """A wrist member (watch1d, 1 epoch) and late / ensemble fusion teachers of the session's tiny RGB
    video teacher with it."""
    root = tmp_path_factory.mktemp("fusion")
    ov = TINY + [f"data.cache_dir={root / 'cache'}"]
    assert main(["train-student", *_sets(ov), "--out", str(root / "wrist"), "--quiet"]) == 0
    members = f"teacher.members=[{{checkpoint: {tiny_teacher}}}, {{checkpoint: {root / 'wrist' / 'best.pt'}}}]"
    fus = ov + ["teacher.arch=fusion", members, "teacher.train.epochs=1", "teacher.train.batch_size=8",
                "teacher.train.optimizer=adam", "teacher.train.lr_steps=[]"]
    for mode in ("late", "ensemble"):
        assert main(["train-teacher", *_sets(fus + [f"teacher.fusion={mode}"]), "--out", str(root / mode),
                     "--quiet"]) == 0
    yield root, ov, fus
    shutil.rmtree(root, ignore_errors=True)  # a module's runs, once its tests are done (disk)


def test_fusion_checkpoint_rebuilds_alone_and_evaluates(fused, tmp_path):
    from vskd.engine.checkpoints import load_teacher

    root, _, _ = fused
    teacher, meta = load_teacher(root / "late" / "best.pt")
    assert isinstance(teacher, FusionTeacher) and teacher.names == ("rgb", "inertial")
    members = meta["config"]["teacher"]["members"]
    assert [m["kind"] for m in members] == ["teacher", "student"]
    assert members[1]["config"]["student"]["arch"] == "watch1d"  # the member's own config, recorded
    ens = json.loads((root / "ensemble" / "results.json").read_text())
    assert ens["trained"] is False and ens["best_epoch"] == 1
    assert main(["evaluate", str(root / "ensemble" / "best.pt"), "--split", "val", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "eval_val.json").read_text())
    assert report["accuracy"] == pytest.approx(ens["val"]["accuracy"])


@pytest.mark.parametrize("method", ["kd", "dask"])
def test_distillation_reads_the_fusion_teacher_through_the_cache(fused, method):
    from vskd.engine.builders import loader, paired
    from vskd.engine.checkpoints import load_teacher
    from vskd.engine.distiller import TeacherCache

    root, ov, _ = fused
    out = root / f"distill-{method}"
    assert main(["distill", "--method", method, "--teacher", str(root / "late" / "best.pt"), *_sets(ov),
                 "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "results.json").read_text())["method"] == method
    from vskd.engine.checkpoints import load_checkpoint

    # the distilled student's checkpoint lists the labels that reached it, the teacher's included
    t_keys = load_checkpoint(root / "late" / "best.pt")["meta"]["train_keys"]
    assert set(t_keys) <= set(load_checkpoint(out / "best.pt")["meta"]["train_keys"])
    files = sorted((root / "cache" / "teacher-outputs").glob("*.pt"), key=lambda p: p.stat().st_mtime)
    cache = TeacherCache.load(files[-1])
    assert cache.features["logits"].shape[1] == 4  # the tiny preset's classes
    if method == "dask":
        assert cache.features["emb"].shape[1] == 300
    # the cached logits are the fusion teacher's own on the evaluation views of the training recordings
    teacher, _ = load_teacher(root / "late" / "best.pt")
    cfg = load_config(out / "config.yaml")
    from vskd.engine.builders import load_data

    _, splits, _ = load_data(cfg)
    batch = next(iter(loader(paired(cfg, splits.train, train=False, student=False, teacher=True), 4, False, 0)))
    with torch.no_grad():
        torch.testing.assert_close(cache.features["logits"][batch["index"]], teacher(batch["teacher"]))


def test_feature_map_method_with_fusion_teacher_is_one_line(fused, capsys, tmp_path):
    root, ov, _ = fused
    assert main(["distill", "--method", "fitnet", "--teacher", str(root / "late" / "best.pt"), *_sets(ov),
                 "--out", str(tmp_path / "f"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no feature maps" in err[0]


def _tampered(src, dst, change):
    ckpt = torch.load(src, weights_only=True)
    change(ckpt)
    torch.save(ckpt, dst)
    return dst


def test_bad_member_checkpoints_are_one_line_naming_the_file(fused, tiny_teacher, capsys, tmp_path):
    root, _, fus = fused
    wrist = root / "wrist" / "best.pt"

    def rename(c):
        c["meta"]["class_names"] = [f"other{i}" for i in range(len(c["meta"]["class_names"]))]

    def drop(c):
        c["model"].pop(next(iter(c["model"])))

    cases = [
        (_tampered(wrist, tmp_path / "classes.pt", rename), "was trained for classes"),
        (_tampered(wrist, tmp_path / "arch.pt", drop), "do not fit"),
        (root / "late" / "best.pt", "itself a fusion teacher"),
        (tmp_path / "absent.pt", "not found"),
    ]
    for i, (bad, what) in enumerate(cases):
        members = f"teacher.members=[{{checkpoint: {tiny_teacher}}}, {{checkpoint: {bad}}}]"
        assert main(["train-teacher", *_sets(fus + [members]), "--out", str(tmp_path / f"r{i}"), "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and what in err[0] and str(bad) in err[0], err


def test_a_fitted_minirocket_checkpoint_loads_as_a_member(tmp_path):
    """A MiniRocket student's fit-time buffers (dilations, ...) are empty before fitting: load_student
    (which fusion members go through) takes their size from the checkpoint."""
    from vskd.config import config_to_dict
    from vskd.engine.builders import build_student
    from vskd.engine.checkpoints import CHECKPOINT_FORMAT, load_student

    cfg = load_config(None, ["student.arch=minirocket", "student.input.length=64"])
    student = build_student(cfg, C)
    student.fit(torch.randn(6, 3, 64, generator=torch.Generator().manual_seed(0)))
    path = tmp_path / "best.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "epoch": 0, "model": student.state_dict(), "history": [], "best": {},
                "meta": {"kind": "student", "num_classes": C, "class_names": [str(i) for i in range(C)],
                         "config": config_to_dict(cfg)}}, path)
    loaded, _, _ = load_student(path)
    x = torch.randn(2, 3, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), student.eval()(x))


def test_fusion_teacher_records_the_labels_its_members_read(fused, tmp_path):
    """A fusion teacher's train_keys cover its members' (so vskd distill can refuse one whose member saw
    an unlabelled recording's label); a member that does not record them makes the fusion's unknown."""
    from vskd.engine import jobs
    from vskd.engine.builders import load_data
    from vskd.engine.checkpoints import fusion_teacher, load_checkpoint

    root, ov, fus = fused
    wrist = load_checkpoint(root / "wrist" / "best.pt")
    assert wrist["meta"]["train_keys"]  # a student records the labels it read too
    for mode in ("late", "ensemble"):
        assert set(wrist["meta"]["train_keys"]) <= set(load_checkpoint(root / mode / "best.pt")["meta"]["train_keys"])
    teacher_ckpt = fus[[i for i, o in enumerate(fus) if o.startswith("teacher.members=")][0]]
    tiny = teacher_ckpt.split("checkpoint: ")[1].split("}")[0]
    for name, keys in (("extra", wrist["meta"]["train_keys"] + ["utd-mhad/a99_s9_t9"]), ("unknown", None)):
        ckpt = dict(wrist, meta={**wrist["meta"], "train_keys": keys})
        if keys is None:
            del ckpt["meta"]["train_keys"]
        torch.save(ckpt, tmp_path / f"{name}.pt")
        cfg = load_config(None, [o for o in fus if not o.startswith("teacher.members=")] +
                          [f"teacher.members=[{{checkpoint: {tiny}}}, {{checkpoint: {tmp_path / f'{name}.pt'}}}]",
                           "teacher.fusion=ensemble"])
        _, splits, names = load_data(cfg)
        model = fusion_teacher(cfg, list(names))
        seen = jobs.label_keys(splits.train, model)
        if keys is None:
            assert model.member_train_keys is None and seen is None
        else:
            assert "utd-mhad/a99_s9_t9" in seen and set(r.name for r in splits.train) <= set(seen)


def test_pooled_is_the_fused_embedding():
    """CRD and SP read a teacher's ``pooled`` vector; a fusion teacher has none apart from its embedding,
    so ``pooled`` is ``emb`` (the v2 bench's crd-fusion-rocket row was refused before)."""
    t = FusionTeacher(_members(), C, fusion="ensemble")
    taps = make_taps(t, ("pooled", "emb"), "teacher")
    with torch.no_grad():
        got = taps.collect(t(_views()))
    torch.testing.assert_close(got["pooled"], got["emb"])
    assert got["pooled"].shape == (4, 300)
    taps.remove()
