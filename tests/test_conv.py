"""Convolution, pooling, upsampling, dropout and batch norm: values and gradients against
PyTorch over a grid of shapes, finite differences in float64, the composition of primitives,
modules, and the errors a user meets."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_against_torch, random_inputs

import gfxnn
from gfxnn import image_ops, nn, ops

# (N, C, O, H, W, kernel, stride, padding, dilation, bias): odd sizes, rectangular kernels,
# strides that do not divide the input, 1x1 kernels, kernels as large as the padded input.
CONV_CASES = [
    (2, 3, 4, 9, 7, 3, 1, 0, 1, True),
    (1, 1, 6, 28, 28, 5, 1, 2, 1, True),
    (2, 6, 16, 14, 14, 5, 1, 0, 1, False),
    (3, 2, 5, 11, 13, (3, 2), (2, 3), (1, 2), (2, 1), True),
    (2, 4, 3, 8, 8, 1, 1, 0, 1, True),
    (1, 3, 2, 7, 5, 3, 2, 1, 1, True),
    (2, 2, 3, 10, 9, (2, 4), 3, 0, 2, True),
    (1, 5, 7, 6, 6, 6, 1, 0, 1, True),
    (2, 3, 2, 5, 9, 3, (1, 2), 2, 3, False),
    (1, 8, 8, 16, 15, 3, 2, 1, 1, True),
    # stride 1 with padding beyond the kernel's reach on one axis: the scatter input gradient
    (1, 2, 3, 5, 6, (1, 3), 1, 1, 1, True),
]


def _kernel(k: int | tuple[int, int]) -> tuple[int, int]:
    return (k, k) if isinstance(k, int) else k


@pytest.mark.parametrize("n, c, o, h, w, kernel, stride, padding, dilation, bias", CONV_CASES)
def test_conv2d_matches_torch(n, c, o, h, w, kernel, stride, padding, dilation, bias):
    torch = pytest.importorskip("torch")
    shapes = [(n, c, h, w), (o, c, *_kernel(kernel))] + ([(o,)] if bias else [])
    inputs = random_inputs(shapes, seed=n * 100 + c)

    def ours(*a):
        return image_ops.conv2d(a[0], a[1], a[2] if bias else None, stride, padding, dilation)

    def theirs(*a):
        b = a[2] if bias else None
        return torch.nn.functional.conv2d(a[0], a[1], b, stride, padding, dilation)

    check_against_torch(ours, theirs, inputs, atol=1e-10)


# (N, C, O, H, W, kernel, stride, padding, output_padding, dilation, bias)
CONV_TRANSPOSE_CASES = [
    (2, 3, 4, 5, 4, 3, 1, 0, 0, 1, True),
    (2, 8, 4, 7, 7, 2, 2, 0, 0, 1, True),
    (1, 3, 2, 6, 5, (3, 2), (2, 3), (1, 0), (1, 2), (2, 1), True),
    (2, 2, 3, 4, 7, 4, 2, 1, 1, 1, False),
    (1, 4, 4, 3, 3, 1, 1, 0, 0, 1, True),
    (2, 5, 1, 9, 8, 5, 3, 2, 2, 1, True),
    (1, 2, 3, 6, 7, 3, 1, 3, 0, 1, True),  # stride 1, padding beyond the kernel's reach
]


@pytest.mark.parametrize(
    "n, c, o, h, w, kernel, stride, padding, output_padding, dilation, bias",
    CONV_TRANSPOSE_CASES,
)
def test_conv_transpose2d_matches_torch(
    n, c, o, h, w, kernel, stride, padding, output_padding, dilation, bias
):
    torch = pytest.importorskip("torch")
    shapes = [(n, c, h, w), (c, o, *_kernel(kernel))] + ([(o,)] if bias else [])
    inputs = random_inputs(shapes, seed=o * 10 + c)

    def ours(*a):
        b = a[2] if bias else None
        return image_ops.conv_transpose2d(a[0], a[1], b, stride, padding, output_padding, dilation)

    def theirs(*a):
        b = a[2] if bias else None
        return torch.nn.functional.conv_transpose2d(
            a[0], a[1], b, stride, padding, output_padding, 1, dilation
        )

    check_against_torch(ours, theirs, inputs, atol=1e-10)


# (shape, kernel, stride, padding, dilation)
POOL_CASES = [
    ((2, 3, 8, 8), 2, None, 0, 1),
    ((2, 3, 9, 7), 3, 2, 1, 1),
    ((1, 2, 11, 10), (2, 3), (1, 2), (1, 1), 1),
    ((2, 1, 7, 9), 3, 1, 1, 1),
    ((1, 3, 12, 13), 2, 3, 0, 1),
]


@pytest.mark.parametrize("shape, kernel, stride, padding, dilation", POOL_CASES)
def test_pools_match_torch(shape, kernel, stride, padding, dilation):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    inputs = random_inputs([shape], seed=len(shape) + sum(shape))
    check_against_torch(
        lambda x: image_ops.max_pool2d(x, kernel, stride, padding, dilation),
        lambda x: F.max_pool2d(x, kernel, stride, padding, dilation),
        inputs,
    )
    check_against_torch(
        lambda x: image_ops.avg_pool2d(x, kernel, stride, padding),
        lambda x: F.avg_pool2d(x, kernel, stride, padding),
        inputs,
    )


def test_max_pool_dilated_and_ties_match_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = random_inputs([(2, 2, 11, 9)], seed=3)
    check_against_torch(
        lambda t: image_ops.max_pool2d(t, 3, 2, 1, 2), lambda t: F.max_pool2d(t, 3, 2, 1, 2), x
    )
    # Tied maxima: the whole gradient goes to the first one in the window, as in PyTorch.
    ties = [np.round(random_inputs([(1, 2, 6, 6)], seed=4)[0])]
    check_against_torch(lambda t: image_ops.max_pool2d(t, 2), lambda t: F.max_pool2d(t, 2), ties)
    check_against_torch(
        lambda t: image_ops.max_pool2d(t, 3, 1),
        lambda t: F.max_pool2d(t, 3, 1),
        [np.ones((1, 1, 4, 5))],
    )


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("scale", [2, 3, 1.5, (2, 3), 0.5])
def test_upsample_matches_torch(mode, scale):
    torch = pytest.importorskip("torch")
    inputs = random_inputs([(2, 3, 5, 6)], seed=5)
    check_against_torch(
        lambda x: image_ops.upsample(x, scale, mode),
        lambda x: torch.nn.functional.interpolate(x, scale_factor=scale, mode=mode),
        inputs,
    )


@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_training_and_eval_match_torch(affine):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, weight, bias = random_inputs([(4, 3, 5, 7), (3,), (3,)], seed=6)
    ours_mean, ours_var = np.zeros(3), np.ones(3)
    torch_mean, torch_var = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    for training in (True, True, False):
        inputs = [x + 1.5, weight, bias] if affine else [x + 1.5]

        def ours(*a, training=training):
            w, b = (a[1], a[2]) if affine else (None, None)
            return image_ops.batch_norm(a[0], ours_mean, ours_var, w, b, training, 0.2, 1e-4)

        def theirs(*a, training=training):
            w, b = (a[1], a[2]) if affine else (None, None)
            return F.batch_norm(a[0], torch_mean, torch_var, w, b, training, 0.2, 1e-4)

        check_against_torch(ours, theirs, inputs, atol=1e-10)
        np.testing.assert_allclose(ours_mean, torch_mean.numpy(), atol=1e-12)
        np.testing.assert_allclose(ours_var, torch_var.numpy(), atol=1e-12)
    assert not np.allclose(ours_var, 1.0)  # the running statistics really moved


# ----- finite differences in float64 -------------------------------------------------------
GRADCHECK_CASES = {
    "conv2d": (
        lambda x, w, b: image_ops.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2)),
        [(2, 2, 5, 6), (3, 2, 2, 3), (3,)],
    ),
    "conv_transpose2d": (
        lambda x, w, b: image_ops.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
        [(1, 2, 3, 4), (2, 3, 3, 2), (3,)],
    ),
    "max_pool2d": (lambda x: image_ops.max_pool2d(x, 2, 1, 1), [(1, 2, 4, 5)]),
    "avg_pool2d": (lambda x: image_ops.avg_pool2d(x, 3, 2, 1), [(1, 2, 5, 6)]),
    "upsample bilinear": (lambda x: image_ops.upsample(x, 2.5, "bilinear"), [(1, 2, 3, 4)]),
    "batch_norm": (
        lambda x, w, b: image_ops.batch_norm(x, None, None, w, b, training=True),
        [(3, 2, 3, 2), (2,), (2,)],
    ),
}


@pytest.mark.parametrize("name", sorted(GRADCHECK_CASES))
def test_gradcheck(name):
    fn, shapes = GRADCHECK_CASES[name]
    assert gfxnn.gradcheck(fn, random_inputs(shapes, seed=7), atol=1e-6, rtol=1e-5)


def conv2d_composed(x, w, b, stride, padding):
    """conv2d built from primitives (pad, slicing, matmul, add): differentiated by the
    engine, it is an independent check of the fused VJP."""
    o, c, kh, kw = w.shape
    xp = ops.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out_h = (xp.shape[2] - kh) // stride + 1
    out_w = (xp.shape[3] - kw) // stride + 1
    total = None
    for i in range(kh):
        for j in range(kw):
            window = xp[
                :,
                :,
                i : i + stride * (out_h - 1) + 1 : stride,
                j : j + stride * (out_w - 1) + 1 : stride,
            ]
            term = ops.matmul(window.transpose(0, 2, 3, 1), w[:, :, i, j].T)  # (N, OH, OW, O)
            total = term if total is None else total + term
    return (total + b).transpose(0, 3, 1, 2)


def test_conv2d_fused_vjp_matches_its_composition():
    x, w, b = random_inputs([(2, 3, 7, 6), (4, 3, 3, 2), (4,)], seed=8)
    upstream = np.random.default_rng(9).standard_normal((2, 4, 4, 4))
    results = []
    for fn in (
        lambda *a: image_ops.conv2d(*a, stride=2, padding=1),
        lambda *a: conv2d_composed(*a, 2, 1),
    ):
        leaves = [gfxnn.Tensor(a, requires_grad=True) for a in (x, w, b)]
        out = fn(*leaves)
        out.backward(upstream)
        results.append([out.data] + [t.grad for t in leaves])
    for fused, composed in zip(*results, strict=True):
        np.testing.assert_allclose(fused, composed, atol=1e-12)


@pytest.mark.parametrize("stride, padding, dilation", [(1, 0, 1), (2, 1, 1), (3, 2, 2)])
def test_conv_transpose2d_is_the_adjoint_of_conv2d(stride, padding, dilation):
    # <conv2d(x, w), y> = <x, conv_transpose2d(y, w)> for every x, y: the defining identity.
    x, w = random_inputs([(2, 3, 11, 10), (4, 3, 3, 3)], seed=13)
    forward = image_ops.conv2d(x, w, None, stride, padding, dilation).data
    y = np.random.default_rng(14).standard_normal(forward.shape)
    extra = [
        x.shape[axis] - ((forward.shape[axis] - 1) * stride - 2 * padding + dilation * 2 + 1)
        for axis in (2, 3)
    ]
    back = image_ops.conv_transpose2d(y, w, None, stride, padding, tuple(extra), dilation).data
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(forward * y), np.sum(x * back), rtol=1e-12)


def test_float32_stays_float32_and_matches_float64():
    x, w, b = random_inputs([(2, 3, 8, 8), (4, 3, 3, 3), (4,)], seed=10)
    single = image_ops.conv2d(
        x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), 1, 1
    )
    assert single.dtype == np.float32
    np.testing.assert_allclose(single.data, image_ops.conv2d(x, w, b, 1, 1).data, atol=1e-4)


# ----- modules -----------------------------------------------------------------------------
def test_conv_modules_layout_and_match_torch_modules():
    torch = pytest.importorskip("torch")
    layer = nn.Conv2d(3, 5, (3, 2), stride=2, padding=1, dilation=(1, 2), rng=0, dtype="float64")
    assert layer.weight.shape == (5, 3, 3, 2) and layer.bias is not None
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    limit = np.sqrt(6.0 / (3 * 6 + 5 * 6))  # Xavier with fan_in = C*KH*KW, fan_out = O*KH*KW
    assert 0.8 * limit < np.abs(layer.weight.data).max() <= limit
    ref = torch.nn.Conv2d(3, 5, (3, 2), stride=2, padding=1, dilation=(1, 2)).double()
    ref.load_state_dict({k: torch.tensor(v) for k, v in layer.state_dict().items()})
    x = random_inputs([(2, 3, 9, 8)], seed=11)[0]
    np.testing.assert_allclose(layer(x).data, ref(torch.tensor(x)).detach().numpy(), atol=1e-12)

    up = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, rng=0, dtype="float64")
    assert up.weight.shape == (4, 2, 3, 3)
    ref_up = torch.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1).double()
    ref_up.load_state_dict({k: torch.tensor(v) for k, v in up.state_dict().items()})
    x = random_inputs([(1, 4, 5, 6)], seed=12)[0]
    np.testing.assert_allclose(up(x).data, ref_up(torch.tensor(x)).detach().numpy(), atol=1e-12)


def test_batchnorm2d_module_buffers_state_dict_and_eval():
    torch = pytest.importorskip("torch")
    bn = nn.BatchNorm2d(3, dtype="float64")
    ref = torch.nn.BatchNorm2d(3).double()
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var"]
    assert [name for name, _ in bn.named_parameters()] == ["weight", "bias"]
    for seed in range(3):
        x = random_inputs([(4, 3, 5, 5)], seed=seed, low=0.0, high=3.0)[0]
        np.testing.assert_allclose(bn(x).data, ref(torch.tensor(x)).detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(bn.running_var.data, ref.running_var.numpy(), atol=1e-12)
    bn.eval(), ref.eval()
    np.testing.assert_allclose(bn(x).data, ref(torch.tensor(x)).detach().numpy(), atol=1e-10)
    copy = nn.BatchNorm2d(3, dtype="float64")
    copy.load_state_dict(bn.state_dict())
    np.testing.assert_array_equal(copy.running_mean.data, bn.running_mean.data)
    with pytest.raises(ValueError, match="3 channels"):
        nn.BatchNorm2d(4)(gfxnn.tensor(np.zeros((2, 3, 4, 4))))


def test_dropout_masks_scale_seed_and_eval():
    x = gfxnn.tensor(np.ones((200, 100)), requires_grad=True)
    layer = nn.Dropout(0.25, rng=3)
    out = layer(x)
    kept = out.data != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(out.data[kept], 1 / 0.75)
    out.backward(np.full(out.shape, 2.0))
    np.testing.assert_allclose(x.grad, np.where(kept, 2 / 0.75, 0.0))  # same mask backward
    np.testing.assert_array_equal(nn.Dropout(0.25, rng=3)(x).data, out.data)  # seeded
    assert not np.array_equal(layer(x).data, out.data)  # a fresh mask each call
    layer.eval()
    assert layer(x) is x
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        nn.Dropout(1.0)


def test_flatten_upsample_and_pool_modules():
    x = gfxnn.tensor(np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4))
    assert nn.Flatten()(x).shape == (2, 48)
    assert nn.Upsample(2, "bilinear")(x).shape == (2, 3, 8, 8)
    np.testing.assert_array_equal(nn.Upsample(2)(x).data[0, 0, :2, :2], 0.0)
    assert nn.MaxPool2d(2)(x).data[0, 0, 0, 0] == 5.0
    assert nn.AvgPool2d(2)(x).data[0, 0, 0, 0] == 2.5


# ----- errors -------------------------------------------------------------------------------
def test_errors_name_the_problem():
    x = np.zeros((1, 3, 5, 5), dtype=np.float32)
    layer = nn.Conv2d(2, 4, 3, rng=0)
    with pytest.raises(ValueError, match="input has 3 channels but the weight"):
        layer(x)
    with pytest.raises(ValueError, match=r"4-D input \(N, C, H, W\), got shape \(3, 5, 5\)"):
        nn.Conv2d(3, 4, 3, rng=0)(x[0])
    with pytest.raises(ValueError, match="larger than the padded input"):
        nn.Conv2d(3, 4, 7, padding=0, rng=0)(x)
    with pytest.raises(ValueError, match="larger than the padded input"):
        image_ops.conv2d(x, np.zeros((4, 3, 3, 3), np.float32), dilation=3)
    assert nn.Conv2d(3, 4, 7, padding=1, rng=0)(x).shape == (1, 4, 1, 1)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        nn.Conv2d(3, 4, 3, stride=0)
    with pytest.raises(TypeError, match="kernel_size must be an int or a pair"):
        nn.Conv2d(3, 4, 2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="output_padding"):
        image_ops.conv_transpose2d(
            x, np.zeros((3, 2, 3, 3), np.float32), stride=2, output_padding=2
        )
    with pytest.raises(ValueError, match="4-D input"):
        nn.MaxPool2d(2)(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="larger than the padded input"):
        nn.AvgPool2d(6)(x)
    with pytest.raises(ValueError, match="at most half the kernel"):
        nn.MaxPool2d(2, padding=2)(x)
    with pytest.raises(ValueError, match="unknown upsample mode 'cubic'"):
        nn.Upsample(2, "cubic")
    with pytest.raises(TypeError, match="float64"):
        image_ops.conv2d(x, np.zeros((4, 3, 3, 3)))
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        image_ops.conv2d(x, np.zeros((4, 3, 3, 3), np.float32), np.zeros(3, np.float32))


@pytest.mark.parametrize("scale", [True, float("inf"), float("nan"), 0.0, (2.0, float("inf"))])
def test_upsample_refuses_a_hostile_scale(scale):
    # Before: True was taken as scale 1 and inf ended in an OverflowError from NumPy.
    with pytest.raises(ValueError, match=r"scale_factor must be a finite positive number"):
        image_ops.upsample(np.ones((1, 1, 2, 2), np.float32), scale)


def test_the_old_module_name_still_works_and_says_it_moved():
    import importlib
    import sys

    sys.modules.pop("gfxnn.conv", None)
    with pytest.warns(DeprecationWarning, match="gfxnn.image_ops"):
        old = importlib.import_module("gfxnn.conv")
    assert old.conv2d is image_ops.conv2d and old.IntPair is image_ops.IntPair
