"""The WebGPU backend: gfxnn's fused training step as WGSL compute shaders (wgpu-py on
Vulkan, Metal or DX12; Mesa's lavapipe on a machine without a GPU). `pip install
'gfxnn[webgpu]'`. The `.wgsl` files of `wgsl/` are the kernels, for Python and the browser."""

from typing import Any

from gfxnn.fields.trainer import ModelSpec
from gfxnn.webgpu.device import Gpu, NoAdapterError, adapter_name, get_gpu
from gfxnn.webgpu.trainer import WebGpuTrainer

__all__ = ["Gpu", "NoAdapterError", "WebGpuTrainer", "adapter_name", "get_gpu", "make_trainer"]


def make_trainer(spec: ModelSpec, target: Any = None) -> WebGpuTrainer:
    """The WebGPU backend's Trainer factory, (spec, target) -> WebGpuTrainer, as the
    controller (`gfxnn.fields.controller.FitController`) takes it."""
    return WebGpuTrainer(spec, target)
