"""The reference executor, and its fast form: a program compiled once into straight-line Python.

`evaluate` interprets a program: every equation through its primitive's numpy implementation. It is the
oracle the other backends are tested against.

`compile_program` turns a program into a Python function with one call per equation, each primitive's
implementation bound with its params, constants bound by name (no interpreter loop, no dict of values, no
promotion or broadcasting logic: the trace made every broadcast and cast explicit). Where a program is run
many times on small arrays (the PyTorch facade runs one per op call) that is what the per-call cost comes
down to. It computes what `evaluate` computes (to the bit, with `variant=None`), with three numpy-level
shortcuts that change no value: a broadcast feeding only elementwise primitives that broadcast the same way
by themselves is left to numpy; reshape-like primitives become `.reshape`; a small broadcast is filled into
a new array (cheaper than numpy's broadcast_to view, which later ufuncs also walk more slowly).
"""
from __future__ import annotations

import functools

import numpy as np

from fgrad.backend import memory  # noqa: F401  (applies config.keep_freed_memory: arrays reuse freed pages)
from fgrad.ir import Literal, Program
from fgrad.ops.core import broadcast_to_p

SMALL = 4096            # broadcasts of at most this many elements are filled into new arrays (see above)
_CACHE_LIMIT = 4096


def evaluate(program: Program, *args) -> list:
    """Run `program` on concrete numpy values; returns the list of outputs.

    >>> evaluate(fgrad.make_ir(fnp.sin)(0.5), 0.5)        # doctest: +SKIP
    [array(0.47942554)]
    """
    if len(args) != len(program.inputs):
        raise TypeError(f"the program takes {len(program.inputs)} inputs, got {len(args)}")
    env = {v: np.asarray(a, dtype=v.type.dtype) for v, a in zip(program.inputs, args)}

    def read(atom):
        return atom.value if type(atom) is Literal else env[atom]

    for eqn in program.equations:
        out = eqn.prim.impl(*[read(a) for a in eqn.inputs], **eqn.params)
        env.update(zip(eqn.outputs, out if eqn.prim.multiple_results else [out]))
    return [np.asarray(read(v)) for v in program.outputs]


_compiled = {}


def compile_program(program: Program, variant: str | None = None, owned_outputs: int = 0,
                    keep_views: bool = False):
    """`program` as a Python function of numpy arrays returning the tuple of its outputs (0-d ones as 0-d
    arrays), compiled once per set of arguments and cached by the program's digest.

    variant: the implementation variant each primitive runs (`Primitive.impl_for`), e.g. "torch" for
      PyTorch's rounding where a block declares it; None runs every primitive's impl.
    owned_outputs: the first this many outputs are always new arrays the caller owns (copied where they
      could share memory with an input, a constant or another output). The others may be views, and
      `fn.fresh[j]` says whether output j is a new array nobody else holds.
    keep_views: outputs that the primitives' impls make views of an input (reshape, transpose, slices,
      broadcasts) stay views of it, for callers that rely on sharing memory; else small broadcasts are
      filled in even there.

    The function carries its text in `fn.source`.

    >>> import fgrad, fgrad.numpy as fnp
    >>> fn = compile_program(fgrad.make_ir(lambda x: fnp.sin(x) * 2.0)(np.ones(2)))
    >>> fn(np.zeros(2))
    (array([0., 0.]),)
    """
    key = (program, variant, owned_outputs, keep_views)
    fn = _compiled.get(key)
    if fn is None:
        if len(_compiled) > _CACHE_LIMIT:       # many distinct programs (shapes): start over, not grow
            _compiled.clear()
        fn = _compiled[key] = _StraightLine(program, variant, owned_outputs, keep_views).function()
    return fn


class _StraightLine:
    """Writes the source of one compiled program (see `compile_program`)."""

    def __init__(self, program: Program, variant, owned_outputs: int, keep_views: bool):
        self.program = program
        self.variant = variant
        self.owned = owned_outputs
        self.keep_views = keep_views
        self.namespace = {"_asarray": np.asarray, "_copy": np.array, "_filled": _filled}
        self.names = {v: f"a{i}" for i, v in enumerate(program.inputs)}

    def ref(self, atom) -> str:
        if type(atom) is Literal:
            const = f"c{len(self.namespace)}"
            self.namespace[const] = atom.value
            return const
        return self.names[atom]

    def function(self):
        program = self.program
        returned = {v for v in program.outputs if type(v) is not Literal}
        visible = self.viewed_values() if self.keep_views else set()
        elided = elided_broadcasts(program, returned)
        # the memory each value may share: input positions, or CONSTANT (a Literal's); new arrays have none
        origin = {v: frozenset((i,)) for i, v in enumerate(program.inputs)}
        lines = []
        for k, eqn in enumerate(program.equations):
            if eqn in elided:
                self.names[eqn.outputs[0]] = self.ref(eqn.inputs[0])
                continue
            for j, v in enumerate(eqn.outputs):
                self.names[v] = f"v{k}_{j}"
            lhs = ", ".join(self.names[v] for v in eqn.outputs)
            if eqn.prim.multiple_results and len(eqn.outputs) == 1:
                lhs += ","
            if not eqn.outputs:               # an effect (debug.print): a call whose result is dropped
                lhs = "_"
            out_type = eqn.outputs[0].type if eqn.outputs else None
            x = eqn.inputs[0] if eqn.inputs else None
            if eqn.prim.keeps_order is True:
                lines.append(f"    {lhs} = {self.ref(x)}.reshape({out_type.shape!r})")
            elif eqn.prim is broadcast_to_p and out_type.size <= SMALL and eqn.outputs[0] not in visible:
                lines.append(f"    {lhs} = _filled({self.ref(x)}, {out_type.shape!r})")
                continue                        # a new array: shares nothing
            else:
                fname = f"{eqn.prim.name}_{k}"
                impl = eqn.prim.impl_for(self.variant)
                self.namespace[fname] = functools.partial(impl, **eqn.params) if eqn.params else impl
                lines.append(f"    {lhs} = {fname}({', '.join(self.ref(a) for a in eqn.inputs)})")
            if eqn.prim.aliases_input is True and (type(x) is Literal or x in origin):
                source = _CONSTANT if type(x) is Literal else origin[x]
                origin.update((v, source) for v in eqn.outputs)
        results, fresh, seen = [], [], set()
        for j, v in enumerate(program.outputs):
            text = self.ref(v)
            is_new = type(v) is not Literal and v not in origin and v not in seen
            seen.add(v)
            if j < self.owned and not is_new:
                text, is_new = f"_copy({text})", True
            elif v.type.ndim == 0:
                text = f"_asarray({text})"
            results.append(text)
            fresh.append(is_new)
        args = ", ".join(f"a{i}" for i in range(len(program.inputs)))
        source = f"def program({args}):\n" + "".join(line + "\n" for line in lines)
        source += f"    return ({', '.join(results)}{',' if len(results) == 1 else ''})\n"
        exec(compile(source, f"<fgrad program {program.digest[:12]}>", "exec"), self.namespace)
        fn = self.namespace["program"]
        fn.source = source
        fn.fresh = tuple(fresh)
        fn.views = views_of_inputs(program, origin, fresh)
        # per output, the input positions whose memory it may share (a reshape, transpose, slice of them)
        fn.shares = tuple(() if type(v) is Literal else tuple(sorted(i for i in origin.get(v, ()) if i != "constant"))
                          for v in program.outputs)
        return fn

    def viewed_values(self) -> set:
        """The outputs and, through view-making (aliasing) primitives, the values they are views of: with
        keep_views, a broadcast among them stays a view."""
        program = self.program
        visible = {v for v in program.outputs if type(v) is not Literal}
        for eqn in reversed(program.equations):
            if eqn.prim.aliases_input is True and any(v in visible for v in eqn.outputs) and eqn.inputs:
                if type(eqn.inputs[0]) is not Literal:
                    visible.add(eqn.inputs[0])
        return visible


_CONSTANT = frozenset(("constant",))


def views_of_inputs(program: Program, origin, fresh) -> tuple:
    """(output position, input position) for each returned value that may share memory with that one input
    only, where no other output shares it: when the caller owns the input array outright (the autograd engine
    owns the cotangents it passes on), it then owns the output too."""
    users = {}
    for v in program.outputs:
        if type(v) is not Literal:
            for i in origin.get(v, ()):
                users[i] = users.get(i, 0) + 1
    views = []
    for j, v in enumerate(program.outputs):
        if not fresh[j] and type(v) is not Literal and len(origin.get(v, ())) == 1:
            (i,) = origin[v]
            if i != "constant" and users[i] == 1:
                views.append((j, i))
    return tuple(views)


def _filled(x, shape):
    """x broadcast to `shape`, as a new array."""
    out = np.empty(shape, x.dtype)
    out[...] = x
    return out


def elided_broadcasts(program: Program, returned) -> set:
    """The broadcast_to equations whose result only feeds elementwise primitives that broadcast the same way
    on their own (and is not an output): numpy's implicit broadcasting replaces them."""
    consumers = {}
    for eqn in program.equations:
        for a in eqn.inputs:
            if type(a) is not Literal:
                consumers.setdefault(a, []).append(eqn)
    candidates = {eqn.outputs[0]: eqn for eqn in program.equations
                  if eqn.prim is broadcast_to_p and eqn.outputs[0] not in returned
                  and all(c.prim.kind == "elementwise" for c in consumers.get(eqn.outputs[0], ()))}
    changed = True
    while changed:
        changed = False
        for v in list(candidates):
            for consumer in consumers.get(v, ()):
                shapes = [candidates[a].inputs[0].type.shape if a in candidates else a.type.shape
                          for a in consumer.inputs]
                if _numpy_broadcast(shapes) != consumer.outputs[0].type.shape:
                    del candidates[v]
                    changed = True
                    break
    return set(candidates.values())


def _numpy_broadcast(shapes) -> tuple | None:
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        return None
