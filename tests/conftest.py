"""Test configuration: float64 and the persistent compilation cache (both switched on by importing
dojax; ``DOJAX_CACHE_DIR`` moves or disables the cache), and a guard on XLA's memory maps.

Every compiled dojax step holds some 2,000 memory mappings of XLA:CPU code; Linux allows a process
65,530 by default (``vm.max_map_count``), and LLVM aborts the process when it cannot map more. The
suite compiles far more programs than that allows at once, so compiled programs are dropped
(``jax.clear_caches()``) whenever the count nears the limit.
"""

import jax
import pytest

import dojax  # noqa: F401  (float64, compilation cache)


def _map_limit():
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            return int(f.read())
    except OSError:  # not Linux
        return None


MAP_LIMIT = _map_limit()


@pytest.fixture(autouse=True)
def _release_compiled_code_near_the_map_limit():
    yield
    if MAP_LIMIT is not None:
        with open("/proc/self/maps") as f:
            count = sum(1 for _ in f)
        if count > MAP_LIMIT // 2:
            jax.clear_caches()
