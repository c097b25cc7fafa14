"""JAX's persistent compilation cache, switched on when dojax is imported.

XLA takes 15-40 s to compile a robot's step (bench/RESULTS.md). With the cache on, a compiled
program is written to disk, and a later process that builds the same program (same mechanism
sizes and options, same JAX version and machine) loads it instead of compiling: it then pays for
tracing only, a few seconds.

Where: ``$DOJAX_CACHE_DIR``, else ``$XDG_CACHE_HOME/dojax/xla``, else ``~/.cache/dojax/xla``.
``DOJAX_CACHE_DIR=off`` (or ``0``, ``none``, empty) leaves the cache off. A cache directory that the
user has already given JAX (``JAX_COMPILATION_CACHE_DIR`` or ``jax_compilation_cache_dir``) is
kept; if dojax's directory cannot be created, the cache stays off. JAX only stores
programs that took at least ``jax_persistent_cache_min_compile_time_secs`` to compile; where
dojax sets the directory it also sets that to :data:`MIN_COMPILE_SECONDS` (JAX's default is 1 s,
and a robot's step on the native kernel compiles in about 1 s). Entries are never evicted;
deleting the directory clears it.
"""

import os
from pathlib import Path

import jax

_OFF = {"", "0", "off", "none", "false", "no"}
MIN_COMPILE_SECONDS = 0.1  #: programs that compile faster than this are not stored


def cache_dir(environ=os.environ):
    """The directory dojax would give JAX's cache for these environment variables (None: off)."""
    chosen = environ.get("DOJAX_CACHE_DIR")
    if chosen is not None:
        return None if chosen.strip().lower() in _OFF else Path(chosen).expanduser()
    base = environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dojax" / "xla"


def enable(environ=os.environ):
    """Point JAX's persistent cache at :func:`cache_dir` unless a directory is already set.

    Returns the directory in use (None if the cache is off).
    """
    current = jax.config.jax_compilation_cache_dir
    if current:
        return current
    path = cache_dir(environ)
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return str(path)
