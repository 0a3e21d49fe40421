"""vskd: vision-to-sensor knowledge distillation for human activity recognition.

A video teacher (multi-scale TRN) teaches an accelerometer student (ResNet18 on Gramian Angular
Field images) with the DASK loss of VSKD (Ni et al., ICASSP 2022) or any classic KD method.
"""

__version__ = "0.1.0"

from vskd.errors import VskdError  # noqa: F401
