"""`as_generator`: the one way a gfxnn component turns its `rng` argument into a Generator.

Every random thing in gfxnn (weights, grid tables, dropout masks, shuffles) draws from an
explicit `np.random.Generator`. A component's `rng` argument may be:

- a `np.random.Generator`: used as is, so several components can share one stream (an MLP
  passes its generator to its layers, which draw first to last);
- an integer seed >= 0: `np.random.default_rng(seed)`;
- None: `np.random.default_rng(DEFAULT_SEED)`, a documented fixed seed. gfxnn never draws
  from OS entropy, so the same call always gives the same numbers; pass a seed or a
  Generator for different ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gfxnn.checks import check_seed

DEFAULT_SEED = 0

RNG = np.random.Generator | int | None


def as_generator(rng: Any, name: str = "rng") -> np.random.Generator:
    """A Generator from a Generator, a seed >= 0 or None (seed DEFAULT_SEED); see the module."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng(DEFAULT_SEED)
    if isinstance(rng, bool) or not isinstance(rng, int | np.integer):
        raise TypeError(f"{name} must be a np.random.Generator, a seed >= 0 or None, got {rng!r}")
    return np.random.default_rng(check_seed(name, rng))
