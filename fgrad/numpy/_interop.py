"""fgrad.numpy on traced values: the array methods, properties and operators of `Tracer` (and `.at` on the
concrete `Array`), and numpy's own
functions applied to traced values (`np.sin(x)`, `np.sum(x)`, `ndarray + x`) dispatching to fgrad.numpy through
`__array_ufunc__` / `__array_function__`. fgrad.numpy's __init__ calls `install` once, with its namespace."""
from __future__ import annotations

import inspect

import numpy as np

import fgrad.ops as ops
from fgrad.ir.tracing import Tracer
from fgrad.numpy._array import Array
from fgrad.numpy._elementwise import (abs, add, bitwise_and, bitwise_or, bitwise_xor, clip, copy, divide, divmod,
                                      equal, floor_divide, greater, greater_equal, invert, less, less_equal,
                                      multiply, negative, not_equal, positive, power, remainder, round, subtract)
from fgrad.numpy._indexing import IndexUpdateHelper, getitem, take
from fgrad.numpy._linalg import dot, matmul
from fgrad.numpy._reductions import (all, any, argmax, argmin, argsort, cumprod, cumsum, max, mean, min, prod, std,
                                     sum, var)
from fgrad.numpy._shapes import diagonal, ravel, reshape, squeeze, swapaxes, trace, transpose

# fgrad.numpy's public functions by name (filled by `install`): what the error messages offer as alternatives.
_PUBLIC = {}


def _forward(fn):
    def method(self, other):
        return fn(self, other)
    return method


def _reflected(fn):
    def method(self, other):
        return fn(other, self)
    return method


def _reshape_method(self, *shape, order="C"):
    """x.reshape(2, 3) or x.reshape((2, 3))."""
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = shape[0]
    return reshape(self, shape, order)


def _transpose_method(self, *axes):
    """x.transpose(), x.transpose(1, 0) or x.transpose((1, 0))."""
    if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
        axes = axes[0]
    return transpose(self, axes or None)


def _astype_method(self, dtype, copy=True):
    return ops.cast(self, dtype)


def _concrete_only(name: str):
    """numpy's method `name` on the tracer's concrete value (under the eager transforms), else the error."""
    def method(self, *args, **kwargs):
        return getattr(self.concrete(f"{name}()"), name)(*args, **kwargs)
    return method


def _round_method(self, ndigits=None):
    return round(self, 0 if ndigits is None else ndigits)


_OPERATORS = {
    "add": add, "sub": subtract, "mul": multiply, "truediv": divide, "floordiv": floor_divide, "mod": remainder,
    "pow": power, "matmul": matmul, "and": bitwise_and, "or": bitwise_or, "xor": bitwise_xor, "divmod": divmod,
}
_COMPARISONS = {"eq": equal, "ne": not_equal, "lt": less, "le": less_equal, "gt": greater, "ge": greater_equal}
_METHODS = {
    "sum": sum, "mean": mean, "max": max, "min": min, "prod": prod, "var": var, "std": std, "all": all, "any": any,
    "argmax": argmax, "argmin": argmin, "cumsum": cumsum, "cumprod": cumprod, "argsort": argsort, "clip": clip,
    "dot": dot, "ravel": ravel, "flatten": ravel,
    "squeeze": squeeze, "swapaxes": swapaxes, "take": take, "round": round, "copy": copy,
    "diagonal": diagonal, "trace": trace,
    "reshape": _reshape_method, "transpose": _transpose_method, "astype": _astype_method,
    "item": _concrete_only("item"), "tolist": _concrete_only("tolist"),
    "__getitem__": getitem, "__neg__": negative, "__pos__": positive, "__abs__": abs, "__invert__": invert,
    "__round__": _round_method,
}
_PROPERTIES = {
    "T": lambda self: transpose(self),
    "mT": lambda self: swapaxes(self, -1, -2),
    "at": IndexUpdateHelper,
}


def _missing_attribute(self, name: str):
    """Only called when normal lookup fails: name numpy's array methods fgrad lacks, rather than a bare error."""
    if not name.startswith("_") and hasattr(np.ndarray, name):
        alternative = (f"fnp.{name}(x) exists as a function" if callable(_PUBLIC.get(name)) else
                       "rewrite it with fgrad.numpy functions, or compute it outside the traced function")
        raise AttributeError(f"{self!r} has no attribute {name!r}: fgrad does not implement numpy.ndarray.{name} "
                             f"on traced arrays; {alternative}")
    raise AttributeError(f"'Tracer' object has no attribute {name!r}")


def _install_tracer_methods():
    for name, fn in _OPERATORS.items():
        setattr(Tracer, f"__{name}__", _forward(fn))
        setattr(Tracer, f"__r{name}__", _reflected(fn))
    for name, fn in _COMPARISONS.items():
        setattr(Tracer, f"__{name}__", _forward(fn))
    for name, fn in _METHODS.items():
        setattr(Tracer, name, fn)
    for name, getter in _PROPERTIES.items():
        setattr(Tracer, name, property(getter))
    Tracer.__getattr__ = _missing_attribute
    Array.at = property(IndexUpdateHelper)      # concrete arrays get the same functional updates


# ---- numpy's functions on traced values ------------------------------------------------------------

_UFUNCS = {}        # numpy ufunc -> the fnp function
_FUNCTIONS = {}     # numpy function -> the fnp function
_UFUNC_METHODS = {
    (np.add, "reduce"): lambda a, axis=0, dtype=None, keepdims=False: sum(a, axis, dtype, keepdims),
    (np.multiply, "reduce"): lambda a, axis=0, dtype=None, keepdims=False: prod(a, axis, dtype, keepdims),
    (np.maximum, "reduce"): lambda a, axis=0, keepdims=False: max(a, axis, keepdims),
    (np.minimum, "reduce"): lambda a, axis=0, keepdims=False: min(a, axis, keepdims),
    (np.add, "accumulate"): lambda a, axis=0, dtype=None: cumsum(a, axis, dtype),
}


def _numpy_name(func) -> str:
    if isinstance(func, np.ufunc):
        return f"numpy.{func.__name__}"
    return f"{getattr(func, '__module__', None) or 'numpy'}.{getattr(func, '__name__', repr(func))}"


def _unsupported(tracer, what: str, short: str):
    alternative = (f"use fnp.{short}(...) with its numpy signature" if callable(_PUBLIC.get(short))
                   else f"fgrad.numpy has no {short}; rewrite it with fgrad.numpy functions")
    return TypeError(f"{what} was applied to a traced value {tracer!r} and fgrad cannot trace it: {alternative}, "
                     "or compute it outside the traced function")


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """numpy ufuncs on traced values (np.sin(x), ndarray + x) run the fnp function of the same name."""
    name = _numpy_name(ufunc)
    if kwargs.get("out") is not None:
        raise TypeError(f"{name}(..., out=...) (or an in-place operator such as +=) cannot store a traced value in "
                        "an array: fgrad arrays are immutable. Use the returned value (y = y + x), or "
                        "x.at[index].set(...)")
    if method == "__call__":
        fn = _UFUNCS.get(ufunc)
        if fn is not None and not kwargs:
            return fn(*inputs)
        what = f"{name} with keyword arguments {sorted(kwargs)}" if fn is not None else name
        raise _unsupported(self, what, ufunc.__name__)
    fn = _UFUNC_METHODS.get((ufunc, method))
    if fn is not None:
        return _call_supported(self, fn, f"{name}.{method}", f"{ufunc.__name__}.{method}", inputs, kwargs)
    raise _unsupported(self, f"{name}.{method}", f"{ufunc.__name__}.{method}")


def _array_function(self, func, types, args, kwargs):
    """numpy functions on traced values (np.sum(x), np.concatenate([x, y])) run the fnp function of the same name."""
    fn = _FUNCTIONS.get(func)
    name = _numpy_name(func)
    if fn is None:
        raise _unsupported(self, name, getattr(func, "__name__", "this function"))
    if kwargs.get("out") is not None:
        raise TypeError(f"{name}(..., out=...) cannot store a traced value in an array: fgrad arrays are immutable. "
                        "Use the returned value instead")
    kwargs = {k: v for k, v in kwargs.items() if not (k == "out" and v is None)}
    return _call_supported(self, fn, name, func.__name__, args, kwargs)


def _call_supported(tracer, fn, name: str, short: str, args, kwargs):
    """fn(*args, **kwargs), or the unsupported-function error naming the numpy arguments fgrad does not take
    (np.sum(x, where=m) would otherwise fail with a bare "sum() got an unexpected keyword argument")."""
    signature = inspect.signature(fn)
    try:
        signature.bind(*args, **kwargs)
    except TypeError:
        unknown = [f"{k}=..." for k in sorted(kwargs) if k not in signature.parameters]
        raise _unsupported(tracer, f"{name} with {', '.join(unknown)}" if unknown else name, short) from None
    return fn(*args, **kwargs)


def _register_numpy_counterparts():
    for name, ours in _PUBLIC.items():
        theirs = getattr(np, name, None)
        if theirs is None or isinstance(ours, type) or not callable(ours):
            continue
        if isinstance(theirs, np.ufunc):
            _UFUNCS[theirs] = ours
        elif callable(theirs) and not isinstance(theirs, type):
            _FUNCTIONS[theirs] = ours
    _FUNCTIONS[np.linalg.norm] = _PUBLIC["linalg"].norm
    _FUNCTIONS[np.linalg.solve] = _PUBLIC["linalg"].solve
    Tracer.__array_ufunc__ = _array_ufunc
    Tracer.__array_function__ = _array_function


def install(namespace: dict) -> None:
    """Give `Tracer` its array methods and operators and numpy's dispatch to fgrad.numpy's public functions (the
    names in namespace["__all__"], as they are in `namespace`)."""
    _PUBLIC.update((name, namespace[name]) for name in namespace["__all__"])
    _install_tracer_methods()
    _register_numpy_counterparts()
