"""The fused training path: encoding + MLP + loss + SGD/Adam with hand-derived formulas.

Everything is computed into preallocated arrays (float32 by default) with whole-array NumPy
operations; a training step allocates no arrays of its own. The maths are the autodiff
engine's (`gfxnn.nn`, `gfxnn.encodings`, `gfxnn.optim`), which tests/test_fused.py checks.
`make_trainer(spec, target)` builds the NumPy backend of `gfxnn.fields.trainer.Trainer`.
"""

from gfxnn.fused.encoding import FusedFrequency, FusedIdentity, encoder_from_config, make_encoder
from gfxnn.fused.factory import make_optimizers, make_trainer, set_training
from gfxnn.fused.mlp import FusedMLP
from gfxnn.fused.optim import FusedAdam, FusedSGD, make_optimizer, optimizer_from_spec
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
    "encoder_from_config",
    "make_encoder",
    "make_optimizer",
    "make_optimizers",
    "make_trainer",
    "optimizer_from_spec",
    "set_training",
]
