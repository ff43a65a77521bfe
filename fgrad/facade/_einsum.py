"""torch.einsum: fgrad.numpy's einsum (pairwise matmuls, sums and transposes) as one facade op.

PyTorch's einsum is a composite: its grad_fn is the last op its path ran. One op here has one node, named as
PyTorch's last op for the same equation: for one operand PermuteBackward0 (nothing summed) or SumBackward1; for
several, MulBackward0 when no label is summed, else ViewBackward0 (PyTorch views the summed, by then size-1, dims
away at the end). The gradients are the same; the intermediate nodes PyTorch records are not there.
"""
from __future__ import annotations

from fgrad.numpy._einsum import _sublists_to_subscripts, contract, parse_subscripts
from fgrad.facade._op import FacadeOp, apply
from fgrad.facade._operands import _dtype_name, as_tensor_arg

__all__ = ["einsum"]


def _einsum_fn(*args):
    *arrays, labels, out = args
    # greedy pairs, as PyTorch picks its path with opt_einsum (the values differ from a left-to-right order only
    # by rounding)
    return contract([list(t) for t in labels], list(out), list(arrays), optimize=True)


_NODE_NAMES = ("PermuteBackward0", "SumBackward1", "MulBackward0", "ViewBackward0")
_EINSUM = {name: FacadeOp("einsum", _einsum_fn, name) for name in _NODE_NAMES}


def _node_name(labels: list, out: list) -> str:
    """The grad_fn PyTorch's einsum ends with for this equation (see the module docstring)."""
    summed = {l for term in labels for l in term} - set(out)
    if len(labels) == 1:
        return "SumBackward1" if summed else "PermuteBackward0"
    # with several operands PyTorch ends by viewing away the (by then size-1) summed dims, if there are any
    return "ViewBackward0" if summed else "MulBackward0"


def _parse(equation: str, tensors: list):
    """The labels, with PyTorch's RuntimeErrors for bad equations or operands."""
    terms = equation.split("->")[0].split(",")
    if len(terms) > len(tensors):
        raise RuntimeError("einsum(): fewer operands were provided than specified in the equation")
    if len(terms) < len(tensors):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")
    try:
        labels, out, _ = parse_subscripts(equation, [t._data.shape for t in tensors])
    except ValueError as e:
        raise RuntimeError(f"einsum(): {e}") from None
    return labels, out


def einsum(*args):
    """torch.einsum(equation, *operands), also `einsum(equation, [a, b])` and the sublist form
    `einsum(a, [0, 1], b, [1, 2], [0, 2])`.

    >>> torch.einsum("ij,jk->ik", torch.ones(2, 3), torch.ones(3, 4)).shape
    torch.Size([2, 4])
    """
    if not args:
        raise TypeError("einsum() missing required argument 'equation' (pos 1)")
    if isinstance(args[0], str):
        equation, operands = args[0], args[1:]
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = operands[0]
    else:
        equation, operands = _sublists_to_subscripts(args)
    tensors = [as_tensor_arg(t) for t in operands]
    if not tensors:
        raise RuntimeError("einsum(): must provide at least one operand")
    first = tensors[0]._data.dtype
    for t in tensors[1:]:
        if t._data.dtype != first:
            raise RuntimeError(f"expected scalar type {_dtype_name(first)} but found {_dtype_name(t._data.dtype)}")
    labels, out = _parse(equation, tensors)
    static = (tuple(tuple(t) for t in labels), tuple(out))
    return apply(_EINSUM[_node_name(labels, out)], tuple(tensors), static)

