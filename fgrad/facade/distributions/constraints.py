"""torch.distributions.constraints: the supports and parameter constraints the distributions check
(`check(value)` is a bool tensor; the repr is PyTorch's, as the validation errors print it)."""
from __future__ import annotations

import numpy as np

from fgrad.facade._tensor import Tensor, make

__all__ = ["Constraint", "Dependent", "shown", "real", "positive", "unit_interval", "boolean", "simplex",
           "nonnegative_integer", "integer_interval", "interval", "half_open_interval", "greater_than", "independent", "dependent"]


def shown(value) -> str:
    """A value as PyTorch's f-strings show it: a 0-d tensor as its number, others as their repr."""
    if isinstance(value, Tensor):
        return str(value.item()) if value.dim() == 0 else repr(value)
    return str(value)


def _data(value):
    return value._data if isinstance(value, Tensor) else np.asarray(value)


class Constraint:
    """A region a value must lie in; `check(value)` says where it does (one bool per event)."""
    is_discrete = False
    event_dim = 0

    def check(self, value):
        raise NotImplementedError

    def __repr__(self) -> str:
        return type(self).__name__[1:] + "()"


class Dependent(Constraint):
    """A support that depends on other parameters (not checked)."""


class _Real(Constraint):
    def check(self, value):
        x = _data(value)
        return make(x == x)


class _GreaterThan(Constraint):
    def __init__(self, lower_bound):
        self.lower_bound = lower_bound

    def check(self, value):
        return make(_data(value) > _data(self.lower_bound))

    def __repr__(self) -> str:
        return f"GreaterThan(lower_bound={shown(self.lower_bound)})"


class _Interval(Constraint):
    def __init__(self, lower_bound, upper_bound):
        self.lower_bound, self.upper_bound = lower_bound, upper_bound

    def check(self, value):
        x = _data(value)
        return make((_data(self.lower_bound) <= x) & (x <= _data(self.upper_bound)))

    def __repr__(self) -> str:
        return f"Interval(lower_bound={shown(self.lower_bound)}, upper_bound={shown(self.upper_bound)})"


class _HalfOpenInterval(_Interval):
    def check(self, value):
        x = _data(value)
        return make((_data(self.lower_bound) <= x) & (x < _data(self.upper_bound)))

    def __repr__(self) -> str:
        return f"HalfOpenInterval(lower_bound={shown(self.lower_bound)}, upper_bound={shown(self.upper_bound)})"


class _Boolean(Constraint):
    is_discrete = True

    def check(self, value):
        x = _data(value)
        return make((x == 0) | (x == 1))


class _IntegerInterval(Constraint):
    is_discrete = True

    def __init__(self, lower_bound, upper_bound):
        self.lower_bound, self.upper_bound = lower_bound, upper_bound

    def check(self, value):
        x = _data(value)
        return make((x % 1 == 0) & (_data(self.lower_bound) <= x) & (x <= _data(self.upper_bound)))

    def __repr__(self) -> str:
        return f"IntegerInterval(lower_bound={shown(self.lower_bound)}, upper_bound={shown(self.upper_bound)})"


class _NonnegativeInteger(Constraint):
    is_discrete = True

    def check(self, value):
        x = _data(value)
        return make((x % 1 == 0) & (x >= 0))

    def __repr__(self) -> str:
        return "IntegerGreaterThan(lower_bound=0)"


class _Simplex(Constraint):
    event_dim = 1

    def check(self, value):
        x = _data(value)
        return make(np.all(x >= 0, axis=-1) & (np.abs(x.sum(-1) - 1) < 1e-6))


class _Independent(Constraint):
    def __init__(self, base, reinterpreted_batch_ndims):
        self.base_constraint, self.reinterpreted_batch_ndims = base, reinterpreted_batch_ndims
        self.event_dim = base.event_dim + reinterpreted_batch_ndims

    def check(self, value):
        ok = _data(self.base_constraint.check(value))
        return make(ok.reshape(ok.shape[:ok.ndim - self.reinterpreted_batch_ndims] + (-1,)).all(-1))


dependent = Dependent()
real = _Real()
positive = _GreaterThan(0.0)
unit_interval = _Interval(0.0, 1.0)
boolean = _Boolean()
simplex = _Simplex()
nonnegative_integer = _NonnegativeInteger()
integer_interval = _IntegerInterval
interval = _Interval
half_open_interval = _HalfOpenInterval
greater_than = _GreaterThan
independent = _Independent
