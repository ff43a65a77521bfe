"""Function transforms over pytrees: grad, value_and_grad, vjp, jvp, linearize, jacfwd, jacrev, hessian.

Each one traces the user's function into a Program (`trace_pytree`), derives a new Program from it
(`vjp_eval` / `jvp_eval` traced, then `simplify`) and runs that with `eval_program` in the current
interpreter, so under an outer transform the derivative is traced inline (higher order for free).
Outer tracers that the function closes over are *captured*: they become extra inputs that the inner
transform treats as constants, which is why nested transforms cannot confuse their perturbations.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fgrad.ir import Literal, Program, eval_program, is_float, pytree, trace_flat, trace_pytree
from fgrad.ir.ownership import owned_results, program_constants
from fgrad.numpy._array import as_arrays
from fgrad.ops.base import as_value, is_tracer, typeof
from fgrad.ops.core import reshape, transpose
from fgrad.ops.creation import iota
from fgrad.ops.elementwise import cast, eq
from fgrad.ops.slicing import static_slice
from fgrad.transforms.jvp import jvp_function
from fgrad.transforms.simplify import simplify_derived
from fgrad.transforms.vjp import split_program, vjp_eval, vjp_split
from fgrad.transforms.vmap import vmap

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "linearize", "jacfwd", "jacrev", "jacobian", "hessian"]


# ---- tracing a call ---------------------------------------------------------------------------------

@dataclass
class TracedCall:
    """`fun(*args)` traced: the program runs as `eval_program(program, *leaves, *captured)`."""
    program: Program
    captured: list
    leaves: list            # the leaves of the args, in order
    arg_trees: list         # the TreeDef of each positional arg
    arg_starts: list        # where each positional arg's leaves start in `leaves` (one extra: the end)
    main_tree: pytree.TreeDef   # the output (the first element of the pair when has_aux)
    aux_tree: pytree.TreeDef | None
    num_main: int           # the main output's leaves come first in program.outputs, then the aux leaves

    def run(self, program: Program, *extra) -> list:
        return run_program(program, *self.leaves, *self.captured, *extra)

    def leaf_range(self, argnum: int) -> range:
        return range(self.arg_starts[argnum], self.arg_starts[argnum + 1])


def run_program(program: Program, *args) -> list:
    """eval_program, with concrete results as arrays the caller owns: numpy arrays (0-d included, not numpy
    scalars), writable, and sharing memory with none of `args`, the program's constants or each other.

    Every result a transform hands to the user, and every value kept between calls (residuals), comes from
    here, so `g *= lr` can never change the user's inputs, a closed-over array or a kept residual. Arrays come
    back as fgrad Arrays (a zero-copy view), so they have `.at`.
    """
    results = [x if is_tracer(x) else np.asarray(x) for x in eval_program(program, *args)]
    if all(is_tracer(x) for x in results):
        return results
    return as_arrays(owned_results(results, [*args, *program_constants(program)]))


def trace_call(fun, args, has_aux: bool) -> TracedCall:
    args = tuple(args)
    arg_trees, arg_starts = [], [0]
    for a in args:
        leaves, tree = pytree.tree_flatten(a)
        arg_trees.append(tree)
        arg_starts.append(arg_starts[-1] + len(leaves))
    # A concrete trace: Python control flow in `fun` sees this call's values (fgrad.ir.concrete).
    program, captured, out_tree, leaves = trace_pytree(fun, args, concrete=True)
    main_tree, aux_tree = split_aux(fun, out_tree, has_aux)
    return TracedCall(program, captured, [as_value(x) for x in leaves], arg_trees, arg_starts,
                      main_tree, aux_tree, main_tree.num_leaves)


def split_aux(fun, out_tree, has_aux: bool):
    """(main output tree, aux tree or None); has_aux=True needs `fun` to return a pair."""
    if not has_aux:
        return out_tree, None
    if out_tree.node_type not in (tuple, list) or len(out_tree.children) != 2:
        raise TypeError(f"has_aux=True requires {function_name(fun)} to return a pair (output, aux), but it "
                        f"returned {describe_tree(out_tree)}; return `out, aux` or drop has_aux=True")
    return out_tree.children


def function_name(fun) -> str:
    return getattr(fun, "__name__", None) or type(fun).__name__


def describe_tree(tree) -> str:
    if tree.node_type is None:
        return "a single array"
    return f"a {tree.node_type.__name__} of {len(tree.children)} elements with structure {tree!r}"


def argnums_tuple(fun, argnums, nargs: int) -> tuple:
    """`argnums` as a tuple of non-negative ints, or an error naming the valid range."""
    nums = (argnums,) if isinstance(argnums, (int, np.integer)) else tuple(argnums)
    if not nums:
        raise ValueError("argnums is empty; name at least one positional argument to differentiate")
    out = []
    for a in nums:
        if not -nargs <= a < nargs:
            valid = f"so argnums must be in 0..{nargs - 1} (or negative from the end)" if nargs else \
                "pass the arguments to differentiate positionally"
            raise ValueError(f"argnums={argnums!r} is out of range: {function_name(fun)} was called with {nargs} "
                             f"positional argument{'s' if nargs != 1 else ''}; {valid}")
        out.append(int(a) % nargs)
    if len(set(out)) != len(out):
        raise ValueError(f"argnums={argnums!r} names an argument twice; list each argument once")
    return tuple(out)


def check_float_args(fun, args, argnums, what: str):
    """Differentiation is only defined for float inputs: say which argument is not, and its dtype."""
    for i in argnums:
        for leaf in pytree.tree_leaves(args[i]):
            where = "" if pytree.tree_structure(args[i]) == pytree.LEAF else " (a leaf of it)"
            try:
                t = typeof(leaf)
            except TypeError as e:
                raise TypeError(f"{what} can only differentiate with respect to float arrays, but argument {i} of "
                                f"{function_name(fun)}{where} is {type(leaf).__name__} ({e}); leave argument {i} "
                                "out of argnums") from None
            if not is_float(t.dtype):
                raise TypeError(f"{what} can only differentiate with respect to float inputs, but argument {i} of "
                                f"{function_name(fun)}{where} has dtype {t.dtype.name} ({t}); pass a float array "
                                f"(e.g. x.astype(float)), or leave argument {i} out of argnums")


def tangent_mask(traced: TracedCall) -> list:
    """Tangents for the float leaves of the arguments; captures are constants of this transform."""
    return [is_float(typeof(x).dtype) for x in traced.leaves] + [False] * len(traced.captured)


def unflatten_per_arg(traced: TracedCall, argnums, flat) -> tuple:
    """Split a flat list of per-leaf values of the `argnums` args into one pytree per arg."""
    it = iter(flat)
    return tuple(pytree.tree_unflatten(traced.arg_trees[i], [next(it) for _ in traced.leaf_range(i)])
                 for i in argnums)


# ---- running a split program ------------------------------------------------------------------------

class Staged:
    """A program cut by `split_program` whose first part has already run (its outputs in `first_outputs`):
    call it with the unknown inputs to run the second part, which returns the remaining outputs."""

    def __init__(self, program: Program, unknown_inputs, n_first: int, known_args):
        # A first output computed by the same equation as an unknown one (a loop carrying primal and tangent
        # together) cannot run early: the second part computes it too, and its value now comes from one run of
        # the second part on zeros (it does not depend on them).
        late = [j for j in dependent_outputs(program, unknown_inputs) if j < n_first]
        early = [j for j in range(n_first) if j not in late]
        order = early + list(range(n_first, len(program.outputs))) + late
        reordered = Program(program.inputs, program.equations, tuple(program.outputs[j] for j in order))
        split = split_program(reordered, unknown_inputs, len(early))
        values = run_program(split.first, *known_args)
        self.residuals, self.second, self.n_late = values[len(early):], split.second, len(late)
        first = dict(zip(early, values[:len(early)]))
        if late:
            zeros = [np.zeros(v.type.shape, v.type.dtype) for v, u in zip(program.inputs, unknown_inputs) if u]
            first.update(zip(late, run_program(split.second, *self.residuals, *zeros)[-len(late):]))
        self.first_outputs = [first[j] for j in range(n_first)]

    def __call__(self, *unknown_args) -> list:
        out = run_program(self.second, *self.residuals, *unknown_args)
        return out[:len(out) - self.n_late]


def dependent_outputs(program: Program, unknown_inputs) -> list:
    """The positions of the outputs of `program` that depend on the inputs flagged in `unknown_inputs`."""
    unknown = {v for v, u in zip(program.inputs, unknown_inputs) if u}
    for eqn in program.equations:
        if any(type(a) is not Literal and a in unknown for a in eqn.inputs):
            unknown.update(eqn.outputs)
    return [j for j, v in enumerate(program.outputs) if type(v) is not Literal and v in unknown]


# ---- reverse mode -----------------------------------------------------------------------------------

def grad_program(program: Program, wrt, keep_outputs: list) -> tuple[Program, list]:
    """The gradient of output 0 of `program` w.r.t. inputs `wrt`, its cotangent seeded with a literal one.

    Outputs: (the outputs at `keep_outputs`..., gradients...). Other outputs (aux) get no cotangent.
    Returns the program and its extra inputs (see `derive`).
    """
    seed = np.ones((), program.out_types[0].dtype)
    no_cts = [None] * (len(program.outputs) - 1)

    def fun(*args):
        outs, in_cts = vjp_eval(program, args, wrt, [seed] + no_cts)
        return [outs[i] for i in keep_outputs] + in_cts

    return derive(fun, list(program.in_types))


def derive(fun, in_types) -> tuple[Program, list]:
    """Trace `fun`, a transform of a program, into a simplified Program and its extra inputs.

    The extra inputs are values from enclosing traces that user rules (custom_vjp / custom_jvp) close over;
    they come after `in_types` and are passed when the program runs.
    """
    program, extra = trace_flat(fun, in_types)
    return simplify_derived(program), extra


def check_scalar_output(fun, traced: TracedCall):
    if not pytree.is_single_array(traced.main_tree):
        raise TypeError(f"grad requires {function_name(fun)} to return a scalar, but it returned "
                        f"{describe_tree(traced.main_tree)}; use fgrad.vjp or fgrad.jacrev for functions with "
                        "several or non-scalar outputs")
    t = traced.program.out_types[0]
    if t.shape != ():
        raise TypeError(f"grad requires {function_name(fun)} to return a scalar, but its output has shape "
                        f"{t.shape} ({t}); reduce it to a scalar (e.g. fnp.sum), or use fgrad.vjp or "
                        "fgrad.jacrev for non-scalar outputs")
    if not is_float(t.dtype):
        raise TypeError(f"grad requires {function_name(fun)} to return a float scalar, but its output has dtype "
                        f"{t.dtype.name} ({t}); the derivative of an integer or bool output is not defined")


def _value_and_grad_impl(fun, argnums, has_aux, keep_value, args, kwargs):
    nums = argnums_tuple(fun, argnums, len(args))
    check_float_args(fun, args, nums, "grad")
    # Only the differentiated arguments are traced; the others reach `fun` as they are, as in JAX.
    traced = trace_call(of_selected_args(fun, args, kwargs, nums), [args[i] for i in nums], has_aux)
    check_scalar_output(fun, traced)
    n_out = len(traced.program.outputs)
    keep = ([0] if keep_value else []) + list(range(1, n_out))
    adjoint, extra = grad_program(traced.program, range(len(traced.leaves)), keep)
    results = traced.run(adjoint, *extra)
    kept, grads = results[:len(keep)], results[len(keep):]
    value = pytree.tree_unflatten(traced.main_tree, kept[:1]) if keep_value else None
    aux = pytree.tree_unflatten(traced.aux_tree, kept[len(keep) - (n_out - 1):]) if has_aux else None
    per_arg = unflatten_per_arg(traced, range(len(nums)), grads)
    g = per_arg[0] if isinstance(argnums, (int, np.integer)) else per_arg
    return value, g, aux


def value_and_grad(fun, argnums=0, has_aux=False):
    """A function returning `fun`'s value and its gradient w.r.t. the `argnums` arguments.

    With has_aux=True `fun` returns (value, aux) and the result is ((value, aux), grad).

    >>> import fgrad, fgrad.numpy as fnp
    >>> fgrad.value_and_grad(lambda x: fnp.sin(x) * 2.0)(0.0)
    (array(0.), array(2.))
    """
    def value_and_grad_fun(*args, **kwargs):
        value, g, aux = _value_and_grad_impl(fun, argnums, has_aux, True, args, kwargs)
        return ((value, aux), g) if has_aux else (value, g)
    value_and_grad_fun.__name__ = f"value_and_grad({function_name(fun)})"
    return value_and_grad_fun


def grad(fun, argnums=0, has_aux=False):
    """The gradient of scalar-valued `fun` w.r.t. argument `argnums` (an int, or a tuple for a tuple of grads).

    The gradient has the structure and dtype of the argument; with has_aux=True `fun` returns
    (value, aux) and the result is (grad, aux). Composes to any order. Concrete results are fgrad Arrays.

    >>> import fgrad, fgrad.numpy as fnp
    >>> fgrad.grad(lambda x: fnp.sum(x ** 2))(fnp.array([1.0, 2.0]))
    array([2., 4.])
    >>> fgrad.grad(fgrad.grad(fnp.sin))(0.5)        # -sin(0.5)
    array(-0.47942554)

    Outside jit, Python control flow sees the arguments' values; the gradient is that of the path taken:

    >>> fgrad.grad(lambda x: x ** 2 if x > 0 else -x)(3.0)
    array(6.)
    """
    def grad_fun(*args, **kwargs):
        _, g, aux = _value_and_grad_impl(fun, argnums, has_aux, False, args, kwargs)
        return (g, aux) if has_aux else g
    grad_fun.__name__ = f"grad({function_name(fun)})"
    return grad_fun


def vjp(fun, *primals, has_aux=False):
    """`fun(*primals)` and a function pulling output cotangents back to the primals.

    Returns (out, vjp_fn), or (out, vjp_fn, aux) with has_aux=True. `vjp_fn(ct)` takes a cotangent
    shaped like `out` and returns a tuple with one cotangent per primal. The forward sweep runs once,
    here; each vjp_fn call runs only the reverse sweep.

    >>> import fgrad, fgrad.numpy as fnp
    >>> out, vjp_fn = fgrad.vjp(fnp.sin, 0.0)
    >>> vjp_fn(2.0)
    (array(2.),)
    """
    traced = trace_call(fun, primals, has_aux)
    program = traced.program
    n_out = len(program.outputs)
    split = vjp_split(program, range(len(traced.leaves)), range(traced.num_main))
    values = run_program(split.forward, *traced.leaves, *traced.captured, *split.extra)
    outs, residuals = values[:n_out], values[n_out:]
    out = pytree.tree_unflatten(traced.main_tree, outs[:traced.num_main])
    main_types = program.out_types[:traced.num_main]

    def vjp_fn(ct):
        ct_leaves = matching_leaves(ct, traced.main_tree, main_types, "the cotangent passed to vjp_fn",
                                    "the output of " + function_name(fun))
        in_cts = run_program(split.backward, *residuals, *ct_leaves)
        return unflatten_per_arg(traced, range(len(primals)), in_cts)

    if has_aux:
        return out, vjp_fn, pytree.tree_unflatten(traced.aux_tree, outs[traced.num_main:])
    return out, vjp_fn


def matching_leaves(tree, expected_tree, types, what: str, like: str) -> list:
    """The leaves of `tree`, checked against `expected_tree` and `types` (Python scalars take the dtype)."""
    leaves, tree_def = pytree.tree_flatten(tree)
    if tree_def != expected_tree:
        raise ValueError(f"{what} must have the structure of {like}, {expected_tree!r}, but has {tree_def!r}")
    out = []
    for k, (leaf, t) in enumerate(zip(leaves, types)):
        lt = typeof(leaf)
        if lt.shape != t.shape:
            raise ValueError(f"{what}: leaf {k} has shape {lt.shape} ({lt}) but {like} has shape {t.shape} ({t})")
        weak = type(leaf) in (bool, int, float)
        if lt.dtype != t.dtype and not weak:
            raise TypeError(f"{what}: leaf {k} has dtype {lt.dtype.name} but {like} has dtype {t.dtype.name}; "
                            f"cast it with .astype({t.dtype.name})")
        out.append(cast(leaf, t.dtype))
    return out


# ---- forward mode -----------------------------------------------------------------------------------

def jvp(fun, primals, tangents, has_aux=False):
    """`fun(*primals)` and its directional derivative along `tangents` (pytrees like `primals`).

    Returns (out, out_dot), or (out, out_dot, aux) with has_aux=True.

    >>> import fgrad, fgrad.numpy as fnp
    >>> fgrad.jvp(fnp.sin, (0.0,), (3.0,))
    (array(0.), array(3.))
    """
    primals, tangents = as_arg_tuple(primals, "primals"), as_arg_tuple(tangents, "tangents")
    traced = trace_call(fun, primals, has_aux)
    mask = tangent_mask(traced)
    tangent_leaves = float_tangent_leaves(traced, tangents)
    program, extra = jvp_joint_program(traced.program, mask)
    results = traced.run(program, *tangent_leaves, *extra)
    n_out = len(traced.program.outputs)
    outs, out_dots = results[:n_out], results[n_out:n_out + traced.num_main]
    out = pytree.tree_unflatten(traced.main_tree, outs[:traced.num_main])
    out_dot = pytree.tree_unflatten(traced.main_tree, out_dots)
    if has_aux:
        return out, out_dot, pytree.tree_unflatten(traced.aux_tree, outs[traced.num_main:])
    return out, out_dot


def jvp_joint_program(program: Program, mask) -> tuple[Program, list]:
    """The JVP program of `jvp_function`, simplified, allowing the extra inputs custom rules capture."""
    return derive(*jvp_function(program, mask))


def as_arg_tuple(xs, what: str) -> tuple:
    if not isinstance(xs, (tuple, list)):
        raise TypeError(f"{what} must be a tuple or list of arguments, got {type(xs).__name__}; "
                        f"for one argument x write ({what[:-1]}_x,) as in jvp(f, (x,), (x_dot,))")
    return tuple(xs)


def float_tangent_leaves(traced: TracedCall, tangents) -> list:
    """The tangent leaves of the float primal leaves, checked against the primals' structure and types."""
    n_args = len(traced.arg_trees)
    if len(tangents) != n_args:
        raise ValueError(f"got {len(tangents)} tangents for {n_args} primals; pass one tangent per primal")
    primal_types = [typeof(x) for x in traced.leaves]
    out = []
    for i, t in enumerate(tangents):
        rng = traced.leaf_range(i)
        leaves = matching_leaves(t, traced.arg_trees[i], [primal_types[j] for j in rng],
                                 f"tangent {i}", f"primal {i}")
        out += [leaf for leaf, j in zip(leaves, rng) if is_float(primal_types[j].dtype)]
    return out


def _linearize(fun, primals, has_aux):
    """(traced call, Staged jvp program taking the float tangent leaves) with the primal part evaluated."""
    traced = trace_call(fun, primals, has_aux)
    mask = tangent_mask(traced)
    program, extra = jvp_joint_program(traced.program, mask)
    unknown = [False] * len(traced.program.inputs) + [True] * sum(mask) + [False] * len(extra)
    staged = Staged(program, unknown, len(traced.program.outputs), [*traced.leaves, *traced.captured, *extra])
    return traced, staged


def linearize(fun, *primals, has_aux=False):
    """`fun(*primals)` and its JVP at `primals` as a function of tangents; the primal part is computed once.

    Returns (out, f_jvp), or (out, f_jvp, aux) with has_aux=True. `f_jvp(*tangents)` takes one tangent
    per primal.

    >>> import fgrad, fgrad.numpy as fnp
    >>> out, f_jvp = fgrad.linearize(fnp.sin, 0.0)
    >>> f_jvp(3.0)
    array(3.)
    """
    traced, staged = _linearize(fun, primals, has_aux)
    outs = staged.first_outputs
    out = pytree.tree_unflatten(traced.main_tree, outs[:traced.num_main])

    def f_jvp(*tangents):
        out_dots = staged(*float_tangent_leaves(traced, tangents))
        return pytree.tree_unflatten(traced.main_tree, out_dots[:traced.num_main])

    if has_aux:
        return out, f_jvp, pytree.tree_unflatten(traced.aux_tree, outs[traced.num_main:])
    return out, f_jvp


# ---- Jacobians --------------------------------------------------------------------------------------

def of_selected_args(fun, args, kwargs, nums):
    """`fun` as a function of the `nums` arguments only; the others are constants."""
    def selected_fun(*selected):
        full = list(args)
        for i, x in zip(nums, selected):
            full[i] = x
        return fun(*full, **kwargs)
    selected_fun.__name__ = function_name(fun)
    return selected_fun


def basis(types) -> list:
    """The standard basis of the flattened leaves of `types`, as one batch per leaf: leaf l gets shape
    (N,) + its shape, N the total size, holding row k of the N x N identity split at the leaves' boundaries.
    Built with iota ops, so under jit it is computed in the kernel rather than stored as an N x N constant."""
    total = sum(t.size for t in types)
    rows = iota((total, total), np.int64, 0)
    columns = iota((total, total), np.int64, 1)
    leaves, start = [], 0
    for t in types:
        block = static_slice(columns, (0, start), (total, start + t.size))
        one = eq(static_slice(rows, (0, start), (total, start + t.size)), block)
        leaves.append(reshape(cast(one, t.dtype), (total,) + t.shape))
        start += t.size
    return leaves


def split_blocks(batched, types, other_shape: tuple, batch_last: bool) -> list:
    """Cut the batch axis of `batched` (N,) + other_shape at the boundaries of `types`' sizes; each block as
    other_shape + t.shape (batch_last: the batch became the trailing axes) or t.shape + other_shape."""
    blocks, start = [], 0
    ndim = len(other_shape) + 1
    for t in types:
        starts = [start] + [0] * (ndim - 1)
        stops = [start + t.size] + list(other_shape)
        part = reshape(static_slice(batched, starts, stops), t.shape + other_shape)
        if batch_last:
            n = len(t.shape)
            part = transpose(part, tuple(range(n, n + len(other_shape))) + tuple(range(n)))
        blocks.append(part)
        start += t.size
    return blocks


def jac_tree(main_tree, arg_trees, blocks, single_arg: bool):
    """Nest the Jacobian blocks[o][l] as the output tree of (per-argument trees of) blocks, as JAX does."""
    out_leaves = []
    for row in blocks:
        it = iter(row)
        per_arg = tuple(pytree.tree_unflatten(tree, [next(it) for _ in range(tree.num_leaves)]) for tree in arg_trees)
        out_leaves.append(per_arg[0] if single_arg else per_arg)
    return pytree.tree_unflatten(main_tree, out_leaves)


def jacfwd(fun, argnums=0, has_aux=False):
    """The Jacobian of `fun` w.r.t. the `argnums` arguments by forward mode: one JVP program, vmapped over
    the basis of the inputs (its size does not grow with theirs).

    Each block has shape out.shape + in.shape; the result nests like JAX's: the output's pytree of the
    argument's pytree (a tuple over argnums when `argnums` is a tuple).

    >>> import fgrad, fgrad.numpy as fnp
    >>> fgrad.jacfwd(lambda x: x * 2.0)(fnp.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 2.]])
    """
    def jacfwd_fun(*args, **kwargs):
        nums = argnums_tuple(fun, argnums, len(args))
        check_float_args(fun, args, nums, "jacfwd")
        selected = [args[i] for i in nums]
        traced, staged = _linearize(of_selected_args(fun, args, kwargs, nums), selected, has_aux)
        n_out = len(traced.program.outputs)
        in_types = [typeof(x) for x in traced.leaves]
        out_types = traced.program.out_types[:traced.num_main]

        def pushforward(*tangents):
            return staged(*tangents)[:traced.num_main]

        # One JVP program pushes the whole basis through, batched by vmap: no loop over the input's size.
        columns = vmap(pushforward)(*basis(in_types))       # per output: (N,) + out.shape
        per_output = [split_blocks(c, in_types, ot.shape, True) for c, ot in zip(columns, out_types)]
        blocks = [as_arrays([per_output[o][l] for l in range(len(in_types))]) for o in range(len(out_types))]
        jac = jac_tree(traced.main_tree, traced.arg_trees, blocks, isinstance(argnums, (int, np.integer)))
        if has_aux:
            outs = staged.first_outputs[traced.num_main:n_out]
            return jac, pytree.tree_unflatten(traced.aux_tree, outs)
        return jac
    jacfwd_fun.__name__ = f"jacfwd({function_name(fun)})"
    return jacfwd_fun


def jacrev(fun, argnums=0, has_aux=False):
    """The Jacobian of `fun` w.r.t. the `argnums` arguments by reverse mode: one VJP program, vmapped over
    the basis of the outputs.

    Same layout as `jacfwd`; the forward sweep runs once.

    >>> import fgrad, fgrad.numpy as fnp
    >>> fgrad.jacrev(lambda x: fnp.sin(x))(fnp.array([0.0, 0.0]))
    array([[1., 0.],
           [0., 1.]])
    """
    def jacrev_fun(*args, **kwargs):
        nums = argnums_tuple(fun, argnums, len(args))
        check_float_args(fun, args, nums, "jacrev")
        selected = [args[i] for i in nums]
        result = vjp(of_selected_args(fun, args, kwargs, nums), *selected, has_aux=has_aux)
        out, vjp_fn = result[0], result[1]
        out_leaves, out_tree = pytree.tree_flatten(out)
        out_types = [typeof(x) for x in out_leaves]
        in_types = [typeof(x) for x in pytree.tree_leaves(selected)]

        def pullback(*cts):
            return pytree.tree_leaves(vjp_fn(pytree.tree_unflatten(out_tree, cts)))

        # One VJP program pulls the whole basis of output cotangents back, batched by vmap.
        rows = vmap(pullback)(*basis(out_types))            # per input leaf: (M,) + in.shape
        per_input = [split_blocks(r, out_types, it.shape, False) for r, it in zip(rows, in_types)]
        blocks = [as_arrays([per_input[l][o] for l in range(len(in_types))]) for o in range(len(out_types))]
        arg_trees = [pytree.tree_structure(x) for x in selected]
        jac = jac_tree(out_tree, arg_trees, blocks, isinstance(argnums, (int, np.integer)))
        return (jac, result[2]) if has_aux else jac
    jacrev_fun.__name__ = f"jacrev({function_name(fun)})"
    return jacrev_fun


jacobian = jacrev


def hessian(fun, argnums=0, has_aux=False):
    """The Hessian of scalar `fun`: jacfwd(jacrev(fun)), blocks of shape in.shape + in.shape.

    >>> import fgrad, fgrad.numpy as fnp
    >>> fgrad.hessian(lambda x: fnp.sum(x ** 3))(fnp.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    return jacfwd(jacrev(fun, argnums, has_aux), argnums, has_aux)
