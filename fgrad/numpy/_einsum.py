"""numpy.einsum on fgrad values, composed from existing ops (gather for repeated labels, reduce_sum, transpose,
broadcast_to, mul, matmul), so grad/vjp/jvp/vmap/jit follow from their rules with no derivative of its own.

How a call is computed:
  1. the subscripts are parsed into one label list per operand and the output's (numpy's rules: `...`,
     implicit output = labels used once, in ASCII order, after the broadcast `...` dims);
  2. each operand's repeated labels become one axis (its diagonal: a gather of the merged axes);
  3. operands are contracted pairwise, left to right (or greedily, smallest result first). Before a pair, labels
     used by neither the other operand, the later operands nor the output are summed away; the pair then becomes
     one (batched) matmul with the shared labels still needed as batch axes and the shared labels not needed any
     more as the contracted axis, so matrix-shaped contractions run in BLAS; a pair with nothing to contract is a
     broadcast multiply;
  4. the remaining labels not in the output are summed and the rest transposed into the output's order.
"""
from __future__ import annotations

import math
import string

import numpy as np

import fgrad.ops as ops
from fgrad.numpy._arguments import arg
from fgrad.ops.base import as_value, typeof

__all__ = ["einsum", "parse_subscripts", "contract"]

_LETTERS = string.ascii_uppercase + string.ascii_lowercase     # sublist ints 0..51, as numpy numbers them


# ---- parsing ------------------------------------------------------------------------------------------

def _ellipsis_label(k: int) -> str:
    """The internal label of the k-th broadcast (`...`) dimension, counted from the left of the widest one."""
    return f"...{k}"


def _split_term(term: str, what: str) -> tuple:
    """(labels before '...', whether there is one, labels after) for one term of the subscripts."""
    if term.count("...") > 1 or ("." in term.replace("...", "")):
        raise ValueError(f"einstein sum subscripts string contains a '.' that is not part of an ellipsis ('...') "
                         f"in {what} term {term!r}")
    head, dots, tail = term.partition("...")
    for c in head + tail:
        if c not in _LETTERS:
            raise ValueError(f"invalid subscript {c!r} in einstein sum subscripts string {what} term {term!r}: "
                             "subscripts must be letters (a-z, A-Z)")
    return list(head), bool(dots), list(tail)


def parse_subscripts(subscripts: str, shapes: list) -> tuple:
    """(labels per operand, output labels, size of each label) for numpy-style `subscripts` over operands of
    `shapes`. `...` dimensions get the labels '...0', '...1', ... aligned from the right, as they broadcast.

    >>> parse_subscripts("ij,jk", [(2, 3), (3, 4)])
    ([['i', 'j'], ['j', 'k']], ['i', 'k'], {'i': 2, 'j': 3, 'k': 4})
    """
    subscripts = subscripts.replace(" ", "")
    inputs, arrow, output = subscripts.partition("->")
    if "->" in output or "-" in inputs or ">" in inputs:
        raise ValueError(f"einstein sum subscripts string {subscripts!r} has a misplaced '->'")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einstein sum subscripts string {subscripts!r} has {len(terms)} operand term(s) but "
                         f"{len(shapes)} operand(s) were given: one comma-separated term per operand")
    split = [_split_term(t, f"operand {i}") for i, t in enumerate(terms)]
    ellipsis_ranks = []
    for i, ((head, dots, tail), shape) in enumerate(zip(split, shapes)):
        named = len(head) + len(tail)
        if (not dots and named != len(shape)) or (dots and named > len(shape)):
            raise ValueError(f"einstein sum subscripts {terms[i]!r} for operand {i} name {named} dimension(s) but the "
                             f"operand has {len(shape)} (shape {tuple(shape)}); use '...' for the dimensions not named")
        ellipsis_ranks.append(len(shape) - named if dots else 0)
    width = max(ellipsis_ranks, default=0)
    labels = [head + [_ellipsis_label(width - rank + k) for k in range(rank)] + tail
              for (head, _, tail), rank in zip(split, ellipsis_ranks)]
    sizes = _label_sizes(labels, shapes, subscripts)
    broadcast = [_ellipsis_label(k) for k in range(width)]
    if arrow:
        head, dots, tail = _split_term(output, "output")
        out = head + (broadcast if dots else []) + tail
        for label in head + tail:
            if label not in sizes:
                raise ValueError(f"einstein sum subscripts string included output subscript {label!r} which never "
                                 "appeared in an input")
        if len(set(out)) != len(out):
            raise ValueError(f"einstein sum subscripts string includes output subscript {_repeated(out)!r} multiple "
                             "times")
    else:
        counts = {}
        for term in labels:
            for label in term:
                counts[label] = counts.get(label, 0) + 1
        out = broadcast + sorted(l for l, n in counts.items() if n == 1 and not l.startswith("..."))
    return labels, out, sizes


def _repeated(labels) -> str:
    return next(l for l in labels if labels.count(l) > 1)


def _label_sizes(labels: list, shapes: list, subscripts: str) -> dict:
    """Each label's size: equal wherever it appears, or 1 where it broadcasts (numpy's rule)."""
    sizes = {}
    for i, (term, shape) in enumerate(zip(labels, shapes)):
        within = {}
        for label, n in zip(term, shape):
            if within.setdefault(label, n) != n:
                raise ValueError(f"dimensions in operand {i} for collapsing index {label!r} don't match "
                                 f"({within[label]} != {n})")
            known = sizes.get(label, 1)
            if n != known and n != 1 and known != 1:
                raise ValueError(f"operands could not be broadcast together with remapped shapes: subscript "
                                 f"{_shown(label)} has size {known} in an earlier operand and {n} in operand {i} "
                                 f"of {subscripts!r}")
            if known == 1 or label not in sizes:
                sizes[label] = n
    return sizes


def _shown(label: str) -> str:
    return "'...'" if label.startswith("...") else repr(label)


def _sublists_to_subscripts(args: tuple) -> tuple:
    """numpy's interleaved form einsum(op0, sublist0, op1, sublist1, ..., [out]) as (subscripts, operands)."""
    out = args[-1] if len(args) % 2 else None          # an odd count ends with the output's sublist
    pairs = args[:-1] if len(args) % 2 else args
    operands, terms = list(pairs[0::2]), list(pairs[1::2])

    def term(sub) -> str:
        text = ""
        for s in sub:
            if s is Ellipsis:
                text += "..."
            elif isinstance(s, (int, np.integer)) and 0 <= int(s) < len(_LETTERS):
                text += _LETTERS[int(s)]
            else:
                raise ValueError(f"subscript {s!r} in an einsum sublist is not an int in [0, 52) or Ellipsis")
        return text
    subscripts = ",".join(term(t) for t in terms) + ("" if out is None else "->" + term(out))
    return subscripts, operands


# ---- the computation --------------------------------------------------------------------------------

def _diagonal(x, labels: list) -> tuple:
    """x with each repeated label's axes replaced by their diagonal (one axis, at the label's first place)."""
    while len(set(labels)) != len(labels):
        label = _repeated(labels)
        places = [i for i, l in enumerate(labels) if l == label]
        rest = [i for i in range(len(labels)) if i not in places]
        shape = typeof(x).shape
        n = shape[places[0]]
        # the repeated axes last, merged into one of n**r elements: the diagonal is every (n**r - 1)/(n - 1)-th
        merged = ops.reshape(ops.transpose(x, rest + places), tuple(shape[i] for i in rest) + (n ** len(places),))
        step = sum(n ** k for k in range(len(places)))
        diag = ops.gather(merged, np.arange(n, dtype=np.int64) * step, len(rest))
        first = places[0]
        front = [r for r in rest if r < first]
        x = ops.moveaxis(diag, len(rest), len(front))
        labels = [labels[i] for i in front] + [label] + [labels[i] for i in rest if i > first]
    return x, labels


def _sum_unused(x, labels: list, needed: set) -> tuple:
    """x summed over the labels nobody needs any more."""
    axes = tuple(i for i, l in enumerate(labels) if l not in needed)
    if not axes:
        return x, labels
    return ops.reduce_sum(x, axes), [l for l in labels if l in needed]


def _arranged(x, labels: list, order: list):
    """x transposed so its labels come in `order` (a permutation of `labels`)."""
    perm = [labels.index(l) for l in order]
    return x if perm == list(range(len(perm))) else ops.transpose(x, perm)


def _broadcast_labels(x, labels: list, want: dict):
    """x with its size-1 axes broadcast to the sizes in `want` (a label that broadcasts against another operand)."""
    shape = typeof(x).shape
    target = tuple(want.get(l, n) for l, n in zip(labels, shape))
    return x if target == shape else ops.broadcast_to(x, target)


def _pair(a, la: list, b, lb: list, keep: set, sizes: dict) -> tuple:
    """The contraction of two operands: labels in both and still needed are batch axes, labels in both and not
    needed are summed by one matmul; returns (result, its labels: batch, a's own, b's own)."""
    batch = [l for l in la if l in lb and l in keep]
    summed = [l for l in la if l in lb and l not in keep]
    a_own = [l for l in la if l not in lb]
    b_own = [l for l in lb if l not in la]
    out_labels = batch + a_own + b_own
    if not summed:
        # nothing to contract: a broadcast multiply in the result's layout
        a = ops.reshape(_arranged(a, la, batch + a_own), _dims(a, la, batch + a_own) + (1,) * len(b_own))
        b = _arranged(b, lb, batch + b_own)
        b = ops.reshape(b, _dims(b, batch + b_own, batch) + (1,) * len(a_own) + _dims(b, batch + b_own, b_own))
        return ops.mul(a, b), out_labels
    shared = {l: sizes[l] for l in summed}
    a = _broadcast_labels(a, la, shared)
    b = _broadcast_labels(b, lb, shared)
    a = _arranged(a, la, batch + a_own + summed)
    b = _arranged(b, lb, batch + summed + b_own)
    a_batch, b_batch = _dims(a, batch + a_own + summed, batch), _dims(b, batch + summed + b_own, batch)
    m = math.prod(_dims(a, batch + a_own + summed, a_own))
    k = math.prod(sizes[l] for l in summed)
    n = math.prod(_dims(b, batch + summed + b_own, b_own))
    product = ops.matmul(ops.reshape(a, a_batch + (m, k)), ops.reshape(b, b_batch + (k, n)))
    batch_dims = typeof(product).shape[:-2]
    out_shape = batch_dims + _dims(a, batch + a_own + summed, a_own) + _dims(b, batch + summed + b_own, b_own)
    return ops.reshape(product, out_shape), out_labels


def _dims(x, labels: list, which: list) -> tuple:
    """The sizes of x's axes labelled `which`."""
    shape = typeof(x).shape
    return tuple(shape[labels.index(l)] for l in which)


def _greedy_pair(terms: list, out: list, sizes: dict) -> tuple:
    """The two operands whose contraction leaves the smallest result (labels still needed elsewhere)."""
    best = None
    for i in range(len(terms)):
        for j in range(i + 1, len(terms)):
            elsewhere = {l for k, (_, t) in enumerate(terms) if k not in (i, j) for l in t} | set(out)
            kept = (set(terms[i][1]) | set(terms[j][1])) & elsewhere
            size = math.prod(sizes[l] for l in kept)
            if best is None or size < best[0]:
                best = (size, i, j)
    return best[1], best[2]


def contract(labels: list, out: list, operands: list, optimize: bool = False):
    """The einsum of `operands` whose axes carry `labels`, into the axes `out` (see parse_subscripts); the
    work of `einsum` after parsing, for callers that parse themselves (the facade). Pairs contract left to right,
    or, with `optimize`, greedily: the pair with the smallest result first."""
    sizes = _label_sizes(labels, [typeof(x).shape for x in operands], "einsum")
    terms = [_diagonal(x, list(term)) for x, term in zip(operands, labels)]
    while len(terms) > 1:
        i, j = _greedy_pair(terms, out, sizes) if optimize and len(terms) > 2 else (0, 1)
        (a, la), (b, lb) = terms[i], terms[j]
        later = {l for k, (_, t) in enumerate(terms) if k not in (i, j) for l in t} | set(out)
        a, la = _sum_unused(a, la, later | set(lb))
        b, lb = _sum_unused(b, lb, later | set(la))
        terms[i] = _pair(a, la, b, lb, later, sizes)
        del terms[j]
    result, result_labels = _sum_unused(*terms[0], set(out))
    result = _broadcast_labels(result, result_labels, {l: sizes[l] for l in out})
    return _arranged(result, result_labels, out)


def einsum(*operands, optimize=False, dtype=None, out=None):
    """numpy.einsum: the Einstein summation of `operands` given by `subscripts` (`...` broadcast dims, implicit
    output, repeated labels for diagonals and traces), or numpy's interleaved form
    `einsum(op0, [0, 1], op1, [1, 2], [0, 2])`. Composed of matmul, sums and transposes, so it differentiates,
    batches and compiles like them. Operands contract left to right, or with `optimize` (True, 'greedy' or
    'optimal') greedily, the pair with the smallest result first.

    >>> fnp.einsum("ij,jk->ik", np.ones((2, 3)), np.ones((3, 4))).shape
    (2, 4)
    >>> fnp.einsum("ii", np.eye(3))
    np.float64(3.0)
    """
    if out is not None:
        raise NotImplementedError("einsum(out=...) is not supported: fgrad arrays are not written in place; use the "
                                  "returned array")
    if not operands:
        raise ValueError("einsum needs the subscripts string and at least one operand, e.g. einsum('ii', a)")
    if isinstance(operands[0], str):
        subscripts, arrays = operands[0], list(operands[1:])
    else:
        subscripts, arrays = _sublists_to_subscripts(operands)
    if not arrays:
        raise ValueError(f"einsum({subscripts!r}) was given no operands")
    arrays = [as_value(arg(a)) for a in arrays]
    if dtype is not None:
        arrays = [ops.cast(a, np.dtype(dtype)) for a in arrays]
    labels, out_labels, _ = parse_subscripts(subscripts, [typeof(a).shape for a in arrays])
    return contract(labels, out_labels, arrays, optimize=bool(optimize))
