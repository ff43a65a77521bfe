"""fgrad.numpy's constants and dtypes: numpy's constants, and scalar types that are dtype arguments and casts."""
from __future__ import annotations

import numpy as np

from fgrad.numpy._arguments import asarray, contains_tracer

pi = np.pi
e = np.e
inf = np.inf
nan = np.nan
newaxis = None


class _ScalarType(type):
    """The type of fnp.float32 and friends: numpy's scalar type as a dtype argument (it has a `dtype`), equal to it
    and to its dtype, and callable: on concrete values it is numpy's (fnp.float32(1.5) is np.float32(1.5)), on
    traced values a cast, as JAX's jnp.float32(x)."""

    def __call__(cls, x):
        if contains_tracer([x]):
            return asarray(x, cls.dtype)
        return cls.dtype.type(x)

    def __eq__(cls, other) -> bool:
        return other is cls or other == cls.dtype.type

    def __hash__(cls) -> int:
        return hash(cls.dtype.type)

    def __instancecheck__(cls, instance) -> bool:
        return isinstance(instance, cls.dtype.type)

    def __repr__(cls) -> str:
        return f"fgrad.numpy.{cls.__name__}"


def _scalar_type(numpy_type) -> _ScalarType:
    # Public as fnp.float32 etc.: named after the package, so that pickle finds them there.
    return _ScalarType(numpy_type.__name__, (), {"dtype": np.dtype(numpy_type), "__module__": __package__})


float32 = _scalar_type(np.float32)
float64 = _scalar_type(np.float64)
int32 = _scalar_type(np.int32)
int64 = _scalar_type(np.int64)
bool_ = _scalar_type(np.bool_)
