"""Write `digits_rnn.nir`: the converted digits network of `make_digits_lif.py`
(`digits_if.nir`) with a recurrent output layer, laid out as snnTorch's exporter writes a
recurrent layer (`RLeaky` / `RSynaptic`): a nested graph

    rnn = {input -> lif, lif -> w_rec, w_rec -> lif, lif -> output}

in the place of the output neurons. `w_rec` is lateral inhibition among the ten outputs
(-0.25 thresholds from every other output's spike of the previous step, 0 on the diagonal):
a winner-take-all motif that changes the spike counts but keeps the decision of a confident
network. Imported with `spikemesh nir digits_rnn.nir --dt 1 --reset subtract`.

Run with a Python that has `nir` after `make_digits_lif.py`:

    /tmp/nirvenv/bin/python tests/data/nir/make_digits_rnn.py
"""

import pathlib

import nir
import numpy as np

HERE = pathlib.Path(__file__).resolve().parent

base = nir.read(HERE / "digits_if.nir")
n2 = base.nodes["n2"]
n = n2.v_threshold.shape[0]
inhibition = -0.25 * (np.ones((n, n)) - np.eye(n)) * n2.v_threshold[:, None]
rnn = nir.NIRGraph(
    nodes={
        "input": nir.Input(input_type=np.array([n])),
        "lif": nir.IF(r=n2.r, v_threshold=n2.v_threshold, v_reset=n2.v_reset),
        "w_rec": nir.Linear(weight=inhibition.astype(np.float32)),
        "output": nir.Output(output_type=np.array([n])),
    },
    edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
)
nodes = {k: v for k, v in base.nodes.items() if k != "n2"}
nodes["rnn"] = rnn
edges = [(a, "rnn" if b == "n2" else b) for a, b in base.edges]
edges = [("rnn" if a == "n2" else a, b) for a, b in edges]
nir.write(HERE / "digits_rnn.nir", nir.NIRGraph(nodes=nodes, edges=edges))
print("wrote", HERE / "digits_rnn.nir")
