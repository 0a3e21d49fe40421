"""Loading a state_dict from a local weights file strictly, with one clear error for any mismatch."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from vskd.errors import DataError


def load_exact(model: nn.Module, state: dict, path: str | Path, what: str) -> None:
    """``model.load_state_dict(state, strict=True)``, but a mismatch raises one DataError naming ``path``,
    ``what`` the file should be, and the first missing / unexpected / mis-shaped keys."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    bad = sorted(k for k in set(own) & set(state) if tuple(state[k].shape) != tuple(own[k].shape))
    if missing or unexpected or bad:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
        if bad:
            parts.append(f"{len(bad)} shape mismatches (e.g. {bad[0]}: file {tuple(state[bad[0]].shape)}, "
                         f"model {tuple(own[bad[0]].shape)})")
        raise DataError(f"{path}: {what}: {'; '.join(parts)}")
    model.load_state_dict(state, strict=True)
