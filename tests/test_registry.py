"""gfxnn.registry: every registered component builds from its config, gives that config back,
and behaves (shapes, gradients, inference = training); strict errors for bad configs."""

from __future__ import annotations

import copy
import inspect
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gfxnn
from gfxnn import registry
from gfxnn.encodings import Encoding

# One small config per registered encoding (input width, config); grids use tiny tables so
# hash collisions happen and the test stays fast.
ENCODING_CASES: dict[str, tuple[int, dict[str, Any]]] = {
    "Identity": (2, {"otype": "Identity", "scale": 2.0, "offset": -1.0}),
    "Frequency": (2, {"otype": "Frequency", "n_frequencies": 3}),
    "OneBlob": (2, {"otype": "OneBlob", "n_bins": 8}),
    "OneHot": (2, {"otype": "OneHot", "n_bins": 8}),
    "TriangleWave": (2, {"otype": "TriangleWave", "n_frequencies": 3}),
    "GaussianFourier": (2, {"otype": "GaussianFourier", "n_frequencies": 8, "sigma": 2.0}),
    "SphericalHarmonics": (3, {"otype": "SphericalHarmonics", "degree": 4}),
    "HashGrid": (
        2,
        {"otype": "HashGrid", "n_levels": 3, "log2_hashmap_size": 6, "base_resolution": 4},
    ),
    "DenseGrid": (2, {"otype": "DenseGrid", "n_levels": 2, "base_resolution": 4}),
    "Composite": (
        3,
        {
            "otype": "Composite",
            "nested": [
                {"otype": "Frequency", "n_dims_to_encode": 2, "n_frequencies": 2},
                {"otype": "OneBlob", "n_bins": 4},
            ],
        },
    ),
}
# Piecewise-constant in x: zero input gradient almost everywhere, nothing to check against
# finite differences except that it is zero (checked separately below).
CONSTANT_IN_X = {"OneHot"}


def test_every_registered_encoding_has_a_case() -> None:
    assert sorted(ENCODING_CASES) == sorted(registry.names("encoding"))


_HALVES = """
from gfxnn import ops
from gfxnn.encodings.base import Encoding


class HalvesEncoding(Encoding):
    otype = "{otype}"

    def __init__(self, n_input_dims=2):
        super().__init__()
        self.n_input_dims = self.n_output_dims = n_input_dims

    def forward(self, x):
        return ops.mul(x, 0.5)

    def hyperparams(self):
        return {{"otype": self.otype}}
"""


def test_an_encoding_file_registers_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One new module in the gfxnn.encodings package is found by its otype (after tcnn's,
    in the registry's order); a second class claiming a taken otype is an error."""
    import gfxnn.encodings as package
    from gfxnn.encodings import encoding_classes

    (tmp_path / "halves.py").write_text(_HALVES.format(otype="Halves"))
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(tmp_path)])
    encoding_classes.cache_clear()
    try:
        found = registry._discovered_encodings()
        assert [otype for otype in found if otype != "Halves"] == list(registry.ENCODINGS)
        assert list(found).index("Halves") > list(found).index("Composite")
        assert found["Halves"] == "gfxnn.encodings.halves:HalvesEncoding"
        monkeypatch.setattr(registry, "ENCODINGS", found)
        monkeypatch.setitem(registry.TABLES, "encoding", found)
        model = gfxnn.build({"encoding": {"otype": "halves"}, "network": {"otype": "MLP"}}, 2, 1)
        assert model.hyperparams()["encoding"] == {"otype": "Halves"}
        (tmp_path / "halves_again.py").write_text(_HALVES.format(otype="Halves"))
        encoding_classes.cache_clear()
        with pytest.raises(RuntimeError, match="two encodings declare otype 'Halves'"):
            encoding_classes()
    finally:
        monkeypatch.undo()
        encoding_classes.cache_clear()
        for name in ("gfxnn.encodings.halves", "gfxnn.encodings.halves_again"):
            sys.modules.pop(name, None)
    assert "Halves" not in encoding_classes()


def inputs(n_dims: int, n: int = 6, seed: int = 0) -> np.ndarray:
    # Away from bin and cell edges (multiples of 1/8 and of the grid spacings used above):
    # interpolation weights and triangle waves have kinks there.
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, 8, size=(n, n_dims))
    return (cells + rng.uniform(0.3, 0.45, size=(n, n_dims))) / 8


@pytest.fixture(params=sorted(ENCODING_CASES))
def case(request: pytest.FixtureRequest) -> tuple[str, int, dict[str, Any]]:
    name = request.param
    n_dims, config = ENCODING_CASES[name]
    return name, n_dims, copy.deepcopy(config)


def test_encoding_builds_with_its_shape_and_round_trips(case: tuple[str, int, dict]) -> None:
    name, n_dims, config = case
    encoding = registry.build_encoding(config, n_dims, rng=0)
    assert isinstance(encoding, Encoding)
    x = inputs(n_dims).astype(np.float32)
    out = encoding(gfxnn.Tensor(x))
    assert out.shape == (len(x), encoding.n_output_dims)
    assert out.dtype == np.float32 and np.all(np.isfinite(out.data))

    params = encoding.hyperparams()
    assert params["otype"] == name
    json.dumps(params)  # JSON-able
    rebuilt = registry.build_encoding(params, n_dims, rng=1)
    assert rebuilt.hyperparams() == params
    rebuilt.load_state_dict(encoding.state_dict())  # trained tables travel as state
    np.testing.assert_array_equal(rebuilt(gfxnn.Tensor(x)).data, out.data)


def test_inference_equals_training_forward(case: tuple[str, int, dict]) -> None:
    _, n_dims, config = case
    encoding = registry.build_encoding(config, n_dims, rng=0)
    x = gfxnn.Tensor(inputs(n_dims), requires_grad=True, dtype=np.float32)
    training = encoding(x)
    with gfxnn.no_grad():
        inference = encoding(gfxnn.Tensor(x.data))
    np.testing.assert_array_equal(training.data, inference.data)


def test_gradients_match_finite_differences(case: tuple[str, int, dict]) -> None:
    name, n_dims, config = case
    encoding = registry.build_encoding(config, n_dims, rng=0)
    for parameter in encoding.parameters():  # float64 tables, nonzero, for a sharp check
        parameter.data = np.random.default_rng(3).uniform(-1, 1, parameter.shape)
    x = gfxnn.Tensor(inputs(n_dims), requires_grad=True, dtype=np.float64)
    tensors = [x, *encoding.parameters()]
    weights = np.random.default_rng(4).standard_normal(encoding.n_output_dims)

    def scalar(*args: gfxnn.Tensor) -> gfxnn.Tensor:
        return (encoding(args[0]) * weights).sum()

    if name in CONSTANT_IN_X:
        scalar(*tensors).backward()
        assert x.grad is not None and not np.any(x.grad)
        return
    assert gfxnn.gradcheck(scalar, tensors, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_parameter_gradients_match_finite_differences(case: tuple[str, int, dict]) -> None:
    """The encoding's own parameters (the grids' tables) perturbed in place. The check above
    passes copies of them that the forward pass never reads, so it compares their gradients
    as zero against zero: with the table gradient scaled by 3 it still passed; this fails."""
    name, n_dims, config = case
    encoding = registry.build_encoding(config, n_dims, rng=0)
    for parameter in encoding.parameters():  # nonzero tables, for a sharp check
        parameter.data = np.random.default_rng(3).uniform(-1, 1, parameter.shape)
    if name in CONSTANT_IN_X:  # no parameters, and its input gradient is checked above
        assert not encoding.parameters()
        return
    assert gfxnn.gradcheck_module(encoding, [inputs(n_dims)], eps=1e-6, atol=1e-6, rtol=1e-4)


def test_every_trainable_encoding_is_checked_with_its_parameters() -> None:
    trainable = [
        name
        for name, (n_dims, config) in ENCODING_CASES.items()
        if registry.build_encoding(copy.deepcopy(config), n_dims, rng=0).parameters()
    ]
    assert sorted(trainable) == ["DenseGrid", "HashGrid"]


def test_model_config_round_trip_and_training() -> None:
    config = {
        "encoding": ENCODING_CASES["HashGrid"][1],
        "network": {"otype": "MLP", "n_neurons": 16, "n_hidden_layers": 1, "activation": "relu"},
        "loss": {"otype": "L2"},
        "optimizer": {"otype": "Adam", "learning_rate": 1e-2},
    }
    model = gfxnn.build(config, 2, 3, seed=0)
    params = model.hyperparams()
    again = gfxnn.build(params, 2, 3, seed=0)
    assert again.hyperparams() == params
    for (name, a), (_, b) in zip(
        model.state_dict().items(), again.state_dict().items(), strict=True
    ):
        np.testing.assert_array_equal(a, b, err_msg=name)  # same seed, same start
    names = [name for name, _ in model.named_parameters()]
    assert "encoding.table" in names and "network.layers.0.weight" in names

    rng = np.random.default_rng(0)
    x = rng.random((256, 2)).astype(np.float32)
    target = np.stack([np.sin(6 * x[:, 0]), x[:, 1] ** 2, x[:, 0] * x[:, 1]], axis=1)
    losses = [model.train_step(x, target.astype(np.float32)) for _ in range(150)]
    assert losses[-1] < 0.1 * losses[0]


@pytest.mark.parametrize("otype", registry.names("optimizer"))
def test_every_optimizer_round_trips(otype: str) -> None:
    parameter = gfxnn.nn.Parameter(np.ones(3))
    config = {"otype": otype, "lr": 0.5} if otype != "Adadelta" else {"otype": otype}
    optimizer = registry.build_optimizer(config, [parameter])
    params = optimizer.hyperparams()
    json.dumps(params)
    assert registry.build_optimizer(params, [parameter]).hyperparams() == params


@pytest.mark.parametrize("otype", registry.names("loss"))
def test_every_loss_round_trips(otype: str) -> None:
    loss = registry.build_loss({"otype": otype})
    params = loss.hyperparams()
    assert params["otype"] == otype
    assert registry.build_loss(params).hyperparams() == params


def test_tcnn_spellings_map_to_ours() -> None:
    optimizer = registry.build_optimizer(
        {
            "otype": "Adam",
            "learning_rate": 1e-2,
            "beta1": 0.8,
            "beta2": 0.99,
            "epsilon": 1e-15,
            "l2_reg": 1e-6,
            "relative_decay": 0,
            "absolute_decay": 0,
            "adabound": False,
        },
        [gfxnn.nn.Parameter(np.ones(2))],
    )
    assert optimizer.defaults == {
        "lr": 1e-2,
        "betas": (0.8, 0.99),
        "eps": 1e-15,
        "weight_decay": 1e-6,
        "maximize": False,
    }
    network = registry.build_network(
        {
            "otype": "FullyFusedMLP",
            "activation": "LeakyReLU",
            "output_activation": "None",
            "n_neurons": 8,
            "n_hidden_layers": 3,
            "feedback_alignment": False,
        },
        4,
        1,
    )
    assert network.hyperparams() == {
        "otype": "MLP",
        "n_hidden_layers": 3,
        "n_neurons": 8,
        "activation": "leaky_relu",
        "output_activation": "none",
        "bias": True,
    }
    for grid, expected in (("Hash", "HashGrid"), ("Dense", "DenseGrid")):
        encoding = registry.build_encoding(
            {"otype": "Grid", "type": grid, "n_levels": 2, "base_resolution": 4}, 2
        )
        assert encoding.hyperparams()["otype"] == expected
    assert registry.canonical_name("encoding", "hash_grid") == "HashGrid"
    # tcnn's grid options at the values gfxnn's grids implement are accepted, others refused.
    off = {"fixed_point_pos": False, "stochastic_interpolation": False, "hash": "CoherentPrime"}
    registry.build_encoding({"otype": "HashGrid", "n_levels": 2, **off}, 2)
    with pytest.raises(ValueError, match="fixed_point_pos=True is not supported"):
        registry.build_encoding({"otype": "HashGrid", "fixed_point_pos": True}, 2)
    assert registry.canonical_name("network", "CutlassMLP") == "MLP"


def test_tcnn_image_sample_config_runs_unchanged() -> None:
    # tiny-cuda-nn's image-learning sample config (hash grid + fully fused MLP), as shipped.
    path = Path(__file__).parent.parent / "examples" / "configs" / "hashgrid_image.json"
    config = json.loads(path.read_text())
    model = gfxnn.build(config, 2, 3)
    assert model(np.random.default_rng(0).random((5, 2)).astype(np.float32)).shape == (5, 3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: registry.build_encoding({"otype": "Fourier"}, 2), "valid names are"),
        (lambda: registry.build_encoding({"otype": "TiledGrid"}, 2), "does not implement"),
        (lambda: registry.build_encoding({"n_bins": 3}, 2), "needs an 'otype'"),
        (lambda: registry.build_encoding({"otype": "OneBlob", "bins": 3}, 2), "valid keys are"),
        (lambda: registry.build_encoding({"otype": "Grid", "type": "Sparse"}, 2), "Hash, Dense"),
        (lambda: registry.build_encoding([1], 2), "JSON object"),
        (
            lambda: registry.build_encoding(
                {"otype": "Composite", "nested": [{"otype": "Identity", "n_dims_to_encode": 1}]}, 2
            ),
            "add up to n_input_dims",
        ),
        (
            lambda: registry.build_network({"otype": "MLP", "activation": "Squareplus"}, 2, 1),
            "not supported",
        ),
        (
            lambda: registry.build_network({"otype": "MLP", "feedback_alignment": True}, 2, 1),
            "not supported",
        ),
        (lambda: registry.build_network({"otype": "MLP", "width": 4}, 2, 1), "valid keys are"),
        (lambda: registry.build_loss({"otype": "SMAPE"}), "does not implement"),
        (
            lambda: registry.build_optimizer(
                {"otype": "Adam", "adabound": True}, [gfxnn.nn.Parameter(np.ones(1))]
            ),
            "not supported",
        ),
        (
            lambda: registry.build_optimizer(
                {"otype": "Adam", "learning_rate": 1, "lr": 1}, [gfxnn.nn.Parameter(np.ones(1))]
            ),
            "not both",
        ),
        (lambda: gfxnn.build({"encoding": {"otype": "Identity"}}, 2, 1), "needs a 'network'"),
        (lambda: gfxnn.build({"network": {"otype": "MLP"}, "model": {}}, 2, 1), "valid are"),
    ],
)
def test_bad_configs_name_what_is_valid(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


# ----- hostile hyperparameters (issue 15): every registered constructor, every number ------
HOSTILE = {"True": True, "inf": float("inf"), "-inf": float("-inf"), "nan": float("nan")}


def _build_component(kind: str, name: str, **overrides: Any) -> Any:
    cls = registry.component_class(kind, name)
    if kind == "optimizer":
        lr = {"lr": 0.1} if name == "SGD" else {}
        return cls([gfxnn.nn.Parameter(np.ones(3))], **{**lr, **overrides})
    if kind == "encoding":
        n_dims, config = ENCODING_CASES[name]
        if name == "Composite":
            return cls(n_dims, [registry.build_encoding({"otype": "Identity"}, n_dims)])
        return cls(n_dims, **overrides)
    if kind == "network":
        return cls(2, 1, **overrides)
    return cls(**overrides)


def _hostile_cases() -> list[tuple[str, str, str, str]]:
    """(kind, name, argument, hostile label) for each numeric or flag argument with a default."""
    cases = []
    for kind in ("optimizer", "loss", "encoding", "network"):
        for name in registry.names(kind):
            signature = inspect.signature(registry.component_class(kind, name)).parameters
            for argument, parameter in signature.items():
                default = parameter.default
                if isinstance(default, bool):
                    labels = ["int 1", "'yes'"]  # a flag is a bool, not a truthy value
                elif isinstance(default, int | float):
                    labels = [*HOSTILE, *(["2.5"] if isinstance(default, int) else [])]
                elif isinstance(default, tuple):
                    labels = [f"({label}, ...)" for label in HOSTILE]
                else:
                    continue
                cases += [(kind, name, argument, label) for label in labels]
    return cases


def _hostile_value(label: str, default: Any) -> Any:
    values = {"int 1": 1, "'yes'": "yes", "2.5": 2.5, **HOSTILE}
    if label.startswith("("):
        return (HOSTILE[label[1:].split(",")[0]], *default[1:])
    return values[label]


@pytest.mark.parametrize(("kind", "name", "argument", "label"), _hostile_cases())
def test_hostile_hyperparameters_are_refused_by_name(
    kind: str, name: str, argument: str, label: str
) -> None:
    """Bools where numbers are meant, inf and nan: one clear error that names the argument
    (before the fix Adam(lr=inf), MLP(n_neurons=8.5) and friends got through or crashed)."""
    cls = registry.component_class(kind, name)
    default = inspect.signature(cls).parameters[argument].default
    with pytest.raises((ValueError, TypeError), match=argument):
        _build_component(kind, name, **{argument: _hostile_value(label, default)})


def test_hostile_cases_cover_every_kind() -> None:
    kinds = {case[0] for case in _hostile_cases()}
    assert kinds == {"optimizer", "loss", "encoding", "network"}
    assert len(_hostile_cases()) > 250


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"optimizer": {"otype": "Adam", "learning_rate": float("inf")}}, r"lr must be a finite"),
        ({"optimizer": {"otype": "Adam", "learning_rate": float("nan")}}, r"lr must be >= 0"),
        ({"optimizer": {"otype": "SGD", "learning_rate": float("inf")}}, r"lr must be a finite"),
        ({"network": {"otype": "MLP", "n_hidden_layers": True}}, r"n_hidden_layers.*True"),
        ({"network": {"otype": "MLP", "n_neurons": 8.5}}, r"n_neurons must be a positive"),
        ({"network": {"otype": "MLP", "n_neurons": True}}, r"n_neurons must be a positive"),
        ({"network": {"otype": "MLP", "bias": 1}}, r"bias must be a bool"),
    ],
)
def test_bad_config_values_are_refused(config: dict[str, Any], message: str) -> None:
    full = {"network": {"otype": "MLP"}, **config}
    with pytest.raises((ValueError, TypeError), match=message):
        gfxnn.build(full, 2, 1)


@pytest.mark.parametrize("seed", [-1, True, None, 1.5])
def test_build_refuses_a_bad_seed_with_our_message(seed: Any) -> None:
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0"):
        gfxnn.build({"network": {"otype": "MLP"}}, 2, 1, seed=seed)
