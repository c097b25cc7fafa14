"""Test configuration: float64 and the persistent compilation cache (both switched on by importing
dojax; ``DOJAX_CACHE_DIR`` moves or disables the cache; here it keeps every program), XLA's backend
optimisation level, and a guard on XLA's memory maps.

Every compiled dojax step holds some 2,000 memory mappings of XLA:CPU code; Linux allows a process
65,530 by default (``vm.max_map_count``), and LLVM aborts the process when it cannot map more. The
suite compiles far more programs than that allows at once, so compiled programs are dropped
(``jax.clear_caches()``) whenever the count nears the limit.
"""

import os

# The suite's time is XLA:CPU compiling hundreds of programs that each run a few times, and most of
# a compile is LLVM optimising the machine code. The suite compiles at the lowest backend
# optimisation level: the same XLA programs, less optimised machine code (values agree to rounding,
# within every tolerance here). Users and the benchmarks keep XLA's default.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

import jax  # noqa: E402  (after XLA_FLAGS)
import pytest  # noqa: E402

import dojax  # noqa: F401,E402  (float64, compilation cache)

# Every program goes into the persistent cache, however briefly it compiled (JAX's default keeps
# only those over 1 s): the two workers, and a worker after jax.clear_caches(), then load the many
# small programs they share (each eager operation compiles once per shape) instead of compiling
# them again. Measured on tests/test_native.py alone: 6% less CPU time.
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)


# The files that take longest from an empty cache, longest first (measured). The two workers take
# one file each at a time in collection order, so starting with these lets them finish together
# instead of one running a long file alone at the end.
LONGEST_FIRST = ("test_native.py", "test_gradients.py", "test_envs.py", "test_learn.py", "test_mechanics.py",
                 "test_readme.py", "test_learn_ahac.py", "test_conservation.py", "test_ppo.py", "test_contact.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FIRST)))  # stable: a file keeps its order


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
