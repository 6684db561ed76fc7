"""Write `digits_if.nir` and `digits_lif.nir`: a small multi-spike network for the embedded
8x8 digits, trained here and exported to NIR, as a framework would hand one to spikemesh.

The network is a 64-64-10 ReLU perceptron trained with numpy (softmax cross-entropy, full-batch
gradient descent, seed 0) on the project's own digits training split, then converted to
spiking neurons the classic way (Diehl et al. 2015): integrate-and-fire neurons with reset by
subtraction whose firing rate approximates the ReLU activation, thresholds set from the
99.9th percentile of each layer's training activations. Inputs are rate codes of the pixel
intensities (spikemesh's regular rate code).

  digits_if.nir   Affine -> IF -> Affine -> IF        (dt = 1, r = 1)
  digits_lif.nir  Affine -> LIF -> Linear -> LIF      (tau = 64 steps, r = tau / dt, the
                  snnTorch convention; the output layer's bias dropped)
  digits_li.nir   Affine -> IF -> Affine -> LI        (the output layer a leaky integrator,
                  tau = 1000 steps, read out by its final voltage)
  digits_conv.nir Input (1, 8, 8) -> Conv2d (8 channels, 3x3, padding 1, stride 2) -> IF
                  -> Flatten -> Affine -> IF: a small CNN (8x8x1 -> 4x4x8 -> 10) trained and
                  converted the same way

Both are imported with `spikemesh nir FILE --dt 1 --reset subtract` (NIR records reset to
v_reset; the subtraction the conversion relies on is not in the file).

Run with a Python that has `nir` (and so numpy and h5py):

    python3 -m venv /tmp/nirvenv && /tmp/nirvenv/bin/pip install nir
    /tmp/nirvenv/bin/python tests/data/nir/make_digits_lif.py
"""

import gzip
import json
import pathlib
import sys

import nir
import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent.parent
MASK = (1 << 64) - 1


def splitmix64(x):
    z = (x + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def digits():
    """The project's split (model::data::digits): 1,437 training rows, 360 test rows."""
    rows = []
    with gzip.open(ROOT / "model" / "data" / "digits.csv.gz", "rt") as f:
        for line in f:
            line = line.strip()
            if not line or not line[0].isdigit():
                continue
            rows.append([int(v) for v in line.split(",")])
    rows = np.array(rows)
    order = sorted(range(len(rows)), key=lambda r: (splitmix64(2026 + r), r))
    pixels = (rows[:, :64] * 255) // 16
    labels = rows[:, 64]
    tr, te = order[:1437], order[1437:]
    return pixels[tr] / 255.0, labels[tr], pixels[te] / 255.0, labels[te]


def regular_code(x, steps):
    """(N, 64) intensities in [0, 1] -> (steps, N, 64) spikes (0/1 floats) of spikemesh's
    regular rate code: intensity p spikes at step t iff floor((t+1)p/255) > floor(tp/255)."""
    p = np.rint(x * 255).astype(np.int64)
    t = np.arange(steps)[:, None, None]
    return (((t + 1) * p) // 255 > (t * p) // 255).astype(np.float32)


def select(nets, report_path):
    """The networks named on the command line (all when none is) and the report to update:
    empty when all are made, else the existing one, whose other entries stay as they are."""
    only = set(sys.argv[1:])
    unknown = only - {n[0] for n in nets}
    if unknown:
        sys.exit(f"unknown network(s): {', '.join(sorted(unknown))}")
    if not only:
        return nets, {}
    return [n for n in nets if n[0] in only], json.loads(report_path.read_text())


def train(x, y, hidden=64, epochs=3000, lr=0.5, seed=0):
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, np.sqrt(2 / 64), (hidden, 64))
    b1 = np.zeros(hidden)
    w2 = rng.normal(0, np.sqrt(2 / hidden), (10, hidden))
    b2 = np.zeros(10)
    onehot = np.eye(10)[y]
    for _ in range(epochs):
        h = np.maximum(0, x @ w1.T + b1)
        z = h @ w2.T + b2
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) / len(x)
        gw2, gb2 = g.T @ h, g.sum(0)
        gh = (g @ w2) * (h > 0)
        gw1, gb1 = gh.T @ x, gh.sum(0)
        w1 -= lr * gw1
        b1 -= lr * gb1
        w2 -= lr * gw2
        b2 -= lr * gb2
    return w1, b1, w2, b2


def conv_patches(x, k=3, stride=2, pad=1):
    """(N, 64) images -> (N, P, k*k) patches of the 8x8 map, raster order of the outputs."""
    img = np.pad(x.reshape(-1, 8, 8), ((0, 0), (pad, pad), (pad, pad)))
    side = (8 + 2 * pad - k) // stride + 1
    cols = [
        img[:, y * stride : y * stride + k, xx * stride : xx * stride + k].reshape(len(x), -1)
        for y in range(side)
        for xx in range(side)
    ]
    return np.stack(cols, axis=1), side


def train_cnn(x, y, channels=8, epochs=1500, lr=0.3, seed=0):
    """conv(1 -> channels, 3x3, stride 2, pad 1) + ReLU -> flatten (c, y, x) -> dense 10."""
    rng = np.random.default_rng(seed)
    patches, side = conv_patches(x)
    pos = side * side
    wc = rng.normal(0, np.sqrt(2 / 9), (channels, 9))
    bc = np.zeros(channels)
    wd = rng.normal(0, np.sqrt(2 / (channels * pos)), (10, channels * pos))
    bd = np.zeros(10)
    onehot = np.eye(10)[y]
    for _ in range(epochs):
        a = patches @ wc.T + bc  # (N, P, C)
        h = np.maximum(0, a)
        flat = h.transpose(0, 2, 1).reshape(len(x), -1)  # (N, C*P) in (c, y, x) order
        z = flat @ wd.T + bd
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) / len(x)
        gwd, gbd = g.T @ flat, g.sum(0)
        gflat = g @ wd
        gh = gflat.reshape(len(x), channels, pos).transpose(0, 2, 1) * (a > 0)
        gwc = np.einsum("npc,npk->ck", gh, patches)
        gbc = gh.sum((0, 1))
        wc -= lr * gwc
        bc -= lr * gbc
        wd -= lr * gwd
        bd -= lr * gbd
    return wc, bc, wd, bd, side


def cnn_forward(x, wc, bc, wd, bd):
    patches, _ = conv_patches(x)
    h = np.maximum(0, patches @ wc.T + bc)
    flat = h.transpose(0, 2, 1).reshape(len(x), -1)
    return h, flat @ wd.T + bd


def write_cnn(x, y, xt, yt):
    wc, bc, wd, bd, side = train_cnn(x, y)
    h, o = cnn_forward(x, wc, bc, wd, bd)
    _, ot = cnn_forward(xt, wc, bc, wd, bd)
    print(f"CNN test accuracy {100 * (ot.argmax(1) == yt).mean():.2f} %")
    th1 = float(np.percentile(h, 99.9))
    th2 = float(np.percentile(np.maximum(0, o), 99.9))
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    channels = wc.shape[0]
    n1 = channels * side * side
    nir.write(
        HERE / "digits_conv.nir",
        nir.NIRGraph(
            nodes={
                "input": nir.Input(input_type=np.array([1, 8, 8])),
                "conv": nir.Conv2d(
                    input_shape=(8, 8),
                    weight=f32(wc.reshape(channels, 1, 3, 3)),
                    stride=2,
                    padding=1,
                    dilation=1,
                    groups=1,
                    bias=f32(bc),
                ),
                "n1": nir.IF(
                    r=np.ones((channels, side, side), dtype=np.float32),
                    v_threshold=f32(th1 * np.ones((channels, side, side))),
                    v_reset=np.zeros((channels, side, side), dtype=np.float32),
                ),
                "flat": nir.Flatten(
                    input_type={"input": np.array([channels, side, side])}, start_dim=0
                ),
                "fc": nir.Affine(weight=f32(wd * th1), bias=f32(bd)),
                "n2": nir.IF(
                    r=np.ones(10, dtype=np.float32),
                    v_threshold=f32(th2 * np.ones(10)),
                    v_reset=np.zeros(10, dtype=np.float32),
                ),
                "output": nir.Output(output_type=np.array([10])),
            },
            edges=[
                ("input", "conv"),
                ("conv", "n1"),
                ("n1", "flat"),
                ("flat", "fc"),
                ("fc", "n2"),
                ("n2", "output"),
            ],
        ),
    )
    print(f"CNN: {n1} conv neurons, thresholds {th1:.4f} {th2:.4f}; wrote digits_conv.nir")


def main():
    x, y, xt, yt = digits()
    w1, b1, w2, b2 = train(x, y)
    h = np.maximum(0, x @ w1.T + b1)
    o = h @ w2.T + b2
    ann = ((np.maximum(0, xt @ w1.T + b1) @ w2.T + b2).argmax(1) == yt).mean()
    print(f"ANN test accuracy {100 * ann:.2f} %")
    # Rate-based conversion: a hidden IF neuron with threshold th1 fires at rate relu(a)/th1;
    # the output layer sees rates, so its weights carry th1 back.
    th1 = float(np.percentile(h, 99.9))
    w2s = w2 * th1
    th2 = float(np.percentile(np.maximum(0, o), 99.9))
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    ones = lambda n: np.ones(n, dtype=np.float32)  # noqa: E731
    edges = [("input", "fc1"), ("fc1", "n1"), ("n1", "fc2"), ("fc2", "n2"), ("n2", "output")]
    nir.write(
        HERE / "digits_if.nir",
        nir.NIRGraph(
            nodes={
                "input": nir.Input(input_type=np.array([64])),
                "fc1": nir.Affine(weight=f32(w1), bias=f32(b1)),
                "n1": nir.IF(r=ones(64), v_threshold=f32(th1 * ones(64)), v_reset=0 * ones(64)),
                "fc2": nir.Affine(weight=f32(w2s), bias=f32(b2)),
                "n2": nir.IF(r=ones(10), v_threshold=f32(th2 * ones(10)), v_reset=0 * ones(10)),
                "output": nir.Output(output_type=np.array([10])),
            },
            edges=edges,
        ),
    )
    tau = 64.0
    nir.write(
        HERE / "digits_lif.nir",
        nir.NIRGraph(
            nodes={
                "input": nir.Input(input_type=np.array([64])),
                "fc1": nir.Affine(weight=f32(w1), bias=f32(b1)),
                "n1": nir.LIF(
                    tau=f32(tau * ones(64)),
                    r=f32(tau * ones(64)),
                    v_leak=0 * ones(64),
                    v_threshold=f32(th1 * ones(64)),
                    v_reset=0 * ones(64),
                ),
                "fc2": nir.Linear(weight=f32(w2s)),
                "n2": nir.LIF(
                    tau=f32(tau * ones(10)),
                    r=f32(tau * ones(10)),
                    v_leak=0 * ones(10),
                    v_threshold=f32(th2 * ones(10)),
                    v_reset=0 * ones(10),
                ),
                "output": nir.Output(output_type=np.array([10])),
            },
            edges=edges,
        ),
    )
    tau_out = 1000.0
    nir.write(
        HERE / "digits_li.nir",
        nir.NIRGraph(
            nodes={
                "input": nir.Input(input_type=np.array([64])),
                "fc1": nir.Affine(weight=f32(w1), bias=f32(b1)),
                "n1": nir.IF(r=ones(64), v_threshold=f32(th1 * ones(64)), v_reset=0 * ones(64)),
                "fc2": nir.Affine(weight=f32(w2s), bias=f32(b2)),
                "n2": nir.LI(
                    tau=f32(tau_out * ones(10)), r=f32(tau_out * ones(10)), v_leak=0 * ones(10)
                ),
                "output": nir.Output(output_type=np.array([10])),
            },
            edges=edges,
        ),
    )
    print(f"thresholds {th1:.4f} {th2:.4f}; wrote digits_if.nir, digits_lif.nir, digits_li.nir")
    write_cnn(x, y, xt, yt)


if __name__ == "__main__":
    main()
