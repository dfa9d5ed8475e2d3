"""The WebGPU backend: gfxnn's fused training step as WGSL compute shaders (wgpu-py on
Vulkan, Metal or DX12; Mesa's lavapipe on a machine without a GPU). `pip install
'gfxnn[webgpu]'`. The `.wgsl` files of `wgsl/` are the kernels, for Python and the browser."""

from gfxnn.webgpu.device import Gpu, NoAdapterError, adapter_name, get_gpu
from gfxnn.webgpu.trainer import WebGpuTrainer

__all__ = ["Gpu", "NoAdapterError", "WebGpuTrainer", "adapter_name", "get_gpu"]
