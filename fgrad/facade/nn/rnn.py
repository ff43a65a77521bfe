"""Recurrent layers: RNN (tanh or relu), LSTM (with proj_size), GRU, and their single-step cells.

Each step is ATen's CPU cell (aten/src/ATen/native/RNN.cpp) written with fgrad ops in its order, so values and
gradients follow from the ops' rules (no derivative rule of its own):

    RNN:   h' = tanh(h W_hh^T + b_hh + x W_ih^T + b_ih)                  (relu for nonlinearity="relu")
    LSTM:  i, f, g, o = chunk(h W_hh^T + b_hh + x W_ih^T + b_ih, 4)
           c' = sigmoid(f) * c + sigmoid(i) * tanh(g);  h' = sigmoid(o) * tanh(c')   (then h' W_hr^T)
    GRU:   r, z, n-parts from x W_ih^T + b_ih and h W_hh^T + b_hh, chunked in 3;
           n = tanh(x_n + r * h_n);  h' = (h - n) * z + n

A whole-sequence layer projects the input of every step at once (one product over (T, B, I)), runs the steps,
and stacks their outputs; the reverse direction walks the steps backwards; a bidirectional layer concatenates
both directions' outputs; dropout (training only) follows every layer but the last; h_n (and c_n) stack the
layers' final states, layer-major, forward before reverse. As in PyTorch. Each direction of each layer is one
facade op (a scan over the steps, see below), named as PyTorch's last node over the layer: the outputs'
grad_fn is PyTorch's (MkldnnRnnLayerBackward0 for LSTM, StackBackward0 for RNN and GRU; SqueezeBackward1 for
unbatched input; h_n and c_n StackBackward0), with one exception: with batch_first, PyTorch's RNN and GRU
transpose their output in place (TransposeBackward1), here out of place (TransposeBackward0). The nodes inside
the graph differ (one per layer here), and values can differ from PyTorch's by float32 rounding (its CPU LSTM
runs oneDNN; the same formulas, another summation order). The cells (RNNCell, LSTMCell, GRUCell) are composed
of facade ops and record PyTorch's nodes: TanhBackward0/ReluBackward0, MulBackward0 (h') and AddBackward0
(c'), AddBackward0. PackedSequence input is not supported.

Initialisation is PyTorch's: every parameter, in registration order, from U(-1/sqrt(hidden_size),
1/sqrt(hidden_size)) on the facade's random stream, so `torch.manual_seed(0); nn.LSTM(...)` holds PyTorch's
weights bit for bit.
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from fgrad import lax, ops
from fgrad.facade import _dtypes, _elementwise, _shapes
from fgrad.facade._op import FacadeOp, apply
from fgrad.facade._tensor import make
from fgrad.facade.nn import functional as F
from fgrad.facade.nn import init
from fgrad.facade.nn.module import Module
from fgrad.facade.nn.parameter import Parameter

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _empty_parameter(shape, dtype) -> Parameter:
    np_dtype = _dtypes.default_float_numpy() if dtype is None else _dtypes.to_numpy(dtype)
    return Parameter(make(np.empty(shape, dtype=np_dtype)))


def _zeros(shape, like):
    return make(np.zeros(shape, dtype=like._data.dtype))


# ---- one step of each cell (ATen's CPU formulas) ----------------------------------------------------------

def _simple_step(x_proj, h, w_hh, b_hh, relu: bool):
    pre = _elementwise.add(F.linear(h, w_hh, b_hh), x_proj)
    return _elementwise.relu(pre) if relu else _elementwise.tanh(pre)


def _lstm_step(x_proj, h, c, w_hh, b_hh, w_hr):
    gates = _elementwise.add(F.linear(h, w_hh, b_hh), x_proj)
    in_gate, forget_gate, cell_gate, out_gate = _shapes.chunk(gates, 4, 1)
    in_gate, forget_gate = _elementwise.sigmoid(in_gate), _elementwise.sigmoid(forget_gate)
    cell_gate, out_gate = _elementwise.tanh(cell_gate), _elementwise.sigmoid(out_gate)
    c_next = _elementwise.add(_elementwise.mul(forget_gate, c), _elementwise.mul(in_gate, cell_gate))
    h_next = _elementwise.mul(out_gate, _elementwise.tanh(c_next))
    if w_hr is not None:
        h_next = h_next.matmul(_shapes.t(w_hr))
    return h_next, c_next


def _gru_step(x_proj, h, w_hh, b_hh):
    x_r, x_z, x_n = _shapes.chunk(x_proj, 3, 1)
    h_r, h_z, h_n = _shapes.chunk(F.linear(h, w_hh, b_hh), 3, 1)
    reset_gate = _elementwise.sigmoid(_elementwise.add(h_r, x_r))
    input_gate = _elementwise.sigmoid(_elementwise.add(h_z, x_z))
    new_gate = _elementwise.tanh(_elementwise.add(x_n, _elementwise.mul(h_n, reset_gate)))
    return _elementwise.add(_elementwise.mul(_elementwise.sub(h, new_gate), input_gate), new_gate)


# ---- a whole layer direction as one facade op ---------------------------------------------------------------
# The whole-sequence layers run each direction of each layer as one op: the input projected for every step at
# once, then a `scan` (fgrad.lax) of the step over the projected inputs, so the per-op overhead is paid once
# per layer, not a dozen times per time step, and the backward is the scan's reverse mode (residuals per step),
# linear in the length: a slice per step into the sequence would have an adjoint per step the size of the
# whole sequence (a pad), quadratic in the length. The step formulas are the cells' above, in fgrad ops. The node is named as PyTorch's last node over a layer:
# MkldnnRnnLayerBackward0 (its CPU LSTM's oneDNN layer) for LSTM, StackBackward0 for RNN, GRU and projected
# LSTM (ATen stacks the steps' outputs). Absent biases and projections are empty placeholders.

def _hidden_projection(h, w_hh, b_hh, has_bias):
    out = ops.matmul(h, ops.transpose(w_hh))
    return ops.add(out, b_hh) if has_bias else out


def _gate_slices(gates, count: int, size: int):
    batch = ops.typeof(gates).shape[0]
    return [ops.static_slice(gates, (0, k * size), (batch, (k + 1) * size)) for k in range(count)]


def _lstm_cell_fn(x_proj, h, c, w_hh, b_hh, w_hr, has_bias, has_proj):
    gates = ops.add(_hidden_projection(h, w_hh, b_hh, has_bias), x_proj)
    in_gate, forget_gate, cell_gate, out_gate = _gate_slices(gates, 4, ops.typeof(c).shape[-1])
    c_next = ops.add(ops.mul(ops.logistic(forget_gate), c), ops.mul(ops.logistic(in_gate), ops.tanh(cell_gate)))
    h_next = ops.mul(ops.logistic(out_gate), ops.tanh(c_next))
    if has_proj:
        h_next = ops.matmul(h_next, ops.transpose(w_hr))
    return h_next, c_next


def _gru_cell_fn(x_proj, h, w_hh, b_hh, has_bias):
    size = ops.typeof(h).shape[-1]
    x_r, x_z, x_n = _gate_slices(x_proj, 3, size)
    h_r, h_z, h_n = _gate_slices(_hidden_projection(h, w_hh, b_hh, has_bias), 3, size)
    reset_gate = ops.logistic(ops.add(h_r, x_r))
    input_gate = ops.logistic(ops.add(h_z, x_z))
    new_gate = ops.tanh(ops.add(x_n, ops.mul(h_n, reset_gate)))
    return ops.add(ops.mul(ops.sub(h, new_gate), input_gate), new_gate)


def _simple_cell_fn(x_proj, h, w_hh, b_hh, has_bias, relu):
    pre = ops.add(_hidden_projection(h, w_hh, b_hh, has_bias), x_proj)
    # relu's gradient at 0 is 0, as PyTorch's (the select takes the zero branch there)
    return ops.select(ops.gt(pre, 0), pre, ops.full(ops.typeof(pre).shape, 0, ops.typeof(pre).dtype)) if relu \
        else ops.tanh(pre)


def _input_projection(x, w_ih, b_ih, has_bias):
    # x (T, B, I) @ w_ih^T (+ b_ih) for every step at once, as ATen's layers do before stepping
    steps, batch, size = ops.typeof(x).shape
    out = ops.matmul(ops.reshape(x, (steps * batch, size)), ops.transpose(w_ih))
    out = ops.add(out, b_ih) if has_bias else out
    return ops.reshape(out, (steps, batch, ops.typeof(w_ih).shape[0]))


def _layer_fn(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, mode, has_bias, has_proj, reverse):
    """(outputs (T, B, H), final h, final c) of one direction of one layer over its input x (T, B, I)."""
    def step(carry, x_t):
        h, c = carry
        if mode == "LSTM":
            h, c = _lstm_cell_fn(x_t, h, c, w_hh, b_hh, w_hr, has_bias, has_proj)
        elif mode == "GRU":
            h = _gru_cell_fn(x_t, h, w_hh, b_hh, has_bias)
        else:
            h = _simple_cell_fn(x_t, h, w_hh, b_hh, has_bias, mode == "RNN_RELU")
        return (h, c), h

    projected = _input_projection(x, w_ih, b_ih, has_bias)
    (h, c), outputs = lax.scan(step, (h0, c0), projected, reverse=reverse)
    return outputs, h, c


_LAYER = {name: FacadeOp(f"rnn_layer_{name}", _layer_fn, name, variant=None)
          for name in ("MkldnnRnnLayerBackward0", "StackBackward0")}
_EMPTY = np.zeros(0, np.float32)


def _or_empty(t):
    return _EMPTY if t is None else t


def _run_direction(mode, input, state, weights, reverse: bool):
    """One direction of one layer over its (T, B, I) input from state (h,) or (h, c): the outputs (T, B, H)
    and the final state."""
    w_ih, w_hh, b_ih, b_hh, w_hr = weights
    h0 = state[0]
    c0 = state[1] if mode == "LSTM" else _EMPTY
    node = "MkldnnRnnLayerBackward0" if mode == "LSTM" and w_hr is None else "StackBackward0"
    args = (input, h0, c0, w_ih, w_hh, _or_empty(b_ih), _or_empty(b_hh), _or_empty(w_hr))
    static = (mode, b_hh is not None, w_hr is not None, bool(reverse))
    outputs, h, c = apply(_LAYER[node], args, static, multi=True)
    return outputs, ((h, c) if mode == "LSTM" else (h,))


# ---- the whole-sequence layers ----------------------------------------------------------------------------

class RNNBase(Module):
    """What RNN, LSTM and GRU share: the stacked (bi)directional layers, their parameters and checks."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        _check_rnn_args(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        self._flat_weights_names = []
        self._all_weights = []
        self._register_weights(dtype)
        self.reset_parameters()

    def _register_weights(self, dtype) -> None:
        gate_size = _GATES[self.mode] * self.hidden_size
        directions = 2 if self.bidirectional else 1
        real_hidden = self.proj_size if self.proj_size > 0 else self.hidden_size
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else real_hidden * directions
            for direction in range(directions):
                suffix = "_reverse" if direction == 1 else ""
                shapes = {"weight_ih": (gate_size, layer_input), "weight_hh": (gate_size, real_hidden)}
                if self.bias:
                    shapes.update({"bias_ih": (gate_size,), "bias_hh": (gate_size,)})
                if self.proj_size > 0:
                    shapes["weight_hr"] = (self.proj_size, self.hidden_size)
                names = []
                for stem, shape in shapes.items():
                    name = f"{stem}_l{layer}{suffix}"
                    setattr(self, name, _empty_parameter(shape, dtype))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, name, None) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list:
        """The parameters per layer and direction, as lists [w_ih, w_hh, (b_ih, b_hh), (w_hr)]."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def flatten_parameters(self) -> None:
        """A no-op, as PyTorch's on the CPU."""

    def _weights_of(self, layer: int, direction: int) -> tuple:
        suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        return tuple(getattr(self, stem + suffix, None)
                     for stem in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"))

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # ---- forward ----------------------------------------------------------------------------------------

    def _expected_hidden_size(self, input, real_hidden: int) -> tuple:
        batch = input.shape[0] if self.batch_first else input.shape[1]
        return (self.num_layers * (2 if self.bidirectional else 1), batch, real_hidden)

    def _check_input(self, input) -> None:
        weight = self.weight_ih_l0
        if input.dtype != weight.dtype:
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight.dtype}). "
                             f"Convert input: input.to({weight.dtype}), or convert model: model.to({input.dtype})")
        if input.dim() != 3:
            raise RuntimeError(f"input must have 3 dimensions, got {input.dim()}")
        if self.input_size != input.shape[-1]:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.shape[-1]}")

    def _check_hidden(self, hx, expected, msg="Expected hidden size {}, got {}") -> None:
        if tuple(hx.shape) != expected:
            raise RuntimeError(msg.format(expected, list(hx.shape)))

    def _run(self, input, states):
        """The stacked layers over a (T, B, I) input from initial states [(h,) or (h, c)] per layer and
        direction; returns the (T, B, D * H) output and the final states in the same order."""
        directions = 2 if self.bidirectional else 1
        finals = []
        layer_input = input
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                weights = self._weights_of(layer, direction)
                output, final = _run_direction(self.mode, layer_input, states[layer * directions + direction],
                                               weights, reverse=direction == 1)
                outputs.append(output)
                finals.append(final)
            layer_input = outputs[0] if directions == 1 else _shapes.cat(outputs, outputs[0].dim() - 1)
            if self.dropout != 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        return layer_input, finals

    def _forward_states(self, input, hx_list):
        """Batch-first handling around _run: (output, final states)."""
        if self.batch_first:
            input = _shapes.transpose(input, 0, 1)
        output, finals = self._run(input, hx_list)
        if self.batch_first:
            output = _shapes.transpose(output, 0, 1)
        return output, finals

    def _unbatch_input(self, input, name: str):
        if input.dim() not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D "
                             f"{'tensor instead' if name == 'RNN' else 'instead'}")
        batched = input.dim() == 3
        if not batched:
            input = _shapes.unsqueeze(input, 0 if self.batch_first else 1)
        return input, batched


def _check_rnn_args(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size) -> None:
    """PyTorch's RNNBase argument checks, in its order, with its messages."""
    if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or isinstance(dropout, bool):
        raise ValueError("dropout should be a number in range [0, 1] representing the probability of an element "
                         "being zeroed")
    if dropout > 0 and num_layers == 1:
        warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                      f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                      stacklevel=4)
    for name, value, kind in (("bias", bias, bool), ("batch_first", batch_first, bool),
                              ("input_size", input_size, int), ("hidden_size", hidden_size, int)):
        if not isinstance(value, kind):
            raise TypeError(f"{name} should be of type {kind.__name__}, got: {type(value).__name__}")
        if kind is int and value <= 0:
            raise ValueError(f"{name} must be greater than zero")
    if num_layers <= 0:
        raise ValueError("num_layers must be greater than zero")
    if proj_size < 0:
        raise ValueError("proj_size should be a positive integer or zero to disable projections")
    if proj_size >= hidden_size:
        raise ValueError("proj_size has to be smaller than hidden_size")


class _SingleStateRNN(RNNBase):
    """RNN and GRU: one hidden state h (num_layers * directions, B, H)."""
    _name = "RNN"

    def forward(self, input, hx=None):
        input, batched = self._unbatch_input(input, self._name)
        if hx is not None:
            if batched and hx.dim() != 3:
                raise RuntimeError(f"For batched 3-D input, hx should also be 3-D but got {hx.dim()}-D tensor")
            if not batched:
                if hx.dim() != 2:
                    raise RuntimeError(f"For unbatched 2-D input, hx should also be 2-D but got {hx.dim()}-D "
                                       "tensor")
                hx = _shapes.unsqueeze(hx, 1)
        expected = self._expected_hidden_size(input, self.hidden_size)
        if hx is None:
            hx = _zeros(expected, input)
        self._check_input(input)
        self._check_hidden(hx, expected)
        output, finals = self._forward_states(input, [(h,) for h in _shapes.unbind(hx, 0)])
        h_n = _shapes.stack([state[0] for state in finals], 0)
        if not batched:
            output = _shapes.squeeze(output, 0 if self.batch_first else 1)
            h_n = _shapes.squeeze(h_n, 1)
        return output, h_n


class RNN(_SingleStateRNN):
    """An Elman RNN, h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu), over (T, B, I) input
    ((B, T, I) with batch_first, (T, I) unbatched); returns (output, h_n).

    >>> import fgrad as torch
    >>> rnn = torch.nn.RNN(3, 4, num_layers=2)
    >>> output, h_n = rnn(torch.zeros(5, 2, 3))
    >>> tuple(output.shape), tuple(h_n.shape)
    ((5, 2, 4), (2, 2, 4))
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self_nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self_nonlinearity = kwargs.pop("nonlinearity", "tanh")
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        if self_nonlinearity not in modes:
            raise ValueError(f"Unknown nonlinearity '{self_nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(modes[self_nonlinearity], *args, **kwargs)
        self.nonlinearity = self_nonlinearity


class GRU(_SingleStateRNN):
    """A gated recurrent unit layer (PyTorch's gate order r, z, n) over (T, B, I) input; returns (output, h_n).

    >>> import fgrad as torch
    >>> torch.nn.GRU(3, 4, batch_first=True, bidirectional=True)
    GRU(3, 4, batch_first=True, bidirectional=True)
    """
    _name = "GRU"

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


class LSTM(RNNBase):
    """A long short-term memory layer (PyTorch's gate order i, f, g, o; optional projection of h to
    proj_size) over (T, B, I) input; returns (output, (h_n, c_n)).

    >>> import fgrad as torch
    >>> lstm = torch.nn.LSTM(3, 4)
    >>> [name for name, _ in lstm.named_parameters()]
    ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0']
    """

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)

    def forward(self, input, hx=None):
        input, batched = self._unbatch_input(input, "LSTM")
        real_hidden = self.proj_size if self.proj_size > 0 else self.hidden_size
        expected_h = self._expected_hidden_size(input, real_hidden)
        expected_c = self._expected_hidden_size(input, self.hidden_size)
        if hx is None:
            hx = (_zeros(expected_h, input), _zeros(expected_c, input))
        else:
            dims = (hx[0].dim(), hx[1].dim())
            if batched and dims != (3, 3):
                raise RuntimeError(f"For batched 3-D input, hx and cx should also be 3-D but got "
                                   f"({dims[0]}-D, {dims[1]}-D) tensors")
            if not batched:
                if dims != (2, 2):
                    raise RuntimeError(f"For unbatched 2-D input, hx and cx should also be 2-D but got "
                                       f"({dims[0]}-D, {dims[1]}-D) tensors")
                hx = (_shapes.unsqueeze(hx[0], 1), _shapes.unsqueeze(hx[1], 1))
        self._check_input(input)
        self._check_hidden(hx[0], expected_h)
        self._check_hidden(hx[1], expected_c, "Expected hidden[1] size {}, got {}")
        states = list(zip(_shapes.unbind(hx[0], 0), _shapes.unbind(hx[1], 0)))
        output, finals = self._forward_states(input, states)
        h_n = _shapes.stack([state[0] for state in finals], 0)
        c_n = _shapes.stack([state[1] for state in finals], 0)
        if not batched:
            output = _shapes.squeeze(output, 0 if self.batch_first else 1)
            h_n, c_n = _shapes.squeeze(h_n, 1), _shapes.squeeze(c_n, 1)
        return output, (h_n, c_n)


# ---- cells ------------------------------------------------------------------------------------------------

class RNNCellBase(Module):
    """What RNNCell, LSTMCell and GRUCell share: weight_ih, weight_hh, bias_ih, bias_hh and their init."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = _empty_parameter((num_chunks * hidden_size, input_size), dtype)
        self.weight_hh = _empty_parameter((num_chunks * hidden_size, hidden_size), dtype)
        if bias:
            self.bias_ih = _empty_parameter((num_chunks * hidden_size,), dtype)
            self.bias_hh = _empty_parameter((num_chunks * hidden_size,), dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _batched_input(self, input, name: str):
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        batched = input.dim() == 2
        return (input if batched else _shapes.unsqueeze(input, 0)), batched

    def _projected(self, input):
        return F.linear(input, self.weight_ih, self.bias_ih)


class RNNCell(RNNCellBase):
    """One Elman step, h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu) (TanhBackward0).

    >>> import fgrad as torch
    >>> torch.nn.RNNCell(3, 4, nonlinearity="relu")
    RNNCell(3, 4, nonlinearity=relu)
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        input, batched = self._batched_input(input, "RNNCell")
        if hx is not None and hx.dim() not in (1, 2):
            raise ValueError(f"RNNCell: Expected hidden to be 1D or 2D, got {hx.dim()}D instead")
        hx = _zeros((input.shape[0], self.hidden_size), input) if hx is None else \
            (hx if batched else _shapes.unsqueeze(hx, 0))
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        h = _simple_step(self._projected(input), hx, self.weight_hh, self.bias_hh, self.nonlinearity == "relu")
        return h if batched else _shapes.squeeze(h, 0)


class LSTMCell(RNNCellBase):
    """One LSTM step from (h, c) to (h', c') (h' is MulBackward0, c' AddBackward0).

    >>> import fgrad as torch
    >>> h, c = torch.nn.LSTMCell(3, 4)(torch.zeros(2, 3))
    >>> tuple(h.shape), tuple(c.shape)
    ((2, 4), (2, 4))
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, dtype=dtype)

    def forward(self, input, hx=None):
        if input.dim() not in (1, 2):
            raise ValueError(f"LSTMCell: Expected input to be 1D or 2D, got {input.dim()}D instead")
        if hx is not None:
            for idx, value in enumerate(hx):
                if value.dim() not in (1, 2):
                    raise ValueError(f"LSTMCell: Expected hx[{idx}] to be 1D or 2D, got {value.dim()}D instead")
        input, batched = self._batched_input(input, "LSTMCell")
        if hx is None:
            zeros = _zeros((input.shape[0], self.hidden_size), input)
            hx = (zeros, zeros)
        elif not batched:
            hx = (_shapes.unsqueeze(hx[0], 0), _shapes.unsqueeze(hx[1], 0))
        h, c = _lstm_step(self._projected(input), hx[0], hx[1], self.weight_hh, self.bias_hh, None)
        return (h, c) if batched else (_shapes.squeeze(h, 0), _shapes.squeeze(c, 0))


class GRUCell(RNNCellBase):
    """One GRU step, h' = (h - n) * z + n (AddBackward0).

    >>> import fgrad as torch
    >>> torch.nn.GRUCell(3, 4, bias=False)
    GRUCell(3, 4, bias=False)
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, dtype=dtype)

    def forward(self, input, hx=None):
        input, batched = self._batched_input(input, "GRUCell")
        if hx is not None and hx.dim() not in (1, 2):
            raise ValueError(f"GRUCell: Expected hidden to be 1D or 2D, got {hx.dim()}D instead")
        hx = _zeros((input.shape[0], self.hidden_size), input) if hx is None else \
            (hx if batched else _shapes.unsqueeze(hx, 0))
        h = _gru_step(self._projected(input), hx, self.weight_hh, self.bias_hh)
        return h if batched else _shapes.squeeze(h, 0)
