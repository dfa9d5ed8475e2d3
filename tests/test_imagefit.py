"""gfxnn.imagefit, the deprecation shim: every name that docs, tests and benchmarks imported
from it before the fields package still imports, and is the fields package's own object."""

from __future__ import annotations

import numpy as np

from gfxnn import imagefit
from gfxnn.fields import checkpoint, choices, controller, image, settings


def test_old_names_are_the_new_objects() -> None:
    assert imagefit.ImageFitter is image.ImageFitter
    assert imagefit.FitSettings is settings.FitSettings
    assert imagefit.DivergenceError is controller.DivergenceError
    assert imagefit.psnr is controller.psnr
    assert imagefit.model_from_checkpoint is checkpoint.load_model
    assert imagefit.TRAINING_ONLY == settings.TRAINING_ONLY
    assert imagefit.ENCODINGS == choices.ENCODINGS
    assert imagefit.ACTIVATIONS == choices.ACTIVATIONS
    assert list(imagefit.OPTIMIZERS) == list(choices.OPTIMIZERS)
    ranges = {
        "batch_size": imagefit.BATCH_RANGE,
        "n_frequencies": imagefit.FREQUENCY_RANGE,
        "n_layers": imagefit.LAYER_RANGE,
        "n_neurons": imagefit.NEURON_RANGE,
    }
    for field in settings.settings_fields():
        if field.name in ranges:
            assert ranges[field.name] == field.range
    for name in imagefit.__all__:
        assert hasattr(imagefit, name), name


def test_old_functions_keep_their_signatures() -> None:
    fitter = imagefit.ImageFitter(np.full((4, 6, 3), 0.5, np.float32), imagefit.FitSettings())
    state = fitter.state_dict()
    image = imagefit.render_image(state, fitter.settings, 6, 4)  # width, height
    np.testing.assert_array_equal(image, fitter.predict())
    trainer = imagefit.build_fused_trainer(fitter.settings)
    np.testing.assert_array_equal(trainer.render((4, 6)), image)  # same seed, same weights
