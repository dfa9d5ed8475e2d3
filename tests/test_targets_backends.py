"""The CPU backends train MLPZen's 1-D and 3-D examples alike: the compiled (Numba) trainer
against the NumPy fused one on a 1-D cosine (frequency and one-blob encodings) and the 3-D
bubbles (a 3-D hash grid): same initial weights, same loss on one batch, same weights after
steps drawn from the target."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gfxnn.fields.examples import BubblesTarget, CosineTarget
from gfxnn.fields.presets import preset_settings
from gfxnn.fields.settings import FitSettings
from gfxnn.fields.targets import Target
from gfxnn.fused import make_trainer

pytest.importorskip("numba")

CASES = [
    ("cosine-frequency", CosineTarget(), FitSettings(batch_size=256)),
    ("cosine-oneblob", CosineTarget(), preset_settings("mlpzen", "cosine")),
    ("bubbles-hashgrid", BubblesTarget(4), preset_settings("mlpzen", "bubbles")),
]


@pytest.mark.parametrize(("name", "target", "settings"), CASES, ids=[c[0] for c in CASES])
def test_compiled_trains_like_numpy(name: str, target: Target, settings: FitSettings) -> None:
    from gfxnn.compiled import cpu_trainer_factory

    settings = dataclasses.replace(settings, batch_size=256)
    spec = settings.model_spec(target.n_input_dims, target.n_output_dims)
    compiled = cpu_trainer_factory("compiled", 1)(spec, target)
    numpy = make_trainer(spec, target)
    for key, value in numpy.state_dict().items():
        np.testing.assert_array_equal(compiled.state_dict()[key], value, err_msg=key)
    inputs = np.empty((256, target.n_input_dims), np.float32)
    targets = np.empty((256, target.n_output_dims), np.float32)
    target.sample(np.random.default_rng(5), inputs, targets)
    loss = numpy.compute_gradients(inputs, targets)
    assert compiled.compute_gradients(inputs, targets) == pytest.approx(loss, rel=1e-5)
    compiled.train(10, 256)
    numpy.train(10, 256)
    trained = compiled.state_dict()
    for key, value in numpy.state_dict().items():
        np.testing.assert_allclose(trained[key], value, atol=1e-5, err_msg=key)
    assert not np.array_equal(
        trained["layers.0.weight"], make_trainer(spec).state_dict()["layers.0.weight"]
    )
