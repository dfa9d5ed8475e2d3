"""One SGD step of a 2-2-1 sigmoid network, worked by hand in the comments and asserted.

The numbers are those of the classic backpropagation walk-through (inputs 0.05, 0.10,
weights 0.15 ... 0.45, target 0.01, learning rate 0.5) with one output neuron; unlike that
walk-through, each neuron has its own bias and the biases are updated too. Every value is
written to 8+ decimals and asserted to 1e-8, so the comments are the specification.
"""

from __future__ import annotations

import numpy as np
import pytest

from gfxnn import losses
from gfxnn.nn import Linear, Sequential, Sigmoid
from gfxnn.optim import SGD

TOL = 1e-8


def test_one_sgd_step_of_a_2_2_1_sigmoid_network_by_hand() -> None:
    # Network: x -> h = sigmoid(W1 x + b1) -> o = sigmoid(W2 h + b2), error E = 1/2 (t - o)^2.
    #   inputs        x1 = 0.05, x2 = 0.10                 target t = 0.01
    #   hidden        w1 = 0.15 (x1 -> h1), w2 = 0.20 (x2 -> h1), b_h1 = 0.35
    #                 w3 = 0.25 (x1 -> h2), w4 = 0.30 (x2 -> h2), b_h2 = 0.35
    #   output        w5 = 0.40 (h1 -> o),  w6 = 0.45 (h2 -> o),  b_o  = 0.60
    #   learning rate 0.5
    hidden, output = Linear(2, 2, dtype=np.float64), Linear(2, 1, dtype=np.float64)
    hidden.weight.data[...] = [[0.15, 0.20], [0.25, 0.30]]
    hidden.bias.data[...] = [0.35, 0.35]
    output.weight.data[...] = [[0.40, 0.45]]
    output.bias.data[...] = [0.60]
    network = Sequential(hidden, Sigmoid(), output, Sigmoid())
    x, t = np.array([[0.05, 0.10]]), np.array([[0.01]])

    # Forward pass.
    #   net_h1 = 0.15 * 0.05 + 0.20 * 0.10 + 0.35 = 0.3775      h1 = sigmoid(0.3775) = 0.59326999
    #   net_h2 = 0.25 * 0.05 + 0.30 * 0.10 + 0.35 = 0.3925      h2 = sigmoid(0.3925) = 0.59688438
    #   net_o  = 0.40 * h1 + 0.45 * h2 + 0.60     = 1.10590597  o  = sigmoid(net_o)  = 0.75136507
    #   E = 1/2 (0.01 - 0.75136507)^2 = 0.27481108
    h = network[1](hidden(x))
    o = network(x)
    assert h.data[0] == pytest.approx([0.59326999, 0.59688438], abs=TOL)
    assert o.item() == pytest.approx(0.75136507, abs=TOL)
    # With one sample and one output, mse = (t - o)^2, so E = mse / 2.
    error = 0.5 * losses.mse(o, t)
    assert error.item() == pytest.approx(0.27481108, abs=TOL)

    # Backward pass. The delta of a neuron is dE/dnet; sigmoid' = out (1 - out).
    #   output:  dE/do = o - t = 0.74136507,  o (1 - o) = 0.18681560
    #            delta_o = 0.74136507 * 0.18681560 = 0.13849856
    #            dE/dw5 = delta_o * h1 = 0.08216704   dE/dw6 = delta_o * h2 = 0.08266763
    #            dE/db_o = delta_o = 0.13849856
    #   hidden:  dE/dh1 = delta_o * w5 = 0.05539942,  h1 (1 - h1) = 0.24130071
    #            delta_h1 = 0.05539942 * 0.24130071 = 0.01336792
    #            dE/dh2 = delta_o * w6 = 0.06232435,  h2 (1 - h2) = 0.24061342
    #            delta_h2 = 0.06232435 * 0.24061342 = 0.01499608
    #            dE/dw1 = delta_h1 * x1 = 0.00066840   dE/dw2 = delta_h1 * x2 = 0.00133679
    #            dE/dw3 = delta_h2 * x1 = 0.00074980   dE/dw4 = delta_h2 * x2 = 0.00149961
    #            dE/db_h1 = 0.01336792                 dE/db_h2 = 0.01499608
    error.backward()
    assert output.weight.grad[0] == pytest.approx([0.08216704, 0.08266763], abs=TOL)
    assert output.bias.grad == pytest.approx([0.13849856], abs=TOL)
    assert hidden.weight.grad.ravel() == pytest.approx(
        [0.00066840, 0.00133679, 0.00074980, 0.00149961], abs=TOL
    )
    assert hidden.bias.grad == pytest.approx([0.01336792, 0.01499608], abs=TOL)

    # Update: w <- w - 0.5 * dE/dw.
    #   w1 = 0.15 - 0.5 * 0.00066840 = 0.14966580   w2 = 0.20 - 0.5 * 0.00133679 = 0.19933160
    #   w3 = 0.25 - 0.5 * 0.00074980 = 0.24962510   w4 = 0.30 - 0.5 * 0.00149961 = 0.29925020
    #   b_h1 = 0.35 - 0.5 * 0.01336792 = 0.34331604 b_h2 = 0.35 - 0.5 * 0.01499608 = 0.34250196
    #   w5 = 0.40 - 0.5 * 0.08216704 = 0.35891648   w6 = 0.45 - 0.5 * 0.08266763 = 0.40866619
    #   b_o = 0.60 - 0.5 * 0.13849856 = 0.53075072
    SGD(network.parameters(), lr=0.5).step()
    assert hidden.weight.data.ravel() == pytest.approx(
        [0.14966580, 0.19933160, 0.24962510, 0.29925020], abs=TOL
    )
    assert hidden.bias.data == pytest.approx([0.34331604, 0.34250196], abs=TOL)
    assert output.weight.data[0] == pytest.approx([0.35891648, 0.40866619], abs=TOL)
    assert output.bias.data == pytest.approx([0.53075072], abs=TOL)

    # And the step helped: the error at the new weights is lower than 0.27481108.
    assert 0.5 * losses.mse(network(x), t).item() < 0.27481108
