"""The compiled CPU trainer: the fused path's maths in a few Numba kernels on every core.

`CompiledTrainer(spec, target)` implements `gfxnn.fields.trainer.Trainer`; `available()` says
whether Numba can be imported (without it the NumPy fused trainer is the CPU backend). Kernels
are compiled on first use and cached on disk (Numba's `cache=True`, in `__pycache__` beside
these files), so only the first run on a machine pays the compile time (docs/flagship.md).
"""

from __future__ import annotations

from typing import Any

__all__ = ["CompiledTrainer", "available", "compiled_trainer"]


def available() -> bool:
    """True when Numba imports (the compiled trainer can run)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def compiled_trainer(spec: Any, target: Any = None, **options: Any) -> Any:
    """A `CompiledTrainer` (the factory signature the controller takes)."""
    from gfxnn.compiled.trainer import CompiledTrainer

    return CompiledTrainer(spec, target, **options)


def __getattr__(name: str) -> Any:
    if name == "CompiledTrainer":
        from gfxnn.compiled.trainer import CompiledTrainer

        return CompiledTrainer
    raise AttributeError(name)
