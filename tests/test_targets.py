"""MLPZen's examples as targets (gfxnn.fields.examples) and their frames (gfxnn.fields.display):
each target's values are the stated rule at the drawn points, each example's network learns
it (PSNR rises within a few hundred steps), and the frames show what they say."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from gfxnn.fields import display
from gfxnn.fields.controller import FitController
from gfxnn.fields.examples import (
    BUBBLES,
    EXAMPLES,
    BubblesTarget,
    CosineTarget,
    VolumeError,
    VolumeTarget,
    check_example,
    example_dims,
    load_volume,
    make_targets,
)
from gfxnn.fields.image import fused_trainer
from gfxnn.fields.presets import preset_settings
from gfxnn.fields.targets import GridTarget, ImageTarget, Target


def sphere_rule(point: np.ndarray) -> tuple[float, float, float]:
    """MLPZen's rule written out once more, in float64: the first sphere containing it."""
    for centre, colour, radius in BUBBLES:
        if np.sum((point - np.array(centre)) ** 2) < radius**2:
            return colour
    return (0.0, 0.0, 0.0)


def draw(target: Target, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    inputs = np.empty((n, target.n_input_dims), np.float32)
    targets = np.empty((n, target.n_output_dims), np.float32)
    target.sample(np.random.default_rng(seed), inputs, targets)
    return inputs, targets


def controller(example: str, target: Target, **changes: Any) -> FitController:
    settings = dataclasses.replace(preset_settings("mlpzen", example), **changes)
    return FitController(target, settings, fused_trainer, blas_threads=1)


# ----- the targets' rules -----------------------------------------------------------------
def test_examples_are_named_and_checked() -> None:
    assert EXAMPLES == ("cosine", "image", "four_images", "bubbles", "volume")
    assert [example_dims(e) for e in EXAMPLES] == [1, 2, 2, 3, 3]
    with pytest.raises(
        ValueError, match="example must be one of cosine, image, four_images.*got 'four-images'"
    ):
        check_example("four-images")


def test_cosine_is_exact_at_the_drawn_points() -> None:
    target = CosineTarget(64)
    assert isinstance(target, Target)
    assert (target.n_input_dims, target.n_output_dims, target.grid_shape) == (1, 1, (64,))
    inputs, targets = draw(target, 1000)
    assert inputs.min() >= 0 and inputs.max() < 1
    exact = (np.cos(2 * np.pi * inputs.astype(np.float64)) + 1) / 2
    np.testing.assert_allclose(targets, exact, atol=1e-7)
    x = np.arange(64) / 63
    np.testing.assert_allclose(target.reference()[:, 0], (np.cos(2 * np.pi * x) + 1) / 2, atol=1e-7)


def test_bubbles_follow_the_first_sphere_rule() -> None:
    colour = BubblesTarget.colour_at
    # Inside spheres 1 and 4 both: the first one's colour wins (not the last one's).
    both = np.array([[0.55, 0.4, 0.35]])
    assert np.sum((both[0] - BUBBLES[3][0]) ** 2) < BUBBLES[3][2] ** 2
    np.testing.assert_allclose(colour(both)[0], (1.0, 1.0, 0.3), atol=1e-7)
    np.testing.assert_allclose(colour(np.array([[0.4, 0.9, 0.8]]))[0], (1.0, 0.3, 1.0))  # 7
    np.testing.assert_array_equal(colour(np.array([[0.99, 0.99, 0.01]]))[0], (0, 0, 0))
    # Random points (away from any sphere's surface): the rule, point by point.
    points = np.random.default_rng(1).random((3000, 3))
    gaps = [abs(np.linalg.norm(points - c, axis=1) - r) for c, _, r in BUBBLES]
    points = points[np.min(gaps, axis=0) > 1e-4]
    expected = np.array([sphere_rule(p) for p in points])
    np.testing.assert_allclose(colour(points), expected, atol=1e-7)
    assert 0.2 < np.mean(expected.any(axis=1)) < 0.9  # both inside and outside are tested


def test_bubbles_batches_are_the_rule_at_the_drawn_points() -> None:
    target = BubblesTarget(8)
    inputs, targets = draw(target, 500)
    gaps = np.min([abs(np.linalg.norm(inputs - c, axis=1) - r) for c, _, r in BUBBLES], axis=0)
    keep = gaps > 1e-4
    expected = np.array([sphere_rule(p) for p in inputs[keep].astype(np.float64)])
    np.testing.assert_allclose(targets[keep], expected, atol=1e-7)
    assert target.reference().shape == (8, 8, 8, 3)
    # The reference grid: z is axis 0; sample (i, j, k) sits at (k, j, i) / 7.
    z, y, x = 3, 5, 2
    expected_cell = sphere_rule(np.array([x, y, z]) / 7)
    np.testing.assert_allclose(target.reference()[z, y, x], expected_cell, atol=1e-7)


def test_a_grid_target_takes_the_nearest_sample_like_an_image() -> None:
    rng = np.random.default_rng(2)
    pixels = rng.random((5, 7, 3)).astype(np.float32)
    inputs = rng.random((400, 2)).astype(np.float32)
    from_image = np.empty((400, 3), np.float32)
    ImageTarget(pixels)._sampler.texels_at(inputs, from_image)
    np.testing.assert_array_equal(GridTarget(pixels).values_at(inputs), from_image)


def test_a_volume_maps_xyz_to_its_nearest_voxel() -> None:
    volume = np.random.default_rng(3).random((4, 5, 6)).astype(np.float32)
    target = VolumeTarget(volume)
    assert (target.n_input_dims, target.n_output_dims, target.grid_shape) == (3, 1, (4, 5, 6))
    points = np.array([[0.0, 0.0, 0.0], [0.99, 0.5, 0.26], [0.2, 0.99, 0.999]], np.float32)
    expected = [volume[0, 0, 0], volume[1, 2, 5], volume[3, 4, 1]]  # [int(z D), int(y H), ...]
    np.testing.assert_array_equal(target.values_at(points)[:, 0], expected)
    integers = VolumeTarget(np.full((2, 2, 2, 4), 255, np.uint8))
    assert integers.n_output_dims == 4 and integers.reference().max() == 1.0


def test_load_volume_reads_a_npy_file(tmp_path) -> None:
    volume = np.random.default_rng(4).random((3, 4, 5, 2))
    np.save(tmp_path / "v.npy", volume)
    loaded = load_volume(tmp_path / "v.npy")
    assert loaded.dtype == np.float32 and loaded.shape == (3, 4, 5, 2)
    np.testing.assert_allclose(loaded, volume, atol=1e-7)
    assert VolumeTarget.from_file(tmp_path / "v.npy").source == str(tmp_path / "v.npy")


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((4, 4)), r"shape \(D, H, W\) or \(D, H, W, C\) with C in 1..4.*\(4, 4\)"),
        (np.zeros((2, 2, 2, 5)), r"C in 1..4.*\(2, 2, 2, 5\)"),
        (np.zeros((2, 0, 2)), r"every size >= 1, got \(2, 0, 2\)"),
        (np.zeros((2, 2, 2), np.int32), "dtype int32 is not fitted.*uint8, uint16 or bool"),
        (np.full((2, 2, 2), np.nan), r"NaN, infinite or outside \[0, 1\].*index \(0, 0, 0\)"),
        (np.array([[[0.0, 0.5], [1.5, 0.0]]]), r"1 volume value.*1.5.*index \(0, 1, 0\)"),
    ],
)
def test_a_bad_volume_is_one_line_naming_it(tmp_path, array, message) -> None:
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(VolumeError, match=message) as error:
        load_volume(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_load_volume_refuses_pickles_archives_and_missing_files(tmp_path, monkeypatch) -> None:
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(VolumeError, match="cannot be read as .npy.*allow_pickle"):
        load_volume(tmp_path / "objects.npy")
    np.savez(tmp_path / "archive.npz", v=np.zeros((2, 2, 2)))
    with pytest.raises(VolumeError, match="not a .npy array file"):
        load_volume(tmp_path / "archive.npz")
    with pytest.raises(VolumeError, match="cannot read volume file .*missing.npy"):
        load_volume(tmp_path / "missing.npy")
    with pytest.raises(VolumeError, match="is not a regular file"):
        load_volume(tmp_path)
    import gfxnn.fields.examples as examples

    monkeypatch.setattr(examples, "MAX_VOLUME_VALUES", 7)
    with pytest.raises(VolumeError, match="holds 8 values; at most 7"):
        VolumeTarget(np.zeros((2, 2, 2)))


def test_make_target_builds_each_example(tmp_path) -> None:
    np.save(tmp_path / "v.npy", np.zeros((2, 3, 4), np.float32))
    (cosine,), (bubbles,) = make_targets("cosine"), make_targets("bubbles")
    assert isinstance(cosine, CosineTarget) and isinstance(bubbles, BubblesTarget)
    assert make_targets("image")[0].grid_shape == (256, 256)
    assert len(make_targets("four_images")) == 4
    assert make_targets("volume", volume=tmp_path / "v.npy")[0].grid_shape == (2, 3, 4)
    with pytest.raises(ValueError, match="needs a volume"):
        make_targets("volume")
    small, large = np.zeros((2, 2, 3), np.float32), np.zeros((4, 4, 3), np.float32)
    with pytest.raises(ValueError, match="one size"):
        make_targets("four_images", images=[large, large, large, small])


# ----- each example learns ----------------------------------------------------------------
def test_cosine_learns_in_a_few_hundred_steps() -> None:
    fitter = controller("cosine", CosineTarget(), batch_size=1024)
    before = fitter.psnr()
    fitter.step(200)
    assert fitter.render().shape == (256, 1)
    assert fitter.psnr() > max(before + 15, 30)


def test_bubbles_learn_in_a_few_hundred_steps() -> None:
    fitter = controller("bubbles", BubblesTarget(24), batch_size=2048)
    before = fitter.psnr()
    fitter.step(150)
    assert fitter.psnr() > before + 8


def test_a_volume_learns_in_a_few_hundred_steps() -> None:
    z, y, x = np.meshgrid(*[np.linspace(0, 1, 12)] * 3, indexing="ij")
    volume = np.stack([x, y * z], axis=-1).astype(np.float32)  # smooth, 2 channels
    fitter = controller("volume", VolumeTarget(volume), batch_size=2048)
    before = fitter.psnr()
    fitter.step(150)
    assert fitter.render().shape == (12, 12, 12, 2)
    assert fitter.psnr() > before + 8


# ----- frames ------------------------------------------------------------------------------
def test_slice_inputs_put_pixel_x_y_at_x_y_z() -> None:
    points = display.slice_inputs(0.25, 3, 5).reshape(3, 5, 3)
    np.testing.assert_allclose(points[2, 1], (0.25, 1.0, 0.25))
    with pytest.raises(ValueError, match=r"z_plane must be in \[0, 1\], got 1.5"):
        display.slice_inputs(1.5, 3, 5)


def test_the_bubbles_reference_frame_is_the_slice_at_z() -> None:
    frame = display.reference_frame(BubblesTarget(4), z_plane=0.5, shape=(65, 65))
    assert frame.shape == (65, 65, 3) and frame.dtype == np.uint8
    np.testing.assert_array_equal(frame[32, 32], np.round(np.array((1, 1, 0.3)) * 255))  # sphere 1
    at_top = display.reference_frame(BubblesTarget(4), z_plane=0.0, shape=(65, 65))
    assert not np.array_equal(frame, at_top)  # another plane, another slice


def test_the_cosine_plot_draws_the_function_and_the_prediction() -> None:
    fitter = controller("cosine", CosineTarget(), batch_size=256)
    frames = display.render_frames(fitter, shape=(128, 200))
    assert frames.reference.shape == frames.prediction.shape == (128, 200, 3)
    white = np.all(frames.prediction == 255, axis=2)
    orange = np.all(frames.prediction == (255, 170, 0), axis=2)
    assert white.any(axis=0).all() and orange.any()  # a prediction pixel in every column
    assert not np.all(frames.reference == 255, axis=2).any()  # the reference: function only
    # The white pixels sit where the network's output is (rows from value 1 at the top).
    output = np.clip(fitter.render((200,))[:, 0], 0, 1)
    rows = np.round(8 + (1 - output) * (127 - 16))
    column = 50
    assert np.any(np.abs(np.nonzero(white[:, column])[0] - rows[column]) <= 1)
    function = (np.cos(2 * np.pi * np.arange(200) / 199) + 1) / 2
    expected = 10 * np.log10(1 / np.mean((output - function) ** 2))
    assert math.isclose(frames.psnr, expected, rel_tol=1e-5)  # the PSNR of the plotted samples


def test_an_image_frame_at_its_own_size_is_the_prediction() -> None:
    pixels = np.random.default_rng(5).random((6, 8, 3)).astype(np.float32)
    fitter = controller("image", ImageTarget(pixels), batch_size=256)
    frames = display.render_frames(fitter)
    np.testing.assert_array_equal(frames.reference, np.round(pixels * 255).astype(np.uint8))
    expected = np.round(np.clip(fitter.predict(), 0, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(frames.prediction, expected)
    assert math.isclose(frames.psnr, fitter.psnr(), rel_tol=1e-6)


def test_a_volume_slice_shows_its_channels_as_rgb() -> None:
    volume = np.zeros((2, 3, 4, 2), np.float32)
    volume[..., 0], volume[..., 1] = 1.0, 0.5
    frame = display.reference_frame(VolumeTarget(volume), z_plane=1.0)
    assert frame.shape == (3, 4, 3)
    np.testing.assert_array_equal(frame[1, 2], (255, 128, 0))
    with pytest.raises(ValueError, match="shape must be"):
        display.reference_frame(VolumeTarget(volume), shape=(3,))  # type: ignore[arg-type]
