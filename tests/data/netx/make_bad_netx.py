"""Small malformed or unsupported netx files for `tests/cli_netx.rs` (each breaks one rule
the reader or the lowering names). Run with any Python that has h5py and numpy:

    python3 tests/data/netx/make_bad_netx.py
"""

import pathlib

import h5py
import numpy as np

HERE = pathlib.Path(__file__).resolve().parent


def cuba(g):
    g.create_dataset("neuron/type", data="CUBA")
    g.create_dataset("neuron/iDecay", data=1024)
    g.create_dataset("neuron/vDecay", data=123)
    g.create_dataset("neuron/vThMant", data=80)
    g.create_dataset("neuron/refDelay", data=1)
    g.create_dataset("neuron/gradedSpike", data=False)


def dense(g, n_in, n_out, neuron=True, **extra):
    g.create_dataset("type", (1,), "S10", [b"dense"])
    g.create_dataset("shape", data=np.array([n_out]))
    g.create_dataset("weight", data=np.full((n_out, n_in), 2.0, dtype=np.float32))
    if neuron:
        cuba(g)
    for k, v in extra.items():
        g.create_dataset(k, data=v)


def write(name, build):
    with h5py.File(HERE / name, "w") as h:
        build(h.create_group("layer"))


def missing_vdecay(layer):
    dense(layer.create_group("0"), 4, 2)
    del layer["0/neuron/vDecay"]


def pooled(layer):
    dense(layer.create_group("0"), 4, 2)
    g = layer.create_group("1")
    g.create_dataset("type", (1,), "S10", [b"pool"])
    g.create_dataset("shape", data=np.array([2]))


def delayed(layer):
    # netx clamps delays above 62 (changing the network SLAYER trained): refused.
    dense(layer.create_group("0"), 4, 2, delay=np.array([70.0, 3.0]))


def conv_delayed(layer):
    # netx ignores a conv layer's delays: refused.
    g = layer.create_group("0")
    g.create_dataset("type", (1,), "S10", [b"input"])
    g.create_dataset("shape", data=np.array([1, 4, 4]))
    g = layer.create_group("1")
    g.create_dataset("type", (1,), "S10", [b"conv"])
    g.create_dataset("shape", data=np.array([2, 4, 4]))
    g.create_dataset("weight", data=np.full((2, 1, 3, 3), 2.0, dtype=np.float32))
    for name, v in [("kernelSize", [3, 3]), ("stride", [1, 1]), ("padding", [1, 1]),
                    ("dilation", [1, 1])]:
        g.create_dataset(name, data=np.array(v))
    g.create_dataset("inChannels", data=1)
    g.create_dataset("outChannels", data=2)
    g.create_dataset("groups", data=1)
    g.create_dataset("delay", data=np.array([1.0, 2.0]))
    cuba(g)


def graded(layer):
    dense(layer.create_group("0"), 4, 2)
    del layer["0/neuron/gradedSpike"]
    layer["0"].create_dataset("neuron/gradedSpike", data=True)


def gap(layer):
    dense(layer.create_group("0"), 4, 2)
    dense(layer.create_group("2"), 2, 2)


write("bad_missing_vdecay.net", missing_vdecay)
write("bad_pool.net", pooled)
write("bad_delay.net", delayed)
write("bad_conv_delay.net", conv_delayed)
write("bad_gap.net", gap)
write("bad_graded.net", graded)
print("wrote bad_*.net")
