"""Views of the flat parameter buffer as the per-layer arrays the tile kernels take.

The buffer's layout is `gfxnn.fused.FusedMLP`'s: layer by layer, weight (out, in) row-major,
then bias (out,). The hidden-to-hidden layers all have the same size, so they are one strided
3-D view (layer, out, in) and one strided 2-D bias view; no copy is made, and the optimizer
still updates the whole network as one flat array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gfxnn.gpu.runtime import warp

_FLOAT = 4  # bytes of a float32


def layer_views(flat: Any, sizes: list[int], device: str) -> dict[str, Any]:
    """{"w_first", "b_first", "w_mid", "b_mid", "w_last", "b_last"} views of `flat` (a float32
    Warp array laid out as FusedMLP.params for layer widths `sizes`)."""
    wp = warp()
    n_in, hidden, n_out = sizes[0], sizes[1], sizes[-1]
    n_mid = len(sizes) - 3
    base = flat.ptr

    def view(offset: int, shape: tuple[int, ...], strides: tuple[int, ...]) -> Any:
        return wp.array(
            ptr=base + offset * _FLOAT,
            shape=shape,
            strides=tuple(s * _FLOAT for s in strides),
            dtype=wp.float32,
            device=device,
        )

    views = {
        "w_first": view(0, (hidden, n_in), (n_in, 1)),
        "b_first": view(hidden * n_in, (hidden,), (1,)),
    }
    offset = hidden * n_in + hidden
    block = hidden * hidden + hidden
    if n_mid:
        views["w_mid"] = view(offset, (n_mid, hidden, hidden), (block, hidden, 1))
        views["b_mid"] = view(offset + hidden * hidden, (n_mid, hidden), (block, 1))
    else:  # never read (the loop over middle layers is empty); kernels need an array
        views["w_mid"] = wp.zeros((1, hidden, hidden), dtype=wp.float32, device=device)
        views["b_mid"] = wp.zeros((1, hidden), dtype=wp.float32, device=device)
    offset += n_mid * block
    views["w_last"] = view(offset, (n_out, hidden), (hidden, 1))
    views["b_last"] = view(offset + n_out * hidden, (n_out,), (1,))
    assert offset + n_out * hidden + n_out == flat.shape[0]
    return views


def n_parameters(sizes: list[int]) -> int:
    """Length of the flat buffer for layer widths `sizes`."""
    return int(sum(o * i + o for i, o in zip(sizes[:-1], sizes[1:], strict=True)))


def output_mask(batch: int, padded_rows: int, n_out: int, padded_out: int) -> np.ndarray:
    """(padded_rows, padded_out) float32: 1 on the real rows and channels, 0 on the padding."""
    mask = np.zeros((padded_rows, padded_out), np.float32)
    mask[:batch, :n_out] = 1.0
    return mask
