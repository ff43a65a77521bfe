"""Random tensors: rand, randn, randint, randperm, normal, bernoulli, multinomial and their *_like forms,
drawn from PyTorch's CPU streams (fgrad.facade._random), so seeded code gets PyTorch's numbers."""
from __future__ import annotations

import math
import warnings

import numpy as np

from fgrad.facade import _dtypes
from fgrad.facade import _random
from fgrad.facade._creation import _check_device, _dtype_or, _finish, _like, _shape
from fgrad.facade._elementwise import add, mul
from fgrad.facade._tensor import Size, Tensor, make


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
    gen, dtype = _random.generator_of(generator, per_member=True), _float_dtype(dtype)
    values = _random.sample(lambda s: _random.uniform(gen, math.prod(s), dtype).reshape(s), shape)
    return _finish(values, requires_grad)


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
    gen, dtype = _random.generator_of(generator, per_member=True), _float_dtype(dtype)
    values = _random.sample(lambda s: _random.normal(gen, math.prod(s), dtype).reshape(s), shape)
    return _finish(values, requires_grad)


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
    gen = _random.generator_of(generator, per_member=True)
    values = _random.sample(lambda s: random_from_to(gen, math.prod(s), target, int(low), int(high)).reshape(s),
                            shape)
    return _finish(values, requires_grad)


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
        type_name = _dtypes.c_type_name(dtype)
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


def _sample_like(input, dtype, generator, values_for):
    """A random tensor shaped like `input`, its values written in input's memory order; a value a transform
    traces (vmap) has no layout yet and is filled in order (per batch member under randomness="different")."""
    gen = _random.generator_of(generator, per_member=True)
    if type(input._data) is not np.ndarray:
        target = _like(input, dtype)
        return _random.sample(lambda s: values_for(gen, math.prod(s), target, True).reshape(s), input._data.shape)
    out = _empty_like(input, dtype)
    _random.fill_in_memory_order(out, values_for(gen, out.size, out.dtype, out.flags.c_contiguous))
    return out


def rand_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None,
              generator=None):
    values = _sample_like(input, dtype, generator, lambda gen, n, dt, contiguous: _random.uniform(gen, n, dt))
    return _finish(values, requires_grad)


def randn_like(input, *, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None,
               generator=None):
    values = _sample_like(input, dtype, generator,
                          lambda gen, n, dt, contiguous: _random.normal(gen, n, dt, contiguous=contiguous))
    return _finish(values, requires_grad)


def randint_like(input, low=0, high=None, *, dtype=None, layout=None, device=None, requires_grad=False,
                 memory_format=None, generator=None):
    """randint_like(input, high) or randint_like(input, low, high), in the input's dtype."""
    if high is None:
        low, high = 0, low
    values = _sample_like(input, dtype, generator,
                          lambda gen, n, dt, contiguous: random_from_to(gen, n, dt, int(low), int(high)))
    return _finish(values, requires_grad)


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
    _no_out(out, "normal")
    gen = _random.generator_of(generator, per_member=True)
    mean_is_tensor, std_is_tensor = isinstance(mean, Tensor), isinstance(std, Tensor)
    if not mean_is_tensor and not std_is_tensor:
        if size is None:
            raise TypeError("normal() with a number mean and std needs a size")
        shape, target = _shape((size,)), _float_dtype(dtype)
        values = _random.sample(
            lambda s: _random.normal(gen, math.prod(s), target, float(mean), float(std)).reshape(s), shape)
        return _finish(values, requires_grad)
    if std_is_tensor and type(std._data) is np.ndarray and std._data.size and not (std._data >= 0).all():
        raise RuntimeError("normal expects all elements of std >= 0.0")
    if mean_is_tensor and not std_is_tensor:
        if std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {_random._num(std)}")
        data = mean._data
        noise = _random.sample(lambda s: _random.normal(gen, math.prod(s), data.dtype, 0.0, float(std)).reshape(s),
                               data.shape)
        return add(make(noise), mean)
    reference = mean if mean_is_tensor else std
    shape = np.broadcast_shapes(mean._data.shape if mean_is_tensor else (),
                                std._data.shape if std_is_tensor else ())
    dtype_ = reference._data.dtype
    noise = make(_random.sample(lambda s: _random.normal(gen, math.prod(s), dtype_).reshape(s), shape))
    mean_tensor = mean if mean_is_tensor else make(np.array(mean, dtype=dtype_))
    return add(mul(noise, std), mean_tensor)


def bernoulli(input, p=None, *, generator=None, out=None):
    """0/1 samples in input's dtype: with probability input (elementwise), or `p` for every element.

    >>> import fgrad as torch
    >>> _ = torch.manual_seed(0); torch.bernoulli(torch.full((5,), 0.5))
    tensor([1., 0., 1., 1., 1.])
    """
    _no_out(out, "bernoulli")
    data = input._data
    if p is None:
        gen = _random.generator_of(generator)
        values = _random.bernoulli_tensor(gen, np.ascontiguousarray(data).reshape(-1), data.dtype)
        return make(values.reshape(data.shape))
    gen = _random.generator_of(generator, per_member=True)
    return make(_random.sample(lambda s: _random.bernoulli_scalar(gen, math.prod(s), float(p), data.dtype).reshape(s),
                               data.shape))


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
