"""The distiller: a frozen teacher, a student and a distillation method, returning named losses.

Following mdistiller's ``Distiller``: the teacher is kept in eval mode and never receives gradient;
the method owns its trainable adapters; ``forward(batch)`` returns the student's logits and a dict of
named losses (``ce``, the method's terms, and their weighted sum ``loss``). Features are taken with
forward hooks (:class:`vskd.models.hooks.FeatureRecorder`) registered once, so model code is untouched.

Teacher outputs can come from a :class:`TeacherCache` instead of a forward pass: when the teacher's
input is not augmented its outputs are a fixed function of the recording, so they are computed once
per recording (evaluation transform) and looked up by the paired dataset's stable ``index``. A
distillation epoch then costs about what a student-only epoch costs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from vskd.errors import ConfigError, VskdError
from vskd.models.hooks import FeatureRecorder

#: feature name -> module path in :class:`vskd.models.student.GAFStudent` ("" = the model's output)
STUDENT_FEATURES = {
    "logits": "",
    "emb": "fc0",
    "pooled": "trunk.avgpool",
    "layer1": "trunk.layer1",
    "layer2": "trunk.layer2",
    "layer3": "trunk.layer3",
    "layer4": "trunk.layer4",
}
#: feature name -> module path in :class:`vskd.models.trn.VideoTeacher`
TEACHER_FEATURES = {
    "logits": "",
    "emb": "embedding",
    "frame_emb": "fc0",
    "frame_features": "backbone",
}


def method_features(method: nn.Module) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(student feature names, teacher feature names) a method reads (``uses`` or per-side attributes)."""
    uses = tuple(getattr(method, "uses", ("logits",)))
    return tuple(getattr(method, "student_uses", uses)), tuple(getattr(method, "teacher_uses", uses))


def _recorder(model: nn.Module, names: Iterable[str], table: dict[str, str], side: str) -> FeatureRecorder:
    spec = {}
    for name in names:
        if name not in table:
            raise ConfigError(f"{side} feature '{name}' is unknown (available: {', '.join(table)})")
        if table[name]:
            spec[name] = table[name]
    return FeatureRecorder(model, spec)


class Distiller(nn.Module):
    """Student + frozen teacher + method. ``trainable`` holds what the optimizer updates."""

    def __init__(self, student: nn.Module, teacher: nn.Module | None, method: nn.Module,
                 ce_weight: float = 1.0, teacher_cache: "TeacherCache | None" = None):
        super().__init__()
        if teacher is None and teacher_cache is None:
            raise ConfigError("distillation needs a teacher model or a teacher-output cache")
        self.student = student
        self.method = method
        self.ce_weight = ce_weight
        self.teacher_cache = teacher_cache
        self.student_names, self.teacher_names = method_features(method)
        self._s_rec = _recorder(student, self.student_names, STUDENT_FEATURES, "student")
        # the teacher is not a registered submodule: it is not trained, not in the student's checkpoint
        self.__dict__["teacher"] = teacher
        if teacher is not None:
            for p in teacher.parameters():
                p.requires_grad_(False)
            teacher.eval()
            self._t_rec = _recorder(teacher, self.teacher_names, TEACHER_FEATURES, "teacher")
        self.trainable = nn.ModuleDict({"student": student, "method": method})

    def student_features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.student(image)
        feats = {k: v for k, v in self._s_rec.features.items()}
        feats["logits"] = logits
        return feats

    @torch.no_grad()
    def teacher_features(self, batch: dict) -> dict[str, torch.Tensor]:
        if self.teacher_cache is not None:
            return self.teacher_cache.lookup(batch["index"], self.teacher_names)
        if "teacher" not in batch:
            raise VskdError("the batch has no teacher clip and no teacher-output cache is set")
        self.teacher.eval()
        logits = self.teacher(batch["teacher"])
        feats = {k: v.detach() for k, v in self._t_rec.features.items()}
        feats["logits"] = logits.detach()
        return feats

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        s = self.student_features(batch["student"])
        for name in getattr(self.method, "batch_uses", ()):  # e.g. CRD's stable "index"
            s[name] = torch.as_tensor(batch[name])
        t = self.teacher_features(batch)
        terms = self.method(s, t)
        ce = F.cross_entropy(s["logits"], torch.as_tensor(batch["label"]))
        total = self.ce_weight * ce
        for v in terms.values():
            total = total + v
        return s["logits"], {"loss": total, "ce": ce, **terms}


class TeacherCache:
    """Teacher features per recording, computed once with the evaluation transform.

    ``features[name]`` is a CPU tensor (N, ...) indexed by the paired dataset's stable ``index``.
    """

    def __init__(self, features: dict[str, torch.Tensor]):
        self.features = features
        sizes = {v.shape[0] for v in features.values()}
        if len(sizes) != 1:
            raise VskdError(f"inconsistent teacher cache sizes: { {k: tuple(v.shape) for k, v in features.items()} }")
        self.size = sizes.pop()

    def lookup(self, index, names: Iterable[str]) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(index, dtype=torch.long)
        missing = [n for n in names if n not in self.features]
        if missing:
            raise VskdError(f"teacher cache lacks features {missing} (has {sorted(self.features)})")
        if idx.numel() and int(idx.max()) >= self.size:
            raise VskdError(f"teacher cache has {self.size} entries, asked for index {int(idx.max())}")
        return {n: self.features[n][idx] for n in names}

    @classmethod
    @torch.no_grad()
    def build(cls, teacher: nn.Module, loader: Iterable[dict], names: Iterable[str], progress: bool = True) -> "TeacherCache":
        """Run the frozen teacher over ``loader`` (eval transform, items in any order) once."""
        from tqdm.auto import tqdm

        names = tuple(names)
        rec = _recorder(teacher, names, TEACHER_FEATURES, "teacher")
        teacher.eval()
        chunks: dict[str, list[torch.Tensor]] = {n: [] for n in names}
        order: list[torch.Tensor] = []
        for batch in tqdm(loader, desc="teacher cache", leave=False, disable=not progress):
            logits = teacher(batch["teacher"])
            feats = dict(rec.features)
            feats["logits"] = logits
            for n in names:
                chunks[n].append(feats[n].detach().float().cpu())
            order.append(torch.as_tensor(batch["index"]))
        rec.remove()
        idx = torch.cat(order)
        out = {}
        for n in names:
            vals = torch.cat(chunks[n])
            full = torch.empty((int(idx.max()) + 1, *vals.shape[1:]), dtype=vals.dtype)
            full[idx] = vals
            out[n] = full
        return cls(out)

    def save(self, path: str | Path) -> None:
        from vskd.engine.trainer import atomic_save

        atomic_save({"features": self.features}, path)

    @classmethod
    def load(cls, path: str | Path) -> "TeacherCache":
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
            return cls(data["features"])
        except Exception as exc:
            raise VskdError(f"teacher cache {path} is unreadable ({exc.__class__.__name__}); delete it to rebuild") from None


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()[:16]
