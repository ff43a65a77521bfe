"""The IR layer: types, Programs, primitives and their binding, tracing, pytrees. No numerics here."""
from fgrad.ir.types import (ArrayType, DTYPES, bool_, broadcast_shapes, canonical_dtype, float32, float64,
                            int32, int64, is_float, promote_dtypes, type_of_value)
from fgrad.ir.core import Equation, Literal, Params, Program, TracerBase, Var
from fgrad.ir.primitive import MISSING, REGISTRY, MissingRuleError, Primitive, current_interpreter
from fgrad.ir.tracing import (EvalInterpreter, TraceInterpreter, Tracer, eval_program, to_value_type,
                              trace_flat, trace_pytree)
from fgrad.ir.errors import EscapedTracerError, TracerConversionError
from fgrad.ir.check import ProgramError, check
from fgrad.ir.printer import format_program
from fgrad.ir import pytree
