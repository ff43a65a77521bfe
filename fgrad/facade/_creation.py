"""Tensor creation: tensor, as_tensor, from_numpy, zeros/ones/full/empty(_like), arange, linspace, eye, random."""
from __future__ import annotations

import builtins
import math
import warnings

import numpy as np

from fgrad.facade import _dtypes
from fgrad.facade import _random
from fgrad.facade._tensor import Size, Tensor, make


def _shape(size) -> tuple:
    """zeros(2, 3), zeros((2, 3)), zeros([2, 3]) and zeros(torch.Size([2, 3])) all mean (2, 3)."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    shape = tuple(int(d) for d in size)
    for d in shape:
        if d < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {d}: [{', '.join(map(str, shape))}]")
    return shape


def _finish(array, requires_grad):
    t = make(array)
    if requires_grad:
        t._set_requires_grad(True, "Only Tensors of floating point and complex dtype can require gradients")
    return t


def _dtype_or(dtype, default) -> np.dtype:
    return default if dtype is None else _dtypes.to_numpy(dtype)


def _python_data(data, dtype=None):
    """Nested Python data (with 0-d tensors allowed inside) as a numpy array: of `dtype` when given, else
    with PyTorch's dtype inference."""
    def unwrap(x):
        if isinstance(x, Tensor):
            if x._data.ndim and isinstance(data, (list, tuple)):
                return [unwrap(v) for v in x._data.tolist()]
            return x._data.item() if x._data.ndim == 0 else x._data.tolist()
        if isinstance(x, (list, tuple)):
            return [unwrap(v) for v in x]
        if isinstance(x, np.ndarray):
            return x.tolist()
        return x
    values = unwrap(data)
    _check_numbers(values)
    try:
        array = np.array(values)
    except ValueError:
        raise ValueError(_ragged_message(values)) from None
    if array.dtype == object:
        raise ValueError(_ragged_message(values))
    if dtype is not None:
        return np.array(values, dtype=dtype)
    if array.dtype.kind == "f":
        array = array.astype(_dtypes.default_float_numpy())
    elif array.dtype.kind in "iu":
        array = array.astype(np.int64)
    elif array.dtype.kind == "c":
        raise TypeError("fgrad tensors do not support complex numbers")
    elif array.dtype.kind not in "b":
        raise TypeError(f"Could not infer dtype of {type(values).__name__}")
    return array


def _check_numbers(values):
    """PyTorch's error for data that holds something other than numbers (None, a string, an object), with
    where it is and what tensor() takes."""
    stack = [(values, ())]
    while stack:
        item, where = stack.pop()
        if isinstance(item, list):
            stack.extend((v, where + (i,)) for i, v in reversed(list(enumerate(item))))
        elif not isinstance(item, (bool, int, float, complex, np.number, np.bool_)):
            at = f" at index {list(where)}" if where else ""
            message = (f"Could not infer dtype of {type(item).__name__}: tensor() takes numbers, bools, (nested) "
                       f"lists or tuples of them, numpy arrays or tensors, but got {item!r}{at}. Pass numbers "
                       "(float('nan') for a missing value)")
            raise (TypeError if isinstance(item, (str, bytes)) else RuntimeError)(message)


def _ragged_message(values) -> str:
    def walk(x, dim):
        if not isinstance(x, list) or not x:
            return None
        lengths = [len(v) if isinstance(v, list) else None for v in x]
        first = lengths[0]
        for v, n in zip(x, lengths):
            if n != first:
                return f"expected sequence of length {first} at dim {dim + 1} (got {n})"
        for v in x:
            found = walk(v, dim + 1)
            if found:
                return found
        return None
    return walk(values, 0) or "could not build a tensor from the given data"


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor holding a copy of `data` (numbers, nested lists, numpy arrays, tensors).

    Python floats become float32 (the default dtype), ints int64, bools bool; numpy arrays keep their dtype.

    >>> import fgrad as torch
    >>> torch.tensor([1.0, 2.0])
    tensor([1., 2.])
    """
    _check_device(device)
    if isinstance(data, Tensor):
        warnings.warn("To copy construct from a tensor, it is recommended to use sourceTensor.clone().detach() or "
                      "sourceTensor.clone().detach().requires_grad_(True), rather than "
                      "torch.tensor(sourceTensor).", UserWarning, stacklevel=2)
        array = np.array(data._data, copy=True)
    elif isinstance(data, (np.ndarray, np.generic)):
        array = np.array(data, copy=True)
        if array.dtype.kind in "iu" and array.dtype not in (np.int32, np.int64):
            array = array.astype(np.int64)
        _dtypes.from_numpy(array.dtype)
    else:
        array = _python_data(data, None if dtype is None else _dtypes.to_numpy(dtype))
    if dtype is not None:
        array = array.astype(_dtypes.to_numpy(dtype), copy=False)
    return _finish(np.asarray(array, order="C"), requires_grad)


def as_tensor(data, dtype=None, device=None):
    """`data` as a tensor, sharing memory with a numpy array (or returning a tensor) when no conversion is needed."""
    _check_device(device)
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dtype)
    if isinstance(data, np.ndarray):
        target = data.dtype if dtype is None else _dtypes.to_numpy(dtype)
        _dtypes.from_numpy(target)
        return make(data if data.dtype == target else data.astype(target))
    return tensor(data, dtype=dtype)


asarray = as_tensor


def from_numpy(ndarray):
    """A tensor sharing `ndarray`'s memory."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    try:
        _dtypes.from_numpy(ndarray.dtype)
    except TypeError:
        raise TypeError(f"can't convert np.ndarray of type numpy.{ndarray.dtype.name}. The only supported types are: "
                        "float64, float32, int64, int32, and bool.") from None
    return make(ndarray)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def numel(input) -> int:
    return input.numel()


def _check_device(device):
    if device is not None:
        from fgrad.facade._tensor import device as device_cls
        device_cls(device)


def zeros(*size, dtype=None, device=None, requires_grad=False, out=None):
    _check_device(device)
    return _finish(np.zeros(_shape(size), _dtype_or(dtype, _dtypes.default_float_numpy())), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False, out=None):
    _check_device(device)
    return _finish(np.ones(_shape(size), _dtype_or(dtype, _dtypes.default_float_numpy())), requires_grad)


empty = zeros


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """A tensor of `size` filled with `fill_value` (its dtype inferred from the value, as PyTorch's)."""
    _check_device(device)
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    default = _dtypes.scalar_dtype(fill_value)
    return _finish(np.full(_shape((size,)), fill_value, _dtype_or(dtype, default)), requires_grad)


def _like(input, dtype):
    return input._data.dtype if dtype is None else _dtypes.to_numpy(dtype)


def zeros_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    return _finish(np.zeros(input._data.shape, _like(input, dtype)), requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    return _finish(np.ones(input._data.shape, _like(input, dtype)), requires_grad)


empty_like = zeros_like


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    return _finish(np.full(input._data.shape, fill_value, _like(input, dtype)), requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    return _finish(np.eye(int(n), None if m is None else int(m), dtype=_dtype_or(dtype, _dtypes.default_float_numpy())),
                   requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """Values start, start + step, ... below end: int64 for int arguments, else the default float dtype."""
    if end is None:
        start, end = 0, start
    values = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    start, end, step = values
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    is_int = builtins.all(isinstance(v, (int, np.integer)) for v in values)
    default = np.dtype(np.int64) if is_int else _dtypes.default_float_numpy()
    target = _dtype_or(dtype, default)
    n = builtins.max(0, math.ceil((end - start) / step))
    if is_int:
        array = (start + step * np.arange(n, dtype=np.int64)).astype(target)
    else:
        array = (start + step * np.arange(n, dtype=np.float64)).astype(target)
    return _finish(array, requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    """`steps` evenly spaced values from start to end, computed as PyTorch's CPU kernel (the first half
    from start, the second from end) so float32 results are the same."""
    target = _dtype_or(dtype, _dtypes.default_float_numpy())
    steps = int(steps)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    compute = target if target.kind == "f" else np.dtype(np.float64)
    s, e = compute.type(start), compute.type(end)
    if steps == 1:
        return _finish(np.array([s], dtype=target), requires_grad)
    step = (e - s) / compute.type(builtins.max(steps - 1, 1))
    index = np.arange(steps)
    halfway = steps // 2
    values = np.where(index < halfway, s + step * index.astype(compute),
                      e - step * (steps - index - 1).astype(compute))
    return _finish(values.astype(target), requires_grad)


def logspace(start, end, steps, base=10.0, *, dtype=None, requires_grad=False):
    lin = linspace(start, end, steps, dtype=_dtypes.float64)._data
    return _finish(np.power(base, lin).astype(_dtype_or(dtype, _dtypes.default_float_numpy())), requires_grad)


def tril(input, diagonal=0):
    from fgrad.facade import _ops
    mask = np.tril(np.ones(input._data.shape[-2:], np.bool_), diagonal)
    return _ops.where(make(np.broadcast_to(mask, input._data.shape).copy()), input, 0)


def triu(input, diagonal=0):
    from fgrad.facade import _ops
    mask = np.triu(np.ones(input._data.shape[-2:], np.bool_), diagonal)
    return _ops.where(make(np.broadcast_to(mask, input._data.shape).copy()), input, 0)


# ---- random (fgrad.facade._random draws PyTorch's streams) ------------------------------------------------

def _random_size(size, keyword):
    if keyword is not None:
        if size:
            raise TypeError("size given both positionally and as a keyword")
        size = (keyword,)
    return _shape(size)


def _float_dtype(dtype) -> np.dtype:
    return _dtype_or(dtype, _dtypes.default_float_numpy())


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False, out=None, layout=None,
         pin_memory=False, **kwargs):
    """Samples of U(0, 1), PyTorch's stream: `torch.manual_seed(0); torch.rand(3)` prints the same numbers.

    >>> import fgrad as torch
    >>> _ = torch.manual_seed(0); torch.rand(2, 2)
    tensor([[0.4963, 0.7682],
            [0.0885, 0.1320]])
    """
    _check_device(device)
    _no_out(out, "rand")
    shape = _random_size(size, kwargs.pop("size", None))
    _no_extra(kwargs, "rand")
    values = _random.uniform(_random.generator_of(generator), math.prod(shape), _float_dtype(dtype))
    return _finish(values.reshape(shape), requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False, out=None, layout=None,
          pin_memory=False, **kwargs):
    """Samples of N(0, 1), PyTorch's stream (Box-Muller blocks of 16 from 16 elements on, pairs below).

    >>> import fgrad as torch
    >>> _ = torch.manual_seed(0); torch.randn(3)
    tensor([ 1.5410, -0.2934, -2.1788])
    """
    _check_device(device)
    _no_out(out, "randn")
    shape = _random_size(size, kwargs.pop("size", None))
    _no_extra(kwargs, "randn")
    values = _random.normal(_random.generator_of(generator), math.prod(shape), _float_dtype(dtype))
    return _finish(values.reshape(shape), requires_grad)


def _no_out(out, name):
    if out is not None:
        raise TypeError(f"fgrad's {name}() does not write into out=; use the tensor it returns (out.copy_(result) "
                        "writes it into an existing tensor)")


def _no_extra(kwargs, name):
    if kwargs:
        raise TypeError(f"{name}() got an unexpected keyword argument '{next(iter(kwargs))}'")


def randint(*args, low=None, high=None, size=None, generator=None, dtype=None, device=None, requires_grad=False,
            out=None, layout=None, pin_memory=False):
    """Integers uniformly from [low, high) (int64 unless `dtype`): randint(high, size) or randint(low, high,
    size), keywords too.

    >>> import fgrad as torch
    >>> _ = torch.manual_seed(0); torch.randint(10, (5,))
    tensor([4, 9, 3, 0, 3])
    """
    _check_device(device)
    _no_out(out, "randint")
    positional = list(args)
    if size is None and positional and isinstance(positional[-1], (tuple, list, Size)):
        size = positional.pop()
    if len(positional) == 2:
        low, high = positional
    elif len(positional) == 1:
        if high is None:
            high = positional[0]
        else:
            low = positional[0]
    elif positional:
        raise TypeError(f"randint() takes low, high and size, got {len(args)} positional arguments")
    if high is None or size is None:
        raise TypeError("randint() missing required arguments: high and size (randint(high, size) or "
                        "randint(low, high, size))")
    low = 0 if low is None else low
    target = _dtype_or(dtype, np.dtype(np.int64))
    shape = _shape((size,))
    values = random_from_to(_random.generator_of(generator), math.prod(shape), target, int(low), int(high))
    return _finish(values.reshape(shape), requires_grad)


def random_from_to(gen, count, dtype, low: int, high: int):
    """random_(low, high) / randint's values: PyTorch's checks, then (word % (high - low)) + low."""
    if not low < high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    _check_in_range(low, high - 1, dtype)
    return _random.random_integers(gen, count, dtype, high - low, low)


def _check_in_range(low: int, high_inclusive: int, dtype: np.dtype):
    """ATen's check_from_to_in_range: both ends representable (integers) or within +-2**mantissa (floats,
    a warning)."""
    if dtype.kind == "f":
        digits = np.finfo(dtype).nmant + 1
        for value, name in ((low, "from"), (high_inclusive, "to - 1")):
            if not -(1 << digits) <= value <= (1 << digits):
                warnings.warn(f"{name} is out of bounds [-(2^{digits}), 2^{digits}]. Due to precision limitations "
                              f"{_dtypes.from_numpy(dtype)} can support discrete uniform distribution only within "
                              "this range. This warning will become an error in version 1.7 release, please fix "
                              "the code in advance", UserWarning, stacklevel=3)
        return
    if dtype == np.bool_:
        lo, hi, type_name = 0, 1, "bool"
    else:
        info = np.iinfo(dtype)
        lo, hi = int(info.min), int(info.max)
        type_name = {"int64": "long int", "int32": "int", "uint8": "unsigned char"}[dtype.name]
    for value, name in ((low, "from"), (high_inclusive, "to - 1")):
        if not lo <= value <= hi:
            raise RuntimeError(f"{name} is out of bounds for {type_name}")


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False, out=None, layout=None,
             pin_memory=False):
    """A random permutation of 0..n-1 (int64), PyTorch's Fisher-Yates.

    >>> import fgrad as torch
    >>> _ = torch.manual_seed(0); torch.randperm(5)
    tensor([4, 0, 1, 3, 2])
    """
    _check_device(device)
    _no_out(out, "randperm")
    n = int(n)
    if n < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {n}: [{n}]")
    values = _random.permutation(_random.generator_of(generator), n)
    return _finish(values.astype(_dtype_or(dtype, np.dtype(np.int64))), requires_grad)


def _empty_like(input, dtype) -> np.ndarray:
    """empty_like's layout: the input's memory order (a transposed input gives a transposed result), which
    decides the order the random values are written in."""
    return np.empty_like(input._data, dtype=_like(input, dtype), order="K")


def rand_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None,
              generator=None):
    out = _empty_like(input, dtype)
    gen = _random.generator_of(generator)
    _random.fill_in_memory_order(out, _random.uniform(gen, out.size, out.dtype))
    return _finish(out, requires_grad)


def randn_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None,
               generator=None):
    out = _empty_like(input, dtype)
    gen = _random.generator_of(generator)
    values = _random.normal(gen, out.size, out.dtype, contiguous=out.flags.c_contiguous)
    _random.fill_in_memory_order(out, values)
    return _finish(out, requires_grad)


def randint_like(input, low=0, high=None, *, dtype=None, layout=None, device=None, requires_grad=False,
                 memory_format=None, generator=None):
    """randint_like(input, high) or randint_like(input, low, high), in the input's dtype."""
    if high is None:
        low, high = 0, low
    out = _empty_like(input, dtype)
    values = random_from_to(_random.generator_of(generator), out.size, out.dtype, int(low), int(high))
    _random.fill_in_memory_order(out, values)
    return _finish(out, requires_grad)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, out=None, layout=None, device=None,
           requires_grad=False, pin_memory=False):
    """Samples of N(mean, std**2): numbers with a `size`, or tensors (broadcast), as PyTorch computes them
    (standard normals scaled by std, then mean added, each rounded in the result's dtype). Gradients flow
    to tensor arguments through the scale and shift (grad_fn MulBackward0/AddBackward0 where PyTorch
    names its nodes NormalBackward).

    >>> import fgrad as torch
    >>> _ = torch.manual_seed(0); torch.normal(2.0, 3.0, (3,))
    tensor([ 6.6230,  1.1197, -4.5364])
    """
    from fgrad.facade import _ops
    _no_out(out, "normal")
    gen = _random.generator_of(generator)
    mean_is_tensor, std_is_tensor = isinstance(mean, Tensor), isinstance(std, Tensor)
    if not mean_is_tensor and not std_is_tensor:
        if size is None:
            raise TypeError("normal() with a number mean and std needs a size")
        shape = _shape((size,))
        values = _random.normal(gen, math.prod(shape), _float_dtype(dtype), float(mean), float(std))
        return _finish(values.reshape(shape), requires_grad)
    if std_is_tensor and std._data.size and not (std._data >= 0).all():
        raise RuntimeError("normal expects all elements of std >= 0.0")
    if mean_is_tensor and not std_is_tensor:
        if std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {_random._num(std)}")
        data = mean._data
        noise = _random.normal(gen, data.size, data.dtype, 0.0, float(std)).reshape(data.shape)
        return _ops.add(make(noise), mean)
    reference = mean if mean_is_tensor else std
    shape = np.broadcast_shapes(mean._data.shape if mean_is_tensor else (),
                                std._data.shape if std_is_tensor else ())
    dtype_ = reference._data.dtype
    noise = make(_random.normal(gen, math.prod(shape), dtype_).reshape(shape))
    mean_tensor = mean if mean_is_tensor else make(np.array(mean, dtype=dtype_))
    return _ops.add(_ops.mul(noise, std), mean_tensor)


def bernoulli(input, p=None, *, generator=None, out=None):
    """0/1 samples in input's dtype: with probability input (elementwise), or `p` for every element.

    >>> import fgrad as torch
    >>> _ = torch.manual_seed(0); torch.bernoulli(torch.full((5,), 0.5))
    tensor([1., 0., 1., 1., 1.])
    """
    _no_out(out, "bernoulli")
    gen = _random.generator_of(generator)
    data = input._data
    if p is None:
        values = _random.bernoulli_tensor(gen, np.ascontiguousarray(data).reshape(-1), data.dtype)
    else:
        values = _random.bernoulli_scalar(gen, data.size, float(p), data.dtype)
    return make(values.reshape(data.shape))


def multinomial(input, num_samples, replacement=False, *, generator=None, out=None):
    """Indices drawn from the rows of `input` (weights), PyTorch's way: with replacement a uniform searched
    in each row's normalised running sum; without (or for one sample) argmax/topk of input / Exp(1)."""
    _no_out(out, "multinomial")
    data = input._data
    if data.dtype.kind != "f":
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: "
                           f"{_random._ATEN_TYPE_NAMES[data.dtype.name]}")
    indices = _random.multinomial(_random.generator_of(generator), data, int(num_samples), bool(replacement))
    return make(indices)
