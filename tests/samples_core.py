"""Valid sample inputs for the elementwise, shape, reduction and linear-algebra primitives, for the
registry-driven rule tests (tests/test_primitive_rules.py).

`SAMPLES[name]` is a list of `(args, params)`: `args` a tuple of numpy arrays, `params` the normalized
keyword params, so that `REGISTRY[name].bind(*args, **params)` is valid. Float inputs are float64 and
away from kinks and singularities (the finite-difference checks need a smooth neighbourhood); a few
samples are float32, int or bool to exercise the dtype rules.

`DOMAINS[name]` draws values for an elementwise primitive's inputs (`DOMAINS[name](rng, *shapes)` ->
list of arrays), so property tests can pick shapes and stay inside the smooth region.
`NON_DIFFERENTIABLE` names the primitives whose derivative is declared zero in every input.
"""
import numpy as np

_rng = np.random.default_rng(20240612)

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_I32 = np.dtype(np.int32)
_I64 = np.dtype(np.int64)
_BOOL = np.dtype(np.bool_)


# ---- value generators (rng, shape) -> array --------------------------------------------------------

def normal(rng, shape):
    return rng.standard_normal(shape)


def uniform(lo, hi):
    return lambda rng, shape: rng.uniform(lo, hi, shape)


def away_from_zero(lo, hi):
    """Magnitudes in [lo, hi] with random signs: keeps |x| and x/y smooth."""
    return lambda rng, shape: rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape)


def on_grid(offset):
    """Multiples of 0.25 plus `offset`: two arrays on grids with different offsets never tie."""
    return lambda rng, shape: rng.integers(-8, 8, shape) * 0.25 + offset


def small_ints(rng, shape):
    """Values in {-2, ..., 2} as floats: comparisons see ties."""
    return rng.integers(-2, 3, shape).astype(np.float64)


def distinct(rng, shape):
    """Distinct values in random order: reductions that pick an element see no ties."""
    size = int(np.prod(shape, dtype=np.int64))
    return (rng.permutation(size) * 0.37 - size * 0.15).reshape(shape)


def well_conditioned(rng, shape):
    """Square matrices (..., n, n) with a dominant diagonal, far from singular."""
    n = shape[-1]
    return rng.standard_normal(shape) + 2.0 * n * np.eye(n)


def off_integer_quotients(rng, x_shape, y_shape):
    """(x, y) for rem: x has its fraction in [0.3, 0.7] and |y| is 1 or 2, so x / y stays away from the
    integers where fmod jumps (a smooth neighbourhood for finite differences)."""
    x = rng.integers(-4, 5, x_shape) + rng.uniform(0.3, 0.7, x_shape)
    y = rng.choice([-2.0, -1.0, 1.0, 2.0], y_shape)
    return [np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)]


def _per_input(*generators):
    return lambda rng, *shapes: [np.asarray(g(rng, s), dtype=np.float64) for g, s in zip(generators, shapes)]


DOMAINS = {
    "neg": _per_input(normal),
    "exp": _per_input(uniform(-2.0, 2.0)),
    "log": _per_input(uniform(0.2, 3.0)),
    "log1p": _per_input(uniform(-0.5, 3.0)),
    "expm1": _per_input(uniform(-2.0, 2.0)),
    "sqrt": _per_input(uniform(0.2, 3.0)),
    "sin": _per_input(uniform(-3.0, 3.0)),
    "cos": _per_input(uniform(-3.0, 3.0)),
    "tan": _per_input(uniform(-1.2, 1.2)),
    "tanh": _per_input(uniform(-3.0, 3.0)),
    "logistic": _per_input(uniform(-4.0, 4.0)),
    "abs": _per_input(away_from_zero(0.1, 2.0)),
    "sign": _per_input(away_from_zero(0.1, 2.0)),
    "add": _per_input(normal, normal),
    "sub": _per_input(normal, normal),
    "mul": _per_input(normal, normal),
    "div": _per_input(normal, away_from_zero(0.5, 2.0)),
    "pow": _per_input(uniform(0.5, 2.0), uniform(-2.0, 2.0)),
    "rem": off_integer_quotients,
    "maximum": _per_input(on_grid(0.0), on_grid(0.125)),
    "minimum": _per_input(on_grid(0.0), on_grid(0.125)),
    "eq": _per_input(small_ints, small_ints),
    "ne": _per_input(small_ints, small_ints),
    "lt": _per_input(small_ints, small_ints),
    "le": _per_input(small_ints, small_ints),
    "gt": _per_input(small_ints, small_ints),
    "ge": _per_input(small_ints, small_ints),
    "square": _per_input(normal),
    "reciprocal": _per_input(away_from_zero(0.5, 2.0)),
    "rsqrt": _per_input(uniform(0.2, 3.0)),
    "exp2": _per_input(uniform(-2.0, 2.0)),
    "log2": _per_input(uniform(0.2, 3.0)),
    "log10": _per_input(uniform(0.2, 3.0)),
    "arcsin": _per_input(uniform(-0.8, 0.8)),
    "arccos": _per_input(uniform(-0.8, 0.8)),
    "arctan": _per_input(uniform(-3.0, 3.0)),
    "sinh": _per_input(uniform(-2.0, 2.0)),
    "erf": _per_input(uniform(-2.0, 2.0)),
    "erfc": _per_input(uniform(-2.0, 2.0)),
    "cosh": _per_input(uniform(-2.0, 2.0)),
    "arcsinh": _per_input(uniform(-3.0, 3.0)),
    "arccosh": _per_input(uniform(1.2, 3.0)),
    "arctanh": _per_input(uniform(-0.8, 0.8)),
    "arctan2": _per_input(away_from_zero(0.3, 2.0), away_from_zero(0.3, 2.0)),
    "hypot": _per_input(away_from_zero(0.3, 2.0), away_from_zero(0.3, 2.0)),
}

UNARY = ("neg", "exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "tanh", "logistic", "abs", "sign",
         "square", "reciprocal", "rsqrt", "exp2", "log2", "log10", "arcsin", "arccos", "arctan", "sinh", "erf",
         "erfc", "cosh", "arcsinh", "arccosh", "arctanh")
BINARY = ("add", "sub", "mul", "div", "rem", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge", "arctan2",
          "hypot")

NON_DIFFERENTIABLE = {"sign", "eq", "ne", "lt", "le", "gt", "ge", "argmax", "argsort"}


# ---- the samples -------------------------------------------------------------------------------------

def _elementwise_samples(name, shapes=((), (4,), (2, 3))):
    out = [(tuple(DOMAINS[name](_rng, *[shape] * (1 if name in UNARY else 2))), {}) for shape in shapes]
    args = DOMAINS[name](_rng, *[(3,)] * (1 if name in UNARY else 2))
    out.append((tuple(a.astype(np.float32) for a in args), {}))
    return out


def _ints(*shape, dtype=np.int64):
    return _rng.integers(-3, 4, shape).astype(dtype)


def _f(*shape):
    return _rng.standard_normal(shape)


SAMPLES = {name: _elementwise_samples(name) for name in UNARY + BINARY}

for _name in ("neg", "abs", "sign", "square"):
    SAMPLES[_name].append(((_ints(2, 3),), {}))
for _name in ("add", "sub", "mul", "maximum", "minimum", "eq", "lt", "ge"):
    SAMPLES[_name].append(((_ints(4), _ints(4)), {}))
for _name in ("eq", "ne"):
    SAMPLES[_name].append(((np.array([True, False, True]), np.array([True, True, False])), {}))
SAMPLES["div"].append(((_ints(4), np.array([1, 2, -3, 0])), {}))           # integer division by zero gives 0

SAMPLES["integer_pow"] = [
    ((away_from_zero(0.5, 2.0)(_rng, (5,)),), {"y": y}) for y in (0, 1, 2, 3, -1, -2)
] + [
    ((_ints(4),), {"y": 3}),
    ((_f(3).astype(np.float32),), {"y": 2}),
]

SAMPLES["select"] = [
    ((_rng.random((4,)) < 0.5, _f(4), _f(4)), {}),
    ((_rng.random((2, 3)) < 0.5, _f(2, 3), _f(2, 3)), {}),
    ((np.array(True), _f(), _f()), {}),
    ((_rng.random((3,)) < 0.5, _ints(3), _ints(3)), {}),
    ((_rng.random((3,)) < 0.5, _f(3).astype(np.float32), _f(3).astype(np.float32)), {}),
]

SAMPLES["convert_element_type"] = [
    ((_f(3),), {"dtype": _F64}),
    ((_f(2, 2),), {"dtype": _F32}),
    ((_f(3).astype(np.float32),), {"dtype": _F64}),
    ((_f(4) * 3.0,), {"dtype": _I32}),                                        # truncates toward zero
    ((_ints(4),), {"dtype": _F64}),
    ((np.array([True, False]),), {"dtype": _F64}),
    ((np.array([0.0, 1.5, -2.0]),), {"dtype": _BOOL}),
]

SAMPLES["broadcast_to"] = [
    ((_f(3),), {"shape": (2, 3)}),
    ((_f(3, 1),), {"shape": (2, 3, 4)}),
    ((_f(),), {"shape": (2,)}),
    ((_f(1, 1),), {"shape": (1, 5)}),
    ((_ints(2, 1),), {"shape": (2, 2)}),
]

SAMPLES["reshape"] = [
    ((_f(2, 3),), {"shape": (3, 2)}),
    ((_f(6),), {"shape": (1, 2, 3)}),
    ((_f(1),), {"shape": ()}),
    ((_f(2, 0),), {"shape": (0, 4)}),
    ((_ints(4),), {"shape": (2, 2)}),
]

SAMPLES["transpose"] = [
    ((_f(2, 3),), {"perm": (1, 0)}),
    ((_f(2, 3, 4),), {"perm": (2, 0, 1)}),
    ((_f(2, 1, 3),), {"perm": (1, 2, 0)}),
    ((_ints(2, 3),), {"perm": (1, 0)}),
]

SAMPLES["squeeze"] = [
    ((_f(1, 3),), {"axes": (0,)}),
    ((_f(2, 1, 3, 1),), {"axes": (1, 3)}),
    ((_f(1),), {"axes": (0,)}),
    ((np.array([[True], [False]]),), {"axes": (1,)}),
]

SAMPLES["expand_dims"] = [
    ((_f(3),), {"axes": (0,)}),
    ((_f(2, 3),), {"axes": (1, 3)}),
    ((_f(),), {"axes": (0,)}),
    ((_ints(2),), {"axes": (1,)}),
]

SAMPLES["reduce_sum"] = [
    ((_f(4),), {"axes": (0,)}),
    ((_f(2, 3),), {"axes": (1,)}),
    ((_f(2, 3, 4),), {"axes": (0, 2)}),
    ((_f(2, 0),), {"axes": (1,)}),                                           # an empty sum is 0
    ((_ints(3, 2),), {"axes": (0, 1)}),
    ((_f(3, 2).astype(np.float32),), {"axes": (0,)}),
]

for _name in ("reduce_max", "reduce_min"):
    SAMPLES[_name] = [
        ((distinct(_rng, (5,)),), {"axes": (0,)}),
        ((distinct(_rng, (3, 4)),), {"axes": (1,)}),
        ((distinct(_rng, (2, 3, 4)),), {"axes": (0, 2)}),
        ((distinct(_rng, (2, 3)),), {"axes": (0, 1)}),
        ((_ints(3, 4),), {"axes": (0,)}),
        ((np.array([[True, False], [False, False]]),), {"axes": (1,)}),
        ((distinct(_rng, (4,)).astype(np.float32),), {"axes": (0,)}),
    ]

SAMPLES["argmax"] = [
    ((np.array([1.0, 3.0, 3.0, 2.0]),), {"axis": 0, "index_dtype": _I64}),  # ties: the first one
    ((small_ints(_rng, (3, 4)),), {"axis": 1, "index_dtype": _I64}),
    ((_f(2, 3, 2),), {"axis": 0, "index_dtype": _I32}),
    ((np.array([0.0, np.nan, 1.0, np.nan]),), {"axis": 0, "index_dtype": _I64}),  # NaN counts as the max
    ((_ints(2, 5),), {"axis": 1, "index_dtype": _I64}),
    ((np.array([False, True, True]),), {"axis": 0, "index_dtype": _I32}),
]

SAMPLES["cumsum"] = [
    ((_f(5),), {"axis": 0, "reverse": False}),
    ((_f(5),), {"axis": 0, "reverse": True}),
    ((_f(2, 3, 4),), {"axis": 1, "reverse": False}),
    ((_f(3, 4),), {"axis": 1, "reverse": True}),
    ((_f(0, 2),), {"axis": 0, "reverse": False}),
    ((_ints(2, 3),), {"axis": 1, "reverse": True}),
    ((_f(4).astype(np.float32),), {"axis": 0, "reverse": False}),
]

SAMPLES["cumprod"] = [
    ((uniform(0.5, 1.5)(_rng, (5,)),), {"axis": 0, "reverse": False}),
    ((uniform(0.5, 1.5)(_rng, (5,)),), {"axis": 0, "reverse": True}),
    ((np.array([2.0, 0.0, 3.0, 0.0, -1.5]),), {"axis": 0, "reverse": False}),    # zeros: no division by them
    ((uniform(-1.5, 1.5)(_rng, (2, 3, 4)),), {"axis": 1, "reverse": False}),
    ((uniform(-1.5, 1.5)(_rng, (3, 7)),), {"axis": 1, "reverse": True}),
    ((_f(0, 2),), {"axis": 0, "reverse": False}),
    ((_ints(2, 3),), {"axis": 1, "reverse": False}),
    ((uniform(0.5, 1.5)(_rng, (4,)).astype(np.float32),), {"axis": 0, "reverse": False}),
]

SAMPLES["sort"] = [
    ((distinct(_rng, (6,)),), {"axis": 0}),
    ((distinct(_rng, (3, 4)),), {"axis": 1}),
    ((distinct(_rng, (3, 4, 2)),), {"axis": 0}),
    ((_ints(2, 5),), {"axis": 1}),
    ((distinct(_rng, (5,)).astype(np.float32),), {"axis": 0}),
]

SAMPLES["argsort"] = [
    ((np.array([3.0, 1.0, 2.0, 1.0]),), {"axis": 0}),                         # ties keep their order
    ((_f(3, 4),), {"axis": 1}),
    ((_f(3, 4, 2),), {"axis": 0}),
    ((np.array([0.0, np.nan, -1.0, np.nan]),), {"axis": 0}),                  # NaNs last, as numpy
    ((_ints(2, 5),), {"axis": 1}),
]

SAMPLES["matmul"] = [
    ((_f(3), _f(3)), {}),                                                   # vec @ vec
    ((_f(3), _f(3, 4)), {}),                                                # vec @ mat
    ((_f(2, 3), _f(3)), {}),                                                # mat @ vec
    ((_f(2, 3), _f(3, 4)), {}),                                             # mat @ mat
    ((_f(5, 2, 3), _f(5, 3, 4)), {}),                                       # batched
    ((_f(2, 1, 2, 3), _f(2, 1, 3, 2)), {}),
    ((_f(3), _f(2, 3, 4)), {}),                                             # vec @ batched mat
    ((_f(2, 4, 3), _f(3)), {}),                                             # batched mat @ vec
    ((_f(2, 0), _f(0, 3)), {}),                                             # empty inner axis
    ((_ints(2, 3), _ints(3, 2)), {}),
    ((_f(2, 3).astype(np.float32), _f(3).astype(np.float32)), {}),
]

SAMPLES["solve"] = [
    ((well_conditioned(_rng, (3, 3)), _f(3, 1)), {}),
    ((well_conditioned(_rng, (2, 2)), _f(2, 3)), {}),
    ((well_conditioned(_rng, (4, 3, 3)), _f(4, 3, 2)), {}),                 # batched
    ((well_conditioned(_rng, (2, 1, 2, 2)), _f(2, 1, 2, 1)), {}),
    ((well_conditioned(_rng, (1, 1)), _f(1, 1)), {}),
    ((well_conditioned(_rng, (3, 3)).astype(np.float32), _f(3, 2).astype(np.float32)), {}),
]


def _conv(window_strides, padding, lhs_dilation=None, rhs_dilation=None, groups=1):
    nsp = len(window_strides)
    return {"window_strides": window_strides, "padding": padding, "lhs_dilation": lhs_dilation or (1,) * nsp,
            "rhs_dilation": rhs_dilation or (1,) * nsp, "feature_group_count": groups}


SAMPLES["conv_general_dilated"] = [
    ((_f(2, 3, 5), _f(4, 3, 2)), _conv((1,), ((0, 0),))),                                   # 1-D, valid
    ((_f(2, 3, 6, 5), _f(2, 3, 3, 2)), _conv((1, 1), ((1, 1), (0, 1)))),                     # 2-D, padded
    ((_f(1, 4, 7, 6), _f(6, 2, 3, 2)), _conv((2, 1), ((1, 2), (0, 1)), None, (1, 2), 2)),   # strided, dilated, groups
    ((_f(2, 2, 5), _f(2, 1, 3)), _conv((3,), ((2, 1),), (2,), None, 2)),                     # lhs dilation
    ((_f(1, 2, 9), _f(3, 2, 3)), _conv((2,), ((-1, 2),), None, (2,))),                        # a negative pad crops
    ((_f(2, 2, 4, 4).astype(np.float32), _f(3, 2, 2, 2).astype(np.float32)), _conv((1, 1), ((0, 0), (0, 0)))),
]

