"""torch.func (fgrad.func) on fgrad's transforms, and torch.autograd.functional, against PyTorch 2.13.

The transforms run the facade ops' programs through fgrad's evaluator, whose sums are numpy's (PyTorch sums in
its own order): float32 results agree to a few ulps, float64 ones to ~1e-15 relative.
"""
import sys

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp

torch = pytest.importorskip("torch")

LIBS = {"fgrad": fgrad, "torch": torch}


def as_numpy(x):
    if isinstance(x, (tuple, list)):
        return [as_numpy(v) for v in x]
    if isinstance(x, dict):
        return {k: as_numpy(v) for k, v in x.items()}
    return x.detach().numpy() if hasattr(x, "detach") else np.asarray(x)


def assert_close(a, b, rtol=1e-12, atol=1e-12):
    if isinstance(a, dict):
        assert list(a) == list(b)                     # PyTorch's dicts keep insertion order
        for k in a:
            assert_close(a[k], b[k], rtol, atol)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_close(x, y, rtol, atol)
    else:
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def both(fn):
    """fn(L) for fgrad and torch, as numpy values."""
    return {name: as_numpy(fn(L)) for name, L in LIBS.items()}


def check(fn, rtol=1e-12, atol=1e-12):
    r = both(fn)
    assert_close(r["fgrad"], r["torch"], rtol, atol)
    return r["fgrad"]


def data(L, *shape, seed=0):
    return L.tensor(np.random.default_rng(seed).uniform(-1, 1, shape), dtype=L.float64)


# ---- the transforms ---------------------------------------------------------------------------------------------

CASES = {
    "grad": lambda L: L.func.grad(lambda x: (x.sin() * x).sum())(data(L, 4)),
    "grad_argnums_tuple": lambda L: L.func.grad(lambda x, y: (x * y.exp()).sum(), argnums=(0, 1))(data(L, 3),
                                                                                                data(L, 3, seed=1)),
    "grad_argnums_1": lambda L: L.func.grad(lambda x, y: (x @ y).tanh().sum(), argnums=1)(data(L, 2, 3),
                                                                                       data(L, 3, 2, seed=1)),
    "grad_has_aux": lambda L: L.func.grad(lambda x: ((x ** 2).sum(), x.cos()), has_aux=True)(data(L, 3)),
    "grad_and_value": lambda L: L.func.grad_and_value(lambda x: (x ** 3).mean())(data(L, 5)),
    "grad_and_value_aux": lambda L: L.func.grad_and_value(lambda x: ((x ** 3).mean(), x * 2), has_aux=True)(
        data(L, 5)),
    "grad_of_grad": lambda L: L.func.grad(lambda x: L.func.grad(lambda y: (y.sin() * y).sum())(x).sum())(
        data(L, 3)),
    "grad_dict": lambda L: L.func.grad(lambda p: (p["w"] * p["b"].exp()).sum())(
        {"w": data(L, 2), "b": data(L, 2, seed=2)}),
    "vjp": lambda L: (lambda r: (r[0], r[1](data(L, 3, seed=3))))(L.func.vjp(lambda x: x.exp() * x, data(L, 3))),
    "vjp_two_primals": lambda L: L.func.vjp(lambda x, y: x * y, data(L, 3), data(L, 3, seed=1))[1](
        data(L, 3, seed=2)),
    "vjp_has_aux": lambda L: (lambda r: (r[0], r[1](data(L, 2)), r[2]))(
        L.func.vjp(lambda x: (x.sin(), x.sum()), data(L, 2), has_aux=True)),
    "jvp": lambda L: L.func.jvp(lambda x: x.sigmoid() * x, (data(L, 4),), (data(L, 4, seed=1),)),
    "jvp_two": lambda L: L.func.jvp(lambda x, y: (x @ y).relu(), (data(L, 2, 3), data(L, 3, seed=1)),
                                    (data(L, 2, 3, seed=2), data(L, 3, seed=3))),
    "jacrev": lambda L: L.func.jacrev(lambda x: x.softmax(0))(data(L, 4)),
    "jacrev_argnums": lambda L: L.func.jacrev(lambda x, w: (x @ w).sin(), argnums=(0, 1))(data(L, 3),
                                                                                         data(L, 3, 2, seed=1)),
    "jacfwd": lambda L: L.func.jacfwd(lambda x: x.exp().cumsum(0))(data(L, 4)),
    "jacfwd_argnums": lambda L: L.func.jacfwd(lambda x, w: (x * w).log1p(), argnums=1)(data(L, 3).abs(),
                                                                                     data(L, 3, seed=1).abs()),
    "hessian": lambda L: L.func.hessian(lambda x: (x.tanh() ** 2).sum())(data(L, 4)),
    "jacrev_of_jacfwd": lambda L: L.func.jacrev(L.func.jacfwd(lambda x: (x ** 3).sum()))(data(L, 3)),
    "vmap": lambda L: L.func.vmap(lambda x, y: (x * y).sum())(data(L, 4, 3), data(L, 4, 3, seed=1)),
    "vmap_in_dims": lambda L: L.func.vmap(lambda x, w: x @ w, in_dims=(1, None))(data(L, 3, 5),
                                                                               data(L, 3, 2, seed=1)),
    "vmap_out_dims": lambda L: L.func.vmap(lambda x: x.exp(), out_dims=1)(data(L, 4, 3)),
    "vmap_kwargs_unmapped": lambda L: L.func.vmap(lambda x, scale: x * scale)(data(L, 4, 3), scale=data(L, 3)),
    "vmap_tuple_output": lambda L: L.func.vmap(lambda x: (x.sum(), x.max()))(data(L, 4, 3)),
    "vmap_nested": lambda L: L.func.vmap(L.func.vmap(lambda a, b: a * b))(data(L, 2, 3), data(L, 2, 3, seed=1)),
    "vmap_of_grad": lambda L: L.func.vmap(L.func.grad(lambda x: (x.sin() * x).sum()))(data(L, 5, 2)),
    "vmap_of_jacrev": lambda L: L.func.vmap(L.func.jacrev(lambda x: x.tanh()))(data(L, 3, 2)),
    "linearize": lambda L: (lambda r: (r[0], r[1](data(L, 3, seed=1))))(L.func.linearize(lambda x: x.sin() * x,
                                                                                          data(L, 3))),
}


@pytest.mark.parametrize("name", list(CASES))
def test_transform_matches_torch(name):
    check(CASES[name], rtol=1e-13, atol=1e-14)


def test_dict_gradients_keep_the_argument_key_order():
    g = fgrad.func.grad(lambda p: (p["z"] * p["a"]).sum())({"z": fgrad.ones(2), "a": fgrad.ones(2) * 2})
    assert list(g) == ["z", "a"]
    np.testing.assert_array_equal(g["z"].numpy(), [2.0, 2.0])


def test_results_are_tensors_of_the_argument_dtype():
    g = fgrad.func.grad(lambda x: (x * x).sum())(fgrad.tensor([1.0, 2.0]))
    assert isinstance(g, fgrad.Tensor) and g.dtype == fgrad.float32 and g.grad_fn is None


def test_float32_transform_close_to_torch():
    check(lambda L: L.func.vmap(L.func.grad(lambda x: (x.exp() * x).sum()))(
        L.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))), rtol=2e-7, atol=1e-7)


# ---- modules: functional_call, per-example gradients, ensembles ----------------------------------------------------

def _model(L):
    L.manual_seed(0)
    return L.nn.Sequential(L.nn.Linear(6, 8), L.nn.ReLU(), L.nn.Linear(8, 3)).double()


def _per_example_grads(L):
    model = _model(L)
    x = data(L, 5, 6)
    y = L.tensor([0, 2, 1, 1, 0])
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(params, sample, target):
        out = L.func.functional_call(model, params, (sample.unsqueeze(0),))
        return L.nn.functional.cross_entropy(out, target.unsqueeze(0))
    return L.func.vmap(L.func.grad(loss), in_dims=(None, 0, 0))(params, x, y)


def test_per_example_gradients_match_torch():
    grads = check(_per_example_grads, rtol=1e-12, atol=1e-14)
    assert list(grads) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert grads["0.weight"].shape == (5, 8, 6)


def test_per_example_gradients_equal_one_backward_per_example():
    model = _model(fgrad)
    grads = _per_example_grads(fgrad)
    x, y = data(fgrad, 5, 6), fgrad.tensor([0, 2, 1, 1, 0])
    for i in range(5):
        model.zero_grad()
        fgrad.nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        np.testing.assert_allclose(grads["2.weight"][i].numpy(), model[2].weight.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_functional_call_leaves_the_module_unchanged_and_records_a_graph():
    for L in LIBS.values():
        lin = L.nn.Linear(2, 1)
        weight = L.tensor([[1.0, -2.0]], requires_grad=True)
        out = L.func.functional_call(lin, {"weight": weight, "bias": L.zeros(1)}, L.tensor([3.0, 1.0]))
        assert out.item() == 1.0 and lin.weight is not weight
        out.backward()
        np.testing.assert_array_equal(weight.grad.numpy(), [[3.0, 1.0]])


def test_functional_call_with_a_tuple_of_dicts_and_kwargs():
    def run(L):
        model = _model(L)
        params = dict(model.named_parameters())
        first, second = dict(list(params.items())[:2]), dict(list(params.items())[2:])
        return L.func.functional_call(model, (first, second), args=(), kwargs={"input": data(L, 2, 6)})
    check(run)


def test_functional_call_strict_and_unexpected_keys():
    lin = fgrad.nn.Linear(2, 1)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        fgrad.func.functional_call(lin, {"weights": fgrad.ones(1, 2)}, (fgrad.ones(2),))
    with pytest.raises(RuntimeError, match="Missing key"):
        fgrad.func.functional_call(lin, {"weight": fgrad.ones(1, 2)}, (fgrad.ones(2),), strict=True)


def test_ensemble_with_stack_module_state_matches_torch():
    def run(L):
        L.manual_seed(1)
        models = [L.nn.Linear(3, 2).double() for _ in range(4)]
        params, buffers = L.func.stack_module_state(models)
        base = models[0]

        def call(p, b, x):
            return L.func.functional_call(base, (p, b), (x,))
        return L.func.vmap(call, in_dims=(0, 0, None))(params, buffers, data(L, 5, 3))
    out = check(run)
    assert out.shape == (4, 5, 2)


# ---- composing with jit and the top-level transforms -----------------------------------------------------------

def test_jit_of_a_func_transform_compiles_and_matches():
    f = fgrad.func.vmap(fgrad.func.grad(lambda x: (x.sin() * x).sum()))
    x = data(fgrad, 4, 3)
    np.testing.assert_allclose(fgrad.jit(f)(x).numpy(), f(x).numpy(), rtol=1e-14)


def test_top_level_transforms_accept_facade_functions():
    x = data(fgrad, 3)
    expected = np.diag(np.exp(x.numpy()))
    for transform in (fgrad.jacrev, fgrad.jacfwd):
        j = transform(lambda t: t.exp())(x)
        assert isinstance(j, fgrad.Tensor)
        np.testing.assert_allclose(j.numpy(), expected, rtol=1e-15)
    np.testing.assert_allclose(fgrad.grad(lambda t: (t ** 2).sum())(x).numpy(), 2 * x.numpy())
    np.testing.assert_allclose(fgrad.vmap(lambda t: t.sum())(data(fgrad, 2, 3)).numpy(),
                               data(fgrad, 2, 3).numpy().sum(1))


def test_program_of_a_facade_function_is_fgrads_ir():
    program = fgrad.make_ir(lambda t: (t.sin() * 2.0).sum())(fgrad.ones(3, dtype=fgrad.float64))
    text = str(program)
    assert "sin" in text and "reduce_sum" in text


def test_import_styles():
    sys.modules["torch_alias_for_func_test"] = fgrad
    try:
        from torch_alias_for_func_test.func import grad, vmap  # noqa: F401
        import torch_alias_for_func_test.autograd.functional as functional
        import torch_alias_for_func_test.autograd.forward_ad as fwAD
    finally:
        del sys.modules["torch_alias_for_func_test"]
    assert grad is fgrad.func.grad and functional.jacobian is fgrad.autograd.functional.jacobian
    assert fwAD.make_dual is fgrad.autograd.forward_ad.make_dual


def test_bad_randomness_is_refused_as_in_torch():
    for L in LIBS.values():
        with pytest.raises(RuntimeError, match="Only allowed values for randomness"):
            L.func.vmap(lambda x: x, randomness="sometimes")(L.ones(2))


GRAD_ERRORS = {
    "non_scalar": lambda L: L.func.grad(lambda x: x * 2)(L.ones(3)),
    "non_scalar_grad_and_value": lambda L: L.func.grad_and_value(lambda x: x * 2)(L.ones(3)),
    "not_a_tensor": lambda L: L.func.grad(lambda x: 2.0)(L.ones(3)),
    "aux_not_a_pair": lambda L: L.func.grad(lambda x: (x.sum(), 1, 2), has_aux=True)(L.ones(3)),
    "argnum_out_of_range": lambda L: L.func.grad(lambda x: x.sum(), argnums=3)(L.ones(3)),
    "integer_input": lambda L: L.func.grad(lambda x: x.sum())(L.ones(3, dtype=L.long)),
}


@pytest.mark.parametrize("name", list(GRAD_ERRORS))
def test_grad_errors_match_torch(name):
    messages = []
    for L in LIBS.values():
        with pytest.raises(RuntimeError) as info:
            GRAD_ERRORS[name](L)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_raw_traced_values_in_facade_ops_still_name_the_mix_up():
    with pytest.raises(TypeError, match="PyTorch-facade op"):
        fgrad.grad(lambda x: fnp.sum(fgrad.sin(x)))(np.ones(2))


# ---- torch.autograd.functional --------------------------------------------------------------------------------------

def _f(x, y):
    return (x.sin() * y).cumsum(0)


def _scalar(x, y):
    return (x.exp() * y ** 2).sum()


FUNCTIONAL = {
    "jacobian": lambda L: L.autograd.functional.jacobian(_f, (data(L, 3), data(L, 3, seed=1))),
    "jacobian_single": lambda L: L.autograd.functional.jacobian(lambda x: x.tanh(), data(L, 3)),
    "jacobian_vectorize": lambda L: L.autograd.functional.jacobian(lambda x: x.exp(), data(L, 3), vectorize=True),
    "hessian": lambda L: L.autograd.functional.hessian(_scalar, (data(L, 2), data(L, 2, seed=1))),
    "hessian_single": lambda L: L.autograd.functional.hessian(lambda x: (x ** 3).sum(), data(L, 3)),
    "vjp": lambda L: L.autograd.functional.vjp(_f, (data(L, 3), data(L, 3, seed=1)), data(L, 3, seed=2)),
    "jvp": lambda L: L.autograd.functional.jvp(_f, (data(L, 3), data(L, 3, seed=1)),
                                               (data(L, 3, seed=2), data(L, 3, seed=3))),
    "hvp": lambda L: L.autograd.functional.hvp(_scalar, (data(L, 2), data(L, 2, seed=1)),
                                               (data(L, 2, seed=2), data(L, 2, seed=3))),
    "vhp": lambda L: L.autograd.functional.vhp(_scalar, (data(L, 2), data(L, 2, seed=1)),
                                               (data(L, 2, seed=2), data(L, 2, seed=3))),
}


@pytest.mark.parametrize("name", list(FUNCTIONAL))
def test_autograd_functional_matches_torch(name):
    check(FUNCTIONAL[name], rtol=1e-13, atol=1e-14)


def test_autograd_functional_create_graph_differentiates_again():
    for L in LIBS.values():
        x = data(L, 3).requires_grad_()
        jac = L.autograd.functional.jacobian(lambda t: t ** 3, x, create_graph=True)
        assert jac.requires_grad
        jac.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), 6 * x.detach().numpy(), rtol=1e-14)


def test_autograd_functional_strict_refuses_an_independent_output():
    for L in LIBS.values():
        with pytest.raises(RuntimeError, match="independent of input 0"):
            L.autograd.functional.jacobian(lambda x, y: y * 2, (data(L, 2), data(L, 2)), strict=True)


# ---- composing with autograd: arguments that require grad ------------------------------------------------------

def test_grad_of_inputs_that_require_grad_records_a_graph_as_torch():
    for L in LIBS.values():
        x = data(L, 3).requires_grad_()
        g = L.func.grad(lambda t: (t ** 3).sum())(x)
        assert g.requires_grad
        g.sum().backward()                                 # d/dx sum(3 x^2) = 6 x
        np.testing.assert_allclose(x.grad.numpy(), 6 * x.detach().numpy(), rtol=1e-14)


def test_meta_learning_step_through_per_example_gradients():
    def run(L):
        model = _model(L)
        params = {k: v.detach().requires_grad_() for k, v in model.named_parameters()}
        x, y = data(L, 5, 6), L.tensor([0, 2, 1, 1, 0])

        def loss(p, sample, target):
            out = L.func.functional_call(model, p, (sample.unsqueeze(0),))
            return L.nn.functional.cross_entropy(out, target.unsqueeze(0))
        grads = L.func.vmap(L.func.grad(loss), in_dims=(None, 0, 0))(params, x, y)
        (sum((g ** 2).sum() for g in grads.values())).backward()
        return {k: p.grad for k, p in params.items()}
    check(run, rtol=1e-11, atol=1e-14)


def test_ensemble_outputs_require_grad_through_stacked_parameters():
    def run(L):
        L.manual_seed(3)
        models = [L.nn.Linear(3, 2).double() for _ in range(2)]
        params, buffers = L.func.stack_module_state(models)
        out = L.func.vmap(lambda p, b, x: L.func.functional_call(models[0], (p, b), (x,)),
                          in_dims=(0, 0, None))(params, buffers, data(L, 4, 3))
        row = out[:, 0]
        assert repr(row).endswith("grad_fn=<SelectBackward0>)")
        out.pow(2).sum().backward()
        return [params["weight"].grad, params["bias"].grad]
    check(run, rtol=1e-13)


def test_top_level_vmap_takes_torchs_keywords():
    # torch.vmap is fgrad.vmap under `import fgrad as torch`: in_dims/out_dims, keyword arguments unmapped
    def run(L):
        return L.vmap(lambda x, w, scale=None: (x @ w) * scale, in_dims=(1, None), out_dims=0)(
            data(L, 3, 4), data(L, 3, 2, seed=1), scale=data(L, 2, seed=2))
    check(run, rtol=1e-14)
    with pytest.raises(RuntimeError, match="Only allowed values for randomness"):
        fgrad.vmap(lambda x: x, randomness="sometimes")


# ---- facade code under the transforms: a sweep of common ops ----------------------------------------------------

def _setitem(L, t):
    u = t.clone()
    u[0] = t[1] * 2
    u[:, 1:3] += t[:, :2]
    return u


SWEEP = {
    "reshape_view_flatten": lambda L, t: t.reshape(-1) + t.view(15) + t.flatten(),
    "permute_transpose_t": lambda L, t: t.permute(1, 0) + t.transpose(0, 1) + t.t(),
    "squeeze_unsqueeze": lambda L, t: t.unsqueeze(0).squeeze(0), "cat": lambda L, t: L.cat([t, t], 1),
    "stack": lambda L, t: L.stack([t, t]), "split_chunk": lambda L, t: t.split(2, 1)[1].sum() + t.chunk(3, 0)[0],
    "index_select": lambda L, t: t.index_select(0, L.tensor([0, 2])), "getitem_int_slice": lambda L, t: t[1] + t[:, 1:3].sum(),
    "getitem_tensor_mask": lambda L, t: t[L.tensor([0, 2])].sum() + t[:, L.tensor([True, False, True, False, True])],
    "where_masked_fill_clamp": lambda L, t: L.where(t > 0, t, t * 2) + t.masked_fill(t > 0.5, 0.0) + t.clamp(-0.5, 0.5),
    "softmax_log_softmax": lambda L, t: t.softmax(-1) + L.nn.functional.log_softmax(t, 1),
    "logsumexp_mean_var_std": lambda L, t: t.logsumexp(1) + t.mean(1) + t.var(1) + t.std(0).sum(),
    "max_argmax_amax": lambda L, t: t.max(1).values + (t * t.argmax(1, keepdim=True)).sum(1) + t.amax(1),
    "matmul_mm": lambda L, t: t @ t.t() + t.mm(t.t()), "cumsum_prod": lambda L, t: t.cumsum(1) + t.prod(1, keepdim=True),
    "linear": lambda L, t: L.nn.functional.linear(t, t[:2]), "mse": lambda L, t: L.nn.functional.mse_loss(t, t * 0.5),
    "cross_entropy": lambda L, t: L.nn.functional.cross_entropy(t, L.tensor([1, 0, 2])),
    "bce_with_and_without_logits": lambda L, t: (
        L.nn.functional.binary_cross_entropy_with_logits(t, (t > 0).to(t.dtype))
        + L.nn.functional.binary_cross_entropy(t.sigmoid(), (t > 0).to(t.dtype))),
    "norm_pow_sqrt": lambda L, t: t.norm(dim=1).sum() + (t ** 2 + 1).sqrt(),
    "expand_repeat_flip_gather": lambda L, t: t[:1].expand(3, 5) + t.repeat(2, 1)[:3] + t.flip(0)
    + t.gather(1, L.zeros(3, 5, dtype=L.long)),
    "clone_detach": lambda L, t: t.clone() * t.detach(), "dtype_casts": lambda L, t: t.to(L.float32).double(),
    "contiguous": lambda L, t: t.t().contiguous(), "in_place_ops": lambda L, t: t.clone().add_(1.0).mul_(t),
    "setitem": _setitem,
}


@pytest.mark.parametrize("name", list(SWEEP))
def test_per_example_gradients_of_facade_code_match_torch(name):
    fn = SWEEP[name]

    def run(L):
        return L.func.vmap(L.func.grad(lambda t: (fn(L, t) ** 2).sum()))(data(L, 4, 3, 5))
    check(run, rtol=1e-12, atol=1e-13)


def test_sorting_under_a_transform_says_why_not():
    with pytest.raises(NotImplementedError, match="no sort primitive"):
        fgrad.func.grad(lambda t: t.sort().values.sum())(fgrad.ones(3))


def test_vmap_randomness_modes_as_torch():
    for L in LIBS.values():
        with pytest.raises(RuntimeError, match="called random operation while in randomness error mode"):
            L.func.vmap(lambda x: x + L.randn(3))(L.zeros(4, 3))
    with pytest.raises(NotImplementedError, match="randomness='same'"):
        fgrad.func.vmap(lambda x: x.uniform_(), randomness="different")(fgrad.zeros(4, 3))

    def same(L):
        L.manual_seed(5)
        out = L.func.vmap(lambda x: x + L.randn(3), randomness="same")(L.zeros(4, 3))
        return out, L.rand(2)                           # and the stream continues from the same place
    check(same, rtol=0, atol=0)

    def different(L):
        L.manual_seed(5)
        out = L.func.vmap(lambda x: x + L.randn(3), randomness="different")(L.zeros(20, 3))
        return out, L.rand(2)
    check(different, rtol=0, atol=0)
