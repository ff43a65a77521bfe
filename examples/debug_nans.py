"""Debugging tools: NaN checks that name your line, programs annotated with it, and printing inside jit.

    python examples/debug_nans.py
"""
import warnings

import numpy as np

import fgrad
import fgrad.numpy as fnp


def soft_norm(x):
    """sqrt(x) where x > 0, else 0: finite everywhere, but its gradient at x == 0 is NaN (inf * 0)."""
    root = fnp.where(x > 0, fnp.sqrt(x), 0.0)
    return fnp.sum(root)


def log_sin(x):
    return fnp.sum(fnp.log(fnp.sin(x)))


x = np.array([0.0, 1.0, 4.0])
print("soft_norm(x) is finite:", soft_norm(x))
print("its gradient, with the check off, holds a NaN:", fgrad.grad(soft_norm)(x))
print()

print("The gradient program, each equation annotated with the line that created it "
      "(`(gradient)`: made by a derivative rule from that line):")
print(fgrad.make_ir(fgrad.grad(soft_norm))(x).pretty(source=True))
print()

fgrad.config.update("debug_nans", True)          # or FGRAD_DEBUG_NANS=1 in the environment
for title, fn, arg in [
        ("an eager NaN (log of a negative sin) names the forward line:", log_sin, np.array([1.0, 4.0])),
        ("grad: the NaN appears in the reverse sweep, so the error says 'in the gradient of line ...':",
         fgrad.grad(soft_norm), x),
        ("jit(grad): the kernel's outputs are checked, then its program is re-run equation by equation to "
         "find the one:", fgrad.jit(fgrad.grad(soft_norm)), x)]:
    print(title)
    try:
        fn(arg)
    except FloatingPointError as error:
        print(error)
    print()
fgrad.config.update("debug_nans", False)


def newton_sqrt(a):
    """sqrt(a) by three Newton steps, printing each iterate from inside the compiled kernel."""
    def step(i, guess):
        fgrad.debug.print("  step {i}: guess = {g:.6f}", i=i, g=guess)
        return 0.5 * (guess + a / guess)
    return fgrad.lax.fori_loop(0, 3, step, a)


print("debug.print inside jit(grad(f)): the kernel prints the forward's iterates, in program order:")
d_sqrt = fgrad.jit(fgrad.grad(newton_sqrt))
print("  d/da sqrt(a) at a = 2 after three Newton steps:", d_sqrt(2.0), "(exact: %.6f)" % (0.5 / np.sqrt(2.0)))
print()

import fgrad as torch                              # the PyTorch facade's anomaly mode uses the same locations

w = torch.tensor([0.0, 1.0], requires_grad=True)
print("The facade's anomaly mode names the backward node, the forward op and the line that created it:")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")                # PyTorch's own warnings (the forward traceback) are silenced here
    with torch.autograd.detect_anomaly():
        loss = (torch.sqrt(w) * 0.0).sum()
        try:
            loss.backward()
        except RuntimeError as error:
            print(error)
