"""Tensor's op methods and operators, installed from the facade's functions (x.sin() is _elementwise.sin(x)),
and `backward` from the engine.

In-place methods (`add_`, `mul_`, ...) compute the out-of-place result and write it into the tensor's
storage with `_inplace.inplace`, which applies PyTorch's checks and makes the recorded node the tensor's
grad_fn.
"""
from __future__ import annotations

import numpy as np

from fgrad import ops
from fgrad.ops import add_p, mul_p, sub_p
from fgrad.facade import (_dtypes, _elementwise, _engine, _indexing, _inplace, _linalg, _operands, _random,
                          _reductions, _sampling, _shapes)
from fgrad.facade._creation import LegacyTensorType, _shape, tensor
from fgrad.facade._dual import carries_tangent
from fgrad.facade._grad_mode import state as _grad_mode_state
from fgrad.facade._inplace import check_leaf_inplace, inplace
from fgrad.facade._op import FacadeOp, apply
from fgrad.facade._operands import numpy_names
from fgrad.facade._tensor import Tensor, _dim, make
from fgrad.facade._tensor import device as device_cls

_FAMILIES = (_elementwise, _reductions, _shapes, _linalg, _inplace)

_METHODS = [
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "floor_divide", "remainder",
    "fmod", "pow", "neg", "negative", "abs", "absolute", "sign", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt",
    "sin", "cos", "tan", "tanh", "sigmoid", "relu", "reciprocal", "square", "log2", "log10", "exp2", "clamp",
    "asin", "arcsin", "acos", "arccos", "atan", "arctan", "atan2", "arctan2", "sinh", "cosh", "asinh", "arcsinh",
    "acosh", "arccosh", "atanh", "arctanh", "hypot",
    "clip", "clamp_min", "clamp_max", "maximum", "minimum", "masked_fill",
    "eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less", "less_equal", "not_equal",
    "logical_and", "logical_or", "logical_xor", "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor",
    "bitwise_not", "isnan", "isinf", "isfinite", "floor", "ceil", "trunc", "frac", "round", "equal", "allclose",
    "isclose", "all", "any", "nonzero", "count_nonzero",
    "sum", "mean", "max", "min", "amax", "amin", "argmax", "argmin", "prod", "var", "std", "norm", "logsumexp",
    "softmax", "log_softmax", "cumsum", "cumprod",
    "view", "reshape", "clone", "contiguous", "flatten", "unflatten", "view_as", "reshape_as", "transpose",
    "swapaxes", "swapdims", "movedim", "moveaxis", "permute", "t", "squeeze", "unsqueeze", "expand", "expand_as",
    "broadcast_to", "repeat", "narrow", "split", "chunk", "tensor_split", "unbind", "gather", "index_select", "take",
    "mm", "mv", "dot", "inner", "bmm", "matmul", "addmm", "outer", "ger", "trace", "diag", "tril", "triu",
    "fill_", "zero_", "copy_",
]


def _family_function(name: str):
    """The op family's function called `name`."""
    for family in _FAMILIES:
        fn = getattr(family, name, None)
        if fn is not None:
            return fn
    raise AttributeError(f"no facade op family defines {name}")


def _where_method(self, condition, other):
    """self where condition, else other: x.where(cond, y) is torch.where(cond, x, y)."""
    return _elementwise.where(condition, self, other)


def _install():
    for name in _METHODS:
        setattr(Tensor, name, _family_function(name))
    Tensor.where = _where_method
    Tensor.flip = _shapes.flip_method
    Tensor.size = numpy_names(Tensor.size)
    Tensor.stride = numpy_names(Tensor.stride)
    Tensor.backward = _engine.tensor_backward
    Tensor.T = property(_shapes.T)
    Tensor.mT = property(_shapes.mT)
    Tensor.H = property(_shapes.H)
    Tensor.mH = property(_shapes.mH)


_install()


# ---- operators ---------------------------------------------------------------------------------------------

def _reflected(fn):
    return lambda self, other: fn(other, self)


Tensor.__add__ = Tensor.__radd__ = _elementwise.add
Tensor.__sub__ = _elementwise.sub
Tensor.__rsub__ = lambda self, other: _elementwise.rsub(self, other)
Tensor.__mul__ = Tensor.__rmul__ = _elementwise.mul
Tensor.__truediv__ = _elementwise.div
Tensor.__rtruediv__ = lambda self, other: _elementwise.mul(_elementwise.reciprocal(self), other) if _operands._is_scalar(other) \
    else _elementwise.div(other, self)
Tensor.__floordiv__ = _elementwise.floor_divide
Tensor.__rfloordiv__ = _reflected(_elementwise.floor_divide)
Tensor.__mod__ = _elementwise.remainder
Tensor.__rmod__ = _reflected(_elementwise.remainder)
Tensor.__pow__ = _elementwise.pow
Tensor.__rpow__ = lambda self, other: _elementwise.pow(other, self)


def _matmul_operator(self, other):
    # PyTorch: `t @ ndarray` is numpy's product of t's values (a tensor that requires grad refuses, as
    # numpy() does), wrapped back into a tensor; any other non-tensor is a TypeError.
    if isinstance(other, Tensor):
        return _linalg.matmul(self, other)
    if isinstance(other, np.ndarray):
        return tensor(np.matmul(self.__array__(), other))
    return NotImplemented


def _rmatmul_operator(self, other):
    return _linalg.matmul(other, self) if isinstance(other, Tensor) else NotImplemented


Tensor.__matmul__ = _matmul_operator
Tensor.__rmatmul__ = _rmatmul_operator


def _neg(self):
    _elementwise._check_neg_bool(self)
    return _elementwise.neg(self)


Tensor.__neg__ = _neg
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = _elementwise.abs
Tensor.__eq__ = _elementwise.eq
Tensor.__ne__ = _elementwise.ne
Tensor.__lt__ = _elementwise.lt
Tensor.__le__ = _elementwise.le
Tensor.__gt__ = _elementwise.gt
Tensor.__ge__ = _elementwise.ge
Tensor.__and__ = Tensor.__rand__ = _elementwise.bitwise_and
Tensor.__or__ = Tensor.__ror__ = _elementwise.bitwise_or
Tensor.__xor__ = Tensor.__rxor__ = _elementwise.bitwise_xor
Tensor.__invert__ = _elementwise.bitwise_not
Tensor.__getitem__ = _indexing.getitem
Tensor.__setitem__ = _indexing.setitem
Tensor.__contains__ = lambda self, element: bool((self == element).any())


# ---- in-place ------------------------------------------------------------------------------------------------

def _inplace_method(name, fn):
    def method(self, *args, **kwargs):
        check_leaf_inplace(self)
        return inplace(self, fn(self, *args, **kwargs))
    method.__name__ = name
    method.__doc__ = f"In-place {name[:-1]}: the result written into this tensor's storage."
    return method


def _ufunc_inplace(name, prim):
    """add_/sub_/mul_ when no graph is recorded and the result keeps self's dtype and shape: the primitive's
    numpy impl (a ufunc) writes straight into self's storage (one pass, as PyTorch's in-place kernels),
    instead of computing a new array and copying it in."""
    general = _inplace_method(name, _family_function(name[:-1]))
    impl = prim.impl

    def method(self, other, *, alpha=1):
        if not isinstance(self, Tensor):
            return general(self, other, alpha=alpha)
        if isinstance(other, Tensor):
            other_data = other._data
            recorded = other.requires_grad
            same_dtype = other_data.dtype == self._data.dtype
        elif isinstance(other, (int, float)) and not isinstance(other, bool):
            other_data = other
            recorded = False
            same_dtype = _operands._scalar_result(self._data.dtype, other) == self._data.dtype
        else:
            return general(self, other, alpha=alpha)
        recorded = ((recorded or self.requires_grad) and _grad_mode_state.enabled) or carries_tangent(self, other)
        if (recorded or not same_dtype or type(self._data) is not np.ndarray or not self._data.flags.writeable
                or np.broadcast_shapes(np.shape(other_data), self._data.shape) != self._data.shape):
            return general(self, other, alpha=alpha) if name != "mul_" else general(self, other)
        if alpha != 1:
            other_data = np.multiply(other_data, np.asarray(alpha, self._data.dtype))
        impl(self._data, np.asarray(other_data, self._data.dtype), out=self._data)
        self._vc[0] += 1
        return self
    method.__name__ = name
    method.__doc__ = general.__doc__
    return method


# The in-place methods made from an out-of-place function (`x.sin_()` writes sin(x) into x). PyTorch also
# exposes some of them as functions (`torch.sin_(x)`): those are `INPLACE_FUNCTIONS`, taken from this table.
_INPLACE_METHOD_ONLY = ["div", "pow", "masked_fill", "floor_divide", "remainder", "sign", "tril", "triu"]
_INPLACE_WITH_FUNCTION = [
    "clamp", "clamp_min", "clamp_max", "neg", "abs", "sqrt", "exp", "exp2", "log", "log2", "log10", "log1p", "expm1",
    "sin", "cos", "tan", "sinh", "cosh", "asin", "acos", "atan", "asinh", "acosh", "atanh", "tanh", "sigmoid", "relu",
    "reciprocal", "square", "rsqrt", "floor", "ceil", "trunc", "frac", "round"]
# other names of the same in-place methods
_INPLACE_ALIASES = {"subtract_": "sub_", "multiply_": "mul_", "divide_": "div_", "true_divide_": "div_",
                    "clip_": "clamp_", "negative_": "neg_", "absolute_": "abs_", "arcsin_": "asin_",
                    "arccos_": "acos_", "arctan_": "atan_", "arcsinh_": "asinh_", "arccosh_": "acosh_",
                    "arctanh_": "atanh_"}
# the aliases PyTorch also has as torch.<name> functions
_FUNCTION_ALIASES = ["clip_", "negative_", "arcsin_", "arccos_", "arctan_", "arcsinh_", "arccosh_", "arctanh_"]

for _name in _INPLACE_METHOD_ONLY + _INPLACE_WITH_FUNCTION:
    setattr(Tensor, _name + "_", _inplace_method(_name + "_", _family_function(_name)))
Tensor.add_ = _ufunc_inplace("add_", add_p)
Tensor.sub_ = _ufunc_inplace("sub_", sub_p)
Tensor.mul_ = _ufunc_inplace("mul_", mul_p)
for _alias, _name in _INPLACE_ALIASES.items():
    setattr(Tensor, _alias, getattr(Tensor, _name))

# torch.sin_(x), torch.clamp_(x, 0, 1), ...: the in-place methods called as functions
INPLACE_FUNCTIONS = {name: getattr(Tensor, name) for name in
                     [n + "_" for n in _INPLACE_WITH_FUNCTION] + _FUNCTION_ALIASES + ["fill_", "zero_", "detach_"]}


def _iop(method_name):
    def method(self, other):
        return getattr(self, method_name)(other)
    return method


Tensor.__iadd__ = _iop("add_")
Tensor.__isub__ = _iop("sub_")
Tensor.__imul__ = _iop("mul_")
Tensor.__itruediv__ = _iop("div_")
Tensor.__ipow__ = _iop("pow_")
Tensor.__ifloordiv__ = _iop("floor_divide_")
Tensor.__imod__ = _iop("remainder_")


def addcmul(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 * tensor2."""
    return _elementwise.add(input, _elementwise.mul(_elementwise.mul(tensor1, tensor2), value))


def addcdiv(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 / tensor2."""
    return _elementwise.add(input, _elementwise.mul(_elementwise.div(tensor1, tensor2), value))


def _lerp_fn(start, end, weight, dtype):
    # PyTorch's lerp kernel: start + w (end - start) for |w| < 0.5, else end - (end - start) (1 - w), so w = 1
    # gives `end` exactly (and inf endpoints give PyTorch's values). Gradients: 1 - w, w, end - start.
    # Each side reads the weight only where it is selected (0 or 1 elsewhere), so an infinite weight or
    # difference on the other side cannot turn its zero cotangent into 0 * inf = nan.
    start, end, weight = (_operands._cast(a, dtype) for a in (start, end, weight))
    diff = ops.sub(end, start)
    near_start = ops.lt(ops.abs(weight), 0.5)
    from_start = ops.add(start, ops.mul(ops.select(near_start, weight, 0.0), diff))
    from_end = ops.sub(end, ops.mul(diff, ops.sub(1.0, ops.select(near_start, 1.0, weight))))
    return ops.select(near_start, from_start, from_end)


_LERP = FacadeOp("lerp", _lerp_fn, "LerpBackward0", nondiff=(2,))
_LERP_TENSOR = FacadeOp("lerp", _lerp_fn, "LerpBackward1")


def lerp(input, end, weight):
    """input + weight * (end - input), as PyTorch's kernel computes it (LerpBackward0 / LerpBackward1)."""
    dtype = input._data.dtype
    if isinstance(weight, Tensor):
        return apply(_LERP_TENSOR, (input, end, weight), (dtype,))
    return apply(_LERP, (input, end, np.asarray(weight, dtype)), (dtype,))


Tensor.addcmul = addcmul
Tensor.addcdiv = addcdiv
Tensor.lerp = lerp
Tensor.addcmul_ = _inplace_method("addcmul_", addcmul)
Tensor.addcdiv_ = _inplace_method("addcdiv_", addcdiv)
Tensor.lerp_ = _inplace_method("lerp_", lerp)


# ---- dtype conversion ------------------------------------------------------------------------------------------

def _convert_fn(x, dtype):
    return ops.convert_element_type(x, dtype)


_TO_COPY = FacadeOp("to", _convert_fn, "ToCopyBackward0")


def to(self, *args, **kwargs):
    """The tensor as another dtype (ToCopyBackward0), or itself when nothing changes. Devices other than
    the CPU are refused."""
    dtype = kwargs.pop("dtype", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    device = kwargs.pop("device", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for arg in args:
        if isinstance(arg, Tensor):
            dtype = arg.dtype
        elif isinstance(arg, (_dtypes.dtype, np.dtype)) or arg in (float, int, bool):
            dtype = arg
        elif isinstance(arg, bool):
            copy = arg
        elif arg is not None:
            device = arg
    if device is not None:
        device_cls(device)
    target = self._data.dtype if dtype is None else _dtypes.to_numpy(dtype)
    if target == self._data.dtype:
        return _shapes.clone(self) if copy else self
    if np.uint8 in (target, self._data.dtype):
        # uint8 is storage only (fgrad's ops do not compute on it): convert the values directly, with no
        # gradient (integer results never have one)
        return make(self._data.astype(target))
    return apply(_TO_COPY, (self,), (target,))


Tensor.to = to
Tensor.float = lambda self, memory_format=None: to(self, _dtypes.float32)
Tensor.double = lambda self, memory_format=None: to(self, _dtypes.float64)
Tensor.long = lambda self, memory_format=None: to(self, _dtypes.int64)
Tensor.int = lambda self, memory_format=None: to(self, _dtypes.int32)
Tensor.bool = lambda self, memory_format=None: to(self, _dtypes.bool_)


def type_(self, dtype=None, non_blocking=False):
    """With no argument the type name ('torch.FloatTensor'); with a dtype, the converted tensor."""
    if dtype is None:
        return _dtypes.legacy_type_name(self._data.dtype)
    if isinstance(dtype, str):
        names = {d._legacy: d for d in _dtypes.DTYPES}
        dtype = names[dtype.rsplit(".", 1)[-1]]
    elif isinstance(dtype, LegacyTensorType):        # x.type(torch.DoubleTensor)
        dtype = dtype.dtype
    return to(self, dtype)


Tensor.type = type_
Tensor.type_as = lambda self, other: to(self, other.dtype)


# ---- new tensors of the same dtype --------------------------------------------------------------------------

def _new(self, shape, fill, dtype, requires_grad=False):
    np_dtype = self._data.dtype if dtype is None else _dtypes.to_numpy(dtype)
    return make(np.full(_shape(shape), fill, np_dtype), requires_grad=requires_grad)


Tensor.new_zeros = lambda self, *size, dtype=None, device=None, requires_grad=False: _new(self, size, 0, dtype,
                                                                                           requires_grad)
Tensor.new_ones = lambda self, *size, dtype=None, device=None, requires_grad=False: _new(self, size, 1, dtype,
                                                                                         requires_grad)
Tensor.new_empty = Tensor.new_zeros
Tensor.new_full = lambda self, size, fill_value, *, dtype=None, device=None, requires_grad=False: _new(
    self, (size,), fill_value, dtype, requires_grad)


def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    return tensor(data, dtype=self.dtype if dtype is None else dtype, requires_grad=requires_grad)


Tensor.new_tensor = new_tensor


# ---- random fills (PyTorch's streams, fgrad.facade._random), in place in memory order ------------------------

def _random_fill(self, values):
    """Write sampled values into self's elements in the order PyTorch visits them, as an in-place op."""
    _random.fill_in_memory_order(self._data, values)
    self._vc[0] += 1
    return self


def uniform_(self, a=0.0, b=1.0, *, generator=None):
    """Fill with samples of U(a, b), PyTorch's stream (nn.init and nn.Linear's initialisation use it)."""
    check_leaf_inplace(self)
    gen = _random.generator_of(generator)
    return _random_fill(self, _random.uniform(gen, self._data.size, self._data.dtype, float(a), float(b)))


def normal_(self, mean=0.0, std=1.0, *, generator=None):
    """Fill with samples of N(mean, std**2), PyTorch's stream (block algorithm for contiguous tensors of
    16 or more elements, per-element pairs otherwise)."""
    check_leaf_inplace(self)
    gen = _random.generator_of(generator)
    data = self._data
    values = _random.normal(gen, data.size, data.dtype, float(mean), float(std), contiguous=data.flags.c_contiguous)
    return _random_fill(self, values)


def random_(self, from_=None, to=None, *, generator=None, **kwargs):
    """random_() integers in [0, 2**mantissa] (floats) or [0, max] (integers); random_(to) in [0, to);
    random_(from, to) in [from, to)."""
    check_leaf_inplace(self)
    if "from" in kwargs:
        from_ = kwargs.pop("from")
    if kwargs:
        raise TypeError(f"random_() got an unexpected keyword argument '{next(iter(kwargs))}'")
    gen = _random.generator_of(generator)
    data = self._data
    if from_ is None and to is None:
        values = _random.random_full(gen, data.size, data.dtype)
    else:
        if to is None:
            from_, to = 0, from_
        values = _sampling.random_from_to(gen, data.size, data.dtype, int(from_), int(to))
    return _random_fill(self, values)


def bernoulli_(self, p=0.5, *, generator=None):
    """Fill with 0/1 draws of probability p (a number, or a tensor broadcast to self)."""
    check_leaf_inplace(self)
    gen = _random.generator_of(generator)
    data = self._data
    if isinstance(p, Tensor):
        probs = np.broadcast_to(p._data, data.shape).transpose(_random.memory_order(data))
        values = _random.bernoulli_tensor(gen, probs.reshape(-1), data.dtype)
    else:
        values = _random.bernoulli_scalar(gen, data.size, float(p), data.dtype)
    return _random_fill(self, values)


def bernoulli(self, p=None, *, generator=None):
    return _sampling.bernoulli(self, p, generator=generator)


def exponential_(self, lambd=1.0, *, generator=None):
    """Fill with samples of Exp(lambd)."""
    check_leaf_inplace(self)
    gen = _random.generator_of(generator)
    return _random_fill(self, _random.exponential(gen, self._data.size, self._data.dtype, float(lambd)))


def multinomial(self, num_samples, replacement=False, *, generator=None):
    return _sampling.multinomial(self, num_samples, replacement, generator=generator)


Tensor.uniform_ = uniform_
Tensor.normal_ = normal_
Tensor.random_ = random_
Tensor.bernoulli_ = bernoulli_
Tensor.bernoulli = bernoulli
Tensor.exponential_ = exponential_
Tensor.multinomial = multinomial


# ---- sorting (indices computed by numpy, values gathered so the gradient flows) ----------------------------------

_SORT = FacadeOp("sort", lambda x, index, axis: _reductions.take_along_axis(x, index, axis), "SortBackward0",
                      nondiff=(1,))
_TOPK = FacadeOp("topk", lambda x, index, axis: _reductions.take_along_axis(x, index, axis), "TopkBackward0",
                      nondiff=(1,))


@numpy_names
def argsort(self, dim=-1, descending=False, stable=False):
    if type(self._data) is not np.ndarray:
        raise NotImplementedError("sort, argsort and topk compute their indices with numpy, so they cannot run on a "
                                  "value traced by a transform (fgrad.func.vmap/grad, fgrad.jit): fgrad has no sort "
                                  "primitive yet; sort outside the transform, or pass the indices in")
    axis = _dim(dim, self._data.ndim) if self._data.ndim else 0
    data = self._data if self._data.ndim else self._data.reshape(1)
    key = -data if descending and data.dtype != np.bool_ else (~data if descending else data)
    index = np.argsort(key, axis=axis, kind="stable").astype(np.int64)
    return make(index if self._data.ndim else index.reshape(()))


@numpy_names
def sort(self, dim=-1, descending=False, stable=False):
    """(values, indices) sorted along `dim` (SortBackward0)."""
    index = argsort(self, dim, descending)
    if self._data.ndim == 0:
        return _reductions.return_types.sort(self.clone(), index)
    values = apply(_SORT, (self, index._data), (_dim(dim, self._data.ndim),))
    return _reductions.return_types.sort(values, index)


@numpy_names
def topk(self, k, dim=-1, largest=True, sorted=True):
    """The k largest (or smallest) entries along `dim` and their indices (TopkBackward0)."""
    axis = _dim(dim, self._data.ndim)
    index = argsort(self, axis, descending=largest)._data
    index = np.take(index, np.arange(k), axis=axis)
    values = apply(_TOPK, (self, index), (axis,))
    return _reductions.return_types.topk(values, make(index))


Tensor.argsort = argsort
Tensor.sort = sort
Tensor.topk = topk


@numpy_names
def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct values (sorted), optionally with inverse indices and counts (no gradient)."""
    if dim is not None:
        raise NotImplementedError("fgrad's unique supports dim=None only")
    values, inverse, counts = np.unique(input._data, return_inverse=True, return_counts=True)
    out = [make(values)]
    if return_inverse:
        out.append(make(inverse.reshape(input._data.shape).astype(np.int64)))
    if return_counts:
        out.append(make(counts.astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


Tensor.unique = unique
