"""Compatibility module: the public names of :mod:`vskd.engine.builders` and :mod:`vskd.engine.jobs`.

``vskd.engine.pipeline`` used to hold both the builders (config -> data specs, datasets, loaders,
models, optimisers) and the jobs (train_teacher, train_student, distill, evaluate_checkpoint). They now
live in those two modules; this one re-exports their public names so that user code and scripts written
against ``vskd.engine.pipeline`` keep working. New code inside vskd imports from the modules themselves.
"""

from __future__ import annotations

from vskd.engine.builders import (build_student, build_teacher, clip_spec, fit_student, gaf_spec, load_data, loader,
                                  make_optimizer, make_scheduler, method_options, paired, student_spec)
from vskd.engine.checkpoints import load_student, load_teacher
from vskd.engine.jobs import RunDir, distill, evaluate_checkpoint, train_student, train_teacher

__all__ = ["RunDir", "build_student", "build_teacher", "clip_spec", "distill", "evaluate_checkpoint", "fit_student",
           "gaf_spec", "load_data", "load_student", "load_teacher", "loader", "make_optimizer", "make_scheduler",
           "method_options", "paired", "student_spec", "train_student", "train_teacher"]
