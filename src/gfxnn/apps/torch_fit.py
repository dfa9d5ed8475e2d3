"""The flagship's training step in PyTorch eager mode: the baseline `gfxnn bench` and
benchmarks/fit_cpu.py measure gfxnn against (PyTorch is a benchmark oracle, never a dependency).

The same maths as Dx12NN's default fit: `batch_size` uniform random UVs, nearest-texel targets,
the frequency encoding sin/cos(pi 2^k x) for k < n_frequencies, an MLP with leaky ReLU (0.01)
after every layer, the output included, MSE, Adam (lr, 0.9, 0.999, 1e-8). The weights start as
the given gfxnn fitter's, biases zero. Only these default settings are mirrored.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["TorchFit", "check_mirrored"]


def check_mirrored(settings: Any) -> None:
    """ValueError unless `settings` are ones TorchFit reproduces (Dx12NN's network and maths;
    batch size, width, depth, octaves, learning rate and seed may differ)."""
    wanted = {
        "optimizer": "adam",
        "encoding": "frequency",
        "activation": "leaky_relu",
        "output_activation": None,
        "loss": "l2",
        "beta1": 0.9,
        "beta2": 0.999,
        "epsilon": 1e-8,
        "l2_reg": 0.0,
    }
    different = {k: getattr(settings, k) for k, v in wanted.items() if getattr(settings, k) != v}
    if different or settings.encoding_params:
        raise ValueError(
            f"the PyTorch baseline mirrors Dx12NN's default maths only, not {different}"
        )


class TorchFit:
    """The same training step in PyTorch eager mode, on `device` ("cpu" or "cuda")."""

    def __init__(self, image: np.ndarray, fitter: Any, settings: Any, device: str = "cpu") -> None:
        import torch

        check_mirrored(settings)
        self.torch = torch
        self.device = torch.device(device)
        self.height, self.width = image.shape[:2]
        texels = np.ascontiguousarray(image.reshape(-1, 3), dtype=np.float32)
        self.texels = torch.from_numpy(texels).to(self.device)
        self.batch = settings.batch_size
        octaves = (np.pi * 2.0 ** np.arange(settings.n_frequencies)).astype(np.float32)
        self.frequencies = torch.from_numpy(octaves).to(self.device)
        self.generator = torch.Generator(device=self.device).manual_seed(settings.seed)
        layers: list[Any] = []
        for name, value in fitter.state_dict().items():
            if name.endswith(".weight"):
                linear = torch.nn.Linear(value.shape[1], value.shape[0])
                with torch.no_grad():
                    linear.weight.copy_(torch.from_numpy(np.asarray(value, np.float32)))
                    linear.bias.zero_()
                layers += [linear, torch.nn.LeakyReLU(0.01)]
        self.net = torch.nn.Sequential(*layers).to(self.device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=settings.learning_rate)

    def encode(self, uv: Any) -> Any:
        phase = uv[:, :, None] * self.frequencies  # (n, 2, F)
        return self.torch.stack((phase.sin(), phase.cos()), dim=-1).reshape(uv.shape[0], -1)

    def step(self, n: int) -> float:
        """Train `n` steps; returns the last batch loss (which waits for the device)."""
        torch = self.torch
        loss = torch.zeros((), device=self.device)
        for _ in range(n):
            uv = torch.rand((self.batch, 2), generator=self.generator, device=self.device)
            x = (uv[:, 0] * self.width).long().clamp_(max=self.width - 1)
            y = (uv[:, 1] * self.height).long().clamp_(max=self.height - 1)
            target = self.texels[y * self.width + x]
            loss = ((self.net(self.encode(uv)) - target) ** 2).mean()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        return float(loss.detach())

    def predict(self, width: int, height: int) -> np.ndarray:
        """The full image at uv = (x / (w - 1), y / (h - 1)), (height, width, 3)."""
        torch = self.torch
        with torch.inference_mode():
            u = torch.arange(width, dtype=torch.float32, device=self.device) / (width - 1)
            v = torch.arange(height, dtype=torch.float32, device=self.device) / (height - 1)
            vv, uu = torch.meshgrid(v, u, indexing="ij")
            uv = torch.stack((uu.reshape(-1), vv.reshape(-1)), dim=1)
            return self.net(self.encode(uv)).reshape(height, width, 3).cpu().numpy()
