"""PairedDataset (vskd.data.paired): both views from the same recording, seeding, caching, errors.

The hand-made recordings encode their id ``r`` in both modalities: the RGB video's red channel is
``20 r + 5`` everywhere (its green channel is the frame number), and the inertial signal has
``40 + r`` samples and an id-dependent waveform, so each view can be traced back to its recording.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, default_collate

from vskd.data.frames import ClipSpec, segment_bounds, segment_indices
from vskd.data.paired import GAFSpec, PairedDataset, collate, student_image, warm_cache
from vskd.data.recording import InertialSignal, Recording, RecordingKey, Source
from vskd.errors import ConfigError, DataError
from vskd.gaf import gaf_image

CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
N_FRAMES = 24


class Counter:
    def __init__(self):
        self.n = 0


def make_recording(r: int, loads: Counter | None = None, modalities=("inertial", "rgb"), channels=CHANNELS):
    loads = loads or Counter()
    n_in = 40 + r

    def inertial():
        loads.n += 1
        t = np.arange(n_in) / 50.0
        cols = [np.sin(2 * np.pi * (0.5 + 0.3 * r + 0.1 * c) * t + c) for c in range(len(channels))]
        return InertialSignal(np.stack(cols, axis=1), 50.0, tuple(channels))

    def rgb():
        loads.n += 1
        v = np.zeros((N_FRAMES, 36, 48, 3), np.uint8)
        v[..., 0] = 20 * r + 5
        v[..., 1] = np.arange(N_FRAMES, dtype=np.uint8)[:, None, None]
        return v

    loaders = {"inertial": inertial, "rgb": rgb}
    sources = {m: Source(load=loaders[m], meta={"cache_key": f"hand-{r}-{m}"}) for m in modalities}
    return Recording(RecordingKey("hand", 1 + r % 3, 1 + r, 1), label=r % 3, sources=sources)


STUDENT = GAFSpec(out_size=None)  # GAF side = the recording's length, 40 + r
TEACHER = ClipSpec(modality="rgb", num_segments=8, frame_size=36, crop_size=32)


def recid(teacher: torch.Tensor) -> set[int]:
    red = (teacher[:, 0] * 255).round().long()
    return {int(v - 5) // 20 for v in red.unique()}


@pytest.fixture
def recs():
    return [make_recording(r) for r in range(6)]


def test_item_fields_and_same_recording_in_both_views(recs, tmp_path):
    ds = PairedDataset(recs, STUDENT, TEACHER, train=True, cache_dir=tmp_path)
    assert len(ds) == 6 and ds.labels == [r % 3 for r in range(6)]
    for i in range(6):
        it = ds[i]
        assert set(it) == {"index", "label", "key", "student", "teacher"}
        assert it["index"] == i and it["label"] == i % 3 and it["key"] == str(recs[i].key)
        assert it["teacher"].shape == (8, 3, 32, 32) and it["teacher"].dtype == torch.float32
        assert it["student"].shape == (3, 40 + i, 40 + i) and it["student"].dtype == torch.float32
        assert recid(it["teacher"]) == {i}
        window = recs[i].load("inertial").select(("acc_x", "acc_y", "acc_z"))
        assert torch.equal(it["student"], torch.from_numpy(gaf_image(window)))
        for x in (it["student"], it["teacher"]):
            assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def test_pairs_survive_shuffled_batching(recs, tmp_path):
    spec = GAFSpec(out_size=16)
    ds = PairedDataset(recs, spec, TEACHER, train=True, cache_dir=tmp_path)
    loader = DataLoader(ds, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0), collate_fn=collate)
    seen = []
    for batch in loader:
        assert batch["teacher"].shape[1:] == (8, 3, 32, 32) and batch["student"].shape[1:] == (3, 16, 16)
        for b, idx in enumerate(batch["index"].tolist()):
            seen.append(idx)
            assert recid(batch["teacher"][b]) == {idx}
            assert batch["label"][b] == idx % 3 and batch["key"][b] == str(recs[idx].key)
            expect = student_image(recs[idx], spec)
            assert torch.equal(batch["student"][b], torch.from_numpy(expect))
    assert sorted(seen) == list(range(6))
    # the default collate gives the same batch
    items = [ds[i] for i in range(3)]
    a, b = collate(items), default_collate(items)
    assert torch.equal(a["teacher"], b["teacher"]) and torch.equal(a["student"], b["student"])
    assert a["index"].tolist() == b["index"].tolist() and a["key"] == b["key"]


def frames_of(item) -> list[int]:
    return (item["teacher"][:, 1, 0, 0] * 255).round().long().tolist()


def test_eval_is_deterministic_centre_frames(recs, tmp_path):
    ds = PairedDataset(recs, GAFSpec(out_size=8), TEACHER, train=False, cache_dir=tmp_path)
    a = ds[2]
    ds.set_epoch(5)
    b = ds[2]
    assert torch.equal(a["teacher"], b["teacher"]) and torch.equal(a["student"], b["student"])
    assert frames_of(a) == segment_indices(N_FRAMES, 8, train=False).tolist()


def test_train_randomness_is_reproducible_by_seed_and_epoch(recs, tmp_path):
    def clip(seed, epoch, index, warm=()):
        ds = PairedDataset(recs, GAFSpec(out_size=8), TEACHER, train=True, cache_dir=tmp_path, seed=seed)
        ds.set_epoch(epoch)
        for j in warm:  # other items read first must not change this one
            ds[j]
        return ds[index]["teacher"]

    ref = clip(0, 3, 2)
    assert torch.equal(ref, clip(0, 3, 2, warm=(0, 1, 5)))
    assert any(not torch.equal(ref, clip(0, e, 2)) for e in (4, 5, 6))
    assert any(not torch.equal(ref, clip(s, 3, 2)) for s in (1, 2, 3))
    # train frames lie in their segments and vary across epochs
    ds = PairedDataset(recs, GAFSpec(out_size=8), TEACHER, train=True, cache_dir=tmp_path)
    lo, hi = segment_bounds(N_FRAMES, 8)
    draws = set()
    for e in range(12):
        ds.set_epoch(e)
        f = np.array(frames_of(ds[1]))
        assert ((f >= lo) & (f < hi)).all()
        draws.add(tuple(f))
    assert len(draws) > 6


def test_worker_processes_give_the_same_items(recs, tmp_path):
    ds = PairedDataset(recs, GAFSpec(out_size=8), TEACHER, train=True, cache_dir=tmp_path, seed=7)
    ds.set_epoch(2)
    one = next(iter(DataLoader(ds, batch_size=6, num_workers=0, collate_fn=collate)))
    two = torch.cat(
        [b["teacher"] for b in DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate,
                                          multiprocessing_context="fork")]
    )
    assert torch.equal(one["teacher"], two)


def test_index_stability_and_bounds(recs):
    ds = PairedDataset(recs, GAFSpec(out_size=8), None, train=False, cache_dir=False)
    assert [ds[i]["index"] for i in range(len(ds))] == list(range(6))
    assert ds[-1]["index"] == 5 and ds[-1]["key"] == str(recs[5].key)
    assert "teacher" not in ds[0]
    with pytest.raises(IndexError):
        ds[6]


def test_disk_cache_makes_the_second_pass_decode_nothing(tmp_path):
    loads = Counter()
    recs = [make_recording(r, loads) for r in range(4)]
    ds = PairedDataset(recs, GAFSpec(out_size=8), TEACHER, train=True, cache_dir=tmp_path)
    stats = warm_cache(ds, progress=False)
    assert stats["misses"] == 8 and stats["hits"] == 0 and loads.n == 8
    again = PairedDataset(recs, GAFSpec(out_size=8), TEACHER, train=True, cache_dir=tmp_path)  # a new run
    items = [again[i] for i in range(4)]
    assert loads.n == 8  # nothing decoded
    assert again.cache.stats.hits == 8
    uncached = PairedDataset(recs, GAFSpec(out_size=8), TEACHER, train=True, cache_dir=False)
    for i in range(4):
        u = uncached[i]
        assert torch.equal(u["teacher"], items[i]["teacher"]) and torch.equal(u["student"], items[i]["student"])
    assert loads.n == 16
    # a different GAF option is a different entry
    other = PairedDataset(recs, GAFSpec(out_size=8, method="difference"), None, cache_dir=tmp_path)
    assert warm_cache(other, progress=False)["misses"] == 4


def test_no_cache_writes_nothing(recs, tmp_path, monkeypatch):
    monkeypatch.setenv("VSKD_CACHE", str(tmp_path / "env"))
    ds = PairedDataset(recs[:2], GAFSpec(out_size=8), TEACHER, cache_dir=False)
    ds[0]
    assert warm_cache(ds, progress=False)["misses"] == 0
    assert not (tmp_path / "env").exists()
    PairedDataset(recs[:1], GAFSpec(out_size=8), TEACHER)[0]  # cache_dir=None: $VSKD_CACHE
    assert len(list((tmp_path / "env").rglob("*.npz"))) == 2


def test_missing_modality_and_axes_errors():
    no_rgb = make_recording(1, modalities=("inertial",))
    with pytest.raises(DataError, match=r"hand/a2_s2_t1.*'rgb'"):
        PairedDataset([make_recording(0), no_rgb], GAFSpec(), TEACHER)
    no_imu = make_recording(2, modalities=("rgb",))
    with pytest.raises(DataError, match=r"hand/a3_s3_t1.*'inertial'"):
        PairedDataset([no_imu], GAFSpec(), None)
    PairedDataset([no_imu], None, TEACHER)  # teacher-only needs no inertial
    gyro_only = make_recording(3, channels=("gx", "gy", "gz"))
    ds = PairedDataset([gyro_only], GAFSpec(out_size=8), None, cache_dir=False)
    with pytest.raises(DataError, match=r"hand/a1_s4_t1.*acc_x.*'gx', 'gy', 'gz'"):
        ds[0]
    with pytest.raises(ConfigError, match="neither"):
        PairedDataset([make_recording(0)], None, None)
    with pytest.raises(ConfigError, match="method"):
        GAFSpec(method="markov")
    with pytest.raises(ConfigError, match="seed"):
        PairedDataset([make_recording(0)], GAFSpec(), seed=-1)


def test_teacher_only_and_raw_student(recs):
    t = PairedDataset(recs, None, TEACHER, train=False, cache_dir=False)[3]
    assert "student" not in t and recid(t["teacher"]) == {3}
    ds = PairedDataset(recs, GAFSpec(axes=("acc_z", "gyro_x")), None, cache_dir=False, student_raw=True, raw_length=42)
    short, long_ = ds[0], ds[5]  # 40 and 45 samples
    assert short["student"].shape == (42, 2) and short["student_length"] == 40
    assert torch.equal(short["student"][40:], torch.zeros(2, 2))
    full = recs[5].load("inertial").select(("acc_z", "gyro_x")).astype(np.float32)
    assert torch.equal(long_["student"], torch.from_numpy(full[1:43]))  # centre crop of 45 -> 42
    batch = collate([ds[0], ds[5]])
    assert batch["student"].shape == (2, 42, 2) and batch["student_length"].tolist() == [40, 42]
    var = PairedDataset(recs, GAFSpec(), None, cache_dir=False, student_raw=True)
    b = collate([var[0], var[1]])
    assert isinstance(b["student"], list) and [x.shape[0] for x in b["student"]] == [40, 41]


# ------------------------------------------------------------------------------------ integration
def test_synthetic_pairs(tmp_path):
    from vskd.data.synthetic import make_synthetic

    recs = make_synthetic("tiny", seed=0)[:3]
    ds = PairedDataset(recs, GAFSpec(out_size=32), ClipSpec(modality="rgb", frame_size=32, crop_size=28),
                       train=True, cache_dir=tmp_path)
    for i in range(3):
        it = ds[i]
        assert it["teacher"].shape == (8, 3, 28, 28) and it["student"].shape == (3, 32, 32)
        assert it["key"] == str(recs[i].key) and it["label"] == recs[i].label
        window = recs[i].load("inertial").select(("acc_x", "acc_y", "acc_z"))
        assert torch.equal(it["student"], torch.from_numpy(gaf_image(window, out_size=32)))
    assert warm_cache(ds, progress=False)["hits"] == 6  # in-memory sources cached by meta["cache_key"]


@pytest.mark.realdata
def test_utd_mhad_depth_pairs(utd_root, tmp_path):
    from vskd.data.utd_mhad import list_recordings

    recs = [r for r in list_recordings(utd_root, modalities=["inertial", "depth"])
            if (r.key.action, r.key.subject, r.key.trial) in {(1, 1, 1), (27, 8, 3)}]
    assert len(recs) == 2
    teacher = ClipSpec(modality="depth", num_segments=8, frame_size=128, crop_size=112)
    for train in (False, True):
        ds = PairedDataset(recs, GAFSpec(out_size=64), teacher, train=train, cache_dir=tmp_path)
        for i, rec in enumerate(recs):
            it = ds[i]
            assert it["teacher"].shape == (8, 3, 112, 112) and it["student"].shape == (3, 64, 64)
            assert it["label"] == rec.key.action - 1 and it["key"] == str(rec.key)
            t = it["teacher"]
            assert float(t.min()) == 0.0 and float(t.max()) > 0.9  # black background, bright body
            assert torch.equal(t[:, 0], t[:, 2])
            window = rec.load("inertial").select(("acc_x", "acc_y", "acc_z"))
            assert torch.equal(it["student"], torch.from_numpy(gaf_image(window, out_size=64)))
    from vskd.data.paired import clip_frames

    frames = clip_frames(recs[0], teacher, ds.cache)  # the cached clip: every frame at the working size
    assert frames.dtype == np.uint8 and frames.shape == (len(recs[0].load("depth")), 1, 128, 170)
    assert ds.cache.stats.misses == 0  # the second dataset found everything the first one cached


def test_raw_view_without_augmentation_is_read_once_and_handed_out_as_a_copy():
    from vskd.data.augment import SignalAugment
    from vskd.data.paired import RawSpec

    loads = Counter()
    rec = [make_recording(r, loads, modalities=("inertial",)) for r in range(3)]
    ds = PairedDataset(rec, RawSpec(axes=("acc_x", "acc_y"), length=32), None, train=True, cache_dir=False)
    first = ds[1]["student"]
    for _ in range(4):  # later epochs read nothing
        again = ds[1]["student"]
    assert loads.n == 1 and torch.equal(first, again) and first.shape == (2, 32)
    first.zero_()  # a caller altering its tensor does not alter the next item
    assert not torch.equal(ds[1]["student"], first)
    aug = PairedDataset(rec, RawSpec(axes=("acc_x", "acc_y"), length=32), None, train=True, cache_dir=False,
                        student_augment=SignalAugment(scale=0.2))
    a, b = aug[2]["student"], (aug.set_epoch(1), aug[2]["student"])[1]
    assert not torch.equal(a, b)  # augmented items are drawn anew each epoch
