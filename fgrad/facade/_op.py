"""Facade ops: a PyTorch op is a function of fgrad ops, traced once per input signature; `apply` runs it.

A `FacadeOp` holds a function written with fgrad.ops (`lambda x, y, dtype: ops.mul(...)`) and the name of
its PyTorch node. The first call with given input dtypes, shapes and static arguments traces it into a
Program (`Traced`); everything else comes from fgrad's transforms and backend, nothing from the facade:

  - the forward is the Program compiled by the backend's straight-line executor
    (fgrad.backend.numpy_exec.compile_program), with the primitives' "torch" implementation variants;
  - per set of inputs that need a gradient, a `GradPlan`: the op's reverse mode split by
    fgrad.transforms.vjp.vjp_split into the forward that also returns the residuals (the values the VJP
    rules read: PyTorch's saved tensors) and the backward program, both compiled the same way.

A call then costs a dict lookup and the numpy calls themselves, which keeps training loops of small tensors
within a small factor of PyTorch's C++ dispatch. With grad mode on and an input requiring grad, `apply`
records one node (fgrad.facade._graph) holding the plan, the residuals and the inputs.
"""
from __future__ import annotations

import numpy as np

from fgrad.backend.numpy_exec import compile_program
from fgrad.ir import Literal, Program, eval_program, is_float, trace_flat
from fgrad.ir.types import ArrayType
from fgrad.ops.control import stop_gradient_p
from fgrad.ops.core import transpose
from fgrad.ops.linalg import matmul_p
from fgrad.transforms.jvp import jvp_program
from fgrad.transforms.vjp import needed_equations, vjp_split
from fgrad.facade import _anomaly, _grad_mode
from fgrad.facade._dual import set_tangent, state as _dual_state, tangent_of
from fgrad.facade._graph import edge_of, node_class, saved_versions
from fgrad.facade._tensor import make

_grad_state = _grad_mode.state
_anomaly_state = _anomaly.state


class FacadeOp:
    """A PyTorch op defined by `fn(*arrays, *static)` over fgrad ops; `node_name` names its grad_fn.

    `view=True` marks ops whose output shares storage with input 0 (view, transpose, slicing, ...), so they
    share its version counter as PyTorch views do. `nondiff` lists the positions of inputs that are never
    differentiated (indices, masks, conditions): PyTorch leaves them out of next_functions. `variant` names
    the primitives' implementation variant the op's programs run with (Primitive.impl_variants): "torch"
    rounds like PyTorch's CPU kernels where a block declares how (torch.sum's order, pow's products); None
    runs the primitives' impls, for ops whose PyTorch kernel sums in its own order (softmax, var, norm, ...),
    where numpy's faster sum is as close as torch.sum's order would be.
    """
    __slots__ = ("name", "fn", "node_name", "view", "nondiff", "variant", "traces")

    def __init__(self, name: str, fn, node_name: str, view: bool = False, nondiff: tuple = (),
                 variant: str | None = "torch"):
        self.name = name
        self.fn = fn
        self.node_name = node_name
        self.view = view
        self.nondiff = nondiff
        self.variant = variant
        self.traces = {}

    def __repr__(self) -> str:
        return f"FacadeOp({self.name}, node={self.node_name})"

    def trace(self, key, arrays, static) -> "Traced":
        if len(self.traces) > 4096:     # many distinct shapes: start over rather than grow without bound
            self.traces.clear()
        traced = self.traces[key] = Traced(self, [ArrayType(a.shape, a.dtype) for a in arrays], static)
        return traced


class Traced:
    """One FacadeOp traced for one input signature: its Program, the compiled forward, and a GradPlan per
    set of inputs that need gradients."""
    __slots__ = ("op", "program", "n_out", "forward", "plans", "tangent_ops")

    def __init__(self, op: FacadeOp, in_types, static):
        self.op = op
        self.program = trace_op(op, in_types, static)
        self.n_out = len(self.program.outputs)
        self.forward = compile_program(self.program, op.variant, owned_outputs=0 if op.view else self.n_out,
                                       keep_views=op.view)
        self.plans = {}
        self.tangent_ops = {}

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
    """How one traced op records and runs its backward for one set of inputs needing gradients.

    forward(*inputs) -> (*outputs, *residuals); backward(*residuals, *output cts) -> cts of the `wrt` inputs.
    `split` is the transforms' VjpSplit these are compiled from; `diff_outputs` are the outputs that carry a
    gradient (float outputs depending on a `wrt` input), `saved_inputs` / `saved_outputs` pair a residual
    position with an input / output index (checked against version counters); `aliased_residuals` pair the
    other residuals that may be views of an input (a reshape of it, say) with that input, checked the same
    way, since an in-place write to the input changes them too. `layout_inputs` are the
    inputs whose cotangent is one matrix product: when such an input is a column-major array (a transposed
    view, as `W.t()`), `backward_for(layouts)` computes that product column-major too, as PyTorch's mm
    backward does, so the gradient reaching `W` is row-major like `W`.
    """
    __slots__ = ("op", "n_out", "wrt", "wrt_mask", "nondiff", "diff_outputs", "ct_types", "split", "forward",
                 "backward", "n_saved", "saved_inputs", "saved_outputs", "layout_inputs", "layouts",
                 "residual_program", "node_class", "plain_output", "checks_versions", "aliased_residuals")

    @classmethod
    def build(cls, traced: Traced, mask) -> "GradPlan | None":
        program, op = traced.program, traced.op
        wrt = tuple(i for i, m in enumerate(mask) if m and is_float(program.inputs[i].type.dtype))
        if not wrt:
            return None
        connected = float_dependents(program, wrt)
        diff_outputs = tuple(j for j, v in enumerate(program.outputs)
                             if type(v) is not Literal and v in connected)
        if not diff_outputs:
            return None
        self = cls()
        self.op = op
        self.n_out = traced.n_out
        self.wrt = wrt
        self.wrt_mask = tuple(i in wrt for i in range(len(program.inputs)))
        self.nondiff = op.nondiff
        self.diff_outputs = diff_outputs
        self.ct_types = [program.outputs[j].type for j in diff_outputs]
        # Keep the rules' own operations (no simplification): they are what PyTorch's backward computes,
        # and under create_graph what the recorded nodes are named after.
        self.split = split = vjp_split(program, wrt, diff_outputs, save="forward", simplified=False)
        self.forward = compile_program(split.forward, op.variant, owned_outputs=0 if op.view else traced.n_out,
                                       keep_views=op.view)
        self.backward = compile_program(split.backward, op.variant)
        self.n_saved = len(split.forward.outputs) - traced.n_out
        self.saved_inputs = split.saved_inputs
        self.saved_outputs = split.saved_outputs
        self.layout_inputs = matmul_cotangents(split.backward, wrt)
        self.layouts = {}
        self.residual_program = None
        # looked up once here rather than on every call (`_record` runs per op call in a training loop)
        self.node_class = node_class(op.node_name)
        self.plain_output = traced.n_out == 1 and not op.view and bool(diff_outputs)
        saved = {r for r, _ in self.saved_inputs}
        self.aliased_residuals = tuple((r, i) for r in range(self.n_saved) if r not in saved
                                       for i in self.forward.shares[traced.n_out + r])
        self.checks_versions = bool(self.saved_inputs or self.saved_outputs or self.aliased_residuals)
        return self

    def output_cotangents(self, cts) -> list:
        """The backward's cotangent arguments from one cotangent (or None, a zero) per output."""
        return [np.zeros(t.shape, t.dtype) if cts[j] is None else cts[j]
                for j, t in zip(self.diff_outputs, self.ct_types)]

    def backward_for(self, column_major):
        """The backward computing the cotangents of the inputs flagged in `column_major` (one flag per
        `layout_inputs` entry) as column-major products."""
        fn = self.layouts.get(column_major)
        if fn is None:
            program = self.split.backward
            outputs = {program.outputs[k] for (k, _), flag in zip(self.layout_inputs, column_major) if flag}
            fn = self.layouts[column_major] = compile_program(column_major_products(program, outputs),
                                                              self.op.variant)
        return fn

    def backward_on_tensors(self, args, cts) -> list:
        """The cotangents of the `wrt` inputs as Tensors recorded in the graph (create_graph=True): the
        residuals recomputed from the op's inputs `args` and the backward program, each equation applied as
        a one-primitive facade op, so the gradient has a graph and can be differentiated again."""
        with _grad_mode.enable_grad():
            residuals = apply_program(self.residuals_only(), args)
            results = apply_program(self.split.backward, residuals + self.output_cotangents(cts))
        return [make(np.asarray(r)) if type(r) is np.ndarray else r for r in results]

    def residuals_only(self) -> Program:
        """The forward reduced to what computes the residuals (a create_graph backward recomputes them)."""
        if self.residual_program is None:
            forward = self.split.forward
            residuals = forward.outputs[self.n_out:]
            needed = needed_equations(forward.equations, residuals)
            self.residual_program = Program(forward.inputs, tuple(e for e in forward.equations if e in needed),
                                            residuals)
        return self.residual_program


def float_dependents(program: Program, wrt) -> set:
    """The Vars that depend on the `wrt` inputs through float values: PyTorch gives these a grad_fn, also
    where the derivative is zero by declaration (sign, floor), but not past a bool or int value, nor past
    stop_gradient (a detach)."""
    reached = {program.inputs[i] for i in wrt}
    for eqn in program.equations:
        if eqn.prim is not stop_gradient_p and any(type(a) is not Literal and a in reached for a in eqn.inputs):
            reached.update(v for v in eqn.outputs if is_float(v.type.dtype))
    return reached


def matmul_cotangents(program: Program, wrt) -> tuple:
    """(output position, input index) for the backward's outputs made by one 2-D matmul equation."""
    producer = {v: eqn for eqn in program.equations for v in eqn.outputs}
    found = []
    for k, (v, i) in enumerate(zip(program.outputs, wrt)):
        eqn = producer.get(v) if type(v) is not Literal else None
        if eqn is not None and eqn.prim is matmul_p and all(a.type.ndim == 2 for a in eqn.inputs):
            found.append((k, i))
    return tuple(found)


def column_major_products(program: Program, outputs) -> Program:
    """`program` with the 2-D matmuls that produce `outputs` computed as (b.T @ a.T).T: the same products,
    laid out column-major."""
    chosen = {eqn for eqn in program.equations if eqn.outputs[0] in outputs}

    def run(*args):
        env = dict(zip(program.inputs, args))

        def read(atom):
            return atom.value if type(atom) is Literal else env[atom]

        for eqn in program.equations:
            values = [read(a) for a in eqn.inputs]
            if eqn in chosen:
                a, b = values
                out = transpose(matmul_p.bind(transpose(b, (1, 0)), transpose(a, (1, 0))), (1, 0))
            else:
                out = eqn.prim.bind(*values, **eqn.params)
            env.update(zip(eqn.outputs, out if eqn.prim.multiple_results else [out]))
        return [read(v) for v in program.outputs]

    relaid, captured = trace_flat(run, list(program.in_types))
    assert not captured
    return relaid


# ---- running an op on Tensors ---------------------------------------------------------------------------

def apply(op, args, static=(), multi=False):
    """Run facade op `op` on `args` (Tensors, or numpy arrays as constants) with static arguments `static`.

    Looks up (or traces) the op for these input types; runs its forward on the arrays; when grad mode is
    on and an input requires grad, records one node (named as PyTorch names the op) whose edges lead to
    those inputs. Returns a Tensor, or a tuple of Tensors when `multi`. Inside a forward-AD dual level, inputs
    carrying tangents give the outputs theirs (`_apply_dual`).
    """
    if _dual_state.tangents and not _dual_state.busy:
        return _apply_dual(op, args, static, multi)
    arrays = []
    mask = []               # which inputs require grad
    any_grad = False
    tracing = False
    for a in args:
        if type(a) is np.ndarray:
            arrays.append(a)
            mask.append(False)
        else:
            data = a._data
            arrays.append(data)
            if type(data) is not np.ndarray:
                tracing = True
            needs = a._grad_fn is not None or a._requires_grad
            mask.append(needs)
            any_grad = any_grad or needs
    key = trace_key(static, arrays)
    traced = op.traces.get(key)
    if traced is None:
        traced = op.trace(key, arrays, static)
    if tracing:
        return _bind(traced, arrays, multi)
    if any_grad and _grad_state.enabled:
        mask = tuple(mask)
        plan = traced.plans.get(mask, False)
        if plan is False:
            plan = traced.plan(mask)
        if plan is not None:
            return _record(op, traced, plan, args, arrays, multi)
    outs = traced.forward(*arrays)
    if op.view:
        outs = [_view_of(args[0], o) for o in outs]
        return tuple(outs) if multi else outs[0]
    if multi:
        return tuple([make(o) for o in outs])
    return make(outs[0])


def _apply_dual(op, args, static, multi):
    """apply, plus forward-mode AD: when inputs carry tangents (torch.autograd.forward_ad), the outputs get the
    tangents the JVP of the op's program computes from them, itself applied as a facade op (so a tangent has a
    graph when its inputs do)."""
    tangents = [tangent_of(a) if type(a) is not np.ndarray else None for a in args]
    _dual_state.busy = True
    try:
        result = apply(op, args, static, multi)
        if any(t is not None for t in tangents):
            outs = result if multi else (result,)
            traced = op.traces[trace_key(static, [a if type(a) is np.ndarray else a._data for a in args])]
            mask = tuple(t is not None and is_float(a._data.dtype) for a, t in zip(args, tangents))
            tangent_op = traced.tangent_ops.get(mask)
            if tangent_op is None:
                tangent_op = traced.tangent_ops[mask] = tangent_facade_op(traced, mask)
            if tangent_op.fn is not None:
                given = [t if m else None for t, m in zip(tangents, mask)]
                out_tangents = apply(tangent_op, tuple(args) + tuple(t for t in given if t is not None), (),
                                     multi=True)
                for out, tangent in zip(outs, out_tangents):
                    if is_float(out._data.dtype):
                        set_tangent(out, tangent)
    finally:
        _dual_state.busy = False
    return result


def trace_key(static, arrays) -> tuple:
    """The key of an op's trace cache: its static arguments and its inputs' dtypes and shapes (flat for the
    common one- and two-input ops)."""
    if len(arrays) == 1:
        x = arrays[0]
        return (static, x.dtype, x.shape)
    if len(arrays) == 2:
        x, y = arrays
        return (static, x.dtype, x.shape, y.dtype, y.shape)
    return (static,) + tuple([(a.dtype, a.shape) for a in arrays])


def tangent_facade_op(traced, mask) -> FacadeOp:
    """The facade op computing the output tangents of `traced` from its inputs and the tangents of the inputs
    flagged in `mask`: the JVP of its program (fgrad.transforms.jvp). fn is None when no tangent is float."""
    if not any(mask):
        return FacadeOp(f"{traced.op.name}_jvp", None, traced.op.node_name)
    program = jvp_program(traced.program, mask)
    n_out = traced.n_out

    def tangents_fn(*xs):
        return eval_program(program, *xs)[n_out:]
    return FacadeOp(f"{traced.op.name}_jvp", tangents_fn, traced.op.node_name, variant=traced.op.variant)


def _bind(traced, arrays, multi):
    """The op on values a transform traces (fgrad.func, fgrad.grad over facade code): its program's
    equations bound in the current interpreter, so the transform records them; no node, no graph."""
    outs = [make(o) for o in eval_program(traced.program, *arrays)]
    return tuple(outs) if multi else outs[0]


def _record(op, traced, plan, args, arrays, multi):
    results = plan.forward(*arrays)
    n_out = plan.n_out
    edges = tuple([edge_of(a) if needs else None for a, needs in zip(args, plan.wrt_mask)])
    node = plan.node_class(plan, args, results[n_out:], edges)
    if _anomaly_state.enabled:
        _anomaly.record(node, op.name)
    if plan.layout_inputs:
        column_major = tuple([_column_major(arrays[i]) for _, i in plan.layout_inputs])
        if True in column_major:
            node._backward = plan.backward_for(column_major)
    if plan.plain_output:
        out = make(results[0], node, 0)
        if plan.checks_versions:
            node._versions = saved_versions(node, plan, args, (out,))
        return (out,) if multi else out
    diff = plan.diff_outputs
    if n_out == 1 and not op.view:
        outs = [make(results[0], node, 0) if diff else make(results[0])]
    else:
        outs = []
        for j in range(n_out):
            t = make(results[j], node, j) if j in diff else make(results[j])
            if op.view:
                share_storage(args[0], t)
            outs.append(t)
    if plan.checks_versions:
        node._versions = saved_versions(node, plan, args, outs)
    return tuple(outs) if multi else outs[0]


def _column_major(a) -> bool:
    flags = a.flags
    return flags.f_contiguous and not flags.c_contiguous


def _view_of(base, data):
    t = make(data)
    share_storage(base, t)
    return t


def share_storage(base, view):
    """`view` aliases `base`'s memory: it shares the version counter, and `_base` is the storage owner."""
    if type(base) is np.ndarray:
        return
    view._vc = base._vc
    view._base = base._base if base._base is not None else base


# ---- one primitive as an op (what a recorded backward is made of) -----------------------------------------

_primitive_ops = {}


def primitive_op(prim) -> FacadeOp:
    """The facade op that binds one primitive (its node named as PyTorch names the matching op): a
    backward run with create_graph=True is its program's equations applied as these, on Tensors."""
    op = _primitive_ops.get(prim)
    if op is None:
        op = _primitive_ops[prim] = FacadeOp(
            prim.name, lambda *xs: prim.bind(*xs[:-1], **xs[-1]), primitive_node_name(prim.name),
            view=prim.aliases_input is True)
    return op


def apply_program(program: Program, values) -> list:
    """Run `program` on `values` (Tensors, or numpy arrays as constants) one equation at a time, each as
    `primitive_op(prim)`: so every step is recorded in the graph (when grad mode is on)."""
    env = dict(zip(program.inputs, values))

    def read(atom):
        return atom.value if type(atom) is Literal else env[atom]

    for eqn in program.equations:
        prim = eqn.prim
        out = apply(primitive_op(prim), [read(a) for a in eqn.inputs], (eqn.params,), multi=prim.multiple_results)
        env.update(zip(eqn.outputs, out if prim.multiple_results else [out]))
    return [read(v) for v in program.outputs]


_PRIMITIVE_NODE_NAMES = {
    "integer_pow": "PowBackward0", "pow": "PowBackward1", "log1p": "Log1PBackward0",
    "logistic": "SigmoidBackward0", "select": "WhereBackward0", "convert_element_type": "ToCopyBackward0",
    "broadcast_to": "ExpandBackward0", "reshape": "ViewBackward0", "transpose": "PermuteBackward0",
    "squeeze": "SqueezeBackward1", "expand_dims": "UnsqueezeBackward0", "reduce_sum": "SumBackward1",
    "reduce_max": "AmaxBackward0", "reduce_min": "AminBackward0", "matmul": "MmBackward0",
    "slice": "SliceBackward0", "pad": "ConstantPadNdBackward0", "concatenate": "CatBackward0",
    "gather": "IndexSelectBackward0", "scatter": "IndexCopyBackward0", "scatter_add": "IndexAddBackward0",
    "cumsum": "CumsumBackward0", "solve": "LinalgSolveExBackward0", "stop_gradient": "DetachBackward0",
}


def primitive_node_name(name: str) -> str:
    """PyTorch's node name for the op closest to primitive `name` (sin -> SinBackward0)."""
    if name in _PRIMITIVE_NODE_NAMES:
        return _PRIMITIVE_NODE_NAMES[name]
    return "".join(part.capitalize() for part in name.split("_")) + "Backward0"
