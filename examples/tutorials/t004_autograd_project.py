"""Seed 004: Project 32 -- PyTorch Autograd, Automatic Differentiation in Practice.

The seed is a project brief, not a notebook: it asks for functions that
1. compute gradients of simple functions,
2. compute gradients of multivariate functions,
3. use the torch.no_grad() context,
4. zero gradients,
5. verify gradient correctness,
tested with pytest ("gradients compute correctly for known functions, multiple
gradients work (multivariate), no_grad context disables tracking, gradients
accumulate correctly"). The brief ships no test file, so the functions and
tests below are written from it. The script first runs the brief's code
snippets, then the tests, printing PASS/FAIL for each. The test_* functions
use plain asserts, so pytest can also collect them from this file.
"""
import os
if os.environ.get("FGRAD_TUTORIAL_BACKEND") == "torch":
    import torch
else:
    import fgrad as torch


# ===============================================================
# Module functions (the deliverables)
# ===============================================================

def compute_gradient(f, x_value):
    """1. d f / d x at x = x_value, for a scalar function f of one tensor."""
    x = torch.tensor(x_value, requires_grad=True)
    y = f(x)
    y.backward()
    return x.grad


def compute_vector_gradient(f, values):
    """1b. Element-wise gradient of a vector-valued f: the output is not a
    scalar, so backward() needs a gradient vector (torch.ones_like)."""
    x = torch.tensor(values, requires_grad=True)
    y = f(x)
    y.backward(torch.ones_like(y))
    return x.grad


def compute_multivariate_gradients(f, *values):
    """2. Partial derivatives of a scalar f(x1, x2, ...) at the given point."""
    xs = [torch.tensor(v, requires_grad=True) for v in values]
    out = f(*xs)
    out.backward()
    return [x.grad for x in xs]


def evaluate_without_grad(f, x_value):
    """3. Evaluate f inside torch.no_grad(): the result tracks no gradients."""
    x = torch.tensor(x_value, requires_grad=True)
    with torch.no_grad():
        y = f(x)
    return y


def accumulate_gradients(f, x_value, n_backward):
    """4a. Call backward n_backward times on fresh graphs without zeroing:
    the gradients add up in x.grad."""
    x = torch.tensor(x_value, requires_grad=True)
    for _ in range(n_backward):
        f(x).backward()
    return x.grad.clone()


def zero_then_backward(f, x_value, n_backward):
    """4b. Same as accumulate_gradients, but zero x.grad before each backward:
    x.grad holds only the last gradient."""
    x = torch.tensor(x_value, requires_grad=True)
    for _ in range(n_backward):
        if x.grad is not None:
            x.grad.zero_()
        f(x).backward()
    return x.grad.clone()


def numerical_gradient(f, x_value, eps=1e-6):
    """Central finite difference (f(x+eps) - f(x-eps)) / (2 eps) in float64."""
    with torch.no_grad():
        x_plus = torch.tensor(x_value + eps, dtype=torch.float64)
        x_minus = torch.tensor(x_value - eps, dtype=torch.float64)
        return ((f(x_plus) - f(x_minus)) / (2 * eps)).item()


def verify_gradient(f, x_value, tol=1e-4):
    """5. Compare autograd's gradient with a finite difference (both float64).
    Returns (autograd, numerical, ok)."""
    x = torch.tensor(x_value, dtype=torch.float64, requires_grad=True)
    f(x).backward()
    auto = x.grad.item()
    num = numerical_gradient(f, x_value)
    return auto, num, abs(auto - num) < tol


# ===============================================================
# The brief's code snippets
# ===============================================================

def run_brief_examples():
    print("## Enabling Gradient Computation")
    # Create tensor with gradient tracking
    x = torch.tensor(2.0, requires_grad=True)
    # Perform operations
    y = x ** 2 + 3 * x + 1
    # Compute gradient
    y.backward()
    # Access gradient
    print(x.grad)  # dy/dx at x=2

    print("\n## Seamless Integration")
    # Automatic differentiation
    x = torch.tensor(2.0, requires_grad=True)
    y = x ** 3 + 2 * x
    y.backward()
    print(x.grad)  # 3*x^2 + 2 = 14 at x=2

    print("\n## Vector output")
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    output = x ** 2
    try:
        output.backward()  # non-scalar output without a gradient vector
    except RuntimeError as e:
        print(f"{type(e).__name__}: {str(e).splitlines()[0]}")
    output.backward(torch.ones_like(output))
    print(x.grad)

    print("\n## Context Managers")
    # The brief's `result = model(x)` with model = nn.Linear(1, 1); its
    # parameters are set explicitly so the output does not depend on random init
    model = torch.nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[3.0]]))
        model.bias.copy_(torch.tensor([1.0]))
    x = torch.tensor([[2.0]])
    # Easy to disable gradients
    with torch.no_grad():
        # No gradient tracking
        result = model(x)
    print(result)
    print(result.requires_grad)


# ===============================================================
# Tests
# ===============================================================

def test_simple_gradient_quadratic():
    # y = x^2 + 3x + 1, dy/dx = 2x + 3 = 7 at x = 2
    grad = compute_gradient(lambda x: x ** 2 + 3 * x + 1, 2.0)
    print(f"  d(x^2 + 3x + 1)/dx at 2 = {grad.item()}")
    assert grad.item() == 7.0


def test_simple_gradient_cubic():
    # y = x^3 + 2x, dy/dx = 3x^2 + 2 = 14 at x = 2
    grad = compute_gradient(lambda x: x ** 3 + 2 * x, 2.0)
    print(f"  d(x^3 + 2x)/dx at 2 = {grad.item()}")
    assert grad.item() == 14.0


def test_simple_gradient_exp_log_sin():
    # y = exp(x) + log(x) + sin(x) at x = 1: e + 1 + cos(1)
    grad = compute_gradient(lambda x: torch.exp(x) + torch.log(x) + torch.sin(x), 1.0)
    print(f"  d(exp(x) + log(x) + sin(x))/dx at 1 = {grad.item():.4f}")
    assert abs(grad.item() - 4.2586) < 1e-4


def test_vector_gradient():
    # y = x^2 element-wise, gradient 2x
    grad = compute_vector_gradient(lambda x: x ** 2, [1.0, 2.0, 3.0])
    print(f"  d(x^2)/dx at [1, 2, 3] = {grad.tolist()}")
    assert grad.tolist() == [2.0, 4.0, 6.0]


def test_multivariate_gradients():
    # f(x, y) = x^2 * y + y^3 at (2, 3): df/dx = 2xy = 12, df/dy = x^2 + 3y^2 = 31
    gx, gy = compute_multivariate_gradients(lambda x, y: x ** 2 * y + y ** 3, 2.0, 3.0)
    print(f"  df/dx = {gx.item()}, df/dy = {gy.item()}")
    assert gx.item() == 12.0
    assert gy.item() == 31.0


def test_multivariate_matrix_gradients():
    # f(W, b) = sum(W @ x + b) for fixed x: df/dW[i, j] = x[j], df/db = 1
    x = torch.tensor([1.0, 2.0])
    W = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    b = torch.tensor([0.5, -0.5], requires_grad=True)
    out = (torch.matmul(W, x) + b).sum()
    out.backward()
    print(f"  df/dW = {W.grad.tolist()}, df/db = {b.grad.tolist()}")
    assert W.grad.tolist() == [[1.0, 2.0], [1.0, 2.0]]
    assert b.grad.tolist() == [1.0, 1.0]


def test_no_grad_disables_tracking():
    y = evaluate_without_grad(lambda x: x ** 2 + 1, 3.0)
    print(f"  value = {y.item()}, requires_grad = {y.requires_grad}, grad_fn = {y.grad_fn}")
    assert y.item() == 10.0
    assert y.requires_grad is False
    assert y.grad_fn is None


def test_no_grad_backward_raises():
    y = evaluate_without_grad(lambda x: x ** 2 + 1, 3.0)
    try:
        y.backward()
    except RuntimeError as e:
        print(f"  {type(e).__name__}: {str(e).splitlines()[0]}")
    else:
        raise AssertionError("backward() on a no_grad result should raise")


def test_gradients_accumulate():
    # d(x^2)/dx = 6 at x = 3; three backward calls without zeroing give 18
    grad = accumulate_gradients(lambda x: x ** 2, 3.0, 3)
    print(f"  after 3 backward calls without zeroing: {grad.item()}")
    assert grad.item() == 18.0


def test_zeroing_gradients():
    grad = zero_then_backward(lambda x: x ** 2, 3.0, 3)
    print(f"  after 3 backward calls, zeroing each time: {grad.item()}")
    assert grad.item() == 6.0


def test_verify_gradient():
    f = lambda x: x ** 3 - 2 * x ** 2 + torch.sin(x)
    auto, num, ok = verify_gradient(f, 1.5)
    print(f"  autograd = {auto:.6f}, numerical = {num:.6f}, match = {ok}")
    assert ok


TESTS = [
    test_simple_gradient_quadratic,
    test_simple_gradient_cubic,
    test_simple_gradient_exp_log_sin,
    test_vector_gradient,
    test_multivariate_gradients,
    test_multivariate_matrix_gradients,
    test_no_grad_disables_tracking,
    test_no_grad_backward_raises,
    test_gradients_accumulate,
    test_zeroing_gradients,
    test_verify_gradient,
]


def run_tests():
    passed = 0
    for test in TESTS:
        print(test.__name__)
        try:
            test()
        except AssertionError as e:
            print(f"FAIL {test.__name__}: {e}")
        else:
            passed += 1
            print(f"PASS {test.__name__}")
    print(f"\n{passed}/{len(TESTS)} tests passed")
    return passed == len(TESTS)


if __name__ == "__main__":
    run_brief_examples()
    print("\n## Tests")
    ok = run_tests()
    raise SystemExit(0 if ok else 1)
