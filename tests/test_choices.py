"""The one table of names (gfxnn.fields.choices) against every place that implements them:
the registry, the fused path, the Warp path and export. A registered encoding that is neither
offered nor excluded with a reason, or offered but missing in one backend, fails here."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gfxnn import registry
from gfxnn.encodings import Encoding
from gfxnn.fields import choices, trainer
from gfxnn.fused import activations as fused_activations
from gfxnn.fused import make_encoder, make_optimizer
from gfxnn.fused.trainer import LOSSES as FUSED_LOSSES
from gfxnn.nn import MLP
from gfxnn.tensor import Tensor

# Small grids: the defaults hold millions of entries, which the check does not need.
SMALL = {"hashgrid": {"n_levels": 2, "log2_hashmap_size": 8}, "densegrid": {"n_levels": 2}}


def _build(name: str) -> Encoding:
    config = {"otype": choices.encoding_otype(name), **SMALL.get(name, {})}
    return registry.build_encoding(config, choices.N_INPUT_DIMS)


def unreachable(name: str) -> list[str]:
    """The places an offered encoding `name` does not reach (empty: it works everywhere)."""
    from gfxnn.export import ExportError, lower

    missing = []
    encoding = _build(name)
    x = np.random.default_rng(0).random((5, choices.N_INPUT_DIMS)).astype(np.float32)
    expected = encoding(Tensor(x)).data
    try:
        n_frequencies = getattr(encoding, "n_frequencies", 8)
        fused = make_encoder(name, n_frequencies, SMALL.get(name, {}) or None)
        if hasattr(fused, "initialize"):  # a grid: the same table as the autodiff encoding
            fused.params[...] = encoding.table.data.reshape(-1)
        out = np.empty((5, fused.n_output_dims), np.float32)
        fused.encode(x, out, fused.make_scratch(5, np.dtype(np.float32)))
        if out.shape != expected.shape or not np.allclose(out, expected, atol=1e-5):
            missing.append("fused (values differ from the encoding's forward)")
    except (ValueError, TypeError) as error:
        missing.append(f"fused ({error})")
    network = MLP(encoding.n_output_dims, 3, 4, 1, rng=0)
    try:
        program = lower(encoding, network)
        node = program.nodes[0]
        if not np.allclose(node.evaluate(x), expected, atol=1e-5):
            missing.append("export (values differ from the encoding's forward)")
    except ExportError as error:
        missing.append(f"export ({error})")
    if bool(list(encoding.parameters())) != type(encoding).trainable:
        missing.append("the class's trainable flag")
    return missing


def test_every_registered_encoding_is_offered_or_excluded_with_a_reason() -> None:
    registered = {otype.lower() for otype in registry.ENCODINGS}
    offered, excluded = set(choices.ENCODINGS), set(choices.EXCLUDED_ENCODINGS)
    assert offered | excluded == registered
    assert not offered & excluded
    assert all(len(reason) > 10 for reason in choices.EXCLUDED_ENCODINGS.values())
    assert set(choices.ENCODING_OTYPES) == registered
    assert choices.ENCODINGS[:2] == ("frequency", "identity")  # Dx12NN's first


def test_exclusions_come_from_the_classes() -> None:
    # SphericalHarmonics declares 3-D inputs; Composite cannot be built from a name alone.
    assert "3-D" in choices.EXCLUDED_ENCODINGS["sphericalharmonics"]
    assert choices.CONFIG_ONLY_ENCODINGS == ("composite",)
    assert choices.TRAINABLE_ENCODINGS == ("hashgrid", "densegrid")


@pytest.mark.parametrize("name", choices.ENCODINGS)
def test_offered_encoding_reaches_the_fused_path_and_export(name: str) -> None:
    assert unreachable(name) == []


def test_a_new_encoding_without_an_emitter_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above has teeth: a registered 2-D encoding that export cannot lower is
    offered (it is derived from the registry) and then reported."""

    class Halves(Encoding):
        def __init__(self, n_input_dims: int = 2) -> None:
            super().__init__()
            self.n_input_dims = self.n_output_dims = n_input_dims

        def forward(self, x: Any) -> Tensor:
            from gfxnn import ops

            return ops.mul(x, 0.5)

        def hyperparams(self) -> dict[str, Any]:
            return {"otype": "Halves"}

    import sys
    import types

    module = types.ModuleType("gfxnn_test_halves")
    module.Halves = Halves  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gfxnn_test_halves", module)
    monkeypatch.setitem(registry.ENCODINGS, "Halves", "gfxnn_test_halves:Halves")
    monkeypatch.setitem(choices.ENCODING_OTYPES, "halves", "Halves")
    assert choices._exclusion("Halves") is None  # offered by name
    problems = unreachable("halves")
    assert any(p.startswith("export") for p in problems), problems


class HalvesNode:
    """An export IR node written beside its encoding, importing nothing of gfxnn.export: the
    IR's Node is a Protocol, so this is all a new encoding needs for export."""

    def __init__(self, n_dims: int) -> None:
        self.n_inputs = self.n_outputs = n_dims

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        return x * x.dtype.type(0.5)

    def emit_shader(self, writer: Any, value: list[str]) -> list[str]:
        n = self.n_inputs
        return writer.pack("e", [f"{writer.component(value[0], d, n)} * 0.5" for d in range(n)])

    def emit_onnx(self, graph: Any, value: str) -> str:
        return str(graph.node("Mul", [value, graph.constant("half", np.float32(0.5))]))

    def describe(self) -> str:
        return f"halves {self.n_inputs} -> {self.n_outputs}"


def test_a_new_encoding_with_its_own_node_reaches_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same new encoding with a lower() (and its node in its own file): offered, and it
    trains on the fused path and exports, with no other file touched."""
    from gfxnn import ops
    from gfxnn.export import export

    class Halves(Encoding):
        def __init__(self, n_input_dims: int = 2) -> None:
            super().__init__()
            self.n_input_dims = self.n_output_dims = n_input_dims

        def forward(self, x: Any) -> Tensor:
            return ops.mul(x, 0.5)

        def hyperparams(self) -> dict[str, Any]:
            return {"otype": "Halves"}

        def lower(self) -> HalvesNode:
            return HalvesNode(self.n_input_dims)

    import sys
    import types

    module = types.ModuleType("gfxnn_test_halves")
    module.Halves = Halves  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gfxnn_test_halves", module)
    monkeypatch.setitem(registry.ENCODINGS, "Halves", "gfxnn_test_halves:Halves")
    monkeypatch.setitem(choices.ENCODING_OTYPES, "halves", "Halves")
    assert unreachable("halves") == []
    code = export(Halves(), MLP(2, 3, 4, 1, rng=0), "glsl")
    assert "uv.x * 0.5" in code
    assert isinstance(export(Halves(), MLP(2, 3, 4, 1, rng=0), "onnx"), bytes)


def test_activations_match_every_backend() -> None:
    assert set(fused_activations.ACTIVATIONS) == set(choices.ACTIVATIONS)
    assert choices.ACTIVATIONS[:3] == ("leaky_relu", "relu", "sigmoid")  # Dx12NN's
    for name in choices.ACTIVATIONS:
        assert registry.activation_name(name) == name  # configs spell them the same


@pytest.mark.parametrize("name", choices.ACTIVATIONS)
def test_every_activation_exports(name: str) -> None:
    from gfxnn.export import lower

    network = MLP(2, 3, 4, 1, name, name, rng=0)
    program = lower(registry.build_encoding({"otype": "Identity"}, 2), network)
    x = np.random.default_rng(1).random((6, 2)).astype(np.float32)
    expected = network(Tensor(x)).data
    np.testing.assert_allclose(program.evaluate(x), expected, rtol=1e-5, atol=1e-6)


def test_losses_and_optimizers_match_the_fused_path_and_the_spec() -> None:
    assert set(FUSED_LOSSES) == set(choices.LOSSES)
    assert set(trainer.LOSSES) == set(choices.LOSSES)
    assert set(trainer.OPTIMIZERS) == set(choices.OPTIMIZERS)
    for name, otype in choices.LOSSES.items():
        assert registry.canonical_name("loss", otype) == otype, name
    params = np.zeros(3, np.float32)
    for name, otype in choices.OPTIMIZERS.items():
        assert registry.canonical_name("optimizer", otype) == otype
        assert make_optimizer(name, params, params.copy(), 1e-3).name == name


def test_unknown_encoding_name_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="frequency, identity"):
        choices.encoding_otype("fourier")


def test_gpu_tables_are_subsets_of_the_choices() -> None:
    pytest.importorskip("warp")
    from gfxnn.gpu.activations import ACTIVATION_IDS
    from gfxnn.gpu.trainer import ENCODINGS as GPU_ENCODINGS

    assert ACTIVATION_IDS is choices.KERNEL_ACTIVATION_IDS
    assert set(ACTIVATION_IDS) == set(choices.ACTIVATIONS)
    assert sorted(ACTIVATION_IDS.values()) == list(range(len(ACTIVATION_IDS)))
    assert set(GPU_ENCODINGS) <= set(choices.ENCODINGS)
