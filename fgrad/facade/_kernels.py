"""Facade ops as cached kernels: one PyTorch op is a function of fgrad ops, traced once per input signature.

A `FacadeOp` holds a function written with fgrad.ops (`lambda x, y: ops.mul(x, y)`). The first call with
given input dtypes, shapes and static arguments traces it into a Program (the op's primitives, in order).
From that Program come:
  - `Kernel.forward`: straight-line Python calling each primitive's numpy impl (no interpreter, no
    promotion or broadcasting logic per call: the trace already made every broadcast and cast explicit);
  - per set of inputs that need a gradient, a `GradPlan`: the adjoint of the Program built by the vjp
    transform's backward pass (each primitive's VJP rules, traced, so also straight-line numpy), the
    forward variant that also returns the values the adjoint reads (the *residuals*: PyTorch's saved
    tensors), and which residuals are the op's inputs or outputs (checked against version counters).
A call then costs a dict lookup and the numpy calls themselves, which keeps training loops of small
tensors within a small factor of PyTorch's C++ dispatch.
"""
from __future__ import annotations

import functools
from itertools import count

import numpy as np

from fgrad.ir import Literal, Program, is_float, trace_flat
from fgrad.ir.types import ArrayType
from fgrad.transforms.jvp import instantiate
from fgrad.transforms.vjp import active_equations, backward_pass
from fgrad.facade import _numerics

_kernel_ids = count()


class FacadeOp:
    """A PyTorch op defined by `fn(*arrays, *static)` over fgrad ops; `node_name` names its grad_fn.

    `view=True` marks ops whose output shares storage with input 0 (view, transpose, slicing, ...),
    so they share its version counter as PyTorch views do. `nondiff` lists the positions of inputs that
    are never differentiated (indices, masks, conditions): PyTorch leaves them out of next_functions.
    `pytorch_sums=False` for ops whose PyTorch kernel sums in its own order (softmax, var, norm, ...):
    their reduce_sums use numpy's (faster) sum instead of reproducing torch.sum's rounding order.
    """
    __slots__ = ("name", "fn", "node_name", "view", "nondiff", "pytorch_sums", "kernels")

    def __init__(self, name: str, fn, node_name: str, view: bool = False, nondiff: tuple = (),
                 pytorch_sums: bool = True):
        self.name = name
        self.fn = fn
        self.node_name = node_name
        self.view = view
        self.nondiff = nondiff
        self.pytorch_sums = pytorch_sums
        self.kernels = {}

    def __repr__(self) -> str:
        return f"FacadeOp({self.name}, node={self.node_name})"

    def compile(self, key, arrays, static) -> "Kernel":
        if len(self.kernels) > 4096:     # many distinct shapes: start over rather than grow without bound
            self.kernels.clear()
        kernel = self.kernels[key] = Kernel(self, [ArrayType(a.shape, a.dtype) for a in arrays], static)
        return kernel


class Kernel:
    """One FacadeOp traced for one input signature."""

    def __init__(self, op: FacadeOp, in_types, static):
        self.op = op
        self.program = trace_op(op, in_types, static)
        self.n_out = len(self.program.outputs)
        self.forward = compile_program(self.program, self.program.outputs, f"{op.name}_forward",
                                       copy_aliases=not op.view, materialize=not op.view,
                                       pytorch_sums=op.pytorch_sums)
        self.plans = {}

    def plan(self, mask) -> "GradPlan | None":
        """The backward plan when the inputs flagged in `mask` need gradients (None: nothing differentiable)."""
        try:
            return self.plans[mask]
        except KeyError:
            plan = self.plans[mask] = GradPlan.build(self, mask)
            return plan


def trace_op(op: FacadeOp, in_types, static) -> Program:
    def flat(*tracers):
        out = op.fn(*tracers, *static)
        return list(out) if isinstance(out, (tuple, list)) else [out]
    program, captured = trace_flat(flat, in_types)
    if captured:
        raise RuntimeError(f"the facade op {op.name} closes over a traced value; pass it as an input")
    return program


class GradPlan:
    """How one kernel records and runs its backward for one set of inputs needing gradients.

    forward(*inputs) -> (*outputs, *residuals); backward(*residuals, *output_cts) -> input cts for `wrt`.
    `diff_outputs` are the outputs that carry a gradient (float outputs depending on a `wrt` input).
    `saved_inputs` / `saved_outputs` pair a residual position with an input / output index.
    `fresh[i]` is True when backward's i-th result is a new array nobody else holds.
    `layout_inputs` are the inputs whose cotangent is one matrix product: when such an input is a
    column-major array (a transposed view, as `W.t()`), `backward_for(layouts)` computes that product
    column-major too, as PyTorch's mm backward does, so the gradient reaching `W` is row-major like `W`.
    """
    __slots__ = ("kernel", "wrt", "wrt_mask", "diff_outputs", "forward", "backward", "n_saved", "saved_inputs",
                 "saved_outputs", "fresh", "backward_program", "ct_types", "id", "layout_inputs", "variants")

    @classmethod
    def build(cls, kernel: Kernel, mask) -> "GradPlan | None":
        program = kernel.program
        wrt = tuple(i for i, m in enumerate(mask) if m and is_float(program.inputs[i].type.dtype))
        if not wrt:
            return None
        active, eqns = active_equations(program, wrt)
        connected = float_dependents(program, wrt)
        diff_outputs = tuple(j for j, v in enumerate(program.outputs)
                             if type(v) is not Literal and v in connected)
        if not diff_outputs:
            return None
        self = cls()
        self.kernel = kernel
        self.wrt = wrt
        self.wrt_mask = tuple(i in wrt for i in range(len(program.inputs)))
        self.diff_outputs = diff_outputs
        self.id = next(_kernel_ids)
        values = list(program.inputs) + [v for eqn in program.equations for v in eqn.outputs]
        self.ct_types = [program.outputs[j].type for j in diff_outputs]
        backward_program, residual_index = adjoint_program(program, values, active, eqns, wrt, diff_outputs)
        self.backward_program = backward_program
        residuals = [values[i] for i in residual_index]
        self.n_saved = len(residuals)
        inputs = {v: i for i, v in enumerate(program.inputs)}
        outputs = {v: j for j, v in enumerate(program.outputs) if type(v) is not Literal}
        self.saved_inputs = tuple((r, inputs[v]) for r, v in enumerate(residuals) if v in inputs)
        self.saved_outputs = tuple((r, outputs[v]) for r, v in enumerate(residuals) if v in outputs)
        self.forward = compile_program(program, tuple(program.outputs) + tuple(residuals),
                                       f"{kernel.op.name}_forward_saving", copy_aliases=not kernel.op.view,
                                       n_aliased=len(program.outputs), materialize=not kernel.op.view,
                                       pytorch_sums=kernel.op.pytorch_sums)
        self.backward = compile_program(backward_program, backward_program.outputs,
                                        f"{kernel.op.name}_backward", materialize=True,
                                        pytorch_sums=kernel.op.pytorch_sums)
        self.fresh = fresh_outputs(backward_program)
        self.layout_inputs = matmul_cotangents(backward_program, wrt)
        self.variants = {}
        return self

    def backward_for(self, column_major) -> object:
        """The backward computing the cotangents of the inputs flagged in `column_major` (one flag per
        `layout_inputs` entry) as column-major products."""
        fn = self.variants.get(column_major)
        if fn is None:
            outputs = {self.backward_program.outputs[k] for (k, _), flag in zip(self.layout_inputs, column_major)
                       if flag}
            fn = self.variants[column_major] = compile_program(
                self.backward_program, self.backward_program.outputs, f"{self.kernel.op.name}_backward",
                materialize=True, pytorch_sums=self.kernel.op.pytorch_sums, column_major=outputs)
        return fn


def matmul_cotangents(program: Program, wrt) -> tuple:
    """(output position, input index) for the backward's outputs made by one 2-D matmul equation."""
    producer = {v: eqn for eqn in program.equations for v in eqn.outputs}
    found = []
    for k, (v, i) in enumerate(zip(program.outputs, wrt)):
        eqn = producer.get(v) if type(v) is not Literal else None
        if eqn is not None and eqn.prim.name == "matmul" and all(a.type.ndim == 2 for a in eqn.inputs):
            found.append((k, i))
    return tuple(found)


def float_dependents(program: Program, wrt) -> set:
    """The Vars that depend on the `wrt` inputs through float values: PyTorch gives these a grad_fn, also
    where the derivative is zero by declaration (sign, floor), but not past a bool or int value, nor past
    stop_gradient (a detach)."""
    reached = {program.inputs[i] for i in wrt}
    for eqn in program.equations:
        if eqn.prim.name != "stop_gradient" and any(type(a) is not Literal and a in reached for a in eqn.inputs):
            reached.update(v for v in eqn.outputs if is_float(v.type.dtype))
    return reached


def adjoint_program(program: Program, values, active, eqns, wrt, diff_outputs):
    """The reverse sweep of `program` as a Program of (residuals..., output cts...) -> input cts.

    It is traced with every forward value as an input; the ones the VJP rules never read are dropped, and
    the remaining ones (their positions in `values` are returned) are what the forward must save.
    """
    n_values = len(values)
    ct_types = [program.outputs[j].type for j in diff_outputs]

    def reverse_sweep(*args):
        env = dict(zip(values, args[:n_values]))
        out_cts = [None] * len(program.outputs)
        for j, ct in zip(diff_outputs, args[n_values:]):
            out_cts[j] = ct
        ct_env = backward_pass(program, env, active, eqns, out_cts)
        return [instantiate(ct_env.get(program.inputs[i]), program.inputs[i].type) for i in wrt]

    traced, captured = trace_flat(reverse_sweep, [v.type for v in values] + ct_types)
    assert not captured
    used = {a for eqn in traced.equations for a in eqn.inputs if type(a) is not Literal}
    used.update(a for a in traced.outputs if type(a) is not Literal)
    residual_index = [i for i in range(n_values) if traced.inputs[i] in used]
    inputs = tuple(traced.inputs[i] for i in residual_index) + traced.inputs[n_values:]
    return Program(inputs, traced.equations, traced.outputs), residual_index


def fresh_outputs(program: Program) -> tuple:
    """Per output: True when it is a new array (computed, not a view, not an input, not repeated)."""
    producer = {v: eqn for eqn in program.equations for v in eqn.outputs}
    counts = {}
    for v in program.outputs:
        counts[v] = counts.get(v, 0) + 1
    fresh = []
    for v in program.outputs:
        eqn = producer.get(v) if type(v) is not Literal else None
        fresh.append(eqn is not None and eqn.prim.aliases_input is not True and counts[v] == 1)
    return tuple(fresh)


# ---- code generation -------------------------------------------------------------------------------

def compile_program(program: Program, outputs, name: str, copy_aliases: bool = False, n_aliased=None,
                    materialize: bool = False, pytorch_sums: bool = True, column_major=frozenset()):
    """A Python function running `program` on numpy arrays with one impl call per equation, returning
    the tuple of `outputs` (Vars or Literals of the program).

    0-d results become 0-d arrays (numpy returns scalars for them). With `copy_aliases`, the first
    `n_aliased` outputs are copied when they could share memory with an input, so an op that is not a
    view never returns its input's storage. Shape-only primitives (reshape, expand_dims, squeeze) become
    `.reshape` to their static result shape; with `materialize`, small broadcasts are filled into a new
    array (cheaper than numpy's broadcast view) since nothing needs them to alias their input. Primitives
    with a facade implementation (_numerics.FACADE_IMPLS) use it; reduce_sum only with `pytorch_sums`.
    The matmuls producing the Vars in `column_major` compute (b.T @ a.T).T: the same product, laid out
    column-major.
    """
    n_aliased = len(outputs) if n_aliased is None else n_aliased
    keep = set(v for v in outputs if type(v) is not Literal)
    elided = elided_broadcasts(program, keep)
    names = {}
    namespace = {"_asarray": np.asarray, "_copy": np.array}
    for i, v in enumerate(program.inputs):
        names[v] = f"a{i}"

    def ref(atom):
        if type(atom) is Literal:
            const = f"c{len(namespace)}"
            namespace[const] = atom.value
            return const
        return names[atom]

    lines = []
    aliases = set(program.inputs)
    for k, eqn in enumerate(program.equations):
        if eqn in elided:
            names[eqn.outputs[0]] = ref(eqn.inputs[0])
            continue
        for j, v in enumerate(eqn.outputs):
            names[v] = f"v{k}_{j}"
        lhs = ", ".join(names[v] for v in eqn.outputs)
        if eqn.prim.multiple_results:
            lhs += "," if len(eqn.outputs) == 1 else ""
        out_type = eqn.outputs[0].type
        if eqn.prim.keeps_order is True:
            lines.append(f"    {lhs} = {ref(eqn.inputs[0])}.reshape({out_type.shape!r})")
        elif eqn.prim.name == "matmul" and eqn.outputs[0] in column_major:
            namespace["_matmul"] = np.matmul
            a, b = (ref(x) for x in eqn.inputs)
            lines.append(f"    {lhs} = _matmul({b}.T, {a}.T).T")
        elif eqn.prim.name == "broadcast_to" and materialize and out_type.size <= SMALL:
            namespace["_filled"] = _filled
            lines.append(f"    {lhs} = _filled({ref(eqn.inputs[0])}, {out_type.shape!r})")
        else:
            fname = f"{eqn.prim.name}_{k}"
            namespace[fname] = bound_impl(eqn, pytorch_sums)
            args = ", ".join(ref(a) for a in eqn.inputs)
            lines.append(f"    {lhs} = {fname}({args})")
        if eqn.prim.aliases_input is True and any(a in aliases for a in eqn.inputs):
            aliases.update(eqn.outputs)
    results = []
    for position, v in enumerate(outputs):
        text = ref(v)
        if position < n_aliased and copy_aliases and (v in aliases or type(v) is Literal):
            text = f"_copy({text})"
        elif v.type.ndim == 0:
            text = f"_asarray({text})"
        results.append(text)
    arg_names = ", ".join(f"a{i}" for i in range(len(program.inputs)))
    source = f"def {name}({arg_names}):\n" + "\n".join(lines) + ("\n" if lines else "")
    source += f"    return ({', '.join(results)}{',' if len(results) == 1 else ''})\n"
    code = compile(source, f"<fgrad facade kernel {name}>", "exec")
    exec(code, namespace)
    fn = namespace[name]
    fn.source = source
    return fn


SMALL = 4096


def _filled(x, shape):
    """x broadcast to `shape` as a new array."""
    out = np.empty(shape, x.dtype)
    out[...] = x
    return out


def bound_impl(eqn, pytorch_sums=True):
    impl = _numerics.FACADE_IMPLS.get(eqn.prim.name, eqn.prim.impl)
    if eqn.prim.name == "reduce_sum" and not pytorch_sums:
        impl = eqn.prim.impl
    return functools.partial(impl, **eqn.params) if eqn.params else impl


def elided_broadcasts(program: Program, keep) -> set:
    """The broadcast_to equations whose result only feeds ufunc-like primitives that broadcast the same
    way on their own (and is not an output): numpy's implicit broadcasting replaces them."""
    consumers = {}
    for eqn in program.equations:
        for a in eqn.inputs:
            if type(a) is not Literal:
                consumers.setdefault(a, []).append(eqn)
    candidates = {eqn.outputs[0]: eqn for eqn in program.equations
                  if eqn.prim.name == "broadcast_to" and eqn.outputs[0] not in keep
                  and all(c.prim.kind == "elementwise" for c in consumers.get(eqn.outputs[0], ()))}
    changed = True
    while changed:
        changed = False
        for v, eqn in list(candidates.items()):
            for consumer in consumers.get(v, ()):
                shapes = [candidates[a].inputs[0].type.shape if a in candidates else a.type.shape
                          for a in consumer.inputs]
                if _numpy_broadcast(shapes) != consumer.outputs[0].type.shape:
                    del candidates[v]
                    changed = True
                    break
    return set(candidates.values())


def _numpy_broadcast(shapes) -> tuple:
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        return None
