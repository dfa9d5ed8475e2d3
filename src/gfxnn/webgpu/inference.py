"""Inference of a `WebGpuTrainer`'s network: one dispatch of `infer` for a whole grid (a full
frame) or a list of points, in float32, or in float16 (`precision="fp16"`: infer_f16.wgsl, on
adapters with the "shader-f16" feature)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from gfxnn.webgpu.layout import workgroups
from gfxnn.webgpu.records import RECORD
from gfxnn.webgpu.shaders import pipeline

if TYPE_CHECKING:
    from gfxnn.webgpu.trainer import WebGpuTrainer

__all__ = ["KERNELS", "infer_points", "render_grid"]

# precision -> the inference shader
KERNELS = {"fp32": "infer.wgsl", "fp16": "infer_f16.wgsl"}


def infer_points(trainer: WebGpuTrainer, inputs: np.ndarray) -> np.ndarray:
    """(N, n_output_dims) network output at inputs (N, n_input_dims)."""
    inputs = np.ascontiguousarray(inputs, np.float32)
    d = trainer.spec.n_input_dims
    if inputs.ndim != 2 or inputs.shape[1] != d:
        raise ValueError(f"inputs must be (N, {d}), got {inputs.shape}")
    return _run(trainer, inputs.reshape(-1), len(inputs), (0, 0, 0))


def render_grid(trainer: WebGpuTrainer, shape: tuple[int, ...]) -> np.ndarray:
    """Inference on the grid of `shape` (last input dimension first); sample i of an axis of
    size n at i / (n - 1). Returns (*shape, n_output_dims)."""
    shape = tuple(int(n) for n in shape)
    d = trainer.spec.n_input_dims
    if len(shape) != d or min(shape) < 1:
        raise ValueError(f"render needs {d} positive sizes (last input first), got {shape}")
    axes = shape[::-1]  # x_0 first
    # Coordinates divided in float64, then rounded: the CPU trainers' numbers.
    coords = [(np.arange(n) / max(n - 1, 1)).astype(np.float32) for n in axes]
    out = _run(trainer, np.concatenate(coords), math.prod(shape), (*axes, 0, 0)[:3])
    return out.reshape(*shape, trainer.spec.n_output_dims)


def _run(trainer: WebGpuTrainer, data: np.ndarray, n_points: int, size: tuple[int, ...]) -> Any:
    import wgpu

    if trainer._batch is None:
        trainer._allocate(1)
    trainer._sync()  # the steps encoded so far come first
    trainer._write_record(trainer.steps + 1)  # the activations
    usage = wgpu.BufferUsage
    gpu = trainer.gpu
    device = gpu.device
    c = trainer.spec.n_output_dims
    points = device.create_buffer_with_data(
        data=np.concatenate([data, np.zeros(4, np.float32)]).tobytes(), usage=usage.STORAGE
    )
    output = device.create_buffer(
        size=max(16, 4 * n_points * c), usage=usage.STORAGE | usage.COPY_SRC
    )
    record = np.zeros(RECORD // 4, np.uint32)
    record[:4] = (0, n_points, 0, n_points)
    record[4:7] = size
    slices = device.create_buffer_with_data(data=record.tobytes(), usage=usage.UNIFORM)
    bind_group = trainer._make_bind_group(points, output, slices)
    file = KERNELS[trainer.controls.precision]
    kernel = pipeline(gpu, file, "infer", trainer._constants(False))

    def encode(compute_pass: Any) -> None:
        compute_pass.set_bind_group(0, bind_group, [0, 0])
        compute_pass.set_pipeline(kernel)
        compute_pass.dispatch_workgroups(*workgroups(n_points))

    device.queue.submit([trainer._submit(encode).finish()])
    result = np.frombuffer(device.queue.read_buffer(output), np.float32)[: n_points * c]
    return result.reshape(n_points, c).copy()
