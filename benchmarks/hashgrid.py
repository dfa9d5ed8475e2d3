"""Benchmark: hash-grid encode + backward (to the table), gfxnn's NumPy kernels vs PyTorch CPU.

Both sides run the same maths on the same inputs (tiny-cuda-nn's HashGrid, see
gfxnn/encodings/grid_kernels.py): per level, the 2^d corner rows (dense index or spatial
hash), the (smoothstep-free) linear weights, the gather and weighted sum, and for the backward
the scatter-add of weight * upstream gradient into a zeroed table gradient. The PyTorch version
is written here with the same per-dimension factorisation of corners and weights, its encode
both plain (index_select of (T, F) rows) and tuned (complex64 rows, as gfxnn does), its
hand-written backward with `index_add_` of rows, a flat `scatter_add_`, and a per-feature 1-D
`index_add_`; the fastest encode plus the fastest backward is the reference. No input gradient
on either side (image fitting does not need one). Times are medians of wall-clock and of CPU time.

One thread each (torch.set_num_threads(1), threadpoolctl for NumPy); repeats alternate
between the libraries so both see the same machine load; figures are medians.

    python benchmarks/hashgrid.py                      # 2^16 2-D points, scales 2.0 and 1.5
    python benchmarks/hashgrid.py --repeats 15 --per-level-scale 2.0
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from gfxnn.encodings import grid_kernels as kernels


class TorchHashGrid:
    """The grid's forward and hand-written table backward in PyTorch (CPU, float32)."""

    def __init__(self, layout: kernels.GridLayout, table: np.ndarray) -> None:
        self.layout = layout
        self.table = torch.from_numpy(table.copy())
        self.grad_table = torch.zeros_like(self.table)
        self.saved: list[tuple[torch.Tensor, torch.Tensor]] = []

    def _level(self, x: torch.Tensor, level: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Global rows and weights, each (C, n), of level `level` (corner bit k = dim k)."""
        layout = self.layout
        position = x * layout.scales[level] + 0.5  # (n, d)
        cell = torch.floor(position)
        t = position - cell
        vertex = cell.long()
        rows: torch.Tensor | None = None
        weights: torch.Tensor | None = None
        stride = 1
        for k in range(layout.n_input_dims):
            v = torch.stack((vertex[:, k], vertex[:, k] + 1))  # (2, n)
            if layout.hashed[level]:
                v = (v * kernels.PRIMES[k]) & 0xFFFFFFFF
            else:
                v = v * stride
                stride *= layout.resolutions[level]
            w = torch.stack((1.0 - t[:, k], t[:, k]))
            if rows is None or weights is None:
                rows, weights = v, w
            else:  # new dimension is the more significant corner bit
                combine = torch.bitwise_xor if layout.hashed[level] else torch.add
                rows = combine(v[:, None, :], rows[None, :, :]).reshape(-1, x.shape[0])
                weights = (w[:, None, :] * weights[None, :, :]).reshape(-1, x.shape[0])
        assert rows is not None and weights is not None
        rows = torch.remainder(rows, layout.sizes[level]) + layout.offsets[level]
        return rows, weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (n, d) -> (n, L*F), level-major; saves rows and weights for backward.
        The gather is index_select of (F,)-rows and a broadcast product (plain PyTorch)."""
        n, n_features = x.shape[0], self.layout.n_features
        out = torch.empty(n, self.layout.n_output_dims)
        self.saved = []
        for level in range(self.layout.n_levels):
            rows, weights = self._level(x, level)
            values = self.table.index_select(0, rows.reshape(-1)).view(*rows.shape, n_features)
            out[:, level * n_features : (level + 1) * n_features] = (
                values * weights[..., None]
            ).sum(0)
            self.saved.append((rows, weights))
        return out

    def forward_complex(self, x: torch.Tensor) -> torch.Tensor:
        """The same, tuned as gfxnn's kernel: a 2-feature row is one complex64, so the gather
        is a 1-D index_select and the weighting a complex-times-real product (~5x faster)."""
        n, n_levels = x.shape[0], self.layout.n_levels
        pairs = torch.view_as_complex(self.table)  # (T,)
        out = torch.empty(n, n_levels, dtype=torch.complex64)
        self.saved = []
        for level in range(n_levels):
            rows, weights = self._level(x, level)
            values = pairs.index_select(0, rows.reshape(-1)).view(rows.shape)
            out[:, level] = (values * weights).sum(0)
            self.saved.append((rows, weights))
        return torch.view_as_real(out).reshape(n, -1)

    def backward_index_add(self, grad_out: torch.Tensor) -> torch.Tensor:
        """dL/dtable with index_add_ of (C*n, F) rows."""
        n_features = self.layout.n_features
        self.grad_table.zero_()
        for level, (rows, weights) in enumerate(self.saved):
            g = grad_out[:, level * n_features : (level + 1) * n_features]  # (n, F)
            source = (weights[..., None] * g[None]).reshape(-1, n_features)
            self.grad_table.index_add_(0, rows.reshape(-1), source)
        return self.grad_table

    def backward_scatter_add(self, grad_out: torch.Tensor) -> torch.Tensor:
        """dL/dtable with scatter_add_ into the flat table, index row * F + f."""
        n_features = self.layout.n_features
        flat = self.grad_table.view(-1)
        flat.zero_()
        features = torch.arange(n_features)
        for level, (rows, weights) in enumerate(self.saved):
            g = grad_out[:, level * n_features : (level + 1) * n_features]
            source = (weights[..., None] * g[None]).reshape(-1)
            index = (rows[..., None] * n_features + features).reshape(-1)
            flat.scatter_add_(0, index, source)
        return self.grad_table

    def backward_per_feature(self, grad_out: torch.Tensor) -> torch.Tensor:
        """dL/dtable with a 1-D index_add_ per feature into the table's column, the upstream
        gradient transposed once so each product reads a contiguous row (gfxnn's layout)."""
        n_features = self.layout.n_features
        grad_rows = grad_out.T.contiguous()  # (L*F, n)
        self.grad_table.zero_()
        for level, (rows, weights) in enumerate(self.saved):
            flat_rows = rows.reshape(-1)
            for f in range(n_features):
                source = (weights * grad_rows[level * n_features + f]).reshape(-1)
                self.grad_table[:, f].index_add_(0, flat_rows, source)
        return self.grad_table


class NumpyHashGrid:
    """gfxnn's kernels with buffers allocated once, as the fused path uses them."""

    def __init__(self, layout: kernels.GridLayout, table: np.ndarray, n: int) -> None:
        self.layout = layout
        self.table = table
        shape = (layout.n_levels, 2**layout.n_input_dims, n)
        self.indices = np.empty(shape, np.intp)
        self.weights = np.empty(shape, table.dtype)
        self.out = np.empty((n, layout.n_output_dims), table.dtype)
        self.grad_table = np.empty_like(table)
        self.workspace = kernels.Workspace()

    def forward(self, x: np.ndarray) -> np.ndarray:
        kernels.corners(
            self.layout, np.ascontiguousarray(x.T), "Linear", self.indices, self.weights
        )
        kernels.gather(self.layout, self.table, self.indices, self.weights, self.out)
        return self.out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        kernels.table_gradient(
            self.layout, grad_out, self.indices, self.weights, self.grad_table, self.workspace
        )
        return self.grad_table


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and this thread's CPU seconds of fn(); on a shared machine the CPU time is
    the steadier of the two (it leaves out the time other processes held the core)."""
    wall, cpu = time.perf_counter(), time.thread_time()
    fn()
    return time.perf_counter() - wall, time.thread_time() - cpu


def run(
    per_level_scale: float, batch: int, repeats: int, seed: int
) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) milliseconds of each step."""
    layout = kernels.grid_layout(2, 16, 2, 19, 16, per_level_scale, hashed=True)
    rng = np.random.default_rng(seed)
    # A trained-looking table (init is +-1e-4; larger values make the comparison meaningful).
    table = rng.uniform(-1.0, 1.0, (layout.n_entries, layout.n_features)).astype(np.float32)
    x = rng.uniform(0.0, 1.0, (batch, 2)).astype(np.float32)
    grad = rng.standard_normal((batch, layout.n_output_dims)).astype(np.float32)
    ours, theirs = NumpyHashGrid(layout, table, batch), TorchHashGrid(layout, table)
    x_torch, grad_torch = torch.from_numpy(x), torch.from_numpy(grad)

    # Same numbers first: a benchmark of two different computations would mean nothing.
    expected_out = ours.forward(x)
    for forward in (theirs.forward, theirs.forward_complex):
        np.testing.assert_allclose(expected_out, forward(x_torch).numpy(), atol=1e-5)
    expected = ours.backward(grad)
    torch_backwards = {
        "index_add_": theirs.backward_index_add,
        "scatter_add_": theirs.backward_scatter_add,
        "per-feature index_add_": theirs.backward_per_feature,
    }
    for backward in torch_backwards.values():
        np.testing.assert_allclose(expected, backward(grad_torch).numpy(), atol=1e-3)

    steps: dict[str, Callable[[], object]] = {
        "gfxnn encode": lambda: ours.forward(x),
        "gfxnn backward": lambda: ours.backward(grad),
        "torch encode": lambda: theirs.forward(x_torch),
        "torch encode (complex)": lambda: theirs.forward_complex(x_torch),
    }
    for name, backward in torch_backwards.items():
        steps[f"torch backward {name}"] = lambda b=backward: b(grad_torch)  # type: ignore[misc]
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            times[name].append(timed(step))
    return {
        name: (statistics.median(t[0] for t in ts) * 1e3, statistics.median(t[1] for t in ts) * 1e3)
        for name, ts in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=2**16)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--per-level-scale", type=float, nargs="*", default=[2.0, 1.5])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with threadpool_limits(1), torch.no_grad():
        print(
            f"HashGrid 2-D, 16 levels x 2 features, 2^19 entries, base 16, batch {args.batch}, "
            f"1 thread, median of {args.repeats}"
        )
        for scale in args.per_level_scale:
            m = run(scale, args.batch, args.repeats, args.seed)
            print(f"\nper_level_scale {scale}: median ms, wall / CPU")
            for name, (wall, cpu) in m.items():
                print(f"  {name:38s} {wall:8.1f} / {cpu:8.1f}")
            for clock, i in (("wall", 0), ("CPU", 1)):
                ours = m["gfxnn encode"][i] + m["gfxnn backward"][i]
                torch_encode = min(m["torch encode"][i], m["torch encode (complex)"][i])
                backwards = [v[i] for k, v in m.items() if k.startswith("torch backward")]
                best = torch_encode + min(backwards)
                print(
                    f"  {clock:4s}: gfxnn encode + backward {ours:6.1f} ms "
                    f"({args.batch / ours * 1e-3:.2f} M points/s), fastest torch {best:6.1f} ms, "
                    f"time ratio gfxnn/torch {ours / best:.2f} (bar <= 2)"
                )


if __name__ == "__main__":
    main()
