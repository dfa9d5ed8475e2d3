"""Held-out image regression with different input mappings, after Tancik et al. 2020, Table 1.

"Fourier Features Let Networks Learn High Frequency Functions in Low Dimensional Domains"
(https://arxiv.org/abs/2006.10739) fits 2-D images with an MLP on the even pixel grid and
reports PSNR on the odd one; the mappings rank no mapping < basic < positional < Gaussian.
This script does the same on the CPU with gfxnn's fused pieces (encoder, FusedMLP,
FusedTrainer, Adam), and adds the multiresolution hash grid:

- identity   the raw uv (no mapping);
- basic      Frequency with one octave: [sin(pi u), cos(pi u), sin(pi v), cos(pi v)]
             (the paper's basic mapping is [cos 2 pi v, sin 2 pi v] on [0, 1), a full period);
- positional Frequency with F octaves, sin/cos(pi 2^k x) for k < F (octave spacing, where the
             paper spaces its frequencies log-linearly); F in {5, 6, 8}, chosen on validation
             pixels;
- Gaussian   GaussianFourier, 128 frequencies B ~ N(0, sigma^2), sin/cos(2 pi B x) (the paper
             uses 256); sigma in {5, 10, 20}, chosen on validation pixels;
- hash grid  HashGrid (2 features per level, 2^15 entries, base resolution 16, per-level scale
             1.5) with its own Adam (lr 1e-2, beta2 0.99, eps 1e-15, tcnn's); 6, 8 or 16
             levels (finest resolution 122, 274 or 7007 vertices per axis), chosen on
             validation pixels.

Pixels (x, y) of an H x W image sit at uv = (x / (W - 1), y / (H - 1)). Training pixels: x and
y both even; test pixels: both odd (the table reports their PSNR); validation pixels, used only
to choose F, sigma and the levels: x even, y odd (the paper tunes its scales per task; a
separate split keeps the test pixels out of that choice). Every mapping trains the same network
(3 hidden layers of 128 ReLU, sigmoid output: the paper's 4 layers at half its 256 width, for
the CPU) with Adam (lr 1e-3), L2 loss, 500 steps of 4096 training pixels (125 epochs of the
16384, each epoch a fresh permutation; the paper: 2000 full-batch steps), all from seed 0.

Images: the bundled 256x256 astronaut photo and a procedural 256x256 texture drawn here with
Pillow (text, lines and shapes over smooth colour gradients; nothing downloaded).

    python benchmarks/fourier_table.py           # ~5 min CPU on the 2-core VM
    python benchmarks/fourier_table.py --quick   # smoke run: 32x32 images, a few steps
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from gfxnn.data.images import load_bundled  # noqa: E402
from gfxnn.fused import FusedMLP, FusedTrainer, make_encoder, make_optimizer  # noqa: E402
from gfxnn.fused.threads import blas_threads  # noqa: E402
from gfxnn.imagefit import psnr  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MAPPINGS = ("identity", "basic", "positional", "Gaussian", "hash grid")


@dataclass
class Config:
    """Everything a run depends on (stated in the printed header)."""

    steps: int = 500
    batch_size: int = 4096
    n_neurons: int = 128
    n_hidden_layers: int = 3
    learning_rate: float = 1e-3
    gaussian_features: int = 128
    octaves: tuple[int, ...] = (5, 6, 8)
    sigmas: tuple[float, ...] = (5.0, 10.0, 20.0)
    hash_levels: tuple[int, ...] = (6, 8, 16)
    log2_hashmap_size: int = 15
    seed: int = 0


QUICK = Config(
    steps=5,
    batch_size=64,
    n_neurons=16,
    n_hidden_layers=1,
    gaussian_features=8,
    octaves=(4,),
    sigmas=(5.0,),
    hash_levels=(4,),
    log2_hashmap_size=10,
)


# ----- images -------------------------------------------------------------------------------
def procedural_texture(size: int, seed: int = 0) -> np.ndarray:
    """(size, size, 3) float32 in [0, 1]: smooth colour gradients with random shapes, thin
    lines and text drawn over them, a high-frequency image with sharp edges (like the paper's
    text images). Deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, size)
    u, v = np.meshgrid(t, t)
    base = np.stack(
        [0.5 + 0.35 * np.sin(2 * np.pi * (u + 0.3 * v)), 0.4 + 0.4 * v, 0.6 - 0.3 * u], axis=-1
    )
    image = Image.fromarray((255 * base).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    scale = size / 256

    def colour() -> tuple[int, int, int]:
        r, g, b = (int(c) for c in rng.integers(0, 256, 3))
        return (r, g, b)

    for _ in range(12):
        x0, y0 = (int(c) for c in rng.integers(0, size, 2))
        w, h = (int(c) for c in rng.integers(int(10 * scale) + 1, int(70 * scale) + 2, 2))
        box = (x0, y0, x0 + w, y0 + h)
        if rng.random() < 0.5:
            draw.rectangle(box, fill=colour())
        else:
            draw.ellipse(box, fill=colour())
    for _ in range(20):
        x0, y0, x1, y1 = (int(c) for c in rng.integers(0, size, 4))
        draw.line((x0, y0, x1, y1), fill=colour(), width=int(rng.integers(1, 4)))
    font = ImageFont.load_default(size=max(6, int(18 * scale)))
    words = ["gfxnn", "Fourier", "hash grid", "sin cos", "MLP", "256 x 256", "PSNR", "uv -> RGB"]
    for i, word in enumerate(words):
        x = int(rng.integers(0, int(size * 0.6)))
        y = int((i + 0.2) * size / len(words))
        draw.text((x, y), word, fill=colour(), font=font)
    return np.asarray(image, np.float32) / 255.0


@dataclass
class Split:
    """uv (n, 2) and rgb (n, 3) float32 of one pixel subset."""

    uv: np.ndarray
    rgb: np.ndarray


def pixel_split(image: np.ndarray, x_parity: int, y_parity: int) -> Split:
    """The pixels with x % 2 == x_parity and y % 2 == y_parity, at uv = (x/(W-1), y/(H-1))."""
    height, width, _ = image.shape
    ys, xs = np.mgrid[y_parity:height:2, x_parity:width:2]
    uv = np.stack([xs / (width - 1), ys / (height - 1)], axis=-1).reshape(-1, 2)
    rgb = image[ys, xs].reshape(-1, 3)
    return Split(np.ascontiguousarray(uv, np.float32), np.ascontiguousarray(rgb, np.float32))


def full_grid(image: np.ndarray) -> np.ndarray:
    """uv (H*W, 2) of every pixel, row by row."""
    height, width, _ = image.shape
    ys, xs = np.mgrid[0:height, 0:width]
    uv = np.stack([xs / (width - 1), ys / (height - 1)], axis=-1).reshape(-1, 2)
    return np.ascontiguousarray(uv, np.float32)


# ----- mappings -----------------------------------------------------------------------------
def make_mapping(mapping: str, value: Any, config: Config) -> Any:
    """The fused encoder of one mapping; `value` is its tuned parameter (F, sigma, levels)."""
    if mapping == "identity":
        return make_encoder("identity")
    if mapping == "basic":
        return make_encoder("frequency", n_frequencies=1)
    if mapping == "positional":
        return make_encoder("frequency", n_frequencies=int(value))
    if mapping == "Gaussian":
        params = {"n_frequencies": config.gaussian_features, "sigma": float(value), "seed": 0}
        return make_encoder("gaussianfourier", params=params)
    if mapping == "hash grid":
        params = {
            "n_levels": int(value),
            "n_features_per_level": 2,
            "log2_hashmap_size": config.log2_hashmap_size,
            "base_resolution": 16,
            "per_level_scale": 1.5,
        }
        return make_encoder("hashgrid", params=params)
    raise ValueError(f"unknown mapping {mapping!r}; choose from {MAPPINGS}")


def candidates(mapping: str, config: Config) -> tuple[Any, ...]:
    """The parameter values tried for `mapping` (one None where nothing is tuned)."""
    return {
        "positional": config.octaves,
        "Gaussian": config.sigmas,
        "hash grid": config.hash_levels,
    }.get(mapping, (None,))


def describe(mapping: str, value: Any) -> str:
    if mapping == "positional":
        return f"positional (F={value})"
    if mapping == "Gaussian":
        return f"Gaussian (sigma={value:g})"
    if mapping == "hash grid":
        return f"hash grid ({value} levels)"
    return mapping


# ----- training -----------------------------------------------------------------------------
@dataclass
class Model:
    encoder: Any
    mlp: FusedMLP
    cpu_s: float


def train(mapping: str, value: Any, train_set: Split, config: Config) -> Model:
    """Train one mapping's network on the training pixels for config.steps Adam steps."""
    encoder = make_mapping(mapping, value, config)
    mlp = FusedMLP(
        encoder.n_output_dims,
        3,
        config.n_neurons,
        config.n_hidden_layers,
        "relu",
        output_activation="sigmoid",
    )
    rng = np.random.default_rng(config.seed)
    mlp.initialize(rng)
    optimizer = make_optimizer("adam", mlp.params, mlp.grads, config.learning_rate)
    table_optimizer = None
    if hasattr(encoder, "initialize"):
        encoder.initialize(rng)
        table_optimizer = make_optimizer(
            "adam", encoder.params, encoder.grads, 1e-2, (0.9, 0.99), 1e-15
        )
    trainer = FusedTrainer(encoder, mlp, optimizer, table_optimizer, loss="l2")
    n = train_set.uv.shape[0]
    batch = min(config.batch_size, n)
    uv = np.empty((batch, 2), np.float32)
    rgb = np.empty((batch, 3), np.float32)
    order = rng.permutation(n)
    position = 0
    start = time.process_time()
    with blas_threads(1):
        for _ in range(config.steps):
            if position + batch > n:  # a fresh permutation each epoch
                order, position = rng.permutation(n), 0
            index = order[position : position + batch]
            position += batch
            np.take(train_set.uv, index, axis=0, out=uv)
            np.take(train_set.rgb, index, axis=0, out=rgb)
            trainer.compute_gradients(uv, rgb)
            trainer.update()
    return Model(encoder, mlp, time.process_time() - start)


def predict(model: Model, uv: np.ndarray, chunk: int = 16384) -> np.ndarray:
    """(n, 3) network output at uv (n, 2), in chunks."""
    out = np.empty((uv.shape[0], 3), np.float32)
    features = np.empty((min(chunk, uv.shape[0]), model.encoder.n_output_dims), np.float32)
    with blas_threads(1):
        for start in range(0, uv.shape[0], chunk):
            part = uv[start : start + chunk]
            n = part.shape[0]
            scratch = model.encoder.make_scratch(n, np.float32)
            model.encoder.encode(part, features[:n], scratch)
            model.mlp.infer(features[:n], out[start : start + n])
    return out


def split_psnr(model: Model, split: Split) -> float:
    return psnr(np.clip(predict(model, split.uv), 0.0, 1.0), split.rgb)


@dataclass
class Result:
    mapping: str
    value: Any
    test_psnr: float
    train_psnr: float
    validation: dict[Any, float]  # candidate -> validation PSNR
    cpu_s: float  # training CPU seconds of the chosen candidate
    prediction: np.ndarray  # (H, W, 3) full image


def run_image(image: np.ndarray, config: Config) -> list[Result]:
    """Every mapping on one image: choose each one's parameter on the validation pixels,
    report the chosen model's PSNR on the test pixels."""
    train_set = pixel_split(image, 0, 0)
    validation_set = pixel_split(image, 0, 1)
    test_set = pixel_split(image, 1, 1)
    results = []
    for mapping in MAPPINGS:
        tried: dict[Any, tuple[float, Model]] = {}
        for value in candidates(mapping, config):
            model = train(mapping, value, train_set, config)
            tried[value] = (split_psnr(model, validation_set), model)
            print(
                f"    {describe(mapping, value):24s} validation {tried[value][0]:6.2f} dB "
                f"({model.cpu_s:.1f} s CPU)",
                flush=True,
            )
        value = max(tried, key=lambda key: tried[key][0])
        model = tried[value][1]
        prediction = np.clip(predict(model, full_grid(image)), 0.0, 1.0).reshape(image.shape)
        results.append(
            Result(
                mapping,
                value,
                split_psnr(model, test_set),
                split_psnr(model, train_set),
                {key: score for key, (score, _) in tried.items()},
                model.cpu_s,
                prediction,
            )
        )
    return results


# ----- output -------------------------------------------------------------------------------
def print_table(all_results: dict[str, list[Result]]) -> None:
    names = list(all_results)
    print("\nTest PSNR (dB) on the odd pixel grid (train PSNR on the even grid in brackets):\n")
    print("| mapping | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for i, mapping in enumerate(MAPPINGS):
        cells = []
        for name in names:
            r = all_results[name][i]
            chosen = "" if r.value is None else f", {describe(mapping, r.value).split('(')[1][:-1]}"
            cells.append(f"**{r.test_psnr:.2f}** ({r.train_psnr:.2f}{chosen})")
        print(f"| {mapping} | " + " | ".join(cells) + " |")
    print("\nValidation PSNR (dB) of every candidate (x even, y odd pixels):\n")
    for name in names:
        for r in all_results[name]:
            if r.value is not None:
                tried = ", ".join(f"{k:g}: {v:.2f}" for k, v in r.validation.items())
                print(f"- {name}, {r.mapping}: {tried}")
    print("\nTraining CPU seconds of the chosen model:\n")
    for name in names:
        cells = ", ".join(f"{r.mapping} {r.cpu_s:.1f}" for r in all_results[name])
        print(f"- {name}: {cells}")
    print()
    for name in names:
        scores = [r.test_psnr for r in all_results[name][:4]]
        ordered = all(a < b for a, b in zip(scores, scores[1:], strict=False))
        print(
            f"{name}: identity < basic < positional < Gaussian "
            f"{'holds' if ordered else 'does NOT hold'}"
        )


def save_picture(images: dict[str, np.ndarray], all_results: dict[str, list[Result]], path: Path):
    columns = len(MAPPINGS) + 1
    fig, axes = plt.subplots(len(images), columns, figsize=(2.6 * columns, 2.9 * len(images)))
    axes = np.atleast_2d(axes)
    for row, (name, image) in enumerate(images.items()):
        panels = [(f"{name}: reference", image)] + [
            (f"{describe(r.mapping, r.value)}\n{r.test_psnr:.2f} dB", r.prediction)
            for r in all_results[name]
        ]
        for axis, (title, picture) in zip(axes[row], panels, strict=True):
            axis.imshow(picture, interpolation="nearest")
            axis.set_title(title, fontsize=8)
            axis.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, help=f"Adam steps (default {Config.steps})")
    parser.add_argument("--quick", action="store_true", help="smoke run: 32x32, a few steps")
    parser.add_argument(
        "--images-dir",
        type=Path,
        default=None,
        help="where the picture goes (default: docs/images; none for --quick)",
    )
    args = parser.parse_args(argv)

    config = QUICK if args.quick else Config()
    if args.steps is not None:
        config.steps = args.steps
    size = 32 if args.quick else 256
    photo = load_bundled("astronaut")
    images = {
        "astronaut": np.ascontiguousarray(photo[:: 256 // size, :: 256 // size]),
        "texture": procedural_texture(size, seed=0),
    }
    print(
        f"{size}x{size} images; network {config.n_hidden_layers} x {config.n_neurons} ReLU, "
        f"sigmoid output; Adam lr {config.learning_rate:g}, L2; {config.steps} steps of "
        f"{config.batch_size} training pixels; seed {config.seed}; 1 BLAS thread"
    )
    start = time.process_time()
    all_results = {}
    for name, image in images.items():
        print(f"  {name}:", flush=True)
        all_results[name] = run_image(image, config)
    print_table(all_results)
    print(f"\ntotal CPU {time.process_time() - start:.0f} s")
    # A smoke run must not overwrite the documented picture.
    images_dir = args.images_dir or (None if args.quick else ROOT / "docs" / "images")
    if images_dir is not None:
        save_picture(images, all_results, images_dir / "fourier_table.png")


if __name__ == "__main__":
    main()
