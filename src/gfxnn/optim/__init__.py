"""Optimizers: pure update rules (`gfxnn.optim.functional`) inside thin stateful classes.

opt = gfxnn.optim.Adam(model.parameters(), lr=1e-3)
opt.zero_grad(); loss.backward(); opt.step()
"""

from gfxnn.optim import functional
from gfxnn.optim.adam import Adam, AdamW
from gfxnn.optim.optimizer import Optimizer
from gfxnn.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "functional"]
