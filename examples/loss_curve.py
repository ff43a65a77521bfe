"""Train a small network with the PyTorch-style facade, draw its loss curve and its autograd graph.

    python examples/loss_curve.py                       # the picture goes to the system's temp directory
    python examples/loss_curve.py --out my_curve.png

`import fgrad as torch` gives nn, optim and .backward(); the loop is plain PyTorch. Prints the loss every 50
steps; then where the loss curve was written as a PNG (with matplotlib installed: `pip install fgrad[viz]`),
or the curve as text when matplotlib is missing; then where the graph of one step's loss was written as
Graphviz DOT text (fgrad.viz.make_dot, as torchviz's make_dot; render it with `dot -Tsvg graph.dot`).
"""
import argparse
import pathlib
import tempfile

import numpy as np

import fgrad as torch
from fgrad import viz

STEPS = 300


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = pathlib.Path(tempfile.gettempdir()) / "fgrad_loss_curve.png"
    parser.add_argument("--out", type=pathlib.Path, default=default, help=f"the PNG to write (default {default})")
    return parser.parse_args()


def train(steps: int):
    """Fit y = sin(3x) on [-1, 1] with a 1-32-1 tanh network and Adam; the loss of every step."""
    torch.manual_seed(0)
    x = torch.linspace(-1.0, 1.0, 64).reshape(64, 1)
    y = torch.sin(3.0 * x)
    model = torch.nn.Sequential(torch.nn.Linear(1, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for step in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % 50 == 0 or step == steps - 1:
            print(f"step {step:4d}  loss {loss.item():.5f}")
    return losses, model, x, y


def plot_png(losses, path: pathlib.Path) -> bool:
    """Write the curve with matplotlib; False when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")              # no display needed
    from matplotlib import pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.semilogy(losses)
    ax.set_xlabel("step")
    ax.set_ylabel("mean squared error")
    ax.set_title("training loss")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def text_plot(losses, rows: int = 8, columns: int = 60) -> str:
    """The curve on a log scale as rows of characters: one column per stretch of steps."""
    logs = np.log10(np.asarray(losses))
    chunks = np.array_split(logs, columns)
    heights = np.array([c.mean() for c in chunks])
    low, high = heights.min(), heights.max()
    level = np.round((heights - low) / max(high - low, 1e-12) * (rows - 1)).astype(int)
    lines = []
    for r in range(rows - 1, -1, -1):
        edge = 10 ** (low + (high - low) * r / (rows - 1))
        lines.append(f"{edge:9.2e} |" + "".join("*" if h == r else " " for h in level))
    lines.append(" " * 10 + "+" + "-" * columns)
    last = f"step {len(losses) - 1}"
    lines.append(" " * 11 + "step 0 ".ljust(columns - len(last)) + last)
    return "\n".join(lines)


def main():
    args = parse_args()
    losses, model, x, y = train(STEPS)
    print()
    if plot_png(losses, args.out):
        print(f"the loss curve (matplotlib, log scale) was written to {args.out}")
    else:
        print("matplotlib is not installed (pip install fgrad[viz] for a PNG); the loss curve as text, log scale:")
        print(text_plot(losses))
    graph = viz.make_dot(torch.nn.functional.mse_loss(model(x), y), params=dict(model.named_parameters()))
    dot_path = args.out.with_suffix(".dot")
    graph.save(dot_path)
    print(f"the autograd graph of the loss ({graph.source.count('Backward')} backward nodes) was written to "
          f"{dot_path} as Graphviz DOT text")


if __name__ == "__main__":
    main()
