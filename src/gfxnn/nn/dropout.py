"""`Dropout`: inverted dropout with an explicit random generator."""

from __future__ import annotations

from typing import Any

from gfxnn import image_ops
from gfxnn.nn.module import Module
from gfxnn.rng import RNG, as_generator
from gfxnn.tensor import Tensor


class Dropout(Module):
    """Zero each element with probability p while training and scale the survivors by
    1 / (1 - p); the identity in eval mode, as torch.nn.Dropout.

    Args:
        p: drop probability in [0, 1).
        rng: Generator, seed, or None for `gfxnn.rng.DEFAULT_SEED`, that draws the masks (the
            same seed gives the same masks).
    """

    def __init__(self, p: float = 0.5, rng: RNG = None) -> None:
        super().__init__()
        if not isinstance(p, int | float) or not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability p must be in [0, 1), got {p!r}")
        self.p = float(p)
        self.rng = as_generator(rng)

    def forward(self, x: Any) -> Tensor:
        return image_ops.dropout(x, self.p, self.rng, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
