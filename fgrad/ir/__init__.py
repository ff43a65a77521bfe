"""The IR layer: types, Programs, primitives and their binding, tracing, pytrees. No numerics here."""
from fgrad.ir.types import (ArrayType, DTYPES, bool_, broadcast_shapes, canonical_dtype, float32, float64,
                            int32, int64, is_float, promote_dtypes)
from fgrad.ir.core import Equation, Literal, Params, Program, TracerBase, Var, binds_effect, has_effect, typeof
from fgrad.ir.primitive import (KINDS, MISSING, REGISTRY, TRAITS, MissingRuleError, Primitive, current_interpreter,
                                primitives_where)
from fgrad.ir.tracing import (EvalInterpreter, TraceInterpreter, Tracer, eval_program,
                              trace_flat, trace_pytree)
from fgrad.ir.errors import EscapedTracerError, TracerConversionError
from fgrad.ir.check import ProgramError, check
from fgrad.ir.printer import format_program
from fgrad.ir.source import Source, current_source, restored_source, set_current_source, user_source
from fgrad.ir import pytree
