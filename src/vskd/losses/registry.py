"""Registry of distillation methods and their base class :class:`DistillMethod`.

A distillation *method* is a small :class:`torch.nn.Module` (torchdistill style) that turns the
features recorded from the student and the teacher into named, already weighted loss terms. The
cross-entropy on the labels is not part of any method: the distiller adds it.

Adding a method is one short module::

    from vskd.losses.registry import DistillMethod, register_method

    @register_method("fitnet")
    class FitNet(DistillMethod):
        '''FitNets hint loss: MSE between a regressed student feature map and the teacher's.'''
        description = "FitNet: MSE between adapted student and teacher feature maps"
        reference = "Romero et al., FitNets: Hints for Thin Deep Nets, ICLR 2015"
        uses = ("feat",)

        def __init__(self, weight: float = 100.0) -> None:
            super().__init__()
            self.weight = weight

        def build(self, student_shapes, teacher_shapes) -> None:   # self.context: the MethodSetup
            (cs, *_), (ct, *_) = student_shapes["feat"], teacher_shapes["feat"]
            self.adapter = torch.nn.Conv2d(cs, ct, 1)   # trainable: optimised with the student

        def forward(self, student_feats, teacher_feats):
            s = self.adapter(student_feats["feat"])
            return {"hint": self.weight * F.mse_loss(s, teacher_feats["feat"].detach())}

Modules register themselves on import; :mod:`vskd.losses` imports the built-in ones (``kd``, ``rkd``,
``dask``), so :func:`get_method` and :func:`list_methods` always see them.

The loss layer never imports the engine: what a method may need to know about the run (dataset size,
classes, the frozen teacher, the device, how the ranks of a distributed run talk) comes in one
:class:`MethodSetup`, which the distiller builds and hands to :meth:`DistillMethod.setup`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor, nn

from vskd.errors import ConfigError

__all__ = [
    "Collectives",
    "DistillMethod",
    "LayerPairsMethod",
    "MethodSetup",
    "Shapes",
    "create_method",
    "get_method",
    "list_methods",
    "register_method",
]

#: Per-sample feature shapes (without the batch dimension), keyed by feature name,
#: e.g. ``{"logits": (27,), "emb": (300,)}``.
Shapes = Mapping[str, Sequence[int]]


def _local_sum(values: list[float]) -> list[float]:
    return list(values)


def _local_gather(t: Tensor) -> Tensor:
    return t


@dataclass(frozen=True)
class Collectives:
    """How the processes of a run talk, as plain callables (the engine's torchrun helpers under DDP).

    The default is one process: ``all_reduce_sum`` and ``all_gather_cat`` return their input.

    Attributes:
        world: number of processes (1 without torchrun).
        all_reduce_sum: element-wise sum of a list of floats over the processes.
        all_gather_cat: concatenation along dim 0, in rank order, of a tensor of the same shape on every process.
    """

    world: int = 1
    all_reduce_sum: Callable[[list[float]], list[float]] = _local_sum
    all_gather_cat: Callable[[Tensor], Tensor] = _local_gather


@dataclass(frozen=True)
class MethodSetup:
    """What the distiller tells a method when it is set up (:meth:`DistillMethod.setup`).

    Attributes:
        student_shapes: per-sample shape (no batch dimension) of every recorded student feature,
            e.g. ``{"logits": (27,), "emb": (300,)}``.
        teacher_shapes: the same for the teacher.
        num_train: length of the paired training set (its stable ``index`` runs over ``0..num_train-1``;
            CRD's memory banks); None when unknown.
        num_classes: number of classes; None when unknown.
        teacher: the frozen teacher model (SimKD copies its classifier); None when only cached teacher
            outputs are available.
        student: the student model (read only; its parameters are optimised by the trainer).
        device: where the method's adapters and buffers live (the student's device).
        collectives: the processes' all-reduce / all-gather (one process by default).
    """

    student_shapes: Shapes
    teacher_shapes: Shapes
    num_train: int | None = None
    num_classes: int | None = None
    teacher: nn.Module | None = None
    student: nn.Module | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    collectives: Collectives = field(default_factory=Collectives)


class DistillMethod(nn.Module):
    """Base class of every distillation method.

    Contract with the distiller (:mod:`vskd.engine.distiller`):

    1. Construction: ``create_method(name, options)`` (or ``cls(**options)``); options are plain
       keyword arguments with defaults (weights, temperatures, ...). Validate them in ``__init__``
       and raise :class:`~vskd.errors.ConfigError` naming the option.
    2. Features: the class attribute :attr:`uses` names the features the method reads, on both
       models (override :attr:`student_uses` / :attr:`teacher_uses` if the two sides differ). The
       distiller maps each name to a module of each model and fills two dicts by forward hooks.
       Names used so far: ``"logits"`` ``(B, C)`` and ``"emb"`` ``(B, 300)`` (the fc0 embeddings).
       :attr:`batch_uses` names batch fields the method needs besides features (e.g. ``"index"``
       for CRD, ``"label"``); the distiller adds them to the *student* dict under those names.
    3. :meth:`setup` is called once by the distiller, before training, with a :class:`MethodSetup`:
       the per-sample feature shapes (no batch dimension) of both models, and what else the run
       knows (training-set size, classes, the frozen teacher, device, collectives). It checks that
       every used feature is present, keeps the context as :attr:`context`, then calls
       :meth:`build`, where a subclass validates the wiring (raise
       :class:`~vskd.errors.ConfigError` naming both features and shapes, e.g. via
       :meth:`require_same_shape`) and creates its trainable adapters (reading ``self.context`` for
       anything beyond the shapes). A method's parameters are optimised together with the
       student's, so create them in :meth:`build` (or ``__init__``); the distiller moves the method
       to the student's device after :meth:`setup`.
    4. :meth:`forward` ``(student_feats, teacher_feats) -> dict[str, Tensor]``: named 0-d loss
       terms, **already weighted**, not including cross-entropy; the distiller sums them. Teacher
       features must not receive gradient (the functional losses detach them). A term whose weight
       is 0 should be left out of the dict rather than computed.
    5. :meth:`classify` ``(student_feats) -> logits``: the logits the student is trained
       (cross-entropy) and evaluated with. Default: the student's own ``"logits"``. A method that
       classifies with its own modules (SimKD: the teacher's head on projected features) overrides it
       and sets :attr:`classifies` = True: the method is then part of the deployed model.
    6. :meth:`pretrain` ``(distiller, train_loader, progress)``: a stage run once before the student is
       distilled (AB, FT, FSP fit their own modules there; not run on resume). Default: nothing.

    Class attributes: :attr:`name` (set by :func:`register_method`), :attr:`description` (one
    line), :attr:`reference` (the paper), :attr:`uses`, :attr:`batch_uses`, :attr:`classifies`.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    uses: ClassVar[tuple[str, ...]] = ()
    batch_uses: ClassVar[tuple[str, ...]] = ()
    #: True when :meth:`classify` gives the student's logits through the method's own modules
    classifies: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        self.student_shapes: dict[str, tuple[int, ...]] | None = None
        self.teacher_shapes: dict[str, tuple[int, ...]] | None = None
        self.context: MethodSetup | None = None

    @property
    def student_uses(self) -> tuple[str, ...]:
        """Feature names read from the student (default: :attr:`uses`)."""
        return tuple(self.uses)

    @property
    def teacher_uses(self) -> tuple[str, ...]:
        """Feature names read from the teacher (default: :attr:`uses`)."""
        return tuple(self.uses)

    @property
    def is_setup(self) -> bool:
        return self.student_shapes is not None

    def setup(self, context: MethodSetup) -> None:
        """Validate the wiring and build adapters; called once by the distiller.

        Args:
            context: the feature shapes of both models and what the run knows (:class:`MethodSetup`).

        Raises:
            ConfigError: a used feature is missing, or :meth:`build` rejects the shapes or the context.
        """
        if not isinstance(context, MethodSetup):
            raise TypeError(f"{type(self).__name__}.setup expects a MethodSetup, got {type(context).__name__}")
        s = {k: tuple(int(n) for n in v) for k, v in context.student_shapes.items()}
        t = {k: tuple(int(n) for n in v) for k, v in context.teacher_shapes.items()}
        for side, needed, have in (("student", self.student_uses, s), ("teacher", self.teacher_uses, t)):
            missing = [f for f in needed if f not in have]
            if missing:
                raise ConfigError(
                    f"method '{self.name or type(self).__name__}' needs {side} feature(s) "
                    f"{', '.join(repr(m) for m in missing)}; recorded: {sorted(have) or 'none'}"
                )
        self.context = context
        try:
            self.build(s, t)
        except BaseException:
            self.context = None
            raise
        self.student_shapes, self.teacher_shapes = s, t

    def build(self, student_shapes: dict[str, tuple[int, ...]], teacher_shapes: dict[str, tuple[int, ...]]) -> None:
        """Override to validate shapes and create trainable adapters (default: nothing).

        ``self.context`` (the :class:`MethodSetup`) is set when this runs.
        """

    def classify(self, student_feats: Mapping[str, Tensor]) -> Tensor:
        """The student's logits for cross-entropy and evaluation (default: its own ``"logits"``).

        Override together with :attr:`classifies` = True when the method's modules produce them.
        """
        return student_feats["logits"]

    def pretrain(self, distiller: Any, train_loader: Iterable[dict], progress: bool = True) -> list[float]:
        """A stage run once before distillation (default: none; returns the per-epoch mean losses).

        ``distiller`` is the engine's distiller, used through ``distiller.student``,
        ``distiller.student_features(image)`` and ``distiller.teacher_features(batch)``; the loss
        layer does not import it.
        """
        return []

    def require_same_shape(
        self,
        student_shapes: Shapes,
        teacher_shapes: Shapes,
        student_feature: str,
        teacher_feature: str | None = None,
        why: str = "",
    ) -> None:
        """Raise :class:`ConfigError` unless the two features have the same per-sample shape."""
        teacher_feature = teacher_feature or student_feature
        ss = tuple(student_shapes[student_feature])
        ts = tuple(teacher_shapes[teacher_feature])
        if ss != ts:
            reason = f" ({why})" if why else ""
            raise ConfigError(
                f"method '{self.name or type(self).__name__}': student feature '{student_feature}' "
                f"has shape {ss} but teacher feature '{teacher_feature}' has shape {ts}; they must "
                f"match{reason}"
            )

    def forward(self, student_feats: Mapping[str, Tensor], teacher_feats: Mapping[str, Tensor]) -> dict[str, Tensor]:  # noqa: D102
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def extra_repr(self) -> str:
        return f"name={self.name!r}, uses={self.uses!r}"


M = TypeVar("M", bound=type[DistillMethod])

_REGISTRY: dict[str, type[DistillMethod]] = {}


class LayerPairsMethod(DistillMethod):
    """A method reading paired lists of block maps: ``self.student_layers[i]`` with ``self.teacher_layers[i]``
    (set in ``__init__``); those lists are the features it uses on each side."""

    student_layers: tuple[str, ...] = ()
    teacher_layers: tuple[str, ...] = ()

    @property
    def student_uses(self) -> tuple[str, ...]:
        return tuple(self.student_layers)

    @property
    def teacher_uses(self) -> tuple[str, ...]:
        return tuple(self.teacher_layers)


def register_method(name: str) -> Callable[[M], M]:
    """Class decorator: register a :class:`DistillMethod` subclass under ``name`` (lower case)."""
    if not isinstance(name, str) or not name or name != name.strip().lower():
        raise ValueError(f"method names are non-empty lower-case strings, got {name!r}")

    def deco(cls: M) -> M:
        if not (isinstance(cls, type) and issubclass(cls, DistillMethod)):
            raise TypeError(f"register_method('{name}') needs a DistillMethod subclass, got {cls!r}")
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"distillation method '{name}' is already registered by {_REGISTRY[name].__qualname__}")
        if not cls.reference:
            raise ValueError(f"distillation method '{name}' ({cls.__qualname__}) must set `reference`")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def get_method(name: str) -> type[DistillMethod]:
    """The class registered under ``name``; :class:`ConfigError` listing the known names otherwise."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise ConfigError(f"unknown distillation method {name!r}; known methods: {known}") from None


def create_method(name: str, options: Mapping[str, object] | None = None) -> DistillMethod:
    """Instantiate method ``name`` with keyword ``options``; unknown options raise :class:`ConfigError`."""
    cls = get_method(name)
    options = dict(options or {})
    params = inspect.signature(cls.__init__).parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    allowed = [p for p in params if p != "self" and params[p].kind is not inspect.Parameter.VAR_KEYWORD]
    unknown = [k for k in options if k not in allowed]
    if unknown and not takes_kwargs:
        raise ConfigError(
            f"method '{name}': unknown option(s) {', '.join(map(repr, unknown))}; "
            f"options: {', '.join(allowed) or 'none'}"
        )
    missing = [
        p for p, par in params.items()
        if p != "self" and par.default is inspect.Parameter.empty
        and par.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and p not in options
    ]
    if missing:
        raise ConfigError(f"method '{name}': missing required option(s) {', '.join(map(repr, missing))}")
    return cls(**options)


def _one_line(cls: type[DistillMethod]) -> str:
    if cls.description:
        return cls.description
    doc = inspect.getdoc(cls) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def list_methods() -> list[tuple[str, str, str]]:
    """``[(name, one-line description, reference)]`` of every registered method, sorted by name."""
    return [(n, _one_line(c), c.reference) for n, c in sorted(_REGISTRY.items())]


def _check_float(method: str, option: str, value: object, *, positive: bool = False) -> float:
    """Validate a numeric option (finite, >= 0, or > 0 when ``positive``) for method constructors."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        v = float(value)  # type: ignore[arg-type]
        ok = math.isfinite(v) and (v > 0 if positive else v >= 0)
    if not ok:
        bound = "> 0" if positive else ">= 0"
        raise ConfigError(f"method '{method}': option {option} must be a finite number {bound}, got {value!r}")
    return float(value)  # type: ignore[arg-type]
