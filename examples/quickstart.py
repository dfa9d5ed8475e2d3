"""Quickstart: fit y = sin(2 pi x) with a small MLP, Adam and the autodiff engine.

Run: python examples/quickstart.py
"""

from __future__ import annotations

import numpy as np

from gfxnn import losses, nn, optim


def main(steps: int = 1500, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, size=(256, 1)).astype(np.float32)
    y = np.sin(2 * np.pi * x)

    model = nn.MLP(1, 1, n_neurons=32, n_hidden_layers=2, activation="tanh", rng=rng)
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    loss = losses.mse(model(x), y)
    for step in range(1, steps + 1):
        optimizer.zero_grad()
        loss = losses.mse(model(x), y)
        loss.backward()
        optimizer.step()
        if step % 300 == 0:
            print(f"step {step:5d}  mse {loss.item():.6f}")
    return loss.item()


if __name__ == "__main__":
    main()
