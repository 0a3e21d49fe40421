"""vskd checkpoints: writing, safe reading, validation, RNG states, and rebuilding trained models.

A vskd checkpoint is a ``torch.save`` file of a plain dict (``format`` = :data:`CHECKPOINT_FORMAT`):

* ``best.pt`` (:data:`BEST_KEYS`): ``epoch``, ``model`` (the deployed state dict), ``history``,
  ``best`` and ``meta`` (``kind`` "teacher" | "student", ``num_classes``, ``class_names``, ``config``);
* ``last.pt``: the same plus ``trainable`` (every trained module, adapters included, with their
  ``get_extra_state`` such as CRD's negative-sampling generator), ``optimizer``, ``scheduler`` and
  ``rng`` (:func:`rng_state`).

**Safe loading.** Every file is read with ``torch.load(weights_only=True)``: only tensors and plain
Python values (dicts, lists, tuples, str, numbers, None) are rebuilt, so a file that would run code
when unpickled (a ``__reduce__`` planted in it) is refused with one line and nothing of it runs. That
is why everything vskd stores is a tensor or a plain value (NumPy's RNG key as an int64 tensor, not
an ``ndarray``); plain-data NumPy arrays are still accepted, so a ``last.pt`` written before that
change resumes.

**Validation.** :func:`validate_checkpoint` checks a loaded checkpoint before use: its ``meta``, a
``model`` state dict of tensors that are all finite, and (given the model rebuilt from ``meta``) the
exact keys and shapes that model expects; every problem is one :class:`~vskd.errors.VskdError`
naming the file. :func:`load_teacher` and :func:`load_student` (used by ``vskd evaluate``,
``vskd distill --teacher``, ``vskd export`` and ``vskd stream``) go through it.
"""

from __future__ import annotations

import os
import pickle
import random
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from vskd.config import Config, config_from_dict
from vskd.engine.builders import build_fusion_teacher, build_student, build_teacher, member_configs
from vskd.errors import VskdError

__all__ = ["BEST_KEYS", "CHECKPOINT_FORMAT", "atomic_save", "fusion_teacher", "load_checkpoint", "load_student",
           "load_teacher",
           "nonfinite_entries", "rng_state", "safe_torch_load", "set_rng_state", "validate_checkpoint"]

CHECKPOINT_FORMAT = "vskd-checkpoint-v1"
#: what ``best.pt`` keeps (``last.pt`` has everything, for resuming: also weights of the adapters,
#: optimizer, scheduler and RNG states)
BEST_KEYS = ("format", "epoch", "model", "history", "best", "meta")
KINDS = ("teacher", "student")


# ----------------------------------------------------------------------------- writing

def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then ``os.replace``: never a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        # disk full, permissions, ... (torch's zip writer reports a short write as a RuntimeError)
        if isinstance(exc, OSError) or (isinstance(exc, RuntimeError) and _is_write_error(exc)):
            raise VskdError(f"could not write {path} ({exc.__class__.__name__}: {str(exc)[:100]}); "
                            f"is the disk full? the previous {path.name} is untouched") from None
        raise


def _is_write_error(exc: RuntimeError) -> bool:
    text = str(exc)
    return any(k in text for k in ("unexpected pos", "file write failed", "inline_container", "No space left"))


# ----------------------------------------------------------------------------- reading

#: NumPy arrays of plain data (what last.pt held before RNG states were tensors): rebuilding one runs no
#: code, and an object array's elements still go through the weights-only unpickler (and are refused)
_NUMPY_DATA = [np.ndarray, np.dtype, (np._core if hasattr(np, "_core") else np.core).multiarray._reconstruct,
               *(type(np.dtype(t)) for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                                             np.uint32, np.uint64, np.float16, np.float32, np.float64))]


class UnsafeFileError(VskdError):
    """A torch file that ``weights_only`` loading refuses (it holds more than tensors and plain values)."""


def safe_torch_load(path: str | Path, what: str = "vskd checkpoint") -> Any:
    """``torch.load(path, weights_only=True)`` on CPU; every failure is one :class:`VskdError` line.

    A file that holds Python objects (a planted ``__reduce__``, a pickled class) raises
    :class:`UnsafeFileError` without running any of it; a truncated or foreign file raises
    :class:`VskdError`. ``what`` names the kind of file in the message.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings(), torch.serialization.safe_globals(_NUMPY_DATA):
            warnings.simplefilter("ignore", UserWarning)  # e.g. "Detected pickle protocol 4": the refusal says it all
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "Weights only load failed" not in text:  # plain pickle garbage
            raise VskdError(f"{what} {path} is unreadable or truncated (UnpicklingError: {text[:80]})") from None
        found = re.search(r"GLOBAL (\S+)", text)
        detail = f" such as {found.group(1)}" if found else ""
        raise UnsafeFileError(f"{path} is not a safe {what} (it contains Python objects{detail} or pickle "
                              f"instructions that could run code when loaded; vskd loads weights only)") from None
    except Exception as exc:  # truncated zip, empty file, ...
        raise VskdError(f"{what} {path} is unreadable or truncated "
                        f"({exc.__class__.__name__}: {str(exc)[:80]})") from None


def load_checkpoint(path: str | Path) -> dict:
    """Load a vskd checkpoint (weights only); a missing, unsafe, truncated or foreign file raises a clear VskdError."""
    path = Path(path)
    if not path.is_file():
        raise VskdError(f"checkpoint not found: {path}")
    ckpt = safe_torch_load(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise VskdError(f"{path} is not a vskd checkpoint (expected format '{CHECKPOINT_FORMAT}')")
    return ckpt


# ----------------------------------------------------------------------------- validation

def nonfinite_entries(state: Mapping[str, Any]) -> tuple[list[str], int, int]:
    """``(names, bad, total)`` over the floating-point tensors of a state dict: the entries holding
    NaN/Inf, the number of non-finite values and the number of values checked."""
    names, bad, total = [], 0, 0
    for name, value in state.items():
        if isinstance(value, torch.Tensor) and (value.is_floating_point() or value.is_complex()):
            n = int((~torch.isfinite(value)).sum())
            total += value.numel()
            if n:
                names.append(name)
                bad += n
    return names, bad, total


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(d) for d in t.shape) + ")"


def validate_checkpoint(ckpt: Mapping[str, Any], path: str | Path, model: nn.Module | None = None) -> dict:
    """Check a loaded vskd checkpoint before use; return its ``meta``.

    Checks: ``meta`` is a mapping with ``kind`` ("teacher" or "student"), ``num_classes`` (an integer
    >= 1, matching ``class_names`` when given) and ``config`` (a mapping); ``model`` is a state dict of
    tensors, all finite. With ``model`` (the module rebuilt from ``meta``), the state dict must have
    exactly its keys and shapes (a wrong number of classes shows as the classifier's shape). Each
    problem raises one :class:`VskdError` naming ``path`` and what is wrong.
    """
    meta = ckpt.get("meta")
    if not isinstance(meta, Mapping):
        raise VskdError(f"checkpoint {path} has no metadata ('meta'); it was not written by a vskd training command")
    if meta.get("kind") not in KINDS:
        raise VskdError(f"checkpoint {path}: meta 'kind' must be one of {', '.join(KINDS)}, got {meta.get('kind')!r}")
    n = meta.get("num_classes")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise VskdError(f"checkpoint {path}: meta 'num_classes' must be an integer >= 1, got {n!r}")
    names = meta.get("class_names")
    if names is not None and (not isinstance(names, (list, tuple)) or len(names) != n
                              or not all(isinstance(c, str) for c in names)):
        raise VskdError(f"checkpoint {path}: meta 'class_names' must be {n} names (num_classes), got "
                        f"{names if not isinstance(names, (list, tuple)) else f'{len(names)} entries'}")
    if not isinstance(meta.get("config"), Mapping):
        raise VskdError(f"checkpoint {path}: meta 'config' (the training config) is missing")
    state = ckpt.get("model")
    if not isinstance(state, Mapping) or not state:
        raise VskdError(f"checkpoint {path} has no model weights ('model')")
    foreign = [k for k, v in state.items() if not isinstance(v, torch.Tensor) and not str(k).endswith("_extra_state")]
    if foreign:
        raise VskdError(f"checkpoint {path}: model entry '{foreign[0]}' is not a tensor")
    bad_names, bad, total = nonfinite_entries(state)
    if bad:
        raise VskdError(f"checkpoint {path} has non-finite weights: {bad} of {total} values are NaN/Inf "
                        f"(in {len(bad_names)} tensors, e.g. '{bad_names[0]}'); the training that wrote it "
                        f"diverged, retrain with a lower learning rate")
    if model is not None:
        expected = model.state_dict()
        missing = [k for k in expected if k not in state]
        unexpected = [k for k in state if k not in expected]
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"{len(missing)} missing (e.g. '{missing[0]}')")
            if unexpected:
                parts.append(f"{len(unexpected)} unexpected (e.g. '{unexpected[0]}')")
            raise VskdError(f"checkpoint {path}: its weights do not fit the {meta['kind']} its config describes: "
                            f"{' and '.join(parts)} entries")
        for k, v in expected.items():
            # an empty buffer is a parameter set when the model is fitted (MiniRocket's dilations, ...):
            # its size comes from the fit, and loading the state dict resizes it
            if isinstance(v, torch.Tensor) and v.shape != state[k].shape and v.numel():
                raise VskdError(f"checkpoint {path}: weight '{k}' has shape {_shape(state[k])}, the {meta['kind']} "
                                f"its config describes ({n} classes) expects {_shape(v)}")
    return dict(meta)


# ----------------------------------------------------------------------------- RNG states

def rng_state() -> dict:
    """Python, NumPy, torch (and CUDA, once used) RNG states as tensors and plain values (weights_only-safe)."""
    np_state = np.random.get_state(legacy=False)
    state = {
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
        "numpy": {"bit_generator": np_state["bit_generator"],
                  "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                  "pos": int(np_state["state"]["pos"]),
                  "has_gauss": int(np_state["has_gauss"]), "gauss": float(np_state["gauss"])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore :func:`rng_state` (CUDA's only where CUDA is available, device by device)."""
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    npst = state["numpy"]
    if isinstance(npst, (tuple, list)):  # NumPy's own tuple (last.pt written before vskd stored a tensor)
        np.random.set_state(tuple(npst))
    else:
        np.random.set_state((npst["bit_generator"], np.asarray(npst["key"]).astype(np.uint32), npst["pos"],
                             npst["has_gauss"], npst["gauss"]))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available():
        for device, s in enumerate(cuda[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(s, device)


# ----------------------------------------------------------------------------- trained models

def _rebuild(path: Path, ckpt: dict, build) -> nn.Module:
    """``build()`` the model, check the checkpoint's weights fit it, load them, eval mode."""
    model = build()
    validate_checkpoint(ckpt, path, model)
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model


def load_teacher(path: str | Path, num_classes: int | None = None) -> tuple[nn.Module, dict]:
    """Rebuild a trained teacher (eval mode) from its checkpoint (architecture from the config saved inside)."""
    path = Path(path)
    ckpt = load_checkpoint(path)
    meta = validate_checkpoint(ckpt, path)
    if meta["kind"] != "teacher":
        raise VskdError(f"{path} is a '{meta['kind']}' checkpoint, expected a teacher (from vskd train-teacher)")
    if num_classes is not None and meta["num_classes"] != num_classes:
        raise VskdError(f"teacher checkpoint {path} was trained for {meta['num_classes']} classes, "
                        f"but the dataset has {num_classes}")
    tcfg = config_from_dict(meta["config"])
    tcfg.teacher.pretrained = None  # weights come from the checkpoint
    return _rebuild(path, ckpt, lambda: build_teacher(tcfg, meta["num_classes"])), meta


def load_student(path: str | Path, purpose: str = "this command") -> tuple[nn.Module, dict, Config]:
    """Rebuild a trained student (eval mode) from its checkpoint: ``(student, meta, config)``.

    Refuses a teacher checkpoint and a student whose logits come from its method's own head (SimKD),
    naming ``purpose`` (e.g. "vskd export") in the one-line error.
    """
    path = Path(path)
    ckpt = load_checkpoint(path)
    meta = validate_checkpoint(ckpt, path)
    if meta["kind"] != "student":
        raise VskdError(f"{path} is a '{meta['kind']}' checkpoint; {purpose} needs a student "
                        f"(best.pt of vskd train-student or vskd distill)")
    cfg = config_from_dict(meta["config"])
    if meta.get("method_classifies"):
        raise VskdError(f"{path} is a {cfg.distill.method} student whose logits come from the method's own "
                        f"classifier; {purpose} cannot rebuild that classifier (its test figures are in "
                        f"results.json beside it)")
    cfg.student.pretrained = None  # weights come from the checkpoint
    return _rebuild(path, ckpt, lambda: build_student(cfg, meta["num_classes"])), meta, cfg


def fusion_teacher(cfg: Config, class_names: list[str]) -> nn.Module:
    """A fusion teacher (``teacher.arch: fusion``) of the trained ``teacher.members`` checkpoints.

    Each member is read as :func:`load_teacher` / :func:`load_student` read a checkpoint (weights only,
    validated against the architecture its own config describes); its classes must be ``class_names``
    (the dataset's, in order) and it may not be a fusion teacher itself. Each member's ``kind`` and
    ``config`` are filled into ``cfg.teacher.members``, so the fusion teacher's own checkpoint holds
    every member's architecture and view and rebuilds without the member files. Every problem is one
    :class:`VskdError` naming the member's file. The returned teacher's ``member_train_keys`` lists the
    recordings whose labels the members were trained on (``None`` when a member's checkpoint does not
    record them), so that ``vskd distill`` can check a fusion teacher against ``distill.unlabeled`` too.
    """
    loaded = []
    keys: set[str] | None = set()
    for i, m in enumerate(cfg.teacher.members):
        path = Path(m.checkpoint) if m.checkpoint else None
        if path is None:
            raise VskdError(f"config key 'teacher.members[{i}].checkpoint': expected a trained member's best.pt")
        meta = validate_checkpoint(load_checkpoint(path), path)
        names = meta.get("class_names")
        if meta["num_classes"] != len(class_names) or (names is not None and list(names) != list(class_names)):
            what = f"{meta['num_classes']} classes" if names is None else f"classes {_short(names)}"
            raise VskdError(f"fusion member {path} was trained for {what}, but the dataset has "
                            f"{len(class_names)} classes {_short(class_names)}")
        if meta["kind"] == "teacher":
            if meta["config"].get("teacher", {}).get("arch") == "fusion":
                raise VskdError(f"fusion member {path} is itself a fusion teacher; list its members instead")
            model, meta = load_teacher(path, len(class_names))
        else:
            model, meta, _ = load_student(path, "a fusion teacher member")
        m.kind, m.config = meta["kind"], dict(meta["config"])
        loaded.append(model)
        seen = meta.get("train_keys")
        keys = None if seen is None or keys is None else keys | set(seen)
    members = {name: model for (name, _, _), model in zip(member_configs(cfg), loaded)}
    fused = build_fusion_teacher(cfg, len(class_names), members)
    # whose labels the members read (None: a member does not say), for the fusion checkpoint's train_keys
    fused.member_train_keys = None if keys is None else sorted(keys)
    return fused


def _short(names) -> str:
    names = list(names)
    return "[" + ", ".join(names[:3]) + (", ..." if len(names) > 3 else "") + "]"
