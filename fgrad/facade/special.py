"""torch.special: the special functions under PyTorch's names, over the facade's ops.

>>> import fgrad as torch
>>> torch.special.expit(torch.tensor([0.0]))
tensor([0.5000])
>>> torch.special.entr(torch.tensor([0.5, 0.0]))
tensor([0.3466, 0.0000])
"""
from __future__ import annotations

import math

from fgrad import ops
from fgrad.facade._elementwise import _float_binary, _float_unary, exp2, expm1, log1p, round, sigmoid
from fgrad.facade._more_math import erf, erfc, logit, x_times_log, xlogy
from fgrad.facade._reductions import log_softmax, logsumexp, softmax

__all__ = ["expit", "logit", "erf", "erfc", "ndtr", "log_ndtr", "xlogy", "xlog1py", "entr", "sinc", "log1p",
           "expm1", "exp2", "round", "softmax", "log_softmax", "logsumexp"]

expit = sigmoid


def _entr_fn(x):
    # -x log x for x > 0, 0 at 0, -inf below 0, NaN kept. The gradient is -(1 + log x) for x > 0 and 0 elsewhere
    # (PyTorch's is +inf at 0).
    positive = ops.gt(x, 0)
    inner = ops.neg(ops.mul(x, ops.log(ops.select(positive, x, 1.0))))
    rest = ops.select(ops.eq(x, 0), ops.full(x.shape, 0.0, x.dtype), ops.full(x.shape, -math.inf, x.dtype))
    return ops.select(ops.ne(x, x), x, ops.select(positive, inner, rest))


entr = _float_unary("entr", "SpecialEntrBackward0", _entr_fn)


def _sinc_fn(x):
    # sin(pi x) / (pi x), 1 at 0 (where the derivative is 0)
    zero = ops.eq(x, 0)
    px = ops.mul(ops.select(zero, 1.0, x), math.pi)
    return ops.select(zero, 1.0, ops.div(ops.sin(px), px))


sinc = _float_unary("sinc", "SincBackward0", _sinc_fn)


def _ndtr_fn(x):
    # PyTorch's form: erfc(-x / sqrt 2) / 2 keeps the lower tail accurate
    return ops.mul(ops.erfc(ops.mul(x, -1.0 / math.sqrt(2.0))), 0.5)


ndtr = _float_unary("ndtr", "SpecialNdtrBackward0", _ndtr_fn)


def log_ndtr(input):
    """log of the standard normal CDF (accurate while the CDF is not tiny)."""
    return ndtr(input).log()


def _xlog1py_fn(x, y):
    return x_times_log(x, y, ops.log1p, -1.0)


xlog1py = _float_binary("xlog1py", "SpecialXlog1PyBackward0", _xlog1py_fn)
