"""Elementwise primitives: one block each, with every rule.

Elementwise primitives take inputs of equal shape and dtype. The ops below them (`add`, `sin`, ...)
promote dtypes as numpy does (Python scalars are weak) and insert explicit `broadcast_to`.
Rule signatures are documented on fgrad.ir.Primitive; `numba` is the scalar expression the fused
loop evaluates, `{0}`, `{1}` standing for the inputs and `{name}` for a param.
"""
from __future__ import annotations

import numpy as np

from fgrad.ir import ArrayType, Primitive, broadcast_shapes, canonical_dtype, is_float
from fgrad.ops.base import (as_value, compare_type, equal_types, float_dtype, is_tracer, result_dtype,
                            same_type, typeof, zero_rules)


# ---- the op wrappers' argument handling --------------------------------------------------------

def cast(x, dtype):
    """`x` as `dtype`: a tracer gets a convert_element_type equation, a concrete value is converted now."""
    dtype = canonical_dtype(dtype)
    if is_tracer(x):
        return x if x.dtype == dtype else convert_element_type(x, dtype)
    return as_value(x, dtype)


def elementwise_args(*xs, dtype=None):
    """Promote `xs` to one dtype and broadcast them to one shape, explicitly."""
    dtype = result_dtype(*xs) if dtype is None else dtype
    xs = [cast(x, dtype) for x in xs]
    shapes = [typeof(x).shape for x in xs]
    shape = broadcast_shapes(*shapes)
    return [x if s == shape else broadcast_to(x, shape) for x, s in zip(xs, shapes)]


def float_arg(x):
    """Float ops on ints compute in float64, as numpy's do."""
    return cast(x, float_dtype(typeof(x).dtype))


def _unary(prim):
    def op(x):
        return prim.bind(float_arg(x))
    op.__name__ = prim.name
    op.__doc__ = f"Elementwise {prim.name} (ints compute in float64). Binds {prim.name}_p."
    return op


# ---- arithmetic ----------------------------------------------------------------------------------

neg_p = Primitive(
    "neg", shape_rule=same_type, impl=np.negative,
    jvp=(lambda x_dot, out, x: neg(x_dot),),
    vjp=(lambda out_ct, out, x: neg(out_ct),),
    numba="(-{0})")


def neg(x):
    """-x."""
    return neg_p.bind(as_value(x))


add_p = Primitive(
    "add", shape_rule=equal_types, impl=np.add,
    jvp=(lambda x_dot, out, x, y: x_dot, lambda y_dot, out, x, y: y_dot),
    vjp=(lambda out_ct, out, x, y: out_ct, lambda out_ct, out, x, y: out_ct),
    numba="({0} + {1})")


def add(x, y):
    """x + y, with numpy broadcasting and promotion."""
    return add_p.bind(*elementwise_args(x, y))


sub_p = Primitive(
    "sub", shape_rule=equal_types, impl=np.subtract,
    jvp=(lambda x_dot, out, x, y: x_dot, lambda y_dot, out, x, y: neg(y_dot)),
    vjp=(lambda out_ct, out, x, y: out_ct, lambda out_ct, out, x, y: neg(out_ct)),
    numba="({0} - {1})")


def sub(x, y):
    """x - y."""
    return sub_p.bind(*elementwise_args(x, y))


mul_p = Primitive(
    "mul", shape_rule=equal_types, impl=np.multiply,
    jvp=(lambda x_dot, out, x, y: mul(x_dot, y), lambda y_dot, out, x, y: mul(x, y_dot)),
    vjp=(lambda out_ct, out, x, y: mul(out_ct, y), lambda out_ct, out, x, y: mul(x, out_ct)),
    numba="({0} * {1})")


def mul(x, y):
    """x * y."""
    return mul_p.bind(*elementwise_args(x, y))


def _div_impl(x, y):
    # Integer division by zero gives 0 with a warning in numpy; floats give inf/nan as IEEE says.
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(x, y) if is_float(np.result_type(x)) else np.floor_divide(x, y)


div_p = Primitive(
    "div", shape_rule=equal_types, impl=_div_impl,
    jvp=(lambda x_dot, out, x, y: div(x_dot, y), lambda y_dot, out, x, y: neg(mul(y_dot, div(out, y)))),
    vjp=(lambda out_ct, out, x, y: div(out_ct, y), lambda out_ct, out, x, y: neg(mul(out_ct, div(out, y)))),
    numba=(("f", "({0} / {1})"), ("i", "({0} // {1})")))   # ints floor-divide, as the impl does


def div(x, y):
    """x / y (true division: ints compute in float64, as numpy's `/`)."""
    dtype = float_dtype(result_dtype(x, y))
    return div_p.bind(*elementwise_args(x, y, dtype=dtype))


def _replace_zero(x):
    # log(x) at x == 0 would give -inf * 0 = nan in pow's derivative in y; JAX uses log(1) there.
    return select(eq(x, 0.0), 1.0, x)


def _pow_jvp_x(x_dot, out, x, y):
    # d/dx x**y = y * x**(y-1), with no special case: at x == 0, y == 0 it is 0 * inf = nan, as jax.grad of
    # lax.pow with a float exponent (jax 0.10.2); the constant x**0 of a static int exponent is integer_pow's.
    return mul(x_dot, mul(y, pow(x, sub(y, 1.0))))


def _pow_jvp_y(y_dot, out, x, y):
    # d/dy x**y = log(x) * x**y, taken as 0 where x == 0 (JAX's convention).
    return mul(y_dot, mul(log(_replace_zero(x)), out))


def _pow_impl(x, y):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.power(x, y)


pow_p = Primitive(
    "pow", shape_rule=equal_types, impl=_pow_impl,
    jvp=(_pow_jvp_x, _pow_jvp_y),
    vjp=(lambda out_ct, out, x, y: _pow_jvp_x(out_ct, out, x, y),
         lambda out_ct, out, x, y: _pow_jvp_y(out_ct, out, x, y)),
    numba="({0} ** {1})")


def pow(x, y):
    """x ** y for arrays y (floats). Integer constant exponents should use integer_pow."""
    dtype = float_dtype(result_dtype(x, y))
    return pow_p.bind(*elementwise_args(x, y, dtype=dtype))


def _integer_pow_jvp(x_dot, out, x, *, y):
    # d/dx x**y = y * x**(y-1); y == 0 is a constant function.
    if y == 0:
        return None
    return mul(x_dot, mul(float(y), integer_pow(x, y=y - 1)))


# numpy's error, decided by the dtype alone: raised eagerly by the impl and, when traced (jit, grad), by the
# shape rule, so no kernel ever computes it (Numba's integer power quietly gives 0). As in JAX an empty array
# raises too, where numpy returns it empty.
def _check_integer_pow(dtype, y):
    if y < 0 and not is_float(dtype):
        raise ValueError(f"Integers to negative integer powers are not allowed. (x ** {y} with x of dtype "
                         f"{np.dtype(dtype).name}; cast x to a float dtype first)")


def _integer_pow_type(x, *, y):
    _check_integer_pow(x.dtype, y)
    return x


def _integer_pow_source(x: str, y: int, exponent) -> str:
    # Small powers as products (LLVM vectorises them); a float exponent would round integers above 2**53.
    return "(" + " * ".join([x] * y) + ")" if 1 <= y <= 4 else f"({x} ** {exponent!r})"


def _integer_pow_impl(x, *, y):
    _check_integer_pow(np.result_type(x), y)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.power(x, np.asarray(y, dtype=np.result_type(x)))


integer_pow_p = Primitive(
    "integer_pow", shape_rule=_integer_pow_type, impl=_integer_pow_impl,
    jvp=(_integer_pow_jvp,),
    vjp=(lambda out_ct, out, x, *, y: _integer_pow_jvp(out_ct, out, x, y=y),),
    numba=(("f", lambda args, y: _integer_pow_source(args[0], y, float(y))),
           ("i", lambda args, y: _integer_pow_source(args[0], y, y)),    # exact (wrapping) as numpy's
           ("b", lambda args, y: _integer_pow_source(args[0], y, y))))


def integer_pow(x, *, y: int):
    """x ** y for a static Python int y."""
    return integer_pow_p.bind(as_value(x), y=int(y))


# ---- transcendental -----------------------------------------------------------------------------

exp_p = Primitive(
    "exp", shape_rule=same_type, impl=np.exp,
    jvp=(lambda x_dot, out, x: mul(x_dot, out),),
    vjp=(lambda out_ct, out, x: mul(out_ct, out),),
    numba="np.exp({0})")
exp = _unary(exp_p)

log_p = Primitive(
    "log", shape_rule=same_type, impl=lambda x: _quiet(np.log, x),
    jvp=(lambda x_dot, out, x: div(x_dot, x),),
    vjp=(lambda out_ct, out, x: div(out_ct, x),),
    numba="np.log({0})")
log = _unary(log_p)

log1p_p = Primitive(
    "log1p", shape_rule=same_type, impl=lambda x: _quiet(np.log1p, x),
    jvp=(lambda x_dot, out, x: div(x_dot, add(x, 1.0)),),
    vjp=(lambda out_ct, out, x: div(out_ct, add(x, 1.0)),),
    numba="np.log1p({0})")
log1p = _unary(log1p_p)

expm1_p = Primitive(
    "expm1", shape_rule=same_type, impl=np.expm1,
    jvp=(lambda x_dot, out, x: mul(x_dot, add(out, 1.0)),),
    vjp=(lambda out_ct, out, x: mul(out_ct, add(out, 1.0)),),
    numba="np.expm1({0})")
expm1 = _unary(expm1_p)

# sqrt at 0: the derivative is inf (0.5 / 0), as jax.grad(jnp.sqrt)(0.0).
sqrt_p = Primitive(
    "sqrt", shape_rule=same_type, impl=lambda x: _quiet(np.sqrt, x),
    jvp=(lambda x_dot, out, x: div(x_dot, mul(out, 2.0)),),
    vjp=(lambda out_ct, out, x: div(out_ct, mul(out, 2.0)),),
    numba="np.sqrt({0})")
sqrt = _unary(sqrt_p)

sin_p = Primitive(
    "sin", shape_rule=same_type, impl=np.sin,
    jvp=(lambda x_dot, out, x: mul(x_dot, cos(x)),),
    vjp=(lambda out_ct, out, x: mul(out_ct, cos(x)),),
    numba="np.sin({0})")
sin = _unary(sin_p)

cos_p = Primitive(
    "cos", shape_rule=same_type, impl=np.cos,
    jvp=(lambda x_dot, out, x: neg(mul(x_dot, sin(x))),),
    vjp=(lambda out_ct, out, x: neg(mul(out_ct, sin(x))),),
    numba="np.cos({0})")
cos = _unary(cos_p)

tan_p = Primitive(
    "tan", shape_rule=same_type, impl=np.tan,
    jvp=(lambda x_dot, out, x: mul(x_dot, add(mul(out, out), 1.0)),),
    vjp=(lambda out_ct, out, x: mul(out_ct, add(mul(out, out), 1.0)),),
    numba="np.tan({0})")
tan = _unary(tan_p)

# (g + g*out) * (1 - out) is JAX's form of g * (1 - out**2); it keeps results bit-equal to JAX's.
tanh_p = Primitive(
    "tanh", shape_rule=same_type, impl=np.tanh,
    jvp=(lambda x_dot, out, x: mul(add(x_dot, mul(x_dot, out)), sub(1.0, out)),),
    vjp=(lambda out_ct, out, x: mul(add(out_ct, mul(out_ct, out)), sub(1.0, out)),),
    numba="np.tanh({0})")
tanh = _unary(tanh_p)


def _logistic_impl(x):
    # 1 / (1 + exp(-x)) overflows harmlessly to 0 for very negative x.
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-x))).astype(np.result_type(x), copy=False)


logistic_p = Primitive(
    "logistic", shape_rule=same_type, impl=_logistic_impl,
    jvp=(lambda x_dot, out, x: mul(mul(x_dot, out), sub(1.0, out)),),
    vjp=(lambda out_ct, out, x: mul(mul(out_ct, out), sub(1.0, out)),),
    numba="(1.0 / (1.0 + np.exp(-{0})))")
logistic = _unary(logistic_p)


def _quiet(fn, x):
    # log(0) = -inf and sqrt(-1) = nan are IEEE results, not errors.
    with np.errstate(divide="ignore", invalid="ignore"):
        return fn(x)


# ---- piecewise ----------------------------------------------------------------------------------

# abs at 0: derivative +1 (JAX selects x >= 0 -> g).
abs_p = Primitive(
    "abs", shape_rule=same_type, impl=np.abs,
    jvp=(lambda x_dot, out, x: select(ge(x, 0), x_dot, neg(x_dot)),),
    vjp=(lambda out_ct, out, x: select(ge(x, 0), out_ct, neg(out_ct)),),
    numba="abs({0})")


def abs(x):
    """|x|."""
    return abs_p.bind(as_value(x))


sign_p = Primitive(
    "sign", shape_rule=same_type, impl=np.sign,
    jvp=zero_rules(1), vjp=zero_rules(1),
    numba="np.sign({0})")


def sign(x):
    """-1, 0 or 1 (zero derivative)."""
    return sign_p.bind(as_value(x))


def _balanced_eq(x, z, y):
    # Where x and y tie at the extremum z, each gets half the derivative (JAX's convention).
    return select(eq(x, z), select(eq(y, z), 0.5, 1.0), 0.0)


maximum_p = Primitive(
    "maximum", shape_rule=equal_types, impl=np.maximum,
    jvp=(lambda x_dot, out, x, y: mul(x_dot, _balanced_eq(x, out, y)),
         lambda y_dot, out, x, y: mul(y_dot, _balanced_eq(y, out, x))),
    vjp=(lambda out_ct, out, x, y: mul(out_ct, _balanced_eq(x, out, y)),
         lambda out_ct, out, x, y: mul(out_ct, _balanced_eq(y, out, x))),
    numba="np.maximum({0}, {1})")


def maximum(x, y):
    """Elementwise maximum (NaN propagates; ties split the derivative)."""
    return maximum_p.bind(*elementwise_args(x, y))


minimum_p = Primitive(
    "minimum", shape_rule=equal_types, impl=np.minimum,
    jvp=(lambda x_dot, out, x, y: mul(x_dot, _balanced_eq(x, out, y)),
         lambda y_dot, out, x, y: mul(y_dot, _balanced_eq(y, out, x))),
    vjp=(lambda out_ct, out, x, y: mul(out_ct, _balanced_eq(x, out, y)),
         lambda out_ct, out, x, y: mul(out_ct, _balanced_eq(y, out, x))),
    numba="np.minimum({0}, {1})")


def minimum(x, y):
    """Elementwise minimum (NaN propagates; ties split the derivative)."""
    return minimum_p.bind(*elementwise_args(x, y))


# ---- comparisons: bool outputs, zero derivative ---------------------------------------------------

def _comparison(name, np_fn, symbol):
    prim = Primitive(name, shape_rule=compare_type, impl=np_fn,
                     jvp=zero_rules(2), vjp=zero_rules(2), numba="({0} " + symbol + " {1})")

    def op(x, y):
        return prim.bind(*elementwise_args(x, y))
    op.__name__ = name
    op.__doc__ = f"x {symbol} y, elementwise (a bool array; zero derivative)."
    return prim, op


eq_p, eq = _comparison("eq", np.equal, "==")
ne_p, ne = _comparison("ne", np.not_equal, "!=")
lt_p, lt = _comparison("lt", np.less, "<")
le_p, le = _comparison("le", np.less_equal, "<=")
gt_p, gt = _comparison("gt", np.greater, ">")
ge_p, ge = _comparison("ge", np.greater_equal, ">=")


# ---- select and casts ---------------------------------------------------------------------------

def _select_type(pred: ArrayType, on_true: ArrayType, on_false: ArrayType) -> ArrayType:
    if pred.dtype != np.bool_:
        raise TypeError(f"select needs a bool predicate, got {pred}")
    return equal_types(ArrayType(pred.shape, on_true.dtype), on_true, on_false)


# The unselected branch's cotangent is an explicit zero, so a NaN derivative there still gives
# 0 * nan = nan upstream, exactly as jax.grad of jnp.where does.
select_p = Primitive(
    "select", shape_rule=_select_type, impl=np.where,
    jvp=(None,
         lambda t_dot, out, pred, t, f: select(pred, t_dot, 0.0),
         lambda f_dot, out, pred, t, f: select(pred, 0.0, f_dot)),
    vjp=(None,
         lambda out_ct, out, pred, t, f: select(pred, out_ct, 0.0),
         lambda out_ct, out, pred, t, f: select(pred, 0.0, out_ct)),
    numba="({1} if {0} else {2})")


def select(pred, on_true, on_false):
    """`on_true` where `pred`, else `on_false` (numpy's where), with broadcasting."""
    dtype = result_dtype(on_true, on_false)
    shape = broadcast_shapes(typeof(pred).shape, typeof(on_true).shape, typeof(on_false).shape)
    pred = cast(pred, np.bool_)
    pred = pred if typeof(pred).shape == shape else broadcast_to(pred, shape)
    t, f = [cast(v, dtype) for v in (on_true, on_false)]
    t, f = [v if typeof(v).shape == shape else broadcast_to(v, shape) for v in (t, f)]
    return select_p.bind(pred, t, f)


def _convert_type(x: ArrayType, *, dtype) -> ArrayType:
    return ArrayType(x.shape, dtype)


def _convert_vjp(out_ct, out, x, *, dtype):
    # Only a float -> float cast carries a derivative; its cotangent casts back.
    return convert_element_type(out_ct, typeof(x).dtype) if is_float(typeof(x).dtype) else None


def _convert_jvp(x_dot, out, x, *, dtype):
    return convert_element_type(x_dot, dtype) if is_float(dtype) else None


convert_element_type_p = Primitive(
    "convert_element_type", shape_rule=_convert_type,
    impl=lambda x, *, dtype: np.asarray(x).astype(dtype),
    jvp=(_convert_jvp,), vjp=(_convert_vjp,),
    numba=lambda args, dtype: f"({args[0]} != 0)" if dtype == np.bool_ else f"np.{dtype.name}({args[0]})")


def convert_element_type(x, dtype):
    """`x` cast to `dtype` (float -> int truncates toward zero, as numpy's astype)."""
    dtype = canonical_dtype(dtype)
    x = as_value(x)
    if typeof(x).dtype == dtype:
        return x
    return convert_element_type_p.bind(x, dtype=dtype)


# Cross-module ops the rules above call; imported last because those modules import this one.
from fgrad.ops.shape import broadcast_to  # noqa: E402
