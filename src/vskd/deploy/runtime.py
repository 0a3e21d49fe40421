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

__all__ = ["ONNX_METADATA_KEY", "TORCHSCRIPT_METADATA_FILE", "Predictor", "check_info", "load_predictor"]

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


#: the most classes / input axes an exported model's metadata may declare
MAX_CLASSES = 10_000
MAX_AXES = 64


def check_info(info: DeployInfo, where: str) -> DeployInfo:
    """Refuse metadata a runtime cannot use (one line naming the file and the field), at load time.

    A hand-edited or foreign file may carry ``rate_hz: "fifty"`` or ``1e308`` (windows of inf samples),
    ``axes: []`` (windows of zero channels) or GAF options the encoder rejects; found here, not when the
    first window arrives.
    """
    from vskd.data.rules import MAX_RATE_HZ, MIN_RATE_HZ
    from vskd.gaf import GAFEncoder, MAX_GAF_SIDE

    def bad(field: str, expected: str, got) -> VskdError:
        return VskdError(f"{where}: vskd metadata field '{field}': expected {expected}, got {got!r}"[:300])

    def is_int(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    names = info.class_names
    if not (isinstance(names, list) and 1 <= len(names) <= MAX_CLASSES and all(isinstance(n, str) for n in names)):
        raise bad("class_names", f"a list of 1..{MAX_CLASSES} names", names)
    axes = info.axes
    if not (isinstance(axes, list) and 1 <= len(axes) <= MAX_AXES and all(isinstance(a, str) and a for a in axes)
            and len(set(axes)) == len(axes)):
        raise bad("axes", f"a list of 1..{MAX_AXES} distinct channel names", axes)
    rate = info.rate_hz
    if not (isinstance(rate, (int, float)) and not isinstance(rate, bool) and np.isfinite(rate)
            and MIN_RATE_HZ <= rate <= MAX_RATE_HZ):
        raise bad("rate_hz", f"a sampling rate in {MIN_RATE_HZ:g}..{MAX_RATE_HZ:g} Hz", rate)
    if not (is_int(info.min_length) and 1 <= info.min_length <= MAX_GAF_SIDE):
        raise bad("min_length", f"an integer in 1..{MAX_GAF_SIDE}", info.min_length)
    wl = info.window_length
    if wl is not None and not (is_int(wl) and max(info.min_length, 2) <= wl <= MAX_GAF_SIDE):
        raise bad("window_length", f"null or an integer in {max(info.min_length, 2)}..{MAX_GAF_SIDE}", wl)
    gaf = info.gaf
    extra = info.extra if isinstance(info.extra, dict) else {}
    if extra.get("view") == "raw":  # a raw-signal student: no GAF, its resampling length instead
        length = extra.get("length")
        if gaf != {} or not (is_int(length) and 2 <= length <= MAX_GAF_SIDE):
            raise bad("extra", f"a raw view with an empty 'gaf' and a 'length' in 2..{MAX_GAF_SIDE}", extra)
        return info
    if not isinstance(gaf, dict) or "method" not in gaf:
        raise bad("gaf", "a mapping of GAF options with a 'method'", gaf)
    try:
        GAFEncoder(method=gaf["method"], image_size=gaf.get("image_size"), out_size=gaf.get("out_size"),
                   scaling=gaf.get("scaling", "minmax"), orientation=gaf.get("orientation", "standard"))
    except (VskdError, TypeError, ValueError) as exc:
        raise VskdError(f"{where}: vskd metadata field 'gaf': {exc}"[:300]) from None
    return info


def _check_onnx_io(sess, info: DeployInfo, path: Path) -> None:
    """The graph must take (B, T, C) windows and give (B, K) logits, K the number of class names.

    Checked on the declared shapes and on one dry run (a constant window of the shortest accepted
    length), so a file whose output is an image, a scalar or another number of classes is refused now.
    """
    inputs, outputs = sess.get_inputs(), sess.get_outputs()
    if len(inputs) != 1 or not outputs:
        raise VskdError(f"{path}: expected an ONNX model with one input (windows) and an output (logits), got "
                        f"{len(inputs)} input(s) and {len(outputs)} output(s)")
    shape = inputs[0].shape
    c = len(info.axes)
    if len(shape) != 3 or (isinstance(shape[2], int) and shape[2] != c):
        raise VskdError(f"{path}: the model's input has shape {shape}; expected (batch, time, {c}) windows")
    k = info.num_classes
    out_shape = outputs[0].shape
    if len(out_shape) != 2 or (isinstance(out_shape[1], int) and out_shape[1] != k):
        raise VskdError(f"{path}: the model's output has shape {out_shape}; expected logits (batch, {k}) for "
                        f"its {k} class names")
    t = shape[1] if isinstance(shape[1], int) else (info.window_length or max(info.min_length, 2))
    try:
        got = sess.run(None, {inputs[0].name: np.zeros((1, t, c), np.float32)})[0]
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own error classes
        raise VskdError(f"{path}: the model fails on a ({t}, {c}) window ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0][:120] if str(exc) else ''})") from None
    if np.shape(got) != (1, k):
        raise VskdError(f"{path}: the model's output for one window has shape {np.shape(got)}; expected logits (1, {k})")


def _load_onnx(path: Path, threads: int | None) -> Predictor:
    sess = _onnx_session(path, threads)
    meta = sess.get_modelmeta().custom_metadata_map
    if ONNX_METADATA_KEY not in meta:
        raise VskdError(f"{path} is an ONNX model without vskd metadata (export it with vskd export)")
    info = check_info(DeployInfo.from_json(meta[ONNX_METADATA_KEY], str(path)), str(path))
    _check_onnx_io(sess, info, path)
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
        info = check_info(DeployInfo.from_json(extra[TORCHSCRIPT_METADATA_FILE], str(path)), str(path))
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
