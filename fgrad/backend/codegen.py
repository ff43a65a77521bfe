"""Program -> the Python source of one Numba kernel, with fused loop nests.

`generate(program, parallel=False)` plans the program in one forward walk, then writes the source:

- *Groups*: elementwise equations over one iteration space (one shape) share one loop nest; every value
  is a scalar local in the loop body, stored to an array only when something outside the nest reads it.
  Reductions (reduce_sum/max/min) join the nest of their producers as accumulators: a full reduction
  is a scalar accumulator, a partial one loops over the kept axes outside and the reduced axes inside.
- *Views*: broadcast_to, transpose, squeeze, expand_dims, reshape, slice, pad, concatenate, gather,
  iota and full have no storage. Whoever reads them computes the element from the base array with
  index arithmetic (a broadcast is an index fixed at 0, a slice `start + step * i`, a pad a condition).
- *Calls*: matmul and solve call np.dot / np.linalg.solve (BLAS and LAPACK); cumsum, argmax, scatter
  and scatter_add are loops of their own.

Calls are scheduled as early as their inputs allow, so elementwise work on both sides of a call fuses.
A cheap elementwise value read through a view at another index (a shifted slice, a pad) is recomputed
there from its inputs rather than stored to a temporary; expensive ones (exp, sin, ...) are stored once.

The source is deterministic and independent of array sizes: variables are named by program position
(`v3` a scalar, `a3` its array, `k0` an array constant, `n2` a size), sizes are read from the input
arrays or from the `dims` argument, and array constants are kernel arguments, so one Numba compile
serves every size and every constant value. Scalar literals are written inline with their exact repr.
The only size facts the text depends on are which broadcast axes have size 1 and which offsets are 0.

A 1-D full reduction runs in blocks of BLOCK elements, each with accumulators of its own (a float sum adds
with fgrad.backend.accumulate's `radd`, which LLVM vectorises), combined in block order afterwards. With
`parallel=True` the outer loop of each nest is a `prange` when its iterations write disjoint elements (the
blocks of a full reduction: never a shared `+=`). 1-D loops over windows of one axis share one pass, and
reads through pads run without conditions in the loop's interior (fgrad.backend.peel).
A nest of more than NESTED_LOOPS loops (arrays of high rank; Python allows 20 nested blocks) is one loop
over the flat position instead, its indices computed by div/mod: every rank numpy allows compiles, and
the common ranks keep their plain loops.

Every array the kernel returns belongs to the caller alone: an output returned twice is stored to a
second array in the loop that computes it, and an output that is an input (or a call's result returned
twice) is returned as a copy; outputs that alias nothing pay nothing.
"""
from __future__ import annotations

import heapq
import re
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from fgrad.backend import loop_order, peel, row_stream
from fgrad.ir import Equation, Literal, Program, Var, has_effect
from fgrad.ir.primitive import MISSING
from fgrad.ops.base import CallEmitter, LaneFunction, LaneScan

__all__ = ["LoweredKernel", "generate", "inline_calls", "without_locations", "fused_steps", "UnsupportedPrimitiveError"]

ENTRY = "kernel"
# A value read through a view (a slice, a pad, a broadcast) at another index is recomputed there when it
# takes at most this many cheap operations, rather than stored to a temporary array and loaded.
RECOMPUTE_LIMIT = 16
BLOCK = 4096          # elements per block of a 1-D full reduction (the unit of work of a prange)
LANES = 8             # independent accumulators that reduce a block
# Python allows 20 statically nested blocks. A nest of more loops than this (arrays of high rank) becomes one
# loop over the flat position whose digits are the indices; the few blocks left cover what nests inside.
NESTED_LOOPS = 16

# The index arithmetic (`view_<tag>`), folds and calls (`call_<tag>`) this module writes; a primitive's kind
# says which family its `numba` tag belongs to. Lane scans and lane functions (fgrad.ops.base) are calls
# described by data in the block, so a new scan or sort needs no code here.
VIEW_TAGS = frozenset({"broadcast", "transpose", "reshape", "slice", "pad", "concatenate", "gather", "iota",
                       "full"})
REDUCE_TAGS = frozenset({"reduce_sum", "reduce_max", "reduce_min"})
CALL_TAGS = frozenset({"matmul", "solve", "argmax", "scatter", "scatter_add", "lane_scan", "lane_function",
                       "call_emitter"})
# Control flow: structured statements whose sub-programs are written as nested code in the same kernel.
CONTROL_TAGS = frozenset({"cond", "while", "scan"})
# Calls whose inputs must be arrays (BLAS/LAPACK); the other calls read their inputs element by element.
ARRAY_INPUT_TAGS = frozenset({"matmul", "solve", "call_emitter"})

_CAST = {"float64": "np.float64", "float32": "np.float32", "int64": "np.int64", "int32": "np.int32",
         "bool": "np.bool_"}
# Numba computes these dtypes natively; results of other dtypes are cast back after each operation
# (numba widens int32 arithmetic to int64, and a float64 literal would widen float32).
_NATIVE = frozenset({"float64", "int64", "bool"})


# Comments name the user's line each equation came from after this mark (`# v3 = add v0 v2    @ model.py:12`).
# The kernel file on disk is written without them (`without_locations`), so its name, a hash of its text,
# does not change when the user's code moves to other lines: no recompiles for an edit elsewhere in a file.
LOCATION_MARK = "    @ "
_LOCATION = re.compile(r"^(\s*#.*?)" + re.escape(LOCATION_MARK) + r".*$", re.MULTILINE)


def without_locations(source: str) -> str:
    """`source` with the source locations cut from its comments (the text the kernel cache is keyed by)."""
    return _LOCATION.sub(r"\1", source)


class UnsupportedPrimitiveError(NotImplementedError):
    """A primitive has no Numba emitter (its block in fgrad/ops has no `numba=`)."""


@dataclass
class LoweredKernel:
    """The source of one kernel and how to call it.

    The kernel takes the program's inputs (0-d inputs as scalars), then `constants`, then `dims` (when
    `dims` is not None) and returns a tuple with one entry per `outputs` item of kind "kernel": 0-d
    outputs as scalars, others as arrays that alias no argument and no other entry.
    `outputs[i]` is ("kernel", position in that tuple) or ("literal", value).
    A kernel with `callbacks` (fgrad.debug) runs with them bound (fgrad.ops.debug.kernel_callbacks).
    """
    source: str
    entry: str
    constants: tuple
    dims: np.ndarray | None
    outputs: tuple
    uses_prange: bool
    callbacks: tuple = ()   # what the kernel's `run_kernel_callback(k, ...)` calls, by position k


# ---- inlining call primitives -------------------------------------------------------------------------

def inline_calls(program: Program) -> Program:
    """`program` with every equation of a "custom" primitive (custom_vjp / custom_jvp calls, which evaluate
    the primal program they hold) replaced by that program's equations."""
    while any(e.prim.kind == "custom" for e in program.equations):
        program = _inline_once(program)
    return program


def _inline_once(program: Program) -> Program:
    subst = {}

    def read(atom):
        return atom if type(atom) is Literal else subst.get(atom, atom)

    equations = []
    for eqn in program.equations:
        inputs = tuple(read(a) for a in eqn.inputs)
        sub = eqn.params["primal"] if eqn.prim.kind == "custom" else None
        if sub is None:
            equations.append(Equation(eqn.prim, inputs, eqn.params, eqn.outputs))
            continue
        inner = dict(zip(sub.inputs, inputs))
        for e in sub.equations:
            outs = tuple(Var(v.type) for v in e.outputs)
            equations.append(Equation(e.prim, tuple(a if type(a) is Literal else inner[a] for a in e.inputs),
                                      e.params, outs))
            inner.update(zip(e.outputs, outs))
        for v, out in zip(eqn.outputs, sub.outputs):
            subst[v] = out if type(out) is Literal else inner[out]
    return Program(program.inputs, tuple(equations), tuple(read(v) for v in program.outputs))


# ---- the plan ----------------------------------------------------------------------------------------

@dataclass(eq=False)
class Group:
    """One loop nest over `space`: elementwise members, copies of views, and reductions over `red_axes`."""
    index: int
    space: tuple
    space_var: Var
    red_axes: tuple | None = None
    members: list = field(default_factory=list)    # ("eqn", eqn) | ("copy", var)

    def domain(self, member) -> Var:
        """The Var whose shape `member` iterates over: the group's space, or a 1-D extent a little shorter
        (fgrad.backend.peel's domains)."""
        return member_var(member)


@dataclass(eq=False)
class Control:
    """A cond, while or scan: a structured statement whose sub-programs are written inside it."""
    index: int
    eqn: Equation


@dataclass(eq=False)
class Call:
    """A matmul, solve, cumsum, argmax, scatter or scatter_add: code of its own, writing one array."""
    index: int
    eqn: Equation


def tag_of(prim) -> str:
    """What the codegen does with `prim`: "elementwise" (a scalar expression in a fused loop), a view tag
    (index arithmetic), a fold, or a call; from the primitive's kind and its `numba` emitter."""
    emitter = prim.numba
    if emitter is MISSING or emitter is None:
        raise UnsupportedPrimitiveError(
            f"primitive '{prim.name}' has no Numba emitter; add `numba=` to the block that declares "
            f"{prim.name}_p (a scalar template like \"np.sin({{0}})\" or a structural tag)")
    if prim.kind == "elementwise":
        return "elementwise"
    if prim.kind == "control":
        if emitter not in CONTROL_TAGS:
            raise UnsupportedPrimitiveError(f"control-flow primitive '{prim.name}' has an unknown emitter {emitter!r}")
        return emitter
    if isinstance(emitter, CallEmitter):
        return "call_emitter"
    if isinstance(emitter, LaneScan):
        return "lane_scan"
    if isinstance(emitter, LaneFunction):
        return "lane_function"
    if emitter in VIEW_TAGS or emitter in REDUCE_TAGS or emitter in CALL_TAGS:
        return emitter
    raise UnsupportedPrimitiveError(f"primitive '{prim.name}' (kind {prim.kind}) has an unknown Numba emitter "
                                    f"{emitter!r}")


class Planner:
    """Assigns each equation to a loop group, a view, or a call, in program order."""

    def __init__(self, program: Program):
        self.program = program
        self.steps = []
        self.member_of = {}      # Var -> Group (computed as a scalar inside that group's loop)
        self.ready = {}          # Var -> step index after which it exists as an array (or a scalar if 0-d)
        self.views = {}          # Var -> Equation
        self.materialize = set() # member Vars that are also stored to their array
        self.recompute = set()   # member Vars that readers through views compute again at their index
        self.defining = {}       # member Var -> its equation
        for v in program.inputs:
            self.ready[v] = -1
        self.streamed = row_stream.streamed_products(program, VIEW_TAGS)   # id(matmul) -> "rowdot" | "rowacc"
        self.windows = window_axes(program)   # axes equal up to a shift (fgrad.backend.peel's domains)

    def run(self):
        for eqn in schedule(self.program):
            if eqn.prim.kind == "control":
                self.add_control(eqn)
                continue
            if eqn.prim.multiple_results and not eqn.prim.effectful:
                raise UnsupportedPrimitiveError(f"primitive '{eqn.prim.name}' has multiple results; the Numba "
                                                "backend has no emitter for it")
            tag = tag_of(eqn.prim)
            if eqn.prim.effectful:
                self.add_call(eqn, tag)
                continue
            out = eqn.outputs[0]
            if tag in VIEW_TAGS:
                self.views[out] = eqn
            elif tag == "elementwise":
                self.add_member(("eqn", eqn), out.type.shape, eqn.inputs, None)
            elif tag in REDUCE_TAGS:
                group = self.add_member(("eqn", eqn), eqn.inputs[0].type.shape, eqn.inputs, eqn.params["axes"])
                self.ready[out] = group.index
            elif id(eqn) in self.streamed:
                row_stream.plan_product(self, eqn, self.streamed[id(eqn)])
            else:
                self.add_call(eqn, tag)
        for v in self.program.outputs:
            if type(v) is Var:
                self.require_array(v)
        return self

    # -- what an input needs -------------------------------------------------------------------------
    def readable_after(self, atom) -> int:
        """Like `after`, for a read at another index (through a view): a cheap elementwise member is
        recomputed at that index from its own inputs instead of being stored and loaded."""
        if type(atom) is Literal:
            return -1
        if atom in self.ready:
            return self.ready[atom]
        if atom in self.member_of:
            if self.recompute_cost(atom) > RECOMPUTE_LIMIT:
                return self.after(atom)
            self.recompute.add(atom)
            return max((self.readable_after(a) for a in self.defining[atom].inputs), default=-1)
        eqn = self.views[atom]
        return max((self.readable_after(a) for a in eqn.inputs), default=-1)

    def recompute_cost(self, atom) -> int:
        """Operations to recompute `atom` from stored values (shared subexpressions counted each time)."""
        if type(atom) is Literal or atom in self.ready:
            return 0
        eqn = self.defining.get(atom) if atom in self.member_of else self.views.get(atom)
        if eqn is None or eqn.prim.expensive is True:
            return RECOMPUTE_LIMIT + 1
        cost = 0 if eqn.prim.numba in VIEW_TAGS else 1
        for a in eqn.inputs:
            cost += self.recompute_cost(a)
            if cost > RECOMPUTE_LIMIT:
                break
        return cost

    def after(self, atom) -> int:
        """The step index after which `atom` can be read by index from outside its own group."""
        if type(atom) is Literal:
            return -1
        if atom in self.ready:
            return self.ready[atom]
        if atom in self.member_of:
            group = self.member_of[atom]
            self.materialize.add(atom)
            self.ready[atom] = group.index
            return group.index
        eqn = self.views[atom]
        return max((self.after(a) for a in eqn.inputs), default=-1)

    def add_member(self, member, space, inputs, red_axes, whole=()) -> Group:
        """Put `member` in the latest group over `space` that every input is available to, or a new one.
        `whole`: arrays the member reads whole (a row-streamed product's matrix), stored before the group."""
        lowest, direct = 0, []
        same_index = member[0] != "copy"      # members read their inputs at their own index, copies a view
        for a in whole:
            lowest = max(lowest, self.after(a) + 1)
        for a in inputs:
            group = self.member_of.get(a) if type(a) is Var else None
            if group is not None and same_index:
                direct.append((a, group))     # read as a loop scalar if we join its group
                lowest = max(lowest, group.index)
            elif type(a) is Var and a in self.views:
                lowest = max(lowest, self.readable_after(a) + 1)
            else:
                lowest = max(lowest, self.after(a) + 1)
        chosen = None
        for step in reversed(self.steps[lowest:]):
            if (type(step) is Group and peel.shares_loop(step, space, member, self.windows_of)
                    and (red_axes is None or step.red_axes in (None, red_axes))):
                chosen = step
                break
        if chosen is None:
            chosen = Group(len(self.steps), space, member_var(member))
            self.steps.append(chosen)
        elif space[:1] > chosen.space[:1]:    # a longer neighbouring domain: the loop runs over it
            chosen.space, chosen.space_var = space, member_var(member)
        for a, group in direct:
            if group is not chosen:
                self.after(a)                 # stored by its own group, read by index here
        if red_axes is not None:
            chosen.red_axes = red_axes
        if member[0] == "copy":
            # A copy is asked for late (by an output, a BLAS call) and can land in a group whose earlier
            # members already read the view as the loop scalar it defines. Everything a copy reads exists
            # before its group starts (`lowest` above), so it goes first: the body computes it before
            # any member that uses it.
            chosen.members.insert(0, member)
            self.member_of[member[1]] = chosen
            self.defining[member[1]] = self.views[member[1]]
        else:
            chosen.members.append(member)
            if member[0] != "rowacc" and member[1].prim.numba not in REDUCE_TAGS:   # a fold's result is its accumulator
                self.member_of[member[1].outputs[0]] = chosen
                self.defining[member[1].outputs[0]] = member[1]
        return chosen

    def windows_of(self, a: Var, b: Var) -> bool:
        """Are the leading axes of `a` and `b` windows of one axis (equal, or slices and pads of each other)?"""
        return self.windows.find(("dim", a, 0)) == self.windows.find(("dim", b, 0))

    def require_array(self, var):
        """Make `var` exist as an array (a scalar if 0-d): store a member, copy a view."""
        if var in self.ready:
            return
        if var in self.member_of:
            self.after(var)
            return
        self.add_member(("copy", var), var.type.shape, self.views[var].inputs, None)
        self.after(var)

    def add_control(self, eqn):
        """Every input as an array (or scalar): the statement reads them whole, its sub-programs by name."""
        for a in eqn.inputs:
            if type(a) is Var:
                self.require_array(a)
        step = Control(len(self.steps), eqn)
        self.steps.append(step)
        for v in eqn.outputs:
            self.ready[v] = step.index

    def add_call(self, eqn, tag):
        for a in eqn.inputs:
            if type(a) is Literal:
                continue
            if tag in ARRAY_INPUT_TAGS and a in self.views and (tag == "call_emitter" or not self.is_transposed_array(a)):
                self.require_array(a)
            else:
                self.after(a)
        step = Call(len(self.steps), eqn)
        self.steps.append(step)
        if eqn.outputs:                       # an effect (debug.print) has none
            self.ready[eqn.outputs[0]] = step.index

    def is_transposed_array(self, var) -> bool:
        """A 2-D transpose of an array: BLAS reads it in place (Numba's `.T` is an F-ordered view)."""
        eqn = self.views.get(var)
        if eqn is None or eqn.prim.numba != "transpose" or var.type.ndim != 2:
            return False
        if type(eqn.inputs[0]) is Var:
            self.require_array(eqn.inputs[0])
        return True


def schedule(program: Program) -> list:
    """The equations in an order that runs each call (and view) as soon as its inputs exist and every
    other equation in program order: elementwise work then fuses across the calls it does not need."""
    producer = {}
    for i, eqn in enumerate(program.equations):
        for v in eqn.outputs:
            producer[v] = i
    waiting = [0] * len(program.equations)
    users = [[] for _ in program.equations]
    last_effect = None
    for i, eqn in enumerate(program.equations):
        deps = {producer[a] for a in eqn.inputs if type(a) is Var and a in producer}
        if has_effect(eqn):               # effects (debug.print) run in program order: each waits for the last
            if last_effect is not None:
                deps.add(last_effect)
            last_effect = i
        waiting[i] = len(deps)
        for d in deps:
            users[d].append(i)
    early = lambda eqn: tag_of(eqn.prim) in (CALL_TAGS | VIEW_TAGS | CONTROL_TAGS) if (
        eqn.prim.kind == "control" or eqn.prim.effectful or not eqn.prim.multiple_results) else False
    ready = [(0 if early(e) else 1, i) for i, e in enumerate(program.equations) if waiting[i] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, i = heapq.heappop(ready)
        order.append(program.equations[i])
        for u in users[i]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, (0 if early(program.equations[u]) else 1, u))
    return order


def member_var(member) -> Var:
    """The Var whose shape is the member's iteration space (a reduction iterates over its input)."""
    kind, what = member
    if kind == "copy":
        return what
    if kind == "rowacc":                  # u @ M iterates over u's elements (M's rows)
        return what.inputs[0]
    return what.inputs[0] if what.prim.numba in REDUCE_TAGS else what.outputs[0]


# ---- writing source --------------------------------------------------------------------------------

def format_scalar(value, dtype) -> str:
    """A scalar literal of `dtype` as exact Python source."""
    dtype = np.dtype(dtype)
    value = np.asarray(value, dtype).item()
    if dtype == np.bool_:
        return repr(bool(value))
    if dtype.kind == "i":
        text = repr(int(value))
    elif np.isnan(value):
        text = "np.nan"
    elif np.isinf(value):
        text = "np.inf" if value > 0 else "-np.inf"
    else:
        text = repr(float(value))
    if dtype.name in _NATIVE:
        return f"({text})" if text.startswith("-") else text
    return f"{_CAST[dtype.name]}({text})"


_PLAIN_INDEX = re.compile(r"[ij]\d+|\d+")


def subscript(idx, unsigned=False) -> str:
    """Index expressions as a subscript. Computed ones are non-negative by construction (offsets inside
    their guards, gathered indices normalised by the op) and become unsigned, which spares Numba's
    negative-index wraparound: that select on every load keeps LLVM from vectorising the loop. With
    `unsigned`, loop indices too (a loop whose bounds LLVM cannot prove non-negative: fgrad.backend.peel)."""
    return ", ".join(i if _PLAIN_INDEX.fullmatch(i) and (not unsigned or i.isdigit()) else f"np.uint64({i})"
                     for i in idx)


def cast_expr(expr: str, dtype) -> str:
    name = np.dtype(dtype).name
    return expr if name in _NATIVE else f"{_CAST[name]}({expr})"


_USES_MATH = re.compile(r"(?<![\w.])math\.")
_USES_RADD = re.compile(r"(?<![\w.])radd\(")


class Writer:
    """Writes the kernel source for a plan.

    A sub-program of a control-flow statement (a loop body, a branch) is written by a child Writer: its names
    carry a prefix of their own (`vb2_3`), its lines are indented under the statement, and it shares the
    kernel's constants, `dims` and vecmath imports with its root."""

    def __init__(self, plan: Planner, parallel: bool, vector_math: bool, root=None, prefix: str = "",
                 base: int = 0):
        self.plan = plan
        self.parallel = parallel
        self.vector_math = vector_math
        self.root = root or self
        self.prefix = prefix
        self.base = base                # extra indentation of every line (a sub-program's)
        self.children = 0               # sub-programs written so far (their prefixes)
        self.vector_functions = set() if root is None else root.vector_functions
        self.headers = [] if root is None else root.headers        # import lines a block's emitter asked for
        self.callbacks = [] if root is None else root.callbacks    # runtime objects, by position (`register_callback`)
        self.helpers = {} if root is None else root.helpers          # name -> source of a jitted helper
        self.in_loop = base > 0         # vecmath only pays inside loops (LLVM vectorises them)
        self.reduction_sink = None      # reduction -> buffer element the body stores its value to
        self.pad_bounds = None          # a list while fgrad.backend.peel writes a body: pads' bounds on i0
        self.pads_in_bounds = False     # while it writes the interior: those pads' conditions are left out
        self.unsigned_index = False     # loop indices as unsigned subscripts (see `subscript`)
        self.reduction_acc = {}         # reduction -> accumulator element (fgrad.backend.loop_order)
        self.reassociated = set()       # reductions whose accumulator adds with `radd` (block_folds)
        self.body_scalars = set()       # members whose loop scalar holds their element at `body_index`
        self.body_index = None          # the index of the body being written
        self.uses_prange = False
        self.number = {}
        for v in plan.program.inputs:
            self.number[v] = f"{prefix}{len(self.number)}"
        for eqn in plan.program.equations:
            for v in eqn.outputs:
                self.number[v] = f"{prefix}{len(self.number)}"
        self.constants = [] if root is None else root.constants          # arrays passed as arguments k0, k1, ...
        self.constant_names = {} if root is None else root.constant_names   # id(Literal value) -> name
        self.sizes = {}              # key -> name "nJ"
        self.size_lines = []
        self.dims = [] if root is None else root.dims
        self.axes = equal_axes(plan.program)
        self.lines = []
        self.current = None          # the step being written (loads from later-stored arrays are views)
        self.views_read = []         # view equations read by the step being written, for its comment
        # An array output returned more than once (a result repeated after CSE, equal gradients) gets an
        # array per extra return, stored in the same pass as its own when a loop computes it: the caller
        # owns each, for one pass over memory instead of the two of `.copy()` (on 1e6 float64, measured
        # 0.3 ms against 1.6 ms when the pages are warm).
        program = plan.program
        inputs = set(program.inputs)
        repeats = Counter(v for v in program.outputs if type(v) is Var and v.type.ndim > 0 and v not in inputs)
        self.extra_arrays = {v: [f"{self.array(v)}_{k}" for k in range(1, n)] for v, n in repeats.items() if n > 1}
        self.stored_twice = set()    # outputs whose extra arrays a loop filled

    # -- names -----------------------------------------------------------------------------------------
    def scalar(self, v) -> str:
        return f"v{self.number[v]}"

    def array(self, v) -> str:
        return f"a{self.number[v]}"

    def constant(self, lit: Literal) -> str:
        name = self.constant_names.get(id(lit.value))
        if name is None:
            name = self.constant_names[id(lit.value)] = f"k{len(self.constants)}"
            self.constants.append(lit.value)
        return name

    def size(self, atom, axis: int) -> str:
        """A name for the size of `atom` along `axis`: read from an input array or passed in `dims`.

        Axes that equal by construction (see `equal_axes`) share one name."""
        key = self.axes.find(("dim", atom if type(atom) is Var else id(atom), axis))
        name = self.sizes.get(key)
        if name is None:
            name = self.sizes[key] = f"n{self.prefix}{len(self.sizes)}"
            source = self.axes.input_axis.get(key)
            if type(atom) is Literal:
                self.size_lines.append(f"{name} = {self.constant(atom)}.shape[{axis}]")
            elif source is not None:
                self.size_lines.append(f"{name} = {self.array(source[0])}.shape[{source[1]}]")
            else:
                self.size_lines.append(f"{name} = dims[{len(self.dims)}]")
                self.dims.append(atom.type.shape[axis])
        return name

    def offset(self, key, value: int) -> str:
        """A name for a size-like parameter (a slice start, a pad width), passed in `dims`; 0 is literal."""
        if value == 0:
            return "0"
        name = self.sizes.get(key)
        if name is None:
            name = self.sizes[key] = f"n{self.prefix}{len(self.sizes)}"
            self.size_lines.append(f"{name} = dims[{len(self.dims)}]")
            self.dims.append(int(value))
        return name

    def shape_tuple(self, v) -> str:
        names = [self.size(v, k) for k in range(v.type.ndim)]
        return "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"

    def alloc(self, v, name=None) -> str:
        return f"{name or self.array(v)} = np.empty({self.shape_tuple(v)}, np.{v.type.dtype.name})"

    def targets(self, v) -> list:
        """The arrays a loop stores `v` to: its own and one per extra return (see `extra_arrays`)."""
        extra = self.extra_arrays.get(v, [])
        if extra:
            self.stored_twice.add(v)
        return [self.array(v)] + extra

    def emit(self, depth: int, line: str):
        self.lines.append("    " * (depth + self.base) + line)

    def loops(self, depth: int, names, extents, parallel=False, flat=None) -> int:
        """Loops over index `names` (outermost first) in `extents`; the outermost a prange when `parallel`.
        Returns the depth of the body. `flat` (by default: more than NESTED_LOOPS loops) writes one loop
        over the product of the extents instead, its position split into the indices by div/mod (C
        order, so a prange over it still writes disjoint elements)."""
        if flat is None:
            flat = len(names) > NESTED_LOOPS
        head = "prange" if parallel else "range"
        self.uses_prange |= parallel and bool(names)
        if not flat or len(names) < 2:
            for pos, (name, extent) in enumerate(zip(names, extents)):
                self.emit(depth, f"for {name} in {head if pos == 0 else 'range'}({extent}):")
                depth += 1
            return depth
        # Each quotient gets a name of its own: Numba refuses a prange whose index is reassigned, even
        # through a copy.
        position = rest = f"f{names[0]}"
        self.emit(depth, f"for {position} in {head}({' * '.join(extents)}):")
        depth += 1
        for k in range(len(names) - 1, 0, -1):
            self.emit(depth, f"{names[k]} = {rest} % {extents[k]}")
            self.emit(depth, f"{position}_{k} = {rest} // {extents[k]}")
            rest = f"{position}_{k}"
        self.emit(depth, f"{names[0]} = {rest}")
        return depth

    # -- reading elements ----------------------------------------------------------------------------
    def stored(self, v) -> bool:
        """Is `v` readable from its array (or scalar) at the step being written?"""
        return v in self.plan.ready and self.plan.ready[v] < self.current

    def load(self, atom, idx) -> str:
        """The expression for the element of `atom` at index expressions `idx`."""
        if type(atom) is Literal:
            if atom.type.ndim == 0:
                return format_scalar(atom.value, atom.type.dtype)
            return f"{self.constant(atom)}[{subscript(idx, self.unsigned_index)}]"
        if self.stored(atom):
            if atom.type.ndim == 0:
                return self.scalar(atom)
            return f"{self.array(atom)}[{subscript(idx, self.unsigned_index)}]"
        if atom in self.plan.recompute:
            if atom in self.body_scalars and list(idx) == self.body_index:
                return self.scalar(atom)      # read at the loop's own index (a pad's unshifted side)
            eqn = self.plan.defining[atom]
            self.views_read.append(eqn)
            if eqn.prim.numba in VIEW_TAGS:
                return getattr(self, "view_" + eqn.prim.numba)(eqn, list(idx))
            return self.expression(eqn, [self.load(a, idx) for a in eqn.inputs])
        eqn = self.plan.views.get(atom)
        if eqn is None:
            raise AssertionError(f"codegen: {self.scalar(atom)} is read before it is computed")
        self.views_read.append(eqn)
        return getattr(self, "view_" + eqn.prim.numba)(eqn, list(idx))

    def expression(self, eqn, args) -> str:
        """The scalar expression of an elementwise equation on argument expressions."""
        if (self.vector_math and self.in_loop and eqn.prim.vector_math
                and eqn.outputs[0].type.dtype.kind == "f"):
            name = eqn.prim.vector_math
            self.vector_functions.add(name)
            return cast_expr(f"{name}({args[0]})", eqn.outputs[0].type.dtype)
        emitter = eqn.prim.numba
        if isinstance(emitter, tuple):    # ((dtype kind, template), ...): chosen by the inputs' kind
            emitter = dict(emitter)[eqn.inputs[0].type.dtype.kind]
        expr = emitter(args, **eqn.params) if callable(emitter) else emitter.format(*args, **eqn.params)
        return cast_expr(expr, eqn.outputs[0].type.dtype)

    def view_broadcast(self, eqn, idx):
        x = eqn.inputs[0]
        lead = len(idx) - x.type.ndim
        return self.load(x, ["0" if d == 1 else idx[lead + k] for k, d in enumerate(x.type.shape)])

    def view_transpose(self, eqn, idx):
        perm = eqn.params["perm"]
        in_idx = [None] * len(perm)
        for j, p in enumerate(perm):
            in_idx[p] = idx[j]
        return self.load(eqn.inputs[0], in_idx)

    def view_reshape(self, eqn, idx):
        x, out = eqn.inputs[0], eqn.outputs[0]
        in_shape, out_shape = x.type.shape, out.type.shape
        if [d for d in in_shape if d != 1] == [d for d in out_shape if d != 1]:
            # Only axes of size 1 come and go: the other indices carry over in order.
            kept = iter([i for i, d in zip(idx, out_shape) if d != 1])
            return self.load(x, ["0" if d == 1 else next(kept) for d in in_shape])
        # A general reshape: the flat (C-order) position, then its digits in the input's shape.
        flat = idx[0] if idx else "0"
        for k in range(1, len(idx)):
            flat = f"({flat} * {self.size(out, k)} + {idx[k]})"
        in_idx = []
        for k in range(x.type.ndim):
            stride = " * ".join(self.size(x, j) for j in range(k + 1, x.type.ndim))
            digit = f"({flat} // ({stride}))" if stride else flat
            in_idx.append(f"({digit} % {self.size(x, k)})" if k > 0 else digit)
        return self.load(x, in_idx)

    def view_slice(self, eqn, idx):
        starts, steps = eqn.params["starts"], eqn.params["steps"]
        out = eqn.outputs[0]
        in_idx = []
        for k, (i, start, step) in enumerate(zip(idx, starts, steps)):
            first = self.offset(("start", out, k), start)
            moved = i if step == 1 else f"{i} * {step}"
            in_idx.append(moved if first == "0" else f"({first} + {moved})")
        return self.load(eqn.inputs[0], in_idx)

    def view_pad(self, eqn, idx):
        x, out = eqn.inputs[0], eqn.outputs[0]
        conditions, in_idx = [], []
        for k, (i, (lo, hi, interior)) in enumerate(zip(idx, eqn.params["widths"])):
            first = self.offset(("pad_lo", out, k), lo)
            j = i if first == "0" else f"({i} - {first})"
            if i == "i0" and not interior and self.peel_pad(first, self.size(x, k) if hi else None):
                in_idx.append(j)              # inside the peeled loop's interior (fgrad.backend.peel)
                continue
            if first != "0":
                conditions.append(f"{j} >= 0")
            if interior:
                conditions.append(f"{j} % {interior + 1} == 0")
                j = f"({j} // {interior + 1})"
            if hi or interior:
                conditions.append(f"{j} < {self.size(x, k)}")
            in_idx.append(j)
        value = format_scalar(eqn.params["value"], out.type.dtype)
        if not conditions:
            return self.load(x, in_idx)
        return f"({self.load(x, in_idx)} if {' and '.join(conditions)} else {value})"

    def peel_pad(self, first: str, size) -> bool:
        """Report a pad's bounds on the loop index to fgrad.backend.peel; True when the interior being
        written may leave its conditions out."""
        if self.pad_bounds is not None:
            end = None if size is None else size if first == "0" else f"{first} + {size}"
            self.pad_bounds.append((first, end))
        return self.pads_in_bounds

    def view_concatenate(self, eqn, idx):
        axis = eqn.params["axis"]
        xs = eqn.inputs
        i = idx[axis]
        offset = None
        pieces = []
        for x in xs:
            local = list(idx)
            local[axis] = i if offset is None else f"({i} - {offset})"
            end = self.size(x, axis) if offset is None else f"{offset} + {self.size(x, axis)}"
            pieces.append((self.load(x, local), end))
            offset = f"({end})" if offset is not None else end
        expr = pieces[-1][0]
        for value, end in reversed(pieces[:-1]):
            expr = f"({value} if {i} < {end} else {expr})"
        return expr

    def view_gather(self, eqn, idx):
        x, indices = eqn.inputs
        axis = eqn.params["axis"]
        m = indices.type.ndim
        position = self.load(indices, idx[axis:axis + m])
        return self.load(x, idx[:axis] + [position] + idx[axis + m:])

    def view_iota(self, eqn, idx):
        return cast_expr(idx[eqn.params["axis"]], eqn.params["dtype"]) if eqn.params["dtype"] != np.int64 \
            else idx[eqn.params["axis"]]

    def view_full(self, eqn, idx):
        return format_scalar(eqn.params["value"], eqn.params["dtype"])

    # -- the kernel ----------------------------------------------------------------------------------
    def write_steps(self):
        for step in self.plan.steps:
            self.current = step.index
            self.views_read = []
            start = len(self.lines)
            if type(step) is Group:
                self.write_group(step)
            elif type(step) is Control:
                self.write_control(step)
            else:
                self.write_call(step)
            self.note_views(start)
        self.current = len(self.plan.steps)

    def write(self) -> LoweredKernel:
        program = self.plan.program
        self.write_steps()
        returned, outputs = [], []
        # Every result is an array the caller owns alone: never an argument, never one buffer twice. An
        # output returned again takes its next extra array, or (an argument, a call's result) a copy.
        held = set(program.inputs)      # arrays the caller holds already: its arguments, earlier results
        extra = {v: iter(self.extra_arrays[v]) for v in self.stored_twice}
        for v in program.outputs:
            if type(v) is Literal:
                outputs.append(("literal", v.value))
                continue
            outputs.append(("kernel", len(returned)))
            if v.type.ndim == 0:
                returned.append(self.scalar(v))
            elif v in held:
                returned.append(next(extra[v]) if v in extra else f"{self.array(v)}.copy()")
            else:
                returned.append(self.array(v))
                held.add(v)
        params = [self.scalar(v) if v.type.ndim == 0 else self.array(v) for v in program.inputs]
        params += [f"k{j}" for j in range(len(self.constants))]
        if self.dims:
            params.append("dims")
        head = ["import numpy as np"]
        if any(_USES_MATH.search(line) for line in self.lines):
            head.append("import math")      # a scalar template of the stdlib's (math.erf)
        if self.uses_prange:
            head.append("from numba import prange")
        if any(_USES_RADD.search(line) for line in self.lines):
            from fgrad.backend import accumulate
            # The hash names radd's source: Numba's cache of this file holds its inlined code.
            head.append(f"from fgrad.backend.accumulate import radd  # accumulate {accumulate.SOURCE_HASH}")
        if self.vector_functions:
            from fgrad.backend import vecmath
            # The hash names vecmath's source: Numba's cache of this file holds their compiled code.
            head.append(f"from fgrad.backend.vecmath import {', '.join(sorted(self.vector_functions))}"
                        f"  # vecmath {vecmath.SOURCE_HASH}")
        head += sorted(self.headers)
        if self.helpers:
            head += ["", "", f"__njit__ = {tuple(sorted(self.helpers))!r}"]
            for name in sorted(self.helpers):
                head += ["", ""] + self.helpers[name].rstrip("\n").split("\n")
        head += ["", "", f"def {ENTRY}({', '.join(params)}):"]
        body = ["    " + line for line in self.size_lines] + self.lines
        body.append(f"    return ({', '.join(returned)}{',' if len(returned) == 1 else ''})")
        source = "\n".join(head + body) + "\n"
        dims = np.array(self.dims, dtype=np.int64) if self.dims else None
        return LoweredKernel(source, ENTRY, tuple(self.constants), dims, tuple(outputs), self.uses_prange,
                             tuple(self.callbacks))

    def note_views(self, start: int):
        """Add the view equations the step read (as index arithmetic) to the comment at its head."""
        end = start
        while end < len(self.lines) and self.lines[end].lstrip().startswith("#"):
            end += 1
        seen, notes = set(), []
        for eqn in self.views_read:
            if id(eqn) not in seen and not any(m[0] == "copy" and self.plan.views.get(m[1]) is eqn
                                               for m in getattr(self.plan.steps[self.current], "members", ())):
                seen.add(id(eqn))
                how = "indexed" if eqn.prim.numba in VIEW_TAGS else "recomputed"
                number = str(self.number[eqn.outputs[0]])
                notes.append(((len(number), number), "    " * (1 + self.base) + self.comment(eqn, f" ({how})")))
        self.lines[end:end] = [text for _, text in sorted(notes)]

    def describe(self, eqn) -> str:
        """`v4 = mul v2 v3` with the structural params; no sizes, so the text does not depend on them."""
        shown = {k: v for k, v in eqn.params.items() if k in ("axes", "perm", "axis", "steps", "y", "dtype",
                                                               "reverse", "index_dtype")}
        params = "[" + " ".join(f"{k}={getattr(v, 'name', v)}" for k, v in sorted(shown.items())) + "]" \
            if shown else ""
        ins = " ".join(self.describe_atom(a) for a in eqn.inputs)
        outs = " ".join(self.scalar(v) for v in eqn.outputs)
        text = f"{outs} = {eqn.prim.name}{params} {ins}".rstrip() if outs else f"{eqn.prim.name} {ins}".rstrip()
        return text

    def comment(self, eqn, note: str = "") -> str:
        """`# v4 = mul v2 v3 (note)    @ model.py:12`: the equation, then the user's line it came from."""
        where = f"{LOCATION_MARK}{eqn.source}" if eqn.source is not None else ""
        return f"# {self.describe(eqn)}{note}{where}"

    def describe_atom(self, a) -> str:
        if type(a) is Var:
            return self.scalar(a)
        return format_scalar(a.value, a.type.dtype) if a.type.ndim == 0 else self.constant(a)

    # -- groups --------------------------------------------------------------------------------------
    def write_group(self, group: Group):
        plan = self.plan
        rank = len(group.space)
        red_axes = group.red_axes or ()
        full = bool(red_axes) and len(red_axes) == rank
        kept = [k for k in range(rank) if k not in red_axes]
        order = kept + list(red_axes)
        idx = [f"i{k}" for k in range(rank)]
        reductions = [m[1] for m in group.members if m[0] == "eqn" and m[1].prim.numba in REDUCE_TAGS]
        for kind, what in group.members:
            self.emit(1, self.comment(what if kind != "copy" else plan.views[what]))
        stored = [self.member_out(m) for m in group.members
                  if self.member_out(m) in plan.materialize and self.member_out(m).type.ndim > 0]
        for v in stored:
            for name in self.targets(v):
                self.emit(1, self.alloc(v, name))
        for eqn in reductions:
            out = eqn.outputs[0]
            if out.type.ndim > 0:
                for name in self.targets(out):
                    self.emit(1, self.alloc(out, name))
        extents = [self.size(group.space_var, k) for k in range(rank)]
        if rank == 0:
            self.write_body(group, idx, 1)
            return
        parallel = self.parallel
        if rank == 1 and peel.write_edges(self, group, reductions, idx, extents[0], parallel, BLOCK,
                                          (reduce_init, cast_expr)):
            return
        if full:
            self.write_full_reduction(group, reductions, idx, order, extents, parallel)
            return
        flat = rank > NESTED_LOOPS
        if not flat and loop_order.write_leading_reduction(
                self, group, reductions, idx, kept, red_axes, extents,
                (accumulator_dtype, reduce_init)):
            return
        kept_depth = self.loops(1, [idx[k] for k in kept], [extents[k] for k in kept], parallel, flat)
        for eqn in reductions:
            self.emit(kept_depth, f"r{self.number[eqn.outputs[0]]} = {reduce_init(eqn)}")
        depth = self.loops(kept_depth, [idx[k] for k in red_axes], [extents[k] for k in red_axes], flat=flat)
        self.write_body(group, idx, depth)
        if reductions:
            depth = kept_depth
            kept_idx = ", ".join(idx[k] for k in kept)
            for eqn in reductions:
                out = eqn.outputs[0]
                acc = f"r{self.number[out]}"
                for name in self.targets(out):
                    self.emit(depth, f"{name}[{kept_idx}] = {cast_expr(acc, out.type.dtype)}")

    def write_full_reduction(self, group, reductions, idx, order, extents, parallel):
        accs = [f"r{self.number[e.outputs[0]]}" for e in reductions]
        if len(order) == 1:
            self.write_blocked_reduction(group, reductions, idx, extents[0], parallel)
        elif not parallel:
            for eqn, acc in zip(reductions, accs):
                self.emit(1, f"{acc} = {reduce_init(eqn)}")
            depth = self.loops(1, [idx[k] for k in order], [extents[k] for k in order])
            self.write_body(group, idx, depth)
        else:
            # Per-block partial results in prange, combined serially: no shared accumulator.
            self.uses_prange = True
            first = order[0]
            gid = group.index
            self.emit(1, f"nb{gid} = {extents[first]}")
            for eqn in reductions:
                self.emit(1, f"p{self.number[eqn.outputs[0]]} = np.empty(nb{gid}, {accumulator_dtype(eqn)})")
            self.emit(1, f"for b{gid} in prange(nb{gid}):")
            for eqn, acc in zip(reductions, accs):
                self.emit(2, f"{acc} = {reduce_init(eqn)}")
            self.emit(2, f"{idx[first]} = b{gid}")
            depth = self.loops(2, [idx[k] for k in order[1:]], [extents[k] for k in order[1:]])
            self.write_body(group, idx, depth)
            for eqn, acc in zip(reductions, accs):
                self.emit(2, f"p{self.number[eqn.outputs[0]]}[b{gid}] = {acc}")
            for eqn, acc in zip(reductions, accs):
                self.emit(1, f"{acc} = {reduce_init(eqn)}")
            self.emit(1, f"for b{gid} in range(nb{gid}):")
            for eqn, acc in zip(reductions, accs):
                self.emit(2, reduce_update(eqn, acc, f"p{self.number[eqn.outputs[0]]}[b{gid}]"))
        for eqn, acc in zip(reductions, accs):
            out = eqn.outputs[0]
            self.emit(1, f"{self.scalar(out)} = {cast_expr(acc, out.type.dtype)}")

    def write_blocked_reduction(self, group, reductions, idx, n, parallel):
        """A 1-D full reduction in blocks (the unit of work of a prange): each block folds into its own
        accumulators (`block_folds`) and the blocks' results are combined in order. Serial and prange
        kernels add in the same order."""
        gid = group.index
        i = idx[0]
        self.emit(1, f"nb{gid} = ({n} + {BLOCK - 1}) // {BLOCK}")
        row_stream.open_partials(self, group, f"nb{gid}")
        self.open_partials(reductions, f"nb{gid}", parallel)
        self.uses_prange |= parallel
        self.emit(1, f"for b{gid} in {'prange' if parallel else 'range'}(nb{gid}):")
        self.emit(2, f"lo{gid} = b{gid} * {BLOCK}")
        self.emit(2, f"hi{gid} = min(lo{gid} + {BLOCK}, {n})")
        rows = row_stream.block_rows(self, group, f"b{gid}", 2)
        with self.block_folds(reductions, i, f"lo{gid}", parallel):
            self.reduction_sink.update(rows)
            self.emit(2, f"for {i} in range(lo{gid}, hi{gid}):")
            self.unsigned_index = True      # lo..hi come from min(): LLVM cannot see they are non-negative
            self.write_body(group, idx, 3)
            self.unsigned_index = False
        self.close_partials(reductions, gid, f"hi{gid} - lo{gid}")
        for eqn in reductions:
            self.emit(1, f"r{self.number[eqn.outputs[0]]} = {reduce_init(eqn)}")
        self.combine_partials(reductions, gid, {eqn: f"r{self.number[eqn.outputs[0]]}" for eqn in reductions})
        row_stream.combine_partials(self, group, f"nb{gid}", f"b{gid}")

    # A block's folds. A float sum accumulates in the body with `radd` (fgrad.backend.accumulate: an add LLVM
    # may reassociate, so the loop keeps vector partial sums), an integer or bool sum with a plain update
    # (exact in any order, LLVM vectorises it as is). max and min store each value to a block buffer, which
    # LANES accumulators reduce after the loop: their NaN-propagating selects are not vectorised as folds.
    def open_partials(self, reductions, blocks: str, parallel: bool):
        """Before the blocks: the partial result per block of each fold, and the serial kernel's buffers."""
        for eqn in reductions:
            k = self.number[eqn.outputs[0]]
            self.emit(1, f"p{k} = np.empty({blocks}, {accumulator_dtype(eqn)})")
            if not parallel and not summed_in_body(eqn):
                self.emit(1, f"t{k} = np.empty({BLOCK}, {accumulator_dtype(eqn)})")

    @contextmanager
    def block_folds(self, reductions, i: str, lo: str, parallel: bool):
        """At the head of a block (depth 2): its accumulators, or a buffer per block in a prange (its
        iterations share nothing); while the block's loop is written, its body folds into them."""
        sink = {}
        for eqn in reductions:
            k = self.number[eqn.outputs[0]]
            if summed_in_body(eqn):
                self.emit(2, f"r{k} = {reduce_init(eqn)}")
                self.reduction_acc[eqn] = f"r{k}"
                if eqn.outputs[0].type.dtype.kind == "f":
                    self.reassociated.add(eqn)
            else:
                if parallel:
                    self.emit(2, f"t{k} = np.empty({BLOCK}, {accumulator_dtype(eqn)})")
                sink[eqn] = f"t{k}[{subscript([f'{i} - {lo}'])}]"
        self.reduction_sink = sink
        try:
            yield
        finally:
            self.reduction_sink = None
            for eqn in reductions:
                self.reduction_acc.pop(eqn, None)
                self.reassociated.discard(eqn)

    def close_partials(self, reductions, gid, length: str):
        """At the end of a block: reduce the buffers of max and min, store each fold's partial result."""
        if any(not summed_in_body(eqn) for eqn in reductions):
            self.emit(2, f"m{gid} = {length}")
        for eqn in reductions:
            k = self.number[eqn.outputs[0]]
            if not summed_in_body(eqn):
                self.write_lane_reduction(eqn, k, gid)
            self.emit(2, f"p{k}[b{gid}] = r{k}")

    def combine_partials(self, reductions, gid, totals: dict):
        """After the blocks: each block's partial result folded into `totals[eqn]`, in block order."""
        if reductions:
            self.emit(1, f"for b{gid} in range(nb{gid}):")
        for eqn in reductions:
            self.emit(2, reduce_update(eqn, totals[eqn], f"p{self.number[eqn.outputs[0]]}[b{gid}]"))

    def write_lane_reduction(self, eqn, k, gid):
        """Reduce the block buffer t{k}[:m] into r{k} with LANES independent accumulators (element j goes
        to lane j % LANES, then the lanes and the tail combine in order): a fixed order, and LLVM runs
        the lanes as one vector instead of waiting on one accumulator's latency for every element."""
        lanes = [f"r{k}_{lane}" for lane in range(LANES)]
        for acc in lanes:
            self.emit(2, f"{acc} = {reduce_init(eqn)}")
        self.emit(2, f"for j{gid} in range(0, m{gid} - {LANES - 1}, {LANES}):")
        # Unsigned subscripts: with Numba's negative-index select on each load the loop runs 2x slower.
        for lane, acc in enumerate(lanes):
            self.emit(3, reduce_update(eqn, acc, f"t{k}[{subscript([f'j{gid} + {lane}'])}]"))
        self.emit(2, f"r{k} = {lanes[0]}")
        for acc in lanes[1:]:
            self.emit(2, reduce_update(eqn, f"r{k}", acc))
        self.emit(2, f"for j{gid} in range(m{gid} - m{gid} % {LANES}, m{gid}):")
        self.emit(3, reduce_update(eqn, f"r{k}", f"t{k}[{subscript([f'j{gid}'], unsigned=True)}]"))

    def member_out(self, member) -> Var:
        kind, what = member
        return what if kind == "copy" else what.outputs[0]

    def write_body(self, group: Group, idx, depth: int, members=None, scalars=None):
        """The group's body at `depth` (or that of `members`, some of its members: fgrad.backend.peel writes
        each domain's apart). `scalars`: the members whose loop scalars earlier lines at this level computed,
        and that a read through a view at the loop's own index may use (this body's are added to it)."""
        self.body_scalars = set() if scalars is None else scalars
        self.body_index = list(idx)
        try:
            self.write_members(group, idx, depth, members)
        finally:
            self.body_scalars, self.body_index = set(), None

    def write_members(self, group: Group, idx, depth: int, members):
        plan = self.plan
        self.in_loop = bool(group.space)
        loaded = set()

        def value(atom) -> str:
            """The element of `atom` at the loop index, as a name or an inline literal."""
            if type(atom) is Literal and atom.type.ndim == 0:
                return format_scalar(atom.value, atom.type.dtype)
            if type(atom) is Var and plan.member_of.get(atom) is group and not self.stored(atom):
                return self.scalar(atom)
            if type(atom) is Var and atom.type.ndim == 0 and self.stored(atom):
                return self.scalar(atom)
            name = self.scalar(atom) if type(atom) is Var else f"{self.constant(atom)}_"
            if name not in loaded:
                loaded.add(name)
                self.emit(depth, f"{name} = {self.load(atom, idx)}")
            return name

        for kind, what in group.members if members is None else members:
            if kind == "copy":
                out = what
                self.emit(depth, f"{self.scalar(out)} = {self.load(out, idx)}")
                loaded.add(self.scalar(out))
            elif kind != "eqn":                   # a row-streamed matrix product
                row_stream.write_member(self, kind, what, idx, depth, value)
                if kind == "rowacc":
                    continue
                out = what.outputs[0]
                loaded.add(self.scalar(out))
            elif what.prim.numba in REDUCE_TAGS:
                if self.reduction_sink is not None and what in self.reduction_sink:
                    self.emit(depth, f"{self.reduction_sink[what]} = {value(what.inputs[0])}")
                elif what in self.reassociated:
                    acc = self.reduction_acc[what]
                    self.emit(depth, f"{acc} = radd({acc}, {value(what.inputs[0])})")
                else:
                    acc = self.reduction_acc.get(what, f"r{self.number[what.outputs[0]]}")
                    self.emit(depth, reduce_update(what, acc, value(what.inputs[0])))
                continue
            else:
                out = what.outputs[0]
                self.emit(depth, f"{self.scalar(out)} = {self.expression(what, [value(a) for a in what.inputs])}")
                loaded.add(self.scalar(out))
                self.body_scalars.add(out)
            if out in plan.materialize:
                if out.type.ndim > 0:
                    for name in self.targets(out):
                        self.emit(depth, f"{name}[{subscript(idx, self.unsigned_index)}] = {self.scalar(out)}")

    # -- calls -----------------------------------------------------------------------------------------
    def array_arg(self, atom) -> str:
        if type(atom) is Literal:
            return self.constant(atom)
        if self.stored(atom):
            return self.array(atom)
        eqn = self.plan.views[atom]          # a 2-D transpose of an array (Planner.is_transposed_array)
        return f"{self.array_arg(eqn.inputs[0])}.T"

    def write_call(self, step: Call):
        eqn = step.eqn
        self.emit(1, self.comment(eqn))
        getattr(self, "call_" + tag_of(eqn.prim))(eqn)

    def batch_loops(self, v, nbatch: int, depth: int) -> int:
        return self.loops(depth, [f"i{k}" for k in range(nbatch)], [self.size(v, k) for k in range(nbatch)])

    def call_matmul(self, eqn):
        a, b = eqn.inputs
        out = eqn.outputs[0]
        A, B = self.array_arg(a), self.array_arg(b)
        if out.type.dtype.kind != "f":
            self.matmul_loops(eqn, A, B)
            return
        if a.type.ndim <= 2 and b.type.ndim <= 2:
            target = self.scalar(out) if out.type.ndim == 0 else self.array(out)
            self.emit(1, f"{target} = np.dot({A}, {B})")
            return
        nbatch = max(a.type.ndim, b.type.ndim) - 2 if min(a.type.ndim, b.type.ndim) >= 2 else \
            (a.type.ndim - 2 if b.type.ndim == 1 else b.type.ndim - 2)
        self.emit(1, self.alloc(out))
        depth = self.batch_loops(out, nbatch, 1)
        bi = ", ".join(f"i{k}" for k in range(nbatch))
        a_part = f"{A}[{bi}]" if a.type.ndim > 2 else A
        b_part = f"{B}[{bi}]" if b.type.ndim > 2 else B
        self.emit(depth, f"{self.array(out)}[{bi}] = np.dot({a_part}, {b_part})")

    def matmul_loops(self, eqn, A, B):
        """Integer and bool matmul: three loops (BLAS is float-only)."""
        a, b = eqn.inputs
        out = eqn.outputs[0]
        # Lift vectors to matrices by index: a (k,) is a row, b (k,) a column.
        nbatch = out.type.ndim - (a.type.ndim >= 2) - (b.type.ndim >= 2)
        if out.type.ndim:
            self.emit(1, self.alloc(out))
        depth = self.batch_loops(out, nbatch, 1)
        bi = [f"i{k}" for k in range(nbatch)]
        k_size = self.size(a, a.type.ndim - 1)
        m_loop = a.type.ndim >= 2
        n_loop = b.type.ndim >= 2
        if m_loop:
            self.emit(depth, f"for im in range({self.size(a, a.type.ndim - 2)}):")
            depth += 1
        if n_loop:
            self.emit(depth, f"for jn in range({self.size(b, b.type.ndim - 1)}):")
            depth += 1
        bool_ = out.type.dtype == np.bool_
        acc = f"r{self.number[out]}"
        self.emit(depth, f"{acc} = {format_scalar(0, out.type.dtype)}")
        self.emit(depth, f"for kk in range({k_size}):")
        a_idx = (bi if a.type.ndim > 2 else []) + (["im"] if m_loop else []) + ["kk"]
        b_idx = (bi if b.type.ndim > 2 else []) + ["kk"] + (["jn"] if n_loop else [])
        prod = f"{A}[{', '.join(a_idx)}] * {B}[{', '.join(b_idx)}]"
        self.emit(depth + 1, f"{acc} = {acc} or ({A}[{', '.join(a_idx)}] and {B}[{', '.join(b_idx)}])" if bool_
                  else f"{acc} = {cast_expr(f'{acc} + {prod}', out.type.dtype)}")
        out_idx = bi + (["im"] if m_loop else []) + (["jn"] if n_loop else [])
        if out.type.ndim:
            self.emit(depth, f"{self.array(out)}[{', '.join(out_idx)}] = {acc}")
        else:
            self.emit(depth, f"{self.scalar(out)} = {acc}")

    def call_solve(self, eqn):
        a, b = eqn.inputs
        out = eqn.outputs[0]
        A, B = self.array_arg(a), self.array_arg(b)
        nbatch = a.type.ndim - 2
        if nbatch == 0:
            self.emit(1, f"{self.array(out)} = np.linalg.solve({A}, {B})")
            return
        self.emit(1, self.alloc(out))
        depth = self.batch_loops(out, nbatch, 1)
        bi = ", ".join(f"i{k}" for k in range(nbatch))
        self.emit(depth, f"{self.array(out)}[{bi}] = np.linalg.solve({A}[{bi}], {B}[{bi}])")

    def kept_loops(self, v, skip: int, depth: int) -> int:
        """Loops over every axis of `v` but `skip`; the first is a prange in the parallel kernel."""
        axes = [k for k in range(v.type.ndim) if k != skip]
        return self.loops(depth, [f"i{k}" for k in axes], [self.size(v, k) for k in axes], self.parallel)

    def call_call_emitter(self, eqn):
        """A call whose block writes its own code (fgrad.ops.base.CallEmitter)."""
        eqn.prim.numba.write(self, eqn)

    def header(self, line: str):
        """Add an import line to the kernel's head (once), for a block's emitter (fgrad.ops.debug)."""
        if line not in self.headers:
            self.headers.append(line)

    def register_callback(self, obj) -> int:
        """The position of a runtime object (a Python callback) that the kernel names by number: the text stays
        deterministic, and the caller binds the positions when it runs the kernel (LoweredKernel.callbacks)."""
        self.callbacks.append(obj)
        return len(self.callbacks) - 1

    def helper(self, name: str, source: str) -> str:
        """Define the module-level function `name` (plain `def` source, numpy as np) in the kernel module,
        jitted with the kernel (load_kernel's `__njit__`), for a block's emitter to call; returns `name`. One
        definition per name: equations that ask for the same helper share it."""
        known = self.root.helpers.setdefault(name, source)
        if known != source:
            raise ValueError(f"two different helpers named {name!r} in one kernel")
        return name

    def local(self, stem: str) -> str:
        """A fresh local name (for a block's emitter): unique in the kernel."""
        self.root.children += 1
        return f"{stem}{self.prefix}_{self.root.children}"

    def call_lane_scan(self, eqn):
        """A running fold along params["axis"] (LaneScan), sequential in the output's dtype, as numpy's."""
        x = eqn.inputs[0]
        out = eqn.outputs[0]
        emitter = eqn.prim.numba
        axis, reverse = eqn.params["axis"], eqn.params["reverse"]
        idx = [f"i{k}" for k in range(x.type.ndim)]
        self.emit(1, self.alloc(out))
        depth = self.kept_loops(x, axis, 1)
        acc = f"r{self.number[out]}"
        self.emit(depth, f"{acc} = {format_scalar(emitter.init, out.type.dtype)}")
        n = self.size(x, axis)
        span = f"range({n} - 1, -1, -1)" if reverse else f"range({n})"
        self.emit(depth, f"for i{axis} in {span}:")
        step = emitter.step.format(acc=acc, x=self.load(x, idx))
        self.emit(depth + 1, f"{acc} = {cast_expr(step, out.type.dtype)}")
        self.emit(depth + 1, f"{self.array(out)}[{', '.join(idx)}] = {acc}")

    def call_lane_function(self, eqn):
        """A whole-lane function along params["axis"] (LaneFunction): each lane copied out, transformed, stored."""
        x = eqn.inputs[0]
        out = eqn.outputs[0]
        axis = eqn.params["axis"]
        idx = [f"i{k}" for k in range(x.type.ndim)]
        n = self.size(x, axis)
        number = self.number[out]
        lane, result = f"lane{number}", f"result{number}"
        self.emit(1, self.alloc(out))
        depth = self.kept_loops(x, axis, 1)
        # A fresh lane per iteration: the outer loop may be a prange.
        self.emit(depth, f"{lane} = np.empty({n}, np.{x.type.dtype.name})")
        self.emit(depth, f"for i{axis} in range({n}):")
        self.emit(depth + 1, f"{lane}[i{axis}] = {self.load(x, idx)}")
        self.emit(depth, f"{result} = {eqn.prim.numba.template.format(lane=lane)}")
        self.emit(depth, f"for i{axis} in range({n}):")
        self.emit(depth + 1, f"{self.array(out)}[{', '.join(idx)}] = {cast_expr(f'{result}[i{axis}]', out.type.dtype)}")

    def call_argmax(self, eqn):
        x = eqn.inputs[0]
        out = eqn.outputs[0]
        axis = eqn.params["axis"]
        idx = [f"i{k}" for k in range(x.type.ndim)]
        first = list(idx)
        first[axis] = "0"
        if out.type.ndim:
            self.emit(1, self.alloc(out))
        depth = self.kept_loops(x, axis, 1)
        # The first maximum wins; a NaN is the maximum, and the first NaN stays (numpy's argmax).
        n = self.number[out]
        best, at, value = f"best{n}", f"at{n}", f"value{n}"
        self.emit(depth, f"{best} = {self.load(x, first)}")
        self.emit(depth, f"{at} = 0")
        self.emit(depth, f"for i{axis} in range(1, {self.size(x, axis)}):")
        self.emit(depth + 1, f"{value} = {self.load(x, idx)}")
        self.emit(depth + 1, f"if {best} == {best} and ({value} > {best} or {value} != {value}):")
        self.emit(depth + 2, f"{best} = {value}")
        self.emit(depth + 2, f"{at} = i{axis}")
        kept = ", ".join(i for k, i in enumerate(idx) if k != axis)
        result = cast_expr(at, out.type.dtype)
        if out.type.ndim:
            self.emit(depth, f"{self.array(out)}[{kept}] = {result}")
        else:
            self.emit(depth, f"{self.scalar(out)} = {result}")

    def call_scatter(self, eqn, accumulate=False):
        x, indices, updates = eqn.inputs
        out = eqn.outputs[0]
        axis = eqn.params["axis"]
        target = self.array(out)
        idx = [f"i{k}" for k in range(x.type.ndim)]
        self.emit(1, self.alloc(out))
        depth = self.loops(1, idx, [self.size(x, k) for k in range(x.type.ndim)], self.parallel)
        self.emit(depth, f"{target}[{', '.join(idx)}] = {self.load(x, idx)}")
        # Updates in C order, serially: the last write wins, duplicates accumulate (never a prange).
        uidx = [f"j{k}" for k in range(updates.type.ndim)]
        depth = self.loops(1, uidx, [self.size(updates, k) for k in range(updates.type.ndim)])
        m = indices.type.ndim
        position = self.load(indices, uidx[axis:axis + m])
        where = subscript(uidx[:axis] + [position] + uidx[axis + m:])
        value = self.load(updates, uidx)
        if accumulate:
            self.emit(depth, f"{target}[{where}] = {cast_expr(f'{target}[{where}] + {value}', out.type.dtype)}"
                      if out.type.dtype != np.bool_ else f"{target}[{where}] = {target}[{where}] or {value}")
        else:
            self.emit(depth, f"{target}[{where}] = {value}")

    def call_scatter_add(self, eqn):
        self.call_scatter(eqn, accumulate=True)


    # -- control flow ------------------------------------------------------------------------------------
    def value_of(self, atom) -> str:
        """An expression for a whole value: a scalar, an array name, a literal or a constant."""
        if type(atom) is Literal:
            return format_scalar(atom.value, atom.type.dtype) if atom.type.ndim == 0 else self.constant(atom)
        return self.scalar(atom) if atom.type.ndim == 0 else self.array(atom)

    def owned(self, atom) -> str:
        """`value_of(atom)`, copied if it is an array: a loop carry must never be the caller's array (a loop
        that runs zero times would hand it back) nor share a buffer with another output."""
        text = self.value_of(atom)
        return f"{text}.copy()" if atom.type.ndim > 0 else text

    def sub_program(self, program: Program, in_exprs, depth: int) -> list:
        """Write `program` at indentation `depth` on the values `in_exprs`; return its outputs' expressions."""
        self.root.children += 1
        prefix = f"{self.prefix}b{self.root.children}_"
        program = inline_calls(program)
        child = Writer(Planner(program).run(), False, self.vector_math, root=self.root, prefix=prefix,
                       base=depth - 1 + self.base)
        for v, expr in zip(program.inputs, in_exprs):
            self.emit(depth, f"{child.value_of(v)} = {expr}")
        child.write_steps()
        self.lines += ["    " * (depth + self.base) + line for line in child.size_lines] + child.lines
        outs = []
        for v in program.outputs:
            text = child.value_of(v)
            # A branch or body that returns one of its inputs (or a constant) as an array returns a copy.
            if type(v) is Literal or (v.type.ndim > 0 and v in program.inputs):
                text = child.owned(v)
            outs.append(text)
        return outs

    def static_shape(self, key, shape) -> list:
        """Names for a static shape (sizes passed in `dims`, 0 written as is)."""
        return [self.offset((key, k), d) if d else "0" for k, d in enumerate(shape)]

    def write_control(self, step: Control):
        eqn = step.eqn
        self.emit(1, self.comment(eqn))
        getattr(self, "control_" + tag_of(eqn.prim))(eqn)

    def control_cond(self, eqn):
        index, operands = eqn.inputs[0], eqn.inputs[1:]
        branches = eqn.params["branches"]
        outs = [self.value_of(v) for v in eqn.outputs]
        chosen = f"c{self.number[eqn.outputs[0]]}" if eqn.outputs else f"c{self.prefix}x"
        self.emit(1, f"{chosen} = {self.value_of(index)}")
        for k, branch in enumerate(branches):
            if len(branches) == 1:
                self.emit(1, "if True:")
            elif k == 0:
                self.emit(1, f"if {chosen} <= 0:")
            elif k == len(branches) - 1:
                self.emit(1, "else:")
            else:
                self.emit(1, f"elif {chosen} == {k}:")
            results = self.sub_program(branch, [self.value_of(a) for a in operands], 2)
            for out, value in zip(outs, results):
                self.emit(2, f"{out} = {value}")

    def control_while(self, eqn):
        p = eqn.params
        cond, body, n_cc, n_bc, record = p["cond"], p["body"], p["n_cond_consts"], p["n_body_consts"], p["record"]
        inputs = eqn.inputs
        cond_consts = [self.value_of(a) for a in inputs[:n_cc]]
        body_consts = [self.value_of(a) for a in inputs[n_cc:n_cc + n_bc]]
        init = inputs[n_cc + n_bc:]
        n = len(init)
        carries = [self.value_of(v) for v in eqn.outputs[:n]]
        for name, a in zip(carries, init):
            self.emit(1, f"{name} = {self.owned(a)}")
        y_types = body.out_types[n:]
        tapes, count, capacity = [], None, None
        if record:
            count = self.scalar(eqn.outputs[n])
            capacity = f"cap{self.number[eqn.outputs[n]]}"
            tapes = [self.array(v) for v in eqn.outputs[n + 1:]]
            self.emit(1, f"{count} = 0")
            self.emit(1, f"{capacity} = 16")
            for tape, t in zip(tapes, y_types):
                dims = [capacity] + self.static_shape(("tape", tape), t.shape)
                self.emit(1, f"{tape} = np.empty(({', '.join(dims)},), np.{t.dtype.name})")
        self.emit(1, "while True:")
        (going,) = self.sub_program(cond, cond_consts + carries, 2)
        self.emit(2, f"if not {going}:")
        self.emit(3, "break")
        results = self.sub_program(body, body_consts + carries, 2)
        if record:
            # The tape doubles when full: amortised O(1) per iteration, one copy of what was recorded so far.
            self.emit(2, f"if {count} == {capacity}:")
            for tape, t in zip(tapes, y_types):
                grown = f"{tape}_grown"
                dims = [f"2 * {capacity}"] + self.static_shape(("tape", tape), t.shape)
                self.emit(3, f"{grown} = np.empty(({', '.join(dims)},), np.{t.dtype.name})")
                self.emit(3, f"{grown}[:{capacity}] = {tape}")
                self.emit(3, f"{tape} = {grown}")
            self.emit(3, f"{capacity} = 2 * {capacity}")
            for tape, value in zip(tapes, results[n:]):
                self.emit(2, f"{tape}[{count}] = {value}")
            self.emit(2, f"{count} += 1")
        for name, value in zip(carries, results[:n]):
            self.emit(2, f"{name} = {value}")
        for tape in tapes:
            self.emit(1, f"{tape} = {tape}[:{count}]")

    def control_scan(self, eqn):
        p = eqn.params
        body, length, reverse, n_c, n = p["body"], p["length"], p["reverse"], p["n_consts"], p["n_carries"]
        head = 1 if length is None else 0
        inputs = eqn.inputs
        consts = [self.value_of(a) for a in inputs[head:head + n_c]]
        init = inputs[head + n_c:head + n_c + n]
        xs = inputs[head + n_c + n:]
        carries = [self.value_of(v) for v in eqn.outputs[:n]]
        for name, a in zip(carries, init):
            self.emit(1, f"{name} = {self.owned(a)}")
        steps = f"steps{self.number[eqn.outputs[0]] if eqn.outputs else self.prefix}"
        if length is None:
            self.emit(1, f"{steps} = {self.value_of(inputs[0])}")
        elif xs and type(xs[0]) is Var:
            self.emit(1, f"{steps} = {self.value_of(xs[0])}.shape[0]")
        else:
            self.emit(1, f"{steps} = {self.offset(('scan', steps), length) if length else '0'}")
        ys = [self.array(v) for v in eqn.outputs[n:]]
        for y, v in zip(ys, eqn.outputs[n:]):
            dims = [steps] + self.static_shape(("ys", y), v.type.shape[1:])
            self.emit(1, f"{y} = np.empty(({', '.join(dims)},), np.{v.type.dtype.name})")
        k = f"k{self.number[eqn.outputs[0]] if eqn.outputs else self.prefix}"
        unroll = max(int(p["unroll"]), 1)
        if unroll == 1:
            span = f"range({steps} - 1, -1, -1)" if reverse else f"range({steps})"
            self.emit(1, f"for {k} in {span}:")
            self.scan_step(body, consts, carries, xs, ys, k, n, 2)
            return
        # unroll=u: u steps per iteration of the loop (JAX's knob: fewer loop branches, a longer body), then the
        # steps left over one at a time.
        whole = f"{k}_whole"
        self.emit(1, f"{whole} = {steps} - {steps} % {unroll}")
        outer = f"{k}_base"
        self.emit(1, f"for {outer} in range(0, {whole}, {unroll}):")
        for j in range(unroll):
            at = f"({steps} - 1 - ({outer} + {j}))" if reverse else f"({outer} + {j})"
            self.emit(2, f"{k} = {at}")
            self.scan_step(body, consts, carries, xs, ys, k, n, 2)
        span = f"range({steps} - 1 - {whole}, -1, -1)" if reverse else f"range({whole}, {steps})"
        self.emit(1, f"for {k} in {span}:")
        self.scan_step(body, consts, carries, xs, ys, k, n, 2)

    def scan_step(self, body, consts, carries, xs, ys, k, n, depth):
        """One step of a scan at index `k`: the body on the carries and the xs' slices k; ys stored at k."""
        slices = [f"{self.value_of(x)}[{k}]" for x in xs]
        results = self.sub_program(body, consts + carries + slices, depth)
        for name, value in zip(carries, results[:n]):
            self.emit(depth, f"{name} = {value}")
        for y, value in zip(ys, results[n:]):
            self.emit(depth, f"{y}[{k}] = {value}")


class AxisClasses:
    """Union-find over (var, axis): axes whose sizes are equal because a shape rule says so."""

    def __init__(self):
        self.parent = {}
        self.input_axis = {}     # root -> (input Var, axis) whose array shape gives the size

    def find(self, key):
        parent = self.parent
        root = key
        while parent.get(root, root) != root:
            root = parent[root]
        while key != root:
            parent[key], key = root, parent.get(key, key)
        return root

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra
            if rb in self.input_axis:
                self.input_axis.setdefault(ra, self.input_axis.pop(rb))


def equal_axes(program: Program) -> AxisClasses:
    """Classes of axes equal by construction (never by coincidence of values, so the source stays
    independent of sizes): elementwise inputs and outputs, broadcast non-1 axes, transposes, reductions'
    kept axes, squeeze/expand_dims, matmul's contracted and carried axes."""
    classes = AxisClasses()

    def key(atom, k):
        return ("dim", atom if type(atom) is Var else id(atom), k)

    for v in program.inputs:
        for k in range(v.type.ndim):
            classes.input_axis.setdefault(classes.find(key(v, k)), (v, k))
    for eqn in program.equations:
        if not eqn.outputs:                   # an effect relates no axes
            continue
        tag = tag_of(eqn.prim) if not eqn.prim.multiple_results else None
        out = eqn.outputs[0]
        ins = eqn.inputs
        pairs = []
        if tag in ("elementwise", "lane_scan", "lane_function", "scatter", "scatter_add"):
            pairs = [(a, k, k) for a in ins[:1 if tag in ("scatter", "scatter_add") else None]
                     if a.type.ndim == out.type.ndim for k in range(out.type.ndim)]
        elif tag == "broadcast":
            lead = out.type.ndim - ins[0].type.ndim
            pairs = [(ins[0], k, lead + k) for k, d in enumerate(ins[0].type.shape) if d != 1]
        elif tag == "transpose":
            pairs = [(ins[0], p, j) for j, p in enumerate(eqn.params["perm"])]
        elif tag in REDUCE_TAGS or tag == "argmax":
            gone = eqn.params["axes"] if tag in REDUCE_TAGS else (eqn.params["axis"],)
            kept = [k for k in range(ins[0].type.ndim) if k not in gone]
            pairs = [(ins[0], k, j) for j, k in enumerate(kept)]
        elif eqn.prim.keeps_order is True:
            # Row-major order is kept: when only axes of size 1 come and go, the others correspond in order.
            in_axes = [k for k, d in enumerate(ins[0].type.shape) if d != 1]
            out_axes = [j for j, d in enumerate(out.type.shape) if d != 1]
            if [ins[0].type.shape[k] for k in in_axes] == [out.type.shape[j] for j in out_axes]:
                pairs = [(ins[0], k, j) for k, j in zip(in_axes, out_axes)]
        elif tag == "matmul":
            a, b = ins
            classes.union(key(a, a.type.ndim - 1), key(b, 0 if b.type.ndim == 1 else b.type.ndim - 2))
            if a.type.ndim >= 2:
                j = out.type.ndim - (2 if b.type.ndim >= 2 else 1)
                pairs.append((a, a.type.ndim - 2, j))
                pairs += [(a, k, k) for k in range(a.type.ndim - 2)]
            if b.type.ndim >= 2:
                pairs.append((b, b.type.ndim - 1, out.type.ndim - 1))
                nb = b.type.ndim - 2
                pairs += [(b, k, k + out.type.ndim - (a.type.ndim >= 2) - 1 - nb) for k in range(nb)]
        for atom, k, j in pairs:
            classes.union(key(out, j), key(atom, k))
    return classes


def window_axes(program: Program) -> AxisClasses:
    """`equal_axes`, with each axis also joined to the axis it is a contiguous slice or a pad (no interior
    padding) of: classes of axes that index one sequence up to a shift (x[1:], x[:-1], their gradients)."""
    classes = equal_axes(program)
    for eqn in program.equations:
        tag = eqn.prim.numba if isinstance(eqn.prim.numba, str) else None
        if tag == "slice":
            shifts = [k for k, step in enumerate(eqn.params["steps"]) if step == 1]
        elif tag == "pad":
            shifts = [k for k, (_, _, interior) in enumerate(eqn.params["widths"]) if interior == 0]
        else:
            continue
        x, out = eqn.inputs[0], eqn.outputs[0]
        for k in shifts:
            classes.union(("dim", out, k), ("dim", x if type(x) is Var else id(x), k))
    return classes


def accumulator_dtype(eqn) -> str:
    dtype = eqn.outputs[0].type.dtype
    if eqn.prim.numba == "reduce_sum":
        return "np.float64" if dtype.kind == "f" else "np.int64" if dtype.kind == "i" else "np.bool_"
    return f"np.{dtype.name}" if dtype != np.bool_ else "np.bool_"


def summed_in_body(eqn) -> bool:
    """Does a block of this 1-D full reduction fold in its loop's body (a sum) rather than through a
    buffer (max, min)? See Writer.block_folds."""
    return eqn.prim.numba == "reduce_sum"


def reduce_init(eqn) -> str:
    """The identity of the reduction, in its accumulator's dtype (sums of float32 accumulate in float64)."""
    dtype = eqn.outputs[0].type.dtype
    kind = eqn.prim.numba
    if kind == "reduce_sum":
        return "0.0" if dtype.kind == "f" else "0" if dtype.kind == "i" else "False"
    biggest = kind == "reduce_min"
    if dtype == np.bool_:
        return "True" if biggest else "False"
    if dtype.kind == "f":
        return format_scalar(np.inf if biggest else -np.inf, dtype)
    info = np.iinfo(dtype)
    return format_scalar(info.max if biggest else info.min, dtype)


def reduce_update(eqn, acc: str, value: str) -> str:
    kind = eqn.prim.numba
    dtype = eqn.outputs[0].type.dtype
    if kind == "reduce_sum":
        return f"{acc} = {acc} | {value}" if dtype == np.bool_ else f"{acc} += {value}"
    better = ">" if kind == "reduce_max" else "<"
    # NaN propagates: once the accumulator is NaN no comparison is true, and a NaN element always wins.
    return f"{acc} = {value} if ({value} {better} {acc} or {value} != {value}) else {acc}"


def generate(program: Program, parallel: bool = False, vector_math: bool = True) -> LoweredKernel:
    """The kernel source for `program` (already simplified), with prange loops when `parallel`.

    With `vector_math`, exp, log, sin, ... call fgrad.backend.vecmath's branch-free versions (within
    ~1 ulp, IEEE special values kept), which LLVM vectorises; without, Numba's scalar libm calls.

    >>> import fgrad, fgrad.numpy as fnp
    >>> lowered = generate(fgrad.make_ir(lambda x: fnp.sum(fnp.sin(x)))(fnp.ones(3)))  # doctest: +SKIP
    >>> print(lowered.source)                                                          # doctest: +SKIP
    """
    program = inline_calls(program)
    return Writer(Planner(program).run(), parallel, vector_math).write()


def fused_steps(program: Program) -> list:
    """How the kernel of `program` groups its top-level equations, in kernel order: ("loop", equations) for
    each fused loop nest (its elementwise members and reductions), ("call", [eqn]) for a BLAS/LAPACK call or
    a loop of its own, ("control", [eqn]) for a cond/while/scan, then ("view", [eqn]) for each view (index
    arithmetic read inside the loops, no storage). For pictures (fgrad.viz); custom calls are not inlined here,
    so a program that holds one is planned as far as the planner goes (UnsupportedPrimitiveError otherwise).

    >>> import fgrad, fgrad.numpy as fnp
    >>> p = fgrad.make_ir(lambda x: fnp.sum(fnp.sin(x) * 2.0))(fnp.ones(3))
    >>> [(kind, [e.prim.name for e in eqns]) for kind, eqns in fused_steps(p)]
    [('loop', ['sin', 'mul', 'reduce_sum']), ('view', ['broadcast_to'])]
    """
    plan = Planner(program).run()
    steps = []
    for step in plan.steps:
        if isinstance(step, Group):
            # Every member but a copy is an equation: "eqn", or a product streamed over a matrix's rows.
            steps.append(("loop", [what for kind, what in step.members if kind != "copy"]))
        else:
            steps.append(("control" if isinstance(step, Control) else "call", [step.eqn]))
    steps += [("view", [eqn]) for eqn in plan.views.values()]
    return steps
