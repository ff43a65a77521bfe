"""fgrad.facade: the PyTorch-compatible facade over fgrad's primitives (`import fgrad as torch`).

The facade has no engine of its own. A PyTorch op is a function of fgrad ops, traced into a Program; its
forward runs on fgrad's backend and its backward is the reverse mode fgrad's transforms derive from the
primitives' VJP rules. What the facade adds is PyTorch's surface: Tensor and its metadata, type promotion,
node names, errors, reprs, grad mode, the order in which the graph is walked.

How an op runs (fgrad/facade/_op.py)
------------------------------------
    y = x.sin()  ->  apply(SIN, (x,), (float32,))

`apply` looks the op up by (static args, input dtypes and shapes). On the first call the op's function is
traced into a Program, compiled by the backend's straight-line executor (fgrad.backend.numpy_exec) with
the primitives' "torch" implementation variants (PyTorch's rounding, declared in the blocks); per set of
inputs that need gradients, fgrad.transforms.vjp.vjp_split splits the op's reverse mode into the forward
that also returns the residuals (PyTorch's saved tensors) and the backward program, compiled the same way.
Later calls cost a dict lookup and the numpy calls. With grad mode on and an input requiring grad, `apply`
records one node (fgrad.facade._graph), an instance of a class named as PyTorch's node (`SinBackward0`),
holding the residuals (checked against version counters at backward time), the inputs and one edge per
input. `.backward()` (fgrad.facade._engine) walks the nodes iteratively, summing cotangents of re-used
tensors, and runs each node's compiled backward on arrays. With create_graph=True the node runs the same
backward program as facade ops on Tensors, one per primitive (`_op.apply_program`), so the gradients have
grad_fns themselves and can be differentiated again.

Defining a new op (what fgrad.facade.nn.functional and fgrad.facade.optim build on)
---------------------------------------------------------------------------------
    from fgrad import ops
    from fgrad.facade._op import FacadeOp, apply

    def _softplus_fn(x, beta):                       # arrays first, then static arguments
        return ops.div(ops.log1p(ops.exp(ops.mul(x, beta))), beta)

    _SOFTPLUS = FacadeOp("softplus", _softplus_fn, "SoftplusBackward0")   # node named as PyTorch's

    def softplus(input, beta=1.0):
        return apply(_SOFTPLUS, (input,), (float(beta),))

Rules for the function: call only fgrad.ops (never numpy on the arrays; numpy is fine for static
values); cast explicitly (`ops.convert_element_type`) to the dtype PyTorch's result has, which the
wrapper works out (`_operands.result_type`, `_operands.binary_operands` for Tensor/scalar operands); static
arguments must be hashable (they key the trace cache) and Python scalars among them become constants;
return one array or a tuple (pass `multi=True` to `apply` for a tuple of Tensors). Tensor arguments that
are constants (indices, masks) can be numpy arrays in `args`: they are inputs without edges. Check
arguments in the wrapper and raise PyTorch's exception types and messages. One FacadeOp is one node: to
reproduce a PyTorch op that records several nodes (`F.linear` is TBackward0 then AddmmBackward0), call
several facade ops. Ops that share storage with input 0 (views) pass `view=True`; inputs that are never
differentiated (indices, masks) are listed in `nondiff=` (PyTorch leaves them out of next_functions); ops
whose PyTorch kernel does not use torch.sum's rounding order pass `variant=None` (the primitives' impls,
numpy's faster sum, run instead of their "torch" variants). An op that PyTorch differentiates differently
at a kink than the primitives do (relu, abs, clamp) selects the kink apart (see `_elementwise.relu`).
In-place variants: `_inplace.inplace(self, out_of_place_result)` after `_inplace.check_leaf_inplace(self)`.
Ops with a hand-written backward: fgrad.facade.autograd.Function.

Why traced ops rather than interpreting each call: the fgrad.ops wrappers spend 5-40us per call on
promotion and broadcasting logic, which PyTorch does in C++. Tracing once per signature keeps that cost
out of training loops (the seed tutorial's loop runs within 1.5x of PyTorch eager), gives one node per
PyTorch op for free (the op's program), and lets the backward be straight-line code of the VJP rules with
exactly the residuals they read (PyTorch's saved tensors, so version-counter errors match).

Modules, in import order (none imports a later one): _dtypes, _grad_mode, _printing; _graph (nodes,
hooks, saved versions); _tensor (what a Tensor is); _random (PyTorch's generator), _op (FacadeOp, apply),
_creation; _operands (the helpers every op family shares); the op families _elementwise, _reductions,
_shapes, _linalg, _inplace, _indexing, and _sampling (random tensors); _einsum, _scatter (scatters and index
updates) and _statistics (median, mode, moments, bincount, roll, tile), which install their Tensor methods
themselves; _engine (backward, autograd.grad);
_methods (installs the families' functions and `backward` as Tensor methods and operators); then the
public modules autograd (with autograd.functional and autograd.forward_ad), nn, optim, utils, func, linalg. _dual
(forward-mode tangents) comes before _op, which reads it.

Under fgrad's transforms: a Tensor is a pytree array wrapper (registered in `func`), so `fgrad.grad(f)(t)`,
`fgrad.func.vmap(f)(t)`, `fgrad.jit(f)(t)` pass f Tensors around tracers; `apply` sees a traced array and binds
the op's program in the current interpreter instead of running it (no node is recorded).

Naming: the package is `fgrad.facade`, not `fgrad.tensor` as design.md first sketched, because
`import fgrad as torch` needs `fgrad.tensor` to be the `tensor()` function. `fgrad/__init__.py`
re-exports this package's names and registers `fgrad.nn`, `fgrad.optim` (with `optim.lr_scheduler`),
`fgrad.autograd` and `fgrad.utils` (with `utils.data`) as modules; `_module_alias` lets
`from torch.utils.data import DataLoader` work after `sys.modules["torch"] = fgrad`.

Random numbers (`_random`, `_random_kernels`) are PyTorch's CPU streams bit for bit: the same mt19937
and the same ATen transforms, so seeded code draws the same data, initial weights and shuffles.
"""
import numpy as _np

from fgrad.facade import _dtypes, _inplace, _operands
from fgrad.facade._dtypes import dtype, get_default_dtype, set_default_dtype
from fgrad.facade._grad_mode import (enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled,
                                     no_grad, set_grad_enabled)
from fgrad.facade._tensor import Size, Tensor, device
from fgrad.facade._printing import get_printoptions, set_printoptions
from fgrad.facade._random import (Generator, default_generator, get_rng_state, initial_seed, manual_seed, seed,
                                  set_rng_state)
from fgrad.facade._creation import (BoolTensor, ByteTensor, DoubleTensor, FloatTensor, IntTensor, LongTensor, arange,
                                    as_tensor, asarray, empty, empty_like, eye, from_numpy, full, full_like,
                                    is_tensor, linspace, logspace, numel, ones, ones_like, tensor, zeros, zeros_like)
from fgrad.facade._sampling import (bernoulli, multinomial, normal, rand, rand_like, randint, randint_like, randn,
                                    randn_like, randperm)
from fgrad.facade._elementwise import (abs, absolute, acos, acosh, add, all, allclose, any, arccos, arccosh, arcsin,
                                       arcsinh, arctan, arctan2, arctanh, asin, asinh, atan, atan2, atanh,
                                       bitwise_and, bitwise_not, bitwise_or, bitwise_xor, ceil, clamp, clamp_max,
                                       clamp_min, clip, cos, cosh, count_nonzero, div, divide, eq, equal, exp, exp2,
                                       expm1, floor, floor_divide, fmod, frac, ge, greater, greater_equal, gt, hypot,
                                       isclose, isfinite, isinf, isnan, le, less, less_equal, log, log10, log1p, log2,
                                       logical_and, logical_not, logical_or, logical_xor, lt, masked_fill, maximum,
                                       minimum, mul, multiply, ne, neg, negative, nonzero, not_equal, pow, reciprocal,
                                       relu, remainder, round, rsqrt, rsub, sigmoid, sign, sin, sinh, sqrt, square,
                                       sub, subtract, tan, tanh, true_divide, trunc, where)
from fgrad.facade._reductions import (amax, amin, argmax, argmin, cumprod, cumsum, log_softmax, logsumexp, max, mean,
                                      min, norm, prod, return_types, softmax, std, sum, var)
from fgrad.facade._shapes import (broadcast_tensors, broadcast_to, cat, chunk, clone, concat, concatenate, flatten,
                                  flip, gather, hstack, index_select, moveaxis, movedim, narrow, permute, repeat,
                                  reshape, split,
                                  squeeze, stack, swapaxes, swapdims, t, take, tensor_split, transpose, unbind,
                                  unflatten, unsqueeze, vstack)
from fgrad.facade._linalg import (addmm, bmm, diag, dot, ger, inner, matmul, mm, mv, outer, trace, tril, triu)
from fgrad.facade._methods import INPLACE_FUNCTIONS as _INPLACE_FUNCTIONS
from fgrad.facade._einsum import einsum
from fgrad.facade._scatter import (index_add, index_copy, index_fill, scatter, scatter_add, scatter_reduce,
                                   take_along_dim)
from fgrad.facade._statistics import bincount, median, mode, roll, std_mean, tile, var_mean
from fgrad.facade._methods import addcdiv, addcmul, argsort, lerp, sort, topk, unique
from fgrad.facade import autograd
from fgrad.facade.autograd import is_anomaly_check_nan_enabled, is_anomaly_enabled
from fgrad.facade import nn
from fgrad.facade.nn._functional_more import cosine_similarity, pairwise_distance  # torch.cosine_similarity, ...
from fgrad.facade import optim
from fgrad.facade.optim import lr_scheduler as _lr_scheduler  # noqa: F401  (torch.optim.lr_scheduler)
from fgrad.facade import utils
from fgrad.facade import func
from fgrad.facade import linalg
from fgrad.facade import _module_alias
from fgrad.facade import backends
from fgrad.facade import serialization
from fgrad.facade import _out
from fgrad.facade.serialization import load, save
from fgrad.facade.backends import accelerator
from fgrad.facade._runtime import (are_deterministic_algorithms_enabled, compile, get_default_device,
                                   get_float32_matmul_precision, get_num_threads,
                                   is_deterministic_algorithms_warn_only_enabled, set_default_device,
                                   set_float32_matmul_precision, set_num_threads, use_deterministic_algorithms)

# torch.sin_(x), torch.clamp_(x, min, max), ...: the in-place methods PyTorch also has as functions
globals().update(_INPLACE_FUNCTIONS)

float32 = _dtypes.float32
float = _dtypes.float32
float64 = _dtypes.float64
double = _dtypes.float64
int32 = _dtypes.int32
int = _dtypes.int32
int64 = _dtypes.int64
long = _dtypes.int64
bool = _dtypes.bool_
uint8 = _dtypes.uint8
strided = "torch.strided"


def result_type(tensor, other):
    """torch.result_type of two operands (tensors or Python scalars)."""
    return _dtypes.from_numpy(_operands.result_type(tensor, other))


def promote_types(type1, type2):
    """torch.promote_types of two dtypes."""
    return _dtypes.from_numpy(_dtypes.promote_types(_dtypes.to_numpy(type1), _dtypes.to_numpy(type2)))


def can_cast(from_, to):
    return _inplace._can_cast(_dtypes.to_numpy(from_), _dtypes.to_numpy(to))


def is_floating_point(input):
    return input.is_floating_point()


def broadcast_shapes(*shapes):
    return Size(_np.broadcast_shapes(*shapes))


def is_nonzero(input):
    return input.__bool__()


class cuda:
    """torch.cuda for code that checks for a GPU: fgrad runs on the CPU only."""

    @staticmethod
    def is_available() -> bool:
        return False

    @staticmethod
    def device_count() -> int:
        return 0

    @staticmethod
    def manual_seed(seed) -> None:
        pass

    manual_seed_all = manual_seed


__all__ = [
    # tensors, dtypes, devices
    "Tensor", "tensor", "Size", "dtype", "device", "FloatTensor", "DoubleTensor", "IntTensor", "LongTensor",
    "BoolTensor", "ByteTensor", "float32", "float", "float64", "double", "int32", "int",
    "int64", "long", "bool", "uint8", "strided", "get_default_dtype", "set_default_dtype", "promote_types", "result_type",
    "can_cast", "is_tensor", "is_floating_point", "numel", "broadcast_shapes", "is_nonzero", "cuda",
    # devices, backends and process settings
    "backends", "accelerator", "get_default_device", "set_default_device", "set_num_threads", "get_num_threads",
    "use_deterministic_algorithms", "are_deterministic_algorithms_enabled",
    "is_deterministic_algorithms_warn_only_enabled", "set_float32_matmul_precision", "get_float32_matmul_precision",
    "compile", "save", "load", "serialization",
    # grad mode
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "inference_mode", "is_inference_mode_enabled",
    "is_anomaly_enabled", "is_anomaly_check_nan_enabled",
    # creation and random
    "as_tensor", "asarray", "from_numpy", "zeros", "ones", "full", "empty", "eye", "arange", "linspace",
    "logspace", "zeros_like", "ones_like", "full_like", "empty_like", "rand", "randn", "randint", "randperm",
    "rand_like", "randn_like", "randint_like", "normal", "bernoulli", "multinomial", "manual_seed", "seed",
    "initial_seed", "Generator", "default_generator", "get_rng_state", "set_rng_state", "tril", "triu",
    # printing
    "set_printoptions", "get_printoptions",
    # ops
    "abs", "absolute", "add", "addcdiv", "addcmul", "addmm", "all", "allclose", "amax", "amin", "any", "argmax",
    "argmin", "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor", "bmm", "broadcast_tensors",
    "broadcast_to", "cat", "ceil", "chunk", "clamp", "clamp_max", "clamp_min", "clip", "clone", "concat",
    "concatenate", "cos", "count_nonzero", "cumsum", "diag", "div", "divide", "dot", "eq", "equal", "exp", "exp2",
    "expm1", "flatten", "flip", "floor", "floor_divide", "fmod", "frac", "gather", "ge", "ger", "greater",
    "greater_equal", "gt", "hstack", "index_select", "inner", "isclose", "isfinite", "isinf", "isnan", "le",
    "lerp", "less", "less_equal", "log", "log10", "log1p", "log2", "log_softmax", "logical_and", "logical_not",
    "logical_or", "logical_xor", "logsumexp", "lt", "masked_fill", "matmul", "max", "maximum", "mean", "min",
    "minimum", "mm", "mul", "multiply", "mv", "narrow", "ne", "neg", "negative", "nonzero", "norm", "not_equal",
    "outer", "permute", "pow", "prod", "reciprocal", "relu", "remainder", "repeat", "reshape", "return_types",
    "round", "rsqrt", "rsub", "sigmoid", "sign", "sin", "softmax", "sort", "argsort", "topk", "unique", "split",
    "sqrt", "square", "squeeze", "stack",
    "std", "sub", "subtract", "sum", "swapaxes", "swapdims", "t", "take", "tan", "tanh", "tensor_split", "trace",
    "transpose", "true_divide", "trunc", "unbind", "unflatten", "unsqueeze", "var", "vstack", "where",
    "acos", "acosh", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "asin", "asinh", "atan",
    "atan2", "atanh", "cosh", "cumprod", "hypot", "sinh", "movedim", "moveaxis", *_INPLACE_FUNCTIONS,
    # einsum, scatters, index updates (_einsum, _scatter)
    "einsum", "scatter", "scatter_add", "scatter_reduce", "index_add", "index_copy", "index_fill", "take_along_dim",
    "median", "mode", "std_mean", "var_mean", "bincount", "roll", "tile",
    # submodules
    "autograd", "nn", "optim", "utils", "func", "linalg",
]
__all__ += ["cosine_similarity", "pairwise_distance"]     # from nn.functional, as torch's top-level functions

# the namespace's breadth (issue 13): dtype limits, torch.testing, more ops, torch.special, torch.distributions
from fgrad.facade import testing
from fgrad.facade._dtype_info import (bfloat16, cdouble, cfloat, complex64, complex128, finfo, float16, half, iinfo,
                                      int8, int16, short)
from fgrad.facade._more_shapes import *  # noqa: F401,F403
from fgrad.facade import _more_shapes
__all__ += _more_shapes.__all__
from fgrad.facade._more_math import *  # noqa: F401,F403
from fgrad.facade import _more_math
__all__ += _more_math.__all__
from fgrad.facade._more_linalg import *  # noqa: F401,F403
from fgrad.facade import _more_linalg
__all__ += _more_linalg.__all__
from fgrad.facade import special
from fgrad.facade import distributions
from fgrad.facade.special import sinc
from fgrad.facade import _more_methods  # noqa: F401  (x.diff(), x.nansum(), ... as Tensor methods)
globals().update(_more_methods.INPLACE_FUNCTIONS)          # torch.logit_(x), torch.erf_(x), ...
__all__ += list(_more_methods.INPLACE_FUNCTIONS)
__all__ += ["distributions", "special", "sinc", "testing", "finfo", "iinfo", "float16", "half", "bfloat16", "int8", "int16", "short", "complex64",
            "cfloat", "complex128", "cdouble"]


def _give_out_arguments(namespace: dict) -> None:
    """torch's out= keyword on the functions that take it (fgrad.facade._out), wrapped once at import."""
    for name in _out.OUT_FUNCTIONS + _out.INDEX_FUNCTIONS:
        if name in namespace:
            namespace[name] = _out.accepts_out(namespace[name], name)


_give_out_arguments(globals())
