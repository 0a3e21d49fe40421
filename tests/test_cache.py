"""The on-disk array cache (vskd.data.cache): keys, hits, corruption, atomic writes, clearing."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from pathlib import Path

import numpy as np
import pytest

import vskd.data.cache as cache_mod
from vskd.data.cache import ArrayCache, clear, default_cache_dir, entry_key, source_fingerprint, usage
from vskd.data.recording import Source
from vskd.errors import DataError


def mem_source(key: str = "rec-1") -> Source:
    return Source(load=lambda: None, meta={"cache_key": key})


class Builder:
    """Counts builds; returns a fixed array."""

    def __init__(self, value=None):
        self.calls = 0
        self.value = np.arange(24, dtype=np.uint8).reshape(2, 3, 4) if value is None else value

    def __call__(self):
        self.calls += 1
        return self.value


def test_default_dir_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("VSKD_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    assert ArrayCache().root == tmp_path / "c"
    monkeypatch.delenv("VSKD_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "vskd"


@pytest.mark.parametrize("compress", [True, False])
def test_miss_then_hit(tmp_path, compress):
    c = ArrayCache(tmp_path, compress=compress)
    b = Builder()
    a1 = c.get_or_build("clips", mem_source(), {"size": 64}, b)
    a2 = c.get_or_build("clips", mem_source(), {"size": 64}, b)
    assert b.calls == 1
    assert np.array_equal(a1, b.value) and np.array_equal(a2, b.value) and a2.dtype == np.uint8
    assert c.stats.as_dict() == {"hits": 1, "misses": 1, "corrupt": 0, "uncacheable": 0}
    assert usage(tmp_path) == (1, c.usage()[1]) and c.usage()[0] == 1
    # a fresh cache object on the same folder (a second run) hits too
    c2 = ArrayCache(tmp_path)
    assert np.array_equal(c2.get_or_build("clips", mem_source(), {"size": 64}, b), b.value) and b.calls == 1


def test_key_changes_with_parameters_source_namespace_and_version(tmp_path, monkeypatch):
    fp = {"cache_key": "x"}
    k = entry_key("clips", fp, {"size": 64, "depth": {"mode": "robust"}})
    assert k == entry_key("clips", fp, {"depth": {"mode": "robust"}, "size": 64})  # order-free
    assert k != entry_key("clips", fp, {"size": 128, "depth": {"mode": "robust"}})
    assert k != entry_key("clips", fp, {"size": 64, "depth": {"mode": "fixed"}})
    assert k != entry_key("gaf", fp, {"size": 64, "depth": {"mode": "robust"}})
    assert k != entry_key("clips", {"cache_key": "y"}, {"size": 64, "depth": {"mode": "robust"}})
    monkeypatch.setattr(cache_mod, "CACHE_VERSION", cache_mod.CACHE_VERSION + 1)
    assert k != entry_key("clips", fp, {"size": 64, "depth": {"mode": "robust"}})

    c = ArrayCache(tmp_path)
    b = Builder()
    c.get_or_build("clips", mem_source(), {"size": 64}, b)
    c.get_or_build("clips", mem_source(), {"size": 128}, b)
    c.get_or_build("clips", mem_source("rec-2"), {"size": 64}, b)
    assert b.calls == 3 and c.usage()[0] == 3


def test_file_sources_key_on_path_size_and_mtime(tmp_path):
    f = tmp_path / "a1_s1_t1_depth.mat"
    f.write_bytes(b"12345")
    src = Source(load=lambda: None, path=f)
    fp = source_fingerprint(src)
    assert fp == {"path": str(f.resolve()), "size": 5, "mtime_ns": f.stat().st_mtime_ns}
    c = ArrayCache(tmp_path / "cache")
    b = Builder()
    c.get_or_build("clips", src, {}, b)
    c.get_or_build("clips", src, {}, b)
    assert b.calls == 1
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched
    c.get_or_build("clips", src, {}, b)
    assert b.calls == 2
    f.write_bytes(b"123456")  # edited
    c.get_or_build("clips", src, {}, b)
    assert b.calls == 3
    # meta["cache_key"] wins over the path
    assert source_fingerprint(Source(load=lambda: None, path=f, meta={"cache_key": "k"})) == {"cache_key": "k"}
    with pytest.raises(DataError, match="missing.mat"):
        source_fingerprint(Source(load=lambda: None, path=tmp_path / "missing.mat"))


def test_sources_without_identity_are_never_cached(tmp_path):
    c = ArrayCache(tmp_path)
    b = Builder()
    src = Source(load=lambda: None)
    assert source_fingerprint(src) is None
    c.get_or_build("clips", src, {}, b)
    c.get_or_build("clips", src, {}, b)
    c.get_or_build("clips", None, {}, b)
    assert b.calls == 3 and c.stats.uncacheable == 3 and c.usage() == (0, 0)


def _entry(c: ArrayCache, src: Source, params: dict) -> Path:
    return c.path("clips", entry_key("clips", source_fingerprint(src), params))


@pytest.mark.parametrize("damage", ["truncate", "bitflip", "garbage", "empty"])
@pytest.mark.parametrize("compress", [True, False])
def test_corrupt_entry_is_detected_and_rebuilt(tmp_path, damage, compress):
    c = ArrayCache(tmp_path, compress=compress)
    value = np.random.default_rng(0).integers(0, 255, (8, 1, 32, 40), dtype=np.uint8)
    b = Builder(value)
    c.get_or_build("clips", mem_source(), {}, b)
    p = _entry(c, mem_source(), {})
    raw = bytearray(p.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "bitflip":
        raw[len(raw) // 2] ^= 0x40  # inside the array data: only the zip CRC-32 can tell
    elif damage == "garbage":
        raw = bytearray(b"not an npz file at all" * 10)
    else:
        raw = bytearray()
    p.write_bytes(bytes(raw))
    out = c.get_or_build("clips", mem_source(), {}, b)
    assert np.array_equal(out, value)
    assert b.calls == 2 and c.stats.corrupt == 1
    assert np.array_equal(c.get("clips", p.stem), value)  # rewritten, valid again
    assert c.stats.corrupt == 1


def test_entry_under_the_wrong_name_is_rejected(tmp_path):
    c = ArrayCache(tmp_path)
    c.get_or_build("clips", mem_source("a"), {}, Builder())
    pa, pb = _entry(c, mem_source("a"), {}), _entry(c, mem_source("b"), {})
    pb.parent.mkdir(parents=True, exist_ok=True)
    pb.write_bytes(pa.read_bytes())
    assert c.get("clips", pb.stem) is None and c.stats.corrupt == 1 and not pb.exists()


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    c = ArrayCache(tmp_path)

    def dying_save(f, **arrays):
        f.write(b"PK\x03\x04 partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", dying_save)
    with pytest.raises(OSError, match="disk full"):
        c.get_or_build("clips", mem_source(), {}, Builder())
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files == []
    assert c.get("clips", entry_key("clips", {"cache_key": "rec-1"}, {})) is None


def test_concurrent_writers_and_readers_never_see_a_partial_entry(tmp_path):
    value = np.random.default_rng(1).integers(0, 255, (20, 1, 64, 85), dtype=np.uint8)
    key = entry_key("clips", {"cache_key": "shared"}, {})
    errors: list[str] = []

    def writer():
        c = ArrayCache(tmp_path)
        for _ in range(15):
            c.put("clips", key, value)

    def reader():
        c = ArrayCache(tmp_path)
        for _ in range(60):
            got = c.get("clips", key)
            if got is not None and not np.array_equal(got, value):
                errors.append("wrong data")
        if c.stats.corrupt:
            errors.append(f"{c.stats.corrupt} corrupt reads")

    threads = [threading.Thread(target=writer) for _ in range(2)] + [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert np.array_equal(ArrayCache(tmp_path).get("clips", key), value)
    assert not list(tmp_path.rglob("*.tmp"))


def _proc_writer(root: str, n: int) -> None:
    c = ArrayCache(Path(root))
    value = np.full((4, 1, 16, 16), 7, np.uint8)
    for _ in range(n):
        got = c.get_or_build("clips", Source(load=lambda: None, meta={"cache_key": "p"}), {}, lambda: value)
        assert np.array_equal(got, value)
        c.put("clips", entry_key("clips", {"cache_key": "p"}, {}), value)
    assert c.stats.corrupt == 0


def test_two_processes_writing_the_same_entry(tmp_path):
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_proc_writer, args=(str(tmp_path), 20)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert ArrayCache(tmp_path).usage()[0] == 1
    assert not list(tmp_path.rglob("*.tmp"))


def test_clear_removes_entries_and_temp_files_only(tmp_path):
    c = ArrayCache(tmp_path)
    c.get_or_build("clips", mem_source("a"), {}, Builder())
    c.get_or_build("gaf", mem_source("a"), {}, Builder())
    stray = _entry(c, mem_source("a"), {}).parent / ".abc.tmp"
    stray.write_bytes(b"x")
    mine = tmp_path / "notes.txt"
    mine.write_text("keep me")
    assert c.clear("clips") == 2  # the entry and the stray temp file
    assert c.usage("clips") == (0, 0) and c.usage("gaf")[0] == 1
    assert clear(tmp_path) == 1
    assert usage(tmp_path) == (0, 0) and mine.read_text() == "keep me"
    assert clear(tmp_path / "never-created") == 0
