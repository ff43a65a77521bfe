"""The Tensor methods of the namespace's breadth (x.diff(), x.nansum(), x.quantile(q), ...): the functions of
_more_shapes, _more_math and special installed on Tensor, where Tensor has no method of that name yet."""
from fgrad.facade import _more_linalg, _more_math, _more_shapes, special
from fgrad.facade._tensor import Tensor

_METHODS = {
    _more_shapes: ("diff", "kron", "cross", "diagonal", "diag_embed", "diagflat", "hsplit", "vsplit", "dsplit",
                   "fliplr", "flipud", "rot90", "repeat_interleave", "select", "argwhere", "masked_select",
                   "unique_consecutive", "adjoint", "ravel"),
    _more_math: ("sgn", "heaviside", "logit", "xlogy", "logaddexp", "logaddexp2", "nan_to_num", "erf", "erfc",
                 "nansum", "nanmean", "cummax", "cummin", "logcumsumexp", "kthvalue", "quantile", "nanquantile",
                 "cov", "corrcoef", "histc", "msort", "copysign", "deg2rad", "rad2deg", "fix", "float_power", "fmax",
                 "fmin", "gcd", "lcm", "bitwise_left_shift", "bitwise_right_shift", "isposinf", "isneginf", "signbit",
                 "positive", "ldexp", "aminmax"),
    _more_linalg: ("addmv", "addr", "baddbmm", "addbmm", "vdot", "dist", "renorm"),
    special: ("sinc",),
}


def _install():
    for module, names in _METHODS.items():
        for name in names:
            if not hasattr(Tensor, name):
                setattr(Tensor, name, getattr(module, name))


_install()
