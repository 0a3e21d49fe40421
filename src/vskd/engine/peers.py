"""Time-series peers: aeon's MiniRocket, MultiRocket-Hydra and Rocket on the students' own data.

A peer is what a HAR practitioner would try first on the wrist signal: a convolutional-kernel
time-series classifier from aeon (``pip install 'vskd[peers]'``), no camera, nothing to distil.
It runs on **exactly** the recordings, protocol, splits and axes of the students, built from the same
experiment config (:func:`vskd.engine.builders.load_data`, ``student.input.axes``, ``seed``):

* every recording's raw window (:func:`vskd.data.paired.raw_window`) is brought to ``length``
  samples, by linear interpolation (``resample="linear"``, the default: ``x(t)`` sampled at
  ``t = linspace(0, T - 1, length)``) or by ``raw_window``'s centre crop / zero padding
  (``resample="crop"``); ``length`` defaults to the config's ``student.input.length`` where the config
  has one, else :data:`DEFAULT_LENGTH` (180 samples, 3.6 s at UTD-MHAD's 50 Hz, what practitioners use);
* the peer is **fitted on the training split only** — the split the students train on (they choose
  their epoch on validation, which a peer has no use for) — then predicts validation (reported, not
  used) and the test split once;
* accuracy and macro-F1 come from :func:`vskd.engine.evaluate.classification_metrics`, like every run.

Peers (aeon 1.x, its defaults unless ``options`` say otherwise, ``random_state`` = the config's seed):

* ``minirocket`` — ``MiniRocketClassifier`` (Dempster, Schmidt, Webb, KDD 2021: 10 000 features from
  84 fixed length-9 kernels with dilations, PPV pooling, a ridge classifier);
* ``multirocket-hydra`` — ``MultiRocketHydraClassifier`` (Dempster, Schmidt, Webb, DMKD 2023: Hydra's
  competing dictionary kernels + MultiRocket's four pooling operators, a ridge classifier);
* ``rocket`` — ``RocketClassifier`` (Dempster, Petitjean, Webb, DMKD 2020: 10 000 random kernels, PPV
  and max pooling, a ridge classifier).
"""

from __future__ import annotations

import importlib
import inspect
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vskd.data.resample import resample_linear
from vskd.errors import ConfigError, DataError, VskdError
from vskd.threads import kept

__all__ = ["DEFAULT_LENGTH", "INSTALL", "PEERS", "PeerSpec", "build_peer", "peer_class", "peer_windows",
           "peers_table", "run_peer", "window_length"]

# peer name -> aeon class (aeon.classification.convolution_based)
PEERS: dict[str, str] = {
    "minirocket": "MiniRocketClassifier",
    "multirocket-hydra": "MultiRocketHydraClassifier",
    "rocket": "RocketClassifier",
}
INSTALL = "pip install 'vskd[peers]'"
DEFAULT_LENGTH = 180
RESAMPLE = ("linear", "crop")
NOTE = "no camera, not distillable"  # how tables and plots mark a peer row


@dataclass(frozen=True)
class PeerSpec:
    """One peer run: which classifier, its aeon options, and how windows are brought to one length."""

    peer: str
    options: dict[str, Any] = field(default_factory=dict)
    length: int | None = None  # None: the config's student.input.length, else DEFAULT_LENGTH
    resample: str = "linear"

    def __post_init__(self) -> None:
        if self.peer not in PEERS:
            raise ConfigError(f"unknown peer '{self.peer}' (valid: {', '.join(PEERS)})")
        if self.resample not in RESAMPLE:
            raise ConfigError(f"peer '{self.peer}': resample must be one of {', '.join(RESAMPLE)}, "
                              f"got {self.resample!r}")
        if self.length is not None and (isinstance(self.length, bool) or not isinstance(self.length, int)
                                        or self.length < 9):
            raise ConfigError(f"peer '{self.peer}': length must be an integer >= 9 (MiniRocket's kernel "
                              f"length), got {self.length!r}")
        if not isinstance(self.options, dict):
            raise ConfigError(f"peer '{self.peer}': options must be a mapping of aeon parameters, "
                              f"got {self.options!r}")


def peer_class(name: str) -> type:
    """The aeon classifier class of peer ``name`` (aeon imported here, lazily)."""
    if name not in PEERS:
        raise ConfigError(f"unknown peer '{name}' (valid: {', '.join(PEERS)})")
    try:
        module = importlib.import_module("aeon.classification.convolution_based")
    except ImportError:
        raise VskdError(f"peer '{name}' needs aeon, which is not installed: {INSTALL}") from None
    return getattr(module, PEERS[name])


def build_peer(name: str, options: dict[str, Any] | None = None, seed: int = 0):
    """An unfitted aeon classifier: aeon's defaults, ``options`` on top, ``random_state=seed``."""
    cls = peer_class(name)
    options = dict(options or {})
    valid = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "random_state", "estimator")]
    for key in options:
        if key == "random_state":
            raise ConfigError(f"peer '{name}': random_state comes from the config's seed; set seed=N instead")
        if key not in valid:
            raise ConfigError(f"peer '{name}': unknown option '{key}' (valid: {', '.join(valid)})")
    return cls(**options, random_state=seed)


def window_length(cfg, length: int | None = None) -> int:
    """The peers' window length: ``length``, else the config's ``student.input.length`` (raw-signal
    students), else :data:`DEFAULT_LENGTH`."""
    if length is not None:
        return int(length)
    own = getattr(getattr(cfg.student, "input", None), "length", None)
    return int(own) if own else DEFAULT_LENGTH


def peer_windows(recordings, axes, length: int, resample: str = "linear") -> tuple[np.ndarray, np.ndarray]:
    """``X`` float64 ``(N, C, length)`` (aeon's layout) and labels ``y`` ``(N,)`` of ``recordings``."""
    from vskd.data.paired import raw_window

    xs = []
    for rec in recordings:
        if resample == "linear":
            w, _ = raw_window(rec, axes)
            w = resample_linear(w.astype(np.float64), length)
        else:
            w, _ = raw_window(rec, axes, length)
        if not np.isfinite(w).all():
            raise DataError(f"recording {rec.key} (inertial): the window has NaN/Inf values")
        xs.append(np.asarray(w, np.float64).T)
    if not xs:
        return np.zeros((0, len(axes), length)), np.zeros(0, np.int64)
    return np.stack(xs), np.asarray([r.label for r in recordings], np.int64)


def _plain(value: Any) -> Any:
    return value if isinstance(value, (int, float, str, bool, type(None))) else repr(value)


def run_peer(cfg, run_dir: str | Path, spec: PeerSpec, data=None) -> dict:
    """Fit ``spec``'s peer on the training split, evaluate validation and test; write the run folder.

    The folder gets ``config.yaml`` (the experiment config the data came from), ``test.json`` and
    ``test_confusion.png`` (like every run) and ``results.json`` (written last, atomically: it marks a
    finished run for ``vskd bench``). ``data``: the ``load_data(cfg)`` triple, when already loaded.
    """
    from vskd.config import save_config
    from vskd.engine.evaluate import classification_metrics, write_report
    from vskd.engine.builders import load_data

    started = time.time()
    est = build_peer(spec.peer, spec.options, cfg.seed)  # before the data: a missing aeon fails at once
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run / "config.yaml")
    _, splits, names = data if data is not None else load_data(cfg)
    axes = tuple(cfg.student.input.axes)
    length = window_length(cfg, spec.length)
    xtr, ytr = peer_windows(splits.train, axes, length, spec.resample)
    if len(xtr) == 0 or len(set(ytr.tolist())) < 2:
        raise DataError(f"peer '{spec.peer}': the training split needs recordings of at least 2 classes, "
                        f"got {len(xtr)} recording(s)")
    t0, c0 = time.perf_counter(), time.process_time()
    with kept():  # aeon (numba) resets the process's OpenMP threads: torch gets its own back
        est.fit(xtr, ytr)
    fit_s, fit_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    metrics = {}
    predict_s = predict_cpu_s = 0.0
    for split in ("val", "test"):
        x, y = peer_windows(getattr(splits, split), axes, length, spec.resample)
        if len(x) == 0:
            metrics[split] = None
            continue
        t0, c0 = time.perf_counter(), time.process_time()
        with kept():
            pred = est.predict(x)
        if split == "test":
            predict_s, predict_cpu_s = time.perf_counter() - t0, time.process_time() - c0
        metrics[split] = classification_metrics(y, np.asarray(pred, np.int64), len(names))
    test = metrics["test"]
    if test is None:
        raise DataError(f"peer '{spec.peer}': the test split is empty")
    write_report(test, names, run, "test", title=f"peer {spec.peer}: test")
    val = metrics["val"] or {"accuracy": None, "macro_f1": None}
    import aeon

    summary = {
        "kind": "peer",
        "peer": spec.peer,
        "estimator": f"aeon {aeon.__version__} {type(est).__name__}",
        "params": {k: _plain(v) for k, v in est.get_params().items()},
        "axes": list(axes), "length": length, "resample": spec.resample,
        "num_train": int(len(xtr)), "num_test": int(test["num_samples"]),
        # wall and CPU seconds (this process) of fit and of the test prediction; the first fit of each
        # peer in a fresh environment includes numba's one-off compilation (cached afterwards)
        "fit_s": round(fit_s, 3), "predict_s": round(predict_s, 3),
        "fit_cpu_s": round(fit_cpu_s, 3), "predict_cpu_s": round(predict_cpu_s, 3),
        "wall_s": round(time.time() - started, 1),
        "best_epoch": None,
        "val": {"accuracy": val["accuracy"], "macro_f1": val["macro_f1"]},
        "test": {"accuracy": test["accuracy"], "macro_f1": test["macro_f1"]},
        "note": NOTE,
    }
    tmp = run / ".results.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(run / "results.json")
    return summary


def peers_table(results: dict[str, dict]) -> str:
    """A markdown table of peer results (``name -> results.json`` content)."""
    head = ["peer", "estimator", "test acc (%)", "test macro-F1 (%)", "val acc (%)", "fit (s)", "predict (s)",
            "fit CPU (s)", "predict CPU (s)"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in results.items():
        val = r["val"]["accuracy"]
        out.append("| " + " | ".join([
            name, r["estimator"], f"{100 * r['test']['accuracy']:.1f}", f"{100 * r['test']['macro_f1']:.1f}",
            "—" if val is None else f"{100 * val:.1f}", f"{r['fit_s']:.2f}", f"{r['predict_s']:.2f}",
            f"{r['fit_cpu_s']:.2f}", f"{r['predict_cpu_s']:.2f}"]) + " |")
    return "\n".join(out)
