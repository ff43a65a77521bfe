#!/usr/bin/env python
"""Per-call cost of `fgrad.jit`'s fast path, where dispatch rather than arithmetic is the time.

    python benchmarks/bench_dispatch.py              # prints one line per case
    python benchmarks/bench_dispatch.py --json       # one JSON object, for comparing two checkouts

Cases: W5 (the 200-step scalar chain of workloads.py, two Python floats in, value and two gradients out)
and a tiny elementwise function of two 3-element arrays (the array branch of the fast-path key). Each
case is timed in `--rounds` rounds of about 5 ms of calls, in thread CPU time (time.thread_time), so that
time spent descheduled on a busy machine does not count; the minimum, 10th percentile and median of
the per-call times are printed. To compare two checkouts, run this script alternately with each on
PYTHONPATH and compare the minima and 10th percentiles.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import fgrad  # noqa: E402
import fgrad.numpy as fnp  # noqa: E402
import workloads as W  # noqa: E402


def per_call_seconds(run, rounds: int) -> list:
    run()
    calls = 1
    while True:                                  # calls per round: about 5 ms
        t0 = time.thread_time()
        for _ in range(calls):
            run()
        if time.thread_time() - t0 > 0.005:
            break
        calls *= 2
    times = []
    for _ in range(rounds):
        t0 = time.thread_time()
        for _ in range(calls):
            run()
        times.append((time.thread_time() - t0) / calls)
    return sorted(times)


def cases():
    data = W.data_W5(200)
    w5 = fgrad.jit(fgrad.value_and_grad(lambda a, b: W.loss_W5(a, b, data["steps"], fnp), argnums=(0, 1)))
    a0, b0 = float(data["a0"]), float(data["b0"])
    tiny = fgrad.jit(lambda x, y: x * y + 1.0)
    x, y = np.arange(3.0), np.ones(3)
    return {"W5 scalar chain 200 steps": lambda: w5(a0, b0), "tiny arrays x*y+1 (3,)": lambda: tiny(x, y)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    results = {}
    for name, run in cases().items():
        times = per_call_seconds(run, options.rounds)
        results[name] = {"min_us": times[0] * 1e6, "p10_us": times[len(times) // 10] * 1e6,
                         "median_us": statistics.median(times) * 1e6}
    if options.json:
        print(json.dumps({"fgrad": os.path.dirname(fgrad.__file__), **results}))
        return
    print(f"fgrad from {os.path.dirname(fgrad.__file__)}")
    for name, r in results.items():
        print(f"{name:28s} min {r['min_us']:7.2f} us   p10 {r['p10_us']:7.2f} us   median {r['median_us']:7.2f} us")


if __name__ == "__main__":
    main()
