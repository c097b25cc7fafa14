"""Setup shared by the benchmarks: single-core pinning (call before importing JAX) and an empty
compilation cache.

Importing this module points dojax's persistent compilation cache at a new empty directory, so
every compile time a benchmark reports is a cold compile (bench/vs_mujoco.py measures the warm
start separately, in a second process that shares the directory).
"""

import os
import tempfile

os.environ["DOJAX_CACHE_DIR"] = tempfile.mkdtemp(prefix="dojax-bench-cache-")

SINGLE_CORE_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false"


def add_pinning_arguments(parser):
    """The --core and --no-pin options of every pinned benchmark."""
    parser.add_argument("--core", type=int, default=None, help="CPU core to pin to (default: first allowed)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one CPU core nor set XLA_FLAGS")


def pin_single_core(core=None):
    """Pin this process to one CPU (``core``, or the first allowed one); no Eigen multi-threading."""
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = (flags + " " + SINGLE_CORE_XLA_FLAGS).strip()
    if not hasattr(os, "sched_setaffinity"):
        return None
    core = min(os.sched_getaffinity(0)) if core is None else core
    os.sched_setaffinity(0, {core})
    return core


def print_environment(core):
    """One header for every benchmark: JAX version and devices, pinning, XLA flags, load."""
    import jax

    print(f"jax {jax.__version__}, devices {jax.devices()}, "
          f"{'pinned to CPU core ' + str(core) if core is not None else 'not pinned'}, "
          f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}, compilation cache {jax.config.jax_compilation_cache_dir}")
    print(f"load average (1, 5, 15 min): {os.getloadavg()}")
