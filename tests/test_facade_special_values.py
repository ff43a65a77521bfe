"""The facade against PyTorch at NaN, ±inf and ±0: values and .grad of every op (issue 17, item 2).

Registry-style: every function of fgrad.facade that torch also has is called with one, two or three float32
tensors whose elements run over every combination of special values (plus a few ordinary ones), as many
tensors as torch accepts; then a list of variants with scalar arguments, dims and nn.functional. Values must
match with NaN in the same places and signed zeros alike; gradients (of out.backward(ones)) likewise, zeros
compared without their sign. The few differences that remain are listed in EXCEPTIONS, each with where it
applies and why; everything else must match.
"""
import itertools
import math
import warnings

import numpy as np
import pytest

import fgrad

torch = pytest.importorskip("torch")

NAN, INF = math.nan, math.inf
SPECIAL = [NAN, INF, -INF, 0.0, -0.0, 1.5, -1.5, 0.5, -2.0]
ONE = np.array(SPECIAL)
TWO = [np.array(c) for c in zip(*itertools.product(SPECIAL, SPECIAL))]
THREE = [np.array(c) for c in zip(*itertools.product(SPECIAL[:6], SPECIAL[:6], SPECIAL[:6]))]
GRIDS = {1: [ONE], 2: TWO, 3: THREE}

# Functions of both namespaces that are not elementwise-on-floats ops: random, uninitialized, grad mode,
# settings. (Creation from a tensor, shapes, reductions and comparisons are ops and are compared.)
NOT_OPS = {"rand_like", "randn_like", "randint_like", "normal", "bernoulli", "multinomial", "empty_like", "empty",
           "rand", "randn", "randint", "randperm", "no_grad", "enable_grad", "set_grad_enabled", "inference_mode",
           "manual_seed", "seed", "initial_seed", "set_default_dtype", "set_printoptions", "get_rng_state",
           "set_rng_state", "is_grad_enabled", "is_inference_mode_enabled", "get_default_dtype", "Generator",
           "Tensor", "Size", "dtype", "device", "tensor", "as_tensor", "asarray", "from_numpy"}
FACADE_FUNCTIONS = sorted(n for n in fgrad.__all__ if n not in NOT_OPS and callable(getattr(fgrad, n, None))
                          and callable(getattr(torch, n, None)))


# ---- the differences that remain, each with the points it covers ---------------------------------------

def zero_ties(*arrays):
    """Points where the first array and another are both zero: which signed zero a max/min/clamp returns at a
    tie of -0.0 and 0.0 is numpy's here, and in PyTorch differs between its vectorized and scalar loops."""
    first = arrays[0] == 0
    return first & np.logical_or.reduce([a == 0 for a in arrays[1:]])


def everywhere(*arrays):
    return np.ones(arrays[0].shape, bool)


# Where PyTorch's own result depends on which of its loops runs (vectorized or scalar, by size and CPU): which
# signed zero a max/min/clamp returns at a tie of -0.0 and 0.0, and lerp's zero results. Only the sign of a
# zero is exempt there; these need not differ on every machine.
MACHINE_DEPENDENT = {
    **{name: zero_ties for name in ["maximum", "minimum", "clamp", "clamp_min", "clamp_max", "clip", "clamp3",
                                    "clamp(min=t)", "clamp(max=t)"]},
    **{f"{op}(x,{s})": (lambda x: x == 0) for op in ("maximum", "minimum") for s in (0.0, -0.0)},
    **{name: everywhere for name in ["lerp", "lerp(x,y,1.0)", "lerp(x,y,-1.5)", "lerp(x,y,inf)", "lerp(x,y,-inf)",
                                     "lerp(x,y,nan)", "lerp(x,y,0.0)", "lerp(x,y,-0.0)"]},
}

EXCEPTIONS = {
    # name: (which output ("value" / grad index), mask function of the input arrays, why)
    **{name: ("value", mask, "sign of a zero result, machine-dependent in PyTorch")
       for name, mask in MACHINE_DEPENDENT.items()},
    # d/dy x ** y at x = ±0, y < 0: PyTorch's out * log(x) = ∓inf; fgrad's pow rule (JAX's) is nan there.
    "pow": (1, lambda x, y: (x == 0) & (y < 0), "exponent gradient at base 0, negative exponent"),
    "pow(0.0,x)": (0, lambda x: x < 0, "exponent gradient at base 0, negative exponent"),
    "pow(-0.0,x)": (0, lambda x: x < 0, "exponent gradient at base 0, negative exponent"),
    # PyTorch's pow backward computes x ** (y - 1) with its pow kernel, which takes sqrt / rsqrt for 0.5 / -0.5.
    "pow(x,1.5)": (0, lambda x: x == -INF, "pow backward through PyTorch's sqrt shortcut at -inf"),
    "x**1.5": (0, lambda x: x == -INF, "pow backward through PyTorch's sqrt shortcut at -inf"),
    "pow(x,-0.5)": (0, lambda x: (x == -INF) | (x == 0), "pow backward at -inf and -0.0 (C pow vs rsqrt)"),
    "x**-0.5": (0, lambda x: (x == -INF) | (x == 0), "pow backward at -inf and -0.0 (C pow vs rsqrt)"),
    # prod: fgrad's gradient is the product of the other elements; PyTorch divides out / x when no element is
    # 0 (nan at an infinite element) and gives 0 everywhere with two zeros, even next to a NaN.
    "prod": (0, lambda x: np.isinf(x) | ((x == 0).sum() >= 2), "prod backward at infinities and zeros"),
    **{f"prod([{s},1,2,{s}])": (0, np.isinf, "prod backward at infinities") for s in (INF, -INF)},
    # var/std: next to an infinite element the mean's term of the gradient is inf - inf (kept for second order).
    **{f"var([{s},1,2,{s}])": (0, everywhere, "var gradient next to an infinity") for s in (INF, -INF)},
    # binary_cross_entropy's target gradient at x = 0 or 1: PyTorch's log1p(-x) - log(x) is unclamped (±inf),
    # fgrad's takes the loss's clamped logs (±100).
    "F.bce": (1, lambda x, t: (x == 0) | (x == 1), "target gradient at probabilities 0 and 1"),
    # remainder at an infinite dividend (value nan): fgrad's divisor gradient is fmod's -trunc(x / y) = ∓inf
    # (JAX's), PyTorch's -floor_divide(x, y) is nan.
    "remainder": (1, lambda x, y: np.isinf(x), "divisor gradient at an infinite dividend"),
    # float_power is pow in float64: the same exponent gradient at base 0 as pow's.
    "float_power": (1, lambda x, y: (x == 0) & (y < 0), "exponent gradient at base 0, negative exponent"),
    # copysign: PyTorch's gradient result / x is nan at infinite and NaN x; fgrad's is sign(x) sign(result).
    "copysign": (0, lambda x, y: ~np.isfinite(x), "gradient at infinite and NaN magnitudes"),
    # xlogy(0, inf) = 0: PyTorch's x-gradient log(inf) = inf; fgrad's is 0 (0 * inf would make the value nan).
    "xlogy": (0, lambda x, y: (x == 0) & (y == INF), "x-gradient at x = 0, y = inf"),
}


# ---- running both -----------------------------------------------------------------------------------------

def run(lib, fn, arrays, dtype="float32"):
    tensors = [lib.tensor(a, dtype=getattr(lib, dtype), requires_grad=True) for a in arrays]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        out = fn(lib, *tensors)
        if isinstance(out, (tuple, list)):
            out = out[0]
        if not isinstance(out, (torch.Tensor, fgrad.Tensor)):
            return None
        value = np.array(out.detach().numpy(), dtype=np.float64)
        grads = None
        if out.requires_grad:
            try:
                out.backward(lib.ones_like(out))
            except RuntimeError as e:           # torch: "the derivative for floor_divide is not implemented"
                assert lib is torch and "not implemented" in str(e), e
                return value, None
            grads = [None if t.grad is None else np.array(t.grad.numpy(), dtype=np.float64) for t in tensors]
    return value, grads


def mismatches(got, want, signed_zeros: bool):
    """The points where `got` differs from PyTorch's `want`: NaN, infinities and (with `signed_zeros`) the
    sign of a zero must be the same; other values agree within float32 rounding."""
    same = (got == want) & ((np.signbit(got) == np.signbit(want)) | (not signed_zeros))
    both_nan = np.isnan(got) & np.isnan(want)
    both_zero = (got == 0) & (want == 0)
    with np.errstate(invalid="ignore"):
        close = np.isfinite(got) & np.isfinite(want) & (np.abs(got - want) <= 1e-5 * np.abs(want) + 1e-6)
    close &= ~both_zero
    return ~(same | both_nan | close)


def compare(name, fn, arrays, dtype="float32"):
    want = run(torch, fn, arrays, dtype)
    got = run(fgrad, fn, arrays, dtype)
    assert (got is None) == (want is None), f"{name}: PyTorch returns {'no' if want is None else 'a'} tensor"
    if want is None:
        return
    exempt_what, exempt_mask, _ = EXCEPTIONS.get(name, (None, None, None))
    exempt = exempt_mask(*arrays) if exempt_mask else False
    value_bad = mismatches(got[0], want[0], signed_zeros=True)
    if exempt_what == "value":
        value_bad = value_bad & ~(np.broadcast_to(exempt, value_bad.shape) & (got[0] == 0) & (want[0] == 0))
    assert not value_bad.any(), report(name, "value", arrays, got[0], want[0], value_bad)
    if want[1] is None or got[1] is None:
        return                  # one of them has no gradient here (not a question of special values)
    for k, (g, w) in enumerate(zip(got[1], want[1])):
        if g is None or w is None:
            continue
        bad = mismatches(g, w, signed_zeros=False)
        if exempt_what == k:
            bad = bad & ~np.broadcast_to(exempt, bad.shape)
        assert not bad.any(), report(name, f"gradient {k}", arrays, g, w, bad)


def report(name, what, arrays, got, want, bad):
    idx = np.flatnonzero(bad)[:6]
    shape_like = all(a.shape == got.shape for a in arrays)
    at = [tuple(float(a.flat[i]) for a in arrays) for i in idx] if shape_like else "(reduced)"
    return (f"{name}: {what} differs from PyTorch's at {bad.sum()} points, e.g. inputs {at}: fgrad "
            f"{got.flat[idx]}, torch {want.flat[idx]}")


# ---- every function of the facade with 1, 2 or 3 tensors ---------------------------------------------------

def accepted_arity(name):
    """How many tensors torch's function takes (the first of 1, 2, 3 it accepts), or None."""
    for arity in (1, 2, 3):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if run(torch, lambda lib, *ts: getattr(lib, name)(*ts), GRIDS[arity]) is not None:
                    return arity
        except Exception:
            continue
    return None


@pytest.mark.parametrize("name", FACADE_FUNCTIONS)
def test_facade_function_matches_pytorch_at_special_values(name):
    arity = accepted_arity(name)
    if arity is None:
        pytest.skip(f"torch.{name} takes no 1-3 float tensors")
    compare(name if arity != 3 or name != "clamp" else "clamp3", lambda lib, *ts: getattr(lib, name)(*ts),
            GRIDS[arity])


# ---- variants: scalar arguments, dims, three tensors, nn.functional ---------------------------------------

def _variants():
    out = []
    for s in [0.5, -0.5, 1.5, 2.5, -1.5, 2, 3, -1, -2, 0, 2.0, 3.0, -1.0, 0.0, NAN, INF, -INF]:
        out.append((f"pow(x,{s})", lambda L, x, s=s: L.pow(x, s), [ONE]))
        out.append((f"x**{s}", lambda L, x, s=s: x ** s, [ONE]))
    for s in [2.0, 0.5, 0.0, -0.0, -2.0, NAN, INF]:
        out.append((f"pow({s},x)", lambda L, x, s=s: L.pow(s, x), [ONE]))
    for s in [NAN, INF, -INF, 0.0, -0.0, 1.0, -1.5]:
        for op in ["add", "sub", "mul", "div", "remainder", "fmod", "floor_divide"]:
            out.append((f"{op}(x,{s})", lambda L, x, s=s, op=op: getattr(L, op)(x, s), [ONE]))
        for op in ["maximum", "minimum"]:
            out.append((f"{op}(x,{s})", lambda L, x, s=s, op=op: getattr(L, op)(x, L.tensor(s)), [ONE]))
        out.append((f"rsub(x,{s})", lambda L, x, s=s: s - x, [ONE]))
        out.append((f"rdiv(x,{s})", lambda L, x, s=s: s / x, [ONE]))
        out.append((f"clamp(min={s})", lambda L, x, s=s: L.clamp(x, min=s), [ONE]))
        out.append((f"clamp(max={s})", lambda L, x, s=s: L.clamp(x, max=s), [ONE]))
        out.append((f"clamp({s},1)", lambda L, x, s=s: L.clamp(x, s, 1.0), [ONE]))
        out.append((f"masked_fill({s})", lambda L, x, s=s: x.masked_fill(x > 0, s), [ONE]))
        out.append((f"where(x>0,x,{s})", lambda L, x, s=s: L.where(x > 0, x, s), [ONE]))
        out.append((f"lerp(x,y,{s})", lambda L, x, y, s=s: L.lerp(x, y, s), TWO))
    out += [
        ("clamp(min=t)", lambda L, x, lo: L.clamp(x, min=lo), TWO),
        ("clamp(max=t)", lambda L, x, hi: L.clamp(x, max=hi), TWO),
        ("where3", lambda L, c, x, y: L.where(c > 0, x, y), THREE),
        ("lerp", lambda L, x, y, w: L.lerp(x, y, w), THREE),
        ("addcmul", lambda L, x, y, z: L.addcmul(x, y, z), THREE),
        ("addcdiv", lambda L, x, y, z: L.addcdiv(x, y, z), THREE),
        ("add alpha", lambda L, x, y: L.add(x, y, alpha=2), TWO),
        ("sub alpha", lambda L, x, y: L.sub(x, y, alpha=2), TWO),
        ("div floor", lambda L, x, y: L.div(x, y, rounding_mode="floor"), TWO),
        ("div trunc", lambda L, x, y: L.div(x, y, rounding_mode="trunc"), TWO),
        ("norm p=1", lambda L, x: L.norm(x, p=1), [ONE]),
        ("norm p=inf", lambda L, x: L.norm(x, p=INF), [np.array([1.0, -3.0, 3.0])]),
        ("norm zero", lambda L, x: L.norm(x), [np.zeros(3)]),
    ]
    grid = TWO[0]
    for op in ["sum", "mean", "amax", "amin", "prod", "logsumexp", "softmax", "log_softmax", "cumsum", "std", "var",
               "norm"]:
        out.append((f"{op}(dim=1)", lambda L, x, op=op: getattr(L, op)(x.reshape(9, 9), dim=1), [grid]))
    for op in ["max", "min"]:
        out.append((f"{op}(dim=1)", lambda L, x, op=op: getattr(L, op)(x.reshape(9, 9), dim=1)[0], [grid]))
    for op in ["sum", "mean", "max", "min", "amax", "amin", "prod", "std", "var", "norm", "logsumexp"]:
        call = (lambda L, x, op=op: L.logsumexp(x, 0)) if op == "logsumexp" else \
            (lambda L, x, op=op: getattr(L, op)(x))
        for s in SPECIAL[:5]:
            out.append((f"{op}([{s},1,2,{s}])", call, [np.array([s, 1.0, 2.0, s])]))
        out.append((f"{op}([2,0,3])", call, [np.array([2.0, 0.0, 3.0])]))
    F = lambda L: L.nn.functional  # noqa: E731
    probabilities = np.array([0.0, 1.0, 0.5, 0.25, 1e-30, 1 - 1e-7, -0.0])
    out += [
        ("F.relu", lambda L, x: F(L).relu(x), [ONE]),
        ("F.relu inplace", lambda L, x: F(L).relu(x * 1, inplace=True), [ONE]),
        ("F.sigmoid", lambda L, x: F(L).sigmoid(x), [ONE]),
        ("F.tanh", lambda L, x: F(L).tanh(x), [ONE]),
        ("F.softmax", lambda L, x: F(L).softmax(x.reshape(9, 9), dim=1), [grid]),
        ("F.log_softmax", lambda L, x: F(L).log_softmax(x.reshape(9, 9), dim=1), [grid]),
        ("F.mse_loss", lambda L, x, y: F(L).mse_loss(x, y, reduction="none"), TWO),
        ("F.l1_loss", lambda L, x, y: F(L).l1_loss(x, y, reduction="none"), TWO),
        ("F.bce_with_logits", lambda L, x, y: F(L).binary_cross_entropy_with_logits(x, y, reduction="none"), TWO),
        ("F.bce", lambda L, x, y: F(L).binary_cross_entropy(x, y, reduction="none"),
         [np.repeat(probabilities, 7), np.tile(probabilities, 7)]),
        ("F.linear", lambda L, x, w: F(L).linear(x.reshape(9, 9), w.reshape(9, 9)), TWO),
        ("F.cross_entropy", lambda L, x: F(L).cross_entropy(x.reshape(9, 9), L.arange(9)), [grid]),
        ("F.nll_loss", lambda L, x: F(L).nll_loss(x.reshape(9, 9), L.arange(9), reduction="none"), [grid]),
        ("Tensor.relu_ of a copy", lambda L, x: (x * 1).relu_(), [ONE]),
        ("Tensor.abs", lambda L, x: x.abs(), [ONE]),
        ("Tensor.sign", lambda L, x: x.sign(), [ONE]),
        ("Tensor.clamp", lambda L, x: x.clamp(-1.0, 1.0), [ONE]),
        ("Tensor.frac", lambda L, x: x.frac(), [ONE]),
    ]
    return out


VARIANTS = _variants()


@pytest.mark.parametrize("name, fn, arrays", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_facade_variant_matches_pytorch_at_special_values(name, fn, arrays):
    compare(name, fn, arrays)


@pytest.mark.parametrize("name", ["relu", "abs", "sign", "sqrt", "rsqrt", "exp", "log", "sigmoid", "tanh"])
def test_facade_unary_matches_pytorch_in_float64(name):
    compare(name, lambda L, x: getattr(L, name)(x), [ONE], dtype="float64")


def test_the_issues_examples():
    assert math.isnan(fgrad.relu(fgrad.tensor(NAN)).item())
    assert math.isnan(fgrad.rsqrt(fgrad.tensor(-INF)).item())
    x = fgrad.tensor([NAN], requires_grad=True)
    fgrad.nn.functional.relu(x).sum().backward()
    assert x.grad.tolist() == [1.0]                  # the NaN reaches the gradient, as PyTorch's


def test_every_exception_is_still_needed():
    # An exception whose points now match PyTorch should be removed from EXCEPTIONS.
    cases = {name: (lambda L, *ts, name=name: getattr(L, name)(*ts), None) for name in FACADE_FUNCTIONS}
    cases.update({name: (fn, arrays) for name, fn, arrays in VARIANTS})
    cases["clamp3"] = (lambda L, *ts: L.clamp(*ts), THREE)
    for name, (what, mask, why) in EXCEPTIONS.items():
        if name not in cases or name in MACHINE_DEPENDENT:
            continue
        fn, arrays = cases[name]
        arrays = arrays or GRIDS[accepted_arity(name)]
        want, got = run(torch, fn, arrays), run(fgrad, fn, arrays)
        exempt = np.broadcast_to(mask(*arrays), want[0].shape if what == "value" else want[1][what].shape)
        if what == "value":
            differs = mismatches(got[0], want[0], signed_zeros=True) & exempt
        else:
            differs = mismatches(got[1][what], want[1][what], signed_zeros=False) & exempt
        assert differs.any(), f"EXCEPTIONS[{name!r}] ({why}) no longer differs from PyTorch: remove it"
