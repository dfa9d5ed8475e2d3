"""Weight initialisers; each draws from an explicit `np.random.Generator`.

Fan-in and fan-out follow PyTorch's convention for a weight of shape (out, in, *kernel):
fan_in = in * prod(kernel), fan_out = out * prod(kernel). Each function fills the tensor's
array in place (keeping its dtype) and returns the tensor, so `init.xavier_uniform(w, rng)`
reads like PyTorch's `nn.init.xavier_uniform_(w)`; a plain NumPy array works too (the fused
trainers fill their weight buffers with these functions). `initialize(w, name, rng)` applies
one by its name in INITIALIZERS, the names layers accept as `init=`.

References: Glorot & Bengio 2010 (Xavier), He et al. 2015 (Kaiming,
https://arxiv.org/abs/1502.01852), LeCun et al. 1998, Sitzmann et al. 2020 (SIREN,
https://arxiv.org/abs/2006.09661).
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import numpy as np

from gfxnn.checks import check_choice
from gfxnn.rng import as_generator
from gfxnn.tensor import Tensor

# A Tensor or a plain array: every initialiser fills either in place and returns it.
T = TypeVar("T", Tensor, np.ndarray)

GAINS = {
    "linear": 1.0,
    "identity": 1.0,
    "none": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "sine": 1.0,
}


def calculate_gain(nonlinearity: str, negative_slope: float = 0.01) -> float:
    """PyTorch's recommended gain for an activation (leaky_relu: sqrt(2 / (1 + slope^2)))."""
    if nonlinearity == "leaky_relu":
        return math.sqrt(2.0 / (1.0 + negative_slope**2))
    if nonlinearity not in GAINS:
        allowed = sorted([*GAINS, "leaky_relu"])
        raise ValueError(f"no gain is defined for {nonlinearity!r}; choose one of {allowed}")
    return GAINS[nonlinearity]


def fan_in_and_out(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel)."""
    if len(shape) < 2:
        raise ValueError(f"fan in and out need a weight with at least 2 dimensions, got {shape}")
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _check_rng(rng: np.random.Generator) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a np.random.Generator (e.g. np.random.default_rng(0)), "
            f"got {type(rng).__name__}"
        )


def _fill(tensor: T, values: Any) -> T:
    # Tensors and plain arrays alike, so the fused trainers' weight buffers use these very
    # formulas (one Xavier, drawn in the same order as nn.MLP's layers).
    (tensor.data if isinstance(tensor, Tensor) else tensor)[...] = values
    return tensor


def uniform(tensor: T, rng: np.random.Generator, low: float = 0.0, high: float = 1.0) -> T:
    """Fill with U(low, high)."""
    _check_rng(rng)
    if not low < high:
        raise ValueError(f"uniform needs low < high, got low={low}, high={high}")
    return _fill(tensor, rng.uniform(low, high, size=tensor.shape))


def normal(tensor: T, rng: np.random.Generator, mean: float = 0.0, std: float = 1.0) -> T:
    """Fill with N(mean, std^2)."""
    _check_rng(rng)
    if not std >= 0:
        raise ValueError(f"normal needs std >= 0, got {std}")
    return _fill(tensor, rng.normal(mean, std, size=tensor.shape))


def zeros(tensor: T) -> T:
    return _fill(tensor, 0)


def xavier_uniform(tensor: T, rng: np.random.Generator, gain: float = 1.0) -> T:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot uniform)."""
    fan_in, fan_out = fan_in_and_out(tensor.shape)
    limit = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform(tensor, rng, -limit, limit)


def xavier_normal(tensor: T, rng: np.random.Generator, gain: float = 1.0) -> T:
    """N(0, s^2) with s = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_out(tensor.shape)
    return normal(tensor, rng, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _fan(shape: tuple[int, ...], mode: str) -> int:
    fan_in, fan_out = fan_in_and_out(shape)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fan_in if mode == "fan_in" else fan_out


def kaiming_uniform(
    tensor: T,
    rng: np.random.Generator,
    negative_slope: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
) -> T:
    """U(-b, b) with b = gain * sqrt(3 / fan) (He uniform; gain sqrt(2) for ReLU)."""
    gain = calculate_gain(nonlinearity, negative_slope)
    bound = gain * math.sqrt(3.0 / _fan(tensor.shape, mode))
    return uniform(tensor, rng, -bound, bound)


def kaiming_normal(
    tensor: T,
    rng: np.random.Generator,
    negative_slope: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
) -> T:
    """N(0, s^2) with s = gain / sqrt(fan) (He normal)."""
    gain = calculate_gain(nonlinearity, negative_slope)
    return normal(tensor, rng, 0.0, gain / math.sqrt(_fan(tensor.shape, mode)))


def lecun_uniform(tensor: T, rng: np.random.Generator) -> T:
    """U(-b, b) with b = sqrt(3 / fan_in)."""
    fan_in, _ = fan_in_and_out(tensor.shape)
    bound = math.sqrt(3.0 / fan_in)
    return uniform(tensor, rng, -bound, bound)


def lecun_normal(tensor: T, rng: np.random.Generator) -> T:
    """N(0, 1 / fan_in)."""
    fan_in, _ = fan_in_and_out(tensor.shape)
    return normal(tensor, rng, 0.0, math.sqrt(1.0 / fan_in))


def siren_uniform(
    tensor: T, rng: np.random.Generator, omega_0: float = 30.0, is_first: bool = False
) -> T:
    """SIREN: first layer U(-1/fan_in, 1/fan_in), others U(-b, b), b = sqrt(6/fan_in)/omega_0."""
    fan_in, _ = fan_in_and_out(tensor.shape)
    bound = 1.0 / fan_in if is_first else math.sqrt(6.0 / fan_in) / omega_0
    return uniform(tensor, rng, -bound, bound)


def he_uniform(tensor: T, rng: np.random.Generator) -> T:
    """He (Kaiming) uniform for ReLU: U(-b, b), b = sqrt(6 / fan_in)."""
    return kaiming_uniform(tensor, rng, nonlinearity="relu")


def he_normal(tensor: T, rng: np.random.Generator) -> T:
    """He (Kaiming) normal for ReLU: N(0, 2 / fan_in)."""
    return kaiming_normal(tensor, rng, nonlinearity="relu")


INITIALIZERS = {
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "kaiming_uniform": he_uniform,
    "kaiming_normal": he_normal,
    "lecun_uniform": lecun_uniform,
    "lecun_normal": lecun_normal,
}


# ----- MLPZen's six schemes (its "Initialization" combo) -----------------------------------
# Gaussian variants are clamped at +-3 sigma as MLPZen's inverse-erf draws are; MLPZen counts
# fans on its padded (multiple-of-4) layers, these on the true sizes.
def clamped_normal(tensor: T, rng: np.random.Generator, std: float, clamp: float = 3.0) -> T:
    """N(0, std^2) clipped to [-clamp std, clamp std] (one draw per element, then np.clip)."""
    _check_rng(rng)
    if not std >= 0:
        raise ValueError(f"clamped_normal needs std >= 0, got {std}")
    limit = clamp * std
    return _fill(tensor, np.clip(rng.normal(0.0, std, size=tensor.shape), -limit, limit))


def he_gaussian(tensor: T, rng: np.random.Generator) -> T:
    """N(0, 2 / fan_in) clamped at +-3 sigma (MLPZen's He Gaussian)."""
    fan_in, _ = fan_in_and_out(tensor.shape)
    return clamped_normal(tensor, rng, math.sqrt(2.0 / fan_in))


def xavier_gaussian(tensor: T, rng: np.random.Generator) -> T:
    """N(0, 2 / (fan_in + fan_out)) clamped at +-3 sigma (MLPZen's Xavier Gaussian)."""
    fan_in, fan_out = fan_in_and_out(tensor.shape)
    return clamped_normal(tensor, rng, math.sqrt(2.0 / (fan_in + fan_out)))


def lecun_gaussian(tensor: T, rng: np.random.Generator) -> T:
    """N(0, 1 / fan_in) clamped at +-3 sigma (MLPZen's LeCun Gaussian)."""
    fan_in, _ = fan_in_and_out(tensor.shape)
    return clamped_normal(tensor, rng, math.sqrt(1.0 / fan_in))


#: the schemes `FitSettings.initialization` and `ModelSpec.initialization` name; uniform
#: limits sqrt(6 / (in + out)) (Xavier), sqrt(6 / in) (He), sqrt(3 / in) (LeCun)
SCHEMES = {
    "xavier_uniform": xavier_uniform,
    "xavier_gaussian": xavier_gaussian,
    "he_uniform": he_uniform,
    "he_gaussian": he_gaussian,
    "lecun_uniform": lecun_uniform,
    "lecun_gaussian": lecun_gaussian,
}


def initialize(tensor: T, name: str, rng: Any) -> T:
    """Fill `tensor` with the initialiser called `name` (one of INITIALIZERS), drawing from
    `rng` (a Generator, a seed, or None for `gfxnn.rng.DEFAULT_SEED`)."""
    check_choice("init", name, tuple(INITIALIZERS))
    generator = as_generator(rng)
    result: T = INITIALIZERS[name](tensor, generator)
    return result
