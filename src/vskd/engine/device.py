"""Where training runs (``device``) and in which precision (``*.train.amp``).

``device`` (a top-level config key):

* ``cpu`` (the default: what CI and the 2-core machines run, bit-reproducible);
* ``cuda`` / ``cuda:N``: that GPU; under ``torchrun`` ``cuda`` means ``cuda:$LOCAL_RANK`` (one GPU a
  process, NCCL: :mod:`vskd.engine.dist`);
* ``auto``: ``cuda`` when torch sees a GPU, else ``cpu`` (the ``paper`` preset's recipe).

The model, the frozen teacher and the method's adapters are moved there once; every batch is moved
there by the :class:`~vskd.engine.trainer.Trainer` (and the evaluation's forward), so the datasets,
loaders and caches stay on the CPU. Checkpoints are loaded onto the CPU (``map_location``), so a run
trained on a GPU evaluates and deploys on a machine without one.

``*.train.amp`` (``teacher.train.amp`` / ``student.train.amp``): mixed precision of the training
step (forward and loss under :func:`torch.autocast`): ``off`` (default), ``bf16`` (CPU or GPU; no loss
scaling needed: bfloat16 keeps float32's range), ``fp16`` (GPU only, with a
:class:`torch.amp.GradScaler`: float16's range is small, so the loss is scaled before ``backward`` and
the step skipped when a gradient overflows). Evaluation stays in float32. On a GPU neither mode is
bit-reproducible run to run; ``cpu`` with ``amp: off`` is.
"""

from __future__ import annotations

import contextlib
import os

import torch

from vskd.config import AMP_MODES
from vskd.errors import ConfigError

__all__ = ["AMP_MODES", "autocast", "check_amp", "grad_scaler", "module_device", "resolve_device", "to_device"]


def resolve_device(name: str) -> torch.device:
    """The torch device of the config key ``device`` (``cpu``, ``cuda``, ``cuda:N``, ``auto``); one line
    naming the key when the GPU asked for is not there."""
    name = str(name).strip().lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(f"config key 'device': '{name}' asked for, but torch sees no CUDA GPU "
                              f"(torch {torch.__version__}, torch.cuda.is_available() is False); use cpu or auto")
        if name == "cuda":
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        index = name.split(":", 1)[1]
        if not index.isdigit() or int(index) >= torch.cuda.device_count():
            raise ConfigError(f"config key 'device': '{name}': this machine has {torch.cuda.device_count()} "
                              f"CUDA GPU(s), numbered from 0")
        return torch.device("cuda", int(index))
    raise ConfigError(f"config key 'device': expected cpu, cuda, cuda:N or auto, got {name!r}")


def to_device(obj, device: torch.device):
    """``obj`` with every tensor in it (nested dicts, lists, tuples) on ``device``; anything else as it
    is. A no-op on the CPU."""
    if device.type == "cpu":
        return obj
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) and any(isinstance(v, (torch.Tensor, dict, list, tuple)) for v in obj):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (the CPU for a module with neither)."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")


def check_amp(amp: str, device: torch.device, section: str = "train") -> None:
    """Refuse an ``amp`` mode the device cannot run (fp16 on the CPU), naming the key."""
    if amp not in AMP_MODES:
        raise ConfigError(f"config key '{section}.amp': expected one of {', '.join(AMP_MODES)}, got {amp!r}")
    if amp == "fp16" and device.type != "cuda":
        raise ConfigError(f"config key '{section}.amp': fp16 needs a CUDA device (device is {device}); "
                          f"use bf16 on the CPU, or off")


def autocast(amp: str, device: torch.device):
    """The training step's precision context: :func:`torch.autocast` for bf16 / fp16, else nothing."""
    if amp == "off":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(amp: str, device: torch.device):
    """A GradScaler for fp16 on a GPU, else None (bf16 and float32 need no loss scaling)."""
    if amp == "fp16" and device.type == "cuda":
        return torch.amp.GradScaler("cuda")
    return None
