"""What the Warp trainer can build, read from a `ModelSpec` (components, not app settings).

The kernels fit (u, v) -> RGB: 2 inputs, 3 outputs, the identity or frequency encoding
(`gfxnn.gpu.sampling.encoded_feature`), the L2 loss, Adam or SGD on the network only, and
MLPZen's controls (initialization, freezing, clipping, fp16 inference). Anything else is a
ValueError that names it, before any device memory is allocated.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gfxnn.fields.trainer import ModelSpec
from gfxnn.fused.controls import TrainingControls

# The encodings the device kernels compute (names of gfxnn.fields.choices.ENCODINGS).
ENCODINGS = ("frequency", "identity")


def as_spec(spec_or_settings: Any) -> ModelSpec:
    """`spec_or_settings` as a ModelSpec: itself, or the `model_spec()` of settings that have
    one (`gfxnn.fields.settings.FitSettings`, which callers before the Trainer interface pass)."""
    if isinstance(spec_or_settings, ModelSpec):
        return spec_or_settings
    model_spec = getattr(spec_or_settings, "model_spec", None)
    if callable(model_spec):
        spec: ModelSpec = model_spec()
        return spec
    kind = type(spec_or_settings).__name__
    raise TypeError(f"the GPU trainer is built from a ModelSpec, got {kind}")


def n_frequencies(spec: ModelSpec) -> int:
    """The frequency encoding's octaves, 0 for the identity; ValueError for what the kernels
    lack (another encoding, or parameters other than n_frequencies / identity's defaults)."""
    config = dict(spec.encoding)
    otype = config.pop("otype", None)
    if otype == "Frequency" and set(config) <= {"n_frequencies"} and "n_frequencies" in config:
        octaves = config["n_frequencies"]
        if isinstance(octaves, int) and octaves >= 1:
            return octaves
    plain = config.get("scale", 1.0) == 1.0 and config.get("offset", 0.0) == 0.0
    if otype == "Identity" and plain and set(config) <= {"scale", "offset"}:
        return 0
    raise ValueError(
        f"the GPU path supports the encodings {ENCODINGS} (frequency with n_frequencies only, "
        f"identity without scale or offset); got {spec.encoding!r}"
    )


def check_supported(spec_or_settings: Any) -> ModelSpec:
    """The spec, checked: ValueError naming what the GPU path cannot do yet."""
    validate = getattr(spec_or_settings, "validate", None)
    if callable(validate):
        validate()
    spec = as_spec(spec_or_settings)
    n_frequencies(spec)
    if (spec.n_input_dims, spec.n_output_dims) != (2, 3):
        raise ValueError(
            "the GPU path fits (u, v) -> RGB: 2 inputs and 3 outputs; got "
            f"{spec.n_input_dims} -> {spec.n_output_dims} (the cpu and webgpu backends take "
            "1 to 3 inputs and any number of outputs)"
        )
    TrainingControls.from_spec(spec)  # MLPZen's controls: each value checked by name
    if spec.loss != "l2":
        raise ValueError(f"the GPU path trains with the L2 loss; got {spec.loss!r}")
    if spec.optimizer.name not in ("adam", "sgd"):
        raise ValueError(f"the GPU path trains with adam or sgd; got {spec.optimizer.name!r}")
    if spec.n_hidden_layers < 1:
        raise ValueError(f"the GPU path needs a hidden layer; got {spec.n_hidden_layers}")
    return spec


def image_of(target: Any) -> np.ndarray:
    """The (H, W, 3) float32 image the device sampler draws from: an array, or a target whose
    reference() is one (`gfxnn.fields.targets.ImageTarget`)."""
    image = target.reference() if hasattr(target, "reference") else target
    image = np.ascontiguousarray(image, np.float32)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"the GPU path samples an image (H, W, 3); got shape {image.shape}")
    return image
