"""The student registry: every student architecture by name (``student.arch``), and what input it takes.

``STUDENTS[name] = StudentEntry(view, build)``: ``view`` is ``"gaf"`` (a GAF image ``(B, C, S, S)``,
:class:`~vskd.models.student.GAFStudent`) or ``"raw"`` (the resampled window ``(B, C, T)``,
:mod:`vskd.models.raw_students`, :mod:`vskd.models.minirocket`, :mod:`vskd.models.rocket`);
``build(num_classes, in_channels, embed_dim, pretrained, normalize, seed, head_init)`` returns the model. :func:`build_student_model` is what
``vskd.engine.builders.build_student`` calls; an unknown name is one :class:`ConfigError` line listing
the known ones. A raw student has ``fit(windows, labels)`` (input statistics; MiniRocket's or Rocket's transform
and, with ``head_init="ridge"``, its closed-form head), called on the training windows before training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from vskd.errors import ConfigError

__all__ = ["FIXED_FEATURE_STUDENTS", "STUDENTS", "StudentEntry", "build_student_model", "is_raw", "student_view"]


@dataclass(frozen=True)
class StudentEntry:
    view: str  # "gaf" | "raw"
    build: Callable[..., nn.Module]
    summary: str = ""


#: students on fixed (fitted, not trained) features: they take a seed and a closed-form head
FIXED_FEATURE_STUDENTS = ("minirocket", "rocket")


def _check_head_init(arch: str, head_init: str) -> None:
    if head_init != "random" and arch not in FIXED_FEATURE_STUDENTS:
        raise ConfigError(f"config key 'student.head_init': {head_init!r} initialises the head of the "
                          f"{' and '.join(FIXED_FEATURE_STUDENTS)} students only (their fixed features make a "
                          f"closed-form head possible); the {arch} student expects 'random'")


def _gaf(arch: str):
    def build(num_classes, in_channels, embed_dim, pretrained=None, normalize="none", seed=0, head_init="random"):
        from vskd.models.student import GAFStudent

        _check_head_init(arch, head_init)
        return GAFStudent(num_classes=num_classes, arch=arch, embed_dim=embed_dim, in_channels=in_channels,
                          pretrained=pretrained)
    return build


def _raw(cls_path: str, arch: str):
    def build(num_classes, in_channels, embed_dim, pretrained=None, normalize="none", seed=0, head_init="random"):
        _check_head_init(arch, head_init)
        if pretrained is not None:
            raise ConfigError(f"config key 'student.pretrained': the {arch} student has no pretrained weights "
                              f"(expected null)")
        module, name = cls_path.rsplit(".", 1)
        import importlib

        cls = getattr(importlib.import_module(module), name)
        kwargs = {"seed": seed, "head_init": head_init} if arch in FIXED_FEATURE_STUDENTS else {}
        return cls(num_classes=num_classes, in_channels=in_channels, embed_dim=embed_dim, normalize=normalize,
                   **kwargs)
    return build


#: student.arch -> entry (GAF students first, then the raw-signal ones)
STUDENTS: dict[str, StudentEntry] = {
    "resnet18": StudentEntry("gaf", _gaf("resnet18"), "GAF image -> ResNet-18 (the paper's)"),
    "resnet34": StudentEntry("gaf", _gaf("resnet34"), "GAF image -> ResNet-34"),
    "resnet50": StudentEntry("gaf", _gaf("resnet50"), "GAF image -> ResNet-50"),
    "mobilenet_v3_small": StudentEntry("gaf", _gaf("mobilenet_v3_small"), "GAF image -> MobileNetV3-small"),
    "inception1d": StudentEntry("raw", _raw("vskd.models.raw_students.InceptionTime1d", "inception1d"),
                                "raw window -> InceptionTime (Ismail Fawaz et al. 2020)"),
    "minirocket": StudentEntry("raw", _raw("vskd.models.minirocket.MiniRocketStudent", "minirocket"),
                               "raw window -> MiniRocket features (Dempster et al. 2021) -> trainable head"),
    "rocket": StudentEntry("raw", _raw("vskd.models.rocket.RocketStudent", "rocket"),
                           "raw window -> Rocket features (Dempster et al. 2020) -> trainable head"),
    "watch1d": StudentEntry("raw", _raw("vskd.models.raw_students.Watch1d", "watch1d"),
                            "raw window -> separable 1-D CNN (< 200 k parameters)"),
}


def _entry(arch: str) -> StudentEntry:
    if arch not in STUDENTS:
        raise ConfigError(f"config key 'student.arch': unknown student {arch!r} (known: {', '.join(STUDENTS)})")
    return STUDENTS[arch]


def student_view(arch: str) -> str:
    """``"gaf"`` or ``"raw"``: the input the student ``arch`` takes."""
    return _entry(arch).view


def is_raw(arch: str) -> bool:
    return student_view(arch) == "raw"


def build_student_model(arch: str, num_classes: int, in_channels: int = 3, embed_dim: int = 300,
                        pretrained: str | Path | None = None, normalize: str = "none", seed: int = 0,
                        head_init: str = "random") -> nn.Module:
    """The student ``arch`` (see :data:`STUDENTS`), unfitted and untrained."""
    return _entry(arch).build(num_classes, in_channels, embed_dim, pretrained, normalize, seed, head_init)
