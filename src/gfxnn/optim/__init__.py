"""Optimizers: pure update rules (`gfxnn.optim.functional`) inside thin stateful classes.

opt = gfxnn.optim.Adam(model.parameters(), lr=1e-3)
opt.zero_grad(); loss.backward(); opt.step()
"""

from gfxnn.optim import functional
from gfxnn.optim.adam import Adam, AdamW
from gfxnn.optim.optimizer import Optimizer
from gfxnn.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "functional"]

# Issue 5: more optimizers, gradient clipping, learning-rate schedules.
from gfxnn.optim import schedules  # noqa: E402
from gfxnn.optim.adadelta import Adadelta  # noqa: E402
from gfxnn.optim.adagrad import Adagrad  # noqa: E402
from gfxnn.optim.clip import clip_grad_norm_, clip_grad_value_  # noqa: E402
from gfxnn.optim.rmsprop import RMSprop  # noqa: E402
from gfxnn.optim.rprop import Rprop  # noqa: E402
from gfxnn.optim.schedules import (  # noqa: E402
    CosineWarmupLR,
    ExponentialLR,
    LRScheduler,
    ReduceLROnPlateau,
    StepLR,
)

__all__ += [
    "Adadelta",
    "Adagrad",
    "CosineWarmupLR",
    "ExponentialLR",
    "LRScheduler",
    "RMSprop",
    "ReduceLROnPlateau",
    "Rprop",
    "StepLR",
    "clip_grad_norm_",
    "clip_grad_value_",
    "schedules",
]
