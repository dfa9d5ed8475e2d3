"""XOR with a 2-2-1 network: the problem a single perceptron cannot solve.

Two tanh hidden units and one sigmoid output (trained on its logit with binary
cross-entropy) learn x1 XOR x2 on the four corners of the unit square.

    python examples/xor.py [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np

from gfxnn import nn
from gfxnn.functional import sigmoid
from gfxnn.losses import binary_cross_entropy_with_logits
from gfxnn.optim import Adam
from gfxnn.tensor import Tensor
from gfxnn.training import fit

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
Y = np.array([[0], [1], [1], [0]], dtype=np.float32)
EPOCHS = 500  # full-batch Adam steps (one batch of the four points per epoch)
LEARNING_RATE = 0.05
# A 2-2-1 net stalls in a local minimum (one hidden unit stuck) for about half of all seeds:
# of seeds 0..11, 0, 3, 4, 8, 9 and 11 stall. Seed 0 sat on the edge: tanh becoming one
# primitive (float32 rounding of 1e-7) tipped it over. Seed 1 converges with a wide margin.
SEED = 1


def main(seed: int = SEED, verbose: bool = True) -> np.ndarray:
    """Train and return the network's output probabilities for the four inputs."""
    model = nn.MLP(2, 1, n_neurons=2, n_hidden_layers=1, activation="tanh", rng=seed)
    history = fit(
        model, binary_cross_entropy_with_logits, Adam(model.parameters(), lr=LEARNING_RATE),
        X, Y, epochs=EPOCHS, batch_size=4, shuffle=False, validation_split=0, rng=seed,
        progress=False,
    )  # fmt: skip
    probabilities = sigmoid(model(Tensor(X))).data
    if verbose:
        print(f"loss {history['loss'][0]:.4f} -> {history['loss'][-1]:.4f}")
        for (a, b), p in zip(X.astype(int), probabilities[:, 0], strict=True):
            print(f"{a} XOR {b} = {a ^ b}   network: {p:.3f}")
    return probabilities


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    main(parser.parse_args().seed)
