"""Which device a command trains on: `--device auto|cpu|cuda|webgpu`, checked before anything
is written (an asked-for device that is missing is exit 2 with nothing on disk)."""

from __future__ import annotations

import os
from typing import Any

from gfxnn.apps.command import UsageError, stdout_to_stderr

__all__ = [
    "DEVICES",
    "STUDIO_DEVICES",
    "device_label",
    "make_fitter",
    "make_image_fitter",
    "resolve_device",
]

STUDIO_DEVICES = ("cpu", "webgpu")
"""Where a studio session trains (the studio does not drive the Warp CUDA path yet)."""


DEVICES = ("auto", "cpu", "cuda", "webgpu")
"""Every `--device` choice; a new backend adds its name here and a branch to `make_fitter`."""


def make_fitter(
    pixels: Any,
    settings: Any,
    device: str = "cpu",
    *,
    cpu_backend: str = "numpy",
    blas_threads: int = 1,
) -> Any:
    """The image fitter on a resolved `device`: "cpu" (`ImageFitter` with `cpu_backend`
    "numpy", "compiled" or "auto" and `blas_threads`), "webgpu" (`WebGpuImageFitter`) or a
    CUDA device (`GpuImageFitter`). Every one offers the same controller API and a NumPy
    state_dict(). Raises gfxnn.webgpu.NoAdapterError for "webgpu" without an adapter."""
    if device == "cpu":
        from gfxnn.imagefit import ImageFitter

        return ImageFitter(pixels, settings, blas_threads=blas_threads, backend=cpu_backend)
    if device == "webgpu":
        from gfxnn.webgpu.fitter import WebGpuImageFitter

        return WebGpuImageFitter(pixels, settings)
    if not device.startswith("cuda"):
        raise ValueError(f"device must be one of cpu, cuda, webgpu; got {device!r}")
    from gfxnn.gpu import GpuImageFitter

    return GpuImageFitter(pixels, settings, device=device)


def make_image_fitter(pixels: Any, settings: Any, device: str) -> Any:
    """The studio's image fitter on `device` ("cpu" or "webgpu", see `make_fitter`)."""
    if device not in STUDIO_DEVICES:
        raise ValueError(f"device must be one of {', '.join(STUDIO_DEVICES)}, got {device!r}")
    return make_fitter(pixels, settings, device)


def device_label(fitter: Any) -> str:
    """What the studio page shows as the device `fitter` trains on: "WebGPU: <adapter> /
    <backend>" for a WebGPU fitter (its adapter_name), else "CPU (N cores)"."""
    adapter = getattr(fitter, "adapter_name", None)
    if adapter:
        return f"WebGPU: {adapter}"
    return f"CPU ({os.cpu_count() or 1} cores)"


def resolve_device(requested: str, settings: Any, prog: str) -> tuple[str, str | None]:
    """("cpu" | "cuda" | "webgpu", a notice for stderr or None) for `--device requested`.

    auto: cuda when Warp sees a CUDA GPU that supports `settings`, else the CPU with a notice.
    Raises UsageError (exit 2, nothing written) when an asked-for device cannot be used.
    """
    if requested == "cpu":
        return "cpu", None
    if requested == "webgpu":
        return _resolve_webgpu(settings, prog)
    from gfxnn import gpu

    with stdout_to_stderr():  # Warp's start-up banner is not a result
        found = gpu.available()
    if not found:
        if requested == "cuda":
            raise UsageError(
                "--device cuda: no CUDA GPU found (or Warp is missing: pip install 'gfxnn[gpu]')"
            )
        return "cpu", f"{prog}: no CUDA GPU found, training on the CPU"
    from gfxnn.gpu.trainer import check_supported

    try:
        check_supported(settings)
    except ValueError as error:
        if requested == "cuda":
            raise UsageError(f"--device cuda: {error}") from None
        return "cpu", f"{prog}: training on the CPU ({error})"
    return "cuda", None


def _resolve_webgpu(settings: Any, prog: str) -> tuple[str, str]:
    """("webgpu", the adapter line for stderr), or UsageError (exit 2, nothing written) when
    there is no adapter or the kernels cannot run the settings. `auto` does not probe WebGPU:
    finding an adapter costs seconds, and on lavapipe the CPU trainer is faster."""
    from gfxnn.webgpu import NoAdapterError, get_gpu
    from gfxnn.webgpu.fitter import check_supported

    try:
        with stdout_to_stderr():  # a driver's start-up chatter (lavapipe's warning) is no result
            name = get_gpu().name
        check_supported(settings)
    except (NoAdapterError, ValueError) as error:
        raise UsageError(f"--device webgpu: {error}") from None
    return "webgpu", f"{prog}: WebGPU adapter {name}"
