"""`WebGpuTrainer`: the fused training step as WGSL compute shaders (gfxnn.fields.Trainer).

A step is a few dispatches in one compute pass (wgsl/*.wgsl): per slice of the batch
`forward` and `backward` (one thread per row) and `weight_gradient` (one thread per parameter and
chunk of rows, one partial sum each), then `reduce_loss` (one workgroup), for the "norm" clip
`gradient_norm` and `clip_scale`, `optimize` (one thread per parameter; not dispatched while
the network is frozen) and, for a grid, `optimize_table` (`clear_table_gradient` instead
while the grid is frozen). Many steps go into one queue submission; each step's numbers (its
index, learning rates and Adam's bias corrections, the activations, the clip) are a record of
a uniform buffer bound at a dynamic offset (`gfxnn.webgpu.records`), so nothing waits for the
host and the rates may change at every step. Losses land in a ring read back asynchronously
(`gfxnn.webgpu.readback`); a non-finite loss marks the step on the device and every later
kernel does nothing, so the weights stay those of the last good step.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from gfxnn.encodings import grid_kernels
from gfxnn.fields.trainer import ModelSpec
from gfxnn.fused.mlp import FusedMLP
from gfxnn.webgpu import batches, inference, layout, state
from gfxnn.webgpu.device import check_precision, get_gpu
from gfxnn.webgpu.readback import LossReader
from gfxnn.webgpu.records import (
    LIVE_CONTROLS,
    RECORD,
    RECORD_BINDING,
    Controls,
    step_record,
    switched_controls,
    with_rates,
)
from gfxnn.webgpu.shaders import bind_group_layout, pipeline

__all__ = ["LIVE_CONTROLS", "WebGpuTrainer"]

NORM_GROUPS = 256  # wgsl/bindings.wgsl: gradient_norm's most workgroups
HOST_OFFSET = 31  # the Step record's word host_offset


class WebGpuTrainer:
    """Encoding + MLP + loss + optimizers of `spec` in WebGPU compute shaders.

    Args:
        spec: the model (see `gfxnn.fields.trainer`), MLPZen's controls included;
            ValueError names what the kernels cannot run (widths over 128, encodings other
            than identity, frequency, one-blob, triangle wave and the grids, precision "fp16"
            on an adapter without the "shader-f16" feature).
        target: what `train` fits (a `gfxnn.fields.targets.Target` on a regular grid, e.g.
            an ImageTarget); None for a trainer fed by `compute_gradients` only.
        loss_slots: length of the loss ring, also the most steps per queue submission.
        steps_per_submit: training steps encoded into one submission. `train` submits each
            full batch of them; the rest wait, encoded, for the next `train` call or for
            anything that reads or changes the trainer's buffers (losses, weights, render),
            so `set_learning_rates(...)` then `train(1)`, step after step (a schedule), is
            batched too: every step's record keeps the rates it was given.
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
        self.controls = Controls.of(spec)
        self.gpu = get_gpu()
        self.adapter_name = self.gpu.name
        self._check_precision(self.controls)
        self.loss_slots = loss_slots
        self.steps_per_submit = steps_per_submit
        import wgpu

        self._wgpu = wgpu
        device = self.gpu.device
        usage = wgpu.BufferUsage
        n_weights = self.plan.n_params + self.plan.n_table
        self._weights = self._buffer(4 * n_weights)
        self._moments = self._buffer(8 * n_weights)  # Adam's m then v, network then table
        self._accum = self._buffer(12 * max(1, self.plan.n_table))
        self._grads_out = self._buffer(4 * n_weights)
        self._steps_uniform = device.create_buffer(
            size=RECORD * steps_per_submit, usage=usage.UNIFORM | usage.COPY_DST
        )
        self._reader = LossReader(device, loss_slots)
        self.steps = 0  # steps encoded over the trainer's life
        # Adam's t of each optimizer: its steps since its state last restarted (a frozen
        # part takes none, as the CPU trainer's optimizer is then not called)
        self.t_network = self.t_table = 0
        # Steps encoded but not submitted yet: their pass and records (see `train`).
        self._encoder: Any = None
        self._pass: Any = None
        self._pending = 0
        self._records = np.zeros((steps_per_submit, RECORD // 4), np.uint32)
        self._batch: layout.BatchPlan | None = None
        self._bind_group: Any = None
        self._target_words = np.zeros(0, np.float32)
        self._grid_size = (1, 1, 1)
        self._timings = {"training": [0.0, 0], "backpropagation": [0.0, 0]}
        self._timings.update(optimization=[0.0, 0], inference=[0.0, 0])
        # host-drawn batches (gfxnn.webgpu.batches): the CPU trainer's generator
        self._sample_rng = np.random.default_rng([spec.seed, 1])
        self.set_target(target)
        self._initialize(np.random.default_rng(spec.seed))

    def _buffer(self, size: int) -> Any:
        usage = self._wgpu.BufferUsage
        return self.gpu.device.create_buffer(
            size=max(16, size), usage=usage.STORAGE | usage.COPY_DST | usage.COPY_SRC
        )

    # ----- parameters -------------------------------------------------------------------
    def _initialize(self, rng: np.random.Generator) -> None:
        """Weights drawn on the host as FusedMLP.initialize(rng, spec.initialization), then a
        grid's table from the same generator (the CPU trainer's order)."""
        sizes = self.plan.sizes
        mlp = FusedMLP(sizes[0], sizes[-1], self.spec.n_neurons, self.spec.n_hidden_layers)
        mlp.initialize(rng, self.spec.initialization)
        flat = [mlp.params]
        if self.plan.grid is not None:
            flat.append(grid_kernels.init_table(self.plan.grid, rng, np.float32).reshape(-1))
        self._load_flat(np.concatenate(flat).astype(np.float32))

    def _load_flat(self, flat: np.ndarray) -> None:
        queue = self.gpu.device.queue
        self._sync()
        queue.write_buffer(self._weights, 0, flat.tobytes())
        n = self.plan.n_params + self.plan.n_table
        queue.write_buffer(self._moments, 0, np.zeros(2 * n, np.float32).tobytes())
        self._clear_accum()
        if self._batch is not None:  # the diverged word and the ring
            queue.write_buffer(self._losses, 0, np.zeros(1 + self.loss_slots, np.uint32).tobytes())
        self._reader.reset()
        self.t_network = self.t_table = 0

    def _clear_accum(self) -> None:
        self._submit_pending()
        self.gpu.device.queue.write_buffer(
            self._accum, 0, np.zeros(3 * max(1, self.plan.n_table), np.uint32).tobytes()
        )

    def _flat(self) -> np.ndarray:
        self._sync()
        return np.frombuffer(self.gpu.device.queue.read_buffer(self._weights), np.float32)

    def state_dict(self) -> dict[str, np.ndarray]:
        """`gfxnn.nn.MLP`'s names (layers.{i}.weight (out, in), .bias), plus "encoding.table"
        (flat) for a grid, float32 copies."""
        return state.unflatten(self.plan, self._flat())

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of Adam's (m, v), each flat: the network's (FusedMLP.params layout), then the
        table's (zeros for SGD)."""
        self._sync()
        words = np.frombuffer(self.gpu.device.queue.read_buffer(self._moments), np.float32)
        return state.split_moments(self.plan, words)

    def load_state_dict(self, state_dict: dict[str, np.ndarray]) -> None:
        """Replace every parameter (names and shapes checked); the optimizer restarts."""
        self._load_flat(state.flatten(self.plan, self.state_dict(), state_dict))

    def set_learning_rates(self, network: float, encoding: float | None) -> None:
        """New learning rates from the next step on; Adam's moments stay. Host arithmetic
        only: steps already encoded keep their rates, the next ones get these in their
        records (no pipeline, no buffer, no submission)."""
        self.spec = with_rates(self.spec, network, encoding)

    def set_controls(self, spec: ModelSpec) -> None:
        """Switch to `spec`, which may differ from the trainer's only in LIVE_CONTROLS
        (freeze, clip, precision) and the learning rates: weights, Adam's moments, steps and
        the current rates (set_learning_rates owns them) stay; encoded steps keep the
        controls they were encoded with. ValueError (nothing changes) for any other
        difference or a value the backend cannot run."""
        controls = switched_controls(self.spec, spec)
        self._check_precision(controls)
        encoding = self.spec.encoding_optimizer
        rate = encoding.learning_rate if encoding else None
        self.spec = with_rates(spec, self.spec.optimizer.learning_rate, rate)
        self.controls = controls

    def _check_precision(self, controls: Controls) -> None:
        check_precision(self.gpu, controls.precision)

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
        self._device_samples = target is None or batches.device_samples(target)
        if self._batch is not None:
            self._allocate(self._batch.batch, force=True)

    def _allocate(self, batch: int, force: bool = False) -> None:
        if self._batch is not None and self._batch.batch == batch and not force:
            return
        self._sync()
        diverged = self._reader.diverged
        sizes = self.plan.sizes
        acts_columns = sum(sizes[:-1])
        delta_columns = sum(sizes[1:])
        limit = self.gpu.device.limits["max-storage-buffer-binding-size"]
        plan = layout.batch_plan(batch, max(acts_columns, delta_columns), limit)
        partials = plan.n_chunks * self.plan.n_params + NORM_GROUPS + 1
        if 4 * partials > limit:
            raise ValueError(
                f"batch {batch}: {plan.n_chunks} partial sums of {self.plan.n_params} "
                "parameters exceed the adapter's largest storage binding"
            )
        self._batch = plan
        rows = plan.slice_rows
        self._acts = self._buffer(4 * acts_columns * rows)
        self._deltas = self._buffer(4 * delta_columns * rows)
        self._partials = self._buffer(4 * partials)  # then the norm clip's sums and scale
        self._losses = self._buffer(4 * (1 + self.loss_slots + plan.padded))
        words = np.zeros(1 + self.loss_slots, np.uint32)
        words[0] = diverged
        self.gpu.device.queue.write_buffer(self._losses, 0, words.tobytes())
        d, c = self.spec.n_input_dims, self.spec.n_output_dims
        uv_at = self._target_words.size
        self._host_at = (uv_at, uv_at + plan.padded * d)
        self._host: batches.HostBatches | None = None
        blocks = 1
        if not self._device_samples:
            rng = self._sample_rng
            self._host = batches.HostBatches(self.target, rng, batch, plan.padded, d, c)
            blocks = self._host.blocks
        self._data = self._buffer(4 * (uv_at + blocks * plan.padded * (d + c)))
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
            {
                "binding": 0,
                "resource": {"buffer": self._steps_uniform, "offset": 0, "size": RECORD_BINDING},
            },
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
    def _step_record(self, step: int) -> np.ndarray:
        """The record of step `step` (1-based) with the current rates and controls, for the
        optimizers' next t (a frozen part's t does not advance)."""
        spec = self.spec
        n = (self._batch.batch if self._batch else 1) * spec.n_output_dims
        return step_record(
            spec,
            self.controls,
            self.plan.choices,
            step=step,
            slot=(step - 1) % self.loss_slots,
            loss_scale=(1.0 if spec.loss == "l1" else 2.0) / n,
            t_network=self.t_network + 1,
            t_table=self.t_table + 1,
            has_table=bool(self.plan.n_table),
        )

    def _write_record(self, step: int) -> None:
        """The record of `step` at offset 0, for a synchronous single step or a read."""
        self.gpu.device.queue.write_buffer(self._steps_uniform, 0, self._step_record(step))

    def _advance(self) -> None:
        """One step applied: the counters of the optimizers that took it."""
        self.steps += 1
        self.t_network += not self.controls.freeze_network
        self.t_table += bool(self.plan.n_table) and not self.controls.freeze_encoding

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
            compute_pass.dispatch_workgroups(*layout.workgroups(self.plan.n_params), chunks)
        compute_pass.set_bind_group(0, self._bind_group, [RECORD * record, 0])
        compute_pass.set_pipeline(pipeline(self.gpu, "train.wgsl", "reduce_loss", constants))
        compute_pass.dispatch_workgroups(1)

    def _encode_update(self, compute_pass: Any, record: int) -> None:
        """The optimizers' dispatches under the current controls: the norm clip's two
        reductions first; a frozen part's optimizer is not dispatched at all (its weights and
        moments are not even read), a frozen grid's fixed-point sums are cleared instead."""
        constants = self._constants(False)
        controls, plan = self.controls, self.plan

        def dispatch(entry_point: str, *groups: int) -> None:
            compute_pass.set_pipeline(pipeline(self.gpu, "gradient.wgsl", entry_point, constants))
            compute_pass.dispatch_workgroups(*groups)

        compute_pass.set_bind_group(0, self._bind_group, [RECORD * record, 0])
        if controls.clip == "norm" and controls.norm_parts(bool(plan.n_table)):
            # a fixed workgroup count per model, so unused partial sums stay 0
            dispatch("gradient_norm", min(NORM_GROUPS, -(-(plan.n_params + plan.n_table) // 256)))
            dispatch("clip_scale", 1)
        if not controls.freeze_network:
            dispatch("optimize", *layout.workgroups(plan.n_params))
        if plan.n_table:
            table = "clear_table_gradient" if controls.freeze_encoding else "optimize_table"
            dispatch(table, *layout.workgroups(plan.n_table))

    def _submit(self, encode: Any) -> Any:
        encoder = self.gpu.device.create_command_encoder()
        compute_pass = encoder.begin_compute_pass()
        encode(compute_pass)
        compute_pass.end()
        return encoder

    def _submit_pending(self) -> None:
        """Submit the steps `train` encoded and has not submitted yet (their records first)."""
        if self._pass is None:
            return
        self._pass.end()
        count = self._pending
        queue = self.gpu.device.queue
        queue.write_buffer(self._steps_uniform, 0, self._records[:count].tobytes())
        if self._host is not None:
            self._host.upload(queue, self._data, 4 * self._host_at[0], count)
        self._reader.after_submit(self._encoder, self._losses, self.steps - count + 1, self.steps)
        queue.submit([self._encoder.finish()])
        self._reader.submitted()
        self._encoder = self._pass = None
        self._pending = 0

    def _sync(self) -> None:
        """Submit what is pending and wait for every submission (before buffers are read,
        written or replaced)."""
        self._submit_pending()
        self._reader.flush()

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
        self._clear_accum()  # submits pending steps first
        queue = self.gpu.device.queue
        queue.write_buffer(self._data, 4 * self._host_at[0], inputs.tobytes())
        queue.write_buffer(self._data, 4 * self._host_at[1], targets.tobytes())
        self._write_record(self.steps + 1)
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
        self._submit_pending()
        self._write_record(self.steps + 1)
        queue = self.gpu.device.queue
        queue.submit([self._submit(lambda p: self._encode_update(p, 0)).finish()])
        queue.read_buffer(self._losses, 0, 4)  # waits for the step
        self._advance()
        self._add_time("optimization", start, 1)

    def gradients(self) -> np.ndarray:
        """The summed gradients of the last compute_gradients: network (FusedMLP.params
        layout), then the grid table (flat)."""
        constants = self._constants(False)
        kernel = pipeline(self.gpu, "gradient.wgsl", "read_gradients", constants)
        n = self.plan.n_params + self.plan.n_table
        self._submit_pending()
        self._write_record(self.steps + 1)

        def encode(compute_pass: Any) -> None:
            compute_pass.set_bind_group(0, self._bind_group, [0, 0])
            compute_pass.set_pipeline(kernel)
            compute_pass.dispatch_workgroups(*layout.workgroups(n))

        queue = self.gpu.device.queue
        queue.submit([self._submit(encode).finish()])
        return np.frombuffer(queue.read_buffer(self._grads_out, 0, 4 * n), np.float32).copy()

    def last_features(self) -> np.ndarray:
        """The encoded features of the last batch's first slice, (rows, n_features), as the
        device computed them (for tests and the agreement figures of benchmarks/webgpu.py)."""
        plan = self._batch
        if plan is None:
            raise RuntimeError("last_features() needs a batch first (compute_gradients)")
        self._sync()
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
        """`n_steps` steps on batches drawn on the device, each with the rates and controls
        current now; returns once every full batch of `steps_per_submit` is submitted (the
        rest waits, see the class docstring)."""
        if self.target is None:
            raise ValueError("this trainer has no target to draw batches from")
        if self._reader.diverged:
            return
        start = time.perf_counter()
        self._allocate(batch_size)
        host = self._host
        per_submit = (
            self.steps_per_submit if host is None else min(self.steps_per_submit, host.blocks)
        )
        for _ in range(n_steps):
            if self._pass is None:
                self._encoder = self.gpu.device.create_command_encoder()
                self._pass = self._encoder.begin_compute_pass()
            k = self._pending
            self._records[k] = self._step_record(self.steps + 1)
            if host is not None:  # the step reads its own block of host-drawn rows
                self._records[k, HOST_OFFSET] = host.draw(k)
            self._encode_gradients(self._pass, k, host is None)
            self._encode_update(self._pass, k)
            self._pending += 1
            self._advance()
            if self._pending == per_submit:
                self._submit_pending()
        self._add_time("training", start, 0)
        self._timings["training"][1] += n_steps

    def read_losses(self) -> list[float]:
        """Losses of the good steps trained since the last call (waits for the device)."""
        self._submit_pending()
        return self._reader.losses()

    def diverged_at(self) -> int:
        """The first step whose loss was not finite (1-based, over the trainer's life), or 0."""
        self._sync()
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

    # ----- inference: one dispatch (gfxnn.webgpu.inference) ------------------------------
    def infer(self, inputs: np.ndarray) -> np.ndarray:
        """(N, n_output_dims) network output at inputs (N, n_input_dims)."""
        start = time.perf_counter()
        out = inference.infer_points(self, inputs)
        self._add_time("inference", start, 1)
        return out

    def render(self, shape: tuple[int, ...]) -> np.ndarray:
        """Inference on the grid of `shape` ((H, W) for (u, v)); sample i of an axis of size n
        at i / (n - 1). Returns (*shape, n_output_dims)."""
        start = time.perf_counter()
        out = inference.render_grid(self, shape)
        self._add_time("inference", start, 1)
        return out
