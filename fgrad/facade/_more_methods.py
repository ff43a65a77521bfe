"""The Tensor methods of the namespace's breadth (x.diff(), x.nansum(), x.quantile(q), ...): the functions of
_more_shapes, _more_math, _more_linalg and special installed on Tensor, where Tensor has no method of that name
yet, and their in-place forms (x.logit_(), x.nan_to_num_(), ...) as PyTorch's in-place ops (the result written
into the tensor's storage, a leaf that requires grad refused)."""
from fgrad.facade import _methods, _more_linalg, _more_math, _more_shapes, special
from fgrad.facade._methods import _inplace_method
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


# the in-place methods PyTorch also has as functions (torch.logit_(x), ...): one-argument ones only. The
# two-argument ones PyTorch has as functions too (addmv_, gcd_, lcm_, ldexp_, xlogy_) are left out, methods
# included, until the in-place functions' parity table (tests/test_facade_conventions.py) has their arguments.
_INPLACE_WITH_FUNCTION = ("logit", "nan_to_num", "erf", "erfc", "deg2rad", "rad2deg", "fix", "sinc")
_INPLACE = _INPLACE_WITH_FUNCTION + ("sgn", "copysign", "float_power", "addr", "baddbmm", "addbmm", "renorm",
                                     "heaviside")


def _install():
    for module, names in _METHODS.items():
        for name in names:
            if not hasattr(Tensor, name):
                setattr(Tensor, name, getattr(module, name))
    for name in _INPLACE:
        if not hasattr(Tensor, name + "_"):
            setattr(Tensor, name + "_", _inplace_method(name + "_", getattr(Tensor, name)))


_install()

# torch.logit_(x), ...: exported by fgrad.facade; also entered in _methods' table of in-place functions where
# this tree has one (with the argument-conventions work), whose registry test compares it with PyTorch's
INPLACE_FUNCTIONS = {name + "_": getattr(Tensor, name + "_") for name in _INPLACE_WITH_FUNCTION}
if hasattr(_methods, "INPLACE_FUNCTIONS"):
    _methods.INPLACE_FUNCTIONS.update(INPLACE_FUNCTIONS)
