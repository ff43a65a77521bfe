"""torch.nn.functional for the facade: activations, `linear`, and the losses; convolution, pooling, dropout,
normalization, embedding, padding and one_hot come from fgrad.facade.nn._layers_functional.

Losses that PyTorch computes in one kernel (mse_loss, binary_cross_entropy, binary_cross_entropy_with_logits,
nll_loss) are one facade op each, named as PyTorch's node (MseLossBackward0, ...), written with fgrad ops in
the numerically stable form PyTorch's kernel uses; their backward is the adjoint of those ops (the
primitives' VJP rules). Losses that PyTorch composes from other ops (cross_entropy, l1_loss, and `linear`)
call the facade's ops in PyTorch's order, so their graphs hold PyTorch's nodes (LogSoftmaxBackward0 then
NllLossBackward0; TBackward0 then AddmmBackward0).
"""
from __future__ import annotations

import numpy as np

from fgrad import ops
from fgrad.ops.control import stop_gradient
from fgrad.facade import _dtypes, _elementwise, _inplace, _linalg, _operands, _reductions, _shapes
from fgrad.facade._op import FacadeOp, apply
from fgrad.facade._tensor import Size, make
from fgrad.facade.nn import _layers_functional
from fgrad.facade.nn._layers_functional import *  # noqa: F401,F403  (conv, pooling, dropout, norms, ...)
from fgrad.facade.nn._loss_common import (REDUCTIONS, _float_pair, _reduce, _reduction, _softmax_dim,  # noqa: F401
                                          _warn_target_size, _weighted_loss, l1_loss)

__all__ = ["relu", "sigmoid", "tanh", "softmax", "log_softmax", "linear", "mse_loss", "l1_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss",
           "relu_", "elu_", "leaky_relu_", *_layers_functional.__all__]

# PyTorch's binary_cross_entropy clamps each log term to >= -100, so a probability of exactly 0 or 1 gives a
# finite loss.
LOG_CLAMP = -100.0


# ---- activations --------------------------------------------------------------------------------------

def relu(input, inplace: bool = False):
    """max(input, 0) elementwise (ReluBackward0); the gradient at 0 is 0, as PyTorch's."""
    if inplace:
        _inplace.check_leaf_inplace(input)
        return _inplace.inplace(input, _elementwise.relu(input))
    return _elementwise.relu(input)


def _inplace_form(fn):
    """F.relu_(x) and its siblings: `fn` with inplace=True, as PyTorch's."""
    def inplace_fn(input, *args, **kwargs):
        return fn(input, *args, inplace=True, **kwargs)
    inplace_fn.__name__ = fn.__name__ + "_"
    inplace_fn.__doc__ = f"{fn.__name__}(input, ..., inplace=True): the result written into input."
    return inplace_fn


relu_ = _inplace_form(relu)
elu_ = _inplace_form(elu)                   # noqa: F405  (from _layers_functional)
leaky_relu_ = _inplace_form(leaky_relu)     # noqa: F405


def sigmoid(input):
    """1 / (1 + exp(-input)) (SigmoidBackward0)."""
    return _elementwise.sigmoid(input)


def tanh(input):
    """Hyperbolic tangent (TanhBackward0)."""
    return _elementwise.tanh(input)


def softmax(input, dim=None, _stacklevel: int = 3, dtype=None):
    """exp(input) normalized to sum 1 along `dim`, computed with the row max subtracted (SoftmaxBackward0).

    >>> import fgrad as torch
    >>> torch.nn.functional.softmax(torch.tensor([0.0, 0.0]), dim=0)
    tensor([0.5000, 0.5000])
    """
    if dim is None:
        dim = _softmax_dim("softmax", input.dim(), _stacklevel)
    return _reductions.softmax(input, dim, dtype)


def log_softmax(input, dim=None, _stacklevel: int = 3, dtype=None):
    """log(softmax(input)) along `dim`, as (x - max) - log(sum(exp(x - max))) (LogSoftmaxBackward0)."""
    if dim is None:
        dim = _softmax_dim("log_softmax", input.dim(), _stacklevel)
    return _reductions.log_softmax(input, dim, dtype)


# ---- linear -------------------------------------------------------------------------------------------

def linear(input, weight, bias=None):
    """input @ weight.T + bias, recorded as PyTorch records it: AddmmBackward0 (with TBackward0 for the
    weight) for 2-D input with bias; for other contiguous input with bias, the input flattened to 2-D
    (ViewBackward0), addmm, and a view back; without bias, matmul.

    >>> import fgrad as torch
    >>> w = torch.ones(2, 3, requires_grad=True)
    >>> torch.nn.functional.linear(torch.ones(4, 3), w, torch.zeros(2)).grad_fn.name()
    'AddmmBackward0'
    """
    if bias is not None:
        if input.dim() == 2:
            return _linalg.addmm(bias, input, _shapes.t(weight))
        if input.dim() >= 1 and bias.dim() == 1 and input.is_contiguous():
            rows = _shapes.view(input, -1, input.shape[-1])
            out = _linalg.addmm(bias, rows, _shapes.t(weight))
            return _shapes.view(out, *input.shape[:-1], out.shape[-1])
    out = _linalg.matmul(input, _shapes.t(weight))
    return out if bias is None else _elementwise.add(out, bias)


# ---- reductions (the helpers live in fgrad.facade.nn._loss_common) -------------------------------------

def _apply_loss(op, differentiable, constants, static):
    """apply(op) where `constants` (class weights, integer targets) follow the `differentiable` inputs.

    PyTorch's loss nodes have edges for their differentiable inputs only (NllLossBackward0 has one, for
    the log-probabilities), so the trailing constants' slots are dropped from the node's edges; they never
    need a gradient, which PyTorch enforces for the weights.
    """
    for name, value in constants:
        if value is not None and value.requires_grad:
            raise RuntimeError(f"The function '{op.name}' is not differentiable with respect to argument "
                               f"'{name}'. This input cannot have requires_grad True.")
    args = tuple(differentiable) + tuple(value for _, value in constants if value is not None)
    out = apply(op, args, static)
    if out.grad_fn is not None:
        out.grad_fn._next = out.grad_fn._next[:len(differentiable)]
    return out


# ---- mse_loss and l1_loss -----------------------------------------------------------------------------

def _mse_fn(x, target, dtype, reduction):
    diff = ops.sub(ops.convert_element_type(x, dtype), ops.convert_element_type(target, dtype))
    return _reduce(ops.mul(diff, diff), reduction)


_MSE_LOSS = FacadeOp("mse_loss", _mse_fn, "MseLossBackward0")


def mse_loss(input, target, size_average=None, reduce=None, reduction: str = "mean", weight=None):
    """The squared error (input - target)**2, averaged (or summed, or elementwise) (MseLossBackward0).

    >>> import fgrad as torch
    >>> torch.nn.functional.mse_loss(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.0]))
    tensor(5.)
    """
    _warn_target_size(input, target)
    reduction = _reduction(reduction, size_average, reduce)
    input_shape = input.shape
    input, target, dtype = _float_pair(input, target)
    if weight is not None:
        return _weighted_loss(_elementwise.pow(_elementwise.sub(input, target), 2), weight, reduction, input_shape)
    return apply(_MSE_LOSS, (input, target), (dtype, reduction))


# ---- binary cross-entropy -----------------------------------------------------------------------------

def _clamped_log(log_value):
    # max(log, -100) (PyTorch clamps the log, not the input).
    return ops.select(ops.lt(log_value, LOG_CLAMP), LOG_CLAMP, log_value)


# PyTorch's binary_cross_entropy_backward divides by max((1 - x) x, EPSILON), so the gradient stays finite
# at probabilities of exactly 0 and 1 (where sigmoid saturates in float32), as the clamped logs keep the loss.
BCE_EPSILON = 1e-12


def _bce_fn(*args):
    # The value is PyTorch's CPU kernel, (t - 1) max(log1p(-x), -100) - t max(log(x), -100). Its gradient is
    # PyTorch's, not the clamped formula's derivative: (x - t) / max((1 - x) x, eps) for x and the clamped
    # log1p(-x) - log(x) for t. It is carried by a term whose value is -0.0 (z - z for z = stop_gradient(e),
    # negated, adds nothing to any value): e's derivative is that gradient, and where (1 - x) x >= eps e is the
    # unclamped loss itself, so second derivatives there are the loss's (x and t each; their cross term is 0).
    *arrays, dtype, reduction = args
    x, target = (ops.convert_element_type(a, dtype) for a in arrays[:2])
    log_1mx, log_x = _clamped_log(ops.log1p(ops.neg(x))), _clamped_log(ops.log(x))
    value = ops.sub(ops.mul(ops.sub(target, 1.0), log_1mx), ops.mul(target, log_x))
    t = stop_gradient(target)
    near_end = ops.lt(ops.mul(ops.sub(1.0, x), x), BCE_EPSILON)          # x within ~1e-12 of 0 or 1
    x_inner = ops.select(near_end, 0.5, x)
    inner = ops.neg(ops.add(ops.mul(t, ops.log(x_inner)), ops.mul(ops.sub(1.0, t), ops.log1p(ops.neg(x_inner)))))
    near = ops.div(ops.integer_pow(ops.sub(x, t), y=2), 2 * BCE_EPSILON)
    e = ops.add(ops.select(near_end, near, inner), ops.mul(target, stop_gradient(ops.sub(log_1mx, log_x))))
    loss = ops.add(stop_gradient(value), ops.neg(ops.sub(stop_gradient(e), e)))
    if len(arrays) == 3:
        loss = ops.mul(loss, ops.convert_element_type(arrays[2], dtype))
    return _reduce(loss, reduction)


_BCE = FacadeOp("binary_cross_entropy", _bce_fn, "BinaryCrossEntropyBackward0")


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
    """-(t log(x) + (1 - t) log(1 - x)) for probabilities x in [0, 1], each log clamped to >= -100
    (BinaryCrossEntropyBackward0)."""
    reduction = _reduction(reduction, size_average, reduce)
    if target.shape != input.shape:
        raise ValueError(f"Using a target size ({Size(target.shape)}) that is different to the input size "
                         f"({Size(input.shape)}) is deprecated. Please ensure they have the same size.")
    if target.dtype != input.dtype:
        raise RuntimeError(f"Found dtype {_operands._dtype_name(target._data.dtype)} but expected "
                           f"{_operands._dtype_name(input._data.dtype)}")
    _check_probabilities(input, "input")
    _check_probabilities(target, "target")
    if weight is not None and not weight.requires_grad:
        weight = _shapes.expand(weight, np.broadcast_shapes(target.shape, weight.shape))
    return _apply_loss(_BCE, (input, target), [("weight", weight)], (input._data.dtype, reduction))


def _check_probabilities(t, what):
    data = t._data
    if type(data) is not np.ndarray:
        return              # traced by a transform (fgrad.func): the values are not known yet
    if data.size and not ((data >= 0) & (data <= 1)).all():      # NaN fails too, as in PyTorch's check
        raise RuntimeError(f"all elements of {what} should be between 0 and 1")


def _log_sigmoid(x):
    # PyTorch's CPU log_sigmoid, min(x, 0) - log1p(exp(-|x|)), one side at a time: x - log1p(exp(x)) for x < 0,
    # 0 - log1p(exp(-x)) otherwise. Each side reads x only where it is selected (no exp overflow), it is
    # -inf at -inf, and NaN propagates to the value and the derivative (1/2 at 0, as PyTorch's).
    negative = ops.lt(x, 0.0)
    x_neg, x_pos = ops.select(negative, x, 0.0), ops.select(negative, 0.0, x)
    return ops.select(negative, ops.sub(x_neg, ops.log1p(ops.exp(x_neg))),
                      ops.sub(0.0, ops.log1p(ops.exp(ops.neg(x_pos)))))


def _bce_logits_fn(*args):
    *arrays, dtype, reduction, has_weight, has_pos_weight = args
    x, target = (ops.convert_element_type(a, dtype) for a in arrays[:2])
    rest = [ops.convert_element_type(a, dtype) for a in arrays[2:]]
    weight = rest.pop(0) if has_weight else None
    pos_weight = rest.pop(0) if has_pos_weight else None
    # (1 - t) * x - log_weight * log_sigmoid(x), log_weight = 1 + (pos_weight - 1) * t (PyTorch's formula)
    log_sig = _log_sigmoid(x)
    if pos_weight is not None:
        log_sig = ops.mul(log_sig, ops.add(ops.mul(ops.sub(pos_weight, 1.0), target), 1.0))
    loss = ops.sub(ops.mul(ops.sub(1.0, target), x), log_sig)
    if weight is not None:
        loss = ops.mul(loss, weight)
    return _reduce(loss, reduction)


_BCE_WITH_LOGITS = FacadeOp("binary_cross_entropy_with_logits", _bce_logits_fn,
                            "BinaryCrossEntropyWithLogitsBackward0")


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction: str = "mean", pos_weight=None):
    """binary_cross_entropy(sigmoid(input), target) in one stable formula, (1 - t) x - log_sigmoid(x)
    (BinaryCrossEntropyWithLogitsBackward0). `pos_weight` scales the positive term per class."""
    reduction = _reduction(reduction, size_average, reduce)
    if target.shape != input.shape:
        raise ValueError(f"Target size ({Size(target.shape)}) must be the same as input size ({Size(input.shape)})")
    dtype = _operands.result_type(input, target)
    if dtype.kind != "f":
        dtype = _dtypes.default_float_numpy()
    for extra in (weight, pos_weight):
        if extra is not None:
            _operands._check_broadcast(tuple(extra.shape), tuple(input.shape))       # PyTorch's error, early
    return _apply_loss(_BCE_WITH_LOGITS, (input, target), [("weight", weight), ("pos_weight", pos_weight)],
                       (dtype, reduction, weight is not None, pos_weight is not None))


# ---- nll_loss and cross_entropy --------------------------------------------------------------------------

def _nll_fn(*args):
    """-log_prob[target] per sample (times the target class's weight; 0 where target == ignore_index),
    then reduced; the mean divides by the total weight of the samples not ignored, as PyTorch's."""
    *arrays, reduction, ignore_index = args
    log_prob, target = arrays[:2]
    weight = arrays[2] if len(arrays) == 3 else None
    ndim = len(log_prob.shape)
    if ndim == 1:                                   # (C,) with a 0-d target: one sample
        log_prob = ops.expand_dims(log_prob, (0,))
        target = ops.reshape(target, (1,))
    elif ndim > 2:                                  # (N, C, d1, ...): the class axis last
        log_prob = ops.transpose(log_prob, (0,) + tuple(range(2, ndim)) + (1,))
    kept = ops.ne(target, ignore_index)
    safe_target = ops.select(kept, target, 0)
    class_axis = len(log_prob.shape) - 1
    picked = ops.squeeze(_reductions.take_along_axis(log_prob, ops.expand_dims(safe_target, (class_axis,)), class_axis),
                         (class_axis,))
    dtype = log_prob.dtype
    if weight is not None:
        sample_weight = ops.select(kept, ops.gather(weight, safe_target, 0), 0.0)
    else:
        sample_weight = ops.convert_element_type(kept, dtype)
    losses = ops.neg(ops.mul(picked, sample_weight))
    if reduction == "none":
        return ops.reshape(losses, ()) if ndim == 1 else losses
    axes = tuple(range(len(losses.shape)))
    total = ops.reduce_sum(losses, axes)
    if reduction == "sum":
        return total
    return ops.div(total, ops.reduce_sum(sample_weight, axes))


_NLL_LOSS = FacadeOp("nll_loss_forward", _nll_fn, "NllLossBackward0")
_NLL_LOSS_2D = FacadeOp("nll_loss2d_forward", _nll_fn, "NllLoss2DBackward0")


def nll_loss(input, target, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
             reduction: str = "mean"):
    """The negative log-likelihood of class indices `target` under log-probabilities `input` (N, C) or (C,)
    or (N, C, d1, ...): NllLossBackward0 (NllLoss2DBackward0 for more than 2 dims)."""
    reduction = _reduction(reduction, size_average, reduce)
    _check_class_targets(input, target, weight, ignore_index)
    ndim = input.dim()
    static = (reduction, int(ignore_index))
    if ndim <= 2 or ndim == 4:
        op = _NLL_LOSS if ndim <= 2 else _NLL_LOSS_2D
        return _apply_loss(op, (input,), [("target", target), ("weight", weight)], static)
    # 3 or more than 4 dims: PyTorch views the input as (N, C, 1, -1) for nll_loss2d and views back
    n, c = input.shape[:2]
    spatial = (1, -1) if input.numel() > 0 else (0, 0)
    rows = _shapes.view(_shapes.contiguous(input), n, c, *spatial)
    labels = make(np.ascontiguousarray(target._data).reshape((n,) + spatial))
    out = _apply_loss(_NLL_LOSS_2D, (rows,), [("target", labels), ("weight", weight)], static)
    return _shapes.view(out, n, *input.shape[2:]) if reduction == "none" else out


def _check_class_targets(input, target, weight, ignore_index):
    """PyTorch's checks of nll_loss's arguments (shapes, dtype, target range), with its exception types."""
    ndim = input.dim()
    if ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {ndim})")
    if target._data.dtype.kind not in "iu":
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {_operands._dtype_name(target._data.dtype)}")
    if ndim == 1:
        if target.dim() > 1 or target.numel() != 1:
            raise ValueError(f"For 1D input, 1D target must have size 1, but got target size: {target.numel()}")
    else:
        batch = target.shape[0] if target.dim() else 1
        if input.shape[0] != batch:
            raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size ({batch}).")
        expected = (input.shape[0],) + tuple(input.shape[2:])
        if tuple(target.shape) != expected:
            raise RuntimeError(f"Expected target size {list(expected)}, got {list(target.shape)}")
    n_classes = input.shape[0 if ndim == 1 else 1]
    if weight is not None and tuple(weight.shape) != (n_classes,):
        raise RuntimeError(f"weight tensor should be defined either for all {n_classes} classes or no classes "
                           f"but got weight tensor of shape: {list(weight.shape)}")
    labels = target._data
    if type(labels) is not np.ndarray:
        return              # traced by a transform (fgrad.func): the values are not known yet
    bad = (labels != ignore_index) & ((labels < 0) | (labels >= n_classes))
    if bad.any():
        raise IndexError(f"Target {labels[bad].flat[0]} is out of bounds.")


# Tensor-and-Python-number arithmetic as PyTorch's C++ composites record it (the Scalar overloads' nodes).
_DIV_SCALAR = FacadeOp("div", lambda x, divisor: ops.div(x, divisor), "DivBackward1")
_MUL_SCALAR = FacadeOp("mul", lambda x, factor: ops.mul(x, factor), "MulBackward1")
_ADD_SCALAR = FacadeOp("add", lambda x, term: ops.add(x, term), "AddBackward1")


def _scalar_op(op, x, value):
    return apply(op, (x,), (float(value),))


def cross_entropy(input, target, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0):
    """Cross-entropy of logits `input` (N, C), (C,) or (N, C, d1, ...) against class indices, or against
    class probabilities shaped like `input`; optionally with label smoothing.

    Composed as PyTorch composes it: log_softmax then nll_loss for indices (NllLossBackward0 on top of
    LogSoftmaxBackward0); -(log_softmax(input) * target).sum() / batch for probabilities (DivBackward1).

    >>> import fgrad as torch
    >>> loss = torch.nn.functional.cross_entropy(torch.zeros(2, 4, requires_grad=True), torch.tensor([0, 3]))
    >>> round(loss.item(), 4), loss.grad_fn.name()
    (1.3863, 'NllLossBackward0')
    """
    reduction = _reduction(reduction, size_average, reduce)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    class_dim = 0 if input.dim() == 1 else 1
    if tuple(input.shape) == tuple(target.shape):
        if not target.is_floating_point():
            raise RuntimeError("Expected floating point type for target with class probabilities, got "
                               f"{_operands._dtype_name(target._data.dtype)}")
        return _cross_entropy_probabilities(input, target, weight, reduction, label_smoothing, class_dim)
    log_prob = _reductions.log_softmax(input, class_dim)
    loss = nll_loss(log_prob, target, weight, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing > 0.0:
        smooth = _smoothing_term(log_prob, target, weight, ignore_index, reduction, class_dim)
        loss = _elementwise.add(_scalar_op(_MUL_SCALAR, loss, 1 - label_smoothing),
                        _scalar_op(_MUL_SCALAR, smooth, label_smoothing / input.shape[class_dim]))
    return loss


def _class_weight_view(weight, ndim, class_dim):
    shape = [1] * ndim
    shape[class_dim] = weight.shape[0]
    return _shapes.view(weight, *shape)


def _cross_entropy_probabilities(input, target, weight, reduction, label_smoothing, class_dim):
    n_classes = input.shape[class_dim]
    if label_smoothing > 0.0:
        target = _scalar_op(_ADD_SCALAR, _scalar_op(_MUL_SCALAR, target, 1 - label_smoothing),
                            label_smoothing / n_classes)
    products = _elementwise.mul(_reductions.log_softmax(input, class_dim), target)
    if weight is not None:
        products = _elementwise.mul(products, _class_weight_view(weight, input.dim(), class_dim))
    if reduction == "none":
        return _elementwise.neg(_reductions.sum(products, class_dim))
    total = _elementwise.neg(_reductions.sum(products))
    if reduction == "sum":
        return total
    return _scalar_op(_DIV_SCALAR, total, input.numel() // n_classes)


def _smoothing_term(log_prob, target, weight, ignore_index, reduction, class_dim):
    """The uniform-target part of label-smoothed cross-entropy, as PyTorch computes it."""
    if weight is not None:
        per_sample = _elementwise.neg(_reductions.sum(_elementwise.mul(log_prob, _class_weight_view(weight, log_prob.dim(), class_dim)),
                                       class_dim))
    else:
        per_sample = _elementwise.neg(_reductions.sum(log_prob, class_dim))
    ignored = _elementwise.eq(target, ignore_index)
    per_sample = _elementwise.masked_fill(per_sample, ignored, 0.0)
    if reduction == "none":
        return per_sample
    if reduction == "sum":
        return _reductions.sum(per_sample)
    if weight is not None:
        kept_targets = make(np.ascontiguousarray(target._data[~ignored._data]))
        return _elementwise.div(_reductions.sum(per_sample), _reductions.sum(_shapes.index_select(weight, 0, kept_targets)))
    return _elementwise.div(_reductions.sum(per_sample), _reductions.sum(_elementwise.logical_not(ignored)))



# More activations, distances, normalisation, channel dropout, interpolate and losses (fgrad.facade.nn._functional_more).
from fgrad.facade.nn import _functional_more  # noqa: E402
from fgrad.facade.nn._functional_more import *  # noqa: E402,F401,F403

__all__ += _functional_more.__all__
