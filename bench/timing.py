"""Timing helper shared by the benchmarks."""

import statistics
import time


def timed(fn, repeats, per=1):
    """(median, fastest) seconds of ``fn()`` over ``repeats`` calls after one warm-up call, each
    divided by ``per``; the result is waited for (``jax.block_until_ready``) inside the timing."""
    import jax

    jax.block_until_ready(fn())  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append((time.perf_counter() - t0) / per)
    return statistics.median(times), min(times)
