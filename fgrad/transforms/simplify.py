"""Simplification: `simplify(program)` is an equal Program with fewer, cheaper equations.

One forward interpreter loop rewrites each equation on its already-simplified inputs (constant
folding, algebraic identities, common-subexpression elimination), then one backward liveness sweep
drops dead code. Every rewrite keeps IEEE semantics bit for bit (signed zeros, inf and NaN included),
so a simplified program computes the same values as the original. Both loops are linear: lookups are
dicts keyed by Var and by (primitive, input atoms, params).

Uniform arrays (every element the same) are tracked as *fills*: a scalar Literal, an array Literal
whose elements are all equal, or a Var the pass knows to be constant. They are written back in one
canonical form, `broadcast_to[shape=...] c` of a scalar literal (a plain scalar literal for shape ()),
which is how zeros and ones appear in derivative programs.

Rewrites left out on purpose, because they change bits for some input:
  x + 0.0 -> x            -0.0 + 0.0 is +0.0 (x + (-0.0) -> x and x - 0.0 -> x are done)
  x * 0 -> 0              inf * 0 and nan * 0 are nan; done only for integers and finite Literals
  sum(broadcast(x)) -> x * n    the sum rounds n times (done for constants when every partial sum is exact)
  sum over size-1 axes -> reshape    numpy starts sums from +0.0, so a sum of one -0.0 is +0.0
  0.01 * (2 * x) -> 0.02 * x         2 * x can overflow; reassociation is never exact in general
  maximum(a, b) == maximum(b, a)     not for signed zeros
"""
from __future__ import annotations

import numpy as np

from fgrad.ir import Equation, Literal, Params, Program, Var, is_float
from fgrad.ops.elementwise import add_p, mul_p, neg_p, sub_p
from fgrad.ops.shape import broadcast_to_p, reshape_p, transpose_p

# Folded constants larger than this stay equations, so programs do not embed large arrays.
MAX_FOLDED_SIZE = 64

# A rewrite that produced a new equation may enable another; no rule chain is longer than this.
MAX_REWRITES = 8

# A rule that simplifies a new inner equation (merge_linear_maps) nests at most this deep, so the pass
# never recurses with the size of the program.
MAX_NESTING = 16

# Primitives that apply one scalar function per element: on uniform inputs the result is uniform,
# computed once by `impl` on the scalars (numpy's loops give the same bits for one element as for many).
ELEMENTWISE = frozenset({
    "neg", "add", "sub", "mul", "div", "pow", "integer_pow", "exp", "log", "log1p", "expm1", "sqrt",
    "sin", "cos", "tan", "tanh", "logistic", "abs", "sign", "maximum", "minimum",
    "eq", "ne", "lt", "le", "gt", "ge", "select", "convert_element_type",
})

# Primitives whose output elements are copies of elements of their first input: a uniform input gives
# a uniform output of the same value. (stop_gradient of a constant is the constant: its derivative is
# zero either way.)
COPIES_FIRST_INPUT = frozenset({
    "broadcast_to", "reshape", "transpose", "expand_dims", "squeeze", "slice", "gather", "stop_gradient",
})

# Primitives that only change the shape of their input, row-major order kept: a chain of them is one reshape.
RESHAPES = frozenset({"reshape", "expand_dims", "squeeze"})

# Primitives linear in their first input, copying or rearranging its elements (pad adds constant ones):
# add(L(a), L(b)) is L(add(a, b)) bit for bit when the rest of L (params, indices) is the same.
DISTRIBUTES_OVER_ADD = frozenset({
    "broadcast_to", "reshape", "transpose", "expand_dims", "squeeze", "slice", "pad", "gather",
})

# Operand order does not change the bits of the result, so `mul b a` reuses `mul a b`. Not maximum or
# minimum: numpy's maximum(-0.0, 0.0) and maximum(0.0, -0.0) differ in the sign of the zero.
COMMUTATIVE = frozenset({"add", "mul", "eq", "ne"})

MANTISSA_BITS = {np.dtype("float32"): 24, np.dtype("float64"): 53}


def simplify(program: Program) -> Program:
    """An equivalent Program after DCE, CSE, constant folding and IEEE-exact algebraic identities.

    Idempotent; linear in the number of equations; Vars of unchanged equations are reused.

    >>> import fgrad, fgrad.numpy as fnp
    >>> p = fgrad.make_ir(lambda x: fnp.sin(x) * 1.0 + fnp.sin(x))(fnp.ones(3))
    >>> print(simplify(p))
    program(a:f64[3]) {
      b:f64[3] = sin a
      c:f64[3] = add b b
      return c
    }
    """
    pass_ = _Simplifier()
    outputs = pass_.run(program)
    equations = live_equations(pass_.equations, outputs)
    return Program(program.inputs, tuple(equations), tuple(outputs))


def live_equations(equations, outputs) -> list:
    """The equations some output depends on (one backward liveness sweep), in their order."""
    live = {v for v in outputs if type(v) is Var}
    kept = []
    for eqn in reversed(equations):
        if any(v in live for v in eqn.outputs):
            kept.append(eqn)
            live.update(a for a in eqn.inputs if type(a) is Var)
    kept.reverse()
    return kept


class _Rewrite:
    """A rule's answer "compute this equation instead"; it is simplified again before it is recorded."""
    __slots__ = ("prim", "inputs", "params")

    def __init__(self, prim, inputs, params):
        self.prim, self.inputs, self.params = prim, tuple(inputs), Params(params)


class _Simplifier:
    def __init__(self):
        self.env = {}            # Var of the input program -> its atom in the output program
        self.producer = {}       # Var of the output program -> the Equation that assigns it
        self.fills = {}          # Var of the output program -> its fill value (a 0-d array) if uniform
        self.literal_fills = {}  # id(Literal) -> (Literal, fill value or None), computed once per literal
        self.cse = {}            # (prim, inputs, params) -> output atoms
        self.equations = []
        self.uses = {}           # Var of the input program -> how many times it is read there
        self.nesting = 0         # how deep rules are simplifying inner equations

    def run(self, program: Program) -> list:
        for eqn in program.equations:
            for a in eqn.inputs:
                if type(a) is Var:
                    self.uses[a] = self.uses.get(a, 0) + 1
        for v in program.outputs:
            if type(v) is Var:
                self.uses[v] = self.uses.get(v, 0) + 1
        for eqn in program.equations:
            inputs = tuple([self.read(a) for a in eqn.inputs])
            if eqn.prim.multiple_results:
                outs = self.record(eqn.prim, inputs, eqn.params, eqn.outputs, eqn)
            else:
                outs = (self.simplify_equation(eqn, inputs),)
            self.env.update(zip(eqn.outputs, outs))
        return [self.read(v) for v in program.outputs]

    def read(self, atom):
        return atom if type(atom) is Literal else self.env.get(atom, atom)

    def fill(self, atom):
        """The value of every element of `atom` if they are all equal (bit for bit), else None."""
        if type(atom) is Var:
            return self.fills.get(atom)
        hit = self.literal_fills.get(id(atom))
        if hit is None:
            hit = self.literal_fills[id(atom)] = (atom, uniform_value(atom.value))
        return hit[1]

    def simplify_equation(self, eqn, inputs):
        """The atom that replaces `eqn`'s output: an existing one, a constant, or a recorded equation."""
        return self.simplify_new(eqn.prim, inputs, eqn.params, eqn.outputs[0].type, eqn)

    def simplify_new(self, prim, inputs, params, out_type, original=None):
        """The atom for `prim(*inputs, **params)` after every rule; `original` is the equation it replaces."""
        outputs = original.outputs if original is not None else (Var(out_type),)
        for _ in range(MAX_REWRITES):
            answer = self.fold(prim, inputs, params, out_type)
            if answer is None:
                rule = RULES.get(prim.name)
                answer = rule(self, inputs, params, out_type) if rule else None
            if answer is None:
                break
            if type(answer) is not _Rewrite:
                return answer
            prim, inputs, params = answer.prim, answer.inputs, answer.params
        return self.record(prim, inputs, params, outputs, original)[0]

    def record(self, prim, inputs, params, outputs, original=None) -> tuple:
        """Reuse an equal earlier equation's outputs, or append this equation (the original if unchanged)."""
        key = cse_key(prim, inputs, params)
        hit = self.cse.get(key)
        if hit is None and prim.name in COMMUTATIVE:
            hit = self.cse.get(cse_key(prim, inputs[::-1], params))
        if hit is not None:
            return hit
        same = (original is not None and prim is original.prim and params == original.params
                and all(a is b for a, b in zip(inputs, original.inputs)))
        eqn = original if same else Equation(prim, inputs, Params(params), tuple(outputs))
        self.equations.append(eqn)
        for v in eqn.outputs:
            self.producer[v] = eqn
        if prim is broadcast_to_p and type(inputs[0]) is Literal and inputs[0].value.ndim == 0:
            self.fills[eqn.outputs[0]] = inputs[0].value
        if key is not None:
            self.cse[key] = eqn.outputs
        return eqn.outputs

    def uniform(self, value, out_type):
        """The canonical atom for an array of `out_type` whose elements all equal the 0-d `value`."""
        literal = Literal(np.asarray(value, dtype=out_type.dtype))
        if out_type.shape == ():
            return literal
        return self.record(broadcast_to_p, (literal,), Params(shape=out_type.shape), (Var(out_type),))[0]

    def fold(self, prim, inputs, params, out_type):
        """A constant for the output when the inputs determine it, else None."""
        if prim.multiple_results:
            return None
        name = prim.name
        if name == "broadcast_to" and type(inputs[0]) is Literal and inputs[0].value.ndim == 0:
            return None      # already the canonical form of a uniform array
        value = self.uniform_output(prim, inputs, params, out_type)
        if value is not None:
            return self.uniform(value, out_type)
        if all(type(a) is Literal for a in inputs) and out_type.size <= MAX_FOLDED_SIZE:
            array = evaluate_quietly(prim, [a.value for a in inputs], params)
            if array is not None and array.shape == out_type.shape and array.dtype == out_type.dtype:
                value = uniform_value(array)
                return Literal(array) if value is None else self.uniform(value, out_type)
        return None

    def uniform_output(self, prim, inputs, params, out_type):
        """The fill value of the output when the inputs' fills determine it (exactly), else None."""
        name = prim.name
        fills = [self.fill(a) for a in inputs]
        if name in ELEMENTWISE and inputs and all(f is not None for f in fills):
            value = evaluate_quietly(prim, fills, params)
            if value is not None and value.shape == () and value.dtype == out_type.dtype:
                return value
            return None
        if name in COPIES_FIRST_INPUT and fills and fills[0] is not None and inputs[0].type.size > 0:
            return fills[0]
        if name == "full":
            return np.asarray(params["value"], dtype=out_type.dtype)
        if name == "reduce_sum" and fills[0] is not None:
            count = int(np.prod([inputs[0].type.shape[a] for a in params["axes"]], dtype=np.int64))
            return sum_of_uniform(fills[0], count, out_type)
        if name in ("reduce_max", "reduce_min") and fills[0] is not None and out_type.size:
            return fills[0]       # the extremum of equal values is that value
        if name == "cumsum" and fills[0] is not None and is_positive_zero(fills[0]):
            return fills[0]       # a running sum of +0.0 stays +0.0 (of -0.0 it depends on where it starts)
        if name == "pad" and fills[0] is not None:
            pad_value = np.asarray(params["value"], dtype=out_type.dtype)
            return pad_value if same_bits(pad_value, fills[0]) else None
        if name == "concatenate" and all(f is not None for f in fills):
            return fills[0] if all(same_bits(f, fills[0]) for f in fills) else None
        return None

    def used_once(self, atom) -> bool:
        """Whether the input program reads `atom` once (a Var made by this pass counts as shared)."""
        return self.uses.get(atom, 0) == 1

    def producer_of(self, atom, *names):
        """The equation that assigns Var `atom` if its primitive is one of `names`, else None."""
        eqn = self.producer.get(atom) if type(atom) is Var else None
        return eqn if eqn is not None and eqn.prim.name in names else None


# ---- values --------------------------------------------------------------------------------------

def uniform_value(array: np.ndarray):
    """The 0-d value of every element of `array` if all are bit-for-bit equal, else None."""
    if array.size == 0:
        return None
    flat = np.ascontiguousarray(array).reshape(-1)
    rows = flat.view(np.uint8).reshape(flat.size, flat.dtype.itemsize)
    if not (rows == rows[0]).all():
        return None
    return np.array(flat[0])


def same_bits(a, b) -> bool:
    return a.dtype == b.dtype and a.tobytes() == b.tobytes()


def evaluate_quietly(prim, values, params):
    """`prim.impl` on concrete values as a numpy array, or None when the impl refuses them."""
    try:
        with np.errstate(all="ignore"):
            return np.asarray(prim.impl(*values, **params))
    except Exception:      # e.g. solve of a singular matrix: leave the error to run time
        return None


def sum_of_uniform(value, count: int, out_type):
    """The sum of `count` copies of `value` when every summation order gives it exactly, else None.

    In floating point a sum of n copies of c is c*n only when each partial sum k*c is representable: c is
    m * 2**e with an integer m, so k*c is exact while |m|*n fits in the mantissa. Integer sums wrap the
    same way in any order. numpy starts a sum from +0.0, so a sum of -0.0s (or of nothing) is +0.0.
    """
    dtype = out_type.dtype
    if count == 0 or value == 0:
        return np.zeros((), dtype)
    if dtype == np.bool_:
        return value             # a bool sum is a logical or
    if not is_float(dtype):
        with np.errstate(over="ignore"):
            return np.multiply(value, dtype.type(count), dtype=dtype)
    if not np.isfinite(value):
        return value             # inf + inf is inf, nan + nan is nan
    numerator, _ = float(value).as_integer_ratio()
    if abs(numerator) * count >= 2 ** MANTISSA_BITS[dtype]:
        return None
    with np.errstate(over="ignore"):
        total = np.multiply(value, dtype.type(count), dtype=dtype)
    return total if np.isfinite(total) else None


def is_one(fill) -> bool:
    return fill is not None and fill == 1


def is_minus_one(fill) -> bool:
    return fill is not None and fill.dtype != np.bool_ and fill == -1


def is_positive_zero(fill) -> bool:
    return fill == 0 and not (is_float(fill.dtype) and np.signbit(fill))


def adds_nothing(fill) -> bool:
    """x + fill == x for every x: an integer 0 or False, or the float -0.0 (x + (+0.0) turns -0.0 into +0.0)."""
    if fill is None or fill != 0:
        return False
    return not is_float(fill.dtype) or bool(np.signbit(fill))


def subtracts_nothing(fill) -> bool:
    """x - fill == x for every x: an integer 0, or the float +0.0 (x - (+0.0) is x + (-0.0))."""
    return fill is not None and fill.dtype != np.bool_ and is_positive_zero(fill)


def cse_key(prim, inputs, params):
    """Equal keys compute equal values: same primitive, same Vars (identity), same Literals (value)."""
    try:
        key = (prim, inputs, params)
        hash(key)
    except TypeError:        # a param that cannot hash: never reused
        return None
    return key


# ---- algebraic identities: rule(pass, inputs, params, out_type) -> atom, _Rewrite or None ------------
# Each keeps the bits of the result for every input, inf, NaN and signed zeros included.

def _same(x, out_type):
    """`x` as the answer, when it has the output's type."""
    return x if x.type == out_type else None


def add_rule(s, inputs, params, out_type):
    x, y = inputs
    if adds_nothing(s.fill(y)):
        return _same(x, out_type)
    if adds_nothing(s.fill(x)):
        return _same(y, out_type)
    merged = merge_linear_maps(s, add_p, x, y)
    if merged is not None:
        return merged
    # x + (-y) is how IEEE defines x - y.
    negated = s.producer_of(y, "neg")
    if negated is not None:
        return _Rewrite(sub_p, (x, negated.inputs[0]), {})
    negated = s.producer_of(x, "neg")
    if negated is not None:
        return _Rewrite(sub_p, (y, negated.inputs[0]), {})
    return None


def sub_rule(s, inputs, params, out_type):
    x, y = inputs
    if subtracts_nothing(s.fill(y)):
        return _same(x, out_type)
    # -0.0 - y is -y for every y (0.0 - y is not: 0.0 - 0.0 is +0.0).
    if adds_nothing(s.fill(x)) and x.type.dtype != np.bool_:
        return _Rewrite(neg_p, (y,), {})
    negated = s.producer_of(y, "neg")
    if negated is not None:
        return _Rewrite(add_p, (x, negated.inputs[0]), {})
    return merge_linear_maps(s, sub_p, x, y)


def merge_linear_maps(s, prim, x, y):
    """L(a) + L(b) -> L(a + b) (and the same for -), when x = L(a) and y = L(b) are read nowhere else.

    The elements of L(a) are elements of a (or pad's +0.0, and 0.0 + 0.0 = 0.0 - 0.0 = 0.0), so the sums
    are the same sums. It saves one L, and the add works on the smaller arrays. Typical source: the
    cotangents of two uses of one slice, each padded back into place. Chains L1(L2(a)) + L1(L2(b)) are
    peeled in a loop, so that the nested add is simplified at one level of nesting, not one per map.
    """
    maps = []
    while True:
        lx, ly = s.producer_of(x, *DISTRIBUTES_OVER_ADD), s.producer_of(y, *DISTRIBUTES_OVER_ADD)
        if not (lx is not None and ly is not None and same_linear_map(lx, ly)
                and s.used_once(x) and s.used_once(y)):
            break
        maps.append(lx)
        x, y = lx.inputs[0], ly.inputs[0]
    if not maps or s.nesting >= MAX_NESTING:
        return None
    s.nesting += 1
    try:
        combined = s.simplify_new(prim, (x, y), Params(), x.type)
        for lin in reversed(maps[1:]):
            combined = s.simplify_new(lin.prim, (combined,) + lin.inputs[1:], lin.params, lin.outputs[0].type)
    finally:
        s.nesting -= 1
    return _Rewrite(maps[0].prim, (combined,) + maps[0].inputs[1:], maps[0].params)


def same_linear_map(lx, ly) -> bool:
    """Whether two equations apply one linear map (same primitive, params and non-linear inputs)."""
    if lx.prim is not ly.prim or lx.params != ly.params or lx.inputs[0].type != ly.inputs[0].type:
        return False
    if not all(same_atom(p, q) for p, q in zip(lx.inputs[1:], ly.inputs[1:])):
        return False
    return lx.prim.name != "pad" or is_positive_zero(np.asarray(lx.params["value"], lx.inputs[0].type.dtype))


def same_atom(a, b) -> bool:
    return a is b or (type(a) is Literal and a == b)


def mul_rule(s, inputs, params, out_type):
    x, y = inputs
    for a, b in ((x, y), (y, x)):
        fill = s.fill(b)
        if is_one(fill):
            return _same(a, out_type)
        if is_minus_one(fill):
            return _Rewrite(neg_p, (a,), {})
        if fill is not None and fill == 0:
            zero = product_with_zero(a, fill)
            if zero is not None:
                return s.uniform(zero, out_type)
    # Rounding is symmetric in sign, so (-a) * (-b) is a * b.
    neg_x, neg_y = s.producer_of(x, "neg"), s.producer_of(y, "neg")
    if neg_x is not None and neg_y is not None:
        return _Rewrite(mul_p, (neg_x.inputs[0], neg_y.inputs[0]), {})
    return None


def product_with_zero(a, zero):
    """The value of a * zero when it is one signed zero for every element of `a`, else None.

    Integers: always 0. Floats: never for a Var (it may hold inf or NaN, and inf * 0 is NaN); for a Literal
    only when every element is finite and of one sign, which fixes the sign of the zero product.
    """
    if not is_float(zero.dtype):
        return np.zeros((), zero.dtype)
    if type(a) is not Literal:
        return None
    value = a.value
    signs = np.signbit(value)
    if not np.isfinite(value).all() or not (signs.all() or not signs.any()):
        return None
    return np.multiply(value.reshape(-1)[:1], zero).reshape(())


def div_rule(s, inputs, params, out_type):
    x, y = inputs
    fill = s.fill(y)
    if is_one(fill):
        return _same(x, out_type)
    if is_minus_one(fill):
        return _Rewrite(neg_p, (x,), {})
    return None


def neg_rule(s, inputs, params, out_type):
    inner = s.producer_of(inputs[0], "neg")
    return inner.inputs[0] if inner is not None else None


def pow_rule(s, inputs, params, out_type):
    # x ** 1 is x, NaN included.
    return _same(inputs[0], out_type) if is_one(s.fill(inputs[1])) else None


def integer_pow_rule(s, inputs, params, out_type):
    return _same(inputs[0], out_type) if params["y"] == 1 else None


def select_rule(s, inputs, params, out_type):
    pred, on_true, on_false = inputs
    fill = s.fill(pred)
    if fill is not None:
        return _same(on_true if fill else on_false, out_type)
    if on_true is on_false or (type(on_true) is Literal and on_true == on_false):
        return _same(on_true, out_type)
    return None


def convert_rule(s, inputs, params, out_type):
    return inputs[0] if inputs[0].type.dtype == params["dtype"] else None


def broadcast_to_rule(s, inputs, params, out_type):
    x = inputs[0]
    if x.type.shape == out_type.shape:
        return x
    inner = s.producer_of(x, "broadcast_to")
    if inner is not None:
        return _Rewrite(broadcast_to_p, inner.inputs, {"shape": out_type.shape})
    # numpy aligns shapes at the right, so leading 1s added or removed by a reshape change nothing, as long
    # as the source has no more axes than the result (broadcast_to never drops axes).
    inner = s.producer_of(x, *RESHAPES)
    if (inner is not None and inner.inputs[0].type.ndim <= len(out_type.shape)
            and strip_leading_ones(inner.inputs[0].type.shape) == strip_leading_ones(x.type.shape)):
        return _Rewrite(broadcast_to_p, inner.inputs, {"shape": out_type.shape})
    return None


def strip_leading_ones(shape) -> tuple:
    start = 0
    while start < len(shape) and shape[start] == 1:
        start += 1
    return tuple(shape[start:])


def reshape_rule(s, inputs, params, out_type):
    """Reshape-like ops (reshape, expand_dims, squeeze) keep row-major order, so a chain is one reshape."""
    x = inputs[0]
    if x.type.shape == out_type.shape:
        return x
    inner = s.producer_of(x, *RESHAPES)
    if inner is not None:
        source = inner.inputs[0]
        if source.type.shape == out_type.shape:
            return source
        return _Rewrite(reshape_p, (source,), {"shape": out_type.shape})
    return None


def transpose_rule(s, inputs, params, out_type):
    x, perm = inputs[0], params["perm"]
    if perm == tuple(range(len(perm))):
        return x
    inner = s.producer_of(x, "transpose")
    if inner is not None:
        # transpose(transpose(a, p), q) takes axis p[q[j]] of a to position j.
        first = inner.params["perm"]
        return _Rewrite(transpose_p, inner.inputs, {"perm": tuple(first[j] for j in perm)})
    return None


RULES = {
    "add": add_rule, "sub": sub_rule, "mul": mul_rule, "div": div_rule, "neg": neg_rule,
    "pow": pow_rule, "integer_pow": integer_pow_rule, "select": select_rule,
    "convert_element_type": convert_rule, "broadcast_to": broadcast_to_rule,
    "reshape": reshape_rule, "expand_dims": reshape_rule, "squeeze": reshape_rule,
    "transpose": transpose_rule,
}

