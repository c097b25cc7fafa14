"""Single-core setup shared by the benchmarks: call before importing JAX."""

import os

SINGLE_CORE_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false"


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
          f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
    print(f"load average (1, 5, 15 min): {os.getloadavg()}")
