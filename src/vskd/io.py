"""Guarded output folders: every command that writes checks its folder first, with one clear line.

:func:`prepare_output_dir` creates a folder (and its parents) and proves it is writable by creating and
removing a probe file, so ``--out /proc/x``, ``--out some-file/run`` or a read-only ``data.cache_dir``
fail before any work starts with a :class:`~vskd.errors.VskdError` naming the option, the path and the
reason, instead of a traceback from deep inside a training run. It imports nothing of vskd but the
errors, so any layer may use it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from vskd.errors import VskdError

__all__ = ["prepare_output_dir"]


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def prepare_output_dir(path: str | Path, option: str) -> Path:
    """Create ``path`` (with parents) and check a file can be written in it; return it as a Path.

    Raises VskdError ``"<option> <path>: cannot write there (<reason>)"`` when a parent is a regular
    file, the folder is on a read-only or pseudo file system (``/proc``, ``/sys``), or permissions
    forbid it.
    """
    p = Path(path).expanduser()
    for parent in (p, *p.parents):  # a regular file on the way: name it (mkdir would say only "exists")
        if parent.exists() and not parent.is_dir():
            raise VskdError(f"{option} {p}: cannot write there ({parent} is a file, not a folder)")
        if parent.exists():
            break
    try:
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".vskd-write-test.", dir=p)
        try:
            os.write(fd, b"ok")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise VskdError(f"{option} {p}: cannot write there ({_reason(exc)})") from None
    return p
