"""`CompiledTrainer`: the `Trainer` interface on Numba kernels, built from a `ModelSpec`.

The same maths as the NumPy fused path (`gfxnn.fields.backends.SpecFusedTrainer`, the
reference; tests/test_compiled.py checks the two and the autodiff engine against each other):
weights Xavier from `default_rng(spec.seed)` then a grid's table from the same generator,
batches from `default_rng([spec.seed, 1])` through the target, so a run gives the numbers of
the NumPy path up to summation order. A step is four kernel calls (see `network` and `optim`):
sample + encode + forward + loss + backward over chunks of the batch on all threads, the
chunk-ordered gradient reduction, the grid's scatter (one level per task), the optimizers.

Encodings compiled here: Frequency, Identity, HashGrid and DenseGrid (all interpolations).
Every other encoding (OneBlob, OneHot, TriangleWave, GaussianFourier, Composite, ...) is
encoded on the host by the NumPy fused path's encoder, then the compiled network trains on
its features (these encodings have no parameters, so nothing flows back into them).
"""

from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING, Any

import numba
import numpy as np

from gfxnn import registry
from gfxnn.compiled import cache, encode, grid2d, network, optim, render
from gfxnn.compiled.activations import CODES, make_consts
from gfxnn.compiled.optimizer import FlatOptimizer
from gfxnn.compiled.threads import ThreadPolicy, max_threads
from gfxnn.fused import render as fused_render
from gfxnn.fused import state as fused_state
from gfxnn.fused.controls import TrainingControls, clip_gradients
from gfxnn.fused.encoding import FusedAutodiffEncoding, encoder_from_config
from gfxnn.fused.grid import FusedGrid
from gfxnn.fused.mlp import FusedMLP
from gfxnn.fused.threads import blas_threads
from gfxnn.losses import RELATIVE_L2_EPSILON

# Kernels load from Numba's cache on their first call; drop stale ones before that.
cache.ensure_fresh()

if TYPE_CHECKING:  # the contract's types only: gfxnn.fields sits above the backends
    from gfxnn.fields.trainer import ModelSpec

# Held around every parallel kernel launch: the studio renders from one thread while it trains
# in another, and Numba's fallback threading layer ("workqueue", used when no OpenMP or TBB is
# found) aborts the process on two concurrent launches. A render waits at most one step.
LAUNCH = threading.RLock()
MAX_CHUNKS = 16  # a batch splits into at most this many chunks (the most threads that help)
CHUNK_ROWS = 320  # ... of at least this many rows
TILE_VALUES = 384 * 64  # a tile holds at most this many values of its widest layer
ROUND_STEPS = 8  # steps per thread-policy round inside train()
# The render's pixel tiles (forward only): 128 rows of a 64-wide network, in L2.
RENDER_CHUNK_ROWS, RENDER_TILE_VALUES = 128, 8192


def chunking(batch_size: int, widest: int) -> tuple[int, int]:
    """(n_chunks, tile_rows) of a training batch: fixed by the sizes alone, never by the
    threads. A chunk is split into equal tiles of at most TILE_VALUES / widest rows.

    Why these sizes (one core of the 2-core EPYC VM, OpenBLAS 0.3.30's Haswell kernels): a
    weight gradient is a product with K = the tile's rows, and its speed depends on K
    unevenly: a 64 x 64 one ran 0.49 ms per 2048 rows at K = 257-300 and 342-512 in
    isolation, 0.69 at K = 128, 1.1-1.7 at K = 224-256 and 320. In the kernel, 2048 rows
    as 6 chunks of 341 took 2.86-2.90 ms a step against 2.95-3.37 for 16 x 128 and 4.4 for
    4 x 512 (2^14 rows: 16 x 3 tiles of 342, 23.0-23.4 ms, against 24.3-26.0 for tiles of
    128). 6 chunks still split evenly over 2 or 3 threads."""
    n_chunks = max(1, min(MAX_CHUNKS, batch_size // CHUNK_ROWS))
    longest = -(-batch_size // n_chunks)
    most = max(8, TILE_VALUES // max(widest, 1))
    n_tiles = -(-longest // most)
    return n_chunks, max(1, -(-longest // n_tiles))


def render_chunking(n_pixels: int, widest: int) -> tuple[int, int]:
    """(n_chunks, tile_rows) of a render: forward products only, 128-row tiles measured best."""
    n_chunks = max(1, min(MAX_CHUNKS, n_pixels // RENDER_CHUNK_ROWS))
    return n_chunks, max(8, min(256, RENDER_TILE_VALUES // max(widest, 1)))


class CompiledTrainer:
    """Encoding + MLP + loss + optimizers of `spec` on compiled CPU kernels.

    Args:
        spec: the model (see `gfxnn.fields.trainer.ModelSpec`).
        target: what `train` draws batches from (an `ImageTarget` is sampled inside the
            kernel; any other `Target` through its `sample`); None: only host-fed batches.
        initialize: draw the weights (False: zeros, for a state_dict to be loaded).
        dtype: float32 (default) or float64 for every buffer.
        threads: "auto" (measured: all cores or one, whichever is faster now, see
            `gfxnn.compiled.threads`) or a fixed count (capped at NUMBA_NUM_THREADS).
    """

    def __init__(
        self, spec: ModelSpec, target: Any = None, *, initialize: bool = True,
        dtype: Any = np.float32, threads: int | str = "auto",
    ) -> None:  # fmt: skip
        self.spec = spec
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        if spec.loss not in network.LOSS_CODES:
            raise ValueError(
                f"unknown loss {spec.loss!r}; choose one of {list(network.LOSS_CODES)}"
            )
        self.policy = ThreadPolicy(threads)
        controls = TrainingControls.from_spec(spec)  # checked before anything is built
        self._setup_encoding(spec)
        self.mlp = FusedMLP(
            self.n_features, spec.n_output_dims, spec.n_neurons, spec.n_hidden_layers,
            spec.activation, dtype=self.dtype, output_activation=spec.output_activation,
        )  # fmt: skip
        names = [spec.activation] * spec.n_hidden_layers + [spec.output_activation]
        for name in names:
            if name not in CODES:
                raise ValueError(f"unknown activation {name!r}; choose one of {sorted(CODES)}")
        self._act_codes = np.array([CODES[name] for name in names], np.int64)
        self._sizes = np.array(self.mlp.sizes, np.int64)
        w_offsets, b_offsets, offset = [], [], 0
        for n_in, n_out in zip(self.mlp.sizes[:-1], self.mlp.sizes[1:], strict=True):
            w_offsets.append(offset)
            b_offsets.append(offset + n_in * n_out)
            offset += n_in * n_out + n_out
        self._w_offsets, self._b_offsets = np.array(w_offsets), np.array(b_offsets)
        self._transposed = np.zeros_like(self.mlp.params)
        if initialize:
            rng = np.random.default_rng(spec.seed)
            self.mlp.initialize(rng, spec.initialization)
            if self._grid is not None:
                self._grid.initialize(rng)
        self._make_optimizers()
        self._set_controls(controls)
        self.target: Any = None
        self.set_target(target)
        self.rng = np.random.default_rng([spec.seed, 1])
        self._batch = -1
        self._losses: list[float] = []
        self._steps = 0
        self._diverged = 0
        self._timings = {name: [0.0, 0] for name in ("backpropagation", "optimization")}

    # ----- construction -----------------------------------------------------------------
    def _setup_encoding(self, spec: ModelSpec) -> None:
        otype, params = registry.encoding_parts(spec.encoding)
        d, dtype = spec.n_input_dims, self.dtype
        self._grid: FusedGrid | None = None
        self._host_encoder: FusedAutodiffEncoding | None = None
        self._no_scratch = np.zeros(0, dtype)  # the host encoder needs none
        self._table = np.zeros(0, dtype)
        self._grid_arrays: tuple = tuple(np.zeros(0, t) for t in (dtype, int, int, int, bool))
        self._grid_ints = np.zeros(2, np.int64)
        self._gathered = False  # a 2-D grid: gathered before the training kernel (grid2d)
        if otype == "Frequency":
            n_frequencies = params.get("n_frequencies", 12)
            self._kind = encode.FREQUENCY
            self._enc_values = encode.frequency_values(n_frequencies, dtype)
            self.n_features = 2 * n_frequencies * d
        elif otype == "Identity":
            self._kind = encode.IDENTITY
            scale_offset = [params.get("scale", 1.0), params.get("offset", 0.0)]
            self._enc_values = np.array(scale_offset, dtype)
            self.n_features = d
        elif otype in ("HashGrid", "DenseGrid"):
            cls = registry.component_class("encoding", otype)
            config = registry.complete_encoding_params(cls, params)
            self._grid = FusedGrid(d, **config, hashed=otype == "HashGrid", dtype=dtype)
            arrays = encode.GridArrays(self._grid.layout, self._grid.interpolation, dtype)
            self._kind = encode.GRID
            self._table = self._grid.params
            self._grid_arrays = (
                arrays.scales,
                arrays.offsets,
                arrays.sizes,
                arrays.resolutions,
                arrays.hashed,
            )
            self._grid_ints = np.array([arrays.n_features, arrays.interpolation], np.int64)
            self._gathered = grid2d.covers(d, self._table.size)
            self._enc_values = np.zeros(0, dtype)
            self.n_features = self._grid.n_output_dims
        else:
            module = registry.build_encoding(spec.encoding, d)
            if any(True for _ in module.parameters()):  # e.g. a Composite holding a grid
                raise ValueError(
                    f"the compiled backend does not offer encoding={otype} with trainable "
                    "parameters (choose HashGrid, DenseGrid or a parameter-free encoding)"
                )
            self._host_encoder = FusedAutodiffEncoding(module)
            self._kind = encode.FEATURES
            self._enc_values = np.zeros(0, dtype)
            self.n_features = self._host_encoder.n_output_dims

    def _make_optimizers(self) -> None:
        self._optimizer = FlatOptimizer(self.spec.optimizer, self.mlp.params, self.mlp.grads)
        self._grid_optimizer = None
        if self._grid is not None:
            spec = self.spec.encoding_optimizer
            if spec is None:
                raise ValueError("a trainable encoding (grid) needs spec.encoding_optimizer")
            self._grid.grads[:] = 0
            self._grid_optimizer = FlatOptimizer(spec, self._grid.params, self._grid.grads)
        optim.transpose_weights(self.mlp.params, self._sizes, self._w_offsets, self._transposed)

    def _chunk_buffers(self, batch: int, n_grads: int) -> tuple[int, int, np.ndarray, np.ndarray]:
        """(n_chunks, tile_rows, scratch, partial gradients) for a kernel call on `batch` rows.

        The tile buffers are one scratch row per thread, not per chunk (a chunk writes only
        its own gradient row): on one thread 16 chunks' rows took 16 x 230 KB of cache."""
        sizes = self.mlp.sizes
        widest = max(sizes[1:])
        n_chunks, rows = chunking(batch, widest)
        weight_tmp = max(o * i for i, o in zip(sizes[:-1], sizes[1:], strict=True))
        per_thread = rows * (sizes[0] + 2 * sum(sizes[1:]) + 2 * widest) + weight_tmp
        # get_thread_id() is below the threads in use (any of them may run any chunk)
        scratch = np.zeros((max_threads(), per_thread), self.dtype)
        return n_chunks, rows, scratch, np.zeros((n_chunks, n_grads), self.dtype)

    def _allocate(self, batch: int) -> None:
        dtype = self.dtype
        self._n_chunks, self._tile_rows, self._scratch, self._partial = self._chunk_buffers(
            batch, self.mlp.params.size
        )
        self._chunk_losses = np.zeros(self._n_chunks, np.float64)
        self._inputs = np.zeros((batch, self.spec.n_input_dims), dtype)
        self._targets = np.zeros((batch, self.spec.n_output_dims), dtype)
        grid_rows = batch if self._grid is not None else 0
        self._feature_grads = np.zeros((grid_rows, self.n_features), dtype)
        self._host_features = self._host_buffer(batch)
        self._consts = make_consts(dtype, RELATIVE_L2_EPSILON, self._loss_scale(batch))
        self._no_outputs = np.zeros((0, self.spec.n_output_dims), dtype)
        self._batch = batch

    def _loss_scale(self, batch: int) -> float:
        n = batch * self.spec.n_output_dims
        return (1.0 if self.spec.loss == "l1" else 2.0) / n

    # ----- training ---------------------------------------------------------------------
    def set_target(self, target: Any) -> None:
        """Draw batches from `target` from now on (weights and optimizer state stay). An
        image target's texels are sampled inside the kernel, any other through `sample`."""
        self.target = target
        image = getattr(target, "image", None)
        if isinstance(image, np.ndarray) and image.ndim == 3 and self.spec.n_input_dims == 2:
            height, width, channels = image.shape
            self._texels = np.ascontiguousarray(image.reshape(height * width, channels), self.dtype)
            self._image_size = np.array([width, height], np.int64)
            self._image_scale = np.array([width, height], self.dtype)
        else:
            self._texels = np.zeros((0, self.spec.n_output_dims), self.dtype)
            self._image_size = np.zeros(2, np.int64)
            self._image_scale = np.zeros(2, self.dtype)

    def set_learning_rates(self, network: float, encoding: float | None) -> None:
        """New learning rates, keeping the optimizers' state (Adam's moments)."""
        self._optimizer.lr = network
        if self._grid_optimizer is not None and encoding is not None:
            self._grid_optimizer.lr = encoding

    def _host_buffer(self, batch: int) -> np.ndarray:
        """The features `_encode_on_host` writes for `batch` rows: (B, n_features) of a host
        encoder, (n_levels B, n_features per level) of a gathered grid, else no rows."""
        if self._gathered:
            per_level = int(self._grid_ints[0])
            n_levels = self.n_features // per_level
            return np.zeros((n_levels * batch, per_level), self.dtype)
        rows = batch if self._host_encoder is not None else 0
        return np.zeros((rows, self.n_features), self.dtype)

    def _encode_on_host(self, inputs: np.ndarray, features: np.ndarray, k: np.ndarray) -> int:
        """The encoding code the training kernel is to run on `inputs` (k: its constants):
        FEATURES after a host encoder wrote `features`, LEVELS after a 2-D grid's
        `grid2d.gather` did (level by level over the whole batch), else the encoding's own."""
        if self._host_encoder is not None:
            self._host_encoder.encode(inputs, features, self._no_scratch)
            return encode.FEATURES
        if self._gathered:
            scales, offsets, sizes, resolutions, hashed = self._grid_arrays
            grid2d.gather(
                inputs, self._table, scales, offsets, sizes, resolutions, hashed,
                int(self._grid_ints[0]), int(self._grid_ints[1]), k, features,
            )  # fmt: skip
            return encode.LEVELS
        return self._kind

    def _gradients(self, sample_in_kernel: bool, reduce: bool = True) -> float:
        """The loss of the batch in the input buffers; the gradients into the chunks' rows
        (and reduced into mlp.grads when `reduce`) and the grid's grads (only meaningful when
        the loss is finite)."""
        kind = self._encode_on_host(self._inputs, self._host_features, self._consts)
        image_size = self._image_size if sample_in_kernel else np.zeros(2, np.int64)
        network.train_chunks(
            self._inputs, self._targets, self._texels, image_size, self._image_scale,
            kind, self._enc_values, self._table, self._grid_arrays, self._grid_ints,
            self._host_features, self.mlp.params, self._transposed, self._sizes,
            self._w_offsets, self._b_offsets, self._act_codes, network.LOSS_CODES[self.spec.loss],
            self._consts, self._n_chunks, self._tile_rows, self._scratch, self._partial,
            self._chunk_losses, self._feature_grads, self._no_outputs,
        )  # fmt: skip
        loss = math.fsum(self._chunk_losses) / (self._batch * self.spec.n_output_dims)
        if not math.isfinite(loss):
            return loss
        if reduce:
            optim.reduce_gradients(self._partial, self._n_chunks, self.mlp.grads)
        if self._grid is not None:
            if not self._grid_grads_zero:
                self._grid.grads[:] = 0
            scales, offsets, sizes, resolutions, hashed = self._grid_arrays
            scatter = grid2d.scatter if self._gathered else encode.grid_scatter
            scatter(
                self._inputs, self._feature_grads, scales, offsets, sizes, resolutions, hashed,
                int(self._grid_ints[0]), int(self._grid_ints[1]), self._consts, self._grid.grads,
            )  # fmt: skip
            self._grid_grads_zero = False
        return loss

    _warm = False  # a round has run (the kernels are loaded)
    _grid_grads_zero = True  # the grid's grads are zero (the optimizer clears them behind it)

    def compute_gradients(self, inputs: np.ndarray, targets: np.ndarray) -> float:
        """Loss of the host-fed batch inputs (B, n_input_dims) -> targets (B, n_output_dims);
        gradients into `mlp.grads` (and the grid's `grads`) when it is finite."""
        batch = inputs.shape[0]
        if batch != self._batch:
            self._allocate(batch)
        self._inputs[...] = inputs
        self._targets[...] = targets
        numba.set_num_threads(self.policy.best())
        with blas_threads(1), LAUNCH:
            return self._gradients(sample_in_kernel=False)

    def update(self) -> None:
        """One optimizer step from the last computed gradients (network, then grid table),
        clipped first and skipping frozen parts, as the NumPy trainer (`gfxnn.fused.controls`)."""
        numba.set_num_threads(self.policy.best())
        with LAUNCH:
            self._update(reduced=True)

    def _update(self, reduced: bool) -> None:
        """`update` on the round's thread count; `reduced`: mlp.grads holds the batch's
        gradient already (else the chunks' rows are reduced here)."""
        controls = self.controls
        network_learns = not controls.freeze_network
        grid_learns = self._grid_optimizer is not None and not controls.freeze_encoding
        if not reduced and (controls.gradient_clip != "none" or not network_learns):
            optim.reduce_gradients(self._partial, self._n_chunks, self.mlp.grads)
            reduced = True
        if controls.gradient_clip != "none":
            learning = [self.mlp.grads] if network_learns else []
            if grid_learns:
                learning.append(self._grid.grads)  # type: ignore[union-attr]
            clip_gradients(controls.gradient_clip, controls.clip_value, learning)
        if network_learns and not reduced:
            self._optimizer.step_network(
                self._partial, self._n_chunks, self._sizes, self._w_offsets, self._transposed
            )
        elif network_learns:
            self._optimizer.step(zero_grads=False, parallel=False)
            optim.transpose_weights(self.mlp.params, self._sizes, self._w_offsets, self._transposed)
        if grid_learns:
            self._grid_optimizer.step(zero_grads=True, parallel=True)  # type: ignore[union-attr]
            self._grid_grads_zero = True

    # ----- MLPZen's controls ------------------------------------------------------------
    def _set_controls(self, controls: TrainingControls) -> None:
        self.controls = controls
        # fp16 inference (MLPZen's "Use FP16 for MLP") runs the NumPy reference's rounding.
        self.mlp.half_inference = controls.precision == "fp16"

    def set_controls(self, spec: ModelSpec) -> None:
        """Switch to `spec`'s freezing, clipping and precision, keeping weights and optimizer
        state; the rest of `spec` must equal the trainer's (ValueError otherwise, and nothing
        changes)."""
        self._set_controls(TrainingControls.switched(self.spec, spec))
        self.spec = spec

    def train(self, n_steps: int, batch_size: int) -> None:
        """`n_steps` steps on batches drawn from the target; stops at a non-finite loss."""
        if self.target is None:
            raise ValueError("this trainer has no target to draw batches from")
        if batch_size != self._batch:
            self._allocate(batch_size)
        image = self._image_size[0] > 0
        done = 0
        while done < n_steps and not self._diverged:
            n = min(ROUND_STEPS, n_steps - done)
            threads = self.policy.choose()
            numba.set_num_threads(threads)
            start = time.perf_counter()
            # One BLAS thread inside each kernel thread: the parallelism is the chunks'.
            with blas_threads(1):
                finished = self._train_round(n, image)
            if self._warm:  # the first round loads (or compiles) the kernels: not a speed
                self.policy.record(threads, time.perf_counter() - start, finished)
            self._warm = True
            done += n

    def _train_round(self, n_steps: int, image: bool) -> int:
        backward, optimize = self._timings["backpropagation"], self._timings["optimization"]
        for step in range(n_steps):
            start = time.perf_counter()
            if image:  # the kernel takes the texels; only the UVs come from NumPy's generator
                self.rng.random(out=self._inputs, dtype=self.dtype.type)
            else:
                self.target.sample(self.rng, self._inputs, self._targets)
            with LAUNCH:
                loss = self._gradients(sample_in_kernel=image, reduce=False)
            middle = time.perf_counter()
            backward[0] += middle - start
            backward[1] += 1
            if not math.isfinite(loss):
                self._diverged = self._steps + 1
                return step
            # Not update(): it would set the threads back to the best count mid-round, and an
            # exploring round would then time the other count for one step in eight.
            with LAUNCH:
                self._update(reduced=False)
            optimize[0] += time.perf_counter() - middle
            optimize[1] += 1
            self._steps += 1
            self._losses.append(loss)
        return n_steps

    def read_losses(self) -> list[float]:
        losses, self._losses = self._losses, []
        return losses

    def diverged_at(self) -> int:
        return self._diverged

    def timings_ms(self) -> dict[str, float]:
        return {name: 1e3 * t / n if n else 0.0 for name, (t, n) in self._timings.items()}

    # ----- inference --------------------------------------------------------------------
    def infer(self, inputs: np.ndarray) -> np.ndarray:
        """(N, n_output_dims) network output for inputs (N, n_input_dims)."""
        inputs = np.ascontiguousarray(inputs, self.dtype)
        if inputs.ndim != 2 or inputs.shape[1] != self.spec.n_input_dims:
            raise ValueError(
                f"inputs must have shape (N, {self.spec.n_input_dims}), got {inputs.shape}"
            )
        n = inputs.shape[0]
        out = np.empty((n, self.spec.n_output_dims), self.dtype)
        if n == 0:
            return out
        if self.mlp.half_inference:
            return fused_render.infer(self._numpy_encoder(), self.mlp, inputs)
        host = self._host_buffer(n)
        consts = make_consts(self.dtype, RELATIVE_L2_EPSILON, 0.0)
        n_chunks, tile_rows, scratch, no_grads = self._chunk_buffers(n, 0)
        empty = np.zeros((0, self.spec.n_output_dims), self.dtype)
        numba.set_num_threads(self.policy.best())
        with blas_threads(1), LAUNCH:
            kind = self._encode_on_host(inputs, host, consts)
            network.train_chunks(
                inputs, empty, self._texels, np.zeros(2, np.int64), self._image_scale,
                kind, self._enc_values, self._table, self._grid_arrays, self._grid_ints,
                host, self.mlp.params, self._transposed, self._sizes, self._w_offsets,
                self._b_offsets, self._act_codes, 0, consts, n_chunks, tile_rows, scratch,
                no_grads, np.zeros(n_chunks), np.zeros((0, self.n_features), self.dtype), out,
            )  # fmt: skip
        return out

    def render(self, shape: tuple[int, ...]) -> np.ndarray:
        """Inference on the regular grid of `shape` (last input dimension first: (H, W) for
        (u, v)); sample i of n sits at i / (n - 1), 0 when n is 1.

        An image (H, W) of a separable encoding (Frequency, Identity) renders in one parallel
        kernel with the first layer split into column and row terms (`gfxnn.compiled.render`:
        the NumPy renderer's values up to float32 summation order); every other case, and
        fp16 inference, runs the NumPy fused path's renderer on these weights."""
        shape = tuple(int(s) for s in shape)
        if len(shape) != self.spec.n_input_dims or min(shape, default=0) < 1:
            raise ValueError(
                f"render shape must have {self.spec.n_input_dims} sizes >= 1, got {shape}"
            )
        separable = self._kind in (encode.FREQUENCY, encode.IDENTITY)
        if len(shape) == 2 and separable and not self.mlp.half_inference:
            return self._render_separable(*shape)
        with blas_threads(1):  # spinning BLAS threads lose on these shapes (fused/threads.py)
            return fused_render.render_grid(self._numpy_encoder(), self.mlp, shape)

    def _render_separable(self, height: int, width: int) -> np.ndarray:
        """`render` of a 2-D separable encoding: the first layer's column and row terms on
        the host, every pixel in one parallel kernel (`gfxnn.compiled.render`)."""
        dtype, sizes = self.dtype, self.mlp.sizes
        n = height * width
        n_chunks, tile_rows = render_chunking(n, max(sizes[1:]))
        scratch = np.empty((n_chunks, 2 * tile_rows * max(sizes[1:])), dtype)
        out = np.empty((n, sizes[-1]), dtype)
        consts = make_consts(dtype, RELATIVE_L2_EPSILON, 0.0)
        numba.set_num_threads(self.policy.best())
        # The host's two small products run on one BLAS thread too: a multi-threaded BLAS
        # call leaves its workers spinning for a while after it returns, on the cores the
        # kernel's threads then need (measured: 2 threads took 159 ms instead of 91).
        with blas_threads(1), LAUNCH:
            columns = render.axis_features(
                self._kind, self._enc_values, fused_render.axis_samples(width, dtype)
            )
            rows = render.axis_features(
                self._kind, self._enc_values, fused_render.axis_samples(height, dtype)
            )
            half = columns.shape[1]
            weight, bias = self.mlp.weights[0], self.mlp.biases[0]
            column_terms = np.ascontiguousarray(columns @ weight[:, :half].T)
            row_terms = np.ascontiguousarray(rows @ weight[:, half:].T + bias)
            render.render_chunks(
                width, column_terms, row_terms, self.mlp.params, self._transposed,
                self._sizes, self._w_offsets, self._b_offsets, self._act_codes, consts,
                tile_rows, scratch, out,
            )  # fmt: skip
        return out.reshape(height, width, sizes[-1])

    def _numpy_encoder(self) -> Any:
        """The NumPy fused encoder of this model (sharing the grid's table)."""
        if self._grid is not None:
            return self._grid
        if self._host_encoder is not None:
            return self._host_encoder
        if self._render_encoder is None:
            self._render_encoder = encoder_from_config(
                self.spec.encoding, self.spec.n_input_dims, self.dtype
            )
        return self._render_encoder

    _render_encoder: Any = None

    # ----- weights ----------------------------------------------------------------------
    def _state_encoder(self) -> Any:
        return self._grid if self._grid is not None else self._host_encoder

    def state_dict(self) -> dict[str, np.ndarray]:
        """ "layers.{i}.weight"/"layers.{i}.bias" (gfxnn.nn.MLP's names), "encoding.table" for
        a grid, "encoding.{name}" for a host encoding's fixed state; copies."""
        return fused_state.state_dict(self.mlp, self._state_encoder())

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Replace the parameters (checked first: a ValueError names the first mismatch);
        the optimizer state restarts."""
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict of arrays, got {type(state).__name__}")
        fused_state.load_state(self.mlp, self._state_encoder(), state)
        self._make_optimizers()
        self._grid_grads_zero = True
