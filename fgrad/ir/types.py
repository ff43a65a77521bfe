"""Array types: shape and dtype, numpy's promotion and broadcasting of shapes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

float32 = np.dtype("float32")
float64 = np.dtype("float64")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
bool_ = np.dtype("bool")

DTYPES = (bool_, int32, int64, float32, float64)
SHORT_NAMES = {bool_: "bool", int32: "i32", int64: "i64", float32: "f32", float64: "f64"}


def canonical_dtype(dtype) -> np.dtype:
    """The fgrad dtype for `dtype`, or a TypeError naming the supported ones.

    >>> canonical_dtype("float32")
    dtype('float32')
    """
    d = np.dtype(dtype)
    if d not in SHORT_NAMES:
        raise TypeError(f"fgrad does not support dtype {d}; use one of float32, float64, int32, int64, bool")
    return d


def is_float(dtype) -> bool:
    return np.dtype(dtype).kind == "f"


@dataclass(frozen=True, slots=True)
class ArrayType:
    """The static type of a value: `ArrayType((3, 4), float64)` prints as `f64[3,4]`.

    One kind of value has a size known only at run time: a loop's *tape*, the values a `while_loop` records
    per iteration for its reverse sweep. Its leading dimension is None (printed `?`), the trip count; only the
    control-flow primitives make and read tapes.
    """
    shape: tuple
    dtype: np.dtype

    def __post_init__(self):
        shape = tuple(None if d is None else int(d) for d in self.shape)
        if None in shape[1:]:
            raise ValueError(f"only the leading dimension of a type can be dynamic (a tape's), got {shape}")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "dtype", canonical_dtype(self.dtype))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_tape(self) -> bool:
        """Whether the leading dimension is a trip count known only at run time."""
        return bool(self.shape) and self.shape[0] is None

    @property
    def size(self) -> int:
        if self.is_tape:
            raise TypeError(f"the size of {self} is known only at run time (its leading dimension is a loop's "
                            "trip count)")
        return int(np.prod(self.shape, dtype=np.int64))

    def __str__(self) -> str:
        return f"{SHORT_NAMES[self.dtype]}[{','.join('?' if d is None else str(d) for d in self.shape)}]"

    __repr__ = __str__


def promote_dtypes(*dtypes) -> np.dtype:
    """numpy's promotion of array dtypes: `promote_dtypes(int32, float32)` is float64, as in numpy."""
    return canonical_dtype(np.result_type(*dtypes))


def broadcast_shapes(*shapes) -> tuple:
    """numpy's broadcasting of shapes, or a ValueError that names every shape.

    >>> broadcast_shapes((3, 1), (4,))
    (3, 4)
    """
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(-ndim, 0):
        sizes = {s[axis] for s in shapes if len(s) >= -axis} - {1}
        if len(sizes) > 1:
            listed = " and ".join(str(tuple(s)) for s in shapes)
            raise ValueError(f"shapes {listed} cannot be broadcast together (axis {axis} has sizes {sorted(sizes)})")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)
