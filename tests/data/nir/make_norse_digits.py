"""Train small spiking networks on the embedded 8x8 digits with Norse itself and export them
with Norse's own NIR exporter (`norse.torch.to_nir`), as a user would hand them to spikemesh:

  norse_lif.nir   Linear(64, 64) -> LIFBoxCell -> Linear(64, 10) -> LIFBoxCell
                  (the hidden neurons have their own fixed membrane time constants, 1/tau
                  drawn from 50..200 per second, so the per-neuron mapping is exercised)
  norse_cuba.nir  Linear -> LIFCell (current-based, NIR's CubaLIF) -> Linear -> LIFCell,
                  no bias
  norse_li.nir    Linear -> LIFBoxCell -> Linear -> LIBoxCell (a leaky-integrator read-out:
                  the class is the output with the highest voltage after the last step)
  norse_conv.nir  Conv2d(1, 8, 3, stride 2, padding 1) -> LIFBoxCell -> Flatten
                  -> Linear(128, 10) -> LIFBoxCell (Norse's exporter leaves the Flatten
                  node empty and the Conv2d's input_shape unset; complete_export fills them)
  norse_if.nir    Linear -> IAFCell -> Linear -> IAFCell (non-leaky)
  norse_cuba_bias.nir  as norse_cuba with biased Linear layers (torch's default): the bias is
                  a constant input to the synaptic current

Norse's defaults otherwise: dt = 1e-3, threshold 1, reset to 0 in the spike's step, the
surrogate gradient `super`. Inputs are spikemesh's regular rate code over 32 steps (intensity p
spikes at step t iff floor((t+1)p/255) > floor(tp/255)); the class is the output with the most
spikes (ties to the lowest index, as torch.argmax), or the highest final voltage.
Training: Adam (lr 5e-3), cross-entropy on the spike counts (final voltages), 40 epochs of
mini-batches of 64, torch.manual_seed(0), CPU.

Each network's Norse test accuracy and per-image predictions (Norse's own forward pass) are
written to `norse_digits.json`, so spikemesh's result can be compared decision by decision
(`tests/cli_nir.rs`).

Norse 1.1's exporter does not write NIR's equations: it writes tau = dt * (1/tau_mem_inv) (the
time constant times dt, not the time constant), r = 1 and no w_in, while its cells add a
LIF's input with a factor dt/tau, a current-based cell's input to the current with factor 1
and an IAF's input with factor 1. `spikemesh nir FILE --dt 1e-3 --convention norse` reads the
files that way.

Run with a Python that has torch and norse (CPU is enough; PyPI's wheels work):

    python3 -m venv /tmp/snnvenv && /tmp/snnvenv/bin/pip install torch norse
    /tmp/snnvenv/bin/python tests/data/nir/make_norse_digits.py [NAME ...]

With names, only those networks are trained and exported, and their entries in
`norse_digits.json` replaced.
"""

import functools
import json
import pathlib
import sys

import nir
import norse.torch as norse
import numpy as np
import torch

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from framework_digits import evaluate, train  # noqa: E402
from make_digits_lif import digits, select  # noqa: E402  (the project's split)

# Every parameter gets the layer's shape: Norse's exporter writes each as it finds it, and
# nir refuses a node whose parameters differ in shape (and 0-d arrays in type inference).
def lif_box(shape, tau_inv=100.0):
    return norse.LIFBoxCell(
        norse.LIFBoxParameters(
            tau_mem_inv=torch.full(shape, 1.0) * tau_inv,
            v_leak=torch.zeros(shape),
            v_th=torch.ones(shape),
            v_reset=torch.zeros(shape),
        )
    )


def lif_cuba(n):
    return norse.LIFCell(
        norse.LIFParameters(
            tau_syn_inv=torch.full((n,), 200.0),
            tau_mem_inv=torch.full((n,), 100.0),
            v_leak=torch.zeros(n),
            v_th=torch.ones(n),
            v_reset=torch.zeros(n),
        )
    )


def lif_net():
    g = torch.Generator().manual_seed(1)
    tau_inv = 50.0 + 150.0 * torch.rand(64, generator=g)
    return norse.SequentialState(
        torch.nn.Linear(64, 64),
        lif_box((64,), tau_inv),
        torch.nn.Linear(64, 10),
        lif_box((10,)),
    )


def cuba_net():
    return norse.SequentialState(
        torch.nn.Linear(64, 64, bias=False),
        lif_cuba(64),
        torch.nn.Linear(64, 10, bias=False),
        lif_cuba(10),
    )


def cuba_bias_net():
    return norse.SequentialState(
        torch.nn.Linear(64, 64),
        lif_cuba(64),
        torch.nn.Linear(64, 10),
        lif_cuba(10),
    )


def li_net():
    return norse.SequentialState(
        torch.nn.Linear(64, 64),
        lif_box((64,)),
        torch.nn.Linear(64, 10),
        norse.LIBoxCell(
            norse.LIBoxParameters(tau_mem_inv=torch.full((10,), 100.0), v_leak=torch.zeros(10))
        ),
    )


def conv_net():
    return norse.SequentialState(
        torch.nn.Conv2d(1, 8, 3, stride=2, padding=1),
        lif_box((8, 4, 4)),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 4 * 4, 10),
        lif_box((10,)),
    )


def iaf(n):
    return norse.IAFCell(norse.IAFParameters(v_th=torch.ones(n), v_reset=torch.zeros(n)))


def if_net():
    return norse.SequentialState(
        torch.nn.Linear(64, 64),
        iaf(64),
        torch.nn.Linear(64, 10),
        iaf(10),
    )


def run(net, spikes, readout):
    """(N, 10) scores over the window: output spike counts, or final output voltages."""
    state = None
    counts = 0
    out = None
    for t in range(spikes.shape[0]):
        out, state = net(spikes[t], state)
        counts = counts + out
    return counts if readout == "count" else out


def complete_export(graph, net):
    """Fill in what Norse 1.1's exporter leaves out and nir cannot write without: it has no
    rule for torch.nn.Flatten (the node is None) and writes a Conv2d's input_shape as None.
    The conv net's Flatten is of the (8, 4, 4) map (batch excluded), its Conv2d's input the
    8x8 image. The other nets need nothing."""
    for key, node in graph.nodes.items():
        if node is None:
            module = net[int(key)]
            assert isinstance(module, torch.nn.Flatten), f"node {key}: {module} not exported"
            graph.nodes[key] = nir.Flatten(
                input_type={"input": np.array([8, 4, 4])}, start_dim=0, end_dim=-1
            )
        elif isinstance(node, nir.Conv2d) and node.input_shape is None:
            node.input_shape = (8, 8)


def main():
    x, y, xt, yt = digits()
    nets = [
        ("norse_lif", lif_net, (64,), "count"),
        ("norse_cuba", cuba_net, (64,), "count"),
        ("norse_li", li_net, (64,), "voltage"),
        ("norse_conv", conv_net, (1, 8, 8), "count"),
        ("norse_if", if_net, (64,), "count"),
        ("norse_cuba_bias", cuba_bias_net, (64,), "count"),
    ]
    nets, report = select(nets, HERE / "norse_digits.json")
    for name, make, shape, readout in nets:
        torch.manual_seed(0)
        scores = functools.partial(run, readout=readout)
        net = train(make(), scores, x, y, shape)
        acc, pred = evaluate(net, scores, xt, yt, shape)
        print(f"{name}: Norse test accuracy {100 * acc:.2f} %")
        graph = norse.to_nir(net, torch.zeros(1, *shape), model_name=name)
        complete_export(graph, net)
        nir.write(HERE / f"{name}.nir", graph)
        report[name] = {"accuracy": acc, "predictions": pred}
    (HERE / "norse_digits.json").write_text(json.dumps(report) + "\n")
    print("wrote", ", ".join(f"{n}.nir" for n in report), "and norse_digits.json")


if __name__ == "__main__":
    main()
