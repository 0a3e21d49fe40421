"""Named features of the student and the teacher, as the distillation methods see them.

A method names the features it reads (``DistillMethod.uses`` / ``student_uses`` / ``teacher_uses``);
this module maps each name to a module of each model (a forward hook, registered once) and to the
reduction that turns the raw module output into the per-sample tensor the method receives. Shapes
below are per batch (``B`` samples); methods get them without ``B`` in ``setup``.

Student (:class:`vskd.models.student.GAFStudent`, one GAF image per sample):

==========  =====================  =================================================================
name        module                 tensor
==========  =====================  =================================================================
logits      the model's output     ``(B, C)``
emb         ``fc0``                ``(B, 300)``, the embedding before the ReLU (DASK's)
pooled      ``trunk.avgpool``      ``(B, 512)`` (2048 for ResNet-50), flattened from ``(B, 512, 1, 1)``
layer1..4   ``trunk.layer1..4``    ``(B, C_i, H_i, W_i)``: 64/128/256/512 channels at strides 4/8/16/32
==========  =====================  =================================================================

Raw-signal students (:mod:`vskd.models.raw_students`, :mod:`vskd.models.minirocket`, one window
``(C, T)`` per sample; :func:`raw_student_taps`): ``logits``, ``emb`` (``fc0``, ``(B, 300)``),
``pooled`` (``pool``: ``(B, 128)`` inception1d, ``(B, 160)`` watch1d; minirocket: the standardised
features ``scale``, ``(B, 9996)``) and their 1-D maps ``layer1..`` (inception1d ``layer1..2``,
watch1d ``layer1..4``; minirocket none), recorded ``(B, C, L)`` and handed to the methods as
``(B, C, 1, L)``, maps of height one, so the zoo's spatial alignment applies unchanged. A method
reading a feature the student lacks is refused at build time (:func:`check_method_on_student`).

Teacher (:class:`vskd.models.trn.VideoTeacher`, ``K`` frames per clip). The backbone runs on the
``B*K`` frames; **every per-frame feature is reshaped to** ``(B, K, ...)`` **and averaged over the
K segments**, so the teacher side of a method sees one tensor per clip, like the student's one per
GAF image. Segment averaging is the temporal alignment of the zoo: it is TSN's own consensus (the
average of per-segment outputs), it keeps the map's channels and spatial size, and it is the only
choice that needs no parameters and no assumption on how a GAF image's pixels relate to time.
Spatial and channel alignment (the student's maps come from a GAF image, with other channels and
sizes) is each method's business (see ``docs/methods.md``).

==============  ==================================  =====================================================
name            module                              tensor
==============  ==================================  =====================================================
logits          the model's output                  ``(B, C)`` (relation head)
emb             ``embedding``                       ``(B, 300)``, mean of fc0 over segments (DASK's)
pooled          ``backbone``                        ``(B, D)``, pooled frame features averaged over segments
                                                    (D = 1024 BN-Inception, 512 ResNet-18, 2048 ResNet-50)
block1..4       backbone stages (below)             ``(B, C_i, h_i, w_i)``, per-frame maps averaged over segments
frame_emb       ``fc0``                             ``(B, K, 300)``: the relation head's input (SimKD's target)
frame_features  ``backbone``                        ``(B, K, D)``: pooled frame features, not averaged
==============  ==================================  =====================================================

Backbone stages (``block1..4``) are the last map at each stride 4, 8, 16, 32 (what a ResNet's
``layer1..4`` are):

* ``resnet18`` / ``resnet50``: ``backbone.net.layer1`` .. ``layer4``.
* ``bninception``: ``block1`` = ReLU of ``conv2_3x3_bn`` (the conv2 stage output, stride 4, 192 ch;
  BN-Inception applies its ReLUs functionally, so the hook takes the BN output and the ReLU is
  applied here), ``block2`` = ``inception_3b_output`` (stride 8, 320 ch), ``block3`` =
  ``inception_4d_output`` (stride 16, 608 ch), ``block4`` = ``inception_5b_output`` (stride 32,
  1024 ch). At 224 px: 56, 28, 14, 7 pixels, as ResNet-18's. (The first block at each new stride,
  3c / 4e, would have worked too; the last one carries the most processing at that resolution,
  like ResNet's stage outputs.)

Only the features a method reads are hooked, reduced, and (:class:`~vskd.engine.distiller.TeacherCache`)
cached, and the cache stores the reduced tensors, never the per-frame maps.

Skeleton teachers (:mod:`vskd.models.skeleton`, :mod:`vskd.models.skeleton_gcn`, one joint sequence
per sample; :func:`skeleton_teacher_taps`): ``logits``, ``emb`` (``embedding``, ``(B, 300)``),
``pooled`` (``pool``, flattened: ``(B, 256)`` for the temporal CNN, ``(B, 2w)`` for the ST-GCN) and the
maps ``block1..3`` of the temporal CNN (``tcn.0..2``, ``(B, C, T)`` given as ``(B, C, 1, T)``) or
``block1..4`` of the ST-GCN (its units, ``(B, C, T, J)``: time x joints). No segments, so no
``frame_emb`` / ``frame_features``.

``"classifier"`` is not a feature: :func:`teacher_classifier` returns a frozen copy of the teacher's
relation head (:class:`TeacherClassifier`) for SimKD.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vskd.errors import ConfigError
from vskd.models.hooks import FeatureRecorder

__all__ = [
    "RAW_REFUSED",
    "STUDENT_FEATURES",
    "TEACHER_BLOCKS",
    "TEACHER_FEATURES",
    "FeatureTaps",
    "Tap",
    "TeacherClassifier",
    "check_method_on_student",
    "raw_student_taps",
    "skeleton_teacher_taps",
    "student_taps",
    "teacher_classifier",
    "teacher_taps",
]


@dataclass(frozen=True)
class Tap:
    """Where a feature comes from and how its raw output becomes the per-sample tensor.

    ``path``: module path (``""`` = the model's output). ``relu``: apply a ReLU (hooks on
    functional-ReLU networks). ``per_frame``: the output is ``(B*K, ...)``; reshape to ``(B, K, ...)``
    and average over ``K`` (or keep ``K`` with ``keep_segments``). ``flatten``: ``(B, ...) -> (B, -1)``.
    ``map1d``: a raw-signal student's 1-D map ``(B, C, L)`` is given to the methods as a map of height
    one, ``(B, C, 1, L)``.
    """

    path: str
    relu: bool = False
    per_frame: bool = False
    keep_segments: bool = False
    flatten: bool = False
    map1d: bool = False


#: student feature name -> module path in :class:`vskd.models.student.GAFStudent` ("" = the output)
STUDENT_FEATURES: dict[str, str] = {
    "logits": "",
    "emb": "fc0",
    "pooled": "trunk.avgpool",
    "layer1": "trunk.layer1",
    "layer2": "trunk.layer2",
    "layer3": "trunk.layer3",
    "layer4": "trunk.layer4",
}

#: teacher feature name -> module path in :class:`vskd.models.trn.VideoTeacher` (blocks: see TEACHER_BLOCKS)
TEACHER_FEATURES: dict[str, str] = {
    "logits": "",
    "emb": "embedding",
    "pooled": "backbone",
    "block1": "backbone.<stage 1>",
    "block2": "backbone.<stage 2>",
    "block3": "backbone.<stage 3>",
    "block4": "backbone.<stage 4>",
    "frame_emb": "fc0",
    "frame_features": "backbone",
}

#: backbone name -> (module path under ``backbone``, apply ReLU) for block1..block4
TEACHER_BLOCKS: dict[str, tuple[tuple[str, bool], ...]] = {
    "bninception": (("conv2_3x3_bn", True), ("inception_3b_output", False),
                    ("inception_4d_output", False), ("inception_5b_output", False)),
    "resnet18": tuple((f"net.layer{i}", False) for i in range(1, 5)),
    "resnet50": tuple((f"net.layer{i}", False) for i in range(1, 5)),
}


def student_taps(student: nn.Module | None = None) -> dict[str, Tap]:
    """The student's features (see the module docstring); the same for every GAF student, a raw-signal
    student's own table otherwise (:func:`raw_student_taps`)."""
    if getattr(student, "family", "gaf") == "raw":
        return raw_student_taps(student)
    taps = {name: Tap(path) for name, path in STUDENT_FEATURES.items()}
    taps["pooled"] = Tap("trunk.avgpool", flatten=True)
    return taps


def raw_student_taps(student: nn.Module) -> dict[str, Tap]:
    """A raw-signal student's features (:mod:`vskd.models.raw_students`, :mod:`vskd.models.minirocket`):
    ``logits``, ``emb`` (``fc0``), ``pooled`` (its ``POOLED`` module, flattened) and its 1-D maps
    (``MAPS``: ``layer1``, ... as ``(B, C, 1, L)``)."""
    taps = {"logits": Tap(""), "emb": Tap("fc0"), "pooled": Tap(student.POOLED, flatten=True)}
    for name, path in student.MAPS.items():
        taps[name] = Tap(path, map1d=True)
    return taps


#: zoo methods a raw-signal student cannot take, and why (checked by :func:`check_method_on_student`)
RAW_REFUSED: dict[str, str] = {}


def check_method_on_student(method: nn.Module, student: nn.Module) -> None:
    """Refuse at build time, in one line, a method that cannot distil into ``student``: one that reads a
    feature the student does not have (e.g. FitNet's ``layer3`` on MiniRocket, which has no maps), or
    one listed in :data:`RAW_REFUSED` for raw-signal students."""
    name = getattr(method, "name", type(method).__name__)
    arch = getattr(student, "arch", type(student).__name__)
    raw = getattr(student, "family", "gaf") == "raw"
    if raw and name in RAW_REFUSED:
        raise ConfigError(f"method '{name}' cannot distil into the raw-signal {arch} student: {RAW_REFUSED[name]}")
    taps = student_taps(student)
    needed = method.student_uses if hasattr(method, "student_uses") else ()
    missing = [n for n in needed if n not in taps]
    if missing:
        raise ConfigError(f"method '{name}' cannot distil into the {arch} student: it reads the student's "
                          f"{', '.join(repr(m) for m in missing)}, which this student does not have "
                          f"(its features: {', '.join(taps)})")


def teacher_taps(teacher: nn.Module) -> dict[str, Tap]:
    """The teacher's features for its backbone (see the module docstring); a teacher with its own table
    (``TEACHER_TAPS``: the fusion teacher, :mod:`vskd.models.fusion`) has only those, a skeleton teacher
    (``TAPS``) its own (:func:`skeleton_teacher_taps`)."""
    own = getattr(teacher, "TEACHER_TAPS", None)
    if own is not None:
        return {name: Tap(path) for name, path in own.items()}
    if hasattr(teacher, "TAPS"):
        return skeleton_teacher_taps(teacher)
    taps = {
        "logits": Tap(""),
        "emb": Tap("embedding"),
        "pooled": Tap("backbone", per_frame=True),
        "frame_emb": Tap("fc0", per_frame=True, keep_segments=True),
        "frame_features": Tap("backbone", per_frame=True, keep_segments=True),
    }
    name = getattr(teacher, "backbone_name", None)
    blocks = TEACHER_BLOCKS.get(name)
    if blocks is None and hasattr(getattr(teacher, "backbone", None), "net"):
        blocks = TEACHER_BLOCKS["resnet18"]  # any torchvision ResNet under ``net``
    if blocks is not None:
        for i, (path, relu) in enumerate(blocks, start=1):
            taps[f"block{i}"] = Tap(f"backbone.{path}", relu=relu, per_frame=True)
    return taps


def skeleton_teacher_taps(teacher: nn.Module) -> dict[str, Tap]:
    """A skeleton teacher's features (:class:`~vskd.models.skeleton.SkeletonTeacher`,
    :class:`~vskd.models.skeleton_gcn.SkeletonGCN`: one sequence per sample, no segments): ``logits``,
    ``emb`` (``embedding``), ``pooled`` (the temporal / spatio-temporal mean, flattened) and the maps
    ``block1..`` of its ``TAPS``: the ST-GCN's (B, C, T, J) maps as they are (time x joints, a 2-D map
    like a CNN's), the temporal CNN's (B, C, T) maps as (B, C, 1, T), maps of height one (as the
    raw-signal students' ``layer`` maps). ``frame_emb`` / ``frame_features`` are absent (no segments),
    so SimKD, which reads them, is refused at setup."""
    taps = {"logits": Tap(""), "emb": Tap("embedding")}
    for name, path in teacher.TAPS.items():
        if name == "pooled":
            taps[name] = Tap(path, flatten=True)
        else:
            taps[name] = Tap(path, map1d=getattr(teacher, "arch", "") == "skeleton")
    return taps


def _segments(teacher: nn.Module | None) -> int | None:
    return getattr(teacher, "num_segments", None)


class FeatureTaps:
    """Hooks for the named features of one model, and their reduction to per-sample tensors.

    ``FeatureTaps(model, names, taps, side, num_segments=None)``: ``names`` are the features to record,
    ``taps`` the table (:func:`student_taps` / :func:`teacher_taps`), ``side`` ("student" or
    "teacher") names the model in errors. After ``out = model(x)``, :meth:`collect(out) <collect>`
    returns ``{name: tensor}`` with every reduction applied (still in the autograd graph).
    """

    def __init__(self, model: nn.Module, names: Iterable[str], taps: Mapping[str, Tap], side: str,
                 num_segments: int | None = None) -> None:
        self.names = tuple(dict.fromkeys(names))
        self.side = side
        unknown = [n for n in self.names if n not in taps]
        if unknown:
            note = getattr(model, "TAPS_NOTE", None)
            raise ConfigError(f"{side} feature {unknown[0]!r} is unknown (available: {', '.join(taps)})"
                              + (f": {note}" if note else ""))
        self.taps = {n: taps[n] for n in self.names}
        if any(t.per_frame for t in self.taps.values()) and not num_segments:
            raise ConfigError(f"{side} features {list(self.names)} are per-frame but the model has no num_segments")
        self.num_segments = num_segments
        self.recorder = FeatureRecorder(model, {n: t.path for n, t in self.taps.items() if t.path})

    def reduce(self, name: str, x: Tensor) -> Tensor:
        tap = self.taps[name]
        if tap.relu:
            x = F.relu(x)
        if tap.per_frame:
            k = int(self.num_segments)  # type: ignore[arg-type]
            if x.shape[0] % k:
                raise ConfigError(f"{self.side} feature {name!r}: {x.shape[0]} frames are not a multiple of "
                                  f"{k} segments")
            x = x.reshape(x.shape[0] // k, k, *x.shape[1:])
            if not tap.keep_segments:
                x = x.mean(dim=1)
        if tap.flatten:
            x = x.flatten(1)
        if tap.map1d:
            x = x.unsqueeze(2)
        return x

    def collect(self, output: Tensor) -> dict[str, Tensor]:
        """``{name: reduced tensor}`` for the last forward (``output`` is the model's output)."""
        feats = self.recorder.features
        out = {}
        for name, tap in self.taps.items():
            x = output if not tap.path else feats[name]
            out[name] = self.reduce(name, x)
        return out

    def remove(self) -> None:
        self.recorder.remove()


def make_taps(model: nn.Module, names: Iterable[str], side: str) -> FeatureTaps:
    """:class:`FeatureTaps` for the ``student`` or the ``teacher`` (table and K chosen by ``side``)."""
    if side == "teacher":
        return FeatureTaps(model, names, teacher_taps(model), side, _segments(model))
    return FeatureTaps(model, names, student_taps(model), side)


class TeacherClassifier(nn.Module):
    """A frozen copy of the teacher's classifier, the TRN relation head (for SimKD).

    The relation head consumes the K per-frame fc0 vectors of a clip, ``(B, K, 300)``, not one
    vector. ``forward(z)``:

    * ``z`` ``(B, K, D)``: the head as the teacher uses it (what SimKD feeds: its projector predicts the
      K segment embeddings, so a student that matched the teacher's ``frame_emb`` exactly would get the
      teacher's own logits);
    * ``z`` ``(B, D)``: one clip-level vector, repeated as the K segment inputs (``z`` in every slot;
      defined for completeness, the head never saw such constant sequences in training).

    The head stays in evaluation mode whatever ``train()`` says (deterministic: every relation subset,
    each scale weighted by m / C(K, k)), and its parameters have ``requires_grad=False``: gradient
    flows *through* it to its input, never into it. Its weights are part of this module's
    ``state_dict``, so a checkpoint of the student + SimKD method is self-contained.
    """

    def __init__(self, relation: nn.Module, num_segments: int, in_dim: int) -> None:
        super().__init__()
        self.head = copy.deepcopy(relation)
        self.num_segments = int(num_segments)
        self.in_dim = int(in_dim)
        for p in self.head.parameters():
            p.requires_grad_(False)
        self.head.eval()

    def train(self, mode: bool = True) -> "TeacherClassifier":
        super().train(mode)
        self.head.eval()
        return self

    def forward(self, z: Tensor) -> Tensor:
        if z.dim() == 2:
            z = z.unsqueeze(1).expand(z.shape[0], self.num_segments, z.shape[1])
        if z.dim() != 3 or z.shape[1:] != (self.num_segments, self.in_dim):
            raise ConfigError(f"teacher classifier expects (B, {self.num_segments}, {self.in_dim}) segment "
                              f"vectors or (B, {self.in_dim}), got {tuple(z.shape)}")
        return self.head(z)


def teacher_classifier(teacher: nn.Module) -> TeacherClassifier:
    """A frozen :class:`TeacherClassifier` copied from ``teacher.relation`` (a VideoTeacher)."""
    relation = getattr(teacher, "relation", None)
    if relation is None:
        raise ConfigError(f"the teacher ({type(teacher).__name__}) has no relation head to reuse as classifier")
    return TeacherClassifier(relation, teacher.num_segments, teacher.embed_dim)


def shapes_of(feats: Mapping[str, Tensor]) -> dict[str, tuple[int, ...]]:
    """Per-sample shapes (batch dimension dropped) of a feature dict."""
    return {k: tuple(int(n) for n in v.shape[1:]) for k, v in feats.items() if torch.is_tensor(v)}
