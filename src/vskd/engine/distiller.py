"""The distiller: a frozen teacher, a student and a distillation method, returning named losses.

Following mdistiller's ``Distiller``: the teacher is kept in eval mode and never receives gradient;
the method owns its trainable adapters; ``forward(batch)`` returns the student's logits and a dict of
named losses (``ce``, the method's terms, and their weighted sum ``loss``). ``ce`` is averaged over
the batch's labelled items (``batch["labeled"]``, present with unlabelled paired recordings; 0 for a
batch without one); the method's terms take every pair. Features are taken with
forward hooks registered once and reduced to per-sample tensors by :mod:`vskd.models.features`
(teacher per-frame outputs are averaged over the segments there), so model code is untouched.

Wiring is validated when the method is set up (:meth:`Distiller.setup_method`): the per-sample
shapes of every feature the method reads are measured on one example batch (both models in eval
mode, no gradient, so a batch of one works and no BatchNorm statistic moves) and handed to
``method.setup`` in a :class:`~vskd.losses.registry.MethodSetup`, together with the training-set size,
the classes, the frozen teacher, the device and the torchrun collectives (:mod:`vskd.engine.dist`'s
all-reduce / all-gather, as callables: the loss layer never imports the engine). ``method.setup``
raises :class:`~vskd.errors.ConfigError` naming both features and shapes.

Every method has ``classify(student_feats) -> logits`` (:class:`~vskd.losses.registry.DistillMethod`):
the logits the student is trained (cross-entropy) and evaluated with; the student's own ``fc1``
output by default, the teacher's classifier on the projected student feature for SimKD
(``classifies = True``). :meth:`Distiller.predict` is the matching evaluation forward.

Teacher outputs can come from a :class:`TeacherCache` instead of a forward pass: when the teacher's
input is not augmented its outputs are a fixed function of the recording, so they are computed once
per recording (evaluation transform) and looked up by the paired dataset's stable ``index``. A
distillation epoch then costs about what a student-only epoch costs.

A teacher that reads the wrist window itself (a trained wrist student, alone or as every member of a
fusion ensemble) can instead be fed the student's own augmented batch (``student_view``, config
``distill.teacher_view: student``): teacher and student then see the same window, the "consistent
teaching" of Beyer et al., *Knowledge distillation: A good teacher is patient and consistent*, CVPR
2022. With ``mixup`` > 0 the batch's windows are also mixed, ``x' = lam x + (1 - lam) x[perm]`` with
``lam ~ Beta(mixup, mixup)`` drawn once per batch from torch's seeded generator (Zhang et al., *mixup*,
ICLR 2018), the teacher labels ``x'`` (their "function matching") and the cross-entropy is
``lam CE(y) + (1 - lam) CE(y[perm])``. A multimodal teacher may also have members that read the
recording itself (a skeleton or camera member): ``student_view`` then names only its wrist members, the
others read ``batch["teacher"]`` (``{name: view}``). Under mixup they see the same pair ``(i, perm[i])``:
with ``mixup_views="output"`` (default) the teacher runs on ``{others: v, wrist: x'}`` and on
``{others: v[perm], wrist: x'}`` and its features are mixed, ``lam T1 + (1 - lam) T2`` (for a fixed
ensemble exactly the wrist members on ``x'`` plus the other members' outputs mixed like labels; each
recording's skeleton features are then computed once); with ``"input"`` the views themselves are mixed,
``lam v + (1 - lam) v[perm]``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

import torch
from torch import nn

from vskd.engine import dist
from vskd.engine.device import module_device, to_device
from vskd.errors import ConfigError, VskdError
from vskd.losses.functional import masked_cross_entropy
from vskd.losses.registry import Collectives, DistillMethod, MethodSetup
from vskd.models.features import STUDENT_FEATURES, TEACHER_FEATURES, make_taps, shapes_of

__all__ = ["Distiller", "STUDENT_FEATURES", "TEACHER_FEATURES", "TeacherCache", "file_digest", "method_features"]


def method_features(method: DistillMethod) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(student feature names, teacher feature names) a method reads."""
    return tuple(method.student_uses), tuple(method.teacher_uses)


def collectives() -> Collectives:
    """This process's torchrun collectives (:mod:`vskd.engine.dist`) for a method's setup context."""
    return Collectives(world=dist.world(), all_reduce_sum=dist.all_reduce_sum, all_gather_cat=dist.all_gather_cat)


class _eval_mode:
    """Context: every module of the given models in eval mode, previous modes restored on exit."""

    def __init__(self, *models: nn.Module | None) -> None:
        self.modes = [(m, m.training) for model in models if model is not None for m in model.modules()]

    def __enter__(self) -> None:
        for m, _ in self.modes:
            m.training = False

    def __exit__(self, *exc: object) -> None:
        for m, mode in self.modes:
            m.training = mode


class Distiller(nn.Module):
    """Student + frozen teacher + method. ``trainable`` holds what the optimizer updates."""

    def __init__(self, student: nn.Module, teacher: nn.Module | None, method: DistillMethod,
                 ce_weight: float = 1.0, teacher_cache: "TeacherCache | None" = None,
                 label_smoothing: float = 0.0, student_view: "tuple[str, ...] | bool" = False,
                 mixup: float = 0.0, mixup_views: str = "output"):
        super().__init__()
        if teacher is None and teacher_cache is None:
            raise ConfigError("distillation needs a teacher model or a teacher-output cache")
        # student_view: False (the teacher reads batch["teacher"] or the cache), True (a single-view
        # teacher fed the student's window), or the member names of a fusion teacher fed {name: window}
        if (student_view is not False) and (teacher is None or teacher_cache is not None):
            raise ConfigError("distill.teacher_view student: the teacher must run on each batch (no cache)")
        if mixup and student_view is False:
            raise ConfigError("config key 'distill.mixup': needs distill.teacher_view student")
        if mixup and method.batch_uses:
            raise ConfigError(f"config key 'distill.mixup': method {type(method).__name__} reads the batch's "
                              f"{', '.join(method.batch_uses)} per recording, which a mixed window does not have")
        self.student_view = student_view if student_view is True or student_view is False else tuple(student_view)
        self.mixup = float(mixup)
        if mixup_views not in ("output", "input"):
            raise ConfigError(f"config key 'distill.mixup_views': expected output or input, got {mixup_views!r}")
        self.mixup_views = mixup_views
        self.student = student
        self.method = method
        self.ce_weight = ce_weight
        self.label_smoothing = float(label_smoothing)
        self.teacher_cache = teacher_cache
        self.student_names, self.teacher_names = method_features(method)
        # logits are always recorded on the student (CE); other features only when the method reads them
        self._s_taps = make_taps(student, dict.fromkeys(("logits", *self.student_names)), "student")
        # the teacher is not a registered submodule: it is not trained, not in the student's checkpoint
        self.__dict__["teacher"] = teacher
        self._t_taps = None
        if teacher is not None:
            for p in teacher.parameters():
                p.requires_grad_(False)
            teacher.eval()
            self._t_taps = make_taps(teacher, self.teacher_names, "teacher")
        self.trainable = nn.ModuleDict({"student": student, "method": method})

    def close(self) -> None:
        """Unregister the distiller's forward hooks on both models (idempotent)."""
        self._s_taps.remove()
        if self._t_taps is not None:
            self._t_taps.remove()

    # ------------------------------------------------------------------------------ features
    def student_features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{name: (B, ...)}`` of the student on ``image`` (``"logits"`` always included), moved to the
        student's device first."""
        return self._s_taps.collect(self.student(to_device(image, module_device(self.student))))

    @torch.no_grad()
    def teacher_features(self, batch: dict, mix: "tuple[torch.Tensor, float] | None" = None
                         ) -> dict[str, torch.Tensor]:
        """``{name: (B, ...)}`` of the frozen teacher (per-frame features reduced per clip), detached.
        ``mix``: the batch's mixup ``(perm, lam)`` (:meth:`forward`), read by ``mixup_views: output``."""
        if self.teacher_cache is not None:
            return self.teacher_cache.lookup(batch["index"], self.teacher_names)
        dev = module_device(self.teacher)  # the inputs go where the teacher is (a no-op on the CPU)
        if self.student_view is not False:
            x = to_device(batch["student"], dev)
            views = x if self.student_view is True else {name: x for name in self.student_view}
            rec = to_device(batch.get("teacher"), dev) if self.student_view is not True else None
            self.teacher.eval()
            if not isinstance(rec, dict):
                feats = self._t_taps.collect(self.teacher(views))
                return {k: v.detach() for k, v in feats.items()}
            # a multimodal teacher's other members (skeleton, camera) read the recording's own views
            feats = self._t_taps.collect(self.teacher({**rec, **views}))
            if mix is not None and self.mixup_views == "output":
                # the mixed pair (i, perm[i]) in those members' eyes: the teacher's output mixed over them
                perm, lam = mix
                other = self._t_taps.collect(self.teacher({**{k: v[perm] for k, v in rec.items()}, **views}))
                feats = {k: lam * v + (1.0 - lam) * other[k] for k, v in feats.items()}
            return {k: v.detach() for k, v in feats.items()}
        if "teacher" not in batch:
            raise VskdError("the batch has no teacher clip and no teacher-output cache is set")
        self.teacher.eval()
        feats = self._t_taps.collect(self.teacher(to_device(batch["teacher"], dev)))
        return {k: v.detach() for k, v in feats.items()}

    @torch.no_grad()
    def feature_shapes(self, batch: dict) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
        """Per-sample shapes of the recorded student and teacher features, measured on ``batch``.

        Runs the models in eval mode (restored afterwards): no BatchNorm statistic changes, and a
        batch of one sample works whatever the map sizes.
        """
        with _eval_mode(self.student, self.method):
            s = self.student_features(batch["student"])
        t = self.teacher_features(batch)
        return shapes_of(s), shapes_of(t)

    def setup_method(self, batch: dict, num_train: int | None = None, num_classes: int | None = None) -> None:
        """Measure feature shapes on ``batch`` and call ``method.setup`` (validates wiring, builds adapters).

        ``num_train`` (the paired training set's length) and ``num_classes`` go into the method's
        :class:`~vskd.losses.registry.MethodSetup` with the teacher, the device and the collectives.
        Call before creating the optimizer; the adapters are created on the student's device.
        """
        s, t = self.feature_shapes(batch)
        try:
            device = next(self.student.parameters()).device
        except StopIteration:
            device = torch.device("cpu")
        self.method.setup(MethodSetup(s, t, num_train=num_train, num_classes=num_classes, teacher=self.teacher,
                                      student=self.student, device=device, collectives=collectives()))
        self.method.to(device)

    # ------------------------------------------------------------------------------ forward
    def predict(self, image: torch.Tensor) -> torch.Tensor:
        """The logits the distilled student is evaluated with (``method.classify``)."""
        return self.method.classify(self.student_features(image))

    def _mix(self, batch: dict) -> tuple[dict, torch.Tensor | None, float]:
        """``(batch with mixed student windows, the permutation, lam)``; the batch unchanged, None, 1.0
        without mixup."""
        x = batch["student"]
        if not self.mixup or x.shape[0] < 2:
            return batch, None, 1.0
        lam = float(torch.distributions.Beta(self.mixup, self.mixup).sample())
        perm = torch.randperm(x.shape[0], device=x.device)
        out = {**batch, "student": lam * x + (1.0 - lam) * x[perm]}
        if self.mixup_views == "input" and isinstance(batch.get("teacher"), dict):  # the recording members' views
            out["teacher"] = {k: lam * v + (1.0 - lam) * v[perm] for k, v in batch["teacher"].items()}
        return out, perm, lam

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        batch, perm, lam = self._mix(batch)
        s = self.student_features(batch["student"])
        for name in self.method.batch_uses:  # e.g. CRD's stable "index"
            s[name] = torch.as_tensor(batch[name], device=s["logits"].device)
        t = self.teacher_features(batch, mix=None if perm is None else (perm, lam))
        t = {k: v.to(s["logits"].device) for k, v in t.items()}
        terms = self.method(s, t)
        logits = self.method.classify(s)
        # cross-entropy on the labelled items only (batch["labeled"], unlabelled paired recordings);
        # the method's terms above take every pair, labelled or not
        ce = masked_cross_entropy(logits, batch["label"], batch.get("labeled"), label_smoothing=self.label_smoothing)
        if perm is not None:  # mixup: the mixed window's two labels, weighted as the windows were
            labels = torch.as_tensor(batch["label"], device=logits.device)
            labeled = batch.get("labeled")
            labeled = None if labeled is None else torch.as_tensor(labeled, device=logits.device)[perm]
            ce = lam * ce + (1.0 - lam) * masked_cross_entropy(logits, labels[perm], labeled,
                                                               label_smoothing=self.label_smoothing)
        total = self.ce_weight * ce
        for v in terms.values():
            total = total + v
        return logits, {"loss": total, "ce": ce, **terms}


class TeacherCache:
    """Teacher features per recording, computed once with the evaluation transform.

    ``features[name]`` is a CPU tensor (N, ...) indexed by the paired dataset's stable ``index``; the
    features are stored reduced (per clip: segment-averaged maps), never per frame.
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
        """Run the frozen teacher over ``loader`` (eval transform, items in any order) once.

        Only ``names`` are recorded; per-frame features are reduced per clip before they are kept.
        """
        from tqdm.auto import tqdm

        names = tuple(dict.fromkeys(names))
        taps = make_taps(teacher, names, "teacher")
        teacher.eval()
        chunks: dict[str, list[torch.Tensor]] = {n: [] for n in names}
        order: list[torch.Tensor] = []
        try:
            dev = module_device(teacher)
            for batch in tqdm(loader, desc="teacher cache", leave=False, disable=not progress):
                feats = taps.collect(teacher(to_device(batch["teacher"], dev)))
                for n in names:
                    chunks[n].append(feats[n].detach().float().cpu())
                order.append(torch.as_tensor(batch["index"]))
        finally:
            taps.remove()
        idx = torch.cat(order)
        out = {}
        for n in names:
            vals = torch.cat(chunks[n])
            full = torch.zeros((int(idx.max()) + 1, *vals.shape[1:]), dtype=vals.dtype)
            full[idx] = vals
            out[n] = full
        return cls(out)

    def save(self, path: str | Path) -> None:
        from vskd.engine.checkpoints import atomic_save

        atomic_save({"features": self.features}, path)

    @classmethod
    def load(cls, path: str | Path) -> "TeacherCache":
        """Read a cache file written by :meth:`save`, weights only (a file holding Python objects is
        refused without running them); any problem is a :class:`VskdError` (the caller rebuilds)."""
        from vskd.engine.checkpoints import safe_torch_load

        data = safe_torch_load(path, "teacher cache")
        features = data.get("features") if isinstance(data, dict) else None
        if not isinstance(features, dict) or not features or not all(
                isinstance(v, torch.Tensor) for v in features.values()):
            raise VskdError(f"teacher cache {path} holds no feature tensors; delete it to rebuild")
        return cls(features)


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()[:16]
