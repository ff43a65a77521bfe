"""The primitive vocabulary: one block per primitive with all its rules, and the ops that bind them."""
from fgrad.ops.elementwise import *  # noqa: F401,F403
from fgrad.ops.shape import *  # noqa: F401,F403
from fgrad.ops.reduce import *  # noqa: F401,F403
from fgrad.ops.creation import *  # noqa: F401,F403
from fgrad.ops.slicing import *  # noqa: F401,F403
from fgrad.ops.indexing import *  # noqa: F401,F403
from fgrad.ops.linalg import *  # noqa: F401,F403
