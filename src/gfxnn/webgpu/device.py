"""The WebGPU adapter and device the trainers share (wgpu-py: Vulkan, Metal or DX12).

One device per process: pipelines are compiled once per device and shader configuration (on
Mesa's lavapipe, a CPU Vulkan driver, a pipeline costs about a second to compile).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Gpu", "NoAdapterError", "check_precision", "get_gpu"]

# Storage buffers one kernel binds (see wgsl/bindings.wgsl); WebGPU's default limit is 8.
STORAGE_BUFFERS = 10
# Device features gfxnn asks for when the adapter offers them.
OPTIONAL_FEATURES = ("shader-f16",)


class NoAdapterError(RuntimeError):
    """No WebGPU adapter (or no wgpu package): the message says what to install."""


@dataclass
class Gpu:
    """A wgpu adapter, its device and what the kernels compiled on it."""

    adapter: Any
    device: Any
    name: str  # e.g. "llvmpipe (LLVM 15.0.6, 256 bits) / Vulkan"
    pipelines: dict[Any, Any] = field(default_factory=dict)
    modules: dict[str, Any] = field(default_factory=dict)
    layouts: dict[str, Any] = field(default_factory=dict)

    def has_feature(self, name: str) -> bool:
        """Whether the device was created with the WebGPU feature `name` (e.g. "shader-f16")."""
        return name in self.device.features

    @property
    def is_cpu(self) -> bool:
        """True on a software adapter (lavapipe, SwiftShader, WARP)."""
        return str(self.adapter.info.get("adapter_type", "")).lower() == "cpu"


_GPU: Gpu | None = None


def adapter_name(adapter: Any) -> str:
    """'<device> / <backend>' of a wgpu adapter, e.g. 'NVIDIA H200 / Vulkan'."""
    info = adapter.info
    device = info.get("device") or info.get("description") or info.get("vendor") or "unknown"
    return f"{device} / {info.get('backend_type', 'unknown')}"


def _request_adapter(wgpu: Any) -> Any:
    # A real GPU when there is one; the fallback (software) adapter otherwise.
    for fallback in (False, True):
        try:
            adapter = wgpu.gpu.request_adapter_sync(
                power_preference="high-performance", force_fallback_adapter=fallback
            )
        except RuntimeError:  # wgpu-native reports "no adapter" as an error
            adapter = None
        if adapter is not None:
            return adapter
    return None


def get_gpu() -> Gpu:
    """The process's WebGPU device (created on first use); NoAdapterError when there is none.

    WGPU_BACKEND_TYPE (Vulkan, Metal, D3D12) picks the backend, as wgpu reads it.
    """
    global _GPU
    if _GPU is not None:
        return _GPU
    try:
        import wgpu
    except ImportError:
        raise NoAdapterError(
            "--device webgpu needs the wgpu package: pip install 'gfxnn[webgpu]'"
        ) from None
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")  # Mesa warns without one
    adapter = _request_adapter(wgpu)
    if adapter is None:
        raise NoAdapterError(
            "no WebGPU adapter found (on Linux without a GPU, install Mesa's lavapipe: "
            "apt install mesa-vulkan-drivers)"
        )
    limits = adapter.limits
    if limits["max-storage-buffers-per-shader-stage"] < STORAGE_BUFFERS:
        raise NoAdapterError(
            f"the WebGPU adapter {adapter_name(adapter)} binds "
            f"{limits['max-storage-buffers-per-shader-stage']} storage buffers per kernel; "
            f"gfxnn's kernels need {STORAGE_BUFFERS}"
        )
    wanted = (
        "max-storage-buffer-binding-size",
        "max-buffer-size",
        "max-storage-buffers-per-shader-stage",
        "max-compute-workgroups-per-dimension",
    )
    # precision "fp16" (infer_f16.wgsl) needs shader-f16; without it, that precision is refused
    features = [name for name in OPTIONAL_FEATURES if name in adapter.features]
    device = adapter.request_device_sync(
        required_features=features, required_limits={key: limits[key] for key in wanted}
    )
    _GPU = Gpu(adapter, device, adapter_name(adapter))
    return _GPU


def check_precision(gpu: Gpu, precision: str) -> None:
    """ValueError when `precision` is "fp16" and the device lacks "shader-f16" (infer_f16.wgsl
    needs it)."""
    if precision == "fp16" and not gpu.has_feature("shader-f16"):
        raise ValueError(
            f"the webgpu backend does not offer precision='fp16' on {gpu.name}: the adapter "
            "lacks the shader-f16 feature (choose fp32)"
        )
