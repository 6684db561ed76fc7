"""Train small spiking networks on the embedded 8x8 digits with snnTorch itself and export
them with snnTorch's own NIR exporter (`snntorch.export_nir.export_to_nir`), as a user would
hand them to spikemesh:

  snntorch_leaky.nir  Linear(64, 64) -> Leaky -> Linear(64, 10) -> Leaky
                      per-neuron learned beta (learn_beta=True on a vector beta), so the
                      hidden and output neurons have their own time constants (a vector
                      threshold of ones, which snnTorch's exporter needs with a vector beta;
                      betas learned above 1 clamped before export, see clamp_beta)
  snntorch_rleaky.nir Linear(64, 64) -> RLeaky (all-to-all recurrent Linear(64, 64))
                      -> Linear(64, 10) -> Leaky
  snntorch_synaptic.nir  Linear -> Synaptic -> Linear -> Synaptic (no bias)
  snntorch_conv.nir   Conv2d(1, 8, 3, stride 2, padding 1) -> Leaky -> Flatten
                      -> Linear(128, 10) -> Leaky
  snntorch_zero.nir   as snntorch_leaky with reset_mechanism="zero" (imported with NIR's own
                      reset: snnTorch zeroes the voltage before the next step's decay, which
                      equals zeroing it at the spike)
  snntorch_rsynaptic.nir  Linear -> RSynaptic (recurrent, current-based) -> Linear
                      -> Synaptic (no bias)
  snntorch_synaptic_bias.nir  as snntorch_synaptic with biased Linear layers (torch's
                      default), whose bias is a constant input to the synaptic current
  snntorch_rsynaptic_bias.nir  as snntorch_rsynaptic with every bias, the recurrent
                      Linear's included

They use snnTorch's defaults otherwise: threshold 1, reset by subtraction one step after the
spike (`reset_delay=True`), the surrogate gradient `atan`. Inputs are spikemesh's regular rate
code over 32 steps (intensity p spikes at step t iff floor((t+1)p/255) > floor(tp/255)); the
class is the output with the most spikes (ties to the lowest index, as torch.argmax).
Training: Adam (lr 5e-3), cross-entropy on the spike counts, 40 epochs of mini-batches of 64,
torch.manual_seed(0), CPU.

Each network's snnTorch test accuracy and per-image predictions (snnTorch's own forward
pass) are written to `snntorch_digits.json`, so spikemesh's result can be compared decision by
decision (`tests/cli_nir.rs`). snnTorch's exporter writes tau = dt/(1 - beta) and r = tau/dt
with dt = 1e-4, so the files import with `spikemesh nir FILE --dt 1e-4 --reset subtract-next`.

Run with a Python that has torch and snntorch (CPU is enough; PyPI's torch wheel works):

    python3 -m venv /tmp/snnvenv && /tmp/snnvenv/bin/pip install torch snntorch
    /tmp/snnvenv/bin/python tests/data/nir/make_snntorch_digits.py [NAME ...]

With names, only those networks are trained and exported, and their entries in
`snntorch_digits.json` replaced (each network is trained from its own seed, so the others do
not change).
"""

import json
import pathlib
import sys

import nir
import snntorch as snn
from snntorch import utils as snn_utils
import torch
from snntorch.export_nir import export_to_nir

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from framework_digits import evaluate, train  # noqa: E402
from make_digits_lif import digits, select  # noqa: E402  (the project's split)

def leaky(n, **kw):
    # Parameters of the layer's shape (n, or a map's (c, h, w)): with scalars snnTorch's
    # exporter writes 0-d arrays that nir's type inference rejects, and with a per-neuron beta
    # the threshold must have its shape too.
    shape = n if isinstance(n, tuple) else (n,)
    return snn.Leaky(
        beta=torch.full(shape, 0.9), threshold=torch.ones(shape), init_hidden=True, **kw
    )


def leaky_net():
    return torch.nn.Sequential(
        torch.nn.Linear(64, 64),
        leaky(64, learn_beta=True),
        torch.nn.Linear(64, 10),
        leaky(10, learn_beta=True, output=True),
    )


def synaptic(n, **kw):
    # Vector parameters: with scalars snnTorch's exporter writes 0-d arrays that nir's type
    # inference rejects.
    return snn.Synaptic(
        alpha=torch.full((n,), 0.5),
        beta=torch.full((n,), 0.9),
        threshold=torch.ones(n),
        init_hidden=True,
        **kw,
    )


def synaptic_net():
    # No bias: the chip adds bias to the voltage, snnTorch's Synaptic to the current.
    return torch.nn.Sequential(
        torch.nn.Linear(64, 64, bias=False),
        synaptic(64),
        torch.nn.Linear(64, 10, bias=False),
        synaptic(10, output=True),
    )


def conv_net():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, stride=2, padding=1),
        leaky((8, 4, 4)),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 4 * 4, 10),
        leaky(10, output=True),
    )


def zero_reset_net():
    return torch.nn.Sequential(
        torch.nn.Linear(64, 64),
        leaky(64, reset_mechanism="zero"),
        torch.nn.Linear(64, 10),
        leaky(10, reset_mechanism="zero", output=True),
    )


def rsynaptic_net():
    rsyn = snn.RSynaptic(alpha=0.5, beta=0.9, linear_features=64, init_hidden=True)
    # Its recurrent Linear has a bias, which would add to the synaptic current (the chip adds
    # bias to the voltage): train without it.
    rsyn.recurrent.register_parameter("bias", None)
    return torch.nn.Sequential(
        torch.nn.Linear(64, 64, bias=False),
        rsyn,
        torch.nn.Linear(64, 10, bias=False),
        synaptic(10, output=True),
    )


def synaptic_bias_net():
    return torch.nn.Sequential(
        torch.nn.Linear(64, 64),
        synaptic(64),
        torch.nn.Linear(64, 10),
        synaptic(10, output=True),
    )


def rsynaptic_bias_net():
    return torch.nn.Sequential(
        torch.nn.Linear(64, 64),
        snn.RSynaptic(alpha=0.5, beta=0.9, linear_features=64, init_hidden=True),
        torch.nn.Linear(64, 10),
        synaptic(10, output=True),
    )


def rleaky_net():
    return torch.nn.Sequential(
        torch.nn.Linear(64, 64),
        snn.RLeaky(beta=0.9, linear_features=64, init_hidden=True),
        torch.nn.Linear(64, 10),
        leaky(10, output=True),
    )


def run(net, spikes):
    """Spike counts (N, 10) of the output layer over the window (the class scores)."""
    snn_utils.reset(net)
    for m in net.modules():
        # RSynaptic's reset leaves its recurrent spike state (and its graph) in place.
        if isinstance(m, snn.RSynaptic):
            m.reset_mem()
    counts = 0
    for t in range(spikes.shape[0]):
        out = net(spikes[t])
        spk = out[0] if isinstance(out, tuple) else out
        counts = counts + spk
    return counts


def clamp_beta(net):
    """Clamp every learned beta into [0, 1 - 1e-4] in place.

    snnTorch's forward pass uses beta.clamp(0, 1), but its exporter writes tau = dt/(1 - beta)
    from the raw value: negative above 1 (some hidden neurons learn beta > 1), infinite at 1.
    At 1 - 1e-4 (tau = 1 s) the decay rounds to 0 on the chip's 12-bit decay, i.e. exactly the
    non-leaky neuron the clamped forward pass computes; the accuracy below is measured after
    the clamp, on the network that is exported.
    """
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, snn.Leaky):
                m.beta.clamp_(0.0, 1.0 - 1e-4)


def main():
    x, y, xt, yt = digits()
    nets = [
        ("snntorch_leaky", leaky_net, (64,)),
        ("snntorch_rleaky", rleaky_net, (64,)),
        ("snntorch_synaptic", synaptic_net, (64,)),
        ("snntorch_conv", conv_net, (1, 8, 8)),
        ("snntorch_zero", zero_reset_net, (64,)),
        ("snntorch_rsynaptic", rsynaptic_net, (64,)),
        ("snntorch_synaptic_bias", synaptic_bias_net, (64,)),
        ("snntorch_rsynaptic_bias", rsynaptic_bias_net, (64,)),
    ]
    nets, report = select(nets, HERE / "snntorch_digits.json")
    for name, make, shape in nets:
        torch.manual_seed(0)
        net = train(make(), run, x, y, shape)
        clamp_beta(net)
        acc, pred = evaluate(net, run, xt, yt, shape)
        print(f"{name}: snnTorch test accuracy {100 * acc:.2f} %")
        snn_utils.reset(net)
        graph = export_to_nir(net, torch.zeros(1, *shape), ignore_dims=[0])
        nir.write(HERE / f"{name}.nir", graph)
        report[name] = {"accuracy": acc, "predictions": pred}
    (HERE / "snntorch_digits.json").write_text(json.dumps(report) + "\n")
    print("wrote", ", ".join(f"{n}.nir" for n in report), "and snntorch_digits.json")


if __name__ == "__main__":
    main()
