"""Valid sample inputs for the structural primitives (slice, pad, concatenate, gather, scatter,
scatter_add, iota, full), for the registry-driven rule tests.

`SAMPLES[name]` is a list of `(args, params)`: `args` a tuple of numpy arrays, `params` the normalized
keyword params, so that `REGISTRY[name].bind(*args, **params)` is valid. Most data inputs are float64;
a few are float32, int or bool (no tangent) to exercise the dtype rules, and index inputs are integers
(zero derivative). Scatter indices contain duplicates on purpose.
"""
import numpy as np

_rng = np.random.default_rng(20240611)


def _f(*shape, dtype=np.float64):
    return _rng.standard_normal(shape).astype(dtype)


def _i(values, dtype=np.int64):
    return np.asarray(values, dtype=dtype)


_I64 = np.dtype(np.int64)
_I32 = np.dtype(np.int32)
_F64 = np.dtype(np.float64)
_F32 = np.dtype(np.float32)
_BOOL = np.dtype(np.bool_)

SAMPLES = {
    "slice": [
        ((_f(5),), {"starts": (1,), "stops": (5,), "steps": (2,)}),     # a loose stop (4 is the tight one)
        ((_f(4, 6),), {"starts": (0, 1), "stops": (4, 6), "steps": (3, 2)}),
        ((_f(3, 4, 2),), {"starts": (1, 0, 0), "stops": (3, 4, 1), "steps": (1, 3, 1)}),
        ((_f(4),), {"starts": (2,), "stops": (2,), "steps": (1,)}),       # empty result
        ((_f(7, dtype=np.float32),), {"starts": (6,), "stops": (7,), "steps": (4,)}),
        ((_i([[1, 2, 3], [4, 5, 6], [7, 8, 9]]),), {"starts": (0, 1), "stops": (3, 3), "steps": (2, 1)}),
    ],
    "pad": [
        ((_f(3),), {"widths": ((1, 2, 0),), "value": 0.0}),
        ((_f(2, 3),), {"widths": ((0, 1, 2), (2, 0, 1)), "value": 1.5}),
        ((_f(0),), {"widths": ((1, 1, 3),), "value": 0.0}),              # empty input, interior ignored
        ((_f(),), {"widths": (), "value": 0.0}),                          # 0-d: nothing to pad
        ((_f(1, 4, dtype=np.float32),), {"widths": ((1, 1, 5), (0, 3, 2)), "value": -2.0}),
        ((_i([[1, 2], [3, 4]]),), {"widths": ((1, 0, 1), (0, 0, 0)), "value": -1}),
        ((np.array([True, False]),), {"widths": ((0, 1, 1),), "value": False}),
    ],
    "concatenate": [
        ((_f(2, 3), _f(1, 3)), {"axis": 0}),
        ((_f(2, 1), _f(2, 3), _f(2, 2)), {"axis": 1}),
        ((_f(2, 0, 3), _f(2, 2, 3)), {"axis": 1}),                        # an empty block
        ((_f(3),), {"axis": 0}),                                          # a single input
        ((_f(2, 2, dtype=np.float32), _f(2, 1, dtype=np.float32)), {"axis": 1}),
        ((_i([1, 2], np.int32), _i([3], np.int32)), {"axis": 0}),
    ],
    "gather": [
        ((_f(5), _i([0, 4, 4, 1])), {"axis": 0}),                         # repeated index
        ((_f(3, 4), _i([[3, 0], [1, 3]])), {"axis": 1}),
        ((_f(3, 4), _i(2)), {"axis": 0}),                                 # 0-d index drops the axis
        ((_f(2, 3, 4), _i([2, 0], np.int32)), {"axis": 2}),
        ((_f(3), _i([], np.int64)), {"axis": 0}),                         # no indices
        ((_f(4, 2, dtype=np.float32), _i([[1], [3], [1]])), {"axis": 0}),
        ((_i([[1, 2], [3, 4]]), _i([1, 1, 0])), {"axis": 1}),
    ],
    "scatter_add": [
        ((_f(5), _i([1, 3, 1, 1]), _f(4)), {"axis": 0}),                  # duplicates accumulate
        ((_f(3, 4), _i([[0, 2], [2, 2]]), _f(3, 2, 2)), {"axis": 1}),
        ((_f(4, 2), _i(2), _f(2)), {"axis": 0}),                          # 0-d index
        ((_f(2, 3, 4), _i([3, 0, 3], np.int32), _f(2, 3, 3)), {"axis": 2}),
        ((_f(3), _i([], np.int64), _f(0)), {"axis": 0}),
        ((_f(3, dtype=np.float32), _i([2, 2]), _f(2, dtype=np.float32)), {"axis": 0}),
        ((_i([1, 2, 3]), _i([0, 0]), _i([5, 7])), {"axis": 0}),
    ],
    "scatter": [
        ((_f(5), _i([1, 3, 1, 1]), _f(4)), {"axis": 0}),                  # last write wins
        ((_f(3, 4), _i([[0, 2], [2, 2]]), _f(3, 2, 2)), {"axis": 1}),
        ((_f(4, 2), _i(2), _f(2)), {"axis": 0}),
        ((_f(2, 3, 4), _i([3, 0, 3], np.int32), _f(2, 3, 3)), {"axis": 2}),
        ((_f(3), _i([], np.int64), _f(0)), {"axis": 0}),
        ((_f(3, dtype=np.float32), _i([2, 2]), _f(2, dtype=np.float32)), {"axis": 0}),
        ((_i([1, 2, 3]), _i([0, 0]), _i([5, 7])), {"axis": 0}),
    ],
    "iota": [
        ((), {"shape": (4,), "dtype": _I64, "axis": 0}),
        ((), {"shape": (2, 3), "dtype": _F64, "axis": 1}),
        ((), {"shape": (2, 0, 3), "dtype": _I32, "axis": 2}),
        ((), {"shape": (3, 2), "dtype": _F32, "axis": 0}),
    ],
    "full": [
        ((), {"shape": (2, 3), "value": 1.5, "dtype": _F64}),
        ((), {"shape": (), "value": 7, "dtype": _I64}),
        ((), {"shape": (3,), "value": True, "dtype": _BOOL}),
        ((), {"shape": (0, 2), "value": -0.25, "dtype": _F32}),
    ],
}
