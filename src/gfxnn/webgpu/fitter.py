"""`WebGpuImageFitter`: the image fitter (Dx12NN's controls, `gfxnn.fields`) on the WebGPU
trainer, for `gfxnn fit --device webgpu`."""

from __future__ import annotations

import numpy as np

from gfxnn.fields.image import ImageFitController
from gfxnn.fields.settings import FitSettings
from gfxnn.fields.targets import ImageTarget
from gfxnn.webgpu import layout
from gfxnn.webgpu.device import check_precision, get_gpu
from gfxnn.webgpu.trainer import WebGpuTrainer

__all__ = ["WebGpuImageFitter", "check_supported"]


def check_supported(settings: FitSettings, n_input_dims: int = 2, n_output_dims: int = 3) -> None:
    """ValueError naming what the WebGPU kernels cannot run in `settings` (for a target of
    these sizes), precision "fp16" on an adapter without shader-f16 included."""
    settings.validate()
    layout.model_plan(settings.model_spec(n_input_dims, n_output_dims))
    check_precision(get_gpu(), settings.precision)


class WebGpuImageFitter(ImageFitController):
    """`gfxnn.fields.ImageFitter`'s API, trained in WebGPU compute shaders (batches drawn on
    the device with its own counter-based RNG, so runs differ from the CPU's draws).

    Raises NoAdapterError without a WebGPU adapter, ValueError for settings the kernels
    cannot run.
    """

    def __init__(self, image: np.ndarray, settings: FitSettings | None = None) -> None:
        self.adapter_name = get_gpu().name  # e.g. "llvmpipe (LLVM 15.0.6, 256 bits) / Vulkan"
        super().__init__(ImageTarget(image), settings, WebGpuTrainer)
