"""Parity of the facade's additional torch.nn pieces with PyTorch 2.13: containers, recurrent layers and cells,
activations, normalisation and distance layers, losses. Values, gradients, grad_fn names, reprs, errors."""
import warnings

import numpy as np
import pytest

import fgrad

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


def _close(a, b, tol=1e-5):
    np.testing.assert_allclose(_np(a), _np(b), rtol=tol, atol=tol)


def _raises_same(fn_torch, fn_fgrad):
    """Both raise the same exception type with the same message."""
    with pytest.raises(Exception) as expected:
        fn_torch()
    with pytest.raises(type(expected.value)) as got:
        fn_fgrad()
    assert str(got.value) == str(expected.value)


# ---- containers -------------------------------------------------------------------------------------------

def _containers(lib):
    lib.manual_seed(0)
    m = lib.nn.Module()
    m.layers = lib.nn.ModuleDict({"fc": lib.nn.Linear(2, 3), "act": lib.nn.ReLU()})
    m.plist = lib.nn.ParameterList([lib.ones(2, 3), lib.nn.Parameter(lib.zeros(3, dtype=lib.float64))])
    m.pdict = lib.nn.ParameterDict({"w": lib.ones(2), "b": lib.zeros(1)})
    return m


def test_containers_state_dict_keys_and_repr():
    t, f = _containers(torch), _containers(fgrad)
    assert list(f.state_dict()) == list(t.state_dict())
    assert repr(f) == repr(t)
    assert [n for n, _ in f.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert repr(fgrad.nn.ParameterList()) == repr(torch.nn.ParameterList())


def test_module_dict_operations():
    for lib in (torch, fgrad):
        d = lib.nn.ModuleDict([("a", lib.nn.ReLU()), ("b", lib.nn.Tanh())])
        d["c"] = lib.nn.Sigmoid()
        assert list(d.keys()) == ["a", "b", "c"] and "b" in d and len(d) == 3
        assert type(d.pop("b")).__name__ == "Tanh"
        assert list(d) == ["a", "c"]
    _raises_same(lambda: torch.nn.ModuleDict(3), lambda: fgrad.nn.ModuleDict(3))
    _raises_same(lambda: torch.nn.ModuleDict([("a", torch.nn.ReLU(), 1)]),
                 lambda: fgrad.nn.ModuleDict([("a", fgrad.nn.ReLU(), 1)]))


def test_parameter_list_and_dict_operations():
    for lib in (torch, fgrad):
        pl = lib.nn.ParameterList([lib.ones(1)])
        pl.append(lib.zeros(2))
        pl += [lib.ones(3)]
        assert len(pl) == 3 and isinstance(pl[-1], lib.nn.Parameter) and pl[1].shape == (2,)
        assert len(pl[1:]) == 2
        pd = lib.nn.ParameterDict({"z": lib.ones(1), "a": lib.ones(2)})
        assert list(pd) == ["a", "z"]                       # a plain dict's keys are sorted, as PyTorch
        assert pd.get("missing") is None and pd.setdefault("q", lib.ones(3)).shape == (3,)
        assert pd.popitem()[0] == "q" and len(pd | lib.nn.ParameterDict({"n": lib.ones(1)})) == 3
    _raises_same(lambda: torch.nn.ParameterList([torch.ones(1)])[3], lambda: fgrad.nn.ParameterList([fgrad.ones(1)])[3])
    _raises_same(lambda: torch.nn.ParameterList()(1), lambda: fgrad.nn.ParameterList()(1))
    _raises_same(lambda: torch.nn.ParameterDict()[1], lambda: fgrad.nn.ParameterDict()[1])
    _raises_same(lambda: torch.nn.ParameterList().extend(torch.ones(2)),
                 lambda: fgrad.nn.ParameterList().extend(fgrad.ones(2)))


# ---- recurrent layers -------------------------------------------------------------------------------------

RNN_CASES = [
    ("RNN", dict(input_size=3, hidden_size=4), "tanh"),
    ("RNN", dict(input_size=3, hidden_size=4, nonlinearity="relu"), "relu"),
    ("RNN", dict(input_size=3, hidden_size=4, num_layers=2, batch_first=True, bidirectional=True), "bi"),
    ("GRU", dict(input_size=3, hidden_size=4), "plain"),
    ("GRU", dict(input_size=3, hidden_size=5, bias=False, num_layers=2, dropout=0.5), "dropout"),
    ("GRU", dict(input_size=3, hidden_size=4, batch_first=True, bidirectional=True), "bi"),
    ("LSTM", dict(input_size=3, hidden_size=4), "plain"),
    ("LSTM", dict(input_size=3, hidden_size=4, num_layers=2, batch_first=True, bidirectional=True), "bi"),
    ("LSTM", dict(input_size=3, hidden_size=5, bias=False, num_layers=2, dropout=0.5), "dropout"),
    ("LSTM", dict(input_size=3, hidden_size=4, proj_size=2, num_layers=2), "proj"),
]


def _hidden_shape(kw, batch, proj=False):
    directions = 2 if kw.get("bidirectional") else 1
    size = kw.get("proj_size", 0) if proj and kw.get("proj_size") else kw["hidden_size"]
    return (kw.get("num_layers", 1) * directions,) + ((batch,) if batch else ()) + (size,)


def _run_rnn(lib, cls, kw, x_shape, with_hidden):
    lib.manual_seed(0)
    module = getattr(lib.nn, cls)(**kw)
    x = lib.randn(*x_shape, requires_grad=True)
    batch = None if len(x_shape) == 2 else x_shape[0 if kw.get("batch_first") else 1]
    hidden = None
    if with_hidden:
        h0 = lib.randn(*_hidden_shape(kw, batch, proj=True), requires_grad=True)
        hidden = (h0, lib.randn(*_hidden_shape(kw, batch), requires_grad=True)) if cls == "LSTM" else h0
    output, state = module(x, hidden)
    states = state if isinstance(state, tuple) else (state,)
    loss = output.sum() + sum((s * s).sum() for s in states)
    loss.backward()
    grads = [x.grad] + [p.grad for p in module.parameters()]
    if with_hidden:
        grads += [h.grad for h in (hidden if isinstance(hidden, tuple) else (hidden,))]
    return module, output, states, grads


@pytest.mark.parametrize("cls,kw,case", RNN_CASES, ids=[f"{c}-{i}" for c, _, i in RNN_CASES])
@pytest.mark.parametrize("x_shape,with_hidden", [((5, 2, 3), False), ((4, 2, 3), True), ((5, 3), True)],
                         ids=["batched", "batched-h0", "unbatched-h0"])
def test_rnn_matches_torch(cls, kw, case, x_shape, with_hidden):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")             # torch: "LSTM with projections is not supported with oneDNN"
        t_mod, t_out, t_states, t_grads = _run_rnn(torch, cls, kw, x_shape, with_hidden)
        f_mod, f_out, f_states, f_grads = _run_rnn(fgrad, cls, kw, x_shape, with_hidden)
    assert repr(f_mod) == repr(t_mod)
    assert [n for n, _ in f_mod.named_parameters()] == [n for n, _ in t_mod.named_parameters()]
    assert list(f_mod.state_dict()) == list(t_mod.state_dict())
    for tp, fp in zip(t_mod.parameters(), f_mod.parameters()):
        np.testing.assert_array_equal(_np(fp), _np(tp))      # torch's init, bit for bit
    assert f_out.shape == t_out.shape
    _close(f_out, t_out)
    if t_out.grad_fn.name() == "TransposeBackward1":       # RNN/GRU batch_first: torch's in-place transpose_
        assert f_out.grad_fn.name() == "TransposeBackward0"
    else:
        assert f_out.grad_fn.name() == t_out.grad_fn.name()
    for ts, fs in zip(t_states, f_states):
        assert fs.shape == ts.shape
        _close(fs, ts)
        assert fs.grad_fn.name() == ts.grad_fn.name()
    for tg, fg in zip(t_grads, f_grads):
        _close(fg, tg, 1e-4)


def test_rnn_eval_mode_skips_dropout():
    outs = []
    for lib in (torch, fgrad):
        lib.manual_seed(1)
        gru = lib.nn.GRU(3, 4, num_layers=3, dropout=0.9).eval()
        outs.append(gru(lib.ones(2, 1, 3))[0])
    _close(outs[1], outs[0])


def _cell_run(lib, cls, kw, x_shape, with_hidden):
    lib.manual_seed(0)
    cell = getattr(lib.nn, cls)(**kw)
    x = lib.randn(*x_shape, requires_grad=True)
    h_shape = x_shape[:-1] + (kw["hidden_size"],)
    hidden = None
    if with_hidden:
        hidden = lib.randn(*h_shape)
        hidden = (hidden, lib.randn(*h_shape)) if cls == "LSTMCell" else hidden
    out = cell(x, hidden)
    outs = out if isinstance(out, tuple) else (out,)
    sum((o * o).sum() for o in outs).backward()
    return cell, outs, [x.grad] + [p.grad for p in cell.parameters()]


CELL_CASES = [("RNNCell", dict(input_size=3, hidden_size=4)),
              ("RNNCell", dict(input_size=3, hidden_size=4, nonlinearity="relu", bias=False)),
              ("LSTMCell", dict(input_size=3, hidden_size=4)),
              ("GRUCell", dict(input_size=3, hidden_size=4)),
              ("GRUCell", dict(input_size=3, hidden_size=4, bias=False))]


@pytest.mark.parametrize("cls,kw", CELL_CASES, ids=["rnn", "rnn-relu-nobias", "lstm", "gru", "gru-nobias"])
@pytest.mark.parametrize("x_shape,with_hidden", [((2, 3), False), ((2, 3), True), ((3,), True)],
                         ids=["batched", "batched-h", "unbatched-h"])
def test_cells_match_torch(cls, kw, x_shape, with_hidden):
    t_cell, t_outs, t_grads = _cell_run(torch, cls, kw, x_shape, with_hidden)
    f_cell, f_outs, f_grads = _cell_run(fgrad, cls, kw, x_shape, with_hidden)
    assert repr(f_cell) == repr(t_cell)
    assert list(f_cell.state_dict()) == list(t_cell.state_dict())
    for tp, fp in zip(t_cell.parameters(), f_cell.parameters()):
        np.testing.assert_array_equal(_np(fp), _np(tp))
    for to, fo in zip(t_outs, f_outs):
        _close(fo, to)
        assert fo.grad_fn.name() == to.grad_fn.name()
    for tg, fg in zip(t_grads, f_grads):
        _close(fg, tg, 1e-4)


def test_rnn_errors_match_torch():
    def both(build, call=None):
        _raises_same(lambda: (call or (lambda m: m))(build(torch)), lambda: (call or (lambda m: m))(build(fgrad)))

    both(lambda lib: lib.nn.RNN(3, 4, nonlinearity="gelu"))
    both(lambda lib: lib.nn.GRU(3, 4, proj_size=2))
    both(lambda lib: lib.nn.LSTM(3, 4, proj_size=4))
    both(lambda lib: lib.nn.LSTM(3, 4, dropout=1.5))
    both(lambda lib: lib.nn.LSTM(3, 0))
    both(lambda lib: lib.nn.LSTM(3.0, 4))
    both(lambda lib: lib.nn.LSTM(3, 4), lambda m: m(torch_or_f(m).zeros(2, 2, 2, 3)))
    both(lambda lib: lib.nn.LSTM(3, 4), lambda m: m(torch_or_f(m).zeros(5, 2, 2)))
    both(lambda lib: lib.nn.GRU(3, 4), lambda m: m(torch_or_f(m).zeros(5, 2, 3), torch_or_f(m).zeros(1, 3, 4)))
    both(lambda lib: lib.nn.GRU(3, 4), lambda m: m(torch_or_f(m).zeros(5, 2, 3), torch_or_f(m).zeros(2, 4)))
    both(lambda lib: lib.nn.LSTM(3, 4), lambda m: m(torch_or_f(m).zeros(5, 3),
                                                   (torch_or_f(m).zeros(1, 1, 4), torch_or_f(m).zeros(1, 4))))
    both(lambda lib: lib.nn.LSTM(3, 4), lambda m: m(torch_or_f(m).zeros(5, 2, 3, dtype=torch_or_f(m).float64)))
    both(lambda lib: lib.nn.LSTMCell(3, 4), lambda m: m(torch_or_f(m).zeros(1, 2, 3)))
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        fgrad.nn.LSTM(3, 4, dropout=0.5)


def torch_or_f(module):
    return torch if isinstance(module, torch.nn.Module) else fgrad


def test_rnn_all_weights_and_parameter_order():
    t, f = torch.nn.LSTM(2, 3, bidirectional=True), fgrad.nn.LSTM(2, 3, bidirectional=True)
    assert [[tuple(w.shape) for w in ws] for ws in f.all_weights] == \
        [[tuple(w.shape) for w in ws] for ws in t.all_weights]


# ---- activations ------------------------------------------------------------------------------------------

KINKS = [-4.0, -3.0, -2.5, -1.0, -0.5, 0.0, 0.1, 0.5, 1.0, 2.0, 3.0, 3.5, 30.0, -30.0, 100.0]

ACTIVATIONS = [
    ("selu", lambda F, x: F.selu(x)),
    ("celu", lambda F, x: F.celu(x, 0.5)),
    ("mish", lambda F, x: F.mish(x)),
    ("softsign", lambda F, x: F.softsign(x)),
    ("hardswish", lambda F, x: F.hardswish(x)),
    ("hardsigmoid", lambda F, x: F.hardsigmoid(x)),
    ("threshold", lambda F, x: F.threshold(x, 0.1, 20.0)),
    ("tanhshrink", lambda F, x: F.tanhshrink(x)),
    ("softshrink", lambda F, x: F.softshrink(x, 0.5)),
    ("hardshrink", lambda F, x: F.hardshrink(x, 0.5)),
    ("glu", lambda F, x: F.glu(x[:14].reshape(2, 7), 0)),
    ("glu-last", lambda F, x: F.glu(x[:14])),
    ("softmin", lambda F, x: F.softmin(x.reshape(3, 5), dim=1)),
]


@pytest.mark.parametrize("name,fn", ACTIVATIONS, ids=[n for n, _ in ACTIVATIONS])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activation_matches_torch(name, fn, dtype):
    results = []
    for lib in (torch, fgrad):
        x = lib.tensor(KINKS, dtype=getattr(lib, dtype), requires_grad=True)
        y = fn(lib.nn.functional, x)
        (y * lib.arange(y.numel(), dtype=y.dtype).reshape(y.shape)).sum().backward()
        results.append((y, x.grad))
    (ty, tg), (fy, fg) = results
    assert fy.dtype == ty.dtype if lib is torch else str(fy.dtype) == str(ty.dtype)
    _close(fy, ty, 1e-6)
    _close(fg, tg, 1e-5)
    assert fy.grad_fn.name() == ty.grad_fn.name()
    if name != "softshrink":     # torch's vectorised softshrink gives 0.0 or -0.0 inside by position and dtype
        assert repr(fy) == repr(ty)


@pytest.mark.parametrize("shape,weight", [((2, 3, 4), [0.1, 0.2, 0.3]), ((2, 3), [0.25]), ((5,), [0.5]),
                                           ((2, 3, 2, 2), [0.1, -0.2, 0.3])], ids=["per-channel-3d", "one-2d",
                                                                                  "one-1d", "per-channel-4d"])
def test_prelu_matches_torch(shape, weight):
    results = []
    for lib in (torch, fgrad):
        lib.manual_seed(0)
        x = lib.randn(*shape)
        x.view(-1)[0] = 0.0
        x.requires_grad_(True)
        w = lib.tensor(weight, requires_grad=True)
        y = lib.nn.functional.prelu(x, w)
        (y * y).sum().backward()
        results.append((y, x.grad, w.grad))
    for t, f in zip(*results):
        _close(f, t)
    assert results[1][0].grad_fn.name() == results[0][0].grad_fn.name()


ACTIVATION_MODULES = [
    lambda nn: nn.PReLU(), lambda nn: nn.PReLU(4, 0.1), lambda nn: nn.SELU(), lambda nn: nn.SELU(True),
    lambda nn: nn.CELU(), lambda nn: nn.CELU(0.5, True), lambda nn: nn.Mish(), lambda nn: nn.Softsign(),
    lambda nn: nn.Hardswish(), lambda nn: nn.Hardsigmoid(), lambda nn: nn.Threshold(0.1, 20),
    lambda nn: nn.Threshold(0.1, 20, True), lambda nn: nn.Tanhshrink(), lambda nn: nn.GLU(),
    lambda nn: nn.GLU(1), lambda nn: nn.Softshrink(), lambda nn: nn.Hardshrink(0.3), lambda nn: nn.Softmin(1),
]


@pytest.mark.parametrize("build", ACTIVATION_MODULES, ids=[str(i) for i in range(len(ACTIVATION_MODULES))])
def test_activation_modules_repr_state_and_forward(build):
    t, f = build(torch.nn), build(fgrad.nn)
    assert repr(f) == repr(t)
    assert list(f.state_dict()) == list(t.state_dict())
    data = np.linspace(-4, 4, 48, dtype=np.float32).reshape(2, 4, 6)
    _close(f(fgrad.tensor(data)), t(torch.tensor(data)), 1e-6)


def test_inplace_activations_match_torch():
    for name, call in [("selu", lambda F, x: F.selu(x, inplace=True)), ("celu", lambda F, x: F.celu(x, 2.0, True)),
                       ("threshold", lambda F, x: F.threshold(x, 0.0, -1.0, True)),
                       ("hardswish", lambda F, x: F.hardswish(x, True))]:
        outs = []
        for lib in (torch, fgrad):
            x = lib.tensor([-1.0, 0.0, 2.0], requires_grad=True)
            y = x * 1
            r = call(lib.nn.functional, y)
            assert r is y
            r.sum().backward()
            outs.append((r, x.grad))
        _close(outs[1][0], outs[0][0])
        _close(outs[1][1], outs[0][1])
        assert outs[1][0].grad_fn.name() == outs[0][0].grad_fn.name(), name
    _raises_same(lambda: torch.nn.functional.selu(torch.ones(2, requires_grad=True), inplace=True),
                 lambda: fgrad.nn.functional.selu(fgrad.ones(2, requires_grad=True), inplace=True))


def test_activation_errors_match_torch():
    for call in [lambda lib: lib.nn.functional.glu(lib.ones(3)), lambda lib: lib.nn.functional.glu(lib.tensor(1.0)),
                 lambda lib: lib.nn.functional.prelu(lib.ones(2, 3), lib.ones(2)),
                 lambda lib: lib.nn.functional.prelu(lib.ones(3), lib.ones(3)),
                 lambda lib: lib.nn.functional.softshrink(lib.ones(3), -1.0)]:
        _raises_same(lambda: call(torch), lambda: call(fgrad))


# ---- normalisation, shapes, dropout, padding, upsampling, distances -------------------------------------------

def _module_parity(build, x_shape, train=True, steps=1, tol=1e-5, seed=0, check_node=True):
    """The module's outputs, input grads, parameter grads and buffers after `steps` forward/backward passes."""
    results = []
    for lib in (torch, fgrad):
        lib.manual_seed(seed)
        module = build(lib.nn).train(train)
        outs = []
        for _ in range(steps):
            x = lib.randn(*x_shape, requires_grad=True)
            y = module(x)
            (y * y).sum().backward()
            outs.append((y, x.grad))
        results.append((module, outs))
    (tm, touts), (fm, fouts) = results
    assert repr(fm) == repr(tm)
    assert list(fm.state_dict()) == list(tm.state_dict())
    for (ty, tg), (fy, fg) in zip(touts, fouts):
        assert tuple(fy.shape) == tuple(ty.shape)
        _close(fy, ty, tol)
        _close(fg, tg, tol * 10)
        if check_node:
            assert fy.grad_fn.name() == ty.grad_fn.name()
    for (tn, tv), (fn, fv) in zip(tm.state_dict().items(), fm.state_dict().items()):
        assert tn == fn
        _close(fv, tv, tol)
    for tp, fp in zip(tm.parameters(), fm.parameters()):
        _close(fp.grad, tp.grad, tol * 10)


LAYER_CASES = {
    "groupnorm": (lambda nn: nn.GroupNorm(2, 4), (3, 4, 5)),
    "groupnorm-4d": (lambda nn: nn.GroupNorm(4, 4, eps=1e-3), (2, 4, 3, 3)),
    "groupnorm-noaffine": (lambda nn: nn.GroupNorm(1, 4, affine=False), (3, 4)),
    "instancenorm1d": (lambda nn: nn.InstanceNorm1d(3), (2, 3, 5)),
    "instancenorm1d-unbatched": (lambda nn: nn.InstanceNorm1d(3, affine=True), (3, 5)),
    "instancenorm2d-tracked": (lambda nn: nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
                               (2, 3, 4, 4)),
    "unflatten": (lambda nn: nn.Unflatten(1, (2, 5)), (3, 10)),
    "zeropad2d": (lambda nn: nn.ZeroPad2d((1, 2, 0, 1)), (1, 2, 3, 3)),
    "zeropad1d": (lambda nn: nn.ZeroPad1d(2), (2, 3, 4)),
    "constpad1d": (lambda nn: nn.ConstantPad1d(2, 3.5), (2, 3, 4)),
    "constpad2d": (lambda nn: nn.ConstantPad2d((1, 0, 2, 1), -1.0), (2, 2, 3)),
    "upsample-nearest": (lambda nn: nn.Upsample(scale_factor=2), (1, 2, 3, 4)),
    "upsample-nearest-size": (lambda nn: nn.Upsample(size=(5, 7)), (1, 2, 3, 4)),
    "upsample-nearest-1d": (lambda nn: nn.Upsample(scale_factor=3), (1, 2, 3)),
    "upsample-bilinear": (lambda nn: nn.Upsample(scale_factor=2, mode="bilinear"), (1, 2, 3, 4)),
    "upsample-bilinear-ac": (lambda nn: nn.Upsample(size=(5, 6), mode="bilinear", align_corners=True),
                             (2, 1, 3, 4)),
    "upsample-bilinear-down": (lambda nn: nn.Upsample(size=(2, 3), mode="bilinear"), (1, 1, 5, 7)),
    "upsample-bilinear-frac": (lambda nn: nn.Upsample(scale_factor=1.5, mode="bilinear"), (1, 1, 4, 4)),
    "upsample-linear": (lambda nn: nn.Upsample(scale_factor=2, mode="linear"), (1, 2, 5)),
    "upsampling-bilinear2d": (lambda nn: nn.UpsamplingBilinear2d(scale_factor=2), (1, 1, 3, 3)),
    "dropout1d": (lambda nn: nn.Dropout1d(0.5), (4, 6, 3)),
    "dropout2d": (lambda nn: nn.Dropout2d(0.3), (4, 5, 2, 2)),
    "dropout3d": (lambda nn: nn.Dropout3d(0.3), (2, 5, 2, 2, 2)),
}


@pytest.mark.parametrize("case", list(LAYER_CASES), ids=list(LAYER_CASES))
def test_layer_matches_torch(case):
    build, shape = LAYER_CASES[case]
    _module_parity(build, shape, steps=2 if "norm" in case else 1)


@pytest.mark.parametrize("case", ["instancenorm2d-tracked", "dropout2d", "groupnorm"])
def test_layer_eval_matches_torch(case):
    build, shape = LAYER_CASES[case]
    _module_parity(build, shape, train=False, check_node=case != "dropout2d")


def test_instance_norm_running_stats_then_eval():
    outs = []
    for lib in (torch, fgrad):
        lib.manual_seed(0)
        norm = lib.nn.InstanceNorm1d(2, track_running_stats=True, momentum=0.2)
        for _ in range(3):
            norm(lib.randn(4, 2, 6) * 3 + 1)
        norm.eval()
        outs.append((norm(lib.randn(4, 2, 6)), norm.running_mean, norm.running_var))
    for t, f in zip(*outs):
        _close(f, t)


DISTANCES = [
    ("normalize", lambda F, a, b: F.normalize(a)),
    ("normalize-p1-dim0", lambda F, a, b: F.normalize(a, p=1.0, dim=0)),
    ("cosine", lambda F, a, b: F.cosine_similarity(a, b)),
    ("cosine-dim0", lambda F, a, b: F.cosine_similarity(a, b, dim=0)),
    ("cosine-broadcast", lambda F, a, b: F.cosine_similarity(a, b[:1])),
    ("pairwise", lambda F, a, b: F.pairwise_distance(a, b)),
    ("pairwise-p1-keepdim", lambda F, a, b: F.pairwise_distance(a, b, p=1.0, keepdim=True)),
    ("cosine-module", lambda F, a, b: F._lib.nn.CosineSimilarity(dim=1)(a, b)),
    ("pairwise-module", lambda F, a, b: F._lib.nn.PairwiseDistance(p=3.0)(a, b)),
    ("torch.cosine_similarity", lambda F, a, b: F._lib.cosine_similarity(a, b)),
]


class _WithLib:
    def __init__(self, lib):
        self._lib = lib

    def __getattr__(self, name):
        return getattr(self._lib.nn.functional, name)


@pytest.mark.parametrize("name,fn", DISTANCES, ids=[n for n, _ in DISTANCES])
def test_distances_match_torch(name, fn):
    results = []
    for lib in (torch, fgrad):
        lib.manual_seed(0)
        a, b = lib.randn(4, 5, requires_grad=True), lib.randn(4, 5, requires_grad=True)
        y = fn(_WithLib(lib), a, b)
        (y * y).sum().backward()
        results.append((y, a.grad, b.grad))
    (ty, *tg), (fy, *fg) = results
    _close(fy, ty)
    for t, f in zip(tg, fg):
        if t is None:
            assert f is None
        else:
            _close(f, t, 1e-4)
    assert fy.grad_fn.name() == ty.grad_fn.name()


def test_cosine_similarity_small_norm_gradient_matches_torch():
    # ATen clamps the norms under no_grad: the gradient is the unclamped norm's
    outs = []
    for lib in (torch, fgrad):
        a = lib.tensor([[1e-10, 2e-10], [1.0, 2.0]], requires_grad=True)
        y = lib.nn.functional.cosine_similarity(a, lib.tensor([[1.0, 0.0], [0.0, 1.0]]))
        y.sum().backward()
        outs.append((y, a.grad))
    _close(outs[1][0], outs[0][0])
    np.testing.assert_allclose(_np(outs[1][1]), _np(outs[0][1]), rtol=1e-4)


def _normalize_node(lib):
    x = lib.ones(2, 3, requires_grad=True)
    return lib.nn.functional.normalize(x).grad_fn.next_functions[1][0].next_functions[0][0].name()


def test_normalize_clamps_with_clamp_min():
    assert _normalize_node(fgrad) == _normalize_node(torch) == "ClampMinBackward0"


def test_interpolate_and_norm_errors_match_torch():
    calls = [
        lambda lib: lib.nn.functional.interpolate(lib.ones(1, 1, 2, 2), size=3, scale_factor=2),
        lambda lib: lib.nn.functional.interpolate(lib.ones(1, 1, 2, 2)),
        lambda lib: lib.nn.functional.interpolate(lib.ones(1, 1, 2, 2), size=(3, 3, 3)),
        lambda lib: lib.nn.functional.interpolate(lib.ones(1, 1, 2, 2), scale_factor=2, align_corners=True),
        lambda lib: lib.nn.functional.group_norm(lib.ones(2, 3, 4), 2),
        lambda lib: lib.nn.functional.group_norm(lib.ones(2), 1),
        lambda lib: lib.nn.GroupNorm(2, 3),
        lambda lib: lib.nn.InstanceNorm1d(3)(lib.ones(2, 3, 4, 5)),
        lambda lib: lib.nn.InstanceNorm1d(3, affine=True)(lib.ones(2, 4, 5)),
        lambda lib: lib.nn.functional.instance_norm(lib.ones(2, 3, 1)),
        lambda lib: lib.nn.functional.dropout1d(lib.ones(2), 0.5),
        lambda lib: lib.nn.functional.dropout2d(lib.ones(2, 2, 2), 1.5),
        lambda lib: lib.nn.Unflatten(1, 3),
    ]
    for call in calls:
        _raises_same(lambda: call(torch), lambda: call(fgrad))


# ---- losses -----------------------------------------------------------------------------------------------

def _loss_inputs(lib):
    lib.manual_seed(0)
    x = lib.randn(4, 3)
    x.view(-1)[0] = 0.0                                   # a kink of the smooth losses: d == beta / delta
    return {
        "x": x.requires_grad_(True),
        "y": (x.detach() + lib.tensor([[1.0, -0.5, 0.25]])).requires_grad_(True),
        "p": lib.softmax(lib.randn(4, 3), 1),
        "sign": lib.tensor([1.0, -1.0, 1.0, -1.0]),
        "pos": lib.rand(4, 3) * 3,
        "var": (lib.rand(4, 3) + 0.1).requires_grad_(True),
    }


LOSSES = {
    "smooth_l1": lambda F, v, r: F.smooth_l1_loss(v["x"], v["y"], reduction=r),
    "smooth_l1-beta": lambda F, v, r: F.smooth_l1_loss(v["x"], v["y"], reduction=r, beta=0.5),
    "smooth_l1-beta0": lambda F, v, r: F.smooth_l1_loss(v["x"], v["y"], reduction=r, beta=0.0),
    "huber": lambda F, v, r: F.huber_loss(v["x"], v["y"], reduction=r),
    "huber-delta": lambda F, v, r: F.huber_loss(v["x"], v["y"], reduction=r, delta=0.5),
    "huber-weight": lambda F, v, r: F.huber_loss(v["x"], v["y"], reduction=r, weight=v["pos"]),
    "kl_div": lambda F, v, r: F.kl_div(F.log_softmax(v["x"], 1), v["p"], reduction=r),
    "kl_div-log_target": lambda F, v, r: F.kl_div(F.log_softmax(v["x"], 1), v["y"] * 0.1, reduction=r,
                                                  log_target=True),
    "margin_ranking": lambda F, v, r: F.margin_ranking_loss(v["x"][:, 0], v["y"][:, 1], v["sign"], 0.2,
                                                            reduction=r),
    "cosine_embedding": lambda F, v, r: F.cosine_embedding_loss(v["x"], v["y"], v["sign"], 0.1, reduction=r),
    "cosine_embedding-1d": lambda F, v, r: F.cosine_embedding_loss(v["x"][0], v["y"][1], v["sign"][1],
                                                                   reduction=r),
    "triplet": lambda F, v, r: F.triplet_margin_loss(v["x"], v["y"], v["pos"], reduction=r),
    "triplet-swap-p1": lambda F, v, r: F.triplet_margin_loss(v["x"], v["y"], v["pos"], margin=2.0, p=1, swap=True,
                                                             reduction=r),
    "poisson": lambda F, v, r: F.poisson_nll_loss(v["x"], v["pos"], reduction=r),
    "poisson-full-rate": lambda F, v, r: F.poisson_nll_loss(v["var"], v["pos"], log_input=False, full=True,
                                                            reduction=r),
    "gaussian": lambda F, v, r: F.gaussian_nll_loss(v["x"], v["y"], v["var"], reduction=r),
    "gaussian-full-homo": lambda F, v, r: F.gaussian_nll_loss(v["x"], v["y"], v["var"][:, 0], full=True,
                                                              reduction=r),
    "gaussian-float": lambda F, v, r: F.gaussian_nll_loss(v["x"], v["y"], 0.5, reduction=r),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", list(LOSSES), ids=list(LOSSES))
def test_loss_matches_torch(name, reduction):
    results = []
    for lib in (torch, fgrad):
        v = _loss_inputs(lib)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")              # kl_div's 'mean' warning
            loss = LOSSES[name](lib.nn.functional, v, reduction)
        (loss * loss).sum().backward()
        results.append((loss, [v[k].grad for k in ("x", "y", "var")]))
    (tl, tg), (fl, fg) = results
    assert tuple(fl.shape) == tuple(tl.shape)
    _close(fl, tl)
    for t, f in zip(tg, fg):
        assert (f is None) == (t is None)
        if t is not None:
            _close(f, t, 1e-4)
    assert fl.grad_fn.name() == tl.grad_fn.name()


def test_kl_div_batchmean_matches_torch():
    outs = []
    for lib in (torch, fgrad):
        v = _loss_inputs(lib)
        loss = lib.nn.functional.kl_div(lib.nn.functional.log_softmax(v["x"], 1), v["p"], reduction="batchmean")
        loss.backward()
        outs.append((loss, v["x"].grad))
    _close(outs[1][0], outs[0][0])
    _close(outs[1][1], outs[0][1])
    assert outs[1][0].grad_fn.name() == outs[0][0].grad_fn.name() == "DivBackward0"
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        fgrad.nn.functional.kl_div(fgrad.zeros(2), fgrad.ones(2))


LOSS_MODULES = [
    lambda nn: nn.SmoothL1Loss(beta=0.5), lambda nn: nn.HuberLoss(reduction="sum", delta=2.0),
    lambda nn: nn.KLDivLoss(reduction="batchmean", log_target=True), lambda nn: nn.MarginRankingLoss(0.1),
    lambda nn: nn.CosineEmbeddingLoss(0.2), lambda nn: nn.TripletMarginLoss(swap=True),
    lambda nn: nn.PoissonNLLLoss(full=True), lambda nn: nn.GaussianNLLLoss(full=True, reduction="none"),
]
LOSS_MODULE_ARGS = [("x", "y"), ("x", "y"), ("x", "y"), ("x0", "y0", "sign"), ("x", "y", "sign"),
                    ("x", "y", "pos"), ("x", "pos"), ("x", "y", "var")]


@pytest.mark.parametrize("index", range(len(LOSS_MODULES)), ids=[str(i) for i in range(len(LOSS_MODULES))])
def test_loss_modules_match_torch(index):
    outs = []
    for lib in (torch, fgrad):
        module = LOSS_MODULES[index](lib.nn)
        v = _loss_inputs(lib)
        v["x0"], v["y0"] = v["x"][:, 0], v["y"][:, 0]
        loss = module(*(v[k] for k in LOSS_MODULE_ARGS[index]))
        outs.append((module, loss))
    assert repr(outs[1][0]) == repr(outs[0][0])
    assert outs[1][0].reduction == outs[0][0].reduction
    _close(outs[1][1], outs[0][1])


def test_loss_errors_match_torch():
    F = {lib: lib.nn.functional for lib in (torch, fgrad)}
    calls = [
        lambda lib: F[lib].kl_div(lib.zeros(2), lib.ones(2), reduction="avg"),
        lambda lib: F[lib].margin_ranking_loss(lib.ones(2), lib.ones(2, 1), lib.ones(2)),
        lambda lib: F[lib].cosine_embedding_loss(lib.ones(2, 3), lib.ones(2, 3), lib.ones(2, 1)),
        lambda lib: F[lib].cosine_embedding_loss(lib.ones(3), lib.ones(3), lib.ones(2)),
        lambda lib: F[lib].triplet_margin_loss(lib.ones(2, 3), lib.ones(2, 3), lib.ones(2, 3), margin=0.0),
        lambda lib: F[lib].triplet_margin_loss(lib.ones(2, 3), lib.ones(3), lib.ones(2, 3)),
        lambda lib: F[lib].poisson_nll_loss(lib.ones(2), lib.ones(2), reduction="avg"),
        lambda lib: F[lib].gaussian_nll_loss(lib.ones(2, 3), lib.ones(2, 3), lib.ones(3, 2)),
        lambda lib: F[lib].gaussian_nll_loss(lib.ones(2), lib.ones(2), -lib.ones(2)),
        lambda lib: F[lib].gaussian_nll_loss(lib.ones(2), lib.ones(2), lib.ones(2), reduction="avg"),
        lambda lib: F[lib].huber_loss(lib.ones(2), lib.ones(2), weight=lib.ones(3)),
        lambda lib: lib.nn.TripletMarginLoss(margin=-1.0),
    ]
    for call in calls:
        _raises_same(lambda: call(torch), lambda: call(fgrad))
    with pytest.warns(UserWarning, match="target size"):
        fgrad.nn.functional.smooth_l1_loss(fgrad.ones(2, 1), fgrad.ones(2))


# ---- nn.utils.rnn ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("batch_first,side", [(False, "right"), (True, "right"), (True, "left")],
                         ids=["time-major", "batch-first", "left"])
def test_pad_sequence_matches_torch(batch_first, side):
    outs = []
    for lib in (torch, fgrad):
        from importlib import import_module
        pad_sequence = import_module(f"{lib.__name__}.nn.utils.rnn").pad_sequence
        seqs = [lib.arange(6.0).view(3, 2).requires_grad_(True), lib.ones(1, 2, requires_grad=True),
                lib.zeros(0, 2, requires_grad=True)]
        y = pad_sequence(seqs, batch_first=batch_first, padding_value=-1.0, padding_side=side)
        (y * lib.arange(float(y.numel())).view(y.shape)).sum().backward()
        outs.append((y, [s.grad for s in seqs]))
    assert repr(outs[1][0]) == repr(outs[0][0])
    for t, f in zip(outs[0][1], outs[1][1]):
        _close(f, t)
    _raises_same(lambda: torch.nn.utils.rnn.pad_sequence([torch.ones(3, 2), torch.ones(2, 3)]),
                 lambda: fgrad.nn.utils.rnn.pad_sequence([fgrad.ones(3, 2), fgrad.ones(2, 3)]))
    _raises_same(lambda: torch.nn.utils.rnn.pad_sequence([torch.ones(3)], padding_side="mid"),
                 lambda: fgrad.nn.utils.rnn.pad_sequence([fgrad.ones(3)], padding_side="mid"))


def test_lstm_on_padded_batch_trains():
    # the common lesson pattern: pad variable-length sequences, run an LSTM, a linear head, a loss, a step
    fgrad.manual_seed(0)
    lstm, head = fgrad.nn.LSTM(2, 4, batch_first=True), fgrad.nn.Linear(4, 1)
    opt = fgrad.optim.SGD(list(lstm.parameters()) + list(head.parameters()), lr=0.1)
    batch = fgrad.nn.utils.rnn.pad_sequence([fgrad.randn(5, 2), fgrad.randn(3, 2)], batch_first=True)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        output, (h_n, _) = lstm(batch)
        loss = fgrad.nn.functional.mse_loss(head(h_n[-1]), fgrad.ones(2, 1))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[2] < losses[0]
