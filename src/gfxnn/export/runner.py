"""Run an exported compute shader for real: wgpu on a Vulkan device (Mesa's lavapipe, the CPU
driver, by default), GLSL and HLSL through SPIR-V compiled by glslangValidator.

This is how the tests prove that the emitted code computes what the model computes, and how
docs/images/export_*.png were made. It needs `wgpu` (pip) and, for GLSL/HLSL, `glslangValidator`
(Debian: glslang-tools); for the CPU driver, Debian's mesa-vulkan-drivers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ShaderToolError", "compile_spirv", "glslang_path", "run_compute"]


class ShaderToolError(RuntimeError):
    """A shader tool is missing, or it rejected the code (the message has its output)."""


def glslang_path() -> str | None:
    """The glslangValidator executable, or None when it is not installed."""
    return shutil.which("glslangValidator")


def compile_spirv(
    code: str, language: str, stage: str = "comp", entry_point: str = "main"
) -> bytes:
    """SPIR-V for `code` ("glsl" or "hlsl"), compiled with glslangValidator -V (Vulkan)."""
    tool = glslang_path()
    if tool is None:
        raise ShaderToolError("glslangValidator is not installed (Debian: glslang-tools)")
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / f"shader.{stage}"
        target = Path(folder) / "shader.spv"
        source.write_text(code)
        command = [tool, "-V", "-S", stage, "-e", entry_point, "-o", str(target)]
        if language == "hlsl":
            command += ["-D", "--hlsl-iomap"]
        elif language != "glsl":
            raise ValueError(f"compile_spirv compiles glsl or hlsl, not {language!r}")
        result = subprocess.run(
            [*command, str(source)], capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            raise ShaderToolError(f"glslangValidator rejected the {language}:\n{result.stdout}")
        return target.read_bytes()


def request_device(force_fallback_adapter: bool = True, backend: str = "Vulkan") -> Any:
    """A wgpu device on `backend`; the fallback (CPU: lavapipe) adapter unless told otherwise.

    The backend is asked for through wgpu's WGPU_BACKEND_TYPE variable, unless that is already
    set (then it wins). HLSL has no write-only texture, so the HLSL wrapper's RWTexture2D is
    read-write, which WebGPU allows for rgba32float only with the native feature
    "texture-adapter-specific-format-features"; it is requested when the adapter has it.
    """
    import wgpu

    saved = os.environ.get("WGPU_BACKEND_TYPE")
    os.environ.setdefault("WGPU_BACKEND_TYPE", backend)
    try:
        adapter = wgpu.gpu.request_adapter_sync(
            power_preference="low-power", force_fallback_adapter=force_fallback_adapter
        )
    except RuntimeError as error:  # wgpu-native reports "no adapter" as an error
        raise ShaderToolError(
            f"wgpu found no {backend} adapter (for lavapipe install mesa-vulkan-drivers): "
            + str(error).strip().splitlines()[-1]
        ) from None
    finally:
        if saved is None:
            del os.environ["WGPU_BACKEND_TYPE"]
    if adapter is None:
        raise ShaderToolError("wgpu found no adapter (install mesa-vulkan-drivers for lavapipe)")
    wanted = ["texture-adapter-specific-format-features"]
    return adapter.request_device_sync(
        required_features=[feature for feature in wanted if feature in adapter.features]
    )


def run_compute(
    code: str | bytes,
    width: int,
    height: int,
    device: Any | None = None,
    buffer: bytes | None = None,
) -> np.ndarray:
    """Run a compute wrapper (WGSL source, or SPIR-V bytes from compile_spirv) on a
    width x height rgba32float storage image (binding 0); `buffer`, when given, is bound as the
    read-only storage buffer at binding 1 (a grid's table). Returns the image (height, width,
    4) float32."""
    import wgpu

    device = device or request_device()
    module = device.create_shader_module(code=code)
    texture = device.create_texture(
        size=(width, height, 1),
        format=wgpu.TextureFormat.rgba32float,
        usage=wgpu.TextureUsage.STORAGE_BINDING | wgpu.TextureUsage.COPY_SRC,
    )
    pipeline = device.create_compute_pipeline(
        layout="auto", compute={"module": module, "entry_point": "main"}
    )
    entries: list[dict[str, Any]] = [{"binding": 0, "resource": texture.create_view()}]
    if buffer is not None:
        storage = device.create_buffer_with_data(data=buffer, usage=wgpu.BufferUsage.STORAGE)
        entries.append({"binding": 1, "resource": {"buffer": storage}})
    bind_group = device.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=entries)
    encoder = device.create_command_encoder()
    compute_pass = encoder.begin_compute_pass()
    compute_pass.set_pipeline(pipeline)
    compute_pass.set_bind_group(0, bind_group)
    compute_pass.dispatch_workgroups(-(-width // 8), -(-height // 8), 1)
    compute_pass.end()
    device.queue.submit([encoder.finish()])
    data = device.queue.read_texture(
        {"texture": texture},
        {"bytes_per_row": 16 * width, "rows_per_image": height},
        (width, height, 1),
    )
    return np.frombuffer(data, np.float32).reshape(height, width, 4).copy()
