"""What fgrad.facade.nn.functional and fgrad.facade.nn._functional_more share: the loss reductions, PyTorch's
legacy reduction flags, target-size warnings, input/target broadcasting, l1_loss, and softmax's implicit-dim
rule. (A module of its own so that both can import it without importing each other.)"""
from __future__ import annotations

import warnings

import numpy as np

from fgrad import ops
from fgrad.facade import _dtypes, _elementwise, _operands, _reductions, _shapes
from fgrad.facade._tensor import Size


def _softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    # PyTorch's legacy choice when dim is omitted (with its deprecation warning).
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X "
                  "as an argument.", UserWarning, stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


REDUCTIONS = ("none", "mean", "sum")


def _reduction(reduction: str, size_average=None, reduce=None) -> str:
    """The reduction to apply: `reduction`, or the one the legacy size_average/reduce flags ask for."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
        warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{reduction}' "
                      "instead.", UserWarning, stacklevel=3)
        return reduction
    if reduction not in REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _reduce(loss, reduction: str):
    """PyTorch's apply_loss_reduction inside a facade op: the elementwise loss, its sum, or its mean (the
    sum divided by the count, as PyTorch's CPU mean)."""
    if reduction == "none":
        return loss
    total = ops.reduce_sum(loss, tuple(range(len(loss.shape))))
    if reduction == "sum":
        return total
    return ops.div(total, int(np.prod(loss.shape, dtype=np.int64)))


def _warn_target_size(input, target):
    if target.shape != input.shape:
        warnings.warn(f"Using a target size ({Size(target.shape)}) that is different to the input size "
                      f"({Size(input.shape)}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", UserWarning, stacklevel=3)


def _float_pair(input, target):
    """input and target broadcast together (ExpandBackward0 where a shape grows, as torch.broadcast_tensors)
    and the dtype they compute in."""
    if input.shape != target.shape:
        input, target = _shapes.broadcast_tensors(input, target)
    dtype = _operands.result_type(input, target)
    if dtype.kind != "f":
        dtype = _dtypes.default_float_numpy()
    return input, target, dtype


def _weighted_loss(elementwise, weight, reduction, input_shape):
    # PyTorch's mse_loss / l1_loss with `weight`: a composite whose mean divides by the weights' sum.
    if weight.shape != input_shape:
        raise ValueError("Weights and input must have the same size.")
    weighted = _elementwise.mul(elementwise, weight)
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return _reductions.sum(weighted)
    return _elementwise.div(_reductions.sum(weighted), _reductions.sum(weight))


def l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean", weight=None):
    """The absolute error |input - target|, averaged (or summed, or elementwise). PyTorch composes it from
    sub, abs and mean/sum, so its node is MeanBackward0 (SumBackward0, AbsBackward0)."""
    _warn_target_size(input, target)
    reduction = _reduction(reduction, size_average, reduce)
    input_shape = input.shape
    input, target, _ = _float_pair(input, target)
    errors = _elementwise.abs(_elementwise.sub(input, target))
    if weight is not None:
        return _weighted_loss(errors, weight, reduction, input_shape)
    if reduction == "mean":
        return _reductions.mean(errors)
    return _reductions.sum(errors) if reduction == "sum" else errors
