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

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]


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
        parameter's dtype, except "step")."""
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
    """A loaded state entry as the parameter needs it: a copy in the parameter's dtype ("step" as saved)."""
    if not isinstance(value, Tensor):
        return value
    if key != "step" and param.is_floating_point():
        return make(np.array(value._data, dtype=param._data.dtype, copy=True))
    return make(np.array(value._data, copy=True))


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


def sgd_update(xp, param, grad, neg_lr, *buf, momentum, dampening, weight_decay, nesterov, maximize):
    """(new param,) after one SGD step, and with momentum the new momentum buffer: `buf` is the buffer, or
    absent on the first step."""
    dtype = param.dtype.type
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = fma(xp, grad, np.asarray(dtype(weight_decay)), param)              # grad.add(p, alpha=wd)
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
    if maximize:
        grad = -grad
    if weight_decay != 0:
        if decoupled:
            param = param * decay
        else:
            grad = fma(xp, grad, np.asarray(dtype(weight_decay)), param)
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
        _write(outputs, update(np, *arrays, **static), slice(None))
        return
    compiled = _compiled(update, tuple(sorted(static.items())))
    whole = [a.ndim > 0 and a.size == size for a in arrays]
    if not all(a.flags.c_contiguous for a, w in zip(arrays + tuple(outputs), whole + [True] * len(outputs)) if w):
        _write(outputs, compiled(*arrays), slice(None))       # no flat view of some array: one block
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
