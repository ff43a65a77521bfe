"""torch.testing: `assert_close` (and the deprecated `assert_allclose`) with PyTorch's tolerances and messages.

Inputs are Tensors, numpy arrays, Python numbers, or sequences / mappings of them (compared item by item).
The default tolerances depend on the dtype (float32: rtol 1.3e-6, atol 1e-5; float64: 1e-7, 1e-7; integers
and bools: exact), and a mismatch raises an AssertionError whose text is PyTorch's:

>>> import fgrad as torch
>>> torch.testing.assert_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-7]))
>>> torch.testing.assert_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.5]))
Traceback (most recent call last):
AssertionError: Tensor-likes are not close!
<BLANKLINE>
Mismatched elements: 1 / 2 (50.0%)
Greatest absolute difference: 0.5 at index (1,) (up to 1e-05 allowed)
Greatest relative difference: 0.20000000298023224 at index (1,) (up to 1.3e-06 allowed)
"""
from __future__ import annotations

import collections.abc
import warnings

import numpy as np

from fgrad.facade import _dtypes
from fgrad.facade._tensor import Size, Tensor

__all__ = ["assert_close", "assert_allclose"]

# (rtol, atol) per dtype name; other dtypes (integers, bool) compare exactly
_DTYPE_PRECISIONS = {"float16": (0.001, 1e-5), "bfloat16": (0.016, 1e-5), "float32": (1.3e-6, 1e-5),
                     "float64": (1e-7, 1e-7), "complex64": (1.3e-6, 1e-5), "complex128": (1e-7, 1e-7)}
_ALLCLOSE_PRECISIONS = {"float16": (1e-3, 1e-3), "float32": (1e-4, 1e-5), "float64": (1e-5, 1e-8)}


class _Mismatch(Exception):
    """A failed comparison: the exception type and PyTorch's message, before the item path is added."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message


def assert_close(actual, expected, *, allow_subclasses=True, rtol=None, atol=None, equal_nan=False,
                 check_device=True, check_dtype=True, check_layout=True, check_stride=False, msg=None):
    """Raise an AssertionError unless `actual` and `expected` are close: |actual - expected| <= atol +
    rtol * |expected| elementwise, with equal shapes (and dtypes, when check_dtype) and NaN equal to NaN only
    with equal_nan. `msg` (a string, or a function of PyTorch's message) replaces the message.

    >>> import fgrad as torch
    >>> torch.testing.assert_close(torch.tensor(1.0), torch.tensor(1.0 + 1e-6))
    """
    if (rtol is None) != (atol is None):
        missing = "atol" if atol is None else "rtol"
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got no {missing}.")
    try:
        _compare(actual, expected, (), rtol, atol, equal_nan, check_dtype)
    except _Mismatch as m:
        text = m.message
        if callable(msg):
            text = msg(text)
        elif msg is not None:
            text = msg
        raise m.kind(text) from None


def assert_allclose(actual, expected, rtol=None, atol=None, equal_nan=True, msg=""):
    """Deprecated since PyTorch 1.12 (a FutureWarning, as PyTorch's): assert_close with looser float
    tolerances (float32: rtol 1e-4, atol 1e-5), NaN equal to NaN, and dtypes not checked."""
    warnings.warn("`torch.testing.assert_allclose()` is deprecated since 1.12 and will be removed in a future "
                  "release. Please use `torch.testing.assert_close()` instead. You can find detailed upgrade "
                  "instructions in https://github.com/pytorch/pytorch/issues/61844.", FutureWarning, stacklevel=2)
    from fgrad.facade._creation import tensor
    if not isinstance(actual, Tensor):
        actual = tensor(actual)
    if not isinstance(expected, Tensor):
        expected = tensor(expected, dtype=actual.dtype)
    if rtol is None and atol is None:
        pairs = [_ALLCLOSE_PRECISIONS.get(t.dtype.name, (0.0, 0.0)) for t in (actual, expected)]
        rtol, atol = max(p[0] for p in pairs), max(p[1] for p in pairs)
    assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan, check_dtype=False,
                 msg=msg or None)


# ---- the comparison, recursing into sequences and mappings -------------------------------------------------

def _is_tensor_like(x) -> bool:
    return isinstance(x, (Tensor, np.ndarray))


def _is_number(x) -> bool:
    return isinstance(x, (bool, int, float, complex, np.number, np.bool_))


def _compare(actual, expected, path, rtol, atol, equal_nan, check_dtype):
    if actual is None and expected is None:
        return
    if _is_tensor_like(actual) and _is_tensor_like(expected) and isinstance(actual, Tensor) == isinstance(expected,
                                                                                                         Tensor):
        return _located(path, _compare_tensors, actual, expected, rtol, atol, equal_nan, check_dtype)
    if isinstance(actual, (bool, np.bool_)) and isinstance(expected, (bool, np.bool_)):
        if bool(actual) != bool(expected):
            raise _Mismatch(AssertionError, f"Booleans mismatch: {actual} is not {expected}{_where(path)}")
        return
    if _is_number(actual) and _is_number(expected):
        if check_dtype and type(actual) is not type(expected):
            raise _Mismatch(AssertionError, f"The (d)types do not match: {type(actual)} != {type(expected)}."
                                            f"{_where(path)}")
        return _located(path, _compare_numbers, actual, expected, rtol, atol, equal_nan)
    if _is_sequence(actual) and _is_sequence(expected):
        if len(actual) != len(expected):
            raise _Mismatch(AssertionError, f"The length of the sequences mismatch: {len(actual)} != "
                                            f"{len(expected)}{_where(path)}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, path + (i,), rtol, atol, equal_nan, check_dtype)
        return
    if isinstance(actual, collections.abc.Mapping) and isinstance(expected, collections.abc.Mapping):
        if set(actual) != set(expected):
            raise _Mismatch(AssertionError, f"The keys of the mappings do not match:\nMissing keys in the actual "
                                            f"mapping: {sorted(set(expected) - set(actual))}\nAdditional keys in "
                                            f"the actual mapping: {sorted(set(actual) - set(expected))}")
        for key in actual:
            _compare(actual[key], expected[key], path + (key,), rtol, atol, equal_nan, check_dtype)
        return
    raise TypeError(f"No comparison pair was able to handle inputs of type {type(actual)} and {type(expected)}.")


def _is_sequence(x) -> bool:
    return isinstance(x, collections.abc.Sequence) and not isinstance(x, str)


def _where(path) -> str:
    if not path:
        return ""
    return "\n\nThe failure occurred for item " + "".join(f"[{k!r}]" for k in path)


def _located(path, compare, *args):
    try:
        compare(*args)
    except _Mismatch as m:
        raise _Mismatch(m.kind, m.message + _where(path)) from None


def _attribute_mismatch(name, a, e):
    return _Mismatch(AssertionError, f"The values for attribute '{name}' do not match: {a} != {e}.")


def _tolerances(dtypes, rtol, atol):
    if rtol is not None:
        return rtol, atol
    pairs = [_DTYPE_PRECISIONS.get(d.name, (0.0, 0.0)) for d in dtypes]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _compare_tensors(actual, expected, rtol, atol, equal_nan, check_dtype):
    a = actual._data if isinstance(actual, Tensor) else np.asarray(actual)
    e = expected._data if isinstance(expected, Tensor) else np.asarray(expected)
    if a.shape != e.shape:
        raise _attribute_mismatch("shape", Size(a.shape), Size(e.shape))
    da, de = _dtypes.from_numpy(a.dtype), _dtypes.from_numpy(e.dtype)
    if check_dtype and da is not de:
        raise _attribute_mismatch("dtype", da, de)
    rtol, atol = _tolerances((da, de), rtol, atol)
    if da is not de:            # compared in the promoted dtype, as PyTorch's
        common = _dtypes.promote_types(a.dtype, e.dtype)
        a, e = a.astype(common), e.astype(common)
    if a.dtype == np.bool_ or (rtol == 0 and atol == 0 and a.dtype.kind in "iu"):
        matches = a == e
    else:
        matches = _isclose(a, e, rtol, atol, equal_nan)
    if matches.all():
        return
    if a.ndim == 0:
        raise _Mismatch(AssertionError, _scalar_message(a.item(), e.item(), rtol, atol))
    raise _Mismatch(AssertionError, _tensor_message(a, e, matches, rtol, atol))


def _isclose(a, e, rtol, atol, equal_nan):
    """torch.isclose: equal values (infinities included) or finite and within atol + rtol * |e|, computed in
    the inputs' dtype."""
    with np.errstate(invalid="ignore", over="ignore"):
        close = a == e
        if a.dtype.kind == "f":
            finite = np.isfinite(a) & np.isfinite(e)
            bound = np.asarray(atol, a.dtype) + np.asarray(rtol, a.dtype) * np.abs(e)
            close |= finite & (np.abs(a - e) <= bound)
            if equal_nan:
                close |= np.isnan(a) & np.isnan(e)
        else:
            close |= np.abs(a.astype(np.float64) - e.astype(np.float64)) <= atol + rtol * np.abs(e)
    return close


def _tensor_message(a, e, matches, rtol, atol) -> str:
    """PyTorch's message for tensors: how many elements mismatch and the greatest differences where they do
    (integers subtracted in int64, their relative difference in the default float dtype)."""
    shape = a.shape
    total, bad = matches.size, int(matches.size - matches.sum())
    extra = f"Mismatched elements: {bad} / {total} ({bad / total:.1%})"
    a, e, matches = a.reshape(-1), e.reshape(-1), matches.reshape(-1)
    if a.dtype.kind != "f":
        a, e = a.astype(np.int64), e.astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        abs_diff = np.abs(a - e)
        abs_diff[matches] = 0
        denominator_dtype = a.dtype if a.dtype.kind == "f" else _dtypes.default_float_numpy()
        rel_diff = abs_diff.astype(denominator_dtype) / np.abs(e).astype(denominator_dtype)
    rel_diff[matches] = 0
    abs_at, rel_at = _argmax_nan_first(abs_diff), _argmax_nan_first(rel_diff)
    return _mismatch_message("Tensor-likes", extra, abs_diff[abs_at].item(), _unravel(abs_at, shape), atol,
                             rel_diff[rel_at].item(), _unravel(rel_at, shape), rtol)


def _unravel(flat: int, shape) -> tuple:
    return tuple(int(i) for i in np.unravel_index(flat, shape))


def _argmax_nan_first(x) -> int:
    """torch.max's index: the first NaN if there is one, else the first greatest value."""
    if x.dtype.kind == "f":
        nans = np.flatnonzero(np.isnan(x))
        if nans.size:
            return int(nans[0])
    return int(np.argmax(x))


def _scalar_message(actual, expected, rtol, atol) -> str:
    with np.errstate(invalid="ignore", divide="ignore"):
        abs_diff = abs(actual - expected)
        rel_diff = abs_diff / abs(expected) if expected != 0 else (float("inf") if abs_diff else float("nan"))
    return _mismatch_message("Scalars", f"Expected {expected} but got {actual}.", abs_diff, None, atol, rel_diff,
                             None, rtol)


def _compare_numbers(actual, expected, rtol, atol, equal_nan):
    kinds = [np.asarray(x).dtype for x in (actual, expected)]
    if rtol is None:
        pairs = [(1e-7, 1e-7) if k.kind in "fc" else (0.0, 0.0) for k in kinds]
        rtol, atol = max(p[0] for p in pairs), max(p[1] for p in pairs)
    if actual == expected:
        return
    both_nan = isinstance(actual, float) and isinstance(expected, float) and actual != actual and expected != expected
    if equal_nan and both_nan:
        return
    close = (abs(actual - expected) <= atol + rtol * abs(expected)) if not isinstance(actual, bool) else False
    if close:
        return
    raise _Mismatch(AssertionError, _scalar_message(actual, expected, rtol, atol))


def _mismatch_message(default_identifier, extra, abs_diff, abs_idx, atol, rel_diff, rel_idx, rtol) -> str:
    equality = rtol == 0 and atol == 0

    def diff_line(kind, diff, idx, tol):
        line = f"{kind.title()} difference: {diff}" if idx is None else f"Greatest {kind} difference: {diff} at " \
                                                                         f"index {idx}"
        return line + ("" if equality else f" (up to {tol} allowed)") + "\n"

    text = f"{default_identifier} are not {'equal' if equality else 'close'}!\n\n{extra}\n"
    text += diff_line("absolute", abs_diff, abs_idx, atol) + diff_line("relative", rel_diff, rel_idx, rtol)
    return text.strip()
