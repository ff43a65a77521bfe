"""`Tensor`: a numpy array plus PyTorch's autograd metadata.

Metadata, as PyTorch's: `requires_grad` (set on leaves), `grad_fn` and `output_nr` (non-leaves), `grad`,
a version counter shared by views of the same storage (numpy views share the memory too), `_base` for
views, hooks, and the leaf's AccumulateGrad node (held weakly, as PyTorch does).

This module defines what a tensor *is*. What it *does* is installed by fgrad.facade._methods from the op
families and the engine (`x.sin()`, `x + y`, `x.backward()`), which all build on this module.
"""
from __future__ import annotations

import operator
import warnings

import numpy as np

from fgrad.ir.tracing import Tracer
from fgrad.ops.control import stop_gradient
from fgrad.facade import _dtypes, _grad_mode, _graph, _printing

_grad_state = _grad_mode.state
_new = object.__new__

NON_LEAF_GRAD_WARNING = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad attribute won't "
    "be populated during autograd.backward(). If you indeed want the .grad field to be populated for a "
    "non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. If you access the non-leaf Tensor by "
    "mistake, make sure you access the leaf Tensor instead. See github.com/pytorch/pytorch/pull/30531 for "
    "more information.")
# PyTorch warns (once per calling line, as a Python UserWarning) when float() drops a tensor's graph.
SCALAR_OF_GRAPH_WARNING = ("Converting a tensor with requires_grad=True to a scalar may lead to unexpected "
                           "behavior.\nConsider using tensor.detach() first.")


def make(data, grad_fn=None, output_nr=0, requires_grad=False, cls=None):
    """A Tensor around the numpy array `data` (no copy)."""
    t = _new(cls or Tensor)
    t._data = data
    t._requires_grad = requires_grad
    t._grad_fn = grad_fn
    t._output_nr = output_nr
    t._grad = None
    t._vc = [0]                      # the version counter, a cell shared by views of one storage
    t._base = None
    t._retains_grad = False
    t._hooks = None
    t._accumulator = None
    return t


def facade_op_on_traced_value(value) -> TypeError:
    """The error for a facade op given a value that fgrad.grad / fgrad.jit / vjp / jvp is tracing."""
    return TypeError(
        f"a PyTorch-facade op (fgrad.sin, fgrad.exp, fgrad.nn.functional.relu, fgrad.tensor, ...) got {value!r}, "
        "a value traced by fgrad.grad, fgrad.jit, fgrad.vjp or fgrad.jvp. Facade ops work on fgrad.tensor values "
        "and differentiate with .backward(). Inside fgrad.grad or fgrad.jit use the fgrad.numpy functions "
        "(import fgrad.numpy as fnp; fnp.sin(x)); or pass facade tensors to the transform (fgrad.grad(f)(fgrad.tensor(x)), "
        "fgrad.func.grad, fgrad.func.vmap), which then reach f as tensors; or keep facade tensors and call .backward().")


def _traced_value_data(tracer):
    # Facade ops read `_data` of their inputs first: on a traced value that read names the mix-up.
    raise facade_op_on_traced_value(tracer)


def _install_traced_value_errors():
    """Facade ops read `_data` of their inputs first, and modules call Tensor methods (`x.dim()`): on a traced
    value either names the mix-up of facade ops with fgrad.grad / fgrad.jit, instead of an AttributeError."""
    import fgrad.numpy  # noqa: F401  (installs the array methods and the missing-attribute error on Tracer)
    numpy_missing_attribute = Tracer.__getattr__

    def missing_attribute(self, name):
        if hasattr(Tensor, name) and not hasattr(np.ndarray, name):      # x.dim(), x.backward(): a Tensor's
            raise facade_op_on_traced_value(self)
        return numpy_missing_attribute(self, name)

    Tracer._data = property(_traced_value_data)
    Tracer.__getattr__ = missing_attribute


class Tensor:
    """A PyTorch-style tensor backed by a numpy array.

    >>> import fgrad as torch
    >>> x = torch.tensor(2.0, requires_grad=True)
    >>> y = x ** 2
    >>> y
    tensor(4., grad_fn=<PowBackward0>)
    >>> y.backward(); x.grad
    tensor(4.)
    """
    __slots__ = ("_data", "_requires_grad", "_grad_fn", "_output_nr", "_grad", "_vc", "_base",
                 "_retains_grad", "_hooks", "_accumulator", "__weakref__")
    __array_priority__ = 1000

    def __new__(cls, *args, device=None):
        """The legacy constructor: `Tensor([1, 2])` (data of the default float dtype), `Tensor(2, 3)` or
        `Tensor(torch.Size([2, 3]))` (a tensor of that shape, zeros where PyTorch leaves memory
        uninitialized), `Tensor()` (empty)."""
        data = legacy_data(args, _dtypes.default_float_numpy(), "Tensor")
        return data if isinstance(data, Tensor) else make(data, cls=cls)

    @staticmethod
    def _make_subclass(cls, data, require_grad=False):
        """A `cls` instance sharing `data`'s storage (how nn.Parameter is built)."""
        t = make(data._data, cls=cls, requires_grad=bool(require_grad))
        t._vc = data._vc
        return t

    # ---- autograd metadata --------------------------------------------------------------------------

    @property
    def requires_grad(self) -> bool:
        return self._grad_fn is not None or self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        self._set_requires_grad(value, "only Tensors of floating point and complex dtype can require gradients")

    def requires_grad_(self, requires_grad=True):
        """Make this leaf require grad (or stop); returns self."""
        return self._set_requires_grad(requires_grad, "only Tensors of floating point dtype can require gradients")

    def _set_requires_grad(self, requires_grad, int_message):
        requires_grad = bool(requires_grad)
        if self._grad_fn is not None:
            if requires_grad:
                return self
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a computed "
                "variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach().")
        if requires_grad and self._data.dtype.kind not in "fc":
            raise RuntimeError(int_message)
        self._requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self._grad_fn is None

    @property
    def grad_fn(self):
        return self._grad_fn

    @property
    def output_nr(self) -> int:
        return self._output_nr

    @property
    def grad(self):
        if self._grad_fn is not None and not self._retains_grad and self._grad is None:
            warnings.warn(NON_LEAF_GRAD_WARNING, UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type "
                                f"{type(value).__name__}")
            if value.shape != self.shape:
                raise RuntimeError(
                    f"attempting to assign a gradient of size '{list(value.shape)}' to a tensor of size "
                    f"'{list(self.shape)}'. Please ensure that the gradient and the tensor are the same size")
            if value._data.dtype != self._data.dtype:
                raise RuntimeError("attempting to assign a gradient with dtype "
                                   f"'{value.dtype}' to a tensor with dtype '{self.dtype}'. Please ensure "
                                   "that the gradient and the tensor have the same dtype")
        self._grad = value

    @grad.deleter
    def grad(self):
        self._grad = None

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def retain_grad(self):
        """Keep the gradient of this non-leaf in `.grad` during backward (a no-op on leaves)."""
        if self._grad_fn is None:
            if not self._requires_grad:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            return
        if self._retains_grad:
            return
        self._retains_grad = True

        def retain(grad):
            if self._grad is None:
                self._grad = make(np.array(grad._data, copy=True)) if not grad.requires_grad else grad
            else:
                self._grad = make(self._grad._data + grad._data)
        _tensor_hooks_of(self)[_RETAIN_KEY] = retain

    def register_hook(self, hook):
        """hook(grad) runs when the gradient of this tensor is computed; a returned Tensor replaces it.
        Returns a handle whose `remove()` unregisters the hook."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._grad_fn is None:
            if self._hooks is None:
                self._hooks = {}
            return _graph._add_hook(self._hooks, hook)
        return _graph._add_hook(_tensor_hooks_of(self), hook)

    def detach(self):
        """A tensor sharing this one's storage (and version counter), outside the graph."""
        if type(self._data) is not np.ndarray:
            return make(stop_gradient(self._data))      # traced by a transform (fgrad.func): a constant to it
        t = make(self._data)
        # A non-differentiable view, as PyTorch's: it shares the version counter but has no `_base`, so an
        # in-place op on it is allowed (and a saved original still sees the bump at backward time).
        t._vc = self._vc
        return t

    def detach_(self):
        """Make this tensor a leaf that does not require grad."""
        if self._base is not None and self._base.requires_grad:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self._grad_fn = None
        self._output_nr = 0
        self._requires_grad = False
        return self

    @property
    def data(self):
        """This tensor's values as a tensor outside the graph (shares storage, not the version counter)."""
        return make(self._data)

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be a Tensor, got {type(value).__name__}")
        self._data = value._data

    # ---- basic properties -------------------------------------------------------------------------

    @property
    def dtype(self):
        return _dtypes.from_numpy(self._data.dtype)

    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_dim(dim, self._data.ndim)]

    def dim(self) -> int:
        return self._data.ndim

    ndim = property(dim)

    def numel(self) -> int:
        return int(self._data.size)

    nelement = numel

    def element_size(self) -> int:
        return self._data.itemsize

    @property
    def itemsize(self) -> int:
        return self._data.itemsize

    @property
    def nbytes(self) -> int:
        return self._data.nbytes

    @property
    def device(self):
        return _device_cpu

    @property
    def is_cuda(self) -> bool:
        return False

    is_sparse = False
    is_quantized = False
    is_meta = False
    is_nested = False
    layout = "torch.strided"

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def is_complex(self) -> bool:
        return False

    def is_contiguous(self, memory_format=None) -> bool:
        return bool(self._data.flags.c_contiguous)

    def stride(self, dim=None):
        strides = tuple(s // self._data.itemsize for s in self._data.strides)
        return strides if dim is None else strides[_dim(dim, self._data.ndim)]

    def data_ptr(self) -> int:
        return self._data.__array_interface__["data"][0]

    def get_device(self) -> int:
        return -1

    @property
    def _version(self) -> int:
        """How many times this tensor's storage was modified in place (shared by its views)."""
        return self._vc[0]

    # ---- conversion ---------------------------------------------------------------------------------

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return self._data.reshape(()).item()

    def tolist(self):
        return self._data.tolist()

    def numpy(self, force=False):
        """The numpy array behind this tensor (shared memory), as PyTorch's numpy(). A tensor that requires
        grad raises while grad mode is on (its values would leave the graph unnoticed): use
        tensor.detach().numpy(), or force=True."""
        if not force:
            self._check_leaving_graph()
        return self._data

    def __array__(self, dtype=None, copy=None):
        """What np.asarray(t) (shared memory) and np.array(t) (a copy) see, as PyTorch's: a tensor that
        requires grad raises, as numpy() does."""
        self._check_leaving_graph()
        data = self._data
        if dtype is not None and np.dtype(dtype) != data.dtype:
            if copy is False:
                raise ValueError(f"converting a {data.dtype} tensor to {np.dtype(dtype)} needs a copy, but copy=False "
                                 "was asked for")
            return data.astype(dtype)
        return data.copy() if copy else data

    def _check_leaving_graph(self):
        if self.requires_grad and _grad_state.enabled:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                               "instead.")

    def __float__(self):
        if self.requires_grad and _grad_state.enabled:
            warnings.warn(SCALAR_OF_GRAPH_WARNING, UserWarning, stacklevel=2)
        return float(self._scalar_value("float"))

    def __int__(self):
        return int(self._scalar_value("int"))

    def __index__(self):
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self._data.reshape(()).item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._data.reshape(()).item())

    def __complex__(self):
        return complex(self._scalar_value("complex"))

    def _scalar_value(self, what):
        if self._data.size != 1:
            raise ValueError(f"only one element tensors can be converted to Python scalars")
        return self._data.reshape(()).item()

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __hash__(self):
        return id(self)

    def __format__(self, spec):
        if self._data.ndim == 0 and type(self) is Tensor:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __repr__(self, *, tensor_contents=None):
        return _printing.tensor_repr(self, tensor_contents, plain=type(self) is Tensor)

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        return (_rebuild, (np.array(self._data), self._requires_grad))

    def __deepcopy__(self, memo):
        if self._grad_fn is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                               "protocol at the moment.  If you were attempting to deepcopy a module, this may "
                               "be because of a torch.nn.utils.weight_norm usage, see "
                               "https://github.com/pytorch/pytorch/pull/103001")
        t = make(np.array(self._data, copy=True), cls=type(self), requires_grad=self._requires_grad)
        if self._grad is not None:
            t._grad = make(np.array(self._grad._data, copy=True))
        memo[id(self)] = t
        return t

    def cpu(self):
        return self

    def cuda(self, *args, **kwargs):
        raise RuntimeError("fgrad tensors live on the CPU; there is no CUDA device")

    def pin_memory(self):
        return self


def _rebuild(data, requires_grad):
    return make(data, requires_grad=requires_grad)


_RETAIN_KEY = -1


def _tensor_hooks_of(t) -> dict:
    """The hooks on non-leaf `t`'s gradient: kept on its grad_fn, keyed by output number."""
    node = t._grad_fn
    if node._tensor_hooks is None:
        node._tensor_hooks = {}
    return node._tensor_hooks.setdefault(t._output_nr, {})


def legacy_data(args, dtype: np.dtype, name: str):
    """What a legacy constructor (`Tensor(...)`, `FloatTensor(...)`) builds from its arguments: sizes
    (ints or a torch.Size) give zeros of that shape, one sequence or array gives its values as `dtype`, a
    Tensor of that dtype is returned as it is."""
    if len(args) == 1 and isinstance(args[0], Size):
        args = tuple(args[0])
    if not args:
        return np.zeros((0,), dtype)
    if all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args):
        shape = tuple(int(d) for d in args)
        for d in shape:
            if d < 0:
                raise RuntimeError(f"Trying to create tensor with negative dimension {d}: "
                                   f"[{', '.join(map(str, shape))}]")
        return np.zeros(shape, dtype)
    if len(args) != 1:
        raise TypeError(f"{name}(): expected sizes (ints) or one sequence of data, got "
                        f"({', '.join(type(a).__name__ for a in args)})")
    data = args[0]
    if isinstance(data, Tensor):
        if data._data.dtype != dtype:
            raise TypeError(f"{name}() of a {_dtypes.from_numpy(data._data.dtype)} tensor: the legacy constructor "
                            f"does not convert; use tensor.to({_dtypes.from_numpy(dtype)})")
        return data
    if not isinstance(data, (list, tuple, np.ndarray)):
        raise TypeError(f"new(): data must be a sequence (got {type(data).__name__})")
    return np.array(_nested_values(data), dtype=dtype)


def _nested_values(data):
    """Python lists/tuples of numbers and 0-d tensors as numpy-ready nested lists."""
    if isinstance(data, Tensor):
        return data._data
    if isinstance(data, (list, tuple)):
        return [_nested_values(d) for d in data]
    return data


def _dim(dim, ndim: int) -> int:
    """A dim normalized to range(ndim), with PyTorch's IndexError (a TypeError when it is not an integer)."""
    try:
        dim = operator.index(dim)
    except TypeError:
        raise TypeError(f"dim must be an int (or a tuple or list of ints), not {type(dim).__name__}") from None
    lo, hi = (-ndim, ndim - 1) if ndim else (-1, 0)
    if not lo <= dim <= hi:
        raise IndexError(f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})")
    return dim % ndim if ndim else 0


class Size(tuple):
    """torch.Size: a tuple of ints that prints as `torch.Size([2, 3])`."""

    def __repr__(self) -> str:
        return f"torch.Size([{', '.join(map(str, self))}])"

    __str__ = __repr__

    def numel(self) -> int:
        return int(np.prod(self, dtype=np.int64))

    def __getitem__(self, item):
        out = tuple.__getitem__(self, item)
        return Size(out) if isinstance(item, slice) else out

    def __add__(self, other):
        return Size(tuple.__add__(self, tuple(other)))


class device:
    """torch.device: fgrad has one, the CPU."""

    def __init__(self, type="cpu", index=None):
        if isinstance(type, device):
            type = type.type
        type = str(type)
        if type.split(":")[0] == "meta":
            raise NotImplementedError(
                "fgrad has no meta tensors (tensors with a shape and dtype but no data): every fgrad tensor holds "
                "its values on the CPU. Create the tensor or module on the CPU instead (leave out device='meta' / "
                ".to('meta')); to learn output shapes without computing values, trace the function with "
                "fgrad.make_ir(f)(*args), which records only types")
        if type.split(":")[0] != "cpu":
            raise RuntimeError(f"fgrad tensors live on the CPU; device {type!r} is not available")
        self.type = "cpu"
        self.index = None

    def __repr__(self) -> str:
        return "device(type='cpu')"

    def __str__(self) -> str:
        return "cpu"

    def __eq__(self, other):
        return isinstance(other, device) or other == "cpu"

    def __hash__(self):
        return hash("cpu")


_device_cpu = device("cpu")
_install_traced_value_errors()
