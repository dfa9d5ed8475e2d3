"""`GpuTrainer`: the fused image-fitting step (sample, encode, MLP forward and backward, L2 loss,
Adam or SGD) on a Warp device, "cuda" or Warp's "cpu" (the same kernels, for tests).

A step is three launches: `sample_batch` (one thread per row), `train_tile` (one block per tile
of rows: forward, loss, backward and the gradient reduction) and the optimizer (one thread per
parameter). The step number, Adam's t, the loss of every step and the divergence flag live on
the device, so the loop never waits for the host; on CUDA the step is captured once as a CUDA
graph and replayed. Losses go into a ring of `loss_slots` entries that the host reads when
asked (`read_losses`), at the latest once per ring.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import numpy as np

from gfxnn.fused import render as fused_render
from gfxnn.fused import state as fused_state
from gfxnn.fused.controls import CONTROL_FIELDS, TrainingControls
from gfxnn.fused.encoding import FusedFrequency, FusedIdentity
from gfxnn.fused.mlp import FusedMLP
from gfxnn.gpu.activations import activation_id
from gfxnn.gpu.layout import layer_views, n_parameters, output_mask
from gfxnn.gpu.mlp_kernels import TileShape, mlp_kernels, pad8
from gfxnn.gpu.optim import NORM_CHUNKS, adam_step, clip_scale, frozen_step, gradient_norm, sgd_step
from gfxnn.gpu.runtime import resolve_device, warp
from gfxnn.gpu.sampling import sample_batch
from gfxnn.gpu.spec import ENCODINGS, check_supported, image_of, n_frequencies

__all__ = ["ENCODINGS", "PRECISIONS", "GpuTrainer", "check_supported", "precompile"]

PRECISIONS = ("fp32", "fp16")
CLIP_IDS = {"none": 0, "value": 1, "norm": 2}  # gfxnn.gpu.optim's clip_mode
# batch rows per block (64 rows x 64 neurons: 96 KB of shared memory, see docs/gpu.md)
TRAIN_ROWS = {"cuda": 64, "cpu": 64}
# pixels per block: the training shape's rows, so one compiled module serves both
INFER_ROWS = TRAIN_ROWS
BLOCK_DIM = {"cuda": 128, "cpu": 64}  # threads per block (Warp runs a CPU block serially)
DEFAULT_BATCH = 2048  # Dx12NN's batch, when train() is given none


class GpuTrainer:
    """Encoding + MLP + L2 loss + optimizer of a `ModelSpec` on `device`, the Warp backend of
    `gfxnn.fields.trainer.Trainer`.

    Args:
        spec: the ModelSpec (frequency or identity encoding, 2 -> 3, L2 loss; any activation,
            Adam or SGD, any layer count and width); settings with a `model_spec()` (FitSettings)
            are read through it, and their batch_size is train()'s default.
        target: what the device sampler draws from: an `ImageTarget` (or an (H, W, 3) float
            array); None for a trainer fed only through `compute_gradients` (tests) or used for
            rendering.
        device: "cuda" (or "cuda:N") or "cpu" (Warp's CPU device).
        tile_rows: batch rows per block (default 128 on CUDA, 64 on the CPU).
        loss_slots: length of the on-device loss ring (>= 2).
        graph_steps: training steps per CUDA graph replay (every per-step value lives on the
            device, so a graph of several steps runs them all correctly).
        mathdx: tile_matmul through cuBLASDx (True) or Warp's scalar tile GEMM (see TileShape).
        precision: "fp32", or "fp16": float16 operands with float32 accumulation in every
            product (`gfxnn.gpu.dense`), loss-scaled gradients, float32 master weights.
            (The spec's own `precision="fp16"`, MLPZen's, makes only the inference fp16.)

    MLPZen's controls of the spec: `initialization`; `freeze_network` (the optimizer is not
    launched: weights and Adam moments stay bit for bit, Adam's t stands still);
    `freeze_encoding` has nothing to hold (these encodings have no parameters);
    `gradient_clip` "value"/"norm" with `clip_value` (gfxnn.gpu.optim); `precision="fp16"`
    renders with float16 operands (features, activations, weights) and float32 sums, biases
    and outputs. `set_controls(spec)` switches them live; `set_learning_rates` writes one
    device value (no CUDA graph re-capture).
    """

    def __init__(
        self,
        spec: Any,
        target: Any = None,
        *,
        device: str = "cuda",
        tile_rows: int | None = None,
        loss_slots: int = 1024,
        graph_steps: int = 16,
        mathdx: bool = True,
        precision: str = "fp32",
    ) -> None:
        self.spec = check_supported(spec)
        self.controls = TrainingControls.from_spec(self.spec)
        self.default_batch = getattr(spec, "batch_size", DEFAULT_BATCH)
        spec = self.spec
        if tile_rows is not None and tile_rows < 1:
            raise ValueError(f"tile_rows must be >= 1, got {tile_rows}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.precision = precision
        if graph_steps < 1:
            raise ValueError(f"graph_steps must be >= 1, got {graph_steps}")
        self.graph_steps = graph_steps
        if loss_slots < 2:
            raise ValueError(f"loss_slots must be >= 2, got {loss_slots}")
        self.wp = wp = warp()
        self.device = resolve_device(device)
        self.is_cuda = self.device.startswith("cuda")
        self.kind = kind = "cuda" if self.is_cuda else "cpu"
        self.block_dim = BLOCK_DIM[kind]
        self.n_frequencies = n_frequencies(spec)
        n_features = 4 * self.n_frequencies if self.n_frequencies else 2
        self.sizes = [n_features] + [spec.n_neurons] * spec.n_hidden_layers + [3]
        self.shape = TileShape(
            rows=tile_rows or TRAIN_ROWS[kind],
            n_in=pad8(n_features),
            n_neurons=spec.n_neurons,
            n_mid=spec.n_hidden_layers - 1,
            n_out=pad8(3),
            mathdx=mathdx,
            half=precision == "fp16",
        )
        self.infer_shape = self._infer_shape()
        self.act = activation_id(spec.activation)
        self.out_act = activation_id(spec.output_activation)
        n = n_parameters(self.sizes)
        self.params = wp.zeros(n, dtype=wp.float32, device=self.device)
        self.grads = wp.zeros(n, dtype=wp.float32, device=self.device)
        self.m = wp.zeros(n, dtype=wp.float32, device=self.device)
        self.v = wp.zeros(n, dtype=wp.float32, device=self.device)
        self.views = layer_views(self.params, self.sizes, self.device)
        self.grad_views = layer_views(self.grads, self.sizes, self.device)
        # counters: [0] steps done (seeds the RNG, picks the loss slot), [1] the step the
        # optimizer completes (Adam's t), [2] first diverged step (0: none)
        self.counters = wp.zeros(3, dtype=wp.int32, device=self.device)
        self.losses = wp.zeros(loss_slots, dtype=wp.float32, device=self.device)
        self.seed = spec.seed
        self.learning_rate = spec.optimizer.learning_rate  # set_learning_rates changes it
        # the optimizers read the rate here (a schedule writes it, graphs replay it)
        self.rates = wp.array([self.learning_rate], dtype=wp.float64, device=self.device)
        self.clip_scale = wp.ones(1, dtype=wp.float32, device=self.device)
        self.norm_partials = wp.zeros(NORM_CHUNKS, dtype=wp.float64, device=self.device)
        self.t_offset = 0  # steps taken while the network was frozen (Adam's t skips them)
        self.steps = 0  # steps launched
        self._read = 0  # steps whose loss the host has read
        # (step, loss) read while the ring was full, not yet handed out
        self._pending: list[tuple[int, float]] = []
        self._batch = -1
        self._graphs: dict[int, Any] = {}  # steps per replay -> captured CUDA graph
        self.source = target  # what the sampler draws from (self.target: the batch)
        self.set_image(image_of(target) if target is not None else np.zeros((1, 1, 3), np.float32))
        self.initialize(np.random.default_rng(spec.seed))

    def warp_modules(self) -> list[tuple[Any, int | None]]:
        """(Warp module, block_dim) pairs this trainer launches; see `precompile`."""
        modules: list[tuple[Any, int | None]] = [
            (sample_batch.module, None),
            (adam_step.module, None),
        ]
        for shape in dict.fromkeys((self.shape, self.infer_shape)):
            modules.append((mlp_kernels(shape)[0].module, self.block_dim))
        return modules

    # ----- parameters -------------------------------------------------------------------
    def initialize(self, rng: np.random.Generator) -> None:
        """Xavier-uniform weights and zero biases drawn exactly as `FusedMLP.initialize(rng)`
        (on the host, so both paths start from the same numbers), by spec.initialization;
        fresh optimizer state."""
        mlp = self._host_mlp()
        mlp.initialize(rng, self.spec.initialization)
        self.load_params(mlp.params)

    def load_params(self, flat: np.ndarray) -> None:
        """Replace the parameters (FusedMLP.params layout); the optimizer state restarts."""
        flat = np.asarray(flat, np.float32)
        if flat.shape != (self.params.shape[0],):
            raise ValueError(f"params must have shape ({self.params.shape[0]},), got {flat.shape}")
        self.params.assign(flat)
        for array in (self.grads, self.m, self.v, self.counters, self.losses):
            array.zero_()
        self.steps = self._read = self.t_offset = 0
        self._pending = []
        self._graphs = {}

    def parameters(self) -> np.ndarray:
        """Copy of the flat parameters (FusedMLP.params layout)."""
        return self.params.numpy().copy()

    def _host_mlp(self) -> FusedMLP:
        """The same network as a NumPy FusedMLP (zero weights): its layout is the device's."""
        spec = self.spec
        return FusedMLP(
            self.sizes[0],
            3,
            spec.n_neurons,
            spec.n_hidden_layers,
            spec.activation,
            output_activation=spec.output_activation,
        )

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the weights under gfxnn.nn.MLP's names (the encodings have no state)."""
        mlp = self._host_mlp()
        mlp.params[...] = self.parameters()
        return fused_state.state_dict(mlp, None)

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Replace the weights (names, shapes, finiteness checked first); the optimizer state
        and the step counters restart."""
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict of arrays, got {type(state).__name__}")
        mlp = self._host_mlp()
        fused_state.load_state(mlp, None, state)
        self.load_params(mlp.params)

    def gradients(self) -> np.ndarray:
        """Copy of the flat gradients of the last `compute_gradients` (before `update`),
        unscaled in fp16."""
        return self.grads.numpy() * np.float32(self._grad_scale()[1])

    # ----- data -------------------------------------------------------------------------
    def set_image(self, image: np.ndarray) -> None:
        """The image (H, W, 3) the on-device sampler draws targets from."""
        image = image_of(image)
        self.image = self.wp.array(image, dtype=self.wp.float32, device=self.device)
        self._graphs = {}

    def set_target(self, target: Any) -> None:
        """Draw batches from another image target from now on; weights, optimizer state and
        the step counter (which seeds the device's generator) stay."""
        self.set_image(image_of(target))
        self.source = target

    def set_learning_rates(self, network: float, encoding: float | None) -> None:
        """A new learning rate from the next launched step on, keeping Adam's moments (the
        encodings here have no parameters: `encoding` is ignored): one device write, in
        stream order, which captured graphs read when replayed."""
        self.learning_rate = network
        self.rates.assign(np.array([network], np.float64))

    def set_controls(self, spec: Any) -> None:
        """Switch to `spec`'s freezing, clipping and precision, keeping the weights, Adam's
        moments, the step count and the current learning rate (set_learning_rates owns it);
        ValueError (nothing changes) when anything else differs or a value is refused."""
        spec = check_supported(spec)
        own = self.spec
        same = spec.replace(
            optimizer=dataclasses.replace(
                spec.optimizer, learning_rate=own.optimizer.learning_rate
            ),
            **{name: getattr(own, name) for name in CONTROL_FIELDS},
        )
        if same != own:
            raise ValueError(
                f"set_controls changes only {', '.join(CONTROL_FIELDS)}; "
                "rebuild the trainer for anything else"
            )
        self.controls = TrainingControls.from_spec(spec)
        self.spec = spec
        self.infer_shape = self._infer_shape()
        self._graphs = {}  # the launches' arguments changed

    def _infer_shape(self) -> TileShape:
        half = self.shape.half or self.spec.precision == "fp16"
        return dataclasses.replace(self.shape, rows=INFER_ROWS[self.kind], half=half)

    def _allocate(self, batch: int) -> None:
        wp, rows = self.wp, self.shape.rows
        padded = -(-batch // rows) * rows
        self.uv = wp.zeros((padded, 2), dtype=wp.float32, device=self.device)
        self.features = wp.zeros((padded, self.shape.n_in), dtype=wp.float32, device=self.device)
        self.target = wp.zeros((padded, self.shape.n_out), dtype=wp.float32, device=self.device)
        mask = output_mask(batch, padded, 3, self.shape.n_out)
        self.mask = wp.array(mask, dtype=wp.float32, device=self.device)
        shape = (self.spec.n_hidden_layers, padded, self.spec.n_neurons)
        self.hidden_z = wp.zeros(shape, dtype=wp.float32, device=self.device)
        self._batch, self._padded = batch, padded
        self._graphs = {}

    # ----- the three launches -----------------------------------------------------------
    def _launch_sample(self, draw: bool) -> None:
        self.wp.launch(
            sample_batch,
            dim=self._padded,
            inputs=[
                self.seed,
                self.counters,
                int(draw),
                int(draw),
                self._batch,
                self.sizes[0],
                self.n_frequencies,
                self.image,
                self.uv,
                self.features,
                self.target,
            ],
            device=self.device,
        )

    def _launch_train(self) -> None:
        train, _ = mlp_kernels(self.shape)
        v, g = self.views, self.grad_views
        self.wp.launch_tiled(
            train,
            dim=[self._padded // self.shape.rows],
            inputs=[
                self.features,
                self.target,
                self.mask,
                *(v[k] for k in ("w_first", "b_first", "w_mid", "b_mid", "w_last", "b_last")),
                *(g[k] for k in ("w_first", "b_first", "w_mid", "b_mid", "w_last", "b_last")),
                self.hidden_z,
                self.act,
                self.out_act,
                1.0 / (3 * self._batch),
                self._grad_scale()[0],
                self.counters,
                self.losses,
            ],
            block_dim=self.block_dim,
            device=self.device,
        )

    def _launch_update(self) -> None:
        """The optimizer's launch (the norm clip's two reductions first), or `frozen_step`
        while the network is frozen (the caller counts those steps in t_offset)."""
        wp, s, c = self.wp, self.spec.optimizer, self.controls
        n, unscale = self.params.shape[0], self._grad_scale()[1]
        tail = [self.counters, self.losses]
        if c.freeze_network:
            wp.launch(frozen_step, dim=n, inputs=[self.grads, *tail], device=self.device)
            return
        mode = CLIP_IDS[c.gradient_clip]
        if mode == CLIP_IDS["norm"]:
            inputs = [self.grads, unscale, self.norm_partials]
            wp.launch(gradient_norm, dim=NORM_CHUNKS, inputs=inputs, device=self.device)
            inputs = [self.norm_partials, c.clip_value, self.clip_scale]
            wp.launch(clip_scale, dim=1, inputs=inputs, device=self.device)
        clip = [mode, c.clip_value, self.clip_scale]
        if s.name == "adam":
            kernel = adam_step
            inputs = [self.params, self.grads, self.m, self.v, self.rates, *s.betas]
            inputs += [s.epsilon, s.l2_reg, unscale, *clip, self.t_offset]
        else:
            kernel = sgd_step
            inputs = [self.params, self.grads, self.rates, s.l2_reg, unscale, *clip]
        wp.launch(kernel, dim=n, inputs=[*inputs, *tail], device=self.device)

    def _grad_scale(self) -> tuple[float, float]:
        """(scale of dL/dy in the training kernel, its inverse in the optimizer). fp32: the
        true 2 / (B C) and 1, the NumPy path's numbers. fp16: 1 and 2 / (B C), so that the
        float16 products see residuals of order 1, never the tiny 2 r / (B C)."""
        true_scale = 2.0 / (3 * self._batch)
        return (true_scale, 1.0) if self.precision == "fp32" else (1.0, true_scale)

    # ----- FusedTrainer's API (host-fed batches; synchronises) --------------------------
    def compute_gradients(self, uv: np.ndarray, target: np.ndarray) -> float:
        """Loss of the batch uv (B, 2) -> target (B, 3) given by the host; the gradients
        replace those of any earlier call (read them with `gradients()`)."""
        uv = np.asarray(uv, np.float32)
        if uv.ndim != 2 or uv.shape[1] != 2 or np.shape(target) != (uv.shape[0], 3):
            raise ValueError(
                f"uv must be (B, 2) and target (B, 3); got {uv.shape}, {np.shape(target)}"
            )
        if uv.shape[0] != self._batch:
            self._allocate(uv.shape[0])
        padded_uv = np.zeros((self._padded, 2), np.float32)
        padded_uv[: uv.shape[0]] = uv
        padded_target = np.zeros((self._padded, self.shape.n_out), np.float32)
        padded_target[: uv.shape[0], :3] = target
        self.uv.assign(padded_uv)
        self.target.assign(padded_target)
        self._collect()  # losses of earlier device-loop steps stay readable
        self.grads.zero_()
        slot = self.steps % self.losses.shape[0]
        self.losses[slot : slot + 1].zero_()
        self._launch_sample(draw=False)
        self._launch_train()
        return float(self.losses.numpy()[slot])

    def update(self) -> None:
        """The optimizer step on the gradients of the last compute_gradients."""
        self._launch_update()
        self.t_offset += self.controls.freeze_network
        self.steps += 1
        self._read = self.steps  # compute_gradients returned this step's loss

    # ----- the training loop (device-side sampling, no synchronisation) ----------------
    def train(self, n: int, batch_size: int | None = None) -> None:
        """Launch `n` training steps on batches of `batch_size` (default: `default_batch`)
        uniform random uvs; returns without waiting for the device, except once per
        `loss_slots` steps to collect the losses. On CUDA, whole chunks of `graph_steps`
        steps are one graph launch (the host's launch cost is paid once per chunk)."""
        batch = batch_size or self.default_batch
        if batch != self._batch:
            self._allocate(batch)
        slots = self.losses.shape[0]
        chunk = min(self.graph_steps, slots - 1) if self.is_cuda else 1
        done = 0
        while done < n:
            size = chunk if n - done >= chunk else 1
            if self.steps + size - self._read >= slots:
                self._collect()
            self._run_steps(size)
            self.t_offset += size * self.controls.freeze_network
            self.steps += size
            done += size

    def _run_steps(self, size: int) -> None:
        """`size` steps: plain launches on the CPU, a captured graph replay on CUDA."""
        if not self.is_cuda:
            for _ in range(size):
                self._launch_step()
            return
        graph = self._graphs.get(size)
        if graph is None:
            precompile([self])  # no module compilation inside a capture
            with self.wp.ScopedCapture(device=self.device) as capture:
                for _ in range(size):
                    self._launch_step()
            graph = self._graphs[size] = capture.graph
        self.wp.capture_launch(graph)

    def _launch_step(self) -> None:
        self._launch_sample(draw=True)
        self._launch_train()
        self._launch_update()

    def _collect(self) -> None:
        self._pending += self._read_ring()

    def _read_ring(self) -> list[tuple[int, float]]:
        """(step, loss) of the steps not read yet, step 1-based."""
        ring = self.losses.numpy()
        slots = ring.shape[0]
        values = [(s + 1, float(ring[s % slots])) for s in range(self._read, self.steps)]
        self._read = self.steps
        return values

    def read_losses(self) -> list[float]:
        """The losses of the steps launched since the last call (synchronises); from a
        diverged step on (see `diverged_at`) none: those steps were not applied."""
        values = self._pending + self._read_ring()
        self._pending = []
        diverged = self.diverged_at()
        return [loss for step, loss in values if not diverged or step < diverged]

    def diverged_at(self) -> int:
        """The first step (1-based) whose loss was not finite, 0 when none (synchronises)."""
        return int(self.counters.numpy()[2])

    # ----- inference ----------------------------------------------------------------------
    def render(self, shape: tuple[int, ...] | int, height: int | None = None) -> np.ndarray:
        """(H, W, 3) float32 output on the (H, W) grid `shape`, pixel (x, y) at
        uv = (x / (W - 1), y / (H - 1)), as FusedTrainer.render; one launch.
        `render(width, height)` is the older spelling of `render((height, width))`."""
        if isinstance(shape, int | np.integer):
            if height is None:
                raise TypeError("render(width, height) needs both sizes; or pass a shape tuple")
            shape = (int(height), int(shape))
        if len(shape) != 2:
            raise ValueError(f"the GPU path renders (H, W) grids, got shape {tuple(shape)}")
        height, width = (int(n) for n in shape)
        wp = self.wp
        n_pixels = width * height
        out = wp.empty((n_pixels, 3), dtype=wp.float32, device=self.device)
        self.launch_render(width, height, out)
        return out.numpy().reshape(height, width, 3)

    def launch_render(self, width: int, height: int, out: Any) -> None:
        """Launch full-frame inference into the Warp array `out` (width * height, 3) without
        waiting for it."""
        _, infer = mlp_kernels(self.infer_shape)
        v = self.views
        self.wp.launch_tiled(
            infer,
            dim=[math.ceil(width * height / self.infer_shape.rows)],
            inputs=[
                width,
                height,
                self.sizes[0],
                self.n_frequencies,
                *(v[k] for k in ("w_first", "b_first", "w_mid", "b_mid", "w_last", "b_last")),
                self.act,
                self.out_act,
                out,
            ],
            block_dim=self.block_dim,
            device=self.device,
        )

    def infer(self, inputs: np.ndarray) -> np.ndarray:
        """(N, 3) float32 output for inputs (N, 2). The kernels infer on pixel grids only, so
        this runs the same network on the host (NumPy's fused path) with the device's weights."""
        encoder = FusedFrequency(self.n_frequencies) if self.n_frequencies else FusedIdentity()
        mlp = self._host_mlp()
        mlp.params[...] = self.parameters()
        return fused_render.infer(encoder, mlp, np.asarray(inputs, np.float32))

    def timings_ms(self) -> dict[str, float]:
        """Empty: the device runs the phases without the host timing them (the controller
        measures wall-clock training instead)."""
        return {}


def precompile(trainers: list[GpuTrainer], max_workers: int | None = None) -> None:
    """Compile the Warp modules of `trainers` (all on one device) in parallel threads (default:
    one per module, up to the CPU count), so that a run pays the CUDA compilation once, up
    front, instead of module by module."""
    if not trainers:
        return
    wp, device = trainers[0].wp, trainers[0].device
    by_block_dim: dict[int | None, dict[Any, None]] = {}
    for trainer in trainers:
        for module, block_dim in trainer.warp_modules():
            by_block_dim.setdefault(block_dim, {})[module] = None
    for block_dim, modules in by_block_dim.items():
        # Warp loads serially by default; one thread per module (the CPU cores are idle)
        workers = max_workers or min(len(modules), os.cpu_count() or 1)
        wp.force_load(
            device=device, modules=list(modules), block_dim=block_dim, max_workers=workers
        )
