"""A small U-Net (Ronneberger et al. 2015, https://arxiv.org/abs/1505.04597) that removes
Gaussian noise from patches of the bundled astronaut photo.

Two resolution levels below the input, each joined back by a skip connection; the network
predicts the noise (residual learning), so its output is noisy - predicted noise. Training
patches come from the top three quarters of the photo, test patches from the bottom quarter,
which the network never sees. PSNR before (noisy) and after (denoised) is printed, and a PNG
(clean / noisy / denoised test patches) is written to --out.

    python examples/denoising_unet.py [--steps 300] [--noise 0.1] [--out unet.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import gfxnn
from gfxnn import losses, nn, optim
from gfxnn.data import load_bundled
from gfxnn.data.images import encode_png
from gfxnn.tensor import Tensor

STEPS = 300  # Adam steps
BATCH_SIZE = 8  # patches per step
PATCH = 32  # patch side in pixels (divisible by 4: two 2x2 poolings)
NOISE_STD = 0.1  # Gaussian noise on pixels in [0, 1]: about 20 dB PSNR
LEARNING_RATE = 2e-3
WIDTH = 16  # channels at full resolution; 2x and 4x that at the lower levels
SEED = 0


def conv_block(in_channels: int, out_channels: int, rng: np.random.Generator) -> nn.Sequential:
    """Two 3x3 convolutions with batch norm and ReLU, keeping the spatial size."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False, rng=rng),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False, rng=rng),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class UNet(nn.Module):
    """Encoder (full, 1/2 resolution), bottleneck (1/4), decoder back up with skip
    connections. Shapes: (N, C, H, W) -> (N, C, H, W), H and W divisible by 4."""

    def __init__(self, channels: int, width: int, rng: np.random.Generator) -> None:
        super().__init__()
        self.down1 = conv_block(channels, width, rng)
        self.down2 = conv_block(width, 2 * width, rng)
        self.pool = nn.MaxPool2d(2)
        self.bottom = conv_block(2 * width, 4 * width, rng)
        self.up2 = nn.ConvTranspose2d(4 * width, 2 * width, 2, stride=2, rng=rng)
        self.merge2 = conv_block(4 * width, 2 * width, rng)
        self.up1 = nn.Upsample(2, mode="bilinear")
        self.merge1 = conv_block(2 * width + width, width, rng)
        self.head = nn.Conv2d(width, channels, 1, rng=rng)
        # A zero head makes the untrained network the identity (PSNR of the noisy input),
        # so training only has to learn the correction; a random head starts far worse.
        self.head.weight.data[:] = 0.0

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[2] % 4 or x.shape[3] % 4:
            raise ValueError(f"UNet needs (N, C, H, W) with H, W divisible by 4, got {x.shape}")
        skip1 = self.down1(x)  # width x H x W
        skip2 = self.down2(self.pool(skip1))  # 2 width x H/2
        bottom = self.bottom(self.pool(skip2))  # 4 width x H/4
        up2 = self.merge2(gfxnn.concatenate([self.up2(bottom), skip2], axis=1))
        up1 = self.merge1(gfxnn.concatenate([self.up1(up2), skip1], axis=1))
        return x - self.head(up1)  # the head predicts the noise


def patches(image: np.ndarray, rows: slice, patch: int, stride: int) -> np.ndarray:
    """Every `patch`-sized square of image[rows] at `stride` as (K, 3, patch, patch)."""
    region = image[rows].transpose(2, 0, 1)
    windows = np.lib.stride_tricks.sliding_window_view(region, (patch, patch), axis=(1, 2))
    picked = windows[:, ::stride, ::stride]
    return np.ascontiguousarray(picked.transpose(1, 2, 0, 3, 4).reshape(-1, 3, patch, patch))


def psnr(prediction: np.ndarray, reference: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(prediction, np.float64) - reference) ** 2))
    return 10.0 * np.log10(1.0 / max(mse, 1e-12))


def split_photo(patch: int = PATCH) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) patches: training from the top 3/4 (stride patch/4), test from the
    bottom 1/4 (stride patch/2)."""
    image = load_bundled("astronaut")
    cut = image.shape[0] * 3 // 4
    return (
        patches(image, slice(0, cut), patch, patch // 4),
        patches(image, slice(cut, None), patch, patch // 2),
    )


def train(
    steps: int = STEPS,
    noise_std: float = NOISE_STD,
    width: int = WIDTH,
    seed: int = SEED,
    verbose: bool = True,
) -> tuple[UNet, float, float]:
    """Train on noisy training patches; returns (model, test PSNR noisy, test PSNR denoised)."""
    rng = np.random.default_rng(seed)
    train_set, test_set = split_photo()
    model = UNet(3, width, rng)
    optimizer = optim.Adam(model.parameters(), lr=LEARNING_RATE)
    for step in range(steps):
        clean = train_set[rng.integers(0, len(train_set), BATCH_SIZE)]
        noisy = clean + noise_std * rng.standard_normal(clean.shape).astype(np.float32)
        loss = losses.mse(model(gfxnn.tensor(noisy)), clean)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if verbose and (step + 1) % 50 == 0:
            print(f"step {step + 1}/{steps}: loss {loss.item():.5f}")
    noisy_test = test_set + noise_std * np.random.default_rng(seed + 1).standard_normal(
        test_set.shape
    ).astype(np.float32)
    denoised = denoise(model, noisy_test)
    return model, psnr(noisy_test, test_set), psnr(denoised, test_set)


def denoise(model: UNet, noisy: np.ndarray) -> np.ndarray:
    """The model in eval mode (batch norm's running statistics) on (K, 3, P, P) patches."""
    model.eval()
    with gfxnn.no_grad():
        parts = [model(gfxnn.tensor(noisy[i : i + 64])).data for i in range(0, len(noisy), 64)]
    model.train()
    return np.clip(np.concatenate(parts), 0.0, 1.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--noise", type=float, default=NOISE_STD)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=Path("unet.png"))
    args = parser.parse_args(argv)
    model, before, after = train(args.steps, args.noise, seed=args.seed)
    print(f"test patches (bottom quarter, unseen): PSNR noisy {before:.2f} dB -> "
          f"denoised {after:.2f} dB (+{after - before:.2f} dB)")  # fmt: skip
    _, test_set = split_photo()
    shown = test_set[:8]
    noisy = shown + args.noise * np.random.default_rng(args.seed + 1).standard_normal(
        shown.shape
    ).astype(np.float32)
    rows = [shown, noisy, denoise(model, noisy)]
    grid = np.concatenate([np.concatenate(list(r.transpose(0, 2, 3, 1)), axis=1) for r in rows])
    args.out.write_bytes(encode_png(grid))
    print(f"wrote {args.out} (rows: clean, noisy, denoised)")


if __name__ == "__main__":
    main()
