"""The deployable student: raw accelerometer window in, logits out (GAF preprocessing included).

Training feeds the student a GAF image computed offline (:func:`vskd.data.paired.student_image`,
which calls :func:`vskd.gaf.gaf_image`). A watch has no such pipeline, so the exported model carries
it: :class:`WindowModel` is :class:`vskd.gaf.GAFEncoder` (the same maths as ``gaf_image``, in pure
torch operations) followed by the trained :class:`~vskd.models.student.GAFStudent`:

.. math::

    \\text{window } (B, T, C) \\xrightarrow{\\text{GAFEncoder(spec)}} (B, C, S', S')
    \\xrightarrow{\\text{student}} \\text{logits } (B, K)

with the options of the checkpoint's :class:`~vskd.data.paired.GAFSpec` (axes, method, PAA size,
scaling, orientation, bilinear resize to ``out_size``). With ``image_size=None`` (the paper's and the
default: the GAF of the whole window, then resized) the model accepts **any window length**
``T >= 2`` and a window equal to a whole recording gives exactly the offline image (same
operations; the float32 input rounds the raw samples, a relative change below 1e-7). With a PAA
``image_size`` the exported graph is specific to one length (the PAA matrix is a constant), so the
model has a fixed ``window_length`` and windows are linearly resampled to it (:func:`resample`).

:class:`DeployInfo` is what a runtime needs to use the model without vskd's config: class names,
input axes, sampling rate the model was trained at, window length, GAF options. It travels inside
every exported file (ONNX ``metadata_props["vskd"]``, TorchScript extra file ``vskd.json``).

A **raw-signal student** (``student.arch`` inception1d / minirocket / watch1d,
:mod:`vskd.models.registry`) has no GAF: :class:`WindowModel` then resamples the window linearly to the
student's length ``L`` (``student.input.length``; ``F.interpolate(mode="linear", align_corners=True)``,
the same ends-kept mapping as :func:`vskd.data.resample.resample_linear` used in training) and feeds
``(B, C, L)`` to the student, whose first module normalises it (none / per-window z-score / the training
statistics stored in the checkpoint). Any window of ``T >= 2`` samples is accepted;
``DeployInfo.gaf`` is then empty and ``DeployInfo.extra`` holds ``{"view": "raw", "length": L,
"normalize": ...}``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vskd.data.resample import resample_linear
from vskd.errors import ConfigError, DataError, VskdError
from vskd.gaf import GAFEncoder

__all__ = ["DEPLOY_FORMAT", "DeployInfo", "WindowModel", "dataset_rate", "load_checkpoint_model", "resample"]

#: version of the metadata layout stored in exported files
DEPLOY_FORMAT = 1


@dataclass
class DeployInfo:
    """Everything a runtime needs besides the weights (stored as JSON in every exported file).

    Attributes:
        class_names: label names in logit order.
        axes: inertial channels of the input window, in column order (e.g. acc_x, acc_y, acc_z).
        rate_hz: sampling rate the model was trained at; streams are resampled to it.
        window_length: the fixed input length T of the model, or None when any ``T >= min_length`` works.
        min_length: the shortest window the model accepts (samples).
        gaf: the GAF options (method, image_size, out_size, scaling, orientation).
        arch: the student trunk (resnet18, mobilenet_v3_small, ...).
        precision: "fp32" or "int8".
        source: file name of the checkpoint it came from.
    """

    class_names: list[str]
    axes: list[str]
    rate_hz: float
    window_length: int | None
    min_length: int
    gaf: dict[str, Any]
    arch: str
    precision: str = "fp32"
    source: str = ""
    format: int = DEPLOY_FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes, where: str) -> DeployInfo:
        try:
            d = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise VskdError(f"{where}: vskd metadata is not valid JSON ({exc})") from None
        if not isinstance(d, dict) or d.get("format") != DEPLOY_FORMAT:
            raise VskdError(f"{where}: vskd metadata format {d.get('format') if isinstance(d, dict) else '?'} "
                            f"is not supported (expected {DEPLOY_FORMAT})")
        try:
            return cls(**d)
        except TypeError as exc:
            raise VskdError(f"{where}: vskd metadata does not match this version of vskd ({exc})") from None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


class WindowModel(nn.Module):
    """Preprocessing + student: ``forward(window (B, T, C) float) -> logits (B, K)``.

    GAF student: ``gaf`` holds the checkpoint's GAF options (a :class:`~vskd.gaf.GAFEncoder` is built
    from them) and ``student`` is the trained :class:`~vskd.models.student.GAFStudent`. Raw-signal
    student: ``gaf=None`` and ``raw_length=L``: the window is resampled to ``L`` samples and transposed
    to ``(B, C, L)``. ``C`` must equal the number of axes the student was trained on, in the same order.
    ``input_length``: the fixed length of every input window, when the deployment fixes one
    (``vskd export --window-length``); equal to ``L``, the resampling is the identity and is left out
    of the model (and of an exported graph: no ``Resize`` node, the resampling done by the caller).
    """

    def __init__(self, student: nn.Module, gaf: dict[str, Any] | None, raw_length: int | None = None,
                 input_length: int | None = None) -> None:
        super().__init__()
        if (gaf is None) == (raw_length is None):
            raise ConfigError("WindowModel needs either GAF options (a GAF student) or raw_length (a raw-signal one)")
        self.gaf = None if gaf is None else GAFEncoder(
            method=gaf["method"], image_size=gaf.get("image_size"), out_size=gaf.get("out_size"),
            scaling=gaf.get("scaling", "minmax"), orientation=gaf.get("orientation", "standard"))
        self.raw_length = raw_length
        self.input_length = input_length
        if hasattr(student, "cache_features"):
            student.cache_features = False  # the deployed model computes every window's features
        self.student = student

    def forward(self, window: Tensor) -> Tensor:
        if self.gaf is not None:
            return self.student(self.gaf(window))
        x = window.transpose(1, 2)
        if self.input_length is None or self.input_length != self.raw_length:
            x = F.interpolate(x, size=self.raw_length, mode="linear", align_corners=True)
        elif x.shape[-1] != self.raw_length and not torch.jit.is_tracing() and not torch.onnx.is_in_onnx_export():
            raise DataError(f"window of {x.shape[-1]} samples: this model takes windows of exactly "
                            f"{self.input_length} samples (resampled by the caller)")
        return self.student(x)


#: the deployed model's input resampling (one implementation: :func:`vskd.data.resample.resample_linear`)
resample = resample_linear


def dataset_rate(cfg) -> float:
    """The inertial sampling rate of the checkpoint's dataset (Hz): what its reader declares for the
    config's options (:meth:`vskd.data.registry.DatasetReader.sensor_rate`), else read from one recording."""
    from vskd.data.registry import get_dataset

    reader = get_dataset(cfg.data.dataset)
    options = reader.resolve_options({k: v for k, (v, _) in reader.config_options(cfg.data).items()})
    rate = reader.sensor_rate(options)  # no data needed when the reader declares it
    if rate is not None:
        return float(rate)
    return float(reader.load(cfg.data.root, **options)[0].load("inertial").rate_hz)


def load_checkpoint_model(path: str | Path, window_length: int | None = None,
                          rate_hz: float | None = None) -> tuple[WindowModel, DeployInfo, Any]:
    """A vskd student checkpoint (best.pt) as a :class:`WindowModel` in eval mode, its info and config.

    ``window_length`` fixes the input length (required when the GAF uses a PAA ``image_size``, which
    bakes the length into the exported graph; default then: the smallest length the PAA accepts, rounded
    up to one second of samples). Raises :class:`~vskd.errors.VskdError` for a teacher checkpoint, a
    method-classifier student (SimKD) or a file that is not a vskd checkpoint.
    """
    from vskd.engine.checkpoints import load_student
    from vskd.data.paired import GAFSpec
    from vskd.models.registry import is_raw

    student, meta, cfg = load_student(path, "vskd export/stream")
    names = list(meta.get("class_names") or [str(i) for i in range(meta["num_classes"])])
    if is_raw(cfg.student.arch):
        rate = float(rate_hz) if rate_hz else dataset_rate(cfg)
        if window_length is not None and window_length < 2:
            raise ConfigError(f"--window-length {window_length}: a raw-signal student needs at least 2 samples")
        length = int(cfg.student.input.length)
        info = DeployInfo(class_names=names, axes=list(cfg.student.input.axes), rate_hz=rate,
                          window_length=window_length, min_length=2, gaf={}, arch=cfg.student.arch,
                          source=Path(path).name,
                          extra={"view": "raw", "length": length, "normalize": cfg.student.input.normalize})
        return WindowModel(student, None, raw_length=length, input_length=window_length).eval(), info, cfg
    spec = GAFSpec.from_config(cfg.student.input)
    gaf = {k: v for k, v in spec.params().items() if k != "axes"}
    image_size = spec.image_size
    if isinstance(image_size, float):
        raise ConfigError(f"{path}: student.input.image_size={image_size} (a fraction of the length) gives a "
                          f"length-dependent image size, which an exported model cannot follow; use an integer "
                          f"or null")
    rate = float(rate_hz) if rate_hz else dataset_rate(cfg)
    min_length = max(2, int(image_size or 2))
    if image_size is not None and window_length is None:
        window_length = max(min_length, round(rate))
    if window_length is not None and window_length < min_length:
        raise ConfigError(f"--window-length {window_length} is below the {min_length} samples the GAF "
                          f"(image_size={image_size}) needs")
    info = DeployInfo(class_names=list(meta.get("class_names") or [str(i) for i in range(meta["num_classes"])]),
                      axes=list(spec.axes), rate_hz=rate, window_length=window_length, min_length=min_length,
                      gaf=gaf, arch=cfg.student.arch, source=Path(path).name)
    model = WindowModel(student, gaf).eval()
    return model, info, cfg
