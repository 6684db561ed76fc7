"""Train a small CUBA network on the embedded 8x8 digits with Lava-DL's SLAYER, export it with
SLAYER's own `export_hdf5` (the netx format Lava-DL's `netx.hdf5.Network` loads), and run the
exported file in Lava itself (netx + Lava's bit-accurate fixed-point LIF and Dense models on
the CPU), as a user would before handing the file to spikemesh:

  lavadl_digits.net   Dense(64, 64) -> CUBA -> Dense(64, 10) -> CUBA, SLAYER's defaults for
                      the synapse (8-bit weights, no bias, no axonal delay) and one step of
                      delay per layer (delay_shift), as Loihi.
  lavadl_conv.net     an input layer (1, 8, 8) -> Conv(1, 8, 3, stride 2, padding 1) -> CUBA
                      -> Flatten -> Dense(128, 10) -> CUBA (netx has no pooling layer; a
                      strided convolution downsamples instead)
  lavadl_rnn.net      Recurrent(64, 64) -> CUBA (all-to-all recurrent: a hidden spike of
                      step t reaches the hidden layer at t + 1) -> Dense(64, 10) -> CUBA
  lavadl_delay.net    the dense network with SLAYER's learnable axonal delays on both
                      layers (delay=True; the delays learn at a rate of 0.1, the weights at
                      Adam's 1e-3), which netx runs as DelayDense synapses

Inputs are spikemesh's regular rate code over 32 steps (intensity p spikes at step t iff
floor((t+1)p/255) > floor(tp/255)); the class is the output with the most spikes (ties to the
lowest index). Training: Adam (lr 1e-3), cross-entropy on the spike counts, 30 epochs of
mini-batches of 32, torch.manual_seed(0), CPU, one torch thread.

Lava runs each test image from a fresh network for 33 steps: its input Dense delivers a
step's spikes one step later than the chip's first layer reads them (the chip reads input
spikes in their own step), so Lava's steps 2..33 are the chip's 0..31, and Lava's step 1 does
nothing (no bias, u = v = 0). `lavadl_digits.json` holds, per network, SLAYER's test
accuracy, Lava's output spike counts for every test image and Lava's accuracy, so that
spikemesh's result can be compared count for count (`tests/cli_netx.rs`). With names as
arguments only those networks are made and their entries replaced.

Lava-DL 0.6 and Lava 0.10 need Python 3.10 (Lava's dataclasses fail on 3.11) and numpy < 2;
PyPI's wheels work with a newer torch when installed without their pins:

    python3.10 -m venv /tmp/lava && /tmp/lava/bin/pip install lava-nc h5py "numpy<2" torch \
        torchvision matplotlib scipy opencv-python-headless "pillow<11"
    /tmp/lava/bin/pip install --no-deps lava-dl
    /tmp/lava/bin/python tests/data/netx/make_lavadl_digits.py
"""

import json
import pathlib
import sys

import h5py
import numpy as np
import torch

import lava.lib.dl.slayer as slayer

# Training is bit-reproducible only for a fixed torch thread count (its float reductions split
# by thread); one thread, whatever the machine.
torch.set_num_threads(1)

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "nir"))
from make_digits_lif import digits, regular_code, select  # noqa: E402  (the project's split and code)

STEPS = 32
HIDDEN = 64


def rate_code(x, shape=(64,)):
    """(N, 64) intensities in [0, 1] -> (N, *shape, STEPS) spikes of spikemesh's regular code
    (shape (64,), or the (1, 8, 8) map)."""
    return np.moveaxis(regular_code(x, STEPS), 0, -1).reshape(len(x), *shape, STEPS)


# Each block gets its own copy: SLAYER's Recurrent block sets `persistent_state` in the dict
# it is given (its state then carries over from one batch to the next in SLAYER; Lava and the
# chip start every image from rest).
NEURON = {
    "threshold": 1.25,
    "current_decay": 0.25,
    "voltage_decay": 0.03,
    "tau_grad": 0.03,
    "scale_grad": 3,
    "requires_grad": False,
}


class Net(torch.nn.Module):
    def __init__(self, blocks, input_shape=None):
        super().__init__()
        self.blocks = torch.nn.ModuleList(blocks)
        self.input_shape = input_shape

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x

    def export_hdf5(self, path):
        with h5py.File(path, "w") as h:
            layer = h.create_group("layer")
            offset = 0
            if self.input_shape is not None:
                # An input layer without a neuron: netx reads the input map's shape from it
                # (channels, height, width; netx reverses it to its x, y, z order).
                g = layer.create_group("0")
                g.create_dataset("type", (1,), "S10", [b"input"])
                g.create_dataset("shape", data=np.array(self.input_shape))
                offset = 1
            for i, b in enumerate(self.blocks):
                b.export_hdf5(layer.create_group(f"{i + offset}"))


def dense_net(delay=False):
    """64-64-10; with `delay`, SLAYER's learnable axonal delays on both layers."""
    return Net(
        [
            slayer.block.cuba.Dense(
                dict(NEURON), 64, HIDDEN, weight_norm=False, weight_scale=2, delay=delay
            ),
            slayer.block.cuba.Dense(
                dict(NEURON), HIDDEN, 10, weight_norm=False, weight_scale=2, delay=delay
            ),
        ]
    )


def conv_net():
    return Net(
        [
            slayer.block.cuba.Conv(
                dict(NEURON), 1, 8, 3, stride=2, padding=1, weight_norm=False, weight_scale=2
            ),
            slayer.block.cuba.Flatten(),
            slayer.block.cuba.Dense(dict(NEURON), 8 * 4 * 4, 10, weight_norm=False, weight_scale=2),
        ],
        input_shape=(1, 8, 8),
    )


def rnn_net():
    return Net(
        [
            slayer.block.cuba.Recurrent(dict(NEURON), 64, HIDDEN, weight_norm=False, weight_scale=2),
            slayer.block.cuba.Dense(dict(NEURON), HIDDEN, 10, weight_norm=False, weight_scale=2),
        ]
    )


def train(make, x, y, shape, epochs=30):
    torch.manual_seed(0)
    net = make()
    # SLAYER's axonal delays (initialised in [0, 1) at the first forward pass) learn at
    # their own, higher rate, so that they grow to whole steps within the epochs here.
    delays = [p for n, p in net.named_parameters() if n.endswith("delay.delay")]
    others = [p for n, p in net.named_parameters() if not n.endswith("delay.delay")]
    groups = [{"params": others}] + ([{"params": delays, "lr": 0.1}] if delays else [])
    opt = torch.optim.Adam(groups, lr=1e-3)
    spikes = torch.tensor(rate_code(x, shape))
    labels = torch.tensor(y)
    rng = np.random.default_rng(0)
    for epoch in range(epochs):
        order = rng.permutation(len(y))
        for b in range(0, len(y), 32):
            idx = order[b : b + 32]
            counts = net(spikes[idx]).sum(-1)
            loss = torch.nn.functional.cross_entropy(counts, labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net


def lava_counts(path, spikes):
    """Output spike counts of the exported network run in Lava, one fresh run per image.
    `spikes` is (N, 64, STEPS) or (N, C, H, W, STEPS); Lava takes a map as (x, y, c)."""
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    counts = []
    for k, s in enumerate(spikes):
        if s.ndim == 4:
            s = s.transpose(2, 1, 0, 3)  # (C, H, W, T) -> (W, H, C, T)
        net = netx.hdf5.Network(net_config=str(path))
        data = np.zeros((*s.shape[:-1], STEPS + 1), dtype=np.int32)
        data[..., :STEPS] = s.astype(np.int32)
        src = Source(data=data)
        sink = Sink(shape=net.out.shape, buffer=STEPS + 1)
        src.s_out.connect(net.inp)
        net.out.connect(sink.a_in)
        net.run(condition=RunSteps(num_steps=STEPS + 1), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        out = sink.data.get()
        net.stop()
        counts.append(out.sum(axis=1).astype(int).tolist())
        if k % 60 == 0:
            print(f"lava: {k}/{len(spikes)}", flush=True)
    return counts


def main():
    x, y, xt, yt = digits()
    nets = [
        ("lavadl_digits", dense_net, (64,)),
        ("lavadl_conv", conv_net, (1, 8, 8)),
        ("lavadl_rnn", rnn_net, (64,)),
        ("lavadl_delay", lambda: dense_net(delay=True), (64,)),
    ]
    report_path = HERE / "lavadl_digits.json"
    nets, report = select(nets, report_path)
    for name, make, shape in nets:
        net = train(make, x, y, shape)
        with torch.no_grad():
            slayer_counts = net(torch.tensor(rate_code(xt, shape))).sum(-1).numpy()
        slayer_acc = float((slayer_counts.argmax(1) == yt).mean())
        print(f"{name}: SLAYER test accuracy {100 * slayer_acc:.2f} %")
        path = HERE / f"{name}.net"
        net.export_hdf5(path)
        with h5py.File(path) as h:
            for key in sorted(h["layer"]):
                if "delay" in h["layer"][key]:
                    d = h["layer"][key]["delay"][()]
                    print(f"{name}: layer {key} delays {np.bincount(d.astype(int)).tolist()} (count per step)")
        counts = lava_counts(path, rate_code(xt, shape))
        pred = [int(np.argmax(c)) for c in counts]
        lava_acc = float(np.mean(np.array(pred) == yt))
        print(f"{name}: Lava (netx, fixed point) test accuracy {100 * lava_acc:.2f} %")
        report[name] = {
            "slayer_accuracy": slayer_acc,
            "lava_accuracy": lava_acc,
            "lava_counts": counts,
        }
    report_path.write_text(json.dumps(report) + "\n")
    print("wrote", ", ".join(f"{n}.net" for n, _, _ in nets), "and lavadl_digits.json")


if __name__ == "__main__":
    main()
