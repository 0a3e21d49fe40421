"""Models: the video teacher (multi-scale TRN on BN-Inception), the GAF student, backbones, hooks.

See docs/models.md for the architectures as built, the pretrained files they load and the features
available to distillers.
"""

from __future__ import annotations

from vskd.models.backbones import BACKBONES, available_backbones, build_backbone, register_backbone
from vskd.models.bninception import BNInception, load_bninception_weights
from vskd.models import efficientnet as _efficientnet  # noqa: F401  (registers "efficientnet_lite0")
from vskd.models.hooks import FeatureRecorder, feature_shapes
from vskd.models.student import GAFStudent
from vskd.models.trn import MultiScaleRelation, VideoTeacher, tsn_param_groups

__all__ = [
    "BACKBONES",
    "BNInception",
    "FeatureRecorder",
    "GAFStudent",
    "MultiScaleRelation",
    "VideoTeacher",
    "available_backbones",
    "build_backbone",
    "feature_shapes",
    "load_bninception_weights",
    "register_backbone",
    "tsn_param_groups",
]
