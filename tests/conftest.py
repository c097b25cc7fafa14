"""Test configuration: float64 (enabled by importing dojax) and a persistent compilation cache."""

import os

import jax

import dojax  # noqa: F401  (enables float64)

jax.config.update(
    "jax_compilation_cache_dir",
    os.environ.get("DOJAX_TEST_CACHE", os.path.expanduser("~/.cache/dojax/jax-tests")),
)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
