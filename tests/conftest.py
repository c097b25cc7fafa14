"""Test configuration: float64 (enabled by importing dojax) and an opt-in persistent compilation cache.

Set ``DOJAX_TEST_CACHE=/some/dir`` to keep compiled programs between runs. It is off by default: reading
back very large CPU executables is the least robust path in XLA, and a clean run must not depend on it.
"""

import os

import jax

import dojax  # noqa: F401  (enables float64)

if os.environ.get("DOJAX_TEST_CACHE"):
    jax.config.update("jax_compilation_cache_dir", os.environ["DOJAX_TEST_CACHE"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
