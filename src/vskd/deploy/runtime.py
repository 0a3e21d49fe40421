"""Run a deployed student from any of its forms: ONNX (fp32 or int8), TorchScript, or a vskd checkpoint.

:func:`load_predictor` recognises the file by its content, not its name: a zip archive is a torch file
(TorchScript when it holds ``code/``, else a vskd checkpoint), anything else must parse as an ONNX
model carrying vskd's metadata. Every other file raises :class:`~vskd.errors.VskdError` naming it.
A :class:`Predictor` maps raw windows ``(B, T, C)`` (float32, the model's axes in order, sampled at
``info.rate_hz``) to logits ``(B, K)``; ``threads`` fixes the intra-op threads (1 for latency figures).
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

from vskd.deploy.model import DeployInfo, resample
from vskd.errors import DataError, VskdError

__all__ = ["ONNX_METADATA_KEY", "TORCHSCRIPT_METADATA_FILE", "Predictor", "load_predictor"]

ONNX_METADATA_KEY = "vskd"
TORCHSCRIPT_METADATA_FILE = "vskd.json"


class Predictor:
    """A loaded model: ``predict(windows) -> logits`` plus its :class:`DeployInfo`.

    ``kind`` is ``"onnx"``, ``"torchscript"`` or ``"checkpoint"``; ``path`` the file it came from.
    """

    def __init__(self, kind: str, path: Path, info: DeployInfo, run) -> None:
        self.kind = kind
        self.path = path
        self.info = info
        self._run = run

    def prepare(self, window: np.ndarray) -> np.ndarray:
        """One raw window (T, C) -> the model's input (T', C) float32 (resampled to a fixed length if any)."""
        w = np.asarray(window, dtype=np.float32)
        c = len(self.info.axes)
        if w.ndim != 2 or w.shape[1] != c:
            raise DataError(f"window must have shape (T, {c}) ({', '.join(self.info.axes)}), got {w.shape}")
        if w.shape[0] < self.info.min_length:
            raise DataError(f"window has {w.shape[0]} samples; the model needs at least {self.info.min_length}")
        if not np.isfinite(w).all():
            raise DataError(f"window has {int((~np.isfinite(w)).sum())} NaN/Inf value(s)")
        if self.info.window_length is not None:
            w = resample(w, self.info.window_length)
        return np.ascontiguousarray(w)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Logits (B, K) float32 of prepared windows (B, T, C) float32."""
        return np.asarray(self._run(np.ascontiguousarray(windows, dtype=np.float32)), dtype=np.float32)

    def predict_window(self, window: np.ndarray) -> np.ndarray:
        """Logits (K,) of one raw window (T, C) (checked and prepared by :meth:`prepare`)."""
        return self.predict(self.prepare(window)[None])[0]

    def __repr__(self) -> str:
        return f"Predictor({self.kind}, {self.path.name}, {self.info.arch} {self.info.precision})"


def _onnx_session(path: Path, threads: int | None):
    try:
        import onnxruntime as ort
    except ImportError:
        raise VskdError(f"{path}: running an ONNX model needs onnxruntime (pip install 'vskd[deploy]')") from None
    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own Fail/InvalidGraph/... classes
        raise VskdError(f"{path} is not a usable ONNX model ({type(exc).__name__}: {str(exc)[:120]})") from None


def _load_onnx(path: Path, threads: int | None) -> Predictor:
    sess = _onnx_session(path, threads)
    meta = sess.get_modelmeta().custom_metadata_map
    if ONNX_METADATA_KEY not in meta:
        raise VskdError(f"{path} is an ONNX model without vskd metadata (export it with vskd export)")
    info = DeployInfo.from_json(meta[ONNX_METADATA_KEY], str(path))
    name = sess.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        return sess.run(None, {name: x})[0]

    return Predictor("onnx", path, info, run)


def _torch_runner(module: torch.nn.Module, threads: int | None):
    def run(x: np.ndarray) -> np.ndarray:
        previous = torch.get_num_threads()
        if threads:
            torch.set_num_threads(int(threads))
        try:
            with torch.inference_mode():
                return module(torch.from_numpy(x)).numpy()
        finally:
            if threads:
                torch.set_num_threads(previous)

    return run


def _load_torch_zip(path: Path, threads: int | None) -> Predictor:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    if any("/code/" in n or n.startswith("code/") for n in names):
        extra = {TORCHSCRIPT_METADATA_FILE: ""}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated upstream, still supported
                module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError with C++ traces
            raise VskdError(f"{path} is an unreadable TorchScript file ({type(exc).__name__})") from None
        if not extra[TORCHSCRIPT_METADATA_FILE]:
            raise VskdError(f"{path} is a TorchScript file without vskd metadata (export it with vskd export)")
        info = DeployInfo.from_json(extra[TORCHSCRIPT_METADATA_FILE], str(path))
        return Predictor("torchscript", path, info, _torch_runner(module.eval(), threads))
    from vskd.deploy.model import load_checkpoint_model

    model, info, _ = load_checkpoint_model(path)
    return Predictor("checkpoint", path, info, _torch_runner(model, threads))


def load_predictor(path: str | Path, threads: int | None = None) -> Predictor:
    """Load an exported model (ONNX / TorchScript from ``vskd export``) or a student checkpoint (best.pt).

    Raises :class:`~vskd.errors.VskdError` naming the file when it is missing, of another kind (a teacher
    checkpoint, an image, an ONNX model not exported by vskd) or unreadable.
    """
    p = Path(path)
    if not p.is_file():
        raise VskdError(f"model file not found: {p}")
    if zipfile.is_zipfile(p):
        return _load_torch_zip(p, threads)
    return _load_onnx(p, threads)
