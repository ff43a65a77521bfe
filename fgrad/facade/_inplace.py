"""In-place writes: PyTorch's checks (leaves, views, dtypes), version bumps, the node hand-over; fill_, zero_, copy_.

An in-place op on a view rewrites its base's graph as PyTorch does: the base's grad_fn becomes one CopySlices node
that runs the op (its traced program) on the view's place in the base, with edges to the base's old graph and to
the op's other inputs, and the view's grad_fn becomes AsStridedBackward0 of the base. Where the view lies in the
base is read from numpy's strides (`positions_in_base`). On values a transform traces (fgrad.func), in-place ops
rebind the tensor to the new value instead (`_rebind`).
"""
from __future__ import annotations

import numpy as np

from fgrad import ops
from fgrad.ir import Program, eval_program
from fgrad.facade._dual import set_tangent, state as _dual_state, tangent_of
from fgrad.facade._grad_mode import state as _grad_state
from fgrad.facade._op import FacadeOp, apply
from fgrad.facade._operands import _cast, _dtype_name, as_tensor_arg
from fgrad.facade._tensor import Tensor, make

__all__ = ["inplace", "check_leaf_inplace", "fill_", "zero_", "copy_"]


# ---- in-place ------------------------------------------------------------------------------------------------

def _can_cast(src: np.dtype, dst: np.dtype) -> bool:
    """PyTorch's canCast: no float -> integral, no non-bool -> bool."""
    if src.kind == "f" and dst.kind in "iub":
        return False
    if src.kind != "b" and dst.kind == "b":
        return False
    return True


def inplace(self, result):
    """Write `result` (an op's out-of-place result) into `self`'s storage, as PyTorch's in-place ops:
    checks (leaf, views, dtype, shape), a version bump, and the recorded node becomes self's grad_fn."""
    recorded = result._grad_fn is not None
    if recorded:
        _check_inplace_allowed(self)
    data = self._data
    value = result._data
    if type(data) is not np.ndarray or type(value) is not np.ndarray:
        return _rebind(self, value)
    if value.shape != data.shape:
        raise RuntimeError(f"output with shape [{', '.join(map(str, data.shape))}] doesn't match the broadcast "
                           f"shape [{', '.join(map(str, value.shape))}]")
    if value.dtype != data.dtype and not _can_cast(value.dtype, data.dtype):
        raise RuntimeError(f"result type {_dtype_name(value.dtype)} can't be cast to the desired output type "
                           f"{_dtype_name(data.dtype)}")
    if not data.flags.writeable:
        raise RuntimeError("unsupported operation: more than one element of the written-to tensor refers to a "
                           "single memory location. Please clone() the tensor before performing the operation.")
    rewritten = None
    if recorded and self._base is not None:
        rewritten = _copy_slices_of(self, result)       # before the write: it reads the view's old values
    if recorded and rewritten is None:
        _keep_original(result._grad_fn, self)
    np.copyto(data, value, casting="unsafe")
    self._vc[0] += 1
    if _dual_state.tangents:
        _take_tangent(self, result)
    if recorded:
        node = result._grad_fn
        if node._versions is not None:
            # a saved output is now self's storage: check self's version from here on
            node._versions = [(self._vc, self._vc[0], saved) if cell is result._vc
                              else (cell, expected, saved) for cell, expected, saved in node._versions]
        if rewritten is not None:
            _take_base_graph(self, rewritten)
        elif self._base is not None:
            _rewrite_base(self, result)
        else:
            self._grad_fn = node
            self._output_nr = result._output_nr
    return self


def _rebind(self, value):
    """An in-place op on a value a transform traces (fgrad.func): traced values are immutable, so the tensor now
    stands for the new value (functional semantics, as functorch's for tensors made inside the function; a view
    written this way does not update its base)."""
    if tuple(value.shape) != tuple(self._data.shape):
        raise RuntimeError(f"output with shape [{', '.join(map(str, self._data.shape))}] doesn't match the broadcast "
                           f"shape [{', '.join(map(str, value.shape))}]")
    if value.dtype != self._data.dtype:
        value = ops.convert_element_type(value, self._data.dtype)
    self._data = value
    self._vc[0] += 1
    return self


def _take_tangent(self, result):
    """Forward AD: the written tensor carries the result's tangent (and a view's base the tangent of its
    updated region)."""
    tangent = tangent_of(result)
    if tangent is None:
        return
    base = self._base
    if base is not None:
        positions = positions_in_base(self._data, base._data)
        base_tangent = tangent_of(base)
        if base_tangent is None:
            base_tangent = make(np.zeros(base._data.shape, base._data.dtype))
        set_tangent(base, apply(COPY_SLICES, (base_tangent, positions, tangent), (base._data.shape,)))
    set_tangent(self, tangent)


# ---- in-place writes through views: the base's graph is rewritten (PyTorch's CopySlices) -----------------------

def _copy_slices_fn(x, positions, value, shape):
    flat = ops.reshape(x, (-1,))
    updates = ops.reshape(ops.broadcast_to(ops.convert_element_type(value, x.dtype), positions.shape), (-1,))
    return ops.reshape(ops.scatter(flat, ops.reshape(positions, (-1,)), updates, 0), shape)


# base with `value` written at the flat `positions` (C order): index assignment and in-place ops on views
COPY_SLICES = FacadeOp("copy_slices", _copy_slices_fn, "CopySlices", nondiff=(1,))
# the elements of a base at the flat `positions`: a view's place in its base's graph after an in-place write
_AS_STRIDED = FacadeOp("as_strided", lambda x, positions: ops.gather(ops.reshape(x, (-1,)), positions, 0),
                       "AsStridedBackward0", nondiff=(1,))


def _op_through_view_fn(base, positions, *others, program, view_slots, view_shape, output_nr):
    """base with the op's output written where the view lies: the op (its traced `program`) run on the view
    gathered from base (at `view_slots` of its inputs) and the other inputs."""
    flat_positions = ops.reshape(positions, (-1,))
    view = ops.reshape(ops.gather(ops.reshape(base, (-1,)), flat_positions, 0), view_shape)
    rest = iter(others)
    args = [view if i in view_slots else next(rest) for i in range(len(program.inputs))]
    out = eval_program(program, *args)[output_nr]
    updates = ops.reshape(ops.convert_element_type(out, base.dtype), (-1,))
    return ops.reshape(ops.scatter(ops.reshape(base, (-1,)), flat_positions, updates, 0), base.shape)


_MERGED_COPY_SLICES = {}


def _copy_slices_of(view, result):
    """`view op= ...` as PyTorch records it on the base: one CopySlices node running the op on the view's place
    in the base, its edges the base's old graph and the op's other inputs (None when the op has no traced
    program to run, e.g. a custom Function: then the op's own node is chained, `_rewrite_base`)."""
    node = result._grad_fn
    plan, args = node._plan, node._args
    split = getattr(plan, "split", None)
    if split is None or args is None or not any(a is view for a in args):
        return None
    base = view._base
    positions = positions_in_base(view._data, base._data)
    if positions is None:
        return None
    forward = split.forward
    program = Program(forward.inputs, forward.equations, forward.outputs[:plan.n_out])
    view_slots = tuple(i for i, a in enumerate(args) if a is view)
    others = tuple(a for a in args if a is not view)
    nondiff = (1,) + tuple(2 + k for k, i in enumerate(i for i in range(len(args)) if i not in view_slots)
                           if i in plan.nondiff)
    op = _MERGED_COPY_SLICES.get(nondiff)
    if op is None:
        op = _MERGED_COPY_SLICES[nondiff] = FacadeOp("copy_slices_of", _copy_slices_call, "CopySlices",
                                                     nondiff=nondiff)
    static = (program, view_slots, view._data.shape, result._output_nr)
    return apply(op, (base, positions) + others, static), positions, node if plan.saved_outputs else None


def _copy_slices_call(base, positions, *rest):
    *others, program, view_slots, view_shape, output_nr = rest
    return _op_through_view_fn(base, positions, *others, program=program, view_slots=view_slots, view_shape=view_shape,
                           output_nr=output_nr)


def _take_base_graph(view, rewritten):
    """The base's grad_fn becomes the CopySlices node, the view's AsStridedBackward0 of the base (`rewritten`:
    what `_copy_slices_of` returned)."""
    tensor, positions, saved_by = rewritten
    base = view._base
    node = base._grad_fn = tensor._grad_fn
    base._output_nr = 0
    view._grad_fn = apply(_AS_STRIDED, (base, positions))._grad_fn
    view._output_nr = 0
    if saved_by is not None:
        # the op's backward reads its output, which PyTorch keeps in the view's storage: a later write there is
        # an error at backward time, the saved value named as the op's output (PyTorch's "output 0 of Exp")
        check = (view._vc, view._vc[0], (saved_by, 0, view._data.shape, view._data.dtype))
        node._versions = (node._versions or []) + [check]


def _rewrite_base(view, result):
    """After `view op= ...` recorded `result`: the base's grad_fn becomes CopySlices (its old graph outside the
    view, `result`'s inside) and the view's becomes AsStridedBackward0 of the base, as in PyTorch, so gradients
    flow through the write whichever of the two is used later."""
    base = view._base
    positions = positions_in_base(view._data, base._data)
    if positions is None:
        raise RuntimeError("fgrad's facade cannot record this in-place operation: the view does not share memory "
                           "with its base tensor in a way fgrad can follow; apply the operation out of place")
    rewritten = apply(COPY_SLICES, (base, positions, result), (base._data.shape,))
    base._grad_fn = rewritten._grad_fn
    base._output_nr = 0
    view._grad_fn = apply(_AS_STRIDED, (base, positions))._grad_fn
    view._output_nr = 0


def positions_in_base(view: np.ndarray, base: np.ndarray):
    """The flat (C-order) index into `base` of each element of `view`, a numpy view of base's memory, shaped
    as `view`; None when some element of `view` is not an element of `base`."""
    item = base.itemsize
    if view.itemsize != item:
        return None
    start = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    offsets = _byte_offsets(view.shape, view.strides) + start
    if base.flags.c_contiguous:
        positions = offsets // item
        valid = (offsets % item == 0) & (positions >= 0) & (positions < base.size)
    else:
        base_offsets = _byte_offsets(base.shape, base.strides).reshape(-1)
        order = np.argsort(base_offsets, kind="stable")
        found = np.searchsorted(base_offsets[order], offsets).clip(0, max(base.size - 1, 0))
        positions = order[found] if base.size else found
        valid = base_offsets[positions] == offsets if base.size else np.zeros(offsets.shape, bool)
    if not valid.all():
        return None
    return np.ascontiguousarray(positions, dtype=np.int64)


def _byte_offsets(shape, strides) -> np.ndarray:
    offsets = np.zeros(shape, np.int64)
    for axis, (n, stride) in enumerate(zip(shape, strides)):
        step = np.arange(n, dtype=np.int64) * stride
        offsets += step.reshape((n,) + (1,) * (len(shape) - axis - 1))
    return offsets


def _keep_original(node, self):
    """The node of `self op= other` may have saved self (mul_ saves it for other's gradient): it keeps the
    value from before the write, as PyTorch's original_self, with self's old place in the graph."""
    if node._args is None or not any(a is self for a in node._args):
        return
    original = make(np.array(self._data, copy=True), self._grad_fn, self._output_nr, self._requires_grad)
    saved = list(node._saved)
    for r, i in node._plan.saved_inputs:
        if node._args[i] is self:
            saved[r] = original._data
    for r, i in node._plan.aliased_residuals:       # views of self's memory: their values before the write
        if node._args[i] is self:
            saved[r] = np.array(saved[r], copy=True)
    node._saved = tuple(saved)
    if node._versions is not None:
        node._versions = [check for check in node._versions if check[0] is not self._vc] or None
    node._args = tuple(original if a is self else a for a in node._args)


def _check_inplace_allowed(self):
    if not _grad_state.enabled:
        return
    if self._grad_fn is None and self._requires_grad:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    base = self._base
    if base is not None:
        if base._grad_fn is None and base._requires_grad:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place "
                               "operation.")


def check_leaf_inplace(self):
    """The error PyTorch raises before running an in-place op on a leaf that requires grad."""
    if not _grad_state.enabled:
        return
    if self._grad_fn is None and self._requires_grad:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
    base = self._base
    if base is not None and base._grad_fn is None and base._requires_grad:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")


def _fill_fn(x, value):
    return ops.select(np.ones(x.shape, np.bool_), value, x)


_FILL = FacadeOp("fill", _fill_fn, "FillBackward2")
_ZERO = FacadeOp("zero", _fill_fn, "ZeroBackward0")


def fill_(self, value):
    """Every element set to `value` (in place)."""
    check_leaf_inplace(self)
    if isinstance(value, Tensor):
        value = value.item()
    op = _ZERO if value == 0 else _FILL
    return inplace(self, apply(op, (self,), (np.asarray(value, self._data.dtype).item(),)))


def zero_(self):
    """Every element set to 0 (in place)."""
    check_leaf_inplace(self)
    if self._grad_fn is None and not self._requires_grad:
        self._data[...] = 0         # the common case (a .grad buffer): no graph to record
        self._vc[0] += 1
        return self
    return inplace(self, apply(_ZERO, (self,), (0,)))


_COPY = FacadeOp("copy_", lambda src, shape, dtype: ops.broadcast_to(_cast(src, dtype), shape), "CopyBackwards")


def copy_(self, src, non_blocking=False):
    """src's values (broadcast and cast) written into self."""
    check_leaf_inplace(self)
    src = as_tensor_arg(src)
    try:
        np.broadcast_shapes(src._data.shape, self._data.shape)
        if np.broadcast_shapes(src._data.shape, self._data.shape) != self._data.shape:
            raise ValueError
    except ValueError:
        raise RuntimeError(f"The size of tensor a ({self._data.shape[-1] if self._data.ndim else 1}) must match "
                           f"the size of tensor b ({src._data.shape[-1] if src._data.ndim else 1}) at "
                           f"non-singleton dimension {self._data.ndim - 1}") from None
    result = apply(_COPY, (src,), (self._data.shape, self._data.dtype))
    return inplace(self, result)
