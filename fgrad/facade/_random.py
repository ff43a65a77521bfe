"""torch's CPU random streams, bit for bit: the mt19937 Generator and ATen's CPU distributions.

PyTorch 2.13's CPU generator (aten/src/ATen/CPUGeneratorImpl.cpp, core/MT19937RNGEngine.h) is a 32-bit
Mersenne Twister seeded with the seed's low 32 bits; `random()` is one tempered word, `random64()` two (the
first is the high half). ATen's distributions (core/DistributionsHelper.h, core/TransformationHelper.h,
native/cpu/DistributionTemplates.h) turn the words into values, one element after the other in memory order:

    rand, uniform_(a, b)   float32: (random() & 2**24-1) * 2**-24, float64: (random64() & 2**53-1) * 2**-53,
                           then x * (b - a) + a in the tensor's type (one FMA where PyTorch's kernels are built
                           for AVX2; a value rounding up to b becomes a)
    randn, normal_         contiguous tensors of 16 or more elements: every uniform first (as rand), then
                           Box-Muller on blocks of 16 (u1 from the first 8, u2 from the last 8); a size that is
                           not a multiple of 16 draws 16 more uniforms and recomputes the last 16 values.
                           Otherwise (fewer than 16, or not contiguous): per element, a Box-Muller pair in
                           double from two random64 uniforms, the second value cached in the generator for the
                           next element, even the next call's (get_state saves that cache).
    randint, random_       word % range + low: random() below a range of 2**28, random64() from there on
    randperm               Fisher-Yates from the front: swap i with i + random() % (n - i)
    bernoulli(p)           uniform < p: float32 uniforms for a float32 probability tensor, float64 otherwise
    exponential_           -1/lambda * log1p(-u), u a float64 uniform
    multinomial            with replacement: a float64 uniform per draw, searched in the normalised running
                           sum; without (or one draw): argmax / topk of p / Exp(1)

A uniform sample uses one word (float32) or two (float64), so streams of different dtypes, sizes and calls
interleave exactly as in PyTorch. The transcendental steps and the FMAs run in fgrad.facade._random_kernels.
Which kernels PyTorch picks depends on the CPU (`cpu_capability`): x86-64 with AVX2 and FMA (PyTorch's AVX2
and AVX512 builds share these kernels; normal_ is not dispatched to AVX512) or the portable default build
(also chosen with ATEN_CPU_CAPABILITY=default).
"""
from __future__ import annotations

import math
import os
import platform

import numpy as np

from fgrad.ops.indexing import gather
from fgrad.facade import _random_kernels
from fgrad.facade._tensor import Tensor, make
from fgrad.facade._tensor import device as device_type

__all__ = ["Generator", "default_generator", "manual_seed", "seed", "initial_seed", "get_rng_state",
           "set_rng_state", "generator_of", "cpu_capability", "uniform", "normal", "random_integers",
           "bernoulli_scalar", "bernoulli_tensor", "exponential", "permutation", "multinomial", "dropout_mask",
           "fill_in_memory_order"]

DEFAULT_SEED = 67280421310721     # c10::default_rng_seed_val, the seed of a new torch.Generator()

_N = 624                          # MERSENNE_STATE_N

# CPUGeneratorImplState, the bytes of get_state(): the legacy THGenerator POD (5048 bytes with its padding)
# then the float normal cache; padding is zero, as PyTorch value-initialises the struct before memcpy.
STATE_SIZE = 5056
_STATE_LAYOUT = np.dtype({
    "names": ["the_initial_seed", "left", "seeded", "next", "state", "normal_x", "normal_y", "normal_rho",
              "normal_is_valid", "next_float_normal_sample", "is_next_float_normal_sample_valid"],
    "formats": ["<u8", "<i4", "<i4", "<u8", ("<u8", (_N,)), "<f8", "<f8", "<f8", "<i4", "<f4", "u1"],
    "offsets": [0, 8, 12, 16, 24, 5016, 5024, 5032, 5040, 5048, 5052],
    "itemsize": STATE_SIZE})

# randperm draws random64() once n reaches uint32 max / 20 (read from libtorch_cpu.so's randperm_out_cpu)
_RANDPERM_64BIT_FROM = (2 ** 32 - 1) // 20
# uniform_int_from_to_distribution: random64() for ranges of 2**28 and more (~5% skew allowed below)
_RANDINT_64BIT_FROM = 1 << 28


# ---- mt19937 ---------------------------------------------------------------------------------------------

def _seeded_words(seed: int) -> np.ndarray:
    """mt19937's init_genrand with the seed's low 32 bits (a sequential recurrence: 623 steps)."""
    words = [seed & 0xFFFFFFFF]
    for j in range(1, _N):
        prev = words[-1]
        words.append((1812433253 * (prev ^ (prev >> 30)) + j) & 0xFFFFFFFF)
    return np.array(words, dtype=np.uint32)


def _tempered(y: np.ndarray) -> np.ndarray:
    """MT19937's output tempering of state words."""
    y = y ^ (y >> np.uint32(11))
    y ^= (y << np.uint32(7)) & np.uint32(0x9D2C5680)
    y ^= (y << np.uint32(15)) & np.uint32(0xEFC60000)
    y ^= y >> np.uint32(18)
    return y


class Generator:
    """torch.Generator on the CPU: PyTorch's mt19937 with its seed, position and normal-sample caches.

    Seeded with the same number, it yields the same words, hence the same rand/randn/randint/randperm
    values, as PyTorch's. get_state() returns PyTorch's 5056-byte state layout.

    >>> import fgrad as torch
    >>> g = torch.Generator().manual_seed(0)
    >>> torch.rand(2, generator=g)
    tensor([0.4963, 0.7682])
    """

    def __init__(self, device="cpu"):
        if device_type(device).type != "cpu":
            raise RuntimeError(f"fgrad's Generator runs on the CPU only, not on {device}")
        self._reset(DEFAULT_SEED)

    def _reset(self, seed: int) -> None:
        self._seed = seed
        self._mt = _seeded_words(seed)
        self._left = 1                 # words left + 1; 1 means regenerate on the next draw
        self._next = 0                 # index of the next word
        self._normal_double = None     # at::normal_distribution<double>'s cached second value
        self._normal_float = None      # ... <float>'s (no CPU kernel uses it; kept for get_state)
        self._blocks = None            # numpy's MT19937, to regenerate whole blocks of words

    # ---- seeding --------------------------------------------------------------------------------------

    def manual_seed(self, seed) -> "Generator":
        """Reset to the stream of `seed` (an int in [-2**63, 2**64); negatives wrap modulo 2**64)."""
        self._reset(_unpack_seed(seed))
        return self

    def seed(self) -> int:
        """Reseed from the operating system's entropy; returns the seed."""
        value = int.from_bytes(os.urandom(8), "little")
        self._reset(value)
        return value

    def initial_seed(self) -> int:
        return self._seed

    @property
    def device(self):
        return device_type("cpu")

    # ---- state ----------------------------------------------------------------------------------------

    def get_state(self):
        """The state as a uint8 tensor with PyTorch's byte layout (seed, position, the 624 words, the
        normal caches)."""
        record = np.zeros((), _STATE_LAYOUT)
        record["the_initial_seed"] = self._seed
        record["left"] = self._left
        record["seeded"] = 1
        record["next"] = self._next
        record["state"] = self._mt
        if self._normal_double is not None:
            record["normal_is_valid"] = 1
            record["normal_y"] = self._normal_double
        if self._normal_float is not None:
            record["is_next_float_normal_sample_valid"] = 1
            record["next_float_normal_sample"] = self._normal_float
        return make(np.frombuffer(record.tobytes(), dtype=np.uint8).copy())

    def set_state(self, new_state) -> "Generator":
        """Restore a state from get_state() (fgrad's or PyTorch's bytes)."""
        if not isinstance(new_state, Tensor) or new_state._data.dtype != np.uint8:
            raise TypeError("RNG state must be a torch.ByteTensor")
        data = new_state._data.reshape(-1)
        if data.size != STATE_SIZE:
            raise RuntimeError(f"Expected a CPUGeneratorImplState of size {STATE_SIZE} but found the input RNG "
                               f"state size to be {data.size}")
        record = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=_STATE_LAYOUT)[0]
        left, seeded, next_ = int(record["left"]), int(record["seeded"]), int(record["next"])
        # PyTorch's own check, plus: the words before the next regeneration must lie in the state (PyTorch
        # would read past its array)
        if seeded != 1 or not 0 < left <= _N or not 0 <= next_ <= _N or next_ + left - 1 > _N:
            raise RuntimeError("Invalid mt19937 state")
        self._seed = int(record["the_initial_seed"])
        self._mt = record["state"].astype(np.uint32)
        self._left = left
        self._next = next_
        self._normal_double = float(record["normal_y"]) if record["normal_is_valid"] else None
        self._normal_float = (float(record["next_float_normal_sample"])
                              if record["is_next_float_normal_sample_valid"] else None)
        return self

    def __getstate__(self):
        return {"state": self.get_state()._data}

    def __setstate__(self, saved):
        self._blocks = None
        self.set_state(make(saved["state"]))

    # ---- words ----------------------------------------------------------------------------------------

    def random(self, count: int) -> np.ndarray:
        """The next `count` outputs of random() (uint32), as `count` calls of PyTorch's engine give them:
        the words left in the current block, then whole regenerated blocks from numpy's MT19937 (the
        reference algorithm in C, the same twist as MT19937RNGEngine.h's next_state)."""
        filled = min(count, self._left - 1)
        head = _tempered(self._mt[self._next:self._next + filled])
        self._next += filled
        self._left -= filled
        if filled == count:
            return head
        if self._blocks is None:
            self._blocks = np.random.MT19937(0)        # only its algorithm is used: the state is set here
        bits = self._blocks
        bits.state = {"bit_generator": "MT19937", "state": {"key": self._mt, "pos": _N}}
        tail = bits.random_raw(count - filled).astype(np.uint32)
        state = bits.state["state"]
        self._mt = state["key"].astype(np.uint32)
        self._next = int(state["pos"])
        self._left = _N + 1 - self._next
        return np.concatenate([head, tail]) if filled else tail

    def random64(self, count: int) -> np.ndarray:
        """The next `count` outputs of random64() (uint64): two words each, the first the high half."""
        words = self.random(2 * count).astype(np.uint64)
        return (words[0::2] << np.uint64(32)) | words[1::2]


def _unpack_seed(seed) -> int:
    """PyTorch's seed argument: an int (not a bool) in [-2**63, 2**64), negatives taken modulo 2**64."""
    if isinstance(seed, Tensor) and seed._data.ndim == 0 and seed._data.dtype.kind in "iu":
        seed = seed._data.item()
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise RuntimeError(f"manual_seed expected a long, but got {type(seed).__name__}")
    seed = int(seed)
    if not -2 ** 63 <= seed < 2 ** 64:
        raise ValueError("Overflow when unpacking long long")
    return seed % 2 ** 64


default_generator = Generator()
default_generator.seed()           # PyTorch seeds its default generator from /dev/urandom at start-up


# torch.func.vmap's `randomness` while it traces its function (pushed by fgrad.facade.func.vmap), innermost last
vmap_randomness = []
# (batch size, the traced member number) of each enclosing vmap(randomness="different"), outermost first
vmap_members = []


def generator_of(generator, per_member: bool = False) -> Generator:
    """The generator a random function draws from: `generator`, or the default one when None. Inside
    torch.func.vmap, randomness="error" (its default) refuses the draw as PyTorch does, "same" draws one sample
    for the whole batch, and "different" a sample per member: random functions that draw through `sample`
    (per_member=True) support it, the others raise."""
    if vmap_randomness and vmap_randomness[-1] != "same":
        if vmap_randomness[-1] == "error":
            raise RuntimeError("vmap: called random operation while in randomness error mode. Please either use the "
                               "'same' or 'different' randomness flags on vmap or perform the randomness operation "
                               "out of vmap")
        if not per_member:
            raise NotImplementedError("vmap(randomness='different'): this random operation cannot draw a sample per "
                                      "batch member in fgrad (rand, randn, randint, normal, bernoulli with a number "
                                      "p, the *_like forms and dropout can); use randomness='same', or draw the "
                                      "batch's random values outside vmap and pass them in")
    if generator is None:
        return default_generator
    if not isinstance(generator, Generator):
        raise TypeError(f"generator must be a torch.Generator, not {type(generator).__name__}")
    return generator


def sample(draw, shape: tuple):
    """`draw(shape)` (a numpy array of that shape), or, while vmap(randomness="different") traces, this member's part
    of one draw for the whole batch, `draw((B,) + shape)` (PyTorch's order: the same numbers as drawing the batch
    outside vmap). The member's part is a gather of that constant by the member number vmap passes in."""
    if not (vmap_randomness and vmap_randomness[-1] == "different" and vmap_members):
        return draw(tuple(shape))
    sizes = tuple(size for size, _ in vmap_members)
    values = draw(sizes + tuple(shape))
    for _, member in vmap_members:
        values = gather(values, member, 0)
    return values


def manual_seed(seed) -> Generator:
    """Seed the default generator (rand, randn, randint, randperm, nn initialisation, DataLoader shuffling).

    >>> import fgrad as torch
    >>> _ = torch.manual_seed(0); torch.rand(3)
    tensor([0.4963, 0.7682, 0.0885])
    """
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the default generator from the operating system's entropy; returns the seed."""
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state():
    """The default generator's state (a uint8 tensor in PyTorch's layout)."""
    return default_generator.get_state()


def set_rng_state(new_state) -> None:
    default_generator.set_state(new_state)


# ---- which kernels PyTorch runs on this CPU -------------------------------------------------------------

_capability = None


def cpu_capability() -> str:
    """"avx2" where PyTorch runs its AVX2/AVX512 kernels (x86-64 with AVX2 and FMA), else "default".

    The two builds round differently: the AVX2 one fuses x * (b - a) + a into an FMA and draws float32
    normals with avx_mathfun's polynomials; the default one rounds twice and calls libm. The environment
    variable ATEN_CPU_CAPABILITY=default makes PyTorch (and fgrad) take the default kernels.
    """
    global _capability
    if _capability is None:
        _capability = _detect_capability()
    return _capability


def _detect_capability() -> str:
    if os.environ.get("ATEN_CPU_CAPABILITY", "").strip().lower() == "default":
        return "default"
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return "default"
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return "avx2"          # no /proc (not Linux): x86-64 machines without AVX2 are rare
    return "avx2" if {"avx2", "fma"} <= set(flags) else "default"


def _fused() -> bool:
    return cpu_capability() == "avx2"


# ---- uniform ------------------------------------------------------------------------------------------

def _unit_uniform(gen: Generator, count: int, dtype: np.dtype) -> np.ndarray:
    """uniform_real(word, 0, 1): 24 random bits of random() for float32, 53 of random64() for float64."""
    if dtype == np.float64:
        bits = gen.random64(count) & np.uint64((1 << 53) - 1)
        return bits.astype(np.float64) * 2.0 ** -53
    bits = gen.random(count) & np.uint32((1 << 24) - 1)
    return bits.astype(np.float32) * np.float32(2.0 ** -24)


_ATEN_TYPE_NAMES = {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int", "bool": "Bool",
                    "uint8": "Byte"}


def _check_floating(dtype: np.dtype, kernel: str) -> None:
    """The error of an AT_DISPATCH over floating types that gets an integer or bool tensor."""
    if dtype.kind != "f":
        raise NotImplementedError(f'"{kernel}" not implemented for \'{_ATEN_TYPE_NAMES[dtype.name]}\'')


def uniform(gen: Generator, count: int, dtype, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """`count` samples of U(low, high) in `dtype`, as uniform_ fills them.

    >>> uniform(Generator().manual_seed(0), 2, np.dtype(np.float32))
    array([0.4962566, 0.7682218], dtype=float32)
    """
    dtype = np.dtype(dtype)
    _check_floating(dtype, "check_uniform_bounds")
    info = np.finfo(dtype)
    type_name = "float" if dtype == np.float32 else "double"
    for value, name in ((low, "from"), (high, "to")):
        if not float(info.min) <= value <= float(info.max):
            raise RuntimeError(f"{name} is out of bounds for {type_name}")
    if low > high:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={_num(low)} > "
                           f"to={_num(high)}")
    if high - low > float(info.max):
        raise RuntimeError(f"uniform_ expects to-from <= std::numeric_limits<{dtype.name.capitalize()}>::max(), "
                           f"but found to={_num(high)} and from={_num(low)} which result in to-from to exceed "
                           "the limit")
    x = _unit_uniform(gen, count, dtype)
    lo, hi = dtype.type(low), dtype.type(high)
    if lo == 0 and hi == 1:
        return x                                     # x * 1 + 0: exact, fused or not
    values = _affine(x, hi - lo, lo)
    values[values == hi] = lo                        # a value rounded up to `to` becomes `from`
    return values


def _affine(x: np.ndarray, scale, shift) -> np.ndarray:
    """x * scale + shift as PyTorch's kernel rounds it on this CPU (scale and shift of x's dtype)."""
    if not _fused():
        return x * scale + shift
    if x.dtype == np.float32:
        return fma_float32(x, scale, shift)
    return _random_kernels.affine(x, x.dtype.type(scale), x.dtype.type(shift), True)


def fma_float32(a, b, c) -> np.ndarray:
    """float32 a * b + c with one rounding, in numpy: the product of two float32 values is exact in
    float64; their sum with c is rounded to odd (the float64 neighbour with an odd last bit when the sum is
    inexact), and rounding that to float32 is the correctly rounded result (53 >= 24 + 2 bits).

    >>> a = np.float32(1 + 2 ** -12)
    >>> fma_float32(np.array([a]), a, np.float32(-1)) == np.float32(2 ** -11 + 2 ** -24)
    array([ True])
    """
    product = np.multiply(a, b, dtype=np.float64)
    addend = np.asarray(c, dtype=np.float64)
    total = product + addend
    shifted = total - product
    error = (product - (total - shifted)) + (addend - shifted)      # TwoSum: product + addend - total, exactly
    even = (total.view(np.int64) & 1) == 0
    inexact = (error != 0) & even
    if inexact.any():
        total = np.where(inexact, np.nextafter(total, np.where(error > 0, np.inf, -np.inf)), total)
    return total.astype(np.float32)


def _num(value) -> str:
    """A number as PyTorch's messages print a double (2, 0.5, 1e+39)."""
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e16 else f"{value:g}"


# ---- normal -------------------------------------------------------------------------------------------

def normal(gen: Generator, count: int, dtype, mean: float = 0.0, std: float = 1.0,
           contiguous: bool = True) -> np.ndarray:
    """`count` samples of N(mean, std**2) in `dtype`, as normal_ fills a tensor of `count` elements
    (`contiguous`: whether that tensor is, which selects ATen's block algorithm from 16 elements on).

    >>> normal(Generator().manual_seed(0), 3, np.dtype(np.float32))
    array([ 1.5409961, -0.2934289, -2.1787894], dtype=float32)
    """
    dtype = np.dtype(dtype)
    _check_floating(dtype, "normal_kernel_cpu")
    if std < 0.0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {_num(std)}")
    if count == 0:
        return np.empty(0, dtype)
    if count < 16 or not contiguous:
        return _per_element_normal(gen, count, mean, std).astype(dtype)
    if dtype == np.float32 and _fused():
        box_muller = _random_kernels.box_muller_avx2_f32
        mean, std = np.float32(mean), np.float32(std)
    else:
        box_muller = _random_kernels.box_muller_libm
    data = _unit_uniform(gen, count, dtype)
    blocks = count - count % 16
    box_muller(data[:blocks], mean, std)
    if count % 16:
        tail = _unit_uniform(gen, 16, dtype)         # the last 16 values are drawn again
        box_muller(tail, mean, std)
        data[count - 16:] = tail
    return data


def _per_element_normal(gen: Generator, count: int, mean: float, std: float) -> np.ndarray:
    """at::normal_distribution<double> once per element, in double: the generator's cached value first,
    then Box-Muller pairs (u1, u2 of random64 each); an unused second value stays cached."""
    standard = np.empty(count, dtype=np.float64)
    start = 0
    if gen._normal_double is not None:
        standard[0] = gen._normal_double
        gen._normal_double = None
        start = 1
    needed = count - start
    if needed:
        pairs = (needed + 1) // 2
        values = _random_kernels.normal_pairs(_unit_uniform(gen, 2 * pairs, np.dtype(np.float64)))
        standard[start:] = values[:needed]
        if needed % 2:
            gen._normal_double = float(values[-1])
    return _random_kernels.affine(standard, float(std), float(mean), _fused())


# ---- integers -----------------------------------------------------------------------------------------

def random_integers(gen: Generator, count: int, dtype, range_: int, base: int) -> np.ndarray:
    """random_(from, to) / randint: (word % range) + base, the word from random64() when range >= 2**28,
    cast to `dtype`."""
    dtype = np.dtype(dtype)
    if range_ >= _RANDINT_64BIT_FROM:
        words = gen.random64(count)
    else:
        words = gen.random(count).astype(np.uint64)
    # static_cast<int64_t>((val % range) + base): unsigned 64-bit arithmetic, then the bits as int64
    values = (words % np.uint64(range_) + np.uint64(base % 2 ** 64)).view(np.int64)
    return values.astype(dtype)


def random_full(gen: Generator, count: int, dtype) -> np.ndarray:
    """random_() without bounds: [0, 2**mantissa] for floats, [0, max] for integers, a random bit for bool."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return (gen.random(count) & np.uint32(1)).astype(np.bool_)
    if dtype == np.float64:
        return (gen.random64(count) % np.uint64(2 ** 53 + 1)).astype(np.float64)
    if dtype == np.int64:
        return (gen.random64(count) % np.uint64(2 ** 63)).astype(np.int64)
    words = gen.random(count).astype(np.uint64)
    if dtype == np.float32:
        return (words % np.uint64(2 ** 24 + 1)).astype(np.float32)
    return (words % np.uint64(int(np.iinfo(dtype).max) + 1)).astype(dtype)


def permutation(gen: Generator, n: int) -> np.ndarray:
    """randperm(n): ATen's forward Fisher-Yates over 0..n-1, swapping i and i + random() % (n - i) for
    i < n - 1 (random64() once n >= 2**32 / 20), computed without a Python loop over i (see
    `_fisher_yates`).

    >>> permutation(Generator().manual_seed(0), 5)
    array([4, 0, 1, 3, 2])
    """
    if n <= 1:
        return np.arange(n, dtype=np.int64)
    words = gen.random64(n - 1) if n >= _RANDPERM_64BIT_FROM else gen.random(n - 1).astype(np.uint64)
    steps = np.arange(n - 1, dtype=np.int64)
    targets = steps + (words % (np.uint64(n) - steps.astype(np.uint64))).astype(np.int64)
    return _fisher_yates(targets, n)


def _fisher_yates(targets: np.ndarray, n: int) -> np.ndarray:
    """The array 0..n-1 after swapping positions i and targets[i] (>= i) for i = 0, 1, ..., n-2 in turn.

    Step i fixes position i for good. Let before[k] be the value at position k just before step k. A
    position p >= k still holds its original value p unless an earlier step swapped into it; then it holds
    before[k'] for the last such step k' (targets[k'] = p). So before[k] = before[last step into k] (or k),
    chains that pointer jumping resolves in O(log n) vector passes, and step k's result is position
    targets[k]'s value just before it: before[the previous step into that target], or the original value.
    """
    steps = np.arange(n - 1, dtype=np.int64)
    moved = targets != steps
    last_into = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last_into, targets[moved], steps[moved])
    before = np.where(last_into >= 0, last_into, np.arange(n, dtype=np.int64))
    while True:
        jumped = before[before]
        if np.array_equal(jumped, before):
            break
        before = jumped
    # the previous step with the same target, per step (-1 if none)
    order = np.lexsort((steps, targets))
    grouped = targets[order]
    same = grouped[1:] == grouped[:-1]
    previous = np.full(n - 1, -1, dtype=np.int64)
    previous[order[1:][same]] = order[:-1][same]
    incoming = np.where(previous >= 0, before[np.maximum(previous, 0)], targets)
    result = np.empty(n, dtype=np.int64)
    result[:-1] = np.where(moved, incoming, before[:-1])
    result[-1] = before[-1]
    return result


# ---- bernoulli, exponential, multinomial -------------------------------------------------------------

def bernoulli_scalar(gen: Generator, count: int, p: float, dtype) -> np.ndarray:
    """bernoulli_(p) for a number p: float64 uniform < p, per element."""
    if not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={_num(p)}")
    return (_unit_uniform(gen, count, np.dtype(np.float64)) < p).astype(dtype)


def bernoulli_tensor(gen: Generator, probs: np.ndarray, dtype) -> np.ndarray:
    """bernoulli_(p) for a tensor p (flat, in the output's order): uniform < p, the uniform float32 for a
    float32 p and float64 for a float64 p."""
    if probs.size and not ((probs >= 0) & (probs <= 1)).all():
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.  (Could this error message "
                           "be improved?  If so, please report an enhancement request to PyTorch.)")
    uniform_dtype = np.dtype(np.float64) if probs.dtype == np.float64 else np.dtype(np.float32)
    return (_unit_uniform(gen, probs.size, uniform_dtype) < probs.astype(uniform_dtype)).astype(dtype)


def exponential(gen: Generator, count: int, dtype, lambd: float = 1.0) -> np.ndarray:
    """exponential_(lambd): -1/lambd * log1p(-u) in double, u a float64 uniform, cast to `dtype`."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise RuntimeError("Exponential distribution is a continuous probability distribution. dtype must be a "
                           f"floating point but you specified {_ATEN_TYPE_NAMES[dtype.name]}")
    if not lambd > 0.0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={_num(lambd)}")
    values = _random_kernels.exponential(_unit_uniform(gen, count, np.dtype(np.float64)), float(lambd))
    return values.astype(dtype)


def multinomial(gen: Generator, probs: np.ndarray, num_samples: int, replacement: bool) -> np.ndarray:
    """torch.multinomial on a 1-d or 2-d float array of weights: int64 indices shaped (rows?, num_samples).

    Without replacement, or for one sample, the Gumbel trick of ATen: argmax / topk of p / q with
    q ~ Exp(1) drawn for every weight (in p's dtype). With replacement: per row and draw, a float64
    uniform located in the running sum of the row divided by its total (last bucket forced to 1).
    """
    if probs.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    categories = probs.shape[-1]
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    if not replacement and num_samples > categories:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    rows = probs.reshape(-1, categories)
    if not replacement or num_samples == 1:
        if not (np.isfinite(rows).all() and (rows >= 0).all()):
            raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
        if (rows.sum(axis=-1) <= 0).any():
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        q = exponential(gen, rows.size, rows.dtype).reshape(rows.shape)
        scores = rows / q
        # topk's order: largest first; argmax and the stable sort both take the first of equal scores
        chosen = np.argsort(-scores, axis=-1, kind="stable")[:, :num_samples]
    else:
        chosen = np.empty((rows.shape[0], num_samples), dtype=np.int64)
        for r, row in enumerate(rows):
            if not (row >= 0).all():                  # NaN fails this check first, as in ATen
                raise RuntimeError("invalid multinomial distribution (encountering probability entry < 0)")
            if not np.isfinite(row).all():
                raise RuntimeError("invalid multinomial distribution (encountering probability entry = infinity "
                                   "or NaN)")
            running = np.add.accumulate(row)           # sequential sums in the row's dtype, as ATen's loop
            total = running[-1]
            if not total > 0:
                raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
            cumulative = (running / total).astype(np.float64)
            cumulative[-1] = 1.0
            draws = _unit_uniform(gen, num_samples, np.dtype(np.float64))
            chosen[r] = np.searchsorted(cumulative, draws, side="left")
    return chosen.astype(np.int64).reshape(probs.shape[:-1] + (num_samples,))


def dropout_mask(shape, p: float, dtype, generator=None) -> np.ndarray:
    """The noise PyTorch's CPU dropout multiplies its input by: bernoulli_(1 - p) of the input's shape and
    dtype, divided by 1 - p (so 0 or 1/(1-p), rounded to dtype). p == 0 and p == 1 draw nothing (PyTorch
    returns the input, or input * 0); the mask is then all ones or all zeros.

    >>> dropout_mask((4,), 0.5, np.float32, Generator().manual_seed(0))
    array([0., 0., 2., 0.], dtype=float32)
    """
    dtype = np.dtype(dtype)
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    count = math.prod(shape)
    if p == 0 or count == 0:
        return np.ones(shape, dtype)
    if p == 1:
        return np.zeros(shape, dtype)
    keep = bernoulli_scalar(generator_of(generator), count, 1 - p, dtype)
    return (keep / dtype.type(1 - p)).astype(dtype).reshape(shape)


# ---- writing samples into a tensor -------------------------------------------------------------------

def memory_order(array: np.ndarray) -> tuple:
    """The axes of `array` in the order PyTorch's TensorIterator walks an output tensor: by decreasing
    stride, so `array.transpose(axes)` in C order visits memory in order (a transposed or sliced tensor is
    filled in memory order). Inputs of the same op follow the output's order."""
    if array.flags.c_contiguous or array.ndim < 2:
        return tuple(range(array.ndim))
    return tuple(sorted(range(array.ndim),
                        key=lambda axis: -abs(array.strides[axis]) if array.shape[axis] > 1 else 0))


def fill_in_memory_order(array: np.ndarray, values: np.ndarray) -> None:
    """Write the flat `values` (in sampling order) into `array` in PyTorch's visiting order."""
    view = array.transpose(memory_order(array))
    view[...] = values.reshape(view.shape)
