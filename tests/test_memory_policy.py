"""config.keep_freed_memory (fgrad.backend.memory): glibc's malloc keeps freed blocks for the next array,
so a program run per call does not page-fault through fresh memory every time. Counted in page faults,
not time."""
from __future__ import annotations

import platform

import numpy as np
import pytest

import fgrad
from fgrad.backend import memory


def _faults_of_reallocating(nbytes: int, rounds: int = 5) -> int:
    resource = pytest.importorskip("resource")
    held = np.ones(nbytes // 8)                   # something live below, as a program's residuals
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        a = np.empty(nbytes // 8)
        a[:] = 1.0                                # touch every page
        del a
    del held
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                           reason="the policy is glibc's mallopt")


@glibc
def test_freed_arrays_are_reused_without_page_faults():
    assert fgrad.config.keep_freed_memory is True          # the default
    _faults_of_reallocating(3 << 20)                        # warm the heap up to this size
    assert _faults_of_reallocating(3 << 20) < 100           # 5 x 768 pages without the policy


@glibc
def test_the_policy_follows_the_config_switch():
    try:
        fgrad.config.update("keep_freed_memory", False)
        assert _faults_of_reallocating(3 << 20) > 3 * 700   # fresh pages in most rounds (3 MB: below numpy's huge-page size)
    finally:
        fgrad.config.update("keep_freed_memory", True)
    _faults_of_reallocating(3 << 20)
    assert _faults_of_reallocating(3 << 20) < 100


def test_set_keep_freed_memory_says_whether_malloc_took_it():
    assert memory.set_keep_freed_memory(True) is (memory._MALLOPT is not None)
