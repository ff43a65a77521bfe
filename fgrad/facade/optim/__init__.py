"""torch.optim for the facade: the Optimizer base, SGD, Adam and AdamW.

A step updates each parameter's numpy array in place, outside the graph (as PyTorch's step runs under
no_grad), and bumps the parameter's version counter as PyTorch's in-place ops do, so a graph that saved the
old value still notices. The updates follow PyTorch's single-tensor code (foreach=False, the CPU default)
line by line in the parameter's dtype, with Python scalars rounded to it and PyTorch's CPU kernels'
rounding: `add_(x, alpha=a)`, `lerp_` and `addcmul_` are fused multiply-adds there (one rounding), and are
here too (`fma`), so given the same gradients a float32 trajectory matches PyTorch's bit for bit.

The maths of each update is written once, as a function of arrays and an array namespace (`sgd_update`,
`adam_update`): numpy runs it for small parameters; from COMPILED_MIN_SIZE elements fgrad.jit compiles it
(with fgrad.numpy) into one fused loop, like any other fgrad program, which is several times faster than
numpy's temporaries there (benchmarks/bench_facade.py, the MLP steps with an optimizer). The two compute the
same float operations in the same order, so the results are the same bits.
"""
from __future__ import annotations

import functools
import warnings
from collections import defaultdict
from copy import deepcopy
from itertools import chain

import numpy as np

import fgrad.numpy as fnp
from fgrad.api import jit
from fgrad.facade import _dtypes, _grad_mode
from fgrad.facade._tensor import Tensor, make
from fgrad.facade.nn.module import _typename, mark_modified_in_place, zero_grad_of

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "LBFGS"]


class _RequiredParameter:
    """Marks a hyperparameter without a default (torch.optim.optimizer.required)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


class Optimizer:
    """Base of optimizers: parameter groups (each a dict holding "params" and its hyperparameters), the
    per-parameter `state`, zero_grad, state_dict / load_state_dict. Subclasses implement `step`.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {_typename(params)}")
        self.state = defaultdict(dict)
        self.param_groups = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own hyperparameters (the defaults fill the missing ones)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        else:
            param_group["params"] = list(params)
        for param in param_group["params"]:
            if not isinstance(param, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {_typename(param)}")
            if not (param.is_leaf or param.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter "
                                 f"{name}")
            param_group.setdefault(name, default)
        params = param_group["params"]
        if len(params) != len({id(p) for p in params}):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will "
                          "cause an error; see github.com/pytorch/pytorch/issues/40967 for more information",
                          UserWarning, stacklevel=3)
        known = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in known for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient: to None (the default), or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                zero_grad_of(p, set_to_none)

    def step(self, closure=None):
        raise NotImplementedError(f"{type(self).__name__} does not implement step()")

    def _run_closure(self, closure):
        if closure is None:
            return None
        with _grad_mode.enable_grad():
            return closure()

    # ---- saving and loading ----------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """{"state": {index: per-parameter state}, "param_groups": [group with "params" as indices]}, the
        indices counting parameters across groups in order (PyTorch's format)."""
        index_of = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index_of.setdefault(id(p), len(index_of))
            packed["params"] = [index_of[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {(index_of[id(p)] if isinstance(p, Tensor) else p): v for p, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyperparameters and per-parameter state saved by state_dict (tensors cast to each
        parameter's dtype, except "step"; tensors already of that dtype are shared, as in PyTorch)."""
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(self.param_groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(self.param_groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in self.param_groups)))
        state = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key in id_map:
                param = id_map[key]
                state[param] = {k: _state_value_for(param, k, v) for k, v in value.items()}
            else:
                state[key] = value
        for group, saved in zip(self.param_groups, saved_groups):
            saved["params"] = group["params"]
        self.state = state
        self.param_groups = saved_groups

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __repr__(self) -> str:
        text = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"


def _state_value_for(param, key, value):
    """A loaded state entry as the parameter needs it, as PyTorch's `value.to(param.dtype)`: the saved tensor
    itself when its dtype is the parameter's (so the loaded optimizer shares it with the state dict, as in
    PyTorch; a checkpoint read back from disk is a copy anyway), else a copy cast to it; "step" as saved."""
    if not isinstance(value, Tensor):
        return value
    if key != "step" and param.is_floating_point() and value._data.dtype != param._data.dtype:
        return make(value._data.astype(param._data.dtype))
    return value


def _grads(group):
    """(parameter, its gradient as a numpy array) for the parameters of `group` that have a gradient; a
    gradient laid out differently from its parameter (a transposed matmul result) is copied into the
    parameter's layout once, rather than every update op walking the two in different orders."""
    for p in group["params"]:
        grad = p._grad
        if grad is not None:
            data = grad._data
            if p._data.flags.c_contiguous and not data.flags.c_contiguous:
                data = np.ascontiguousarray(data)
            yield p, data


def _zeros_like(param) -> Tensor:
    return make(np.zeros_like(param._data))


# ---- the update maths, written once on arrays --------------------------------------------------------

def fma(xp, base, scale, factor):
    """base + scale * factor rounded once, as the FMA in PyTorch's CPU kernels (`xp`: numpy or fgrad.numpy;
    `scale` an array of base's dtype, 0-d or shaped like `factor`).

    float32 goes through float64, where the product of two float32 values is exact, so the only rounding
    that matters is the final one (a double rounding differs from the fused result in about 2**-29 of
    cases). float64 has no wider type; it is rounded twice.
    """
    if base.dtype == np.float32:
        wide = factor * scale.astype(np.float64) + base          # float64 from here on: a float64 array promotes
        return wide.astype(np.float32)
    return base + scale * factor


def lerp(xp, start, end, weight: float):
    """start + weight * (end - start), fused as PyTorch's lerp kernel: from start for weights below 0.5, else
    from end with weight - 1 (both exact at their own endpoint)."""
    w = start.dtype.type(weight)
    if abs(w) < 0.5:
        return fma(xp, start, np.asarray(w), end - start)
    return fma(xp, end, np.asarray(w - 1), end - start)


def _decayed(xp, param, grad, weight_decay, maximize):
    """The gradient after maximize and (L2) weight decay: grad.add(param, alpha=weight_decay)."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = fma(xp, grad, np.asarray(param.dtype.type(weight_decay)), param)
    return grad


def _adam_decayed(xp, param, grad, decay, weight_decay, decoupled, maximize):
    """(param, grad) after maximize and weight decay as the Adam family applies it: decoupled (AdamW,
    param * (1 - lr * weight_decay), passed as `decay`) or L2 on the gradient (`_decayed`)."""
    if decoupled and weight_decay != 0:
        return param * decay, (-grad if maximize else grad)
    return param, _decayed(xp, param, grad, weight_decay, maximize)


def sgd_update(xp, param, grad, neg_lr, *buf, momentum, dampening, weight_decay, nesterov, maximize):
    """(new param,) after one SGD step, and with momentum the new momentum buffer: `buf` is the buffer, or
    absent on the first step."""
    dtype = param.dtype.type
    grad = _decayed(xp, param, grad, weight_decay, maximize)
    if momentum == 0:
        return (fma(xp, param, neg_lr, grad),)                                   # p.add_(g, alpha=-lr)
    if buf:
        buf = fma(xp, buf[0] * dtype(momentum), np.asarray(dtype(1 - dampening)), grad)
    else:
        buf = grad                                                               # torch.clone(grad)
    grad = fma(xp, grad, np.asarray(dtype(momentum)), buf) if nesterov else buf
    return fma(xp, param, neg_lr, grad), buf


def adam_update(xp, param, grad, exp_avg, exp_avg_sq, decay, neg_step_size, bias_correction2_sqrt,
                *max_exp_avg_sq, beta1, beta2, eps, weight_decay, decoupled, maximize):
    """(param, exp_avg, exp_avg_sq) after one Adam step, and max_exp_avg_sq with amsgrad (given only then).
    `decay` is 1 - lr * weight_decay (AdamW); the other two scalars are the step's bias corrections."""
    dtype = param.dtype.type
    param, grad = _adam_decayed(xp, param, grad, decay, weight_decay, decoupled, maximize)
    exp_avg = lerp(xp, exp_avg, grad, 1 - beta1)
    # addcmul_(grad, grad, value=1 - beta2): (value * grad) rounded, then fused with * grad + self
    exp_avg_sq = fma(xp, exp_avg_sq * dtype(beta2), grad * dtype(1 - beta2), grad)
    if max_exp_avg_sq:
        max_exp_avg_sq = (xp.maximum(max_exp_avg_sq[0], exp_avg_sq),)
        denom = xp.sqrt(max_exp_avg_sq[0]) / bias_correction2_sqrt + dtype(eps)
    else:
        denom = xp.sqrt(exp_avg_sq) / bias_correction2_sqrt + dtype(eps)
    param = param + neg_step_size * exp_avg / denom
    return (param, exp_avg, exp_avg_sq) + max_exp_avg_sq


# From this many elements on, updates are compiled: one fused loop without float64 temporaries, measured ~4x
# faster than numpy's route on 200k float32 elements; below it, numpy costs less than the call into the loop.
COMPILED_MIN_SIZE = 1 << 15
# The compiled loop runs over blocks of at most this many bytes per array, each written into place before
# the next: the block's results are still in cache when copied, and stay under glibc's 128 KiB mmap
# threshold, so malloc reuses them (results the size of a whole 200k-element weight were mapped afresh each
# call: ~900 page faults per Adam step of the benchmark's MLP, which made it 40% slower).
BLOCK_BYTES = 120 * 1024


def apply_update(update, outputs, *arrays, **static):
    """Run `update(xp, *arrays, **static)` and write its k-th result into `outputs[k]` (arrays shaped like
    the parameter): with numpy below COMPILED_MIN_SIZE elements, else compiled by fgrad.jit, block by block
    (the arrays are all numpy arrays, so each call takes jit's fast path). Every update is elementwise, so a block of the results depends only on the
    same block of the inputs, and an output may be one of the inputs (the parameter, updated in place)."""
    size = outputs[0].size
    if size < COMPILED_MIN_SIZE:
        _write(outputs, update(np, *arrays, **static), ...)   # `...`: 0-d parameters too
        return
    compiled = _compiled(update, tuple(sorted(static.items())))
    whole = [a.ndim > 0 and a.size == size for a in arrays]
    if not all(a.flags.c_contiguous for a, w in zip(arrays + tuple(outputs), whole + [True] * len(outputs)) if w):
        _write(outputs, compiled(*arrays), ...)       # no flat view of some array: one block
        return
    flat = [a.reshape(-1) if w else a for a, w in zip(arrays, whole)]
    targets = [o.reshape(-1) for o in outputs]
    step = BLOCK_BYTES // outputs[0].itemsize
    for start in range(0, size, step):
        block = slice(start, start + step)
        _write(targets, compiled(*[a[block] if w else a for a, w in zip(flat, whole)]), block)


def _write(outputs, results, where):
    for out, result in zip(outputs, results if isinstance(results, tuple) else (results,)):
        out[where] = result


@functools.lru_cache(maxsize=256)
def _compiled(update, static):
    # Serial loops: an update is one pass over memory, and prange threads only contend for the two cores
    # (measured many times slower on a loaded machine).
    return jit(functools.partial(update, fnp, **dict(static)), parallel=False)


def fused_multiply_add(base, scale, factor, out=None):
    """base + scale * factor rounded once (see `fma`), into `out` when given; `scale` a Python number
    (rounded to base's dtype first, as PyTorch casts a Scalar) or an array shaped like `factor`.

    >>> fused_multiply_add(np.float32([-1.0]), 1 + 2 ** -12, np.float32([1 + 2 ** -12])) == 2 ** -11 + 2 ** -24
    array([ True])
    """
    result = np.empty_like(base) if out is None else out
    apply_update(fma, (result,), base, np.asarray(scale, base.dtype), factor)
    return result


# ---- SGD ----------------------------------------------------------------------------------------------

class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and weight decay:

        g = grad + weight_decay * p
        buf = g (first step), else momentum * buf + (1 - dampening) * g
        g = g + momentum * buf (nesterov), else buf
        p = p - lr * g

    >>> import fgrad as torch
    >>> w = torch.tensor([1.0], requires_grad=True)
    >>> opt = torch.optim.SGD([w], lr=0.1)
    >>> (w * 3).sum().backward(); opt.step(); w
    tensor([0.7000], requires_grad=True)
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
                                  "foreach": foreach, "differentiable": differentiable, "fused": fused})

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure() when given."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            momentum = group["momentum"]
            static = dict(momentum=momentum, dampening=group["dampening"], weight_decay=group["weight_decay"],
                          nesterov=group["nesterov"], maximize=group["maximize"])
            for p, grad in _grads(group):
                data = p._data
                state = self.state[p]
                buf = state.get("momentum_buffer") if momentum != 0 else None
                given = () if buf is None else (buf._data,)
                if momentum != 0 and buf is None:                   # the first step
                    buf = state["momentum_buffer"] = make(np.empty_like(data))
                outputs = (data,) if buf is None else (data, buf._data)
                apply_update(sgd_update, outputs, data, grad, np.asarray(-group["lr"], data.dtype), *given,
                             **static)
                mark_modified_in_place(p)
        return loss


# ---- Adam and AdamW ----------------------------------------------------------------------------------

class Adam(Optimizer):
    """Adam: running averages of the gradient and its square, bias-corrected:

        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    weight_decay adds weight_decay * p to the gradient (L2); AdamW (decoupled) scales p by
    1 - lr * weight_decay instead. amsgrad uses the running maximum of v.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach,
                                  "capturable": capturable, "differentiable": differentiable, "fused": fused,
                                  "decoupled_weight_decay": decoupled_weight_decay})

    def _state_of(self, p, amsgrad: bool) -> dict:
        state = self.state[p]
        if len(state) == 0:
            # "step" is a float32 scalar tensor (float64 under a float64 default dtype), as PyTorch keeps it
            state["step"] = make(np.array(0.0, dtype=_dtypes.default_float_numpy()))
            state["exp_avg"] = _zeros_like(p)
            state["exp_avg_sq"] = _zeros_like(p)
            if amsgrad:
                state["max_exp_avg_sq"] = _zeros_like(p)
        return state

    def step(self, closure=None):
        """One Adam update of every parameter that has a gradient; returns closure() when given."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, amsgrad = group["lr"], group["amsgrad"]
            static = dict(beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
                          decoupled=group["decoupled_weight_decay"], maximize=group["maximize"])
            for p, grad in _grads(group):
                state = self._state_of(p, amsgrad)
                data = p._data
                step_t = state["step"]._data
                step_t += 1
                step = step_t.item()
                # the step's scalars in Python floats, as PyTorch's single-tensor Adam computes them
                bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
                neg_step_size = -(lr / (1 - beta1 ** step))
                decay = 1 - lr * static["weight_decay"]
                scalars = [np.asarray(v, data.dtype) for v in (decay, neg_step_size, bias_correction2_sqrt)]
                moments = [state["exp_avg"]._data, state["exp_avg_sq"]._data]
                max_sq = [state["max_exp_avg_sq"]._data] if amsgrad else []
                apply_update(adam_update, [data] + moments + max_sq, data, grad, *moments, *scalars, *max_sq,
                             **static)
                mark_modified_in_place(p)
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (p scaled by 1 - lr * weight_decay before the Adam update)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)


# ---- RMSprop, Adagrad, Adadelta, Adamax, NAdam: update maths on arrays ----------------------------------------
# Each follows PyTorch's single-tensor code line by line: `a.mul_(s)` is a * s with s rounded to a's dtype;
# `addcmul_(t1, t2, value=v)` is fma(a, v * t1, t2); `addcdiv_(t1, t2, value=v)` is a + (v * t1) / t2 (no FMA in
# PyTorch's kernel); `add_(x, alpha=s)` is fma(a, s, x). Per-step scalars arrive as 0-d arrays of the
# parameter's dtype, so one compiled update serves every step.

def rmsprop_update(xp, param, grad, square_avg, neg_lr, *buffers, alpha, eps, weight_decay, momentum, centered,
                   maximize):
    """(param, square_avg, [momentum_buffer], [grad_avg]) after one RMSprop step; `buffers` holds the
    momentum buffer (momentum > 0) and then the gradient average (centered), as given."""
    dtype = param.dtype.type
    grad = _decayed(xp, param, grad, weight_decay, maximize)
    square_avg = fma(xp, square_avg * dtype(alpha), grad * dtype(1 - alpha), grad)
    rest = list(buffers)
    buf = rest.pop(0) if momentum > 0 else None
    grad_avg = rest.pop(0) if centered else None
    if centered:
        grad_avg = lerp(xp, grad_avg, grad, 1 - alpha)
        avg = xp.sqrt(fma(xp, square_avg, -grad_avg, grad_avg))
    else:
        avg = xp.sqrt(square_avg)
    avg = avg + dtype(eps)
    if momentum > 0:
        buf = buf * dtype(momentum) + grad / avg
        param = fma(xp, param, neg_lr, buf)
    else:
        param = param + neg_lr * grad / avg
    return (param, square_avg) + ((buf,) if momentum > 0 else ()) + ((grad_avg,) if centered else ())


def adagrad_update(xp, param, grad, state_sum, neg_clr, *, eps, weight_decay, maximize):
    """(param, sum) after one Adagrad step (`neg_clr` = -lr / (1 + (step - 1) * lr_decay))."""
    grad = _decayed(xp, param, grad, weight_decay, maximize)
    state_sum = fma(xp, state_sum, grad, grad)
    std = xp.sqrt(state_sum) + param.dtype.type(eps)
    return param + neg_clr * grad / std, state_sum


def adadelta_update(xp, param, grad, square_avg, acc_delta, neg_lr, *, rho, eps, weight_decay, maximize):
    """(param, square_avg, acc_delta) after one Adadelta step."""
    dtype = param.dtype.type
    grad = _decayed(xp, param, grad, weight_decay, maximize)
    square_avg = fma(xp, square_avg * dtype(rho), grad * dtype(1 - rho), grad)
    std = xp.sqrt(square_avg + dtype(eps))
    delta = xp.sqrt(acc_delta + dtype(eps)) / std * grad
    acc_delta = fma(xp, acc_delta * dtype(rho), delta * dtype(1 - rho), delta)
    return fma(xp, param, neg_lr, delta), square_avg, acc_delta


def adamax_update(xp, param, grad, exp_avg, exp_inf, neg_clr, *, beta1, beta2, eps, weight_decay, maximize):
    """(param, exp_avg, exp_inf) after one Adamax step (`neg_clr` = -lr / (1 - beta1**step))."""
    dtype = param.dtype.type
    grad = _decayed(xp, param, grad, weight_decay, maximize)
    exp_avg = lerp(xp, exp_avg, grad, 1 - beta1)
    exp_inf = xp.maximum(exp_inf * dtype(beta2), xp.abs(grad) + dtype(eps))
    return param + neg_clr * exp_avg / exp_inf, exp_avg, exp_inf


def nadam_update(xp, param, grad, exp_avg, exp_avg_sq, decay, bias_correction2, grad_scale, avg_scale, *,
                 beta1, beta2, eps, weight_decay, decoupled, maximize):
    """(param, exp_avg, exp_avg_sq) after one NAdam step; the step's scalars (the decoupled decay
    1 - lr * weight_decay, 1 - beta2**step and the two momentum-cache factors) come from NAdam.step."""
    dtype = param.dtype.type
    param, grad = _adam_decayed(xp, param, grad, decay, weight_decay, decoupled, maximize)
    exp_avg = lerp(xp, exp_avg, grad, 1 - beta1)
    exp_avg_sq = fma(xp, exp_avg_sq * dtype(beta2), grad * dtype(1 - beta2), grad)
    denom = xp.sqrt(exp_avg_sq / bias_correction2) + dtype(eps)
    param = param + grad_scale * grad / denom
    param = param + avg_scale * exp_avg / denom
    return param, exp_avg, exp_avg_sq


def _step_counter() -> Tensor:
    """PyTorch's "step" state: a float32 scalar tensor (float64 under a float64 default dtype)."""
    return make(np.array(0.0, dtype=_dtypes.default_float_numpy()))


def _count_step(state) -> float:
    step_t = state["step"]._data
    step_t += 1
    return step_t.item()


def _check(condition, message):
    if not condition:
        raise ValueError(message)


class RMSprop(Optimizer):
    """RMSprop: divide the gradient by a running root mean square of recent gradients:

        v = alpha * v + (1 - alpha) * g * g;   avg = sqrt(v - mean(g)**2 if centered else v) + eps
        buf = momentum * buf + g / avg;  p = p - lr * buf     (momentum > 0; else p = p - lr * g / avg)

    >>> import fgrad as torch
    >>> w = torch.tensor([1.0], requires_grad=True)
    >>> opt = torch.optim.RMSprop([w], lr=0.01)
    >>> (w * 3).sum().backward(); opt.step(); w
    tensor([0.9000], requires_grad=True)
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        _check(0.0 <= lr, f"Invalid learning rate: {lr}")
        _check(0.0 <= eps, f"Invalid epsilon value: {eps}")
        _check(0.0 <= momentum, f"Invalid momentum value: {momentum}")
        _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        _check(0.0 <= alpha, f"Invalid alpha value: {alpha}")
        super().__init__(params, {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
                                  "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach,
                                  "maximize": maximize, "differentiable": differentiable})

    def step(self, closure=None):
        """One RMSprop update of every parameter that has a gradient; returns closure() when given."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            momentum, centered = group["momentum"], group["centered"]
            static = dict(alpha=group["alpha"], eps=group["eps"], weight_decay=group["weight_decay"],
                          momentum=momentum, centered=centered, maximize=group["maximize"])
            for p, grad in _grads(group):
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _step_counter()
                    state["square_avg"] = _zeros_like(p)
                    if momentum > 0:
                        state["momentum_buffer"] = _zeros_like(p)
                    if centered:
                        state["grad_avg"] = _zeros_like(p)
                _count_step(state)
                data = p._data
                buffers = ([state["momentum_buffer"]._data] if momentum > 0 else []) + \
                          ([state["grad_avg"]._data] if centered else [])
                square_avg = state["square_avg"]._data
                apply_update(rmsprop_update, [data, square_avg] + buffers, data, grad, square_avg,
                             np.asarray(-group["lr"], data.dtype), *buffers, **static)
                mark_modified_in_place(p)
        return loss


class Adagrad(Optimizer):
    """Adagrad: per-element learning rates from the running sum of squared gradients:

        s = s + g * g;   p = p - lr / (1 + (step - 1) * lr_decay) * g / (sqrt(s) + eps)

    Its state exists from construction (the sums start at initial_accumulator_value), as in PyTorch.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check(0.0 <= lr, f"Invalid learning rate: {lr}")
        _check(0.0 <= lr_decay, f"Invalid lr_decay value: {lr_decay}")
        _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        _check(0.0 <= initial_accumulator_value, f"Invalid initial_accumulator_value value: "
                                                 f"{initial_accumulator_value}")
        _check(0.0 <= eps, f"Invalid epsilon value: {eps}")
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
                                  "maximize": maximize, "differentiable": differentiable, "fused": fused})
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = _step_counter()
                state["sum"] = make(np.full_like(p._data, group["initial_accumulator_value"]))

    def step(self, closure=None):
        """One Adagrad update of every parameter that has a gradient; returns closure() when given."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            static = dict(eps=group["eps"], weight_decay=group["weight_decay"], maximize=group["maximize"])
            for p, grad in _grads(group):
                state = self.state[p]
                step = _count_step(state)
                clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
                data, state_sum = p._data, state["sum"]._data
                apply_update(adagrad_update, (data, state_sum), data, grad, state_sum, np.asarray(-clr, data.dtype),
                             **static)
                mark_modified_in_place(p)
        return loss


class Adadelta(Optimizer):
    """Adadelta: step sizes from running averages of squared gradients and squared updates:

        v = rho * v + (1 - rho) * g * g;   delta = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta * delta;   p = p - lr * delta
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        _check(0.0 <= lr, f"Invalid learning rate: {lr}")
        _check(0.0 <= rho <= 1.0, f"Invalid rho value: {rho}")
        _check(0.0 <= eps, f"Invalid epsilon value: {eps}")
        _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                                  "maximize": maximize, "capturable": capturable, "foreach": foreach,
                                  "differentiable": differentiable})

    def step(self, closure=None):
        """One Adadelta update of every parameter that has a gradient; returns closure() when given."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            static = dict(rho=group["rho"], eps=group["eps"], weight_decay=group["weight_decay"],
                          maximize=group["maximize"])
            for p, grad in _grads(group):
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _step_counter()
                    state["square_avg"] = _zeros_like(p)
                    state["acc_delta"] = _zeros_like(p)
                _count_step(state)
                data = p._data
                moments = [state["square_avg"]._data, state["acc_delta"]._data]
                apply_update(adadelta_update, [data] + moments, data, grad, *moments,
                             np.asarray(-group["lr"], data.dtype), **static)
                mark_modified_in_place(p)
        return loss


class Adamax(Optimizer):
    """Adamax, Adam with the infinity norm:

        m = lerp(m, g, 1 - beta1);  u = max(beta2 * u, |g| + eps);  p = p - lr / (1 - beta1**t) * m / u
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        _check(0.0 <= lr, f"Invalid learning rate: {lr}")
        _check(0.0 <= eps, f"Invalid epsilon value: {eps}")
        _check(0.0 <= betas[0] < 1.0, f"Invalid beta parameter at index 0: {betas[0]}")
        _check(0.0 <= betas[1] < 1.0, f"Invalid beta parameter at index 1: {betas[1]}")
        _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                                  "foreach": foreach, "maximize": maximize, "differentiable": differentiable,
                                  "capturable": capturable})

    def step(self, closure=None):
        """One Adamax update of every parameter that has a gradient; returns closure() when given."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            static = dict(beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
                          maximize=group["maximize"])
            for p, grad in _grads(group):
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _step_counter()
                    state["exp_avg"] = _zeros_like(p)
                    state["exp_inf"] = _zeros_like(p)
                step = _count_step(state)
                clr = group["lr"] / (1 - beta1 ** step)
                data = p._data
                moments = [state["exp_avg"]._data, state["exp_inf"]._data]
                apply_update(adamax_update, [data] + moments, data, grad, *moments, np.asarray(-clr, data.dtype),
                             **static)
                mark_modified_in_place(p)
        return loss


class NAdam(Optimizer):
    """NAdam: Adam with Nesterov momentum, the momentum cache mu_t = beta1 (1 - 0.5 * 0.96**(t * momentum_decay)):

        p = p - lr (1 - mu_t) / (1 - prod mu) * g / d - lr mu_{t+1} / (1 - prod mu * mu_{t+1}) * m / d,
        d = sqrt(v / (1 - beta2**t)) + eps

    decoupled_weight_decay=True scales p by 1 - lr * weight_decay (NAdamW) instead of adding to the gradient.
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        _check(0.0 <= lr, f"Invalid learning rate: {lr}")
        _check(0.0 <= eps, f"Invalid epsilon value: {eps}")
        _check(0.0 <= betas[0] < 1.0, f"Invalid beta parameter at index 0: {betas[0]}")
        _check(0.0 <= betas[1] < 1.0, f"Invalid beta parameter at index 1: {betas[1]}")
        _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        _check(0.0 <= momentum_decay, f"Invalid momentum_decay value: {momentum_decay}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                                  "momentum_decay": momentum_decay, "decoupled_weight_decay": decoupled_weight_decay,
                                  "maximize": maximize, "foreach": foreach, "capturable": capturable,
                                  "differentiable": differentiable})

    def step(self, closure=None):
        """One NAdam update of every parameter that has a gradient; returns closure() when given."""
        loss = self._run_closure(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, weight_decay = group["lr"], group["weight_decay"]
            static = dict(beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=weight_decay,
                          decoupled=group["decoupled_weight_decay"], maximize=group["maximize"])
            for p, grad in _grads(group):
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _step_counter()
                    state["mu_product"] = make(np.array(1.0, dtype=_dtypes.default_float_numpy()))
                    state["exp_avg"] = _zeros_like(p)
                    state["exp_avg_sq"] = _zeros_like(p)
                step = _count_step(state)
                # the step's scalars as PyTorch computes them: Python floats, except mu_product, a float32 tensor
                bias_correction2 = 1 - beta2 ** step
                mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * group["momentum_decay"])))
                mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * group["momentum_decay"])))
                mu_product_t = state["mu_product"]._data
                mu_product_t *= mu_product_t.dtype.type(mu)
                mu_product = mu_product_t.item()
                grad_scale = -lr * (1.0 - mu) / (1.0 - mu_product)
                avg_scale = (-lr * mu_next) / (1.0 - mu_product * mu_next)
                data = p._data
                scalars = [np.asarray(v, data.dtype) for v in (1 - lr * weight_decay, bias_correction2, grad_scale,
                                                               avg_scale)]
                moments = [state["exp_avg"]._data, state["exp_avg_sq"]._data]
                apply_update(nadam_update, [data] + moments, data, grad, *moments, *scalars, **static)
                mark_modified_in_place(p)
        return loss


# ---- L-BFGS -----------------------------------------------------------------------------------------------------
# Its maths is on the parameters flattened into one vector, with dot products and a line search, not an
# elementwise update: it is written with facade tensor ops (no graph: step runs under no_grad), line by line as
# PyTorch's, so the Python floats and 0-d tensors it mixes round as there.

def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to `bounds` (or [x1, x2])."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = d2_square.sqrt()
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """A step length satisfying the strong Wolfe conditions (bracketing, then zoom by cubic interpolation):
    (f_new, g_new, t, function evaluations), as PyTorch's port of lswolfe.lua."""
    d_norm = d.abs().max()
    g = g.clone()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = g_new.dot(d)
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.clone()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.clone()], [gtd_prev, gtd_new]
            break
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new.clone(), gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom: refine the bracket until a point satisfies the conditions
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                t = max(bracket) - eps if abs(t - max(bracket)) < abs(t - min(bracket)) else min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new.clone(), gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos], bracket_gtd[high_pos] = bracket_g[low_pos], bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new.clone(), gtd_new
    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


class LBFGS(Optimizer):
    """L-BFGS (limited-memory BFGS), as torch.optim.LBFGS: `step(closure)` runs up to max_iter iterations, each
    a direction from the last `history_size` curvature pairs and a step of length lr, or one found by the
    strong-Wolfe line search (`line_search_fn="strong_wolfe"`). The closure clears the gradients, computes the
    loss, calls backward and returns the loss. One parameter group only.

    >>> import fgrad as torch
    >>> x = torch.tensor([1.5, -0.5], requires_grad=True)
    >>> opt = torch.optim.LBFGS([x], line_search_fn="strong_wolfe")
    >>> def closure():
    ...     opt.zero_grad(); loss = ((x - 1) ** 2).sum(); loss.backward(); return loss
    >>> _ = opt.step(closure); x
    tensor([1., 1.], requires_grad=True)
    """

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        _check(0.0 <= lr, f"Invalid learning rate: {lr}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, {"lr": lr, "max_iter": max_iter, "max_eval": max_eval,
                                  "tolerance_grad": tolerance_grad, "tolerance_change": tolerance_change,
                                  "history_size": history_size, "line_search_fn": line_search_fn})
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]
        self._numel_cache = None

    def _numel(self) -> int:
        if self._numel_cache is None:
            self._numel_cache = sum(p.numel() for p in self._params)
        return self._numel_cache

    def _gather_flat_grad(self):
        from fgrad.facade._shapes import cat
        views = [make(np.zeros(p.numel(), p._data.dtype)) if p._grad is None else p._grad.reshape(-1)
                 for p in self._params]
        return cat(views, 0)

    def _add_grad(self, step_size, update) -> None:
        offset = 0
        for p in self._params:
            numel = p.numel()
            p.add_(update[offset:offset + numel].view_as(p), alpha=step_size)
            offset += numel

    def _clone_param(self):
        return [p.clone() for p in self._params]

    def _set_param(self, params_data) -> None:
        for p, pdata in zip(self._params, params_data):
            p.copy_(pdata)

    def _directional_evaluate(self, closure, x, t, d):
        self._add_grad(t, d)
        loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    def step(self, closure):
        """Up to max_iter L-BFGS iterations on `closure` (required, as in PyTorch); returns its first loss."""
        with _grad_mode.no_grad():
            return self._step(closure)

    def _closure(self, closure):
        with _grad_mode.enable_grad():
            return closure()

    def _step(self, closure):
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]

        # L-BFGS keeps global state, registered under the first parameter (as PyTorch does)
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = self._closure(closure)
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if flat_grad.abs().max() <= tolerance_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        H_diag, prev_flat_grad, prev_loss = state.get("H_diag"), state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # the descent direction
            if state["n_iter"] == 1:
                d = flat_grad.neg()
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad.sub(prev_flat_grad)
                s = d.mul(t)
                ys = y.dot(s)
                if ys > 1e-10:
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / y.dot(y)
                num_old = len(old_dirs)
                if "al" not in state:
                    state["al"] = [None] * history_size
                al = state["al"]
                q = flat_grad.neg()
                for i in range(num_old - 1, -1, -1):
                    al[i] = old_stps[i].dot(q) * ro[i]
                    q.add_(old_dirs[i], alpha=-al[i])
                d = r = q.mul(H_diag)
                for i in range(num_old):
                    be_i = old_dirs[i].dot(r) * ro[i]
                    r.add_(old_stps[i], alpha=al[i] - be_i)

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.clone()
            else:
                prev_flat_grad.copy_(flat_grad)
            prev_loss = loss

            # the step length
            t = min(1.0, 1.0 / flat_grad.abs().sum()) * lr if state["n_iter"] == 1 else lr
            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                if line_search_fn != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x_init = self._clone_param()

                def obj_func(x, t, d):
                    return self._directional_evaluate(lambda: self._closure(closure), x, t, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(obj_func, x_init, t, d, loss, flat_grad, gtd,
                                                                  max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = flat_grad.abs().max() <= tolerance_grad
            else:
                self._add_grad(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    # re-evaluate only if not the last iteration (in a stochastic setting there is no use)
                    loss = float(self._closure(closure))
                    flat_grad = self._gather_flat_grad()
                    opt_cond = flat_grad.abs().max() <= tolerance_grad
                    ls_func_evals = 1

            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if d.mul(t).abs().max() <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=H_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss
