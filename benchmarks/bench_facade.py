"""The PyTorch facade against PyTorch eager on five workloads (not a test; prints times and ratios).

The goals are issues 13's and 14's:

1. Seed tutorial 002's linear regression (W6): 100 epochs of `w * x + b`, an MSE by hand, backward, and a
   no_grad SGD update of the scalars w and b (goal: at most 1.0x PyTorch eager).
2. One training step of a 784-256-10 MLP on a batch of 64: linear, relu, linear, log_softmax cross-entropy,
   backward, SGD update (goal: at most 0.8x).
3. The same step with torch.optim.Adam doing the update (the optimizer's maths on 200k-element weights;
   goal: at most 0.9x). The Adam update itself runs at PyTorch's speed (measured 331 vs 333 us of CPU time
   at one thread), so this row is row 2's forward and backward plus an update at parity: row 2 at 0.8x
   makes it about 0.86x, and 0.9x is that with a margin, not a separate target for the optimizer.
4. One training step of a small CNN on a batch of 64 28x28 images: two 3x3 convolutions (16 and 32
   channels, padding 1) each followed by relu and a 2x2 max pool, a linear layer to 10 classes,
   cross-entropy, backward, SGD (goal: within 1.5x).
5. One epoch of a shuffled DataLoader over a TensorDataset of 4096 samples, batch 64, no model: the
   per-sample indexing and the default collation (goal: within 1.5x).

The same code runs with `lib` = torch and `lib` = fgrad.facade. Repeats alternate between the two
libraries, so load on the machine affects both alike; each row prints the best time of each and the median of
the per-round ratios with their interquartile range (the noise). `--threads N`
sets the BLAS threads of numpy (OpenBLAS) and PyTorch's intra-op threads to N (default: both libraries'
defaults, which are the machine's core count for both). On a loaded machine, compare with `--threads 1` too:
two spinning thread pools (OpenBLAS's and PyTorch's OpenMP) then slow whichever library runs next, by
several times, which is noise, not either library's speed.

`--openblas-coretype NAME` sets OPENBLAS_CORETYPE, the kernels numpy's OpenBLAS uses (default: the ones it
detects). On the AMD EPYC (Zen 4, AVX-512) this was measured on, it detects SkylakeX, whose sgemm takes the
MLP's 64x784 by 784x256 product in 352 us at one thread; with Haswell's kernels it takes 264 us, as PyTorch's
MKL (273 us). That one product is about a quarter of the MLP step, so the row moves with this setting.

    python benchmarks/bench_facade.py [--repeat 15] [--threads 1] [--openblas-coretype Haswell] [--only cnn]
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import timeit

if "--threads" in sys.argv:             # before numpy loads OpenBLAS
    _threads = sys.argv[sys.argv.index("--threads") + 1]
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = _threads
if "--openblas-coretype" in sys.argv:  # read by OpenBLAS when numpy loads it
    os.environ["OPENBLAS_CORETYPE"] = sys.argv[sys.argv.index("--openblas-coretype") + 1]

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def tutorial_loop(lib):
    """Seed 002, Example 5, as the tutorial writes it (prints left out)."""
    def run():
        x = lib.tensor([1., 2., 3., 4.])
        y_true = lib.tensor([2., 4., 6., 8.])
        w = lib.tensor(0.0, requires_grad=True)
        b = lib.tensor(0.0, requires_grad=True)
        for epoch in range(100):
            y_pred = w * x + b
            loss = ((y_pred - y_true) ** 2).mean()
            loss.backward()
            with lib.no_grad():
                w -= 0.01 * w.grad
                b -= 0.01 * b.grad
                w.grad.zero_()
                b.grad.zero_()
            if epoch % 10 == 0:
                loss.item()
        return w.item(), b.item()
    return run


def mlp_data():
    rng = np.random.default_rng(0)
    data = {
        "X": rng.standard_normal((64, 784)).astype(np.float32),
        "labels": rng.integers(0, 10, 64),
        "W1": (rng.standard_normal((256, 784)) / 28).astype(np.float32),
        "b1": np.zeros(256, np.float32),
        "W2": (rng.standard_normal((10, 256)) / 16).astype(np.float32),
        "b2": np.zeros(10, np.float32),
    }
    return data


def mlp_step(lib):
    """One SGD step of a 784-256-10 MLP with cross-entropy on a batch of 64 (fixed data and weights)."""
    data = mlp_data()
    X = lib.tensor(data["X"])
    onehot = lib.tensor(np.eye(10, dtype=np.float32)[data["labels"]])
    params = [lib.tensor(data[k], requires_grad=True) for k in ("W1", "b1", "W2", "b2")]
    W1, b1, W2, b2 = params

    def step():
        h = (X @ W1.t() + b1).relu()
        logits = h @ W2.t() + b2
        loss = -(logits.log_softmax(1) * onehot).sum(1).mean()
        loss.backward()
        with lib.no_grad():
            for p in params:
                p -= 0.01 * p.grad
                p.grad = None
        return loss
    return step


def mlp_adam_step(lib):
    """One step of the same MLP with torch.optim.Adam."""
    data = mlp_data()
    X = lib.tensor(data["X"])
    onehot = lib.tensor(np.eye(10, dtype=np.float32)[data["labels"]])
    params = [lib.tensor(data[k], requires_grad=True) for k in ("W1", "b1", "W2", "b2")]
    W1, b1, W2, b2 = params
    optimizer = lib.optim.Adam(params, lr=1e-3)

    def step():
        optimizer.zero_grad()
        h = (X @ W1.t() + b1).relu()
        logits = h @ W2.t() + b2
        loss = -(logits.log_softmax(1) * onehot).sum(1).mean()
        loss.backward()
        optimizer.step()
        return loss
    return step


def cnn_step(lib):
    """One SGD step of conv(1->16) relu maxpool conv(16->32) relu maxpool linear(1568->10), batch 64."""
    lib.manual_seed(0)              # the same initial weights in both libraries
    nn = lib.nn
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
    rng = np.random.default_rng(0)
    X = lib.tensor(rng.standard_normal((64, 1, 28, 28)).astype(np.float32))
    labels = lib.tensor(rng.integers(0, 10, 64))
    optimizer = lib.optim.SGD(model.parameters(), lr=0.01)

    def step():
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(X), labels)
        loss.backward()
        optimizer.step()
        return loss
    return step


def dataloader_loop(lib):
    """One epoch of a shuffled DataLoader over a TensorDataset (4096 samples of 32 features, batch 64): the
    Dataset's per-sample indexing and the default collation, no model."""
    rng = np.random.default_rng(0)
    dataset = lib.utils.data.TensorDataset(lib.tensor(rng.standard_normal((4096, 32)).astype(np.float32)),
                                           lib.tensor(rng.integers(0, 10, 4096)))

    def epoch():
        loader = lib.utils.data.DataLoader(dataset, batch_size=64, shuffle=True,
                                           generator=lib.Generator().manual_seed(0))
        seen = 0
        for xb, yb in loader:
            seen += xb.shape[0]
        return seen
    return epoch


def round_times(fns, number, repeat) -> list:
    """Per function, its time per call in each of `repeat` rounds; a round times each function once, in
    alternation, so a round's ratio compares the libraries under the same load."""
    for fn in fns:
        fn()                                              # warm-up: traces and compiles the facade's kernels
    times = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            times[i].append(timeit.timeit(fn, number=number) / number)
    return times


def quartiles(values) -> tuple:
    """(25th percentile, median, 75th percentile) of `values`."""
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return q1, median, q3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--only", default=None,
                        help="run only the workloads whose name contains this text (case-insensitive), e.g. cnn")
    parser.add_argument("--openblas-coretype", default=None)
    args = parser.parse_args()
    import torch
    facade = importlib.import_module("fgrad.facade")     # the package, also once fgrad re-exports `tensor`
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for name, make, number, goal in [("tutorial loop (seed 002, 100 epochs)", tutorial_loop, 5, 1.0),
                                     ("MLP step 784-256-10, batch 64", mlp_step, 20, 0.8),
                                     ("MLP step with optim.Adam", mlp_adam_step, 20, 0.9),
                                     ("CNN step 2 convs (16, 32), 28x28, batch 64", cnn_step, 3, 1.5),
                                     ("DataLoader epoch, 4096 samples, batch 64", dataloader_loop, 3, 1.5)]:
        if args.only and args.only.lower() not in name.lower():
            continue
        times_torch, times_fgrad = round_times([make(torch), make(facade)], number, args.repeat)
        q1, median, q3 = quartiles([f / t for f, t in zip(times_fgrad, times_torch)])
        rows.append((name, min(times_torch), min(times_fgrad), median, q1, q3, goal))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__} "
          f"(BLAS threads: {os.environ.get('OPENBLAS_NUM_THREADS', 'default')}, "
          f"OpenBLAS kernels: {os.environ.get('OPENBLAS_CORETYPE', 'detected')})")
    print("best time per call of each library; ratio: the median of the rounds' fgrad/torch ratios, with the")
    print("25th-75th percentile of those ratios as the noise")
    print(f"{'workload':44s} {'torch':>10s} {'fgrad':>10s} {'ratio':>7s} {'noise':>11s} {'goal':>6s}")
    for name, t_torch, t_fgrad, ratio, q1, q3, goal in rows:
        print(f"{name:44s} {t_torch * 1e3:8.3f}ms {t_fgrad * 1e3:8.3f}ms {ratio:6.2f}x {q1:4.2f}-{q3:4.2f}x "
              f"{goal:5.1f}x")


if __name__ == "__main__":
    main()
