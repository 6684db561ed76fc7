"""Training and evaluation shared by the scripts that train digits networks with a PyTorch
framework (make_snntorch_digits.py, make_norse_digits.py): spikemesh's regular rate code as a
torch tensor, Adam (lr 5e-3) on the cross-entropy of a network's per-class scores in
mini-batches of 64, and the test accuracy and per-image predictions."""

import numpy as np
import torch

from make_digits_lif import regular_code

STEPS = 32


def rate_code(x, shape):
    """(N, 64) intensities in [0, 1] -> (STEPS, N, *shape) spikes of spikemesh's regular
    code (shape (64,) or the (1, 8, 8) map)."""
    return torch.tensor(regular_code(x, STEPS).reshape(STEPS, len(x), *shape))


def train(net, scores, x, y, shape, epochs=40, seed=0):
    """Trains `net`; `scores(net, spikes)` gives its (N, 10) class scores for (STEPS, N, ...)
    spikes."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    spikes = rate_code(x, shape)
    labels = torch.tensor(y)
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        order = rng.permutation(len(y))
        for b in range(0, len(y), 64):
            idx = order[b : b + 64]
            loss = torch.nn.functional.cross_entropy(scores(net, spikes[:, idx]), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net


def evaluate(net, scores, x, y, shape):
    """Test accuracy and per-image predictions (argmax: ties to the lowest index)."""
    with torch.no_grad():
        pred = scores(net, rate_code(x, shape)).argmax(1).numpy()
    return float((pred == y).mean()), pred.tolist()
