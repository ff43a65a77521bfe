"""Grad mode: whether facade ops record the graph. Thread-local, as PyTorch's.

`no_grad`, `enable_grad` and `set_grad_enabled` work as context managers and as decorators
(`@no_grad()` and `@no_grad`).
"""
from __future__ import annotations

import functools
import inspect
import threading


class _GradState(threading.local):
    enabled = True


state = _GradState()


def is_grad_enabled() -> bool:
    """True when facade ops record the autograd graph (the default; off inside `no_grad`)."""
    return state.enabled


class _GradModeContext:
    """A context manager that sets grad mode on entry and restores the previous mode on exit; an
    instance (or the class itself) also decorates a function to run under that mode."""
    mode: bool

    def __new__(cls, func=None):
        # `@no_grad` without parentheses hands the function to the constructor, as in PyTorch.
        self = super().__new__(cls)
        if callable(func) and cls is not set_grad_enabled:
            self.__init__()
            return self(func)
        return self

    def __init__(self):
        self.prev = []

    def __enter__(self):
        self.prev.append(state.enabled)
        state.enabled = self.mode

    def __exit__(self, *exc):
        state.enabled = self.prev.pop()
        return False

    def __call__(self, func):
        if inspect.isgeneratorfunction(func):
            return self._wrap_generator(func)

        @functools.wraps(func)
        def run(*args, **kwargs):
            with self.clone():
                return func(*args, **kwargs)
        return run

    def _wrap_generator(self, func):
        @functools.wraps(func)
        def run(*args, **kwargs):
            gen = func(*args, **kwargs)
            with self.clone():
                value = next(gen)
            while True:
                try:
                    sent = yield value
                except BaseException as e:
                    with self.clone():
                        value = gen.throw(e)
                else:
                    with self.clone():
                        try:
                            value = gen.send(sent)
                        except StopIteration as stop:
                            return stop.value
        return run

    def clone(self):
        return type(self)()


class no_grad(_GradModeContext):
    """Ops inside do not record the graph: their results have requires_grad=False.

    >>> x = fgrad.facade(1.0, requires_grad=True)
    >>> with fgrad.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """
    mode = False


class enable_grad(_GradModeContext):
    """Ops inside record the graph, also within a `no_grad` block."""
    mode = True


class set_grad_enabled(_GradModeContext):
    """`set_grad_enabled(False)` switches grad mode at once; used in a `with`, the previous mode comes back
    at the end of the block."""

    def __init__(self, mode: bool):
        self.prev = [state.enabled]
        self.mode = bool(mode)
        state.enabled = self.mode

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        state.enabled = self.prev[0]
        return False

    def clone(self):
        return _FixedMode(self.mode)


class _FixedMode(_GradModeContext):
    """The context `set_grad_enabled(mode)` re-enters each time the function it decorates runs."""

    def __new__(cls, mode):
        return object.__new__(cls)

    def __init__(self, mode):
        self.prev = []
        self.mode = mode

    def clone(self):
        return _FixedMode(self.mode)


class inference_mode(no_grad):
    """Like no_grad (fgrad has no separate inference tensors); `inference_mode(False)` changes nothing."""

    def __new__(cls, mode=True):
        self = object.__new__(cls)
        if callable(mode):
            self.__init__()
            return self(mode)
        return self

    def __init__(self, mode=True):
        super().__init__()
        self.active = bool(mode)

    def __enter__(self):
        self.prev.append(state.enabled)
        if self.active:
            state.enabled = False

    def clone(self):
        return inference_mode(self.active)


def is_inference_mode_enabled() -> bool:
    return False
