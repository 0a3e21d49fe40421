"""On-disk cache of derived arrays (decoded clips, GAF images), keyed by source file + parameters.

Decoding a UTD-MHAD depth ``.mat``, mapping it to 8 bits and resizing it costs ~0.1 s per recording,
every epoch; the cache stores the result once so later epochs and runs read a small file instead.

Layout: ``<root>/<namespace>/<kk>/<key>.npz`` where ``root`` is ``cache_dir``, else ``$VSKD_CACHE``,
else ``~/.cache/vskd``; ``namespace`` is e.g. ``"clips"`` or ``"gaf"``; ``key`` is the SHA-256 of
the canonical JSON of

* the source's identity: ``Source.meta["cache_key"]`` when the reader gives one (in-memory data such
  as the synthetic set), else the file's resolved path, size and modification time (ns), so an edited
  or replaced file misses;
* the parameters that determine the array (resize, depth mapping, GAF options, ...);
* :data:`CACHE_VERSION`, bumped whenever the code that builds an entry changes its output.

A source with neither a path nor a ``cache_key`` cannot be identified and is never cached.

Each entry is an ``.npz`` (a zip archive: ``data`` = the array, ``meta`` = the JSON above), so
reading it verifies the zip CRC-32: a truncated or bit-flipped entry fails to load, is deleted and
rebuilt. Writes go to a unique temporary file in the entry's folder, then ``os.replace`` it into
place (atomic on POSIX and Windows): a reader never sees a partial entry and two processes writing
the same entry both succeed (they write the same bytes; the last rename wins). A write that fails
removes its temporary file. ``clear()`` deletes entries (and stray temporary files).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vskd.data.recording import Source
from vskd.errors import DataError

log = logging.getLogger(__name__)

CACHE_VERSION = 1
ENV_VAR = "VSKD_CACHE"
SUFFIX = ".npz"
TMP_SUFFIX = ".tmp"


def default_cache_dir() -> Path:
    """``$VSKD_CACHE`` if set, else ``~/.cache/vskd``."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vskd"


def source_fingerprint(source: Source) -> dict[str, Any] | None:
    """Identity of a source for cache keys, or None when it has neither ``meta["cache_key"]`` nor a path."""
    ck = source.meta.get("cache_key") if source.meta else None
    if ck is not None:
        return {"cache_key": str(ck)}
    if source.path is None:
        return None
    p = Path(source.path)
    try:
        st = p.stat()
    except OSError as exc:
        raise DataError(f"cannot read {p}: {exc.strerror or exc}") from exc
    return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def entry_key(namespace: str, fingerprint: dict[str, Any], params: dict[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON of (version, namespace, source fingerprint, parameters)."""
    blob = json.dumps(
        {"version": CACHE_VERSION, "namespace": namespace, "source": fingerprint, "params": params},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class CacheStats:
    """Counters of one :class:`ArrayCache`: hits, misses (built and stored), corrupt entries rebuilt,
    and builds of sources that cannot be cached."""

    hits: int = 0
    misses: int = 0
    corrupt: int = 0
    uncacheable: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(hits=self.hits, misses=self.misses, corrupt=self.corrupt, uncacheable=self.uncacheable)


@dataclass
class ArrayCache:
    """A folder of ``.npz`` entries, one array each (see the module docstring).

    Args:
        root: cache folder (default :func:`default_cache_dir`); created on the first write.
        compress: store entries zlib-compressed (``np.savez_compressed``, default): UTD-MHAD depth
            clips (mostly zero background) shrink ~15x (0.28 MB instead of 5 MB per clip at 256 px),
            for ~3 ms more per read.
    """

    root: Path | None = None
    compress: bool = True
    stats: CacheStats = field(default_factory=CacheStats)

    def __post_init__(self) -> None:
        self.root = Path(self.root).expanduser() if self.root is not None else default_cache_dir()

    # paths -----------------------------------------------------------------------------------
    def path(self, namespace: str, key: str) -> Path:
        assert self.root is not None
        return self.root / namespace / key[:2] / f"{key}{SUFFIX}"

    # read / write ----------------------------------------------------------------------------
    def get(self, namespace: str, key: str) -> np.ndarray | None:
        """The stored array, or None when absent; a corrupt entry is deleted (and counted) and gives None."""
        p = self.path(namespace, key)
        try:
            with np.load(p, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                data = z["data"]
            if meta.get("key") != key:
                raise ValueError(f"entry is for key {meta.get('key')!r}")
            return data
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            self.stats.corrupt += 1
            log.warning("vskd cache: corrupt entry %s (%s); rebuilding it", p, exc)
            try:
                p.unlink()
            except OSError:
                pass
            return None

    def put(
        self,
        namespace: str,
        key: str,
        array: np.ndarray,
        meta: dict[str, Any] | None = None,
        compress: bool | None = None,
    ) -> Path:
        """Store ``array`` atomically (temporary file + ``os.replace``); returns the entry's path.

        ``compress`` overrides the cache's setting for this entry (reading needs no flag).
        """
        p = self.path(namespace, key)
        info = {"key": key, "version": CACHE_VERSION, **(meta or {})}
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=TMP_SUFFIX, dir=p.parent)
        except OSError as exc:
            raise DataError(f"cache folder {self.root}: cannot write there ({exc.strerror or exc}); set "
                            f"data.cache_dir or ${ENV_VAR} to a writable folder") from None
        try:
            with os.fdopen(fd, "wb") as f:
                save = np.savez_compressed if (self.compress if compress is None else compress) else np.savez
                save(f, data=np.ascontiguousarray(array), meta=np.array(json.dumps(info, default=str)))
            os.replace(tmp, p)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return p

    def get_or_build(
        self,
        namespace: str,
        source: Source | None,
        params: dict[str, Any],
        build: Callable[[], np.ndarray],
        compress: bool | None = None,
    ) -> np.ndarray:
        """Return the cached array for (source, params), building and storing it on a miss.

        ``source=None`` or a source without identity (no path, no ``cache_key``) is built every time.
        ``compress`` overrides the cache's setting for a new entry.
        """
        fp = source_fingerprint(source) if source is not None else None
        if fp is None:
            self.stats.uncacheable += 1
            return build()
        key = entry_key(namespace, fp, params)
        hit = self.get(namespace, key)
        if hit is not None:
            self.stats.hits += 1
            return hit
        self.stats.misses += 1
        arr = np.asarray(build())
        self.put(namespace, key, arr, meta={"namespace": namespace, "source": fp, "params": params}, compress=compress)
        return arr

    def contains(self, namespace: str, source: Source, params: dict[str, Any]) -> bool:
        """Whether an entry file exists for (source, params) (not verified)."""
        fp = source_fingerprint(source)
        return fp is not None and self.path(namespace, entry_key(namespace, fp, params)).is_file()

    # maintenance -------------------------------------------------------------------------------
    def clear(self, namespace: str | None = None) -> int:
        """Delete every entry (of ``namespace``, or all) and stray temporary files; returns files removed."""
        return clear(self.root, namespace)

    def usage(self, namespace: str | None = None) -> tuple[int, int]:
        """(number of entries, total bytes) under the cache (or one namespace)."""
        return usage(self.root, namespace)


def _files(root: Path, namespace: str | None) -> list[Path]:
    base = root / namespace if namespace else root
    if not base.is_dir():
        return []
    return [p for p in base.rglob("*") if p.is_file() and (p.suffix == SUFFIX or p.name.endswith(TMP_SUFFIX))]


def clear(cache_dir: str | Path | None = None, namespace: str | None = None) -> int:
    """Delete the cache's entries (one namespace, e.g. ``"clips"``, or all); returns the files removed.

    Only ``.npz`` entries and ``.tmp`` files are removed (then empty folders), never anything else a
    user might have put in the folder.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    n = 0
    for p in _files(root, namespace):
        try:
            p.unlink()
            n += 1
        except FileNotFoundError:
            pass
    base = root / namespace if namespace else root
    if base.is_dir():
        for d in sorted((d for d in base.rglob("*") if d.is_dir()), key=lambda d: len(d.parts), reverse=True):
            try:
                d.rmdir()
            except OSError:
                pass
    return n


def usage(cache_dir: str | Path | None = None, namespace: str | None = None) -> tuple[int, int]:
    """(number of entries, total bytes) in the cache (or one namespace)."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    files = [p for p in _files(root, namespace) if p.suffix == SUFFIX]
    return len(files), sum(p.stat().st_size for p in files)


__all__ = [
    "CACHE_VERSION",
    "ArrayCache",
    "CacheStats",
    "clear",
    "default_cache_dir",
    "entry_key",
    "source_fingerprint",
    "usage",
]
