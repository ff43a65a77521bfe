"""Shared test configuration.

The Numba kernel cache lives in one temporary directory per test session (set before fgrad reads its
configuration), so compiled kernels are shared across tests but never across sessions or with the
user's own cache. Tests that need their own directory monkeypatch FGRAD_CACHE_DIR.
"""
import atexit
import os
import shutil
import tempfile

if "FGRAD_CACHE_DIR" not in os.environ:
    _SESSION_CACHE = tempfile.mkdtemp(prefix="fgrad-test-cache-")
    os.environ["FGRAD_CACHE_DIR"] = _SESSION_CACHE
    atexit.register(shutil.rmtree, _SESSION_CACHE, ignore_errors=True)
