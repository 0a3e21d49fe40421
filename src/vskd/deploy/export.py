"""``vskd export``: a trained student as ONNX (fp32, optionally int8) or TorchScript, checked against torch.

What is exported is :class:`~vskd.deploy.model.WindowModel` (GAF preprocessing + student), so the file
takes a raw accelerometer window ``(B, T, C)`` float32 and returns logits ``(B, K)``; the
:class:`~vskd.deploy.model.DeployInfo` (class names, axes, rate, window length, GAF options) is stored
inside the file.

* **ONNX**: ``torch.onnx.export(..., dynamo=True)`` (opset chosen by torch), input ``window`` with a
  dynamic batch axis and, when the GAF has no PAA (``image_size=None``), a dynamic length axis.
* **int8** (``--int8``, ONNX only): ONNX Runtime static quantisation
  (``onnxruntime.quantization.quantize_static``, QDQ format, per-channel int8 weights, uint8
  activations) of the student's ``Conv``, ``Gemm``, ``Relu`` and ``Add`` nodes; the GAF part stays in
  float (it needs float64 near :math:`|\\hat x| = 1`). Calibration runs the fp32 model on the first
  ``calibration`` training windows (whole recordings; ``0`` = all), or with ``calibration_spread``
  on as many spread evenly over the training split (indices ``round(linspace(0, n - 1, calibration))``;
  the split is ordered by class, so its first 64 UTD-MHAD recordings hold 6 of the 27 classes).
  The activation ranges come from ``calibration_method`` (:data:`CALIBRATION_METHODS`): ``minmax``
  (the observed range, the default), ``percentile`` (the 99.999th percentile of ``|x|``, clipping
  rare outliers) or ``entropy`` (the range minimising the KL divergence between the float and the
  quantised histogram, TensorRT's rule: 2048 histogram bins, 128 quantised bins). The defaults
  (minmax, first 64) were kept by measurement (``benchmarks/int8_calibration.py``,
  docs/results/raw-students.md 7.1): on the distilled watch1d student no setting beat them on
  validation, and entropy lost 7 points.
* **TorchScript**: ``torch.jit.trace`` of the same module (the trace keeps the length symbolic: it
  accepts other window lengths, which the self-check exercises with the validation recordings).

The export checks itself on every validation recording (whole recordings as windows): the fp32
exports must match torch's logits within ``|a - b| <= atol + rtol |b|`` (default ``atol = rtol =
1e-4``; measured differences are ~1e-6), otherwise :class:`~vskd.errors.VskdError`. It reports each
file's size and the validation accuracy of torch fp32 and of every exported format (int8: also its
top-1 agreement with fp32), prints them and writes ``export.json`` beside the files.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vskd.deploy.model import DeployInfo, WindowModel, load_checkpoint_model
from vskd.deploy.runtime import (
    ONNX_METADATA_KEY,
    TORCHSCRIPT_METADATA_FILE,
    Predictor,
    load_predictor,
)
from vskd.errors import ConfigError, VskdError

__all__ = [
    "FORMATS",
    "export_checkpoint",
    "export_onnx",
    "export_torchscript",
    "quantize_int8",
    "split_windows",
]

FORMATS = ("onnx", "torchscript")


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise VskdError(f"ONNX export needs onnx, onnxscript and onnxruntime ({exc.name} is missing): "
                        f"pip install 'vskd[deploy]'") from None
    major, minor = (int(v) for v in torch.__version__.split(".")[:2])
    if (major, minor) < (2, 6):
        raise VskdError(f"ONNX export needs torch >= 2.6 (torch.onnx.export(dynamo=True) with dynamic shapes), "
                        f"this is torch {torch.__version__}")


def _example(info: DeployInfo) -> torch.Tensor:
    n = info.window_length or max(info.min_length, round(2 * info.rate_hz))
    g = torch.Generator().manual_seed(0)
    return torch.randn(1, n, len(info.axes), generator=g, dtype=torch.float32)


def export_onnx(model: WindowModel, info: DeployInfo, path: str | Path) -> Path:
    """Write ``model`` as ONNX (input ``window`` (B, T, C) float32, output ``logits``) with ``info`` inside."""
    _require_onnx()
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = torch.export.Dim("batch", min=1, max=4096)
    dims: dict[int, Any] = {0: batch}
    if info.window_length is None:
        dims[1] = torch.export.Dim("length", min=max(2, info.min_length), max=1_000_000)
    example = _example(info)
    with torch.inference_mode():
        model.eval()(example)  # eager first: caches (the PAA matrix) then hold real tensors, not traced ones
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (example,), dynamo=True, input_names=["window"],
                                    output_names=["logits"], dynamic_shapes={"window": dims}, verbose=False,
                                    external_data=False)
    proto = program.model_proto
    _set_metadata(proto, info)
    onnx.save(proto, str(path))
    return path


def _set_metadata(proto, info: DeployInfo) -> None:
    for i, p in enumerate(proto.metadata_props):
        if p.key == ONNX_METADATA_KEY:
            del proto.metadata_props[i]
            break
    entry = proto.metadata_props.add()
    entry.key, entry.value = ONNX_METADATA_KEY, info.to_json()
    proto.doc_string = (f"vskd student ({info.arch}, {info.precision}): raw window (B, T, {len(info.axes)}) "
                        f"[{', '.join(info.axes)}] at {info.rate_hz:g} Hz -> logits (B, {info.num_classes})")


def export_torchscript(model: WindowModel, info: DeployInfo, path: str | Path) -> Path:
    """Write ``model`` as a traced TorchScript file with ``info`` as the extra file ``vskd.json``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated upstream; tracer notes on shape checks
        traced = torch.jit.trace(model.eval(), _example(info), check_trace=False)
        torch.jit.save(traced, str(path), _extra_files={TORCHSCRIPT_METADATA_FILE: info.to_json()})
    return path


class _Calibration:
    """onnxruntime CalibrationDataReader over raw windows (one window per batch)."""

    def __init__(self, windows: list[np.ndarray], name: str) -> None:
        self._it = iter([{name: w[None].astype(np.float32)} for w in windows])

    def get_next(self):
        return next(self._it, None)

    def rewind(self) -> None:  # pragma: no cover - ONNX Runtime's calibrators read the data once
        pass


#: ``calibration_method`` -> ONNX Runtime's ``CalibrationMethod`` member name
CALIBRATION_METHODS = {"minmax": "MinMax", "percentile": "Percentile", "entropy": "Entropy"}


def check_calibration_method(method: str) -> None:
    """Raise the one-line :class:`ConfigError` for a ``--calibration-method`` outside :data:`CALIBRATION_METHODS`."""
    if method not in CALIBRATION_METHODS:
        raise ConfigError(f"--calibration-method: expected one of {', '.join(CALIBRATION_METHODS)}, got {method!r}")


def calibration_indices(n: int, count: int) -> list[int]:
    """``count`` indices spread evenly over ``range(n)`` (all of them when ``count`` is 0 or >= ``n``)."""
    if n <= 0:
        return []
    if count <= 0 or count >= n:
        return list(range(n))
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, count)})


#: the node types int8 quantisation covers by default
INT8_OP_TYPES = ("Conv", "Gemm", "Relu", "Add")


def quantize_int8(fp32_path: str | Path, out_path: str | Path, calibration: list[np.ndarray],
                  op_types: tuple[str, ...] = INT8_OP_TYPES, method: str = "minmax") -> Path:
    """Static int8 quantisation of an fp32 vskd ONNX model (``op_types`` nodes, QDQ, per-channel).

    ``calibration``: prepared windows (T, C) float32 (at least one); ``method``: a key of
    :data:`CALIBRATION_METHODS`. The metadata is copied with ``precision = "int8"``.
    """
    check_calibration_method(method)
    _require_onnx()
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    if not calibration:
        raise VskdError("int8 quantisation needs at least one calibration window (the training split is empty)")
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    src = load_predictor(fp32_path)
    info = replace(src.info, precision="int8")
    root = logging.getLogger()
    level = root.level
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp:
        warnings.simplefilter("ignore")
        root.setLevel(logging.ERROR)  # onnxruntime.quantization logs advice on the root logger
        source = str(fp32_path)
        try:  # ONNX Runtime's recommended pre-processing (shape inference + graph optimisation)
            from onnxruntime.quantization.shape_inference import quant_pre_process

            quant_pre_process(source, str(Path(tmp) / "pre.onnx"), skip_symbolic_shape=True)
            source = str(Path(tmp) / "pre.onnx")
        except Exception:  # noqa: BLE001, S110 - optional step; quantise the model as exported
            pass
        try:
            kwargs = {}
            if method == "entropy":
                kwargs["calibration_cache_path"] = _entropy_ranges(source, calibration, op_types, Path(tmp))
            quantize_static(source, str(out_path), _Calibration(calibration, "window"),
                            quant_format=QuantFormat.QDQ, per_channel=True, weight_type=QuantType.QInt8,
                            activation_type=QuantType.QUInt8, op_types_to_quantize=list(op_types),
                            calibrate_method=getattr(CalibrationMethod, CALIBRATION_METHODS[method]), **kwargs)
        finally:
            root.setLevel(level)
    proto = onnx.load(str(out_path))
    _set_metadata(proto, info)
    onnx.save(proto, str(out_path))
    return out_path


#: the entropy calibrator's histogram: 2048 bins searched for the 128-bin range of least KL divergence
#: (TensorRT's entropy calibration; ``quantize_static`` alone would use 128 bins for 128 quantised
#: bins, i.e. no search: the min-max range)
ENTROPY_BINS, ENTROPY_QUANTIZED_BINS = 2048, 128


def _entropy_ranges(model: str, calibration: list[np.ndarray], op_types: tuple[str, ...], tmp: Path) -> str:
    """Entropy (KL) activation ranges of ``model`` on ``calibration``, saved as ONNX Runtime's calibration cache."""
    import inspect

    import onnxruntime
    from onnxruntime.quantization import CalibrationMethod, quantize_static
    from onnxruntime.quantization.calibrate import create_calibrator

    if "calibration_cache_path" not in inspect.signature(quantize_static).parameters:
        raise ConfigError(f"--calibration-method entropy needs an onnxruntime whose quantize_static takes "
                          f"calibration_cache_path (installed: {onnxruntime.__version__}); use minmax or percentile, "
                          "or pip install -U onnxruntime")
    from onnxruntime.quantization.calibrate import save_tensors_data

    calibrator = create_calibrator(Path(model), list(op_types), augmented_model_path=str(tmp / "augmented.onnx"),
                                   calibrate_method=CalibrationMethod.Entropy,
                                   extra_options={"num_bins": ENTROPY_BINS,
                                                  "num_quantized_bins": ENTROPY_QUANTIZED_BINS})
    calibrator.collect_data(_Calibration(calibration, "window"))
    cache = tmp / "entropy-ranges.json"
    save_tensors_data(calibrator.compute_data(), cache)
    return str(cache)


def split_windows(cfg, split: str, info: DeployInfo, limit: int | None = None,
                  spread: bool = False) -> tuple[list[np.ndarray], np.ndarray]:
    """Whole recordings of ``split`` as raw windows (T, C) float64 (the offline input) and their labels.

    ``limit``: at most that many recordings, the first ones, or with ``spread`` ones spread evenly over
    the split (:func:`calibration_indices`).
    """
    from vskd.data.paired import _inertial_window
    from vskd.data.datasets import load_splits

    _, splits, _ = load_splits(cfg.data)
    recs = list(getattr(splits, split))
    if spread:
        recs = [recs[i] for i in calibration_indices(len(recs), limit or 0)]
    else:
        recs = recs[: limit if limit else None]
    return [_inertial_window(r, info.axes) for r in recs], np.array([r.label for r in recs], dtype=np.int64)


def _logits(pred: Predictor, windows: list[np.ndarray]) -> np.ndarray:
    if not windows:
        return np.zeros((0, pred.info.num_classes), np.float32)
    return np.stack([pred.predict_window(w) for w in windows])


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float | None:
    return float((logits.argmax(1) == labels).mean()) if len(labels) else None


def export_checkpoint(checkpoint: str | Path, fmt: str = "onnx", out_dir: str | Path = "export", int8: bool = False,
                      data_root: str | None = None, window_length: int | None = None, atol: float = 1e-4,
                      rtol: float = 1e-4, calibration: int = 64, stem: str = "student",
                      calibration_method: str = "minmax", calibration_spread: bool = False) -> dict[str, Any]:
    """Export a student checkpoint, check the export against torch, and report sizes and accuracies.

    Returns (and writes to ``out_dir/export.json``) ``{"checkpoint", "format", "check": {"windows",
    "max_abs_diff", "atol", "rtol"}, "val_windows", "models": [{"name", "path", "size_bytes",
    "val_accuracy", ...}]}``; ``models`` lists torch fp32 (no file) and each written file.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    check_calibration_method(calibration_method)  # before anything is exported
    if calibration < 0:
        raise ConfigError(f"--calibration: expected a number of windows >= 0 (0 = every training window), got {calibration}")
    if int8 and fmt != "onnx":
        raise ConfigError("--int8 needs --format onnx (int8 quantisation runs in ONNX Runtime)")
    if fmt == "onnx":
        _require_onnx()
    model, info, cfg = load_checkpoint_model(checkpoint, window_length=window_length)
    if data_root:
        cfg.data.root = data_root
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    val_w, val_y = split_windows(cfg, "val", info)
    check_w = val_w
    if not check_w:  # no validation split: check on a few training windows instead
        check_w, _ = split_windows(cfg, "train", info, limit=8)

    torch_pred = Predictor("torch", Path(str(checkpoint)), info, _torch_fp32(model))
    ref = _logits(torch_pred, check_w)
    ref_val = ref if check_w is val_w else _logits(torch_pred, val_w)
    models: list[dict[str, Any]] = [{"name": "torch fp32", "path": None,
                                     "size_bytes": int(sum(p.numel() * p.element_size() for p in model.parameters())
                                                       + sum(b.numel() * b.element_size() for b in model.buffers())),
                                     "val_accuracy": _accuracy(ref_val, val_y)}]
    if fmt == "onnx":
        files = [("onnx fp32", export_onnx(model, info, out / f"{stem}.onnx"))]
    else:
        files = [("torchscript fp32", export_torchscript(model, info, out / f"{stem}.ts"))]
    check: dict[str, Any] = {"windows": len(check_w), "atol": atol, "rtol": rtol}
    name, path = files[0]
    pred = load_predictor(path, threads=1)
    got = _logits(pred, check_w)
    diff = np.abs(got - ref)
    check["max_abs_diff"] = float(diff.max()) if diff.size else 0.0
    if diff.size and not np.all(diff <= atol + rtol * np.abs(ref)) and getattr(model.student, "step_features", False) \
            and np.array_equal(got.argmax(1), ref.argmax(1)):
        # MiniRocket's PPV features are step functions of the input: ONNX Runtime's resampling rounds a
        # few inputs 1 ulp apart from torch's, which flips a few of ~10^6 comparisons (a feature moves by
        # 1/T); the logits then differ by ~1e-3, so the check asks for the same top-1 class instead
        check["mode"] = "top-1 agreement (step features)"
    elif diff.size and not np.all(diff <= atol + rtol * np.abs(ref)):
        raise VskdError(f"{path}: exported logits differ from torch by up to {check['max_abs_diff']:.3g} "
                        f"(tolerance atol={atol:g}, rtol={rtol:g}); the export is not faithful")
    fp32_val = got if check_w is val_w else _logits(pred, val_w)
    models.append({"name": name, "path": str(path), "size_bytes": path.stat().st_size,
                   "val_accuracy": _accuracy(fp32_val, val_y), "max_abs_diff_vs_torch": check["max_abs_diff"]})
    if int8:
        calib_w, _ = split_windows(cfg, "train", info, limit=calibration, spread=calibration_spread)
        q_path = quantize_int8(path, out / f"{stem}_int8.onnx", [pred.prepare(w) for w in calib_w],
                               method=calibration_method)
        q_pred = load_predictor(q_path, threads=1)
        q_val = _logits(q_pred, val_w)
        agree = float((q_val.argmax(1) == fp32_val.argmax(1)).mean()) if len(val_w) else None
        models.append({"name": "onnx int8", "path": str(q_path), "size_bytes": q_path.stat().st_size,
                       "val_accuracy": _accuracy(q_val, val_y), "top1_agreement_with_fp32": agree,
                       "calibration": {"windows": len(calib_w), "method": calibration_method,
                                       "spread": calibration_spread}})
    report = {"checkpoint": str(checkpoint), "format": fmt, "int8": int8, "info": json.loads(info.to_json()),
              "check": check, "val_windows": len(val_w), "models": models}
    (out / "export.json").write_text(json.dumps(report, indent=2))
    return report


def _torch_fp32(model: WindowModel):
    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()

    return run
