"""The GPU path: the fused image-fitting step as NVIDIA Warp kernels (`pip install gfxnn[gpu]`).

The same kernels run on a CUDA GPU and on Warp's CPU device, where the tests check them
against the NumPy fused path (`gfxnn.fused`). See docs/gpu.md for the design.

`available()` and `device_name()` import Warp lazily; the trainer classes need it installed.
"""

from __future__ import annotations

from typing import Any

from gfxnn.gpu.runtime import available, device_name

__all__ = ["GpuImageFitter", "GpuTrainer", "available", "device_name"]


def __getattr__(name: str) -> Any:
    # The trainers import warp at import time; keep `import gfxnn.gpu` cheap without it.
    if name == "GpuTrainer":
        from gfxnn.gpu.trainer import GpuTrainer

        return GpuTrainer
    if name == "GpuImageFitter":
        from gfxnn.gpu.fitter import GpuImageFitter

        return GpuImageFitter
    raise AttributeError(f"module 'gfxnn.gpu' has no attribute {name!r}")
