"""Pictures: a Program, or a facade tensor's autograd graph, as Graphviz DOT text.

`to_dot(program)` draws one box per equation, labelled with the equation as the printer writes it, and an
arrow per value it reads. Equations of an adjoint's reverse sweep are orange, the forward (primal) ones
blue, inputs and outputs grey. A large program is drawn collapsed: one box per loop nest of its kernel (the
equations the code generator fuses, fgrad.backend.codegen.fused_steps), one per call and control-flow
statement, one per view. `make_dot(tensor)` draws a facade tensor's `grad_fn` graph as torchviz's `make_dot`
does: the output, the backward nodes by their PyTorch names, and the leaves with their names and shapes.

Both return a `DotGraph`: `.source` is the DOT text (no dependency needed), `.save(path)` writes it or, for a
`.svg`/`.png`/`.pdf` path, renders it with Graphviz's `dot` executable. In Jupyter a DotGraph, and a Program
itself, show as a picture when `dot` is installed (`apt install graphviz`, `brew install graphviz`, or conda's
`graphviz`), and as their text otherwise (a Program's printed text, a graph's DOT source).

>>> import fgrad, fgrad.numpy as fnp
>>> graph = to_dot(fgrad.make_ir(fgrad.grad(lambda x: fnp.sum(fnp.sin(x))))(fnp.ones(3)))
>>> print(graph.source.splitlines()[0])
digraph program {
"""
from __future__ import annotations

import numpy as np

import pathlib
import shutil
import subprocess

from fgrad.backend.codegen import UnsupportedPrimitiveError, fused_steps
from fgrad.ir import Literal, Program, Var
from fgrad.ir.core import set_display
from fgrad.ir.printer import Namer, format_equation

__all__ = ["DotGraph", "to_dot", "make_dot", "render"]

PRIMAL = "#d6e6f5"        # forward equations
REVERSE = "#fbd7b5"       # the reverse sweep of an adjoint
TERMINAL = "#e4e4e4"      # inputs and outputs
LEAF = "lightblue"        # facade leaves, as torchviz
ROOT = "darkolivegreen1"  # the facade tensor drawn, as torchviz
# Programs with more (non-fill) equations than this are drawn collapsed by fused group unless told otherwise.
COLLAPSE_ABOVE = 40
RENDER_TIMEOUT = 60       # seconds that `dot` may take


class DotGraph:
    """Graphviz DOT text (`source`) that renders itself in Jupyter when the `dot` executable is installed."""

    def __init__(self, source: str):
        self.source = source

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        return self.source

    # Jupyter shows the picture when `dot` is installed; None makes it fall back to the text (__repr__).
    def _repr_svg_(self):
        return render(self.source, "svg")

    def _repr_html_(self):
        return render(self.source, "svg")

    def save(self, path) -> pathlib.Path:
        """Write the DOT text to `path` (`.dot`/`.gv`), or render it to `.svg`, `.png` or `.pdf` with `dot`.

        >>> DotGraph("digraph { a -> b }").save("/tmp/fgrad-example.dot")     # doctest: +SKIP
        PosixPath('/tmp/fgrad-example.dot')
        """
        path = pathlib.Path(path)
        fmt = path.suffix.lstrip(".").lower()
        if fmt in ("dot", "gv", ""):
            path.write_text(self.source)
            return path
        if fmt not in ("svg", "png", "pdf"):
            raise ValueError(f"cannot save a graph as {path.name}: use a .dot or .gv path for the text, or .svg, "
                             ".png or .pdf for a picture (rendered by Graphviz's `dot`)")
        data = render(self.source, fmt, text=False)
        if data is None:
            raise RuntimeError(f"cannot render {path.name}: Graphviz's `dot` executable is not installed (apt "
                               "install graphviz, brew install graphviz, or conda install graphviz); save the "
                               "text with a .dot path instead")
        path.write_bytes(data)
        return path


def render(source: str, fmt: str = "svg", text: bool = True):
    """`source` rendered by Graphviz's `dot -T<fmt>` (str for text=True, else bytes), or None when `dot` is not
    installed or fails: rendering is optional, the DOT text is the picture's portable form."""
    dot = shutil.which("dot")
    if dot is None:
        return None
    try:
        done = subprocess.run([dot, f"-T{fmt}"], input=source.encode(), capture_output=True,
                              timeout=RENDER_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode() if text else done.stdout


# ---- programs ----------------------------------------------------------------------------------------

def to_dot(program: Program, *, collapse: bool | None = None, name: str = "program") -> DotGraph:
    """A picture of `program`: a box per equation (or, collapsed, per loop nest of its kernel), arrows for
    the values they read; reverse-sweep equations in orange, forward ones in blue.

    `collapse=None` collapses programs of more than COLLAPSE_ABOVE equations. Sub-programs of control flow
    are not drawn: their equation's box says how many it holds.

    >>> import fgrad, fgrad.numpy as fnp
    >>> print(to_dot(fgrad.make_ir(fnp.sin)(1.0)).source)
    digraph program {
      rankdir=TB;
      node [fontname="monospace" fontsize=10 shape=box style="rounded,filled"];
      x0 [label="a:f64[]" shape=ellipse fillcolor="#e4e4e4"];
      e0 [label="b:f64[] = sin a" fillcolor="#d6e6f5"];
      x0 -> e0;
      r0 [label="return b" shape=ellipse fillcolor="#e4e4e4"];
      e0 -> r0;
    }
    """
    namer = Namer()
    namer.depth = 1                 # label names as the top level of the printed program (hints on)
    lines = [f"digraph {_dot_id(name)} {{", "  rankdir=TB;",
             '  node [fontname="monospace" fontsize=10 shape=box style="rounded,filled"];']
    producer = {}                   # Var -> the node id that computes it
    for i, v in enumerate(program.inputs):
        producer[v] = f"x{i}"
        lines.append(f"  x{i} [label={_quote(namer.define(v, hinted=True))} shape=ellipse fillcolor=\"{TERMINAL}\"];")
    labels = {}
    equations = []
    for eqn in program.equations:
        if not namer.inline_fill(eqn):
            labels[id(eqn)] = _equation_label(eqn, namer)
            equations.append(eqn)
    groups = _groups(program, equations, collapse)
    for g, members in enumerate(groups):
        node = f"e{g}"
        for eqn in members:
            producer.update((v, node) for v in eqn.outputs)
        label = _quote(_group_label(members, labels), "\\l" if len(members) > 1 else "\\n")
        lines.append(f"  {node} [label={label} {_fill(members)}];")
        sources = []
        for eqn in members:
            for a in eqn.inputs:
                source = producer.get(a) if type(a) is Var else None
                if source is not None and source != node and source not in sources:
                    sources.append(source)
        lines += [f"  {s} -> {node};" for s in sources]
    for j, v in enumerate(program.outputs):
        lines.append(f"  r{j} [label={_quote('return ' + namer(v))} shape=ellipse fillcolor=\"{TERMINAL}\"];")
        if type(v) is not Literal and v in producer:
            lines.append(f"  {producer[v]} -> r{j};")
    lines.append("}")
    return DotGraph("\n".join(lines) + "\n")


def _equation_label(eqn, namer) -> str:
    """The equation's first printed line; a control-flow equation's sub-programs are counted, not drawn."""
    text = format_equation(eqn, namer).splitlines()
    first = text[0].strip()
    nested = sum(1 for line in text[1:] if line.rstrip().endswith("{"))
    return first + (f"  ({nested} sub-programs)" if nested else "")


def _groups(program, equations, collapse) -> list:
    """Lists of equations drawn as one box each: one per equation, or the kernel's fused groups."""
    if collapse is None:
        collapse = len(equations) > COLLAPSE_ABOVE
    if not collapse:
        return [[eqn] for eqn in equations]
    try:
        steps = fused_steps(program)
    except UnsupportedPrimitiveError:
        return [[eqn] for eqn in equations]
    shown = {id(eqn) for eqn in equations}           # fills are not drawn
    order = {id(eqn): k for k, eqn in enumerate(equations)}
    groups = [[e for e in eqns if id(e) in shown] for _, eqns in steps]
    groups = [g for g in groups if g]
    return sorted(groups, key=lambda g: min(order[id(e)] for e in g))      # program order of first members


def _group_label(members, labels) -> str:
    if len(members) == 1:
        return labels[id(members[0])]
    # Named by its largest output (the loop's iteration space, or for a product streamed over a matrix's
    # rows, the per-row result).
    outputs = [v.type for e in members for v in e.outputs]
    shapes = [str(t) for t in sorted(outputs, key=lambda t: (len(t.shape), int(np.prod(t.shape))))]
    names = ", ".join(e.prim.name for e in members)
    outs = " ".join(labels[id(e)].split(" = ")[0].split(":")[0] for e in members)
    return f"loop over {shapes[-1]}: {len(members)} equations\n{_wrap(names)}\n-> {_wrap(outs)}\n"


def _wrap(text: str, width: int = 60) -> str:
    """Line breaks every `width` characters, at spaces."""
    out, line = [], ""
    for word in text.split(" "):
        if line and len(line) + len(word) > width:
            out.append(line.rstrip())
            line = ""
        line += word + " "
    out.append(line.rstrip())
    return "\n".join(out)


def _fill(members) -> str:
    """The node's fill: blue for forward equations, orange for the reverse sweep, striped in proportion when a
    fused loop computes some of each (the kernel fuses across the two halves)."""
    reverse = sum(1 for e in members if any(v.sweep == "reverse" for v in e.outputs))
    if reverse == 0:
        return f'fillcolor="{PRIMAL}"'
    if reverse == len(members):
        return f'fillcolor="{REVERSE}"'
    share = round(1 - reverse / len(members), 2)
    return f'style="striped" fillcolor="{PRIMAL};{share}:{REVERSE}"'


def _quote(text: str, newline: str = "\\n") -> str:
    """`text` as a quoted DOT string; its line breaks become `newline` (\\n centred, \\l left-justified)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", newline) + '"'


def _dot_id(name: str) -> str:
    return name if name.isidentifier() else _quote(name)


def _program_display(program: Program) -> DotGraph:
    return to_dot(program)


# Jupyter shows a Program as its picture: fgrad.ir cannot import this module (it is a lower layer), so the
# Program's _repr_svg_/_repr_html_ call the function registered here.
set_display(_program_display)


# ---- the facade's autograd graph --------------------------------------------------------------------------

def make_dot(tensor, params=None, show_attrs: bool = False) -> DotGraph:
    """The autograd graph behind a facade tensor, as torchviz's `make_dot(y, params=dict(model.named_parameters()))`:
    the tensor (green), each backward node by its PyTorch name (grey), each leaf that requires grad (blue),
    labelled with its name from `params` and its shape. `show_attrs` is accepted for torchviz compatibility
    (fgrad's nodes expose no saved attributes).

    >>> import fgrad
    >>> x = fgrad.tensor([1.0, 2.0], requires_grad=True)
    >>> make_dot((x.sin() * 2).sum(), params={"x": x}).save("graph.dot")     # doctest: +SKIP
    PosixPath('graph.dot')
    """
    names = {id(t): name for name, t in (params or {}).items()}
    lines = ["digraph grad_fn {", '  node [fontname="monospace" fontsize=10 shape=box style="filled" align=left];']
    root = getattr(tensor, "grad_fn", None)
    lines.append(f"  n0 [label={_quote(_shape_text(tensor))} fillcolor=\"{ROOT}\"];")
    if root is None:
        lines.append("}")
        return DotGraph("\n".join(lines) + "\n")
    ids = {}                     # id(node) -> "n<k>", in the order of a depth-first walk

    def node_id(fn) -> tuple[str, bool]:
        key = id(fn)
        if key in ids:
            return ids[key], False
        ids[key] = f"n{len(ids) + 1}"
        return ids[key], True

    first, _ = node_id(root)
    lines.append(f"  {first} [label={_quote(_node_label(root, names))} fillcolor=\"{_node_colour(root)}\"];")
    lines.append(f"  {first} -> n0;")
    stack = [root]               # a loop, not recursion: graphs as deep as a long training unroll
    while stack:
        fn = stack.pop()
        here = ids[id(fn)]
        for next_fn, _ in getattr(fn, "next_functions", ()):
            if next_fn is None:
                continue
            there, new = node_id(next_fn)
            if new:
                lines.append(f"  {there} [label={_quote(_node_label(next_fn, names))} "
                             f"fillcolor=\"{_node_colour(next_fn)}\"];")
                stack.append(next_fn)
            lines.append(f"  {there} -> {here};")
    lines.append("}")
    return DotGraph("\n".join(lines) + "\n")


def _node_label(fn, names) -> str:
    variable = getattr(fn, "variable", None)
    if variable is None:
        return fn.name()
    name = names.get(id(variable), "")
    return f"{name}\n{_shape_text(variable)}" if name else _shape_text(variable)


def _node_colour(fn) -> str:
    return LEAF if getattr(fn, "variable", None) is not None else "lightgrey"


def _shape_text(tensor) -> str:
    return "(" + ", ".join(str(n) for n in tuple(tensor.shape)) + ("," if len(tuple(tensor.shape)) == 1 else "") + ")"
