"""Elementwise primitives: one block each, with every rule and trait.

Elementwise primitives take inputs of equal shape and dtype. The ops below them (`add`, `sin`, ...)
promote dtypes as numpy does (Python scalars are weak) and insert explicit `broadcast_to`.
`elementwise_primitive` fills what the family shares (shape rule, batching, traits); a smooth function
declares its derivative as one expression per input and gets its JVP and VJP from it:

    sinh_p = elementwise_primitive("sinh", impl=np.sinh, numba="np.sinh({0})", expensive=True,
                                   derivative=(lambda out, x: cosh(x),))

`numba` is the scalar expression the fused loop evaluates, `{0}`, `{1}` standing for the inputs and
`{name}` for a param (or ((dtype kind, template), ...) chosen by the inputs' kind, or a callable
(args, **params) -> str). Conventions at kinks follow JAX (jax 0.10.2) and are written at each rule.
"""
from __future__ import annotations

import math

import numpy as np

from fgrad.ir import ArrayType, Literal, Primitive, broadcast_shapes, canonical_dtype, is_float
from fgrad.ops.base import (as_value, compare_type, equal_types, float_dtype, float_only, is_tracer,
                            result_dtype, same_type, typeof, zero_rules)
from fgrad.ops.core import (batched_args_to_front, broadcast_to, convert_element_type, convert_element_type_p)
from fgrad.ops.identities import (Rewrite, adds_nothing, is_minus_one, is_one, product_with_zero,
                                  same_type_or_none, subtracts_nothing)
from fgrad.ops.torch_numerics import torch_integer_pow


__all__ = ["elementwise_primitive", "cast", "elementwise_args", "float_arg", "neg_p", "neg", "add_p", "add",
           "sub_p", "sub", "mul_p", "mul", "div_p", "div", "rem_p", "rem", "pow_p", "pow", "integer_pow_p",
           "integer_pow",
           "square_p", "square", "reciprocal_p", "reciprocal", "rsqrt_p", "rsqrt", "exp_p", "exp", "exp2_p",
           "exp2", "log_p", "log", "log2_p", "log2", "log10_p", "log10", "log1p_p", "log1p", "expm1_p",
           "expm1", "sqrt_p", "sqrt", "sin_p", "sin", "cos_p", "cos", "tan_p", "tan", "arcsin_p", "arcsin",
           "arccos_p", "arccos", "arctan_p", "arctan", "arctan2_p", "arctan2", "sinh_p", "sinh", "erf_p", "erf", "erfc_p", "erfc", "cosh_p",
           "cosh", "tanh_p", "tanh", "arcsinh_p", "arcsinh", "arccosh_p", "arccosh", "arctanh_p", "arctanh",
           "logistic_p", "logistic", "hypot_p", "hypot", "abs_p", "abs", "sign_p", "sign", "maximum_p",
           "maximum", "minimum_p", "minimum", "eq_p", "eq", "ne_p", "ne", "lt_p", "lt", "le_p", "le", "gt_p",
           "gt", "ge_p", "ge", "select_p", "select"]

# ---- the family -------------------------------------------------------------------------------------

def elementwise_primitive(name, *, impl, numba, derivative=None, jvp=None, vjp=None, shape_rule=None,
                          arity=None, simplify=None, commutative=False, linear_in=(), expensive=False,
                          vector_math=None, impl_variants=None):
    """Declare an elementwise primitive: the family's shape rule, batching rule and traits filled in.

    `derivative[i](out, *primals, **params)` is the partial derivative in input i (None: declared zero), from
    which the JVP (x_dot * d) and VJP (out_ct * d) rules follow; or give `jvp` and `vjp` per input directly.
    """
    if derivative is not None:
        jvp = vjp = tuple(None if d is None else _scaled_by(d) for d in derivative)
    arity = arity or len(jvp)
    shape_rule = shape_rule or (same_type if arity == 1 else equal_types)
    prim = Primitive(name, kind="elementwise", shape_rule=shape_rule, impl=impl, impl_variants=impl_variants,
                     jvp=jvp, vjp=vjp, numba=numba, commutative=commutative, linear_in=linear_in,
                     expensive=expensive, vector_math=vector_math, simplify=simplify, copies_input=False,
                     distributes_over_add=False, keeps_order=False, aliases_input=False)
    prim.batch = _elementwise_batch(prim)
    return prim


def _scaled_by(derivative):
    def rule(t, out, *primals, **params):
        return mul(t, derivative(out, *primals, **params))
    return rule


def _elementwise_batch(prim):
    """Batch axes first, unbatched operands broadcast along it (one operand keeps its batch axis)."""
    def rule(args, dims, **params):
        if len(args) == 1:
            return prim.bind(args[0], **params), dims[0]
        return prim.bind(*batched_args_to_front(args, dims), **params), 0
    return rule


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


def _float_binary(prim):
    def op(x, y):
        dtype = float_dtype(result_dtype(x, y))
        return prim.bind(*elementwise_args(x, y, dtype=dtype))
    op.__name__ = prim.name
    op.__doc__ = f"Elementwise {prim.name} with numpy broadcasting (ints compute in float64). Binds {prim.name}_p."
    return op


def _quiet(fn):
    """`fn` with IEEE results (log(0) = -inf, sqrt(-1) = nan) instead of numpy's warnings."""
    def impl(*xs):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return fn(*xs)
    return impl


# ---- arithmetic ----------------------------------------------------------------------------------

def _neg_simplify(s, inputs, params, out_type):
    inner = s.producer_of(inputs[0], neg_p)
    return inner.inputs[0] if inner is not None else None


neg_p = elementwise_primitive(
    "neg", impl=np.negative, numba="(-{0})", linear_in=(0,), simplify=_neg_simplify,
    jvp=(lambda x_dot, out, x: neg(x_dot),), vjp=(lambda out_ct, out, x: neg(out_ct),))


def neg(x):
    """-x."""
    return neg_p.bind(as_value(x))


def _add_simplify(s, inputs, params, out_type):
    x, y = inputs
    if adds_nothing(s.fill(y)):
        return same_type_or_none(x, out_type)
    if adds_nothing(s.fill(x)):
        return same_type_or_none(y, out_type)
    merged = s.merge_linear_maps(add_p, x, y)
    if merged is not None:
        return merged
    # x + (-y) is how IEEE defines x - y.
    negated = s.producer_of(y, neg_p)
    if negated is not None:
        return Rewrite(sub_p, (x, negated.inputs[0]))
    negated = s.producer_of(x, neg_p)
    if negated is not None:
        return Rewrite(sub_p, (y, negated.inputs[0]))
    return None


add_p = elementwise_primitive(
    "add", impl=np.add, numba="({0} + {1})", commutative=True, linear_in=(0, 1), simplify=_add_simplify,
    jvp=(lambda x_dot, out, x, y: x_dot, lambda y_dot, out, x, y: y_dot),
    vjp=(lambda out_ct, out, x, y: out_ct, lambda out_ct, out, x, y: out_ct))


def add(x, y):
    """x + y, with numpy broadcasting and promotion."""
    return add_p.bind(*elementwise_args(x, y))


def _sub_simplify(s, inputs, params, out_type):
    x, y = inputs
    if subtracts_nothing(s.fill(y)):
        return same_type_or_none(x, out_type)
    # -0.0 - y is -y for every y (0.0 - y is not: 0.0 - 0.0 is +0.0).
    if adds_nothing(s.fill(x)) and x.type.dtype != np.bool_:
        return Rewrite(neg_p, (y,))
    negated = s.producer_of(y, neg_p)
    if negated is not None:
        return Rewrite(add_p, (x, negated.inputs[0]))
    return s.merge_linear_maps(sub_p, x, y)


sub_p = elementwise_primitive(
    "sub", impl=np.subtract, numba="({0} - {1})", linear_in=(0, 1), simplify=_sub_simplify,
    jvp=(lambda x_dot, out, x, y: x_dot, lambda y_dot, out, x, y: neg(y_dot)),
    vjp=(lambda out_ct, out, x, y: out_ct, lambda out_ct, out, x, y: neg(out_ct)))


def sub(x, y):
    """x - y."""
    return sub_p.bind(*elementwise_args(x, y))


def _mul_simplify(s, inputs, params, out_type):
    x, y = inputs
    for a, b in ((x, y), (y, x)):
        fill = s.fill(b)
        if is_one(fill):
            return same_type_or_none(a, out_type)
        if is_minus_one(fill):
            return Rewrite(neg_p, (a,))
        if fill is not None and fill == 0:
            zero = product_with_zero(a, fill)
            if zero is not None:
                return s.uniform(zero, out_type)
    # Rounding is symmetric in sign, so (-a) * (-b) is a * b.
    neg_x, neg_y = s.producer_of(x, neg_p), s.producer_of(y, neg_p)
    if neg_x is not None and neg_y is not None:
        return Rewrite(mul_p, (neg_x.inputs[0], neg_y.inputs[0]))
    return None


# mul is bilinear: linear in each input alone, not in both jointly.
mul_p = elementwise_primitive(
    "mul", impl=np.multiply, numba="({0} * {1})", commutative=True, simplify=_mul_simplify,
    jvp=(lambda x_dot, out, x, y: mul(x_dot, y), lambda y_dot, out, x, y: mul(x, y_dot)),
    vjp=(lambda out_ct, out, x, y: mul(out_ct, y), lambda out_ct, out, x, y: mul(x, out_ct)))


def mul(x, y):
    """x * y."""
    return mul_p.bind(*elementwise_args(x, y))


def _div_impl(x, y):
    # Integer division by zero gives 0 with a warning in numpy; floats give inf/nan as IEEE says.
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(x, y) if is_float(np.result_type(x)) else np.floor_divide(x, y)


def _div_simplify(s, inputs, params, out_type):
    x, y = inputs
    fill = s.fill(y)
    if is_one(fill):
        return same_type_or_none(x, out_type)
    if is_minus_one(fill):
        return Rewrite(neg_p, (x,))
    return None


# The y rule is -ct * (out / y), not JAX's -ct * x / y**2: y**2 cannot overflow or underflow, so d(x/x)/dx is
# exactly 0 (JAX: nan below |x| ~ 1e-154, 1e-300 at 1e300) and d(x/y)/dx is ct / y, finite wherever 1/y is.
# Where fgrad and JAX differ at such edges, JAX's is the rounding artefact (tests/test_special_values.py).
div_p = elementwise_primitive(
    "div", impl=_div_impl, numba=(("f", "({0} / {1})"), ("i", "({0} // {1})")),   # ints floor-divide, as the impl
    linear_in=(0,), simplify=_div_simplify,
    jvp=(lambda x_dot, out, x, y: div(x_dot, y), lambda y_dot, out, x, y: neg(mul(y_dot, div(out, y)))),
    vjp=(lambda out_ct, out, x, y: div(out_ct, y), lambda out_ct, out, x, y: neg(mul(out_ct, div(out, y)))))


def div(x, y):
    """x / y (true division: ints compute in float64, as numpy's `/`)."""
    dtype = float_dtype(result_dtype(x, y))
    return div_p.bind(*elementwise_args(x, y, dtype=dtype))


# rem: C's fmod, x - trunc(x / y) * y computed exactly, with the sign of x (nan where y == 0 or x is infinite),
# as JAX's lax.rem. numpy's float remainder and floor_divide are built on it with numpy's sign fix-ups (fgrad.numpy).
# d/dx = 1. d/dy = -(x - out) / y, the truncated quotient as numpy's divmod computes it: nearly integral, and
# right where JAX's -trunc(x / y) is off by one because x / y rounds onto an integer (1.0 / 0.1 is 10.0, the
# quotient 9); where out is nan (y == 0, or x infinite) it is x / y (±inf, or nan), as JAX's and PyTorch's
# rules give. Floats only: integer remainders are exact in fgrad.numpy through div's floor division.
def _rem_quotient(out, x, y):
    undefined = ne(out, out)
    return select(undefined, div(x, select(undefined, y, 1.0)), div(sub(x, out), y))


rem_p = elementwise_primitive(
    "rem", shape_rule=float_only(equal_types), impl=_quiet(np.fmod), numba="np.fmod({0}, {1})", expensive=True,
    jvp=(lambda x_dot, out, x, y: x_dot, lambda y_dot, out, x, y: neg(mul(y_dot, _rem_quotient(out, x, y)))),
    vjp=(lambda out_ct, out, x, y: out_ct, lambda out_ct, out, x, y: neg(mul(out_ct, _rem_quotient(out, x, y)))))
rem = _float_binary(rem_p)
rem.__doc__ = ("fmod(x, y): the remainder of x / y truncated toward zero, with the sign of x (ints compute in "
               "float64). Binds rem_p.")


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
    # C's pow, as the Numba kernel computes it, wherever numpy's own choice allows. numpy's power loop swaps pow
    # for sqrt when the exponent is one scalar 0.5 (a 0-d or broadcast exponent: stride 0), which differs at
    # -inf (nan, not inf), at -0.0 (-0.0, not 0.0) and in float32's last bit; so such an exponent is made a
    # real array first. Any other broadcast exponent stays as it is: numpy squares for a scalar 2.0 (exactly
    # C's pow(x, 2)), where a real array would take its SIMD power loop (SVML on AVX-512, not correctly
    # rounded: 0.1 ** 2.0 gave 0x1.47ae147ae147bp-7, C's is ...7cp-7). Two 0-d operands use numpy's scalar
    # maths, which is C's pow. (fgrad.numpy's power takes numpy's `x ** 0.5` answer by binding sqrt for a
    # scalar exponent 0.5.)
    x, y = np.asarray(x), np.asarray(y)
    shape = np.broadcast_shapes(x.shape, y.shape)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if not shape:
            return np.asarray(x[()] ** y[()])
        if (y.shape != shape or 0 in y.strides) and (y == 0.5).any():
            y = np.array(np.broadcast_to(y, shape))
        return np.power(x, y)


def _pow_simplify(s, inputs, params, out_type):
    # x ** 1 is x, NaN included.
    return same_type_or_none(inputs[0], out_type) if is_one(s.fill(inputs[1])) else None


pow_p = elementwise_primitive(
    "pow", impl=_pow_impl, numba="({0} ** {1})", expensive=True, simplify=_pow_simplify,
    jvp=(_pow_jvp_x, _pow_jvp_y),
    vjp=(lambda out_ct, out, x, y: _pow_jvp_x(out_ct, out, x, y),
         lambda out_ct, out, x, y: _pow_jvp_y(out_ct, out, x, y)))


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


def _integer_pow_simplify(s, inputs, params, out_type):
    return same_type_or_none(inputs[0], out_type) if params["y"] == 1 else None


integer_pow_p = elementwise_primitive(
    "integer_pow", shape_rule=_integer_pow_type, impl=_integer_pow_impl, simplify=_integer_pow_simplify,
    numba=(("f", lambda args, y: _integer_pow_source(args[0], y, float(y))),
           ("i", lambda args, y: _integer_pow_source(args[0], y, y)),    # exact (wrapping) as numpy's
           ("b", lambda args, y: _integer_pow_source(args[0], y, y))),
    impl_variants={"torch": torch_integer_pow},  # PyTorch's products for small exponents (ops/torch_numerics.py)
    jvp=(_integer_pow_jvp,), vjp=(lambda out_ct, out, x, *, y: _integer_pow_jvp(out_ct, out, x, y=y),))


def integer_pow(x, *, y: int):
    """x ** y for a static Python int y."""
    return integer_pow_p.bind(as_value(x), y=int(y))


square_p = elementwise_primitive(
    "square", impl=np.square, numba="({0} * {0})",
    derivative=(lambda out, x: mul(x, 2.0),))


def square(x):
    """x * x, elementwise; ints stay ints, as numpy.square.

    >>> square(np.array([3.0, -2.0]))
    array([9., 4.])
    """
    return square_p.bind(as_value(x))


reciprocal_p = elementwise_primitive(
    "reciprocal", impl=_quiet(lambda x: np.divide(np.ones((), x.dtype), x)), numba="(1.0 / {0})",
    derivative=(lambda out, x: neg(mul(out, out)),))
reciprocal = _unary(reciprocal_p)

# rsqrt at 0 is inf, its derivative -inf; at a negative x both are nan.
rsqrt_p = elementwise_primitive(
    "rsqrt", impl=_quiet(lambda x: np.divide(np.ones((), x.dtype), np.sqrt(x))), numba="(1.0 / np.sqrt({0}))",
    expensive=True, derivative=(lambda out, x: mul(div(out, x), -0.5),))
rsqrt = _unary(rsqrt_p)


# ---- transcendental -----------------------------------------------------------------------------

exp_p = elementwise_primitive(
    "exp", impl=_quiet(np.exp), numba="np.exp({0})", expensive=True, vector_math="vexp",
    derivative=(lambda out, x: out,))
exp = _unary(exp_p)

exp2_p = elementwise_primitive(
    "exp2", impl=_quiet(np.exp2), numba="np.exp2({0})", expensive=True,
    derivative=(lambda out, x: mul(out, math.log(2.0)),))
exp2 = _unary(exp2_p)

log_p = elementwise_primitive(
    "log", impl=_quiet(np.log), numba="np.log({0})", expensive=True, vector_math="vlog",
    jvp=(lambda x_dot, out, x: div(x_dot, x),), vjp=(lambda out_ct, out, x: div(out_ct, x),))
log = _unary(log_p)

log2_p = elementwise_primitive(
    "log2", impl=_quiet(np.log2), numba="np.log2({0})", expensive=True,
    jvp=(lambda x_dot, out, x: div(x_dot, mul(x, math.log(2.0))),),
    vjp=(lambda out_ct, out, x: div(out_ct, mul(x, math.log(2.0))),))
log2 = _unary(log2_p)

log10_p = elementwise_primitive(
    "log10", impl=_quiet(np.log10), numba="np.log10({0})", expensive=True,
    jvp=(lambda x_dot, out, x: div(x_dot, mul(x, math.log(10.0))),),
    vjp=(lambda out_ct, out, x: div(out_ct, mul(x, math.log(10.0))),))
log10 = _unary(log10_p)

log1p_p = elementwise_primitive(
    "log1p", impl=_quiet(np.log1p), numba="np.log1p({0})", expensive=True, vector_math="vlog1p",
    jvp=(lambda x_dot, out, x: div(x_dot, add(x, 1.0)),), vjp=(lambda out_ct, out, x: div(out_ct, add(x, 1.0)),))
log1p = _unary(log1p_p)

expm1_p = elementwise_primitive(
    "expm1", impl=_quiet(np.expm1), numba="np.expm1({0})", expensive=True, vector_math="vexpm1",
    derivative=(lambda out, x: add(out, 1.0),))
expm1 = _unary(expm1_p)

# sqrt at 0: the derivative is inf (0.5 / 0), as jax.grad(jnp.sqrt)(0.0).
sqrt_p = elementwise_primitive(
    "sqrt", impl=_quiet(np.sqrt), numba="np.sqrt({0})", expensive=True,
    jvp=(lambda x_dot, out, x: div(x_dot, mul(out, 2.0)),), vjp=(lambda out_ct, out, x: div(out_ct, mul(out, 2.0)),))
sqrt = _unary(sqrt_p)

sin_p = elementwise_primitive(
    "sin", impl=np.sin, numba="np.sin({0})", expensive=True, vector_math="vsin",
    derivative=(lambda out, x: cos(x),))
sin = _unary(sin_p)

cos_p = elementwise_primitive(
    "cos", impl=np.cos, numba="np.cos({0})", expensive=True, vector_math="vcos",
    jvp=(lambda x_dot, out, x: neg(mul(x_dot, sin(x))),), vjp=(lambda out_ct, out, x: neg(mul(out_ct, sin(x))),))
cos = _unary(cos_p)

tan_p = elementwise_primitive(
    "tan", impl=np.tan, numba="np.tan({0})", expensive=True,
    derivative=(lambda out, x: add(mul(out, out), 1.0),))
tan = _unary(tan_p)

# The inverse functions' derivatives are JAX's expressions (rsqrt of 1 - x*x, ...): at the ends of the domain
# they are inf, outside it nan.
arcsin_p = elementwise_primitive(
    "arcsin", impl=_quiet(np.arcsin), numba="np.arcsin({0})", expensive=True,
    derivative=(lambda out, x: rsqrt(sub(1.0, mul(x, x))),))
arcsin = _unary(arcsin_p)

arccos_p = elementwise_primitive(
    "arccos", impl=_quiet(np.arccos), numba="np.arccos({0})", expensive=True,
    derivative=(lambda out, x: neg(rsqrt(sub(1.0, mul(x, x)))),))
arccos = _unary(arccos_p)

arctan_p = elementwise_primitive(
    "arctan", impl=np.arctan, numba="np.arctan({0})", expensive=True,
    jvp=(lambda x_dot, out, x: div(x_dot, add(mul(x, x), 1.0)),),
    vjp=(lambda out_ct, out, x: div(out_ct, add(mul(x, x), 1.0)),))
arctan = _unary(arctan_p)


def _arctan2_partial(numerator):
    # d/dy atan2(y, x) = x / (x^2 + y^2), d/dx = -y / (x^2 + y^2); at (0, 0) both are nan, as JAX's.
    def partial(out, y, x):
        return div(numerator(y, x), add(mul(x, x), mul(y, y)))
    return partial


arctan2_p = elementwise_primitive(
    "arctan2", impl=np.arctan2, numba="np.arctan2({0}, {1})", expensive=True,
    derivative=(_arctan2_partial(lambda y, x: x), _arctan2_partial(lambda y, x: neg(y))))
arctan2 = _float_binary(arctan2_p)

sinh_p = elementwise_primitive(
    "sinh", impl=_quiet(np.sinh), numba="np.sinh({0})", expensive=True,
    derivative=(lambda out, x: cosh(x),))
sinh = _unary(sinh_p)

def _erf_impl(x):
    from scipy.special import erf       # scipy's vectorised erf keeps float32 as float32
    return erf(x)


# d erf(x) / dx = 2 / sqrt(pi) * exp(-x^2).
erf_p = elementwise_primitive(
    "erf", impl=_erf_impl, numba="math.erf({0})", expensive=True,
    derivative=(lambda out, x: mul(exp(neg(mul(x, x))), 2.0 / math.sqrt(math.pi)),))
erf = _unary(erf_p)


def _erfc_impl(x):
    from scipy.special import erfc      # keeps float32 as float32; 1 - erf(x) would lose the tail for x > 3
    return erfc(x)


# d erfc(x) / dx = -2 / sqrt(pi) * exp(-x^2).
erfc_p = elementwise_primitive(
    "erfc", impl=_erfc_impl, numba="math.erfc({0})", expensive=True,
    derivative=(lambda out, x: mul(exp(neg(mul(x, x))), -2.0 / math.sqrt(math.pi)),))
erfc = _unary(erfc_p)

cosh_p = elementwise_primitive(
    "cosh", impl=_quiet(np.cosh), numba="np.cosh({0})", expensive=True,
    derivative=(lambda out, x: sinh(x),))
cosh = _unary(cosh_p)

# (g + g*out) * (1 - out) is JAX's form of g * (1 - out**2); it keeps results bit-equal to JAX's.
tanh_p = elementwise_primitive(
    "tanh", impl=np.tanh, numba="np.tanh({0})", expensive=True, vector_math="vtanh",
    jvp=(lambda x_dot, out, x: mul(add(x_dot, mul(x_dot, out)), sub(1.0, out)),),
    vjp=(lambda out_ct, out, x: mul(add(out_ct, mul(out_ct, out)), sub(1.0, out)),))
tanh = _unary(tanh_p)

arcsinh_p = elementwise_primitive(
    "arcsinh", impl=np.arcsinh, numba="np.arcsinh({0})", expensive=True,
    derivative=(lambda out, x: rsqrt(add(mul(x, x), 1.0)),))
arcsinh = _unary(arcsinh_p)

arccosh_p = elementwise_primitive(
    "arccosh", impl=_quiet(np.arccosh), numba="np.arccosh({0})", expensive=True,
    derivative=(lambda out, x: rsqrt(mul(sub(x, 1.0), add(x, 1.0))),))
arccosh = _unary(arccosh_p)

arctanh_p = elementwise_primitive(
    "arctanh", impl=_quiet(np.arctanh), numba="np.arctanh({0})", expensive=True,
    jvp=(lambda x_dot, out, x: div(x_dot, sub(1.0, mul(x, x))),),
    vjp=(lambda out_ct, out, x: div(out_ct, sub(1.0, mul(x, x))),))
arctanh = _unary(arctanh_p)


def _logistic_impl(x):
    # 1 / (1 + exp(-x)) overflows harmlessly to 0 for very negative x.
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-x))).astype(np.result_type(x), copy=False)


logistic_p = elementwise_primitive(
    "logistic", impl=_logistic_impl, numba="(1.0 / (1.0 + np.exp(-{0})))", expensive=True,
    vector_math="vlogistic",
    jvp=(lambda x_dot, out, x: mul(mul(x_dot, out), sub(1.0, out)),),
    vjp=(lambda out_ct, out, x: mul(mul(out_ct, out), sub(1.0, out)),))
logistic = _unary(logistic_p)

# hypot's derivative x / out at (0, 0) is 0 / 0 = nan, as jax.grad of jnp.hypot there.
hypot_p = elementwise_primitive(
    "hypot", impl=np.hypot, numba="np.hypot({0}, {1})", expensive=True, commutative=True,
    derivative=(lambda out, x, y: div(x, out), lambda out, x, y: div(y, out)))
hypot = _float_binary(hypot_p)


# ---- piecewise ----------------------------------------------------------------------------------

# abs at 0: derivative +1 (JAX selects x >= 0 -> g).
abs_p = elementwise_primitive(
    "abs", impl=np.abs, numba="abs({0})",
    jvp=(lambda x_dot, out, x: select(ge(x, 0), x_dot, neg(x_dot)),),
    vjp=(lambda out_ct, out, x: select(ge(x, 0), out_ct, neg(out_ct)),))


def abs(x):
    """|x|."""
    return abs_p.bind(as_value(x))


sign_p = elementwise_primitive(
    "sign", impl=np.sign, numba="np.sign({0})", jvp=zero_rules(1), vjp=zero_rules(1))


def sign(x):
    """-1, 0 or 1 (zero derivative)."""
    return sign_p.bind(as_value(x))


def _balanced_eq(x, z, y):
    # Where x and y tie at the extremum z, each gets half the derivative (JAX's convention).
    return select(eq(x, z), select(eq(y, z), 0.5, 1.0), 0.0)


def _extremum_rules():
    jvp = (lambda x_dot, out, x, y: mul(x_dot, _balanced_eq(x, out, y)),
           lambda y_dot, out, x, y: mul(y_dot, _balanced_eq(y, out, x)))
    vjp = (lambda out_ct, out, x, y: mul(out_ct, _balanced_eq(x, out, y)),
           lambda out_ct, out, x, y: mul(out_ct, _balanced_eq(y, out, x)))
    return dict(jvp=jvp, vjp=vjp)


# Not commutative: numpy's maximum(-0.0, 0.0) and maximum(0.0, -0.0) differ in the sign of the zero.
maximum_p = elementwise_primitive("maximum", impl=np.maximum, numba="np.maximum({0}, {1})", **_extremum_rules())


def maximum(x, y):
    """Elementwise maximum (NaN propagates; ties split the derivative)."""
    return maximum_p.bind(*elementwise_args(x, y))


minimum_p = elementwise_primitive("minimum", impl=np.minimum, numba="np.minimum({0}, {1})", **_extremum_rules())


def minimum(x, y):
    """Elementwise minimum (NaN propagates; ties split the derivative)."""
    return minimum_p.bind(*elementwise_args(x, y))


# ---- comparisons: bool outputs, zero derivative ---------------------------------------------------

def _comparison(name, np_fn, symbol, commutative=False):
    prim = elementwise_primitive(name, shape_rule=compare_type, impl=np_fn, numba="({0} " + symbol + " {1})",
                                 jvp=zero_rules(2), vjp=zero_rules(2), commutative=commutative)

    def op(x, y):
        return prim.bind(*elementwise_args(x, y))
    op.__name__ = name
    op.__doc__ = f"x {symbol} y, elementwise (a bool array; zero derivative)."
    return prim, op


eq_p, eq = _comparison("eq", np.equal, "==", commutative=True)
ne_p, ne = _comparison("ne", np.not_equal, "!=", commutative=True)
lt_p, lt = _comparison("lt", np.less, "<")
le_p, le = _comparison("le", np.less_equal, "<=")
gt_p, gt = _comparison("gt", np.greater, ">")
ge_p, ge = _comparison("ge", np.greater_equal, ">=")


# ---- select ---------------------------------------------------------------------------------------

def _select_type(pred: ArrayType, on_true: ArrayType, on_false: ArrayType) -> ArrayType:
    if pred.dtype != np.bool_:
        raise TypeError(f"select needs a bool predicate, got {pred}")
    return equal_types(ArrayType(pred.shape, on_true.dtype), on_true, on_false)


def _select_simplify(s, inputs, params, out_type):
    pred, on_true, on_false = inputs
    fill = s.fill(pred)
    if fill is not None:
        return same_type_or_none(on_true if fill else on_false, out_type)
    if on_true is on_false or (type(on_true) is Literal and on_true == on_false):
        return same_type_or_none(on_true, out_type)
    return None


_BRANCHLESS_FROM = 4096      # elements; below it np.where's own speed is as good and has less overhead
_SAME_SIZE_INT = {1: np.uint8, 2: np.int16, 4: np.int32, 8: np.int64}


def _select_impl(pred, on_true, on_false):
    """np.where(pred, on_true, on_false), without branches for large arrays of one fixed-size dtype.

    numpy's where branches per element: on a random mask (relu's, max pooling's) it runs ~7x slower than an
    add (measured, numpy 2.4 on 800k float32: 3.7 ms vs 0.6 ms here). The same bits come from integer
    views: on_false ^ ((on_true ^ on_false) & mask), the mask all ones where pred; exact for every value,
    NaN payloads and -0.0 included.

    >>> _select_impl(np.arange(5000) % 2 == 0, np.ones(5000), np.zeros(5000))[:3]
    array([1., 0., 1.])
    """
    t, f = np.asarray(on_true), np.asarray(on_false)
    dtype = t.dtype
    pred = np.asarray(pred)
    if (pred.size < _BRANCHLESS_FROM or f.dtype != dtype or dtype.kind not in "fiub"
            or dtype.itemsize not in _SAME_SIZE_INT):
        return np.where(pred, t, f)
    bits = _SAME_SIZE_INT[dtype.itemsize]
    t_bits, f_bits = t.view(bits), f.view(bits)
    shape = np.broadcast_shapes(pred.shape, t.shape, f.shape)
    if t.ndim == 0 and t_bits == 0 and pred.shape == shape:
        # select(pred, 0, x), every cotangent of a select or relu: x & (pred - 1), two passes.
        out = np.subtract(pred.view(np.uint8), 1, dtype=bits)
        np.bitwise_and(out, f_bits, out=out)
        return out.view(dtype)
    if f.ndim == 0 and f_bits == 0 and pred.shape == shape:
        out = np.negative(pred.view(np.uint8), dtype=bits)
        np.bitwise_and(out, t_bits, out=out)
        return out.view(dtype)
    mask = np.negative(pred.view(np.uint8), dtype=bits)     # 0 or -1 (all bits set)
    out = np.bitwise_xor(t_bits, f_bits)
    if out.shape == shape:
        np.bitwise_and(out, mask, out=out)
    else:                                       # pred broadcasts over the values (numpy's own broadcasting)
        out = np.bitwise_and(out, mask)
    np.bitwise_xor(out, f_bits, out=out)
    return out.view(dtype)


# The unselected branch's cotangent is an explicit zero, so a NaN derivative there still gives
# 0 * nan = nan upstream, exactly as jax.grad of jnp.where does.
select_p = elementwise_primitive(
    "select", shape_rule=_select_type, impl=_select_impl, numba="({1} if {0} else {2})",
    linear_in=(1, 2), simplify=_select_simplify,
    jvp=(None,
         lambda t_dot, out, pred, t, f: select(pred, t_dot, 0.0),
         lambda f_dot, out, pred, t, f: select(pred, 0.0, f_dot)),
    vjp=(None,
         lambda out_ct, out, pred, t, f: select(pred, out_ct, 0.0),
         lambda out_ct, out, pred, t, f: select(pred, 0.0, out_ct)))


def select(pred, on_true, on_false):
    """`on_true` where `pred`, else `on_false` (numpy's where), with broadcasting."""
    dtype = result_dtype(on_true, on_false)
    shape = broadcast_shapes(typeof(pred).shape, typeof(on_true).shape, typeof(on_false).shape)
    pred = cast(pred, np.bool_)
    pred = pred if typeof(pred).shape == shape else broadcast_to(pred, shape)
    t, f = [cast(v, dtype) for v in (on_true, on_false)]
    t, f = [v if typeof(v).shape == shape else broadcast_to(v, shape) for v in (t, f)]
    return select_p.bind(pred, t, f)
