"""A 784-H-10 ReLU perceptron trained on MNIST with numpy (minibatch SGD, 8 epochs, seed 0),
converted to IF neurons (reset by subtraction, thresholds at the 99.9th percentile of the
first 10,000 training images' activations), written as NIR: the MNIST-size measurement of the
README's NIR section (not a test fixture: MNIST is not in the repository).

    /tmp/nirvenv/bin/python tests/data/nir/make_mnist_mlp.py ../shared/data/mnist 256 mnist_mlp.nir
    spikemesh nir mnist_mlp.nir --dt 1 --reset subtract --steps 32 --dataset mnist:../shared/data/mnist -o m.json
"""
import gzip, sys, pathlib
import numpy as np
import nir

D = pathlib.Path(sys.argv[1]); H = int(sys.argv[2]); OUT = sys.argv[3]
def idx(name):
    with gzip.open(D / name) as f:
        data = f.read()
    if data[2] == 8 and data[3] == 3:
        n, r, c = (int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(3))
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, r * c)
    n = int.from_bytes(data[4:8], "big")
    return np.frombuffer(data, np.uint8, offset=8)
x = idx("train-images-idx3-ubyte.gz") / 255.0; y = idx("train-labels-idx1-ubyte.gz")
xt = idx("t10k-images-idx3-ubyte.gz") / 255.0; yt = idx("t10k-labels-idx1-ubyte.gz")
rng = np.random.default_rng(0)
w1 = rng.normal(0, np.sqrt(2 / 784), (H, 784)); b1 = np.zeros(H)
w2 = rng.normal(0, np.sqrt(2 / H), (10, H)); b2 = np.zeros(10)
onehot = np.eye(10)[y]
lr = 0.1
for epoch in range(8):
    order = rng.permutation(len(x))
    for s in range(0, len(x), 100):
        b = order[s:s + 100]; xb = x[b]
        a = xb @ w1.T + b1; h = np.maximum(0, a); z = h @ w2.T + b2
        p = np.exp(z - z.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
        g = (p - onehot[b]) / len(b)
        gh = (g @ w2) * (a > 0)
        w2 -= lr * g.T @ h; b2 -= lr * g.sum(0); w1 -= lr * gh.T @ xb; b1 -= lr * gh.sum(0)
    acc = ((np.maximum(0, xt @ w1.T + b1) @ w2.T + b2).argmax(1) == yt).mean()
    print(f"epoch {epoch + 1}: ANN test accuracy {100 * acc:.2f} %", flush=True)
h = np.maximum(0, x[:10000] @ w1.T + b1); o = h @ w2.T + b2
th1 = float(np.percentile(h, 99.9)); th2 = float(np.percentile(np.maximum(0, o * 1), 99.9))
f32 = lambda a: np.asarray(a, dtype=np.float32)
ones = lambda n: np.ones(n, dtype=np.float32)
nir.write(OUT, nir.NIRGraph(nodes={
    "input": nir.Input(input_type=np.array([784])),
    "fc1": nir.Affine(weight=f32(w1), bias=f32(b1)),
    "n1": nir.IF(r=ones(H), v_threshold=f32(th1 * ones(H)), v_reset=0 * ones(H)),
    "fc2": nir.Affine(weight=f32(w2 * th1), bias=f32(b2)),
    "n2": nir.IF(r=ones(10), v_threshold=f32(th2 * ones(10)), v_reset=0 * ones(10)),
    "output": nir.Output(output_type=np.array([10]))},
    edges=[("input", "fc1"), ("fc1", "n1"), ("n1", "fc2"), ("fc2", "n2"), ("n2", "output")]))
print(f"thresholds {th1:.3f} {th2:.3f}; wrote {OUT}")
