"""Write the NIR fixtures read by `mapper/tests/nir_read.rs`.

Run with a Python that has the `nir` package (and so h5py and numpy):

    python3 -m venv /tmp/nirvenv && /tmp/nirvenv/bin/pip install nir==1.0.8
    /tmp/nirvenv/bin/python tests/data/nir/make_fixtures.py

The files are written next to this script. Every value is a small binary fraction
(exact in float32), so the Rust test can compare the `f64` it reads with `==`.
If you change a value here, change the same value in `mapper/tests/nir_read.rs`.
The committed files were written by nir 1.0.8 (h5py 3.16), and the test checks that `/version`
is "1.0.8": another nir version writes the same layout but a different version string.
"""

import pathlib

import h5py
import nir
import numpy as np

HERE = pathlib.Path(__file__).resolve().parent


def f32(x):
    return np.array(x, dtype=np.float32)


def f64(x):
    return np.array(x, dtype=np.float64)


def lif_mlp():
    """(a) Input(4) -> Affine(3x4, bias) -> LIF(3) -> Affine(2x3) -> LIF(2) -> Output(2)."""
    nodes = {
        "input": nir.Input(input_type=np.array([4])),
        "fc1": nir.Affine(
            weight=f32(
                [
                    [0.5, -0.25, 1.0, 0.125],
                    [-1.5, 2.0, 0.0, 0.75],
                    [0.25, 0.5, -0.5, -2.0],
                ]
            ),
            bias=f32([0.0625, -0.125, 0.25]),
        ),
        "lif1": nir.LIF(
            tau=f32([0.0078125, 0.015625, 0.03125]),
            r=f32([1.0, 2.0, 4.0]),
            v_leak=f32([0.0, -0.5, 0.5]),
            v_threshold=f32([1.0, 1.5, 2.0]),
            v_reset=f32([0.0, 0.25, -0.25]),
        ),
        "fc2": nir.Affine(
            weight=f64(
                [
                    [1.25, -0.75, 0.5],
                    [-0.375, 0.875, 3.0],
                ]
            ),
            bias=f64([0.5, -1.0]),
        ),
        "lif2": nir.LIF(
            tau=f64([0.0625, 0.125]),
            r=f64([1.0, 1.0]),
            v_leak=f64([0.0, 0.0]),
            v_threshold=f64([0.75, 1.25]),
            v_reset=f64([-0.5, 0.0]),
        ),
        "output": nir.Output(output_type=np.array([2])),
    }
    edges = [
        ("input", "fc1"),
        ("fc1", "lif1"),
        ("lif1", "fc2"),
        ("fc2", "lif2"),
        ("lif2", "output"),
    ]
    nir.write(HERE / "lif_mlp.nir", nir.NIRGraph(nodes=nodes, edges=edges))


def cuba_linear():
    """(b) Input(3) -> Linear(2x3) -> CubaLIF(2) -> Output(2)."""
    nodes = {
        "in": nir.Input(input_type=np.array([3])),
        "lin": nir.Linear(weight=f64([[1.0, 2.0, 3.0], [-4.0, -5.0, -6.0]])),
        "cuba": nir.CubaLIF(
            tau_syn=f32([0.00390625, 0.0078125]),
            tau_mem=f32([0.015625, 0.03125]),
            r=f32([1.0, 0.5]),
            v_leak=f32([0.0, 0.125]),
            v_threshold=f32([1.0, 0.875]),
            v_reset=f32([0.0, -0.125]),
            w_in=f32([2.0, 0.5]),
        ),
        "out": nir.Output(output_type=np.array([2])),
    }
    edges = [("in", "lin"), ("lin", "cuba"), ("cuba", "out")]
    nir.write(HERE / "cuba_linear.nir", nir.NIRGraph(nodes=nodes, edges=edges))


def if_nested():
    """(c) Input(2) -> [nested graph: Input(2) -> Affine(2x2) -> IF(2) -> Output(2)] -> Output(2)."""
    inner = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([2])),
            "aff": nir.Affine(weight=f32([[1.0, -1.0], [0.5, 0.25]]), bias=f32([0.0, 0.5])),
            "spk": nir.IF(r=f32([1.0, 2.0]), v_threshold=f32([0.5, 1.0]), v_reset=f32([0.0, -0.5])),
            "output": nir.Output(output_type=np.array([2])),
        },
        edges=[("input", "aff"), ("aff", "spk"), ("spk", "output")],
    )
    outer = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([2])),
            "block": inner,
            "output": nir.Output(output_type=np.array([2])),
        },
        edges=[("input", "block"), ("block", "output")],
    )
    nir.write(HERE / "if_nested.nir", outer)


def conv():
    """(d) Input(1,4,4) -> Conv2d(1->2, 3x3) -> Flatten -> Output(8).

    Written when the reader kept Conv2d as `Other`; it now reads as `NirNode::Conv2d`."""
    weight = (np.arange(18, dtype=np.float32).reshape(2, 1, 3, 3) - 9.0) / 8.0
    nodes = {
        "input": nir.Input(input_type=np.array([1, 4, 4])),
        "conv": nir.Conv2d(
            input_shape=(4, 4),
            weight=weight,
            stride=1,
            padding=0,
            dilation=1,
            groups=1,
            bias=f32([0.0, 0.5]),
        ),
        "flat": nir.Flatten(input_type=np.array([2, 2, 2]), start_dim=0, end_dim=-1),
        "output": nir.Output(output_type=np.array([8])),
    }
    edges = [("input", "conv"), ("conv", "flat"), ("flat", "output")]
    nir.write(HERE / "conv.nir", nir.NIRGraph(nodes=nodes, edges=edges))


def conv_net():
    """Input(1,6,6) -> Conv2d(1->2, 3x3, stride 1, padding 0, bias) -> IF(2,4,4) -> Flatten
    -> Affine(3x32) -> LIF(3) -> Output(3).

    The Conv2d's stride/padding/dilation are Python ints, which `nir.Conv2d` turns into pairs:
    the file holds int64 (2,) datasets. The IF parameters are (2,4,4) arrays, value k/16 etc. at
    flat (row-major) index k."""
    conv_weight = f32(
        [
            [[[0.5, -0.25, 0.125], [1.0, -1.5, 0.75], [-0.0625, 2.0, -0.375]]],
            [[[-0.5, 0.25, 1.25], [0.375, -0.75, -2.0], [0.625, -0.125, 1.5]]],
        ]
    )
    k = np.arange(32, dtype=np.float32).reshape(2, 4, 4)
    nodes = {
        "input": nir.Input(input_type=np.array([1, 6, 6])),
        "conv": nir.Conv2d(
            input_shape=(6, 6),
            weight=conv_weight,
            stride=1,
            padding=0,
            dilation=1,
            groups=1,
            bias=f32([0.25, -0.5]),
        ),
        "spk": nir.IF(r=1.0 + k / 16, v_threshold=0.5 + k / 32, v_reset=-k / 64),
        "flat": nir.Flatten(input_type=np.array([2, 4, 4]), start_dim=0, end_dim=-1),
        "fc": nir.Affine(
            weight=((np.arange(96, dtype=np.float32) - 48) / 64).reshape(3, 32),
            bias=f32([0.125, -0.25, 0.5]),
        ),
        "lif": nir.LIF(
            tau=f32([0.03125, 0.0625, 0.125]),
            r=f32([1.0, 1.0, 2.0]),
            v_leak=f32([0.0, 0.0, -0.25]),
            v_threshold=f32([1.0, 1.5, 0.75]),
            v_reset=f32([0.0, -0.5, 0.25]),
        ),
        "output": nir.Output(output_type=np.array([3])),
    }
    edges = [
        ("input", "conv"),
        ("conv", "spk"),
        ("spk", "flat"),
        ("flat", "fc"),
        ("fc", "lif"),
        ("lif", "output"),
    ]
    nir.write(HERE / "conv_net.nir", nir.NIRGraph(nodes=nodes, edges=edges))


def pool_net():
    """Input(2,8,8) -> Conv2d "same" -> SumPool2d -> Conv2d (scalar stride/padding/dilation)
    -> AvgPool2d -> Conv2d "valid" -> Output(1,3,1).

    - `same`: 2->2 channels, 3x3, dilation (2,1), padding the string "same" (a vlen string
      dataset), weight float32 (k-18)/16 at flat index k.
    - `sum`: kernel_size/stride/padding Python ints 2/2/0, written as 0-d int64 (the pooling
      nodes keep what they are given).
    - `strided`: 2->3 channels, 2x2, weight float64 (k-12)/8, stride/padding/dilation numpy
      int64 scalars 2/1/1, written as 0-d int64 (`nir.Conv2d` only turns Python ints into pairs).
    - `avg`: kernel_size (2,1), stride (1,2), padding (1,0) as numpy arrays: gzip int64 (2,).
    - `valid`: 3->1 channels, 2x2, padding the string "valid".
    Square kernels only: nir 1.0.8's shape inference uses weight.shape[2] for both dimensions."""
    nodes = {
        "input": nir.Input(input_type=np.array([2, 8, 8])),
        "same": nir.Conv2d(
            input_shape=(8, 8),
            weight=((np.arange(36, dtype=np.float32) - 18) / 16).reshape(2, 2, 3, 3),
            stride=1,
            padding="same",
            dilation=(2, 1),
            groups=1,
            bias=f32([0.5, -0.5]),
        ),
        "sum": nir.SumPool2d(kernel_size=2, stride=2, padding=0),
        "strided": nir.Conv2d(
            input_shape=(4, 4),
            weight=((np.arange(24, dtype=np.float64) - 12) / 8).reshape(3, 2, 2, 2),
            stride=np.int64(2),
            padding=np.int64(1),
            dilation=np.int64(1),
            groups=1,
            bias=f64([0.0, 0.125, -0.125]),
        ),
        "avg": nir.AvgPool2d(
            kernel_size=np.array([2, 1]), stride=np.array([1, 2]), padding=np.array([1, 0])
        ),
        "valid": nir.Conv2d(
            input_shape=(4, 2),
            weight=f32(
                [
                    [
                        [[0.5, -1.0], [0.25, 2.0]],
                        [[-0.75, 1.5], [3.0, -0.1875]],
                        [[1.75, -2.5], [0.375, -0.625]],
                    ]
                ]
            ),
            stride=(1, 1),
            padding="valid",
            dilation=(1, 1),
            groups=1,
            bias=f32([0.0625]),
        ),
        "output": nir.Output(output_type=np.array([1, 3, 1])),
    }
    edges = [
        ("input", "same"),
        ("same", "sum"),
        ("sum", "strided"),
        ("strided", "avg"),
        ("avg", "valid"),
        ("valid", "output"),
    ]
    path = HERE / "pool_net.nir"
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=edges))
    nir.read(path)  # reads back and type-checks


def legacy_if():
    """An IF as other or older writers leave it, edited with h5py after `nir.write`:
    `v_threshold` int32 and uncompressed, no `v_reset` (readers then take zeros, as `nir.read`
    does), the IF's `type` and the graph's `edges` fixed-length byte strings (numpy `S`) instead of
    h5py's variable-length UTF-8 strings. `nir.read` still reads it."""
    path = HERE / "legacy_if.nir"
    nodes = {
        "input": nir.Input(input_type=np.array([2])),
        "spk": nir.IF(r=f64([1.0, 0.5]), v_threshold=f64([3.0, 7.0])),
        "output": nir.Output(output_type=np.array([2])),
    }
    edges = [("input", "spk"), ("spk", "output")]
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=edges))
    with h5py.File(path, "r+") as f:
        node = f["node/nodes/spk"]
        del node["v_reset"]
        del node["v_threshold"]
        node.create_dataset("v_threshold", data=np.array([3, 7], dtype=np.int32))
        del node["type"]
        node.create_dataset("type", data=np.bytes_(b"IF"))
        del f["node/edges"]
        f["node"].create_dataset("edges", data=np.array(edges, dtype="S6"))
    nir.read(path)  # still a valid NIR file


def scalar_lif():
    """Input(2) -> LIF with every parameter a 0-d scalar (shared by all neurons) -> Output(2).

    `nir.write` gzips every array and HDF5 cannot filter a scalar dataset, so the scalars are put
    in with h5py after `nir.write`. `v_threshold` is an int64 scalar. `nir.read` reads it with
    `type_check=False` (a 0-d LIF has no shape to check against Input(2))."""
    path = HERE / "scalar_lif.nir"
    nodes = {
        "input": nir.Input(input_type=np.array([2])),
        "lif": nir.LIF(
            tau=f64([0.25, 0.25]),
            r=f64([2.0, 2.0]),
            v_leak=f64([-0.5, -0.5]),
            v_threshold=f64([1.0, 1.0]),
            v_reset=f64([0.0, 0.0]),
        ),
        "output": nir.Output(output_type=np.array([2])),
    }
    edges = [("input", "lif"), ("lif", "output")]
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=edges))
    scalars = {
        "tau": np.float64(0.25),
        "r": np.float32(2.0),
        "v_leak": np.float64(-0.5),
        "v_threshold": np.int64(1),
        "v_reset": np.float64(0.125),
    }
    with h5py.File(path, "r+") as f:
        node = f["node/nodes/lif"]
        for name, value in scalars.items():
            del node[name]
            node.create_dataset(name, data=value)
    nir.read(path, type_check=False)


def broken_missing_weight():
    """(e) Input(2) -> Affine(2x2) -> Output(2), then the Affine's `weight` dataset is deleted with h5py."""
    path = HERE / "broken_missing_weight.nir"
    nodes = {
        "input": nir.Input(input_type=np.array([2])),
        "fc1": nir.Affine(weight=f32([[1.0, 0.0], [0.0, 1.0]]), bias=f32([0.0, 0.0])),
        "output": nir.Output(output_type=np.array([2])),
    }
    edges = [("input", "fc1"), ("fc1", "output")]
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=edges))
    with h5py.File(path, "r+") as f:
        del f["node/nodes/fc1/weight"]


def leaky_integrators():
    """Input(2) -> Linear(2x2) -> LI(2) -> Linear(2x2) -> CubaLI(2) -> Output(2): the
    read-out neurons (no spikes)."""
    nodes = {
        "input": nir.Input(input_type=np.array([2])),
        "fc1": nir.Linear(weight=f32([[0.5, -0.25], [1.0, 0.75]])),
        "li": nir.LI(tau=f32([0.25, 0.5]), r=f32([2.0, 4.0]), v_leak=f32([0.0, 0.125])),
        "fc2": nir.Linear(weight=f32([[1.5, 0.0], [-0.5, 2.0]])),
        "cuba": nir.CubaLI(
            tau_syn=f32([0.125, 0.125]),
            tau_mem=f32([0.5, 0.5]),
            r=f32([1.0, 1.0]),
            v_leak=f32([0.0, 0.0]),
            w_in=f32([2.0, 0.5]),
        ),
        "output": nir.Output(output_type=np.array([2])),
    }
    edges = [("input", "fc1"), ("fc1", "li"), ("li", "fc2"), ("fc2", "cuba"), ("cuba", "output")]
    nir.write(HERE / "leaky_integrators.nir", nir.NIRGraph(nodes=nodes, edges=edges))


def delays():
    """Input(3) -> Linear(2x3) -> Delay(2) -> IF(2) -> Delay(2) -> Linear(2x2) -> IF(2) -> Output(2):
    a delay per neuron of the first layer's input current (2/1024 s and 0: 2 and 0 steps of
    dt = 1/1024 s) and one step on both of its spikes before the second weight node."""
    nodes = {
        "input": nir.Input(input_type=np.array([3])),
        "fc1": nir.Linear(weight=f32([[1.5, 0.5, -0.25], [0.75, 1.25, 0.5]])),
        "wait1": nir.Delay(delay=f32([0.001953125, 0.0])),
        "if1": nir.IF(r=f32([1.0, 1.0]), v_threshold=f32([1.0, 1.0]), v_reset=f32([0.0, 0.0])),
        "wait2": nir.Delay(delay=f32([0.0009765625, 0.0009765625])),
        "fc2": nir.Linear(weight=f32([[1.5, -0.5], [0.25, 1.25]])),
        "if2": nir.IF(r=f32([1.0, 1.0]), v_threshold=f32([1.0, 1.0]), v_reset=f32([0.0, 0.0])),
        "output": nir.Output(output_type=np.array([2])),
    }
    edges = [
        ("input", "fc1"),
        ("fc1", "wait1"),
        ("wait1", "if1"),
        ("if1", "wait2"),
        ("wait2", "fc2"),
        ("fc2", "if2"),
        ("if2", "output"),
    ]
    nir.write(HERE / "delays.nir", nir.NIRGraph(nodes=nodes, edges=edges))


def digits_delay():
    """digits_lif.nir (make_digits_lif.py) with two Delay nodes: 2 steps on every input spike
    before fc1 and, between fc2 and the output LIF neurons, output neuron j's input current
    delayed by j mod 5 steps (the file's dt is 1). Read from the committed digits_lif.nir, so
    run make_digits_lif.py first if that file changes."""
    g = nir.read(HERE / "digits_lif.nir")
    nodes = dict(g.nodes)
    nodes["wait_in"] = nir.Delay(delay=f32([2.0] * 64))
    nodes["wait_out"] = nir.Delay(delay=f32([float(j % 5) for j in range(10)]))
    edges = [
        ("input", "wait_in"),
        ("wait_in", "fc1"),
        ("fc1", "n1"),
        ("n1", "fc2"),
        ("fc2", "wait_out"),
        ("wait_out", "n2"),
        ("n2", "output"),
    ]
    nir.write(HERE / "digits_delay.nir", nir.NIRGraph(nodes=nodes, edges=edges))


def digits_scaled():
    """digits_lif.nir with a Scale node on the input spikes before fc1 (0.5 on even pixels, 2 on
    odd ones) and fc1's columns multiplied by the inverse factors, exact powers of two in
    float32: the graph computes exactly what digits_lif.nir computes. Read from the committed
    digits_lif.nir, so run make_digits_lif.py first if that file changes."""
    g = nir.read(HERE / "digits_lif.nir")
    nodes = dict(g.nodes)
    gain = f32([0.5 if i % 2 == 0 else 2.0 for i in range(64)])
    fc1 = nodes["fc1"]
    weight = (np.asarray(fc1.weight, dtype=np.float32) / gain[None, :]).astype(np.float32)
    nodes["fc1"] = nir.Affine(weight=weight, bias=np.asarray(fc1.bias, dtype=np.float32))
    nodes["gain_in"] = nir.Scale(scale=gain)
    edges = [
        ("input", "gain_in"),
        ("gain_in", "fc1"),
        ("fc1", "n1"),
        ("n1", "fc2"),
        ("fc2", "n2"),
        ("n2", "output"),
    ]
    nir.write(HERE / "digits_scaled.nir", nir.NIRGraph(nodes=nodes, edges=edges))


def not_hdf5():
    """(f) a text file with the .nir extension."""
    (HERE / "not_hdf5.nir").write_text("this is not an HDF5 file, only text named .nir\n")


if __name__ == "__main__":
    lif_mlp()
    cuba_linear()
    if_nested()
    conv()
    conv_net()
    pool_net()
    legacy_if()
    scalar_lif()
    broken_missing_weight()
    leaky_integrators()
    delays()
    digits_delay()
    digits_scaled()
    not_hdf5()
    for p in sorted(HERE.glob("*.nir")):
        print(f"{p.name}: {p.stat().st_size} bytes")
