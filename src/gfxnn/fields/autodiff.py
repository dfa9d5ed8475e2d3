"""The autodiff twin of a fitted network: `gfxnn.encodings` + `gfxnn.nn.MLP` with its weights,
computing what the fused path computes (export lowers it; tests check the fused path with it)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gfxnn import registry
from gfxnn.fields.settings import FitSettings
from gfxnn.fused import make_trainer
from gfxnn.nn import MLP

__all__ = ["autodiff_model"]


def autodiff_model(
    state: dict[str, np.ndarray], settings: FitSettings, n_output_dims: int = 3
) -> tuple[Any, Any]:
    """(encoding, network) for 2-D inputs with the weights `state` loaded; ValueError when
    the weights do not fit the settings (checked as the fused path checks them)."""
    spec = settings.model_spec(2, n_output_dims)  # validates
    make_trainer(spec, initialize=False).load_state_dict(state)  # names, shapes, finiteness
    encoding = registry.build_encoding(settings.encoding_config(), spec.n_input_dims)
    network = MLP(
        encoding.n_output_dims,
        n_output_dims,
        spec.n_neurons,
        spec.n_hidden_layers,
        spec.activation,
        spec.output_activation,
    )
    network.load_state_dict({k: v for k, v in state.items() if k.startswith("layers.")})
    own = encoding.state_dict()
    if own:  # a grid's table (stored flat) or a fixed random matrix
        encoding.load_state_dict(
            {name: np.asarray(state[f"encoding.{name}"]).reshape(own[name].shape) for name in own}
        )
    return encoding, network
