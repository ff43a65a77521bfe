"""fgrad.lax control flow: values against Python, derivatives against finite differences and analytic ones,
reverse mode through data-dependent while loops (eager and jitted, to second order), batching against
stacking, parity with JAX, errors, and golden printed programs.

The registry tests (test_primitive_rules, test_vmap, test_jit_primitives) run the cond, while and scan
primitives' own rules on the samples of samples_control.py; this module checks the user-facing functions.
"""
import pathlib

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import lax
from fgrad.backend.codegen import without_locations

GOLDEN = pathlib.Path(__file__).parent / "golden"


def fd_grad(f, x, eps=1e-6):
    """Central finite differences of scalar f at array x."""
    x = np.asarray(x, float)
    g = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[k] = eps
        g[k] = (float(f(x + e)) - float(f(x - e))) / (2 * eps)
    return g


# ---- values ----------------------------------------------------------------------------------------------

def test_cond_and_switch_take_one_branch_with_pytrees():
    x = {"a": np.array([1.0, 2.0]), "b": 3.0}
    out = lax.cond(True, lambda p: (p["a"] * p["b"], p["b"]), lambda p: (p["a"] - 1.0, -p["b"]), x)
    np.testing.assert_allclose(out[0], [3.0, 6.0])
    out = lax.cond(np.float32(0.0), lambda p: (p["a"] * p["b"], p["b"]), lambda p: (p["a"] - 1.0, -p["b"]), x)
    np.testing.assert_allclose(out[0], [0.0, 1.0])
    fs = [lambda v: v + 1.0, lambda v: v * 10.0, lambda v: -v]
    assert [float(lax.switch(i, fs, 2.0)) for i in (-3, 0, 1, 2, 7)] == [3.0, 3.0, 20.0, -2.0, -2.0]


def test_while_fori_scan_and_map_compute_what_python_does():
    assert float(lax.while_loop(lambda v: v < 100.0, lambda v: v * 3.0, 1.0)) == 243.0
    assert int(lax.fori_loop(2, 6, lambda i, acc: acc + i * i, 0)) == sum(i * i for i in range(2, 6))
    n = fgrad.jit(lambda k: lax.fori_loop(0, k, lambda i, acc: acc + i, 0))
    assert int(n(5)) == 10
    xs = np.arange(1.0, 6.0)
    carry, ys = lax.scan(lambda c, x: (c * x, c + x), 1.0, xs)
    ref_c, ref_ys = 1.0, []
    for x in xs:
        ref_ys.append(ref_c + x)
        ref_c *= x
    assert float(carry) == ref_c
    np.testing.assert_allclose(ys, ref_ys)
    carry, ys = lax.scan(lambda c, x: (c + x, c), 0.0, xs, reverse=True)
    np.testing.assert_allclose(ys, [14.0, 12.0, 9.0, 5.0, 0.0])
    np.testing.assert_allclose(lax.map(lambda x: {"s": x * 2.0}, xs)["s"], xs * 2.0)
    assert lax.fori_loop(0, 0, lambda i, v: v * 2.0, 1.5) == 1.5


def test_closed_over_values_become_operands():
    w = np.array([2.0, 3.0])
    program = fgrad.make_ir(lambda x: lax.cond(x[0] > 0, lambda v: v * w, lambda v: v, x))(np.ones(2))
    (eqn,) = [e for e in program.equations if e.prim.name == "cond"]
    for branch in eqn.params["branches"]:
        assert len(branch.inputs) == len(eqn.inputs) - 1          # every closed-over value is an operand
    fgrad.check(program)


# ---- derivatives ------------------------------------------------------------------------------------------

def newton_sqrt(a):
    """sqrt(a) by Newton's method: the trip count depends on a."""
    return lax.while_loop(lambda x: fnp.abs(x * x - a) > 1e-12 * a, lambda x: 0.5 * (x + a / x), a)


def newton_vector_root(p):
    """The root of x**3 + p*x - 1 = 0 per element, by a Newton loop until every element converged."""
    def residual(x):
        return x ** 3 + p * x - 1.0

    def keep_going(x):
        return fnp.max(fnp.abs(residual(x))) > 1e-13

    return lax.while_loop(keep_going, lambda x: x - residual(x) / (3.0 * x ** 2 + p), fnp.ones_like(p))


def doubling(x):
    """Doubles a counter until it passes 10, multiplying an accumulator by x each time."""
    return lax.while_loop(lambda c: c[0] < 10.0, lambda c: (c[0] * 2.0, c[1] * x), (x, 1.0))[1]


def overwritten_state(w):
    """A vector state overwritten every iteration, a data-dependent number of times."""
    def step(c):
        i, v = c
        return i + 1, fnp.tanh(w @ v + 0.1)
    return fnp.sum(lax.while_loop(lambda c: (c[0] < 6) & (fnp.sum(c[1]) < 50.0), step, (0, fnp.ones(3)))[1] ** 2)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_reverse_mode_through_data_dependent_while_loops(jit):
    wrap = fgrad.jit if jit else (lambda f: f)
    a = 5.0
    np.testing.assert_allclose(wrap(fgrad.grad(newton_sqrt))(a), 0.5 / np.sqrt(a), rtol=1e-10)
    np.testing.assert_allclose(wrap(fgrad.grad(fgrad.grad(newton_sqrt)))(a), -0.25 * a ** -1.5, rtol=1e-8)
    p = np.array([0.5, 1.0, 2.0])
    loss = lambda q: fnp.sum(newton_vector_root(q) ** 2)    # noqa: E731
    root = newton_vector_root(p)
    # d root / d p = -root / (3 root^2 + p) (implicit function theorem)
    np.testing.assert_allclose(wrap(fgrad.grad(loss))(p), 2 * root * -root / (3 * root ** 2 + p), rtol=1e-8)
    np.testing.assert_allclose(wrap(fgrad.grad(doubling))(1.5), 3 * 1.5 ** 2, rtol=1e-12)     # 3 doublings
    np.testing.assert_allclose(wrap(fgrad.grad(doubling))(0.7), 4 * 0.7 ** 3, rtol=1e-12)     # 4 doublings
    w = np.array([[0.3, -0.2, 0.1], [0.05, 0.4, -0.3], [0.2, 0.1, 0.25]])
    np.testing.assert_allclose(wrap(fgrad.grad(overwritten_state))(w), fd_grad(overwritten_state, w), rtol=1e-6)
    traced_bound = lambda x, n: lax.fori_loop(0, n, lambda i, v: v * x + fnp.sin(v), 0.5)   # noqa: E731
    g = wrap(fgrad.grad(traced_bound))(1.1, 7)
    np.testing.assert_allclose(g, fd_grad(lambda x: traced_bound(x, 7), np.array(1.1)), rtol=1e-6)


def test_forward_mode_and_hessians_through_loops():
    a = 3.0
    out, dot = fgrad.jvp(newton_sqrt, (a,), (1.0,))
    np.testing.assert_allclose(dot, 0.5 / np.sqrt(a), rtol=1e-10)
    p = np.array([0.5, 1.0])
    h = fgrad.hessian(lambda q: fnp.sum(newton_vector_root(q) ** 2))(p)
    h_rev = fgrad.jacrev(fgrad.grad(lambda q: fnp.sum(newton_vector_root(q) ** 2)))(p)
    np.testing.assert_allclose(h, h_rev, rtol=1e-7)


def rnn_loss(params, xs):
    w, u = params

    def cell(h, x):
        h = fnp.tanh(w @ h + u * x)
        return h, fnp.sum(h)
    h, ys = lax.scan(cell, fnp.zeros(w.shape[0]), xs)
    return fnp.sum(ys) + fnp.sum(h ** 2)


def test_scan_gradients_to_second_order():
    rng = np.random.default_rng(0)
    w, u, xs = 0.4 * rng.standard_normal((3, 3)), rng.standard_normal(3), rng.standard_normal(6)
    gw = fgrad.grad(rnn_loss)((w, u), xs)[0]
    np.testing.assert_allclose(gw, fd_grad(lambda m: rnn_loss((m, u), xs), w), rtol=1e-6)
    hvp = fgrad.jvp(lambda m: fgrad.grad(rnn_loss)((m, u), xs)[0], (w,), (np.ones_like(w),))[1]
    fd = (fgrad.grad(rnn_loss)((w + 1e-6, u), xs)[0] - fgrad.grad(rnn_loss)((w - 1e-6, u), xs)[0]) / 2e-6
    np.testing.assert_allclose(hvp, fd, rtol=1e-5, atol=1e-8)


def test_cond_differentiates_the_branch_taken():
    f = lambda x: lax.cond(x > 0, lambda v: v ** 3, lambda v: fnp.sin(v), x)   # noqa: E731
    assert float(fgrad.grad(f)(2.0)) == 12.0
    np.testing.assert_allclose(fgrad.grad(f)(-1.0), np.cos(-1.0))
    np.testing.assert_allclose(fgrad.grad(fgrad.grad(f))(2.0), 12.0)


def test_checkpoint_gives_the_same_gradients_and_recomputes():
    f = lambda x: fnp.sum(fnp.sin(fnp.exp(x) * x))    # noqa: E731
    x = np.linspace(0.1, 1.0, 4)
    np.testing.assert_allclose(fgrad.grad(fgrad.checkpoint(f))(x), fgrad.grad(f)(x), rtol=1e-14)
    program = fgrad.make_ir(fgrad.value_and_grad(fgrad.checkpoint(f)))(x)
    calls = [e for e in program.equations if e.prim.name == "checkpoint"]
    assert len(calls) == 2          # the forward call, and the reverse sweep that recomputes it
    assert not [e for e in program.equations if e.prim.name == "exp"]     # no intermediate kept outside
    np.testing.assert_allclose(fgrad.jit(fgrad.grad(fgrad.checkpoint(f)))(x), fgrad.grad(f)(x), rtol=1e-14)


# ---- batching ---------------------------------------------------------------------------------------------

def test_vmap_of_a_while_loop_runs_members_to_their_own_end():
    a = np.array([4.0, 9.0, 2.0, 100.0])
    np.testing.assert_allclose(fgrad.vmap(newton_sqrt)(a), np.sqrt(a), rtol=1e-12)
    np.testing.assert_allclose(fgrad.vmap(fgrad.grad(newton_sqrt))(a), 0.5 / np.sqrt(a), rtol=1e-10)
    np.testing.assert_allclose(fgrad.grad(lambda v: fnp.sum(fgrad.vmap(newton_sqrt)(v)))(a), 0.5 / np.sqrt(a),
                               rtol=1e-10)
    xs = np.array([1.5, 0.7, 3.0])
    np.testing.assert_allclose(fgrad.vmap(fgrad.grad(doubling))(xs), [fgrad.grad(doubling)(x) for x in xs])
    np.testing.assert_allclose(fgrad.jit(fgrad.vmap(fgrad.grad(doubling)))(xs), [fgrad.grad(doubling)(x) for x in xs])


def test_vmap_of_cond_with_a_batched_predicate_selects_per_member():
    f = lambda x: lax.cond(x > 0, lambda v: v * v, lambda v: -v, x)    # noqa: E731
    np.testing.assert_allclose(fgrad.vmap(f)(np.array([-2.0, 3.0])), [2.0, 9.0])
    np.testing.assert_allclose(fgrad.vmap(fgrad.grad(f))(np.array([-2.0, 3.0])), [-1.0, 6.0])


def test_vmap_of_scan_and_per_example_rnn_gradients():
    rng = np.random.default_rng(1)
    w, u = 0.4 * rng.standard_normal((3, 3)), rng.standard_normal(3)
    batch = rng.standard_normal((4, 6))
    per_example = fgrad.vmap(fgrad.grad(rnn_loss), in_axes=(None, 0))((w, u), batch)
    for k in range(4):
        one = fgrad.grad(rnn_loss)((w, u), batch[k])
        np.testing.assert_allclose(per_example[0][k], one[0], rtol=1e-12)
        np.testing.assert_allclose(per_example[1][k], one[1], rtol=1e-12)


# ---- errors -----------------------------------------------------------------------------------------------

def test_branch_and_carry_type_mismatches_name_the_leaf_and_both_types():
    with pytest.raises(TypeError, match=r"true_fun.*f32\[\].*false_fun returns it as f64\[\]"):
        lax.cond(True, lambda x: x.astype(np.float32), lambda x: x, 1.0)
    with pytest.raises(TypeError, match=r"init_val\[1\] has type f64\[2\] but enters the loop as f64\[3\]"):
        lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1][:2]), (0, np.ones(3)))
    with pytest.raises(TypeError, match="structure"):
        lax.fori_loop(0, 3, lambda i, c: (c, c), 1.0)
    with pytest.raises(TypeError, match="bool scalar"):
        lax.while_loop(lambda x: x, lambda x: x, 1.0)
    with pytest.raises(TypeError, match="predicate must be a scalar"):
        lax.cond(np.array([True, False]), lambda x: x, lambda x: x, 1.0)
    with pytest.raises(ValueError, match="leading sizes"):
        lax.scan(lambda c, x: (c, x), 0.0, (np.ones(3), np.ones(4)))


def test_python_control_flow_on_traced_values_points_to_lax():
    with pytest.raises(TypeError, match=r"fgrad\.lax\.cond"):
        fgrad.jit(lambda x: x if x > 0 else -x)(1.0)
    with pytest.raises(TypeError, match=r"fgrad\.lax\.fori_loop"):
        fgrad.jit(lambda x, n: sum(x for _ in range(n)))(1.0, 3)


# ---- parity with JAX -------------------------------------------------------------------------------------

def test_jax_parity_cond_switch_fori_scan():
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    jax.config.update("jax_enable_x64", True)
    x = np.linspace(-1.0, 1.0, 4)

    def f(np_, l):
        def fun(v):
            a = l.cond(v[0] < 0, lambda t: np_.sin(t), lambda t: t ** 2, v)
            b = l.switch(2, [lambda t: t, lambda t: t * 2.0, lambda t: np_.exp(t)], v)
            c = l.fori_loop(0, 3, lambda i, t: t * 0.5 + np_.cos(t), v)
            (s, p), ys = l.scan(lambda carry, t: ((carry[0] + t, carry[1] * t), np_.tanh(t * carry[0])),
                                (0.0, 1.0), v, reverse=True)
            return np_.sum(a * b + c) + s + p + np_.sum(ys)
        return fun
    np.testing.assert_allclose(f(fnp, lax)(x), f(jnp, jax.lax)(x), rtol=1e-12)
    np.testing.assert_allclose(fgrad.grad(f(fnp, lax))(x), jax.grad(f(jnp, jax.lax))(x), rtol=1e-10)


def test_jax_parity_rnn_and_learning_rate_through_gradient_descent():
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(2)
    w, u, xs = 0.4 * rng.standard_normal((3, 3)), rng.standard_normal(3), rng.standard_normal(5)

    def jrnn(params, xs):
        w, u = params

        def cell(h, x):
            h = jnp.tanh(w @ h + u * x)
            return h, jnp.sum(h)
        h, ys = jax.lax.scan(cell, jnp.zeros(3), xs)
        return jnp.sum(ys) + jnp.sum(h ** 2)
    for a, b in zip(fgrad.grad(rnn_loss)((w, u), xs), jax.grad(jrnn)((w, u), xs)):
        np.testing.assert_allclose(a, b, rtol=1e-10)

    def descent(np_, l, tf):
        def loss(theta):
            return np_.sum((theta - 3.0) ** 2 * np_.arange(1.0, 4.0))

        def final_loss(lr):
            theta = l.fori_loop(0, 20, lambda i, t: t - lr * tf.grad(loss)(t), np_.zeros(3))
            return loss(theta)
        return final_loss
    np.testing.assert_allclose(fgrad.grad(descent(fnp, lax, fgrad))(0.05),
                               jax.grad(descent(jnp, jax.lax, jax))(0.05), rtol=1e-10)


# ---- golden printed programs ------------------------------------------------------------------------------

def golden(name: str, text: str):
    path = GOLDEN / f"{name}.txt"
    if not path.exists():          # first run writes the golden file; review it, then it is the expectation
        path.write_text(text + "\n")
    assert text + "\n" == path.read_text(), f"{name} changed; if that is intended, delete {path} and re-run"


def test_golden_control_flow_programs_and_adjoints():
    cond_fun = lambda x: lax.cond(x > 1.0, lambda v: v * v, lambda v: fnp.sin(v), x)   # noqa: E731
    while_fun = lambda a: lax.while_loop(lambda x: x < 10.0, lambda x: x * a, 1.0)     # noqa: E731
    scan_fun = lambda w, xs: lax.scan(lambda h, x: (fnp.tanh(w * h + x), h), 0.0, xs)[0]   # noqa: E731
    xs = np.ones(4)
    golden("cond", str(fgrad.make_ir(cond_fun)(2.0)))
    golden("cond_grad", str(fgrad.jit(fgrad.grad(cond_fun)).lower(2.0).program))
    golden("while", str(fgrad.make_ir(while_fun)(2.0)))
    golden("while_grad", str(fgrad.jit(fgrad.grad(while_fun)).lower(2.0).program))
    golden("scan", str(fgrad.make_ir(scan_fun)(0.5, xs)))
    golden("scan_grad", str(fgrad.jit(fgrad.grad(scan_fun)).lower(0.5, xs).program))


def test_checkpoint_policies_keep_what_they_name_and_recompute_the_rest():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((3, 3))
    f = lambda x: fnp.sum(fnp.sin(w @ fnp.tanh(w @ x)))     # noqa: E731
    x = rng.standard_normal(3)
    want = fgrad.grad(f)(x)
    policies = fgrad.checkpoint_policies
    for policy in (None, policies.nothing_saveable, policies.dots_saveable, policies.everything_saveable,
                   lambda prim, *types, **params: prim.name == "tanh"):
        g = fgrad.grad(fgrad.checkpoint(f, policy=policy))(x)
        np.testing.assert_allclose(g, want, rtol=1e-14)
    program = fgrad.jit(fgrad.value_and_grad(fgrad.checkpoint(f, policy=policies.dots_saveable))).lower(x).program
    forward, backward = [e for e in program.equations if e.prim.name == "checkpoint"]
    assert len(forward.outputs) == 3                       # the value and both matrix products
    assert [e.prim.name for e in backward.params["primal"].equations].count("matmul") == 2     # only the VJP's
    with pytest.raises(TypeError, match="policy"):
        fgrad.checkpoint(f, policy="dots")


@pytest.mark.parametrize("unroll", [1, 3, True], ids=["1", "3", "full"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_scan_unroll_gives_the_same_results_compiled(unroll, reverse):
    xs = np.arange(7.0)
    f = lambda xs: lax.scan(lambda c, x: (c * 0.5 + x, c), 1.0, xs, unroll=unroll, reverse=reverse)   # noqa: E731
    eager, jitted = f(xs), fgrad.jit(f)(xs)
    np.testing.assert_allclose(jitted[0], eager[0])
    np.testing.assert_allclose(jitted[1], eager[1])


def test_golden_source_of_a_jitted_scan_gradient():
    scan_fun = lambda w, xs: lax.scan(lambda h, x: (fnp.tanh(w * h + x), h), 0.0, xs)[0]   # noqa: E731
    # Without the comments' source locations (lines of this file), so an edit above does not change it.
    source = fgrad.jit(fgrad.grad(scan_fun)).lower(0.5, np.ones(4)).source
    golden("scan_grad_source", without_locations(source))


def test_compiling_a_long_scan_costs_what_a_short_one_does():
    # The loop is not unrolled: the kernel's source is the same for 4 steps and 10,000.
    scan_fun = lambda w, xs: lax.scan(lambda h, x: (fnp.tanh(w * h + x), h), 0.0, xs)[0]   # noqa: E731
    short = fgrad.jit(fgrad.grad(scan_fun)).lower(0.5, np.ones(4)).source
    long = fgrad.jit(fgrad.grad(scan_fun)).lower(0.5, np.ones(10_000)).source
    assert short == long
