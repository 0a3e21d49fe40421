"""Loading a state_dict from a local weights file strictly, with one clear error for any mismatch."""

from __future__ import annotations

from pathlib import Path

import hashlib

import torch
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


def read_state_dict(path: str | Path, what: str = "weights") -> dict[str, torch.Tensor]:
    """The state_dict in a local weights file (a ``{"state_dict": ...}`` wrapper is accepted); a
    missing, unreadable or non-state_dict file raises one DataError naming ``path``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a data error
        raise DataError(f"{path}: cannot read {what} ({type(exc).__name__}: {exc})") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataError(f"{path}: expected a state_dict (dict of tensors), got {type(state).__name__}")
    return state


def state_digest(module: nn.Module) -> str:
    """SHA-256 (hex, 16 digits) of ``module``'s state_dict: every entry's name, dtype, shape and bytes, in
    name order. Two modules with the same architecture and the same weights (whichever file they came
    from) have the same digest; any changed weight, buffer or shape changes it. Feature caches key on it."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]
