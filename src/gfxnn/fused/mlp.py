"""`FusedMLP`: a fully connected network whose forward and backward passes write into
preallocated buffers.

Layer l maps x_l (B, n_l) to z_l = x_l W_l^T + b_l (B, n_{l+1}) and a_l = act(z_l); by default
the same activation is used on every layer, the output layer included (Dx12NN); tiny-cuda-nn
configs name a separate output activation (often "none"). All parameters live in
one flat array `params` (and their gradients in `grads`), layer by layer: weight (out, in) in
row-major order, then bias (out,), so an optimizer updates the whole network with a few
whole-array operations. `weights[l]`, `biases[l]` and the matching `*_grads` are views into them.

Backward, with g_l = dL/da_l given for the last layer:
    dL/dz_l = g_l * act'(z_l)              (act' saved by the forward pass in d_l)
    dL/dW_l = (dL/dz_l)^T x_l              (out, in)
    dL/db_l = 1^T dL/dz_l                  (a matrix-vector product with a ones vector)
    g_{l-1} = dL/dz_l W_l                  (for the first layer only when asked: the gradient
                                            to the inputs, which a trained grid encoding needs)
"""

from __future__ import annotations

import numpy as np

from gfxnn.checks import check_choice
from gfxnn.fused import activations
from gfxnn.fused.controls import round_to_half
from gfxnn.nn import init
from gfxnn.tensor import Tensor


class FusedMLP:
    """MLP n_input_dims -> n_neurons x n_hidden_layers -> n_output_dims with one activation.

    Args:
        n_input_dims, n_output_dims, n_neurons, n_hidden_layers: the layer widths.
        activation: a name from `gfxnn.fused.activations.ACTIVATIONS`, after every hidden layer.
        output_activation: the output layer's activation; None uses `activation` (Dx12NN).
        dtype: float32 (default) or float64 for all buffers.
    """

    def __init__(
        self,
        n_input_dims: int,
        n_output_dims: int,
        n_neurons: int = 64,
        n_hidden_layers: int = 2,
        activation: str = "leaky_relu",
        dtype: type = np.float32,
        output_activation: str | None = None,
    ) -> None:
        self.sizes = [n_input_dims] + [n_neurons] * n_hidden_layers + [n_output_dims]
        self.activation = activation
        self.output_activation = activation if output_activation is None else output_activation
        n_layers = len(self.sizes) - 1
        names = [activation] * (n_layers - 1) + [self.output_activation]
        self._acts = [activations.get(name) for name in names]
        self.dtype = np.dtype(dtype)
        shapes = [
            (n_out, n_in) for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True)
        ]
        n_params = sum(o * i + o for o, i in shapes)
        self.params = np.zeros(n_params, self.dtype)
        self.grads = np.zeros(n_params, self.dtype)
        self.weights: list[np.ndarray] = []
        self.biases: list[np.ndarray] = []
        self.weight_grads: list[np.ndarray] = []
        self.bias_grads: list[np.ndarray] = []
        offset = 0
        for n_out, n_in in shapes:
            for flat, views, size, shape in (
                (self.params, self.weights, n_out * n_in, (n_out, n_in)),
                (self.grads, self.weight_grads, n_out * n_in, (n_out, n_in)),
            ):
                views.append(flat[offset : offset + size].reshape(shape))
            offset += n_out * n_in
            self.biases.append(self.params[offset : offset + n_out])
            self.bias_grads.append(self.grads[offset : offset + n_out])
            offset += n_out
        self._batch = -1
        self._infer_rows = -1
        # MLPZen's "Use FP16 for MLP": inference rounds to float16, training stays as it is.
        self.half_inference = False

    @property
    def n_layers(self) -> int:
        """Number of Linear layers (weight matrices)."""
        return len(self.weights)

    def initialize(self, rng: np.random.Generator, scheme: str = "xavier_uniform") -> None:
        """Weights by `scheme` (one of `gfxnn.nn.init.SCHEMES`: Xavier, He or LeCun, uniform
        or Gaussian clamped at 3 sigma), drawn layer by layer from first to last as
        `gfxnn.nn.MLP(..., rng=rng)` draws them; zero biases. "xavier_uniform" (limit
        sqrt(6 / (fan_in + fan_out))) is the default, tiny-cuda-nn's and Dx12NN's."""
        check_choice("initialization", scheme, tuple(init.SCHEMES))
        draw = init.SCHEMES[scheme]
        for weight, bias in zip(self.weights, self.biases, strict=True):
            drawn = draw(Tensor(np.empty(weight.shape), dtype=np.float64), rng)
            weight[...] = drawn.data  # float64 draws rounded once to the buffers' dtype
            bias[...] = 0.0

    # ----- training ---------------------------------------------------------------------
    def _allocate(self, batch: int) -> None:
        widths = self.sizes[1:]
        self._z = [np.empty((batch, n), self.dtype) for n in widths]
        self._a = [np.empty((batch, n), self.dtype) for n in widths]
        self._d = [np.empty((batch, n), self.dtype) for n in widths]
        self._g = [np.empty((batch, n), self.dtype) for n in widths]
        self._ones = np.ones(batch, self.dtype)
        self.input_grad = np.empty((batch, self.sizes[0]), self.dtype)
        self._batch = batch

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Training forward pass of x (B, n_input_dims); returns the output buffer (B, n_out),
        valid until the next forward. `x` must stay unchanged until backward()."""
        if x.shape[0] != self._batch:
            self._allocate(x.shape[0])
        self._x = x
        inputs = x
        for weight, bias, z, a, d, act in zip(
            self.weights, self.biases, self._z, self._a, self._d, self._acts, strict=True
        ):
            np.matmul(inputs, weight.T, out=z)
            np.add(z, bias, out=z)
            act(z, a, d)  # the derivative into d, for backward()
            inputs = a
        return inputs

    @property
    def output_grad(self) -> np.ndarray:
        """Buffer (B, n_out) for dL/d(output); fill it after forward(), then call backward()."""
        return self._g[-1]

    def backward(self, input_grad: bool = False) -> None:
        """Gradients of all parameters into `grads` from `output_grad` (which is overwritten);
        with `input_grad`, also dL/dx into the buffer `self.input_grad` (B, n_input_dims)."""
        for layer in range(self.n_layers - 1, -1, -1):
            grad_z = self._g[layer]
            np.multiply(grad_z, self._d[layer], out=grad_z)
            inputs = self._a[layer - 1] if layer > 0 else self._x
            np.matmul(grad_z.T, inputs, out=self.weight_grads[layer])
            np.matmul(self._ones, grad_z, out=self.bias_grads[layer])
            if layer > 0:
                np.matmul(grad_z, self.weights[layer], out=self._g[layer - 1])
            elif input_grad:
                np.matmul(grad_z, self.weights[0], out=self.input_grad)

    # ----- inference --------------------------------------------------------------------
    def infer(self, x: np.ndarray, out: np.ndarray) -> None:
        """out (n, n_out) = network(x (n, n_input_dims)), through buffers reused across calls.

        With `half_inference`, MLPZen's FP16 MLP: the inputs, weights and biases are rounded to
        float16, and every layer's activations after it (the output too); the products
        accumulate in the buffers' dtype."""
        n = x.shape[0]
        if n > self._infer_rows:
            width = max(self.sizes[1:])
            self._infer_buffers = [np.empty(n * width, self.dtype) for _ in range(3)]
            self._infer_rows = n
        z_buffer, *a_buffers = self._infer_buffers
        weights, biases, inputs = self.weights, self.biases, x
        if self.half_inference:
            weights = [round_to_half(w) for w in weights]
            biases = [round_to_half(b) for b in biases]
            inputs = round_to_half(x)
        for layer, (weight, bias) in enumerate(zip(weights, biases, strict=True)):
            n_out = weight.shape[0]
            z = z_buffer[: n * n_out].reshape(n, n_out)
            np.matmul(inputs, weight.T, out=z)
            np.add(z, bias, out=z)
            last = layer == self.n_layers - 1
            # Alternate two activation buffers: layer l reads one while writing the other.
            a = out if last else a_buffers[layer % 2][: n * n_out].reshape(n, n_out)
            self._acts[layer](z, a)  # no derivative buffer: value only
            if self.half_inference:
                round_to_half(a, out=a)
            inputs = a
