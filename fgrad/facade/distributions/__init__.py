"""torch.distributions: Normal, Uniform, Bernoulli, Categorical, Exponential and kl_divergence, written as
PyTorch writes them, over the facade's ops (so log_prob, entropy and rsample have gradients) and its random
streams (so `torch.manual_seed(0); Normal(0.0, 1.0).sample((3,))` draws PyTorch's numbers: sample and
rsample make the same calls on the generator as PyTorch's, torch.normal / normal_ / rand / bernoulli /
multinomial / exponential_).

>>> import fgrad as torch
>>> _ = torch.manual_seed(0)
>>> torch.distributions.Normal(0.0, 1.0).sample((3,))
tensor([ 1.5410, -0.2934, -2.1788])
>>> torch.distributions.Normal(0.0, 1.0).log_prob(torch.tensor(0.0))
tensor(-0.9189)

Arguments are validated by default (PyTorch's default, `validate_args=None` under `python` without -O):
parameters outside their constraints and log_prob values outside the support raise ValueError.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from fgrad.facade import _dtypes, _sampling
from fgrad.facade._creation import tensor
from fgrad.facade._elementwise import clamp, log, log1p, sigmoid, where
from fgrad.facade._grad_mode import no_grad
from fgrad.facade._more_math import erf
from fgrad.facade._reductions import logsumexp, softmax
from fgrad.facade._shapes import broadcast_tensors, expand, reshape, squeeze
from fgrad.facade._tensor import Size, Tensor, make
from fgrad.facade.distributions import constraints
from fgrad.facade.nn.functional import binary_cross_entropy_with_logits, one_hot, softplus

__all__ = ["Distribution", "Normal", "LogNormal", "Laplace", "Uniform", "Bernoulli", "Categorical",
           "OneHotCategorical", "Exponential", "Independent", "kl_divergence",
           "register_kl", "constraints"]


def broadcast_all(*values):
    """Numbers and tensors as tensors of one broadcast shape (numbers take the first tensor's dtype, or the
    default dtype)."""
    for v in values:
        if not isinstance(v, (Tensor, numbers.Number)):
            raise ValueError("Input arguments must all be instances of Number, torch.Tensor or objects "
                             "implementing __torch_function__.")
    dtype = next((v.dtype for v in values if isinstance(v, Tensor)), _dtypes.get_default_dtype())
    return broadcast_tensors(*[v if isinstance(v, Tensor) else tensor(v, dtype=dtype) for v in values])


def _clamp_probs(probs):
    eps = float(np.finfo(probs._data.dtype).eps)
    return clamp(probs, min=eps, max=1 - eps)


def _probs_to_logits(probs, is_binary=False):
    clamped = _clamp_probs(probs)
    return log(clamped) - log1p(-clamped) if is_binary else log(clamped)


class Distribution:
    """The base of the distributions: shapes, validation, sample via rsample, repr."""
    arg_constraints: dict = {}
    support = None
    has_rsample = False
    _validate_args_default = True

    def __init__(self, batch_shape=(), event_shape=(), validate_args=None):
        self._batch_shape = Size(batch_shape)
        self._event_shape = Size(event_shape)
        self._validate_args = self._validate_args_default if validate_args is None else bool(validate_args)
        if self._validate_args:
            for name, constraint in self.arg_constraints.items():
                if name not in self.__dict__ or isinstance(constraint, constraints.Dependent):
                    continue                      # computed from the other parametrisation, or not checkable
                value = self.__dict__[name]
                if not constraint.check(value)._data.all():
                    raise ValueError(f"Expected parameter {name} ({type(value).__name__} of shape "
                                     f"{tuple(value.shape)}) of distribution {self!r} to satisfy the constraint "
                                     f"{constraint!r}, but found invalid values:\n{constraints.shown(value)}")

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        Distribution._validate_args_default = bool(value)

    batch_shape = property(lambda self: self._batch_shape)
    event_shape = property(lambda self: self._event_shape)

    @property
    def stddev(self):
        return self.variance.sqrt()

    def _extended_shape(self, sample_shape=()):
        return Size(tuple(sample_shape) + tuple(self._batch_shape) + tuple(self._event_shape))

    def sample(self, sample_shape=()):
        """A sample without gradient (rsample under no_grad for reparameterised distributions)."""
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=()):
        raise NotImplementedError(f"{type(self).__name__} has no reparameterised sample (rsample); use sample")

    def sample_n(self, n):
        return self.sample((n,))

    def perplexity(self):
        return self.entropy().exp()

    def _validate_sample(self, value):
        if not isinstance(value, Tensor):
            raise ValueError("The value argument to log_prob must be a Tensor")
        event_start = value.dim() - len(self._event_shape)
        if tuple(value.shape[event_start:]) != tuple(self._event_shape):
            raise ValueError(f"The right-most size of value must match event_shape: {value.size()} vs "
                             f"{self._event_shape}.")
        expected = tuple(self._batch_shape) + tuple(self._event_shape)
        for i, j in zip(reversed(tuple(value.shape)), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(f"Value is not broadcastable with batch_shape+event_shape: {value.size()} vs "
                                 f"{Size(expected)}.")
        if self.support is not None and not self.support.check(value)._data.all():
            raise ValueError(f"Expected value argument ({type(value).__name__} of shape {tuple(value.shape)}) to be "
                             f"within the support ({self.support!r}) of the distribution {self!r}, but found "
                             f"invalid values:\n{constraints.shown(value)}")

    def __repr__(self) -> str:
        names = [k for k in self.arg_constraints if k in self.__dict__]
        shown = [f"{k}: {constraints.shown(v) if v.numel() == 1 else v.size()}"
                 for k, v in ((k, self.__dict__[k]) for k in names)]
        return f"{type(self).__name__}({', '.join(shown)})"


# ---- continuous -------------------------------------------------------------------------------------------

class Normal(Distribution):
    """N(loc, scale**2), reparameterised: rsample is loc + scale * eps with eps ~ N(0, 1).

    >>> import fgrad as torch
    >>> torch.distributions.Normal(torch.tensor([0.0]), torch.tensor([2.0])).entropy()
    tensor([2.1121])
    """
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = broadcast_all(loc, scale)
        batch = () if isinstance(loc, numbers.Number) and isinstance(scale, numbers.Number) else self.loc.size()
        super().__init__(batch, validate_args=validate_args)

    mean = property(lambda self: self.loc)
    mode = property(lambda self: self.loc)
    stddev = property(lambda self: self.scale)
    variance = property(lambda self: self.stddev.pow(2))

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        with no_grad():
            return _sampling.normal(expand(self.loc, *shape), expand(self.scale, *shape))

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        eps = make(np.zeros(tuple(shape), self.loc._data.dtype)).normal_()
        return self.loc + eps * self.scale

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        var = self.scale ** 2
        return -((value - self.loc) ** 2) / (2 * var) - self.scale.log() - math.log(math.sqrt(2 * math.pi))

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 * (1 + erf((value - self.loc) * self.scale.reciprocal() / math.sqrt(2)))

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + log(self.scale)


class LogNormal(Distribution):
    """exp(X) for X ~ Normal(loc, scale) (PyTorch's TransformedDistribution with ExpTransform): samples are
    exp of the Normal's, log_prob is the Normal's at log(value) minus log(value)."""
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.base_dist = Normal(loc, scale, validate_args=validate_args)
        super().__init__(self.base_dist.batch_shape, validate_args=validate_args)

    loc = property(lambda self: self.base_dist.loc)
    scale = property(lambda self: self.base_dist.scale)
    mean = property(lambda self: (self.loc + self.scale.pow(2) / 2).exp())
    mode = property(lambda self: (self.loc - self.scale.square()).exp())
    variance = property(lambda self: self.scale.pow(2).expm1() * (2 * self.loc + self.scale.pow(2)).exp())

    def sample(self, sample_shape=()):
        with no_grad():
            return self.base_dist.sample(sample_shape).exp()

    def rsample(self, sample_shape=()):
        return self.base_dist.rsample(sample_shape).exp()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        x = value.log()
        return (0.0 - x) + self.base_dist.log_prob(x)

    def entropy(self):
        return self.base_dist.entropy() + self.loc


class Laplace(Distribution):
    """Laplace(loc, scale), reparameterised: rsample is loc - scale * sign(u) * log1p(-|u|), u ~ U(eps - 1, 1)
    drawn by uniform_, as PyTorch's."""
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = broadcast_all(loc, scale)
        batch = () if isinstance(loc, numbers.Number) and isinstance(scale, numbers.Number) else self.loc.size()
        super().__init__(batch, validate_args=validate_args)

    mean = property(lambda self: self.loc)
    mode = property(lambda self: self.loc)
    variance = property(lambda self: 2 * self.scale.pow(2))
    stddev = property(lambda self: (2 ** 0.5) * self.scale)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        eps = float(np.finfo(self.loc._data.dtype).eps)
        u = make(np.zeros(tuple(shape), self.loc._data.dtype)).uniform_(eps - 1, 1)
        return self.loc - self.scale * u.sign() * log1p(-u.abs())

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return -log(2 * self.scale) - (value - self.loc).abs() / self.scale

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 - 0.5 * (value - self.loc).sign() * (-(value - self.loc).abs() / self.scale).expm1()

    def entropy(self):
        return 1 + log(2 * self.scale)


class Uniform(Distribution):
    """U[low, high), reparameterised: rsample is low + (high - low) * u with u ~ U(0, 1)."""
    arg_constraints = {"low": constraints.dependent, "high": constraints.dependent}
    has_rsample = True

    def __init__(self, low, high, validate_args=None):
        self.low, self.high = broadcast_all(low, high)
        batch = () if isinstance(low, numbers.Number) and isinstance(high, numbers.Number) else self.low.size()
        super().__init__(batch, validate_args=validate_args)
        if self._validate_args and not (self.low._data < self.high._data).all():
            raise ValueError(f"Expected parameter low ({type(self.low).__name__} of shape {tuple(self.low.shape)}) "
                             f"of distribution {self!r} to satisfy the constraint LessThan(upper_bound="
                             f"{constraints.shown(self.high)}), but found invalid values:\n"
                             f"{constraints.shown(self.low)}")

    @property
    def support(self):
        return constraints.interval(self.low, self.high)

    mean = property(lambda self: (self.high + self.low) / 2)
    mode = property(lambda self: self.high * math.nan)
    stddev = property(lambda self: (self.high - self.low) / 12 ** 0.5)
    variance = property(lambda self: (self.high - self.low).pow(2) / 12)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        rand = _sampling.rand(*shape, dtype=self.low.dtype)
        return self.low + rand * (self.high - self.low)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        lb = self.low.le(value).type_as(self.low)
        ub = self.high.gt(value).type_as(self.low)
        return log(lb.mul(ub)) - log(self.high - self.low)

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return ((value - self.low) / (self.high - self.low)).clamp(min=0, max=1)

    def entropy(self):
        return log(self.high - self.low)


class Exponential(Distribution):
    """Exp(rate), reparameterised: rsample is an Exp(1) draw (PyTorch's exponential_) divided by rate."""
    arg_constraints = {"rate": constraints.positive}
    support = constraints.greater_than(0.0)
    has_rsample = True

    def __init__(self, rate, validate_args=None):
        (self.rate,) = broadcast_all(rate)
        super().__init__(() if isinstance(rate, numbers.Number) else self.rate.size(), validate_args=validate_args)

    mean = property(lambda self: self.rate.reciprocal())
    mode = property(lambda self: self.rate * 0)
    stddev = property(lambda self: self.rate.reciprocal())
    variance = property(lambda self: self.rate.pow(-2))

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        return make(np.zeros(tuple(shape), self.rate._data.dtype)).exponential_() / self.rate

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self.rate.log() - self.rate * value

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 1 - (-self.rate * value).exp()

    def entropy(self):
        return 1.0 - log(self.rate)


# ---- discrete -----------------------------------------------------------------------------------------------

class _ProbsOrLogits(Distribution):
    """Parametrised by probs or by logits (exactly one); the other is computed when first read."""

    def _one_of(self, probs, logits):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")

    @property
    def probs(self):
        if "probs" not in self.__dict__:
            self.__dict__["probs"] = self._logits_to_probs(self.__dict__["logits"])
        return self.__dict__["probs"]

    @property
    def logits(self):
        if "logits" not in self.__dict__:
            self.__dict__["logits"] = self._probs_to_logits(self.__dict__["probs"])
        return self.__dict__["logits"]


class Bernoulli(_ProbsOrLogits):
    """1 with probability probs (or sigmoid(logits)), else 0.

    >>> import fgrad as torch
    >>> torch.distributions.Bernoulli(probs=torch.tensor([0.25])).log_prob(torch.tensor([1.0]))
    tensor([-1.3863])
    """
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean

    def __init__(self, probs=None, logits=None, validate_args=None):
        self._one_of(probs, logits)
        given = probs if probs is not None else logits
        (self.__dict__["probs" if probs is not None else "logits"],) = broadcast_all(given)
        param = self.__dict__["probs" if probs is not None else "logits"]
        super().__init__(() if isinstance(given, numbers.Number) else param.size(), validate_args=validate_args)

    _logits_to_probs = staticmethod(sigmoid)
    _probs_to_logits = staticmethod(lambda p: _probs_to_logits(p, is_binary=True))

    mean = property(lambda self: self.probs)
    mode = property(lambda self: where(self.probs == 0.5, math.nan, (self.probs >= 0.5).type_as(self.probs)))
    variance = property(lambda self: self.probs * (1 - self.probs))

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        with no_grad():
            return _sampling.bernoulli(expand(self.probs, *shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        return -binary_cross_entropy_with_logits(logits, value, reduction="none")

    def entropy(self):
        return binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")


class Categorical(_ProbsOrLogits):
    """One of K categories, with probabilities probs (normalised over the last dim) or softmax(logits).

    >>> import fgrad as torch
    >>> torch.distributions.Categorical(probs=torch.tensor([1.0, 3.0])).probs
    tensor([0.2500, 0.7500])
    """
    arg_constraints = {"probs": constraints.simplex, "logits": constraints.independent(constraints.real, 1)}
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        self._one_of(probs, logits)
        if probs is not None:
            if probs.dim() < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self.__dict__["probs"] = probs / probs.sum(-1, keepdim=True)
            param = self.__dict__["probs"]
        else:
            if logits.dim() < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self.__dict__["logits"] = logits - logsumexp(logits, -1, keepdim=True)
            param = self.__dict__["logits"]
        self._num_events = param.size()[-1]
        super().__init__(param.size()[:-1] if param.dim() > 1 else (), validate_args=validate_args)

    _logits_to_probs = staticmethod(lambda logits: softmax(logits, -1))
    _probs_to_logits = staticmethod(_probs_to_logits)

    @property
    def support(self):
        return constraints.integer_interval(0, self._num_events - 1)

    param_shape = property(lambda self: (self.probs if "probs" in self.__dict__ else self.logits).size())
    mean = property(lambda self: make(np.full(tuple(self._extended_shape()), np.nan, self.probs._data.dtype)))
    variance = mean
    mode = property(lambda self: self.probs.argmax(-1))

    def sample(self, sample_shape=()):
        sample_shape = Size(sample_shape)
        probs_2d = reshape(self.probs, (-1, self._num_events))
        with no_grad():
            samples_2d = _sampling.multinomial(probs_2d, math.prod(sample_shape), True).t()
        return reshape(samples_2d, tuple(self._extended_shape(sample_shape)))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        value = value.long().unsqueeze(-1)
        value, log_pmf = broadcast_tensors(value, self.logits)
        value = value[..., :1]
        return squeeze(log_pmf.gather(-1, value), -1)

    def entropy(self):
        min_real = float(np.finfo(self.logits._data.dtype).min)
        logits = clamp(self.logits, min=min_real)
        return -(logits * self.probs).sum(-1)

    def enumerate_support(self, expand=True):
        values = make(np.arange(self._num_events, dtype=np.int64))
        values = reshape(values, (-1,) + (1,) * len(self._batch_shape))
        if expand:
            values = values.expand(-1, *self._batch_shape)
        return values


class OneHotCategorical(Distribution):
    """A Categorical whose samples are one-hot vectors (event shape: the number of categories)."""
    arg_constraints = {"probs": constraints.simplex, "logits": constraints.independent(constraints.real, 1)}
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        self._categorical = Categorical(probs, logits)
        super().__init__(self._categorical.batch_shape, self._categorical.param_shape[-1:],
                         validate_args=validate_args)

    probs = property(lambda self: self._categorical.probs)
    logits = property(lambda self: self._categorical.logits)
    mean = property(lambda self: self._categorical.probs)
    variance = property(lambda self: self._categorical.probs * (1 - self._categorical.probs))

    @property
    def mode(self):
        probs = self._categorical.probs
        return one_hot(probs.argmax(dim=-1), probs.shape[-1]).to(probs.dtype)

    @property
    def support(self):
        return None        # one-hot vectors: not checked

    def sample(self, sample_shape=()):
        probs = self._categorical.probs
        indices = self._categorical.sample(sample_shape)
        return one_hot(indices, self._categorical._num_events).to(probs.dtype)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self._categorical.log_prob(value.max(-1)[1])

    def entropy(self):
        return self._categorical.entropy()


# ---- reinterpreting batch dims as event dims ------------------------------------------------------------

def _sum_rightmost(value, dims):
    return value if dims == 0 else value.reshape(tuple(value.shape[:value.dim() - dims]) + (-1,)).sum(-1)


class Independent(Distribution):
    """A distribution whose rightmost `reinterpreted_batch_ndims` batch dims become event dims: log_prob and
    entropy sum over them (a diagonal Normal over vectors is Independent(Normal(loc, scale), 1)).

    >>> import fgrad as torch
    >>> D = torch.distributions
    >>> D.Independent(D.Normal(torch.zeros(2), torch.ones(2)), 1).log_prob(torch.zeros(2))
    tensor(-1.8379)
    """
    arg_constraints: dict = {}

    def __init__(self, base_distribution, reinterpreted_batch_ndims, validate_args=None):
        if reinterpreted_batch_ndims > len(base_distribution.batch_shape):
            raise ValueError("Expected reinterpreted_batch_ndims <= len(base_distribution.batch_shape), actual "
                             f"{reinterpreted_batch_ndims} vs {len(base_distribution.batch_shape)}")
        shape = tuple(base_distribution.batch_shape) + tuple(base_distribution.event_shape)
        event_dim = reinterpreted_batch_ndims + len(base_distribution.event_shape)
        self.base_dist = base_distribution
        self.reinterpreted_batch_ndims = reinterpreted_batch_ndims
        super().__init__(shape[:len(shape) - event_dim], shape[len(shape) - event_dim:], validate_args=validate_args)

    has_rsample = property(lambda self: self.base_dist.has_rsample)
    mean = property(lambda self: self.base_dist.mean)
    mode = property(lambda self: self.base_dist.mode)
    variance = property(lambda self: self.base_dist.variance)

    @property
    def support(self):
        support = self.base_dist.support
        if support is not None and self.reinterpreted_batch_ndims:
            return constraints.independent(support, self.reinterpreted_batch_ndims)
        return support

    def sample(self, sample_shape=()):
        return self.base_dist.sample(sample_shape)

    def rsample(self, sample_shape=()):
        return self.base_dist.rsample(sample_shape)

    def log_prob(self, value):
        return _sum_rightmost(self.base_dist.log_prob(value), self.reinterpreted_batch_ndims)

    def entropy(self):
        return _sum_rightmost(self.base_dist.entropy(), self.reinterpreted_batch_ndims)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_dist}, {self.reinterpreted_batch_ndims})"


# ---- KL divergence ----------------------------------------------------------------------------------------

_KL = {}


def register_kl(type_p, type_q):
    """Decorator registering kl(p, q) for a pair of distribution types."""
    def register(fn):
        _KL[type_p, type_q] = fn
        return fn
    return register


def kl_divergence(p, q):
    """KL(p || q) for a pair of distributions with a registered formula (Normal, Bernoulli, Categorical,
    Uniform, Exponential, Independent pairs of the same type).

    >>> import fgrad as torch
    >>> N = torch.distributions.Normal
    >>> torch.distributions.kl_divergence(N(0.0, 1.0), N(1.0, 1.0))
    tensor(0.5000)
    """
    for (tp, tq), fn in _KL.items():
        if isinstance(p, tp) and isinstance(q, tq):
            return fn(p, q)
    raise NotImplementedError(f"No KL(p || q) is implemented for p type {type(p).__name__} and q type "
                              f"{type(q).__name__}")


@register_kl(Independent, Independent)
def _kl_independent_independent(p, q):
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError
    return _sum_rightmost(kl_divergence(p.base_dist, q.base_dist), p.reinterpreted_batch_ndims)


@register_kl(Normal, Normal)
def _kl_normal_normal(p, q):
    var_ratio = (p.scale / q.scale).pow(2)
    t1 = ((p.loc - q.loc) / q.scale).pow(2)
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p, q):
    t1 = p.probs * (softplus(-q.logits) - softplus(-p.logits))
    t1 = where(q.probs == 0, math.inf, t1)
    t1 = where(p.probs == 0, 0.0, t1)
    t2 = (1 - p.probs) * (softplus(q.logits) - softplus(p.logits))
    t2 = where(q.probs == 1, math.inf, t2)
    t2 = where(p.probs == 1, 0.0, t2)
    return t1 + t2


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p, q):
    t = p.probs * (p.logits - q.logits)
    t = where((q.probs == 0).expand_as(t), math.inf, t)
    t = where((p.probs == 0).expand_as(t), 0.0, t)
    return t.sum(-1)


@register_kl(Uniform, Uniform)
def _kl_uniform_uniform(p, q):
    result = ((q.high - q.low) / (p.high - p.low)).log()
    return where((q.low > p.low) | (q.high < p.high), math.inf, result)


@register_kl(Exponential, Exponential)
def _kl_exponential_exponential(p, q):
    rate_ratio = q.rate / p.rate
    return rate_ratio - 1 - rate_ratio.log()
