"""fgrad.optim.lr_scheduler against torch.optim.lr_scheduler: the learning-rate (and momentum) sequences
equal to the last bit, the groups' extra keys, state dicts, warnings and errors."""
from __future__ import annotations

import math
import warnings

import pytest

import fgrad


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _optimizer(t, kind="sgd", groups=2):
    params = [t.zeros(2, requires_grad=True) for _ in range(groups)]
    specs = [{"params": [p], "lr": lr} for p, lr in zip(params, [0.1, 0.03])]
    if kind == "adam":
        return t.optim.Adam(specs), params
    return t.optim.SGD(specs, momentum=0.9), params


def _groups_without_params(optimizer):
    return [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]


def run(t, make_scheduler, epochs=25, kind="sgd", metrics=None):
    """Build, then `epochs` times: optimizer.step(), scheduler.step() (with the metric for
    ReduceLROnPlateau); record get_last_lr() and the groups' values."""
    optimizer, params = _optimizer(t, kind)
    scheduler = make_scheduler(t, optimizer)
    history = [(scheduler.get_last_lr(), _groups_without_params(optimizer))]
    for epoch in range(epochs):
        for p in params:
            p.grad = t.ones(2)
        optimizer.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[epoch % len(metrics)])
        history.append((list(scheduler.get_last_lr()), _groups_without_params(optimizer)))
    return history, scheduler


S = lambda t: t.optim.lr_scheduler  # noqa: E731

SCHEDULES = [
    ("StepLR", lambda t, o: S(t).StepLR(o, step_size=3, gamma=0.7)),
    ("MultiStepLR", lambda t, o: S(t).MultiStepLR(o, milestones=[2, 5, 5, 11], gamma=0.3)),
    ("ExponentialLR", lambda t, o: S(t).ExponentialLR(o, gamma=0.93)),
    ("CosineAnnealingLR", lambda t, o: S(t).CosineAnnealingLR(o, T_max=7, eta_min=0.001)),
    ("CosineAnnealingLR-past-T_max", lambda t, o: S(t).CosineAnnealingLR(o, T_max=4)),
    ("LambdaLR", lambda t, o: S(t).LambdaLR(o, lambda e: 0.95 ** e + 1 / (e + 3))),
    ("LambdaLR-per-group", lambda t, o: S(t).LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: 0.9 ** e])),
    ("MultiplicativeLR", lambda t, o: S(t).MultiplicativeLR(o, lambda e: 0.9 + 0.01 * (e % 3))),
    ("LinearLR", lambda t, o: S(t).LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=6)),
    ("ConstantLR", lambda t, o: S(t).ConstantLR(o, factor=0.3, total_iters=4)),
    ("PolynomialLR", lambda t, o: S(t).PolynomialLR(o, total_iters=9, power=1.7)),
    ("CosineAnnealingWarmRestarts", lambda t, o: S(t).CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=1e-4)),
    ("OneCycleLR-cos", lambda t, o: S(t).OneCycleLR(o, max_lr=[0.5, 0.2], total_steps=25)),
    ("OneCycleLR-linear-three-phase", lambda t, o: S(t).OneCycleLR(
        o, max_lr=0.4, epochs=5, steps_per_epoch=5, anneal_strategy="linear", three_phase=True, pct_start=0.25)),
    ("SequentialLR", lambda t, o: S(t).SequentialLR(
        o, [S(t).LinearLR(o, start_factor=0.1, total_iters=4), S(t).ExponentialLR(o, gamma=0.9),
            S(t).StepLR(o, step_size=2)], milestones=[4, 12])),
    ("ChainedScheduler", lambda t, o: S(t).ChainedScheduler(
        [S(t).ConstantLR(o, factor=0.5, total_iters=3), S(t).ExponentialLR(o, gamma=0.9)])),
]


@pytest.mark.parametrize("make", [m for _, m in SCHEDULES], ids=[name for name, _ in SCHEDULES])
def test_schedule_matches_torch(torch, make):
    ours, _ = run(fgrad, make)
    theirs, _ = run(torch, make)
    assert ours == theirs


def test_one_cycle_cycles_adams_beta1_as_torch(torch):
    make = lambda t, o: S(t).OneCycleLR(o, max_lr=0.01, total_steps=20)   # noqa: E731
    assert run(fgrad, make, epochs=20, kind="adam")[0] == run(torch, make, epochs=20, kind="adam")[0]


@pytest.mark.parametrize("mode,threshold_mode", [("min", "rel"), ("min", "abs"), ("max", "rel"), ("max", "abs")])
def test_reduce_on_plateau_matches_torch(torch, mode, threshold_mode):
    metrics = [1.0, 0.9, 0.95, 0.95, 0.91, 0.96, 0.97, 0.85, 0.85, 0.86, 0.9, 0.84, 0.849, 0.8495]
    make = lambda t, o: S(t).ReduceLROnPlateau(o, mode=mode, factor=0.5, patience=1, threshold=0.01,  # noqa: E731
                                               threshold_mode=threshold_mode, cooldown=1, min_lr=[0.01, 0.0])
    ours, ours_sched = run(fgrad, make, epochs=30, metrics=metrics)
    theirs, theirs_sched = run(torch, make, epochs=30, metrics=metrics)
    assert ours == theirs
    assert ours_sched.state_dict() == theirs_sched.state_dict()


CLOSED_FORMS = [
    ("StepLR", lambda t, o: S(t).StepLR(o, step_size=3, gamma=0.7)),
    ("MultiStepLR", lambda t, o: S(t).MultiStepLR(o, milestones=[2, 5, 5], gamma=0.3)),
    ("ExponentialLR", lambda t, o: S(t).ExponentialLR(o, gamma=0.93)),
    ("CosineAnnealingLR", lambda t, o: S(t).CosineAnnealingLR(o, T_max=7)),
    ("LinearLR", lambda t, o: S(t).LinearLR(o, total_iters=6)),
    ("ConstantLR", lambda t, o: S(t).ConstantLR(o, total_iters=4)),
    ("PolynomialLR", lambda t, o: S(t).PolynomialLR(o, total_iters=9, power=2.0)),
    ("LambdaLR", lambda t, o: S(t).LambdaLR(o, lambda e: 1 / (e + 1))),
    ("CosineAnnealingWarmRestarts", lambda t, o: S(t).CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2)),
]
EPOCHS = [3, 0, 7, 7.5, 12, 2]         # fractional epochs: CosineAnnealingWarmRestarts takes them


@pytest.mark.parametrize("make", [m for _, m in CLOSED_FORMS], ids=[name for name, _ in CLOSED_FORMS])
def test_explicit_epochs_use_the_closed_form_and_warn(torch, make):
    warm_restarts = make is CLOSED_FORMS[-1][1]
    epochs = EPOCHS if warm_restarts else [e for e in EPOCHS if e == int(e)]
    results = []
    for t in (fgrad, torch):
        optimizer, _ = _optimizer(t)
        scheduler = make(t, optimizer)
        optimizer.step()
        lrs = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for epoch in epochs:
                scheduler.step(epoch)
                lrs.append(scheduler.get_last_lr())
        results.append((lrs, sorted({str(w.message) for w in caught})))
    assert results[0] == results[1]


def test_state_dict_and_resuming_match_torch(torch):
    results = []
    for t in (fgrad, torch):
        optimizer, _ = _optimizer(t)
        scheduler = S(t).MultiStepLR(optimizer, milestones=[1, 3], gamma=0.5)
        for _ in range(2):
            optimizer.step()
            scheduler.step()
        state = scheduler.state_dict()
        resumed = S(t).MultiStepLR(optimizer, milestones=[9], gamma=0.9)
        resumed.load_state_dict(state)
        optimizer.step()
        resumed.step()
        results.append((list(state.items()), resumed.get_last_lr(), _groups_without_params(optimizer)))
    assert results[0] == results[1]


def test_lambda_state_dict_saves_callable_objects(torch):
    class Decay:
        def __init__(self):
            self.rate = 0.5

        def __call__(self, epoch):
            return self.rate ** epoch

    states = []
    for t in (fgrad, torch):
        optimizer, _ = _optimizer(t, groups=1)
        states.append(S(t).LambdaLR(optimizer, Decay()).state_dict()["lr_lambdas"])
    assert states[0] == states[1] == [{"rate": 0.5}]


WARNING_CASES = [
    ("scheduler-before-optimizer", lambda t, o, s: s.step()),
    ("get-lr-outside-step", lambda t, o, s: s.get_lr()),
]


@pytest.mark.parametrize("case", [c for _, c in WARNING_CASES], ids=[name for name, _ in WARNING_CASES])
def test_warnings_match_torch(torch, case):
    messages = []
    for t in (fgrad, torch):
        optimizer, _ = _optimizer(t)
        scheduler = S(t).StepLR(optimizer, 2)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            case(t, optimizer, scheduler)
        messages.append([(w.category, str(w.message)) for w in caught])
    assert messages[0] == messages[1] and messages[0]


def test_overridden_optimizer_step_warns_as_torch(torch):
    messages = []
    for t in (fgrad, torch):
        optimizer, _ = _optimizer(t)
        scheduler = S(t).ExponentialLR(optimizer, 0.5)
        optimizer.step = lambda: None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scheduler.step()
        messages.append([str(w.message) for w in caught])
    assert messages[0] == messages[1] and messages[0]


def test_no_warning_in_the_right_order(torch):
    optimizer, params = _optimizer(fgrad)
    scheduler = S(fgrad).StepLR(optimizer, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optimizer.step()
        scheduler.step()


ERRORS = [
    ("not-an-optimizer", lambda t, o: S(t).StepLR(object(), 2)),
    ("resume-without-initial-lr", lambda t, o: S(t).StepLR(o, 2, last_epoch=3)),
    ("constant-factor", lambda t, o: S(t).ConstantLR(o, factor=2.0)),
    ("linear-start-factor", lambda t, o: S(t).LinearLR(o, start_factor=0.0)),
    ("lambda-count", lambda t, o: S(t).LambdaLR(o, [lambda e: 1.0])),
    ("multiplicative-not-callable", lambda t, o: S(t).MultiplicativeLR(o, 0.5)),
    ("plateau-factor", lambda t, o: S(t).ReduceLROnPlateau(o, factor=1.0)),
    ("plateau-mode", lambda t, o: S(t).ReduceLROnPlateau(o, mode="up")),
    ("plateau-min-lrs", lambda t, o: S(t).ReduceLROnPlateau(o, min_lr=[0.1])),
    ("warm-restarts-T_0", lambda t, o: S(t).CosineAnnealingWarmRestarts(o, T_0=0)),
    ("one-cycle-no-steps", lambda t, o: S(t).OneCycleLR(o, max_lr=0.1)),
    ("one-cycle-pct", lambda t, o: S(t).OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=1)),
    ("one-cycle-max-lrs", lambda t, o: S(t).OneCycleLR(o, max_lr=[0.1], total_steps=10)),
    ("one-cycle-too-many-steps", lambda t, o: _step_times(S(t).OneCycleLR(o, max_lr=0.1, total_steps=1), 3)),
    ("sequential-milestones", lambda t, o: S(t).SequentialLR(o, [S(t).StepLR(o, 2)], milestones=[3])),
    ("sequential-plateau", lambda t, o: S(t).SequentialLR(o, [S(t).ReduceLROnPlateau(o)], milestones=[])),
    ("chained-empty", lambda t, o: S(t).ChainedScheduler([])),
]


def _step_times(scheduler, times):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(times):
            scheduler.step()


@pytest.mark.parametrize("case", [c for _, c in ERRORS], ids=[name for name, _ in ERRORS])
def test_errors_match_torch(torch, case):
    with pytest.raises(Exception) as theirs:
        case(torch, _optimizer(torch)[0])
    with pytest.raises(Exception) as ours:
        case(fgrad, _optimizer(fgrad)[0])
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)


def test_initial_lr_recorded_and_base_lrs():
    optimizer, _ = _optimizer(fgrad)
    scheduler = S(fgrad).CosineAnnealingLR(optimizer, T_max=10)
    assert [g["initial_lr"] for g in optimizer.param_groups] == scheduler.base_lrs == [0.1, 0.03]
    assert isinstance(scheduler, S(fgrad).LRScheduler) and math.isclose(scheduler.get_last_lr()[0], 0.1)
