"""The compiled straight-line executor (fgrad.backend.numpy_exec.compile_program) against the reference one:
the same values, the implementation variant asked for, and who owns the results."""
import numpy as np

import fgrad
import fgrad.numpy as fnp
from fgrad.backend.numpy_exec import compile_program, evaluate
from fgrad.ir import ArrayType, trace_flat
from fgrad.ops import broadcast_to, reshape, transpose
from fgrad.ops.torch_numerics import torch_sum


def program_of(fun, *types):
    program, captured = trace_flat(lambda *xs: list(fun(*xs)), list(types))
    assert not captured
    return program


F32 = np.float32


def test_compiled_program_computes_what_the_reference_executor_computes():
    program = fgrad.make_ir(lambda x, y: fnp.sum(fnp.tanh(x * y + 1.0) ** 3, axis=0) - fnp.mean(x))(
        np.ones((3, 4)), np.ones(4))
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal(4)
    fn = compile_program(program)
    np.testing.assert_array_equal(fn(x, y)[0], evaluate(program, x, y)[0])
    assert "def program(a0, a1):" in fn.source and compile_program(program) is fn     # compiled once


def test_variant_selects_the_blocks_declared_implementation():
    program = program_of(lambda x: [fnp.sum(x), fnp.sum(x) ** 3], ArrayType((300,), F32))
    x = (np.random.default_rng(1).standard_normal(300) * 1000).astype(F32)
    plain, torch = compile_program(program)(x), compile_program(program, "torch")(x)
    assert plain[0] == np.sum(x) and torch[0] == torch_sum(x, axes=(0,))
    assert torch[1] == torch[0] * torch[0] * torch[0]              # torch's integer_pow: products


def test_owned_outputs_never_share_memory_with_inputs_or_constants():
    program = program_of(lambda x: [x, reshape(x, (2, 3)), broadcast_to(np.float32(2.0), (2, 3)), x * 2.0],
                         ArrayType((6,), F32))
    x = np.arange(6, dtype=F32)
    shared = compile_program(program)(x)
    assert shared[0] is x and np.shares_memory(shared[1], x)
    assert compile_program(program).fresh == (False, False, True, True)   # the small broadcast is filled in
    owned = compile_program(program, owned_outputs=4)(x)
    assert not any(np.shares_memory(o, x) for o in owned)
    assert all(o.flags.writeable for o in owned) and compile_program(program, owned_outputs=4).fresh == (True,) * 4
    np.testing.assert_array_equal(owned[2], np.full((2, 3), 2.0, F32))


def test_keep_views_leaves_view_outputs_views_of_their_input():
    program = program_of(lambda x: [broadcast_to(x, (4, 3)), transpose(x.reshape(3, 1), (1, 0))],
                         ArrayType((3,), F32))
    x = np.arange(3, dtype=F32)
    expanded, transposed = compile_program(program, keep_views=True)(x)
    assert np.shares_memory(expanded, x) and np.shares_memory(transposed, x)
    filled, _ = compile_program(program)(x)
    assert not np.shares_memory(filled, x)
    np.testing.assert_array_equal(filled, expanded)


def test_broadcasts_numpy_does_on_its_own_are_left_to_numpy():
    program = program_of(lambda x, y: [fnp.add(x, y)], ArrayType((5, 1), F32), ArrayType((4,), F32))
    fn = compile_program(program)
    assert "broadcast_to" not in fn.source
    x, y = np.ones((5, 1), F32), np.arange(4, dtype=F32)
    np.testing.assert_array_equal(fn(x, y)[0], x + y)
