"""The primitive vocabulary: one block per primitive with all its rules, and the ops that bind them.

Modules, in import order: base (typing, promotion, shape-rule families), identities (what simplification
rules share), core (convert_element_type, broadcast_to, reshape, squeeze, expand_dims, transpose, reduce_sum
and the batching helpers), elementwise, creation, slicing, indexing, reduce, linalg, control, conv, debug (an
effect: fgrad.debug.print and callback; imported as a module, not star-imported: it defines `print`).
"""
from fgrad.ops.base import as_value, is_tracer, result_dtype, typeof  # noqa: F401
from fgrad.ops.core import *  # noqa: F401,F403
from fgrad.ops.elementwise import *  # noqa: F401,F403
from fgrad.ops.creation import *  # noqa: F401,F403
from fgrad.ops.slicing import *  # noqa: F401,F403
from fgrad.ops.indexing import *  # noqa: F401,F403
from fgrad.ops.reduce import *  # noqa: F401,F403
from fgrad.ops.linalg import *  # noqa: F401,F403
from fgrad.ops.control import *  # noqa: F401,F403
from fgrad.ops.conv import *  # noqa: F401,F403
from fgrad.ops import debug  # noqa: F401,E402  (registers debug_callback_p)
