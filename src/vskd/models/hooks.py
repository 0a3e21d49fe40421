"""Named intermediate features by forward hooks registered once (model code stays untouched).

``FeatureRecorder(model, {"emb": "fc0", "logits": ""})`` hooks each named module (dotted path as in
``model.named_modules()``; ``""`` is the model itself). On every forward of ``model`` the recorder's
``features`` dict is cleared and then filled with each module's output, stored as is (same tensor,
still in the autograd graph) unless ``detach=True``. A module called several times in one forward
keeps its last output. Values reflect in-place operations applied to the output later in the forward
(e.g. torchvision's ``ReLU(inplace=True)`` after ``trunk.bn1``); the block outputs ``trunk.layerN``,
``fc0``, ``embedding`` and ``backbone`` are not modified in place by the models here.
"""

from __future__ import annotations

import difflib
from typing import Any, Iterable, Mapping

import torch
from torch import nn

from vskd.errors import ConfigError


def resolve_module(model: nn.Module, path: str) -> nn.Module:
    """``model``'s submodule at dotted ``path`` (``""`` = ``model``); ConfigError with close matches if absent."""
    modules = dict(model.named_modules())
    if path in modules:
        return modules[path]
    names = [n for n in modules if n]
    close = difflib.get_close_matches(path, names, n=5, cutoff=0.5)
    hint = f"close matches: {', '.join(close)}" if close else \
        f"top-level modules: {', '.join(n for n, _ in model.named_children())}"
    raise ConfigError(f"no module '{path}' in {type(model).__name__} ({hint})")


def _detach(x: Any) -> Any:
    if torch.is_tensor(x):
        return x.detach()
    if isinstance(x, (list, tuple)):
        return type(x)(_detach(v) for v in x)
    if isinstance(x, dict):
        return {k: _detach(v) for k, v in x.items()}
    return x


class FeatureRecorder:
    """Record the outputs of named submodules of ``model`` on every forward pass.

    ``names``: ``{alias: module path}``, or an iterable of paths (each its own alias). Use as a context
    manager, or call :meth:`remove` to unregister the hooks.
    """

    def __init__(self, model: nn.Module, names: Mapping[str, str] | Iterable[str], detach: bool = False) -> None:
        spec = dict(names) if isinstance(names, Mapping) else {n: n for n in names}
        self.model = model
        self.names = spec
        self.detach = detach
        self.features: dict[str, Any] = {}
        modules = {alias: resolve_module(model, path) for alias, path in spec.items()}  # validate all first
        self._handles = [model.register_forward_pre_hook(self._clear)]
        for alias, module in modules.items():
            self._handles.append(module.register_forward_hook(self._make_hook(alias)))

    def _clear(self, _module: nn.Module, _inputs: Any) -> None:
        self.features.clear()

    def _make_hook(self, alias: str):
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            self.features[alias] = _detach(output) if self.detach else output
        return hook

    def remove(self) -> None:
        """Unregister every hook (idempotent); ``features`` keeps what the last forward recorded."""
        for h in self._handles:
            h.remove()
        self._handles = []

    @property
    def active(self) -> bool:
        return bool(self._handles)

    def __enter__(self) -> "FeatureRecorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def _shape(x: Any) -> Any:
    if torch.is_tensor(x):
        return tuple(x.shape)
    if isinstance(x, (list, tuple)):
        return tuple(_shape(v) for v in x)
    if isinstance(x, dict):
        return {k: _shape(v) for k, v in x.items()}
    return None


@torch.no_grad()
def feature_shapes(model: nn.Module, *inputs: Any, names: Mapping[str, str] | Iterable[str] | None = None) -> dict[str, Any]:
    """Run one forward on ``inputs`` and return the output shape of every named module (or of ``names``).

    Keys are module paths (``""`` = the model's output) or the aliases of ``names``. The forward runs
    under ``no_grad`` in eval mode (no BN statistics update, no random relation draws); the model's
    training mode is restored afterwards. Shapes are tuples (nested for tuple/dict outputs).
    """
    if names is None:
        names = [n for n, _ in model.named_modules()]
    was_training = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with FeatureRecorder(model, names, detach=True) as rec:
            model(*inputs)
            return {k: _shape(rec.features[k]) for k in rec.names if k in rec.features}
    finally:
        for m, mode in was_training:
            m.training = mode
