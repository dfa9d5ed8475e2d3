"""`WebGpuTrainer`: the fused training step as WGSL compute shaders (gfxnn.fields.Trainer).

A step is a few dispatches in one compute pass (wgsl/*.wgsl): per slice of the batch
`forward` and `backward` (one thread per row) and `weight_gradient` (one thread per parameter and
chunk of rows, one partial sum each), then `reduce_loss` (one workgroup), `optimize` (one
thread per parameter) and, for a grid, `optimize_table`. Many steps go into one queue
submission; each step's numbers (its index, Adam's bias corrections, the activations) are a
record of a uniform buffer bound at a dynamic offset, so nothing waits for the host. Losses
land in a ring read back asynchronously (`gfxnn.webgpu.readback`); a non-finite loss marks the
step on the device and every later kernel does nothing, so the weights stay those of the last
good step.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from gfxnn.encodings import grid_kernels
from gfxnn.fields.trainer import ModelSpec, OptimizerSpec
from gfxnn.fused.mlp import FusedMLP
from gfxnn.webgpu import layout
from gfxnn.webgpu.device import get_gpu
from gfxnn.webgpu.readback import LossReader
from gfxnn.webgpu.shaders import bind_group_layout, pipeline

__all__ = ["WebGpuTrainer"]

RECORD = 256  # bytes per uniform record (WebGPU's default min-uniform-buffer-offset-alignment)
TABLE = "encoding.table"


def _groups(n_threads: int, per_group: int = 64) -> tuple[int, int]:
    """(x, y) workgroup counts for n_threads in 1-D kernels that fold y into x."""
    groups = max(1, -(-n_threads // per_group))
    x = min(groups, 32768)
    return x, -(-groups // x)


def _optimizer_words(spec: OptimizerSpec, t: int) -> list[float]:
    """OptimizerStep of wgsl/bindings.wgsl for Adam's step t, in float64 then rounded."""
    b1, b2 = spec.betas
    if spec.name == "adam":
        rate = spec.learning_rate / (1.0 - b1**t)
        sqrt_c2 = math.sqrt(1.0 - b2**t)
    else:
        rate, sqrt_c2 = spec.learning_rate, 1.0
    return [rate, sqrt_c2, b1, 1.0 - b1, b2, 1.0 - b2, spec.epsilon, spec.l2_reg]


class WebGpuTrainer:
    """Encoding + MLP + loss + optimizers of `spec` in WebGPU compute shaders.

    Args:
        spec: the model (see `gfxnn.fields.trainer`); ValueError names what the kernels
            cannot run (widths over 128, encodings other than identity, frequency, one-blob,
            triangle wave and the grids).
        target: what `train` fits (a `gfxnn.fields.targets.Target` on a regular grid, e.g.
            an ImageTarget); None for a trainer fed by `compute_gradients` only.
        loss_slots: length of the loss ring, also the most steps per queue submission.
        steps_per_submit: training steps encoded into one submission.
    """

    def __init__(
        self,
        spec: ModelSpec,
        target: Any = None,
        *,
        loss_slots: int = 1024,
        steps_per_submit: int = 64,
    ) -> None:
        if not 2 <= loss_slots <= 16384:
            raise ValueError(f"loss_slots must be in 2..16384, got {loss_slots}")
        if not 1 <= steps_per_submit <= loss_slots:
            raise ValueError(f"steps_per_submit must be in 1..{loss_slots}, got {steps_per_submit}")
        self.spec = spec
        self.plan = layout.model_plan(spec)
        self.gpu = get_gpu()
        self.adapter_name = self.gpu.name
        self.loss_slots = loss_slots
        self.steps_per_submit = steps_per_submit
        import wgpu

        self._wgpu = wgpu
        device = self.gpu.device
        usage = wgpu.BufferUsage
        n_weights = self.plan.n_params + self.plan.n_table
        self._weights = self._buffer(4 * n_weights)
        self._moments = self._buffer(8 * n_weights)
        self._accum = self._buffer(12 * max(1, self.plan.n_table))
        self._grads_out = self._buffer(4 * n_weights)
        self._steps_uniform = device.create_buffer(
            size=RECORD * steps_per_submit, usage=usage.UNIFORM | usage.COPY_DST
        )
        self._reader = LossReader(device, loss_slots)
        self.steps = 0  # steps submitted over the trainer's life
        self.adam_t = 0  # steps since the optimizer state last restarted
        self._batch: layout.BatchPlan | None = None
        self._bind_group: Any = None
        self._target_words = np.zeros(0, np.float32)
        self._grid_size = (1, 1, 1)
        self._timings = {"training": [0.0, 0], "backpropagation": [0.0, 0]}
        self._timings.update(optimization=[0.0, 0], inference=[0.0, 0])
        self.set_target(target)
        self._initialize(np.random.default_rng(spec.seed))

    def _buffer(self, size: int) -> Any:
        usage = self._wgpu.BufferUsage
        return self.gpu.device.create_buffer(
            size=max(16, size), usage=usage.STORAGE | usage.COPY_DST | usage.COPY_SRC
        )

    # ----- parameters -------------------------------------------------------------------
    def _initialize(self, rng: np.random.Generator) -> None:
        """Xavier weights drawn as FusedMLP.initialize(rng), then a grid's table from the same
        generator (the CPU trainer's order)."""
        sizes = self.plan.sizes
        mlp = FusedMLP(sizes[0], sizes[-1], self.spec.n_neurons, self.spec.n_hidden_layers)
        mlp.initialize(rng)
        flat = [mlp.params]
        if self.plan.grid is not None:
            flat.append(grid_kernels.init_table(self.plan.grid, rng, np.float32).reshape(-1))
        self._load_flat(np.concatenate(flat).astype(np.float32))

    def _load_flat(self, flat: np.ndarray) -> None:
        queue = self.gpu.device.queue
        self._reader.flush()
        queue.write_buffer(self._weights, 0, flat.tobytes())
        n = self.plan.n_params + self.plan.n_table
        queue.write_buffer(self._moments, 0, np.zeros(2 * n, np.float32).tobytes())
        self._clear_accum()
        if self._batch is not None:  # the diverged word and the ring
            queue.write_buffer(self._losses, 0, np.zeros(1 + self.loss_slots, np.uint32).tobytes())
        self._reader.reset()
        self.adam_t = 0

    def _clear_accum(self) -> None:
        self.gpu.device.queue.write_buffer(
            self._accum, 0, np.zeros(3 * max(1, self.plan.n_table), np.uint32).tobytes()
        )

    def _flat(self) -> np.ndarray:
        self._reader.flush()
        return np.frombuffer(self.gpu.device.queue.read_buffer(self._weights), np.float32)

    def state_dict(self) -> dict[str, np.ndarray]:
        """`gfxnn.nn.MLP`'s names (layers.{i}.weight (out, in), .bias), plus "encoding.table"
        (flat) for a grid, float32 copies."""
        flat = self._flat()
        state: dict[str, np.ndarray] = {}
        offset = 0
        sizes = self.plan.sizes
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            state[f"layers.{i}.weight"] = flat[offset : offset + n_out * n_in].reshape(n_out, n_in)
            offset += n_out * n_in
            state[f"layers.{i}.bias"] = flat[offset : offset + n_out].copy()
            offset += n_out
        if self.plan.grid is not None:
            state[TABLE] = flat[offset : offset + self.plan.n_table].copy()
        return {name: value.copy() for name, value in state.items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Replace every parameter (names and shapes checked); the optimizer restarts."""
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict of arrays, got {type(state).__name__}")
        expected = self.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected), key=str)
        if missing or unexpected:
            raise ValueError(
                f"state dict does not match the network {list(self.plan.sizes)}: "
                f"missing {missing}, unexpected {unexpected}"
            )
        parts = []
        for name, target in expected.items():
            value = np.asarray(state[name], np.float32)
            if value.size != target.size or (value.shape != target.shape and name != TABLE):
                raise ValueError(
                    f"{name} has shape {value.shape}, the network needs {target.shape}"
                )
            if not np.all(np.isfinite(value)):
                raise ValueError(f"{name} holds NaN or infinite values")
            parts.append(value.reshape(-1))
        self._load_flat(np.concatenate(parts))

    def set_learning_rates(self, network: float, encoding: float | None) -> None:
        """New learning rates from the next step on; Adam's moments stay."""
        spec = self.spec.replace(optimizer=self._with_rate(self.spec.optimizer, network))
        if encoding is not None and spec.encoding_optimizer is not None:
            spec = spec.replace(
                encoding_optimizer=self._with_rate(spec.encoding_optimizer, encoding)
            )
        self.spec = spec

    @staticmethod
    def _with_rate(spec: OptimizerSpec, rate: float) -> OptimizerSpec:
        import dataclasses

        return dataclasses.replace(spec, learning_rate=float(rate))

    # ----- target and batch -------------------------------------------------------------
    def set_target(self, target: Any) -> None:
        """Draw batches from `target` from now on (its reference() on a grid of
        n_input_dims axes, n_output_dims channels); weights and optimizer state stay."""
        self.target = target
        if target is None:
            self._target_words = np.zeros(self.spec.n_output_dims, np.float32)
            self._grid_size = (1, 1, 1)
        else:
            reference = np.ascontiguousarray(target.reference(), np.float32)
            d, c = self.spec.n_input_dims, self.spec.n_output_dims
            if reference.ndim != d + 1 or reference.shape[-1] != c:
                raise ValueError(
                    f"the target's samples have shape {reference.shape}; the model needs "
                    f"{d} grid axes and {c} channels"
                )
            self._target_words = reference.reshape(-1)
            sizes = reference.shape[:-1][::-1]  # x_0 is the last axis
            self._grid_size = (*sizes, *([1] * (3 - d)))
        if self._batch is not None:
            self._allocate(self._batch.batch, force=True)

    def _allocate(self, batch: int, force: bool = False) -> None:
        if self._batch is not None and self._batch.batch == batch and not force:
            return
        self._reader.flush()
        diverged = self._reader.diverged
        sizes = self.plan.sizes
        acts_columns = sum(sizes[:-1])
        delta_columns = sum(sizes[1:])
        limit = self.gpu.device.limits["max-storage-buffer-binding-size"]
        plan = layout.batch_plan(batch, max(acts_columns, delta_columns), limit)
        if 4 * plan.n_chunks * self.plan.n_params > limit:
            raise ValueError(
                f"batch {batch}: {plan.n_chunks} partial sums of {self.plan.n_params} "
                "parameters exceed the adapter's largest storage binding"
            )
        self._batch = plan
        rows = plan.slice_rows
        self._acts = self._buffer(4 * acts_columns * rows)
        self._deltas = self._buffer(4 * delta_columns * rows)
        self._partials = self._buffer(4 * plan.n_chunks * self.plan.n_params)
        self._losses = self._buffer(4 * (1 + self.loss_slots + plan.padded))
        words = np.zeros(1 + self.loss_slots, np.uint32)
        words[0] = diverged
        self.gpu.device.queue.write_buffer(self._losses, 0, words.tobytes())
        d, c = self.spec.n_input_dims, self.spec.n_output_dims
        uv_at = self._target_words.size
        self._host_at = (uv_at, uv_at + plan.padded * d)
        self._data = self._buffer(4 * (uv_at + plan.padded * (d + c)))
        self.gpu.device.queue.write_buffer(self._data, 0, self._target_words.tobytes())
        self._meta = self._meta_buffer(self._grid_size, *self._host_at)
        slices = np.zeros((plan.n_slices, RECORD // 4), np.uint32)
        per_slice = plan.slice_rows // plan.chunk_rows
        for k in range(plan.n_slices):
            slices[k, :3] = (k * plan.slice_rows, plan.slice_rows, k * per_slice)
        self._slices = self.gpu.device.create_buffer_with_data(
            data=slices.tobytes(), usage=self._wgpu.BufferUsage.UNIFORM
        )
        self._bind_group = self._make_bind_group(self._data, self._grads_out, self._slices)

    def _meta_buffer(self, grid_size: tuple[int, ...], uv_at: int, target_at: int) -> Any:
        header = np.zeros(layout.META_LEVELS, np.uint32)
        header[:3] = grid_size
        header[3:5] = (uv_at, target_at)
        words = np.concatenate([header, self.plan.meta_levels])
        return self.gpu.device.create_buffer_with_data(
            data=words.astype(np.uint32).tobytes(), usage=self._wgpu.BufferUsage.STORAGE
        )

    def _make_bind_group(self, data: Any, output: Any, slices: Any) -> Any:
        buffers = [self._weights, self._moments, self._acts, self._deltas, self._partials]
        buffers += [self._losses, self._accum, data, self._meta, output]
        entries = [
            {"binding": 0, "resource": {"buffer": self._steps_uniform, "offset": 0, "size": 112}},
            {"binding": 1, "resource": {"buffer": slices, "offset": 0, "size": 32}},
        ]
        entries += [
            {"binding": b, "resource": {"buffer": buffer}}
            for b, buffer in enumerate(buffers, start=2)
        ]
        return self.gpu.device.create_bind_group(
            layout=bind_group_layout(self.gpu), entries=entries
        )

    def _constants(self, sample: bool) -> dict[str, float]:
        plan, spec = self._batch, self.spec
        assert plan is not None
        n = plan.batch * spec.n_output_dims
        return {
            **self.plan.constants,
            "SAMPLE": int(sample),
            "BATCH": plan.batch,
            "SLICE_ROWS": plan.slice_rows,
            "CHUNK_ROWS": plan.chunk_rows,
            "N_CHUNKS": plan.n_chunks,
            "INV_N": float(np.float32(1.0 / n)),
            "LOSS_SLOTS": self.loss_slots,
        }

    # ----- the step's dispatches ---------------------------------------------------------
    def _write_records(self, first_step: int, first_t: int, count: int) -> None:
        """Step records (wgsl/bindings.wgsl's Step) of steps first_step.. at Adam's first_t.."""
        records = np.zeros((count, RECORD // 4), np.uint32)
        spec = self.spec
        table = spec.encoding_optimizer or spec.optimizer
        n = (self._batch.batch if self._batch else 1) * spec.n_output_dims
        loss_scale = (1.0 if spec.loss == "l1" else 2.0) / n
        for k in range(count):
            step, t = first_step + k, first_t + k
            records[k, :3] = (step, (step - 1) % self.loss_slots, spec.seed % 2**32)
            records[k, 3:8] = self.plan.choices
            numbers = [loss_scale, 0.0, 0.0, 0.0]
            numbers += _optimizer_words(spec.optimizer, t) + _optimizer_words(table, t)
            records[k, 8:28] = np.array(numbers, np.float32).view(np.uint32)
        self.gpu.device.queue.write_buffer(self._steps_uniform, 0, records.tobytes())

    def _encode_gradients(self, compute_pass: Any, record: int, sample: bool) -> None:
        plan = self._batch
        assert plan is not None
        constants = self._constants(sample)
        forward = pipeline(self.gpu, "train.wgsl", "forward", constants)
        backward = pipeline(self.gpu, "train.wgsl", "backward", constants)
        gradient = pipeline(self.gpu, "gradient.wgsl", "weight_gradient", constants)
        for k in range(plan.n_slices):
            compute_pass.set_bind_group(0, self._bind_group, [RECORD * record, RECORD * k])
            for kernel in (forward, backward):
                compute_pass.set_pipeline(kernel)
                compute_pass.dispatch_workgroups(plan.slice_rows // 64)
            compute_pass.set_pipeline(gradient)
            chunks = plan.slice_rows // plan.chunk_rows
            compute_pass.dispatch_workgroups(*_groups(self.plan.n_params), chunks)
        compute_pass.set_bind_group(0, self._bind_group, [RECORD * record, 0])
        compute_pass.set_pipeline(pipeline(self.gpu, "train.wgsl", "reduce_loss", constants))
        compute_pass.dispatch_workgroups(1)

    def _encode_update(self, compute_pass: Any, record: int) -> None:
        constants = self._constants(False)
        compute_pass.set_bind_group(0, self._bind_group, [RECORD * record, 0])
        compute_pass.set_pipeline(pipeline(self.gpu, "gradient.wgsl", "optimize", constants))
        compute_pass.dispatch_workgroups(*_groups(self.plan.n_params))
        if self.plan.n_table:
            kernel = pipeline(self.gpu, "gradient.wgsl", "optimize_table", constants)
            compute_pass.set_pipeline(kernel)
            compute_pass.dispatch_workgroups(*_groups(self.plan.n_table))

    def _submit(self, encode: Any) -> Any:
        encoder = self.gpu.device.create_command_encoder()
        compute_pass = encoder.begin_compute_pass()
        encode(compute_pass)
        compute_pass.end()
        return encoder

    # ----- host-fed batches (synchronous; tests and the controller's single step) ---------
    def compute_gradients(self, inputs: np.ndarray, targets: np.ndarray) -> float:
        """Encode, forward, loss and backward of the host's batch; returns its loss."""
        d, c = self.spec.n_input_dims, self.spec.n_output_dims
        inputs = np.ascontiguousarray(inputs, np.float32)
        targets = np.ascontiguousarray(targets, np.float32)
        if inputs.ndim != 2 or inputs.shape[1] != d or targets.shape != (len(inputs), c):
            raise ValueError(
                f"inputs must be (B, {d}) and targets (B, {c}); got {inputs.shape}, {targets.shape}"
            )
        self._check_not_diverged()
        start = time.perf_counter()
        self._allocate(len(inputs))
        queue = self.gpu.device.queue
        queue.write_buffer(self._data, 4 * self._host_at[0], inputs.tobytes())
        queue.write_buffer(self._data, 4 * self._host_at[1], targets.tobytes())
        self._clear_accum()
        self._write_records(self.steps + 1, self.adam_t + 1, 1)
        queue.submit([self._submit(lambda p: self._encode_gradients(p, 0, False)).finish()])
        words = np.frombuffer(
            queue.read_buffer(self._losses, 0, 4 * (1 + self.loss_slots)), np.uint32
        )
        self._add_time("backpropagation", start, 1)
        if words[0]:
            self._reader.diverged = int(words[0])
        return float(words[1:].view(np.float32)[self.steps % self.loss_slots])

    def update(self) -> None:
        """The optimizer step on the gradients of the last compute_gradients."""
        start = time.perf_counter()
        queue = self.gpu.device.queue
        queue.submit([self._submit(lambda p: self._encode_update(p, 0)).finish()])
        queue.read_buffer(self._losses, 0, 4)  # waits for the step
        self.steps += 1
        self.adam_t += 1
        self._add_time("optimization", start, 1)

    def gradients(self) -> np.ndarray:
        """The summed gradients of the last compute_gradients: network (FusedMLP.params
        layout), then the grid table (flat)."""
        constants = self._constants(False)
        kernel = pipeline(self.gpu, "gradient.wgsl", "read_gradients", constants)
        n = self.plan.n_params + self.plan.n_table
        self._write_records(self.steps + 1, self.adam_t + 1, 1)

        def encode(compute_pass: Any) -> None:
            compute_pass.set_bind_group(0, self._bind_group, [0, 0])
            compute_pass.set_pipeline(kernel)
            compute_pass.dispatch_workgroups(*_groups(n))

        queue = self.gpu.device.queue
        queue.submit([self._submit(encode).finish()])
        return np.frombuffer(queue.read_buffer(self._grads_out, 0, 4 * n), np.float32).copy()

    def last_features(self) -> np.ndarray:
        """The encoded features of the last batch's first slice, (rows, n_features), as the
        device computed them (for tests and the agreement figures of benchmarks/webgpu.py)."""
        plan = self._batch
        if plan is None:
            raise RuntimeError("last_features() needs a batch first (compute_gradients)")
        self._reader.flush()
        rows, n_features = plan.slice_rows, self.plan.sizes[0]
        words = self.gpu.device.queue.read_buffer(self._acts, 0, 4 * rows * n_features)
        features = np.frombuffer(words, np.float32).reshape(n_features, rows).T
        return features[: min(rows, plan.batch)].copy()

    def _check_not_diverged(self) -> None:
        if self.diverged_at():
            raise RuntimeError(
                f"training diverged at step {self.diverged_at()}; load_state_dict() restarts it"
            )

    # ----- the training loop (device sampling, no host synchronisation) -----------------
    def train(self, n_steps: int, batch_size: int) -> None:
        """`n_steps` steps on batches drawn on the device; returns once they are submitted."""
        if self.target is None:
            raise ValueError("this trainer has no target to draw batches from")
        if self._reader.diverged:
            return
        start = time.perf_counter()
        self._allocate(batch_size)
        queue = self.gpu.device.queue
        done = 0
        while done < n_steps:
            count = min(self.steps_per_submit, n_steps - done)
            self._write_records(self.steps + 1, self.adam_t + 1, count)

            def encode(compute_pass: Any, count: int = count) -> None:
                for k in range(count):
                    self._encode_gradients(compute_pass, k, True)
                    self._encode_update(compute_pass, k)

            encoder = self._submit(encode)
            self._reader.after_submit(encoder, self._losses, self.steps + 1, self.steps + count)
            queue.submit([encoder.finish()])
            self._reader.submitted()
            self.steps += count
            self.adam_t += count
            done += count
        self._add_time("training", start, 0)
        self._timings["training"][1] += n_steps

    def read_losses(self) -> list[float]:
        """Losses of the good steps submitted since the last call (waits for the device)."""
        return self._reader.losses()

    def diverged_at(self) -> int:
        """The first step whose loss was not finite (1-based, over the trainer's life), or 0."""
        self._reader.flush()
        return self._reader.diverged

    def timings_ms(self) -> dict[str, float]:
        """Mean ms per step: "training" (host time to encode and submit a step of `train`),
        "device" (submission to loss read back, per step: the device's time at most),
        "backpropagation" / "optimization" (host-fed calls, synchronous), "inference"."""
        times = {name: 1e3 * t / n if n else 0.0 for name, (t, n) in self._timings.items()}
        reader = self._reader
        times["device"] = 1e3 * reader.busy_seconds / max(1, reader.steps_read)
        return times

    def _add_time(self, name: str, start: float, count: int) -> None:
        self._timings[name][0] += time.perf_counter() - start
        self._timings[name][1] += count

    # ----- inference: one dispatch -----------------------------------------------------
    def infer(self, inputs: np.ndarray) -> np.ndarray:
        """(N, n_output_dims) network output at inputs (N, n_input_dims)."""
        inputs = np.ascontiguousarray(inputs, np.float32)
        d = self.spec.n_input_dims
        if inputs.ndim != 2 or inputs.shape[1] != d:
            raise ValueError(f"inputs must be (N, {d}), got {inputs.shape}")
        return self._run_inference(inputs.reshape(-1), len(inputs), (0, 0, 0))

    def render(self, shape: tuple[int, ...]) -> np.ndarray:
        """Inference on the grid of `shape` ((H, W) for (u, v)); sample i of an axis of size n
        at i / (n - 1). Returns (*shape, n_output_dims)."""
        shape = tuple(int(n) for n in shape)
        d = self.spec.n_input_dims
        if len(shape) != d or min(shape) < 1:
            raise ValueError(f"render needs {d} positive sizes (last input first), got {shape}")
        axes = shape[::-1]  # x_0 first
        # Coordinates divided in float64, then rounded: the CPU trainers' numbers.
        coords = [(np.arange(n) / max(n - 1, 1)).astype(np.float32) for n in axes]
        out = self._run_inference(np.concatenate(coords), math.prod(shape), (*axes, 0, 0)[:3])
        return out.reshape(*shape, self.spec.n_output_dims)

    def _run_inference(self, data: np.ndarray, n_points: int, size: tuple[int, ...]) -> np.ndarray:
        start = time.perf_counter()
        if self._batch is None:
            self._allocate(1)
        self._reader.flush()
        self._write_records(self.steps + 1, self.adam_t + 1, 1)
        usage = self._wgpu.BufferUsage
        device = self.gpu.device
        c = self.spec.n_output_dims
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
        bind_group = self._make_bind_group(points, output, slices)
        kernel = pipeline(self.gpu, "infer.wgsl", "infer", self._constants(False))

        def encode(compute_pass: Any) -> None:
            compute_pass.set_bind_group(0, bind_group, [0, 0])
            compute_pass.set_pipeline(kernel)
            compute_pass.dispatch_workgroups(*_groups(n_points))

        device.queue.submit([self._submit(encode).finish()])
        result = np.frombuffer(device.queue.read_buffer(output), np.float32)[: n_points * c]
        self._add_time("inference", start, 1)
        return result.reshape(n_points, c).copy()
