"""Warp import, device choice and the two functions a caller asks before using the GPU path."""

from __future__ import annotations

import functools
from typing import Any

DEVICES = ("cuda", "cpu")


@functools.lru_cache(maxsize=1)
def warp() -> Any:
    """The `warp` module, initialised quietly; ImportError with the install hint without it."""
    try:
        import warp as wp
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("the GPU path needs NVIDIA Warp: pip install 'gfxnn[gpu]'") from error
    wp.init()
    return wp


def available() -> bool:
    """True when Warp is installed and sees a CUDA device."""
    try:
        wp = warp()
    except ImportError:
        return False
    return bool(wp.get_cuda_device_count() > 0)


def device_name(device: str = "cuda") -> str:
    """A readable name of `device` ("cuda" -> the GPU's name, "cpu" -> "Warp CPU")."""
    resolved = resolve_device(device)
    if resolved == "cpu":
        return "Warp CPU"
    wp = warp()
    return str(wp.get_device(resolved).name)


def resolve_device(device: str) -> str:
    """ "cuda" or "cpu", checked: ValueError for an unknown name, RuntimeError for "cuda"
    without a CUDA device."""
    if device not in DEVICES and not (isinstance(device, str) and device.startswith("cuda:")):
        raise ValueError(f"device must be one of {DEVICES} (or 'cuda:N'), got {device!r}")
    if device.startswith("cuda") and not available():
        raise RuntimeError("no CUDA device is available to Warp; use device='cpu'")
    return device
