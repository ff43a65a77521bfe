"""The loops of torch's CPU distributions that numpy cannot reproduce bit for bit, compiled with Numba.

They need what numpy does not give: libm's own log/log1p/sin/cos (PyTorch calls glibc's; numpy has its
own SIMD versions, which differ in the last bit for about a fifth of the arguments) and fused
multiply-adds rounded once (LLVM's fma intrinsic). Numba calls the process's libm, so the values are the
ones PyTorch computes on the same machine. Only normal and exponential samples and float64 uniform bounds
need them.

The loops are one kernel module (`SOURCE`) compiled through fgrad's kernel loader
(fgrad.backend.numba_jit.load_kernel), like every generated kernel: written once, content-addressed, under
FGRAD_CACHE_DIR with the checked Numba cache, so a second process loads the machine code; `import numba`
happens on the first draw that needs one.

    box_muller_avx2_f32   randn / normal_ on contiguous float32 tensors of >= 16 elements, x86 with AVX2:
                          ATen's NormalFill16<float> AVX2 kernel, avx_mathfun.h's log256_ps and sincos256_ps
                          lane by lane, with the FMAs GCC contracted them into (read from libtorch_cpu.so)
    box_muller_libm       the same blocks of 16 elsewhere (float64 always; float32 without AVX2), with libm
    normal_pairs          the per-element path (< 16 elements or non-contiguous): pairs r*cos, r*sin in double
    affine                x * scale + shift, fused or not, as the kernel PyTorch runs on this CPU does
    exponential           -1 / lambda * log1p(-u), in double
"""
from __future__ import annotations

from fgrad.backend.numba_jit import load_kernel

__all__ = ["SOURCE", "kernel", "box_muller_avx2_f32", "box_muller_libm", "normal_pairs", "affine", "exponential"]

SOURCE = '''\
import math

import numpy as np
from numba.core import types
from numba.core.extending import intrinsic

__njit__ = ("_log256", "_sincos256")


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c rounded once (llvm.fma; one vfmadd instruction on CPUs with FMA)."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)
    return a(a, a, a), codegen


# ---- avx_mathfun.h (Julien Pommier's sse_mathfun, Cephes polynomials), float32 ----------------------------

_F = np.float32
_ONE, _HALF, _SQRTHF = _F(1.0), _F(0.5), _F(0.707106781186547524)
_LOG_P = tuple(_F(v) for v in (7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
                                1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1,
                                3.3333331174e-1))
_LOG_P0, _LOG_P1, _LOG_P2, _LOG_P3, _LOG_P4, _LOG_P5, _LOG_P6, _LOG_P7, _LOG_P8 = _LOG_P
_LOG_Q1, _LOG_Q2 = _F(-2.12194440e-4), _F(0.693359375)
_FOPI = _F(1.27323954473516)                     # 4 / pi
_DP1, _DP2, _DP3 = _F(-0.78515625), _F(-2.4187564849853515625e-4), _F(-3.77489497744594108e-8)
_COS_P0, _COS_P1, _COS_P2 = _F(2.443315711809948e-5), _F(-1.388731625493765e-3), _F(4.166664568298827e-2)
_SIN_P0, _SIN_P1, _SIN_P2 = _F(-1.9515295891e-4), _F(8.3321608736e-3), _F(-1.6666654611e-1)
_TWO_PI_F = _F(2.0 * math.pi)
_MINUS_TWO_F = _F(-2.0)
_ZERO_F = _F(0.0)


def _log256(x):
    """log256_ps for one lane, x in (0, 1] (1 - a uniform sample: no zero, no subnormal, no NaN, so the
    invalid-argument mask and the denormal cut-off of the original never act)."""
    mantissa, exponent = math.frexp(x)           # x = m * 2**e, m in [0.5, 1): the bit fiddling of the original
    x = _F(mantissa)
    e = _F(exponent)
    if x < _SQRTHF:
        tmp = x
        e = e - _ONE
    else:
        tmp = _ZERO_F
    x = (x - _ONE) + tmp
    z = x * x
    y = fma(_LOG_P0, x, _LOG_P1)
    y = fma(y, x, _LOG_P2)
    y = fma(y, x, _LOG_P3)
    y = fma(y, x, _LOG_P4)
    y = fma(y, x, _LOG_P5)
    y = fma(y, x, _LOG_P6)
    y = fma(y, x, _LOG_P7)
    y = fma(y, x, _LOG_P8)
    y = x * y
    y = fma(y, z, e * _LOG_Q1)
    y = fma(-z, _HALF, y)
    x = x + y
    return fma(e, _LOG_Q2, x)


def _sincos256(x):
    """(sin, cos) of sincos256_ps for one lane, x >= 0 (2*pi*u: the sign handling of negative x never acts)."""
    j = np.int32(x * _FOPI)                      # truncation, as cvttps2dq
    j = (j + 1) & ~1
    y = _F(j)
    sin_negated = (j & 4) != 0
    cos_negated = ((~(j - 2)) & 4) != 0
    use_sin_poly_for_sin = (j & 2) == 0
    x = fma(y, _DP1, x)                          # x - y*pi/4 in three parts ("extended precision modular
    x = fma(y, _DP2, x)                          # arithmetic")
    x = fma(y, _DP3, x)
    z = x * x
    cos_poly = fma(_COS_P0, z, _COS_P1)
    cos_poly = fma(cos_poly, z, _COS_P2)
    cos_poly = z * cos_poly
    cos_poly = fma(z, cos_poly, -(z * _HALF))
    cos_poly = cos_poly + _ONE
    sin_poly = fma(_SIN_P0, z, _SIN_P1)
    sin_poly = fma(sin_poly, z, _SIN_P2)
    sin_poly = z * sin_poly
    sin_poly = fma(x, sin_poly, x)
    # the original selects with bit masks and adds; the same adds keep the signs of zeros
    if use_sin_poly_for_sin:
        ysin2, ysin1 = sin_poly, _ZERO_F
    else:
        ysin2, ysin1 = _ZERO_F, cos_poly
    s = ysin1 + ysin2
    c = (cos_poly - ysin1) + (sin_poly - ysin2)
    return (-s if sin_negated else s), (-c if cos_negated else c)


def box_muller_avx2_f32(data, mean, std):
    """In place on float32 uniforms, blocks of 16: u1 = 1 - data[j], u2 = data[j + 8],
    data[j] = r*cos(t)*std + mean, data[j + 8] = r*sin(t)*std + mean, r = sqrt(-2 log u1), t = 2 pi u2."""
    for start in range(0, data.size, 16):
        for j in range(start, start + 8):
            u1 = _ONE - data[j]
            theta = _TWO_PI_F * data[j + 8]
            radius = math.sqrt(_log256(u1) * _MINUS_TWO_F)
            s, c = _sincos256(theta)
            data[j] = fma(radius * c, std, mean)
            data[j + 8] = fma(radius * s, std, mean)


def _box_muller_libm(data, mean, std, one, minus_two):
    """ATen's generic NormalFill16 in data's float type (mean, std, one and minus_two typed alike): libm's
    log/cos/sin of that type, theta rounded to it from the double product 2*pi*u2, std::fma for the
    scale."""
    theta = np.empty(1, dtype=data.dtype)          # a store rounds the double product to data's type
    for start in range(0, data.size, 16):
        for j in range(start, start + 8):
            u1 = one - data[j]
            radius = math.sqrt(minus_two * math.log(u1))
            theta[0] = 2.0 * math.pi * np.float64(data[j + 8])
            data[j] = fma(radius * math.cos(theta[0]), std, mean)
            data[j + 8] = fma(radius * math.sin(theta[0]), std, mean)


def normal_pairs(uniforms):
    """at::normal_distribution<double>: (u1, u2) pairs -> (r*cos(t), r*sin(t)), r = sqrt(-2 log1p(-u2)),
    t = 2 pi u1, interleaved."""
    out = np.empty_like(uniforms)
    for i in range(0, uniforms.size - 1, 2):
        radius = math.sqrt(-2.0 * math.log1p(-uniforms[i + 1]))
        theta = 2.0 * math.pi * uniforms[i]
        out[i] = radius * math.cos(theta)
        out[i + 1] = radius * math.sin(theta)
    return out


def affine(values, scale, shift, fused):
    """values * scale + shift, one rounding when `fused` (GCC contracts the expression into an FMA in the
    kernels built for AVX2), two otherwise."""
    out = np.empty_like(values)
    for i in range(values.size):
        if fused:
            out[i] = fma(values[i], scale, shift)
        else:
            out[i] = values[i] * scale + shift
    return out


def exponential(uniforms, lambd):
    """at::exponential_distribution<double>: -1 / lambda * log1p(-u)."""
    out = np.empty_like(uniforms)
    factor = -1.0 / lambd
    for i in range(uniforms.size):
        out[i] = factor * math.log1p(-uniforms[i])
    return out
'''


def kernel(entry: str):
    """The compiled function `entry` of SOURCE (loaded once per process; compiled once per cache)."""
    return load_kernel(SOURCE, entry)


def box_muller_avx2_f32(data, mean, std):
    """In place on float32 uniforms, blocks of 16 (see SOURCE)."""
    kernel("box_muller_avx2_f32")(data, mean, std)


def box_muller_libm(data, mean, std):
    """In place on float32 or float64 uniforms, blocks of 16 (see box_muller_avx2_f32)."""
    as_type = data.dtype.type
    kernel("_box_muller_libm")(data, as_type(mean), as_type(std), as_type(1.0), as_type(-2.0))


def normal_pairs(uniforms):
    """at::normal_distribution<double> on (u1, u2) pairs, interleaved (see SOURCE)."""
    return kernel("normal_pairs")(uniforms)


def affine(values, scale, shift, fused):
    """values * scale + shift, rounded once when `fused` (see SOURCE)."""
    return kernel("affine")(values, scale, shift, fused)


def exponential(uniforms, lambd):
    """at::exponential_distribution<double>: -1 / lambda * log1p(-u) (see SOURCE)."""
    return kernel("exponential")(uniforms, lambd)
