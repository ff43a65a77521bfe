"""PyTorch's argument conventions in the facade, against PyTorch 2.13 (skipped without torch): numpy's
axis=/keepdims= names, dims as int/tuple/list/negative, indexing with ranges, lists, arrays, masks, None,
... and bool scalars (reads, writes, gradients), the legacy typed constructors (FloatTensor, ...), the
function forms of in-place ops (torch.sin_, F.relu_), and movedim/flatten/unflatten/chunk/split/where/
masked_fill/tril/triu/T/mT.

Each table entry is one program written against the PyTorch API and run with both libraries
(`tensor_parity.check`): values, dtypes, shapes, grad_fn names one level deep, the inputs' gradients and
exceptions (type and message) must agree.
"""
from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fgrad.facade as fg  # noqa: E402
from fgrad.facade import _methods  # noqa: E402
from fgrad.facade.nn import functional as fg_functional  # noqa: E402
from tensor_parity import Raised, check, run, with_grads  # noqa: E402

F32 = "float32"
X = np.random.default_rng(7).uniform(-2, 2, (2, 3, 4)).round(3)       # the input of every table entry


def check_table(table, name, x=X):
    check(with_grads(table[name], (x, F32, True)), torch)


# ---- numpy's names and dims as int / tuple / list / negative ------------------------------------------------

NUMPY_NAMES = {
    "sum_axis": lambda L, x: x.sum(axis=1),
    "sum_axis_tuple": lambda L, x: x.sum(axis=(0, 2)),
    "sum_dim_list_negative": lambda L, x: x.sum(dim=[0, -1]),
    "sum_keepdims": lambda L, x: L.sum(x, 1, keepdims=True),
    "sum_axis_keepdims_fn": lambda L, x: L.sum(x, axis=-1, keepdims=True),
    "mean_axis_keepdims": lambda L, x: x.mean(axis=-1, keepdims=True),
    "mean_axis_list": lambda L, x: L.mean(x, axis=[0, 1]),
    "max_axis": lambda L, x: x.max(axis=1),
    "max_axis_keepdims": lambda L, x: L.max(x, axis=-1, keepdims=True),
    "min_axis": lambda L, x: L.min(x, axis=2),
    "amax_axis_tuple": lambda L, x: x.amax(axis=(0, 1)),
    "amin_axis_keepdims": lambda L, x: L.amin(x, axis=-2, keepdims=True),
    "argmax_axis": lambda L, x: x.argmax(axis=1),
    "argmin_axis_keepdims": lambda L, x: L.argmin(x, axis=-1, keepdims=True),
    "var_axis": lambda L, x: x.var(axis=0),
    "std_axis_keepdims": lambda L, x: x.std(axis=1, keepdims=True),
    "prod_axis": lambda L, x: x.prod(axis=-1),
    "logsumexp_axis": lambda L, x: x.logsumexp(axis=1),
    "logsumexp_axis_tuple": lambda L, x: L.logsumexp(x, dim=(0, 2), keepdims=True),
    "cumsum_axis": lambda L, x: x.cumsum(axis=0),
    "cumprod_axis": lambda L, x: L.cumprod(x, axis=-1),
    "softmax_axis": lambda L, x: x.softmax(axis=1),
    "log_softmax_axis": lambda L, x: L.log_softmax(x, axis=-1),
    "any_axis": lambda L, x: (x > 0).any(axis=1),
    "all_axis_keepdims": lambda L, x: L.all(x > -1, axis=2, keepdims=True),
    "count_nonzero_axis": lambda L, x: L.count_nonzero(x > 0, axis=1),
    "cat_axis": lambda L, x: L.cat([x, x * 2], axis=1),
    "concat_axis": lambda L, x: L.concat([x, x], axis=-1),
    "concatenate_axis": lambda L, x: L.concatenate((x, x), axis=0),
    "stack_axis": lambda L, x: L.stack([x, x], axis=-1),
    "squeeze_axis": lambda L, x: x[:, :1].squeeze(axis=1),
    "unsqueeze_axis": lambda L, x: x.unsqueeze(axis=-1),
    "chunk_axis": lambda L, x: x.chunk(2, axis=2),
    "narrow_axis": lambda L, x: x.narrow(axis=1, start=1, length=2),
    "unbind_axis": lambda L, x: x.unbind(axis=2),
    "gather_axis": lambda L, x: x.gather(axis=2, index=L.tensor([[[0], [3], [1]], [[2], [2], [0]]])),
    "index_select_axis": lambda L, x: L.index_select(x, axis=1, index=L.tensor([2, 0])),
    "sort_axis": lambda L, x: x.sort(axis=1),
    "argsort_axis": lambda L, x: x.argsort(axis=1, descending=True),
    "topk_axis": lambda L, x: x.topk(2, axis=1),
    "size_axis": lambda L, x: x.size(axis=-1),
    "flip_dims_list": lambda L, x: x.flip(dims=[0, -1]),
    "flip_fn_tuple": lambda L, x: L.flip(x, (1,)),
    "sum_empty_dims": lambda L, x: x.sum(dim=[]),
    "sum_dim_none": lambda L, x: L.sum(x, dim=None),
}

# the other forms PyTorch's ops take their dims and options in: positional keepdim/unbiased, tuples, lists,
# negative dims, variadic dims, keywords
ARGUMENT_FORMS = {
    "sum_pos_keepdim": lambda L, x: x.sum(0, True),
    "max_pos_keepdim": lambda L, x: x.max(1, True),
    "max_kw": lambda L, x: L.max(x, dim=1, keepdim=True),
    "std_unbiased_pos": lambda L, x: x.std(1, True),
    "std_unbiased_kw": lambda L, x: x.std(unbiased=False),
    "var_correction": lambda L, x: x.var(1, correction=0),
    "var_axis_correction": lambda L, x: x.var(axis=(0,2), correction=2, keepdims=True),
    "norm_p_dim": lambda L, x: x.norm(p=1, dim=1),
    "norm_pos": lambda L, x: x.norm(2, 1),
    "norm_fn_tuple": lambda L, x: L.norm(x, dim=(0,1)),
    "norm_keepdim": lambda L, x: x.norm(dim=-1, keepdim=True),
    "squeeze_tuple": lambda L, x: x[:1, :, :1].squeeze((0,2)),
    "squeeze_list": lambda L, x: x[:1].squeeze([0, 1]),
    "squeeze_neg": lambda L, x: x[:, :, :1].squeeze(-1),
    "unsqueeze_kw": lambda L, x: x.unsqueeze(dim=0),
    "permute_list": lambda L, x: x.permute([2,0,1]),
    "permute_neg": lambda L, x: x.permute(-1, 0, 1),
    "transpose_neg": lambda L, x: x.transpose(-1,-2),
    "flip_int": lambda L, x: x.flip(0),
    "flip_var": lambda L, x: x.flip(0, 1),
    "repeat_tuple": lambda L, x: x.repeat((2,1,1)),
    "view_tuple": lambda L, x: x.view((6,4)),
    "view_size": lambda L, x: x.view(L.Size([4,6])),
    "expand_neg": lambda L, x: x[:, :1].expand(-1, 3, -1),
    "reshape_list": lambda L, x: x.reshape([4,6]),
    "argmax_pos": lambda L, x: L.argmax(x, 1),
    "argmax_neg": lambda L, x: x.argmax(-1),
    "cumsum_neg": lambda L, x: x.cumsum(-1),
    "softmax_pos": lambda L, x: x.softmax(0),
    "mean_tuple_pos_keep": lambda L, x: x.mean((0,1), True),
    "sum_neg_tuple": lambda L, x: x.sum((-1,-2)),
    "all_pos": lambda L, x: (x>0).all(1),
    "prod_keepdim": lambda L, x: x.prod(0, keepdim=True),
    "logsumexp_tuple": lambda L, x: x.logsumexp((0,1)),
    "stack_tuple": lambda L, x: L.stack((x, x), 1),
    "min_other": lambda L, x: x.min(x*2),
    "max_other_kw": lambda L, x: L.max(x, other=x*2),
    "amax_neg_list": lambda L, x: x.amax([-1, 0]),
    "mean_dtype": lambda L, x: x.mean(1, dtype=L.float64),
    "sum_dtype_kw": lambda L, x: L.sum(x, dim=0, dtype=L.float64),
    "count_nonzero_tuple": lambda L, x: L.count_nonzero(x>0, dim=(0,1)),
    "any_noargs": lambda L, x: L.any(x>1),
    "cat_tuple_neg": lambda L, x: L.cat((x, x), -1),
    "cat_dim_kw": lambda L, x: L.cat(tensors=[x, x], dim=1),
    "size_neg": lambda L, x: x.size(-1),
    "size_kw": lambda L, x: x.size(dim=1),
    "shape_index": lambda L, x: x.shape[-1],
    "stride": lambda L, x: x.stride(1),
    "split_kw_dim": lambda L, x: x.split(2, dim=-1),
    "tensor_split_int": lambda L, x: x.tensor_split(2, dim=2),
    "tensor_split_list": lambda L, x: x.tensor_split([1, 3], dim=2),
    "unbind_neg": lambda L, x: x.unbind(-1),
    "narrow_neg": lambda L, x: x.narrow(-1, 1, 2),
    "gather_neg": lambda L, x: x.gather(-1, L.zeros(2,3,1, dtype=L.long)),
    "index_select_neg": lambda L, x: x.index_select(-1, L.tensor([0, 3])),
    "sort_neg": lambda L, x: x.sort(-1, True),
    "topk_dim_kw": lambda L, x: x.topk(2, dim=0),
    "log_softmax_neg": lambda L, x: L.log_softmax(x, -2),
    "sum_input_kw": lambda L, x: L.sum(input=x, dim=1),
    "min_dim_kw": lambda L, x: x.min(dim=-1),
    "argmin_neg": lambda L, x: L.argmin(x, -2),
    "cumprod_kw": lambda L, x: x.cumprod(dim=-2),
    "softmax_dtype": lambda L, x: x.softmax(-1, dtype=L.float64),
    "std_dim_list": lambda L, x: x.std([0, 1]),
    "var_neg_tuple": lambda L, x: L.var(x, (-1,), keepdim=True),
    "squeeze_empty": lambda L, x: x.squeeze(()),
    "unsqueeze_end": lambda L, x: x.unsqueeze(3),
    "flatten_kw": lambda L, x: L.flatten(x, start_dim=-2, end_dim=-1),
    "movedim_neg": lambda L, x: x.movedim(-1, -3),
}

DIM_ERRORS = {
    "dim_out_of_range": lambda L, x: x.sum(3),
    "dim_out_of_range_negative": lambda L, x: x.mean(axis=-4),
    "argmax_out_of_range": lambda L, x: x.argmax(axis=5),
    "dim_repeated": lambda L, x: x.sum(dim=(0, 0)),
    "dim_repeated_negative": lambda L, x: x.sum(dim=(2, -1)),
    "softmax_out_of_range": lambda L, x: x.softmax(3),
    "cat_out_of_range": lambda L, x: L.cat([x, x], axis=3),
    "stack_out_of_range": lambda L, x: L.stack([x, x], dim=4),
    "unsqueeze_out_of_range": lambda L, x: x.unsqueeze(-5),
    "flatten_end_out_of_range": lambda L, x: x.flatten(0, 5),
}


@pytest.mark.parametrize("name", list(NUMPY_NAMES), ids=list(NUMPY_NAMES))
def test_numpy_names_and_dims(name):
    check_table(NUMPY_NAMES, name)


@pytest.mark.parametrize("name", list(ARGUMENT_FORMS), ids=list(ARGUMENT_FORMS))
def test_argument_forms(name):
    check_table(ARGUMENT_FORMS, name)


@pytest.mark.parametrize("name", list(DIM_ERRORS), ids=list(DIM_ERRORS))
def test_dim_errors(name):
    check_table(DIM_ERRORS, name)


def check_raises_like_torch(program):
    """PyTorch raises; fgrad raises the same type, its message starting with PyTorch's (fgrad may add how to
    fix it)."""
    expected, actual = run(program, torch), run(program, fg)
    assert isinstance(expected, Raised), f"PyTorch did not raise: {expected}"
    assert isinstance(actual, Raised), f"fgrad did not raise: {actual}"
    assert actual.type == expected.type, (expected, actual)
    assert actual.message.startswith(expected.message), (expected, actual)


BOTH_NAMES = {
    "dim_and_axis": lambda L: L.ones(2, 3).sum(dim=1, axis=1),
    "positional_dim_and_axis": lambda L: L.sum(L.ones(2, 3), 1, axis=1),
    "cat_dim_and_axis": lambda L: L.cat([L.ones(2)], dim=0, axis=0),
    "mean_keepdim_and_keepdims": lambda L: L.ones(2, 3).mean(1, keepdim=True, keepdims=True),
}


@pytest.mark.parametrize("name", list(BOTH_NAMES), ids=list(BOTH_NAMES))
def test_both_names_is_a_type_error(name):
    check_raises_like_torch(BOTH_NAMES[name])


def test_float_dim_is_a_type_error():
    with pytest.raises(TypeError, match="dim must be an int"):
        fg.ones(2, 3).sum(1.5)
    with pytest.raises(TypeError):
        torch.ones(2, 3).sum(1.5)


def _takes_dim(fn) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "dim" in params or "keepdim" in params


def test_every_op_taking_dim_accepts_numpy_names():
    """Registry check: every public facade function and Tensor method with a dim or keepdim parameter goes
    through the one numpy_names helper (so a new op that forgets it fails here)."""
    functions = {f"torch.{n}": getattr(fg, n) for n in fg.__all__ if callable(getattr(fg, n))}
    methods = {f"Tensor.{n}": getattr(fg.Tensor, n) for n in dir(fg.Tensor) if not n.startswith("_")}
    missing = [name for name, fn in {**functions, **methods}.items()
               if _takes_dim(fn) and not hasattr(fn, "numpy_names")]
    assert not missing, f"ops taking dim without numpy's names: {missing}"


# ---- indexing: reads -------------------------------------------------------------------------------------------

INDEX_READS = {
    "range": lambda L, x: x[range(2)],
    "range_step": lambda L, x: x[:, range(0, 3, 2)],
    "range_with_ints": lambda L, x: x[-1, range(3), -1],
    "list": lambda L, x: x[[1, 0, 1]],
    "empty_list": lambda L, x: x[[]],
    "two_lists": lambda L, x: x[[0, 1], [1, 2]],
    "lists_apart": lambda L, x: x[[0, 1], :, [1, 2]],
    "nested_list": lambda L, x: x[:, [[0, 1], [2, 0]]],
    "numpy_array": lambda L, x: x[np.array([1, 0])],
    "numpy_arrays_broadcast": lambda L, x: x[np.array([[0], [1]]), np.array([0, 2])],
    "numpy_int": lambda L, x: x[np.int64(1)],
    "numpy_mask": lambda L, x: x[np.array([True, False])],
    "bool_list": lambda L, x: x[[True, False]],
    "mask_tensor": lambda L, x: x[x > 0.5],
    "mask_2d": lambda L, x: x[L.tensor([[True, False, True], [False, False, True]])],
    "mask_then_int": lambda L, x: x[L.tensor([True, False]), 1],
    "slice_then_tensor": lambda L, x: x[1:, L.tensor([0, 2])],
    "zero_dim_tensor": lambda L, x: x[L.tensor(1)],
    "ellipsis_zero_dim_tensor": lambda L, x: x[..., L.tensor(1)],
    "none": lambda L, x: x[None],
    "none_ellipsis_none": lambda L, x: x[None, ..., None],
    "ellipsis_none_int": lambda L, x: x[..., None, 1],
    "int_ellipsis_list": lambda L, x: x[0, ..., [1, 3]],
    "int_slice_list": lambda L, x: x[0, :, [1, 3]],
    "list_ellipsis_none": lambda L, x: x[[0, 1], ..., None],
    "slice_none_list": lambda L, x: x[:, None, [0, 2]],
    "slice_list_none": lambda L, x: x[:, [0, 2], None],
    "true": lambda L, x: x[True],
    "false": lambda L, x: x[False],
    "true_int": lambda L, x: x[True, 0],
    "none_true": lambda L, x: x[None, True],
    "int_true": lambda L, x: x[0, True],
    "ellipsis_false": lambda L, x: x[..., False],
    "ellipsis": lambda L, x: x[...],
    "step": lambda L, x: x[:, :, ::2],
}

INDEX_ERRORS = {
    "range_out_of_bounds": lambda L, x: x[range(0, 3, 2)],
    "list_out_of_bounds": lambda L, x: x[[0, 5]],
    "int_out_of_bounds_second_dim": lambda L, x: x[0, 7],
    "float_tensor_index": lambda L, x: x[L.tensor([1.0])],
    "lists_do_not_broadcast": lambda L, x: x[:, [0, 1], [0, 1, 2]],
    "mask_shape": lambda L, x: x[np.array([True, False, True])],
    "too_many_indices": lambda L, x: x[0, 0, 0, 0],
}


@pytest.mark.parametrize("name", list(INDEX_READS), ids=list(INDEX_READS))
def test_index_read(name):
    check_table(INDEX_READS, name)


@pytest.mark.parametrize("name", list(INDEX_READS), ids=list(INDEX_READS))
def test_index_read_without_grad(name):
    """Without a graph fgrad indexes with numpy: the same values and shapes (PyTorch's order for ints mixed
    with arrays, where numpy's differs)."""
    check(lambda L: INDEX_READS[name](L, L.tensor(X, dtype=L.float32)), torch)


@pytest.mark.parametrize("requires_grad", [True, False], ids=["graph", "no_graph"])
@pytest.mark.parametrize("name", list(INDEX_ERRORS), ids=list(INDEX_ERRORS))
def test_index_errors(name, requires_grad):
    check(lambda L: INDEX_ERRORS[name](L, L.tensor(X, dtype=L.float32, requires_grad=requires_grad)), torch)


# ---- indexing: writes ------------------------------------------------------------------------------------------

# each entry gives the index itself (not the indexed tensor)
INDEX_WRITES = {
    "range": lambda L: range(2),
    "list_columns": lambda L: (slice(None), [0, 2]),
    "mask": lambda L: L.tensor(X > 0.5),
    "none_int": lambda L: (None, 0),
    "ellipsis_int": lambda L: (Ellipsis, 1),
    "two_lists": lambda L: ([0, 1], [1, 2]),
    "numpy_mask": lambda L: np.array([True, False]),
    "true": lambda L: True,
    "false": lambda L: False,
    "int_ellipsis_list": lambda L: (0, Ellipsis, [1, 3]),
    "int_slice_list": lambda L: (1, slice(None), [0, 2]),
    "tensor_index": lambda L: L.tensor([1]),
    "slice_none_range": lambda L: (slice(1, None), None, range(2)),
    "empty_list": lambda L: [],
    "ints": lambda L: (0, 0, 0),
    "step": lambda L: (slice(None), slice(None), slice(None, None, 2)),
    "ellipsis_none": lambda L: (Ellipsis, None),
}


def _write(name):
    """y = x * 1; y[index] = ones * w (of the indexed shape); y times a constant: the write's node (CopySlices
    or IndexPutBackward0) and the gradients of x and w."""
    def build(L, x, w):
        y = x * 1
        index = INDEX_WRITES[name](L)
        y[index] = L.ones(y[index].shape) * w
        return y * L.tensor(X, dtype=L.float32)
    return build


@pytest.mark.parametrize("name", list(INDEX_WRITES), ids=list(INDEX_WRITES))
def test_index_write(name):
    check(with_grads(_write(name), (X, F32, True), (2.0, F32, True)), torch)


@pytest.mark.parametrize("name", list(INDEX_WRITES), ids=list(INDEX_WRITES))
def test_index_write_without_grad(name):
    def program(L):
        x = L.tensor(X, dtype=L.float32)
        x[INDEX_WRITES[name](L)] = -1.0
        return x
    check(program, torch)


# ---- legacy constructors ----------------------------------------------------------------------------------------

LEGACY = {
    "Tensor_list": lambda L: L.Tensor([1, 2]),
    "Tensor_nested": lambda L: L.Tensor([[1, 2], [3, 4]]),
    "Tensor_tuple_is_data": lambda L: L.Tensor((2, 3)),
    "Tensor_sizes": lambda L: L.Tensor(2, 3).shape,
    "Tensor_size_object": lambda L: L.Tensor(L.Size([2, 3])).shape,
    "Tensor_sizes_dtype": lambda L: repr(L.Tensor(2, 3).dtype),
    "Tensor_empty": lambda L: L.Tensor(),
    "Tensor_numpy": lambda L: L.Tensor(np.array([1, 2])),
    "Tensor_scalar": lambda L: L.Tensor(2.5),
    "Tensor_negative_size": lambda L: L.Tensor(-1),
    "FloatTensor": lambda L: L.FloatTensor([1, 2]),
    "FloatTensor_sizes": lambda L: (L.FloatTensor(2, 3).shape, repr(L.FloatTensor(2, 3).dtype)),
    "DoubleTensor": lambda L: L.DoubleTensor([1, 2]),
    "LongTensor": lambda L: L.LongTensor([1, 2]),
    "LongTensor_truncates": lambda L: L.LongTensor([1.7, -2.5]),
    "LongTensor_sizes": lambda L: (L.LongTensor(3).shape, repr(L.LongTensor(3).dtype)),
    "IntTensor": lambda L: L.IntTensor([1]),
    "BoolTensor": lambda L: L.BoolTensor([True, False]),
    "BoolTensor_ints": lambda L: L.BoolTensor([1, 0]),
    "ByteTensor": lambda L: L.ByteTensor([1, 255]),
    "FloatTensor_dtype": lambda L: repr(L.FloatTensor.dtype),
    "LongTensor_dtype": lambda L: repr(L.LongTensor.dtype),
    "Tensor_type_name": lambda L: L.DoubleTensor([1]).type(),
    "type_to_legacy": lambda L: L.tensor([1.5]).type(L.DoubleTensor),
    "isinstance_float": lambda L: [isinstance(L.zeros(2), t) for t in
                                   (L.FloatTensor, L.DoubleTensor, L.LongTensor, L.Tensor)],
    "isinstance_long": lambda L: [isinstance(L.tensor([1]), t) for t in
                                  (L.FloatTensor, L.LongTensor, L.IntTensor, L.BoolTensor)],
    "isinstance_legacy_result": lambda L: [isinstance(L.LongTensor([1]), L.LongTensor),
                                           isinstance(L.LongTensor([1]), L.Tensor),
                                           type(L.LongTensor([1])) is L.Tensor],
    "isinstance_not_tensor": lambda L: isinstance([1.0], L.FloatTensor),
    "LongTensor_of_float_tensor": lambda L: L.LongTensor(L.ones(2)),
}


@pytest.mark.parametrize("name", list(LEGACY), ids=list(LEGACY))
def test_legacy_constructor(name):
    check(LEGACY[name], torch, messages=False)


def test_legacy_constructor_messages():
    with pytest.raises(TypeError, match=r"new\(\): data must be a sequence \(got float\)"):
        fg.Tensor(2.5)
    with pytest.raises(RuntimeError, match=r"Trying to create tensor with negative dimension -1: \[-1\]"):
        fg.FloatTensor(-1)
    with pytest.raises(TypeError, match=r"LongTensor\(\) of a torch.float32 tensor: .*use tensor.to\(torch.int64\)"):
        fg.LongTensor(fg.ones(2))
    assert repr(fg.FloatTensor) == repr(torch.FloatTensor) == "<class 'torch.FloatTensor'>"


def test_legacy_tensor_of_tensor_is_it():
    x = fg.ones(2)
    assert fg.FloatTensor(x) is x and fg.Tensor(x) is x


# ---- function forms of in-place ops --------------------------------------------------------------------------

INPLACE_ARGS = {"clamp_": (-0.5, 0.5), "clip_": (-0.5, 0.5), "clamp_min_": (0.2,), "clamp_max_": (0.3,),
                "fill_": (2.0,)}
# where the function is defined: acosh needs x >= 1; the others take (0.1, 0.9)
INPLACE_DOMAIN = {"acosh_": (1.1, 1.9), "arccosh_": (1.1, 1.9)}
# PyTorch has no derivative for these in place ("the derivative for 'inplace version of acosh' is not
# implemented"); fgrad records the out-of-place node: compared without a graph
NO_INPLACE_DERIVATIVE = {"acosh_", "arccosh_", "asinh_", "arcsinh_", "atanh_", "arctanh_"}
INPLACE_NAMES = sorted(_methods.INPLACE_FUNCTIONS)


@pytest.mark.parametrize("name", INPLACE_NAMES, ids=INPLACE_NAMES)
def test_inplace_function(name):
    """torch.<name>(t, ...) writes into t and returns it; the node and gradients as PyTorch's."""
    lo, hi = INPLACE_DOMAIN.get(name, (0.1, 0.9))
    values = np.linspace(lo, hi, 6).reshape(2, 3).round(3)

    def build(L, x):
        y = x * 1 if x.requires_grad else x.clone()
        out = getattr(L, name)(y, *INPLACE_ARGS.get(name, ()))
        return [out, y, L.tensor(out is y)]
    check(with_grads(build, (values, F32, name not in NO_INPLACE_DERIVATIVE)), torch)


def test_inplace_functions_are_torchs():
    """Every torch.<name>_ fgrad defines exists in PyTorch, and every one of PyTorch's whose method fgrad has
    is defined."""
    ours = set(_methods.INPLACE_FUNCTIONS)
    assert all(hasattr(torch, name) for name in ours)
    torchs = {n for n in dir(torch) if n.endswith("_") and not n.startswith("_")}
    missing = {n for n in torchs if hasattr(fg.Tensor, n)} - ours
    assert not missing, f"torch functions whose in-place method fgrad has, missing as functions: {missing}"


def test_inplace_function_on_leaf_raises():
    check(lambda L: L.sin_(L.ones(2, requires_grad=True)), torch)


FUNCTIONAL_INPLACE = {
    "relu_": lambda L, x: L.nn.functional.relu_(x),
    "elu_": lambda L, x: L.nn.functional.elu_(x, alpha=0.5),
    "leaky_relu_": lambda L, x: L.nn.functional.leaky_relu_(x, 0.2),
}


@pytest.mark.parametrize("name", list(FUNCTIONAL_INPLACE), ids=list(FUNCTIONAL_INPLACE))
def test_functional_inplace(name):
    def build(L, x):
        y = x * 1
        out = FUNCTIONAL_INPLACE[name](L, y)
        return [out, y, L.tensor(out is y)]
    check(with_grads(build, (X, F32, True)), torch)


def test_functional_inplace_names_exist_in_torch():
    assert all(hasattr(torch.nn.functional, n) for n in fg_functional.__all__ if n.endswith("_"))


# ---- movedim, flatten/unflatten, chunk, split, where, masked_fill, tril/triu, T/mT ------------------------------

SHAPES = {
    "movedim_fn": lambda L, x: L.movedim(x, 0, 1),
    "movedim_method": lambda L, x: x.movedim(0, -1),
    "movedim_sequences": lambda L, x: x.movedim((0, 1), (2, 0)),
    "movedim_lists": lambda L, x: x.movedim([0, 1], [1, 0]),
    "movedim_same": lambda L, x: x.movedim(1, 1),
    "moveaxis_fn": lambda L, x: L.moveaxis(x, -1, 0),
    "moveaxis_method": lambda L, x: x.moveaxis((0, 2), (1, 0)),
    "movedim_keywords": lambda L, x: x.movedim(source=0, destination=2),
    "flatten_fn": lambda L, x: L.flatten(x),
    "flatten_range": lambda L, x: x.flatten(0, 1),
    "flatten_start": lambda L, x: x.flatten(start_dim=1),
    "flatten_negative": lambda L, x: x.flatten(-2, -1),
    "flatten_same_dim": lambda L, x: x.flatten(1, 1),
    "flatten_scalar": lambda L, x: x[0, 0, 0].flatten(),
    "unflatten_method": lambda L, x: x.unflatten(2, (2, 2)),
    "unflatten_infer": lambda L, x: x.unflatten(-1, (-1, 2)),
    "unflatten_fn_list": lambda L, x: L.unflatten(x, 1, [3, 1]),
    "chunk_fn": lambda L, x: L.chunk(x, 2, dim=2),
    "chunk_uneven": lambda L, x: x.chunk(2, 1),
    "chunk_more_than_size": lambda L, x: x.chunk(5, 1),
    "split_int": lambda L, x: L.split(x, 1),
    "split_int_dim": lambda L, x: x.split(3, dim=2),
    "split_list": lambda L, x: x.split([1, 2], dim=1),
    "split_tuple_negative_dim": lambda L, x: L.split(x, (3, 1), dim=-1),
    "where_three": lambda L, x: L.where(x > 0, x, 0.0),
    "where_scalar_first": lambda L, x: L.where(x > 0, 1.0, x),
    "where_tensors": lambda L, x: L.where(x > 0, x, x * 2),
    "where_scalars": lambda L, x: L.where(x > 0, 1.0, 0.0),
    "where_int_scalars": lambda L, x: L.where(x > 0, 1, 0),
    "where_one": lambda L, x: L.where(x > 0.5),
    "where_method": lambda L, x: x.where(x > 0, 1.0),
    "where_method_tensor": lambda L, x: x.where(x > 0, L.zeros(4)),
    "clamp_inplace": lambda L, x: (x * 1).clamp_(min=0),
    "clip_inplace": lambda L, x: (x * 1).clip_(-0.5, 0.5),
    "masked_fill_method": lambda L, x: x.masked_fill(x > 0, 0.0),
    "masked_fill_fn": lambda L, x: L.masked_fill(x, x > 0, 2.0),
    "masked_fill_broadcast_mask": lambda L, x: x.masked_fill(L.tensor([True, False, False, True]), 1.0),
    "masked_fill_tensor_value": lambda L, x: x.masked_fill(x > 0, L.tensor(3.0)),
    "masked_fill_grad_value": lambda L, x: x.masked_fill(x > 0, x[0, 0, 0]),
    "masked_fill_inplace": lambda L, x: (x * 1).masked_fill_(x > 0, 1.0),
    "tril_method": lambda L, x: x.tril(),
    "triu_method": lambda L, x: x.triu(1),
    "tril_fn_keyword": lambda L, x: L.tril(x, diagonal=-1),
    "triu_fn": lambda L, x: L.triu(x[0]),
    "tril_inplace": lambda L, x: (x * 1).tril_(),
    "triu_inplace": lambda L, x: (x * 1).triu_(-1),
    "swapdims_fn": lambda L, x: L.swapdims(x, 0, 2),
    "swapdims_method": lambda L, x: x.swapdims(0, 1),
    "swapaxes_method": lambda L, x: x.swapaxes(-1, 0),
    "T_matrix": lambda L, x: x[0].T,
    "T_vector": lambda L, x: x[0, 0].T,
    "mT": lambda L, x: x.mT,
    "mH": lambda L, x: x.mH,
    "H": lambda L, x: x[0].H,
}

SHAPE_ERRORS = {
    "movedim_repeated": lambda L, x: x.movedim((0, 0), (0, 1)),
    "movedim_lengths": lambda L, x: x.movedim((0, 1), (1,)),
    "movedim_out_of_range": lambda L, x: x.movedim(0, 3),
    "flatten_order": lambda L, x: x.flatten(2, 0),
    "unflatten_product": lambda L, x: x.unflatten(1, (2, 2)),
    "chunk_zero": lambda L, x: x.chunk(0),
    "split_sizes_sum": lambda L, x: x.split([2, 2], 1),
    "split_zero": lambda L, x: x.split(0),
    "where_float_condition": lambda L, x: L.where(x, x, x),
    "masked_fill_float_mask": lambda L, x: x.masked_fill(x, 1.0),
    "masked_fill_value_dims": lambda L, x: x.masked_fill(x > 0, L.ones(2, 3, 4)),
    "mT_vector": lambda L, x: x[0, 0].mT,
    "mH_vector": lambda L, x: x[0, 0].mH,
    "H_vector": lambda L, x: x[0, 0].H,
    "H_batch": lambda L, x: x.H,
    "clamp_inplace_no_bounds": lambda L, x: (x * 1).clamp_(),
    "clamp_inplace_leaf": lambda L, x: x.clamp_(min=0),
    "tril_vector": lambda L, x: x[0, 0].tril(),
}


@pytest.mark.parametrize("name", list(SHAPES), ids=list(SHAPES))
def test_shape_conventions(name):
    check_table(SHAPES, name)


@pytest.mark.parametrize("name", list(SHAPE_ERRORS), ids=list(SHAPE_ERRORS))
def test_shape_errors(name):
    check_table(SHAPE_ERRORS, name)


def test_unflatten_two_inferred_dims():
    with pytest.raises(RuntimeError, match="only one dimension can be inferred"):
        fg.ones(2, 4).unflatten(1, (-1, -1))
    with pytest.raises(RuntimeError, match="only one dimension can be inferred"):
        torch.ones(2, 4).unflatten(1, (-1, -1))


T_WARNINGS = {
    "3d": ((2, 3, 4), "The use of `x.T` on tensors of dimension other than 2 to reverse their shape is deprecated"),
    "0d": ((), "Tensor.T is deprecated on 0-D tensors. This function is the identity in these cases."),
}


@pytest.mark.parametrize("name", list(T_WARNINGS), ids=list(T_WARNINGS))
def test_T_deprecation_warning(name):
    """x.T warns as PyTorch does on tensors that are not matrices or vectors (PyTorch warns once per process,
    so its message is compared only when it still warns)."""
    shape, start = T_WARNINGS[name]
    messages = []
    for lib in (torch, fg):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            lib.zeros(shape).T
        messages.append([str(w.message).split(" (Triggered internally")[0] for w in caught
                         if issubclass(w.category, UserWarning)])
    assert len(messages[1]) == 1 and messages[1][0].startswith(start)
    assert messages[0] in ([], messages[1])


def test_T_of_vector_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fg.zeros(3).T.shape == (3,)
