"""``vskd gaf``: encode one inertial recording as a Gramian Angular Field RGB image (PNG).

The student's view of a recording (Ni et al., ICASSP 2022): three accelerometer axes, each encoded as
a GAF (Wang & Oates, 2015) by :func:`vskd.gaf.gaf_image`, become the R, G and B channels. Examples::

    vskd gaf Inertial/a1_s1_t1_inertial.mat --out a1_s1_t1.png
    vskd gaf Inertial/a1_s1_t1_inertial.mat --out gyro.png --axes gyro --method difference --size 224
    vskd gaf my-walk.csv --out walk.png                 # CSV header t,x,y,z

INPUT is a UTD-MHAD ``*_inertial.mat`` (default axes: the accelerometer, ``acc``) or a sensor CSV /
``.npy`` (:func:`vskd.data.manifest.read_sensor_file`; default axes: ``acc`` if present, else its
three channels). ``--axes`` takes ``acc``, ``gyro`` or three channel names, e.g. ``acc_x,acc_y,gyro_z``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ALIASES = {
    "acc": (("acc_x", "acc_y", "acc_z"), ("x", "y", "z")),
    "gyro": (("gyro_x", "gyro_y", "gyro_z"),),
}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "gaf",
        help="encode an inertial recording as a GAF RGB image (PNG)",
        description="Encode three axes of an inertial recording as a Gramian Angular Field RGB PNG "
        "(axis 1 -> R, 2 -> G, 3 -> B).",
    )
    p.add_argument("input", metavar="INPUT", help="UTD-MHAD *_inertial.mat, or a sensor CSV (t,x,y,z) / .npy (T, C)")
    p.add_argument("--out", "-o", required=True, metavar="IMAGE.png", help="output PNG")
    p.add_argument("--method", default="summation", choices=["summation", "difference"],
                   help="GASF cos(phi_i+phi_j) or GADF sin(phi_i-phi_j) (default summation)")
    p.add_argument("--size", type=int, default=None, metavar="N",
                   help="resize the image to N x N (bilinear); default: the recording's length")
    p.add_argument("--paa", type=int, default=None, metavar="S",
                   help="reduce the recording to S points (piecewise aggregate approximation) before the GAF; "
                   "needed for recordings longer than 4096 samples")
    p.add_argument("--axes", default=None, metavar="AXES",
                   help="'acc', 'gyro' or three channel names, comma-separated (default: acc)")
    p.add_argument("--scaling", default="minmax", choices=["minmax", "affine"],
                   help="per-channel min-max to [0,1] (the authors' mat2gray) or (v+1)/2 (default minmax)")
    p.add_argument("--orientation", default="standard", choices=["standard", "authors"],
                   help="'authors' transposes GADF as the VSKD authors' arcsin encoding does")
    p.set_defaults(func=_run)


def resolve_axes(spec: str | None, channels: tuple[str, ...]) -> tuple[str, ...]:
    """Channel names for ``--axes``: an alias (``acc``, ``gyro``) or a comma-separated list of names."""
    from vskd.errors import ConfigError

    if spec is None:
        if any(set(c) <= set(channels) for c in ALIASES["acc"]):
            spec = "acc"
        elif len(channels) == 3:
            return tuple(channels)
        else:
            raise ConfigError(
                f"an RGB image needs exactly 3 axes; this recording has {len(channels)} channel(s) "
                f"({', '.join(channels)}): choose 3 with --axes"
            )
    spec = spec.strip()
    if spec in ALIASES:
        for names in ALIASES[spec]:
            if set(names) <= set(channels):
                return names
        raise ConfigError(f"--axes {spec}: this recording has no {spec} channels (it has {', '.join(channels)})")
    axes = tuple(a.strip() for a in spec.split(",") if a.strip())
    unknown = [a for a in axes if a not in channels]
    if unknown:
        raise ConfigError(f"--axes: unknown channel(s) {', '.join(unknown)}; this recording has {', '.join(channels)}")
    if len(axes) != 3:
        raise ConfigError(f"--axes: an RGB image needs exactly 3 axes, got {len(axes)} ({', '.join(axes) or 'none'})")
    return axes


def encode_file(path: str | Path, method: str = "summation", size: int | None = None, axes: str | None = None,
                scaling: str = "minmax", orientation: str = "standard", paa: int | None = None):
    """``(image (S, S, 3) uint8, axes)`` for one sensor file; the work of ``vskd gaf`` without the PNG.

    Sizes are checked before anything is allocated: ``size`` (the PNG side) at most
    :data:`vskd.gaf.MAX_OUT_SIZE`, the GAF side (the recording's length, or ``paa``) at most
    :data:`vskd.gaf.MAX_GAF_SIDE`; the refusal states the memory the request would need.
    """
    import numpy as np

    from vskd.data.manifest import read_sensor_file
    from vskd.errors import ConfigError
    from vskd.gaf import MAX_GAF_SIDE, MAX_OUT_SIZE, gaf_bytes, gaf_image, human_bytes

    path = Path(path)
    if size is not None and size < 1:
        raise ConfigError(f"--size must be a positive number of pixels, got {size}")
    if size is not None and size > MAX_OUT_SIZE:
        raise ConfigError(f"--size {size} needs {human_bytes(gaf_bytes(size))} per image; at most {MAX_OUT_SIZE} "
                          f"is allowed")
    if paa is not None and not 1 <= paa <= MAX_GAF_SIDE:
        raise ConfigError(f"--paa must be a number of points in [1, {MAX_GAF_SIDE}], got {paa}")
    # the sampling rate plays no part in the image; .npy files carry none
    signal = read_sensor_file(path, rate_hz=1.0 if path.suffix.lower() == ".npy" else None)
    names = resolve_axes(axes, signal.channels)
    window = signal.select(names)
    t = window.shape[0]
    if paa is None and t > MAX_GAF_SIDE:
        raise ConfigError(f"{path}: {t} samples; a full-length GAF is {t} x {t} and needs "
                          f"{human_bytes(gaf_bytes(t, len(names)))}; at most {MAX_GAF_SIDE} samples are allowed: pass "
                          f"--paa N (N <= {MAX_GAF_SIDE}) to reduce the recording first, or crop it")
    if paa is not None and paa > t:
        raise ConfigError(f"--paa {paa}: the recording has only {t} samples (expected --paa <= {t})")
    img = gaf_image(window, method=method, image_size=paa, out_size=size, scaling=scaling, orientation=orientation)
    rgb = np.clip(np.rint(np.asarray(img, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(rgb.transpose(1, 2, 0)), names


def _run(args: argparse.Namespace) -> int:
    from PIL import Image

    from vskd.errors import DataError

    from vskd.io import prepare_output_dir

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        from vskd.errors import ConfigError

        raise ConfigError(f"--out {out}: expected a .png file name")
    rgb, names = encode_file(args.input, args.method, args.size, args.axes, args.scaling, args.orientation,
                             paa=args.paa)
    prepare_output_dir(out.parent, "--out")
    try:
        Image.fromarray(rgb).save(out)
    except OSError as exc:
        raise DataError(f"{out}: cannot write the image ({exc})") from None
    s = rgb.shape[0]
    print(f"wrote {out} ({s}x{s} RGB, {args.method}, R,G,B = {', '.join(names)})")
    return 0
