"""The fused training path: encoding + MLP + MSE + SGD/Adam with hand-derived formulas.

Everything is computed into preallocated arrays (float32 by default) with whole-array NumPy
operations; a training step allocates no arrays of its own. The maths are the autodiff
engine's (`gfxnn.nn`, `gfxnn.encodings`, `gfxnn.optim`), which tests/test_fused.py checks.
"""

from gfxnn.fused.encoding import FusedFrequency, FusedIdentity, make_encoder
from gfxnn.fused.mlp import FusedMLP
from gfxnn.fused.optim import FusedAdam, FusedSGD, make_optimizer
from gfxnn.fused.sampler import NearestTexelSampler
from gfxnn.fused.trainer import FusedTrainer

__all__ = [
    "FusedAdam",
    "FusedFrequency",
    "FusedIdentity",
    "FusedMLP",
    "FusedSGD",
    "FusedTrainer",
    "NearestTexelSampler",
    "make_encoder",
    "make_optimizer",
]
