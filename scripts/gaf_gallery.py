"""Draw docs/img/gaf_gallery.png: a few real UTD-MHAD recordings, their accelerometer traces and the
3-channel GASF and GADF images the VSKD student sees (acc x, y, z -> R, G, B).

    .venv/bin/python scripts/gaf_gallery.py [--root ../shared/data/utd-mhad] [--out docs/img/gaf_gallery.png]

Images are full length (S = T, no PAA, as the VSKD authors encode them), per-channel min-max to [0, 1]
(the authors' mat2gray), standard orientation.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from scipy.io import loadmat  # noqa: E402

from vskd.errors import DataError  # noqa: E402
from vskd.gaf import gaf_image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# (action id, name) from the UTD-MHAD README; subject 1, trial 1
ACTIONS = [(1, "right arm swipe to the left"), (4, "two hand front clap"), (22, "jogging in place"), (27, "squat")]


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get("VSKD_UTD_MHAD")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path(env) if env else REPO.parent / "shared" / "data" / "utd-mhad")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "gaf_gallery.png")
    ap.add_argument("--subject", type=int, default=1)
    ap.add_argument("--trial", type=int, default=1)
    args = ap.parse_args(argv)

    fig, axes = plt.subplots(len(ACTIONS), 3, figsize=(10, 3.1 * len(ACTIONS)),
                             gridspec_kw=dict(width_ratios=[1.6, 1, 1]))
    for row, (action, name) in enumerate(ACTIONS):
        path = args.root / "Inertial" / f"a{action}_s{args.subject}_t{args.trial}_inertial.mat"
        if not path.is_file():
            raise DataError(f"{path}: not found (pass --root, the UTD-MHAD folder)")
        acc = np.asarray(loadmat(str(path))["d_iner"][:, :3], dtype=np.float64)
        t = np.arange(acc.shape[0]) / 50.0  # 50 Hz
        ax = axes[row, 0]
        for k, (axis, colour) in enumerate(zip("xyz", ("tab:red", "tab:green", "tab:blue"))):
            ax.plot(t, acc[:, k], color=colour, lw=1.2, label=f"acc {axis}")
        ax.set_title(f"a{action}: {name} (s{args.subject} t{args.trial}, T = {acc.shape[0]})", fontsize=10)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("acceleration (g)")
        ax.grid(alpha=0.3)
        if row == 0:
            ax.legend(loc="upper right", fontsize=8)
        for col, method in ((1, "summation"), (2, "difference")):
            img = gaf_image(acc, method=method)  # (3, T, T) in [0, 1]
            ax = axes[row, col]
            ax.imshow(img.transpose(1, 2, 0), interpolation="nearest")
            ax.set_title(f"{'GASF' if method == 'summation' else 'GADF'} (R, G, B = x, y, z)", fontsize=10)
            ax.set_xlabel("j (time step)")
            ax.set_ylabel("i (time step)")
    fig.suptitle("UTD-MHAD wrist/thigh accelerometer as Gramian Angular Field images (vskd.gaf.gaf_image)", fontsize=11)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, dpi=80, format="png")
    # a 256-colour palette keeps the committed picture small (~4x) without visible loss at this size
    Image.open(buf).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(args.out, optimize=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
