"""Deployment of the student: export (ONNX fp32/int8, TorchScript), runtimes, and streaming recognition.

* :mod:`vskd.deploy.model` — :class:`WindowModel` (GAF preprocessing + student on raw windows) and
  :class:`DeployInfo` (the metadata stored in every exported file);
* :mod:`vskd.deploy.export` — ``vskd export``: export, int8 quantisation, self-check, size/accuracy report;
* :mod:`vskd.deploy.runtime` — :func:`load_predictor` for ONNX, TorchScript or a checkpoint;
* :mod:`vskd.deploy.stream` — ``vskd stream``: :class:`StreamRecognizer` (sliding windows in seconds).

See ``docs/deploy.md``.
"""

from __future__ import annotations

from vskd.deploy.model import DeployInfo, WindowModel, load_checkpoint_model, resample
from vskd.deploy.runtime import Predictor, load_predictor
from vskd.deploy.stream import (
    Decision,
    StreamRecognizer,
    StreamWarning,
    mat_samples,
    parse_csv,
    recognize,
)

__all__ = [
    "Decision",
    "DeployInfo",
    "Predictor",
    "StreamRecognizer",
    "StreamWarning",
    "WindowModel",
    "load_checkpoint_model",
    "load_predictor",
    "mat_samples",
    "parse_csv",
    "recognize",
    "resample",
]
