"""Simplification: `simplify(program)` is an equal Program with fewer, cheaper equations.

One forward interpreter loop rewrites each equation on its already-simplified inputs (constant
folding, algebraic identities, common-subexpression elimination), then one backward liveness sweep
drops dead code. Every rewrite keeps IEEE semantics bit for bit (signed zeros, inf and NaN included),
so a simplified program computes the same values as the original. Both loops are linear: lookups are
dicts keyed by Var and by (primitive, input atoms, params).

Uniform arrays (every element the same) are tracked as *fills*: a scalar Literal, an array Literal
whose elements are all equal, or a Var the pass knows to be constant. They are written back in one
canonical form, `broadcast_to[shape=...] c` of a scalar literal (a plain scalar literal for shape ()),
which is how zeros and ones appear in derivative programs. The printer writes such a fill inline at its uses
(`mul 0.01:f64[3] x`); the equation stays in the program, so broadcasting stays explicit.

Rewrites left out on purpose, because they change bits for some input:
  x + 0.0 -> x            -0.0 + 0.0 is +0.0 (x + (-0.0) -> x and x - 0.0 -> x are done)
  x * 0 -> 0              inf * 0 and nan * 0 are nan; done only for integers and finite Literals
  sum(broadcast(x)) -> x * n    the sum rounds n times (done for constants when every partial sum is exact)
  sum over size-1 axes -> reshape    numpy starts sums from +0.0, so a sum of one -0.0 is +0.0
  0.01 * (2 * x) -> 0.02 * x         2 * x can overflow; reassociation is never exact in general
  maximum(a, b) == maximum(b, a)     not for signed zeros
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np

from fgrad.ir import Equation, Literal, Params, Program, Var, binds_effect, has_effect
from fgrad.ops.core import broadcast_to_p
from fgrad.ops.identities import Rewrite, is_positive_zero

# Folded constants larger than this stay equations, so programs do not embed large arrays.
MAX_FOLDED_SIZE = 64

# A rewrite that produced a new equation may enable another; no rule chain is longer than this.
MAX_REWRITES = 8

# A rule that simplifies a new inner equation (merge_linear_maps) nests at most this deep, so the pass
# never recurses with the size of the program.
MAX_NESTING = 16


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


_emitted = threading.local()      # .on: derived programs are handed over unsimplified (see as_emitted)


@contextmanager
def as_emitted():
    """Inside this block the transforms (grad, jvp, vjp, ...) run their derived programs as their rules emit
    them, unsimplified: what `fgrad.make_ir(f, simplify=False)` shows. Per thread; nests.

    >>> import fgrad, fgrad.numpy as fnp
    >>> with as_emitted():
    ...     raw = fgrad.make_ir(fgrad.grad(fnp.sin))(1.0)
    >>> len(raw.equations) > len(fgrad.make_ir(fgrad.grad(fnp.sin))(1.0).equations)
    True
    """
    before = getattr(_emitted, "on", False)
    _emitted.on = True
    try:
        yield
    finally:
        _emitted.on = before


def simplify_derived(program: Program) -> Program:
    """`simplify(program)` for a program a transform derived, unless inside `as_emitted()`."""
    return program if getattr(_emitted, "on", False) else simplify(program)


def live_equations(equations, outputs) -> list:
    """The equations some output depends on (one backward liveness sweep), in their order."""
    live = {v for v in outputs if type(v) is Var}
    kept = []
    for eqn in reversed(equations):
        if any(v in live for v in eqn.outputs) or has_effect(eqn):     # an effect is live by itself
            kept.append(eqn)
            live.update(a for a in eqn.inputs if type(a) is Var)
    kept.reverse()
    return kept


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
        self.source = None       # the source location of the input equation being simplified

    def run(self, program: Program) -> list:
        for eqn in program.equations:
            for a in eqn.inputs:
                if type(a) is Var:
                    self.uses[a] = self.uses.get(a, 0) + 1
        for v in program.outputs:
            if type(v) is Var:
                self.uses[v] = self.uses.get(v, 0) + 1
        for eqn in program.equations:
            self.process(eqn)
        return [self.read(v) for v in program.outputs]

    def process(self, eqn):
        """Simplify one equation of the input program on its already-simplified inputs."""
        self.source = eqn.source         # equations a rewrite makes keep the line of the one they replace
        inputs = tuple([self.read(a) for a in eqn.inputs])
        first_new = len(self.equations)
        if eqn.prim.multiple_results:
            # A primitive with several results (control flow, custom calls) simplifies as a whole:
            # rule(s, eqn, inputs) -> its output atoms (e.g. a cond with a literal index inlines its branch).
            # A loop or branch that prints (fgrad.debug) is kept whole: its rule would drop the carries only
            # the print reads.
            rule = eqn.prim.simplify if not has_effect(eqn) else None
            outs = rule(self, eqn, inputs) if rule else self.record(eqn.prim, inputs, eqn.params, eqn.outputs, eqn)
        else:
            outs = (self.simplify_equation(eqn, inputs),)
        self.env.update(zip(eqn.outputs, outs))
        for v, out in zip(eqn.outputs, outs):
            self.keep_hint(v, out)
        if eqn.outputs and eqn.outputs[0].sweep is not None:         # equations made in its place belong to its sweep
            for new in self.equations[first_new:]:
                for out in new.outputs:
                    out.sweep = out.sweep or eqn.outputs[0].sweep

    def keep_hint(self, v, out):
        """The Var that replaces `v` takes over its name hint (the reader still sees `a_ct`)."""
        if v.hint is not None and type(out) is Var and out is not v and out.hint is None:
            of = self.read(v.hint[1])
            if type(of) is Var and of is not out:
                out.hint = (v.hint[0], of)

    def inline(self, program: Program, inputs) -> list:
        """Simplify `program`'s equations in place of an equation that would run it on `inputs`."""
        self.env.update(zip(program.inputs, inputs))
        for eqn in program.equations:
            self.process(eqn)
        return [self.read(v) for v in program.outputs]

    def record_with_params(self, eqn, inputs, **changes) -> tuple:
        """Record `eqn` on `inputs` with some params replaced (e.g. its sub-programs simplified)."""
        return self.record(eqn.prim, inputs, Params(dict(eqn.params, **changes)), eqn.outputs, eqn)

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
            if answer is None and prim.simplify:
                answer = prim.simplify(self, inputs, params, out_type)
            if answer is None:
                break
            if type(answer) is not Rewrite:
                return answer
            prim, inputs, params = answer.prim, answer.inputs, answer.params
        return self.record(prim, inputs, params, outputs, original)[0]

    def record(self, prim, inputs, params, outputs, original=None) -> tuple:
        """Reuse an equal earlier equation's outputs, or append this equation (the original if unchanged)."""
        key = cse_key(prim, inputs, params)
        hit = self.cse.get(key)
        if hit is None and prim.commutative:
            hit = self.cse.get(cse_key(prim, inputs[::-1], params))
        if hit is not None:
            return hit
        same = (original is not None and prim is original.prim and params == original.params
                and all(a is b for a, b in zip(inputs, original.inputs)))
        eqn = original if same else Equation(prim, inputs, Params(params), tuple(outputs), self.source)
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
        if prim is broadcast_to_p and type(inputs[0]) is Literal and inputs[0].value.ndim == 0:
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
        """The fill value of the output when the inputs' fills determine it by the primitive's kind and traits
        (an elementwise function of uniform inputs; a copy of a uniform input), else None. Other primitives
        fold uniform inputs in their own `simplify` rule."""
        fills = [self.fill(a) for a in inputs]
        if prim.kind == "elementwise" and inputs and all(f is not None for f in fills):
            value = evaluate_quietly(prim, fills, params)
            if value is not None and value.shape == () and value.dtype == out_type.dtype:
                return value
            return None
        if prim.copies_input is True and fills and fills[0] is not None and inputs[0].type.size > 0:
            return fills[0]
        return None

    def used_once(self, atom) -> bool:
        """Whether the input program reads `atom` once (a Var made by this pass counts as shared)."""
        return self.uses.get(atom, 0) == 1

    def producer_of(self, atom, *prims):
        """The equation that assigns Var `atom` if its primitive is one of `prims`, else None."""
        eqn = self.producer.get(atom) if type(atom) is Var else None
        return eqn if eqn is not None and eqn.prim in prims else None

    def producer_where(self, atom, trait: str):
        """The equation that assigns Var `atom` if its primitive has `trait`, else None."""
        eqn = self.producer.get(atom) if type(atom) is Var else None
        return eqn if eqn is not None and getattr(eqn.prim, trait) is True else None

    def merge_linear_maps(self, prim, x, y):
        """L(a) + L(b) -> L(a + b) (and the same for -), when x = L(a) and y = L(b) are read nowhere else.

        L is a primitive that distributes over add (its elements are a's elements moved, or pad's +0.0, and
        0.0 + 0.0 = 0.0 - 0.0 = 0.0), so the sums are the same sums. It saves one L, and the add works on the
        smaller arrays. Typical source: the cotangents of two uses of one slice, each padded back into place.
        Chains L1(L2(a)) + L1(L2(b)) are peeled in a loop, so that the nested add is simplified at one level
        of nesting, not one per map.
        """
        maps = []
        while True:
            lx = self.producer_where(x, "distributes_over_add")
            ly = self.producer_where(y, "distributes_over_add")
            if not (lx is not None and ly is not None and same_linear_map(lx, ly)
                    and self.used_once(x) and self.used_once(y)):
                break
            maps.append(lx)
            x, y = lx.inputs[0], ly.inputs[0]
        if not maps or self.nesting >= MAX_NESTING:
            return None
        self.nesting += 1
        try:
            combined = self.simplify_new(prim, (x, y), Params(), x.type)
            for lin in reversed(maps[1:]):
                combined = self.simplify_new(lin.prim, (combined,) + lin.inputs[1:], lin.params,
                                             lin.outputs[0].type)
        finally:
            self.nesting -= 1
        return Rewrite(maps[0].prim, (combined,) + maps[0].inputs[1:], maps[0].params)


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


def evaluate_quietly(prim, values, params):
    """`prim.impl` on concrete values as a numpy array, or None when the impl refuses them."""
    try:
        with np.errstate(all="ignore"):
            return np.asarray(prim.impl(*values, **params))
    except Exception:      # e.g. solve of a singular matrix: leave the error to run time
        return None


def cse_key(prim, inputs, params):
    """Equal keys compute equal values: same primitive, same Vars (identity), same Literals (value).
    None for an effect: two prints of one value both print."""
    if binds_effect(prim, params):
        return None
    try:
        key = (prim, inputs, params)
        hash(key)
    except TypeError:        # a param that cannot hash: never reused
        return None
    return key


def same_linear_map(lx, ly) -> bool:
    """Whether two equations apply one linear map (same primitive, params and non-linear inputs)."""
    if lx.prim is not ly.prim or lx.params != ly.params or lx.inputs[0].type != ly.inputs[0].type:
        return False
    if not all(same_atom(p, q) for p, q in zip(lx.inputs[1:], ly.inputs[1:])):
        return False
    # A pad distributes over add only with the +0.0 fill (0.0 + 0.0 = 0.0 - 0.0 = 0.0).
    value = lx.params.get("value")
    return value is None or is_positive_zero(np.asarray(value, lx.inputs[0].type.dtype))


def same_atom(a, b) -> bool:
    return a is b or (type(a) is Literal and a == b)
