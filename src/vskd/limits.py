"""Bounds on the sizes a user can ask for, and the memory a request would need (stated in refusals).

A GAF image is ``S x S`` per channel, so one number in a config or on a command line decides gigabytes:
``student.input.out_size=100000`` is 120 GB per image. :mod:`vskd.config`, :mod:`vskd.gaf`,
``vskd gaf`` and ``vskd stream`` check against these before allocating anything. This module imports
nothing, so the foundation (config, gaf) can share it.
"""

from __future__ import annotations

__all__ = ["MAX_GAF_SIDE", "MAX_OUT_SIZE", "gaf_bytes", "human_bytes"]

#: the largest GAF side S (before any resize): S x S float32 per channel, 201 MB for 3 channels at 4096.
#: A full-length GAF of a 20-minute 50 Hz recording would be 60000 x 60000 (43 GB); use a PAA image_size.
MAX_GAF_SIDE = 4096
#: the largest resized image side (``student.input.out_size``, ``vskd gaf --size``); 12.6 MB at 1024
MAX_OUT_SIZE = 1024


def gaf_bytes(side: int, channels: int = 3) -> int:
    """Bytes of one float32 image of ``channels`` GAF fields of ``side x side``."""
    return int(side) * int(side) * int(channels) * 4


def human_bytes(n: float) -> str:
    """``1.2e11`` -> ``'120 GB'`` (decimal units, as memory and disk sizes are quoted)."""
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" or n >= 100 else f"{n:.3g} {unit}"
        n /= 1000.0
    return f"{n:.3g} TB"  # pragma: no cover
