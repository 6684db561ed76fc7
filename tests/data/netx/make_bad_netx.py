"""Small malformed or unsupported netx files for `tests/cli_netx.rs` (each breaks one rule
the reader or the lowering names). Run with any Python that has h5py and numpy:

    python3 tests/data/netx/make_bad_netx.py
"""

import pathlib

import h5py
import numpy as np

HERE = pathlib.Path(__file__).resolve().parent


def dense(g, n_in, n_out, neuron=True, **extra):
    g.create_dataset("type", (1,), "S10", [b"dense"])
    g.create_dataset("shape", data=np.array([n_out]))
    g.create_dataset("weight", data=np.full((n_out, n_in), 2.0, dtype=np.float32))
    if neuron:
        g.create_dataset("neuron/type", data="CUBA")
        g.create_dataset("neuron/iDecay", data=1024)
        g.create_dataset("neuron/vDecay", data=123)
        g.create_dataset("neuron/vThMant", data=80)
        g.create_dataset("neuron/refDelay", data=1)
        g.create_dataset("neuron/gradedSpike", data=False)
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
    dense(layer.create_group("0"), 4, 2, delay=np.zeros(2))


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
write("bad_gap.net", gap)
write("bad_graded.net", graded)
print("wrote bad_*.net")
